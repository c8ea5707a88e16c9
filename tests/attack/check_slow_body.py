"""Slow request bodies: 100 clients send a request head and then trickle the body, a byte
every two seconds (signed-in writes and Open311 posts, half each). While they are connected,
/healthz and a normal signed-in write must still answer, each within 5 s; once the body
deadline (LINLI_BODY_TIMEOUT_SECS, 10 s here) has passed, every slow client must have been
answered 408. Before bodies were read ahead of the overload queue, the first 64 held every
slot and the write waited behind them without end.
Usage: check_slow_body.py BINARY sqlite|postgres [clients] [seconds]"""

import socket
import sys
import threading
import time

from server import Server, median, report

DEADLINE = 10


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 8
    with Server(binary, backend, env={"LINLI_BODY_TIMEOUT_SECS": str(DEADLINE)}) as srv:
        desk = srv.login("station_manager")
        cookie = "; ".join(f"{c.name}={c.value}" for c in desk.jar)
        host = f"127.0.0.1:{srv.port}"
        socks = []
        for k in range(clients):
            s = socket.create_connection(("127.0.0.1", srv.port))
            if k % 2:
                head = (f"POST /account/tokens HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
            else:
                head = (f"POST /open311/v2/requests.json HTTP/1.1\r\nHost: {host}\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
            s.sendall(head.encode() + b"_")
            socks.append(s)
        started = time.time()
        stop = threading.Event()

        def trickle():
            while not stop.wait(2):
                for s in socks:
                    try:
                        s.send(b"x")
                    except OSError:
                        pass

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        time.sleep(0.5)

        health, writes, failed = [], [], []
        n = 0
        while time.time() - started < seconds:
            t0 = time.time()
            ok = srv.healthy(timeout=5)
            health.append(time.time() - t0)
            if not ok:
                failed.append("healthz")
            t0 = time.time()
            try:
                r = desk.post("/account/tokens", {"name": f"beside slow bodies {n}"}, timeout=5)
                if r.status not in (200, 303):
                    failed.append(f"write {r.status}")
            except OSError as e:
                failed.append(f"write {type(e).__name__}")
            writes.append(time.time() - t0)
            n += 1
            time.sleep(0.3)

        # Past the deadline every slow client has its answer.
        time.sleep(max(0.0, started + DEADLINE + 3 - time.time()))
        stop.set()
        answers = {}
        for s in socks:
            s.settimeout(2)
            try:
                line = s.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
                code = line.split(" ")[1] if line.startswith("HTTP/") else "closed"
            except OSError:
                code = "none"
            answers[code] = answers.get(code, 0) + 1
            s.close()
        after = desk.post("/account/tokens", {"name": "after slow bodies"}, timeout=10).status
        ok = not failed and answers.get("408", 0) == clients and after in (200, 303)
        report(f"slow_body[{backend}]", clients=clients, probes=len(health),
               healthz_median_ms=round(median(health) * 1000, 1), healthz_max_ms=round(max(health) * 1000, 1),
               write_median_ms=round(median(writes) * 1000, 1), write_max_ms=round(max(writes) * 1000, 1),
               failed=len(failed), first_failures=",".join(failed[:3]) or "-",
               slow_answers=",".join(f"{k}:{v}" for k, v in sorted(answers.items())), write_after=after,
               peak_rss_mb=round(srv.peak_rss_mb(), 1), ok=ok)
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()

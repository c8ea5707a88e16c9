"""Item 0 of issue 21: clients that hang up mid-request must not stop the writer. Sixteen
threads send writes that open their own transaction (creating an API token) and staff
intakes, and reset the connection (RST) at a random moment, some before the answer, some
while the body is still on its way; afterwards every kind of write must work at once.
Usage: check_hangup.py BINARY sqlite|postgres [seconds]"""

import random
import socket
import struct
import sys
import threading
import time
import urllib.parse

from server import Server, report


def hang_up_storm(srv, session, paths, seconds, threads=16):
    host, port = "127.0.0.1", srv.port
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.jar)
    stop = time.time() + seconds
    sent = [0] * threads

    def worker(k):
        rng = random.Random(k)
        while time.time() < stop:
            path, fields = rng.choice(paths)
            body = urllib.parse.urlencode(dict(fields, _csrf=session.csrf)).encode()
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                    f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            try:
                s.connect((host, port))
                if rng.random() < 0.2:
                    s.sendall(head + body[: len(body) // 2])  # hang up with the body half sent
                else:
                    s.sendall(head + body)
                time.sleep(rng.random() * 0.004)
            except OSError:
                pass
            finally:
                s.close()  # SO_LINGER 0: a reset, as wrk does at the end of a run
            sent[k] += 1

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(sent)


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3
    with Server(binary, backend) as srv:
        desk = srv.login("station_manager")
        places = desk.get("/api/v1/places?kind=community&limit=5").json()
        place = next(p["id"] for p in places["items"] if p.get("kind") == "community")
        intake = ("/requests", {"category": "corridor_clutter", "description": "楼道杂物堆放，影响通行", "place_id": place})
        token = ("/account/tokens", {"name": "hang-up storm"})
        sent = hang_up_storm(srv, desk, [intake, token], seconds)
        time.sleep(0.5)
        after = {
            "token": desk.post("/account/tokens", {"name": "after the storm"}).status,
            "intake": desk.post(*intake).status,
            "report": srv.login("station_manager").post("/account/tokens", {"name": "second session"}).status,
        }
        ok = all(s in (200, 303) for s in after.values())
        report(f"hangup[{backend}]", requests_reset=sent, seconds=seconds,
               writes_after=",".join(f"{k}:{v}" for k, v in after.items()), ok=ok)
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()

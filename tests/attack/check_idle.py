"""Item 12 of issue 21: connections that never finish their headers. Opens as many connections
as the file-descriptor limit allows (20,000 when `ulimit -n` can be raised that far), each
sending half a request head and then nothing, and holds them. Meanwhile /healthz must keep
answering on fresh connections, the server's descriptors must stay bounded, and the held
connections must be closed by the server once the header timeout has passed.
Usage: check_idle.py BINARY sqlite|postgres [connections]"""

import resource
import socket
import sys
import threading
import time

from server import Server, median, report

HOLD_SECONDS = 15
# The server starts with the soft descriptor limit most services get (systemd gives 1,024;
# 4,096 here) under a higher hard limit, as in production; the attacker then raises its own.
SERVER_SOFT_LIMIT = 4096


def set_fd_limit(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def probe(port, timeout=5):
    """One GET /healthz on a fresh connection: (ok, seconds)."""
    t = time.time()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: linli\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"HTTP/1.1 200"), time.time() - t
    except OSError:
        return False, time.time() - t


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    want = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000
    set_fd_limit(SERVER_SOFT_LIMIT)
    with Server(binary, backend) as srv:
        limit = set_fd_limit(want + 200)
        count = max(100, min(want, limit - 200))
        with open(f"/proc/{srv.proc.pid}/limits") as f:
            server_limit = next(line.split()[3] for line in f if line.startswith("Max open files"))
        base_fds, base_rss = srv.open_fds(), srv.rss_mb()
        held, refused = [], 0
        stop = threading.Event()
        probes, fds, rss = [], [], []

        def prober():
            while not stop.is_set():
                probes.append(probe(srv.port))
                try:
                    fds.append(srv.open_fds())
                    rss.append(srv.rss_mb())
                except OSError:
                    pass
                time.sleep(0.25)

        watcher = threading.Thread(target=prober)
        watcher.start()
        t0 = time.time()
        failing = 0
        for _ in range(count):
            # A server that stops accepting leaves connects to time out: give up on the rest.
            if failing >= 20 or time.time() - t0 > 40:
                break
            s = socket.socket()
            s.settimeout(1)
            try:
                s.connect(("127.0.0.1", srv.port))
                s.sendall(b"GET /places HTTP/1.1\r\nHost: linli\r\nUser-Agent: half")
                held.append(s)
                failing = 0
            except OSError:
                refused += 1
                failing += 1
                s.close()
        opened_s = time.time() - t0
        time.sleep(max(0.0, HOLD_SECONDS - opened_s))
        stop.set()
        watcher.join()
        # Which of the held connections has the server let go of by now?
        closed = 0
        for s in held:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        for s in held:
            s.close()
        answered = [t for ok, t in probes if ok]
        after_ok, after_s = probe(srv.port)
        ok = bool(probes) and len(answered) == len(probes) and after_ok and closed > 0
        report(f"idle[{backend}]", fd_limit=limit, server_fd_limit=server_limit, connections=len(held), refused=refused,
               opened_in_s=f"{opened_s:.1f}", held_closed_by_server=closed,
               healthz=f"{len(answered)}/{len(probes)}",
               healthz_s_median=f"{median(answered):.4f}" if answered else "-",
               healthz_s_max=f"{max(answered):.4f}" if answered else "-",
               server_fds_base=base_fds, server_fds_max=max(fds) if fds else "-",
               rss_mb_base=f"{base_rss:.0f}", rss_mb_max=f"{max(rss):.0f}" if rss else "-",
               peak_rss_mb=f"{srv.peak_rss_mb():.0f}", healthz_after=f"{after_ok}/{after_s:.4f}s", ok=ok)
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()

"""Items 10 and 11 of issue 21: password guessing in parallel. Forty wrong passwords sent at
once to one account, sixty at once from one address, and sixty from one address that rotates
the left of X-Forwarded-For behind a trusted proxy (LINLI_TRUST_FORWARDED_FOR=true, one hop).
A guess counts as checked when it is answered "wrong password" (401), and, read from the audit
log, when its password was verified and found wrong; neither may pass the lockout (5 an
account) or the address limit (30 a minute).
Usage: check_guessing.py BINARY sqlite|postgres"""

import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

from server import PG_HOST, Server, Session, report

LOCKOUT = 5
PER_ADDRESS = 30


def fresh_window():
    """The limits count per fixed minute: start a burst with most of a minute ahead of it."""
    into = time.time() % 60
    if into > 35:
        time.sleep(61 - into)


def burst(srv, attempts):
    """Sends every (account, password, headers) at once, one connection each; returns statuses."""
    statuses = [None] * len(attempts)
    gate = threading.Barrier(len(attempts))

    def one(i, account, password, headers):
        s = Session(srv.base)
        body = urllib.parse.urlencode({"account": account, "password": password}).encode()
        headers = dict(headers, **{"Content-Type": "application/x-www-form-urlencoded"})
        gate.wait()
        try:
            statuses[i] = s.request("POST", "/login", body, headers).status
        except OSError as e:
            statuses[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i, *a)) for i, a in enumerate(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def verified_failures(srv, address):
    """Passwords verified and found wrong for guesses from `address` (audit rows)."""
    sql = f"SELECT COUNT(*) FROM audit_log WHERE action = 'login.failure' AND ip = '{address}'"
    if srv.backend == "postgres":
        out = subprocess.run(["psql", "-h", PG_HOST, "-U", "postgres", "-d", srv.pg_db, "-tAc", sql],
                             check=True, capture_output=True, text=True).stdout
        return int(out.strip())
    with sqlite3.connect(f"file:{os.path.join(srv.dir, 'linli.db')}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchone()[0]


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    with Server(binary, backend, env={"LINLI_TRUST_FORWARDED_FOR": "true"}) as srv:
        account = srv.accounts["social_worker"]
        # Each scenario comes from an address of its own (as the proxy reports it), so their
        # windows do not mix.
        fresh_window()
        one_account = burst(srv, [(account, f"guess number {i}", {"X-Forwarded-For": "198.51.100.1"})
                                  for i in range(40)])
        fresh_window()
        one_address = burst(srv, [(f"nobody{i}", "a wrong password", {"X-Forwarded-For": "198.51.100.2"})
                                  for i in range(60)])
        fresh_window()
        rotating = burst(srv, [(f"rotating{i}", "a wrong password",
                                {"X-Forwarded-For": f"10.{i // 250}.{i % 250}.7, 198.51.100.3"})
                               for i in range(60)])
        time.sleep(0.5)
        figures = {}
        ok = True
        for name, statuses, address, limit in [
            ("one_account", one_account, "198.51.100.1", LOCKOUT),
            ("one_address", one_address, "198.51.100.2", PER_ADDRESS),
        ]:
            wrong = statuses.count(401)
            verified = verified_failures(srv, address)
            figures[f"{name}_wrong"] = f"{wrong}/{len(statuses)}"
            figures[f"{name}_verified"] = verified
            figures[f"{name}_limit"] = limit
            ok &= wrong <= limit and verified <= limit
        # Whatever address a rotating guess is filed under, at most the limit were checked.
        wrong = rotating.count(401)
        figures["rotating_xff_wrong"] = f"{wrong}/{len(rotating)}"
        figures["rotating_xff_limit"] = PER_ADDRESS
        ok &= wrong <= PER_ADDRESS
        others = [s for s in one_account + one_address + rotating if s not in (401, 429)]
        figures["other_statuses"] = len(others)
        ok &= not others
        report(f"guessing[{backend}]", **figures, ok=ok)
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()

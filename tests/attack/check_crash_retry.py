"""Item 16 of issue 21: a crash must not leave Idempotency-Keys locked. Sixteen threads send
keyed writes (places through the API, which commit their own transaction, and API intakes,
which share SQLite's grouped commits), the server is killed with SIGKILL mid-load and started
again on the same data, and then every key is sent again with its first body. Each retry must
replay the first answer (the write committed and its answer was kept), or run afresh (the first
attempt never committed), or say that the write was done but its answer was lost with the
process; none may stay "in progress", no key may make two records, and no acknowledged write
may be missing.
Usage: check_crash_retry.py BINARY sqlite|postgres [seconds of load before the kill]"""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from server import PG_HOST, Server, report

THREADS = 16


def keyed(session, kind, key, body):
    path = "/api/v1/places" if kind == "place" else "/api/v1/requests"
    return session.send_json("POST", path, body, {"Idempotency-Key": key}, timeout=60)


def load(sessions, bodies, seconds, kill):
    """Keyed writes from THREADS threads until `kill` has run; returns {key: (kind, body, first answer or None)}."""
    sent = {}
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10**9))

    def worker(k):
        while not stop.is_set():
            with lock:
                i = next(counter)
            kind = "place" if i % 2 == 0 else "request"
            key = f"crash-{i}"
            body = bodies[kind](i)
            try:
                r = keyed(sessions[kind], kind, key, body)
                answer = _answer(r)
            except ConnectionRefusedError:
                return  # the server is gone: this one never reached it
            except OSError:
                answer = None  # in flight when the server died
            with lock:
                sent[key] = (kind, body, answer)
            if answer is None:
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    kill()
    stop.set()
    for t in threads:
        t.join()
    return sent


def classify(reply):
    if reply is None:
        return "no_answer"
    status, replayed, body = reply
    if 200 <= status < 300:
        return "replayed" if replayed == "true" else "redone"
    code = ""
    try:
        code = json.loads(body).get("code", "")
    except (ValueError, AttributeError):
        pass
    if status == 409 and code in ("idempotency_in_progress", "idempotency_answer_lost"):
        return code.removeprefix("idempotency_")
    return f"other:{status}:{code}"


def record_counts(srv):
    """{marker: records} for every place and request the load made."""
    places = "SELECT name, COUNT(*) FROM places WHERE name LIKE '崩溃社区%' GROUP BY name"
    requests = "SELECT description, COUNT(*) FROM requests WHERE description LIKE '崩溃重试%' GROUP BY description"
    counts = {}
    if srv.backend == "sqlite":
        with sqlite3.connect(f"file:{os.path.join(srv.dir, 'linli.db')}?mode=ro", uri=True) as db:
            for sql in (places, requests):
                counts.update(dict(db.execute(sql).fetchall()))
    else:
        for sql in (places, requests):
            out = subprocess.run(["psql", "-h", PG_HOST, "-U", "postgres", "-d", srv.pg_db, "-AtF", "\t", "-c", sql],
                                 check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                marker, n = line.split("\t")
                counts[marker] = int(n)
    return counts


def marker(kind, i):
    return f"崩溃社区{i}" if kind == "place" else f"崩溃重试 {i}：楼道杂物堆放，影响通行"


def main():
    binary, backend = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2
    with Server(binary, backend) as srv:
        admin = srv.login("bureau_admin")
        desk = srv.login("station_manager")
        streets = [p["id"] for p in admin.get("/api/v1/places?kind=street&page_size=50").json()["items"]
                   if p.get("kind") == "street"]
        community = next(p["id"] for p in desk.get("/api/v1/places?kind=community&limit=5").json()["items"]
                         if p.get("kind") == "community")
        bodies = {
            "place": lambda i: {"parent_id": streets[i % len(streets)], "kind": "community", "name": marker("place", i)},
            "request": lambda i: {"category": "corridor_clutter", "description": marker("request", i),
                                  "place_id": community},
        }
        sessions = {"place": admin, "request": desk}
        sent = load(sessions, bodies, seconds, srv.kill9)
        srv.serve_again()
        # Sessions are rows: the signed-in clients carry on after the restart.
        with ThreadPoolExecutor(THREADS) as pool:
            retried = dict(zip(sent, pool.map(
                lambda k: _retry(sessions, k, sent[k]), sent)))
        counts = record_counts(srv)

    tally = {}  # what the retries of writes in flight at the kill answered
    answered = in_flight = duplicates = lost = mismatched = 0
    answered_replayed = 0
    for key, (kind, body, first) in sent.items():
        i = int(key.split("-")[1])
        n = counts.get(marker(kind, i), 0)
        before, after = classify(first), classify(retried[key])
        if first is None:
            in_flight += 1
            tally[after] = tally.get(after, 0) + 1
        else:
            answered += 1
            if after == "replayed" and _id(first) == _id(retried[key]):
                answered_replayed += 1
            elif after == "replayed":
                mismatched += 1
            else:
                tally[f"answered({before})_then_{after}"] = tally.get(f"answered({before})_then_{after}", 0) + 1
        duplicates += n > 1
        # Acknowledged (first answer, replay, fresh run or "done, answer lost"): it must exist.
        if (before == "redone" or after in ("replayed", "redone", "answer_lost")) and n == 0:
            lost += 1
    stuck = tally.get("in_progress", 0)
    bad = {k: v for k, v in tally.items() if k not in ("replayed", "redone", "answer_lost", "in_progress")}
    ok = stuck == 0 and duplicates == 0 and lost == 0 and mismatched == 0 and not bad
    report(f"crash_retry[{backend}]", keys=len(sent), answered_before_kill=answered,
           answered_then_replayed=answered_replayed, in_flight_at_kill=in_flight,
           in_flight_replayed=tally.get("replayed", 0), in_flight_redone=tally.get("redone", 0),
           in_flight_answer_lost=tally.get("answer_lost", 0), in_flight_stuck_in_progress=stuck,
           other=",".join(f"{k}:{v}" for k, v in bad.items()) or "none",
           keys_with_two_records=duplicates, acknowledged_but_missing=lost, replay_differs=mismatched, ok=ok)
    if not ok:
        sys.exit(1)


def _retry(sessions, key, entry):
    kind, body, _ = entry
    try:
        r = keyed(sessions[kind], kind, key, body)
        return _answer(r)
    except OSError:
        return None


def _answer(r):
    replayed = next((v for k, v in r.headers.items() if k.lower() == "idempotent-replayed"), None)
    return (r.status, replayed, r.body)


def _id(reply):
    try:
        return json.loads(reply[2]).get("id")
    except (ValueError, AttributeError, TypeError):
        return None


if __name__ == "__main__":
    main()

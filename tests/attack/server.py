"""A `linli demo` to attack: started from a built binary on SQLite or a throwaway PostgreSQL
database, with its logins, Open311 key, process id and memory readings. Standard library only,
so `scripts/attack` runs on a fresh machine. Each check in this folder imports it."""

import http.client
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

PG_HOST = os.environ.get("LINLI_TEST_PG_HOST", "127.0.0.1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One Linli instance. `start()` runs `linli demo`; `kill9()` and `restart()` keep the data
    (SQLite file or PostgreSQL database) so a crash can be followed by a restart."""

    def __init__(self, binary, backend="sqlite", env=None):
        self.binary = os.path.abspath(binary)
        self.backend = backend
        self.extra_env = dict(env or {})
        self.tmp = tempfile.mkdtemp(prefix="linli-attack-")
        self.dir = os.path.join(self.tmp, "demo")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.password = None
        self.api_key = None
        self.accounts = {}
        self.pg_db = None
        self.env = dict(os.environ)
        self.env.update({"LINLI_LISTEN": f"127.0.0.1:{self.port}", "LINLI_LOG": "warn"})
        if backend == "postgres":
            self.pg_db = f"linli_attack_{int(time.time())}_{os.getpid()}_{self.port}"
            subprocess.run(["psql", "-h", PG_HOST, "-U", "postgres", "-qc", f"CREATE DATABASE {self.pg_db}"],
                           check=True, stdout=subprocess.DEVNULL)
            self.env["LINLI_DATABASE_URL"] = f"postgres://postgres@{PG_HOST}:5432/{self.pg_db}"
            # Photos and anchors go to the object store in the data directory: ours, not the
            # working directory's.
            self.env["LINLI_DATA_DIR"] = self.dir
            key = subprocess.run([self.binary, "keygen"], check=True, capture_output=True, text=True).stdout.strip()
            self.env["LINLI_SECRET_KEY"] = key
        self.env.update(self.extra_env)

    # ---- life cycle ------------------------------------------------------------------------

    def start(self):
        out = open(os.path.join(self.tmp, "out"), "w")
        err = open(os.path.join(self.tmp, "err"), "w")
        self.proc = subprocess.Popen([self.binary, "demo", "--dir", self.dir], env=self.env, stdout=out, stderr=err)
        self._wait_ready(lambda: "api_key:" in self._out())
        text = self._out()
        self.password = re.search(r"password for all: (\S+?)\)", text).group(1)
        self.api_key = re.search(r"api_key: (o311_[0-9a-f]+)", text).group(1)
        for line in text.splitlines():
            m = re.match(r"\s+([a-z_]+)\s+(\S+)\s+\S", line)
            if m and m.group(1) not in self.accounts:
                self.accounts[m.group(1)] = m.group(2)
        return self

    def serve_again(self):
        """`linli serve` on the same data, after a stop or a crash."""
        env = dict(self.env)
        if self.backend == "sqlite":
            env["LINLI_DATA_DIR"] = self.dir
        out = open(os.path.join(self.tmp, "out2"), "a")
        self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=out, stderr=out)
        self._wait_ready(lambda: True)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()
        if self.pg_db:
            subprocess.run(["psql", "-h", PG_HOST, "-U", "postgres", "-qc",
                            f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)"], stdout=subprocess.DEVNULL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _out(self):
        with open(os.path.join(self.tmp, "out")) as f:
            return f.read()

    def _wait_ready(self, printed, seconds=180):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(os.path.join(self.tmp, "err")) as f:
                    raise RuntimeError(f"linli exited with {self.proc.returncode}: {f.read()[-2000:]}")
            if printed() and self.healthy():
                return
            time.sleep(0.3)
        raise RuntimeError("linli did not become ready")

    def healthy(self, timeout=2):
        try:
            return status(self.base + "/healthz", timeout=timeout) == 200
        except OSError:
            return False

    # ---- readings --------------------------------------------------------------------------

    def rss_mb(self):
        return _status_kb(self.proc.pid, "VmRSS") / 1024

    def peak_rss_mb(self):
        """The process's high-water mark of resident memory since it started."""
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def reset_peak_rss(self):
        """Starts a new high-water mark (Linux: 5 into clear_refs), so a phase's own peak can
        be read exactly rather than sampled."""
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
            f.write("5")

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    # ---- clients ---------------------------------------------------------------------------

    def login(self, role_or_account):
        account = self.accounts.get(role_or_account, role_or_account)
        s = Session(self.base)
        r = s.post("/login", {"account": account, "password": self.password})
        if r.status != 303:
            raise RuntimeError(f"login of {account}: {r.status} {r.body[:300]}")
        s.refresh_csrf()
        return s


def _status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def status(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Session:
    """A signed-in browser, roughly: a cookie jar, the session's CSRF token, no redirects followed."""

    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        self.csrf = ""

    def request(self, method, path, body=None, headers=None, timeout=60):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return Reply(r.status, dict(r.headers), r.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as e:
            return Reply(e.code, dict(e.headers), e.read().decode("utf-8", "replace"))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, fields, **kw):
        fields = dict(fields)
        if self.csrf:
            fields["_csrf"] = self.csrf
        body = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}, **kw)

    def send_json(self, method, path, value, headers=None, **kw):
        h = {"Content-Type": "application/json"}
        if self.csrf:
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        return self.request(method, path, json.dumps(value).encode(), h, **kw)

    def refresh_csrf(self):
        page = self.get("/")
        m = re.search(r'name="_csrf" value="([^"]+)"', page.body)
        self.csrf = m.group(1) if m else ""


def multipart(fields, files):
    """(content type, body) of a multipart form: fields {name: value}, files [(field, filename, bytes)]."""
    boundary = "----linli-attack-4f1c"
    out = bytearray()
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for field, name, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


def median(values):
    v = sorted(values)
    if not v:
        return float("nan")
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def report(check, **figures):
    """One line per check, `check: key=value …`, for scripts/attack's summary."""
    print(f"{check}: " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def raw_connection(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)

"""Helpers for driving the real `orch` binary from the integration tests.

Only the Python standard library is used: a test machine needs nothing but
python3 and pytest.  Three things live here:

- OrchServer: starts `orch server` on a data directory and a free loopback
  port, waits for GET /healthz, and stops it (SIGTERM, SIGKILL) again.  Its
  stderr and stdout go to a log file that the fixtures print when a test fails.
- Client: one HTTPS request per call over http.client, with the bearer token
  added unless the test says otherwise; answers are Response objects with the
  status, headers, raw body and the parsed JSON.
- raw_exchange: sends arbitrary bytes over TLS and reads what comes back, for
  the malformed-HTTP tests that http.client refuses to produce; connect() and
  http_connection() give tests a TLS socket or an HTTPSConnection.

The API is HTTPS only.  The one place that knows how to trust a server is
tls_context(port): the CA of the server started on that port (its
<data>/pki/ca.pem, registered by OrchServer.start), hostname checked.
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse

DEFAULT_BIN = "/work/main/build-dev/orch"
READY_TIMEOUT = float(os.environ.get("ORCH_TEST_READY_TIMEOUT", "30"))
ARN_PREFIX = "arn:orch:ecs:local:000000000000:"


def orch_bin():
    return os.environ.get("ORCH_BIN", DEFAULT_BIN)


# --- TLS: the one place that knows which CA a server's port is trusted with --

_ca_by_port = {}
_context_cache = {}


def register_ca(port, ca_path):
    """Trust ca_path for the server on 127.0.0.1:port (OrchServer does it)."""
    _ca_by_port[port] = ca_path


def tls_context(port):
    """An SSL context that verifies the server on port with its data dir's
    CA; unverified only for a port no OrchServer registered."""
    ca = _ca_by_port.get(port)
    if ca is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        mtime = os.stat(ca).st_mtime_ns
    except OSError:
        mtime = None
    cached = _context_cache.get(ca)
    if cached and cached[0] == mtime:
        return cached[1]
    ctx = ssl.create_default_context(cafile=ca)
    _context_cache[ca] = (mtime, ctx)
    return ctx


def connect(port, timeout=None, host="127.0.0.1"):
    """A TLS socket to the server on port (handshake done); use it like a
    plain blocking socket from one thread."""
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return tls_context(port).wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def http_connection(port, timeout=30, host="127.0.0.1"):
    """An http.client connection to the server on port, over TLS."""
    return http.client.HTTPSConnection(host, port, timeout=timeout,
                                       context=tls_context(port))


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self._json = None
        self._parsed = False

    @property
    def json(self):
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self._json = None
        return self._json

    @property
    def error_type(self):
        j = self.json
        return j.get("__type") if isinstance(j, dict) else None

    @property
    def message(self):
        j = self.json
        return j.get("message") if isinstance(j, dict) else None

    def __repr__(self):
        body = self.body[:600]
        return "<Response %s %r>" % (self.status, body)


class Client:
    """A tiny HTTP client bound to one server and one token."""

    def __init__(self, port, token, host="127.0.0.1", timeout=30):
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout

    def request(self, method, path, body=None, token="__default__",
                headers=None, raw_body=None):
        """Send one request on a fresh connection.

        body is JSON-encoded; raw_body (bytes or str) is sent as it is.
        token=None sends no Authorization header; any other string replaces
        the client's token.
        """
        hdrs = {}
        if token == "__default__":
            token = self.token
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        data = None
        if raw_body is not None:
            data = raw_body.encode() if isinstance(raw_body, str) else raw_body
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        conn = http_connection(self.port, timeout=self.timeout,
                               host=self.host)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            payload = r.read()
            return Response(r.status, dict(r.getheaders()), payload)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # --- ECS-shaped shortcuts -------------------------------------------

    def register(self, taskdef):
        return self.post("/v1/task-definitions", taskdef)

    def describe_taskdef(self, ref):
        return self.get("/v1/task-definitions/" + quote(ref))

    def deregister(self, ref):
        return self.delete("/v1/task-definitions/" + quote(ref))

    def list_taskdefs(self, **params):
        qs = urllib.parse.urlencode(params)
        return self.get("/v1/task-definitions" + ("?" + qs if qs else ""))

    def list_all_taskdef_arns(self, page_size=100, **params):
        """Follow nextToken to the end; returns (arns, number_of_pages)."""
        arns, pages, token = [], 0, None
        while True:
            p = dict(params, maxResults=page_size)
            if token:
                p["nextToken"] = token
            r = self.list_taskdefs(**p)
            assert r.status == 200, r
            pages += 1
            arns.extend(r.json["taskDefinitionArns"])
            token = r.json.get("nextToken")
            if not token:
                return arns, pages
            assert pages < 10000, "pagination does not end"

    def healthy(self):
        try:
            r = self.request("GET", "/healthz", token=None)
        except OSError:
            return False
        return r.status == 200


def quote(s):
    return urllib.parse.quote(s, safe="")


def taskdef_arn(family, revision):
    return "%stask-definition/%s:%d" % (ARN_PREFIX, family, revision)


def cluster_arn(name):
    return "%scluster/%s" % (ARN_PREFIX, name)


def minimal_taskdef(family="web", image="busybox", **extra):
    td = {
        "family": family,
        "containerDefinitions": [
            {"name": "app", "image": image, "memory": 128},
        ],
    }
    td.update(extra)
    return td


def web_taskdef(family="web", note="0"):
    """A realistic two-container definition; note makes the content unique."""
    return {
        "family": family,
        "networkMode": "bridge",
        "cpu": "512",
        "memory": "1024",
        "containerDefinitions": [
            {
                "name": "web",
                "image": "nginx:1.25",
                "cpu": 256,
                "memory": 512,
                "essential": True,
                "portMappings": [{"containerPort": 80, "hostPort": 0,
                                  "protocol": "tcp"}],
                "environment": [{"name": "NOTE", "value": note}],
                "command": ["nginx", "-g", "daemon off;"],
            },
            {
                "name": "sidecar",
                "image": "busybox",
                "memory": 64,
                "essential": False,
                "command": ["sleep", "infinity"],
                "dependsOn": [{"containerName": "web",
                               "condition": "START"}],
            },
        ],
    }


class OrchServer:
    """One `orch server` process on a data directory and a loopback port."""

    def __init__(self, data_dir, log_path, extra_args=(), port=None,
                 embedded_agent=False):
        self.data_dir = str(data_dir)
        self.embedded_agent = embedded_agent
        self.log_path = str(log_path)
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.proc = None
        self.token = None
        self.client = None
        self._log = None

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def ca_path(self):
        """The cluster CA the CLI and clients verify this server with."""
        return os.path.join(self.data_dir, "pki", "ca.pem")

    def start(self, new_port=False):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("server already running")
        if new_port:
            self.port = free_port()
        self._close_log()
        self._log = open(self.log_path, "ab")
        self._log.write(("\n==== start %s on port %d ====\n"
                         % (time.strftime("%H:%M:%S"), self.port)).encode())
        self._log.flush()
        args = [orch_bin(), "server", "--data", self.data_dir,
                "--listen", "127.0.0.1:%d" % self.port,
                "--log-level", "debug"] + self.extra_args
        if not self.embedded_agent and "--no-agent" not in self.extra_args:
            # API tests need no node; cluster tests start agents themselves.
            args.append("--no-agent")
        register_ca(self.port, self.ca_path)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        self._wait_ready()
        with open(os.path.join(self.data_dir, "admin-token")) as f:
            self.token = f.read().strip()
        self.client = Client(self.port, self.token)
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        probe = Client(self.port, None, timeout=2)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("orch server exited with %s before it was "
                                   "ready; log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if probe.healthy():
                return
            time.sleep(0.05)
        raise RuntimeError("orch server not ready after %ss; log:\n%s"
                           % (READY_TIMEOUT, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)
        self._close_log()

    def terminate(self, timeout=20):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self._close_log()
            raise AssertionError("orch server ignored SIGTERM for %ss"
                                 % timeout)
        self._close_log()
        return rc

    def stop(self):
        """Best-effort teardown: SIGTERM, then SIGKILL."""
        if self.proc is None:
            return
        if self.alive():
            try:
                self.terminate(timeout=10)
            except AssertionError:
                pass
        self._close_log()

    def restart(self):
        rc = self.terminate()
        self.start()
        return rc

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, limit=20000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        return data[-limit:].decode("utf-8", "replace")

    def db_path(self):
        return os.path.join(self.data_dir, "orch.db")


# --- raw sockets ------------------------------------------------------------

CLOSED = "closed"   # the server closed the connection without an answer
TIMEOUT = "timeout"  # nothing came back in time and the socket stayed open


class RawResult:
    def __init__(self, status, data, error=None, elapsed=0.0):
        self.status = status    # int, CLOSED or TIMEOUT
        self.data = data
        self.error = error
        self.elapsed = elapsed

    def __repr__(self):
        return "<RawResult status=%r error=%r data=%r>" % (
            self.status, self.error, self.data[:300])


def _parse_status(data):
    line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def _response_complete(data):
    """True once data holds one whole HTTP response (Content-Length framed)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return False
        if name.strip().lower() == b"transfer-encoding" and \
                b"chunked" in value.lower():
            return rest.endswith(b"0\r\n\r\n")
    if length is None:
        return False
    return len(rest) >= length


def raw_exchange(port, payload=b"", timeout=10.0, shutdown_write=False,
                 chunks=None, pause=0.0):
    """Send payload (or the list chunks, pausing between them) over TLS and
    read.

    One thread drives a plain socket and an ssl.SSLObject over memory BIOs
    (an SSLSocket must not be read and written from two threads), reading
    whenever the server sends, so an early answer (413 before the body is
    all sent) is read before the server's close can turn into a reset that
    loses it.  shutdown_write half-closes the TCP connection after the last
    byte (no close_notify).  Returns a RawResult whose status is the HTTP
    status of the first answer, CLOSED if the server closed (or reset)
    without answering, or TIMEOUT.  Reading stops at the first complete
    response, at EOF, or at timeout.
    """
    return _raw_exchange_tls(port, payload, timeout, shutdown_write, chunks,
                             pause)


def _raw_exchange_tls(port, payload, timeout, shutdown_write, chunks, pause):
    import select
    start = time.monotonic()
    deadline = start + timeout
    errors = []
    data = b""
    status = None
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setblocking(False)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_context(port).wrap_bio(incoming, outgoing,
                                     server_hostname="127.0.0.1")
    pieces = list(chunks if chunks is not None else [payload])
    wire_out = b""
    handshaken = False
    next_piece_at = 0.0
    sending = True
    eof = False
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                status = _parse_status(data) if data else TIMEOUT
                break
            if not handshaken:
                try:
                    tls.do_handshake()
                    handshaken = True
                    next_piece_at = time.monotonic()
                except ssl.SSLWantReadError:
                    pass
            if handshaken and sending and pieces and now >= next_piece_at:
                piece = pieces.pop(0)
                if piece:
                    tls.write(piece)
                next_piece_at = now + pause
            wire_out += outgoing.read()
            if wire_out and sending:
                try:
                    n = sock.send(wire_out)
                    wire_out = wire_out[n:]
                except BlockingIOError:
                    pass
                except OSError as e:  # the server may answer and close
                    errors.append("send: %s" % e)
                    sending = False
                    wire_out = b""
            if handshaken and sending and not pieces and not wire_out:
                sending = False
                if shutdown_write:
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError as e:
                        errors.append("send: %s" % e)
            wait = deadline - time.monotonic()
            if handshaken and sending and pieces:
                wait = min(wait, max(0.0, next_piece_at - time.monotonic()))
            wlist = [sock] if (wire_out and sending) else []
            r, _, _ = select.select([sock], wlist, [], max(0.0, wait))
            if not r:
                continue
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                errors.append("recv: %s" % e)
                break
            if not chunk:
                eof = True
                incoming.write_eof()
            else:
                incoming.write(chunk)
            while handshaken:
                try:
                    plain = tls.read(65536)
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    break
                except ssl.SSLError as e:
                    errors.append("tls: %s" % e)
                    eof = True
                    break
                if not plain:
                    break
                data += plain
            if _response_complete(data) or eof:
                break
    except ssl.SSLError as e:
        errors.append("tls: %s" % e)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    if status is None:
        status = _parse_status(data) if data else CLOSED
    return RawResult(status, data, "; ".join(errors) or None,
                     time.monotonic() - start)


def http_request_bytes(method, path, body=b"", token=None, version="HTTP/1.1",
                       extra_headers=(), content_length=True):
    """Build a well-formed request as bytes (tests then break parts of it)."""
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s %s" % (method, path, version), "Host: 127.0.0.1",
             "Connection: close"]
    if token:
        lines.append("Authorization: Bearer " + token)
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Type: application/json")
        if content_length:
            lines.append("Content-Length: %d" % len(body))
    lines.extend(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- the database behind the server ------------------------------------------

def sqlite(db_path, sql):
    """Run sql with the sqlite3 CLI (the server must be stopped)."""
    r = subprocess.run(["sqlite3", "-bail", "-json", db_path, sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("sqlite3 %s failed: %s" % (sql, r.stderr))
    out = r.stdout.strip()
    return json.loads(out) if out else []


def _sql_literal(value):
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def insert_stub_row(db_path, table, cluster, key="stub"):
    """Insert a row into tasks/services that belongs to cluster.

    Later migrations add columns to these tables; every NOT NULL column
    without a default gets a harmless value of its declared type, so the
    test keeps working as the schema grows.
    """
    columns = sqlite(db_path, "PRAGMA table_info(%s)" % table)
    assert columns, "table %s missing from %s" % (table, db_path)
    names, values = [], []
    for col in columns:
        name, ctype = col["name"], (col["type"] or "").upper()
        if name == "cluster":
            value = cluster
        elif name in ("id", "name", "arn", "task_id", "service_name"):
            value = key
        elif col["notnull"] and col["dflt_value"] is None:
            if "INT" in ctype:
                value = 1
            elif "REAL" in ctype or "FLOA" in ctype or "DOUB" in ctype:
                value = 1.0
            elif "status" in name.lower():
                value = "RUNNING"
            else:
                value = "{}" if ("json" in name or "body" in name) else key
        else:
            continue
        names.append(name)
        values.append(_sql_literal(value))
    sqlite(db_path, "INSERT INTO %s(%s) VALUES (%s)"
           % (table, ", ".join(names), ", ".join(values)))


def three_counts(client):
    """The /v1/info counts this issue defines (later issues add more)."""
    counts = client.get("/v1/info").json["counts"]
    return {k: counts[k] for k in ("clusters", "taskDefinitions",
                                   "taskDefinitionFamilies")}

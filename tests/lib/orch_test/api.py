"""The API as a client sees it: HTTPS requests with the bearer token, TLS
trust, raw bytes for the malformed-HTTP tests, ARNs and task definitions.

Only the Python standard library is used: a test machine needs nothing but
python3 and pytest.

- Client: one HTTPS request per call over http.client, with the bearer token
  added unless the test says otherwise; answers are Response objects with the
  status, headers, raw body and the parsed JSON.
- raw_exchange: sends arbitrary bytes over TLS and reads what comes back, for
  the malformed-HTTP tests that http.client refuses to produce; connect() and
  http_connection() give tests a TLS socket or an HTTPSConnection.

The API is HTTPS only.  The one place that knows how to trust a server is
tls_context(port): the CA of the server started on that port (its
<data>/pki/ca.pem, registered by server.OrchServer.start), hostname checked.
"""

import http.client
import json
import os
import select
import socket
import ssl
import time
import urllib.parse

ARN_PREFIX = "arn:orch:ecs:local:000000000000:"


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

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

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


def parse_status(data):
    line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def response_complete(data):
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
                status = parse_status(data) if data else TIMEOUT
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
            if response_complete(data) or eof:
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
        status = parse_status(data) if data else CLOSED
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


def three_counts(client):
    """The /v1/info counts this issue defines (later issues add more)."""
    counts = client.get("/v1/info").json["counts"]
    return {k: counts[k] for k in ("clusters", "taskDefinitions",
                                   "taskDefinitionFamilies")}

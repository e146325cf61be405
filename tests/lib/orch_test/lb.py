"""`orch lb` under test: small HTTP backends on 127.0.0.1 free ports
(threads in the test process), the real binary started on a generated
routes file, raw HTTP/1.1 and TLS clients for exact bytes, and throwaway
certificates (openssl).  The fixtures `backends` and `lb` are in
tests/lb/conftest.py.
"""
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from orch_test.binary import orch_bin
from orch_test.net import free_port, read_until_close, wait_port


class Handler(BaseHTTPRequestHandler):
    """A backend that reports who it is and what it saw, with a few tricks:

    /slow?s=N        answer after N seconds
    /status/NNN      answer with that status
    /chunked?n=N     N chunks, chunked response
    /big?mb=N        N MiB of body, streamed with Content-Length
    /echo            body digest of the request (Content-Length or chunked)
    /stall           send a head and part of the body, then nothing
    /die             send a head and part of the body, then close
    /healthz         200 or 503 depending on server.healthy
    websocket        101 and then an echo of the raw bytes
    """
    protocol_version = "HTTP/1.1"
    server_version = "testbackend"

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.server.name)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self):
        h = hashlib.sha256()
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                left = size
                while left:
                    part = self.rfile.read(min(left, 1 << 16))
                    h.update(part)
                    left -= len(part)
                    total += len(part)
                    if self.server.read_delay:
                        time.sleep(self.server.read_delay)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                part = self.rfile.read(min(left, 1 << 16))
                if not part:
                    break
                h.update(part)
                left -= len(part)
                total += len(part)
        return total, h.hexdigest()

    def _handle(self):
        srv = self.server
        with srv.lock:
            srv.requests.append((self.command, self.path, dict(self.headers)))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            self._dispatch()
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _dispatch(self):
        path = self.path
        if self.headers.get("Upgrade", "").lower() == "websocket":
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            conn = self.connection
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            self.close_connection = True
            return
        if path.startswith("/healthz"):
            self._send(200 if self.server.healthy else 503, b"health\n")
            return
        if path.startswith("/slow"):
            secs = float(path.split("s=")[1]) if "s=" in path else 1.0
            time.sleep(secs)
        if path.startswith("/status/"):
            self._send(int(path.split("/")[2]), b"status\n")
            return
        if path.startswith("/echo"):
            total, digest = self._read_body()
            self._send(200, json.dumps({"length": total, "sha256": digest}).encode(),
                       [("Content-Type", "application/json")])
            return
        if path.startswith("/chunked"):
            n = int(path.split("n=")[1]) if "n=" in path else 3
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Backend", self.server.name)
            self.end_headers()
            for i in range(n):
                piece = f"chunk{i};".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if path.startswith("/big"):
            mb = int(path.split("mb=")[1])
            self.send_response(200)
            self.send_header("Content-Length", str(mb << 20))
            self.end_headers()
            block = b"x" * (1 << 20)
            for _ in range(mb):
                self.wfile.write(block)
            return
        if path.startswith("/stall") or path.startswith("/die"):
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            self.wfile.flush()
            if path.startswith("/stall"):
                time.sleep(5)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.command in ("POST", "PUT"):
            total, digest = self._read_body()
        body = json.dumps({"backend": self.server.name, "path": path,
                           "headers": dict(self.headers)}).encode()
        self._send(200, body, [("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _handle


class IPv6HTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Backend:
    def __init__(self, name, host="127.0.0.1"):
        self.host = host
        self.port = free_port(host)
        self.name = name
        server_class = IPv6HTTPServer if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, self.port), Handler)
        self.server.daemon_threads = True
        self.server.name = name
        self.server.healthy = True
        self.server.read_delay = 0
        self.server.lock = threading.Lock()
        self.server.requests = []
        self.server.in_flight = 0
        self.server.max_in_flight = 0
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def requests(self):
        with self.server.lock:
            return list(self.server.requests)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Lb:
    def __init__(self, tmp_path, routes, threads=2):
        self.tmp_path = tmp_path
        self.config = tmp_path / "routes.json"
        self.port = routes["listeners"][0]["address"].rsplit(":", 1)[1]
        self.port = int(self.port)
        self.write(routes)
        self.log = open(tmp_path / "lb.log", "wb")
        self.proc = subprocess.Popen(
            [orch_bin(), "lb", "--config", str(self.config), "--threads", str(threads),
             "--log-level", "debug"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        admin = routes.get("admin")
        if admin:
            wait_port(int(admin["address"].rsplit(":", 1)[1]))

    def write(self, routes):
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(json.dumps(routes))
        os.replace(tmp, self.config)

    def reload(self, routes):
        self.write(routes)
        self.proc.send_signal(signal.SIGHUP)

    def log_text(self):
        self.log.flush()
        return (self.tmp_path / "lb.log").read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("orch lb did not stop on SIGTERM")
        self.log.close()
        text = (self.tmp_path / "lb.log").read_text(errors="replace")
        assert "Sanitizer" not in text and "runtime error:" not in text, text[-4000:]
        return self.proc.returncode


def routes_for(groups, rules=None, port=None, admin_port=None, **extra):
    """groups: {name: [Backend or (Backend, weight)] or a full group dict}."""
    port = port or free_port()
    tg = {}
    for name, spec in groups.items():
        if isinstance(spec, dict):
            tg[name] = spec
            continue
        targets = []
        for b in spec:
            if isinstance(b, tuple):
                targets.append({"address": b[0].address, "weight": b[1]})
            else:
                targets.append({"address": b.address})
        tg[name] = {"targets": targets}
    if rules is None:
        rules = [{"pathPrefix": "/", "targetGroup": next(iter(groups))}]
    routes = {"listeners": [{"address": f"127.0.0.1:{port}"}], "rules": rules,
              "targetGroups": tg}
    if admin_port:
        routes["admin"] = {"address": f"127.0.0.1:{admin_port}"}
    routes.update(extra)
    return routes


class Conn:
    """A raw HTTP/1.1 client connection for exact bytes and keep-alive checks."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = bytearray()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def read_response(self, head_request=False):
        """Returns (status, headers dict lower-case, body bytes)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, rest = bytes(self.buf).split(b"\r\n\r\n", 1)
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = bytearray()
        if head_request or status in (101, 204, 304) or 100 <= status < 200:
            return status, headers, bytes(body)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                line, rest = bytes(self.buf).split(b"\r\n", 1)
                self.buf = bytearray(rest)
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while not self.buf.startswith(b"\r\n"):
                        if b"\r\n" in self.buf:
                            self.buf = self.buf[self.buf.index(b"\r\n") + 2:]
                        else:
                            self._fill()
                    self.buf = self.buf[2:]
                    break
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
        elif "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = bytes(self.buf[:n]), self.buf[n:]
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            body, self.buf = bytes(self.buf), bytearray()
        return status, headers, bytes(body)

    def request(self, method="GET", path="/", host="app.test", headers=(), body=None):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        self.send(data)
        return self.read_response(head_request=(method == "HEAD"))

    def closed_by_peer(self, timeout=3.0):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def get(port, path="/", host="app.test", headers=(), method="GET", body=None):
    c = Conn(port)
    try:
        return c.request(method, path, host, headers, body)
    finally:
        c.close()


# ---- TLS ------------------------------------------------------------------------

def make_cert(tmp_path, name, san):
    """A self-signed certificate for name with subjectAltName san (openssl):
    (certificate path, key path)."""
    key = tmp_path / f"{name}.key"
    crt = tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(crt), "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True)
    return crt, key


def der_of(pem_path):
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


def tls_exchange(port, server_name, path="/", ctx=None, session=None):
    """One request on a new TLS connection (Connection: close).

    Returns (certificate DER, raw answer, session resumed?, the session)."""
    if ctx is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name, session=session) as s:
            der = s.getpeercert(binary_form=True)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {server_name or 'x.test'}\r\n"
                      f"Connection: close\r\n\r\n".encode())
            data, timed_out = read_until_close(s)
            assert not timed_out, "no close after the answer: %r" % data[:300]
            return der, data, s.session_reused, s.session


def tls_request(port, server_name, path="/"):
    der, data, _, _ = tls_exchange(port, server_name, path)
    return der, data

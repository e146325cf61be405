"""A small scripted registry for the cases docker-registry cannot play:
Bearer-token auth, redirects of blob downloads to another host (where the
Authorization header must not arrive), a token realm on that other host,
connections cut mid-blob (resume with Range) and multi-platform indexes.

    with FakeRegistry(layout_dir, bearer=("u", "p"), redirect=True) as reg:
        reg.ref                       # "127.0.0.1:PORT/test/image:latest"
        reg.storage_auth_headers      # Authorization headers the blob host saw

It serves the first image of an OCI layout directory (tests/images).
"""
import hashlib
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "tok-8f2c"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeRegistry:
    def __init__(self, layout, repo="test/image", bearer=None, redirect=False, cut_blobs=(),
                 index=False, stall_blobs=(), realm_on_storage=False):
        self.layout = layout
        self.realm_on_storage = realm_on_storage  # the token realm is the storage host
        self.repo = repo
        self.bearer = bearer
        self.redirect = redirect
        self.cut_blobs = set(cut_blobs)   # first GET of these sends half and drops
        self.stall_blobs = set(stall_blobs)  # first GET sends half, then hangs
        self.stop_event = threading.Event()
        self.index = index
        self.token_requests = []           # (scope, had basic auth)
        self.storage_auth_headers = []     # what the redirect target saw
        self.range_requests = []           # (digest, Range header)
        self.blobs = {}
        idx = json.load(open(os.path.join(layout, "index.json")))
        self.manifest_digest = idx["manifests"][0]["digest"]
        self.manifest = self._blob(self.manifest_digest)
        if index:
            body = json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": "sha256:" + "a" * 64, "size": 100,
                 "platform": {"os": "linux", "architecture": "arm64"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": self.manifest_digest, "size": len(self.manifest),
                 "platform": {"os": "linux", "architecture": "amd64"}},
            ]}).encode()
            self.index_digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.blobs[self.index_digest] = body

    def _blob(self, digest):
        if digest in self.blobs:
            return self.blobs[digest]
        path = os.path.join(self.layout, "blobs", "sha256", digest.split(":", 1)[1])
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    # ---- HTTP ------------------------------------------------------------------
    def _handler(self, storage):
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _challenge(self):
                realm = "http://%s/token" % (reg.storage_address if reg.realm_on_storage
                                             else reg.address)
                scope = "repository:%s:pull" % reg.repo
                self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}', {
                    "WWW-Authenticate": 'Bearer realm="%s",service="fake",scope="%s"' % (realm, scope),
                    "Content-Type": "application/json"})

            def _authorized(self):
                if not reg.bearer:
                    return True
                return self.headers.get("Authorization") == "Bearer " + TOKEN

            def _serve_blob(self, digest, data):
                rng = self.headers.get("Range")
                reg.range_requests.append((digest, rng))
                start = 0
                if rng:
                    m = re.match(r"bytes=(\d+)-$", rng)
                    start = int(m.group(1))
                    if start >= len(data):
                        return self._send(416)
                body = data[start:]
                if digest in reg.cut_blobs or digest in reg.stall_blobs:
                    stall = digest in reg.stall_blobs
                    reg.cut_blobs.discard(digest)
                    reg.stall_blobs.discard(digest)
                    self.send_response(206 if start else 200)
                    if start:
                        self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    if stall:
                        reg.stop_event.wait(60)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
                if start:
                    headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
                self._send(206 if start else 200, body, headers)

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if storage and path != "/token":
                    reg.storage_auth_headers.append(self.headers.get("Authorization"))
                    m = re.match(r"^/storage/(sha256:[0-9a-f]{64})$", path)
                    data = reg._blob(m.group(1)) if m else None
                    return self._serve_blob(m.group(1), data) if data is not None else self._send(404)
                if path == "/token":
                    import base64
                    import urllib.parse
                    q = urllib.parse.parse_qs(self.path.split("?", 1)[1] if "?" in self.path else "")
                    auth = self.headers.get("Authorization", "")
                    reg.token_requests.append((q.get("scope", [""])[0], auth.startswith("Basic ")))
                    want = "Basic " + base64.b64encode(("%s:%s" % reg.bearer).encode()).decode()
                    if auth != want:
                        return self._send(401, b'{"details":"bad credentials"}')
                    return self._send(200, json.dumps({"token": TOKEN}).encode(),
                                      {"Content-Type": "application/json"})
                if not self._authorized():
                    return self._challenge()
                if path == "/v2/":
                    return self._send(200, b"{}")
                m = re.match(r"^/v2/(.+)/(manifests|blobs)/([^/]+)$", path)
                if not m or m.group(1) != reg.repo:
                    return self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')
                kind, ref = m.group(2), m.group(3)
                if kind == "manifests":
                    if ref == "latest":
                        digest = reg.index_digest if reg.index else reg.manifest_digest
                    else:
                        digest = ref
                    data = reg._blob(digest)
                    if data is None:
                        return self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}')
                    mt = json.loads(data).get("mediaType", "application/vnd.oci.image.manifest.v1+json")
                    return self._send(200, data, {"Content-Type": mt, "Docker-Content-Digest": digest})
                data = reg._blob(ref)
                if data is None:
                    return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}')
                if reg.redirect:
                    return self._send(307, b"", {"Location": "http://%s/storage/%s" % (reg.storage_address, ref)})
                return self._serve_blob(ref, data)

        return Handler

    def start(self):
        self.server = _Server(("127.0.0.1", 0), self._handler(False))
        self.storage = _Server(("127.0.0.1", 0), self._handler(True))
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        self.storage_address = "127.0.0.1:%d" % self.storage.server_address[1]
        self.ref = "%s/%s:latest" % (self.address, self.repo)
        for s in (self.server, self.storage):
            threading.Thread(target=s.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.stop_event.set()
        for s in (self.server, self.storage):
            s.shutdown()
            s.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

"""
Hostile input: each case sends bytes a well-behaved client would not, checks
the proxy's answer (or its silence and close), checks that nothing smuggled
reached the backend, and then a normal request on a fresh connection must
succeed: the proxy keeps serving everyone else throughout.
"""
import socket
import time

import pytest

from orch_test.lb import Conn, get, routes_for
from orch_test.net import read_until_close

HOST = b"app.test"


def build(*lines, body=b""):
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


LONG = b"a" * 9000

# (name, request bytes, expected status)
CASES = [
    ("cl_and_te", build(b"POST / HTTP/1.1", b"Host: app.test", b"Content-Length: 6",
                        b"Transfer-Encoding: chunked", body=b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"), 400),
    ("te_and_cl", build(b"POST / HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: chunked",
                        b"Content-Length: 40", body=b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"), 400),
    ("duplicate_cl_differs", build(b"POST / HTTP/1.1", b"Host: app.test", b"Content-Length: 3",
                                   b"Content-Length: 40", body=b"abcGET /smuggled HTTP/1.1\r\n\r\n"), 400),
    ("cl_list_differs", build(b"POST / HTTP/1.1", b"Host: app.test", b"Content-Length: 3, 4", body=b"abcd"), 400),
    ("cl_negative", build(b"POST / HTTP/1.1", b"Host: app.test", b"Content-Length: -1"), 400),
    ("cl_plus_sign", build(b"POST / HTTP/1.1", b"Host: app.test", b"Content-Length: +3", body=b"abc"), 400),
    ("te_unknown", build(b"POST / HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: gzip"), 501),
    ("te_chunked_not_last", build(b"POST / HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: chunked, identity"), 400),
    ("te_obfuscated", build(b"POST / HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: xchunked"), 501),
    ("te_space_before_colon", build(b"POST / HTTP/1.1", b"Host: app.test", b"Transfer-Encoding : chunked",
                                    body=b"0\r\n\r\n"), 400),
    ("te_in_http10", build(b"POST / HTTP/1.0", b"Host: app.test", b"Transfer-Encoding: chunked",
                           body=b"0\r\n\r\n"), 400),
    ("bad_chunk_size", build(b"POST /echo HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: chunked",
                             body=b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_overflow", build(b"POST /echo HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: chunked",
                                  body=b"10000000000000001\r\nx\r\n0\r\n\r\n"), 400),
    ("chunk_missing_crlf", build(b"POST /echo HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: chunked",
                                 body=b"3\r\nabcGET /smuggled HTTP/1.1\r\n\r\n"), 400),
    ("obs_fold", build(b"GET / HTTP/1.1", b"Host: app.test", b"X-A: 1", b" folded: yes"), 400),
    ("bare_cr_in_value", build(b"GET / HTTP/1.1", b"Host: app.test", b"X-A: 1\rX-B: 2"), 400),
    ("nul_in_value", build(b"GET / HTTP/1.1", b"Host: app.test", b"X-A: 1\x002"), 400),
    ("bare_lf_lines", b"GET / HTTP/1.1\nHost: app.test\n\n", 400),
    ("space_in_header_name", build(b"GET / HTTP/1.1", b"Host: app.test", b"X A: 1"), 400),
    ("header_line_too_long", build(b"GET / HTTP/1.1", b"Host: app.test", b"X-Long: " + LONG), 431),
    ("headers_too_big", build(b"GET / HTTP/1.1", b"Host: app.test",
                              *[b"X-%d: %s" % (i, b"b" * 4000) for i in range(10)]), 431),
    ("too_many_headers", build(b"GET / HTTP/1.1", b"Host: app.test",
                               *[b"X-%d: 1" % i for i in range(120)]), 431),
    ("uri_too_long", build(b"GET /" + LONG + b" HTTP/1.1", b"Host: app.test"), 414),
    ("body_too_large", build(b"POST /echo HTTP/1.1", b"Host: app.test", b"Content-Length: 2000000"), 413),
    ("chunked_body_too_large", build(b"POST /echo HTTP/1.1", b"Host: app.test", b"Transfer-Encoding: chunked",
                                     body=b"ffffff\r\n" + b"x" * 1000), 413),
    ("missing_host", build(b"GET / HTTP/1.1", b"User-Agent: x"), 400),
    ("duplicate_host", build(b"GET / HTTP/1.1", b"Host: app.test", b"Host: evil.test"), 400),
    ("bad_host_chars", build(b"GET / HTTP/1.1", b"Host: app.test/../x"), 400),
    ("connect_method", build(b"CONNECT evil.test:443 HTTP/1.1", b"Host: evil.test:443"), 405),
    ("absolute_form_foreign_host", build(b"GET http://evil.test/ HTTP/1.1", b"Host: app.test"), 404),
    ("absolute_form_userinfo", build(b"GET http://app.test@evil.test/ HTTP/1.1", b"Host: app.test"), 400),
    ("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("version_garbage", build(b"GET / HTTP/9.9", b"Host: app.test"), 505),
    ("bad_method_chars", build(b"G\x01T / HTTP/1.1", b"Host: app.test"), 400),
    ("non_ascii_target", build(b"GET /\xff HTTP/1.1", b"Host: app.test"), 400),
    ("tls_on_plain_port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64, 400),
]


@pytest.fixture
def proxy(lb, backends):
    (b,) = backends(1)
    routes = routes_for(
        {"web": [b]},
        rules=[{"host": "app.test", "pathPrefix": "/", "targetGroup": "web"}],
        limits={"maxHeaderLineBytes": 8192, "maxHeaderBytes": 32768, "maxHeaderCount": 100,
                "maxUriBytes": 8192, "maxBodyBytes": 1000000, "maxConnections": 50},
        timeouts={"headerReadSeconds": 1.0, "bodyReadSeconds": 1.0, "clientIdleSeconds": 1.5})
    inst = lb(routes)
    return inst, b


def normal_request_works(inst):
    status, _, body = get(inst.port, "/normal")
    assert status == 200, body


@pytest.mark.parametrize("name,data,expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_request(proxy, name, data, expected):
    inst, backend = proxy
    c = Conn(inst.port)
    c.send(data)
    status, headers, body = c.read_response()
    assert status == expected, (name, status, body)
    assert str(expected).encode() in body
    if expected != 404:
        # framing can no longer be trusted: the proxy closes
        assert headers.get("connection", "").lower() == "close"
        assert c.closed_by_peer()
    c.close()
    assert not any("/smuggled" in r[1] for r in backend.requests), backend.requests
    normal_request_works(inst)


def test_slowloris_gets_408_and_close(proxy):
    inst, _ = proxy
    c = Conn(inst.port, timeout=10)
    start = time.monotonic()
    c.send(b"GET / HTTP/1.1\r\n")
    for _ in range(6):           # a byte every 0.3s: never finishes the head
        time.sleep(0.3)
        try:
            c.send(b"X")
        except OSError:
            break
    status, headers, _ = c.read_response()
    assert status == 408
    assert c.closed_by_peer()
    assert time.monotonic() - start < 8
    normal_request_works(inst)


def test_body_read_timeout(proxy):
    inst, _ = proxy
    c = Conn(inst.port, timeout=10)
    c.send(b"POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nonly-some")
    status, _, _ = c.read_response()
    assert status == 408
    assert c.closed_by_peer()
    normal_request_works(inst)


def test_idle_keepalive_connection_is_closed(proxy):
    inst, _ = proxy
    c = Conn(inst.port, timeout=10)
    assert c.request("GET", "/")[0] == 200
    assert c.closed_by_peer(timeout=5)
    # a connection that never says anything is closed too (header timeout, no 408 owed)
    s = socket.create_connection(("127.0.0.1", inst.port), timeout=5)
    assert s.recv(100) == b""
    normal_request_works(inst)


def test_connection_limit(proxy):
    inst, _ = proxy
    held = [socket.create_connection(("127.0.0.1", inst.port)) for _ in range(50)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", inst.port), timeout=3)
    try:
        assert extra.recv(100) == b""     # closed at once, no request read
    except ConnectionResetError:
        pass
    for s in held:
        s.close()
    time.sleep(0.3)
    normal_request_works(inst)


def test_smuggled_pipelined_request_never_reaches_backend(proxy):
    """The classic CL.TE probe: a front end that used Content-Length and a
    backend that used chunked would disagree on where the next request starts."""
    inst, backend = proxy
    c = Conn(inst.port)
    c.send(b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"1\r\nZ\r\nQ\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n")
    assert c.read_response()[0] == 400
    assert c.closed_by_peer()
    time.sleep(0.2)
    assert not any("/smuggled" in r[1] for r in backend.requests)
    normal_request_works(inst)


def test_mutated_requests_never_hurt_the_proxy(proxy):
    """A deterministic mutation fuzz: valid requests with bytes flipped,
    inserted, deleted or cut; every answer must be a well-formed HTTP
    response or a close, and the proxy must keep serving."""
    import random
    inst, backend = proxy
    rng = random.Random(5)
    seeds = [
        b"GET /a?b=c HTTP/1.1\r\nHost: app.test\r\nX-A: 1\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /echo HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET http://app.test/x HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c\r\n\r\n",
    ]
    alphabet = b"\r\n\x00 \t:;,-0123456789abcdefABCDEF/\x7f\xff"
    for i in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            if not data:
                break
            op = rng.randrange(4)
            pos = rng.randrange(len(data))
            if op == 0:
                data[pos] = rng.choice(alphabet)
            elif op == 1:
                data[pos:pos] = bytes([rng.choice(alphabet)]) * rng.randint(1, 3)
            elif op == 2:
                del data[pos:pos + rng.randint(1, 3)]
            else:
                data = data[:pos]
        s = socket.create_connection(("127.0.0.1", inst.port), timeout=3)
        try:
            s.sendall(bytes(data))
            s.shutdown(socket.SHUT_WR)
            reply, timed_out = read_until_close(s)
        except (ConnectionResetError, socket.timeout):
            reply, timed_out = b"", False
        finally:
            s.close()
        # An answer is HTTP, or there is none (a close, a reset, silence).
        assert timed_out or reply == b"" or reply.startswith(b"HTTP/1.1 "), \
            (bytes(data), reply[:100])
        if i % 50 == 0:
            normal_request_works(inst)
    normal_request_works(inst)

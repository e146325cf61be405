"""
The request head on its way through the proxy, seen by a backend that
answers with the exact bytes it received:
  - a client's Connection list removes the headers it names, but never Host,
    the framing headers or the forwarding headers the proxy sets;
  - an absolute-form target without a path is routed and forwarded as "/";
  - a head that arrives a byte at a time costs little CPU (the proxy does not
    parse it again from its first byte on every read).
"""
import json
import socket
import time

import pytest

from orch_test.lb import Conn, routes_for


def read_request(conn):
    """The raw request head and its body (Content-Length or chunked, kept
    as sent), or None when the proxy closed first."""
    head = conn.read_head()
    if head is None:
        return None
    body, conn.rest = conn.rest, b""
    fields = head.lower()
    if b"\r\ntransfer-encoding: chunked\r\n" in fields:
        while not body.endswith(b"0\r\n\r\n"):
            body += conn.sock.recv(65536)
    elif b"\r\ncontent-length: " in fields:
        n = int(fields.split(b"\r\ncontent-length: ")[1].split(b"\r\n")[0])
        while len(body) < n:
            body += conn.sock.recv(65536)
    return head, body


def echo(conn):
    while True:
        got = read_request(conn)
        if got is None:
            return
        answer = json.dumps({"head": got[0].decode("latin-1"),
                             "body": got[1].decode("latin-1")}).encode()
        conn.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))


def fields_of(head):
    """[(lower-case name, value)] of a raw head, request line left out."""
    lines = head.split("\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, v in
            (line.split(":", 1) for line in lines if line)]


@pytest.fixture
def proxy(lb, raw_backend):
    backend = raw_backend(echo)
    routes = routes_for({"web": {"targets": [{"address": backend.address}]}},
                        rules=[{"host": "app.test", "pathPrefix": "/", "targetGroup": "web"}],
                        timeouts={"headerReadSeconds": 60})
    return lb(routes, threads=1)


def forwarded(inst, data):
    """Send raw request bytes; what the backend received: (request line,
    fields, body)."""
    c = Conn(inst.port)
    try:
        c.send(data)
        status, _, body = c.read_response()
    finally:
        c.close()
    assert status == 200, body
    seen = json.loads(body)
    return seen["head"].split("\r\n", 1)[0], fields_of(seen["head"]), seen["body"]


def values(fields, name):
    return [v for k, v in fields if k == name]


# Each header the proxy must keep (or set) whatever the Connection list says.
PROTECTED = ["host", "content-length", "transfer-encoding", "x-forwarded-for",
             "x-forwarded-proto", "x-forwarded-port", "x-request-id"]


@pytest.mark.parametrize("token", PROTECTED + ["HOST, Content-Length, X-Forwarded-For"])
def test_connection_list_keeps_what_the_proxy_relies_on(proxy, token):
    inst = proxy
    body = b"hello"
    chunked = token == "transfer-encoding"
    framing = (b"Transfer-Encoding: chunked\r\n" if chunked
               else b"Content-Length: %d\r\n" % len(body))
    sent_body = b"5\r\nhello\r\n0\r\n\r\n" if chunked else body
    line, fields, got_body = forwarded(
        inst, b"POST /p HTTP/1.1\r\nHost: app.test\r\nConnection: %s\r\n"
              b"X-Forwarded-For: 10.1.2.3\r\nX-Request-Id: req-42\r\n%s\r\n%s"
              % (token.encode(), framing, sent_body))
    assert line == "POST /p HTTP/1.1"
    assert values(fields, "host") == ["app.test"]
    assert values(fields, "x-forwarded-for") == ["10.1.2.3, 127.0.0.1"]
    assert values(fields, "x-forwarded-proto") == ["http"]
    assert values(fields, "x-forwarded-port") == [str(inst.port)]
    assert values(fields, "x-request-id") == ["req-42"]
    if chunked:
        assert values(fields, "transfer-encoding") == ["chunked"]
        assert not values(fields, "content-length")
        assert got_body == "5\r\nhello\r\n0\r\n\r\n"
    else:
        assert values(fields, "content-length") == ["5"]
        assert got_body == "hello"
    assert not values(fields, "connection")


def test_connection_list_still_removes_other_headers(proxy):
    _, fields, _ = forwarded(proxy, b"GET / HTTP/1.1\r\nHost: app.test\r\n"
                                    b"Connection: x-hop, host\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n")
    assert not values(fields, "x-hop")
    assert values(fields, "x-end") == ["2"]
    assert values(fields, "host") == ["app.test"]


@pytest.mark.parametrize("target,host,want", [
    ("http://app.test?q=1", "app.test", "/?q=1"),
    ("http://app.test", "app.test", "/"),
    ("http://APP.test:80/x?y", "APP.test:80", "/x?y"),
])
def test_absolute_form_is_routed_as_forwarded(proxy, target, host, want):
    line, fields, _ = forwarded(proxy, b"GET %s HTTP/1.1\r\nHost: other.test\r\n\r\n"
                                % target.encode())
    assert line == f"GET {want} HTTP/1.1"
    assert values(fields, "host") == [host]


def trickle(inst, usage, head, tail):
    """Sends all but the last tail bytes of head at once, then those one per
    segment (so the proxy reads them in about as many reads) and reads the
    answer: (status, the user and system CPU seconds the proxy spent on the
    trickle, the seconds it took)."""
    c = Conn(inst.port, timeout=30)
    try:
        if tail < len(head):
            c.send(head[:-tail])
            time.sleep(0.5)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        before = usage(inst.proc.pid)
        start = time.monotonic()
        for i in range(len(head) - tail, len(head)):
            c.sock.send(head[i:i + 1])
            time.sleep(0.0001)
        took = time.monotonic() - start
        after = usage(inst.proc.pid)
        status, _, _ = c.read_response()
    finally:
        c.close()
    return status, after.user - before.user, after.system - before.system, took


# A header line the parser takes a while over: a list of 3800 elements.
HEAVY_LINE = b"Content-Length: 0%s\r\n" % (b",0" * 3800)


def test_head_sent_a_byte_at_a_time_costs_little_cpu(proxy, usage):
    """30 KB of head, one byte per read.  Parsing it again from its start on
    each read cost the proxy 1.6 s of user CPU (a debug build); going on
    from the last whole line, 0.1 s.  The system time, about 0.4 s, is the
    30000 reads and wake-ups, the same either way."""
    inst = proxy
    head = b"GET /slow-head HTTP/1.1\r\nHost: app.test\r\n" + HEAVY_LINE * 4 + b"\r\n"
    assert len(head) > 30000
    status, user, system, took = trickle(inst, usage, head, len(head))
    print(f"\n{len(head)}-byte head a byte at a time: lb CPU user {user:.2f}s "
          f"system {system:.2f}s in {took:.2f}s")
    assert status == 200
    assert user < 0.4


def test_end_of_a_large_head_a_byte_at_a_time(lb, raw_backend, usage):
    """The last 3000 bytes of a 1 MB head one at a time: a proxy that parses
    the whole head on every read is busy all the time they take, whatever
    the build; one that resumes is idle most of it."""
    backend = raw_backend(echo)
    inst = lb(routes_for({"web": {"targets": [{"address": backend.address}]}},
                         limits={"maxHeaderBytes": 2 << 20, "maxHeaderCount": 256},
                         timeouts={"headerReadSeconds": 60}), threads=1)
    head = b"GET /large-head HTTP/1.1\r\nHost: app.test\r\n" + HEAVY_LINE * 130 + b"\r\n"
    tail = 3000
    status, user, system, took = trickle(inst, usage, head, tail)
    print(f"\nlast {tail} bytes of a {len(head)}-byte head a byte at a time: "
          f"lb CPU user {user:.2f}s system {system:.2f}s in {took:.2f}s")
    assert status == 200
    assert user + system < 0.3 * took

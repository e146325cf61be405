"""Hostile input: malformed HTTP and hostile JSON over raw sockets.

Every case sends one crafted request, asserts the status the server answers
with, and then asserts the server still answers GET /healthz.  Client errors
are 4xx, never 5xx, and never a crash.  The module's server runs with
--request-timeout 2 so that requests the server is still waiting on end
quickly.

A few cases accept more than one status where HTTP leaves the choice to the
server (431, 413 or 400 for an oversized header block; 400 or 505 for an
unknown HTTP version), following the contract the tests were written to.
"""

import json
import random
import re
import socket
import threading
import time

import pytest

from orch_test import api
from orch_test.net import read_until_close, recv_all
from orch_test.server import running_server

REQUEST_TIMEOUT = 2
MAX_BODY = 1048576
TD_PATH = "/v1/task-definitions"
CLUSTERS_PATH = "/v1/clusters"

VALID_CONTAINERS = ('[{"name":"app","image":"busybox","memory":128}]')


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("hostile"),
                        ["--request-timeout", str(REQUEST_TIMEOUT)]) as srv:
        yield srv


def assert_still_serving(srv):
    assert srv.alive(), "orch server died"
    r = api.Client(srv.port, None, timeout=10).get("/healthz", token=None)
    assert r.status == 200, r


def post(path, body, token, extra=()):
    return api.http_request_bytes("POST", path, body=body, token=token,
                                   extra_headers=list(extra))


def td_body(**overrides):
    """A valid task-definition body as text with some fields replaced by
    raw JSON text (so invalid JSON can be placed inside)."""
    fields = {"family": '"hostile"', "containerDefinitions": VALID_CONTAINERS}
    fields.update(overrides)
    return "{" + ",".join('"%s":%s' % (k, v) for k, v in fields.items()) + "}"


def container_body(**overrides):
    fields = {"name": '"app"', "image": '"busybox"', "memory": "128"}
    fields.update(overrides)
    c = "{" + ",".join('"%s":%s' % (k, v) for k, v in fields.items()) + "}"
    return td_body(containerDefinitions="[" + c + "]")


_rng = random.Random(20240601)
GARBAGE = bytes(_rng.randrange(256) for _ in range(4096))

# Each case: id -> (function(token) -> dict of raw_exchange kwargs,
#                   set of acceptable statuses)
CASES = {}


def simple(name, expect, build):
    CASES[name] = (lambda token: {"payload": build(token)}, set(expect))


B400 = {400}
HEADER_TOO_BIG = {400, 413, 431}

# --- malformed HTTP --------------------------------------------------------
simple("bad-request-line", B400, lambda t: b"GARBAGE\r\n\r\n")
simple("request-line-extra-token", B400,
       lambda t: b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n")
simple("unknown-http-version", {400, 505},
       lambda t: b"GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n")
simple("http-version-garbage", {400, 505},
       lambda t: b"GET /healthz HTXP/1.1\r\nHost: x\r\n\r\n")
simple("http-0.9-request", {400, 505}, lambda t: b"GET /healthz\r\n")
simple("binary-garbage", B400, lambda t: GARBAGE + b"\r\n\r\n")
simple("unknown-method", {400, 405, 501},
       lambda t: b"BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
simple("lowercase-method", {400, 405, 501},
       lambda t: b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
simple("header-without-colon", B400,
       lambda t: b"GET /healthz HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n")
simple("header-with-nul", {400, 401},
       lambda t: b"GET /v1/info HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n")
simple("huge-header", HEADER_TOO_BIG,
       lambda t: b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
       + b"a" * 100000 + b"\r\n\r\n")
simple("many-headers", HEADER_TOO_BIG,
       lambda t: b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
       + b"".join(b"X-H-%d: v\r\n" % i for i in range(3000)) + b"\r\n")
simple("very-long-uri", {400, 413, 414, 431},
       lambda t: b"GET /v1/clusters/" + b"a" * 100000
       + b" HTTP/1.1\r\nHost: x\r\n\r\n")
simple("http10-without-host", {200},
       lambda t: b"GET /healthz HTTP/1.0\r\n\r\n")
simple("content-length-not-a-number", B400,
       lambda t: post(TD_PATH, b"", t) .replace(b"Content-Length: 0",
                                               b"Content-Length: abc"))
simple("content-length-negative", B400,
       lambda t: post(TD_PATH, b"", t).replace(b"Content-Length: 0",
                                              b"Content-Length: -1"))
simple("content-length-overflow", {400, 413},
       lambda t: post(TD_PATH, b"", t).replace(
           b"Content-Length: 0", b"Content-Length: 99999999999999999999999"))
# RFC 9112 section 6.3: differing Content-Length values make the framing
# invalid; the server must answer 400, not pick one (request smuggling).
# The first value frames a valid definition, so picking it shows as a 201.
simple("content-length-conflicting", B400,
       lambda t: post(TD_PATH, td_body(family='"smuggled"').encode(), t,
                      ["Content-Length: %d"
                       % (len(td_body(family='"smuggled"')) + 5)]))
simple("content-length-over-limit-announced", {413},
       lambda t: post(TD_PATH, b"", t).replace(
           b"Content-Length: 0", b"Content-Length: %d" % (MAX_BODY * 2)))
simple("body-over-limit", {413},
       lambda t: post(TD_PATH, b"{" + b" " * MAX_BODY + b"}", t))


def chunked(token, chunks_text, extra=()):
    head = api.http_request_bytes(
        "POST", TD_PATH, body=b"", token=token, content_length=False,
        extra_headers=["Transfer-Encoding: chunked"] + list(extra))
    return head + chunks_text


simple("chunked-bad-size", B400,
       lambda t: chunked(t, b"zz\r\n{}\r\n0\r\n\r\n"))
simple("chunked-negative-size", B400,
       lambda t: chunked(t, b"-5\r\n{}\r\n0\r\n\r\n"))
simple("chunked-huge-size", {400, 413},
       lambda t: chunked(t, b"ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"))
simple("chunked-size-mismatch", B400,
       lambda t: chunked(t, b"2\r\n{}}}}}\r\n0\r\n\r\n"))
simple("chunked-over-limit", {413},
       lambda t: chunked(t, b"".join(
           b"%x\r\n%s\r\n" % (65536, b" " * 65536) for _ in range(17))
           + b"0\r\n\r\n"))
# Both framings (a request-smuggling shape): refused, or framed by the
# chunked encoding alone, which carries an empty object here -- 400 either way.
simple("chunked-and-content-length", B400,
       lambda t: chunked(t, b"2\r\n{}\r\n0\r\n\r\n", ["Content-Length: 3"]))
simple("unsupported-transfer-encoding", {400, 411, 501},
       lambda t: api.http_request_bytes(
           "POST", TD_PATH, body=b"", token=t, content_length=False,
           extra_headers=["Transfer-Encoding: gzip"]) + b"xxxx")
simple("path-traversal", {400, 404},
       lambda t: api.http_request_bytes(
           "GET", "/v1/task-definitions/../../../../etc/passwd", token=t))
simple("encoded-path-traversal", {400, 404},
       lambda t: api.http_request_bytes(
           "GET", "/v1/task-definitions/..%2f..%2f..%2f..%2fetc%2fpasswd",
           token=t))
simple("percent-encoded-nul-in-taskdef", {400, 404},
       lambda t: api.http_request_bytes(
           "GET", "/v1/task-definitions/web%00:1", token=t))
simple("percent-encoded-nul-in-cluster", {400, 404},
       lambda t: api.http_request_bytes(
           "DELETE", "/v1/clusters/default%00evil", token=t))
simple("bad-percent-encoding", {400, 404},
       lambda t: api.http_request_bytes("GET", "/v1/clusters/%zz%", token=t))
simple("raw-nul-in-uri", {400, 404},
       lambda t: b"GET /v1/clusters/a\x00b HTTP/1.1\r\nHost: x\r\n"
       b"Authorization: Bearer " + t.encode() + b"\r\n\r\n")
simple("control-char-in-uri", {400, 404},
       lambda t: api.http_request_bytes("GET", "/v1/clusters/a\x01b",
                                         token=t))
simple("encoded-slash-in-family", {400, 404},
       lambda t: api.http_request_bytes(
           "GET", "/v1/task-definitions/a%2Fb:1", token=t))

simple("header-name-with-space", B400,  # RFC 9112 section 5.1: MUST 400
       lambda t: b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n")
simple("content-length-plus-sign", B400,  # 1*DIGIT only; framing invalid
       lambda t: post(TD_PATH, td_body(family='"plus"').encode(), t)
       .replace(b"Content-Length: ", b"Content-Length: +"))
simple("content-length-with-space-inside", B400,  # "Content-Length: 9 0"
       lambda t: re.sub(rb"Content-Length: (\d)(\d+)", rb"Content-Length: \1 \2",
                        post(TD_PATH, td_body(family='"spaced"').encode(),
                             t)))
simple("bare-lf-line-endings", {200, 400},
       lambda t: b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n")
# obs-fold: reject, or unfold into one value (then the token is valid).
simple("obs-fold-authorization", {200, 400},
       lambda t: b"GET /v1/info HTTP/1.1\r\nHost: x\r\nAuthorization: "
       b"Bearer\r\n " + t.encode() + b"\r\nConnection: close\r\n\r\n")
simple("authorization-with-surrounding-whitespace", {200},
       lambda t: b"GET /v1/info HTTP/1.1\r\nHost: x\r\nAuthorization:  \t"
       b"Bearer " + t.encode() + b" \t\r\nConnection: close\r\n\r\n")
simple("header-name-upper-case", {200},
       lambda t: b"GET /v1/info HTTP/1.1\r\nHOST: x\r\nAUTHORIZATION: "
       b"Bearer " + t.encode() + b"\r\nConnection: close\r\n\r\n")
simple("query-with-encoded-nul", B400,
       lambda t: api.http_request_bytes(
           "GET", "/v1/task-definitions?familyPrefix=a%00b", token=t))
simple("query-status-with-encoded-nul", B400,  # not "ACTIVE", truncated
       lambda t: api.http_request_bytes(
           "GET", "/v1/task-definitions?status=ACTIVE%00junk", token=t))
simple("query-with-bad-percent-encoding", B400,
       lambda t: api.http_request_bytes(
           "GET", "/v1/task-definitions?status=%ZZ", token=t))

# --- hostile JSON to POST /v1/task-definitions -------------------------------
JSON_CASES = {
    "json-unterminated-object": b"{",
    "json-trailing-garbage": td_body().encode() + b" xyz",
    "json-single-quotes": b"{'family': 'x'}",
    "json-trailing-comma": td_body().encode()[:-1] + b",}",
    "json-non-utf8": td_body(family='"\xff\xfe"').encode("latin-1"),
    "json-overlong-utf8": td_body(family='"\xc0\xaf"').encode("latin-1"),
    "json-lone-surrogate": td_body(family='"\\ud800"').encode(),
    "json-deep-array": b"[" * 100000,
    "json-deep-array-closed": b"[" * 100000 + b"]" * 100000,
    "json-deep-object": b'{"a":' * 100000,
    "json-deep-in-field": container_body(
        environment="[" * 50000 + "]" * 50000).encode(),
    "json-huge-float": container_body(memory="1e400").encode(),
    "json-huge-negative-float": container_body(memory="-1e400").encode(),
    "json-huge-integer": container_body(cpu="99999999999999999999999").encode(),
    "json-int64-overflow": container_body(memory="9223372036854775808").encode(),
    "json-int32-overflow-port": container_body(
        portMappings='[{"containerPort":4294967376}]').encode(),
    "json-raw-nul": td_body(family='"a\x00b"').encode(),
    "json-escaped-nul-in-family": td_body(family='"a\\u0000b"').encode(),
    "json-escaped-nul-in-image": container_body(
        image='"busybox\\u0000:evil"').encode(),
    "json-top-level-array": b"[]",
    "json-top-level-string": b'"task"',
    "json-top-level-null": b"null",
    "json-top-level-number": b"42",
    "json-top-level-true": b"true",
    "json-empty-body": b"",
    "json-whitespace-body": b"   \n\t ",
    "type-family-array": td_body(family='["a"]').encode(),
    "type-containers-object": td_body(containerDefinitions="{}").encode(),
    "type-containers-null-item": td_body(containerDefinitions="[null]")
    .encode(),
    "type-port-mappings-number": container_body(portMappings="[5]").encode(),
    "type-memory-bool": container_body(memory="true").encode(),
    "type-environment-object": container_body(
        environment='{"A":"b"}').encode(),
    "type-essential-number": container_body(essential="1").encode(),
    "type-network-mode-number": td_body(networkMode="1").encode(),
    "type-depends-on-string": container_body(dependsOn='"web"').encode(),
    "type-cpu-object": container_body(cpu="{}").encode(),
}
for _name, _body in JSON_CASES.items():
    simple(_name, B400, (lambda b: lambda t: post(TD_PATH, b, t))(_body))

# A large array of small, valid items must not hang or crash the server.
simple("json-30k-environment-entries", {201, 400},
       lambda t: post(TD_PATH, container_body(environment="[" + ",".join(
           ['{"name":"V%d","value":"x"}' % i for i in range(30000)])
           + "]").replace('"hostile"', '"hostile-env"').encode(), t))

# --- hostile JSON to POST /v1/clusters ---------------------------------------
simple("cluster-json-unterminated", B400,
       lambda t: post(CLUSTERS_PATH, b'{"clusterName":', t))
simple("cluster-json-array", B400, lambda t: post(CLUSTERS_PATH, b"[]", t))
simple("cluster-name-escaped-nul", B400,
       lambda t: post(CLUSTERS_PATH, b'{"clusterName":"a\\u0000b"}', t))
simple("cluster-name-huge", B400,
       lambda t: post(CLUSTERS_PATH,
                      b'{"clusterName":"' + b"a" * 500000 + b'"}', t))
simple("cluster-name-non-utf8", B400,
       lambda t: post(CLUSTERS_PATH, b'{"clusterName":"\xff"}', t))


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_request_gets_a_clear_4xx_and_the_server_survives(
        hostile_server, name):
    build, expected = CASES[name]
    res = api.raw_exchange(hostile_server.port,
                            timeout=REQUEST_TIMEOUT + 8,
                            **build(hostile_server.token))
    assert res.status in expected, res
    if isinstance(res.status, int) and res.status >= 400 and \
            res.data.partition(b"\r\n\r\n")[2]:
        # Bodies of API errors are ECS-shaped JSON.  (The HTTP layer may
        # answer malformed requests before routing, without a JSON body.)
        body = res.data.partition(b"\r\n\r\n")[2]
        try:
            err = json.loads(body)
        except ValueError:
            err = None
        if err is not None:
            assert err.get("__type", "").endswith("Exception"), res
    assert b"root:" not in res.data  # no file content ever leaks
    assert_still_serving(hostile_server)


def test_enough_distinct_hostile_requests():
    assert len(CASES) >= 30


def test_body_over_the_limit_is_413_with_an_ecs_error_body(hostile_server):
    """The contract's error shape holds for the size limit too."""
    res = api.raw_exchange(hostile_server.port, post(
        TD_PATH, b"{" + b" " * MAX_BODY + b"}", hostile_server.token),
        timeout=REQUEST_TIMEOUT + 8)
    assert res.status == 413, res
    head, _, body = res.data.partition(b"\r\n\r\n")
    assert b"application/json" in head.lower(), head
    err = json.loads(body)
    assert err["__type"].endswith("Exception"), err
    assert err["message"], err
    assert_still_serving(hostile_server)


def truncated_post(srv):
    """A POST whose Content-Length promises 100 bytes and that stops at 10."""
    head = api.http_request_bytes("POST", TD_PATH, body=b"", token=srv.token,
                                  content_length=False,
                                  extra_headers=["Content-Length: 100"])
    return head + b'{"family":'


def test_truncated_body_then_close_leaves_the_server_running(hostile_server):
    res = api.raw_exchange(hostile_server.port, truncated_post(hostile_server),
                           shutdown_write=True, timeout=REQUEST_TIMEOUT + 8)
    # The server cannot finish the request; it may say 400 or just close.
    assert res.status in (400, api.CLOSED), res
    assert_still_serving(hostile_server)


def test_truncated_body_then_reset_leaves_the_server_running(hostile_server):
    s = api.connect(hostile_server.port)
    s.sendall(truncated_post(hostile_server))
    # SO_LINGER 0: close() sends RST.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    time.sleep(0.2)
    assert_still_serving(hostile_server)


@pytest.mark.parametrize("body", [b"{", b'{"family": "x",\n  "containerDefinitions": [\n    {"name": }\n  ]\n}'],
                         ids=["one-line", "multi-line"])
def test_malformed_json_message_says_where(hostile_server, body):
    r = hostile_server.client.post(TD_PATH, raw_body=body)
    assert r.status == 400, r
    assert r.error_type == "ClientException", r
    msg = r.message.lower()
    assert any(w in msg for w in ("line", "column", "position", "offset")), \
        r.message
    if b"\n" in body:
        assert "3" in r.message or "4" in r.message, \
            "the error is on line 3, column 14: %s" % r.message


# --- slow and stalled clients ------------------------------------------------

def _wait_closed(sock, limit):
    """Seconds until the server closes sock (or sends an answer and closes);
    returns (elapsed, data)."""
    start = time.monotonic()
    data, timed_out = read_until_close(sock, limit)
    return (None if timed_out else time.monotonic() - start), data


@pytest.mark.parametrize("partial", [
    b"POST /v1/task-definitions HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 100\r\n\r\n{\"family\":",
    b"GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Half: ",
    b"GET /v1/inf",
], ids=["half-body", "half-headers", "half-request-line"])
def test_stalled_client_is_disconnected_after_the_request_timeout(
        hostile_server, partial):
    # (A connection that sends nothing at all is idle, not a request: the
    # server's idle timeout, not --request-timeout, ends it.)
    s = api.connect(hostile_server.port)
    try:
        s.sendall(partial)
        # The server keeps serving others while this client stalls.
        time.sleep(0.3)
        assert_still_serving(hostile_server)
        elapsed, data = _wait_closed(s, REQUEST_TIMEOUT + 5)
    finally:
        s.close()
    assert elapsed is not None, "still connected %ss after the request " \
        "timeout of %ss" % (REQUEST_TIMEOUT + 5, REQUEST_TIMEOUT)
    total = elapsed + 0.3
    assert total >= REQUEST_TIMEOUT * 0.5, \
        "disconnected after %.2fs, before the timeout" % total
    if data:
        assert api.parse_status(data) in (400, 408), data[:200]
    assert_still_serving(hostile_server)


def test_many_stalled_clients_do_not_starve_others(hostile_server):
    socks = []
    try:
        for _ in range(100):
            s = api.connect(hostile_server.port)
            s.sendall(b"POST /v1/task-definitions HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        start = time.monotonic()
        assert_still_serving(hostile_server)
        r = hostile_server.client.get("/v1/info")
        assert r.status == 200
        # Under the request timeout (2 s): nobody waited on a stalled client.
        assert time.monotonic() - start < 1.8
    finally:
        for s in socks:
            s.close()


def test_slow_trickle_cannot_hold_a_connection_forever(hostile_server):
    """One header byte every half second: the connection must not live
    much beyond a few request timeouts (slowloris)."""
    s = api.connect(hostile_server.port)
    s.settimeout(0.5)
    start = time.monotonic()
    closed_after = None
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        while time.monotonic() - start < 6 * REQUEST_TIMEOUT + 5:
            try:
                s.sendall(b"X")
            except OSError:
                closed_after = time.monotonic() - start
                break
            try:
                if s.recv(4096) == b"":
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                pass
            except OSError:
                closed_after = time.monotonic() - start
                break
    finally:
        s.close()
    assert closed_after is not None, "a trickling client held its " \
        "connection for %ss" % (6 * REQUEST_TIMEOUT + 5)
    assert_still_serving(hostile_server)


# --- well-formed edge cases the HTTP layer must get right ---------------------

def test_pipelined_requests_are_each_answered(hostile_server):
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s = api.connect(hostile_server.port, timeout=10)
    try:
        s.sendall(one * 3 + last)
        data = recv_all(s)
    finally:
        s.close()
    assert data.count(b"HTTP/1.1 200") == 4, data


def test_chunked_request_body_is_accepted(hostile_server):
    body = td_body(family='"chunky"').encode()
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                      for i in range(0, len(body), 7))
    res = api.raw_exchange(hostile_server.port,
                            chunked(hostile_server.token,
                                    pieces + b"0\r\n\r\n"))
    assert res.status == 201, res


def test_expect_100_continue_is_honoured(hostile_server):
    """curl sends Expect: 100-continue for large uploads."""
    body = td_body(family='"expecting"').encode()
    head = api.http_request_bytes("POST", TD_PATH, body=b"",
                                   token=hostile_server.token,
                                   content_length=False,
                                   extra_headers=["Content-Length: %d"
                                                  % len(body),
                                                  "Expect: 100-continue"])
    s = api.connect(hostile_server.port,
                                 timeout=10)
    try:
        s.sendall(head)
        interim = s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        s.sendall(body)
        data = interim.partition(b"\r\n\r\n")[2]
        while not api.response_complete(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    assert api.parse_status(data) == 201, data[:300]


def test_chunk_extensions_and_trailers_are_accepted(hostile_server):
    body = td_body(family='"chunk-ext"').encode()
    text = (b"%x;name=value\r\n%s\r\n0\r\nX-Trailer: yes\r\n\r\n"
            % (len(body), body))
    res = api.raw_exchange(hostile_server.port,
                            chunked(hostile_server.token, text))
    assert res.status == 201, res


def test_a_get_body_is_never_read_as_a_second_request(hostile_server):
    """Request smuggling: the body of the first request holds a request for
    /v1/info without a token.  Only two answers may come back, both for
    /healthz; a 401 would mean the body was parsed as a request."""
    inner = b"GET /v1/info HTTP/1.1\r\nHost: x\r\n\r\n"
    first = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
             b"\r\n%s" % (len(inner), inner))
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s = api.connect(hostile_server.port, timeout=10)
    try:
        s.sendall(first + last)
        data = recv_all(s)
    finally:
        s.close()
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]
    assert statuses in ([200, 200], [400]), data[:600]
    assert_still_serving(hostile_server)


def test_a_flood_of_pipelined_requests_never_read_does_not_hurt(
        hostile_server):
    """5000 pipelined requests, answers never read, then a reset."""
    one = (b"GET /v1/clusters/default HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer " + hostile_server.token.encode() +
           b"\r\n\r\n")
    s = api.connect(hostile_server.port,
                                 timeout=10)
    try:
        s.settimeout(5)
        try:
            s.sendall(one * 5000)
        except OSError:
            pass  # the server may stop reading a client that never reads
        time.sleep(0.5)
        assert_still_serving(hostile_server)
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    assert_still_serving(hostile_server)


def test_keep_alive_connection_serves_many_requests(hostile_server):
    conn = api.http_connection(hostile_server.port, timeout=10)
    try:
        for i in range(200):
            conn.request("GET", "/v1/clusters/default", headers={
                "Authorization": "Bearer " + hostile_server.token})
            r = conn.getresponse()
            assert r.status == 200, i
            r.read()
    finally:
        conn.close()


def test_concurrent_hostile_and_normal_traffic(hostile_server):
    """Garbage from several threads while a normal client keeps working."""
    stop = time.monotonic() + 3
    bad = []

    def garbage():
        rng = random.Random(threading.get_ident())
        while time.monotonic() < stop:
            payload = bytes(rng.randrange(256) for _ in range(512))
            api.raw_exchange(hostile_server.port, payload, timeout=3,
                              shutdown_write=True)

    threads = [threading.Thread(target=garbage) for _ in range(4)]
    for t in threads:
        t.start()
    while time.monotonic() < stop:
        r = hostile_server.client.get("/v1/info")
        if r.status != 200:
            bad.append(r)
    for t in threads:
        t.join()
    assert not bad, bad[:3]
    assert_still_serving(hostile_server)


# --- the limits are flags ----------------------------------------------------

def test_max_body_bytes_flag_sets_the_limit(server_factory):
    srv = server_factory("--max-body-bytes", "4000")
    td = api.minimal_taskdef("limit")
    body = json.dumps(td)
    pad = 3900 - len(body)
    td["containerDefinitions"][0]["environment"] = [
        {"name": "PAD", "value": "x" * pad}]
    small = json.dumps(td)
    assert len(small) < 4000
    r = srv.client.post(TD_PATH, raw_body=small)
    assert r.status == 201, r
    td["containerDefinitions"][0]["environment"][0]["value"] = "x" * 4100
    res = api.raw_exchange(srv.port, post(TD_PATH, json.dumps(td).encode(),
                                           srv.token))
    assert res.status == 413, res
    assert_still_serving(srv)


def test_max_header_bytes_flag_sets_the_limit(server_factory):
    srv = server_factory("--max-header-bytes", "4096")
    r = srv.client.get("/v1/info", headers={"X-Pad": "p" * 2000})
    assert r.status == 200, r
    res = api.raw_exchange(srv.port, api.http_request_bytes(
        "GET", "/v1/info", token=srv.token,
        extra_headers=["X-Pad: " + "p" * 6000]))
    assert isinstance(res.status, int) and 400 <= res.status < 500, res
    assert_still_serving(srv)


def test_default_header_limit_allows_ordinary_large_headers(hostile_server):
    r = hostile_server.client.get("/v1/info",
                                  headers={"X-Pad": "p" * 8000})
    assert r.status == 200, r

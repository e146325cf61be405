"""Bearer-token authentication.

Every endpoint but GET /healthz needs `Authorization: Bearer <admin token>`.
A missing or wrong token is 401 AccessDeniedException and has no effect; the
token lives in DATA/admin-token (mode 0600, one line).
"""

import os
import stat

import pytest

from orch_test import api
from orch_test import server as servers

# (method, path, body) for every endpoint of this issue.  Writes target
# objects that the fixture below creates, so that a request that wrongly
# went through would show.
ENDPOINTS = [
    ("GET", "/v1/info", None),
    ("GET", "/v1/clusters", None),
    ("POST", "/v1/clusters", {"clusterName": "auth-created"}),
    ("GET", "/v1/clusters/auth-victim", None),
    ("DELETE", "/v1/clusters/auth-victim", None),
    ("GET", "/v1/task-definitions", None),
    ("POST", "/v1/task-definitions", api.minimal_taskdef("auth-family")),
    ("GET", "/v1/task-definitions/auth-victim", None),
    ("GET", "/v1/task-definitions/auth-victim:1", None),
    ("GET", "/v1/task-definitions/" + api.quote(
        api.taskdef_arn("auth-victim", 1)), None),
    ("DELETE", "/v1/task-definitions/auth-victim:1", None),
    # Paths that do not exist, and wrong methods, are still 401 first:
    # an unauthenticated caller learns nothing about the API's shape.
    ("GET", "/v1/nope", None),
    ("PUT", "/v1/task-definitions", {}),
]


def bad_credentials(token):
    """(id, Authorization header value or None) pairs that must be refused."""
    return [
        ("missing", None),
        ("empty", ""),
        ("bearer-only", "Bearer"),
        ("bearer-space", "Bearer "),
        ("wrong", "Bearer " + "0" * len(token)),
        ("prefix", "Bearer " + token[:-1]),
        ("longer", "Bearer " + token + "x"),
        ("case", "Bearer " + token.swapcase()
         if token.swapcase() != token else "Bearer " + token + "Z"),
        ("basic", "Basic " + token),
        ("no-scheme", token),
        ("nul", "Bearer " + token[:4] + "\x00" + token[5:]),
        ("huge", "Bearer " + "A" * 8000),
    ]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    with servers.running_server(tmp_path_factory.mktemp("auth")) as srv:
        c = srv.client
        assert c.post("/v1/clusters", {"clusterName": "auth-victim"}).status == 201
        assert c.register(api.minimal_taskdef("auth-victim")).status == 201
        yield srv


def send_with_authorization(srv, method, path, body, value):
    headers = {}
    if value is not None:
        headers["Authorization"] = value
    # http.client refuses header values with NUL or CR/LF; send those raw.
    if value is not None and "\x00" in value:
        import json
        data = json.dumps(body).encode() if body is not None else b""
        raw = api.http_request_bytes(
            method, path, body=data,
            extra_headers=["Authorization: " + value])
        res = api.raw_exchange(srv.port, raw)
        return res.status, res.data
    r = srv.client.request(method, path, body=body, token=None,
                           headers=headers)
    return r.status, r


def assert_nothing_changed(srv):
    c = srv.client
    assert c.get("/v1/clusters/auth-victim").status == 200
    assert c.get("/v1/clusters/auth-created").status == 404
    td = c.describe_taskdef("auth-victim:1")
    assert td.status == 200 and td.json["taskDefinition"]["status"] == \
        "ACTIVE"
    assert c.describe_taskdef("auth-family").status == 404
    counts = api.three_counts(c)
    assert counts == {"clusters": 2, "taskDefinitions": 1,
                      "taskDefinitionFamilies": 1}


@pytest.mark.parametrize("method,path,body", ENDPOINTS,
                         ids=["%s %s" % (m, p) for m, p, _ in ENDPOINTS])
def test_every_endpoint_refuses_missing_or_wrong_tokens(
        auth_server, method, path, body):
    failures = []
    for cred_id, value in bad_credentials(auth_server.token):
        status, r = send_with_authorization(auth_server, method, path, body,
                                            value)
        # A NUL inside a header value may also be refused as bad HTTP.
        allowed = (400, 401) if cred_id == "nul" else (401,)
        if status not in allowed:
            failures.append((cred_id, status, r))
            continue
        if isinstance(r, api.Response) and \
                r.error_type != "AccessDeniedException":
            failures.append((cred_id, "type", r))
    assert not failures, failures
    assert_nothing_changed(auth_server)
    assert auth_server.client.healthy()


def test_401_carries_a_bearer_challenge(auth_server):
    # RFC 9110 section 11.6.1: a 401 response sends WWW-Authenticate.
    r = auth_server.client.get("/v1/info", token=None)
    assert r.status == 401, r
    www = {k.lower(): v for k, v in r.headers.items()}.get(
        "www-authenticate", "")
    assert www.lower().startswith("bearer"), r.headers


def test_the_right_token_works_on_every_endpoint_kind(auth_server):
    c = auth_server.client
    assert c.get("/v1/info").status == 200
    assert c.get("/v1/clusters").status == 200
    assert c.get("/v1/task-definitions").status == 200
    assert c.describe_taskdef("auth-victim:1").status == 200


def test_healthz_needs_no_token_and_ignores_a_wrong_one(auth_server):
    c = auth_server.client
    assert c.get("/healthz", token=None).status == 200
    assert c.get("/healthz", token="wrong").status == 200


def test_bearer_scheme_is_case_insensitive(auth_server):
    # RFC 9110: the auth-scheme is case-insensitive.
    r = auth_server.client.request(
        "GET", "/v1/info", token=None,
        headers={"Authorization": "bearer " + auth_server.token})
    assert r.status == 200, r


def test_admin_token_file_is_private_and_one_line(auth_server):
    path = os.path.join(auth_server.data_dir, "admin-token")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        content = f.read()
    assert content.count("\n") <= 1
    token = content.strip()
    assert len(token) >= 32, "a token should carry at least 128 bits"
    assert token.isprintable() and " " not in token


def test_api_address_file_names_the_listening_server(auth_server):
    with open(os.path.join(auth_server.data_dir, "api-address")) as f:
        assert f.read().strip() == auth_server.url


def test_each_data_dir_gets_its_own_token(auth_server, fresh_server):
    assert auth_server.token != fresh_server.token
    r = fresh_server.client.get("/v1/info", token=auth_server.token)
    assert r.status == 401


def test_token_is_kept_across_restarts(fresh_server):
    before = fresh_server.token
    fresh_server.restart()
    assert fresh_server.token == before
    assert fresh_server.client.get("/v1/info").status == 200


def test_data_dir_is_created_when_missing(tmp_path):
    srv = servers.new_server(tmp_path)
    srv.data_dir = str(tmp_path / "deeper" / "and" / "deeper")
    try:
        srv.start()
        assert os.path.isdir(srv.data_dir)
        assert srv.client.get("/v1/info").status == 200
    finally:
        servers.release(srv)

"""The CLI verbs of the same binary, against a real server.

`orch taskdef register|ls|show|rm` and `orch cluster create|ls|show|rm`:
tables for people, `--json` for scripts (the API's JSON), errors on stderr
with a non-zero exit.  The server and token come from --server/--token, else
ORCH_SERVER/ORCH_TOKEN, else the data dir (--data / ORCH_DATA).
"""

import json
import os
import re
import subprocess
import time

import pytest

from orch_test import api
from orch_test.binary import orch_bin
from orch_test.net import free_port

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def cli(*args, env=None, stdin=None, timeout=60):
    """Run `orch ARGS` with no ORCH_* variables but those in env."""
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith("ORCH_")}
    full_env["ORCH_DATA"] = "/nonexistent/orch-test-data"  # never /var/lib
    full_env.update(env or {})
    return subprocess.run([orch_bin()] + [str(a) for a in args],
                          input=stdin, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (
        proc.returncode, proc.stdout, proc.stderr)
    return proc


def failed(proc):
    assert proc.returncode != 0, "expected a failure\nstdout: %s" % \
        proc.stdout
    assert proc.stderr.strip(), "a failure must say why on stderr"
    return proc


def as_json(proc):
    ok(proc)
    return json.loads(proc.stdout)


@pytest.fixture
def run(server):
    """cli() finding the module's server through --data."""
    def run_with_data(*args, **kw):
        return cli(*args, "--data", server.data_dir, **kw)
    return run_with_data


@pytest.fixture
def td_file(tmp_path, family):
    def write(td=None, name="td.json"):
        path = tmp_path / name
        path.write_text(json.dumps(td or api.web_taskdef(family)))
        return str(path)
    return write


# --- version and help --------------------------------------------------------

def test_version_prints_orch_and_the_five_library_versions(server):
    out = ok(cli("--version")).stdout
    version = server.client.get("/v1/info").json["version"]
    assert version in out
    lowered = out.lower()
    for lib in ("sqlite", "libevent", "jansson", "curl", "openssl"):
        assert re.search(re.escape(lib) + r"[^\n]*\d", lowered), (lib, out)


def test_server_help_documents_every_flag():
    p = cli("server", "--help")
    text = p.stdout + p.stderr
    assert p.returncode == 0, text
    for flag in ("--data", "--listen", "--log-level", "--request-timeout",
                 "--max-body-bytes", "--max-header-bytes"):
        assert flag in text, flag


def test_unknown_verb_fails_with_usage_on_stderr():
    failed(cli("taskdef", "frobnicate"))
    failed(cli("no-such-group"))
    failed(cli("cluster"))


# --- clusters ----------------------------------------------------------------

def test_cluster_create_ls_show_rm_as_tables(run, family):
    name = "cli-" + family
    out = ok(run("cluster", "create", name)).stdout
    assert name in out
    out = ok(run("cluster", "ls")).stdout
    assert name in out and "default" in out
    out = ok(run("cluster", "show", name)).stdout
    assert name in out and "ACTIVE" in out
    ok(run("cluster", "rm", name))
    failed(run("cluster", "show", name))


def test_cluster_verbs_print_the_api_json(run, family):
    name = "cj-" + family
    created = as_json(run("cluster", "create", name, "--json"))
    assert created["cluster"]["clusterName"] == name
    assert created["cluster"]["clusterArn"] == api.cluster_arn(name)
    listed = as_json(run("cluster", "ls", "--json"))
    assert api.cluster_arn(name) in listed["clusterArns"]
    shown = as_json(run("cluster", "show", name, "--json"))
    assert shown["cluster"] == created["cluster"]
    removed = as_json(run("cluster", "rm", name, "--json"))
    assert removed["cluster"]["status"] == "INACTIVE"


def test_cluster_errors_exit_non_zero(run):
    failed(run("cluster", "show", "no-such-cluster"))
    failed(run("cluster", "rm", "default"))
    p = failed(run("cluster", "create", "bad name"))
    assert "clusterName" in p.stderr
    failed(run("cluster", "create"))


# --- task definitions --------------------------------------------------------

def test_taskdef_register_from_a_file_and_from_stdin(run, td_file, family):
    first = as_json(run("taskdef", "register", td_file(), "--json"))
    assert first["taskDefinition"]["family"] == family
    assert first["taskDefinition"]["revision"] == 1
    second = as_json(run("taskdef", "register", "-", "--json",
                         stdin=json.dumps(api.web_taskdef(family))))
    assert second["taskDefinition"]["revision"] == 2


def test_taskdef_register_prints_a_summary(run, td_file, family):
    out = ok(run("taskdef", "register", td_file())).stdout
    assert family in out
    assert (family + ":1") in out or api.taskdef_arn(family, 1) in out


def test_taskdef_register_lists_ignored_fields(run, td_file, family):
    td = api.web_taskdef(family)
    td["taskRoleArn"] = "arn:aws:iam::123456789012:role/app"
    p = ok(run("taskdef", "register", td_file(td)))
    assert "taskRoleArn" in p.stdout + p.stderr


def test_taskdef_register_invalid_file_names_the_field(run, td_file, family):
    td = api.web_taskdef(family)
    td["containerDefinitions"][1]["portMappings"] = [{"containerPort": 70000}]
    p = failed(run("taskdef", "register", td_file(td)))
    assert "containerDefinitions[1].portMappings[0].containerPort" in p.stderr
    assert p.stdout.strip() == ""


def test_taskdef_register_bad_input_fails(run, tmp_path):
    failed(run("taskdef", "register", str(tmp_path / "missing.json")))
    bad = tmp_path / "bad.json"
    bad.write_text('{"family": ')
    failed(run("taskdef", "register", str(bad)))
    failed(run("taskdef", "register", "-", stdin=""))
    failed(run("taskdef", "register"))


def test_taskdef_register_the_shipped_example(run):
    example = os.path.join(REPO, "examples", "web.json")
    if not os.path.exists(example):
        pytest.fail("examples/web.json is missing (the README demo uses it)")
    td = as_json(run("taskdef", "register", example, "--json"))
    assert td["taskDefinition"]["status"] == "ACTIVE"


def test_taskdef_ls_filters_by_prefix_and_status(run, td_file, family):
    for _ in range(3):
        ok(run("taskdef", "register", td_file()))
    ok(run("taskdef", "rm", family + ":2"))
    listed = as_json(run("taskdef", "ls", "--family-prefix", family,
                         "--json"))
    assert listed["taskDefinitionArns"] == [api.taskdef_arn(family, 1),
                                            api.taskdef_arn(family, 3)]
    listed = as_json(run("taskdef", "ls", "--family-prefix", family,
                         "--status", "INACTIVE", "--json"))
    assert listed["taskDefinitionArns"] == [api.taskdef_arn(family, 2)]
    listed = as_json(run("taskdef", "ls", "--family-prefix", family,
                         "--status", "ALL", "--json"))
    assert len(listed["taskDefinitionArns"]) == 3
    table = ok(run("taskdef", "ls", "--family-prefix", family)).stdout
    assert family + ":1" in table or api.taskdef_arn(family, 1) in table
    assert not re.search(re.escape(family) + r":2\b", table), table
    failed(run("taskdef", "ls", "--status", "BOGUS"))


def test_taskdef_ls_shows_every_page(fresh_server):
    c = fresh_server.client
    for _ in range(105):
        assert c.register(api.minimal_taskdef("many")).status == 201
    out = ok(cli("taskdef", "ls", "--data", fresh_server.data_dir)).stdout
    revs = set(re.findall(r"many:(\d+)\b", out))
    assert revs == {str(n) for n in range(1, 106)}, sorted(revs, key=int)[-5:]


def test_taskdef_show_by_family_and_revision(run, server, td_file, family):
    ok(run("taskdef", "register", td_file()))
    ok(run("taskdef", "register", td_file()))
    latest = as_json(run("taskdef", "show", family, "--json"))
    assert latest["taskDefinition"]["revision"] == 2
    first = as_json(run("taskdef", "show", family + ":1", "--json"))
    described = server.client.describe_taskdef(family + ":1").json
    assert first["taskDefinition"] == described["taskDefinition"]
    out = ok(run("taskdef", "show", family + ":1")).stdout
    assert family in out and "nginx:1.25" in out


def test_taskdef_rm_deregisters(run, td_file, family):
    ok(run("taskdef", "register", td_file()))
    removed = as_json(run("taskdef", "rm", family + ":1", "--json"))
    assert removed["taskDefinition"]["status"] == "INACTIVE"
    shown = as_json(run("taskdef", "show", family + ":1", "--json"))
    assert shown["taskDefinition"]["status"] == "INACTIVE"


def test_taskdef_errors_exit_non_zero(run, td_file, family):
    ok(run("taskdef", "register", td_file()))
    failed(run("taskdef", "show", "no-such-family"))
    failed(run("taskdef", "show", family + ":9"))
    failed(run("taskdef", "rm", family))          # bare family
    failed(run("taskdef", "rm", family + ":9"))
    failed(run("taskdef", "show"))


# --- finding the server ------------------------------------------------------

def test_server_found_from_flags(server):
    p = ok(cli("cluster", "show", "default", "--json", "--server",
               server.url, "--token", server.token, "--ca", server.ca_path))
    assert json.loads(p.stdout)["cluster"]["clusterName"] == "default"


def test_server_found_from_environment(server):
    p = ok(cli("cluster", "show", "default", "--json",
               env={"ORCH_SERVER": server.url, "ORCH_TOKEN": server.token,
                    "ORCH_CA": server.ca_path}))
    assert json.loads(p.stdout)["cluster"]["clusterName"] == "default"


def test_server_found_from_orch_data(server):
    p = ok(cli("cluster", "show", "default", "--json",
               env={"ORCH_DATA": server.data_dir}))
    assert json.loads(p.stdout)["cluster"]["clusterName"] == "default"


def test_server_found_from_data_flag(server):
    ok(cli("cluster", "ls", "--data", server.data_dir))


def test_flags_win_over_environment(server):
    ok(cli("cluster", "ls", "--server", server.url, "--token", server.token,
           env={"ORCH_SERVER": "http://127.0.0.1:1",
                "ORCH_TOKEN": "wrong", "ORCH_CA": server.ca_path}))


def test_environment_wins_over_the_data_dir(server, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "api-address").write_text("http://127.0.0.1:1\n")
    (other / "admin-token").write_text("wrong\n")
    ok(cli("cluster", "ls", env={"ORCH_DATA": str(other),
                                 "ORCH_SERVER": server.url,
                                 "ORCH_TOKEN": server.token,
                                 "ORCH_CA": server.ca_path}))


def test_wrong_token_fails_with_a_clear_error(server):
    p = failed(cli("cluster", "ls", "--server", server.url, "--token",
                   "wrong", env={"ORCH_CA": server.ca_path}))
    assert re.search(r"401|denied|token|auth", p.stderr, re.I), p.stderr


def test_unreachable_server_fails_quickly(server):
    start = time.monotonic()
    p = failed(cli("cluster", "ls", "--server",
                   "http://127.0.0.1:%d" % free_port(),
                   "--token", server.token))
    assert time.monotonic() - start < 20
    assert "127.0.0.1" in p.stderr or "connect" in p.stderr.lower()


def test_no_server_configured_fails_with_a_hint(tmp_path):
    p = failed(cli("cluster", "ls", env={"ORCH_DATA": str(tmp_path)}))
    assert re.search(r"server|api-address|ORCH_SERVER|--server",
                     p.stderr), p.stderr

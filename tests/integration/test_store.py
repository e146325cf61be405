"""The state store on disk: migrations, version refusal, one server per dir."""

import hashlib
import os
import subprocess

import pytest

from orch_test import api, db
from orch_test.binary import orch_bin
from orch_test.net import free_port


def _digest(data_dir):
    h = hashlib.sha256()
    for name in sorted(os.listdir(data_dir)):
        if name.startswith("orch.db"):
            with open(os.path.join(data_dir, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def test_migrations_are_recorded_in_user_version(fresh_server):
    fresh_server.terminate()
    version = db.sqlite(fresh_server.db_path(), "PRAGMA user_version")
    assert version[0]["user_version"] >= 1
    tables = {r["name"] for r in db.sqlite(
        fresh_server.db_path(), "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"clusters", "task_definitions", "task_definition_families",
            "tasks", "services"} <= tables
    mode = db.sqlite(fresh_server.db_path(), "PRAGMA journal_mode")
    assert mode[0]["journal_mode"] == "wal"


def test_database_from_a_newer_orch_is_refused_and_left_untouched(fresh_server):
    r = fresh_server.client.register(api.minimal_taskdef("keep"))
    assert r.status == 201
    assert fresh_server.terminate() == 0
    version = db.sqlite(fresh_server.db_path(), "PRAGMA user_version")[0]["user_version"]
    db.sqlite(fresh_server.db_path(), "PRAGMA user_version = 999")
    before = _digest(fresh_server.data_dir)

    proc = subprocess.run([orch_bin(), "server", "--data", fresh_server.data_dir,
                           "--listen", "127.0.0.1:%d" % free_port()],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "schema version 999" in proc.stderr
    assert "newer" in proc.stderr
    assert _digest(fresh_server.data_dir) == before

    # Put the version back: the data is all there.
    db.sqlite(fresh_server.db_path(), "PRAGMA user_version = %d" % version)
    fresh_server.start()
    assert fresh_server.client.describe_taskdef("keep:1").status == 200


def test_second_server_on_the_same_data_dir_is_refused(fresh_server):
    proc = subprocess.run([orch_bin(), "server", "--data", fresh_server.data_dir,
                           "--listen", "127.0.0.1:%d" % free_port()],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "another orch server" in proc.stderr
    assert fresh_server.client.healthy()


def test_admin_token_file_is_private_and_stable(fresh_server):
    path = os.path.join(fresh_server.data_dir, "admin-token")
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as f:
        token = f.read().strip()
    assert len(token) == 64
    fresh_server.restart()
    with open(path) as f:
        assert f.read().strip() == token


@pytest.mark.parametrize("flag,value", [
    ("--listen", "nonsense"),
    ("--listen", "127.0.0.1:99999"),
    ("--log-level", "loud"),
    ("--request-timeout", "0"),
    ("--max-body-bytes", "12x"),
])
def test_bad_server_flags_are_refused(tmp_path, flag, value):
    proc = subprocess.run([orch_bin(), "server", "--data", str(tmp_path / "d"), flag, value],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert flag.lstrip("-") in proc.stderr or "listen" in proc.stderr

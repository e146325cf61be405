"""pytest fixtures of the runtime tests (tests/runtime/): images and their
store, registries, and containers run by `orch run`.

  orch_bin      path of the binary under test ($ORCH_BIN, else build/orch)
  test_images   the offline test images (tests/images/build_images.py), built
                once per session: .path(name), .canary, .hostile (cases)
  registry      a local docker-registry (anonymous) with busybox and layered
                pushed; .address, .ref(name), .blob_path(digest)
  auth_registry the same behind htpasswd basic auth (user "orch", password
                "s3cret"), with .config_path: a Docker config.json for it
  data_dir      a fresh orch data directory for one test
  orch_image    run `orch image ARGS` on data_dir: orch_image("ls"), returns
                CompletedProcess; check=False to look at failures
  bb_layer      a one-layer busybox rootfs (orch_test.images), for
                `orch run --rootfs-layer DIR`
  orch          an OrchRunner (orch_test.containers) on a fresh data dir and a
                cgroup parent of its own; every container left is
                force-removed and its parent cgroup deleted at teardown

Everything needs root (mknod of whiteouts, chown, trusted xattrs, mounts,
namespaces): as another user every test here is skipped, or fails under
CI=true (orch_test.require).
"""
import base64
import json
import os
import subprocess
import uuid

import pytest

from orch_test import binary, images, require
from orch_test.containers import OrchRunner, clean_up
from orch_test.registry import LocalRegistry, require_registry_tools

HERE = os.path.dirname(os.path.abspath(__file__))
AUTH_USER, AUTH_PASSWORD = "orch", "s3cret"


def pytest_collection_modifyitems(config, items):
    require.mark_directory(items, HERE, os.geteuid() == 0, "the runtime tests need root")


@pytest.fixture(scope="session")
def orch_bin():
    return binary.orch_bin()


@pytest.fixture(scope="session")
def test_images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("images"))
    canary = os.path.join(str(tmp_path_factory.mktemp("canary")), "canary")
    os.makedirs(canary)
    with open(os.path.join(canary, "file"), "w") as f:
        f.write("canary\n")
    return images.build_test_images(root, canary)


@pytest.fixture(scope="session")
def registry(tmp_path_factory, test_images):
    require_registry_tools()
    reg = LocalRegistry(str(tmp_path_factory.mktemp("registry")))
    reg.start()
    try:
        reg.push(test_images.path("busybox"), "busybox")
        reg.push(test_images.path("layered"), "layered")
        reg.ref = lambda name: "%s/%s" % (reg.address, name)
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory, test_images):
    require_registry_tools(auth=True)
    work = str(tmp_path_factory.mktemp("auth-registry"))
    reg = LocalRegistry(work, auth=(AUTH_USER, AUTH_PASSWORD))
    reg.start()
    try:
        reg.push(test_images.path("busybox"), "private/busybox")
        reg.ref = lambda name: "%s/%s" % (reg.address, name)

        def write_config(user, password, path):
            token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
            with open(path, "w") as f:
                json.dump({"auths": {reg.address: {"auth": token}}}, f)
            return path

        reg.write_config = write_config
        reg.config_path = write_config(AUTH_USER, AUTH_PASSWORD, os.path.join(work, "config.json"))
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return str(d)


@pytest.fixture
def orch_image(orch_bin, data_dir):
    def run(*args, env=None, check=True, timeout=300):
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.run([orch_bin, "image", args[0], "--data", data_dir] + list(args[1:]),
                           capture_output=True, text=True, env=full_env, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("orch image %s failed (%d):\n%s%s" %
                                 (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p
    run.data_dir = data_dir
    return run


@pytest.fixture(scope="session")
def bb_layer(tmp_path_factory):
    return images.build_busybox_layer(str(tmp_path_factory.mktemp("bb") / "layer"))


@pytest.fixture
def orch(orch_bin, tmp_path, bb_layer):
    data = tmp_path / "orchdata"
    data.mkdir()
    parent = "orch-test-%d-%s" % (os.getpid(), uuid.uuid4().hex[:6])
    runner = OrchRunner(orch_bin, str(data), bb_layer, parent)
    yield runner
    clean_up(runner)

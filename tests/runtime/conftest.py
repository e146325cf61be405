"""Generic pytest fixtures for the runtime tests (tests/runtime/).

  orch_bin      path of the binary under test ($ORCH_BIN, default build-dev/orch)
  test_images   the offline test images (tests/images/build_images.py), built
                once per session: .path(name), .canary, .hostile (cases)
  registry      a local docker-registry (anonymous) with busybox and layered
                pushed; .address, .ref(name), .blob_path(digest)
  auth_registry the same behind htpasswd basic auth (user "orch", password
                "s3cret"), with .config_path: a Docker config.json for it
  data_dir      a fresh orch data directory for one test
  orch_image    run `orch image ARGS` on data_dir: orch_image("ls"), returns
                CompletedProcess; check=False to look at failures

Everything needs root (mknod of whiteouts, chown, trusted xattrs, mounts).
The container engineer's fixtures live in their own plugin file; keep this
one generic.
"""
import base64
import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from registry import LocalRegistry  # noqa: E402

AUTH_USER, AUTH_PASSWORD = "orch", "s3cret"


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="runtime tests need root")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def orch_bin():
    path = os.environ.get("ORCH_BIN") or os.path.join(ROOT, "build-dev", "orch")
    if not os.access(path, os.X_OK):
        pytest.skip("no orch binary at %s (set ORCH_BIN)" % path)
    return path


class TestImages:
    def __init__(self, root, canary):
        self.root = root
        self.canary = canary
        with open(os.path.join(root, "hostile.json")) as f:
            self.hostile = json.load(f)["cases"]

    def path(self, name):
        return os.path.join(self.root, name)

    def manifest(self, name):
        """(manifest, config digest, layer digests) of a built layout."""
        idx = json.load(open(os.path.join(self.path(name), "index.json")))
        mdigest = idx["manifests"][0]["digest"]
        m = json.load(open(os.path.join(self.path(name), "blobs", "sha256", mdigest[7:])))
        return m, m["config"]["digest"], [l["digest"] for l in m["layers"]]


@pytest.fixture(scope="session")
def test_images(tmp_path_factory):
    if not os.path.exists("/bin/busybox"):
        pytest.skip("busybox-static is not installed")
    root = str(tmp_path_factory.mktemp("images"))
    canary = os.path.join(str(tmp_path_factory.mktemp("canary")), "canary")
    os.makedirs(canary)
    with open(os.path.join(canary, "file"), "w") as f:
        f.write("canary\n")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "images", "build_images.py"),
                    root, "--canary", canary], check=True)
    return TestImages(root, canary)


def _need(tool):
    if not shutil.which(tool):
        pytest.skip("%s is not installed" % tool)


@pytest.fixture(scope="session")
def registry(tmp_path_factory, test_images):
    _need("docker-registry")
    _need("skopeo")
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
    _need("docker-registry")
    _need("skopeo")
    _need("htpasswd")
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

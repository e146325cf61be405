"""Registry protocol cases against a scripted registry (fake_registry.py):
Bearer tokens, redirects to another host, cut connections, indexes."""
import base64
import json
import os
import pty
import subprocess

from orch_test.fake_registry import FakeRegistry


def creds_file(tmp_path, address, user, password):
    path = str(tmp_path / "config.json")
    auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    with open(path, "w") as f:
        json.dump({"auths": {address: {"auth": auth}}}, f)
    return path


def test_bearer_token_and_redirect_without_authorization(test_images, orch_image, tmp_path):
    with FakeRegistry(test_images.path("layered"), bearer=("alice", "pw"), redirect=True) as reg:
        cfg = creds_file(tmp_path, reg.address, "alice", "pw")
        orch_image("pull", "--insecure-registry", reg.address, "--registry-config", cfg, reg.ref)
        assert reg.token_requests and reg.token_requests[0] == ("repository:test/image:pull", True)
        # blobs were fetched from the storage host, and never with our token
        assert len(reg.storage_auth_headers) == 4
        assert all(h is None for h in reg.storage_auth_headers), reg.storage_auth_headers
    info = json.loads(orch_image("inspect", reg.ref).stdout)
    assert len(info["layer_dirs"]) == 3


def test_bearer_anonymous_token(test_images, orch_image):
    with FakeRegistry(test_images.path("busybox"), bearer=("alice", "pw")) as reg:
        p = orch_image("pull", "--insecure-registry", reg.address, reg.ref, check=False)
        assert p.returncode != 0
        assert "refused anonymous access" in p.stderr
        assert reg.token_requests == [("repository:test/image:pull", False)]


def test_bearer_wrong_password(test_images, orch_image, tmp_path):
    with FakeRegistry(test_images.path("busybox"), bearer=("alice", "pw")) as reg:
        cfg = creds_file(tmp_path, reg.address, "alice", "nope")
        p = orch_image("pull", "--insecure-registry", reg.address, "--registry-config", cfg,
                       reg.ref, check=False)
        assert p.returncode != 0
        assert "refused the credentials" in p.stderr


def test_credentials_go_to_a_plain_http_realm_only_when_it_is_listed(test_images, orch_image,
                                                                     tmp_path):
    """The registry is listed as insecure, its token realm (another host) is
    not: the credentials are not sent there; listing the realm's host too
    lets the pull authenticate."""
    with FakeRegistry(test_images.path("busybox"), bearer=("alice", "pw"),
                      realm_on_storage=True) as reg:
        cfg = creds_file(tmp_path, reg.address, "alice", "pw")
        p = orch_image("pull", "--insecure-registry", reg.address, "--registry-config", cfg,
                       reg.ref, check=False)
        assert p.returncode != 0
        assert "plain HTTP" in p.stderr and reg.storage_address in p.stderr, p.stderr
        assert reg.token_requests == [], reg.token_requests
        orch_image("pull", "--insecure-registry", reg.address,
                   "--insecure-registry", reg.storage_address, "--registry-config", cfg, reg.ref)
        assert reg.token_requests == [("repository:test/image:pull", True)], reg.token_requests


def test_cut_connection_resumes_with_range(test_images, orch_image):
    _, _, layers = test_images.manifest("layered")
    with FakeRegistry(test_images.path("layered"), cut_blobs=layers) as reg:
        orch_image("pull", "--insecure-registry", reg.address, reg.ref)
        ranges = [r for d, r in reg.range_requests if r]
        assert len(ranges) == 3, reg.range_requests  # every cut layer resumed, not restarted
    assert len(json.loads(orch_image("inspect", reg.ref).stdout)["layer_dirs"]) == 3


def test_index_picks_linux_amd64(test_images, orch_image):
    _, config, _ = test_images.manifest("busybox")
    with FakeRegistry(test_images.path("busybox"), index=True) as reg:
        p = orch_image("pull", "--insecure-registry", reg.address, reg.ref)
        assert p.stdout.split()[1] == config


def test_progress_bar_on_a_terminal(test_images, orch_bin, data_dir):
    with FakeRegistry(test_images.path("layered")) as reg:
        master, slave = pty.openpty()
        p = subprocess.run([orch_bin, "image", "pull", "--data", data_dir, "--insecure-registry",
                            reg.address, reg.ref], stdout=subprocess.PIPE, stderr=slave, timeout=120)
        os.close(slave)
        out = b""
        try:
            while True:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                out += chunk
        except OSError:
            pass
        os.close(master)
    assert p.returncode == 0
    text = out.decode(errors="replace")
    assert "[" in text and "MB" in text and "3/3 blobs" in text and "0/1 blobs" not in text, text


def test_kill_during_pull_then_resume(test_images, orch_bin, orch_image):
    """kill -9 in the middle of a blob: the partial file stays, locked by
    nobody; the next pull continues it with a Range request."""
    import time
    _, _, layers = test_images.manifest("busybox")
    partial = os.path.join(orch_image.data_dir, "images", "tmp", layers[0][7:] + ".partial")
    with FakeRegistry(test_images.path("busybox"), stall_blobs=[layers[0]]) as reg:
        p = subprocess.Popen([orch_bin, "image", "pull", "-q", "--data", orch_image.data_dir,
                              "--insecure-registry", reg.address, reg.ref],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(partial) and os.path.getsize(partial) > 0:
                break
            time.sleep(0.05)
        time.sleep(0.2)
        p.kill()
        p.wait()
        assert os.path.getsize(partial) > 0
        orch_image("pull", "--insecure-registry", reg.address, reg.ref)
        resumed = [r for d, r in reg.range_requests if d == layers[0] and r]
        assert resumed, reg.range_requests
    assert not os.path.exists(partial)
    assert json.loads(orch_image("inspect", reg.ref).stdout)["layer_dirs"]


def test_concurrent_pulls_of_one_image(registry, orch_bin, orch_image):
    procs = [subprocess.Popen([orch_bin, "image", "pull", "-q", "--data", orch_image.data_dir,
                               "--insecure-registry", registry.address, registry.ref("layered")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({o[0] for o in outs}) == 1
    assert len(os.listdir(os.path.join(orch_image.data_dir, "images", "layers"))) == 3
    assert os.listdir(os.path.join(orch_image.data_dir, "images", "tmp")) == []

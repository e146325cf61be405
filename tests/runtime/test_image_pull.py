"""orch image pull against a local docker-registry (anonymous and basic auth)."""
import json
import os

from orch_test.registry import LocalRegistry, require_registry_tools


def store_files(data_dir):
    """Every path under the image store's blobs, layers and tmp dirs."""
    out = set()
    for sub in ("blobs", "layers", "tmp"):
        base = os.path.join(data_dir, "images", sub)
        for dirpath, dirnames, filenames in os.walk(base):
            for n in dirnames + filenames:
                out.add(os.path.relpath(os.path.join(dirpath, n), base))
    return out


def inspect(orch_image, ref):
    return json.loads(orch_image("inspect", ref).stdout)


def test_pull_anonymous(registry, orch_image, test_images):
    p = orch_image("pull", "--insecure-registry", registry.address, registry.ref("layered"))
    _, config, layers = test_images.manifest("layered")
    assert p.stdout.split() == [registry.ref("layered") + ":latest", config]
    info = inspect(orch_image, registry.ref("layered:latest"))
    assert info["id"] == config
    assert len(info["layer_dirs"]) == 3
    assert info["config"]["WorkingDir"] == "/data"
    for d in info["layer_dirs"]:
        assert os.path.isdir(d)
    # every blob is in the content-addressed store under its own digest
    index = json.load(open(os.path.join(orch_image.data_dir, "images", "index.json")))
    blobs = index["images"][config]["blobs"]
    assert len(blobs) == 5  # manifest, config, three layers
    for digest in blobs:
        assert os.path.isfile(os.path.join(orch_image.data_dir, "images", "blobs", "sha256",
                                           digest[7:]))
    ls = orch_image("ls").stdout
    assert registry.ref("layered:latest") in ls


def test_pull_insecure_from_environment(registry, orch_image):
    orch_image("pull", registry.ref("busybox"), env={"ORCH_INSECURE_REGISTRIES":
                                                     "example.com:1," + registry.address})
    assert inspect(orch_image, registry.ref("busybox"))["layer_dirs"]


def test_pull_https_refused_with_hint(registry, orch_image):
    p = orch_image("pull", registry.ref("busybox"), check=False)
    assert p.returncode != 0
    assert "--insecure-registry" in p.stderr


def test_pull_twice_shares_layers(registry, orch_image):
    orch_image("pull", "--insecure-registry", registry.address, registry.ref("busybox"))
    before = store_files(orch_image.data_dir)
    orch_image("pull", "--insecure-registry", registry.address, registry.ref("busybox"))
    assert store_files(orch_image.data_dir) == before


def test_pull_by_digest(registry, orch_image, test_images):
    orch_image("pull", "--insecure-registry", registry.address, registry.ref("busybox"))
    digest = json.loads(orch_image("ls", "--json").stdout)[0]["id"]
    # the manifest digest the registry knows: ask the store's index
    index = json.load(open(os.path.join(orch_image.data_dir, "images", "index.json")))
    mdigest = index["images"][digest]["manifest"]
    ref = "%s@%s" % (registry.ref("busybox"), mdigest)
    p = orch_image("pull", "--insecure-registry", registry.address, ref)
    assert p.stdout.split()[1] == digest
    assert inspect(orch_image, ref)["id"] == digest


def test_pull_unknown_tag(registry, orch_image):
    p = orch_image("pull", "--insecure-registry", registry.address,
                   registry.ref("busybox:does-not-exist"), check=False)
    assert p.returncode != 0
    assert "manifest unknown" in p.stderr
    assert "does-not-exist" in p.stderr


def test_pull_unknown_repository(registry, orch_image):
    p = orch_image("pull", "--insecure-registry", registry.address, registry.ref("nothere"),
                   check=False)
    assert p.returncode != 0
    assert "nothere" in p.stderr


def test_pull_basic_auth(auth_registry, orch_image):
    orch_image("pull", "--insecure-registry", auth_registry.address, "--registry-config",
               auth_registry.config_path, auth_registry.ref("private/busybox"))
    assert inspect(orch_image, auth_registry.ref("private/busybox"))["layer_dirs"]


def test_pull_auth_config_from_environment(auth_registry, orch_image):
    orch_image("pull", "--insecure-registry", auth_registry.address,
               auth_registry.ref("private/busybox"),
               env={"ORCH_REGISTRY_CONFIG": auth_registry.config_path})


def test_pull_wrong_password(auth_registry, orch_image, tmp_path):
    cfg = auth_registry.write_config("orch", "wrong", str(tmp_path / "bad.json"))
    p = orch_image("pull", "--insecure-registry", auth_registry.address, "--registry-config", cfg,
                   auth_registry.ref("private/busybox"), check=False)
    assert p.returncode != 0
    assert "authentication failed" in p.stderr
    assert "wrong user name or password" in p.stderr
    assert not os.listdir(os.path.join(orch_image.data_dir, "images", "layers"))


def test_pull_without_credentials(auth_registry, orch_image):
    p = orch_image("pull", "--insecure-registry", auth_registry.address,
                   auth_registry.ref("private/busybox"), check=False)
    assert p.returncode != 0
    assert "requires a login" in p.stderr


def test_pull_corrupted_blob(tmp_path_factory, test_images, orch_image):
    """The registry serves a layer whose bytes do not match its digest."""
    require_registry_tools()
    with LocalRegistry(str(tmp_path_factory.mktemp("corrupt-registry"))) as reg:
        reg.push(test_images.path("busybox"), "corrupt")
        _, _, layers = test_images.manifest("busybox")
        path = reg.blob_path(layers[0])
        with open(path, "r+b") as f:
            f.seek(1000)
            byte = f.read(1)
            f.seek(1000)
            f.write(bytes([byte[0] ^ 0xff]))
        p = orch_image("pull", "--insecure-registry", reg.address, reg.address + "/corrupt",
                       check=False)
    assert p.returncode != 0
    assert "digest mismatch" in p.stderr
    assert layers[0] in p.stderr
    files = store_files(orch_image.data_dir)
    assert not any(layers[0][7:] in f for f in files), files
    assert not os.listdir(os.path.join(orch_image.data_dir, "images", "layers"))
    assert "corrupt" not in orch_image("ls").stdout


def test_pull_resumes_partial_download(registry, orch_image, test_images):
    """A partial file left by an interrupted pull is resumed with Range."""
    _, _, layers = test_images.manifest("busybox")
    blob = os.path.join(test_images.path("busybox"), "blobs", "sha256", layers[0][7:])
    tmp = os.path.join(orch_image.data_dir, "images", "tmp")
    os.makedirs(tmp, exist_ok=True)
    with open(blob, "rb") as src, open(os.path.join(tmp, layers[0][7:] + ".partial"), "wb") as dst:
        dst.write(src.read(os.path.getsize(blob) // 2))
    orch_image("pull", "--insecure-registry", registry.address, registry.ref("busybox"),
               "--log-level", "debug")
    assert os.path.isfile(os.path.join(orch_image.data_dir, "images", "blobs", "sha256",
                                       layers[0][7:]))
    assert not os.listdir(tmp)


def test_pull_discards_garbage_partial(registry, orch_image, test_images):
    """A stale partial with wrong bytes is resumed, fails verification, is
    discarded, and the blob is fetched again whole: the pull succeeds."""
    _, _, layers = test_images.manifest("busybox")
    tmp = os.path.join(orch_image.data_dir, "images", "tmp")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, layers[0][7:] + ".partial"), "wb") as f:
        f.write(b"garbage" * 100)
    p = orch_image("pull", "--insecure-registry", registry.address, registry.ref("busybox"))
    assert "starting over" in p.stderr
    assert not os.listdir(tmp)
    assert inspect(orch_image, registry.ref("busybox"))["layer_dirs"]


def test_pull_insecure_from_config_file(registry, orch_image, tmp_path):
    cfg = tmp_path / "registries.json"
    cfg.write_text(json.dumps({"auths": {}, "insecure-registries": [registry.address]}))
    orch_image("pull", "--registry-config", str(cfg), registry.ref("busybox"))
    assert inspect(orch_image, registry.ref("busybox"))["layer_dirs"]


def test_pull_bad_reference(orch_image):
    p = orch_image("pull", "UPPER/case", check=False)
    assert p.returncode != 0
    assert "invalid repository name" in p.stderr

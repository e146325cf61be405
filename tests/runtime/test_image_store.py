"""orch image ls / rm / gc, and GC keeping images that containers use."""
import json
import os


def images(orch_image):
    return json.loads(orch_image("ls", "--json").stdout)


def store_counts(data_dir):
    base = os.path.join(data_dir, "images")
    return (len(os.listdir(os.path.join(base, "layers"))),
            len(os.listdir(os.path.join(base, "blobs", "sha256"))))


def add_container_ref(data_dir, image_id, container_id):
    """What image_store_ref_add() records (the documented on-disk contract)."""
    d = os.path.join(data_dir, "images", "refs", image_id[7:])
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, container_id), "w").close()


def test_ls_and_rm(test_images, orch_image):
    orch_image("import", test_images.path("busybox"), "--name", "busybox")
    orch_image("import", test_images.path("layered"))
    names = sorted(n for i in images(orch_image) for n in i["names"])
    assert names == ["docker.io/library/busybox:latest", "docker.io/library/layered:latest"]
    assert "busybox:latest" in orch_image("ls").stdout
    assert len(orch_image("ls", "-q").stdout.split()) == 2
    p = orch_image("rm", "layered")
    assert p.stdout.strip() == "deleted layered"
    assert [i["names"] for i in images(orch_image)] == [["docker.io/library/busybox:latest"]]
    assert store_counts(orch_image.data_dir) == (1, 3)  # busybox: 1 layer; manifest, config, layer
    p = orch_image("rm", "layered", check=False)
    assert p.returncode != 0 and "not in the local store" in p.stderr


def test_rm_untags_before_deleting(test_images, orch_image):
    orch_image("import", test_images.path("busybox"), "--name", "a")
    orch_image("import", test_images.path("busybox"), "--name", "b")
    assert orch_image("rm", "a").stdout.strip() == "untagged a"
    assert store_counts(orch_image.data_dir)[0] == 1
    assert orch_image("rm", "b").stdout.strip() == "deleted b"
    assert store_counts(orch_image.data_dir) == (0, 0)


def test_rm_refuses_image_in_use_and_gc_keeps_it(test_images, orch_image):
    p = orch_image("import", test_images.path("layered"))
    image_id = p.stdout.split()[1]
    add_container_ref(orch_image.data_dir, image_id, "c1")
    p = orch_image("rm", "layered", check=False)
    assert p.returncode != 0
    assert "in use" in p.stderr and "c1" in p.stderr
    # --force untags; the data stays while the container holds it
    assert orch_image("rm", "--force", "layered").stdout.strip() == "untagged layered"
    orch_image("gc")
    info = json.loads(orch_image("inspect", image_id).stdout)
    assert all(os.path.isdir(d) for d in info["layer_dirs"])
    assert store_counts(orch_image.data_dir) == (3, 5)
    # the container goes: the next GC removes everything
    os.unlink(os.path.join(orch_image.data_dir, "images", "refs", image_id[7:], "c1"))
    out = orch_image("gc").stdout
    assert "removed 1 images" in out
    assert store_counts(orch_image.data_dir) == (0, 0)


def test_gc_removes_stale_temp_and_unreferenced(test_images, orch_image):
    orch_image("import", test_images.path("busybox"), "--name", "keep")
    base = os.path.join(orch_image.data_dir, "images")
    os.makedirs(os.path.join(base, "layers", ".tmp-dead-1-1", "x"))
    with open(os.path.join(base, "tmp", "0" * 64 + ".partial"), "w") as f:
        f.write("stale")
    with open(os.path.join(base, "blobs", "sha256", "f" * 64), "w") as f:
        f.write("orphan")
    orch_image("gc")
    assert os.listdir(os.path.join(base, "tmp")) == []
    assert not os.path.exists(os.path.join(base, "layers", ".tmp-dead-1-1"))
    assert not os.path.exists(os.path.join(base, "blobs", "sha256", "f" * 64))
    assert json.loads(orch_image("inspect", "keep").stdout)["layer_dirs"]

"""Layer unpacking: overlayfs form of whiteouts and opaque dirs, hardlinks,
symlinks, setuid and ownership; every hostile layer rejected, host untouched."""
import hashlib
import json
import os
import stat
import subprocess

import pytest

from orch_test.images import hostile_case_names
from orch_test.require import require


def layer_dirs(orch_image, ref):
    return json.loads(orch_image("inspect", ref).stdout)["layer_dirs"]


@pytest.fixture
def layered(test_images, orch_image):
    orch_image("import", test_images.path("layered"))
    return layer_dirs(orch_image, "layered")


def is_whiteout(path):
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_whiteouts_are_char_devices(layered):
    l1, l2, l3 = layered
    assert is_whiteout(os.path.join(l2, "data", "gone.txt"))
    assert is_whiteout(os.path.join(l3, "data", "olddir"))
    assert not os.path.exists(os.path.join(l2, "data", ".wh.gone.txt"))
    assert os.path.isfile(os.path.join(l1, "data", "gone.txt"))


def test_opaque_dir_has_xattr(layered):
    l1, l2, l3 = layered
    assert os.getxattr(os.path.join(l2, "opq"), "trusted.overlay.opaque") == b"y"
    assert not os.path.exists(os.path.join(l2, "opq", ".wh..wh..opq"))
    with pytest.raises(OSError):
        os.getxattr(os.path.join(l1, "opq"), "trusted.overlay.opaque")


def test_links_ownership_and_modes(layered):
    l2 = layered[1]
    orig, hard = os.path.join(l2, "links", "orig.txt"), os.path.join(l2, "links", "hard.txt")
    assert os.lstat(orig).st_ino == os.lstat(hard).st_ino
    assert os.lstat(orig).st_nlink == 2
    assert (os.lstat(orig).st_uid, os.lstat(orig).st_gid) == (1000, 1000)
    assert stat.S_IMODE(os.lstat(orig).st_mode) == 0o640
    assert os.readlink(os.path.join(l2, "links", "sym.txt")) == "orig.txt"
    assert os.readlink(os.path.join(l2, "links", "abs-sym")) == "/etc/passwd"
    assert os.readlink(os.path.join(l2, "links", "dangling")) == "/nonexistent/target"
    assert stat.S_IMODE(os.lstat(os.path.join(l2, "sticky")).st_mode) == 0o1777
    assert os.lstat(os.path.join(l2, "owned.txt")).st_uid == 1000
    # busybox applets are symlinks in the first layer
    assert os.readlink(os.path.join(layered[0], "bin", "sh")) == "busybox"


def test_setuid_kept_only_inside_the_store(layered, orch_image):
    l2 = layered[1]
    assert os.lstat(os.path.join(l2, "bin", "suid-tool")).st_mode & stat.S_ISUID
    assert os.lstat(os.path.join(l2, "bin", "sgid-tool")).st_mode & stat.S_ISGID
    # ...but no host user can reach them: the store is root-only
    for d in ("images", "images/layers"):
        st = os.stat(os.path.join(orch_image.data_dir, d))
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0


def test_overlay_merged_view(layered, tmp_path):
    merged, work, upper = tmp_path / "m", tmp_path / "w", tmp_path / "u"
    for d in (merged, work, upper):
        d.mkdir()
    lower = ":".join(reversed(layered))
    r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower,
                        str(merged)], capture_output=True, text=True)
    require(r.returncode == 0, "cannot mount overlayfs here: " + r.stderr)
    try:
        assert sorted(os.listdir(merged / "data")) == ["keep.txt", "new.txt"]
        assert (merged / "data" / "keep.txt").read_text() == "keep v3\n"
        assert sorted(os.listdir(merged / "opq")) == ["new.txt"]
        assert (merged / "links" / "sym.txt").read_text() == "linked\n"
        assert os.path.isfile(merged / "bin" / "busybox")
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def test_layers_unpacked_once_and_shared(test_images, orch_image):
    orch_image("import", test_images.path("busybox"), "--name", "one")
    orch_image("import", test_images.path("busybox"), "--name", "two")
    assert layer_dirs(orch_image, "one") == layer_dirs(orch_image, "two")
    assert len(os.listdir(os.path.join(orch_image.data_dir, "images", "layers"))) == 1


# ---- hostile layers ---------------------------------------------------------------

def snapshot(root):
    """Everything observable about a tree: names, types, modes, owners, content, xattrs."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [""] + dirnames + filenames:
            p = os.path.join(dirpath, n) if n else dirpath
            st = os.lstat(p)
            entry = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                     st.st_size, st.st_mtime_ns, st.st_nlink)
            if stat.S_ISREG(st.st_mode):
                entry += (hashlib.sha256(open(p, "rb").read()).hexdigest(),)
            if not stat.S_ISLNK(st.st_mode):
                entry += (tuple(sorted(os.listxattr(p))),)
            out[os.path.relpath(p, root)] = entry
    return out


@pytest.mark.parametrize("case", hostile_case_names())
def test_hostile_layer_rejected(case, test_images, orch_image):
    meta = next(c for c in test_images.hostile if c["name"] == case)
    canary_parent = os.path.dirname(test_images.canary)
    before = snapshot(canary_parent)
    p = orch_image("import", test_images.path(meta["image"]), env=meta["env"], check=False)
    assert p.returncode != 0, "hostile layer %s was accepted:\n%s" % (case, p.stdout)
    assert meta["expect"] in p.stderr, p.stderr
    assert "layer" in p.stderr
    # the host is untouched: the canary tree is exactly as it was...
    assert snapshot(canary_parent) == before
    # ...no partial layer is left, and the image was not recorded
    assert os.listdir(os.path.join(orch_image.data_dir, "images", "layers")) == []
    assert json.loads(orch_image("ls", "--json").stdout) == []
    for dirpath, dirnames, filenames in os.walk(orch_image.data_dir):
        for n in dirnames + filenames:
            assert "pwned" not in n and "escape" not in n, os.path.join(dirpath, n)


def test_hostile_layer_fails_the_pull(registry, test_images, orch_image):
    registry.push(test_images.path("hostile-symlink-parent"), "hostile")
    before = snapshot(os.path.dirname(test_images.canary))
    p = orch_image("pull", "--insecure-registry", registry.address, registry.ref("hostile"),
                   check=False)
    assert p.returncode != 0
    assert "lnk/through-symlink-pwned" in p.stderr
    assert snapshot(os.path.dirname(test_images.canary)) == before
    assert os.listdir(os.path.join(orch_image.data_dir, "images", "layers")) == []


def test_unpack_bound_settable_by_flag(test_images, orch_image):
    p = orch_image("import", test_images.path("busybox"), "--max-layer-size", "64K", check=False)
    assert p.returncode != 0
    assert "unpack limit" in p.stderr
    p = orch_image("import", test_images.path("busybox"), "--max-layer-entries", "10", check=False)
    assert p.returncode != 0
    assert "more than 10 entries" in p.stderr

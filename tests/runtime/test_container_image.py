"""Containers from images in the store (the shipped path: image_store.h),
with the image side's offline test images: config merging from the image,
layers stacked with whiteouts and opaque dirs visible inside, and the image
pinned while a container uses it."""
import os
import subprocess

import pytest

from orch_test.containers import OrchRunner, clean_up, leaks
from orch_test.require import require


@pytest.fixture
def store(orch_bin, orch_image, test_images, bb_layer, tmp_path):
    """A data dir with busybox and layered imported, and a runner on it."""
    require(subprocess.run([orch_bin, "image", "--help"], capture_output=True).returncode == 0,
            "this orch has no image store (no `orch image`)")
    orch_image("import", test_images.path("busybox"))
    orch_image("import", test_images.path("layered"))
    runner = OrchRunner(orch_bin, orch_image.data_dir, None, "orch-test-img-%d" % os.getpid())
    yield runner
    clean_up(runner)


def run_image(store, *args, check=None):
    argv = [store.binary, "run", "--data", store.data_dir,
            "--cgroup-parent", store.cgroup_parent] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check is not None:
        assert p.returncode == check, p.stdout + p.stderr
    return p


def test_run_from_the_store(store):
    p = run_image(store, "--rm", "busybox", "sh", "-c", "echo hi; id -u", check=0)
    assert p.stdout == "hi\n0\n"


def test_image_config_and_layers(store):
    # layered: Env PATH=/bin LAYERED=1, Cmd sh, WorkingDir /data.
    p = run_image(store, "--rm", "layered", "sh", "-c",
                  'echo "$LAYERED $PATH $PWD"; ls /data; ls /opq; cat /data/keep.txt; '
                  'cat /links/hard.txt /links/sym.txt; stat -c %a /sticky', check=0)
    lines = p.stdout.splitlines()
    assert lines[0] == "1 /bin /data"
    # gone.txt whited out, olddir removed, new files present.
    assert "gone.txt" not in p.stdout and "olddir" not in p.stdout
    assert "new.txt" in lines
    # The opaque dir hides what the lower layer had.
    assert "old1.txt" not in p.stdout and "oldsub" not in p.stdout
    assert "keep v3" in lines
    assert lines.count("linked") == 2
    assert lines[-1] == "1777"


def test_image_is_pinned_while_used(store):
    p = run_image(store, "-d", "layered", "sleep", "100", check=0)
    cid = p.stdout.strip()
    refs = os.path.join(store.data_dir, "images", "refs")
    pinned = [c for d in os.listdir(refs) for c in os.listdir(os.path.join(refs, d))]
    assert cid in pinned
    rm = subprocess.run([store.binary, "image", "rm", "--data", store.data_dir, "layered"],
                        capture_output=True, text=True)
    assert rm.returncode != 0  # in use
    store.verb("rm", "-f", cid)
    assert not [c for d in os.listdir(refs) for c in os.listdir(os.path.join(refs, d))]
    assert leaks(store, cid) == {}


def test_unknown_image(store):
    p = run_image(store, "--rm", "no-such-image")
    assert p.returncode == 125
    assert "no-such-image" in p.stderr

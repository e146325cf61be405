"""The offline test images (tests/images/build_images.py, from Debian's
busybox-static) and a plain busybox rootfs layer.

  build_test_images(root, canary)  OCI layouts under root: busybox, layered,
                                   hostile-* (see build_images.py); returns
                                   a TestImages
  hostile_case_names()             the hostile cases build_images.py makes
  build_busybox_layer(path)        a one-layer rootfs directory for
                                   `orch run --rootfs-layer`
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

from orch_test.binary import REPO_ROOT
from orch_test.require import require

BUSYBOX = "/bin/busybox"
BUILD_IMAGES = os.path.join(REPO_ROOT, "tests", "images", "build_images.py")

PASSWD = """root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
wheel:x:10:app,other
audio:x:29:app
app:x:1000:
nogroup:x:65534:
"""


def require_busybox():
    require(os.path.exists(BUSYBOX), "busybox-static is not installed")


class TestImages:
    """The layouts build_images.py wrote under root."""

    __test__ = False  # not a pytest class

    def __init__(self, root, canary=None):
        self.root = root
        self.canary = canary
        self.hostile = []
        hostile = os.path.join(root, "hostile.json")
        if os.path.exists(hostile):
            with open(hostile) as f:
                self.hostile = json.load(f)["cases"]

    def path(self, name):
        return os.path.join(self.root, name)

    def manifest(self, name):
        """(manifest, config digest, layer digests) of a built layout."""
        with open(os.path.join(self.path(name), "index.json")) as f:
            mdigest = json.load(f)["manifests"][0]["digest"]
        with open(os.path.join(self.path(name), "blobs", "sha256", mdigest[7:])) as f:
            m = json.load(f)
        return m, m["config"]["digest"], [l["digest"] for l in m["layers"]]


def build_test_images(root, canary=None):
    """Runs build_images.py into root (hostile layers aim at canary)."""
    require_busybox()
    args = [sys.executable, BUILD_IMAGES, str(root)]
    if canary is not None:
        args += ["--canary", str(canary)]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("build_images.py failed (%d):\n%s%s"
                             % (p.returncode, p.stdout, p.stderr))
    return TestImages(str(root), canary)


def hostile_case_names():
    """The names of the hostile layers build_images.py makes."""
    spec = importlib.util.spec_from_file_location("build_images", BUILD_IMAGES)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [name for name, _, _, _ in mod.hostile_cases("/x")]


def build_busybox_layer(path):
    """/bin/busybox and its applet symlinks, /etc/passwd and /etc/group with
    root, app (1000, in wheel and audio) and nobody, /home/app owned by app."""
    require_busybox()
    for d in ("bin", "etc", "tmp", "root", "home/app", "srv"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", os.path.join(path, "bin", applet))
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write(GROUP)
    os.chown(os.path.join(path, "home", "app"), 1000, 1000)
    return path

#!/usr/bin/env python3
"""Build orch's test images offline, as OCI image layouts.

Everything comes from Debian's busybox-static (/bin/busybox) and Python's
standard library; no registry, no network.  Run as:

    build_images.py OUTDIR [--canary DIR] [--big-mb N --big-layers K]

and it writes OUTDIR/<name>/ (an OCI layout, tag "latest") for

  busybox        one gzip layer: busybox, its applet symlinks, /etc/passwd+group
  layered        three layers (gzip, zstd, uncompressed) exercising whiteouts,
                 opaque directories, hardlinks, symlinks and a setuid file
  hostile-<case> one layer each that tries to escape the layer directory or
                 break the unpacker; they aim at the canary directory (--canary)
                 so a test can check the host was left untouched
  big            (only with --big-mb) K layers of random, incompressible data
                 totalling about N MB, on top of busybox: the pull benchmark

OUTDIR/hostile.json lists the hostile cases with the error text orch must
print for each and any environment the case needs (lowered unpack bounds).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

BUSYBOX = "/bin/busybox"
MTIME = 1700000000  # fixed, so builds are reproducible

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


# ---- tar building -----------------------------------------------------------

class Layer:
    """A tar stream built entry by entry (GNU format, like most layers)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.GNU_FORMAT)

    def _info(self, name, type_, mode, uid=0, gid=0):
        ti = tarfile.TarInfo(name)
        ti.type = type_
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""
        ti.mtime = MTIME
        return ti

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))

    def file(self, name, data=b"", mode=0o644, uid=0, gid=0):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))

    def symlink(self, name, target):
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)

    def hardlink(self, name, target):
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)

    def device(self, name, kind, major, minor):
        ti = self._info(name, kind, 0o666)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)

    def raw_header(self, ti, data=b""):
        """Append a header as given (sizes may lie) followed by data."""
        self.tar.fileobj.write(ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
        self.tar.fileobj.write(data)
        self.tar.offset += len(ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")) + len(data)

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def compress(data, how):
    if how == "none":
        return data
    if how == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    raise ValueError(how)


def busybox_base(layer):
    """A minimal busybox root file system."""
    applets = subprocess.run([BUSYBOX, "--list"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()
    for d in ("bin", "etc", "root", "home", "home/user", "var", "proc", "sys", "dev"):
        layer.dir(d, 0o700 if d == "root" else 0o755)
    layer.dir("home/user", 0o755, 1000, 1000)
    layer.dir("tmp", 0o1777)
    with open(BUSYBOX, "rb") as f:
        layer.file("bin/busybox", f.read(), 0o755)
    for a in applets:
        if a != "busybox":
            layer.symlink("bin/" + a, "busybox")
    layer.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
               "user:x:1000:1000:user:/home/user:/bin/sh\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    layer.file("etc/group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n")


# ---- OCI layout writing -------------------------------------------------------

def write_blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + digest, len(data)


def write_layout(out, layers, config=None, tag="latest"):
    """layers: list of (uncompressed tar bytes, compression)."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    descs, diff_ids = [], []
    for data, how in layers:
        diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
        digest, size = write_blob(out, compress(data, how))
        descs.append({"mediaType": MT_LAYER[how], "digest": digest, "size": size})
    cfg = {
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": config or {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                             "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "tests/images/build_images.py"}
                    for _ in layers],
    }
    cdigest, csize = write_blob(out, json.dumps(cfg, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
                "config": {"mediaType": MT_CONFIG, "digest": cdigest, "size": csize},
                "layers": descs}
    mdigest, msize = write_blob(out, json.dumps(manifest, sort_keys=True).encode())
    index = {"schemaVersion": 2, "mediaType": MT_INDEX,
             "manifests": [{"mediaType": MT_MANIFEST, "digest": mdigest, "size": msize,
                            "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return {"manifest": mdigest, "config": cdigest, "diff_ids": diff_ids,
            "layers": [d["digest"] for d in descs]}


# ---- the images ---------------------------------------------------------------

def build_busybox(out):
    l = Layer()
    busybox_base(l)
    return write_layout(out, [(l.bytes(), "gzip")])


def build_layered(out):
    # Layer 1: the base plus files the upper layers change.
    l1 = Layer()
    busybox_base(l1)
    l1.dir("data")
    l1.file("data/keep.txt", "keep\n")
    l1.file("data/gone.txt", "gone\n")
    l1.dir("data/olddir")
    l1.file("data/olddir/inner.txt", "inner\n")
    l1.dir("opq")
    l1.file("opq/old1.txt", "old1\n")
    l1.file("opq/old2.txt", "old2\n")
    l1.dir("opq/oldsub")
    l1.file("opq/oldsub/x", "x\n")
    # Layer 2 (zstd): a whiteout, an opaque dir, hardlinks, symlinks, setuid.
    l2 = Layer()
    l2.dir("data")
    l2.file("data/.wh.gone.txt")
    l2.dir("opq")
    l2.file("opq/.wh..wh..opq")
    l2.file("opq/new.txt", "new\n")
    l2.dir("links")
    l2.file("links/orig.txt", "linked\n", 0o640, 1000, 1000)
    l2.hardlink("links/hard.txt", "links/orig.txt")
    l2.symlink("links/sym.txt", "orig.txt")
    l2.symlink("links/abs-sym", "/etc/passwd")
    l2.symlink("links/dangling", "/nonexistent/target")
    l2.file("bin/suid-tool", "#!/bin/sh\nid\n", 0o4755)
    l2.file("bin/sgid-tool", "#!/bin/sh\nid\n", 0o2755)
    l2.dir("sticky", 0o1777)
    l2.file("owned.txt", "owned\n", 0o600, 1000, 1000)
    # Layer 3 (uncompressed): whiteout of a whole directory, a replaced file,
    # a file replaced by a directory.
    l3 = Layer()
    l3.dir("data")
    l3.file("data/.wh.olddir")
    l3.file("data/keep.txt", "keep v3\n")
    l3.file("data/new.txt", "new in layer 3\n")
    return write_layout(out, [(l1.bytes(), "gzip"), (l2.bytes(), "zstd"), (l3.bytes(), "none")],
                        {"Env": ["PATH=/bin", "LAYERED=1"], "Cmd": ["sh"], "WorkingDir": "/data"})


def hostile_cases(canary):
    """(name, builder(layer), expected error text, extra environment)."""
    up = "../" * 24  # climbs to / from any layer directory
    c = canary.lstrip("/")
    cases = []

    def case(name, expect, env=None):
        def wrap(fn):
            cases.append((name, fn, expect, env or {}))
            return fn
        return wrap

    @case("dotdot", "'..' component")
    def _(l):
        l.file(up + c + "/dotdot-pwned", "pwned\n")

    @case("dotdot-inner", "'..' component")
    def _(l):
        l.dir("a")
        l.file("a/../../escape-inner", "pwned\n")

    @case("absolute", "absolute name")
    def _(l):
        l.file(canary + "/abs-pwned", "pwned\n")

    @case("symlink-parent", "symlink or not a directory")
    def _(l):
        l.symlink("lnk", canary)
        l.file("lnk/through-symlink-pwned", "pwned\n")

    @case("hardlink-out", "'..' component")
    def _(l):
        l.hardlink("h", up + c + "/file")

    @case("hardlink-absolute", "absolute name")
    def _(l):
        l.hardlink("h", canary + "/file")

    @case("symlink-dot", "would replace the layer root")  # umoci CVE-2021-29136
    def _(l):
        l.symlink(".", canary)
        l.file("dot-pwned", "pwned\n")

    @case("symlink-slash", "absolute name")
    def _(l):
        l.symlink("/", canary)
        l.file("slash-pwned", "pwned\n")

    @case("symlink-then-hardlink", "not a regular file of this layer")
    def _(l):
        l.symlink("s", canary + "/file")
        l.hardlink("h", "s")
        l.file("h", "pwned\n")

    @case("chardev", "device node 1:3")
    def _(l):
        l.dir("dev")
        l.device("dev/evil-null", tarfile.CHRTYPE, 1, 3)

    @case("blockdev", "device node 8:0")
    def _(l):
        l.device("evil-disk", tarfile.BLKTYPE, 8, 0)

    @case("zip-bomb", "unpack limit", {"ORCH_LAYER_MAX_BYTES": "16M"})
    def _(l):
        l.file("zeros", b"\0" * (64 << 20))

    @case("huge-header", "exceeds the unpack limit")
    def _(l):
        ti = tarfile.TarInfo("huge")
        ti.size = 1 << 40  # claims 1 TiB; the data is not there
        ti.mtime = MTIME
        l.raw_header(ti, b"\0" * 512)

    @case("too-many-entries", "more than 1000 entries", {"ORCH_LAYER_MAX_ENTRIES": "1000"})
    def _(l):
        l.dir("many")
        for i in range(3000):
            l.file("many/f%d" % i)

    @case("whiteout-dotdot", "whiteout of '..'")
    def _(l):
        l.file(".wh...", "")

    @case("whiteout-through-symlink", "symlink or not a directory")
    def _(l):
        l.symlink("lnk", canary)
        l.file("lnk/.wh.file", "")

    @case("opaque-through-symlink", "symlink or not a directory")
    def _(l):
        l.symlink("lnk", canary)
        l.file("lnk/.wh..wh..opq", "")

    @case("whiteout-as-dir", "whiteout name used as a directory")
    def _(l):
        l.file(".wh.x/wh-pwned", "pwned\n")

    @case("dir-to-symlink", "symlink or not a directory")  # CVE-2018-15664 style
    def _(l):
        l.dir("d")
        l.file("d/ok", "ok\n")
        l.symlink("d", canary)
        l.file("d/swap-pwned", "pwned\n")

    @case("hardlink-to-dir", "not a regular file of this layer")
    def _(l):
        l.dir("etc")
        l.hardlink("etc-link", "etc")

    return cases


def build_hostile(outdir, canary):
    meta = []
    for name, fn, expect, env in hostile_cases(canary):
        l = Layer()
        fn(l)
        data = l.bytes()
        write_layout(os.path.join(outdir, "hostile-" + name), [(data, "gzip")])
        meta.append({"name": name, "image": "hostile-" + name, "expect": expect, "env": env})
    with open(os.path.join(outdir, "hostile.json"), "w") as f:
        json.dump({"canary": canary, "cases": meta}, f, indent=1)
    return meta


def build_big(out, total_mb, nlayers):
    base = Layer()
    busybox_base(base)
    layers = [(base.bytes(), "gzip")]
    per = max(1, total_mb // nlayers)
    for i in range(nlayers):
        l = Layer()
        l.dir("big%d" % i)
        # 16 files of random data per layer: incompressible, like real binaries
        for j in range(16):
            l.file("big%d/blob%02d" % (i, j), os.urandom((per << 20) // 16))
        layers.append((l.bytes(), "gzip"))
    return write_layout(out, layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--canary", default="/tmp/orch-canary")
    ap.add_argument("--big-mb", type=int, default=0)
    ap.add_argument("--big-layers", type=int, default=4)
    ap.add_argument("--only", choices=["busybox", "layered", "hostile", "big"], action="append")
    args = ap.parse_args()
    if not os.path.exists(BUSYBOX):
        sys.exit("build_images: %s missing (apt install busybox-static)" % BUSYBOX)
    os.makedirs(args.outdir, exist_ok=True)
    only = set(args.only or ["busybox", "layered", "hostile"] + (["big"] if args.big_mb else []))
    if "busybox" in only:
        build_busybox(os.path.join(args.outdir, "busybox"))
    if "layered" in only:
        build_layered(os.path.join(args.outdir, "layered"))
    if "hostile" in only:
        build_hostile(args.outdir, os.path.abspath(args.canary))
    if "big" in only:
        build_big(os.path.join(args.outdir, "big"), args.big_mb or 64, args.big_layers)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turn an OCI image layout into a `docker save` tarball (there is no docker
here): manifest.json, the config as <hex>.json and each layer uncompressed as
<diffid-hex>/layer.tar, the layout docker save wrote before Docker 25.

    oci_to_docker_save.py LAYOUT_DIR OUT.tar REPO:TAG
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return f.read()


def main():
    layout, out, tag = sys.argv[1:4]
    index = json.load(open(os.path.join(layout, "index.json")))
    manifest = json.loads(blob(layout, index["manifests"][0]["digest"]))
    config_digest = manifest["config"]["digest"]
    config = blob(layout, config_digest)
    members = {config_digest.split(":")[1] + ".json": config}
    layer_paths = []
    for l in manifest["layers"]:
        data = blob(layout, l["digest"])
        if l["mediaType"].endswith("+gzip"):
            data = gzip.decompress(data)
        elif l["mediaType"].endswith("+zstd"):
            data = subprocess.run(["zstd", "-q", "-d", "-c"], input=data, check=True,
                                  stdout=subprocess.PIPE).stdout
        name = hashlib.sha256(data).hexdigest() + "/layer.tar"
        members[name] = data
        layer_paths.append(name)
    members["manifest.json"] = json.dumps([{
        "Config": config_digest.split(":")[1] + ".json",
        "RepoTags": [tag],
        "Layers": layer_paths,
    }]).encode()
    with tarfile.open(out, "w") as t:
        # docker save puts manifest.json last; orch must not depend on order
        for name in sorted(members, key=lambda n: n == "manifest.json"):
            if "/" in name:
                d = tarfile.TarInfo(name.split("/")[0])
                d.type = tarfile.DIRTYPE
                d.mode = 0o755
                t.addfile(d)
            ti = tarfile.TarInfo(name)
            ti.size = len(members[name])
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(members[name]))


if __name__ == "__main__":
    main()

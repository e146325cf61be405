"""orch image import: OCI layouts (dir and tar) and docker save tarballs."""
import json
import os
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def test_import_oci_layout_dir(test_images, orch_image):
    p = orch_image("import", test_images.path("busybox"), "--name", "busybox")
    _, config, _ = test_images.manifest("busybox")
    assert p.stdout.split() == ["docker.io/library/busybox:latest", config]
    info = json.loads(orch_image("inspect", "busybox").stdout)
    assert info["id"] == config
    assert os.path.isfile(os.path.join(info["layer_dirs"][0], "bin", "busybox"))
    # also by ID and ID prefix
    assert json.loads(orch_image("inspect", config[7:19]).stdout)["id"] == config


def test_import_default_name_from_directory(test_images, orch_image):
    p = orch_image("import", test_images.path("layered"))
    assert p.stdout.split()[0] == "docker.io/library/layered:latest"


def test_import_docker_save(test_images, orch_image, tmp_path):
    tar = str(tmp_path / "layered-save.tar")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "images", "oci_to_docker_save.py"),
                    test_images.path("layered"), tar, "example.com/team/layered:v3"], check=True)
    with tarfile.open(tar) as t:
        assert "manifest.json" in t.getnames()
    p = orch_image("import", tar)
    _, config, _ = test_images.manifest("layered")
    assert p.stdout.split() == ["example.com/team/layered:v3", config]
    info = json.loads(orch_image("inspect", "example.com/team/layered:v3").stdout)
    assert len(info["layer_dirs"]) == 3
    assert info["config"]["Env"] == ["PATH=/bin", "LAYERED=1"]


def test_import_oci_layout_tar(test_images, orch_image, tmp_path):
    tar = str(tmp_path / "busybox-oci.tar")
    with tarfile.open(tar, "w") as t:
        t.add(test_images.path("busybox"), arcname=".")
    p = orch_image("import", tar, "--name", "registry.local/bb:1")
    assert p.stdout.split()[0] == "registry.local/bb:1"


def test_import_layout_with_corrupt_blob(test_images, orch_image, tmp_path):
    import shutil
    copy = str(tmp_path / "corrupt")
    shutil.copytree(test_images.path("busybox"), copy)
    _, _, layers = test_images.manifest("busybox")
    with open(os.path.join(copy, "blobs", "sha256", layers[0][7:]), "r+b") as f:
        f.seek(100)
        f.write(b"XXXX")
    p = orch_image("import", copy, check=False)
    assert p.returncode != 0
    assert "digest mismatch" in p.stderr
    blobs = os.listdir(os.path.join(orch_image.data_dir, "images", "blobs", "sha256"))
    assert layers[0][7:] not in blobs
    assert not os.listdir(os.path.join(orch_image.data_dir, "images", "tmp"))


def test_import_not_an_image(orch_image, tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    p = orch_image("import", str(d), check=False)
    assert p.returncode != 0
    assert "not an OCI image layout" in p.stderr

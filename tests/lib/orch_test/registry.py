"""A local OCI registry for tests: Debian's docker-registry on 127.0.0.1.

    with LocalRegistry(tmpdir) as reg:                  # anonymous
        reg.push("/path/oci-layout", "busybox", "latest")
        reg.address                                     # "127.0.0.1:PORT"
    with LocalRegistry(tmpdir, auth=("user", "pw")):    # htpasswd basic auth

Each instance gets a free port and its own storage directory; images are
pushed with `skopeo copy oci:DIR:TAG docker://ADDR/NAME:TAG`.  blob_path()
finds a blob's data file in the storage so a test can corrupt it.
"""
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from orch_test.net import free_port
from orch_test.require import require_tools

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
START_TIMEOUT_S = 20


def require_registry_tools(auth=False):
    """docker-registry and skopeo (and htpasswd for auth), or skip/fail."""
    require_tools("docker-registry", "skopeo", *(["htpasswd"] if auth else []))


class LocalRegistry:
    def __init__(self, workdir, auth=None):
        self.workdir = workdir
        self.auth = auth
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.storage = os.path.join(workdir, "storage")
        self.proc = None
        self.log_path = os.path.join(workdir, "registry.log")

    # ---- lifecycle -------------------------------------------------------
    def start(self):
        os.makedirs(self.storage, exist_ok=True)
        config = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % self.storage,
            "  delete:",
            "    enabled: true",
            "  cache:",
            "    blobdescriptor: ''",
            "http:",
            "  addr: %s" % self.address,
        ]
        if self.auth:
            htpasswd = os.path.join(self.workdir, "htpasswd")
            out = subprocess.run(["htpasswd", "-Bbn", self.auth[0], self.auth[1]], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            with open(htpasswd, "w") as f:
                f.write(out)
            config += ["auth:", "  htpasswd:", "    realm: orch-test", "    path: %s" % htpasswd]
        cfg_path = os.path.join(self.workdir, "config.yml")
        with open(cfg_path, "w") as f:
            f.write("\n".join(config) + "\n")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg_path], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: " + open(self.log_path).read())
            try:
                urllib.request.urlopen("http://%s/v2/" % self.address, timeout=1)
                return self
            except urllib.error.HTTPError:
                return self  # 401 with auth: it is up
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start: " + open(self.log_path).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- content ------------------------------------------------------------
    def push(self, layout_dir, name, tag="latest", src_tag="latest"):
        cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
               "oci:%s:%s" % (layout_dir, src_tag), "docker://%s/%s:%s" % (self.address, name, tag)]
        if self.auth:
            cmd[2:2] = ["--dest-creds", "%s:%s" % self.auth]
        subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300)
        return "%s/%s:%s" % (self.address, name, tag)

    def blob_path(self, digest):
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.storage, "docker", "registry", "v2", "blobs", algo, hexd[:2],
                            hexd, "data")

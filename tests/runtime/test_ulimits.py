"""orch run --ulimit NAME=SOFT[:HARD] as docker run: the limits are set in the
container (its /proc/self/limits and /proc/1/limits), persisted in its
config.json, enforced, and a hard limit the host refuses fails the start with
a message naming the ulimit instead of being lowered."""
import json
import os
import re
import resource
import subprocess

from orch_test.containers import cgroup_dirs
from orch_test.require import require_tools

# Lines of /proc/PID/limits, by the ulimit names orch takes.
LIMIT_LINES = {
    "nofile": "Max open files",
    "nproc": "Max processes",
    "core": "Max core file size",
    "stack": "Max stack size",
    "memlock": "Max locked memory",
    "sigpending": "Max pending signals",
}


def limits_of(text):
    """{"nofile": ("1024", "2048"), ...} from a /proc/PID/limits dump."""
    out = {}
    for name, label in LIMIT_LINES.items():
        m = re.search(r"^%s\s+(\S+)\s+(\S+)" % re.escape(label), text, re.M)
        if m:
            out[name] = (m.group(1), m.group(2))
    return out


def nr_open():
    with open("/proc/sys/fs/nr_open") as f:
        return int(f.read())


def can_raise_hard_limits():
    """CAP_SYS_RESOURCE (bit 24) in our effective set: orch run and its shim
    inherit it; without it no hard limit can rise (some CI sandboxes)."""
    with open("/proc/self/status") as f:
        capeff = [line for line in f if line.startswith("CapEff:")][0]
    return bool(int(capeff.split()[1], 16) >> 24 & 1)


def test_ulimits_are_set_in_the_container(orch):
    p = orch.run("--rm", "--ulimit=nofile=1024:2048", "--ulimit=nproc=77:88",
                 "--ulimit=core=-1", "--ulimit=stack=8388608:unlimited",
                 "sh", "-c", "cat /proc/1/limits; echo ===; cat /proc/self/limits", check=0)
    pid1, child = p.stdout.split("===")
    for text in (pid1, child):
        lim = limits_of(text)
        assert lim["nofile"] == ("1024", "2048"), text
        assert lim["nproc"] == ("77", "88"), text
        assert lim["core"] == ("unlimited", "unlimited"), text
        assert lim["stack"] == ("8388608", "unlimited"), text


def test_hard_defaults_to_soft_and_the_last_flag_wins(orch):
    p = orch.run("--rm", "--ulimit=memlock=65536", "--ulimit=nofile=100",
                 "--ulimit=nofile=200:300", "cat", "/proc/self/limits", check=0)
    lim = limits_of(p.stdout)
    assert lim["memlock"] == ("65536", "65536"), p.stdout
    assert lim["nofile"] == ("200", "300"), p.stdout


def test_default_nofile_without_ulimit(orch):
    # Docker's 1048576, or as much as there is without CAP_SYS_RESOURCE.
    want = 1048576 if can_raise_hard_limits() else resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    p = orch.run("--rm", "cat", "/proc/self/limits", check=0)
    assert limits_of(p.stdout)["nofile"] == (str(want), str(want)), p.stdout


def test_ulimits_hold_for_a_non_root_user(orch):
    p = orch.run("--rm", "-u", "app", "--ulimit=nofile=512:1024", "--ulimit=sigpending=99",
                 "sh", "-c", "id -u; cat /proc/self/limits", check=0)
    assert p.stdout.splitlines()[0] == "1000", p.stdout
    lim = limits_of(p.stdout)
    assert lim["nofile"] == ("512", "1024"), p.stdout
    assert lim["sigpending"] == ("99", "99"), p.stdout


def test_nofile_is_enforced(orch):
    # fd 25 is past a soft limit of 20 (the redirection fails and sh exits),
    # and within one of 64.
    script = "exec 25</dev/null && echo opened"
    low = orch.run("--rm", "--ulimit=nofile=20", "sh", "-c", script)
    assert low.returncode != 0 and "opened" not in low.stdout, (low.stdout, low.stderr)
    high = orch.run("--rm", "--ulimit=nofile=64", "sh", "-c", script, check=0)
    assert high.stdout.strip() == "opened"


def test_ulimits_are_in_the_persisted_config(orch):
    cid = orch.detach("--ulimit=nofile=4096:8192", "--ulimit=core=0", "sleep", "60")
    with open(os.path.join(orch.container_dir(cid), "config.json")) as f:
        config = json.load(f)
    rlimits = {r["type"]: (r["soft"], r["hard"]) for r in config["process"]["rlimits"]}
    assert rlimits == {"nofile": (4096, 8192), "core": (0, 0)}, config["process"]
    # What the container's PID 1 runs with, read from the host.
    pid = orch.state(cid)["pid"]
    with open("/proc/%d/limits" % pid) as f:
        assert limits_of(f.read())["nofile"] == ("4096", "8192")
    orch.verb("rm", "-f", cid)


def test_hard_limit_above_the_host_fails_the_start(orch):
    too_high = nr_open() + 1
    p = orch.run("--name", "toohigh", "--ulimit=nofile=1024:%d" % too_high, "true")
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert "exec" not in p.stderr, p.stderr  # the init refused, not the command
    assert "ulimit nofile=1024:%d" % too_high in p.stderr, p.stderr
    assert "exceeds what this host allows" in p.stderr, p.stderr
    assert "fs.nr_open is %d" % nr_open() in p.stderr, p.stderr
    st = [c for c in orch.ps().values() if c["name"] == "toohigh"][0]
    assert st["status"] == "exited" and st["exitCode"] == 125, st
    assert "ulimit nofile" in st.get("error", ""), st
    assert not cgroup_dirs(orch.cgroup_parent, st["id"])
    orch.verb("rm", st["id"])


def run_without_cap_sys_resource(orch, hard, *args):
    """`orch run ARGS` as some CI sandboxes run it: without CAP_SYS_RESOURCE
    (out of the bounding and inheritable sets, so root's exec does not get it
    back) and with RLIMIT_NPROC's hard limit at hard."""
    def limit():
        soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
        if soft == resource.RLIM_INFINITY or soft > hard:
            soft = hard
        resource.setrlimit(resource.RLIMIT_NPROC, (soft, hard))
    argv = ["setpriv", "--bounding-set=-sys_resource", "--inh-caps=-sys_resource", "--"]
    return subprocess.run(argv + orch.run_args(*args), capture_output=True, text=True,
                          timeout=60, preexec_fn=limit)


def test_hard_limit_above_ours_without_cap_sys_resource_fails(orch):
    require_tools("setpriv")
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    if hard == resource.RLIM_INFINITY:
        hard = 65536
    p = run_without_cap_sys_resource(orch, hard, "--rm", "--ulimit=nproc=10:%d" % (hard + 1),
                                     "true")
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert "ulimit nproc=10:%d: the hard limit exceeds what this host allows (%d here" % (
        hard + 1, hard) in p.stderr, p.stderr
    # Lowering is always allowed, and the same hard limit is kept as it is.
    p = run_without_cap_sys_resource(orch, hard, "--rm", "--ulimit=nproc=10:%d" % hard,
                                     "cat", "/proc/self/limits")
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert limits_of(p.stdout)["nproc"] == ("10", str(hard)), p.stdout


def test_malformed_ulimits_are_flag_errors(orch):
    # As docker run: a bad flag value exits 125 before anything is created.
    for bad, why in (("nofile", "expected name=soft[:hard]"),
                     ("bogus=1", "unknown name"),
                     ("nofile=2048:1024", "exceeds the hard limit"),
                     ("nofile=lots", "a limit is a number")):
        p = orch.run("--rm", "--ulimit=" + bad, "true")
        assert p.returncode == 125, (bad, p.returncode, p.stderr)
        assert why in p.stderr, (bad, p.stderr)
    assert orch.ps() == {}

"""orch run as docker run: exit codes, signals, stdio, and Docker's merging of
the image config (Env, Entrypoint, Cmd, WorkingDir, User) with run's flags."""


IMAGE_CONFIG = {
    "Env": ["A=image", "B=image", "PATH=/bin:/usr/bin"],
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["echo default-cmd"],
    "WorkingDir": "/srv",
    "User": "app",
}


def test_exit_code_is_the_containers(orch):
    assert orch.run("--rm", "sh", "-c", "exit 3").returncode == 3
    assert orch.run("--rm", "true").returncode == 0


def test_signal_death_is_128_plus_n(orch):
    # PID 1 ignores signals it has no handler for (in Docker too): a child dies of TERM.
    p = orch.run("--rm", "sh", "-c", "sleep 10 & kill -TERM $!; wait $!; exit $?")
    assert p.returncode == 143
    # The container's own PID 1 killed from outside: 128 + SIGKILL.
    cid = orch.detach("sleep", "1000")
    orch.verb("kill", "-s", "KILL", cid)
    st = orch.wait_status(cid, "exited")
    assert (st["exitCode"], st["exitSignal"], st["oomKilled"]) == (137, 9, False)


def test_stdout_and_stderr_stay_separate(orch):
    p = orch.run("--rm", "sh", "-c", "echo to-out; echo to-err >&2; printf partial")
    assert p.returncode == 0
    assert p.stdout == "to-out\npartial"
    assert p.stderr == "to-err\n"


def test_large_output_is_complete(orch):
    p = orch.run("--rm", "sh", "-c", "seq 1 200000")
    assert p.returncode == 0
    lines = p.stdout.split("\n")
    assert lines[0] == "1" and lines[-2] == "200000" and len(lines) == 200001


def test_command_not_found_and_not_executable(orch):
    p = orch.run("--rm", "no-such-command")
    assert p.returncode == 127
    assert "not found" in p.stderr
    p = orch.run("--rm", "/etc/passwd")
    assert p.returncode == 126
    p = orch.run("--rm", "-u", "ghost", "true")
    assert p.returncode == 125
    assert "unable to find user 'ghost'" in p.stderr


def test_image_defaults(orch):
    p = orch.run("--rm", image_config=IMAGE_CONFIG, check=0)
    assert p.stdout == "default-cmd\n"
    p = orch.run("--rm", 'echo "$A $B $PWD $(id -u):$(id -g) $HOME $PATH"',
                 image_config=IMAGE_CONFIG, check=0)
    assert p.stdout == "image image /srv 1000:1000 /home/app /bin:/usr/bin\n"


def test_overrides_win(orch):
    p = orch.run("--rm", "-e", "B=cli", "-e", "C=new", "-w", "/tmp", "-u", "root",
                 'echo "$A $B $C $PWD $(id -u) $HOME"', image_config=IMAGE_CONFIG, check=0)
    assert p.stdout == "image cli new /tmp 0 /root\n"


def test_entrypoint_override_drops_image_cmd(orch):
    p = orch.run("--rm", "--entrypoint", "/bin/echo", image_config=IMAGE_CONFIG, check=0)
    assert p.stdout == "\n"
    p = orch.run("--rm", "--entrypoint", "/bin/echo", "a", "b", image_config=IMAGE_CONFIG,
                 check=0)
    assert p.stdout == "a b\n"


def test_empty_entrypoint_uses_cmd(orch):
    p = orch.run("--rm", "--entrypoint", "", "echo", "plain", image_config=IMAGE_CONFIG,
                 check=0)
    assert p.stdout == "plain\n"


def test_env_from_caller_and_defaults(orch, monkeypatch):
    monkeypatch.setenv("FROM_HOST", "yes")
    p = orch.run("--rm", "-e", "FROM_HOST", "-e", "UNSET_ON_HOST_XYZ", "--hostname", "h1",
                 "env", check=0)
    env = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert env["FROM_HOST"] == "yes"
    assert "UNSET_ON_HOST_XYZ" not in env
    assert env["HOSTNAME"] == "h1"
    assert env["HOME"] == "/root"
    assert env["PATH"].startswith("/usr/local/sbin:")


def test_workdir_is_created(orch):
    p = orch.run("--rm", "-w", "/does/not/exist", "pwd", check=0)
    assert p.stdout == "/does/not/exist\n"
    p = orch.run("--rm", "-w", "relative", "pwd")
    assert p.returncode == 125


def test_user_and_groups_from_the_containers_files(orch):
    p = orch.run("--rm", "-u", "app", "id", check=0)
    assert p.stdout == "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio)\n"
    p = orch.run("--rm", "-u", "1000:29", "id", check=0)
    assert p.stdout == "uid=1000(app) gid=29(audio)\n"
    p = orch.run("--rm", "-u", "4242", "id", "-u", check=0)
    assert p.stdout == "4242\n"


def test_user_lookup_stays_in_the_rootfs(orch, tmp_path):
    """An image whose /etc/passwd is a symlink out of the rootfs must not read the host's."""
    host_file = tmp_path / "host-passwd"
    host_file.write_text("evil:x:4242:4242::/evil:/bin/sh\n")
    layer = tmp_path / "evil-layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "passwd").symlink_to("../../../../../../../../.." + str(host_file))
    p = orch.run("--rm", "-u", "evil", "true", layers=[orch.layer, str(layer)])
    assert p.returncode == 125
    assert "unable to find user 'evil'" in p.stderr


def test_hostname_hosts_and_resolv_conf(orch):
    p = orch.run("--rm", "--hostname", "web-1", "sh", "-c",
                 "hostname; cat /etc/hostname; grep -c web-1 /etc/hosts; "
                 "grep -c localhost /etc/hosts; grep -c '^nameserver' /etc/resolv.conf",
                 check=0)
    hostname, etc_hostname, in_hosts, localhost, servers = p.stdout.split()
    assert (hostname, etc_hostname, in_hosts) == ("web-1", "web-1", "1")
    assert int(localhost) >= 1 and int(servers) >= 1
    # The default hostname is the short ID.
    p = orch.run("--rm", "hostname", check=0)
    assert len(p.stdout.strip()) == 12


def test_names_are_unique(orch):
    orch.detach("--name", "web", "sleep", "30")
    p = orch.run("--name", "web", "true")
    assert p.returncode == 125
    assert "already in use" in p.stderr

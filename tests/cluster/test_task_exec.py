"""`orch task exec`: a command in a running task's container on an agent in
its own network namespace, through the server's upgraded channels: the
container's user, environment and working directory, exit codes, stdin,
a terminal, stderr apart, container choice, refusals, no process left
behind when the CLI dies, hostile clients on the channel, auth, and either
side going while the server holds the other back (backpressure)."""

import contextlib
import fcntl
import hashlib
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest

from orch_test import api
from orch_test.binary import orch_bin
from orch_test.cluster import sleeper_td
from orch_test.fake_agent import FakeAgent, new_cluster, register_taskdef, unique_family
from orch_test.net import read_until_close
from orch_test.wait import wait_for

FRAME_STDIN, FRAME_STDIN_CLOSE, FRAME_RESIZE = 0x01, 0x02, 0x03
FRAME_STDOUT, FRAME_STDERR, FRAME_EXIT, FRAME_ERROR = 0x11, 0x12, 0x13, 0x14


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}


def _exec(cluster, tid, *args, input=None, timeout=60, text=True):
    """orch task exec TID ARGS (ARGS holds the options, then "--", CMD)."""
    return subprocess.run([orch_bin(), "task", "exec", tid, "--data",
                           cluster.server.data_dir] + list(args),
                          input=input, capture_output=True, text=text,
                          timeout=timeout, env=_env())


@pytest.fixture(scope="module")
def app_task(cluster):
    """One running task: container "app" (user 1000, env, workdir) and a
    non-essential "side" container."""
    td = {"family": "exec-app", "networkMode": "host",
          "containerDefinitions": [
              {"name": "app", "image": "busybox", "memory": 32,
               "command": ["sleep", "3000"], "stopTimeout": 1,
               "user": "1000", "workingDirectory": "/tmp",
               "ulimits": [{"name": "nofile", "softLimit": 4096, "hardLimit": 8192}],
               "environment": [{"name": "GREETING", "value": "hello exec"}]},
              {"name": "side", "image": "busybox", "memory": 32,
               "essential": False, "command": ["sleep", "3000"],
               "stopTimeout": 1, "workingDirectory": "/etc",
               "environment": [{"name": "WHO", "value": "side"}]}]}
    cluster.register(td)
    tid = cluster.run_task("exec-app")[0]["taskId"]
    t = cluster.wait_task(tid, "RUNNING", timeout=30)
    yield tid, t
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=30)


def test_output_user_env_and_workdir(cluster, app_task):
    tid, _ = app_task
    r = _exec(cluster, tid, "--", "echo", "hi", "there")
    assert r.returncode == 0 and r.stdout == "hi there\n", r
    r = _exec(cluster, tid, "--", "id", "-u")
    assert r.returncode == 0 and r.stdout.strip() == "1000", r
    r = _exec(cluster, tid, "--", "pwd")
    assert r.returncode == 0 and r.stdout.strip() == "/tmp", r
    r = _exec(cluster, tid, "--", "env")
    env = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
    assert r.returncode == 0 and env.get("GREETING") == "hello exec", r
    assert env.get("HOME") == "/home/user", env


def test_container_ulimits_apply_to_exec(cluster, app_task):
    tid, _ = app_task
    r = _exec(cluster, tid, "--", "sh", "-c", "ulimit -n; ulimit -Hn")
    assert r.returncode == 0 and r.stdout.split() == ["4096", "8192"], r


def test_exec_runs_confined_like_the_container(cluster, app_task):
    """The exec'd process gets the container's seccomp filter and no_new_privs."""
    tid, _ = app_task
    r = _exec(cluster, tid, "--", "grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status")
    status = dict(line.split(":\t", 1) for line in r.stdout.splitlines())
    assert r.returncode == 0 and status == {"NoNewPrivs": "1", "Seccomp": "2"}, r
    r = _exec(cluster, tid, "--", "unshare", "-m", "true")
    assert r.returncode != 0, r


def test_helper_is_a_fresh_process_with_stdio_only(cluster, app_task):
    """The process's parent (the helper) was exec'd, not left a forked copy
    of the multi-threaded agent: one thread, its own command line, and no
    descriptor of the agent's beyond stdio."""
    tid, _ = app_task
    marker = "1000.13"
    p = _exec_sleep(cluster, tid, marker)
    try:
        pid = wait_for(lambda: _sleepers(marker), timeout=20, what="the exec'd sleep")[0]
        with open("/proc/%d/stat" % pid) as f:
            helper = int(f.read().rsplit(")", 1)[1].split()[1])
        with open("/proc/%d/cmdline" % helper, "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[1] == b"exec-helper" and marker.encode() in argv, argv
        with open("/proc/%d/status" % helper) as f:
            assert "Threads:\t1\n" in f.read()
        # Nothing of the agent's environment (its join token, say) but
        # sanitizer options: the helper's child runs inside the container.
        with open("/proc/%d/environ" % helper, "rb") as f:
            names = {e.split(b"=", 1)[0] for e in f.read().split(b"\0") if e}
        assert names <= {b"ASAN_OPTIONS", b"LSAN_OPTIONS", b"UBSAN_OPTIONS"}, names
        fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (helper, fd))
               for fd in os.listdir("/proc/%d/fd" % helper)}
        # stdio, and the signalfd it supervises the process with
        assert sorted(fds) == [0, 1, 2, 3] and fds[3] == "anon_inode:[signalfd]", fds
    finally:
        p.kill()
        p.wait()
    wait_for(lambda: not _sleepers(marker), timeout=15, what="no sleep left")


def test_task_arn_works_too(cluster, app_task):
    tid, t = app_task
    r = _exec(cluster, t["taskArn"], "--", "echo", "by-arn")
    assert r.returncode == 0 and r.stdout == "by-arn\n", r


def test_exit_codes(cluster, app_task):
    tid, _ = app_task
    assert _exec(cluster, tid, "--", "sh", "-c", "exit 7").returncode == 7
    assert _exec(cluster, tid, "--", "true").returncode == 0
    r = _exec(cluster, tid, "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + signal.SIGTERM, r


def test_command_not_found_is_127(cluster, app_task):
    tid, _ = app_task
    r = _exec(cluster, tid, "--", "no-such-command-here", "x")
    assert r.returncode == 127, r
    assert "no-such-command-here" in r.stderr, r


def test_stdin_is_forwarded_exactly(cluster, app_task):
    tid, _ = app_task
    data = os.urandom(1 << 20)
    r = _exec(cluster, tid, "-i", "--", "cat", input=data, text=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == len(data)
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    # Without -i the command's stdin is empty (and never waits).
    r = _exec(cluster, tid, "--", "cat", input="ignored")
    assert r.returncode == 0 and r.stdout == "", r


def test_terminal_only_with_t(cluster, app_task):
    tid, _ = app_task
    script = "test -t 0 && tty && test -t 1 && echo isatty"
    r = _exec(cluster, tid, "-t", "--", "sh", "-c", script)
    assert r.returncode == 0, r
    lines = r.stdout.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/") and lines[1] == "isatty", r
    r = _exec(cluster, tid, "--", "sh", "-c", script)
    assert r.returncode == 1 and "isatty" not in r.stdout, r


def test_terminal_input_and_eof(cluster, app_task):
    tid, _ = app_task
    # The remote terminal echoes and ends with its EOF character on our EOF.
    r = _exec(cluster, tid, "-i", "-t", "--", "sh", "-c", "read line; echo got:$line",
              input="abc\n")
    assert r.returncode == 0, r
    assert "got:abc" in r.stdout, r


def test_stderr_is_apart_without_t(cluster, app_task):
    tid, _ = app_task
    r = _exec(cluster, tid, "--", "sh", "-c", "echo out; echo err >&2; echo out2")
    assert r.returncode == 0, r
    assert r.stdout == "out\nout2\n" and r.stderr == "err\n", r


def test_container_choice(cluster, app_task):
    tid, _ = app_task
    r = _exec(cluster, tid, "-c", "side", "--", "sh", "-c", "echo $WHO; pwd; id -u")
    assert r.returncode == 0, r
    assert r.stdout.split() == ["side", "/etc", "0"], r
    r = _exec(cluster, tid, "--container", "app", "--", "sh", "-c", "echo $GREETING")
    assert r.stdout == "hello exec\n", r


def test_unknown_container_is_400(cluster, app_task):
    tid, _ = app_task
    r = _exec(cluster, tid, "-c", "nope", "--", "true")
    assert r.returncode != 0 and "nope" in r.stderr and "400" in r.stderr, r


def test_unknown_task_is_404(cluster):
    r = _exec(cluster, "ab" * 16, "--", "true")
    assert r.returncode != 0 and "not found" in r.stderr.lower() and "404" in r.stderr, r
    r = _exec(cluster, "not-a-task", "--", "true")
    assert r.returncode != 0 and "404" in r.stderr, r


def test_no_command_is_a_usage_error(cluster, app_task):
    tid, _ = app_task
    r = _exec(cluster, tid)
    assert r.returncode != 0 and "command" in r.stderr, r


def test_stopped_task_is_409(cluster, family):
    cluster.register(sleeper_td(family))
    tid = cluster.run_task(family)[0]["taskId"]
    cluster.wait_task(tid, "RUNNING")
    cluster.stop_task(tid)
    cluster.wait_task(tid, "STOPPED", timeout=30)
    r = _exec(cluster, tid, "--", "true")
    assert r.returncode != 0 and "409" in r.stderr and tid in r.stderr, r
    assert "not RUNNING" in r.stderr, r


def _exec_sleep(cluster, tid, marker, args=()):
    """`orch task exec [args] -- sleep marker` in the background, no stdio."""
    return subprocess.Popen([orch_bin(), "task", "exec", tid, "--data",
                             cluster.server.data_dir, *args, "--", "sleep", marker],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env())


def _reap(p):
    """Kills the CLI p if it still runs, and waits for it."""
    if p.poll() is None:
        p.kill()
        p.wait()


def _interrupt(p):
    """SIGINT ends the CLI p with 128 + SIGINT."""
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 128 + signal.SIGINT


def _sleepers(marker, name=b"sleep"):
    """Host pids of the processes named name with marker among their
    arguments."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(name) and marker.encode() in argv:
            found.append(int(pid))
    return found


@pytest.mark.parametrize("tty", [False, True])
def test_killing_the_cli_kills_the_command(cluster, app_task, tty):
    tid, _ = app_task
    marker = "1000.%d" % (7 if tty else 3)
    args = ["-t"] if tty else []
    p = _exec_sleep(cluster, tid, marker, args)
    try:
        wait_for(lambda: _sleepers(marker), timeout=20, what="the exec'd sleep")
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    wait_for(lambda: not _sleepers(marker), timeout=15, what="no sleep left")


def test_sigint_ends_the_cli_and_the_command(cluster, app_task):
    tid, _ = app_task
    marker = "1000.5"
    p = _exec_sleep(cluster, tid, marker)
    try:
        wait_for(lambda: _sleepers(marker), timeout=20, what="the exec'd sleep")
        _interrupt(p)
    finally:
        _reap(p)
    wait_for(lambda: not _sleepers(marker), timeout=15, what="no sleep left")


# ---- the channel, by hand -------------------------------------------------

def _open_channel(cluster, tid, body, token=None, ecs_cluster="default"):
    """A raw TLS socket after the exec request; returns (status, sock, head)."""
    s = api.connect(cluster.server.port, timeout=30)
    payload = json.dumps(body).encode()
    head = ("POST /v1/clusters/%s/tasks/%s/exec HTTP/1.1\r\nHost: x\r\n"
            "Connection: Upgrade\r\nUpgrade: orch-exec/1\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n"
            % (ecs_cluster, tid, len(payload)))
    if token is not False:
        head += "Authorization: Bearer %s\r\n" % (token or cluster.server.token)
    s.sendall(head.encode() + b"\r\n" + payload)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, s, data


def _frame(t, payload=b""):
    return struct.pack(">BI", t, len(payload)) + payload


def _parse_frames(buf):
    """The whole frames at the start of buf: [(type, payload)]."""
    frames = []
    while len(buf) >= 5:
        t, n = struct.unpack(">BI", buf[:5])
        if len(buf) < 5 + n:
            break
        frames.append((t, buf[5:5 + n]))
        buf = buf[5 + n:]
    return frames


def _read_frames(s, deadline_s=15):
    """Frames until the server closes: [(type, payload)]."""
    return _parse_frames(read_until_close(s, deadline_s)[0])


def test_protocol_by_hand(cluster, app_task):
    tid, _ = app_task
    status, s, head = _open_channel(cluster, tid, {"command": ["cat"], "interactive": True})
    assert status == 101, head
    try:
        s.sendall(_frame(FRAME_STDIN, b"ping\n") + _frame(FRAME_STDIN_CLOSE))
        frames = _read_frames(s)
    finally:
        s.close()
    assert (FRAME_STDOUT, b"ping\n") in frames, frames
    assert frames[-1] == (FRAME_EXIT, struct.pack(">I", 0)), frames


@pytest.mark.parametrize("garbage", [
    _frame(FRAME_STDIN, b"") [:1] + struct.pack(">I", 0x7fffffff),   # huge length
    _frame(0x42, b"x"),                                              # unknown type
    _frame(FRAME_STDOUT, b"not yours"),                              # agent's type
    _frame(FRAME_RESIZE, b"\x00"),                                   # wrong size
    b"GET / HTTP/1.1\r\n\r\n" * 3,                                   # not frames
])
def test_hostile_client_is_refused_and_server_stays_up(cluster, app_task, garbage):
    tid, _ = app_task
    marker = "1000.9"
    status, s, head = _open_channel(cluster, tid, {"command": ["sleep", marker]})
    assert status == 101, head
    try:
        wait_for(lambda: _sleepers(marker), timeout=20, what="the exec'd sleep")
        s.sendall(garbage)
        frames = _read_frames(s)
    finally:
        s.close()
    assert frames and frames[-1][0] == FRAME_ERROR, frames
    assert b"protocol" in frames[-1][1], frames
    assert cluster.client.healthy()
    wait_for(lambda: not _sleepers(marker), timeout=15, what="no sleep left")
    # And the node still serves execs.
    r = _exec(cluster, tid, "--", "echo", "still")
    assert r.returncode == 0 and r.stdout == "still\n", r


def test_refusals_before_the_upgrade(cluster, app_task):
    tid, _ = app_task
    status, s, head = _open_channel(cluster, tid, {"command": ["true"]}, token=False)
    s.close()
    assert status == 401, head
    status, s, head = _open_channel(cluster, tid, {"command": ["true"]}, token="0" * 64)
    s.close()
    assert status == 401, head
    status, s, head = _open_channel(cluster, tid, {"command": []})
    s.close()
    assert status == 400, head
    status, s, head = _open_channel(cluster, tid, {"command": ["true"], "bogus": 1})
    s.close()
    assert status == 400, head
    # Without the upgrade: 426.
    r = cluster.client.post("/v1/clusters/default/tasks/%s/exec" % tid,
                            {"command": ["true"]})
    assert r.status == 426, r
    r = cluster.client.post("/v1/clusters/default/tasks/%s/exec" % tid,
                            {"command": ["true"]}, token=None)
    assert r.status == 401, r
    # An agent's side needs the node credential.
    r = cluster.client.request("POST", "/v1/agent/streams/%s" % ("ab" * 16),
                               raw_body="", headers={"Connection": "Upgrade",
                                                     "Upgrade": "orch-exec/1"})
    assert r.status == 401, r


def test_many_execs_in_a_row_leave_no_threads(cluster, app_task):
    tid, t = app_task
    agent = cluster.node_of(t)
    base = len(os.listdir("/proc/%d/task" % agent.proc.pid))
    for i in range(5):
        r = _exec(cluster, tid, "--", "echo", str(i))
        assert r.stdout == "%d\n" % i, r
    wait_for(lambda: len(os.listdir("/proc/%d/task" % agent.proc.pid)) <= base,
             timeout=10, what="exec threads gone")


def _read_until(fd, needle, timeout=20):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %r in %r" % (needle, buf))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


@contextlib.contextmanager
def _shell_on_a_terminal(cluster, tid, size=None):
    """`orch task exec -it TID -- sh` on a new pty (of size (rows, cols) if
    given): yields (the CLI, master fd, slave fd, the slave's settings
    before); kills the CLI if it still runs and closes the pty at the end."""
    master, slave = pty.openpty()
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([orch_bin(), "task", "exec", tid, "--data",
                          cluster.server.data_dir, "-it", "--", "sh"],
                         stdin=slave, stdout=slave, stderr=slave, env=_env(),
                         start_new_session=True)
    try:
        yield p, master, slave, before
    finally:
        _reap(p)
        os.close(master)
        os.close(slave)


def test_interactive_terminal_raw_mode_resize_and_restore(cluster, app_task):
    """-it on a real terminal: raw mode (keys reach the remote shell, which
    echoes them), window size sent at start and on SIGWINCH, terminal
    settings restored when the CLI ends."""
    tid, _ = app_task
    with _shell_on_a_terminal(cluster, tid, (30, 100)) as (p, master, slave, before):
        os.write(master, b"stty size; echo sum=$((6*7))\r")
        out = _read_until(master, b"sum=42")
        assert b"30 100" in out, out
        # The local terminal is raw while the CLI runs (no local echo, no ISIG).
        now = termios.tcgetattr(slave)
        assert not now[3] & termios.ICANON and not now[3] & termios.ISIG
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        p.send_signal(signal.SIGWINCH)
        time.sleep(0.5)
        os.write(master, b"stty size\r")
        _read_until(master, b"40 120")
        os.write(master, b"exit 3\r")
        assert p.wait(timeout=20) == 3
        after = termios.tcgetattr(slave)
    assert after == before


def test_sigterm_restores_the_terminal(cluster, app_task):
    tid, _ = app_task
    with _shell_on_a_terminal(cluster, tid) as (p, master, slave, before):
        os.write(master, b"echo ready$((1+1))\r")
        _read_until(master, b"ready2")
        assert termios.tcgetattr(slave) != before
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 128 + signal.SIGTERM
        assert termios.tcgetattr(slave) == before


def test_sessions_per_node_are_bounded(cluster, app_task):
    tid, _ = app_task
    marker = "1000.11"
    limit = 16      # TASK_EXEC_MAX_PER_NODE
    socks = []
    try:
        for _ in range(limit):
            status, s, head = _open_channel(cluster, tid, {"command": ["sleep", marker]})
            socks.append(s)
            assert status == 101, head
        status, s, head = _open_channel(cluster, tid, {"command": ["sleep", marker]})
        socks.append(s)
        assert status == 429, head
        wait_for(lambda: len(_sleepers(marker)) == limit, timeout=20,
                 what="%d sleeps" % limit)
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: not _sleepers(marker), timeout=20, what="no sleep left")
    r = _exec(cluster, tid, "--", "echo", "free again")
    assert r.returncode == 0 and r.stdout == "free again\n", r


# ---- one side going while the server holds the other back -----------------
#
# The server stops reading a side whose frames the other side does not take
# (backpressure).  Such a paused side must still be seen to go: the session
# ends within seconds, not when the other side ends it (a `sleep 1000` here).

GONE_WITHIN_S = 5


def _hold_input(s, stall_s=1.5, limit=512 << 20):
    """Sends STDIN frames until the server stops taking them (a send stalls
    for stall_s: every buffer on the way is full); returns the bytes sent."""
    frame = _frame(FRAME_STDIN, b"x" * 32768)
    sent = 0
    s.settimeout(stall_s)
    try:
        while sent < limit:
            s.sendall(frame)
            sent += len(frame)
    except (socket.timeout, TimeoutError):
        return sent
    raise AssertionError("the server took %d bytes of input nobody reads" % sent)


def _held_session(cluster, tid, command, marker):
    """An interactive channel running command (which starts a `sleep
    marker`), its input sent until the server holds it back; the socket."""
    status, s, head = _open_channel(cluster, tid, {"command": command, "interactive": True})
    assert status == 101, head
    try:
        wait_for(lambda: _sleepers(marker), timeout=20, what="the exec'd sleep")
        _hold_input(s)
    except BaseException:
        s.close()
        raise
    return s


def _await_end(s, timeout):
    """Reads until the server closes: (frames, seconds), or fails after
    timeout seconds."""
    start = time.monotonic()
    buf, timed_out = read_until_close(s, timeout)
    if timed_out:
        raise AssertionError("the session did not end within %ss" % timeout)
    return _parse_frames(buf), time.monotonic() - start


def _await_gone(marker, name=b"sleep"):
    start = time.monotonic()
    wait_for(lambda: not _sleepers(marker, name), timeout=GONE_WITHIN_S,
             what="the exec'd %s gone" % name.decode())
    return time.monotonic() - start


def test_client_reset_while_its_input_is_held_ends_the_command(cluster, app_task):
    """The command reads no stdin: the agent, then the server stop taking
    the client's input.  The client then resets its connection: the server
    sees it though it reads nothing from it, and the command is killed."""
    tid, _ = app_task
    marker = "1000.41"
    s = _held_session(cluster, tid, ["sleep", marker], marker)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()
    _await_gone(marker)


def test_client_gone_with_unread_output_while_its_input_is_held(cluster, app_task):
    """As above, but the client just closes, with output it never read (its
    kernel answers with a reset): the server's next write to it would have
    failed, but it has nothing more to write."""
    tid, _ = app_task
    marker = "1000.42"
    s = _held_session(cluster, tid,
                      ["sh", "-c", 'head -c 100000 /dev/zero; exec sleep "$0"', marker],
                      marker)
    s.close()
    _await_gone(marker)


def test_cli_interrupted_while_its_input_is_held_ends_the_command(cluster, app_task):
    """`orch task exec -i` whose input the command does not read, then
    SIGINT: the CLI's bytes still queued would hold back a plain close (it
    reaches the server only after them), so the CLI resets the connection
    and the command ends."""
    tid, _ = app_task
    marker = "1000.43"
    p = subprocess.Popen([orch_bin(), "task", "exec", tid, "--data",
                          cluster.server.data_dir, "-i", "--", "sleep", marker],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=_env())
    written = [0]

    def feed():
        block = b"y" * 65536
        try:
            while True:
                p.stdin.write(block)
                written[0] += len(block)
        except (BrokenPipeError, ValueError, OSError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    try:
        wait_for(lambda: _sleepers(marker), timeout=20, what="the exec'd sleep")
        feeder.start()
        # Held back end to end: the CLI stops reading its stdin.
        last = [-1]

        def stalled():
            now, before = written[0], last[0]
            last[0] = now
            return now > 0 and now == before
        wait_for(stalled, timeout=60, interval=1.5, what="the CLI's input held back")
        _interrupt(p)
    finally:
        _reap(p)
        try:
            p.stdin.close()
        except OSError:
            pass
        feeder.join(timeout=10)
    _await_gone(marker)


def test_client_gone_while_its_output_is_held_ends_the_command(cluster, app_task):
    """The reverse: the client reads nothing of a command's endless output
    (the server stops reading the agent), then closes."""
    tid, _ = app_task
    marker = "1000.44"
    status, s, head = _open_channel(cluster, tid, {
        "command": ["sh", "-c", 'cat /dev/zero; : "$0"', marker]})
    assert status == 101, head
    try:
        wait_for(lambda: _sleepers(marker, b"sh"), timeout=20, what="the exec'd sh")
        time.sleep(2)   # every buffer on the way fills
    finally:
        s.close()
    _await_gone(marker, b"sh")


def test_agent_killed_while_the_client_input_is_held_ends_the_session(cluster, app_task):
    """The agent dies (kill -9) while the server holds the client's input
    back: the client gets an ERROR frame and the close within seconds."""
    tid, t = app_task
    agent = cluster.node_of(t)
    marker = "1000.45"
    s = _held_session(cluster, tid, ["sleep", marker], marker)
    try:
        agent.kill9()
        frames, took = _await_end(s, GONE_WITHIN_S)
    finally:
        s.close()
        if not agent.alive():
            agent.start()
        cluster.wait_nodes_active([agent.name])
    assert frames and frames[-1][0] == FRAME_ERROR, frames
    assert b"agent" in frames[-1][1], frames
    _await_gone(marker)     # the helper ends it when its agent dies
    wait_for(lambda: _exec(cluster, tid, "--", "true").returncode == 0, timeout=30,
             what="exec served again by the restarted agent")


def test_node_that_never_opens_the_channel_is_504(cluster):
    """A node that is alive (it reports) but never takes the exec stream:
    504 once the stream's 10 s passed (TASK_STREAM_CONNECT_TIMEOUT_MS), and
    the node stays ACTIVE.  The node is a fake agent (orch_test.fake_agent) in an
    ECS cluster of its own, so the real agents and their tasks see nothing."""
    name = new_cluster(cluster.client, "exec504")
    fake = FakeAgent(cluster.server, unique_family("mute"), cluster=name)
    assert fake.register().status == 201
    fake.start_heartbeats()
    try:
        family = unique_family("exec504")
        register_taskdef(cluster.client, family)
        tid = cluster.run_task(family, cluster=name)[0]["taskId"]
        fake.report_status(tid, "RUNNING", containers=[
            {"name": "app", "lastStatus": "RUNNING", "runtimeId": "orch-%s-0" % tid}])
        start = time.monotonic()
        status, s, head = _open_channel(cluster, tid, {"command": ["true"]},
                                        ecs_cluster=name)
        took = time.monotonic() - start
        s.close()
        assert status == 504, head
        assert 9 <= took < 20, took
        assert cluster.node(fake.name, cluster=name)["status"] == "ACTIVE"
        fake.report_status(tid, "STOPPED", containers=[
            {"name": "app", "lastStatus": "STOPPED", "exitCode": 0}])
    finally:
        fake.stop_heartbeats()

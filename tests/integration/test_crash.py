"""Durability: an acknowledged write survives `kill -9`; SIGTERM drains.

The crash test registers task definitions (and deregisters some, and creates
clusters) from several threads, records every write that was acknowledged,
kills the server with SIGKILL at a random moment, restarts it on the same
data directory, and checks that every acknowledged write is there unchanged
and that new revisions continue above every acknowledged one.  Several
rounds run on the same data directory.
"""
import http.client
import json
import os
import random
import signal
import threading
import time

from orch_test import api, db
from orch_test.binary import orch_bin

CRASH_ROUNDS = 4
REG_FAMILIES = ("crash-a", "crash-b", "crash-c")
DEREG_FAMILY = "crash-dereg"


class Recorder:
    """Writes done by the load threads, acknowledged ones only."""

    def __init__(self):
        self.lock = threading.Lock()
        self.registered = {}    # (family, rev) -> taskDefinition from the 201
        self.deregistered = {}  # (family, rev) -> taskDefinition from the 200
        self.clusters = set()
        self.unexpected = []    # answers that were neither success nor error

    def add(self, kind, key, value):
        with self.lock:
            getattr(self, kind)[key] = value


# Three writers per family, so that concurrent registrations of one family
# (and any batching of commits the server does) are exercised.
WORKERS = [("register", f) for f in REG_FAMILIES for _ in range(3)] + \
    [("deregister", DEREG_FAMILY), ("cluster", None)]


def _start_load(srv, rec, stop, round_no):
    threads = [threading.Thread(target=_load,
                                args=(srv.port, srv.token, rec, stop, w,
                                      round_no))
               for w in range(len(WORKERS))]
    for t in threads:
        t.start()
    return threads


def _load(port, token, rec, stop, worker, round_no):
    c = api.Client(port, token, timeout=10)
    role, fam = WORKERS[worker]
    n = 0
    try:
        while not stop.is_set():
            n += 1
            if role == "register":
                r = c.register(api.web_taskdef(
                    fam, note="r%d-w%d-n%d" % (round_no, worker, n)))
                if r.status == 201:
                    td = r.json["taskDefinition"]
                    rec.add("registered", (fam, td["revision"]), td)
                else:
                    rec.unexpected.append(r)
            elif role == "deregister":
                r = c.register(api.minimal_taskdef(DEREG_FAMILY))
                if r.status != 201:
                    rec.unexpected.append(r)
                    continue
                td = r.json["taskDefinition"]
                rec.add("registered", (DEREG_FAMILY, td["revision"]), td)
                r = c.deregister("%s:%d" % (DEREG_FAMILY, td["revision"]))
                if r.status == 200:
                    rec.add("deregistered", (DEREG_FAMILY, td["revision"]),
                            r.json["taskDefinition"])
                else:
                    rec.unexpected.append(r)
            else:
                name = "crash-r%d-%d" % (round_no, n)
                r = c.post("/v1/clusters", {"clusterName": name})
                if r.status == 201:
                    with rec.lock:
                        rec.clusters.add(name)
                else:
                    rec.unexpected.append(r)
    except (OSError, http.client.HTTPException):
        return  # the server is gone


def _verify(srv, rec):
    c = srv.client
    missing, changed = [], []
    for (fam, rev), acked in sorted(rec.registered.items()):
        expect = rec.deregistered.get((fam, rev), acked)
        r = c.describe_taskdef("%s:%d" % (fam, rev))
        if r.status != 200:
            missing.append(((fam, rev), r))
            continue
        got = r.json["taskDefinition"]
        if (fam, rev) not in rec.deregistered and got["status"] == "INACTIVE":
            # Deregistered in flight, unacknowledged: allowed; the rest must
            # match what the 201 said.
            got = {k: v for k, v in got.items()
                   if k not in ("status", "deregisteredAt")}
            expect = {k: v for k, v in expect.items()
                      if k not in ("status", "deregisteredAt")}
        if got != expect:
            changed.append(((fam, rev), expect, got))
    assert not missing, "acknowledged but lost: %s" % missing[:5]
    assert not changed, "acknowledged but changed: %s" % changed[:3]
    lost_clusters = [n for n in sorted(rec.clusters)
                     if c.get("/v1/clusters/" + n).status != 200]
    assert not lost_clusters, lost_clusters[:10]

    # Each family's revisions are unique, and new ones go above the max.
    for fam in REG_FAMILIES + (DEREG_FAMILY,):
        arns, _ = c.list_all_taskdef_arns(familyPrefix=fam, status="ALL")
        revs = [int(a.rsplit(":", 1)[1]) for a in arns
                if a.rsplit(":", 1)[0].endswith("/" + fam)]
        assert len(revs) == len(set(revs)), (fam, revs)
        acked = [rv for (f, rv) in rec.registered if f == fam]
        top = max(revs + acked + [0])
        r = c.register(api.minimal_taskdef(fam))
        assert r.status == 201, r
        new_rev = r.json["taskDefinition"]["revision"]
        assert new_rev > top, (fam, new_rev, top)
        rec.add("registered", (fam, new_rev), r.json["taskDefinition"])


def test_acknowledged_writes_survive_kill_9_at_random_moments(fresh_server):
    seed = int(time.time() * 1000) % 100000
    rng = random.Random(seed)
    print("random seed", seed)
    rec = Recorder()
    srv = fresh_server
    acked_before = 0
    for round_no in range(CRASH_ROUNDS):
        stop = threading.Event()
        workers = _start_load(srv, rec, stop, round_no)
        time.sleep(rng.uniform(0.5, 2.0))
        srv.kill9()
        stop.set()
        for t in workers:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in workers)
        assert not rec.unexpected, rec.unexpected[:3]
        acked_now = len(rec.registered)
        assert acked_now > acked_before, \
            "round %d: no write was acknowledged before the kill" % round_no
        acked_before = acked_now

        srv.start()
        _verify(srv, rec)
    print("acknowledged registrations:", len(rec.registered),
          "deregistrations:", len(rec.deregistered),
          "clusters:", len(rec.clusters))

    assert srv.terminate() == 0
    check = db.sqlite(srv.db_path(), "PRAGMA integrity_check")
    assert check == [{"integrity_check": "ok"}], check


def test_kill_9_during_startup_does_not_corrupt_the_store(fresh_server):
    c = fresh_server.client
    td = c.register(api.web_taskdef("early")).json["taskDefinition"]
    for delay in (0.0, 0.01, 0.05):
        fresh_server.kill9()
        proc_args = [orch_bin(), "server", "--data",
                     fresh_server.data_dir, "--listen",
                     "127.0.0.1:%d" % fresh_server.port]
        import subprocess
        p = subprocess.Popen(proc_args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
        fresh_server.start()
    got = fresh_server.client.describe_taskdef("early:1")
    assert got.status == 200, got
    assert got.json["taskDefinition"] == td


# --- SIGTERM -----------------------------------------------------------------

def test_sigterm_when_idle_exits_0_and_closes_the_database(fresh_server):
    assert fresh_server.client.register(api.minimal_taskdef("t")).status \
        == 201
    assert fresh_server.terminate() == 0
    wal = fresh_server.db_path() + "-wal"
    # A clean close checkpoints the log into the database and removes it.
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0
    check = db.sqlite(fresh_server.db_path(), "PRAGMA integrity_check")
    assert check == [{"integrity_check": "ok"}], check


def test_sigint_also_stops_the_server_cleanly(fresh_server):
    fresh_server.proc.send_signal(signal.SIGINT)
    assert fresh_server.proc.wait(timeout=20) == 0


def _read_response(sock):
    data = b""
    while not api.response_complete(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_answers_requests_already_in_flight(fresh_server):
    srv = fresh_server
    conns = []
    for _ in range(20):
        s = api.connect(srv.port, timeout=15)
        # One answered request first: the connection is surely accepted.
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert api.parse_status(_read_response(s)) == 200
        conns.append(s)
    requests = [api.http_request_bytes(
        "POST", "/v1/task-definitions",
        body=json.dumps(api.web_taskdef("drain", note=str(i))),
        token=srv.token) for i in range(len(conns))]
    for s, req in zip(conns, requests):
        s.sendall(req)
    srv.proc.send_signal(signal.SIGTERM)

    answers = []
    for s in conns:
        try:
            answers.append(_read_response(s))
        except OSError as e:
            answers.append(("error", e))
        finally:
            s.close()
    assert srv.proc.wait(timeout=30) == 0
    statuses = [api.parse_status(a) if isinstance(a, bytes) else a
                for a in answers]
    unanswered = [a for a, st in zip(answers, statuses)
                  if st not in (201, 503)]
    assert not unanswered, "in-flight requests dropped: %r" % unanswered[:3]

    acked = [json.loads(a.partition(b"\r\n\r\n")[2])["taskDefinition"]
             for a, st in zip(answers, statuses) if st == 201]
    srv.start()
    for td in acked:
        got = srv.client.describe_taskdef("drain:%d" % td["revision"])
        assert got.status == 200 and got.json["taskDefinition"] == td


def test_sigterm_under_load_exits_0_and_keeps_acknowledged_writes(
        fresh_server):
    srv = fresh_server
    rec = Recorder()
    stop = threading.Event()
    workers = _start_load(srv, rec, stop, 0)
    time.sleep(0.7)
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=20)
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=30)
    assert rc == 0
    assert not rec.unexpected, rec.unexpected[:3]
    assert rec.registered
    srv.start()
    _verify(srv, rec)


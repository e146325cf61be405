"""
Balancing and target lifecycle: round robin (weighted), least outstanding
requests, active health checks, passive ejection, retry on a failed connect,
draining on removal, and SIGHUP reloads (zero failed requests under load, a
bad file keeps the running routes).
"""
import collections
import json
import threading
import time

from orch_test.lb import Conn, get, routes_for
from orch_test.net import free_port, refused
from orch_test.wait import wait_until


def healthy_gauge(admin, address):
    text = get(admin, "/metrics")[2].decode()
    for line in text.splitlines():
        if line.startswith("orch_lb_target_healthy{") and f'target="{address}"' in line:
            return int(line.rsplit(" ", 1)[1])
    return None


def counts_over(conn, n, path="/"):
    seen = collections.Counter()
    for _ in range(n):
        status, headers, body = conn.request("GET", path)
        assert status == 200, body
        seen[headers["x-backend"]] += 1
    return seen


def test_round_robin_and_weights(lb, backends):
    a, b, c = backends(3)
    inst = lb(routes_for({"rr": [a, b, c], "w": [(a, 3), (b, 1), (c, 0)]},
                         rules=[{"pathPrefix": "/w", "targetGroup": "w"},
                                {"pathPrefix": "/", "targetGroup": "rr"}]))
    conn = Conn(inst.port)            # one connection: one worker, one cursor
    seen = counts_over(conn, 30)
    assert seen == {a.name: 10, b.name: 10, c.name: 10}
    seen = counts_over(conn, 40, "/w")
    assert seen == {a.name: 30, b.name: 10}     # weight 0 takes nothing


def test_least_outstanding_requests(lb, backends):
    a, b = backends(2)
    inst = lb(routes_for({"g": {"algorithm": "least_outstanding_requests",
                                "targets": [{"address": a.address}, {"address": b.address}]}}))
    # warm both so the next picks are not first-time ties
    slow_result = {}

    def slow():
        slow_result["r"] = get(inst.port, "/slow?s=3")

    t = threading.Thread(target=slow)
    t.start()
    assert wait_until(lambda: a.server.in_flight + b.server.in_flight == 1)
    busy = a if a.server.in_flight else b
    idle = b if busy is a else a
    conn = Conn(inst.port)
    seen = counts_over(conn, 12)
    assert seen == {idle.name: 12}, seen
    t.join()
    assert slow_result["r"][0] == 200


def test_health_check_transitions(lb, backends):
    a, b = backends(2)
    admin = free_port()
    hc = {"path": "/healthz", "intervalSeconds": 0.2, "timeoutSeconds": 0.2,
          "healthyThreshold": 2, "unhealthyThreshold": 2, "matcher": "200-299"}
    inst = lb(routes_for({"g": {"targets": [{"address": a.address}, {"address": b.address}],
                                "healthCheck": hc}}, admin_port=admin))
    conn = Conn(inst.port)
    assert set(counts_over(conn, 10)) == {a.name, b.name}
    a.server.healthy = False
    assert wait_until(lambda: healthy_gauge(admin, a.address) == 0)
    assert counts_over(conn, 10) == {b.name: 10}
    assert "is unhealthy" in inst.log_text()
    # both down: 503 with a clear body
    b.server.healthy = False
    assert wait_until(lambda: healthy_gauge(admin, b.address) == 0)
    status, _, body = conn.request("GET", "/")
    assert status == 503 and b"no healthy target" in body
    a.server.healthy = True
    b.server.healthy = True
    assert wait_until(lambda: healthy_gauge(admin, a.address) == 1 and healthy_gauge(admin, b.address) == 1)
    assert set(counts_over(conn, 10)) == {a.name, b.name}
    # health checks carried the configured path
    assert any(r[1] == "/healthz" for r in a.requests)


def test_passive_ejection_and_retry(lb, backends):
    (live,) = backends(1)
    dead = f"127.0.0.1:{free_port()}"
    admin = free_port()
    inst = lb(routes_for({"g": {"targets": [{"address": dead}, {"address": live.address}],
                                "passiveEjection": {"consecutiveFailures": 3, "ejectSeconds": 60}}},
                         admin_port=admin))
    conn = Conn(inst.port)
    # every GET succeeds: a refused connect is retried once on the other target
    assert counts_over(conn, 20) == {live.name: 20}
    metrics = get(admin, "/metrics")[2].decode()
    assert healthy_gauge(admin, dead) == 0
    retries = int(metrics.split('orch_lb_retries_total{target_group="g"} ')[1].split()[0])
    assert 1 <= retries <= 3          # ejected after 3: no more retries needed
    assert "ejected" in inst.log_text()


def test_no_retry_for_non_idempotent(lb, backends):
    (live,) = backends(1)
    dead = f"127.0.0.1:{free_port()}"
    inst = lb(routes_for({"g": {"targets": [{"address": dead}, {"address": live.address}],
                                "passiveEjection": {"consecutiveFailures": 0}}}))
    conn = Conn(inst.port)
    statuses = collections.Counter()
    for _ in range(10):
        status, _, _ = conn.request("POST", "/p", body=b"data")
        statuses[status] += 1
        if status != 200:
            conn = Conn(inst.port)
    assert statuses[502] >= 1 and statuses[200] >= 1, statuses
    # GETs on the same group never fail
    assert counts_over(Conn(inst.port), 10) == {live.name: 10}


def draining_group(targets, delay):
    return {"targets": [{"address": t.address} for t in targets],
            "deregistrationDelaySeconds": delay}


def move_group_once_busy(inst, routes, a, b, delay):
    """Once a request is in flight on a, group g moves from a to b (reload):
    a drains for delay seconds."""
    assert wait_until(lambda: a.server.in_flight == 1)
    routes["targetGroups"]["g"] = draining_group([b], delay)
    inst.reload(routes)


def test_draining_lets_inflight_finish(lb, backends):
    a, b = backends(2)
    routes = routes_for({"g": draining_group([a], 10)})
    inst = lb(routes)
    result = {}

    def slow():
        result["r"] = get(inst.port, "/slow?s=2")

    t = threading.Thread(target=slow)
    t.start()
    move_group_once_busy(inst, routes, a, b, 10)
    assert wait_until(lambda: "draining" in inst.log_text())
    seen = counts_over(Conn(inst.port), 5)
    assert seen == {b.name: 5}          # no new requests to the draining target
    t.join()
    status, headers, _ = result["r"]
    assert status == 200 and headers["x-backend"] == a.name
    assert wait_until(lambda: "deregistered" in inst.log_text())


def test_deregistration_delay_cuts_long_requests(lb, backends):
    a, b = backends(2)
    routes = routes_for({"g": draining_group([a], 0.5)})
    inst = lb(routes)
    c = Conn(inst.port, timeout=10)
    c.send(b"GET /slow?s=4 HTTP/1.1\r\nHost: app.test\r\n\r\n")
    move_group_once_busy(inst, routes, a, b, 0.5)
    start = time.monotonic()
    try:
        status = c.read_response()[0]
    except (EOFError, ConnectionResetError):
        status = None
    assert status is None or status >= 500
    assert time.monotonic() - start < 3.5
    assert get(inst.port)[0] == 200


def test_reload_under_load_drops_nothing(lb, backends):
    a, b, c = backends(3)
    sets = [[a, b], [b, c], [c], [a, b, c]]
    routes = routes_for({"g": sets[0]})
    inst = lb(routes)
    stop = threading.Event()
    failures = []
    done = collections.Counter()

    def client(keepalive):
        conn = None
        while not stop.is_set():
            try:
                if conn is None or not keepalive:
                    conn = Conn(inst.port)
                status, _, body = conn.request("GET", "/load")
                if status != 200:
                    failures.append((status, body))
                done["n"] += 1
                if not keepalive:
                    conn.close()
            except Exception as e:       # any refused or cut request is a failure
                failures.append(repr(e))
                conn = None

    threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for i in range(8):
        time.sleep(0.3)
        routes = routes_for({"g": sets[(i + 1) % len(sets)]}, port=inst.port)
        inst.reload(routes)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    assert done["n"] > 100
    assert inst.log_text().count("routes generation") >= 9


def test_bad_reload_keeps_running_routes(lb, backends):
    (a,) = backends(1)
    routes = routes_for({"g": [a]})
    inst = lb(routes)
    assert get(inst.port)[0] == 200
    bad = json.loads(json.dumps(routes))
    bad["rules"][0]["targetGroup"] = "missing"
    inst.reload(bad)
    assert wait_until(lambda: "reload failed" in inst.log_text())
    assert 'rules[0].targetGroup: unknown target group "missing"' in inst.log_text()
    assert get(inst.port)[0] == 200
    inst.config.write_text("{ not json")
    inst.proc.send_signal(1)
    assert wait_until(lambda: inst.log_text().count("reload failed") == 2)
    assert get(inst.port)[0] == 200


def test_sigterm_lets_inflight_requests_finish(lb, backends):
    (a,) = backends(1)
    routes = routes_for({"g": [a]}, timeouts={"shutdownGraceSeconds": 5})
    inst = lb(routes)
    idle = Conn(inst.port)
    assert idle.request("GET", "/")[0] == 200
    result = {}

    def slow():
        result["r"] = get(inst.port, "/slow?s=1.5")

    t = threading.Thread(target=slow)
    t.start()
    # The backend counts the first request out only after its answer was
    # sent, so wait for the slow request itself, not for a count of one.
    assert wait_until(lambda: any(p.startswith("/slow") for _, p, _ in list(a.server.requests)))
    inst.proc.send_signal(15)
    assert idle.closed_by_peer(timeout=3)            # idle keep-alive: closed at once
    assert wait_until(lambda: refused(inst.port), timeout=3)   # no new connections
    t.join()
    status, headers, _ = result["r"]
    assert status == 200 and headers.get("connection", "").lower() == "close"
    inst.proc.wait(timeout=5)
    assert inst.proc.returncode == 0

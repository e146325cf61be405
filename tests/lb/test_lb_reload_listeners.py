"""
SIGHUP applies listener, TLS certificate and admin-address changes too:
listeners are matched by their "address" string (a kept one keeps its
socket, a new one is bound, a removed one stops accepting while the
connections it accepted are still served), every TLS listener's certificate
and key files are read again on every reload (rotation in place), a listener
may switch between plain and TLS, the admin listener may move.  A reload
that cannot be applied as a whole (a certificate that does not load, an
address that cannot be bound, a routes error) is refused: the error names
the field and the file, and everything keeps running as it was.
"""
import json
import shutil
import socket
import ssl
import threading
import time

import pytest

from orch_test.lb import Conn, der_of, get, make_cert, routes_for, tls_exchange, tls_request
from orch_test.net import free_port, refused, wait_port
from orch_test.require import requires
from orch_test.wait import wait_until

pytestmark = requires(shutil.which("openssl"), "openssl command not installed")


# ---- helpers -----------------------------------------------------------------

def listener(port, cert=None):
    """A listener entry; cert is a (cert path, key path) pair for TLS."""
    entry = {"address": f"127.0.0.1:{port}"}
    if cert:
        entry["tls"] = {"certificates": [{"cert": str(cert[0]), "key": str(cert[1])}]}
    return entry


def config(targets, listeners, admin_port=None, **extra):
    """A whole routes file: every request to the backends in `targets`."""
    routes = routes_for({"g": list(targets)}, **extra)
    routes["listeners"] = listeners
    if admin_port:
        routes["admin"] = {"address": f"127.0.0.1:{admin_port}"}
    return routes


def plain_ok(port, path="/"):
    try:
        return get(port, path)[0] == 200
    except (OSError, EOFError, ValueError, IndexError):
        return False


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_der(port, server_name="x.test"):
    """The DER of the certificate a new handshake presents, None if no handshake."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
            with tls_ctx().wrap_socket(raw, server_hostname=server_name) as s:
                return s.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None


def tls_ok(port, server_name="x.test"):
    """A full request over a new TLS connection answered 200."""
    try:
        _, data = tls_request(port, server_name)
        return data.startswith(b"HTTP/1.1 200")
    except (OSError, ssl.SSLError):
        return False


class TlsConn(Conn):
    """A keep-alive HTTP/1.1 connection over TLS (Conn's parser on an SSL socket)."""

    def __init__(self, port, server_name="x.test", timeout=5.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = tls_ctx().wrap_socket(raw, server_hostname=server_name)
        self.der = self.sock.getpeercert(binary_form=True)
        self.buf = bytearray()


def seen_by(body):
    """(backend name, X-Forwarded-Port, X-Forwarded-Proto) from a backend's JSON answer."""
    doc = json.loads(body)
    return doc["backend"], doc["headers"].get("X-Forwarded-Port"), \
        doc["headers"].get("X-Forwarded-Proto")


def error_lines(inst):
    out = []
    for line in inst.log_text().splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1] == "error":
            out.append(line)
    return out


def logged_error(inst, *needles):
    """Some error line names each needle (they may be on different lines); a
    needle may be a tuple of alternatives."""
    lines = error_lines(inst)
    alternatives = [n if isinstance(n, tuple) else (n,) for n in needles]
    return all(any(n in line for line in lines for n in alts) for alts in alternatives)


def plain_refused_by_tls(port):
    """Plain HTTP sent to a TLS listener gets no 200."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        try:
            return not s.recv(100).startswith(b"HTTP/1.1 200")
        except (ConnectionResetError, socket.timeout):
            return True


def copy_cert(src, dst):
    """Overwrite a certificate/key pair in place with another one's bytes."""
    dst[0].write_bytes(src[0].read_bytes())
    dst[1].write_bytes(src[1].read_bytes())


# ---- listeners ---------------------------------------------------------------

def test_reload_adds_plain_and_tls_listeners(lb, backends, tmp_path):
    (a,) = backends(1)
    cert = make_cert(tmp_path, "add.test", "DNS:add.test")
    pa, pb, pc = free_port(), free_port(), free_port()
    inst = lb(config([a], [listener(pa)]))
    keep = Conn(pa)
    assert keep.request()[0] == 200
    assert refused(pb) and refused(pc)

    inst.reload(config([a], [listener(pa), listener(pb), listener(pc, cert)]))
    assert wait_until(lambda: plain_ok(pb)), "new plain listener never answered"
    assert wait_until(lambda: tls_der(pc) is not None), "new TLS listener never handshook"
    status, _, body = get(pb)
    assert status == 200 and seen_by(body)[1:] == (str(pb), "http")
    der, data = tls_request(pc, "add.test")
    assert der == der_of(cert[0]) and data.startswith(b"HTTP/1.1 200")
    assert seen_by(data.split(b"\r\n\r\n", 1)[1])[1:] == (str(pc), "https")
    # the kept listener and its keep-alive connection never noticed
    status, _, body = keep.request()
    assert status == 200 and seen_by(body)[1] == str(pa)
    assert get(pa)[0] == 200
    keep.close()
    assert inst.proc.poll() is None


def test_removed_listener_closes_but_serves_its_connections(lb, backends):
    (a,) = backends(1)
    pa, pb = free_port(), free_port()
    # the removed listener is listeners[0]: the kept one moves from index 1 to 0
    inst = lb(config([a], [listener(pa), listener(pb)]))
    wait_port(pb)
    idle = Conn(pa)
    assert idle.request()[0] == 200
    busy = Conn(pa, timeout=10)
    busy.send(b"GET /slow?s=1.5 HTTP/1.1\r\nHost: app.test\r\n\r\n")
    assert wait_until(lambda: a.server.in_flight == 1)

    inst.reload(config([a], [listener(pb)]))
    assert wait_until(lambda: refused(pa), timeout=5), "removed listener still accepts"
    # the request in flight on the removed listener finishes, keep-alive goes on
    status, _, body = busy.read_response()
    assert status == 200 and seen_by(body)[1] == str(pa)
    assert busy.request()[0] == 200
    # an idle keep-alive connection accepted before the reload still works
    for _ in range(3):
        status, _, body = idle.request()
        assert status == 200 and seen_by(body)[1] == str(pa)
    # the kept listener answers with its own port
    status, _, body = get(pb)
    assert status == 200 and seen_by(body)[1] == str(pb)
    assert refused(pa)
    idle.close()
    busy.close()


# ---- certificates ------------------------------------------------------------

def live_and_spare_certs(tmp_path, name):
    """Two certificates for DNS:name: the live one (the files the lb loads)
    and a spare to copy over it; (live, spare, the live one's DER)."""
    live = make_cert(tmp_path, "live", "DNS:" + name)
    spare = make_cert(tmp_path, "spare", "DNS:" + name)
    return live, spare, der_of(live[0])


def lb_with_tls(lb, targets, cert, admin_port=None, threads=2):
    """An lb with a plain listener and a TLS one with cert, both up:
    (the lb, plain port, TLS port, its routes)."""
    pa, pt = free_port(), free_port()
    routes = config(targets, [listener(pa), listener(pt, cert)], admin_port=admin_port)
    inst = lb(routes, threads=threads)
    wait_port(pt)
    return inst, pa, pt, routes


def test_certificate_rotated_in_place(lb, backends, tmp_path):
    (a,) = backends(1)
    live, fresh, old_der = live_and_spare_certs(tmp_path, "rot.test")
    new_der = der_of(fresh[0])
    assert old_der != new_der
    inst, pa, pt, routes = lb_with_tls(lb, [a], live)
    before = TlsConn(pt, "rot.test")
    assert before.der == old_der
    assert before.request(host="rot.test")[0] == 200

    copy_cert(fresh, live)                  # same paths, same config file
    inst.reload(routes)
    assert wait_until(lambda: tls_der(pt, "rot.test") == new_der, timeout=10), \
        "new handshakes still present the old certificate"
    for _ in range(6):                      # every worker uses the new one
        der, data = tls_request(pt, "rot.test")
        assert der == new_der and data.startswith(b"HTTP/1.1 200")
    # the connection made before the reload keeps working
    for _ in range(3):
        status, _, body = before.request(host="rot.test")
        assert status == 200 and seen_by(body)[2] == "https"
    before.close()
    assert get(pa)[0] == 200


def tls_session_request(ctx, port, server_name, session=None):
    """One request on a new TLS connection: (reused?, the session to resume later)."""
    _, data, reused, session = tls_exchange(port, server_name, ctx=ctx, session=session)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    return reused, session


def test_sessions_resume_across_reload(lb, backends, tmp_path):
    """A reload reads the certificates again but keeps the ticket keys: clients resume."""
    (a,) = backends(1)
    cert = make_cert(tmp_path, "res", "DNS:res.test")
    inst, pa, pt, _ = lb_with_tls(lb, [a], cert, threads=1)
    ctx = tls_ctx()                         # a session resumes only with its context
    reused, session = tls_session_request(ctx, pt, "res.test")
    assert not reused
    reused, _ = tls_session_request(ctx, pt, "res.test", session)
    assert reused, "no resumption even without a reload"

    # A reload that visibly took effect (a new listener), certificates read again.
    pn = free_port()
    inst.reload(config([a], [listener(pa), listener(pt, cert), listener(pn)]))
    assert wait_until(lambda: plain_ok(pn)), "reload not applied"
    reused, _ = tls_session_request(ctx, pt, "res.test", session)
    assert reused, "a ticket issued before the reload did not resume after it"


@pytest.mark.parametrize("breakage", ["garbage-cert", "missing-key", "mismatched-key"])
def test_bad_certificate_refuses_whole_reload(lb, backends, tmp_path, breakage):
    a, b = backends(2)
    live, other, old_der = live_and_spare_certs(tmp_path, "bad.test")
    pc, m1, m2 = free_port(), free_port(), free_port()
    inst, pa, pt, _ = lb_with_tls(lb, [a], live, admin_port=m1)
    before = TlsConn(pt, "bad.test")
    assert before.request(host="bad.test")[0] == 200

    # the new file also changes routes, adds a listener and moves the admin
    tls_conf = live
    if breakage == "garbage-cert":
        live[0].write_text("this is not a certificate\n")
        named = (live[0].name,)
    elif breakage == "missing-key":
        tls_conf = (live[0], tmp_path / "nowhere.key")
        named = (tls_conf[1].name,)
    else:
        live[0].write_bytes(other[0].read_bytes())  # the key stays the old one
        named = (live[0].name, live[1].name)        # OpenSSL may blame either file
    bad = config([b], [listener(pa), listener(pt, tls_conf), listener(pc)], admin_port=m2)
    inst.reload(bad)
    assert wait_until(lambda: logged_error(inst, "listeners[1].tls", named), timeout=10), \
        error_lines(inst)[-5:] or inst.log_text()[-2000:]
    time.sleep(0.3)
    assert inst.proc.poll() is None, "orch lb died on a bad certificate"
    # the old certificate, listeners, routes and admin listener are all unchanged
    assert tls_der(pt, "bad.test") == old_der
    status, _, body = before.request(host="bad.test")
    assert status == 200 and seen_by(body)[0] == a.name
    der, data = tls_request(pt, "bad.test")
    assert der == old_der and seen_by(data.split(b"\r\n\r\n", 1)[1])[0] == a.name
    status, _, body = get(pa)
    assert status == 200 and seen_by(body)[0] == a.name, "routes of a refused reload applied"
    assert refused(pc), "a listener of a refused reload was bound"
    assert get(m1, "/metrics")[0] == 200
    assert refused(m2), "the admin listener of a refused reload was bound"

    # once the files are fixed the same kind of change goes through
    copy_cert(other, live)
    inst.reload(config([b], [listener(pa), listener(pt, live), listener(pc)], admin_port=m2))
    assert wait_until(lambda: tls_der(pt, "bad.test") == der_of(other[0]), timeout=10)
    assert wait_until(lambda: plain_ok(pc))
    assert seen_by(get(pa)[2])[0] == b.name
    assert wait_until(lambda: plain_ok(m2, "/metrics")) and refused(m1)
    assert before.request(host="bad.test")[0] == 200
    before.close()


def test_switch_plain_to_tls_and_back(lb, backends, tmp_path):
    (a,) = backends(1)
    cert = make_cert(tmp_path, "sw.test", "DNS:sw.test")
    pa, ps = free_port(), free_port()
    inst = lb(config([a], [listener(pa), listener(ps)]))
    wait_port(ps)
    plain_before = Conn(ps)
    assert plain_before.request()[0] == 200
    assert tls_der(ps) is None

    inst.reload(config([a], [listener(pa), listener(ps, cert)]))
    assert wait_until(lambda: tls_der(ps, "sw.test") is not None, timeout=10), \
        "listener did not switch to TLS"
    der, data = tls_request(ps, "sw.test")
    assert der == der_of(cert[0]) and data.startswith(b"HTTP/1.1 200")
    assert seen_by(data.split(b"\r\n\r\n", 1)[1])[1:] == (str(ps), "https")
    assert plain_refused_by_tls(ps)
    # the plain connection accepted before the switch is still plain and served
    status, _, body = plain_before.request()
    assert status == 200 and seen_by(body)[2] == "http"
    tls_before = TlsConn(ps, "sw.test")
    assert tls_before.request(host="sw.test")[0] == 200

    inst.reload(config([a], [listener(pa), listener(ps)]))
    assert wait_until(lambda: plain_ok(ps), timeout=10), "listener did not switch back to plain"
    assert tls_der(ps) is None
    status, _, body = get(ps)
    assert seen_by(body)[1:] == (str(ps), "http")
    assert tls_before.request(host="sw.test")[0] == 200
    assert get(pa)[0] == 200
    plain_before.close()
    tls_before.close()


# ---- admin -------------------------------------------------------------------

def test_admin_address_moves(lb, backends):
    (a,) = backends(1)
    pa, m1, m2 = free_port(), free_port(), free_port()
    inst = lb(config([a], [listener(pa)], admin_port=m1))
    assert get(m1, "/metrics")[0] == 200
    assert refused(m2)

    inst.reload(config([a], [listener(pa)], admin_port=m2))
    assert wait_until(lambda: plain_ok(m2, "/metrics"), timeout=10), "new admin never answered"
    status, _, body = get(m2, "/metrics")
    assert status == 200 and b"orch_lb_connections_total" in body
    assert wait_until(lambda: refused(m1), timeout=5), "old admin port still open"
    assert get(pa)[0] == 200

    # removed altogether, then added back
    inst.reload(config([a], [listener(pa)]))
    assert wait_until(lambda: refused(m2), timeout=5), "admin port open after admin removed"
    inst.reload(config([a], [listener(pa)], admin_port=m1))
    assert wait_until(lambda: plain_ok(m1, "/healthz"), timeout=10)
    assert refused(m2)
    assert get(pa)[0] == 200


# ---- refused reloads ---------------------------------------------------------

@pytest.mark.parametrize("where", ["listener", "admin"])
def test_unbindable_address_refuses_whole_reload(lb, backends, tmp_path, where):
    a, b = backends(2)
    cert = make_cert(tmp_path, "ub.test", "DNS:ub.test")
    pa, pb, pc, m1 = free_port(), free_port(), free_port(), free_port()
    occupier = socket.socket()              # no SO_REUSEADDR/SO_REUSEPORT: nobody else binds
    occupier.bind(("127.0.0.1", 0))
    occupier.listen(8)
    busy = occupier.getsockname()[1]
    try:
        inst = lb(config([a], [listener(pa), listener(pb)], admin_port=m1))
        wait_port(pb)
        old_conn = Conn(pb)
        assert old_conn.request()[0] == 200

        # pb removed, pc (bindable) added, routes to b, TLS on pa, and one unbindable address
        if where == "listener":
            new_listeners = [listener(pa, cert), listener(pc), listener(busy)]
            admin = m1
            field = "listeners[2].address"
        else:
            new_listeners = [listener(pa, cert), listener(pc)]
            admin = busy
            field = "admin.address"
        inst.reload(config([b], new_listeners, admin_port=admin))
        assert wait_until(lambda: logged_error(inst, field, f"127.0.0.1:{busy}"), timeout=10), \
            error_lines(inst)[-5:] or inst.log_text()[-2000:]
        time.sleep(0.3)
        assert inst.proc.poll() is None, "orch lb died on an unbindable address"
        # nothing of the refused file took effect
        status, _, body = get(pa)
        assert status == 200 and seen_by(body)[0] == a.name, "routes of a refused reload applied"
        assert tls_der(pa) is None, "pa switched to TLS in a refused reload"
        status, _, body = get(pb)
        assert status == 200 and seen_by(body)[0] == a.name, "pb closed by a refused reload"
        assert old_conn.request()[0] == 200
        assert refused(pc), "a listener of a refused reload stayed bound"
        assert get(m1, "/metrics")[0] == 200, "admin closed by a refused reload"
    finally:
        occupier.close()

    # the port is free now: the same file goes through
    inst.reload(config([b], new_listeners, admin_port=admin))
    assert wait_until(lambda: refused(pb), timeout=10), "good reload after a refused one not applied"
    assert wait_until(lambda: plain_ok(pc))
    assert seen_by(get(pc)[2])[0] == b.name
    assert tls_der(pa, "ub.test") == der_of(cert[0])
    if where == "listener":
        assert wait_until(lambda: plain_ok(busy))
    else:
        assert wait_until(lambda: plain_ok(busy, "/metrics")) and refused(m1)
    assert old_conn.request()[0] == 200
    old_conn.close()


def test_routes_error_refuses_listener_and_admin_changes(lb, backends, tmp_path):
    (a,) = backends(1)
    live, fresh, old_der = live_and_spare_certs(tmp_path, "re.test")
    pc, m1, m2 = free_port(), free_port(), free_port()
    inst, pa, pt, _ = lb_with_tls(lb, [a], live, admin_port=m1)
    copy_cert(fresh, live)                  # would rotate, if the reload were applied
    bad = config([a], [listener(pa), listener(pt, live), listener(pc)], admin_port=m2)
    bad["rules"][0]["targetGroup"] = "missing"
    inst.reload(bad)
    assert wait_until(lambda: logged_error(inst, "rules[0].targetGroup"), timeout=10), \
        inst.log_text()[-2000:]
    time.sleep(0.3)
    assert inst.proc.poll() is None
    assert refused(pc), "a listener of a refused reload was bound"
    assert refused(m2), "the admin listener of a refused reload was bound"
    assert get(m1, "/metrics")[0] == 200
    assert tls_der(pt, "re.test") == old_der, "certificate of a refused reload loaded"
    assert get(pa)[0] == 200 and tls_ok(pt, "re.test")


# ---- under load --------------------------------------------------------------

def test_kept_listeners_never_refuse_during_reloads(lb, backends, tmp_path):
    a, b = backends(2)
    cert = make_cert(tmp_path, "load.test", "DNS:load.test")
    cert_der = der_of(cert[0])
    pa, pt, pb, m1, m2 = (free_port() for _ in range(5))
    # even: [pa, pt]            admin m1
    # odd:  [pb, pa, pt]        admin m2  (pb added first, so pa and pt change index)
    configs = [config([a, b], [listener(pa), listener(pt, cert)], admin_port=m1),
               config([a, b], [listener(pb), listener(pa), listener(pt, cert)], admin_port=m2)]
    inst = lb(configs[0])
    wait_port(pt)
    stop = threading.Event()
    failures = []
    done = {"plain": 0, "keepalive": 0, "tls": 0}
    lock = threading.Lock()

    def count(kind):
        with lock:
            done[kind] += 1

    def plain_client(keepalive):
        kind = "keepalive" if keepalive else "plain"
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = Conn(pa)
                status, _, body = conn.request("GET", "/load")
                if status != 200:
                    failures.append((kind, status, body[:200]))
                count(kind)
                if not keepalive:
                    conn.close()
                    conn = None
            except Exception as e:          # a refused or cut connection is a failure
                failures.append((kind, repr(e)))
                conn = None
        if conn:
            conn.close()

    def tls_client():
        while not stop.is_set():
            try:
                der, data = tls_request(pt, "load.test", "/load")
                if not data.startswith(b"HTTP/1.1 200") or der != cert_der:
                    failures.append(("tls", data[:200]))
                count("tls")
            except Exception as e:
                failures.append(("tls", repr(e)))

    threads = [threading.Thread(target=plain_client, args=(k,)) for k in (False, False, True)]
    threads.append(threading.Thread(target=tls_client))
    for t in threads:
        t.start()
    try:
        for i in range(1, 11):
            time.sleep(0.25)
            odd = i % 2 == 1
            inst.reload(configs[i % 2])
            # each reload is applied before the next one
            if odd:
                ok = wait_until(lambda: plain_ok(pb) and plain_ok(m2, "/healthz"), timeout=5)
            else:
                ok = wait_until(lambda: refused(pb) and plain_ok(m1, "/healthz"), timeout=5)
            assert ok, f"reload {i} not applied"
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures[:5]
    assert done["plain"] > 20 and done["keepalive"] > 20 and done["tls"] > 5, done
    assert refused(pb) and refused(m2)
    assert inst.proc.poll() is None

"""Loopback ports and plain sockets."""

import errno
import socket
import time


def free_port(host="127.0.0.1"):
    """A TCP port on host that nobody listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    """Waits until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never accepted" % port)


def refused(port, host="127.0.0.1"):
    """True only when the kernel refuses a connection to host:port
    (ECONNREFUSED): nothing listens there."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return e.errno == errno.ECONNREFUSED


def read_until_close(sock, timeout=None):
    """Everything sock receives until the peer closes it: (bytes, timed out?).

    A reset after the last bytes counts as the close; with timeout set,
    (what came, True) once nothing arrived for that long."""
    data = b""
    if timeout is not None:
        sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        return data, True
    except OSError:
        pass
    return data, False


def recv_all(sock):
    """The bytes of read_until_close, for callers that do not care why it
    ended."""
    return read_until_close(sock)[0]

#!/usr/bin/env python3
"""cluster_scale_register.py - registers N fake nodes through the agent API.

POST /v1/agent/register over keep-alive connections from a few threads,
as `orch agent` does on join; the nodes never poll or heartbeat (run the
server with a long --node-grace).  Prints "registered N in S s".

  cluster_scale_register.py BASE_URL JOIN_TOKEN NODES [--cacert PEM] [--threads 8]
"""
import argparse
import http.client
import ssl
import json
import sys
import threading
import time
import urllib.parse


def worker(base, token, cacert, names, failures):
    url = urllib.parse.urlparse(base)
    if url.scheme == "https":
        ctx = ssl.create_default_context(cafile=cacert)
        ctx.check_hostname = False
        conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=60, context=ctx)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    zones = ["a", "b", "c"]
    for i in names:
        body = json.dumps({
            "nodeName": "fake-%05d" % i,
            "cluster": "default",
            "resources": {"cpu": 8192, "memory": 16384},
            "attributes": {"zone": zones[i % 3], "fake": "true"},
        })
        conn.request("POST", "/v1/agent/register", body, headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status not in (200, 201):
            failures.append("%s: %d %s" % (i, resp.status, data[:200]))
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("token")
    ap.add_argument("nodes", type=int)
    ap.add_argument("--cacert")
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    failures = []
    start = time.monotonic()
    threads = [threading.Thread(target=worker,
                                args=(a.base, a.token, a.cacert, range(t, a.nodes, a.threads), failures))
               for t in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print("register failures: %d, first: %s" % (len(failures), failures[0]), file=sys.stderr)
        return 1
    print("registered %d in %.2f s" % (a.nodes, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Services on real agents when a node dies: a kill -9 of an agent holding
a service's tasks, kept down, has them replaced on the other nodes within
the node grace period (and fenced when it returns).  A cluster of its
own: a module uses the shared cluster or fresh ones, never both."""

import time

from orch_test.cluster import NODE_GRACE_S, sleeper_td
from orch_test.wait import wait_for

from test_services_real import create, remove, service_tasks, stable


def test_killed_agent_tasks_replaced_within_grace(fresh_cluster, family):
    cl = fresh_cluster
    cl.register(sleeper_td(family))
    create(cl, "lost", family, 3,
           placementStrategy=[{"type": "spread", "field": "instanceId"}])
    victim = cl.node_of(service_tasks(cl, "lost")[0])
    victim.kill9()
    t0 = time.monotonic()

    def replaced():
        return (stable(cl, "lost", 3) and
                all(cl.node_of(t) is not victim for t in service_tasks(cl, "lost")))
    wait_for(replaced, timeout=NODE_GRACE_S + 20, interval=0.2,
             what="the lost node's tasks replaced")
    took = time.monotonic() - t0
    assert took < NODE_GRACE_S + 5, took
    # The dead agent's containers outlive it; its restart fences them.
    victim.start()
    wait_for(lambda: not any(c["status"] == "running" for c in victim.containers()
                             if c["name"].startswith("orch-")),
             timeout=40, what="the returning node stopped its old containers")
    remove(cl, "lost")

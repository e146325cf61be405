/*
 * upstream_pool.c - upstream connections and the per-worker idle pool.
 */
#include "upstream_pool.h"

#include <stdlib.h>

#include <event2/buffer.h>

#include "target.h"

static void pool_remove(struct lb_upstream_conn *up)
{
	struct lb_pool_slot *slot;

	if (!up->idle)
		return;
	slot = &up->target->pools[up->worker->index];
	TAILQ_REMOVE(&slot->idle, up, pool_link);
	slot->idle_count--;
	TAILQ_REMOVE(&up->worker->idle_upstreams, up, worker_link);
	up->idle = false;
}

void upstream_conn_free(struct lb_upstream_conn *up)
{
	if (!up)
		return;
	pool_remove(up);
	lb_conn_free(up->conn);
	lb_target_unref(up->target);
	free(up->head_partial);
	free(up);
}

struct lb_upstream_conn *upstream_pool_take(struct lb_worker *worker, struct lb_target *target)
{
	struct lb_pool_slot *slot = &target->pools[worker->index];
	struct lb_upstream_conn *up;

	/* Most recently used first: it is the least likely to have timed out. */
	while ((up = TAILQ_LAST(&slot->idle, lb_upstream_list))) {
		pool_remove(up);
		if (evbuffer_get_length(lb_conn_input(up->conn)) != 0) {
			/* Unsolicited bytes from an idle server: not trustworthy. */
			upstream_conn_free(up);
			continue;
		}
		up->reused = true;
		return up;
	}
	return NULL;
}

struct lb_upstream_conn *upstream_conn_connect(struct lb_worker *worker, struct lb_target *target)
{
	struct lb_upstream_conn *up = calloc(1, sizeof(*up));

	if (!up)
		return NULL;
	/*
	 * A refused connect is reported as an error event from the loop,
	 * handled with every other failure.  NULL means no event will come: a
	 * socket could not even be made (EMFILE, EADDRNOTAVAIL...).
	 */
	up->conn = lb_conn_connect(worker->base, &worker->turn, (struct sockaddr *)&target->addr,
				   target->addr_len);
	if (!up->conn) {
		free(up);
		return NULL;
	}
	up->worker = worker;
	up->target = target;
	lb_target_ref(target);
	return up;
}

static void idle_read_cb(struct lb_conn *conn, void *arg)
{
	/* A server that talks on an idle connection is closing it or broken. */
	upstream_conn_free(arg);
}

static void idle_event_cb(struct lb_conn *conn, short events, void *arg)
{
	upstream_conn_free(arg);
}

void upstream_pool_put(struct lb_upstream_conn *up, size_t max_idle, double idle_timeout)
{
	struct lb_pool_slot *slot = &up->target->pools[up->worker->index];

	if (slot->idle_count >= max_idle || atomic_load(&up->target->draining) ||
	    evbuffer_get_length(lb_conn_input(up->conn)) != 0 ||
	    evbuffer_get_length(lb_conn_output(up->conn)) != 0) {
		upstream_conn_free(up);
		return;
	}
	up->client = NULL;
	up->idle = true;
	TAILQ_INSERT_TAIL(&slot->idle, up, pool_link);
	slot->idle_count++;
	TAILQ_INSERT_TAIL(&up->worker->idle_upstreams, up, worker_link);
	lb_conn_setcb(up->conn, idle_read_cb, NULL, idle_event_cb, up);
	lb_conn_set_timeouts(up->conn, idle_timeout, 0);
	lb_conn_enable(up->conn, EV_READ);
}

void upstream_pool_sweep(struct lb_worker *worker)
{
	struct lb_upstream_conn *up, *next;

	for (up = TAILQ_FIRST(&worker->idle_upstreams); up; up = next) {
		next = TAILQ_NEXT(up, worker_link);
		if (atomic_load(&up->target->draining))
			upstream_conn_free(up);
	}
}

void upstream_pool_clear(struct lb_worker *worker)
{
	struct lb_upstream_conn *up;

	while ((up = TAILQ_FIRST(&worker->idle_upstreams)))
		upstream_conn_free(up);
}

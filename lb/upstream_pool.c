/*
 * upstream_pool.c - upstream connections and the per-worker idle pool.
 */
#include "upstream_pool.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

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
	bufferevent_free(up->bev);
	lb_target_unref(up->target);
	free(up);
}

struct lb_upstream_conn *upstream_pool_take(struct lb_worker *worker, struct lb_target *target)
{
	struct lb_pool_slot *slot = &target->pools[worker->index];
	struct lb_upstream_conn *up;

	/* Most recently used first: it is the least likely to have timed out. */
	while ((up = TAILQ_LAST(&slot->idle, lb_upstream_list))) {
		pool_remove(up);
		if (evbuffer_get_length(bufferevent_get_input(up->bev)) != 0) {
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
	int one = 1;
	evutil_socket_t fd;

	if (!up)
		return NULL;
	up->bev = bufferevent_socket_new(worker->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!up->bev) {
		free(up);
		return NULL;
	}
	up->worker = worker;
	up->target = target;
	lb_target_ref(target);
	/*
	 * A refused connect is reported by libevent as a (deferred) error event,
	 * handled with every other failure.  -1 means no event will come: a
	 * socket could not even be made (EMFILE, EADDRNOTAVAIL...).
	 */
	if (bufferevent_socket_connect(up->bev, (struct sockaddr *)&target->addr,
				       (int)target->addr_len) < 0) {
		upstream_conn_free(up);
		return NULL;
	}
	fd = bufferevent_getfd(up->bev);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return up;
}

static void idle_read_cb(struct bufferevent *bev, void *arg)
{
	/* A server that talks on an idle connection is closing it or broken. */
	upstream_conn_free(arg);
}

static void idle_event_cb(struct bufferevent *bev, short events, void *arg)
{
	upstream_conn_free(arg);
}

void upstream_pool_put(struct lb_upstream_conn *up, size_t max_idle, double idle_timeout)
{
	struct lb_pool_slot *slot = &up->target->pools[up->worker->index];
	struct timeval tv;

	if (slot->idle_count >= max_idle || atomic_load(&up->target->draining) ||
	    evbuffer_get_length(bufferevent_get_input(up->bev)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(up->bev)) != 0) {
		upstream_conn_free(up);
		return;
	}
	up->client = NULL;
	up->idle = true;
	TAILQ_INSERT_TAIL(&slot->idle, up, pool_link);
	slot->idle_count++;
	TAILQ_INSERT_TAIL(&up->worker->idle_upstreams, up, worker_link);
	tv.tv_sec = (time_t)idle_timeout;
	tv.tv_usec = (suseconds_t)((idle_timeout - (double)tv.tv_sec) * 1e6);
	bufferevent_setcb(up->bev, idle_read_cb, NULL, idle_event_cb, up);
	bufferevent_set_timeouts(up->bev, &tv, NULL);
	bufferevent_disable(up->bev, EV_WRITE);
	bufferevent_enable(up->bev, EV_READ);
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

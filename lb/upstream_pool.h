/*
 * upstream_pool.h - connections to targets, and the per-worker keep-alive
 * pool of idle ones.
 *
 * A connection belongs to one worker for life.  While a request uses it the
 * proxy owns its callbacks (up->client is set); when the response ends
 * cleanly the proxy hands it back with upstream_pool_put, and it waits in
 * its target's slot for this worker until reused, closed by the target, idle
 * for timeouts.upstream_idle, or its target starts draining.
 */
#ifndef ORCH_LB_UPSTREAM_POOL_H
#define ORCH_LB_UPSTREAM_POOL_H

#include "conn.h"
#include "lb-t.h"

struct lb_upstream_conn {
	struct lb_conn *conn;
	struct lb_target *target;		/* holds a reference */
	struct lb_worker *worker;
	struct lb_client *client;		/* user while busy, NULL while idle */
	struct http_head *head_partial;		/* a response head cut short, kept across reads */
	bool connected;
	bool reused;				/* taken from the pool */
	bool idle;
	TAILQ_ENTRY(lb_upstream_conn) pool_link;	/* target's slot for this worker */
	TAILQ_ENTRY(lb_upstream_conn) worker_link;	/* worker's list of idle ones */
};

/* An idle connection to target from this worker's pool, or NULL. */
struct lb_upstream_conn *upstream_pool_take(struct lb_worker *worker, struct lb_target *target);

/*
 * Start a non-blocking connect to target.  The caller sets callbacks before
 * returning to the loop; BEV_EVENT_CONNECTED or an error event follows.
 * Returns NULL only when no socket could be made (errno-style failure).
 */
struct lb_upstream_conn *upstream_conn_connect(struct lb_worker *worker, struct lb_target *target);

/* Park a finished connection in the pool (or close it when the pool is full). */
void upstream_pool_put(struct lb_upstream_conn *up, size_t max_idle, double idle_timeout);

void upstream_conn_free(struct lb_upstream_conn *up);

/* Close this worker's idle connections to draining targets (periodic). */
void upstream_pool_sweep(struct lb_worker *worker);

/* Close all of this worker's idle connections (shutdown). */
void upstream_pool_clear(struct lb_worker *worker);

#endif

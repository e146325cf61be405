/*
 * listener.h - the listening sockets (on the control loop), the worker
 * threads (one event_base each), the hand-off of each accepted connection
 * to the least loaded worker, the connection limit, and the mailbox through
 * which a new routing snapshot reaches each worker.
 */
#ifndef ORCH_LB_LISTENER_H
#define ORCH_LB_LISTENER_H

#include "lb-t.h"

/* Create the worker bases (no threads yet). */
int lb_workers_init(struct lb *lb, orch_error *err);

/*
 * Listeners come from a snapshot in two steps, so that a reload applies
 * all of its listener, TLS and admin changes or none of them.  The plan
 * reads every TLS listener's certificates and keys again (rotation in place
 * needs no new file name), binds addresses the running set does not listen
 * on (accepting nothing yet) and the admin address if it changed; it fails,
 * naming the field, with nothing changed.  Commit then keeps the socket of
 * every address in both sets (no connection is refused across a reload),
 * starts accepting on the new ones and closes the ones no longer listed;
 * connections they accepted carry on with the TLS context they began with.
 * Control thread only (or before lb_run).
 */
struct lb_listener_plan;
struct lb_listener_plan *lb_listener_plan_new(struct lb *lb, const struct lb_config *config,
					      orch_error *err);
void lb_listener_plan_commit(struct lb *lb, struct lb_listener_plan *plan);
void lb_listener_plan_abandon(struct lb_listener_plan *plan);

/* Does config name exactly the running listeners, certificate files and admin address? */
bool lb_listeners_match(struct lb *lb, const struct lb_config *config);

/* Start the worker threads. */
int lb_workers_start(struct lb *lb, orch_error *err);

/* Hand table to every worker (each takes its own reference). Any thread. */
void lb_workers_publish(struct lb *lb, struct lb_route_table *table);

/* Close the listeners and ask every worker to close idle connections (lb->draining set). */
void lb_workers_drain(struct lb *lb);

/* Stop the loops, join the threads, close every connection, free the workers. */
void lb_workers_stop(struct lb *lb);

#endif

/*
 * listener.h - the listening sockets (on the control loop), the worker
 * threads (one event_base each), the hand-off of each accepted connection
 * to the least loaded worker, the connection limit, and the mailbox through
 * which a new routing snapshot reaches each worker.
 */
#ifndef ORCH_LB_LISTENER_H
#define ORCH_LB_LISTENER_H

#include "lb-t.h"

/* Create the worker bases and bind every listener (no threads yet). */
int lb_workers_init(struct lb *lb, orch_error *err);

/* Start the worker threads. */
int lb_workers_start(struct lb *lb, orch_error *err);

/* Hand table to every worker (each takes its own reference). Any thread. */
void lb_workers_publish(struct lb *lb, struct lb_route_table *table);

/* Close the listeners and ask every worker to close idle connections (lb->draining set). */
void lb_workers_drain(struct lb *lb);

/* Stop the loops, join the threads, close every connection, free the workers. */
void lb_workers_stop(struct lb *lb);

#endif

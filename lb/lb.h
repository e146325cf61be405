/*
 * lb.h - the HTTP(S) load balancer's whole public interface.
 *
 * Standalone:  orch lb --config routes.json     (lb_main; SIGHUP reloads)
 * Embedded:    a program creates one with lb_new, runs lb_run on a thread
 *              of its own, and feeds it routing snapshots (the same JSON
 *              document as routes.json, schema/routes.schema.json) with
 *              lb_publish_routes whenever targets change.  `orch server`
 *              does not embed one yet; today `orch lb` is the only user.
 *
 * lb_publish_routes replaces rules, target groups, limits and timeouts;
 * lb_reload (SIGHUP in `orch lb`) applies listeners, TLS certificates (read
 * from their files again) and the admin address as well.  A snapshot that
 * fails validation, or whose listeners cannot be bound or certificates
 * loaded, changes nothing.
 */
#ifndef ORCH_LB_LB_H
#define ORCH_LB_LB_H

#include <stddef.h>

#include <jansson.h>

#include "common/error.h"

struct lb;

/* `orch lb ...`: argv[0] is "lb".  Returns the process exit status. */
int lb_main(int argc, char **argv);

/*
 * Validate routes, bind its listeners and start `threads` worker threads
 * (0 = one per online CPU).  Connections are accepted once lb_run runs the
 * control loop, and already queue in the kernel before that.
 */
struct lb *lb_new(json_t *routes, size_t threads, orch_error *err);

/*
 * Replace the routing snapshot atomically.  Requests in flight finish on the
 * snapshot they started with; targets no longer listed drain.  Thread-safe.
 */
int lb_publish_routes(struct lb *lb, json_t *snapshot, orch_error *err);

/*
 * Replace the routing snapshot and the listeners, certificates and admin
 * listener with snapshot's, all or nothing: addresses in both keep their
 * socket, new ones are bound, dropped ones close (their connections
 * finish).  Control thread only (or before lb_run).
 */
int lb_reload(struct lb *lb, json_t *snapshot, orch_error *err);

/* Run the control loop (health checks, admin, maintenance) until lb_stop. */
int lb_run(struct lb *lb, orch_error *err);

/* Make lb_run return now.  Thread-safe (not async-signal-safe). */
void lb_stop(struct lb *lb);

/*
 * Graceful stop: close the listeners and idle connections, let requests in
 * flight finish for up to timeouts.shutdownGraceSeconds, then make lb_run
 * return.  Called twice, it stops at once.  Control thread only.
 */
void lb_shutdown(struct lb *lb);

/* Stop the workers, close every connection and free everything. */
void lb_free(struct lb *lb);

#endif

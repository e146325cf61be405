/*
 * health_check.h - active health checks, run on the control thread's loop.
 *
 * Each registered target whose group has a healthCheck gets a timer; every
 * intervalSeconds it sends "GET <path>" on a fresh connection and reads the
 * status line within timeoutSeconds.  healthyThreshold consecutive passes
 * mark it healthy, unhealthyThreshold consecutive failures unhealthy.
 * Targets start healthy, as in HAProxy, so a reload never begins with 503s.
 */
#ifndef ORCH_LB_HEALTH_CHECK_H
#define ORCH_LB_HEALTH_CHECK_H

#include "lb-t.h"

/* Start timers for registry targets that need one, stop those that do not. */
void lb_health_check_sync(struct lb *lb);

/* Stop the target's checks (it left the registry).  Control thread. */
void lb_health_check_stop(struct lb_target *target);

/* Does a status match the configured ranges? */
bool lb_health_check_status_matches(const struct lb_health_check_conf *hc, int status);

#endif

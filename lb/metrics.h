/*
 * metrics.h - Prometheus text exposition of the balancer's counters, served
 * by a small admin listener on the control loop (GET /metrics, GET /healthz).
 *
 *   orch_lb_requests_total{target_group,code_class}      counter
 *   orch_lb_request_duration_seconds{target_group}       histogram
 *   orch_lb_retries_total{target_group}                  counter
 *   orch_lb_rejected_requests_total{code_class}          answered without a group
 *   orch_lb_active_connections / orch_lb_connections_total / _rejected_total
 *   orch_lb_target_healthy{target_group,target}          1 usable, 0 not
 *   orch_lb_target_outstanding_requests{target_group,target}
 */
#ifndef ORCH_LB_METRICS_H
#define ORCH_LB_METRICS_H

#include <event2/buffer.h>
#include <event2/listener.h>

#include "lb-t.h"

/* Append the exposition text to out. */
void lb_metrics_render(struct lb *lb, struct evbuffer *out);

/*
 * Bind config's admin address on lb->control_base (*out stays NULL when it
 * names none).  The caller owns the listener.
 */
int lb_metrics_bind(struct lb *lb, const struct lb_config *config, struct evconnlistener **out,
		    orch_error *err);

#endif

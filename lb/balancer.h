/*
 * balancer.h - choosing a target for a request: weighted round robin or
 * least outstanding requests, skipping unusable targets.
 */
#ifndef ORCH_LB_BALANCER_H
#define ORCH_LB_BALANCER_H

#include "lb-t.h"

/*
 * Pick a usable target of group for worker worker_index, never `exclude`
 * (the target a retry is moving away from).  NULL when none is usable.  The
 * result is borrowed from the snapshot the caller holds.
 */
struct lb_target *balancer_pick(struct lb_group *group, size_t worker_index,
				struct lb_target *exclude, int64_t now_ms);

#endif

/*
 * target.h - upstream targets: the registry that keeps one struct lb_target
 * per (target group, address) across reloads, reference counting, the
 * "may this target take a new request?" test, and passive ejection.
 */
#ifndef ORCH_LB_TARGET_H
#define ORCH_LB_TARGET_H

#include "lb-t.h"

/*
 * Find or create the registry entry for (group, address) and return it with
 * a new reference for the caller.  Updates its health-check and ejection
 * settings from group and clears draining.  Caller holds lb->registry_lock.
 */
struct lb_target *lb_target_acquire(struct lb *lb, const struct lb_group_conf *group,
				    const struct lb_target_conf *conf);

void lb_target_ref(struct lb_target *target);
void lb_target_unref(struct lb_target *target);

/* Healthy, not ejected, not draining. */
bool lb_target_usable(struct lb_target *target, int64_t now_ms);

/* Passive health: a request to the target failed (connect error, 5xx) or succeeded. */
void lb_target_report_failure(struct lb_target *target);
void lb_target_report_success(struct lb_target *target);

/*
 * Mark every registry entry absent from table as draining (deadline = now +
 * its deregistration delay).  Caller holds lb->registry_lock.
 */
void lb_target_mark_draining(struct lb *lb, const struct lb_route_table *table);

/*
 * Drop registry entries that are draining and either idle or past their
 * deadline.  Control thread; takes lb->registry_lock.
 */
void lb_target_registry_prune(struct lb *lb);

/* Release every registry entry (lb_free). */
void lb_target_registry_clear(struct lb *lb);

/* Persistent per-group stats object for name (created on first use). Locked by caller. */
struct lb_group_stats *lb_group_stats_get(struct lb *lb, const char *name);

/* A stats object with a share per worker (lb->worker_count); aborts on no memory. */
struct lb_group_stats *lb_group_stats_new(struct lb *lb, const char *name);
void lb_group_stats_free(struct lb_group_stats *stats);

/* Add to a counter of the calling worker's own share (single writer). */
static inline void lb_counter_add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Sum of one counter over every worker's share (any thread). */
#define lb_group_stats_sum(stats, field)						\
	({										\
		uint64_t sum_ = 0;							\
		for (size_t i_ = 0; i_ < (stats)->worker_count; i_++)			\
			sum_ += atomic_load_explicit(&(stats)->per_worker[i_].field,	\
						     memory_order_relaxed);		\
		sum_;									\
	})

#endif

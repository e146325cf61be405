/*
 * balancer.c - weighted round robin and least outstanding requests.
 *
 * Round robin walks the group's precomputed smooth-WRR schedule from this
 * worker's cursor (per worker, so no shared cache line is written per
 * request).  Least outstanding compares outstanding/weight across all usable
 * targets, starting at a rotating offset so ties spread evenly.
 */
#include "balancer.h"

#include "target.h"

static struct lb_target *pick_round_robin(struct lb_group *g, size_t worker,
					  struct lb_target *exclude, int64_t now)
{
	size_t n = g->schedule_len;
	unsigned start;

	if (n == 0)
		return NULL;
	start = g->cursors[worker].value++;
	for (size_t i = 0; i < n; i++) {
		struct lb_target *t = g->targets[g->schedule[(start + i) % n]];

		if (t != exclude && lb_target_usable(t, now)) {
			g->cursors[worker].value = (unsigned)(start + i + 1);
			return t;
		}
	}
	return NULL;
}

static struct lb_target *pick_least_outstanding(struct lb_group *g, size_t worker,
						struct lb_target *exclude, int64_t now)
{
	size_t n = g->target_count;
	struct lb_target *best = NULL;
	long best_load = 0, best_weight = 1;
	unsigned start;

	if (n == 0)
		return NULL;
	start = g->cursors[worker].value++;
	for (size_t k = 0; k < n; k++) {
		size_t i = (start + k) % n;
		struct lb_target *t = g->targets[i];
		long load, weight = g->weights[i];

		if (weight == 0 || t == exclude || !lb_target_usable(t, now))
			continue;
		load = atomic_load_explicit(&t->outstanding, memory_order_relaxed) + 1;
		/* load/weight < best_load/best_weight, without division */
		if (!best || load * best_weight < best_load * weight) {
			best = t;
			best_load = load;
			best_weight = weight;
		}
	}
	return best;
}

struct lb_target *balancer_pick(struct lb_group *group, size_t worker_index,
				struct lb_target *exclude, int64_t now_ms)
{
	if (group->conf->algorithm == LB_ALGORITHM_LEAST_OUTSTANDING)
		return pick_least_outstanding(group, worker_index, exclude, now_ms);
	return pick_round_robin(group, worker_index, exclude, now_ms);
}

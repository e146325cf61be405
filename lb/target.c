/*
 * target.c - the target registry, target reference counts, usability and
 * passive ejection.  See target.h and the ownership notes in lb-t.h.
 */
#include "target.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "health_check.h"
#include "common/clock.h"
#include "common/log.h"

static void hc_conf_copy(struct lb_health_check_conf *dst, const struct lb_health_check_conf *src)
{
	free(dst->path);
	free(dst->host);
	*dst = *src;
	dst->path = src->path ? strdup(src->path) : NULL;
	dst->host = src->host ? strdup(src->host) : NULL;
}

struct lb_target *lb_target_acquire(struct lb *lb, const struct lb_group_conf *group,
				    const struct lb_target_conf *conf)
{
	struct lb_target *t;

	for (t = lb->registry; t; t = t->registry_next) {
		if (strcmp(t->group_name, group->name) == 0 && strcmp(t->address, conf->address) == 0)
			break;
	}
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			abort();
		t->lb = lb;
		t->group_name = strdup(group->name);
		t->address = strdup(conf->address);
		t->addr = conf->addr;
		t->addr_len = conf->addr_len;
		atomic_init(&t->refs, 1);	/* the registry's */
		atomic_init(&t->healthy, 1);	/* optimistic start, as HAProxy */
		t->pool_count = lb->worker_count;
		t->pools = calloc(lb->worker_count, sizeof(*t->pools));
		for (size_t i = 0; i < lb->worker_count; i++)
			TAILQ_INIT(&t->pools[i].idle);
		t->in_registry = true;
		t->registry_next = lb->registry;
		lb->registry = t;
		log_debug("lb: target %s in group \"%s\" registered", t->address, t->group_name);
	} else {
		/*
		 * A name may resolve differently now.  Workers read addr without a
		 * lock, so write only when it changed (rare, and the old and the
		 * new value are both valid addresses of the target).
		 */
		if (t->addr_len != conf->addr_len || memcmp(&t->addr, &conf->addr, conf->addr_len)) {
			t->addr = conf->addr;
			t->addr_len = conf->addr_len;
		}
	}
	if (atomic_load(&t->draining)) {
		log_info("lb: target %s in group \"%s\" is back; draining stopped", t->address,
			 t->group_name);
		atomic_store(&t->draining, 0);
	}
	hc_conf_copy(&t->hc, &group->health_check);
	if (!t->hc.enabled)
		atomic_store(&t->healthy, 1);
	t->passive_failures = group->passive_failures;
	t->passive_eject_seconds = group->passive_eject_seconds;
	t->deregistration_delay = group->deregistration_delay;
	lb_target_ref(t);
	return t;
}

void lb_target_ref(struct lb_target *target)
{
	atomic_fetch_add_explicit(&target->refs, 1, memory_order_relaxed);
}

void lb_target_unref(struct lb_target *target)
{
	if (!target)
		return;
	if (atomic_fetch_sub_explicit(&target->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* Idle pooled connections hold references, so the pools are empty here. */
	free(target->pools);
	free(target->hc.path);
	free(target->hc.host);
	free(target->group_name);
	free(target->address);
	free(target);
}

bool lb_target_usable(struct lb_target *target, int64_t now_ms)
{
	return atomic_load_explicit(&target->healthy, memory_order_relaxed) &&
	       !atomic_load_explicit(&target->draining, memory_order_relaxed) &&
	       atomic_load_explicit(&target->ejected_until_ms, memory_order_relaxed) <= now_ms;
}

void lb_target_report_failure(struct lb_target *target)
{
	int failures = atomic_fetch_add_explicit(&target->consecutive_failures, 1,
						 memory_order_relaxed) + 1;

	if (target->passive_failures > 0 && failures == target->passive_failures) {
		int64_t until = clock_mono_coarse_ms() + (int64_t)(target->passive_eject_seconds * 1000);

		atomic_store(&target->ejected_until_ms, until);
		log_warn("lb: target %s in group \"%s\" ejected for %.1fs after %d consecutive "
			 "failures", target->address, target->group_name,
			 target->passive_eject_seconds, failures);
	}
}

void lb_target_report_success(struct lb_target *target)
{
	if (atomic_load_explicit(&target->consecutive_failures, memory_order_relaxed) != 0)
		atomic_store_explicit(&target->consecutive_failures, 0, memory_order_relaxed);
}

static bool table_has_target(const struct lb_route_table *table, const struct lb_target *t)
{
	for (size_t g = 0; g < table->group_count; g++) {
		const struct lb_group *group = &table->groups[g];

		for (size_t i = 0; i < group->target_count; i++) {
			if (group->targets[i] == t)
				return true;
		}
	}
	return false;
}

void lb_target_mark_draining(struct lb *lb, const struct lb_route_table *table)
{
	int64_t now = clock_mono_coarse_ms();

	for (struct lb_target *t = lb->registry; t; t = t->registry_next) {
		if (atomic_load(&t->draining) || table_has_target(table, t))
			continue;
		atomic_store(&t->drain_deadline_ms, now + (int64_t)(t->deregistration_delay * 1000));
		atomic_store(&t->draining, 1);
		log_info("lb: target %s in group \"%s\" draining (%d in flight, delay %.1fs)",
			 t->address, t->group_name, atomic_load(&t->outstanding),
			 t->deregistration_delay);
	}
}

void lb_target_registry_prune(struct lb *lb)
{
	struct lb_target **link, *t, *dead = NULL;
	int64_t now = clock_mono_coarse_ms();

	pthread_mutex_lock(&lb->registry_lock);
	link = &lb->registry;
	while ((t = *link)) {
		if (atomic_load(&t->draining) &&
		    (atomic_load(&t->outstanding) == 0 || now >= atomic_load(&t->drain_deadline_ms))) {
			*link = t->registry_next;
			t->in_registry = false;
			t->registry_next = dead;
			dead = t;
			continue;
		}
		link = &t->registry_next;
	}
	pthread_mutex_unlock(&lb->registry_lock);
	while ((t = dead)) {
		dead = t->registry_next;
		log_info("lb: target %s in group \"%s\" deregistered", t->address, t->group_name);
		lb_health_check_stop(t);
		lb_target_unref(t);
	}
}

void lb_target_registry_clear(struct lb *lb)
{
	struct lb_target *t;

	while ((t = lb->registry)) {
		lb->registry = t->registry_next;
		t->in_registry = false;
		lb_health_check_stop(t);
		lb_target_unref(t);
	}
	while (lb->group_stats) {
		struct lb_group_stats *s = lb->group_stats;

		lb->group_stats = s->next;
		lb_group_stats_free(s);
	}
}

struct lb_group_stats *lb_group_stats_new(struct lb *lb, const char *name)
{
	struct lb_group_stats *s = calloc(1, sizeof(*s));
	size_t bytes = lb->worker_count * sizeof(*s->per_worker);

	if (!s)
		abort();
	s->per_worker = aligned_alloc(64, bytes);
	s->name = strdup(name);
	if (!s->per_worker || !s->name)
		abort();
	memset(s->per_worker, 0, bytes);
	s->worker_count = lb->worker_count;
	return s;
}

void lb_group_stats_free(struct lb_group_stats *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->per_worker);
	free(s);
}

struct lb_group_stats *lb_group_stats_get(struct lb *lb, const char *name)
{
	struct lb_group_stats *s;

	for (s = lb->group_stats; s; s = s->next) {
		if (strcmp(s->name, name) == 0)
			return s;
	}
	s = lb_group_stats_new(lb, name);
	s->next = lb->group_stats;
	lb->group_stats = s;
	return s;
}

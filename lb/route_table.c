/*
 * route_table.c - building, matching and releasing routing snapshots.
 */
#include "route_table.h"

#include <stdlib.h>
#include <string.h>

#include "target.h"

/*
 * Smooth weighted round robin (the nginx algorithm), unrolled once into a
 * schedule so picking is an index increment: weights 5,1,1 give
 * a a b a c a a rather than a a a a a b c.
 */
static int build_schedule(struct lb_group *g)
{
	size_t total = 0;
	long *current;

	for (size_t i = 0; i < g->target_count; i++)
		total += (size_t)g->weights[i];
	g->schedule_len = total;
	g->schedule = calloc(total ? total : 1, sizeof(*g->schedule));
	current = calloc(g->target_count ? g->target_count : 1, sizeof(*current));
	if (!g->schedule || !current) {
		free(current);
		return -1;
	}
	for (size_t s = 0; s < total; s++) {
		size_t best = 0;

		for (size_t i = 0; i < g->target_count; i++) {
			current[i] += g->weights[i];
			if (current[i] > current[best])
				best = i;
		}
		current[best] -= (long)total;
		g->schedule[s] = (unsigned)best;
	}
	free(current);
	return 0;
}

struct lb_route_table *route_table_build(struct lb *lb, struct lb_config *config, orch_error *err)
{
	struct lb_route_table *table = calloc(1, sizeof(*table));

	if (!table) {
		lb_config_free(config);
		orch_fail_errno(err, ENOMEM, "route table");
		return NULL;
	}
	atomic_init(&table->refs, 1);
	table->config = config;
	table->http_limits = (struct http_limits) {
		.max_header_line_bytes = config->limits.max_header_line_bytes,
		.max_header_bytes = config->limits.max_header_bytes,
		.max_header_count = config->limits.max_header_count,
		.max_uri_bytes = config->limits.max_uri_bytes,
		.max_chunk_ext_bytes = config->limits.max_chunk_ext_bytes,
	};
	table->group_count = config->group_count;
	table->groups = calloc(config->group_count ? config->group_count : 1, sizeof(*table->groups));
	for (size_t gi = 0; gi < config->group_count; gi++) {
		const struct lb_group_conf *gc = &config->groups[gi];
		struct lb_group *g = &table->groups[gi];

		g->conf = gc;
		g->stats = lb_group_stats_get(lb, gc->name);
		g->target_count = gc->target_count;
		g->targets = calloc(gc->target_count ? gc->target_count : 1, sizeof(*g->targets));
		g->weights = calloc(gc->target_count ? gc->target_count : 1, sizeof(*g->weights));
		g->cursors = calloc(lb->worker_count, sizeof(*g->cursors));
		for (size_t i = 0; i < gc->target_count; i++) {
			g->targets[i] = lb_target_acquire(lb, gc, &gc->targets[i]);
			g->weights[i] = gc->targets[i].weight;
		}
		/* Start each worker at a different place so they do not move in step. */
		for (size_t w = 0; w < lb->worker_count; w++)
			g->cursors[w].value = (unsigned)(w * 7919u);
		if (build_schedule(g) < 0) {
			route_table_unref(table);
			orch_fail_errno(err, ENOMEM, "route table");
			return NULL;
		}
	}
	return table;
}

void route_table_ref(struct lb_route_table *table)
{
	atomic_fetch_add_explicit(&table->refs, 1, memory_order_relaxed);
}

void route_table_unref(struct lb_route_table *table)
{
	if (!table)
		return;
	if (atomic_fetch_sub_explicit(&table->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t gi = 0; gi < table->group_count; gi++) {
		struct lb_group *g = &table->groups[gi];

		for (size_t i = 0; i < g->target_count; i++)
			lb_target_unref(g->targets[i]);
		free(g->targets);
		free(g->weights);
		free(g->schedule);
		free(g->cursors);
	}
	free(table->groups);
	lb_config_free(table->config);
	free(table);
}

static bool host_matches(const struct lb_rule_conf *rule, const char *host, size_t host_len)
{
	size_t n;

	if (!rule->host)
		return true;
	n = strlen(rule->host);
	if (!rule->host_wildcard)
		return n == host_len && memcmp(rule->host, host, n) == 0;
	/* ".example.com" matches "a.example.com" and "a.b.example.com", not "example.com". */
	return host_len > n && memcmp(host + host_len - n, rule->host, n) == 0;
}

struct lb_group *route_table_match(struct lb_route_table *table, const char *host, size_t host_len,
				   const char *path, size_t path_len)
{
	const struct lb_config *config = table->config;

	for (size_t i = 0; i < config->rule_count; i++) {
		const struct lb_rule_conf *rule = &config->rules[i];
		size_t prefix_len = strlen(rule->path_prefix);

		if (!host_matches(rule, host, host_len))
			continue;
		if (prefix_len > path_len || memcmp(path, rule->path_prefix, prefix_len) != 0)
			continue;
		return &table->groups[rule->group_index];
	}
	return NULL;
}

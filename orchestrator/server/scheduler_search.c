/*
 * scheduler_search.c - scheduler_place: the filters a node must pass, the
 * walk each strategy makes over the candidates, and the tie-breaking by the
 * next strategies (see scheduler_internal.h for the method).
 */
#include "scheduler_internal.h"
#include "common/hash_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

static bool value_in(const uint32_t *values, size_t count, uint32_t v)
{
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (values[mid] < v)
			lo = mid + 1;
		else if (values[mid] > v)
			hi = mid;
		else
			return true;
	}
	return false;
}

static int compare_text(const char *a, const char *b)
{
	char *end_a, *end_b;
	double x = strtod(a, &end_a), y = strtod(b, &end_b);

	if (*a && *b && !*end_a && !*end_b)
		return x < y ? -1 : x > y;
	return strcmp(a, b);
}

bool sched_expr_eval(const struct sched_search *p, const struct sexpr *e,
		     const struct sched_node *n)
{
	uint32_t v;

	switch (e->kind) {
	case SEXPR_AND:
		return sched_expr_eval(p, e->left, n) && sched_expr_eval(p, e->right, n);
	case SEXPR_OR:
		return sched_expr_eval(p, e->left, n) || sched_expr_eval(p, e->right, n);
	case SEXPR_NOT:
		return !sched_expr_eval(p, e->left, n);
	case SEXPR_CMP:
		break;
	}
	if (e->subject == SEXPR_TASK_GROUP) {
		bool any = false;

		for (size_t i = 0; i < e->arg_count && !any; i++)
			any = e->arg_refs[i] && sched_entry_find(p->s, e->arg_refs[i], n);
		return (e->op == SEXPR_EQ || e->op == SEXPR_IN) ? any : !any;
	}
	v = e->name_id ? node_attr(n, e->name_id) : 0;
	switch (e->op) {
	case SEXPR_EQ:
		return v && v == e->arg_ids[0];
	case SEXPR_NE:
		return !(v && v == e->arg_ids[0]);
	case SEXPR_EXISTS:
		return v != 0;
	case SEXPR_NOT_EXISTS:
		return v == 0;
	case SEXPR_IN:
	case SEXPR_NOT_IN: {
		bool any = false;

		for (size_t i = 0; i < e->arg_count && v && !any; i++)
			any = e->arg_ids[i] == v;
		return e->op == SEXPR_IN ? any : !any;
	}
	case SEXPR_MATCHES:
	case SEXPR_NOT_MATCHES: {
		bool m = v && regexec(&e->regex, sched_intern_str(p->s, v), 0, NULL, 0) == 0;

		return e->op == SEXPR_MATCHES ? m : !m;
	}
	case SEXPR_GT:
		return v && compare_text(sched_intern_str(p->s, v), e->args[0]) > 0;
	case SEXPR_GE:
		return v && compare_text(sched_intern_str(p->s, v), e->args[0]) >= 0;
	case SEXPR_LT:
		return v && compare_text(sched_intern_str(p->s, v), e->args[0]) < 0;
	case SEXPR_LE:
		return v && compare_text(sched_intern_str(p->s, v), e->args[0]) <= 0;
	}
	return false;
}

/* Resolves names and values to interned IDs and groups (unknown ones match nothing). */
static int expr_resolve(struct sched_search *p, struct sexpr *e)
{
	if (e->kind != SEXPR_CMP)
		return (e->left && expr_resolve(p, e->left) < 0) ||
		       (e->right && expr_resolve(p, e->right) < 0) ? -1 : 0;
	e->name_id = sched_intern_find(p->s, e->name);
	if (e->arg_count) {
		e->arg_ids = calloc(e->arg_count, sizeof(*e->arg_ids));
		e->arg_refs = calloc(e->arg_count, sizeof(*e->arg_refs));
		if (!e->arg_ids || !e->arg_refs)
			return -1;
	}
	for (size_t i = 0; i < e->arg_count; i++) {
		if (e->subject == SEXPR_TASK_GROUP)
			e->arg_refs[i] = sched_group_find(p->s, p->cl, e->args[i]);
		else
			e->arg_ids[i] = sched_intern_find(p->s, e->args[i]);
	}
	return 0;
}

static bool fits(const struct sched_search *p, const struct sched_node *n)
{
	const struct sched_request *req = p->req;

	if (n->status != SCHED_NODE_ACTIVE || free_cpu(n) < req->cpu ||
	    free_memory(n) < req->memory)
		return false;
	for (size_t i = 0; i < req->port_count; i++)
		if (node_has_port(n, port_key(&req->ports[i])))
			return false;
	if (p->c->distinct && p->distinct_group && sched_entry_find(p->s, p->distinct_group, n))
		return false;
	for (size_t i = 0; i < p->c->expr_count; i++)
		if (!sched_expr_eval(p, p->c->exprs[i], n))
			return false;
	for (size_t i = 0; i < p->filter_count; i++)
		if (!value_in(p->filters[i].values, p->filters[i].count,
			      node_attr(n, p->filters[i].name)))
			return false;
	return true;
}

static int tie_push(struct scheduler *s, struct sched_node *n)
{
	if (s->tie_count == s->tie_cap) {
		size_t cap = s->tie_cap ? s->tie_cap * 2 : 64;
		struct sched_node **a = realloc(s->ties, cap * sizeof(*a));

		if (!a)
			return -1;
		s->ties = a;
		s->tie_cap = cap;
	}
	s->ties[s->tie_count++] = n;
	return 0;
}

static uint32_t tracked_count_of(const struct tracked_attr *t, uint32_t value)
{
	struct value_count *vc;

	if (!t)
		return 0;
	vc = sched_tracked_slot((struct tracked_attr *)t, value, false);
	return vc ? vc->count : 0;
}

static int64_t strategy_key(struct sched_search *p, const struct strategy *st,
			    const struct sched_node *n)
{
	switch (st->kind) {
	case STRATEGY_BINPACK_CPU:
		return free_cpu(n);
	case STRATEGY_BINPACK_MEMORY:
		return free_memory(n);
	case STRATEGY_SPREAD_INSTANCE:
		return sched_group_count_on(p->s, p->spread_group, n);
	case STRATEGY_SPREAD_ATTRIBUTE:
		return tracked_count_of(st->tracked, node_attr(n, st->name_id));
	case STRATEGY_RANDOM:
		return (int64_t)(rng_next(p->s) >> 1);
	case STRATEGY_FEWEST_TASKS:
		return n->task_count;
	}
	return 0;
}

/* Orders the tied candidates s->ties by strategies[from..], then node ID. */
static struct sched_node *resolve_ties(struct sched_search *p, size_t from)
{
	struct scheduler *s = p->s;
	struct sched_node *best = NULL;
	int64_t best_keys[SCHED_MAX_STRATEGIES] = { 0 };

	for (size_t i = 0; i < s->tie_count; i++) {
		struct sched_node *n = s->ties[i];
		int64_t keys[SCHED_MAX_STRATEGIES] = { 0 };
		int c = 0;

		for (size_t k = from; k < p->c->strategy_count; k++)
			keys[k] = strategy_key(p, &p->c->strategies[k], n);
		if (best) {
			for (size_t k = from; k < p->c->strategy_count && c == 0; k++)
				c = keys[k] < best_keys[k] ? -1 : keys[k] > best_keys[k];
			if (c == 0)
				c = strcmp(n->id, best->id);
		}
		if (!best || c < 0) {
			best = n;
			memcpy(best_keys, keys, sizeof(keys));
		}
	}
	s->tie_count = 0;
	return best;
}

static bool cpu_at_least(const struct tnode *t, int64_t bound)
{
	return free_cpu(container_of(t, struct sched_node, by_cpu)) >= bound;
}

static bool memory_at_least(const struct tnode *t, int64_t bound)
{
	return free_memory(container_of(t, struct sched_node, by_memory)) >= bound;
}

static bool always(const struct tnode *t, int64_t bound)
{
	return true;
}

static struct sched_node *search(struct sched_search *p, size_t i);

static struct sched_node *search_binpack(struct sched_search *p, size_t i, bool cpu)
{
	struct titer it;
	struct tnode *t;
	struct sched_node *first = NULL;
	int64_t key = 0;

	/* From the request's size upwards, skipping nodes short of the other resource. */
	titer_seek(&it, cpu ? p->cl->cpu_root : p->cl->memory_root,
		   cpu ? &sched_by_cpu_ops : &sched_by_memory_ops,
		   cpu ? p->req->memory : p->req->cpu, cpu ? cpu_at_least : memory_at_least,
		   cpu ? p->req->cpu : p->req->memory);
	while ((t = titer_next(&it))) {
		struct sched_node *n = cpu ? container_of(t, struct sched_node, by_cpu)
					   : container_of(t, struct sched_node, by_memory);
		int64_t k = cpu ? free_cpu(n) : free_memory(n);

		if (first && k != key)
			break;
		if (!fits(p, n))
			continue;
		if (!first) {
			if (i + 1 == p->c->strategy_count)
				return n;	/* (free, ID) order: the first is the winner */
			first = n;
			key = k;
		}
		if (tie_push(p->s, n) < 0)
			break;
	}
	return first ? resolve_ties(p, i + 1) : NULL;
}

static void bits_walk(struct sched_group *g, struct tnode *t)
{
	if (!t)
		return;
	bits_walk(g, t->left);
	sched_group_bit(g, container_of(t, struct group_entry, by_count)->node, true);
	bits_walk(g, t->right);
}

/* Makes g->bits match the cluster's ACTIVE array; false if out of memory. */
static bool group_bits_ready(struct sched_group *g)
{
	struct sched_cluster *cl = g->cluster;
	size_t words = (cl->active_count + 63) / 64;

	if (g->bits && g->bits_version == cl->active_version)
		return true;
	if (words > g->bit_words || !g->bits) {
		uint64_t *b = realloc(g->bits, (words ? words : 1) * sizeof(*b));

		if (!b)
			return false;
		g->bits = b;
	}
	g->bit_words = words;
	memset(g->bits, 0, (words ? words : 1) * sizeof(*g->bits));
	g->bits_version = cl->active_version;
	bits_walk(g, g->root);
	return true;
}

static struct sched_node *search_spread_instance(struct sched_search *p, size_t i)
{
	struct sched_cluster *cl = p->cl;
	struct sched_group *g = p->spread_group;
	bool last = i + 1 == p->c->strategy_count;
	struct titer it;
	struct tnode *t;
	struct sched_node *first = NULL;
	uint32_t key = 0;
	/*
	 * The default strategy (spread, then fewest tasks) compares at most
	 * SCHED_DEFAULT_CANDIDATES of the tied nodes, so its cost does not
	 * grow with the cluster.
	 */
	bool sample = !last && p->c->strategies[i + 1].kind == STRATEGY_FEWEST_TASKS;

	/* Nodes without tasks of the group come first, in ID order. */
	if (!g || g->active_nodes < cl->active_count) {
		if (g && g->node_count >= SCHED_BITMAP_MIN_NODES && group_bits_ready(g)) {
			for (size_t w = 0; w < g->bit_words; w++) {
				uint64_t free_bits = ~g->bits[w];

				if (w == g->bit_words - 1 && cl->active_count % 64)
					free_bits &= (1ULL << (cl->active_count % 64)) - 1;
				while (free_bits) {
					size_t k = w * 64 + (size_t)__builtin_ctzll(free_bits);
					struct sched_node *n = cl->active[k];

					free_bits &= free_bits - 1;
					if (!fits(p, n))
						continue;
					if (last)
						return n;
					if (tie_push(p->s, n) < 0 ||
					    (sample && p->s->tie_count >= SCHED_DEFAULT_CANDIDATES))
						break;
				}
				if (sample && p->s->tie_count >= SCHED_DEFAULT_CANDIDATES)
					break;
			}
		} else {
			/* The default starts where the group's name points. */
			size_t count = cl->active_count;
			size_t start = sample && count && p->req->group
				? (size_t)(hash_map_hash_string(p->req->group) % count) : 0;

			for (size_t k = 0; k < count; k++) {
				struct sched_node *n = cl->active[(start + k) % count];

				if (g && sched_entry_find(p->s, g, n))
					continue;
				if (!fits(p, n))
					continue;
				if (last)
					return n;
				if (tie_push(p->s, n) < 0)
					break;
				if (sample && p->s->tie_count >= SCHED_DEFAULT_CANDIDATES)
					break;
			}
		}
		if (p->s->tie_count)
			return resolve_ties(p, i + 1);
	}
	if (!g)
		return NULL;
	titer_seek(&it, g->root, &sched_by_count_ops, 0, always, 0);
	while ((t = titer_next(&it))) {
		struct group_entry *e = container_of(t, struct group_entry, by_count);

		if (first && e->count != key)
			break;
		if (!fits(p, e->node))
			continue;
		if (!first) {
			if (last)
				return e->node;
			first = e->node;
			key = e->count;
		}
		if (tie_push(p->s, e->node) < 0 ||
		    (sample && p->s->tie_count >= SCHED_DEFAULT_CANDIDATES))
			break;
	}
	return first ? resolve_ties(p, i + 1) : NULL;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The entry for attribute name in a cache of *count entries of entry_size
 * bytes, each beginning with a struct attr_cache_entry: its own, else a
 * new one, else the least recently used one, emptied (free_values, then
 * zeroed).  Marks it used by the current placement.
 */
static void *attr_cache_get(struct scheduler *s, void *entries, size_t entry_size,
			    size_t *count, uint32_t name, void (*free_values)(void *entry))
{
	struct attr_cache_entry *e = NULL;

	for (size_t i = 0; i < *count; i++) {
		struct attr_cache_entry *at = (void *)((char *)entries + i * entry_size);

		if (at->name == name)
			e = at;
	}
	if (!e) {
		if (*count < SCHED_TRACKED_MAX) {
			e = (void *)((char *)entries + (*count)++ * entry_size);
		} else {
			/* At most SCHED_MAX_STRATEGIES are in use per placement. */
			e = entries;
			for (size_t i = 1; i < *count; i++) {
				struct attr_cache_entry *at = (void *)((char *)entries + i * entry_size);

				if (at->last_used < e->last_used)
					e = at;
			}
		}
		free_values(e);
		memset(e, 0, entry_size);
		e->name = name;
	}
	e->last_used = s->placements;
	return e;
}

static void census_free_values(void *entry)
{
	free(((struct census *)entry)->values);
}

/* The values of attribute name among the cluster's ACTIVE nodes. */
static struct census *census_get(struct scheduler *s, struct sched_cluster *cl, uint32_t name)
{
	struct census *c = attr_cache_get(s, cl->censuses, sizeof(*c), &cl->census_count, name,
					  census_free_values);
	size_t n = 0;

	if (c->values && c->cache.epoch == s->attr_epoch)
		return c;
	free(c->values);
	c->values = malloc((cl->active_count + 1) * sizeof(*c->values));
	if (!c->values) {
		c->count = 0;
		return NULL;
	}
	for (size_t i = 0; i < cl->active_count; i++)
		c->values[i] = node_attr(cl->active[i], name);
	qsort(c->values, cl->active_count, sizeof(*c->values), u32_cmp);
	for (size_t i = 0; i < cl->active_count; i++)
		if (n == 0 || c->values[n - 1] != c->values[i])
			c->values[n++] = c->values[i];
	c->count = n;
	c->cache.epoch = s->attr_epoch;
	return c;
}

static void tracked_recount_walk(struct scheduler *s, struct tracked_attr *t, struct tnode *root)
{
	if (!root)
		return;
	tracked_recount_walk(s, t, root->left);
	{
		struct group_entry *e = container_of(root, struct group_entry, by_count);
		struct value_count *vc = sched_tracked_slot(t, node_attr(e->node, t->cache.name), true);

		if (vc)
			vc->count += e->count;
		else
			t->cache.epoch = 0;
	}
	tracked_recount_walk(s, t, root->right);
}

static void tracked_free_values(void *entry)
{
	free(((struct tracked_attr *)entry)->values);
}

/* Task counts of group g by value of attribute name, counted once then kept. */
static struct tracked_attr *tracked_get(struct scheduler *s, struct sched_group *g, uint32_t name)
{
	struct tracked_attr *t;

	if (!g)
		return NULL;
	t = attr_cache_get(s, g->tracked, sizeof(*t), &g->tracked_count, name,
			   tracked_free_values);
	if (t->cache.epoch != s->attr_epoch) {
		t->count = 0;
		t->cache.epoch = s->attr_epoch;
		tracked_recount_walk(s, t, g->root);
	}
	return t;
}

struct level_value {
	uint32_t count;
	uint32_t value;
};

static int level_cmp(const void *a, const void *b)
{
	const struct level_value *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	return x->value < y->value ? -1 : x->value > y->value;
}

static struct sched_node *search_spread_attribute(struct sched_search *p, size_t i)
{
	struct strategy *st = &p->c->strategies[i];
	struct census *census = census_get(p->s, p->cl, st->name_id);
	cleanup_free struct level_value *levels = NULL;
	cleanup_free uint32_t *set = NULL;
	struct sched_node *found = NULL;
	size_t n;

	if (!census || census->count == 0)
		return NULL;
	n = census->count;
	levels = malloc(n * sizeof(*levels));
	set = malloc(n * sizeof(*set));
	if (!levels || !set)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		levels[k].value = census->values[k];
		levels[k].count = tracked_count_of(st->tracked, census->values[k]);
	}
	qsort(levels, n, sizeof(*levels), level_cmp);
	/* Values with the fewest tasks first; equal counts form one level. */
	for (size_t k = 0; k < n && !found;) {
		size_t end = k, m = 0;

		while (end < n && levels[end].count == levels[k].count)
			set[m++] = levels[end++].value;
		qsort(set, m, sizeof(*set), u32_cmp);
		p->filters[p->filter_count].name = st->name_id;
		p->filters[p->filter_count].values = set;
		p->filters[p->filter_count].count = m;
		p->filter_count++;
		found = search(p, i + 1);
		p->filter_count--;
		k = end;
	}
	return found;
}

static struct sched_node *search_random(struct sched_search *p)
{
	struct sched_cluster *cl = p->cl;
	struct scheduler *s = p->s;

	if (cl->active_count == 0)
		return NULL;
	/* Rejection sampling is uniform over the nodes that fit. */
	for (int k = 0; k < SCHED_RANDOM_TRIES; k++) {
		struct sched_node *n = cl->active[rng_next(s) % cl->active_count];

		if (fits(p, n))
			return n;
	}
	for (size_t k = 0; k < cl->active_count; k++)
		if (fits(p, cl->active[k]) && tie_push(s, cl->active[k]) < 0)
			break;
	if (s->tie_count == 0)
		return NULL;
	{
		struct sched_node *n = s->ties[rng_next(s) % s->tie_count];

		s->tie_count = 0;
		return n;
	}
}

/* The best node that fits under strategies[i..] and the current level filters. */
static struct sched_node *search(struct sched_search *p, size_t i)
{
	if (i == p->c->strategy_count) {
		for (size_t k = 0; k < p->cl->active_count; k++)
			if (fits(p, p->cl->active[k]))
				return p->cl->active[k];
		return NULL;
	}
	switch (p->c->strategies[i].kind) {
	case STRATEGY_BINPACK_CPU:
		return search_binpack(p, i, true);
	case STRATEGY_BINPACK_MEMORY:
		return search_binpack(p, i, false);
	case STRATEGY_SPREAD_INSTANCE:
		return search_spread_instance(p, i);
	case STRATEGY_SPREAD_ATTRIBUTE:
		return search_spread_attribute(p, i);
	case STRATEGY_RANDOM:
		return search_random(p);
	case STRATEGY_FEWEST_TASKS:
		/* Only ever after spread, which resolves its ties with it. */
		for (size_t k = 0; k < p->cl->active_count; k++)
			if (fits(p, p->cl->active[k]) && tie_push(p->s, p->cl->active[k]) < 0)
				break;
		return p->s->tie_count ? resolve_ties(p, i) : NULL;
	}
	return NULL;
}

int scheduler_place(struct scheduler *s, const char *task_id_, const struct sched_request *req,
		    char *node_id_out, size_t node_id_size, char *reason_out,
		    size_t reason_size, orch_error *err)
{
	struct compiled_request c;
	struct sched_search p = { .s = s, .req = req, .c = &c };
	struct sched_node *n;
	struct sched_task *t;
	int rc = 1;

	if (!task_id_ || !*task_id_)
		return orch_fail(err, ORCH_ERR_INVALID, "task ID: required");
	if (sched_request_compile(req, &c, err) < 0)
		return -1;
	t = sched_task_find(s, task_id_);
	if (t) {
		sched_request_release(&c);
		return orch_fail(err, ORCH_ERR_CONFLICT, "task '%s' is already placed on node '%s'",
				 task_id_, t->node->id);
	}
	if (reason_size)
		reason_out[0] = '\0';
	p.cl = sched_cluster_find(s, req->cluster);
	if (!p.cl || p.cl->node_count == 0) {
		snprintf(reason_out, reason_size, "no node is registered in cluster '%s'",
			 req->cluster);
		sched_request_release(&c);
		return 1;
	}
	s->placements++;
	p.distinct_group = sched_group_find(s, p.cl, req->group ? req->group : "");
	p.spread_group = req->group && *req->group ? p.distinct_group : p.cl->all;
	for (size_t i = 0; i < c.expr_count; i++) {
		if (expr_resolve(&p, c.exprs[i]) < 0) {
			sched_request_release(&c);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
	}
	for (size_t i = 0; i < c.strategy_count; i++) {
		struct strategy *st = &c.strategies[i];

		if (st->kind != STRATEGY_SPREAD_ATTRIBUTE)
			continue;
		st->name_id = sched_intern_find(s, st->attribute);
		st->tracked = tracked_get(s, p.spread_group, st->name_id);
	}
	s->tie_count = 0;
	if (req->node_id) {
		n = sched_node_find(s, req->node_id);
		if (!n || n->cluster != p.cl || !fits(&p, n)) {
			snprintf(reason_out, reason_size,
				 "node '%s' is not ACTIVE in cluster '%s' or lacks the CPU, memory or"
				 " ports the task needs, or fails its constraints", req->node_id,
				 req->cluster);
			n = NULL;
		}
	} else {
		n = search(&p, 0);
		if (!n)
			sched_explain(&p, reason_out, reason_size);
	}
	if (!n) {
	} else if (sched_task_bind(s, task_id_, n, req, err) < 0) {
		rc = -1;
	} else {
		snprintf(node_id_out, node_id_size, "%s", n->id);
		rc = 0;
	}
	sched_request_release(&c);
	return rc;
}

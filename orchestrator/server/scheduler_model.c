/*
 * scheduler_model.c - the scheduler's picture of the cluster: nodes and
 * their attributes, clusters with their ACTIVE nodes in binpack order,
 * groups with their per-node task counts, and the tasks bound to nodes;
 * scheduler_new/free and every change to the picture (see
 * scheduler_internal.h for the layout).
 */
#include "scheduler_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"

static const char *task_id(const struct sched_task *t)
{
	return (const char *)(t->ports + t->port_count);
}

void scheduler_seed(struct scheduler *s, uint64_t seed)
{
	s->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

/*
 * The maps' keys: a node's ID, a task's ID (after its ports), a cluster's
 * name, an interned string's text (after its uint32_t ID).
 */
static bool node_key_eq(const void *value, const void *key)
{
	return strcmp(((const struct sched_node *)value)->id, key) == 0;
}

static bool task_key_eq(const void *value, const void *key)
{
	return strcmp(task_id(value), key) == 0;
}

static bool cluster_key_eq(const void *value, const void *key)
{
	return strcmp(((const struct sched_cluster *)value)->name, key) == 0;
}

static bool interned_eq(const void *value, const void *key)
{
	return strcmp((const char *)value + sizeof(uint32_t), key) == 0;
}

static const struct hash_map_type node_by_id = { hash_map_string_key_hash, node_key_eq };
static const struct hash_map_type task_by_id = { hash_map_string_key_hash, task_key_eq };
static const struct hash_map_type cluster_by_name = { hash_map_string_key_hash, cluster_key_eq };
static const struct hash_map_type interned_by_text = { hash_map_string_key_hash, interned_eq };

uint32_t sched_intern_find(const struct scheduler *s, const char *str)
{
	const char *e = hash_map_find(&s->interned, str);
	uint32_t id;

	if (!e)
		return 0;
	memcpy(&id, e, sizeof(id));
	return id;
}

static uint32_t intern_add(struct scheduler *s, const char *str)
{
	uint32_t id = sched_intern_find(s, str);
	size_t len;
	char *e;

	if (id)
		return id;
	if (s->string_count == s->string_cap) {
		uint32_t cap = s->string_cap ? s->string_cap * 2 : 64;
		char **strings = realloc(s->strings, cap * sizeof(*strings));

		if (!strings)
			return 0;
		s->strings = strings;
		s->string_cap = cap;
	}
	len = strlen(str);
	e = malloc(sizeof(uint32_t) + len + 1);
	if (!e)
		return 0;
	id = s->string_count;
	memcpy(e, &id, sizeof(id));
	memcpy(e + sizeof(uint32_t), str, len + 1);
	if (hash_map_insert(&s->interned, str, e) < 0) {
		free(e);
		return 0;
	}
	s->strings[s->string_count++] = e;
	return id;
}

const char *sched_intern_str(const struct scheduler *s, uint32_t id)
{
	return s->strings[id] + sizeof(uint32_t);
}

static int cmp_by_cpu(const struct tnode *a, const struct tnode *b)
{
	const struct sched_node *x = container_of(a, struct sched_node, by_cpu);
	const struct sched_node *y = container_of(b, struct sched_node, by_cpu);

	if (free_cpu(x) != free_cpu(y))
		return free_cpu(x) < free_cpu(y) ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int cmp_by_memory(const struct tnode *a, const struct tnode *b)
{
	const struct sched_node *x = container_of(a, struct sched_node, by_memory);
	const struct sched_node *y = container_of(b, struct sched_node, by_memory);

	if (free_memory(x) != free_memory(y))
		return free_memory(x) < free_memory(y) ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int64_t other_of_cpu_node(const struct tnode *t);
static int64_t other_of_memory_node(const struct tnode *t);
static int cmp_by_count(const struct tnode *a, const struct tnode *b);

/* The CPU treap aggregates free memory and the memory treap free CPU. */
const struct treap_ops sched_by_cpu_ops = { cmp_by_cpu, other_of_cpu_node };
const struct treap_ops sched_by_memory_ops = { cmp_by_memory, other_of_memory_node };
const struct treap_ops sched_by_count_ops = { cmp_by_count, NULL };

static int64_t other_of_cpu_node(const struct tnode *t)
{
	return free_memory(container_of(t, struct sched_node, by_cpu));
}

static int64_t other_of_memory_node(const struct tnode *t)
{
	return free_cpu(container_of(t, struct sched_node, by_memory));
}

static int cmp_by_count(const struct tnode *a, const struct tnode *b)
{
	const struct group_entry *x = container_of(a, struct group_entry, by_count);
	const struct group_entry *y = container_of(b, struct group_entry, by_count);

	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	return strcmp(x->node->id, y->node->id);
}

/* ---- clusters and groups ------------------------------------------------------ */

struct group_key {
	const struct sched_cluster *cluster;
	const char *name;
};

static uint64_t group_key_hash(const void *key)
{
	const struct group_key *k = key;

	return hash_map_hash_string(k->name) ^ hash_map_hash_u64((uintptr_t)k->cluster);
}

static bool group_key_eq(const void *value, const void *key)
{
	const struct sched_group *g = value;
	const struct group_key *k = key;

	return g->cluster == k->cluster && strcmp(g->name, k->name) == 0;
}

static const struct hash_map_type group_by_key = { group_key_hash, group_key_eq };

struct sched_group *sched_group_find(struct scheduler *s, struct sched_cluster *cl,
				     const char *name)
{
	struct group_key key = { cl, name };

	return hash_map_find(&s->groups, &key);
}

static struct sched_group *group_new(struct scheduler *s, struct sched_cluster *cl,
				     const char *name, bool is_all)
{
	struct sched_group *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->cluster = cl;
	g->is_all = is_all;
	g->id = ++s->next_group_id;
	g->name = strdup(name);
	if (!g->name ||
	    (!is_all && hash_map_insert(&s->groups, &(struct group_key){ cl, g->name }, g) < 0)) {
		free(g->name);
		free(g);
		return NULL;
	}
	return g;
}

static void group_free(struct sched_group *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->tracked_count; i++)
		free(g->tracked[i].values);
	free(g->bits);
	free(g->name);
	free(g);
}

struct entry_key {
	uint32_t group;
	uint32_t node;
};

static uint64_t entry_key_hash(const void *key)
{
	const struct entry_key *k = key;

	return hash_map_hash_u64((uint64_t)k->group << 32 | k->node);
}

static bool entry_key_eq(const void *value, const void *key)
{
	const struct group_entry *e = value;
	const struct entry_key *k = key;

	return e->group->id == k->group && e->node->idx == k->node;
}

static const struct hash_map_type entry_by_key = { entry_key_hash, entry_key_eq };

struct group_entry *sched_entry_find(struct scheduler *s, const struct sched_group *g,
				     const struct sched_node *n)
{
	struct entry_key key;

	if (!g || g->node_count == 0)
		return NULL;
	key.group = g->id;
	key.node = n->idx;
	return hash_map_find(&s->group_entries, &key);
}

uint32_t sched_group_count_on(struct scheduler *s, const struct sched_group *g,
			      const struct sched_node *n)
{
	const struct group_entry *e = g ? sched_entry_find(s, g, n) : NULL;

	return e ? e->count : 0;
}

struct value_count *sched_tracked_slot(struct tracked_attr *t, uint32_t value, bool create)
{
	size_t lo = 0, hi = t->count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->values[mid].value < value)
			lo = mid + 1;
		else if (t->values[mid].value > value)
			hi = mid;
		else
			return &t->values[mid];
	}
	if (!create)
		return NULL;
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct value_count *v = realloc(t->values, cap * sizeof(*v));

		if (!v)
			return NULL;
		t->values = v;
		t->cap = cap;
	}
	memmove(&t->values[lo + 1], &t->values[lo], (t->count - lo) * sizeof(t->values[0]));
	t->values[lo].value = value;
	t->values[lo].count = 0;
	t->count++;
	return &t->values[lo];
}

static void tracked_adjust(struct scheduler *s, struct sched_group *g,
			   const struct sched_node *n, int delta)
{
	for (size_t i = 0; i < g->tracked_count; i++) {
		struct tracked_attr *t = &g->tracked[i];
		struct value_count *vc;

		if (t->cache.epoch != s->attr_epoch)
			continue;
		vc = sched_tracked_slot(t, node_attr(n, t->cache.name), true);
		if (!vc) {
			t->cache.epoch = 0;	/* out of memory: recount next time */
			continue;
		}
		vc->count = (uint32_t)((int64_t)vc->count + delta);
	}
}

void sched_group_bit(struct sched_group *g, const struct sched_node *n, bool set)
{
	uint64_t mask;

	if (!g->bits || g->bits_version != g->cluster->active_version || !n->indexed)
		return;
	mask = 1ULL << (n->rank % 64);
	if (set)
		g->bits[n->rank / 64] |= mask;
	else
		g->bits[n->rank / 64] &= ~mask;
}

/* Counts one more (delta 1) or one fewer (-1) task of g on n. */
static int group_adjust(struct scheduler *s, struct sched_group *g, struct sched_node *n,
			int delta)
{
	struct group_entry *e = sched_entry_find(s, g, n);

	if (delta > 0) {
		if (!e) {
			e = calloc(1, sizeof(*e));
			if (!e)
				return -1;
			e->node = n;
			e->group = g;
			e->by_count.prio = (uint32_t)rng_next(s);
			if (hash_map_insert(&s->group_entries, &(struct entry_key){ g->id, n->idx }, e) < 0) {
				free(e);
				return -1;
			}
			g->node_count++;
			if (n->status == SCHED_NODE_ACTIVE)
				g->active_nodes++;
			sched_group_bit(g, n, true);
		} else {
			g->root = treap_remove(g->root, &e->by_count, &sched_by_count_ops);
		}
		e->count++;
		g->root = treap_insert(g->root, &e->by_count, &sched_by_count_ops);
		g->task_count++;
	} else {
		if (!e)
			return 0;
		g->root = treap_remove(g->root, &e->by_count, &sched_by_count_ops);
		e->count--;
		g->task_count--;
		if (e->count == 0) {
			struct entry_key key = { g->id, n->idx };

			hash_map_remove(&s->group_entries, &key);
			free(e);
			g->node_count--;
			if (n->status == SCHED_NODE_ACTIVE)
				g->active_nodes--;
			sched_group_bit(g, n, false);
		} else {
			g->root = treap_insert(g->root, &e->by_count, &sched_by_count_ops);
		}
	}
	tracked_adjust(s, g, n, delta);
	return 0;
}

struct sched_cluster *sched_cluster_find(struct scheduler *s, const char *name)
{
	return hash_map_find(&s->clusters, name);
}

static struct sched_cluster *cluster_get(struct scheduler *s, const char *name)
{
	struct sched_cluster *cl = sched_cluster_find(s, name);

	if (cl)
		return cl;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	cl->name = strdup(name);
	if (cl->name)
		cl->all = group_new(s, cl, "", true);
	if (!cl->name || !cl->all || hash_map_insert(&s->clusters, name, cl) < 0) {
		group_free(cl->all);
		free(cl->name);
		free(cl);
		return NULL;
	}
	return cl;
}

static void cluster_free(struct sched_cluster *cl)
{
	for (size_t i = 0; i < cl->census_count; i++)
		free(cl->censuses[i].values);
	group_free(cl->all);
	free(cl->active);
	free(cl->name);
	free(cl);
}

/* Index of the first ACTIVE node whose ID is not below id. */
static size_t active_lower_bound(const struct sched_cluster *cl, const char *id)
{
	size_t lo = 0, hi = cl->active_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(cl->active[mid]->id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * An indexed (ACTIVE) node is in its cluster's binpack treaps, ordered by
 * free CPU and by free memory: take it out before either changes and put
 * it back after.  No-ops for a node that is not indexed.
 */
static void binpack_link(struct sched_node *n)
{
	struct sched_cluster *cl = n->cluster;

	if (!n->indexed)
		return;
	cl->cpu_root = treap_insert(cl->cpu_root, &n->by_cpu, &sched_by_cpu_ops);
	cl->memory_root = treap_insert(cl->memory_root, &n->by_memory, &sched_by_memory_ops);
}

static void binpack_unlink(struct sched_node *n)
{
	struct sched_cluster *cl = n->cluster;

	if (!n->indexed)
		return;
	cl->cpu_root = treap_remove(cl->cpu_root, &n->by_cpu, &sched_by_cpu_ops);
	cl->memory_root = treap_remove(cl->memory_root, &n->by_memory, &sched_by_memory_ops);
}

static int cluster_index_node(struct scheduler *s, struct sched_node *n)
{
	struct sched_cluster *cl = n->cluster;
	size_t at;

	if (n->indexed)
		return 0;
	if (cl->active_count == cl->active_cap) {
		size_t cap = cl->active_cap ? cl->active_cap * 2 : 16;
		struct sched_node **a = realloc(cl->active, cap * sizeof(*a));

		if (!a)
			return -1;
		cl->active = a;
		cl->active_cap = cap;
	}
	at = active_lower_bound(cl, n->id);
	memmove(&cl->active[at + 1], &cl->active[at], (cl->active_count - at) * sizeof(*cl->active));
	cl->active[at] = n;
	cl->active_count++;
	cl->active_version++;
	for (size_t k = at; k < cl->active_count; k++)
		cl->active[k]->rank = (uint32_t)k;
	n->indexed = true;
	binpack_link(n);
	s->attr_epoch++;
	return 0;
}

static void cluster_unindex_node(struct scheduler *s, struct sched_node *n)
{
	struct sched_cluster *cl = n->cluster;
	size_t at;

	if (!n->indexed)
		return;
	at = active_lower_bound(cl, n->id);
	if (at < cl->active_count && cl->active[at] == n) {
		memmove(&cl->active[at], &cl->active[at + 1],
			(cl->active_count - at - 1) * sizeof(*cl->active));
		cl->active_count--;
		for (size_t k = at; k < cl->active_count; k++)
			cl->active[k]->rank = (uint32_t)k;
	}
	cl->active_version++;
	binpack_unlink(n);
	n->indexed = false;
	s->attr_epoch++;
}

/* Changes a node's usage, keeping it in order in the binpack treaps. */
static void node_use(struct sched_node *n, int64_t cpu, int64_t memory)
{
	binpack_unlink(n);
	n->cpu_used += cpu;
	n->memory_used += memory;
	binpack_link(n);
}

/* ---- lifecycle ------------------------------------------------------------------ */

struct scheduler *scheduler_new(void)
{
	struct scheduler *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	hash_map_init(&s->nodes_by_id, &node_by_id);
	hash_map_init(&s->clusters, &cluster_by_name);
	hash_map_init(&s->groups, &group_by_key);
	hash_map_init(&s->group_entries, &entry_by_key);
	hash_map_init(&s->tasks, &task_by_id);
	hash_map_init(&s->interned, &interned_by_text);
	scheduler_seed(s, (uint64_t)time(NULL) * 6364136223846793005ULL ^ (uint64_t)getpid());
	if (intern_add(s, "") != 0) {	/* ID 0: no value */
		free(s);
		return NULL;
	}
	return s;
}

static void node_free(struct sched_node *n)
{
	if (!n)
		return;
	free(n->id);
	free(n->attrs);
	free(n->ports);
	free(n);
}

void scheduler_free(struct scheduler *s)
{
	struct sched_group *g;
	struct sched_cluster *cl;

	if (!s)
		return;
	for (struct hash_map_iter it = HASH_MAP_ITER_INIT; (g = hash_map_next(&s->groups, &it));)
		group_free(g);
	for (struct hash_map_iter it = HASH_MAP_ITER_INIT; (cl = hash_map_next(&s->clusters, &it));)
		cluster_free(cl);
	for (size_t i = 0; i < s->node_slots; i++)
		node_free(s->nodes[i]);
	for (uint32_t i = 0; i < s->string_count; i++)
		free(s->strings[i]);
	hash_map_release(&s->tasks, free);
	hash_map_release(&s->group_entries, free);
	hash_map_release(&s->groups, NULL);
	hash_map_release(&s->clusters, NULL);
	hash_map_release(&s->nodes_by_id, NULL);
	hash_map_release(&s->interned, NULL);
	free(s->strings);
	free(s->nodes);
	free(s->ties);
	free(s);
}

/* ---- nodes ---------------------------------------------------------------------- */

static int attr_cmp(const void *a, const void *b)
{
	const struct node_attr *x = a, *y = b;

	return x->name < y->name ? -1 : x->name > y->name;
}

/* Interns a node's attributes into a sorted array. */
static int attrs_from_json(struct scheduler *s, const json_t *attributes,
			   struct node_attr **out, uint32_t *count, orch_error *err)
{
	const char *key;
	json_t *value;
	struct node_attr *a;
	size_t n = 0;

	*out = NULL;
	*count = 0;
	if (!attributes || json_is_null(attributes))
		return 0;
	if (!json_is_object(attributes))
		return orch_fail(err, ORCH_ERR_INVALID, "attributes: must be an object");
	a = calloc(json_object_size(attributes) + 1, sizeof(*a));
	if (!a)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	json_object_foreach((json_t *)attributes, key, value) {
		char buf[64];
		const char *text, *name = sexpr_attribute_alias(key);

		if (json_is_string(value))
			text = json_string_value(value);
		else if (json_is_integer(value))
			text = (snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(value)), buf);
		else if (json_is_boolean(value))
			text = json_is_true(value) ? "true" : "false";
		else {
			free(a);
			return orch_fail(err, ORCH_ERR_INVALID, "attributes.%s: must be a string", key);
		}
		if (!*key) {
			free(a);
			return orch_fail(err, ORCH_ERR_INVALID, "attributes: empty attribute name");
		}
		a[n].name = intern_add(s, name);
		a[n].value = intern_add(s, sexpr_value_alias(name, text));
		if (!a[n].name || !a[n].value) {
			free(a);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		n++;
	}
	qsort(a, n, sizeof(*a), attr_cmp);
	/* An ECS alias and our name both given: keep one (the later wins arbitrarily). */
	for (size_t i = 1; i < n;) {
		if (a[i].name == a[i - 1].name) {
			memmove(&a[i - 1], &a[i], (n - i) * sizeof(*a));
			n--;
		} else {
			i++;
		}
	}
	*out = a;
	*count = (uint32_t)n;
	return 0;
}

struct sched_node *sched_node_find(struct scheduler *s, const char *id)
{
	return hash_map_find(&s->nodes_by_id, id);
}

/* A status change moves the node in and out of its groups' ACTIVE counts. */
static void groups_status_changed(struct scheduler *s, struct sched_node *n, bool now_active)
{
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct sched_group *g;

	if (n->task_count == 0)
		return;
	while ((g = hash_map_next(&s->groups, &it))) {
		if (g->cluster == n->cluster && sched_entry_find(s, g, n))
			g->active_nodes += now_active ? 1 : -1;
	}
	if (sched_entry_find(s, n->cluster->all, n))
		n->cluster->all->active_nodes += now_active ? 1 : -1;
}

int scheduler_node_upsert(struct scheduler *s, const struct sched_node_info *info,
			  orch_error *err)
{
	struct sched_node *n;
	struct sched_cluster *cl;
	cleanup_free struct node_attr *attrs = NULL;
	uint32_t attr_count;
	bool was_active, now_active;

	if (!info->node_id || !*info->node_id)
		return orch_fail(err, ORCH_ERR_INVALID, "node ID: required");
	if (strlen(info->node_id) >= SCHED_NODE_ID_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "node ID '%s': longer than %d characters",
				 info->node_id, SCHED_NODE_ID_MAX - 1);
	if (!info->cluster || !*info->cluster)
		return orch_fail(err, ORCH_ERR_INVALID, "node '%s': cluster required", info->node_id);
	if (info->cpu < 0 || info->memory < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "node '%s': negative resources",
				 info->node_id);
	if (attrs_from_json(s, info->attributes, &attrs, &attr_count, err) < 0)
		return orch_error_prefix(err, "node '%s'", info->node_id);
	cl = cluster_get(s, info->cluster);
	if (!cl)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");

	n = sched_node_find(s, info->node_id);
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n || !(n->id = strdup(info->node_id))) {
			free(n);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		n->idx = UINT32_MAX;
		for (size_t i = 0; i < s->node_slots; i++) {
			if (!s->nodes[i]) {
				n->idx = (uint32_t)i;
				break;
			}
		}
		if (n->idx == UINT32_MAX) {
			if (s->node_slots == s->node_slot_cap) {
				size_t cap = s->node_slot_cap ? s->node_slot_cap * 2 : 64;
				struct sched_node **a = realloc(s->nodes, cap * sizeof(*a));

				if (!a) {
					node_free(n);
					return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
				}
				s->nodes = a;
				s->node_slot_cap = cap;
			}
			n->idx = (uint32_t)s->node_slots++;
		}
		if (hash_map_insert(&s->nodes_by_id, n->id, n) < 0) {
			if (n->idx == s->node_slots - 1)
				s->node_slots--;
			node_free(n);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		s->nodes[n->idx] = n;
		n->by_cpu.prio = (uint32_t)rng_next(s);
		n->by_memory.prio = (uint32_t)rng_next(s);
		n->status = SCHED_NODE_LOST;	/* not indexed yet */
		n->cluster = cl;
		cl->node_count++;
	}
	if (n->cluster != cl) {
		if (n->task_count > 0)
			return orch_fail(err, ORCH_ERR_CONFLICT,
					 "node '%s' runs %u tasks in cluster '%s'; it cannot move to '%s'",
					 n->id, n->task_count, n->cluster->name, cl->name);
		cluster_unindex_node(s, n);
		n->cluster->node_count--;
		n->cluster = cl;
		cl->node_count++;
	}
	if (attr_count != n->attr_count ||
	    (attr_count && memcmp(attrs, n->attrs, attr_count * sizeof(*attrs)) != 0)) {
		free(n->attrs);
		n->attrs = take_ptr(&attrs);
		n->attr_count = attr_count;
		s->attr_epoch++;
	}
	if (n->cpu != info->cpu || n->memory != info->memory) {
		binpack_unlink(n);
		n->cpu = info->cpu;
		n->memory = info->memory;
		binpack_link(n);
	}
	was_active = n->status == SCHED_NODE_ACTIVE;
	now_active = info->status == SCHED_NODE_ACTIVE;
	n->status = info->status;
	if (now_active) {
		if (cluster_index_node(s, n) < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	} else {
		cluster_unindex_node(s, n);
	}
	if (was_active != now_active)
		groups_status_changed(s, n, now_active);
	return 0;
}

static void task_unbind(struct scheduler *s, struct sched_task *t);

void scheduler_node_remove(struct scheduler *s, const char *node_id)
{
	struct sched_node *n = sched_node_find(s, node_id);

	if (!n)
		return;
	if (n->task_count > 0) {
		/* Forget its tasks: a removed node holds nothing. */
		struct hash_map_iter it = HASH_MAP_ITER_INIT;
		struct sched_task *t;

		while ((t = hash_map_next(&s->tasks, &it)))
			if (t->node == n)
				task_unbind(s, t);	/* removes t from tasks: safe here */
	}
	if (n->status == SCHED_NODE_ACTIVE)
		groups_status_changed(s, n, false);
	cluster_unindex_node(s, n);
	n->cluster->node_count--;
	hash_map_remove(&s->nodes_by_id, n->id);
	s->nodes[n->idx] = NULL;
	s->attr_epoch++;
	node_free(n);
}

int scheduler_node_remaining(struct scheduler *s, const char *node_id, int64_t *cpu,
			     int64_t *memory, orch_error *err)
{
	struct sched_node *n = sched_node_find(s, node_id);

	if (!n)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "node '%s' not found", node_id);
	*cpu = free_cpu(n);
	*memory = free_memory(n);
	return 0;
}

/* ---- tasks -------------------------------------------------------------------- */

struct sched_task *sched_task_find(struct scheduler *s, const char *id)
{
	return hash_map_find(&s->tasks, id);
}

static void task_unbind(struct scheduler *s, struct sched_task *t)
{
	struct sched_node *n = t->node;

	hash_map_remove(&s->tasks, task_id(t));
	node_use(n, -t->cpu, -t->memory);
	for (uint32_t i = 0; i < t->port_count; i++) {
		for (uint32_t j = 0; j < n->port_count; j++) {
			if (n->ports[j] == t->ports[i]) {
				n->ports[j] = n->ports[--n->port_count];
				break;
			}
		}
	}
	group_adjust(s, t->group, n, -1);
	group_adjust(s, n->cluster->all, n, -1);
	n->task_count--;
	if (t->group->task_count == 0) {
		struct group_key key = { t->group->cluster, t->group->name };

		hash_map_remove(&s->groups, &key);
		group_free(t->group);
	}
	free(t);
}

void scheduler_task_release(struct scheduler *s, const char *task_id_)
{
	struct sched_task *t = sched_task_find(s, task_id_);

	if (t)
		task_unbind(s, t);
}

int sched_task_bind(struct scheduler *s, const char *id, struct sched_node *n,
		    const struct sched_request *req, orch_error *err)
{
	const char *group_name = req->group ? req->group : "";
	struct sched_group *g = sched_group_find(s, n->cluster, group_name);
	size_t id_len = strlen(id);
	struct sched_task *t;

	if (n->port_count + req->port_count > n->port_cap) {
		uint32_t cap = n->port_cap ? n->port_cap : 4;
		uint32_t *p;

		while (cap < n->port_count + req->port_count)
			cap *= 2;
		p = realloc(n->ports, cap * sizeof(*p));
		if (!p)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		n->ports = p;
		n->port_cap = cap;
	}
	t = malloc(sizeof(*t) + req->port_count * sizeof(uint32_t) + id_len + 1);
	if (!t)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (!g && !(g = group_new(s, n->cluster, group_name, false))) {
		free(t);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	t->node = n;
	t->group = g;
	t->cpu = req->cpu;
	t->memory = req->memory;
	t->port_count = (uint32_t)req->port_count;
	for (size_t i = 0; i < req->port_count; i++)
		t->ports[i] = port_key(&req->ports[i]);
	memcpy((char *)(t->ports + t->port_count), id, id_len + 1);
	if (hash_map_insert(&s->tasks, id, t) < 0)
		goto oom;
	/* the group maps' entries: undo on failure leaves counts as they were */
	if (group_adjust(s, g, n, 1) < 0) {
		hash_map_remove(&s->tasks, id);
		goto oom;
	}
	if (group_adjust(s, n->cluster->all, n, 1) < 0) {
		group_adjust(s, g, n, -1);
		hash_map_remove(&s->tasks, id);
		goto oom;
	}
	for (size_t i = 0; i < req->port_count; i++)
		n->ports[n->port_count++] = t->ports[i];
	node_use(n, req->cpu, req->memory);
	n->task_count++;
	return 0;
oom:
	if (g->task_count == 0) {
		struct group_key key = { g->cluster, g->name };

		hash_map_remove(&s->groups, &key);
		group_free(g);
	}
	free(t);
	return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
}

int scheduler_task_bind(struct scheduler *s, const char *task_id_, const char *node_id,
			const struct sched_request *req, orch_error *err)
{
	struct sched_node *n;
	struct sched_task *t;

	if (!task_id_ || !*task_id_)
		return orch_fail(err, ORCH_ERR_INVALID, "task ID: required");
	if (sched_check_resources(req, err) < 0)
		return -1;
	n = sched_node_find(s, node_id);
	if (!n)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "node '%s' not found", node_id);
	t = sched_task_find(s, task_id_);
	if (t)
		return orch_fail(err, ORCH_ERR_CONFLICT, "task '%s' is already bound to node '%s'",
				 task_id_, t->node->id);
	/* The store is the truth: a bind from it is recorded even if it over-commits. */
	return sched_task_bind(s, task_id_, n, req, err);
}

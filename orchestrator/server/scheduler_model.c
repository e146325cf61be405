/*
 * scheduler.c - task placement (see scheduler.h for the contract).
 *
 * Data layout, chosen so that placing one task among thousands of nodes
 * touches a handful of them, not all:
 *
 *   nodes      hash map by ID; each node has its registered and used CPU and
 *              memory, its attributes as interned (name, value) ID pairs, and
 *              the host ports its tasks hold.
 *   clusters   per cluster: its ACTIVE nodes sorted by node ID, and two
 *              treaps of those nodes ordered by (free CPU, ID) and (free
 *              memory, ID) for binpack.
 *   groups     per (cluster, group): a hash map entry per node that runs
 *              tasks of the group, with the count, in a treap ordered by
 *              (count, node ID) for spread by instanceId; per-attribute value
 *              counts for spread by attribute, kept up to date once asked for.
 *              Each cluster also has a group of all its tasks, the fallback of
 *              spread when a request names no group.
 *   tasks      hash map by task ID: node, group, CPU, memory, ports (~48
 *              bytes and the ID).
 *
 * Placement: the first strategy picks the order in which candidates are
 * visited (binpack walks a resource treap upwards from the request's size;
 * spread by instanceId visits nodes without tasks of the group, then the
 * group's treap; spread by attribute visits the attribute's values by
 * increasing task count; random samples), each candidate is checked against
 * the filters, and the first that passes wins.  Ties under the first
 * strategy are collected and ordered by the next strategies, then by node ID
 * (random has no ties).  When nothing fits, a slower pass over the cluster's
 * nodes finds which filter eliminated the last candidates and says so with
 * numbers.
 *
 * Choices where ECS is silent or orch differs (see also scheduler_expr.h):
 *   - No strategy (absent or []) means spread by instanceId; "host" is an
 *     alias of instanceId.  random's field is ignored, as ECS does.
 *   - spread counts tasks of the request's group; a request without a group
 *     counts all tasks of the cluster.  distinctInstance without a group
 *     applies among the tasks that have no group.
 *   - spread by attribute: nodes without the attribute form one more value.
 *   - Binds from the store (scheduler_task_bind) are recorded even when they
 *     over-commit: the store is the truth; remaining resources then go
 *     negative and nothing more is placed there.
 *   - Node IDs are at most 63 bytes (node_id_out holds 64).  A node that
 *     runs tasks cannot move to another cluster (CONFLICT).  Removing a node
 *     forgets its tasks.
 *   - Not thread-safe: the control thread owns it (scheduler.h).
 */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/hash_map.h"
#include "common/log.h"
#include "scheduler_expr.h"

#define SCHED_MAX_CONSTRAINTS 10	/* ECS: at most 10 constraints per task */
#define SCHED_MAX_STRATEGIES 5		/* ECS: at most 5 strategy rules per task */
#define SCHED_NODE_ID_MAX 64		/* node_id_out must hold this many bytes */
#define SCHED_TRACKED_MAX 8		/* spread attributes remembered per group */
#define SCHED_RANDOM_TRIES 32		/* random samples before listing candidates */
#define SCHED_BITMAP_MIN_NODES 64	/* smaller groups are scanned for directly */
#define SCHED_TREAP_DEPTH_MAX 160	/* iterator stack; a treap of 10^7 nodes stays far below */

/* ---- treap ------------------------------------------------------------------ */

/*
 * A treap node.  agg is the largest "other" value in the subtree (the
 * resource a binpack walk does not order by), so a walk can skip subtrees
 * where no node has enough of it.
 */
struct tnode {
	struct tnode *left, *right;
	uint32_t prio;
	int64_t agg;
};

struct treap_ops {
	int (*cmp)(const struct tnode *a, const struct tnode *b);
	int64_t (*other)(const struct tnode *n);	/* NULL: no aggregate */
};

static void treap_update(struct tnode *n, const struct treap_ops *ops)
{
	int64_t m;

	if (!ops->other)
		return;
	m = ops->other(n);
	if (n->left && n->left->agg > m)
		m = n->left->agg;
	if (n->right && n->right->agg > m)
		m = n->right->agg;
	n->agg = m;
}

static struct tnode *treap_insert(struct tnode *root, struct tnode *n,
				  const struct treap_ops *ops)
{
	struct tnode *child;

	if (!root) {
		n->left = n->right = NULL;
		treap_update(n, ops);
		return n;
	}
	if (ops->cmp(n, root) < 0) {
		root->left = treap_insert(root->left, n, ops);
		child = root->left;
		if (child->prio > root->prio) {
			root->left = child->right;
			child->right = root;
			treap_update(root, ops);
			treap_update(child, ops);
			return child;
		}
	} else {
		root->right = treap_insert(root->right, n, ops);
		child = root->right;
		if (child->prio > root->prio) {
			root->right = child->left;
			child->left = root;
			treap_update(root, ops);
			treap_update(child, ops);
			return child;
		}
	}
	treap_update(root, ops);
	return root;
}

static struct tnode *treap_merge(struct tnode *a, struct tnode *b, const struct treap_ops *ops)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->prio > b->prio) {
		a->right = treap_merge(a->right, b, ops);
		treap_update(a, ops);
		return a;
	}
	b->left = treap_merge(a, b->left, ops);
	treap_update(b, ops);
	return b;
}

/* Removes n, found by its key (which must not have changed since insertion). */
static struct tnode *treap_remove(struct tnode *root, struct tnode *n,
				  const struct treap_ops *ops)
{
	if (!root)
		return NULL;
	if (root == n)
		return treap_merge(root->left, root->right, ops);
	if (ops->cmp(n, root) < 0)
		root->left = treap_remove(root->left, n, ops);
	else
		root->right = treap_remove(root->right, n, ops);
	treap_update(root, ops);
	return root;
}

/*
 * In-order walk from a lower bound, skipping nodes (and whole subtrees)
 * whose "other" value is below need.
 */
struct titer {
	struct tnode *stack[SCHED_TREAP_DEPTH_MAX];
	int top;
	const struct treap_ops *ops;
	int64_t need;
};

static void titer_push(struct titer *it, struct tnode *n)
{
	if (it->top < SCHED_TREAP_DEPTH_MAX)
		it->stack[it->top++] = n;
	else
		log_error("scheduler: treap deeper than %d", SCHED_TREAP_DEPTH_MAX);
}

static bool subtree_ok(const struct titer *it, const struct tnode *t)
{
	return t && (!it->ops->other || t->agg >= it->need);
}

/*
 * Positions it before the first node for which at_or_after() is true (a
 * predicate monotone in the treap's order).
 */
static void titer_seek(struct titer *it, struct tnode *root, const struct treap_ops *ops,
		       int64_t need, bool (*at_or_after)(const struct tnode *, int64_t),
		       int64_t bound)
{
	it->top = 0;
	it->ops = ops;
	it->need = need;
	if (!subtree_ok(it, root))
		return;
	while (root) {
		if (at_or_after(root, bound)) {
			titer_push(it, root);
			root = subtree_ok(it, root->left) ? root->left : NULL;
		} else {
			root = subtree_ok(it, root->right) ? root->right : NULL;
		}
	}
}

static struct tnode *titer_next(struct titer *it)
{
	while (it->top > 0) {
		struct tnode *n = it->stack[--it->top], *m;

		for (m = n->right; subtree_ok(it, m); m = subtree_ok(it, m->left) ? m->left : NULL)
			titer_push(it, m);
		if (!it->ops->other || it->ops->other(n) >= it->need)
			return n;
	}
	return NULL;
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- the model ---------------------------------------------------------------- */

struct node_attr {
	uint32_t name;		/* interned IDs */
	uint32_t value;
};

struct sched_cluster;

struct sched_node {
	struct tnode by_cpu, by_memory;	/* in the cluster's treaps while ACTIVE */
	char *id;
	struct sched_cluster *cluster;
	enum sched_node_status status;
	bool indexed;			/* in the cluster's ACTIVE structures */
	uint32_t idx;			/* slot in scheduler.nodes */
	uint32_t rank;			/* position in cluster->active while indexed */
	int64_t cpu, memory;		/* registered */
	int64_t cpu_used, memory_used;
	uint32_t task_count;
	uint32_t attr_count;
	struct node_attr *attrs;	/* sorted by name ID */
	uint32_t port_count, port_cap;
	uint32_t *ports;		/* port << 1 | udp; a multiset */
};

struct value_count {
	uint32_t value;
	uint32_t count;
};

/* Task counts of one group by the value of one attribute of their nodes. */
struct tracked_attr {
	uint32_t name;
	uint64_t epoch;			/* scheduler.attr_epoch it was counted at */
	uint64_t last_used;
	size_t count, cap;
	struct value_count *values;	/* sorted by value ID */
};

struct sched_group {
	struct sched_cluster *cluster;
	char *name;
	uint32_t id;
	bool is_all;			/* the cluster's group of all tasks */
	struct tnode *root;		/* group_entry.by_count */
	uint32_t node_count;		/* nodes running tasks of the group */
	uint32_t active_nodes;		/* ... of which ACTIVE */
	uint64_t task_count;
	/*
	 * Bit k set: cluster->active[k] runs tasks of the group.  Kept for
	 * groups on SCHED_BITMAP_MIN_NODES nodes or more, so spread finds the
	 * nodes without the group's tasks with word operations.
	 */
	uint64_t *bits;
	size_t bit_words;
	uint64_t bits_version;		/* cluster->active_version it matches */
	size_t tracked_count;
	struct tracked_attr tracked[SCHED_TRACKED_MAX];
};

struct group_entry {
	struct tnode by_count;
	struct sched_node *node;
	struct sched_group *group;
	uint32_t count;
};

/* Values of one attribute among a cluster's ACTIVE nodes. */
struct census {
	uint32_t name;
	uint64_t epoch;
	uint64_t last_used;
	size_t count;
	uint32_t *values;		/* sorted; 0 = nodes without the attribute */
};

struct sched_cluster {
	char *name;
	size_t node_count;		/* every status */
	struct sched_node **active;	/* ACTIVE nodes sorted by ID */
	size_t active_count, active_cap;
	uint64_t active_version;
	struct tnode *cpu_root, *memory_root;
	struct sched_group *all;
	size_t census_count;
	struct census censuses[SCHED_TRACKED_MAX];
};

struct sched_task {
	struct sched_node *node;
	struct sched_group *group;
	int64_t cpu, memory;
	uint32_t port_count;
	uint32_t ports[];		/* then the NUL-terminated ID */
};

static const char *task_id(const struct sched_task *t)
{
	return (const char *)(t->ports + t->port_count);
}

struct scheduler {
	struct hash_map nodes_by_id;
	struct sched_node **nodes;	/* by idx; NULL: free slot */
	size_t node_slots, node_slot_cap;
	struct hash_map clusters;
	struct hash_map groups;
	struct hash_map group_entries;
	struct hash_map tasks;
	uint32_t next_group_id;
	/* interned strings; ID 0 is "no value" */
	struct hash_map interned;
	char **strings;
	uint32_t string_count, string_cap;
	uint64_t attr_epoch;		/* bumped when attributes or ACTIVE sets change */
	uint64_t placements;
	uint64_t rng;
	/* candidates tied under a strategy */
	struct sched_node **ties;
	size_t tie_count, tie_cap;
};

/* ---- small helpers -------------------------------------------------------------- */

static uint64_t rng_next(struct scheduler *s)
{
	/* xorshift64* */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

void scheduler_seed(struct scheduler *s, uint64_t seed)
{
	s->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

static int64_t free_cpu(const struct sched_node *n)
{
	return n->cpu - n->cpu_used;
}

static int64_t free_memory(const struct sched_node *n)
{
	return n->memory - n->memory_used;
}

/* nodes, tasks and clusters start with their name; interned strings are the name */
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

static uint32_t intern_find(const struct scheduler *s, const char *str)
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
	uint32_t id = intern_find(s, str);
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

static const char *intern_str(const struct scheduler *s, uint32_t id)
{
	return s->strings[id] + sizeof(uint32_t);
}

static uint32_t node_attr(const struct sched_node *n, uint32_t name)
{
	uint32_t lo = 0, hi = n->attr_count;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (n->attrs[mid].name < name)
			lo = mid + 1;
		else if (n->attrs[mid].name > name)
			hi = mid;
		else
			return n->attrs[mid].value;
	}
	return 0;
}

static uint32_t port_key(const struct sched_port *p)
{
	return (uint32_t)p->port << 1 | (p->udp ? 1 : 0);
}

static bool node_has_port(const struct sched_node *n, uint32_t key)
{
	for (uint32_t i = 0; i < n->port_count; i++)
		if (n->ports[i] == key)
			return true;
	return false;
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
static const struct treap_ops by_cpu_ops = { cmp_by_cpu, other_of_cpu_node };
static const struct treap_ops by_memory_ops = { cmp_by_memory, other_of_memory_node };
static const struct treap_ops by_count_ops = { cmp_by_count, NULL };

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

static struct sched_group *group_find(struct scheduler *s, struct sched_cluster *cl,
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

static struct group_entry *entry_find(struct scheduler *s, const struct sched_group *g,
				      const struct sched_node *n)
{
	struct entry_key key;

	if (!g || g->node_count == 0)
		return NULL;
	key.group = g->id;
	key.node = n->idx;
	return hash_map_find(&s->group_entries, &key);
}

static uint32_t group_count_on(struct scheduler *s, const struct sched_group *g,
			       const struct sched_node *n)
{
	const struct group_entry *e = g ? entry_find(s, g, n) : NULL;

	return e ? e->count : 0;
}

static struct value_count *tracked_slot(struct tracked_attr *t, uint32_t value, bool create)
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

		if (t->epoch != s->attr_epoch)
			continue;
		vc = tracked_slot(t, node_attr(n, t->name), true);
		if (!vc) {
			t->epoch = 0;	/* out of memory: recount next time */
			continue;
		}
		vc->count = (uint32_t)((int64_t)vc->count + delta);
	}
}

static void group_bit(struct sched_group *g, const struct sched_node *n, bool set)
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
	struct group_entry *e = entry_find(s, g, n);

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
			group_bit(g, n, true);
		} else {
			g->root = treap_remove(g->root, &e->by_count, &by_count_ops);
		}
		e->count++;
		g->root = treap_insert(g->root, &e->by_count, &by_count_ops);
		g->task_count++;
	} else {
		if (!e)
			return 0;
		g->root = treap_remove(g->root, &e->by_count, &by_count_ops);
		e->count--;
		g->task_count--;
		if (e->count == 0) {
			struct entry_key key = { g->id, n->idx };

			hash_map_remove(&s->group_entries, &key);
			free(e);
			g->node_count--;
			if (n->status == SCHED_NODE_ACTIVE)
				g->active_nodes--;
			group_bit(g, n, false);
		} else {
			g->root = treap_insert(g->root, &e->by_count, &by_count_ops);
		}
	}
	tracked_adjust(s, g, n, delta);
	return 0;
}

static struct sched_cluster *cluster_find(struct scheduler *s, const char *name)
{
	return hash_map_find(&s->clusters, name);
}

static struct sched_cluster *cluster_get(struct scheduler *s, const char *name)
{
	struct sched_cluster *cl = cluster_find(s, name);

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
	cl->cpu_root = treap_insert(cl->cpu_root, &n->by_cpu, &by_cpu_ops);
	cl->memory_root = treap_insert(cl->memory_root, &n->by_memory, &by_memory_ops);
	n->indexed = true;
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
	cl->cpu_root = treap_remove(cl->cpu_root, &n->by_cpu, &by_cpu_ops);
	cl->memory_root = treap_remove(cl->memory_root, &n->by_memory, &by_memory_ops);
	n->indexed = false;
	s->attr_epoch++;
}

/* Changes a node's usage, keeping it in order in the binpack treaps. */
static void node_use(struct sched_node *n, int64_t cpu, int64_t memory)
{
	struct sched_cluster *cl = n->cluster;

	if (n->indexed) {
		cl->cpu_root = treap_remove(cl->cpu_root, &n->by_cpu, &by_cpu_ops);
		cl->memory_root = treap_remove(cl->memory_root, &n->by_memory, &by_memory_ops);
	}
	n->cpu_used += cpu;
	n->memory_used += memory;
	if (n->indexed) {
		cl->cpu_root = treap_insert(cl->cpu_root, &n->by_cpu, &by_cpu_ops);
		cl->memory_root = treap_insert(cl->memory_root, &n->by_memory, &by_memory_ops);
	}
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

static struct sched_node *node_find(struct scheduler *s, const char *id)
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
		if (g->cluster == n->cluster && entry_find(s, g, n))
			g->active_nodes += now_active ? 1 : -1;
	}
	if (entry_find(s, n->cluster->all, n))
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

	n = node_find(s, info->node_id);
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
		if (n->indexed) {
			cl->cpu_root = treap_remove(cl->cpu_root, &n->by_cpu, &by_cpu_ops);
			cl->memory_root = treap_remove(cl->memory_root, &n->by_memory, &by_memory_ops);
		}
		n->cpu = info->cpu;
		n->memory = info->memory;
		if (n->indexed) {
			cl->cpu_root = treap_insert(cl->cpu_root, &n->by_cpu, &by_cpu_ops);
			cl->memory_root = treap_insert(cl->memory_root, &n->by_memory, &by_memory_ops);
		}
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
	struct sched_node *n = node_find(s, node_id);

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
	struct sched_node *n = node_find(s, node_id);

	if (!n)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "node '%s' not found", node_id);
	*cpu = free_cpu(n);
	*memory = free_memory(n);
	return 0;
}

/* ---- tasks -------------------------------------------------------------------- */

static struct sched_task *task_find(struct scheduler *s, const char *id)
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
	struct sched_task *t = task_find(s, task_id_);

	if (t)
		task_unbind(s, t);
}

static int check_ports(const struct sched_request *req, orch_error *err)
{
	if (req->port_count > 0 && !req->ports)
		return orch_fail(err, ORCH_ERR_INVALID, "ports: missing");
	for (size_t i = 0; i < req->port_count; i++) {
		if (req->ports[i].port == 0)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "ports[%zu]: host port must be 1-65535", i);
		for (size_t j = 0; j < i; j++)
			if (port_key(&req->ports[j]) == port_key(&req->ports[i]))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "ports[%zu]: host port %u/%s given twice", i,
						 req->ports[i].port, req->ports[i].udp ? "udp" : "tcp");
	}
	return 0;
}

static int check_resources(const struct sched_request *req, orch_error *err)
{
	if (req->cpu < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "cpu: must not be negative");
	if (req->memory < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "memory: must not be negative");
	if (req->port_count > UINT16_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "ports: too many");
	return check_ports(req, err);
}

static int task_bind(struct scheduler *s, const char *id, struct sched_node *n,
		     const struct sched_request *req, orch_error *err)
{
	const char *group_name = req->group ? req->group : "";
	struct sched_group *g = group_find(s, n->cluster, group_name);
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
	if (check_resources(req, err) < 0)
		return -1;
	n = node_find(s, node_id);
	if (!n)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "node '%s' not found", node_id);
	t = task_find(s, task_id_);
	if (t)
		return orch_fail(err, ORCH_ERR_CONFLICT, "task '%s' is already bound to node '%s'",
				 task_id_, t->node->id);
	/* The store is the truth: a bind from it is recorded even if it over-commits. */
	return task_bind(s, task_id_, n, req, err);
}

/* ---- requests ------------------------------------------------------------------ */

enum strategy_kind {
	STRATEGY_BINPACK_CPU,
	STRATEGY_BINPACK_MEMORY,
	STRATEGY_SPREAD_INSTANCE,
	STRATEGY_SPREAD_ATTRIBUTE,
	STRATEGY_RANDOM,
};

struct strategy {
	enum strategy_kind kind;
	const char *attribute;		/* SPREAD_ATTRIBUTE, canonical name */
	uint32_t name_id;		/* resolved per placement */
	struct tracked_attr *tracked;	/* NULL: no task of the group yet */
};

struct compiled_request {
	size_t expr_count;
	struct sexpr *exprs[SCHED_MAX_CONSTRAINTS];
	const char *expr_text[SCHED_MAX_CONSTRAINTS];
	bool distinct;
	size_t strategy_count;
	struct strategy strategies[SCHED_MAX_STRATEGIES];
};

static void compiled_release(struct compiled_request *c)
{
	for (size_t i = 0; i < c->expr_count; i++)
		sexpr_free(c->exprs[i]);
	c->expr_count = 0;
}

static int check_keys(const json_t *obj, const char *field, size_t i, orch_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value) {
		if (strcmp(key, "type") != 0 && strcmp(key, "expression") != 0 &&
		    strcmp(key, "field") != 0)
			return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].%s: unknown field", field, i,
					 key);
	}
	return 0;
}

static int compile_constraints(const json_t *constraints, struct compiled_request *c,
			       orch_error *err)
{
	size_t i;
	json_t *item;

	if (!constraints || json_is_null(constraints))
		return 0;
	if (!json_is_array(constraints))
		return orch_fail(err, ORCH_ERR_INVALID, "placementConstraints: must be an array");
	if (json_array_size(constraints) > SCHED_MAX_CONSTRAINTS)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "placementConstraints: at most %d constraints (got %zu)",
				 SCHED_MAX_CONSTRAINTS, json_array_size(constraints));
	json_array_foreach(constraints, i, item) {
		const json_t *type, *expression;
		const char *t;

		if (!json_is_object(item))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu]: must be an object", i);
		if (check_keys(item, "placementConstraints", i, err) < 0)
			return -1;
		if (json_object_get(item, "field"))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].field: unknown field", i);
		type = json_object_get(item, "type");
		expression = json_object_get(item, "expression");
		if (!type)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].type: required (distinctInstance or memberOf)",
					 i);
		if (!json_is_string(type))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].type: must be a string", i);
		if (expression && !json_is_null(expression) && !json_is_string(expression))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].expression: must be a string", i);
		t = json_string_value(type);
		if (strcmp(t, "distinctInstance") == 0) {
			if (expression && !json_is_null(expression) &&
			    *json_string_value(expression))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementConstraints[%zu].expression: not allowed with distinctInstance",
						 i);
			c->distinct = true;
		} else if (strcmp(t, "memberOf") == 0) {
			struct sexpr *e;

			if (!expression || json_is_null(expression))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementConstraints[%zu].expression: required for memberOf",
						 i);
			e = sexpr_parse(json_string_value(expression), err);
			if (!e)
				return orch_error_prefix(err, "placementConstraints[%zu].expression", i);
			c->exprs[c->expr_count] = e;
			c->expr_text[c->expr_count++] = json_string_value(expression);
		} else {
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].type: unknown type '%s' (distinctInstance or memberOf)",
					 i, t);
		}
	}
	return 0;
}

static int compile_strategies(const json_t *strategy, struct compiled_request *c,
			      orch_error *err)
{
	size_t i;
	json_t *item;

	if (strategy && !json_is_null(strategy)) {
		if (!json_is_array(strategy))
			return orch_fail(err, ORCH_ERR_INVALID, "placementStrategy: must be an array");
		if (json_array_size(strategy) > SCHED_MAX_STRATEGIES)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementStrategy: at most %d strategies (got %zu)",
					 SCHED_MAX_STRATEGIES, json_array_size(strategy));
		json_array_foreach(strategy, i, item) {
			struct strategy *st = &c->strategies[c->strategy_count];
			const json_t *type, *field;
			const char *t, *f;

			if (!json_is_object(item))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu]: must be an object", i);
			if (check_keys(item, "placementStrategy", i, err) < 0)
				return -1;
			if (json_object_get(item, "expression"))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].expression: unknown field", i);
			type = json_object_get(item, "type");
			field = json_object_get(item, "field");
			if (!type)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].type: required (binpack, spread or random)",
						 i);
			if (!json_is_string(type))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].type: must be a string", i);
			if (field && !json_is_null(field) && !json_is_string(field))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].field: must be a string", i);
			t = json_string_value(type);
			f = field && json_is_string(field) ? json_string_value(field) : NULL;
			memset(st, 0, sizeof(*st));
			if (strcmp(t, "binpack") == 0) {
				if (f && strcmp(f, "cpu") == 0)
					st->kind = STRATEGY_BINPACK_CPU;
				else if (f && strcmp(f, "memory") == 0)
					st->kind = STRATEGY_BINPACK_MEMORY;
				else
					return orch_fail(err, ORCH_ERR_INVALID,
							 "placementStrategy[%zu].field: binpack needs cpu or memory",
							 i);
			} else if (strcmp(t, "spread") == 0) {
				if (f && (strcmp(f, "instanceId") == 0 || strcmp(f, "host") == 0)) {
					st->kind = STRATEGY_SPREAD_INSTANCE;
				} else if (f && strncmp(f, "attribute:", 10) == 0 && f[10]) {
					st->kind = STRATEGY_SPREAD_ATTRIBUTE;
					st->attribute = sexpr_attribute_alias(f + 10);
				} else {
					return orch_fail(err, ORCH_ERR_INVALID,
							 "placementStrategy[%zu].field: spread needs instanceId, host or attribute:NAME",
							 i);
				}
			} else if (strcmp(t, "random") == 0) {
				/* ECS: field is not used by random. */
				st->kind = STRATEGY_RANDOM;
			} else {
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].type: unknown type '%s' (binpack, spread or random)",
						 i, t);
			}
			c->strategy_count++;
		}
	}
	if (c->strategy_count == 0) {
		c->strategies[0].kind = STRATEGY_SPREAD_INSTANCE;
		c->strategy_count = 1;
	}
	return 0;
}

static int compile_request(const struct sched_request *req, struct compiled_request *c,
			   orch_error *err)
{
	memset(c, 0, sizeof(*c));
	if (!req->cluster || !*req->cluster)
		return orch_fail(err, ORCH_ERR_INVALID, "cluster: required");
	if (check_resources(req, err) < 0)
		return -1;
	if (compile_constraints(req->constraints, c, err) < 0 ||
	    compile_strategies(req->strategy, c, err) < 0) {
		compiled_release(c);
		return -1;
	}
	return 0;
}

int scheduler_request_validate(const struct sched_request *req, orch_error *err)
{
	struct compiled_request c;

	if (compile_request(req, &c, err) < 0)
		return -1;
	compiled_release(&c);
	return 0;
}

/* ---- placement ------------------------------------------------------------------ */

struct level_filter {
	uint32_t name;
	const uint32_t *values;		/* sorted */
	size_t count;
};

struct placement {
	struct scheduler *s;
	const struct sched_request *req;
	struct compiled_request *c;
	struct sched_cluster *cl;
	struct sched_group *distinct_group;	/* NULL: no task of the group yet */
	struct sched_group *spread_group;	/* NULL: no task of the group yet */
	size_t filter_count;
	struct level_filter filters[SCHED_MAX_STRATEGIES];
};

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

static bool expr_eval(const struct placement *p, const struct sexpr *e,
		      const struct sched_node *n)
{
	uint32_t v;

	switch (e->kind) {
	case SEXPR_AND:
		return expr_eval(p, e->left, n) && expr_eval(p, e->right, n);
	case SEXPR_OR:
		return expr_eval(p, e->left, n) || expr_eval(p, e->right, n);
	case SEXPR_NOT:
		return !expr_eval(p, e->left, n);
	case SEXPR_CMP:
		break;
	}
	if (e->subject == SEXPR_TASK_GROUP) {
		bool any = false;

		for (size_t i = 0; i < e->arg_count && !any; i++)
			any = e->arg_refs[i] && entry_find(p->s, e->arg_refs[i], n);
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
		bool m = v && regexec(&e->regex, intern_str(p->s, v), 0, NULL, 0) == 0;

		return e->op == SEXPR_MATCHES ? m : !m;
	}
	case SEXPR_GT:
		return v && compare_text(intern_str(p->s, v), e->args[0]) > 0;
	case SEXPR_GE:
		return v && compare_text(intern_str(p->s, v), e->args[0]) >= 0;
	case SEXPR_LT:
		return v && compare_text(intern_str(p->s, v), e->args[0]) < 0;
	case SEXPR_LE:
		return v && compare_text(intern_str(p->s, v), e->args[0]) <= 0;
	}
	return false;
}

/* Resolves names and values to interned IDs and groups (unknown ones match nothing). */
static int expr_resolve(struct placement *p, struct sexpr *e)
{
	if (e->kind != SEXPR_CMP)
		return (e->left && expr_resolve(p, e->left) < 0) ||
		       (e->right && expr_resolve(p, e->right) < 0) ? -1 : 0;
	e->name_id = intern_find(p->s, e->name);
	if (e->arg_count) {
		e->arg_ids = calloc(e->arg_count, sizeof(*e->arg_ids));
		e->arg_refs = calloc(e->arg_count, sizeof(*e->arg_refs));
		if (!e->arg_ids || !e->arg_refs)
			return -1;
	}
	for (size_t i = 0; i < e->arg_count; i++) {
		if (e->subject == SEXPR_TASK_GROUP)
			e->arg_refs[i] = group_find(p->s, p->cl, e->args[i]);
		else
			e->arg_ids[i] = intern_find(p->s, e->args[i]);
	}
	return 0;
}

static bool fits(const struct placement *p, const struct sched_node *n)
{
	const struct sched_request *req = p->req;

	if (n->status != SCHED_NODE_ACTIVE || free_cpu(n) < req->cpu ||
	    free_memory(n) < req->memory)
		return false;
	for (size_t i = 0; i < req->port_count; i++)
		if (node_has_port(n, port_key(&req->ports[i])))
			return false;
	if (p->c->distinct && p->distinct_group && entry_find(p->s, p->distinct_group, n))
		return false;
	for (size_t i = 0; i < p->c->expr_count; i++)
		if (!expr_eval(p, p->c->exprs[i], n))
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
	vc = tracked_slot((struct tracked_attr *)t, value, false);
	return vc ? vc->count : 0;
}

static int64_t strategy_key(struct placement *p, const struct strategy *st,
			    const struct sched_node *n)
{
	switch (st->kind) {
	case STRATEGY_BINPACK_CPU:
		return free_cpu(n);
	case STRATEGY_BINPACK_MEMORY:
		return free_memory(n);
	case STRATEGY_SPREAD_INSTANCE:
		return group_count_on(p->s, p->spread_group, n);
	case STRATEGY_SPREAD_ATTRIBUTE:
		return tracked_count_of(st->tracked, node_attr(n, st->name_id));
	case STRATEGY_RANDOM:
		return (int64_t)(rng_next(p->s) >> 1);
	}
	return 0;
}

/* Orders the tied candidates s->ties by strategies[from..], then node ID. */
static struct sched_node *resolve_ties(struct placement *p, size_t from)
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

static struct sched_node *search(struct placement *p, size_t i);

static struct sched_node *search_binpack(struct placement *p, size_t i, bool cpu)
{
	struct titer it;
	struct tnode *t;
	struct sched_node *first = NULL;
	int64_t key = 0;

	titer_seek(&it, cpu ? p->cl->cpu_root : p->cl->memory_root,
		   cpu ? &by_cpu_ops : &by_memory_ops, cpu ? p->req->memory : p->req->cpu,
		   cpu ? cpu_at_least : memory_at_least, cpu ? p->req->cpu : p->req->memory);
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
	group_bit(g, container_of(t, struct group_entry, by_count)->node, true);
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

static struct sched_node *search_spread_instance(struct placement *p, size_t i)
{
	struct sched_cluster *cl = p->cl;
	struct sched_group *g = p->spread_group;
	bool last = i + 1 == p->c->strategy_count;
	struct titer it;
	struct tnode *t;
	struct sched_node *first = NULL;
	uint32_t key = 0;

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
					if (tie_push(p->s, n) < 0)
						break;
				}
			}
		} else {
			for (size_t k = 0; k < cl->active_count; k++) {
				struct sched_node *n = cl->active[k];

				if (g && entry_find(p->s, g, n))
					continue;
				if (!fits(p, n))
					continue;
				if (last)
					return n;
				if (tie_push(p->s, n) < 0)
					break;
			}
		}
		if (p->s->tie_count)
			return resolve_ties(p, i + 1);
	}
	if (!g)
		return NULL;
	titer_seek(&it, g->root, &by_count_ops, 0, always, 0);
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
		if (tie_push(p->s, e->node) < 0)
			break;
	}
	return first ? resolve_ties(p, i + 1) : NULL;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The values of attribute name among the cluster's ACTIVE nodes. */
static struct census *census_get(struct scheduler *s, struct sched_cluster *cl, uint32_t name)
{
	struct census *c = NULL;
	size_t n = 0;

	for (size_t i = 0; i < cl->census_count; i++)
		if (cl->censuses[i].name == name)
			c = &cl->censuses[i];
	if (!c) {
		if (cl->census_count < SCHED_TRACKED_MAX) {
			c = &cl->censuses[cl->census_count++];
		} else {
			c = &cl->censuses[0];
			for (size_t i = 1; i < cl->census_count; i++)
				if (cl->censuses[i].last_used < c->last_used)
					c = &cl->censuses[i];
		}
		free(c->values);
		memset(c, 0, sizeof(*c));
		c->name = name;
	}
	c->last_used = s->placements;
	if (c->values && c->epoch == s->attr_epoch)
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
	c->epoch = s->attr_epoch;
	return c;
}

static void tracked_recount_walk(struct scheduler *s, struct tracked_attr *t, struct tnode *root)
{
	if (!root)
		return;
	tracked_recount_walk(s, t, root->left);
	{
		struct group_entry *e = container_of(root, struct group_entry, by_count);
		struct value_count *vc = tracked_slot(t, node_attr(e->node, t->name), true);

		if (vc)
			vc->count += e->count;
		else
			t->epoch = 0;
	}
	tracked_recount_walk(s, t, root->right);
}

/* Task counts of group g by value of attribute name, counted once then kept. */
static struct tracked_attr *tracked_get(struct scheduler *s, struct sched_group *g, uint32_t name)
{
	struct tracked_attr *t = NULL;

	if (!g)
		return NULL;
	for (size_t i = 0; i < g->tracked_count; i++)
		if (g->tracked[i].name == name)
			t = &g->tracked[i];
	if (!t) {
		if (g->tracked_count < SCHED_TRACKED_MAX) {
			t = &g->tracked[g->tracked_count++];
		} else {
			/* Evict the least recently used; at most 5 are in use per placement. */
			t = &g->tracked[0];
			for (size_t i = 1; i < g->tracked_count; i++)
				if (g->tracked[i].last_used < t->last_used)
					t = &g->tracked[i];
		}
		free(t->values);
		memset(t, 0, sizeof(*t));
		t->name = name;
	}
	t->last_used = s->placements;
	if (t->epoch != s->attr_epoch) {
		t->count = 0;
		t->epoch = s->attr_epoch;
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

static struct sched_node *search_spread_attribute(struct placement *p, size_t i)
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

static struct sched_node *search_random(struct placement *p)
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
static struct sched_node *search(struct placement *p, size_t i)
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
	}
	return NULL;
}

/* ---- reasons -------------------------------------------------------------------- */

/*
 * Nothing fits: filters the cluster's nodes stage by stage (status,
 * memberOf, distinctInstance, CPU, memory, ports) and names the stage that
 * left none, with numbers.
 */
static void explain(struct placement *p, char *out, size_t size)
{
	struct scheduler *s = p->s;
	struct sched_cluster *cl = p->cl;
	const struct sched_request *req = p->req;
	size_t total = 0, draining = 0, lost = 0, survivors;
	cleanup_free struct sched_node **cand = NULL;
	const struct sched_node *best = NULL;
	size_t m = 0;

	cand = malloc((cl->node_count + 1) * sizeof(*cand));
	if (!cand) {
		snprintf(out, size, "no node fits (out of memory while finding why)");
		return;
	}
	for (size_t i = 0; i < s->node_slots; i++) {
		struct sched_node *n = s->nodes[i];

		if (!n || n->cluster != cl)
			continue;
		total++;
		if (n->status == SCHED_NODE_DRAINING)
			draining++;
		else if (n->status == SCHED_NODE_LOST)
			lost++;
		else
			cand[m++] = n;
	}
	if (total == 0) {
		snprintf(out, size, "no node is registered in cluster '%s'", cl->name);
		return;
	}
	if (m == 0) {
		snprintf(out, size, "no ACTIVE node in cluster '%s' (%zu DRAINING, %zu LOST)",
			 cl->name, draining, lost);
		return;
	}
	for (size_t e = 0; e < p->c->expr_count; e++) {
		size_t k = 0;

		for (size_t i = 0; i < m; i++)
			if (expr_eval(p, p->c->exprs[e], cand[i]))
				cand[k++] = cand[i];
		if (k == 0) {
			snprintf(out, size, "no ACTIVE node in cluster '%s' matches memberOf(%s) (%zu checked)",
				 cl->name, p->c->expr_text[e], m);
			return;
		}
		m = k;
	}
	survivors = m;
	if (p->c->distinct && p->distinct_group) {
		size_t k = 0;

		for (size_t i = 0; i < m; i++)
			if (!entry_find(s, p->distinct_group, cand[i]))
				cand[k++] = cand[i];
		if (k == 0) {
			snprintf(out, size,
				 "distinctInstance: all %zu eligible nodes in cluster '%s' already run a task of group '%s'",
				 m, cl->name, req->group ? req->group : "");
			return;
		}
		m = k;
	}
	{
		size_t k = 0;

		for (size_t i = 0; i < m; i++) {
			if (!best || free_cpu(cand[i]) > free_cpu(best))
				best = cand[i];
			if (free_cpu(cand[i]) >= req->cpu)
				cand[k++] = cand[i];
		}
		if (k == 0) {
			snprintf(out, size,
				 "no ACTIVE node in cluster '%s' has %lld CPU units free (most free: %lld on node '%s'; %zu eligible nodes)",
				 cl->name, (long long)req->cpu, (long long)free_cpu(best), best->id, m);
			return;
		}
		m = k;
	}
	{
		size_t k = 0;

		best = NULL;
		for (size_t i = 0; i < m; i++) {
			if (!best || free_memory(cand[i]) > free_memory(best))
				best = cand[i];
			if (free_memory(cand[i]) >= req->memory)
				cand[k++] = cand[i];
		}
		if (k == 0) {
			snprintf(out, size,
				 "no ACTIVE node in cluster '%s' with %lld CPU units free also has %lld MiB of memory free (most free: %lld MiB on node '%s'; %zu nodes checked)",
				 cl->name, (long long)req->cpu, (long long)req->memory,
				 (long long)free_memory(best), best->id, m);
			return;
		}
		m = k;
	}
	for (size_t i = 0; i < req->port_count; i++) {
		uint32_t key = port_key(&req->ports[i]);
		size_t busy = 0;

		for (size_t j = 0; j < m; j++)
			busy += node_has_port(cand[j], key);
		if (busy == m) {
			snprintf(out, size,
				 "port %u/%s is in use on every node with the CPU and memory free (%zu nodes)",
				 req->ports[i].port, req->ports[i].udp ? "udp" : "tcp", m);
			return;
		}
	}
	if (req->port_count > 0) {
		snprintf(out, size,
			 "the host ports asked for are in use on every node with the CPU and memory free (%zu nodes; each port is free somewhere, but not all on one node)",
			 m);
		return;
	}
	snprintf(out, size, "no node fits (%zu of %zu eligible nodes have the resources)", m,
		 survivors);
}

int scheduler_place(struct scheduler *s, const char *task_id_, const struct sched_request *req,
		    char *node_id_out, size_t node_id_size, char *reason_out,
		    size_t reason_size, orch_error *err)
{
	struct compiled_request c;
	struct placement p = { .s = s, .req = req, .c = &c };
	struct sched_node *n;
	struct sched_task *t;
	int rc = 1;

	if (!task_id_ || !*task_id_)
		return orch_fail(err, ORCH_ERR_INVALID, "task ID: required");
	if (compile_request(req, &c, err) < 0)
		return -1;
	t = task_find(s, task_id_);
	if (t) {
		compiled_release(&c);
		return orch_fail(err, ORCH_ERR_CONFLICT, "task '%s' is already placed on node '%s'",
				 task_id_, t->node->id);
	}
	if (reason_size)
		reason_out[0] = '\0';
	p.cl = cluster_find(s, req->cluster);
	if (!p.cl || p.cl->node_count == 0) {
		snprintf(reason_out, reason_size, "no node is registered in cluster '%s'",
			 req->cluster);
		compiled_release(&c);
		return 1;
	}
	s->placements++;
	p.distinct_group = group_find(s, p.cl, req->group ? req->group : "");
	p.spread_group = req->group && *req->group ? p.distinct_group : p.cl->all;
	for (size_t i = 0; i < c.expr_count; i++) {
		if (expr_resolve(&p, c.exprs[i]) < 0) {
			compiled_release(&c);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
	}
	for (size_t i = 0; i < c.strategy_count; i++) {
		struct strategy *st = &c.strategies[i];

		if (st->kind != STRATEGY_SPREAD_ATTRIBUTE)
			continue;
		st->name_id = intern_find(s, st->attribute);
		st->tracked = tracked_get(s, p.spread_group, st->name_id);
	}
	s->tie_count = 0;
	n = search(&p, 0);
	if (!n) {
		explain(&p, reason_out, reason_size);
	} else if (task_bind(s, task_id_, n, req, err) < 0) {
		rc = -1;
	} else {
		snprintf(node_id_out, node_id_size, "%s", n->id);
		rc = 0;
	}
	compiled_release(&c);
	return rc;
}

/*
 * scheduler_internal.h - what the scheduler's files share: its limits, the
 * model's types, compiled requests and the state of one search.  Not for
 * use outside orchestrator/server/scheduler*.c.
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
 * The choices a caller sees (defaults, where orch differs from ECS) are
 * in scheduler.h.  Not thread-safe: the control thread owns the scheduler.
 *
 * Files:
 *   scheduler_model.c    nodes, clusters, groups and tasks: the picture of
 *                        the cluster and every change to it
 *   scheduler_request.c  placementConstraints and placementStrategy JSON
 *                        compiled into a struct compiled_request
 *   scheduler_search.c   scheduler_place: the filters, the strategies' walks
 *                        and the tie-breaking
 *   scheduler_explain.c  why nothing fits, with numbers
 *   scheduler_treap.h    the treap behind binpack and spread
 *   scheduler_expr.c     the memberOf expression parser
 *   scheduler_bench.c    `orch bench-scheduler`, its in-memory benchmark
 */
#ifndef ORCH_SCHEDULER_INTERNAL_H
#define ORCH_SCHEDULER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hash_map.h"
#include "scheduler.h"
#include "scheduler_expr.h"
#include "scheduler_treap.h"

#define SCHED_MAX_CONSTRAINTS 10	/* ECS: at most 10 constraints per task */
#define SCHED_MAX_STRATEGIES 5		/* ECS: at most 5 strategy rules per task */
#define SCHED_NODE_ID_MAX 64		/* node_id_out must hold this many bytes */
#define SCHED_TRACKED_MAX 8		/* spread attributes remembered per group */
#define SCHED_RANDOM_TRIES 32		/* random samples before listing candidates */
#define SCHED_BITMAP_MIN_NODES 64	/* smaller groups are scanned for directly */

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- the model (scheduler_model.c) ------------------------------------------- */

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

/*
 * A cluster's censuses and a group's tracked counts are small caches with
 * an entry per attribute asked for (at most SCHED_TRACKED_MAX, the least
 * recently used evicted); each entry begins with this.
 */
struct attr_cache_entry {
	uint32_t name;			/* the attribute's interned name */
	uint64_t epoch;			/* scheduler.attr_epoch it was counted at */
	uint64_t last_used;		/* scheduler.placements when last asked for */
};

/* Task counts of one group by the value of one attribute of their nodes. */
struct tracked_attr {
	struct attr_cache_entry cache;
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
	struct attr_cache_entry cache;
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

static inline uint64_t rng_next(struct scheduler *s)
{
	/* xorshift64* */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static inline int64_t free_cpu(const struct sched_node *n)
{
	return n->cpu - n->cpu_used;
}

static inline int64_t free_memory(const struct sched_node *n)
{
	return n->memory - n->memory_used;
}

static inline uint32_t node_attr(const struct sched_node *n, uint32_t name)
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

static inline uint32_t port_key(const struct sched_port *p)
{
	return (uint32_t)p->port << 1 | (p->udp ? 1 : 0);
}

static inline bool node_has_port(const struct sched_node *n, uint32_t key)
{
	for (uint32_t i = 0; i < n->port_count; i++)
		if (n->ports[i] == key)
			return true;
	return false;
}

uint32_t sched_intern_find(const struct scheduler *s, const char *str);
const char *sched_intern_str(const struct scheduler *s, uint32_t id);

/* The CPU treap aggregates free memory and the memory treap free CPU. */
extern const struct treap_ops sched_by_cpu_ops;
extern const struct treap_ops sched_by_memory_ops;
extern const struct treap_ops sched_by_count_ops;

struct sched_cluster *sched_cluster_find(struct scheduler *s, const char *name);
struct sched_group *sched_group_find(struct scheduler *s, struct sched_cluster *cl,
				     const char *name);
struct group_entry *sched_entry_find(struct scheduler *s, const struct sched_group *g,
				     const struct sched_node *n);
uint32_t sched_group_count_on(struct scheduler *s, const struct sched_group *g,
			      const struct sched_node *n);
void sched_group_bit(struct sched_group *g, const struct sched_node *n, bool set);
struct value_count *sched_tracked_slot(struct tracked_attr *t, uint32_t value, bool create);

struct sched_task *sched_task_find(struct scheduler *s, const char *id);
struct sched_node *sched_node_find(struct scheduler *s, const char *id);
/* Binds without checks (scheduler_task_bind and scheduler_place check first). */
int sched_task_bind(struct scheduler *s, const char *id, struct sched_node *n,
		    const struct sched_request *req, orch_error *err);

/* ---- requests (scheduler_request.c) ------------------------------------------ */

/* Nodes the default strategy compares by task count (scheduler.h). */
#define SCHED_DEFAULT_CANDIDATES 16

enum strategy_kind {
	STRATEGY_BINPACK_CPU,
	STRATEGY_BINPACK_MEMORY,
	STRATEGY_SPREAD_INSTANCE,
	STRATEGY_SPREAD_ATTRIBUTE,
	STRATEGY_RANDOM,
	STRATEGY_FEWEST_TASKS,		/* the default's tie-break: the node's task count */
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

/* CPU, memory and ports of a request. */
int sched_check_resources(const struct sched_request *req, orch_error *err);
/* Checks and compiles req into c; sched_request_release(c) afterwards. */
int sched_request_compile(const struct sched_request *req, struct compiled_request *c,
			  orch_error *err);
void sched_request_release(struct compiled_request *c);

/* ---- one search (scheduler_search.c, scheduler_explain.c) -------------------- */

/* Spread by attribute's filter: the node's value of name is one of values. */
struct level_filter {
	uint32_t name;
	const uint32_t *values;		/* sorted */
	size_t count;
};

/* The state of one scheduler_place call's search for a node. */
struct sched_search {
	struct scheduler *s;
	const struct sched_request *req;
	struct compiled_request *c;
	struct sched_cluster *cl;
	struct sched_group *distinct_group;	/* NULL: no task of the group yet */
	struct sched_group *spread_group;	/* NULL: no task of the group yet */
	size_t filter_count;
	struct level_filter filters[SCHED_MAX_STRATEGIES];
};

bool sched_expr_eval(const struct sched_search *p, const struct sexpr *e,
		     const struct sched_node *n);
void sched_explain(struct sched_search *p, char *out, size_t size);

#endif

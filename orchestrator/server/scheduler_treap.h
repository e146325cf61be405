/*
 * scheduler_treap.h - the treap the scheduler orders nodes with: binpack's
 * (free CPU, ID) and (free memory, ID) orders of a cluster's ACTIVE nodes
 * and spread's (task count, ID) order of a group's nodes.  Each subtree
 * keeps the largest value of a second resource (the aggregate), so a walk
 * in the order of one resource skips the subtrees without enough of the
 * other.
 *
 * Intrusive: a struct tnode lives inside the ordered object, which the
 * caller owns (container_of gets it back); the treap allocates nothing.
 * The order and the aggregate's value come from a struct treap_ops.  A
 * node's key must not change while it is in a treap: remove it, change
 * it, insert it again.  Priorities (tnode.prio) are the caller's random
 * numbers.
 *
 * The functions are static inline so that the compiler sees the caller's
 * treap_ops and inlines its comparisons: the binpack treaps are updated on
 * every bind and release, and a call through the table there costs the
 * scheduler a tenth of its placement rate.
 */
#ifndef ORCH_SCHEDULER_TREAP_H
#define ORCH_SCHEDULER_TREAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

#define SCHED_TREAP_DEPTH_MAX 160	/* iterator stack; a treap of 10^7 nodes stays far below */

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

static inline void treap_update(struct tnode *n, const struct treap_ops *ops)
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

static inline struct tnode *treap_insert(struct tnode *root, struct tnode *n,
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

static inline struct tnode *treap_merge(struct tnode *a, struct tnode *b,
					const struct treap_ops *ops)
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
static inline struct tnode *treap_remove(struct tnode *root, struct tnode *n,
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

static inline void titer_push(struct titer *it, struct tnode *n)
{
	if (it->top < SCHED_TREAP_DEPTH_MAX)
		it->stack[it->top++] = n;
	else
		log_error("scheduler: treap deeper than %d", SCHED_TREAP_DEPTH_MAX);
}

static inline bool subtree_ok(const struct titer *it, const struct tnode *t)
{
	return t && (!it->ops->other || t->agg >= it->need);
}

/*
 * Positions it before the first node for which at_or_after() is true (a
 * predicate monotone in the treap's order).
 */
static inline void titer_seek(struct titer *it, struct tnode *root,
			      const struct treap_ops *ops, int64_t need,
			      bool (*at_or_after)(const struct tnode *, int64_t), int64_t bound)
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

static inline struct tnode *titer_next(struct titer *it)
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

#endif

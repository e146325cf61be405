/*
 * scheduler_explain.c - why nothing fits: the reason scheduler_place gives
 * when it places nothing.
 */
#include "scheduler_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"

/*
 * Keeps those of the m candidates that have need of a resource free and
 * returns how many; *most is the candidate with the most of it free.
 */
static size_t keep_with_free(struct sched_node **cand, size_t m,
			     int64_t (*free_of)(const struct sched_node *n), int64_t need,
			     const struct sched_node **most)
{
	size_t k = 0;

	*most = NULL;
	for (size_t i = 0; i < m; i++) {
		if (!*most || free_of(cand[i]) > free_of(*most))
			*most = cand[i];
		if (free_of(cand[i]) >= need)
			cand[k++] = cand[i];
	}
	return k;
}

/*
 * Nothing fits: filters the cluster's nodes stage by stage (status,
 * memberOf, distinctInstance, CPU, memory, ports) and names the stage that
 * left none, with numbers.
 */
void sched_explain(struct sched_search *p, char *out, size_t size)
{
	struct scheduler *s = p->s;
	struct sched_cluster *cl = p->cl;
	const struct sched_request *req = p->req;
	size_t total = 0, draining = 0, lost = 0, survivors;
	cleanup_free struct sched_node **cand = NULL;
	const struct sched_node *most;
	size_t m = 0, k;

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
		k = 0;
		for (size_t i = 0; i < m; i++)
			if (sched_expr_eval(p, p->c->exprs[e], cand[i]))
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
		k = 0;
		for (size_t i = 0; i < m; i++)
			if (!sched_entry_find(s, p->distinct_group, cand[i]))
				cand[k++] = cand[i];
		if (k == 0) {
			snprintf(out, size,
				 "distinctInstance: all %zu eligible nodes in cluster '%s' already run a task of group '%s'",
				 m, cl->name, req->group ? req->group : "");
			return;
		}
		m = k;
	}
	k = keep_with_free(cand, m, free_cpu, req->cpu, &most);
	if (k == 0) {
		snprintf(out, size,
			 "no ACTIVE node in cluster '%s' has %lld CPU units free (most free: %lld on node '%s'; %zu eligible nodes)",
			 cl->name, (long long)req->cpu, (long long)free_cpu(most), most->id, m);
		return;
	}
	m = k;
	k = keep_with_free(cand, m, free_memory, req->memory, &most);
	if (k == 0) {
		snprintf(out, size,
			 "no ACTIVE node in cluster '%s' with %lld CPU units free also has %lld MiB of memory free (most free: %lld MiB on node '%s'; %zu nodes checked)",
			 cl->name, (long long)req->cpu, (long long)req->memory,
			 (long long)free_memory(most), most->id, m);
		return;
	}
	m = k;
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

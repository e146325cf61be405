/*
 * node_monitor.c - last-heard times of nodes and the timer that declares
 * silent ones LOST.  See node_monitor.h.
 */
#include "node_monitor.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "common/clock.h"
#include "common/str_hash.h"

#define NODE_MONITOR_BUCKETS 1024

struct nm_node {
	char id[STORE_ID_HEX_LEN + 1];
	int64_t last_seen_ms;	/* monotonic */
	bool watched;
	struct nm_node *next;
};

struct node_monitor {
	int grace_ms;
	struct event *tick;
	node_lost_fn *lost;
	void *lost_arg;
	struct nm_node *buckets[NODE_MONITOR_BUCKETS];
};

static unsigned hash_id(const char *id)
{
	return str_hash(id) % NODE_MONITOR_BUCKETS;
}

static struct nm_node *lookup(struct node_monitor *nm, const char *id, bool create)
{
	unsigned b = hash_id(id);
	struct nm_node *n;

	for (n = nm->buckets[b]; n; n = n->next)
		if (strcmp(n->id, id) == 0)
			return n;
	if (!create)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	snprintf(n->id, sizeof(n->id), "%s", id);
	n->next = nm->buckets[b];
	nm->buckets[b] = n;
	return n;
}

static int tick_ms(const struct node_monitor *nm)
{
	int t = nm->grace_ms / 4;

	if (t < NODE_MONITOR_MIN_TICK_MS)
		t = NODE_MONITOR_MIN_TICK_MS;
	if (t > NODE_MONITOR_MAX_TICK_MS)
		t = NODE_MONITOR_MAX_TICK_MS;
	return t;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct node_monitor *nm = arg;
	int64_t now = clock_mono_ms();
	int t = tick_ms(nm);
	struct timeval tv = { t / 1000, (t % 1000) * 1000 };

	for (int b = 0; b < NODE_MONITOR_BUCKETS; b++)
		for (struct nm_node *n = nm->buckets[b]; n; n = n->next)
			if (n->watched && now - n->last_seen_ms > nm->grace_ms) {
				n->watched = false;
				nm->lost(n->id, nm->lost_arg);
			}
	evtimer_add(nm->tick, &tv);
}

struct node_monitor *node_monitor_new(struct event_base *base, int grace_ms, node_lost_fn *lost,
				      void *arg)
{
	struct node_monitor *nm = calloc(1, sizeof(*nm));

	if (!nm)
		return NULL;
	nm->grace_ms = grace_ms;
	nm->lost = lost;
	nm->lost_arg = arg;
	nm->tick = evtimer_new(base, on_tick, nm);
	if (!nm->tick) {
		free(nm);
		return NULL;
	}
	{
		int t = tick_ms(nm);
		struct timeval tv = { t / 1000, (t % 1000) * 1000 };

		evtimer_add(nm->tick, &tv);
	}
	return nm;
}

void node_monitor_free(struct node_monitor *nm)
{
	if (!nm)
		return;
	for (int b = 0; b < NODE_MONITOR_BUCKETS; b++) {
		struct nm_node *n = nm->buckets[b];

		while (n) {
			struct nm_node *next = n->next;

			free(n);
			n = next;
		}
	}
	event_free(nm->tick);
	free(nm);
}

void node_monitor_seen(struct node_monitor *nm, const char *node_id)
{
	struct nm_node *n = lookup(nm, node_id, true);

	if (!n)
		return;
	n->last_seen_ms = clock_mono_ms();
	n->watched = true;
}

void node_monitor_forget(struct node_monitor *nm, const char *node_id)
{
	struct nm_node *n = lookup(nm, node_id, false);

	if (n)
		n->watched = false;
}

bool node_monitor_connected(struct node_monitor *nm, const char *node_id)
{
	struct nm_node *n = lookup(nm, node_id, false);

	return n && n->watched && clock_mono_ms() - n->last_seen_ms <= nm->grace_ms;
}

int node_monitor_grace_ms(struct node_monitor *nm)
{
	return nm->grace_ms;
}

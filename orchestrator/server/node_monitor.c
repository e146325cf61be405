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
#include "common/hash_map.h"

struct nm_node {
	char id[STORE_ID_HEX_LEN + 1];	/* first: the map's key */
	int64_t last_seen_ms;	/* monotonic */
	bool watched;
};

struct node_monitor {
	int grace_ms;
	struct event *tick;
	node_lost_fn *lost;
	void *lost_arg;
	struct hash_map nodes;		/* nm_node by ID */
};

static struct nm_node *lookup(struct node_monitor *nm, const char *id, bool create)
{
	struct nm_node *n = hash_map_find(&nm->nodes, id);

	if (n || !create)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	snprintf(n->id, sizeof(n->id), "%s", id);
	if (hash_map_insert(&nm->nodes, id, n) < 0) {
		free(n);
		return NULL;
	}
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

static void schedule_tick(struct node_monitor *nm)
{
	int t = tick_ms(nm);
	struct timeval tv = { t / 1000, (t % 1000) * 1000 };

	evtimer_add(nm->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct node_monitor *nm = arg;
	int64_t now = clock_mono_ms();
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct nm_node *n;

	while ((n = hash_map_next(&nm->nodes, &it)))
		if (n->watched && now - n->last_seen_ms > nm->grace_ms) {
			n->watched = false;
			nm->lost(n->id, nm->lost_arg);
		}
	schedule_tick(nm);
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
	hash_map_init(&nm->nodes, &hash_map_leading_string);
	nm->tick = evtimer_new(base, on_tick, nm);
	if (!nm->tick) {
		free(nm);
		return NULL;
	}
	schedule_tick(nm);
	return nm;
}

void node_monitor_free(struct node_monitor *nm)
{
	if (!nm)
		return;
	hash_map_release(&nm->nodes, free);
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

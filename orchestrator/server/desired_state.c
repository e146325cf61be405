/*
 * desired_state.c - per-node desired-state indexes and the long polls that
 * wait on them.  See desired_state.h for the commit ordering.
 */
#include "desired_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_server.h"
#include "common/clock.h"
#include "common/hash_map.h"
#include "common/log.h"

/* If the publish event finds the transaction still open, it retries after this. */
#define DESIRED_STATE_RETRY_MS 1

struct ds_waiter;

struct ds_node {
	char id[STORE_ID_HEX_LEN + 1];	/* first: the map's key */
	uint64_t index;
	bool dirty;
	struct ds_node *next_dirty;
	struct ds_waiter *waiters;	/* oldest first */
	int waiter_count;
};

struct ds_waiter {
	struct desired_state *ds;
	struct ds_node *node;
	struct http_request *req;
	uint64_t since;
	struct event *timer;
	struct ds_waiter *next;
};

struct desired_state {
	struct store *store;
	struct event_base *base;
	struct event *publish;
	struct event *retry;
	bool publish_pending;
	bool all_dirty;
	desired_render_fn *render;
	void *render_arg;
	uint64_t start_index;
	struct hash_map nodes;		/* ds_node by ID */
	struct ds_node *dirty;
};

/* The node's entry, added at the start index if it has none; NULL: out of memory. */
static struct ds_node *node_get(struct desired_state *ds, const char *id)
{
	struct ds_node *n = hash_map_find(&ds->nodes, id);

	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	snprintf(n->id, sizeof(n->id), "%s", id);
	n->index = ds->start_index;
	if (hash_map_insert(&ds->nodes, id, n) < 0) {
		free(n);
		return NULL;
	}
	return n;
}

/* Unlinks w from its node and frees it (not the request). */
static void waiter_remove(struct ds_waiter *w)
{
	struct ds_waiter **pp;

	for (pp = &w->node->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->node->waiter_count--;
	event_free(w->timer);
	free(w);
}

static void waiter_answer(struct ds_waiter *w)
{
	struct desired_state *ds = w->ds;
	struct http_request *req = w->req;
	struct ds_node *node = w->node;

	http_request_set_abandon_cb(req, NULL, NULL);
	waiter_remove(w);
	ds->render(req, node->id, node->index, ds->render_arg);
}

static void on_waiter_abandoned(struct http_request *req, void *arg)
{
	waiter_remove(arg);
}

static void on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	waiter_answer(arg);
}

static void node_answer_all(struct ds_node *n)
{
	while (n->waiters)
		waiter_answer(n->waiters);
}

static void mark_dirty(struct desired_state *ds, struct ds_node *n)
{
	if (n->dirty)
		return;
	n->dirty = true;
	n->next_dirty = ds->dirty;
	ds->dirty = n;
}

static void on_publish(evutil_socket_t fd, short what, void *arg)
{
	struct desired_state *ds = arg;
	static const struct timeval retry = { 0, DESIRED_STATE_RETRY_MS * 1000 };
	uint64_t now = clock_wall_ms();

	if (store_in_transaction(ds->store)) {
		/* The commit has not run yet: never announce uncommitted state. */
		evtimer_add(ds->retry, &retry);
		return;
	}
	ds->publish_pending = false;
	if (ds->all_dirty) {
		struct hash_map_iter it = HASH_MAP_ITER_INIT;
		struct ds_node *n;

		ds->all_dirty = false;
		while ((n = hash_map_next(&ds->nodes, &it)))
			mark_dirty(ds, n);
	}
	while (ds->dirty) {
		struct ds_node *n = ds->dirty;

		ds->dirty = n->next_dirty;
		n->next_dirty = NULL;
		n->dirty = false;
		n->index = n->index + 1 > now ? n->index + 1 : now;
		node_answer_all(n);
	}
}

struct desired_state *desired_state_new(struct event_base *base, struct store *store,
					desired_render_fn *render, void *arg)
{
	struct desired_state *ds = calloc(1, sizeof(*ds));

	if (!ds)
		return NULL;
	ds->store = store;
	ds->base = base;
	ds->render = render;
	ds->render_arg = arg;
	ds->start_index = clock_wall_ms();
	hash_map_init(&ds->nodes, &hash_map_leading_string);
	ds->publish = event_new(base, -1, 0, on_publish, ds);
	ds->retry = evtimer_new(base, on_publish, ds);
	if (!ds->publish || !ds->retry) {
		desired_state_free(ds);
		return NULL;
	}
	return ds;
}

void desired_state_release_waiters(struct desired_state *ds)
{
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct ds_node *n;

	while ((n = hash_map_next(&ds->nodes, &it)))
		node_answer_all(n);
}

void desired_state_free(struct desired_state *ds)
{
	if (!ds)
		return;
	desired_state_release_waiters(ds);
	hash_map_release(&ds->nodes, free);
	if (ds->publish)
		event_free(ds->publish);
	if (ds->retry)
		event_free(ds->retry);
	free(ds);
}

static void schedule_publish(struct desired_state *ds)
{
	if (ds->publish_pending)
		return;
	ds->publish_pending = true;
	event_active(ds->publish, EV_TIMEOUT, 0);
}

void desired_state_changed(struct desired_state *ds, const char *node_id)
{
	struct ds_node *n = node_get(ds, node_id);

	if (n)
		mark_dirty(ds, n);
	else
		ds->all_dirty = true;	/* out of memory: announce everything, not lose this one */
	schedule_publish(ds);
}

uint64_t desired_state_index(struct desired_state *ds, const char *node_id)
{
	struct ds_node *n = node_get(ds, node_id);

	return n ? n->index : ds->start_index;
}

bool desired_state_wait(struct desired_state *ds, const char *node_id, struct http_request *req,
			uint64_t since, int wait_ms)
{
	struct ds_node *n = node_get(ds, node_id);
	struct timeval tv = { wait_ms / 1000, (wait_ms % 1000) * 1000 };
	struct ds_waiter *w, **tail;

	if (!n || since != n->index)
		return false;
	if (n->waiter_count >= DESIRED_STATE_MAX_WAITERS_PER_NODE) {
		log_debug("desired: node %s has %d polls waiting; answering the oldest", n->id,
			  n->waiter_count);
		waiter_answer(n->waiters);
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return false;
	w->ds = ds;
	w->node = n;
	w->req = req;
	w->since = since;
	w->timer = evtimer_new(ds->base, on_waiter_timeout, w);
	if (!w->timer || evtimer_add(w->timer, &tv) < 0) {
		if (w->timer)
			event_free(w->timer);
		free(w);
		return false;
	}
	for (tail = &n->waiters; *tail; tail = &(*tail)->next)
		;
	*tail = w;
	n->waiter_count++;
	http_request_set_abandon_cb(req, on_waiter_abandoned, w);
	return true;
}

/* history.c - pruning of stopped tasks and old client tokens (history.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "history.h"
#include "common/log.h"

struct history {
	struct store *store;
	struct write_batch *writes;
	struct event *tick;
	double retention_s;
	struct timeval interval;
};

static void history_arm(struct history *h, bool at_once)
{
	static const struct timeval now = { 0, 0 };

	evtimer_add(h->tick, at_once ? &now : &h->interval);
}

/* One pass in its own savepoint; 1 if a batch was full, 0 if not, -1 on error. */
static int history_prune(struct history *h, orch_error *err)
{
	double now = store_now();
	int tasks, tokens;

	if (write_batch_begin(h->writes, err) < 0)
		return -1;
	tasks = store_task_prune(h->store, now - h->retention_s, HISTORY_PRUNE_BATCH, err);
	tokens = tasks < 0 ? -1 : store_run_token_prune(h->store, now - HISTORY_CLIENT_TOKEN_TTL_S,
							 HISTORY_PRUNE_BATCH, err);
	if (tokens < 0) {
		write_batch_abort(h->writes);
		return -1;
	}
	store_savepoint_release(h->store);
	if (tasks > 0 || tokens > 0)
		log_debug("history: pruned %d stopped tasks and %d client tokens", tasks, tokens);
	return tasks == HISTORY_PRUNE_BATCH || tokens == HISTORY_PRUNE_BATCH;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct history *h = arg;
	orch_error err = ORCH_ERROR_INIT;
	int full;

	(void)fd;
	(void)what;
	full = history_prune(h, &err);
	if (full < 0)
		log_warn("history: pruning: %s", err.message);
	/* A full batch: more may wait; continue after this turn's other work. */
	history_arm(h, full == 1);
}

struct history *history_new(struct event_base *base, struct store *store,
			    struct write_batch *writes, long task_retention_s)
{
	struct history *h = calloc(1, sizeof(*h));
	int64_t tick_ms = (int64_t)task_retention_s * 1000 / 4;

	if (!h)
		return NULL;
	if (tick_ms < HISTORY_MIN_TICK_MS)
		tick_ms = HISTORY_MIN_TICK_MS;
	if (tick_ms > HISTORY_MAX_TICK_MS)
		tick_ms = HISTORY_MAX_TICK_MS;
	h->store = store;
	h->writes = writes;
	h->retention_s = (double)task_retention_s;
	h->interval.tv_sec = tick_ms / 1000;
	h->interval.tv_usec = (tick_ms % 1000) * 1000;
	h->tick = evtimer_new(base, on_tick, h);
	if (!h->tick) {
		free(h);
		return NULL;
	}
	history_arm(h, false);
	return h;
}

void history_free(struct history *h)
{
	if (!h)
		return;
	event_free(h->tick);
	free(h);
}

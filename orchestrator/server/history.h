/*
 * history.h - bounded history: the server deletes what it no longer needs
 * to remember, so the database does not grow without bound under churn.
 *
 * Every tick (a quarter of the retention, at least HISTORY_MIN_TICK_MS and
 * at most HISTORY_MAX_TICK_MS) it deletes, in its own write:
 *   - tasks stopped longer than the retention (--task-retention) that no
 *     node still has to hear about (store_task_prune), at most
 *     HISTORY_PRUNE_BATCH per turn of the event loop; a full batch runs the
 *     next one on the following turn, so API requests interleave;
 *   - RunTask client tokens older than HISTORY_CLIENT_TOKEN_TTL_S (ECS
 *     keeps them 24 hours), in batches of the same size.
 * The space of deleted rows is reused by later ones; the WAL file is cut
 * back after checkpoints (store.c, journal_size_limit).
 */
#ifndef ORCH_HISTORY_H
#define ORCH_HISTORY_H

#include <event2/event.h>

#include "store.h"
#include "write_batch.h"

#define HISTORY_DEFAULT_TASK_RETENTION_S 3600
#define HISTORY_MAX_TASK_RETENTION_S (365L * 86400)
#define HISTORY_CLIENT_TOKEN_TTL_S 86400
#define HISTORY_PRUNE_BATCH 500
#define HISTORY_MIN_TICK_MS 500
#define HISTORY_MAX_TICK_MS 60000

struct history;

struct history *history_new(struct event_base *base, struct store *store,
			    struct write_batch *writes, long task_retention_s);
void history_free(struct history *h);

#endif

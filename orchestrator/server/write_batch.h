/*
 * write_batch.h - group commit for API writes.
 *
 * A durable commit costs an fsync.  Requests that arrive in the same turn
 * of the event loop share one transaction: the first write opens it and
 * activates the commit event, which runs after the other ready requests
 * of this turn were handled.  Each request works inside its own savepoint,
 * so a failing request undoes only its own changes.  Replies wait until
 * the commit succeeded: no client hears "created" before its write is on
 * disk.  If the commit fails, every request of the batch gets a 500.
 *
 * A client that disconnects while its reply waits is forgotten; its write
 * still commits (as it would had the reply been lost in the network).
 */
#ifndef ORCH_WRITE_BATCH_H
#define ORCH_WRITE_BATCH_H

#include <event2/event.h>
#include <jansson.h>

#include "common/error.h"
#include "store.h"

/* A batch commits at once when this many replies wait on it. */
#define WRITE_BATCH_MAX_REQUESTS 512

struct write_batch;

struct write_batch *write_batch_new(struct event_base *base, struct store *store);
/* Commits what is pending, then frees. */
void write_batch_free(struct write_batch *wb);

/* Opens or joins the batch's transaction and a savepoint for one request. */
int write_batch_begin(struct write_batch *wb, orch_error *err);
/* Undoes the current request's writes (only them). */
void write_batch_abort(struct write_batch *wb);
/* Keeps the request's writes; body (stolen) is sent with status after commit. */
struct http_request;
void write_batch_reply(struct write_batch *wb, struct http_request *req, int status,
		       json_t *body);
/* The same with a JSON text (stolen; NULL answers 500). */
void write_batch_reply_text(struct write_batch *wb, struct http_request *req, int status,
			    char *text);
/*
 * Called after a commit failed and was rolled back, so in-memory state
 * built alongside the batch's writes (the scheduler's) can be rebuilt from
 * the store.  One callback.
 */
typedef void write_batch_failed_fn(void *arg);
void write_batch_on_failure(struct write_batch *wb, write_batch_failed_fn *fn, void *arg);

/* Commits the open transaction and sends the waiting replies. */
void write_batch_commit(struct write_batch *wb);

#endif

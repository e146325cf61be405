/* write_batch.c - one transaction and one fsync for a turn's writes. */
#include "write_batch.h"

#include <stdlib.h>

#include "http_response.h"
#include "http_server.h"
#include "common/log.h"

struct pending_reply {
	struct http_request *req;	/* NULL once the client went away */
	int status;
	json_t *body;
	char *text;		/* instead of body */
};

struct write_batch {
	struct store *store;
	struct event *commit_event;
	struct pending_reply pending[WRITE_BATCH_MAX_REQUESTS];
	int count;
	write_batch_failed_fn *failed;
	void *failed_arg;
	bool open;		/* began a transaction that is not committed yet */
};

static void on_commit_event(evutil_socket_t fd, short what, void *arg)
{
	write_batch_commit(arg);
}

struct write_batch *write_batch_new(struct event_base *base, struct store *store)
{
	struct write_batch *wb = calloc(1, sizeof(*wb));

	if (!wb)
		return NULL;
	wb->store = store;
	wb->commit_event = event_new(base, -1, 0, on_commit_event, wb);
	if (!wb->commit_event) {
		free(wb);
		return NULL;
	}
	return wb;
}

void write_batch_free(struct write_batch *wb)
{
	if (!wb)
		return;
	write_batch_commit(wb);
	event_free(wb->commit_event);
	free(wb);
}

/*
 * SQLite rolls the whole transaction back by itself when a statement fails
 * with SQLITE_FULL, an I/O error or out of memory: the batch's released
 * savepoints are gone with it, so its waiting requests must hear 500.
 */
static bool batch_lost(struct write_batch *wb)
{
	return wb->open && !store_in_transaction(wb->store);
}

int write_batch_begin(struct write_batch *wb, orch_error *err)
{
	if (batch_lost(wb))
		write_batch_commit(wb);	/* answers the lost batch's requests */
	if (!store_in_transaction(wb->store)) {
		if (store_begin(wb->store, err) < 0)
			return -1;
		wb->open = true;
		event_active(wb->commit_event, EV_TIMEOUT, 0);
	}
	return store_savepoint(wb->store, err);
}

void write_batch_abort(struct write_batch *wb)
{
	store_savepoint_rollback(wb->store);
}

/* The client of a waiting reply went away; the server frees its request. */
static void on_request_abandoned(struct http_request *req, void *arg)
{
	struct write_batch *wb = arg;

	for (int i = 0; i < wb->count; i++)
		if (wb->pending[i].req == req)
			wb->pending[i].req = NULL;
}

static void reply_later(struct write_batch *wb, struct http_request *req, int status,
			json_t *body, char *text)
{
	struct pending_reply *p = &wb->pending[wb->count++];

	store_savepoint_release(wb->store);
	p->req = req;
	p->status = status;
	p->body = body;
	p->text = text;
	http_request_set_abandon_cb(req, on_request_abandoned, wb);
	if (wb->count == WRITE_BATCH_MAX_REQUESTS)
		write_batch_commit(wb);
}

void write_batch_reply(struct write_batch *wb, struct http_request *req, int status,
		       json_t *body)
{
	reply_later(wb, req, status, body, NULL);
}

void write_batch_reply_text(struct write_batch *wb, struct http_request *req, int status,
			    char *text)
{
	/* NULL text (out of memory) still waits, then answers 500. */
	reply_later(wb, req, text ? status : 500, NULL, text);
}

void write_batch_on_failure(struct write_batch *wb, write_batch_failed_fn *fn, void *arg)
{
	wb->failed = fn;
	wb->failed_arg = arg;
}

void write_batch_commit(struct write_batch *wb)
{
	orch_error err = ORCH_ERROR_INIT;
	int count = wb->count;
	bool committed = true;

	if (batch_lost(wb)) {
		orch_fail(&err, ORCH_ERR_INTERNAL,
			  "the store rolled the transaction back after a failed write");
		committed = false;
	} else if (store_in_transaction(wb->store) && store_commit(wb->store, &err) < 0) {
		committed = false;
	}
	wb->open = false;
	if (!committed) {
		log_error("store: %s; failing %d requests", err.message, count);
		if (wb->failed)
			wb->failed(wb->failed_arg);
	}
	wb->count = 0;
	for (int i = 0; i < count; i++) {
		struct pending_reply *p = &wb->pending[i];

		if (!p->req) {
			json_decref(p->body);
			free(p->text);
		} else if (committed) {
			http_request_set_abandon_cb(p->req, NULL, NULL);
			if (p->body)
				http_reply_json(p->req, p->status, p->body);
			else
				http_reply_json_text(p->req, p->status, p->text);
		} else {
			json_decref(p->body);
			free(p->text);
			http_request_set_abandon_cb(p->req, NULL, NULL);
			http_reply_error(p->req, 500, "ServerException",
					 "the write could not be committed: %s", err.message);
		}
		p->body = NULL;
		p->text = NULL;
	}
}

/*
 * task_stream.h - the server's side of `orch task logs`: a client's log
 * request piped from the agent that runs the task.
 *
 * Agents open every connection, so the server cannot fetch a log itself.
 * GET /v1/clusters/{c}/tasks/{id}/logs records a pending stream for the
 * task's node and wakes the node's stream long poll:
 *
 *     GET /v1/agent/streams?wait=SECONDS       (node credential)
 *     200 {"streams": [{"streamId": "<32 hex>", "kind": "logs", "taskId": ...,
 *                       "container": NAME, "runtimeId": ID or absent,
 *                       "follow": true, "tail": N}]}
 *
 * The agent then uploads the log as plain text (both streams, in log order):
 *
 *     POST /v1/agent/streams/{streamId}   Transfer-Encoding: chunked
 *
 * and the server copies each piece into the client's chunked answer
 * (text/plain).  Backpressure: while more than TASK_STREAM_HIGH_WATER
 * bytes wait for the client, the upload is not read.  The upload's end
 * (the container stopped, or the log ended without follow) ends the
 * client's answer; either side going away tears down the other.  A stream
 * the agent has not opened within TASK_STREAM_CONNECT_TIMEOUT_MS answers
 * 504.  At most TASK_STREAM_MAX_PER_NODE streams per node (429 past it).
 * The upload must come from the node that runs the task (404 otherwise).
 *
 * The same poll carries streams of other kinds ("exec": task_exec.h), whose
 * owner gets the agent's request when it connects.  An agent that cannot
 * serve a stream of any kind says why instead of connecting:
 *
 *     POST /v1/agent/streams/{streamId}/refuse   {"status": 4xx|5xx, "message": "..."}
 *
 * and the client gets that status and message.
 */
#ifndef ORCH_TASK_STREAM_H
#define ORCH_TASK_STREAM_H

#include <stdbool.h>

#include <event2/event.h>
#include <jansson.h>

#include "api.h"

#define TASK_STREAM_MAX_PER_NODE 32
#define TASK_STREAM_CONNECT_TIMEOUT_MS 10000
#define TASK_STREAM_HIGH_WATER (256 * 1024)
#define TASK_STREAM_POLL_DEFAULT_WAIT_S 30
#define TASK_STREAM_POLL_MAX_WAIT_S 300
#define TASK_STREAM_MAX_POLLS_PER_NODE 2

struct task_streams;

struct task_streams *task_streams_new(struct event_base *base);
/* Ends every stream and poll, then frees. */
void task_streams_free(struct task_streams *ts);

/* http_server_set_stream_body predicate: POST /v1/agent/streams/{id}. */
bool task_stream_wants_body(const struct http_request *req, void *arg);

/* Route handlers (api.c). */
void api_task_logs(struct api_request *ar);
void api_agent_streams_poll(struct api_request *ar);
void api_agent_stream_upload(struct api_request *ar);
void api_agent_stream_refuse(struct api_request *ar);

/* ---- streams of other kinds ------------------------------------------- */

struct task_stream_kind {
	const char *name;		/* the poll entry's "kind" */
	/* The agent opened POST /v1/agent/streams/{id}: ar->req is the owner's. */
	void (*connected)(struct api_request *ar, void *arg);
	/*
	 * The stream ended before that: the agent refused it (its status and
	 * message), did not connect in time (504), or the server stops (503).
	 */
	void (*failed)(void *arg, int status, const char *message);
};

/*
 * Announces a stream to node_id's poll; its entry is fields (reference
 * stolen) with "streamId" and "kind" added.  Fills id (33 bytes).  Exactly
 * one of the kind's callbacks runs later, unless task_streams_cancel().
 */
int task_streams_open(struct task_streams *ts, const char *node_id,
		      const struct task_stream_kind *kind, json_t *fields, void *arg, char *id,
		      orch_error *err);
/* Forgets a stream whose agent has not connected yet; no callback runs. */
void task_streams_cancel(struct task_streams *ts, const char *id);
/* The exec sessions (task_exec.h) this server's streams serve. */
struct task_execs *task_streams_execs(struct task_streams *ts);

#endif

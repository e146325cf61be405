/*
 * task_stream.c - task logs piped from an agent's upload into a client's
 * chunked answer.  See task_stream.h for the protocol.
 *
 * A stream is owned here from the client's request until both of its
 * requests are answered: the client's (streaming answer) and the agent's
 * upload (streaming body).  Each request carries an abandon callback that
 * tears the whole stream down; nothing else frees a stream.
 *
 * A stream of another kind (kind != NULL) lives here only until its agent
 * connects, refuses, or is late: then its owner's callback takes over.
 */
#include "task_stream.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "http_response.h"
#include "common/log.h"
#include "task_exec.h"

struct stream_poll {			/* a parked GET /v1/agent/streams */
	struct task_streams *ts;
	struct http_request *req;
	char node_id[40];
	struct event *timer;
	struct stream_poll *next;
};

struct task_stream {
	struct task_streams *ts;
	char id[33];
	char node_id[40];
	char task_id[40];
	char container[256];
	char runtime_id[128];
	bool follow;
	long tail;
	bool announced;
	struct http_request *client;
	struct http_request *upload;
	struct event *timer;		/* the agent must connect in time */
	/* Another kind: its poll entry and owner. */
	const struct task_stream_kind *kind;
	json_t *fields;
	void *kind_arg;
	struct task_stream *next;
};

struct task_streams {
	struct event_base *base;
	struct task_stream *streams;
	struct stream_poll *polls;
	struct task_execs *execs;
};

struct task_streams *task_streams_new(struct event_base *base)
{
	struct task_streams *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return NULL;
	ts->base = base;
	ts->execs = task_execs_new(ts, base);
	if (!ts->execs) {
		free(ts);
		return NULL;
	}
	return ts;
}

struct task_execs *task_streams_execs(struct task_streams *ts)
{
	return ts->execs;
}

/* ---- polls ----------------------------------------------------------- */

static void poll_unlink_free(struct stream_poll *p)
{
	struct stream_poll **link = &p->ts->polls;

	while (*link && *link != p)
		link = &(*link)->next;
	if (*link)
		*link = p->next;
	event_free(p->timer);
	free(p);
}

/* Answers a poll with the node's not yet announced streams. */
static void poll_answer(struct task_streams *ts, struct http_request *req, const char *node_id)
{
	json_t *list = json_array();

	for (struct task_stream *s = ts->streams; s; s = s->next) {
		json_t *e;

		if (s->announced || strcmp(s->node_id, node_id) != 0)
			continue;
		s->announced = true;
		if (s->kind) {
			e = json_deep_copy(s->fields);
			json_object_set_new(e, "streamId", json_string(s->id));
			json_object_set_new(e, "kind", json_string(s->kind->name));
			json_array_append_new(list, e);
			continue;
		}
		e = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I}", "streamId", s->id, "kind", "logs",
			      "taskId", s->task_id, "container", s->container, "follow", s->follow,
			      "tail", (json_int_t)s->tail);
		if (s->runtime_id[0])
			json_object_set_new(e, "runtimeId", json_string(s->runtime_id));
		json_array_append_new(list, e);
	}
	http_reply_json(req, 200, json_pack("{s:o}", "streams", list));
}

static void on_poll_abandon(struct http_request *req, void *arg)
{
	poll_unlink_free(arg);
}

static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct stream_poll *p = arg;
	struct http_request *req = p->req;
	char node_id[40];

	snprintf(node_id, sizeof(node_id), "%s", p->node_id);
	http_request_set_abandon_cb(req, NULL, NULL);
	poll_answer(p->ts, req, node_id);
	poll_unlink_free(p);
}

static void wake_node(struct task_streams *ts, const char *node_id)
{
	for (struct stream_poll *p = ts->polls; p; p = p->next)
		if (strcmp(p->node_id, node_id) == 0) {
			event_active(p->timer, EV_TIMEOUT, 0);
			return;
		}
}

void api_agent_streams_poll(struct api_request *ar)
{
	struct task_streams *ts = ar->ctx->streams;
	int64_t wait = TASK_STREAM_POLL_DEFAULT_WAIT_S;
	struct stream_poll *p, *oldest = NULL;
	struct timeval tv = { 0, 0 };
	int parked = 0;

	if (api_query_int(ar, "wait", 0, TASK_STREAM_POLL_MAX_WAIT_S, &wait) < 0)
		return;
	for (struct task_stream *s = ts->streams; s; s = s->next)
		if (!s->announced && strcmp(s->node_id, ar->agent_node_id) == 0)
			wait = 0;
	if (wait == 0) {
		poll_answer(ts, ar->req, ar->agent_node_id);
		return;
	}
	for (p = ts->polls; p; p = p->next)
		if (strcmp(p->node_id, ar->agent_node_id) == 0) {
			parked++;
			oldest = p;	/* the list is newest first */
		}
	if (parked >= TASK_STREAM_MAX_POLLS_PER_NODE)
		on_poll_timer(-1, EV_TIMEOUT, oldest);
	p = calloc(1, sizeof(*p));
	if (!p || !(p->timer = evtimer_new(ts->base, on_poll_timer, p))) {
		free(p);
		http_reply_error(ar->req, 500, "ServerException", "out of memory");
		return;
	}
	p->ts = ts;
	p->req = ar->req;
	snprintf(p->node_id, sizeof(p->node_id), "%s", ar->agent_node_id);
	p->next = ts->polls;
	ts->polls = p;
	http_request_set_abandon_cb(ar->req, on_poll_abandon, p);
	tv.tv_sec = (time_t)wait;
	evtimer_add(p->timer, &tv);
}

/* ---- streams ---------------------------------------------------------- */

static void stream_free(struct task_stream *s)
{
	struct task_stream **link = &s->ts->streams;

	while (*link && *link != s)
		link = &(*link)->next;
	if (*link)
		*link = s->next;
	if (s->timer)
		event_free(s->timer);
	json_decref(s->fields);
	free(s);
}

/* Ends what is left of a stream: answers both sides, then frees it. */
static void stream_finish(struct task_stream *s, int upload_status)
{
	struct http_request *client = s->client, *upload = s->upload;

	s->client = NULL;
	s->upload = NULL;
	if (upload) {
		http_request_set_abandon_cb(upload, NULL, NULL);
		http_request_set_body_cb(upload, NULL, NULL, NULL);
		http_request_pause_body(upload, false);
		http_respond(upload, upload_status, "text/plain", "", 0, NULL);
	}
	if (client) {
		http_request_set_abandon_cb(client, NULL, NULL);
		http_request_set_drain_cb(client, NULL, NULL);
		http_stream_end(client);
	}
	stream_free(s);
}

static void on_client_abandon(struct http_request *req, void *arg)
{
	struct task_stream *s = arg;

	s->client = NULL;
	log_debug("task %s: log reader went away; ending stream %s", s->task_id, s->id);
	stream_finish(s, 410);
}

static void on_upload_abandon(struct http_request *req, void *arg)
{
	struct task_stream *s = arg;

	s->upload = NULL;
	stream_finish(s, 200);
}

static void on_client_drain(struct http_request *req, void *arg)
{
	struct task_stream *s = arg;

	if (s->upload)
		http_request_pause_body(s->upload, false);
}

static void on_upload_data(struct http_request *req, const char *data, size_t len, void *arg)
{
	struct task_stream *s = arg;

	if (!s->client)
		return;
	http_stream_write(s->client, data, len);
	if (http_stream_pending(s->client) > TASK_STREAM_HIGH_WATER)
		http_request_pause_body(req, true);
}

static void on_upload_end(struct http_request *req, void *arg)
{
	stream_finish(arg, 204);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct task_stream *s = arg;
	struct http_request *client = s->client;
	char why[160];

	if (s->kind) {
		const struct task_stream_kind *kind = s->kind;
		void *kind_arg = s->kind_arg;

		snprintf(why, sizeof(why), "the agent of node %s did not connect within %d ms",
			 s->node_id, TASK_STREAM_CONNECT_TIMEOUT_MS);
		stream_free(s);
		kind->failed(kind_arg, 504, why);
		return;
	}
	if (s->upload)
		return;
	s->client = NULL;
	http_request_set_abandon_cb(client, NULL, NULL);
	http_reply_error(client, 504, "ServerException",
			 "the agent of node %s did not send the task's log within %d ms",
			 s->node_id, TASK_STREAM_CONNECT_TIMEOUT_MS);
	stream_free(s);
}

static void stream_id_new(char id[33])
{
	unsigned char rnd[16];

	RAND_bytes(rnd, sizeof(rnd));
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
}

/* Finds the container in the task's containers JSON: its runtime id, if any. */
static int container_lookup(const struct store_task *t, const char *name, char *name_out,
			    size_t name_size, char *runtime_out, size_t runtime_size)
{
	json_t *list = t->containers ? json_loads(t->containers, 0, NULL) : NULL;
	size_t i;
	json_t *c;
	int rc = -1;

	json_array_foreach(list, i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));
		const char *rid = json_string_value(json_object_get(c, "runtimeId"));

		if (!n || (name && strcmp(n, name) != 0))
			continue;
		snprintf(name_out, name_size, "%s", n);
		snprintf(runtime_out, runtime_size, "%s", rid ? rid : "");
		rc = 0;
		break;
	}
	json_decref(list);
	return rc;
}

void api_task_logs(struct api_request *ar)
{
	struct task_streams *ts = ar->ctx->streams;
	const char *container = evhttp_find_header(&ar->query, "container");
	const char *follow = evhttp_find_header(&ar->query, "follow");
	const char *format = evhttp_find_header(&ar->query, "format");
	char id[STORE_ID_HEX_LEN + 1];
	orch_error err = ORCH_ERROR_INIT;
	struct store_task t = { 0 };
	struct task_stream *s;
	int64_t tail = -1;
	struct timeval tv;
	int per_node = 0;

	if (api_query_int(ar, "tail", 0, 1000000000, &tail) < 0)
		return;
	if (format && strcmp(format, "text") != 0) {
		http_reply_error(ar->req, 400, "ClientException",
				 "format: only \"text\" is supported");
		return;
	}
	if (!api_stream_task_id(ar, id))
		return;
	if (store_task_get(ar->ctx->store, STORE_READER, ar->params[0], id, &t,
			   &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	if (!t.node_id) {
		store_task_release(&t);
		http_reply_error(ar->req, 409, "ClientException",
				 "task %s is not placed on a node yet: no log", id);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		store_task_release(&t);
		http_reply_error(ar->req, 500, "ServerException", "out of memory");
		return;
	}
	if (container_lookup(&t, container, s->container, sizeof(s->container), s->runtime_id,
			     sizeof(s->runtime_id)) < 0) {
		http_reply_error(ar->req, 404, "ClientException",
				 "task %s has no container%s%.200s", t.id, container ? " " : "",
				 container ? container : "");
		store_task_release(&t);
		free(s);
		return;
	}
	snprintf(s->node_id, sizeof(s->node_id), "%s", t.node_id);
	snprintf(s->task_id, sizeof(s->task_id), "%s", t.id);
	store_task_release(&t);
	for (struct task_stream *o = ts->streams; o; o = o->next)
		per_node += !o->kind && strcmp(o->node_id, s->node_id) == 0;
	if (per_node >= TASK_STREAM_MAX_PER_NODE) {
		free(s);
		http_reply_error(ar->req, 429, "ClientException",
				 "too many log streams on this node (limit %d)",
				 TASK_STREAM_MAX_PER_NODE);
		return;
	}
	stream_id_new(s->id);
	s->ts = ts;
	s->follow = follow && (strcmp(follow, "1") == 0 || strcmp(follow, "true") == 0);
	s->tail = (long)tail;
	s->client = ar->req;
	s->timer = evtimer_new(ts->base, on_connect_timeout, s);
	if (!s->timer) {
		free(s);
		http_reply_error(ar->req, 500, "ServerException", "out of memory");
		return;
	}
	s->next = ts->streams;
	ts->streams = s;
	tv.tv_sec = TASK_STREAM_CONNECT_TIMEOUT_MS / 1000;
	tv.tv_usec = (TASK_STREAM_CONNECT_TIMEOUT_MS % 1000) * 1000;
	evtimer_add(s->timer, &tv);
	http_request_set_abandon_cb(ar->req, on_client_abandon, s);
	wake_node(ts, s->node_id);
}

bool task_stream_wants_body(const struct http_request *req, void *arg)
{
	/* A log upload; not an exec channel (Upgrade) nor a refusal (.../refuse). */
	return strcmp(http_request_method(req), "POST") == 0 &&
	       strncmp(http_request_path(req), "/v1/agent/streams/", 18) == 0 &&
	       !strchr(http_request_path(req) + 18, '/') &&
	       !http_request_header(req, "Upgrade");
}

/* The node's stream of that id, or NULL (and 404 sent). */
static struct task_stream *stream_of_agent(struct api_request *ar)
{
	struct task_streams *ts = ar->ctx->streams;
	struct task_stream *s;

	for (s = ts->streams; s; s = s->next)
		if (strcmp(s->id, ar->params[0]) == 0)
			break;
	if (!s || strcmp(s->node_id, ar->agent_node_id) != 0) {
		http_reply_error(ar->req, 404, "ClientException", "no such stream: %.40s",
				 ar->params[0]);
		return NULL;
	}
	return s;
}

/* Hands a stream of another kind to its owner: the record is gone. */
static void stream_hand_over(struct task_stream *s, struct api_request *ar, int status,
			     const char *message)
{
	const struct task_stream_kind *kind = s->kind;
	void *kind_arg = s->kind_arg;

	stream_free(s);
	if (ar)
		kind->connected(ar, kind_arg);
	else
		kind->failed(kind_arg, status, message);
}

int task_streams_open(struct task_streams *ts, const char *node_id,
		      const struct task_stream_kind *kind, json_t *fields, void *arg, char *id,
		      orch_error *err)
{
	struct task_stream *s = calloc(1, sizeof(*s));
	struct timeval tv = { TASK_STREAM_CONNECT_TIMEOUT_MS / 1000,
			      (TASK_STREAM_CONNECT_TIMEOUT_MS % 1000) * 1000 };

	if (!s || !fields || !(s->timer = evtimer_new(ts->base, on_connect_timeout, s))) {
		free(s);
		json_decref(fields);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	stream_id_new(s->id);
	s->ts = ts;
	s->kind = kind;
	s->fields = fields;
	s->kind_arg = arg;
	snprintf(s->node_id, sizeof(s->node_id), "%s", node_id);
	snprintf(id, 33, "%s", s->id);
	s->next = ts->streams;
	ts->streams = s;
	evtimer_add(s->timer, &tv);
	wake_node(ts, s->node_id);
	return 0;
}

void task_streams_cancel(struct task_streams *ts, const char *id)
{
	for (struct task_stream *s = ts->streams; s; s = s->next)
		if (s->kind && strcmp(s->id, id) == 0) {
			stream_free(s);
			return;
		}
}

void api_agent_stream_refuse(struct api_request *ar)
{
	struct task_stream *s = stream_of_agent(ar);
	json_t *body;
	json_int_t status;
	const char *message;
	char text[512];

	if (!s)
		return;
	body = api_read_json_object(ar);
	if (!body)
		return;
	status = json_integer_value(json_object_get(body, "status"));
	message = json_string_value(json_object_get(body, "message"));
	if (status < 400 || status > 599)
		status = 502;
	snprintf(text, sizeof(text), "%s", message ? message : "the agent refused the stream");
	json_decref(body);
	if (s->kind) {
		stream_hand_over(s, NULL, (int)status, text);
	} else if (s->client && !s->upload) {
		http_request_set_abandon_cb(s->client, NULL, NULL);
		http_reply_error(s->client, (int)status, status < 500 ? "ClientException"
				 : "ServerException", "%s", text);
		s->client = NULL;
		stream_free(s);
	}
	http_respond(ar->req, 204, "application/json", "", 0, NULL);
}

void api_agent_stream_upload(struct api_request *ar)
{
	struct task_stream *s = stream_of_agent(ar);

	if (!s)
		return;
	if (s->kind) {
		stream_hand_over(s, ar, 0, NULL);
		return;
	}
	if (http_request_header(ar->req, "Upgrade")) {
		http_reply_error(ar->req, 400, "ClientException", "stream %s is a log upload", s->id);
		return;
	}
	if (s->upload || !s->client) {
		http_reply_error(ar->req, 409, "ClientException", "stream %s is already open",
				 s->id);
		return;
	}
	evtimer_del(s->timer);
	s->upload = ar->req;
	http_request_set_abandon_cb(ar->req, on_upload_abandon, s);
	http_request_set_drain_cb(s->client, on_client_drain, s);
	http_stream_start(s->client, 200, "text/plain; charset=utf-8", NULL);
	http_request_set_body_cb(ar->req, on_upload_data, on_upload_end, s);
}

void task_streams_free(struct task_streams *ts)
{
	if (!ts)
		return;
	while (ts->polls) {
		struct stream_poll *p = ts->polls;

		http_request_set_abandon_cb(p->req, NULL, NULL);
		http_reply_json(p->req, 200, json_pack("{s:[]}", "streams"));
		poll_unlink_free(p);
	}
	while (ts->streams) {
		struct task_stream *s = ts->streams;

		if (s->kind) {
			stream_hand_over(s, NULL, 503, "the server is stopping");
			continue;
		}
		if (!s->upload && s->client) {
			http_request_set_abandon_cb(s->client, NULL, NULL);
			http_reply_error(s->client, 503, "ServerException", "the server is stopping");
			s->client = NULL;
		}
		stream_finish(s, 503);
	}
	task_execs_free(ts->execs);
	free(ts);
}

/*
 * task_exec.c - exec sessions: the request's checks, the hand-over to the
 * agent, and the frame splice between the two upgraded connections.  See
 * task_exec.h and exec_protocol.h.
 *
 * A session is PENDING while its stream waits for the agent (the client's
 * request is parked with an abandon callback), then OPEN with two channels.
 * Every way out goes through session_end(), which closes what is left and
 * frees the session; abandon callbacks first forget the request that went.
 *
 * A side that is paused (backpressure) reads nothing, so its going is seen
 * by the server's watch of paused channels (the hup callbacks here), not by
 * a read: without it, a client that went while its input was held, or an
 * agent that reset its connection while its output was held, would leave
 * the session (and the process) to wait for the other side.
 */
#include "task_exec.h"

#include <stdlib.h>
#include <string.h>

#include "proto/exec_protocol.h"
#include "http_response.h"
#include "common/log.h"
#include "task_stream.h"

struct exec_session {
	struct task_execs *te;
	char stream_id[33];
	bool stream_pending;		/* its record waits in task_stream.c */
	char node_id[40];
	char task_id[40];
	char container[256];
	bool open;			/* the agent connected: both are channels */
	bool flushing;			/* the agent's side failed: pass on what came */
	struct http_request *client;
	struct http_request *agent;
	struct exec_session *prev, *next;
};

struct task_execs {
	struct task_streams *ts;
	struct event_base *base;
	struct exec_session *sessions;
};

static void on_agent_connected(struct api_request *ar, void *arg);
static void on_stream_failed(void *arg, int status, const char *message);

static const struct task_stream_kind exec_stream_kind = {
	.name = "exec",
	.connected = on_agent_connected,
	.failed = on_stream_failed,
};

struct task_execs *task_execs_new(struct task_streams *ts, struct event_base *base)
{
	struct task_execs *te = calloc(1, sizeof(*te));

	if (te) {
		te->ts = ts;
		te->base = base;
	}
	return te;
}

/* ---- sessions ----------------------------------------------------------- */

static void session_free(struct exec_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->te->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

/* Sends the client an ERROR frame (an open channel only). */
static void client_error_frame(struct exec_session *s, const char *message)
{
	unsigned char h[EXEC_FRAME_HEADER_BYTES];
	size_t len = strlen(message);

	if (!s->client || !s->open)
		return;
	if (len > EXEC_FRAME_MAX_PAYLOAD)
		len = EXEC_FRAME_MAX_PAYLOAD;
	exec_frame_header(h, EXEC_FRAME_ERROR, (uint32_t)len);
	http_channel_write(s->client, h, sizeof(h));
	http_channel_write(s->client, message, len);
}

/*
 * The client went (or broke the protocol): its unsent input is of no use to
 * a process that ends now, and an agent holding its own backpressure might
 * never read up to a graceful close, so the agent's channel is aborted (a
 * reset it sees at once, and kills the process).  The caller then ends the
 * session.  Never from the agent's own callbacks: that frees its connection.
 */
static void session_abort_agent(struct exec_session *s)
{
	struct http_request *agent = s->agent;

	if (!agent)
		return;
	s->agent = NULL;
	http_request_set_abandon_cb(agent, NULL, NULL);
	http_channel_abort(agent);
}

/* Closes an open channel (what was written is still sent) without its callbacks. */
static void channel_close_detached(struct http_request *req)
{
	if (!req)
		return;
	http_request_set_abandon_cb(req, NULL, NULL);
	http_channel_close(req);
}

/*
 * Ends a session: an open one's channels are closed (what was written is
 * still sent; the agent kills the process when its side closes), a pending
 * one's stream is forgotten and its client answered with status (when the
 * client is still there).  Frees s.
 */
static void session_end(struct exec_session *s, int status, const char *message)
{
	struct http_request *client = s->client, *agent = s->agent;

	s->client = s->agent = NULL;
	if (!s->open) {
		if (s->stream_pending)
			task_streams_cancel(s->te->ts, s->stream_id);
		if (client) {
			http_request_set_abandon_cb(client, NULL, NULL);
			http_reply_error(client, status, status < 500 ? "ClientException"
					 : "ServerException", "%s", message ? message : "");
		}
		session_free(s);
		return;
	}
	channel_close_detached(agent);
	channel_close_detached(client);
	session_free(s);
}

static void on_pending_client_abandon(struct http_request *req, void *arg)
{
	struct exec_session *s = arg;

	s->client = NULL;
	log_debug("task %s: exec client went away before the agent connected", s->task_id);
	session_end(s, 499, "");
}

static void on_stream_failed(void *arg, int status, const char *message)
{
	struct exec_session *s = arg;

	s->stream_pending = false;	/* the record is gone */
	log_debug("task %s: exec not started: %d %s", s->task_id, status, message);
	session_end(s, status, message);
}

/* ---- the splice --------------------------------------------------------- */

/*
 * Passes whole frames from one side's input to the other side's output,
 * checking each header as soon as it arrived.  Returns false when the
 * session ended (s is freed).
 */
static bool splice_frames(struct exec_session *s, struct evbuffer *in, bool from_client)
{
	struct http_request *to = from_client ? s->agent : s->client;
	struct http_request *from = from_client ? s->client : s->agent;

	for (;;) {
		unsigned char h[EXEC_FRAME_HEADER_BYTES];
		size_t avail = evbuffer_get_length(in);
		uint32_t length;
		unsigned type;
		char why[128];

		if (avail < sizeof(h))
			return true;
		evbuffer_copyout(in, h, sizeof(h));
		type = h[0];
		length = exec_get_u32(h + 1);
		if (!(from_client ? exec_frame_from_client(type) : exec_frame_from_agent(type)) ||
		    !exec_frame_length_ok(type, length)) {
			snprintf(why, sizeof(why), "exec protocol error: %s frame of type 0x%02x "
				 "and length %u refused", from_client ? "client" : "agent", type,
				 (unsigned)length);
			log_info("task %s: %s", s->task_id, why);
			client_error_frame(s, from_client ? why : "the agent broke the exec protocol");
			if (from_client)	/* from the client's callback: not the agent's */
				session_abort_agent(s);
			session_end(s, 0, NULL);
			return false;
		}
		if (avail < sizeof(h) + length)
			return true;
		if (http_stream_pending(to) > TASK_EXEC_HIGH_WATER && !s->flushing) {
			http_channel_pause(from, true);	/* resumed by the drain callback */
			return true;
		}
		http_channel_move(to, in, sizeof(h) + length);
		if (type == EXEC_FRAME_EXIT || type == EXEC_FRAME_ERROR) {
			/* The agent's last frame: the rest is sent, then both close. */
			log_debug("task %s: exec session %s ended", s->task_id, s->stream_id);
			session_end(s, 0, NULL);
			return false;
		}
	}
}

static void on_client_read(struct http_request *req, struct evbuffer *in, void *arg)
{
	splice_frames(arg, in, true);
}

static void on_agent_read(struct http_request *req, struct evbuffer *in, void *arg)
{
	splice_frames(arg, in, false);
}

static void on_client_drain(struct http_request *req, void *arg)
{
	struct exec_session *s = arg;

	if (s->agent)
		http_channel_pause(s->agent, false);
}

static void on_agent_drain(struct http_request *req, void *arg)
{
	struct exec_session *s = arg;

	if (s->client)
		http_channel_pause(s->client, false);
}

static void on_client_gone(struct http_request *req, void *arg)
{
	struct exec_session *s = arg;

	s->client = NULL;
	log_debug("task %s: exec client went away; closing the agent's channel", s->task_id);
	session_abort_agent(s);
	session_end(s, 0, NULL);
}

/* The client closed or reset its connection while its input was held. */
static void on_client_hup(struct http_request *req, struct evbuffer *in, bool reset, void *arg)
{
	struct exec_session *s = arg;

	log_debug("task %s: exec client went away while its input was held (%s); closing the "
		  "agent's channel", s->task_id, reset ? "reset" : "closed");
	session_abort_agent(s);
	session_end(s, 0, NULL);
}

/*
 * The agent's side went while its output was held.  A close may have the
 * process's last output and its EXIT frame behind it, which the client
 * still wants: they follow as the client reads (and the close after them).
 * A reset lost the rest: what came (the kernel's too) is passed on, then
 * an ERROR frame unless the EXIT frame was among it.
 */
static void on_agent_hup(struct http_request *req, struct evbuffer *in, bool reset, void *arg)
{
	struct exec_session *s = arg;

	if (!reset)
		return;
	log_debug("task %s: the agent's exec channel failed while its output was held",
		  s->task_id);
	/*
	 * The kernel still holds what arrived before the reset (the EXIT frame
	 * among it, perhaps): read it all without backpressure, then the
	 * socket's error ends the channel (on_agent_gone) unless EXIT came.
	 */
	s->flushing = true;
	if (!splice_frames(s, in, false))
		return;		/* its EXIT or ERROR frame was among them */
	http_channel_pause(s->agent, false);
}

static void on_agent_gone(struct http_request *req, void *arg)
{
	struct exec_session *s = arg;

	s->agent = NULL;
	client_error_frame(s, "the agent closed the exec channel before the process exited");
	session_end(s, 0, NULL);
}

static void on_agent_connected(struct api_request *ar, void *arg)
{
	struct exec_session *s = arg;

	s->stream_pending = false;	/* the record is gone */
	if (!http_request_wants_upgrade(ar->req, EXEC_UPGRADE_PROTOCOL)) {
		http_reply_error_headers(ar->req, 426, "ClientException",
					 "Upgrade: " EXEC_UPGRADE_PROTOCOL "\r\nConnection: Upgrade\r\n",
					 "an exec stream needs Upgrade: " EXEC_UPGRADE_PROTOCOL);
		session_end(s, 502, "the agent did not open an exec channel");
		return;
	}
	s->open = true;
	s->agent = ar->req;
	http_request_set_abandon_cb(s->agent, on_agent_gone, s);
	http_request_set_drain_cb(s->agent, on_agent_drain, s);
	http_request_set_abandon_cb(s->client, on_client_gone, s);
	http_request_set_drain_cb(s->client, on_client_drain, s);
	http_channel_set_hup_cb(s->agent, on_agent_hup, s);
	http_channel_set_hup_cb(s->client, on_client_hup, s);
	http_upgrade(s->agent, EXEC_UPGRADE_PROTOCOL, on_agent_read, s);
	http_upgrade(s->client, EXEC_UPGRADE_PROTOCOL, on_client_read, s);
	log_info("task %s: exec session %s open in container %s", s->task_id, s->stream_id,
		 s->container);
}

/* ---- the request -------------------------------------------------------- */

/* Checks the body; returns the agent's fields (without container) or NULL (400 sent). */
static json_t *exec_request_parse(struct api_request *ar, json_t *body, const char **container)
{
	static const char *const known[] = { "command", "container", "tty", "interactive",
					     "rows", "cols" };
	json_t *command = json_object_get(body, "command"), *v;
	const char *key;
	size_t i, total = 0;
	json_int_t rows = 0, cols = 0;

	json_object_foreach(body, key, v) {
		bool ok = false;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			http_reply_error(ar->req, 400, "ClientException", "%.100s: unknown field", key);
			return NULL;
		}
	}
	if (!json_is_array(command) || json_array_size(command) == 0 ||
	    json_array_size(command) > EXEC_MAX_ARGS) {
		http_reply_error(ar->req, 400, "ClientException",
				 "command: must be an array of 1 to %d strings", EXEC_MAX_ARGS);
		return NULL;
	}
	json_array_foreach(command, i, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			http_reply_error(ar->req, 400, "ClientException",
					 "command[%zu]: must be a string without NUL bytes", i);
			return NULL;
		}
		total += json_string_length(v) + 1;
	}
	if (total > EXEC_MAX_COMMAND_BYTES) {
		http_reply_error(ar->req, 400, "ClientException", "command: longer than %d bytes",
				 EXEC_MAX_COMMAND_BYTES);
		return NULL;
	}
	if (json_string_length(json_array_get(command, 0)) == 0) {
		http_reply_error(ar->req, 400, "ClientException", "command[0]: must not be empty");
		return NULL;
	}
	v = json_object_get(body, "container");
	if (v && (!json_is_string(v) || json_string_length(v) == 0)) {
		http_reply_error(ar->req, 400, "ClientException", "container: must be a name");
		return NULL;
	}
	*container = json_string_value(v);
	for (i = 0; i < 2; i++) {
		const char *name = i ? "interactive" : "tty";

		v = json_object_get(body, name);
		if (v && !json_is_boolean(v)) {
			http_reply_error(ar->req, 400, "ClientException", "%s: must be a boolean", name);
			return NULL;
		}
	}
	for (i = 0; i < 2; i++) {
		const char *name = i ? "cols" : "rows";

		v = json_object_get(body, name);
		if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
			  json_integer_value(v) > 65535)) {
			http_reply_error(ar->req, 400, "ClientException",
					 "%s: must be an integer from 0 to 65535", name);
			return NULL;
		}
		*(i ? &cols : &rows) = json_integer_value(v);
	}
	return json_pack("{s:O, s:b, s:b, s:I, s:I}", "command", command,
			 "tty", json_is_true(json_object_get(body, "tty")),
			 "interactive", json_is_true(json_object_get(body, "interactive")),
			 "rows", rows, "cols", cols);
}

/*
 * Picks the container (named, or the first essential one) from the task's
 * containers JSON and checks it runs.  Returns its runtime id in rid, or
 * -1 with the answer sent.
 */
static int exec_container_pick(struct api_request *ar, const struct store_task *t,
			       const char *wanted, char *name, size_t name_size, char *rid,
			       size_t rid_size)
{
	json_t *list = t->containers ? json_loads(t->containers, 0, NULL) : NULL;
	json_t *c, *found = NULL;
	const char *status, *runtime_id;
	size_t i;
	int rc = -1;

	json_array_foreach(list, i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));

		if (!n)
			continue;
		if (wanted ? strcmp(n, wanted) == 0 : !json_is_false(json_object_get(c, "essential"))) {
			found = c;
			break;
		}
	}
	if (!found) {
		if (wanted)
			http_reply_error(ar->req, 400, "ClientException",
					 "task %s has no container named \"%.200s\"", t->id, wanted);
		else
			http_reply_error(ar->req, 409, "ClientException",
					 "task %s has no essential container", t->id);
		goto out;
	}
	snprintf(name, name_size, "%s", json_string_value(json_object_get(found, "name")));
	status = json_string_value(json_object_get(found, "lastStatus"));
	runtime_id = json_string_value(json_object_get(found, "runtimeId"));
	if (!status || strcmp(status, "RUNNING") != 0 || !runtime_id || !*runtime_id) {
		http_reply_error(ar->req, 409, "ClientException",
				 "container \"%s\" of task %s is not running (%s)", name, t->id,
				 status ? status : "no status");
		goto out;
	}
	snprintf(rid, rid_size, "%s", runtime_id);
	rc = 0;
out:
	json_decref(list);
	return rc;
}

void api_task_exec(struct api_request *ar)
{
	struct task_execs *te = task_streams_execs(ar->ctx->streams);
	orch_error err = ORCH_ERROR_INIT;
	struct store_task t = { 0 };
	struct exec_session *s = NULL;
	json_t *body = NULL, *fields = NULL;
	const char *container = NULL;
	char id[STORE_ID_HEX_LEN + 1];
	char runtime_id[128];
	int per_node = 0;

	if (!http_request_wants_upgrade(ar->req, EXEC_UPGRADE_PROTOCOL)) {
		http_reply_error_headers(ar->req, 426, "ClientException",
					 "Upgrade: " EXEC_UPGRADE_PROTOCOL "\r\nConnection: Upgrade\r\n",
					 "exec needs Connection: Upgrade and Upgrade: "
					 EXEC_UPGRADE_PROTOCOL);
		return;
	}
	if (!api_stream_task_id(ar, id))
		return;
	body = api_read_json_object(ar);
	if (!body)
		return;
	fields = exec_request_parse(ar, body, &container);
	if (!fields)
		goto out;
	if (store_task_get(ar->ctx->store, STORE_READER, ar->params[0], id, &t, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	if (!t.node_id || strcmp(t.last_status, "RUNNING") != 0 ||
	    strcmp(t.desired_status, "RUNNING") != 0) {
		http_reply_error(ar->req, 409, "ClientException", "task %s is %s%s, not RUNNING",
				 t.id, strcmp(t.desired_status, "RUNNING") != 0 ? "stopping: " : "",
				 t.last_status);
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		http_reply_error(ar->req, 500, "ServerException", "out of memory");
		goto out;
	}
	if (exec_container_pick(ar, &t, container, s->container, sizeof(s->container), runtime_id,
				sizeof(runtime_id)) < 0)
		goto out;
	for (struct exec_session *o = te->sessions; o; o = o->next)
		per_node += strcmp(o->node_id, t.node_id) == 0;
	if (per_node >= TASK_EXEC_MAX_PER_NODE) {
		http_reply_error(ar->req, 429, "ClientException",
				 "too many exec sessions on the task's node (limit %d)",
				 TASK_EXEC_MAX_PER_NODE);
		goto out;
	}
	snprintf(s->node_id, sizeof(s->node_id), "%s", t.node_id);
	snprintf(s->task_id, sizeof(s->task_id), "%s", t.id);
	json_object_set_new(fields, "taskId", json_string(t.id));
	json_object_set_new(fields, "container", json_string(s->container));
	json_object_set_new(fields, "runtimeId", json_string(runtime_id));
	if (task_streams_open(te->ts, s->node_id, &exec_stream_kind, fields, s, s->stream_id,
			      &err) < 0) {
		fields = NULL;	/* stolen */
		http_reply_orch_error(ar->req, &err);
		goto out;
	}
	fields = NULL;
	s->stream_pending = true;
	s->te = te;
	s->client = ar->req;
	s->next = te->sessions;
	if (te->sessions)
		te->sessions->prev = s;
	te->sessions = s;
	s = NULL;
	http_request_set_abandon_cb(ar->req, on_pending_client_abandon, te->sessions);
out:
	free(s);
	json_decref(fields);
	json_decref(body);
	store_task_release(&t);
}

void task_execs_free(struct task_execs *te)
{
	if (!te)
		return;
	while (te->sessions) {
		struct exec_session *s = te->sessions;

		client_error_frame(s, "the server is stopping");
		session_end(s, 503, "the server is stopping");
	}
	free(te);
}

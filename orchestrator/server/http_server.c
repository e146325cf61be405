/*
 * http_server.c - connections of the API's HTTP/1.1 server.
 *
 * Each connection is a small state machine:
 *
 *   IDLE --first byte--> HEAD --blank line--> BODY --last byte--> HANDLING
 *     ^                                                              |
 *     +---------- WRITING <-------- http_respond() -------------------+
 *
 * One timer per connection: the idle timeout in IDLE, the request timeout
 * from the first byte of a request to its last (HEAD and BODY), and the same
 * again for the client to take the answer (WRITING).  While a request is
 * handled nothing more is parsed; pipelined bytes wait in the input buffer,
 * whose high watermark stops reading when a client pushes too far ahead.
 *
 * An upgraded connection (http_upgrade) leaves the machine for UPGRADED:
 * raw bytes both ways, no timer (TCP keepalive finds a vanished peer) but
 * the watch of a paused channel, until its owner closes it (-> WRITING,
 * then closed) or aborts it, or the peer goes (abandon).
 */
#include "http_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "common/http_parse.h"
#include "common/log.h"

/* Most header lines we accept, and the longest request target. */
#define HTTP_SERVER_MAX_HEADER_COUNT 100
#define HTTP_SERVER_MAX_URI_BYTES 8192
#define HTTP_SERVER_MAX_CHUNK_EXT_BYTES 256
#define HTTP_SERVER_MAX_TRAILER_BYTES 4096
#define HTTP_SERVER_LISTEN_BACKLOG 1024
/* Pipelined input read ahead of the request being handled. */
#define HTTP_SERVER_READ_AHEAD_BYTES (64 * 1024)
/*
 * Lingering close (as Apache and nginx): after the last answer of a
 * connection we close, the write side is shut and input is read and
 * dropped for up to this long.  Closing with unread input would send a RST,
 * and a RST can destroy the answer in the client's receive queue before it
 * was read (413/431 answers to clients still sending).
 */
#define HTTP_SERVER_LINGER_MS 2000
/* Upgraded channels idle for hours; keepalive probes find a dead peer. */
#define HTTP_SERVER_CHANNEL_KEEPALIVE_IDLE_S 30
#define HTTP_SERVER_CHANNEL_KEEPALIVE_INTERVAL_S 10
#define HTTP_SERVER_CHANNEL_KEEPALIVE_COUNT 3
/*
 * A paused channel reads nothing, so nothing would see its peer close or
 * reset the connection: while paused, its socket is looked at this often.
 * (An EV_CLOSED event cannot do it: libevent's epoll backend reports a
 * reset as EV_READ|EV_WRITE, never to an EV_CLOSED-only event.)
 */
#define HTTP_SERVER_CHANNEL_WATCH_MS 200

enum conn_state { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_HANDLING, CONN_STREAMING, CONN_WRITING,
		  CONN_LINGER, CONN_UPGRADED };

struct http_request {
	struct http_conn *conn;		/* NULL once the client went away */
	char method[16];
	bool is_head;
	bool keep_alive;
	bool conn_upgrade;		/* "Connection: upgrade" */
	char *target;			/* path, NUL, query: one allocation */
	const char *query;
	size_t header_count;
	char **header_names;
	char **header_values;
	struct evbuffer *body;
	void (*abandon_cb)(struct http_request *req, void *arg);
	void *abandon_arg;
	/* Streaming request body (http_server_set_stream_body). */
	http_body_data_fn *body_data_cb;
	http_body_end_fn *body_end_cb;
	void *body_arg;
	bool body_paused;
	/* Streaming answer: the client took what was written. */
	void (*drain_cb)(struct http_request *req, void *arg);
	void *drain_arg;
	/* Upgraded connection (http_upgrade). */
	http_channel_read_fn *channel_read_cb;
	void *channel_arg;
	bool channel_paused;
	http_channel_hup_fn *channel_hup_cb;
	void *channel_hup_arg;
};

struct http_conn {
	struct http_server *srv;
	struct bufferevent *bev;
	struct event *timer;
	enum conn_state state;
	struct http_request *req;	/* being read or handled */
	uint64_t body_remaining;	/* Content-Length framing */
	bool chunked;
	struct http_chunk_decoder chunks;
	bool close_after_write;
	bool body_streaming;		/* the handler takes the body as it arrives */
	bool body_done;
	bool channel_eof;		/* upgraded: the peer closed, input still unread */
	struct http_conn *prev, *next;
};

struct http_server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct http_server_limits limits;
	struct http_limits parse_limits;
	http_request_handler *handler;
	http_refusal_handler *refuse;
	void *arg;
	struct http_conn *conns;
	size_t conn_count;
	bool stopping;
	SSL_CTX *tls;			/* NULL: plain HTTP */
	struct http_head scratch_head;	/* one parse at a time: one loop thread */
	bool (*stream_body)(const struct http_request *req, void *arg);
};

static void conn_process(struct http_conn *conn);

/* ---- requests ---------------------------------------------------------- */

static void request_free(struct http_request *req)
{
	if (!req)
		return;
	for (size_t i = 0; i < req->header_count; i++) {
		free(req->header_names[i]);
		free(req->header_values[i]);
	}
	free(req->header_names);
	free(req->header_values);
	free(req->target);
	if (req->body)
		evbuffer_free(req->body);
	free(req);
}

static struct http_request *request_new(struct http_conn *conn)
{
	struct http_request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->conn = conn;
	req->body = evbuffer_new();
	if (!req->body) {
		free(req);
		return NULL;
	}
	return req;
}

static char *span_dup(const char *buf, struct http_span span)
{
	return strndup(buf + span.off, span.len);
}

/* Copies what the handler needs out of the parsed head. */
static int request_fill(struct http_request *req, const char *buf, const struct http_head *head)
{
	char *q;

	snprintf(req->method, sizeof(req->method), "%.*s", (int)head->method_name.len,
		 buf + head->method_name.off);
	req->is_head = head->method == HTTP_METHOD_HEAD;
	req->keep_alive = head->version_minor >= 1 ? !head->conn_close : head->conn_keep_alive;
	req->conn_upgrade = head->conn_upgrade;
	req->target = span_dup(buf, head->target);
	req->header_names = calloc(head->header_count + 1, sizeof(char *));
	req->header_values = calloc(head->header_count + 1, sizeof(char *));
	if (!req->target || !req->header_names || !req->header_values)
		return -1;
	q = strchr(req->target, '?');
	if (q) {
		*q = '\0';
		req->query = q + 1;
	}
	for (size_t i = 0; i < head->header_count; i++) {
		req->header_names[i] = span_dup(buf, head->headers[i].name);
		req->header_values[i] = span_dup(buf, head->headers[i].value);
		req->header_count++;
		if (!req->header_names[i] || !req->header_values[i])
			return -1;
	}
	return 0;
}

const char *http_request_method(const struct http_request *req)
{
	return req->method[0] ? req->method : "?";
}

const char *http_request_path(const struct http_request *req)
{
	return req->target ? req->target : "/";
}

const char *http_request_query(const struct http_request *req)
{
	return req->query;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->header_count; i++)
		if (strcasecmp(req->header_names[i], name) == 0)
			return req->header_values[i];
	return NULL;
}

const char *http_request_body(const struct http_request *req, size_t *len)
{
	*len = evbuffer_get_length(req->body);
	if (*len == 0)
		return "";
	return (const char *)evbuffer_pullup(req->body, -1);
}

void http_request_set_abandon_cb(struct http_request *req,
				 void (*cb)(struct http_request *req, void *arg), void *arg)
{
	req->abandon_cb = cb;
	req->abandon_arg = arg;
}

/* ---- connections ------------------------------------------------------- */

static void conn_free(struct http_conn *conn)
{
	struct http_server *srv = conn->srv;

	if (conn->req) {
		/* A handler still holding it forgets it in its abandon callback. */
		if ((conn->state == CONN_HANDLING || conn->state == CONN_STREAMING ||
		     conn->state == CONN_UPGRADED) && conn->req->abandon_cb)
			conn->req->abandon_cb(conn->req, conn->req->abandon_arg);
		request_free(conn->req);
		conn->req = NULL;
	}
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		srv->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	srv->conn_count--;
	event_free(conn->timer);
	bufferevent_free(conn->bev);
	free(conn);
}

static void conn_arm_timer(struct http_conn *conn, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(conn->timer, &tv);
}

/* Answers a request the server itself refuses, then closes the connection. */
static void conn_refuse(struct http_conn *conn, int status, const char *why)
{
	struct http_server *srv = conn->srv;

	if (!conn->req)
		conn->req = request_new(conn);
	if (!conn->req) {
		conn_free(conn);
		return;
	}
	log_debug("http: refusing a request: %d %s", status, why);
	conn->close_after_write = true;
	conn->req->keep_alive = false;
	conn->state = CONN_HANDLING;
	evtimer_del(conn->timer);
	bufferevent_disable(conn->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(conn->bev),
		       evbuffer_get_length(bufferevent_get_input(conn->bev)));
	srv->refuse(conn->req, status, why, srv->arg);
}

static void conn_dispatch(struct http_conn *conn)
{
	evtimer_del(conn->timer);
	conn->state = CONN_HANDLING;
	conn->srv->handler(conn->req, conn->srv->arg);
}

/* Reads a request head; returns true when the state moved on. */
static bool conn_read_head(struct http_conn *conn, struct evbuffer *in)
{
	struct http_server *srv = conn->srv;
	struct http_head *head = &srv->scratch_head;
	size_t avail = evbuffer_get_length(in);
	size_t n = avail < srv->limits.max_header_bytes ? avail : srv->limits.max_header_bytes;
	const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	int rc;

	if (!buf)
		return false;
	rc = http_parse_request_head(buf, n, &srv->parse_limits, head);
	if (rc == 0) {
		if (avail >= srv->limits.max_header_bytes)
			conn_refuse(conn, 431, "the request head is larger than the server's limit");
		return false;
	}
	if (rc < 0) {
		conn_refuse(conn, -rc, "malformed request");
		return false;
	}
	if (head->target_form != HTTP_TARGET_ORIGIN) {
		conn_refuse(conn, 400, "the request target must be a path");
		return false;
	}
	conn->req = request_new(conn);
	if (!conn->req || request_fill(conn->req, buf, head) < 0) {
		conn_refuse(conn, 500, "out of memory");
		return false;
	}
	conn->body_streaming = srv->stream_body && srv->stream_body(conn->req, srv->arg);
	conn->body_done = false;
	if (head->chunked) {
		conn->chunked = true;
		http_chunk_decoder_init(&conn->chunks, conn->body_streaming ? UINT64_MAX
					: srv->limits.max_body_bytes,
					HTTP_SERVER_MAX_CHUNK_EXT_BYTES, HTTP_SERVER_MAX_TRAILER_BYTES);
	} else {
		int64_t len = head->content_length > 0 ? head->content_length : 0;

		if (!conn->body_streaming && (uint64_t)len > srv->limits.max_body_bytes) {
			evbuffer_drain(in, (size_t)rc);
			conn_refuse(conn, 413, "the request body is larger than the server's limit");
			return false;
		}
		conn->chunked = false;
		conn->body_remaining = (uint64_t)len;
	}
	if (head->expect_continue && (conn->chunked || conn->body_remaining > 0))
		evbuffer_add(bufferevent_get_output(conn->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
	evbuffer_drain(in, (size_t)rc);
	if (conn->body_streaming) {
		/* The handler sees the head now and the body as it arrives. */
		conn_dispatch(conn);
		return false;
	}
	conn->state = CONN_BODY;
	return true;
}

/* Moves body bytes into the request; returns true when the body is complete. */
static bool conn_read_body(struct http_conn *conn, struct evbuffer *in)
{
	if (!conn->chunked) {
		size_t avail = evbuffer_get_length(in);
		size_t n = avail < conn->body_remaining ? avail : (size_t)conn->body_remaining;

		evbuffer_remove_buffer(in, conn->req->body, n);
		conn->body_remaining -= n;
		return conn->body_remaining == 0;
	}
	while (conn->chunks.state != CHUNK_DONE) {
		size_t avail = evbuffer_get_length(in);

		if (avail == 0)
			return false;
		if (conn->chunks.state == CHUNK_DATA) {
			size_t n = avail < conn->chunks.remaining ? avail : (size_t)conn->chunks.remaining;

			evbuffer_remove_buffer(in, conn->req->body, n);
			http_chunk_data_consumed(&conn->chunks, n);
		} else {
			size_t n = avail < 4096 ? avail : 4096;
			const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
			int rc = http_chunk_decode_framing(&conn->chunks, buf, n);

			if (rc < 0) {
				conn_refuse(conn, -rc, rc == -413
					    ? "the request body is larger than the server's limit"
					    : "malformed chunked body");
				return false;
			}
			evbuffer_drain(in, (size_t)rc);
			if (rc == 0)
				return false;
		}
	}
	return true;
}

/*
 * Hands buffered body bytes of a streaming request to its data callback
 * until the input is empty, the owner pauses or answers, or the body ends.
 */
#define HTTP_SERVER_STREAM_PIECE_BYTES (16 * 1024)

static void conn_stream_body(struct http_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	struct http_request *req = conn->req;

	while (conn->req == req && req && req->body_data_cb && !req->body_paused &&
	       !conn->body_done) {
		size_t avail = evbuffer_get_length(in), n;
		const char *buf;

		if (conn->chunked && conn->chunks.state == CHUNK_DONE) {
			conn->body_done = true;
			break;
		}
		if (!conn->chunked && conn->body_remaining == 0) {
			conn->body_done = true;
			break;
		}
		if (avail == 0)
			return;
		if (conn->chunked && conn->chunks.state != CHUNK_DATA) {
			int rc;

			n = avail < 4096 ? avail : 4096;
			buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
			rc = http_chunk_decode_framing(&conn->chunks, buf, n);
			if (rc < 0) {
				/* The owner learns of it as an abandon. */
				conn_free(conn);
				return;
			}
			evbuffer_drain(in, (size_t)rc);
			if (rc == 0)
				return;
			continue;
		}
		n = conn->chunked ? (size_t)(avail < conn->chunks.remaining ? avail
					     : conn->chunks.remaining)
			: (size_t)(avail < conn->body_remaining ? avail : conn->body_remaining);
		if (n > HTTP_SERVER_STREAM_PIECE_BYTES)
			n = HTTP_SERVER_STREAM_PIECE_BYTES;
		buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		if (conn->chunked)
			http_chunk_data_consumed(&conn->chunks, n);
		else
			conn->body_remaining -= n;
		req->body_data_cb(req, buf, n, req->body_arg);
		if (conn->req == req)	/* still ours: the bytes were taken */
			evbuffer_drain(in, n);
	}
	if (conn->req == req && req && conn->body_done && req->body_end_cb) {
		http_body_end_fn *end = req->body_end_cb;

		req->body_end_cb = NULL;
		req->body_data_cb = NULL;
		end(req, req->body_arg);
	}
}

/* Parses as far as the buffered input allows. */
static void conn_process(struct http_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);

	for (;;) {
		switch (conn->state) {
		case CONN_IDLE:
			if (evbuffer_get_length(in) == 0)
				return;
			conn->state = CONN_HEAD;
			conn_arm_timer(conn, conn->srv->limits.request_timeout_ms);
			break;
		case CONN_HEAD:
			if (!conn_read_head(conn, in))
				return;
			break;
		case CONN_BODY:
			if (!conn_read_body(conn, in))
				return;
			conn_dispatch(conn);
			return;	/* the handler may have freed conn */
		case CONN_HANDLING:
		case CONN_STREAMING:
			if (conn->body_streaming && conn->req)
				conn_stream_body(conn);
			return;
		case CONN_WRITING:
		case CONN_LINGER:
		case CONN_UPGRADED:
			return;
		}
	}
}

/* Hands an upgraded connection's input to its owner. */
static void conn_channel_read(struct http_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	struct http_request *req = conn->req;

	if (req && req->channel_read_cb && !req->channel_paused && evbuffer_get_length(in))
		req->channel_read_cb(req, in, req->channel_arg);
	/* The owner may have closed it (state WRITING) but never frees conn. */
	if (conn->state == CONN_UPGRADED && conn->channel_eof && evbuffer_get_length(in) == 0)
		conn_free(conn);	/* the peer's close, now that its bytes were taken */
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct http_conn *conn = arg;

	if (conn->state == CONN_LINGER) {
		struct evbuffer *in = bufferevent_get_input(bev);

		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (conn->state == CONN_UPGRADED) {
		conn_channel_read(conn);
		return;
	}
	conn_process(arg);
}

static void on_write_done(struct bufferevent *bev, void *arg)
{
	struct http_conn *conn = arg;

	if ((conn->state == CONN_STREAMING || conn->state == CONN_UPGRADED) && conn->req &&
	    conn->req->drain_cb) {
		conn->req->drain_cb(conn->req, conn->req->drain_arg);
		return;
	}
	if (conn->state != CONN_WRITING)
		return;
	if (conn->close_after_write || conn->srv->stopping) {
		SSL *ssl = conn->srv->tls ? bufferevent_openssl_get_ssl(bev) : NULL;

		if (ssl) {	/* best effort close_notify; the socket is non-blocking */
			SSL_shutdown(ssl);
			ERR_clear_error();
		}
		if (shutdown(bufferevent_getfd(bev), SHUT_WR) < 0) {
			conn_free(conn);
			return;
		}
		conn->state = CONN_LINGER;
		evbuffer_drain(bufferevent_get_input(bev),
			       evbuffer_get_length(bufferevent_get_input(bev)));
		bufferevent_setwatermark(bev, EV_READ, 0, 0);
		bufferevent_enable(bev, EV_READ);
		conn_arm_timer(conn, HTTP_SERVER_LINGER_MS);
		return;
	}
	conn->state = CONN_IDLE;
	conn_arm_timer(conn, conn->srv->limits.idle_timeout_ms);
	conn_process(conn);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *conn = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;		/* the TLS handshake finished */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && !conn->body_streaming &&
	    (conn->state == CONN_HANDLING || conn->state == CONN_WRITING)) {
		/* A half-close after a complete request still gets its answer. */
		conn->close_after_write = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (conn->state == CONN_UPGRADED && (what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		/* The peer's last bytes go to the owner first (it may be pausing). */
		conn->channel_eof = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	conn_free(conn);
}

/*
 * The watch of a paused channel (HTTP_SERVER_CHANNEL_WATCH_MS): whether its
 * peer closed its side or reset the connection, though nothing is read.
 * The owner's hup callback decides; a reset channel the owner kept (or one
 * without a hup callback) ends here, its abandon callback runs.  A close is
 * told once per pause: the bytes before it wait in the kernel, and the close
 * itself is read after them when the owner resumes.
 */
static void channel_watch(struct http_conn *conn)
{
	struct http_request *req = conn->req;
	struct pollfd p = { .fd = bufferevent_getfd(conn->bev), .events = POLLRDHUP };
	bool reset;

	if (!req || !req->channel_paused)
		return;
	if (!conn->channel_eof &&
	    (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))) {
		conn_arm_timer(conn, HTTP_SERVER_CHANNEL_WATCH_MS);
		return;
	}
	reset = !conn->channel_eof && (p.revents & (POLLHUP | POLLERR));
	log_debug("http: the peer of a paused channel %s", reset ? "reset it" : "closed its side");
	if (req->channel_hup_cb)
		req->channel_hup_cb(req, bufferevent_get_input(conn->bev), reset,
				    req->channel_hup_arg);
	/* The owner may have closed it (then conn is not ours to free) or
	 * resumed it (then reading reaches the error after the last bytes). */
	if (reset && conn->state == CONN_UPGRADED && conn->req == req && req->channel_paused)
		conn_free(conn);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *conn = arg;
	char why[96];

	switch (conn->state) {
	case CONN_HEAD:
	case CONN_BODY:
		snprintf(why, sizeof(why), "the request did not arrive within %d ms",
			 conn->srv->limits.request_timeout_ms);
		conn_refuse(conn, 408, why);
		return;
	case CONN_UPGRADED:
		channel_watch(conn);
		return;
	case CONN_IDLE:
	case CONN_WRITING:	/* the client does not take its answer */
	case CONN_HANDLING:
	case CONN_STREAMING:
	case CONN_LINGER:
		break;
	}
	conn_free(conn);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd,
		      struct sockaddr *addr, int addrlen, void *arg)
{
	struct http_server *srv = arg;
	struct http_conn *conn;

	if (srv->stopping || srv->conn_count >= (size_t)srv->limits.max_connections) {
		log_warn("http: refusing a connection: %zu open (limit %d)", srv->conn_count,
			 srv->limits.max_connections);
		evutil_closesocket(fd);
		return;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		evutil_closesocket(fd);
		return;
	}
	conn->srv = srv;
	/* TLS writes a head and a body as separate records: without this, Nagle
	 * holds the second until the client's delayed ACK (40 ms per answer). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (srv->tls) {
		SSL *ssl = SSL_new(srv->tls);

		/* With CLOSE_ON_FREE the bufferevent frees ssl and closes fd. */
		conn->bev = ssl ? bufferevent_openssl_socket_new(srv->base, fd, ssl,
								 BUFFEREVENT_SSL_ACCEPTING,
								 BEV_OPT_CLOSE_ON_FREE) : NULL;
		if (conn->bev)
			bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
		else
			SSL_free(ssl);	/* libevent 2.1 leaves it to us on failure */
		ERR_clear_error();
	} else {
		conn->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	conn->timer = evtimer_new(srv->base, on_timer, conn);
	if (!conn->bev || !conn->timer) {
		if (conn->bev)
			bufferevent_free(conn->bev);
		else
			evutil_closesocket(fd);
		if (conn->timer)
			event_free(conn->timer);
		free(conn);
		return;
	}
	conn->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = conn;
	srv->conns = conn;
	srv->conn_count++;
	bufferevent_setcb(conn->bev, on_read, on_write_done, on_event, conn);
	bufferevent_setwatermark(conn->bev, EV_READ, 0,
				 srv->limits.max_header_bytes + HTTP_SERVER_READ_AHEAD_BYTES);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	/* A new connection owes its first request within the request timeout;
	 * only between keep-alive requests may it idle longer. */
	conn_arm_timer(conn, srv->limits.request_timeout_ms);
}

void http_respond(struct http_request *req, int status, const char *content_type,
		  const char *body, size_t body_len, const char *extra_headers)
{
	struct http_conn *conn = req->conn;
	struct evbuffer *out;

	out = bufferevent_get_output(conn->bev);
	if (!req->keep_alive || conn->srv->stopping || (conn->body_streaming && !conn->body_done))
		conn->close_after_write = true;	/* an unread body ends the connection */
	if (conn->body_streaming && !conn->body_done)
		bufferevent_enable(conn->bev, EV_READ);	/* maybe paused: linger reads */
	conn->body_streaming = false;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
			    status, http_status_reason(status), content_type, body_len,
			    conn->close_after_write ? "Connection: close\r\n" : "",
			    extra_headers ? extra_headers : "");
	if (!req->is_head && body_len)
		evbuffer_add(out, body, body_len);
	request_free(req);
	conn->req = NULL;
	conn->state = CONN_WRITING;
	conn_arm_timer(conn, conn->srv->limits.request_timeout_ms);
}

/* ---- streaming ---------------------------------------------------------- */

void http_server_set_stream_body(struct http_server *srv,
				 bool (*want)(const struct http_request *req, void *arg))
{
	srv->stream_body = want;
}

void http_request_set_body_cb(struct http_request *req, http_body_data_fn *data,
			      http_body_end_fn *end, void *arg)
{
	req->body_data_cb = data;
	req->body_end_cb = end;
	req->body_arg = arg;
	if (req->conn)	/* bytes may already wait in the input buffer */
		bufferevent_trigger(req->conn->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void http_request_pause_body(struct http_request *req, bool paused)
{
	struct http_conn *conn = req->conn;

	if (req->body_paused == paused || !conn)
		return;
	req->body_paused = paused;
	if (paused) {
		bufferevent_disable(conn->bev, EV_READ);
		return;
	}
	bufferevent_enable(conn->bev, EV_READ);
	bufferevent_trigger(conn->bev, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void http_stream_start(struct http_request *req, int status, const char *content_type,
		       const char *extra_headers)
{
	struct http_conn *conn = req->conn;

	if (!req->keep_alive || conn->srv->stopping)
		conn->close_after_write = true;
	evbuffer_add_printf(bufferevent_get_output(conn->bev),
			    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
			    "Cache-Control: no-store\r\n%s%s\r\n",
			    status, http_status_reason(status), content_type,
			    conn->close_after_write ? "Connection: close\r\n" : "",
			    extra_headers ? extra_headers : "");
	conn->state = CONN_STREAMING;
	evtimer_del(conn->timer);
}

void http_stream_write(struct http_request *req, const void *data, size_t len)
{
	struct evbuffer *out;

	if (!req->conn || req->conn->state != CONN_STREAMING || len == 0)
		return;
	out = bufferevent_get_output(req->conn->bev);
	evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	evbuffer_add(out, "\r\n", 2);
}

size_t http_stream_pending(const struct http_request *req)
{
	return req->conn ? evbuffer_get_length(bufferevent_get_output(req->conn->bev)) : 0;
}

void http_request_set_drain_cb(struct http_request *req,
			       void (*cb)(struct http_request *req, void *arg), void *arg)
{
	req->drain_cb = cb;
	req->drain_arg = arg;
}

void http_stream_end(struct http_request *req)
{
	struct http_conn *conn = req->conn;

	evbuffer_add(bufferevent_get_output(conn->bev), "0\r\n\r\n", 5);
	request_free(req);
	conn->req = NULL;
	conn->state = CONN_WRITING;
	conn_arm_timer(conn, conn->srv->limits.request_timeout_ms);
}

/* ---- upgraded connections ------------------------------------------------ */

bool http_request_wants_upgrade(const struct http_request *req, const char *protocol)
{
	const char *v = http_request_header(req, "Upgrade");
	size_t plen = strlen(protocol);

	if (!req->conn_upgrade || !v)
		return false;
	while (*v) {
		size_t len;

		v += strspn(v, " \t,");
		len = strcspn(v, " \t,");
		if (len == plen && strncasecmp(v, protocol, plen) == 0)
			return true;
		v += len;
	}
	return false;
}

void http_upgrade(struct http_request *req, const char *protocol, http_channel_read_fn *read,
		  void *arg)
{
	struct http_conn *conn = req->conn;
	evutil_socket_t fd = bufferevent_getfd(conn->bev);

	evtimer_del(conn->timer);
	conn->state = CONN_UPGRADED;
	conn->body_streaming = false;
	req->channel_read_cb = read;
	req->channel_arg = arg;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &(int){ 1 }, sizeof(int));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &(int){ HTTP_SERVER_CHANNEL_KEEPALIVE_IDLE_S },
		   sizeof(int));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL,
		   &(int){ HTTP_SERVER_CHANNEL_KEEPALIVE_INTERVAL_S }, sizeof(int));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &(int){ HTTP_SERVER_CHANNEL_KEEPALIVE_COUNT },
		   sizeof(int));
	evbuffer_add_printf(bufferevent_get_output(conn->bev),
			    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
			    "Upgrade: %s\r\n\r\n", protocol);
	bufferevent_enable(conn->bev, EV_READ);
	/* Bytes the peer sent right after its request wait in the input. */
	bufferevent_trigger(conn->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void http_channel_write(struct http_request *req, const void *data, size_t len)
{
	if (req->conn && req->conn->state == CONN_UPGRADED && len)
		evbuffer_add(bufferevent_get_output(req->conn->bev), data, len);
}

void http_channel_move(struct http_request *req, struct evbuffer *from, size_t len)
{
	if (req->conn && req->conn->state == CONN_UPGRADED)
		evbuffer_remove_buffer(from, bufferevent_get_output(req->conn->bev), len);
	else
		evbuffer_drain(from, len);
}

void http_channel_pause(struct http_request *req, bool paused)
{
	struct http_conn *conn = req->conn;

	if (req->channel_paused == paused || !conn || conn->state != CONN_UPGRADED)
		return;
	req->channel_paused = paused;
	if (paused) {
		bufferevent_disable(conn->bev, EV_READ);
		conn_arm_timer(conn, HTTP_SERVER_CHANNEL_WATCH_MS);	/* channel_watch */
		return;
	}
	evtimer_del(conn->timer);
	if (!conn->channel_eof)
		bufferevent_enable(conn->bev, EV_READ);
	bufferevent_trigger(conn->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void http_channel_close(struct http_request *req)
{
	struct http_conn *conn = req->conn;

	request_free(req);
	conn->req = NULL;
	conn->close_after_write = true;
	conn->state = CONN_WRITING;
	bufferevent_disable(conn->bev, EV_READ);
	conn_arm_timer(conn, conn->srv->limits.request_timeout_ms);
	/* Nothing left to send: the write callback closes it all the same. */
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		bufferevent_trigger(conn->bev, EV_WRITE,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void http_channel_abort(struct http_request *req)
{
	struct http_conn *conn = req->conn;

	request_free(req);
	if (!conn)
		return;
	conn->req = NULL;
	/* Closing with SO_LINGER 0 sends a reset: a peer that reads nothing
	 * (its own backpressure) still sees it, as a socket error. */
	setsockopt(bufferevent_getfd(conn->bev), SOL_SOCKET, SO_LINGER,
		   &(struct linger){ .l_onoff = 1, .l_linger = 0 }, sizeof(struct linger));
	conn_free(conn);
}

void http_channel_set_hup_cb(struct http_request *req, http_channel_hup_fn *cb, void *arg)
{
	req->channel_hup_cb = cb;
	req->channel_hup_arg = arg;
}

/* ---- the server -------------------------------------------------------- */

struct http_server *http_server_new(struct event_base *base,
				    const struct http_server_limits *limits,
				    http_request_handler *handler,
				    http_refusal_handler *refuse, void *arg)
{
	struct http_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->base = base;
	srv->limits = *limits;
	srv->handler = handler;
	srv->refuse = refuse;
	srv->arg = arg;
	srv->parse_limits.max_header_bytes = limits->max_header_bytes;
	srv->parse_limits.max_header_line_bytes = limits->max_header_bytes;
	srv->parse_limits.max_header_count = HTTP_SERVER_MAX_HEADER_COUNT;
	srv->parse_limits.max_uri_bytes = HTTP_SERVER_MAX_URI_BYTES;
	srv->parse_limits.max_chunk_ext_bytes = HTTP_SERVER_MAX_CHUNK_EXT_BYTES;
	return srv;
}

int http_server_listen(struct http_server *srv, const char *host, unsigned short port,
		       orch_error *err)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char text[300];

	snprintf(text, sizeof(text), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	if (evutil_parse_sockaddr_port(text, (struct sockaddr *)&ss, &sslen) < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not an IP address and port", text);
	srv->listener = evconnlistener_new_bind(srv->base, on_accept, srv,
						LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
						LEV_OPT_CLOSE_ON_EXEC, HTTP_SERVER_LISTEN_BACKLOG,
						(struct sockaddr *)&ss, sslen);
	if (!srv->listener)
		return orch_fail_errno(err, errno, "listening on %s", text);
	return 0;
}

void http_server_set_tls(struct http_server *srv, SSL_CTX *ctx)
{
	if (ctx)
		SSL_CTX_up_ref(ctx);
	SSL_CTX_free(srv->tls);
	srv->tls = ctx;
}

int http_server_listen_fd(struct http_server *srv)
{
	return srv->listener ? evconnlistener_get_fd(srv->listener) : -1;
}

void http_server_stop_accepting(struct http_server *srv)
{
	struct http_conn *conn, *next;

	srv->stopping = true;
	if (srv->listener) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	for (conn = srv->conns; conn; conn = next) {
		next = conn->next;
		if (conn->state == CONN_IDLE)
			conn_free(conn);
	}
}

size_t http_server_busy_connections(struct http_server *srv)
{
	size_t busy = 0;

	for (struct http_conn *conn = srv->conns; conn; conn = conn->next)
		if (conn->state != CONN_IDLE && conn->state != CONN_LINGER &&
		    conn->state != CONN_UPGRADED)	/* their owners end them */
			busy++;
	return busy;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->listener)
		evconnlistener_free(srv->listener);
	while (srv->conns)
		conn_free(srv->conns);
	SSL_CTX_free(srv->tls);
	free(srv);
}

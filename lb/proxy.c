/*
 * proxy.c - the client connection state machine.
 *
 *   READ_HEAD --head parsed, routed--> CONNECTING --connected--> PROXYING
 *       ^                                  |  (a pooled connection skips it)
 *       |                                  v
 *       +------ response complete, keep-alive <----+
 *                                                  |
 *   PROXYING --101 Switching Protocols--> TUNNEL   +--> CLOSING (flush, linger, free)
 *
 * One request is in flight per client connection at a time: pipelined
 * requests wait in the input buffer (bounded by the read high-water mark)
 * and are answered in order.  Bodies stream in both directions; a direction
 * stops reading when the other side's output passes limits.buffer_bytes and
 * resumes when it drains to half of that, so no body is ever held whole.
 *
 * Callbacks never free a client directly: anything that ends a connection
 * sets c->dead, and the outermost callback frees it on the way out
 * (client_settle), so no code touches a freed client.  client_settle also
 * writes what the callback queued (conn.h: at once, whatever the kernel
 * takes).
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "balancer.h"
#include "conn.h"
#include "common/clock.h"
#include "common/log.h"
#include "route_table.h"
#include "target.h"
#include "upstream_pool.h"

/* A client whose output is flushed on close gets this long to send its FIN. */
#define LB_LINGER_SECONDS 2.0
/* Bytes of chunk framing looked at in one go. */
#define LB_CHUNK_FRAMING_WINDOW 4096
/* Longest X-Request-Id taken from a client. */
#define LB_REQUEST_ID_MAX 128
/*
 * Interim (1xx) responses passed on for one request; a backend that sends
 * more gets its connection closed and the client a 502.  A real server sends
 * one or two (100 Continue, 103 Early Hints); without a bound a backend could
 * keep a request busy, and the client's output growing, for ever.
 */
#define LB_INTERIM_RESPONSES_MAX 8

enum client_state {
	CLIENT_READ_HEAD,
	CLIENT_CONNECTING,
	CLIENT_PROXYING,
	CLIENT_TUNNEL,
	CLIENT_CLOSING,
};

enum body_mode {
	BODY_NONE,
	BODY_LENGTH,
	BODY_CHUNKED,
	BODY_UNTIL_CLOSE,
};

enum timer_kind {
	TIMER_NONE,
	TIMER_HEADER,
	TIMER_IDLE,
	TIMER_LINGER,
};

struct head_builder {
	char *buf;
	size_t len, cap;
};

struct lb_client {
	struct lb_worker *w;
	struct lb_conn *conn;
	bool tls;
	int local_port;
	char peer_ip[INET6_ADDRSTRLEN];
	enum client_state state;
	struct event *timer;
	enum timer_kind timer_kind;
	int64_t timer_deadline_ms;		/* when timer_kind expires */
	int64_t timer_at_ms;			/* when the event fires (if timer_armed) */
	bool timer_armed;
	bool dead;
	bool in_progress;
	bool flushed;
	bool client_eof;
	bool read_timeout_set;			/* a read timeout is set on the connection */
	double send_timeout;			/* the write timeout last set */
	char forwarded[80];			/* "X-Forwarded-Proto: ...\r\nX-Forwarded-Port: ...\r\n" */
	size_t forwarded_len;
	TAILQ_ENTRY(lb_client) link;
	struct http_head *head_partial;		/* a request head cut short, kept across reads */

	/* the request in flight */
	struct lb_route_table *routes;		/* reference held while set */
	struct lb_group *group;
	struct lb_target *target;		/* counted in target->outstanding */
	struct lb_upstream_conn *up;
	struct timespec start;
	enum http_method method;
	int version_minor;
	bool keep_alive;
	bool websocket;
	bool close_after;
	int attempts;
	unsigned interim_count;			/* 1xx responses so far */
	int status;
	bool status_from_upstream;
	struct head_builder up_head;		/* kept for a retry */

	enum body_mode req_mode;
	uint64_t req_remaining;
	struct http_chunk_decoder req_chunks;
	bool req_done;
	bool req_body_touched;
	bool req_blocked;

	bool resp_head_done;
	enum body_mode resp_mode;
	uint64_t resp_remaining;
	struct http_chunk_decoder resp_chunks;
	bool resp_chunked_out;
	bool resp_blocked;
	bool up_reusable;
};

static void client_progress(struct lb_client *c);
static void response_progress(struct lb_client *c);
static void client_start_attempt(struct lb_client *c, struct lb_target *exclude, int fail_status);
static void move_response_bytes(struct lb_client *c, struct evbuffer *in, struct evbuffer *out,
				size_t n);

/* ---- small helpers ------------------------------------------------------ */

static void hb_reserve(struct head_builder *b, size_t more)
{
	size_t cap;

	if (b->len + more <= b->cap)
		return;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + more)
		cap *= 2;
	b->buf = realloc(b->buf, cap);
	if (!b->buf)
		abort();
	b->cap = cap;
}

static void hb_add(struct head_builder *b, const char *p, size_t n)
{
	hb_reserve(b, n);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void hb_str(struct head_builder *b, const char *s)
{
	hb_add(b, s, strlen(s));
}

static void hb_span(struct head_builder *b, const char *base, struct http_span s)
{
	hb_add(b, base + s.off, s.len);
}

/* Sixteen lower-case hex digits of v (request ids), no printf. */
static void hb_hex64(struct head_builder *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	hb_reserve(b, 16);
	for (int i = 15; i >= 0; i--) {
		b->buf[b->len + (size_t)i] = digits[v & 15];
		v >>= 4;
	}
	b->len += 16;
}

/* Decimal digits of v, no printf: this runs once or twice per request. */
static void hb_u64(struct head_builder *b, uint64_t v)
{
	char digits[20];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	hb_reserve(b, n);
	while (n)
		b->buf[b->len++] = digits[--n];
}

static const struct lb_config *client_config(struct lb_client *c)
{
	return (c->routes ? c->routes : c->w->routes)->config;
}

static size_t client_buffer_cap(struct lb_client *c)
{
	return client_config(c)->limits.buffer_bytes;
}

/*
 * The client's timer (header, idle, linger) is a deadline on the coarse
 * clock.  The event is only moved when the deadline comes closer than the
 * time it is set for, and disarming just forgets the deadline: the arm,
 * disarm, arm again of every keep-alive request costs no timer-heap work.
 * An event that fires before the deadline sets itself again.
 */
static void timer_set_event(struct lb_client *c, int64_t now)
{
	int64_t delay = c->timer_deadline_ms > now ? c->timer_deadline_ms - now : 0;
	struct timeval tv;

	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	c->timer_armed = true;
	c->timer_at_ms = c->timer_deadline_ms;
}

static void arm_timer(struct lb_client *c, enum timer_kind kind, double seconds)
{
	int64_t now = clock_mono_coarse_ms();
	int64_t ms = (int64_t)(seconds * 1000.0);

	if ((double)ms < seconds * 1000.0)
		ms++;
	c->timer_kind = kind;
	c->timer_deadline_ms = now + ms;
	if (!c->timer_armed || c->timer_at_ms > c->timer_deadline_ms)
		timer_set_event(c, now);
}

static void disarm_timer(struct lb_client *c)
{
	c->timer_kind = TIMER_NONE;
}

static void set_client_timeouts(struct lb_client *c, const double *read_seconds)
{
	const struct lb_config *config = client_config(c);

	/* The common case, once per request: nothing to change. */
	if (!read_seconds && !c->read_timeout_set && c->send_timeout == config->timeouts.client_send)
		return;
	c->read_timeout_set = read_seconds != NULL;
	c->send_timeout = config->timeouts.client_send;
	lb_conn_set_timeouts(c->conn, read_seconds ? *read_seconds : 0, config->timeouts.client_send);
}

typedef int (*head_parser)(const char *buf, size_t len, const struct http_limits *limits,
			   struct http_head *head);

/*
 * Parse the head at the front of a connection's input (len bytes at p).  A
 * head cut short by the end of the input is kept in *partial, allocated at
 * the first need and owned by the connection whose input holds its bytes,
 * and the next read resumes it at its first untaken line instead of parsing
 * it all again: a head sent a byte at a time costs time in proportion to its
 * length, not to its square.  (Without memory for it, each read parses from
 * the start: slower, and still right.)  Any answer but "need more" frees
 * *partial, and a parsed head is in the worker's scratch_head.
 */
static int parse_head_resuming(struct lb_worker *w, struct http_head **partial,
			       head_parser parse, head_parser resume, const char *p, size_t len,
			       const struct http_limits *limits)
{
	int rc;

	if (!*partial) {
		rc = parse(p, len, limits, &w->scratch_head);
		if (rc == 0) {
			*partial = malloc(sizeof(**partial));
			if (*partial)
				**partial = w->scratch_head;
		}
		return rc;
	}
	rc = resume(p, len, limits, *partial);
	if (rc != 0) {
		if (rc > 0)
			w->scratch_head = **partial;
		free(*partial);
		*partial = NULL;
	}
	return rc;
}

static bool span_equals_span(const char *a_base, struct http_span a, const char *b_base,
			     struct http_span b)
{
	return a.len == b.len && strncasecmp(a_base + a.off, b_base + b.off, a.len) == 0;
}

/*
 * The forwarding headers the proxy sets on every request, replacing (or,
 * for X-Forwarded-For, extending) whatever the client sent.
 */
static bool is_forwarding_header(const char *base, struct http_span name)
{
	switch (name.len) {
	case 12:
		return http_span_equals(base, name, "x-request-id");
	case 15:
		return http_span_equals(base, name, "x-forwarded-for");
	case 16:
		return http_span_equals(base, name, "x-forwarded-port");
	case 17:
		return http_span_equals(base, name, "x-forwarded-proto");
	}
	return false;
}

/*
 * Connection-specific headers, never forwarded (RFC 9110 §7.6.1): the fixed
 * ones and those the message's Connection list names.  The list cannot take
 * away what the proxy relies on: Host, the framing (Content-Length and
 * Transfer-Encoding are re-stated by the proxy in any case) and the
 * forwarding headers, or "Connection: host" would forward a request without
 * a Host and "Connection: x-forwarded-for" one without the client's address.
 */
static bool is_hop_by_hop(const char *base, const struct http_header *h,
			  const struct http_head *head)
{
	switch (h->name.len) {
	case 2:
		if (http_span_equals(base, h->name, "te"))
			return true;
		break;
	case 7:
		if (http_span_equals(base, h->name, "trailer") ||
		    http_span_equals(base, h->name, "upgrade"))
			return true;
		break;
	case 10:
		if (http_span_equals(base, h->name, "connection") ||
		    http_span_equals(base, h->name, "keep-alive"))
			return true;
		break;
	case 14:
		if (http_span_equals(base, h->name, "content-length"))
			return true;	/* framing is re-stated by the proxy */
		break;
	case 16:
		if (http_span_equals(base, h->name, "proxy-connection"))
			return true;
		break;
	case 17:
		if (http_span_equals(base, h->name, "transfer-encoding"))
			return true;
		break;
	}
	for (size_t i = 0; i < head->connection_token_count; i++) {
		if (span_equals_span(base, h->name, base, head->connection_tokens[i]))
			return !(h->name.len == 4 && http_span_equals(base, h->name, "host")) &&
			       !is_forwarding_header(base, h->name);
	}
	return false;
}

/* Copies a response's end-to-end headers (all but the hop-by-hop ones). */
static void hb_end_to_end_headers(struct head_builder *b, const char *p,
				  const struct http_head *h)
{
	for (size_t i = 0; i < h->header_count; i++) {
		const struct http_header *hd = &h->headers[i];

		if (is_hop_by_hop(p, hd, h))
			continue;
		hb_span(b, p, hd->name);
		hb_str(b, ": ");
		hb_span(b, p, hd->value);
		hb_str(b, "\r\n");
	}
}

static bool request_id_acceptable(const char *p, size_t n)
{
	if (n == 0 || n > LB_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr("-_.:/+=", ch)))
			return false;
	}
	return true;
}

static uint64_t worker_random(struct lb_worker *w)
{
	/* xorshift64*: request ids need uniqueness, not secrecy. */
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/*
 * Per-request warnings (a dead target fails every request sent to it) are
 * limited to LB_REQUEST_LOG_PER_SECOND lines per worker per second, so a
 * storm cannot turn into a logging bottleneck; the count of dropped lines
 * is reported when the next window opens.
 */
#define LB_REQUEST_LOG_PER_SECOND 20

static bool request_log_allowed(struct lb_worker *w)
{
	int64_t now = clock_mono_coarse_ms();

	if (now - w->log_window_ms >= 1000) {
		if (w->log_suppressed)
			log_warn("lb: %u similar messages suppressed in the last second",
				 w->log_suppressed);
		w->log_window_ms = now;
		w->log_count = 0;
		w->log_suppressed = 0;
	}
	if (w->log_count < LB_REQUEST_LOG_PER_SECOND) {
		w->log_count++;
		return true;
	}
	w->log_suppressed++;
	return false;
}

#define request_warn(w, ...) \
	do { if (request_log_allowed(w)) log_warn(__VA_ARGS__); } while (0)

/* ---- metrics ------------------------------------------------------------ */

static void record_request(struct lb_client *c)
{
	struct lb_group_stats *g = c->group ? c->group->stats : c->w->lb->unrouted_stats;
	struct lb_group_counters *s = &g->per_worker[c->w->index];
	struct timespec now;
	uint64_t us;
	int cls = c->status / 100;
	size_t b;

	if (cls < 1 || cls > 5)
		cls = 0;
	lb_counter_add(&s->responses[cls], 1);
	if (!c->group)
		atomic_fetch_add_explicit(&c->w->lb->metrics.requests_rejected[cls], 1,
					  memory_order_relaxed);
	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (uint64_t)(now.tv_sec - c->start.tv_sec) * 1000000u +
	     (uint64_t)((now.tv_nsec - c->start.tv_nsec) / 1000);
	for (b = 0; b < LB_LATENCY_BUCKET_COUNT; b++) {
		if (us <= lb_latency_bucket_us[b])
			break;
	}
	lb_counter_add(&s->latency_buckets[b], 1);
	lb_counter_add(&s->latency_sum_us, us);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* Drop what the current request holds: its target count and its snapshot. */
static void request_release(struct lb_client *c)
{
	if (c->target) {
		atomic_fetch_sub_explicit(&c->target->outstanding, 1, memory_order_relaxed);
		c->target = NULL;
	}
	c->group = NULL;
	route_table_unref(c->routes);
	c->routes = NULL;
}

static void client_free(struct lb_client *c)
{
	struct lb_worker *w = c->w;

	if (c->routes && c->group) {
		c->status = 0;	/* aborted */
		record_request(c);
	}
	if (c->up) {
		upstream_conn_free(c->up);
		c->up = NULL;
	}
	request_release(c);
	event_free(c->timer);
	lb_conn_free(c->conn);
	TAILQ_REMOVE(&w->clients, c, link);
	atomic_fetch_sub_explicit(&w->client_count, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&w->lb->metrics.active_connections, 1, memory_order_relaxed);
	free(c->up_head.buf);
	free(c->head_partial);
	free(c);
}

static void client_release_if_dead(struct lb_client *c)
{
	if (c && c->dead && !c->in_progress)
		client_free(c);
}

static void client_abort(struct lb_client *c)
{
	c->dead = true;
}

static void drop_upstream(struct lb_client *c)
{
	if (c->up) {
		upstream_conn_free(c->up);
		c->up = NULL;
	}
}

/* The output is flushed: half-close and wait (briefly) for the client's FIN. */
static void client_flushed(struct lb_client *c)
{
	c->flushed = true;
	if (c->tls) {
		client_abort(c);
		return;
	}
	shutdown(lb_conn_fd(c->conn), SHUT_WR);
	arm_timer(c, TIMER_LINGER, LB_LINGER_SECONDS);
}

/*
 * Stop serving this connection: flush what is queued, then close.  Reading
 * goes on (discarding) so an unread request body does not turn our close
 * into a reset that destroys the response in flight.
 */
static void client_begin_close(struct lb_client *c)
{
	drop_upstream(c);
	c->state = CLIENT_CLOSING;
	c->req_blocked = c->resp_blocked = false;
	disarm_timer(c);
	set_client_timeouts(c, NULL);
	lb_conn_enable(c->conn, EV_READ);
	evbuffer_drain(lb_conn_input(c->conn),
		       evbuffer_get_length(lb_conn_input(c->conn)));
	if (evbuffer_get_length(lb_conn_output(c->conn)) == 0)
		client_flushed(c);
}

/*
 * The request is over (answered by upstream or by us).  Account it, park or
 * close the upstream connection, and either wait for the next request or
 * close.
 */
static void request_finish(struct lb_client *c)
{
	struct lb_upstream_conn *up = c->up;

	record_request(c);
	if (c->target && c->status_from_upstream) {
		if (c->status >= 500)
			lb_target_report_failure(c->target);
		else
			lb_target_report_success(c->target);
	}
	c->up = NULL;
	if (up) {
		up->client = NULL;
		if (c->up_reusable && c->req_done && c->resp_head_done) {
			const struct lb_config *config = client_config(c);

			upstream_pool_put(up, config->limits.max_idle_upstream_per_target,
					  config->timeouts.upstream_idle);
		} else {
			upstream_conn_free(up);
		}
	}
	request_release(c);
	if (c->close_after || !c->req_done || c->client_eof ||
	    atomic_load_explicit(&c->w->lb->draining, memory_order_relaxed)) {
		client_begin_close(c);
		return;
	}
	c->state = CLIENT_READ_HEAD;
	c->resp_blocked = c->req_blocked = false;
	set_client_timeouts(c, NULL);
	lb_conn_enable(c->conn, EV_READ);
	if (evbuffer_get_length(lb_conn_input(c->conn)) > 0)
		arm_timer(c, TIMER_HEADER, client_config(c)->timeouts.header_read);
	else
		arm_timer(c, TIMER_IDLE, client_config(c)->timeouts.client_idle);
	client_progress(c);
}

/*
 * Answer the current request ourselves.  A request whose body was not read
 * to its end leaves the connection out of sync, so it is closed.
 */
static void client_respond(struct lb_client *c, int status, const char *detail, bool close)
{
	struct evbuffer *out = lb_conn_output(c->conn);
	char body[256];
	int n;

	drop_upstream(c);
	if (!c->req_done)
		close = true;
	if (!c->keep_alive)
		close = true;
	n = snprintf(body, sizeof(body), "%d %s%s%s\n", status, http_status_reason(status),
		     detail ? ": " : "", detail ? detail : "");
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)strlen(body);
	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n"
			    "Content-Length: %d\r\n"
			    "Cache-Control: no-store\r\n"
			    "%s"
			    "\r\n",
			    status, http_status_reason(status), n,
			    close ? "Connection: close\r\n"
				  : c->version_minor == 0 ? "Connection: keep-alive\r\n" : "");
	if (c->method != HTTP_METHOD_HEAD)
		evbuffer_add(out, body, (size_t)n);
	c->status = status;
	c->status_from_upstream = false;
	c->close_after = close;
	c->resp_head_done = true;
	if (!c->routes) {
		/* Rejected before routing: account it against no group. */
		c->group = NULL;
		record_request(c);
		if (close)
			client_begin_close(c);
		return;
	}
	request_finish(c);
}

/* Reject a request whose head failed to parse (status from the parser). */
static void client_reject(struct lb_client *c, int status)
{
	log_debug("lb: %s: request rejected with %d", c->peer_ip, status);
	c->req_done = false;	/* framing unknown: close after answering */
	c->keep_alive = false;
	c->method = HTTP_METHOD_OTHER;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	client_respond(c, status, NULL, true);
}

/* ---- request ------------------------------------------------------------ */

/*
 * The head to send upstream, in c->up_head.  *target_off and *target_len
 * say where its request target is: the one place the target is normalised
 * (an absolute-form target's path, "/" in front when it has none), so the
 * request is routed on exactly what is forwarded.
 */
static void build_upstream_head(struct lb_client *c, const char *p, const struct http_head *h,
				size_t *target_off, size_t *target_len)
{
	struct head_builder *b = &c->up_head;

	b->len = 0;
	hb_span(b, p, h->method_name);
	hb_str(b, " ");
	*target_off = b->len;
	if (h->target_form == HTTP_TARGET_ABSOLUTE) {
		if (h->path.len == 0 || p[h->path.off] != '/')
			hb_str(b, "/");
		hb_span(b, p, h->path);
	} else {
		hb_span(b, p, h->target);
	}
	*target_len = b->len - *target_off;
	hb_str(b, " HTTP/1.1\r\n");
	for (size_t i = 0; i < h->header_count; i++) {
		const struct http_header *hd = &h->headers[i];

		if (is_hop_by_hop(p, hd, h))
			continue;
		if (hd->name.len == 4 && h->target_form == HTTP_TARGET_ABSOLUTE &&
		    http_span_equals(p, hd->name, "host"))
			continue;	/* replaced by the target's authority below */
		if (is_forwarding_header(p, hd->name))
			continue;	/* set (X-Forwarded-For: merged) below */
		hb_span(b, p, hd->name);
		hb_str(b, ": ");
		hb_span(b, p, hd->value);
		hb_str(b, "\r\n");
	}
	if (h->target_form == HTTP_TARGET_ABSOLUTE) {
		hb_str(b, "Host: ");
		hb_span(b, p, h->authority);
		hb_str(b, "\r\n");
	}
	hb_str(b, "X-Forwarded-For: ");
	for (size_t i = 0; i < h->header_count; i++) {
		const struct http_header *hd = &h->headers[i];

		if (hd->name.len == 15 && http_span_equals(p, hd->name, "x-forwarded-for") &&
		    hd->value.len > 0) {
			hb_span(b, p, hd->value);
			hb_str(b, ", ");
		}
	}
	hb_str(b, c->peer_ip);
	hb_str(b, "\r\n");
	hb_add(b, c->forwarded, c->forwarded_len);
	hb_str(b, "X-Request-Id: ");
	if (h->has_request_id && request_id_acceptable(p + h->request_id.off, h->request_id.len)) {
		hb_span(b, p, h->request_id);
	} else {
		hb_hex64(b, worker_random(c->w));
		hb_hex64(b, worker_random(c->w));
	}
	hb_str(b, "\r\n");
	if (c->req_mode == BODY_LENGTH) {
		hb_str(b, "Content-Length: ");
		hb_u64(b, c->req_remaining);
		hb_str(b, "\r\n");
	} else if (c->req_mode == BODY_CHUNKED) {
		hb_str(b, "Transfer-Encoding: chunked\r\n");
	} else if (h->content_length == 0) {
		hb_str(b, "Content-Length: 0\r\n");
	}
	if (c->websocket)
		hb_str(b, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	hb_str(b, "\r\n");
}

/* Lower-case host without port (and without a trailing dot) for routing. */
static size_t routing_host(const char *p, struct http_span span, char *out, size_t out_size)
{
	const char *h = p + span.off;
	size_t n = span.len, i;

	if (n > 0 && h[0] == '[') {
		const char *close = memchr(h, ']', n);

		if (close)
			n = (size_t)(close - h) + 1;
	} else {
		const char *colon = memchr(h, ':', n);

		if (colon)
			n = (size_t)(colon - h);
	}
	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n >= out_size)
		n = out_size - 1;
	for (i = 0; i < n; i++) {
		char ch = h[i];

		out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : ch;
	}
	out[n] = '\0';
	return n;
}

static void client_handle_request(struct lb_client *c, const char *p, size_t head_len,
				  const struct http_head *h)
{
	struct lb_worker *w = c->w;
	struct lb_route_table *table = w->routes;
	const struct lb_config *config = table->config;
	struct evbuffer *in = lb_conn_input(c->conn);
	char host[256];
	size_t host_len = 0, target_off, target_len;

	clock_gettime(CLOCK_MONOTONIC, &c->start);
	route_table_ref(table);
	c->routes = table;
	c->group = NULL;
	c->method = h->method;
	c->version_minor = h->version_minor;
	c->keep_alive = h->version_minor >= 1 ? !h->conn_close : (h->conn_keep_alive && !h->conn_close);
	c->websocket = false;
	c->close_after = false;
	c->attempts = 0;
	c->interim_count = 0;
	c->status = 0;
	c->status_from_upstream = false;
	c->resp_head_done = false;
	c->resp_blocked = c->req_blocked = false;
	c->up_reusable = false;
	c->req_body_touched = false;

	if (h->chunked) {
		c->req_mode = BODY_CHUNKED;
		http_chunk_decoder_init(&c->req_chunks, config->limits.max_body_bytes,
					config->limits.max_chunk_ext_bytes,
					config->limits.max_header_bytes);
	} else if (h->content_length > 0) {
		c->req_mode = BODY_LENGTH;
		c->req_remaining = (uint64_t)h->content_length;
	} else {
		c->req_mode = BODY_NONE;
	}
	c->req_done = c->req_mode == BODY_NONE;

	if (h->method == HTTP_METHOD_CONNECT) {
		evbuffer_drain(in, head_len);
		client_respond(c, 405, "CONNECT is not supported (this is not a forward proxy)", true);
		return;
	}
	if (c->req_mode == BODY_LENGTH && c->req_remaining > config->limits.max_body_bytes) {
		evbuffer_drain(in, head_len);
		client_respond(c, 413, NULL, true);
		return;
	}
	if (h->target_form == HTTP_TARGET_ABSOLUTE)
		host_len = routing_host(p, h->authority, host, sizeof(host));
	else if (h->host_count == 1)
		host_len = routing_host(p, h->host, host, sizeof(host));
	else
		host[0] = '\0';
	if (h->conn_upgrade && h->upgrade_websocket && h->method == HTTP_METHOD_GET &&
	    h->version_minor == 1)
		c->websocket = true;

	build_upstream_head(c, p, h, &target_off, &target_len);
	c->group = route_table_match(table, host, host_len, c->up_head.buf + target_off,
				     target_len);
	evbuffer_drain(in, head_len);
	if (!c->group) {
		client_respond(c, 404, "no rule matches this host and path", false);
		return;
	}
	if (!c->req_done)
		set_client_timeouts(c, &config->timeouts.body_read);
	client_start_attempt(c, NULL, 503);
}

static void request_body_done(struct lb_client *c)
{
	c->req_done = true;
	set_client_timeouts(c, NULL);
}

static void request_body_error(struct lb_client *c, int status)
{
	if (c->resp_head_done) {
		client_abort(c);
		return;
	}
	client_respond(c, status, status == 413 ? NULL : "malformed chunked body", true);
}

/* Move request body bytes from the client to the upstream connection. */
static void request_body_forward(struct lb_client *c)
{
	struct evbuffer *in, *out;
	size_t cap;

	if (!c->up || !c->up->connected || c->req_done)
		return;
	in = lb_conn_input(c->conn);
	out = lb_conn_output(c->up->conn);
	cap = client_buffer_cap(c);
	for (;;) {
		size_t len = evbuffer_get_length(in), n;

		if (evbuffer_get_length(out) >= cap) {
			lb_conn_disable(c->conn, EV_READ);
			c->req_blocked = true;
			return;
		}
		if (c->req_mode == BODY_LENGTH) {
			n = len < c->req_remaining ? len : (size_t)c->req_remaining;
			if (n == 0)
				return;
			evbuffer_remove_buffer(in, out, n);
			c->req_body_touched = true;
			c->req_remaining -= n;
			if (c->req_remaining == 0) {
				request_body_done(c);
				return;
			}
		} else if (c->req_mode == BODY_CHUNKED) {
			struct http_chunk_decoder *dec = &c->req_chunks;

			if (dec->state == CHUNK_DATA) {
				n = len < dec->remaining ? len : (size_t)dec->remaining;
				if (n == 0)
					return;
				evbuffer_add_printf(out, "%zx\r\n", n);
				evbuffer_remove_buffer(in, out, n);
				evbuffer_add(out, "\r\n", 2);
				http_chunk_data_consumed(dec, n);
				c->req_body_touched = true;
				continue;
			}
			if (len == 0)
				return;
			n = len < LB_CHUNK_FRAMING_WINDOW ? len : LB_CHUNK_FRAMING_WINDOW;
			int rc = http_chunk_decode_framing(dec, (const char *)evbuffer_pullup(in, (ssize_t)n),
							   n);

			if (rc < 0) {
				request_body_error(c, -rc);
				return;
			}
			evbuffer_drain(in, (size_t)rc);
			c->req_body_touched = true;
			if (dec->state == CHUNK_DONE) {
				evbuffer_add(out, "0\r\n\r\n", 5);
				request_body_done(c);
				return;
			}
		} else {
			return;
		}
	}
}

/* ---- tunnel ------------------------------------------------------------- */

static void tunnel_pump(struct lb_client *c)
{
	struct evbuffer *cin, *cout, *uin, *uout;
	size_t cap = client_buffer_cap(c);

	if (!c->up)
		return;
	cin = lb_conn_input(c->conn);
	cout = lb_conn_output(c->conn);
	uin = lb_conn_input(c->up->conn);
	uout = lb_conn_output(c->up->conn);
	if (evbuffer_get_length(cin))
		evbuffer_add_buffer(uout, cin);
	if (evbuffer_get_length(uout) >= cap) {
		lb_conn_disable(c->conn, EV_READ);
		c->req_blocked = true;
	}
	if (evbuffer_get_length(uin))
		evbuffer_add_buffer(cout, uin);
	if (evbuffer_get_length(cout) >= cap) {
		lb_conn_disable(c->up->conn, EV_READ);
		c->resp_blocked = true;
	}
}

/* ---- response ----------------------------------------------------------- */

/* The upstream connection failed; retry, answer 502/504, or cut the client. */
static void upstream_broken(struct lb_client *c, short events)
{
	struct lb_upstream_conn *up = c->up;
	bool timeout = (events & BEV_EVENT_TIMEOUT) != 0;
	bool connect_failed = !up->connected;
	bool reused = up->reused;
	int status = timeout ? 504 : 502;

	if (c->state == CLIENT_TUNNEL) {
		tunnel_pump(c);
		client_begin_close(c);
		return;
	}
	if (c->resp_head_done && c->resp_mode == BODY_UNTIL_CLOSE && !timeout &&
	    (events & BEV_EVENT_EOF)) {
		response_progress(c);
		if (c->dead || !c->up)
			return;
		/* Whatever backpressure held back goes out now: the source is gone. */
		size_t rest = evbuffer_get_length(lb_conn_input(c->up->conn));

		if (rest)
			move_response_bytes(c, lb_conn_input(c->up->conn),
					    lb_conn_output(c->conn), rest);
		if (c->resp_chunked_out)
			evbuffer_add(lb_conn_output(c->conn), "0\r\n\r\n", 5);
		c->up_reusable = false;
		request_finish(c);
		return;
	}
	c->up = NULL;
	upstream_conn_free(up);
	if (c->resp_head_done) {
		/* Part of the response is out: all we can do is cut the client off. */
		request_warn(c->w, "lb: target %s failed mid-response (%s); closing client %s",
			 c->target ? c->target->address : "?", timeout ? "timeout" : "closed",
			 c->peer_ip);
		if (c->target)
			lb_target_report_failure(c->target);
		client_abort(c);
		return;
	}
	if (!reused || timeout)
		lb_target_report_failure(c->target);
	if (!c->req_body_touched && http_method_idempotent(c->method) &&
	    c->attempts < (reused && !timeout ? 3 : 2)) {
		struct lb_target *prev = c->target;

		log_debug("lb: retrying %s request after %s on %s", c->group->conf->name,
			  connect_failed ? "connect failure" : timeout ? "timeout" : "closed connection",
			  prev->address);
		lb_counter_add(&c->group->stats->per_worker[c->w->index].retries, 1);
		atomic_fetch_sub_explicit(&prev->outstanding, 1, memory_order_relaxed);
		c->target = NULL;
		/* A stale pooled connection says nothing about its target. */
		client_start_attempt(c, reused && !timeout ? NULL : prev, status);
		return;
	}
	request_warn(c->w, "lb: target %s: %s; answering %d", c->target->address,
		 connect_failed ? (timeout ? "connect timeout" : "connect failed")
				: (timeout ? "response timeout" : "connection closed before a response"),
		 status);
	client_respond(c, status, NULL, false);
}

static void move_response_bytes(struct lb_client *c, struct evbuffer *in, struct evbuffer *out,
				size_t n)
{
	if (c->resp_chunked_out) {
		evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_remove_buffer(in, out, n);
		evbuffer_add(out, "\r\n", 2);
	} else {
		evbuffer_remove_buffer(in, out, n);
	}
}

/* Returns true when the loop should go on (the head was consumed). */
static bool response_read_head(struct lb_client *c)
{
	struct lb_upstream_conn *up = c->up;
	struct evbuffer *in = lb_conn_input(up->conn);
	const struct http_limits *limits = &c->routes->http_limits;
	struct http_head *h = &c->w->scratch_head;
	struct head_builder *b;
	size_t len = evbuffer_get_length(in), want;
	const char *p;
	int rc;
	bool keep;

	if (len == 0)
		return false;
	/*
	 * Interim responses go to the client before the final head, so they
	 * count against the output limit as body bytes do: the upstream waits
	 * while the client's output is full.
	 */
	if (evbuffer_get_length(lb_conn_output(c->conn)) >= client_buffer_cap(c)) {
		lb_conn_disable(up->conn, EV_READ);
		c->resp_blocked = true;
		return false;
	}
	want = len < limits->max_header_bytes + 1 ? len : limits->max_header_bytes + 1;
	p = (const char *)evbuffer_pullup(in, (ssize_t)want);
	rc = parse_head_resuming(c->w, &up->head_partial, http_parse_response_head,
				 http_parse_response_head_resume, p, want, limits);
	if (rc == 0)
		return false;
	if (rc < 0 || (h->status == 101 && !c->websocket)) {
		request_warn(c->w, "lb: target %s sent a malformed response head; answering 502",
			 c->target->address);
		lb_target_report_failure(c->target);
		client_respond(c, 502, NULL, false);
		return false;
	}
	b = &(struct head_builder){ 0 };
	b->buf = c->w->head_buf;
	b->cap = c->w->head_buf_cap;
	if (h->status < 200) {
		if (h->status == 101) {
			hb_str(b, "HTTP/1.1 101 Switching Protocols\r\n");
			hb_end_to_end_headers(b, p, h);
			hb_str(b, "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
			evbuffer_add(lb_conn_output(c->conn), b->buf, b->len);
			evbuffer_drain(in, (size_t)rc);
			c->status = 101;
			c->status_from_upstream = true;
			c->resp_head_done = true;
			c->state = CLIENT_TUNNEL;
			c->req_done = true;
			{
				double idle = c->routes->config->timeouts.tunnel_idle;

				set_client_timeouts(c, &idle);
				lb_conn_set_timeouts(up->conn, idle, idle);
			}
			lb_conn_enable(c->conn, EV_READ);
		} else if (++c->interim_count > LB_INTERIM_RESPONSES_MAX) {
			request_warn(c->w, "lb: target %s sent more than %d interim responses; "
				     "answering 502", c->target->address, LB_INTERIM_RESPONSES_MAX);
			lb_target_report_failure(c->target);
			client_respond(c, 502, "too many interim responses", false);
			return false;
		} else if (c->version_minor == 1) {
			/* 100 Continue, 103 Early Hints: pass on, then the real head follows. */
			evbuffer_add_printf(lb_conn_output(c->conn), "HTTP/1.1 %d %s\r\n\r\n",
					    h->status, http_status_reason(h->status));
			evbuffer_drain(in, (size_t)rc);
		} else {
			evbuffer_drain(in, (size_t)rc);
		}
		c->w->head_buf = b->buf;
		c->w->head_buf_cap = b->cap;
		return true;
	}

	c->status = h->status;
	c->status_from_upstream = true;
	if (c->method == HTTP_METHOD_HEAD || h->status == 204 || h->status == 304)
		c->resp_mode = BODY_NONE;
	else if (h->chunked)
		c->resp_mode = BODY_CHUNKED;
	else if (h->content_length > 0)
		c->resp_mode = BODY_LENGTH;
	else if (h->content_length == 0)
		c->resp_mode = BODY_NONE;
	else
		c->resp_mode = BODY_UNTIL_CLOSE;
	c->resp_remaining = h->content_length > 0 ? (uint64_t)h->content_length : 0;
	if (c->resp_mode == BODY_CHUNKED)
		http_chunk_decoder_init(&c->resp_chunks, UINT64_MAX / 2,
					c->routes->config->limits.max_chunk_ext_bytes,
					c->routes->config->limits.max_header_bytes);
	/*
	 * Reuse only a connection whose exchange is cleanly over: framed
	 * response, no close, and the whole request sent before the response
	 * began (a server answering early may not read the rest of the body,
	 * and leftover body bytes would be taken for the next request).
	 */
	c->up_reusable = c->resp_mode != BODY_UNTIL_CLOSE && !h->conn_close &&
			 (h->version_minor == 1 || h->conn_keep_alive) && c->req_done &&
			 evbuffer_get_length(lb_conn_output(up->conn)) == 0;
	keep = c->keep_alive && !c->close_after && c->req_done && !c->client_eof;
	c->resp_chunked_out = false;
	if (c->resp_mode == BODY_UNTIL_CLOSE || c->resp_mode == BODY_CHUNKED) {
		if (c->version_minor == 1)
			c->resp_chunked_out = true;
		else
			keep = false;
	}
	c->close_after = !keep;

	hb_str(b, "HTTP/1.1 ");
	hb_u64(b, (uint64_t)h->status);	/* 200..999: always three digits */
	hb_str(b, " ");
	if (h->reason.len)
		hb_span(b, p, h->reason);
	else
		hb_str(b, http_status_reason(h->status));
	hb_str(b, "\r\n");
	hb_end_to_end_headers(b, p, h);
	if (c->resp_mode == BODY_LENGTH ||
	    (c->resp_mode == BODY_NONE && h->status != 204 && h->content_length >= 0)) {
		hb_str(b, "Content-Length: ");
		hb_u64(b, (uint64_t)h->content_length);
		hb_str(b, "\r\n");
	}
	if (c->resp_chunked_out)
		hb_str(b, "Transfer-Encoding: chunked\r\n");
	if (c->close_after)
		hb_str(b, "Connection: close\r\n");
	else if (c->version_minor == 0)
		hb_str(b, "Connection: keep-alive\r\n");
	hb_str(b, "\r\n");
	evbuffer_add(lb_conn_output(c->conn), b->buf, b->len);
	c->w->head_buf = b->buf;
	c->w->head_buf_cap = b->cap;
	evbuffer_drain(in, (size_t)rc);
	c->resp_head_done = true;
	if (c->resp_mode == BODY_NONE) {
		request_finish(c);
		return false;
	}
	return true;
}

/* Move response body bytes to the client; finish the request at its end. */
static void response_body_forward(struct lb_client *c)
{
	struct evbuffer *in = lb_conn_input(c->up->conn);
	struct evbuffer *out = lb_conn_output(c->conn);
	size_t cap = client_buffer_cap(c);

	for (;;) {
		size_t len = evbuffer_get_length(in), n;

		if (evbuffer_get_length(out) >= cap) {
			lb_conn_disable(c->up->conn, EV_READ);
			c->resp_blocked = true;
			return;
		}
		switch (c->resp_mode) {
		case BODY_LENGTH:
			n = len < c->resp_remaining ? len : (size_t)c->resp_remaining;
			if (n == 0)
				return;
			evbuffer_remove_buffer(in, out, n);
			c->resp_remaining -= n;
			if (c->resp_remaining == 0) {
				request_finish(c);
				return;
			}
			break;
		case BODY_UNTIL_CLOSE:
			if (len == 0)
				return;
			move_response_bytes(c, in, out, len);
			break;
		case BODY_CHUNKED: {
			struct http_chunk_decoder *dec = &c->resp_chunks;
			int rc;

			if (dec->state == CHUNK_DATA) {
				n = len < dec->remaining ? len : (size_t)dec->remaining;
				if (n == 0)
					return;
				move_response_bytes(c, in, out, n);
				http_chunk_data_consumed(dec, n);
				break;
			}
			if (len == 0)
				return;
			n = len < LB_CHUNK_FRAMING_WINDOW ? len : LB_CHUNK_FRAMING_WINDOW;
			rc = http_chunk_decode_framing(dec, (const char *)evbuffer_pullup(in, (ssize_t)n), n);
			if (rc < 0) {
				request_warn(c->w, "lb: target %s sent malformed chunked framing; "
					     "closing client %s", c->target->address, c->peer_ip);
				client_abort(c);
				return;
			}
			evbuffer_drain(in, (size_t)rc);
			if (dec->state == CHUNK_DONE) {
				if (c->resp_chunked_out)
					evbuffer_add(out, "0\r\n\r\n", 5);
				request_finish(c);
				return;
			}
			break;
		}
		case BODY_NONE:
			request_finish(c);
			return;
		}
	}
}

static void response_progress(struct lb_client *c)
{
	while (!c->dead && c->up) {
		if (c->state == CLIENT_TUNNEL) {
			tunnel_pump(c);
			return;
		}
		if (c->state != CLIENT_PROXYING)
			return;
		if (!c->resp_head_done) {
			if (!response_read_head(c))
				return;
			continue;
		}
		response_body_forward(c);
		return;
	}
}

/* ---- settling ----------------------------------------------------------- */

/*
 * The end of every callback: write both directions' output, resume a
 * direction that backpressure stopped if there is room again, finish a
 * close whose output is out, and free the client if it died.  Each round
 * starts with a write, so nothing a round moved is left unwritten; after
 * eight rounds the write callbacks carry on in a later turn.
 */
static void client_settle(struct lb_client *c)
{
	if (!c)
		return;
	for (int round = 0; !c->dead; round++) {
		size_t cap = client_buffer_cap(c);
		bool again = false;

		if (c->up && c->up->connected)
			lb_conn_settle(c->up->conn);
		lb_conn_settle(c->conn);
		if (c->state == CLIENT_CLOSING) {
			if (!c->flushed &&
			    evbuffer_get_length(lb_conn_output(c->conn)) == 0)
				client_flushed(c);
			break;
		}
		if (round == 8)
			break;
		if (c->resp_blocked && c->up &&
		    evbuffer_get_length(lb_conn_output(c->conn)) <= cap / 2) {
			c->resp_blocked = false;
			lb_conn_enable(c->up->conn, EV_READ);
			response_progress(c);
			again = true;
		}
		if (!c->dead && c->req_blocked && c->up &&
		    evbuffer_get_length(lb_conn_output(c->up->conn)) <= cap / 2) {
			c->req_blocked = false;
			lb_conn_enable(c->conn, EV_READ);
			client_progress(c);
			again = true;
		}
		if (!again)
			break;
	}
	client_release_if_dead(c);
}

/* ---- upstream callbacks ------------------------------------------------- */

static void up_read_cb(struct lb_conn *conn, void *arg)
{
	struct lb_upstream_conn *up = arg;
	struct lb_client *c = up->client;

	response_progress(c);
	client_settle(c);
}

static void up_write_cb(struct lb_conn *conn, void *arg)
{
	struct lb_upstream_conn *up = arg;
	struct lb_client *c = up->client;

	/* Every request's head was just written: nothing to do unless a body waits for room. */
	if (!c->req_blocked)
		return;
	if (evbuffer_get_length(lb_conn_output(conn)) <= client_buffer_cap(c) / 2) {
		c->req_blocked = false;
		lb_conn_enable(c->conn, EV_READ);
		client_progress(c);
	}
	client_settle(c);
}

static void up_event_cb(struct lb_conn *conn, short events, void *arg)
{
	struct lb_upstream_conn *up = arg;
	struct lb_client *c = up->client;

	if (events & BEV_EVENT_CONNECTED) {
		double t = client_config(c)->timeouts.upstream_response;

		up->connected = true;
		lb_conn_set_timeouts(conn, t, t);
		if (c->state == CLIENT_CONNECTING)
			c->state = CLIENT_PROXYING;
		client_progress(c);
		client_settle(c);
		return;
	}
	upstream_broken(c, events);
	client_settle(c);
}

static void client_start_attempt(struct lb_client *c, struct lb_target *exclude, int fail_status)
{
	struct lb_worker *w = c->w;
	const struct lb_config *config = client_config(c);
	struct lb_target *t = balancer_pick(c->group, w->index, exclude, clock_mono_coarse_ms());
	struct lb_upstream_conn *up;

	if (!t) {
		client_respond(c, fail_status,
			       exclude ? "no other target to retry on" : "no healthy target", false);
		return;
	}
	c->target = t;
	atomic_fetch_add_explicit(&t->outstanding, 1, memory_order_relaxed);
	c->attempts++;
	up = upstream_pool_take(w, t);
	if (!up)
		up = upstream_conn_connect(w, t);
	if (!up) {
		log_error("lb: cannot create a socket for target %s", t->address);
		client_respond(c, 502, NULL, false);
		return;
	}
	up->client = c;
	c->up = up;
	lb_conn_setcb(up->conn, up_read_cb, up_write_cb, up_event_cb, up);
	lb_conn_set_watermarks(up->conn, config->limits.buffer_bytes, config->limits.buffer_bytes / 2);
	if (up->connected) {
		double t = config->timeouts.upstream_response;

		lb_conn_set_timeouts(up->conn, t, t);
		c->state = CLIENT_PROXYING;
	} else {
		lb_conn_set_timeouts(up->conn, 0, config->timeouts.upstream_connect);
		c->state = CLIENT_CONNECTING;
	}
	evbuffer_add(lb_conn_output(up->conn), c->up_head.buf, c->up_head.len);
	/* A connecting socket writes when connected; a pooled one is flushed by client_settle. */
	lb_conn_enable(up->conn, EV_READ);
	if (c->state == CLIENT_PROXYING)
		request_body_forward(c);
}

/* ---- client callbacks --------------------------------------------------- */

/* Returns true when the loop should look at the client again. */
static bool client_read_head(struct lb_client *c)
{
	struct lb_worker *w = c->w;
	struct lb_route_table *table = w->routes;
	struct evbuffer *in = lb_conn_input(c->conn);
	size_t len = evbuffer_get_length(in), want;
	const char *p;
	int rc;

	if (len == 0)
		return false;
	if (c->timer_kind != TIMER_HEADER)
		arm_timer(c, TIMER_HEADER, table->config->timeouts.header_read);
	want = len < table->http_limits.max_header_bytes + 1 ? len
							     : table->http_limits.max_header_bytes + 1;
	p = (const char *)evbuffer_pullup(in, (ssize_t)want);
	rc = parse_head_resuming(w, &c->head_partial, http_parse_request_head,
				 http_parse_request_head_resume, p, want, &table->http_limits);
	if (rc == 0)
		return false;
	if (rc < 0) {
		client_reject(c, -rc);
		return false;
	}
	disarm_timer(c);
	client_handle_request(c, p, (size_t)rc, &w->scratch_head);
	return !c->dead;
}

static void client_progress(struct lb_client *c)
{
	if (c->in_progress)
		return;
	c->in_progress = true;
	while (!c->dead) {
		if (c->state == CLIENT_READ_HEAD) {
			if (!client_read_head(c))
				break;
			continue;
		}
		if (c->state == CLIENT_PROXYING)
			request_body_forward(c);
		else if (c->state == CLIENT_TUNNEL)
			tunnel_pump(c);
		else if (c->state == CLIENT_CLOSING)
			evbuffer_drain(lb_conn_input(c->conn),
				       evbuffer_get_length(lb_conn_input(c->conn)));
		break;
	}
	c->in_progress = false;
}

static void client_read_cb(struct lb_conn *conn, void *arg)
{
	struct lb_client *c = arg;

	client_progress(c);
	client_settle(c);
}

static void client_write_cb(struct lb_conn *conn, void *arg)
{
	struct lb_client *c = arg;
	size_t out = evbuffer_get_length(lb_conn_output(conn));

	/* Every response was just written: nothing to do unless closing or held back. */
	if (c->state != CLIENT_CLOSING && !c->resp_blocked)
		return;
	if (c->state == CLIENT_CLOSING) {
		if (out == 0 && !c->flushed)
			client_flushed(c);
	} else if (c->resp_blocked && c->up && out <= client_buffer_cap(c) / 2) {
		c->resp_blocked = false;
		lb_conn_enable(c->up->conn, EV_READ);
		response_progress(c);
	}
	client_settle(c);
}

static void client_event_cb(struct lb_conn *conn, short events, void *arg)
{
	struct lb_client *c = arg;

	if (events == BEV_EVENT_CONNECTED)
		return;	/* TLS handshake done */
	if (events & BEV_EVENT_TIMEOUT) {
		if ((events & BEV_EVENT_READING) && c->state == CLIENT_PROXYING && !c->req_done &&
		    !c->resp_head_done) {
			log_debug("lb: %s: request body read timeout", c->peer_ip);
			client_respond(c, 408, "request body timeout", true);
		} else {
			client_abort(c);
		}
	} else if (events & BEV_EVENT_EOF) {
		if ((c->state == CLIENT_PROXYING || c->state == CLIENT_CONNECTING) && c->req_done) {
			/* Half-close after a whole request: answer, then close. */
			c->client_eof = true;
			lb_conn_disable(conn, EV_READ);
		} else {
			client_abort(c);
		}
	} else {
		client_abort(c);
	}
	client_settle(c);
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb_client *c = arg;
	enum timer_kind kind = c->timer_kind;
	int64_t now = clock_mono_coarse_ms();

	c->timer_armed = false;
	if (kind == TIMER_NONE)
		return;
	if (now < c->timer_deadline_ms) {
		/* Set for an earlier deadline that was since dropped or pushed back. */
		timer_set_event(c, now);
		return;
	}
	c->timer_kind = TIMER_NONE;
	if (kind == TIMER_HEADER && c->state == CLIENT_READ_HEAD &&
	    evbuffer_get_length(lb_conn_input(c->conn)) > 0) {
		log_debug("lb: %s: request head timeout", c->peer_ip);
		client_reject(c, 408);
	} else {
		client_abort(c);
	}
	client_settle(c);
}

void proxy_client_start(struct lb_worker *w, struct lb_conn *conn, bool tls, int local_port,
			const struct sockaddr *peer, int peer_len)
{
	struct lb *lb = w->lb;
	const struct lb_config *config = w->routes->config;
	struct lb_client *c = calloc(1, sizeof(*c));

	if (!c) {
		lb_conn_free(conn);
		atomic_fetch_sub_explicit(&lb->metrics.active_connections, 1, memory_order_relaxed);
		return;
	}
	c->w = w;
	c->conn = conn;
	c->tls = tls;
	c->local_port = local_port;
	if (peer->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, c->peer_ip,
			  sizeof(c->peer_ip));
	else if (peer->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, c->peer_ip,
			  sizeof(c->peer_ip));
	else
		strcpy(c->peer_ip, "unknown");
	(void)peer_len;
	c->forwarded_len = (size_t)snprintf(c->forwarded, sizeof(c->forwarded),
					    "X-Forwarded-Proto: %s\r\nX-Forwarded-Port: %d\r\n",
					    c->tls ? "https" : "http", c->local_port);
	c->timer = evtimer_new(w->base, client_timer_cb, c);
	if (!c->timer) {
		lb_conn_free(conn);
		free(c);
		atomic_fetch_sub_explicit(&lb->metrics.active_connections, 1, memory_order_relaxed);
		return;
	}
	c->state = CLIENT_READ_HEAD;
	TAILQ_INSERT_TAIL(&w->clients, c, link);
	atomic_fetch_add_explicit(&w->client_count, 1, memory_order_relaxed);
	/* active_connections was counted at accept (listener.c). */
	lb_conn_setcb(conn, client_read_cb, client_write_cb, client_event_cb, c);
	lb_conn_set_watermarks(conn, config->limits.buffer_bytes, config->limits.buffer_bytes / 2);
	set_client_timeouts(c, NULL);
	arm_timer(c, TIMER_HEADER, config->timeouts.header_read);
	lb_conn_enable(conn, EV_READ);
}

void proxy_sweep(struct lb_worker *w)
{
	struct lb_client *c, *next;
	int64_t now = clock_mono_coarse_ms();

	for (c = TAILQ_FIRST(&w->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->target && atomic_load_explicit(&c->target->draining, memory_order_relaxed) &&
		    now >= atomic_load(&c->target->drain_deadline_ms)) {
			log_info("lb: deregistration delay of target %s is over; closing client %s",
				 c->target->address, c->peer_ip);
			client_abort(c);
			client_release_if_dead(c);
		}
	}
	upstream_pool_sweep(w);
}

void proxy_drain(struct lb_worker *w)
{
	struct lb_client *c, *next;

	for (c = TAILQ_FIRST(&w->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state == CLIENT_READ_HEAD &&
		    evbuffer_get_length(lb_conn_input(c->conn)) == 0) {
			client_abort(c);
			client_release_if_dead(c);
		} else {
			c->keep_alive = false;
		}
	}
}

void proxy_close_all(struct lb_worker *w)
{
	struct lb_client *c;

	while ((c = TAILQ_FIRST(&w->clients))) {
		c->in_progress = false;
		client_free(c);
	}
	upstream_pool_clear(w);
}

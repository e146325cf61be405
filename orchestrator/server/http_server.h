/*
 * http_server.h - the API's HTTP/1.1 server: connections, limits, timeouts.
 *
 * Built on bufferevents and lb/http_parse.h (the same strict parser the load
 * balancer uses), not on evhttp, whose defaults are unlimited and whose error
 * answers cannot be shaped.  Every refusal is a JSON body in ECS's error
 * shape, produced by the error callback the owner installs.
 *
 * A connection reads one request at a time: head (within max_header_bytes),
 * then a body framed by Content-Length or chunked (within max_body_bytes).
 * The whole request must arrive within request_timeout_ms of its first byte
 * (so a slow trickle cannot hold a connection: 408 and close); an idle
 * keep-alive connection is closed after idle_timeout_ms.  Pipelined requests
 * are answered in order.  Past max_connections, new connections are closed
 * at once.
 *
 * The handler may answer at once or later (group commit, long polls): the
 * request stays valid until http_respond() is called for it.  A handler
 * that answers later must set an abandon callback: if the client goes away
 * first, the callback runs and then the server frees the request, so the
 * owner must forget it there and never answer it.
 */
#ifndef ORCH_HTTP_SERVER_H
#define ORCH_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/error.h"

struct http_server_limits {
	size_t max_header_bytes;	/* request line and headers */
	size_t max_body_bytes;
	int request_timeout_ms;		/* first byte to last byte of a request */
	int idle_timeout_ms;		/* keep-alive connection with no request */
	int max_connections;
};

#define HTTP_SERVER_DEFAULT_IDLE_TIMEOUT_MS 60000
#define HTTP_SERVER_DEFAULT_MAX_CONNECTIONS 4096

struct http_server;
struct http_request;

typedef void http_request_handler(struct http_request *req, void *arg);

/*
 * Answers a request the server refused before any handler saw it
 * (status 400, 408, 413, 414, 431, 501, 505).  It must call http_respond.
 */
typedef void http_refusal_handler(struct http_request *req, int status, const char *why,
				  void *arg);

struct http_server *http_server_new(struct event_base *base,
				    const struct http_server_limits *limits,
				    http_request_handler *handler,
				    http_refusal_handler *refuse, void *arg);
/* Closes every connection (pending requests are abandoned) and frees. */
void http_server_free(struct http_server *srv);

int http_server_listen(struct http_server *srv, const char *host, unsigned short port,
		       orch_error *err);
/*
 * Serves TLS on every connection accepted from now on (the handshake must
 * finish within the request timeout).  The server keeps its own reference
 * to ctx.  Without it, connections are plain HTTP.
 */
void http_server_set_tls(struct http_server *srv, SSL_CTX *ctx);
/* The bound socket's fd (for getsockname), or -1. */
int http_server_listen_fd(struct http_server *srv);
/* Stops accepting and closes idle connections; busy ones finish. */
void http_server_stop_accepting(struct http_server *srv);
/* Connections with a request being received or waiting for its answer. */
size_t http_server_busy_connections(struct http_server *srv);

/* ---- one request ------------------------------------------------------- */

const char *http_request_method(const struct http_request *req);	/* "GET" */
/* The raw (still percent-encoded) path, and the query string or NULL. */
const char *http_request_path(const struct http_request *req);
const char *http_request_query(const struct http_request *req);
/* The value of the first header with this name (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_body(const struct http_request *req, size_t *len);

/*
 * Sends the answer and releases the request.  extra_headers is NULL or
 * complete header lines ("Allow: GET, POST\r\n").  The body is copied.
 */
void http_respond(struct http_request *req, int status, const char *content_type,
		  const char *body, size_t body_len, const char *extra_headers);

void http_request_set_abandon_cb(struct http_request *req,
				 void (*cb)(struct http_request *req, void *arg), void *arg);

/* ---- streaming (task logs: task_stream.h) ------------------------------ */

/*
 * Streaming request bodies: for a request want() accepts (asked right after
 * its head was parsed), the handler runs at once and the body is not
 * buffered or limited by max_body_bytes; the handler takes it through
 * http_request_set_body_cb.  No request timeout applies to such a request:
 * its owner bounds it (and must set an abandon callback).  Answering before
 * the body ended closes the connection after the answer.
 */
void http_server_set_stream_body(struct http_server *srv,
				 bool (*want)(const struct http_request *req, void *arg));
typedef void http_body_data_fn(struct http_request *req, const char *data, size_t len,
			       void *arg);
/* The body ended; the owner must http_respond. */
typedef void http_body_end_fn(struct http_request *req, void *arg);
void http_request_set_body_cb(struct http_request *req, http_body_data_fn *data,
			      http_body_end_fn *end, void *arg);
/* Stops (true) or resumes reading the body: backpressure. */
void http_request_pause_body(struct http_request *req, bool paused);

/*
 * Streaming answers (Transfer-Encoding: chunked): start, write any number
 * of times, end (which releases the request as http_respond does).  Until
 * the end the abandon callback may run (the client went away).  The drain
 * callback runs whenever everything written so far was sent.
 */
void http_stream_start(struct http_request *req, int status, const char *content_type,
		       const char *extra_headers);
void http_stream_write(struct http_request *req, const void *data, size_t len);
void http_stream_end(struct http_request *req);
/* Bytes written but not yet sent. */
size_t http_stream_pending(const struct http_request *req);
void http_request_set_drain_cb(struct http_request *req,
			       void (*cb)(struct http_request *req, void *arg), void *arg);

/* ---- upgraded connections (task exec: exec_protocol.h) ------------------ */

/*
 * HTTP/1.1 Upgrade: after http_upgrade() has sent "101 Switching Protocols"
 * the connection is a raw byte channel and req stays its handle until the
 * owner calls http_channel_close() or the peer goes away (the abandon
 * callback runs, then the server frees req: the owner forgets it there).
 * The read callback gets the input buffer and takes what it wants from it;
 * bytes left there wait for the next call (input is bounded by a high
 * watermark: a peer cannot push more while the owner leaves it unread).
 * The drain callback (http_request_set_drain_cb) runs whenever all written
 * bytes were sent, http_stream_pending() tells how many wait.  No request
 * timeout applies; TCP keepalive probes end a channel to a vanished peer.
 * A peer's close with unread input is reported after the owner took it.
 * A paused channel reads nothing, yet its socket is watched: when the peer
 * resets the connection, or closes its side (its last bytes may still wait
 * unread), the hup callback runs (see http_channel_set_hup_cb).
 * Channels do not count as busy for http_server_busy_connections().
 */
typedef void http_channel_read_fn(struct http_request *req, struct evbuffer *in, void *arg);
/*
 * The peer of a paused channel went: reset (the connection failed; bytes
 * that came before the reset may still wait in the kernel) or not (it
 * closed its side; bytes may wait behind the close, read when the owner
 * resumes).  The owner may close the
 * channel here (not abort it: the watch still holds the connection) or
 * resume it (a reset one then reads what the kernel still holds before its
 * error ends it); a reset channel it keeps paused is ended after the
 * callback (the abandon callback runs).  A close is told once per pause.
 */
typedef void http_channel_hup_fn(struct http_request *req, struct evbuffer *in, bool reset,
				 void *arg);

/* "Connection: upgrade" and protocol among the Upgrade header's tokens. */
bool http_request_wants_upgrade(const struct http_request *req, const char *protocol);
/* For a request that was read whole (not a streaming body). */
void http_upgrade(struct http_request *req, const char *protocol, http_channel_read_fn *read,
		  void *arg);
void http_channel_write(struct http_request *req, const void *data, size_t len);
/* Moves len bytes of from (another channel's input) to req's output. */
void http_channel_move(struct http_request *req, struct evbuffer *from, size_t len);
/* Stops (true) or resumes reading: backpressure. */
void http_channel_pause(struct http_request *req, bool paused);
/* Sends what was written, then closes; req is released at once. */
void http_channel_close(struct http_request *req);
/*
 * Drops what waits to be sent and closes at once with a reset, which a peer
 * that is not reading (its own backpressure) sees too; req is released.
 */
void http_channel_abort(struct http_request *req);
void http_channel_set_hup_cb(struct http_request *req, http_channel_hup_fn *cb, void *arg);

#endif

/*
 * server_curl.h - the one libcurl setup for talking to orch's API.
 *
 * The agent (registration, heartbeats, the long poll, log and exec streams)
 * and the CLI reach the server the same way, so the security rule is written
 * once: HTTPS only (a redirect or a URL cannot downgrade to plain HTTP), TLS
 * 1.2 or later, the peer's certificate and host name verified against
 *   - the pinned cluster CA in memory (the agent: the CA whose hash its join
 *     token names; never the system store), or
 *   - a CA file (the CLI's --ca / ORCH_CA / the data dir's pki/ca.pem), or
 *   - the system store when neither is given (a server behind a public
 *     certificate).
 * The one exception is the agent's download of the CA itself, which cannot
 * verify a peer yet and checks the downloaded certificate's hash against the
 * join token instead (SERVER_TLS_UNVERIFIED).
 */
#ifndef ORCH_PROTO_SERVER_CURL_H
#define ORCH_PROTO_SERVER_CURL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

enum server_tls_mode {
	SERVER_TLS_VERIFIED,	/* ca_pem, else ca_file, else the system store */
	SERVER_TLS_UNVERIFIED,	/* only for fetching the CA to be pinned */
};

struct server_tls {
	enum server_tls_mode mode;
	const char *ca_pem;	/* PEM text; copied into the handle */
	const char *ca_file;	/* used when ca_pem is NULL */
};

/* TCP keepalive probes on API connections, so a dead peer is noticed. */
#define SERVER_CURL_KEEPALIVE_S 5L

/*
 * Applies the transport rules above to h, plus what every API connection
 * shares: no signals (the callers are threaded), TCP_NODELAY, TCP keepalive,
 * and connect_timeout_ms (0: libcurl's default).  The URL, method, headers,
 * body and callbacks are the caller's.
 */
void server_curl_setup(CURL *h, const struct server_tls *tls, long connect_timeout_ms);

/* The largest answer from the API a client reads whole. */
#define SERVER_BODY_MAX_BYTES (64 * 1024 * 1024)

/* An answer read whole, NUL-terminated, at most SERVER_BODY_MAX_BYTES. */
struct server_body {
	char *data;
	size_t len;
	bool too_large;		/* the answer was cut off at the limit */
};

/* CURLOPT_WRITEFUNCTION appending to the struct server_body in its arg. */
size_t server_body_collect(char *ptr, size_t size, size_t nmemb, void *arg);
/* CURLOPT_WRITEFUNCTION for answers nobody reads. */
size_t server_body_discard(char *ptr, size_t size, size_t nmemb, void *arg);
/* Frees what was collected and makes b empty again. */
void server_body_reset(struct server_body *b);

#endif

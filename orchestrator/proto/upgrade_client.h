/*
 * upgrade_client.h - the client end of an HTTP/1.1 Upgrade: one request
 * sent over a libcurl CONNECT_ONLY connection (set up by server_curl_setup
 * as every other API call: HTTPS only, TLS 1.2 or later, the CA and host
 * checks of server_curl.h), its answer read by hand, and after "101
 * Switching Protocols" raw bytes both ways on the same connection.  The CLI
 * and the agent open `orch task exec` channels with it (exec_protocol.h).
 *
 * The connection is non-blocking: poll upgrade_fd() and call
 * upgrade_recv() until it would block (TLS may hold decrypted bytes the
 * socket no longer shows).
 */
#ifndef ORCH_UPGRADE_CLIENT_H
#define ORCH_UPGRADE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "common/error.h"

/* Largest answer head, and error body, read before the 101 or instead of it. */
#define UPGRADE_MAX_HEAD_BYTES (16 * 1024)
#define UPGRADE_MAX_ERROR_BODY_BYTES (64 * 1024)

struct upgrade_request {
	const char *server;		/* https://host:port, no trailing slash */
	const char *path;		/* already URL-encoded */
	const char *token;		/* sent as Authorization: Bearer */
	const char *protocol;		/* the Upgrade header */
	const char *ca_pem;		/* CA PEM in memory (wins), or */
	const char *ca_file;		/* a CA bundle file, or both NULL: the system store */
	const char *body;		/* JSON or NULL */
	size_t body_len;
	int timeout_ms;			/* connecting, sending and reading the answer head */
};

struct upgrade_conn {
	CURL *curl;
	int fd;
	char *early;			/* channel bytes read together with the 101 */
	size_t early_len, early_off;
};

/*
 * Returns 0 when the server switched protocols (c is open), 1 when it
 * answered otherwise (*status and *body, a NUL-terminated malloc'd string
 * or NULL; c is closed), or -1 with err when it could not be reached.
 */
int upgrade_open(const struct upgrade_request *r, struct upgrade_conn *c, long *status,
		 char **body, orch_error *err);
/* Bytes read (> 0), 0 when none are ready, -1 when the peer closed or it failed. */
ssize_t upgrade_recv(struct upgrade_conn *c, void *buf, size_t len);
/* Bytes sent (0 when it would block), -1 when it failed. */
ssize_t upgrade_send(struct upgrade_conn *c, const void *buf, size_t len);
int upgrade_fd(const struct upgrade_conn *c);
void upgrade_close(struct upgrade_conn *c);

#endif

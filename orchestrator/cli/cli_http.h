/*
 * cli_http.h - how the CLI reaches the server: finding the server URL and
 * token, and one JSON request/response over libcurl.
 *
 * Discovery order (DESIGN.md §3): --server/--token, then ORCH_SERVER/
 * ORCH_TOKEN, then the local data dir (cli_data_dir: --data, ORCH_DATA,
 * /var/lib/orch), whose api-address and admin-token files the server wrote.
 *
 * TLS trust: --ca FILE, else ORCH_CA, else the local data dir's pki/ca.pem
 * when it exists (the server on this host: no flags needed), else the
 * system's CA store.
 */
#ifndef ORCH_CLI_HTTP_H
#define ORCH_CLI_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "common/error.h"

#define CLI_REQUEST_TIMEOUT_SECONDS 60

struct cli_conn {
	char *server;	/* base URL without a trailing slash */
	char *token;
	char *ca_file;	/* CA bundle to verify https servers with, or NULL: system store */
};

/* The *_opt arguments are the flags, NULL where not given (cli_verbs.h). */
int cli_conn_resolve(const char *server_opt, const char *token_opt, const char *ca_opt,
		     const char *data_opt, struct cli_conn *out, orch_error *err);
void cli_conn_release(struct cli_conn *c);

/*
 * Sends method path (already URL-encoded, starting with '/') with an
 * optional JSON body.  On a 2xx answer returns 0 with *reply set (a new
 * reference).  On an error status returns -1 with the server's message in
 * err (kind NOT_FOUND for 404, INVALID for other 4xx).
 */
int cli_call(const struct cli_conn *c, const char *method, const char *path,
	     const char *body, size_t body_len, json_t **reply, orch_error *err);

/* URL-encodes one path segment or query value into a new string. */
char *cli_escape(const char *s);

/*
 * cli_call on prefix followed by name URL-encoded, for the calls on one
 * named object: ("/v1/clusters/", "a b") -> /v1/clusters/a%20b.
 */
int cli_call_named(const struct cli_conn *c, const char *method, const char *prefix,
		   const char *name, const char *body, size_t body_len, json_t **reply,
		   orch_error *err);

/*
 * GETs every page of path?query (maxResults=100, following nextToken) and
 * sets *all to a new array of the pages' `key` arrays joined.
 */
int cli_list_all(const struct cli_conn *conn, const char *path, const char *query,
		 const char *key, json_t **all, orch_error *err);

#endif

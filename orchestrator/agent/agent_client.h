/*
 * agent_client.h - the agent's HTTPS client to the server (libcurl).
 *
 * Every handle is set up by server_curl_setup (HTTPS only, TLS 1.2 or
 * later), and every request but the CA download verifies the server with
 * the pinned cluster CA only (never the system store) and the server's
 * name against its certificate.  Two easy handles: one for short
 * calls (register, status), reused so its TLS connection stays open, and
 * one for the long poll on /v1/agent/assignments, driven through a multi
 * handle so the agent's loop can wait on it together with its own fds
 * (container exits, signals) in one curl_multi_poll.
 */
#ifndef ORCH_AGENT_CLIENT_H
#define ORCH_AGENT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/error.h"
#include "proto/server_curl.h"

#define AGENT_CLIENT_CONNECT_TIMEOUT_S 5
#define AGENT_CLIENT_CALL_TIMEOUT_S 10
/* A long poll may take its wait plus this before it is given up. */
#define AGENT_CLIENT_POLL_SLACK_S 15
#define AGENT_CLIENT_MAX_EXTRA_FDS 1024


struct agent_client {
	char *server;			/* base URL, no trailing slash */
	char *ca_pem;			/* the pinned CA */
	char *bearer;			/* credential (or join secret while registering) */
	CURL *call;
	CURLM *multi;
	CURL *poll;
	bool poll_active;
	struct server_body poll_body;
	struct curl_slist *poll_headers;
};

/*
 * GET server/v1/agent/ca without verifying the server.  The answer must be
 * exactly one certificate and nothing else (pki_ca_pem_canonical), and that
 * certificate's SHA-256 must be expected_sha256 (from the join token); else
 * ORCH_ERR_INVALID: the server is not the one the token was made for, or
 * someone in between added to its answer.  *ca_pem_out is the certificate
 * re-encoded from the parsed X509 (never the bytes received): what the
 * agent stores and trusts.
 */
int agent_client_fetch_ca(const char *server, const char *expected_sha256, char **ca_pem_out,
			  orch_error *err);

int agent_client_init(struct agent_client *c, const char *server, const char *ca_pem,
		      orch_error *err);
void agent_client_release(struct agent_client *c);
/* Replaces the bearer token used from now on. */
int agent_client_set_bearer(struct agent_client *c, const char *bearer);

/*
 * One JSON call with the current bearer.  Returns 0 with *status set (any
 * HTTP status) and *reply the parsed body or NULL; -1 if no answer came
 * (connection, TLS or timeout: err says which).
 */
int agent_client_call(struct agent_client *c, const char *method, const char *path,
		      json_t *body, long *status, json_t **reply, orch_error *err);

/* Starts GET /v1/agent/assignments?index=N&wait=W (one at a time). */
int agent_client_poll_start(struct agent_client *c, uint64_t index, int wait_s,
			    orch_error *err);

/*
 * Waits up to timeout_ms for the long poll or one of extra_fds (POLLIN).
 * Returns 1 if the poll finished (*status, *reply as agent_client_call; a
 * transport failure gives *status 0 and err set), 0 otherwise.
 */
int agent_client_poll_wait(struct agent_client *c, const int *extra_fds, int extra_count,
			   int timeout_ms, long *status, json_t **reply, orch_error *err);

#endif

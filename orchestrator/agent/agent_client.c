/* agent_client.c - the agent's pinned-CA HTTPS client.  See agent_client.h. */
#include "agent_client.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "proto/pki.h"
#include "proto/server_curl.h"

/* The API's transport rules (server_curl.h), and answers collected whole. */
static void setup_handle(CURL *h, const struct server_tls *tls)
{
	server_curl_setup(h, tls, AGENT_CLIENT_CONNECT_TIMEOUT_S * 1000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, server_body_collect);
}

/* The pinned cluster CA: every request but the CA download. */
static struct server_tls pinned(const struct agent_client *c)
{
	return (struct server_tls){ .mode = SERVER_TLS_VERIFIED, .ca_pem = c->ca_pem };
}

static int transport_error(orch_error *err, const char *what, const char *url, CURLcode rc,
			   const char *detail)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return orch_fail(err, ORCH_ERR_INTERNAL,
				 "%s %s: the server's certificate does not match the cluster CA or "
				 "this address (%s); start the server with --advertise ADDR for "
				 "names it does not know", what, url, detail[0] ? detail : curl_easy_strerror(rc));
	return orch_fail(err, ORCH_ERR_INTERNAL, "%s %s: %s", what, url,
			 detail[0] ? detail : curl_easy_strerror(rc));
}

int agent_client_fetch_ca(const char *server, const char *expected_sha256, char **ca_pem_out,
			  orch_error *err)
{
	struct server_body b = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	char hash[PKI_SHA256_HEX_LEN + 1];
	cleanup_free char *url = NULL;
	char *canonical = NULL;
	long status = 0;
	int rc_pem;
	CURLcode rc;
	CURL *h;

	if (asprintf(&url, "%s/v1/agent/ca", server) < 0) {
		url = NULL;
		return orch_fail_errno(err, ENOMEM, "fetching the CA");
	}
	h = curl_easy_init();
	if (!h)
		return orch_fail(err, ORCH_ERR_INTERNAL, "initialising libcurl");
	setup_handle(h, &(struct server_tls){ .mode = SERVER_TLS_UNVERIFIED });
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)AGENT_CLIENT_CALL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		server_body_reset(&b);
		return transport_error(err, "GET", url, rc, errbuf);
	}
	if (status != 200 || !b.data || b.len > PKI_CA_PEM_MAX) {
		server_body_reset(&b);
		return orch_fail(err, ORCH_ERR_INVALID, "GET %s: answered %ld, not a CA certificate "
				 "(is this an orch server?)", url, status);
	}
	rc_pem = pki_ca_pem_canonical(b.data, b.len, &canonical, hash, err);
	server_body_reset(&b);
	if (rc_pem < 0)
		return orch_error_prefix(err, "GET %s: refusing to join, the CA answer is not one "
					 "certificate alone", url);
	if (strcmp(hash, expected_sha256) != 0) {
		free(canonical);
		return orch_fail(err, ORCH_ERR_INVALID,
				 "the server at %s has CA sha256:%s but the join token expects "
				 "sha256:%s: wrong server or wrong token; refusing to join",
				 server, hash, expected_sha256);
	}
	*ca_pem_out = canonical;
	return 0;
}

int agent_client_init(struct agent_client *c, const char *server, const char *ca_pem,
		      orch_error *err)
{
	memset(c, 0, sizeof(*c));
	c->server = strdup(server);
	c->ca_pem = strdup(ca_pem);
	c->call = curl_easy_init();
	c->poll = curl_easy_init();
	c->multi = curl_multi_init();
	if (!c->server || !c->ca_pem || !c->call || !c->poll || !c->multi) {
		agent_client_release(c);
		return orch_fail(err, ORCH_ERR_INTERNAL, "initialising the server client");
	}
	for (size_t len = strlen(c->server); len > 0 && c->server[len - 1] == '/'; len--)
		c->server[len - 1] = '\0';
	return 0;
}

void agent_client_release(struct agent_client *c)
{
	if (c->poll_active)
		curl_multi_remove_handle(c->multi, c->poll);
	c->poll_active = false;
	if (c->poll)
		curl_easy_cleanup(c->poll);
	if (c->call)
		curl_easy_cleanup(c->call);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	curl_slist_free_all(c->poll_headers);
	server_body_reset(&c->poll_body);
	free(c->server);
	free(c->ca_pem);
	free(c->bearer);
	memset(c, 0, sizeof(*c));
}

int agent_client_set_bearer(struct agent_client *c, const char *bearer)
{
	char *copy = strdup(bearer);

	if (!copy)
		return -1;
	free(c->bearer);
	c->bearer = copy;
	return 0;
}

static struct curl_slist *auth_headers(const struct agent_client *c, bool json_body)
{
	struct curl_slist *h = NULL;
	cleanup_free char *auth = NULL;

	if (c->bearer && asprintf(&auth, "Authorization: Bearer %s", c->bearer) >= 0)
		h = curl_slist_append(h, auth);
	else
		auth = NULL;
	h = curl_slist_append(h, "Accept: application/json");
	if (json_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	return h;
}

int agent_client_call(struct agent_client *c, const char *method, const char *path,
		      json_t *body, long *status, json_t **reply, orch_error *err)
{
	struct server_body b = { 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	cleanup_free char *url = NULL, *text = NULL;
	struct server_tls tls = pinned(c);
	struct curl_slist *headers;
	CURLcode rc;

	*status = 0;
	*reply = NULL;
	if (asprintf(&url, "%s%s", c->server, path) < 0) {
		url = NULL;
		return orch_fail_errno(err, ENOMEM, "building a request");
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	headers = auth_headers(c, text != NULL);
	curl_easy_reset(c->call);
	setup_handle(c->call, &tls);
	curl_easy_setopt(c->call, CURLOPT_URL, url);
	curl_easy_setopt(c->call, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->call, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->call, CURLOPT_TIMEOUT, (long)AGENT_CLIENT_CALL_TIMEOUT_S);
	curl_easy_setopt(c->call, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->call, CURLOPT_ERRORBUFFER, errbuf);
	if (text) {
		curl_easy_setopt(c->call, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->call, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
	}
	rc = curl_easy_perform(c->call);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		server_body_reset(&b);
		return transport_error(err, method, url, rc, errbuf);
	}
	curl_easy_getinfo(c->call, CURLINFO_RESPONSE_CODE, status);
	if (b.len)
		*reply = json_loadb(b.data, b.len, 0, NULL);
	server_body_reset(&b);
	return 0;
}

int agent_client_poll_start(struct agent_client *c, uint64_t index, int wait_s,
			    orch_error *err)
{
	char path[128];
	cleanup_free char *url = NULL;
	struct server_tls tls = pinned(c);

	if (c->poll_active)
		return 0;
	snprintf(path, sizeof(path), "/v1/agent/assignments?index=%" PRIu64 "&wait=%d", index,
		 wait_s);
	if (asprintf(&url, "%s%s", c->server, path) < 0) {
		url = NULL;
		return orch_fail_errno(err, ENOMEM, "building the long poll");
	}
	server_body_reset(&c->poll_body);
	curl_slist_free_all(c->poll_headers);
	c->poll_headers = auth_headers(c, false);
	curl_easy_reset(c->poll);
	setup_handle(c->poll, &tls);
	curl_easy_setopt(c->poll, CURLOPT_URL, url);
	curl_easy_setopt(c->poll, CURLOPT_HTTPHEADER, c->poll_headers);
	curl_easy_setopt(c->poll, CURLOPT_TIMEOUT, (long)(wait_s + AGENT_CLIENT_POLL_SLACK_S));
	curl_easy_setopt(c->poll, CURLOPT_WRITEDATA, &c->poll_body);
	if (curl_multi_add_handle(c->multi, c->poll) != CURLM_OK)
		return orch_fail(err, ORCH_ERR_INTERNAL, "starting the long poll");
	c->poll_active = true;
	return 0;
}

int agent_client_poll_wait(struct agent_client *c, const int *extra_fds, int extra_count,
			   int timeout_ms, long *status, json_t **reply, orch_error *err)
{
	struct curl_waitfd waits[AGENT_CLIENT_MAX_EXTRA_FDS];
	int running = 0, numfds = 0, queued;
	CURLMsg *msg;

	*status = 0;
	*reply = NULL;
	if (extra_count > AGENT_CLIENT_MAX_EXTRA_FDS)
		extra_count = AGENT_CLIENT_MAX_EXTRA_FDS;
	for (int i = 0; i < extra_count; i++)
		waits[i] = (struct curl_waitfd){ .fd = extra_fds[i], .events = CURL_WAIT_POLLIN };
	curl_multi_perform(c->multi, &running);
	if (c->poll_active && running > 0)
		curl_multi_poll(c->multi, waits, (unsigned)extra_count, timeout_ms, &numfds);
	else if (extra_count > 0 || timeout_ms > 0) {
		struct pollfd pfds[AGENT_CLIENT_MAX_EXTRA_FDS];

		for (int i = 0; i < extra_count; i++)
			pfds[i] = (struct pollfd){ .fd = extra_fds[i], .events = POLLIN };
		if (!c->poll_active)
			poll(pfds, (nfds_t)extra_count, timeout_ms);
	}
	curl_multi_perform(c->multi, &running);
	while ((msg = curl_multi_info_read(c->multi, &queued))) {
		CURLcode rc;

		if (msg->msg != CURLMSG_DONE || msg->easy_handle != c->poll)
			continue;
		rc = msg->data.result;
		curl_multi_remove_handle(c->multi, c->poll);
		c->poll_active = false;
		if (rc != CURLE_OK) {
			transport_error(err, "GET", "/v1/agent/assignments", rc, "");
			server_body_reset(&c->poll_body);
			return 1;
		}
		curl_easy_getinfo(c->poll, CURLINFO_RESPONSE_CODE, status);
		if (c->poll_body.len)
			*reply = json_loadb(c->poll_body.data, c->poll_body.len, 0, NULL);
		server_body_reset(&c->poll_body);
		return 1;
	}
	return 0;
}

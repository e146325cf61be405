/* cli_http.c - server discovery and JSON requests over libcurl. */
#include "cli_http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli_verbs.h"
#include "common/cleanup.h"
#include "common/fs_util.h"
#include "proto/data_dir.h"
#include "proto/server_curl.h"

static char *read_trimmed(const char *dir, const char *name, orch_error *err)
{
	cleanup_free char *path = NULL;
	char *text = NULL;

	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		path = NULL;
		orch_fail_errno(err, ENOMEM, "reading '%s'", name);
		return NULL;
	}
	if (fs_read_file(path, 4096, &text, NULL, err) < 0)
		return NULL;
	text[strcspn(text, "\r\n")] = '\0';
	return text;
}

int cli_conn_resolve(const char *server_opt, const char *token_opt, const char *ca_opt,
		     const char *data_opt, struct cli_conn *out, orch_error *err)
{
	const char *server = server_opt ? server_opt : getenv("ORCH_SERVER");
	const char *token = token_opt ? token_opt : getenv("ORCH_TOKEN");
	const char *ca = ca_opt ? ca_opt : getenv("ORCH_CA");
	const char *data = cli_data_dir(data_opt);

	memset(out, 0, sizeof(*out));
	out->server = server && *server ? strdup(server) : read_trimmed(data, ORCH_API_ADDRESS_FILE, err);
	if (!out->server)
		goto fail;
	out->token = token && *token ? strdup(token) : read_trimmed(data, ORCH_ADMIN_TOKEN_FILE, err);
	if (!out->token)
		goto fail;
	for (size_t len = strlen(out->server); len > 0 && out->server[len - 1] == '/'; len--)
		out->server[len - 1] = '\0';
	if (ca && *ca) {
		out->ca_file = strdup(ca);
	} else if (asprintf(&out->ca_file, "%s/pki/ca.pem", data) < 0) {
		out->ca_file = NULL;
	} else if (access(out->ca_file, R_OK) != 0) {
		free(out->ca_file);
		out->ca_file = NULL;
	}
	return 0;
fail:
	cli_conn_release(out);
	return orch_error_prefix(err, "finding the server (use --server and --token, "
				 "ORCH_SERVER and ORCH_TOKEN, or --data DIR of a local server)");
}

void cli_conn_release(struct cli_conn *c)
{
	free(c->server);
	free(c->token);
	free(c->ca_file);
	*c = (struct cli_conn){ 0 };
}

char *cli_escape(const char *s)
{
	char *escaped = curl_easy_escape(NULL, s, 0);
	char *copy = escaped ? strdup(escaped) : NULL;

	curl_free(escaped);
	return copy;
}

int cli_call(const struct cli_conn *c, const char *method, const char *path,
	     const char *body, size_t body_len, json_t **reply, orch_error *err)
{
	struct server_body rb = { 0 };
	struct curl_slist *headers = NULL;
	cleanup_free char *url = NULL, *auth = NULL;
	json_error_t jerr;
	long status = 0;
	CURLcode rc;
	CURL *curl;
	int ret = -1;

	if (asprintf(&url, "%s%s", c->server, path) < 0 ||
	    asprintf(&auth, "Authorization: Bearer %s", c->token) < 0) {
		url = auth = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	curl = curl_easy_init();
	if (!curl)
		return orch_fail(err, ORCH_ERR_INTERNAL, "initialising libcurl");
	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	server_curl_setup(curl, &(struct server_tls){ .mode = SERVER_TLS_VERIFIED,
						  .ca_file = c->ca_file }, 0);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)CLI_REQUEST_TIMEOUT_SECONDS);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, server_body_collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &rb);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		orch_fail(err, ORCH_ERR_INTERNAL, "%s %s: %s", method, url,
			  rb.too_large ? "response too large" : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	*reply = rb.len ? json_loadb(rb.data, rb.len, 0, &jerr) : NULL;
	if (status >= 200 && status < 300) {
		if (!*reply) {
			orch_fail(err, ORCH_ERR_INTERNAL, "%s %s: the server's answer is not JSON",
				  method, url);
			goto out;
		}
		ret = 0;
		goto out;
	}
	{
		const char *msg = json_string_value(json_object_get(*reply, "message"));
		const char *type = json_string_value(json_object_get(*reply, "__type"));

		orch_fail(err, status == 404 ? ORCH_ERR_NOT_FOUND
			  : status == 409 ? ORCH_ERR_CONFLICT
			  : status < 500 ? ORCH_ERR_INVALID : ORCH_ERR_INTERNAL,
			  "%s (%ld%s%s)", msg ? msg : "request failed", status,
			  type ? " " : "", type ? type : "");
	}
	json_decref(*reply);
	*reply = NULL;
out:
	server_body_reset(&rb);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return ret;
}

int cli_list_all(const struct cli_conn *conn, const char *path, const char *query,
		 const char *key, json_t **all, orch_error *err)
{
	cleanup_free char *token = NULL;
	json_t *list = json_array();

	*all = NULL;
	if (!list)
		return orch_fail_errno(err, ENOMEM, "listing");
	for (;;) {
		cleanup_free char *url = NULL;
		json_t *reply = NULL;
		const char *next;

		if (asprintf(&url, "%s?maxResults=100%s%s%s%s", path, query && *query ? "&" : "",
			     query ? query : "", token ? "&nextToken=" : "", token ? token : "") < 0) {
			url = NULL;
			json_decref(list);
			return orch_fail_errno(err, ENOMEM, "listing");
		}
		if (cli_call(conn, "GET", url, NULL, 0, &reply, err) < 0) {
			json_decref(list);
			return -1;
		}
		json_array_extend(list, json_object_get(reply, key));
		next = json_string_value(json_object_get(reply, "nextToken"));
		free(token);
		token = next ? cli_escape(next) : NULL;
		json_decref(reply);
		if (next && !token) {
			json_decref(list);
			return orch_fail_errno(err, ENOMEM, "listing");
		}
		if (!token) {
			*all = list;
			return 0;
		}
	}
}

int cli_call_named(const struct cli_conn *c, const char *method, const char *prefix,
		   const char *name, const char *body, size_t body_len, json_t **reply,
		   orch_error *err)
{
	cleanup_free char *escaped = cli_escape(name), *path = NULL;

	if (!escaped || asprintf(&path, "%s%s", prefix, escaped) < 0) {
		path = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	return cli_call(c, method, path, body, body_len, reply, err);
}

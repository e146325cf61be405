/* cli_task_logs.c - streaming a task's log to stdout.  See cli_task_logs.h. */
#include "cli_task_logs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "proto/server_curl.h"

/* An error answer is a small JSON body; more is not an error answer. */
#define CLI_TASK_LOGS_MAX_ERROR_BYTES (64 * 1024)

struct logs_sink {
	CURL *curl;
	char *error;		/* a non-200 answer's body */
	size_t error_len;
	bool stdout_failed;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct logs_sink *s = arg;
	size_t n = size * nmemb;
	long status = 0;
	char *grown;

	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200) {
		if (fwrite(ptr, 1, n, stdout) != n || fflush(stdout) != 0) {
			s->stdout_failed = true;
			return 0;
		}
		return n;
	}
	if (s->error_len + n > CLI_TASK_LOGS_MAX_ERROR_BYTES)
		return 0;
	grown = realloc(s->error, s->error_len + n + 1);
	if (!grown)
		return 0;
	s->error = grown;
	memcpy(s->error + s->error_len, ptr, n);
	s->error_len += n;
	s->error[s->error_len] = '\0';
	return n;
}

int cli_task_logs_stream(const struct cli_conn *conn, const char *path, orch_error *err)
{
	struct logs_sink sink = { 0 };
	struct curl_slist *headers = NULL;
	char *url = NULL, *auth = NULL;
	long status = 0;
	CURLcode rc;
	int ret = -1;

	signal(SIGPIPE, SIG_IGN);
	if (asprintf(&url, "%s%s", conn->server, path) < 0 ||
	    asprintf(&auth, "Authorization: Bearer %s", conn->token) < 0) {
		free(url);
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	sink.curl = curl_easy_init();
	if (!sink.curl) {
		free(url);
		free(auth);
		return orch_fail(err, ORCH_ERR_INTERNAL, "initialising libcurl");
	}
	headers = curl_slist_append(headers, auth);
	curl_easy_setopt(sink.curl, CURLOPT_URL, url);
	curl_easy_setopt(sink.curl, CURLOPT_HTTPHEADER, headers);
	server_curl_setup(sink.curl, &(struct server_tls){ .mode = SERVER_TLS_VERIFIED,
						  .ca_file = conn->ca_file }, 0);
	curl_easy_setopt(sink.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(sink.curl, CURLOPT_WRITEDATA, &sink);
	rc = curl_easy_perform(sink.curl);
	curl_easy_getinfo(sink.curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status == 200) {
		ret = 0;
	} else if (status != 200 && status != 0) {
		json_t *reply = sink.error ? json_loads(sink.error, 0, NULL) : NULL;
		const char *msg = json_string_value(json_object_get(reply, "message"));

		orch_fail(err, status == 404 ? ORCH_ERR_NOT_FOUND : ORCH_ERR_INVALID, "%s (%ld)",
			  msg ? msg : "request failed", status);
		json_decref(reply);
	} else if (sink.stdout_failed) {
		ret = 0;	/* stdout closed (| head): not an error of ours */
	} else {
		orch_fail(err, ORCH_ERR_INTERNAL, "GET %s: %s", url, curl_easy_strerror(rc));
	}
	free(sink.error);
	curl_slist_free_all(headers);
	curl_easy_cleanup(sink.curl);
	free(url);
	free(auth);
	return ret;
}

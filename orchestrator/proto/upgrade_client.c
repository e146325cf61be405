/* upgrade_client.c - HTTP/1.1 Upgrade over libcurl CONNECT_ONLY.  See upgrade_client.h. */
#include "upgrade_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>

#include "common/clock.h"
#include "common/cleanup.h"
#include "server_curl.h"

/* Waits until fd is ready for events or the deadline passed (-1). */
static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long long left = deadline - clock_mono_ms();
	int n;

	if (left <= 0)
		return -1;
	n = poll(&p, 1, (int)left);
	return n > 0 ? 0 : n == 0 ? -1 : (errno == EINTR ? 0 : -1);
}

static int send_all(struct upgrade_conn *c, const char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = upgrade_send(c, buf, len);

		if (n < 0)
			return -1;
		if (n == 0 && wait_fd(c->fd, POLLOUT, deadline) < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the answer head ended; returns its length in buf, or -1. */
static ssize_t read_head(struct upgrade_conn *c, char *buf, size_t size, size_t *got,
			 long long deadline)
{
	for (;;) {
		char *end;
		ssize_t n;

		buf[*got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			return end + 4 - buf;
		if (*got + 1 >= size)
			return -1;
		n = upgrade_recv(c, buf + *got, size - 1 - *got);
		if (n < 0)
			return -1;
		if (n == 0 && wait_fd(c->fd, POLLIN, deadline) < 0)
			return -1;
		*got += (size_t)n;
	}
}

/* The value of header name in a head (case-insensitive), or NULL. */
static const char *head_header(const char *head, const char *name)
{
	size_t len = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line && line[2] != '\r';
	     line = strstr(line + 2, "\r\n"))
		if (strncasecmp(line + 2, name, len) == 0 && line[2 + len] == ':')
			return line + 3 + len + strspn(line + 3 + len, " \t");
	return NULL;
}

/* Reads a refusal's body (Content-Length, else up to the close), bounded. */
static char *read_error_body(struct upgrade_conn *c, const char *head, const char *early,
			     size_t early_len, long long deadline)
{
	const char *cl = head_header(head, "Content-Length");
	size_t want = cl ? strtoul(cl, NULL, 10) : UPGRADE_MAX_ERROR_BODY_BYTES;
	char *body;
	size_t got;

	if (want > UPGRADE_MAX_ERROR_BODY_BYTES)
		want = UPGRADE_MAX_ERROR_BODY_BYTES;
	body = malloc(want + 1);
	if (!body)
		return NULL;
	got = early_len < want ? early_len : want;
	memcpy(body, early, got);
	while (got < want) {
		ssize_t n = upgrade_recv(c, body + got, want - got);

		if (n < 0)
			break;
		if (n == 0 && wait_fd(c->fd, POLLIN, deadline) < 0)
			break;
		got += (size_t)n;
	}
	body[got] = '\0';
	return body;
}

/*
 * The callers send from a queue that may be compacted or grown between a
 * send that could not finish and its retry; OpenSSL refuses such a retry
 * ("bad write retry") unless told the buffer may move (its contents up to
 * the pending length stay the same).
 */
static CURLcode allow_moving_write_buffer(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	(void)arg;
	SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return CURLE_OK;
}

int upgrade_open(const struct upgrade_request *r, struct upgrade_conn *c, long *status,
		 char **body, orch_error *err)
{
	long long deadline = clock_mono_ms() + r->timeout_ms;
	struct server_tls tls = { .mode = SERVER_TLS_VERIFIED, .ca_pem = r->ca_pem,
				  .ca_file = r->ca_file };
	cleanup_free char *url = NULL, *request = NULL;
	char head[UPGRADE_MAX_HEAD_BYTES];
	const char *host = strstr(r->server, "://");
	curl_socket_t sock = CURL_SOCKET_BAD;
	size_t got = 0;
	ssize_t head_len;
	CURLcode rc;
	int request_len;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	*status = 0;
	*body = NULL;
	host = host ? host + 3 : r->server;
	if (asprintf(&url, "%s%s", r->server, r->path) < 0) {
		url = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	request_len = asprintf(&request, "POST %s HTTP/1.1\r\nHost: %.*s\r\n"
			       "Authorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n"
			       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
			       r->path, (int)strcspn(host, "/"), host, r->token, r->protocol,
			       r->body ? r->body_len : 0);
	if (request_len < 0) {
		request = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	c->curl = curl_easy_init();
	if (!c->curl)
		return orch_fail(err, ORCH_ERR_INTERNAL, "initialising libcurl");
	server_curl_setup(c->curl, &tls, r->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_CTX_FUNCTION, allow_moving_write_buffer);
	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		upgrade_close(c);
		return orch_fail(err, ORCH_ERR_INTERNAL, "POST %s: %s", url, curl_easy_strerror(rc));
	}
	curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &sock);
	c->fd = sock == CURL_SOCKET_BAD ? -1 : (int)sock;
	if (c->fd < 0 || send_all(c, request, (size_t)request_len, deadline) < 0 ||
	    (r->body && send_all(c, r->body, r->body_len, deadline) < 0)) {
		upgrade_close(c);
		return orch_fail(err, ORCH_ERR_INTERNAL, "POST %s: sending the request failed", url);
	}
	head_len = read_head(c, head, sizeof(head), &got, deadline);
	if (head_len < 0 || sscanf(head, "HTTP/1.%*d %ld", status) != 1) {
		upgrade_close(c);
		return orch_fail(err, ORCH_ERR_INTERNAL, "POST %s: no answer from the server", url);
	}
	if (*status == 101) {
		if (got > (size_t)head_len) {
			c->early = malloc(got - (size_t)head_len);
			if (!c->early) {
				upgrade_close(c);
				return orch_fail_errno(err, ENOMEM, "POST %s", url);
			}
			memcpy(c->early, head + head_len, got - (size_t)head_len);
			c->early_len = got - (size_t)head_len;
		}
		return 0;
	}
	{
		size_t early_len = got - (size_t)head_len;
		cleanup_free char *early = malloc(early_len + 1);

		if (early) {
			memcpy(early, head + head_len, early_len);
			head[head_len] = '\0';
			*body = read_error_body(c, head, early, early_len, deadline);
		}
	}
	upgrade_close(c);
	return 1;
}

ssize_t upgrade_recv(struct upgrade_conn *c, void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc;

	if (c->early_off < c->early_len) {
		n = c->early_len - c->early_off < len ? c->early_len - c->early_off : len;
		memcpy(buf, c->early + c->early_off, n);
		c->early_off += n;
		return (ssize_t)n;
	}
	rc = curl_easy_recv(c->curl, buf, len, &n);
	if (rc == CURLE_AGAIN)
		return 0;
	if (rc != CURLE_OK || n == 0)
		return -1;
	return (ssize_t)n;
}

ssize_t upgrade_send(struct upgrade_conn *c, const void *buf, size_t len)
{
	size_t n = 0;
	CURLcode rc = curl_easy_send(c->curl, buf, len, &n);

	if (rc == CURLE_AGAIN)
		return 0;
	return rc == CURLE_OK ? (ssize_t)n : -1;
}

int upgrade_fd(const struct upgrade_conn *c)
{
	return c->fd;
}

void upgrade_close(struct upgrade_conn *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	c->fd = -1;
	free(c->early);
	c->early = NULL;
	c->early_len = c->early_off = 0;
}

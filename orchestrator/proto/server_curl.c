/* server_curl.c - the one libcurl setup for talking to orch's API (server_curl.h). */
#include "server_curl.h"

#include <stdlib.h>
#include <string.h>

void server_curl_setup(CURL *h, const struct server_tls *tls, long connect_timeout_ms)
{
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, SERVER_CURL_KEEPALIVE_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, SERVER_CURL_KEEPALIVE_S);
	if (connect_timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
	if (tls->mode == SERVER_TLS_UNVERIFIED) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
		return;
	}
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (tls->ca_pem) {
		struct curl_blob blob = { .data = (void *)tls->ca_pem, .len = strlen(tls->ca_pem),
					  .flags = CURL_BLOB_COPY };

		/* Only the pinned CA: no CA directory, no system bundle. */
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	} else if (tls->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, tls->ca_file);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
}

size_t server_body_collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct server_body *b = arg;
	size_t n = size * nmemb;
	char *grown;

	if (b->len + n > SERVER_BODY_MAX_BYTES) {
		b->too_large = true;
		return 0;
	}
	grown = realloc(b->data, b->len + n + 1);
	if (!grown)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

size_t server_body_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

void server_body_reset(struct server_body *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->too_large = false;
}

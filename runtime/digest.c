/*
 * digest.c - sha256 digests for blobs, manifests and layer diff IDs.
 */
#include "digest.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct sha256_stream {
	EVP_MD_CTX *ctx;
};

bool digest_is_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != DIGEST_STR_LEN)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

const char *digest_hex(const char *s)
{
	return s + 7;
}

struct sha256_stream *sha256_stream_new(void)
{
	struct sha256_stream *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

void sha256_stream_update(struct sha256_stream *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void sha256_stream_final(struct sha256_stream *h, char out[DIGEST_STR_SIZE])
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < n && i < 32; i++) {
		out[7 + 2 * i] = hexd[md[i] >> 4];
		out[8 + 2 * i] = hexd[md[i] & 15];
	}
	out[DIGEST_STR_LEN] = '\0';
}

void sha256_stream_reset(struct sha256_stream *h)
{
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void sha256_stream_free(struct sha256_stream *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void sha256_digest_buffer(const void *data, size_t len, char out[DIGEST_STR_SIZE])
{
	struct sha256_stream *h = sha256_stream_new();

	if (!h) {
		out[0] = '\0';
		return;
	}
	sha256_stream_update(h, data, len);
	sha256_stream_final(h, out);
	sha256_stream_free(h);
}

/*
 * digest.h - content digests ("sha256:" + 64 lowercase hex) as the OCI image
 * spec defines them, and a streaming SHA-256 on OpenSSL's EVP interface.
 *
 * Only sha256 is accepted: it is what every registry and image uses, and a
 * digest orch cannot verify is a digest orch must not trust.
 */
#ifndef ORCH_RUNTIME_DIGEST_H
#define ORCH_RUNTIME_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN)	/* "sha256:" + hex */
#define DIGEST_STR_SIZE (DIGEST_STR_LEN + 1)

/* True if s is exactly "sha256:" followed by 64 lowercase hex digits. */
bool digest_is_valid(const char *s);

/* The hex part of a valid digest (points into s). */
const char *digest_hex(const char *s);

struct sha256_stream;

/* A running SHA-256; NULL only on allocation failure. */
struct sha256_stream *sha256_stream_new(void);
void sha256_stream_update(struct sha256_stream *h, const void *data, size_t len);
/* Writes "sha256:HEX" into out (DIGEST_STR_SIZE bytes); the stream may then
 * only be freed or reset. */
void sha256_stream_final(struct sha256_stream *h, char out[DIGEST_STR_SIZE]);
void sha256_stream_reset(struct sha256_stream *h);
void sha256_stream_free(struct sha256_stream *h);

/* One-shot digest of a buffer. */
void sha256_digest_buffer(const void *data, size_t len, char out[DIGEST_STR_SIZE]);

#endif

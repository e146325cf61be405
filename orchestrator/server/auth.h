/*
 * auth.h - bearer tokens: creating, storing and checking them.
 *
 * Tokens are 32 random bytes from OpenSSL's CSPRNG, hex encoded.  They are
 * kept in 0600 files in the data dir and compared in constant time.
 */
#ifndef ORCH_AUTH_H
#define ORCH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define AUTH_TOKEN_BYTES 32
#define AUTH_TOKEN_HEX_LEN (2 * AUTH_TOKEN_BYTES)

/*
 * Reads the token in path, or creates the file with a new token if it does
 * not exist.  out must hold AUTH_TOKEN_HEX_LEN + 1 bytes.
 */
int auth_token_load_or_create(const char *path, char *out, orch_error *err);

/* Reads a token file written by auth_token_load_or_create. */
int auth_token_read(const char *path, char *out, size_t out_size, orch_error *err);

/* Checks an Authorization header value against the expected token. */
bool auth_bearer_matches(const char *header, const char *token);

#endif

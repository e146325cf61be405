/* auth.c - bearer token files and constant-time checks. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/cleanup.h"
#include "common/fs_util.h"

int auth_token_read(const char *path, char *out, size_t out_size, orch_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t len;

	if (fd < 0)
		return orch_fail_errno(err, errno, "reading token file '%s'", path);
	n = read(fd, out, out_size - 1);
	if (n < 0)
		return orch_fail_errno(err, errno, "reading token file '%s'", path);
	out[n] = '\0';
	len = strcspn(out, "\r\n");
	out[len] = '\0';
	if (len == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "token file '%s' is empty", path);
	return 0;
}

int auth_token_load_or_create(const char *path, char *out, orch_error *err)
{
	unsigned char raw[AUTH_TOKEN_BYTES];

	if (access(path, F_OK) == 0) {
		if (auth_token_read(path, out, AUTH_TOKEN_HEX_LEN + 1, err) < 0)
			return -1;
		if (strlen(out) != AUTH_TOKEN_HEX_LEN)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "token file '%s' does not hold a %d-character token",
					 path, AUTH_TOKEN_HEX_LEN);
		return 0;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return orch_fail(err, ORCH_ERR_INTERNAL, "generating a token: no randomness");
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (fs_write_file_atomic(path, out, AUTH_TOKEN_HEX_LEN, 0600, err) < 0)
		return -1;
	return 0;
}

bool auth_bearer_matches(const char *header, const char *token)
{
	static const char prefix[] = "Bearer ";
	size_t token_len = strlen(token);

	if (!header || strncasecmp(header, prefix, sizeof(prefix) - 1) != 0)
		return false;
	header += sizeof(prefix) - 1;
	if (strlen(header) != token_len)
		return false;
	return CRYPTO_memcmp(header, token, token_len) == 0;
}

/*
 * fuzz_layer_path.c - cleaning a tar entry name from an image layer
 * (layer_path_clean, runtime/layer_unpack.h) on arbitrary names.
 *
 * The cleaned name is what the extractor walks from the layer root, so the
 * checks are the threat model's: an accepted name is relative, has no '..',
 * '.' or empty component and no trailing '/', fits the buffer, and cleaning
 * it again changes nothing.  The name is cleaned into a buffer of the
 * extractor's size (4096) and into a small one (sized from the input's
 * length), both exactly allocated so that a write past the end is caught;
 * the two must agree whenever the result fits both.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/layer_unpack.h"
#include "fuzz_input.h"

#define EXTRACTOR_PATH_MAX 4096	/* UNPACK_PATH_MAX of runtime/layer_unpack.c */

static void check_clean(const char *out, size_t size)
{
	size_t len = strlen(out);
	const char *p = out;

	FUZZ_CHECK(len < size);
	if (len == 0)
		return;	/* the layer root */
	FUZZ_CHECK(out[0] != '/' && out[len - 1] != '/');
	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		FUZZ_CHECK(n > 0);
		FUZZ_CHECK(!(n == 1 && p[0] == '.'));
		FUZZ_CHECK(!(n == 2 && p[0] == '.' && p[1] == '.'));
		if (!*end)
			break;
		p = end + 1;
	}
}

static int clean(const char *name, size_t size, char **out, const char **reason)
{
	*out = malloc(size);
	if (!*out)
		abort();
	return layer_path_clean(name, *out, size, reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = fuzz_cstring(data, size);
	size_t small_size = 1 + size % 64;
	char *big, *small, *again;
	const char *reason, *small_reason, *again_reason;
	int rc = clean(name, EXTRACTOR_PATH_MAX, &big, &reason);
	int small_rc = clean(name, small_size, &small, &small_reason);

	if (rc < 0) {
		FUZZ_CHECK(reason && reason[0]);
		FUZZ_CHECK(small_rc < 0 && small_reason);
	} else {
		FUZZ_CHECK(!reason);
		check_clean(big, EXTRACTOR_PATH_MAX);
		if (strlen(big) < small_size) {
			FUZZ_CHECK(small_rc == 0 && strcmp(small, big) == 0);
		} else {
			FUZZ_CHECK(small_rc < 0 && small_reason);
		}
		if (big[0]) {
			FUZZ_CHECK(clean(big, EXTRACTOR_PATH_MAX, &again, &again_reason) == 0);
			FUZZ_CHECK(strcmp(again, big) == 0);
			free(again);
		}
	}
	free(big);
	free(small);
	free(name);
	return 0;
}

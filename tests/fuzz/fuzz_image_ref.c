/*
 * fuzz_image_ref.c - image reference parsing (runtime/image_ref.h) on
 * arbitrary strings, as an image name arrives from a task definition or
 * the command line.
 *
 * Beyond what the sanitizers catch, it checks that a reference orch accepts
 * formats to a name that fits IMAGE_REF_STR_MAX and parses back to the same
 * reference (the normalized name orch stores and shows means what the
 * original meant), and that a refusal says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/image_ref.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	char formatted[IMAGE_REF_STR_MAX + 1], repository[IMAGE_REF_STR_MAX];
	struct image_ref ref, again;
	orch_error err = ORCH_ERROR_INIT;

	if (image_ref_parse(text, &ref, &err) < 0) {
		FUZZ_CHECK(err.kind == ORCH_ERR_INVALID && err.message[0]);
		free(text);
		return 0;
	}
	FUZZ_CHECK(ref.domain[0] && ref.path[0]);
	FUZZ_CHECK(ref.tag[0] || ref.digest[0]);
	FUZZ_CHECK(ref.digest[0] == '\0' || digest_is_valid(ref.digest));

	image_ref_format(&ref, formatted, sizeof(formatted));
	FUZZ_CHECK(strlen(formatted) < IMAGE_REF_STR_MAX);
	image_ref_repository(&ref, repository, sizeof(repository));
	FUZZ_CHECK(strncmp(formatted, repository, strlen(repository)) == 0);
	FUZZ_CHECK(image_ref_endpoint(&ref)[0] != '\0');
	FUZZ_CHECK(image_ref_manifest_ref(&ref)[0] != '\0');

	if (image_ref_parse(formatted, &again, &err) < 0) {
		fprintf(stderr, "'%s' formats to '%s', which is refused: %s\n", text, formatted,
			err.message);
		FUZZ_CHECK(!"a formatted reference parses");
	}
	FUZZ_CHECK(strcmp(again.domain, ref.domain) == 0);
	FUZZ_CHECK(strcmp(again.path, ref.path) == 0);
	FUZZ_CHECK(strcmp(again.tag, ref.tag) == 0);
	FUZZ_CHECK(strcmp(again.digest, ref.digest) == 0);
	free(text);
	return 0;
}

/*
 * fuzz_manifest.c - image manifest, index and image config parsing
 * (runtime/manifest.h) on arbitrary registry responses.
 *
 * Every input is parsed as a manifest or index under each Content-Type a
 * registry may send (none, each media type orch asks for, and a bogus one),
 * and as an image config for its diff IDs.  Beyond what the sanitizers
 * catch, it checks the bounds the header promises a hostile registry: at
 * most MANIFEST_MAX_LAYERS layers, digests that are "sha256:" and 64 hex
 * digits, NUL-terminated media types, sizes that are not negative.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/manifest.h"
#include "fuzz_input.h"

static const char *const content_types[] = {
	NULL,
	MEDIA_TYPE_OCI_MANIFEST,
	MEDIA_TYPE_OCI_INDEX,
	MEDIA_TYPE_DOCKER_MANIFEST "; charset=utf-8",
	MEDIA_TYPE_DOCKER_LIST,
	"text/html",
};

static void check_digest(const char *digest)
{
	FUZZ_CHECK(strnlen(digest, DIGEST_STR_SIZE) == DIGEST_STR_SIZE - 1);
	FUZZ_CHECK(strncmp(digest, "sha256:", 7) == 0);
	FUZZ_CHECK(strspn(digest + 7, "0123456789abcdef") == DIGEST_STR_SIZE - 8);
}

static void check_descriptor(const struct descriptor *d)
{
	FUZZ_CHECK(strnlen(d->media_type, sizeof(d->media_type)) < sizeof(d->media_type));
	check_digest(d->digest);
	FUZZ_CHECK(d->size >= 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char (*diff_ids)[DIGEST_STR_SIZE] = NULL;
	size_t diff_id_count = 0;
	orch_error err = ORCH_ERROR_INIT;

	for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
		struct manifest m;

		memset(&m, 0, sizeof(m));
		if (manifest_parse((const char *)data, size, content_types[i], &m, &err) < 0)
			continue;
		FUZZ_CHECK(strnlen(m.media_type, sizeof(m.media_type)) < sizeof(m.media_type));
		if (m.kind == MANIFEST_KIND_IMAGE) {
			check_descriptor(&m.config);
			FUZZ_CHECK(m.layer_count <= MANIFEST_MAX_LAYERS);
			for (size_t l = 0; l < m.layer_count; l++) {
				check_descriptor(&m.layers[l]);
				(void)layer_media_type_compression(m.layers[l].media_type);
			}
		} else {
			FUZZ_CHECK(m.kind == MANIFEST_KIND_INDEX);
			check_descriptor(&m.platform_manifest);
		}
		manifest_release(&m);
	}

	if (image_config_diff_ids((const char *)data, size, &diff_ids, &diff_id_count, &err) == 0) {
		char chain[DIGEST_STR_SIZE] = "";

		FUZZ_CHECK(diff_id_count <= MANIFEST_MAX_LAYERS);
		for (size_t i = 0; i < diff_id_count; i++) {
			check_digest(diff_ids[i]);
			layer_chain_id(i ? chain : NULL, diff_ids[i], chain);
			check_digest(chain);
		}
		free(diff_ids);
	}
	return 0;
}

/*
 * test_manifest.c - unit tests of manifest, index and image config parsing,
 * and of layer chain IDs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static int parse(const char *text, const char *ctype, struct manifest *m, orch_error *err)
{
	return manifest_parse(text, strlen(text), ctype, m, err);
}

static void test_oci_manifest(void **state)
{
	struct manifest m;
	orch_error err = ORCH_ERROR_INIT;
	const char *t = "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\","
			"\"config\":{\"mediaType\":\"" MEDIA_TYPE_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":10},"
			"\"layers\":[{\"mediaType\":\"" MEDIA_TYPE_OCI_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":20},"
			"{\"mediaType\":\"" MEDIA_TYPE_OCI_LAYER_ZSTD "\",\"digest\":\"" D3 "\",\"size\":30},"
			"{\"mediaType\":\"" MEDIA_TYPE_OCI_LAYER "\",\"digest\":\"" D1 "\",\"size\":0}]}";

	(void)state;
	assert_int_equal(parse(t, NULL, &m, &err), 0);
	assert_int_equal(m.kind, MANIFEST_KIND_IMAGE);
	assert_string_equal(m.config.digest, D1);
	assert_int_equal(m.layer_count, 3);
	assert_string_equal(m.layers[1].digest, D3);
	assert_int_equal(m.layers[2].size, 0);
	assert_int_equal(layer_media_type_compression(m.layers[0].media_type), LAYER_COMPRESSION_GZIP);
	assert_int_equal(layer_media_type_compression(m.layers[1].media_type), LAYER_COMPRESSION_ZSTD);
	assert_int_equal(layer_media_type_compression(m.layers[2].media_type), LAYER_COMPRESSION_NONE);
	manifest_release(&m);
}

static void test_docker_manifest_by_content_type(void **state)
{
	struct manifest m;
	orch_error err = ORCH_ERROR_INIT;
	const char *t = "{\"schemaVersion\":2,"
			"\"config\":{\"mediaType\":\"" MEDIA_TYPE_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":1},"
			"\"layers\":[{\"mediaType\":\"" MEDIA_TYPE_DOCKER_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":2}]}";

	(void)state;
	assert_int_equal(parse(t, MEDIA_TYPE_DOCKER_MANIFEST "; charset=utf-8", &m, &err), 0);
	assert_string_equal(m.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
	assert_int_equal(m.layer_count, 1);
	manifest_release(&m);
}

static void test_index_picks_linux_amd64(void **state)
{
	struct manifest m;
	orch_error err = ORCH_ERROR_INIT;
	const char *t = "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_DOCKER_LIST "\",\"manifests\":["
			"{\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":5,"
			"\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
			"{\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":5,"
			"\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
			"{\"mediaType\":\"" MEDIA_TYPE_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":7,"
			"\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
	const char *none = "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX "\",\"manifests\":["
			   "{\"digest\":\"" D1 "\",\"size\":5,\"platform\":{\"os\":\"linux\",\"architecture\":\"s390x\"}}]}";

	(void)state;
	assert_int_equal(parse(t, NULL, &m, &err), 0);
	assert_int_equal(m.kind, MANIFEST_KIND_INDEX);
	assert_string_equal(m.platform_manifest.digest, D2);
	assert_int_equal(m.platform_manifest.size, 7);
	manifest_release(&m);
	assert_int_equal(parse(none, NULL, &m, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_NOT_FOUND);
	assert_non_null(strstr(err.message, "linux/amd64"));
}

static const struct {
	const char *text;
	const char *message_part;
} bad_cases[] = {
	{ "not json", "not a JSON object" },
	{ "[]", "not a JSON object" },
	{ "{\"schemaVersion\":1}", "schemaVersion 1" },
	{ "{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", "unsupported manifest media type" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}", "sha256 digest" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"md5:1111\",\"size\":1},\"layers\":[]}", "sha256 digest" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}", "size" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":\"application/x-rar\",\"digest\":\"" D2 "\",\"size\":1}]}",
	  "unsupported media type" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":[7]}", "not an object" },
	{ "{\"schemaVersion\":2,\"schemaVersion\":2}", "not a JSON object" },
};

static void test_bad_manifests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct manifest m;
		orch_error err = ORCH_ERROR_INIT;

		if (parse(bad_cases[i].text, NULL, &m, &err) == 0)
			fail_msg("accepted: %s", bad_cases[i].text);
		if (!strstr(err.message, bad_cases[i].message_part))
			fail_msg("'%s': message '%s' lacks '%s'", bad_cases[i].text, err.message,
				 bad_cases[i].message_part);
	}
}

static void test_too_many_layers(void **state)
{
	size_t cap = 64 + (MANIFEST_MAX_LAYERS + 1) * 120;
	char *t = malloc(cap);
	size_t o;
	struct manifest m;
	orch_error err = ORCH_ERROR_INIT;

	(void)state;
	o = (size_t)snprintf(t, cap, "{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\",\"size\":1},\"layers\":[", D1);
	for (int i = 0; i <= MANIFEST_MAX_LAYERS; i++)
		o += (size_t)snprintf(t + o, cap - o, "%s{\"digest\":\"%s\",\"size\":1}", i ? "," : "", D2);
	snprintf(t + o, cap - o, "]}");
	assert_int_equal(parse(t, NULL, &m, &err), -1);
	assert_non_null(strstr(err.message, "layers"));
	free(t);
}

static void test_config_diff_ids(void **state)
{
	const char *cfg = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
	char (*ids)[DIGEST_STR_SIZE] = NULL;
	size_t n = 0;
	orch_error err = ORCH_ERROR_INIT;

	(void)state;
	assert_int_equal(image_config_diff_ids(cfg, strlen(cfg), &ids, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[1], D2);
	free(ids);
	cfg = "{\"rootfs\":{\"diff_ids\":[\"nope\"]}}";
	assert_int_equal(image_config_diff_ids(cfg, strlen(cfg), &ids, &n, &err), -1);
	cfg = "{}";
	assert_int_equal(image_config_diff_ids(cfg, strlen(cfg), &ids, &n, &err), -1);
}

static void test_chain_id(void **state)
{
	char c1[DIGEST_STR_SIZE], c2[DIGEST_STR_SIZE];

	(void)state;
	layer_chain_id(NULL, D1, c1);
	assert_string_equal(c1, D1);
	/* sha256("sha256:111...1 sha256:222...2") */
	layer_chain_id(c1, D2, c2);
	assert_true(digest_is_valid(c2));
	assert_string_not_equal(c2, D2);
	{
		char buf[200], want[DIGEST_STR_SIZE];

		snprintf(buf, sizeof(buf), "%s %s", D1, D2);
		sha256_digest_buffer(buf, strlen(buf), want);
		assert_string_equal(c2, want);
	}
	/* known vector: sha256 of the empty string */
	sha256_digest_buffer("", 0, c1);
	assert_string_equal(c1, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_manifest),
		cmocka_unit_test(test_docker_manifest_by_content_type),
		cmocka_unit_test(test_index_picks_linux_amd64),
		cmocka_unit_test(test_bad_manifests),
		cmocka_unit_test(test_too_many_layers),
		cmocka_unit_test(test_config_diff_ids),
		cmocka_unit_test(test_chain_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

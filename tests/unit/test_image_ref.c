/*
 * test_image_ref.c - unit tests of image reference parsing (Docker Hub
 * naming rules) and of layer entry name cleaning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/image_ref.h"
#include "runtime/layer_unpack.h"

static const struct {
	const char *in;
	const char *normalized;	/* NULL: must be rejected */
	const char *endpoint;
} ref_cases[] = {
	{ "busybox", "docker.io/library/busybox:latest", "registry-1.docker.io" },
	{ "busybox:1.36", "docker.io/library/busybox:1.36", "registry-1.docker.io" },
	{ "library/busybox", "docker.io/library/busybox:latest", "registry-1.docker.io" },
	{ "docker.io/busybox", "docker.io/library/busybox:latest", "registry-1.docker.io" },
	{ "index.docker.io/user/app", "docker.io/user/app:latest", "registry-1.docker.io" },
	{ "user/app:v2", "docker.io/user/app:v2", "registry-1.docker.io" },
	{ "127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000" },
	{ "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000" },
	{ "localhost/app", "localhost/app:latest", "localhost" },
	{ "localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t", "localhost:5000" },
	{ "ghcr.io/org/my-app_x.y__z:1.0-rc_1", "ghcr.io/org/my-app_x.y__z:1.0-rc_1", "ghcr.io" },
	{ "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	  "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	  "registry-1.docker.io" },
	{ "q.io/a:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	  "q.io/a:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "q.io" },
	/* rejected */
	{ "", NULL, NULL },
	{ "BusyBox", NULL, NULL },
	{ "busybox:", NULL, NULL },
	{ "busybox:-x", NULL, NULL },
	{ "a//b", NULL, NULL },
	{ "a/-b", NULL, NULL },
	{ "a/b-", NULL, NULL },
	{ "a..b", NULL, NULL },
	{ "a/b/../c", NULL, NULL },
	{ "busybox@sha256:abc", NULL, NULL },
	{ "busybox@md5:0123456789abcdef0123456789abcdef", NULL, NULL },
	{ "example.com/", NULL, NULL },
	{ "exa mple.com/x", NULL, NULL },
};

static void test_refs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
		struct image_ref ref;
		orch_error err = ORCH_ERROR_INIT;
		char buf[IMAGE_REF_STR_MAX];
		int rc = image_ref_parse(ref_cases[i].in, &ref, &err);

		if (!ref_cases[i].normalized) {
			if (rc == 0)
				fail_msg("'%s' was accepted", ref_cases[i].in);
			assert_int_equal(err.kind, ORCH_ERR_INVALID);
			assert_true(err.message[0] != '\0');
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' rejected: %s", ref_cases[i].in, err.message);
		image_ref_format(&ref, buf, sizeof(buf));
		assert_string_equal(buf, ref_cases[i].normalized);
		assert_string_equal(image_ref_endpoint(&ref), ref_cases[i].endpoint);
	}
}

static void test_manifest_ref(void **state)
{
	struct image_ref ref;
	orch_error err = ORCH_ERROR_INIT;
	char repo[IMAGE_REF_STR_MAX];

	(void)state;
	assert_int_equal(image_ref_parse("busybox", &ref, &err), 0);
	assert_string_equal(image_ref_manifest_ref(&ref), "latest");
	image_ref_repository(&ref, repo, sizeof(repo));
	assert_string_equal(repo, "docker.io/library/busybox");
	assert_int_equal(image_ref_parse("b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &ref, &err), 0);
	assert_string_equal(ref.tag, "");
	assert_string_equal(image_ref_manifest_ref(&ref),
			    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

static void test_too_long(void **state)
{
	char big[2000];
	struct image_ref ref;
	orch_error err = ORCH_ERROR_INIT;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(image_ref_parse(big, &ref, &err), -1);
	memset(big, 'a', 300);
	big[300] = '\0';
	assert_int_equal(image_ref_parse(big, &ref, &err), -1);
}

static const struct {
	const char *in;
	const char *out;	/* NULL: rejected */
} path_cases[] = {
	{ "a/b/c", "a/b/c" },
	{ "./a/b/", "a/b" },
	{ "a//b/./c", "a/b/c" },
	{ ".", "" },
	{ "./", "" },
	{ "a/.wh.b", "a/.wh.b" },
	{ "..", NULL },
	{ "../a", NULL },
	{ "a/../b", NULL },
	{ "a/..", NULL },
	{ "/etc/passwd", NULL },
	{ "/", NULL },
	{ "", NULL },
	{ "...", "..." },
	{ "..a/b..", "..a/b.." },
};

static void test_layer_path_clean(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		char out[64];
		const char *reason;
		int rc = layer_path_clean(path_cases[i].in, out, sizeof(out), &reason);

		if (!path_cases[i].out) {
			if (rc == 0)
				fail_msg("'%s' was accepted as '%s'", path_cases[i].in, out);
			assert_non_null(reason);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' rejected: %s", path_cases[i].in, reason);
		assert_string_equal(out, path_cases[i].out);
	}
}

static void test_layer_path_too_long(void **state)
{
	char out[8];
	const char *reason;

	(void)state;
	assert_int_equal(layer_path_clean("abcdefgh", out, sizeof(out), &reason), -1);
	assert_int_equal(layer_path_clean("abcdefg", out, sizeof(out), &reason), 0);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(layer_parse_size("16M", &v), 0);
	assert_true(v == 16ULL << 20);
	assert_int_equal(layer_parse_size("2g", &v), 0);
	assert_true(v == 2ULL << 30);
	assert_int_equal(layer_parse_size("100", &v), 0);
	assert_true(v == 100);
	assert_int_equal(layer_parse_size("-1", &v), -1);
	assert_int_equal(layer_parse_size("1T", &v), -1);
	assert_int_equal(layer_parse_size("", &v), -1);
	assert_int_equal(layer_parse_size("1MB", &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_manifest_ref),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_layer_path_clean),
		cmocka_unit_test(test_layer_path_too_long),
		cmocka_unit_test(test_parse_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_lb_config.c - unit tests for lb/config.c (validation messages name
 * the field) and lb/route_table.c rule ordering and matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lb/config.h"

static struct lb_config *parse(const char *text, orch_error *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	struct lb_config *config;

	assert_non_null(root);
	config = lb_config_from_json(root, err);
	json_decref(root);
	return config;
}

static void expect_error(const char *text, const char *needle)
{
	orch_error err = ORCH_ERROR_INIT;
	struct lb_config *config = parse(text, &err);

	assert_null(config);
	if (!strstr(err.message, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err.message, needle);
}

#define L "\"listeners\":[{\"address\":\"127.0.0.1:1\"}]"

static void test_minimal(void **state)
{
	orch_error err = ORCH_ERROR_INIT;
	struct lb_config *config = parse("{" L "}", &err);

	assert_non_null(config);
	assert_int_equal(config->listener_count, 1);
	assert_int_equal(config->limits.max_header_bytes, LB_DEFAULT_MAX_HEADER_BYTES);
	lb_config_free(config);
}

static void test_errors_name_fields(void **state)
{
	expect_error("{}", "listeners");
	expect_error("{" L ",\"rules\":[{\"targetGroup\":\"x\"}]}", "rules[0].targetGroup: unknown target group \"x\"");
	expect_error("{" L ",\"rules\":[{\"hots\":\"a\",\"targetGroup\":\"x\"}]}", "rules[0].hots: unknown field");
	expect_error("{" L ",\"targetGroups\":{\"w\":{\"targets\":[{\"address\":\"1.2.3.4\"}]}}}",
		     "targetGroups.w.targets[0].address");
	expect_error("{" L ",\"targetGroups\":{\"w\":{\"algorithm\":\"random\"}}}", "targetGroups.w.algorithm");
	expect_error("{" L ",\"targetGroups\":{\"w\":{\"healthCheck\":{\"matcher\":\"abc\"}}}}",
		     "targetGroups.w.healthCheck.matcher");
	expect_error("{" L ",\"targetGroups\":{\"w\":{\"targets\":[{\"address\":\"1.2.3.4:80\",\"weight\":-1}]}}}",
		     "targetGroups.w.targets[0].weight");
	expect_error("{" L ",\"limits\":{\"maxHeaderBytes\":\"big\"}}", "limits.maxHeaderBytes");
	expect_error("{" L ",\"timeouts\":{\"headerReadSeconds\":0}}", "timeouts.headerReadSeconds");
	expect_error("{\"listeners\":[{\"address\":\"127.0.0.1:99999\"}]}", "listeners[0].address");
	expect_error("{" L ",\"rules\":[{\"host\":\"a b\",\"targetGroup\":\"w\"}],\"targetGroups\":{\"w\":{}}}",
		     "rules[0].host");
	expect_error("{" L ",\"rules\":[{\"pathPrefix\":\"x\",\"targetGroup\":\"w\"}],\"targetGroups\":{\"w\":{}}}",
		     "rules[0].pathPrefix");
	expect_error("{\"listeners\":[{\"address\":\"127.0.0.1:1\",\"tls\":{\"certificates\":[]}}]}",
		     "listeners[0].tls.certificates");
}

static void test_rule_order(void **state)
{
	orch_error err = ORCH_ERROR_INIT;
	struct lb_config *config = parse(
		"{" L ",\"targetGroups\":{\"a\":{},\"b\":{}},\"rules\":["
		"{\"targetGroup\":\"a\"},"
		"{\"host\":\"*.x.com\",\"targetGroup\":\"a\"},"
		"{\"host\":\"www.x.com\",\"pathPrefix\":\"/api/\",\"targetGroup\":\"b\"},"
		"{\"host\":\"www.x.com\",\"targetGroup\":\"a\"},"
		"{\"pathPrefix\":\"/z\",\"priority\":1,\"targetGroup\":\"b\"}]}", &err);

	assert_non_null(config);
	assert_string_equal(config->rules[0].path_prefix, "/z");	/* explicit priority first */
	assert_string_equal(config->rules[1].host, "www.x.com");
	assert_string_equal(config->rules[1].path_prefix, "/api/");	/* longer prefix first */
	assert_string_equal(config->rules[2].host, "www.x.com");
	assert_true(config->rules[3].host_wildcard);
	assert_null(config->rules[4].host);
	lb_config_free(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_errors_name_fields),
		cmocka_unit_test(test_rule_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_lb_config.c - the load balancer's routes config (lb_config_from_json,
 * lb/config.h) on arbitrary documents, read as lb_config_load_file reads a
 * routes file (jansson, duplicate keys refused).
 *
 * Beyond what the sanitizers catch (the config is freed, so a leak is found
 * too), it checks what the proxy relies on without checking again: every
 * rule names a target group that exists, weights and health-check matchers
 * are within their ranges, a header line fits the header limit and the
 * buffer holds a whole head.
 *
 * Addresses in the document are resolved by getaddrinfo, and a fuzzer must
 * not send DNS queries: the build links this target with
 * -Wl,--wrap=getaddrinfo, so the library's calls come here and resolve
 * numeric addresses (and "localhost") only.
 */
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "common/http_parse.h"
#include "lb/config.h"
#include "fuzz_input.h"

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res);

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	struct addrinfo numeric;

	memset(&numeric, 0, sizeof(numeric));
	if (hints)
		numeric = *hints;
	numeric.ai_flags |= AI_NUMERICHOST;
	if (node && strcmp(node, "localhost") == 0)
		node = "127.0.0.1";
	return __real_getaddrinfo(node, service, &numeric, res);
}

static void check_config(const struct lb_config *c)
{
	FUZZ_CHECK(c->listener_count >= 1);
	for (size_t i = 0; i < c->listener_count; i++)
		FUZZ_CHECK(c->listeners[i].address && c->listeners[i].port > 0 &&
			   c->listeners[i].port <= 65535);
	for (size_t i = 0; i < c->rule_count; i++) {
		FUZZ_CHECK(c->rules[i].group_index < c->group_count);
		FUZZ_CHECK(c->rules[i].path_prefix && c->rules[i].path_prefix[0] == '/');
	}
	for (size_t g = 0; g < c->group_count; g++) {
		const struct lb_group_conf *gc = &c->groups[g];

		FUZZ_CHECK(gc->name);
		for (size_t t = 0; t < gc->target_count; t++)
			FUZZ_CHECK(gc->targets[t].weight >= 0 &&
				   gc->targets[t].weight <= LB_MAX_WEIGHT);
		FUZZ_CHECK(gc->health_check.matcher_count <= LB_MAX_MATCHER_RANGES);
		for (size_t m = 0; m < gc->health_check.matcher_count; m++)
			FUZZ_CHECK(gc->health_check.matcher[m].low <=
				   gc->health_check.matcher[m].high);
	}
	FUZZ_CHECK(c->limits.max_header_line_bytes <= c->limits.max_header_bytes);
	FUZZ_CHECK(c->limits.buffer_bytes > c->limits.max_header_bytes);
	FUZZ_CHECK(c->limits.max_header_count <= HTTP_HEADER_COUNT_HARD_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	orch_error err = ORCH_ERROR_INIT;
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	struct lb_config *config;

	if (!root)
		return 0;
	config = lb_config_from_json(root, &err);
	if (config) {
		check_config(config);
		lb_config_free(config);
	} else {
		FUZZ_CHECK(err.message[0] != '\0');
	}
	json_decref(root);
	return 0;
}

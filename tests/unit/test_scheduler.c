/*
 * test_scheduler.c - unit tests of task placement: each filter, each
 * strategy and their tie-breaking, memberOf expressions, validation
 * messages, reasons when nothing fits, and a randomized check that
 * placement never over-commits CPU, memory or host ports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/scheduler.h"

/* ---- helpers ---------------------------------------------------------------- */

static void add_node_status(struct scheduler *s, const char *id, const char *cluster,
			    enum sched_node_status status, int64_t cpu, int64_t memory,
			    const char *attributes)
{
	orch_error err = ORCH_ERROR_INIT;
	json_t *attrs = attributes ? json_loads(attributes, 0, NULL) : NULL;
	struct sched_node_info info = { id, cluster, status, cpu, memory, attrs };

	if (attributes)
		assert_non_null(attrs);
	if (scheduler_node_upsert(s, &info, &err) != 0)
		fail_msg("upsert %s: %s", id, err.message);
	json_decref(attrs);
}

static void add_node(struct scheduler *s, const char *id, int64_t cpu, int64_t memory,
		     const char *attributes)
{
	add_node_status(s, id, "default", SCHED_NODE_ACTIVE, cpu, memory, attributes);
}

struct req_holder {
	struct sched_request req;
	json_t *constraints;
	json_t *strategy;
};

static struct sched_request make_req(int64_t cpu, int64_t memory, const char *group)
{
	struct sched_request r = { .cluster = "default", .cpu = cpu, .memory = memory,
				   .group = group };
	return r;
}

static json_t *json_or_null(const char *text)
{
	json_t *j;

	if (!text)
		return NULL;
	j = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!j)
		fail_msg("bad test JSON: %s", text);
	return j;
}

/* Places task id; returns rc and fills node (or reason). */
static int place_with(struct scheduler *s, const char *id, struct sched_request req,
		      const char *constraints, const char *strategy, char *node, char *reason)
{
	orch_error err = ORCH_ERROR_INIT;
	char node_buf[64], reason_buf[512];
	int rc;

	req.constraints = json_or_null(constraints);
	req.strategy = json_or_null(strategy);
	rc = scheduler_place(s, id, &req, node ? node : node_buf, 64, reason ? reason : reason_buf,
			     512, &err);
	if (rc < 0)
		fail_msg("place %s failed: %s", id, err.message);
	json_decref((json_t *)req.constraints);
	json_decref((json_t *)req.strategy);
	return rc;
}

static void expect_place(struct scheduler *s, const char *id, struct sched_request req,
			 const char *constraints, const char *strategy, const char *want_node)
{
	char node[64], reason[512];
	int rc = place_with(s, id, req, constraints, strategy, node, reason);

	if (rc != 0)
		fail_msg("%s: not placed: %s", id, reason);
	if (want_node && strcmp(node, want_node) != 0)
		fail_msg("%s: placed on %s, want %s", id, node, want_node);
}

static void expect_reason(struct scheduler *s, const char *id, struct sched_request req,
			  const char *constraints, const char *strategy, const char *want)
{
	char node[64], reason[512];
	int rc = place_with(s, id, req, constraints, strategy, node, reason);

	if (rc == 0)
		fail_msg("%s: placed on %s, want failure '%s'", id, node, want);
	assert_int_equal(rc, 1);
	assert_string_equal(reason, want);
}

/* Validation of constraints/strategy JSON: exact message, or "" for valid. */
static void expect_invalid(const char *constraints, const char *strategy, const char *want)
{
	struct sched_request req = make_req(1, 1, "g");
	orch_error err = ORCH_ERROR_INIT;
	int rc;

	req.constraints = json_or_null(constraints);
	req.strategy = json_or_null(strategy);
	rc = scheduler_request_validate(&req, &err);
	json_decref((json_t *)req.constraints);
	json_decref((json_t *)req.strategy);
	if (!*want) {
		if (rc != 0)
			fail_msg("rejected: %s", err.message);
		return;
	}
	if (rc == 0)
		fail_msg("accepted; want '%s'", want);
	assert_int_equal(err.kind, ORCH_ERR_INVALID);
	assert_string_equal(err.message, want);
}

static int setup(void **state)
{
	struct scheduler *s = scheduler_new();

	if (!s)
		return -1;
	scheduler_seed(s, 42);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	scheduler_free(*state);
	return 0;
}

/* Three nodes n1..n3 with 1024 CPU and 2048 MiB each, zones a, b, c. */
static struct scheduler *three_nodes(void **state)
{
	struct scheduler *s = *state;

	add_node(s, "n1", 1024, 2048, "{\"os\":\"linux\",\"arch\":\"amd64\",\"zone\":\"a\"}");
	add_node(s, "n2", 1024, 2048, "{\"os\":\"linux\",\"arch\":\"arm64\",\"zone\":\"b\"}");
	add_node(s, "n3", 1024, 2048, "{\"os\":\"linux\",\"arch\":\"amd64\",\"zone\":\"c\",\"gpu\":\"1\"}");
	return s;
}

/* ---- filters ------------------------------------------------------------------ */

static void test_place_basic(void **state)
{
	struct scheduler *s = three_nodes(state);
	int64_t cpu, memory;
	orch_error err = ORCH_ERROR_INIT;

	expect_place(s, "t1", make_req(256, 512, "g"), NULL, NULL, "n1");
	assert_int_equal(scheduler_node_remaining(s, "n1", &cpu, &memory, &err), 0);
	assert_int_equal(cpu, 768);
	assert_int_equal(memory, 1536);
	assert_int_equal(scheduler_node_remaining(s, "nope", &cpu, &memory, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_NOT_FOUND);
}

static void test_cluster_match(void **state)
{
	struct scheduler *s = *state;
	struct sched_request req = make_req(10, 10, "g");

	add_node_status(s, "other1", "other", SCHED_NODE_ACTIVE, 4096, 4096, NULL);
	add_node(s, "small", 100, 100, NULL);
	expect_place(s, "t1", req, NULL, NULL, "small");
	req.cluster = "other";
	expect_place(s, "t2", req, NULL, NULL, "other1");
	req.cluster = "nowhere";
	expect_reason(s, "t3", req, NULL, NULL, "no node is registered in cluster 'nowhere'");
}

static void test_draining_lost_excluded(void **state)
{
	struct scheduler *s = *state;

	add_node_status(s, "a", "default", SCHED_NODE_DRAINING, 4096, 4096, NULL);
	add_node_status(s, "b", "default", SCHED_NODE_LOST, 4096, 4096, NULL);
	expect_reason(s, "t1", make_req(1, 1, "g"), NULL, NULL,
		      "no ACTIVE node in cluster 'default' (1 DRAINING, 1 LOST)");
	add_node_status(s, "b", "default", SCHED_NODE_ACTIVE, 4096, 4096, NULL);
	expect_place(s, "t1", make_req(1, 1, "g"), NULL, NULL, "b");
	add_node_status(s, "b", "default", SCHED_NODE_DRAINING, 4096, 4096, NULL);
	expect_reason(s, "t2", make_req(1, 1, "g"), NULL, NULL,
		      "no ACTIVE node in cluster 'default' (2 DRAINING, 0 LOST)");
}

/*
 * Two nodes, one too small for the request in one dimension: the task goes
 * to the other, and a second one (the bigger node now too full) is refused
 * with the reason naming that dimension.
 */
struct filter_case {
	int64_t cpu_a, mem_a, cpu_b, mem_b;	/* nodes "a" (small) and "b" */
	int64_t req_cpu, req_mem;
	const char *reason;
};

static void check_filter(struct scheduler *s, const struct filter_case *c)
{
	add_node(s, "a", c->cpu_a, c->mem_a, NULL);
	add_node(s, "b", c->cpu_b, c->mem_b, NULL);
	expect_place(s, "t1", make_req(c->req_cpu, c->req_mem, "g"), NULL, NULL, "b");
	expect_reason(s, "t2", make_req(c->req_cpu, c->req_mem, "g"), NULL, NULL, c->reason);
}

static void test_cpu_filter(void **state)
{
	check_filter(*state, &(struct filter_case){
		256, 4096, 512, 4096, 400, 10,
		"no ACTIVE node in cluster 'default' has 400 CPU units free "
		"(most free: 256 on node 'a'; 2 eligible nodes)" });
}

static void test_memory_filter(void **state)
{
	check_filter(*state, &(struct filter_case){
		1024, 1000, 1024, 3000, 1, 2000,
		"no ACTIVE node in cluster 'default' with 1 CPU units free also has 2000 MiB "
		"of memory free (most free: 1000 MiB on node 'a'; 2 nodes checked)" });
}

static void test_ports_tcp_udp_separate(void **state)
{
	struct scheduler *s = *state;
	struct sched_port tcp80 = { 80, false }, udp80 = { 80, true };
	struct sched_request r = make_req(1, 1, NULL);

	add_node(s, "a", 1024, 1024, NULL);
	add_node(s, "b", 1024, 1024, NULL);
	r.ports = &tcp80;
	r.port_count = 1;
	expect_place(s, "t1", r, NULL, "[{\"type\":\"binpack\",\"field\":\"cpu\"}]", "a");
	expect_place(s, "t2", r, NULL, "[{\"type\":\"binpack\",\"field\":\"cpu\"}]", "b");
	expect_reason(s, "t3", r, NULL, NULL,
		      "port 80/tcp is in use on every node with the CPU and memory free (2 nodes)");
	r.ports = &udp80;
	expect_place(s, "t4", r, NULL, "[{\"type\":\"binpack\",\"field\":\"cpu\"}]", "a");
}

static void test_ports_reason_combination(void **state)
{
	struct scheduler *s = *state;
	struct sched_port p80 = { 80, false }, p443 = { 443, false };
	struct sched_port both[2] = { { 80, false }, { 443, false } };
	struct sched_request r = make_req(1, 1, NULL);

	add_node(s, "a", 1024, 1024, NULL);
	add_node(s, "b", 1024, 1024, NULL);
	r.port_count = 1;
	r.ports = &p80;
	expect_place(s, "t1", r, NULL, NULL, "a");
	r.ports = &p443;
	expect_place(s, "t2", r, NULL, NULL, "b");
	r.ports = both;
	r.port_count = 2;
	expect_reason(s, "t3", r, NULL, NULL,
		      "the host ports asked for are in use on every node with the CPU and memory "
		      "free (2 nodes; each port is free somewhere, but not all on one node)");
}

static void test_release_frees_resources_and_ports(void **state)
{
	struct scheduler *s = *state;
	struct sched_port p = { 8080, false };
	struct sched_request r = make_req(1000, 1000, "g");
	int64_t cpu, memory;
	orch_error err = ORCH_ERROR_INIT;

	add_node(s, "a", 1024, 1024, NULL);
	r.ports = &p;
	r.port_count = 1;
	expect_place(s, "t1", r, NULL, NULL, "a");
	expect_reason(s, "t2", make_req(100, 1, "g"), NULL, NULL,
		      "no ACTIVE node in cluster 'default' has 100 CPU units free "
		      "(most free: 24 on node 'a'; 1 eligible nodes)");
	scheduler_task_release(s, "t1");
	scheduler_task_release(s, "t1");	/* unknown now: no-op */
	scheduler_task_release(s, "never");
	assert_int_equal(scheduler_node_remaining(s, "a", &cpu, &memory, &err), 0);
	assert_int_equal(cpu, 1024);
	assert_int_equal(memory, 1024);
	expect_place(s, "t3", r, NULL, NULL, "a");	/* the port is free again */
}

static void test_distinct_instance(void **state)
{
	struct scheduler *s = three_nodes(state);
	const char *distinct = "[{\"type\":\"distinctInstance\"}]";
	const char *binpack = "[{\"type\":\"binpack\",\"field\":\"memory\"}]";

	/* binpack would stack them; distinctInstance spreads the group */
	expect_place(s, "w1", make_req(1, 1, "service:web"), distinct, binpack, "n1");
	expect_place(s, "w2", make_req(1, 1, "service:web"), distinct, binpack, "n2");
	expect_place(s, "w3", make_req(1, 1, "service:web"), distinct, binpack, "n3");
	expect_reason(s, "w4", make_req(1, 1, "service:web"), distinct, binpack,
		      "distinctInstance: all 3 eligible nodes in cluster 'default' already run a "
		      "task of group 'service:web'");
	/* another group is not constrained by web's tasks */
	expect_place(s, "x1", make_req(1, 1, "service:api"), distinct, binpack, "n1");
	/* releasing one frees its node for the group */
	scheduler_task_release(s, "w2");
	expect_place(s, "w4", make_req(1, 1, "service:web"), distinct, binpack, "n2");
}

/* ---- memberOf ------------------------------------------------------------------ */

/*
 * Lists the nodes expression matches ("n1,n3"): one probe task per node in
 * turn, each with the expression and distinctInstance in a group of its
 * own, until one finds no node.
 */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts a comma-separated list in place (membership, not placement order). */
static void sort_csv(char *list)
{
	char copy[64], *items[8], *save = NULL;
	size_t n = 0;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save))
		items[n++] = t;
	qsort(items, n, sizeof(items[0]), cmp_str);
	list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(list, i ? "," : "");
		strcat(list, items[i]);
	}
}

static void expect_members(struct scheduler *s, const char *expression, const char *want)
{
	static int seq;
	char got[64] = "", group[32], constraints[2300];

	snprintf(group, sizeof(group), "probe%d", seq);
	snprintf(constraints, sizeof(constraints),
		 "[{\"type\":\"memberOf\",\"expression\":\"%s\"},{\"type\":\"distinctInstance\"}]",
		 expression);
	for (int i = 0; i < 4; i++) {
		char node[64], reason[512], id[32];
		struct sched_request r = make_req(1, 1, group);

		snprintf(id, sizeof(id), "p%d-%d", seq, i);
		if (place_with(s, id, r, constraints, NULL, node, reason) != 0)
			break;
		strcat(got, *got ? "," : "");
		strcat(got, node);
	}
	seq++;
	sort_csv(got);
	if (strcmp(got, want) != 0)
		fail_msg("'%s' matched '%s', want '%s'", expression, got, want);
}

struct member_case {
	const char *expression;
	const char *want;		/* the nodes it matches, "n1,n3" */
};

static void expect_members_each(struct scheduler *s, const struct member_case *cases,
				size_t count)
{
	for (size_t i = 0; i < count; i++)
		expect_members(s, cases[i].expression, cases[i].want);
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Operators, lists, existence, and/or/not and ECS's aliases on three_nodes. */
static void test_memberof_expressions(void **state)
{
	static const struct member_case cases[] = {
		{ "attribute:arch == amd64", "n1,n3" },
		{ "attribute:arch equals arm64", "n2" },
		{ "attribute:arch != amd64", "n2" },
		{ "attribute:zone == z", "" },
		{ "attribute:nosuch == x", "" },
		{ "attribute:gpu != 1", "n1,n2" },	/* without the attribute: != anything */

		{ "attribute:zone in [a, c]", "n1,n3" },
		{ "attribute:zone in (b)", "n2" },
		{ "attribute:zone not_in [a, c]", "n2" },
		{ "attribute:zone !in [a,b]", "n3" },
		{ "attribute:zone not in (a, b)", "n3" },
		{ "attribute:zone in ['a', \\\"b\\\"]", "n1,n2" },

		{ "attribute:gpu exists", "n3" },
		{ "attribute:gpu !exists", "n1,n2" },
		{ "attribute:gpu not_exists", "n1,n2" },

		{ "attribute:arch == amd64 and attribute:zone == c", "n3" },
		{ "attribute:zone == a or attribute:zone == b", "n1,n2" },
		{ "attribute:zone == a || attribute:arch == arm64 && attribute:os == linux", "n1,n2" },
		{ "(attribute:zone == a or attribute:zone == b) and attribute:arch == amd64", "n1" },
		{ "not attribute:zone == a", "n2,n3" },
		{ "!(attribute:zone == a || attribute:zone == b)", "n3" },

		{ "attribute:ecs.cpu-architecture == x86_64", "n1,n3" },
		{ "attribute:ecs.cpu-architecture == arm64", "n2" },
		{ "attribute:ecs.os-type == linux", "n1,n2,n3" },
		{ "attribute:ecs.availability-zone in [b]", "n2" },
	};

	expect_members_each(three_nodes(state), cases, ARRAY_SIZE(cases));
}

static void test_memberof_matches_and_order(void **state)
{
	static const struct member_case cases[] = {
		{ "attribute:type =~ t2.*", "n1" },
		{ "attribute:type matches t.*", "n1,n3" },
		{ "attribute:type !~ t.*", "n2" },
		{ "(attribute:type =~ (t2|m5).*)", "n1,n2" },
		/* numbers compare as numbers: 9 < 10 */
		{ "attribute:rack >= 10", "n2,n3" },
		{ "attribute:rack < 10", "n1" },
		{ "attribute:rack greater_than 10", "n3" },
	};
	struct scheduler *s = *state;

	add_node(s, "n1", 1024, 1024, "{\"type\":\"t2.micro\",\"rack\":\"9\"}");
	add_node(s, "n2", 1024, 1024, "{\"type\":\"m5.large\",\"rack\":\"10\"}");
	add_node(s, "n3", 1024, 1024, "{\"type\":\"t3.large\",\"rack\":\"11\"}");
	expect_members_each(s, cases, ARRAY_SIZE(cases));
}

/* A node's value is read through the aliases too (aarch64 is arm64). */
static void test_memberof_value_alias(void **state)
{
	struct scheduler *s = three_nodes(state);

	add_node(s, "n4", 1024, 1024, "{\"ecs.cpu-architecture\":\"aarch64\"}");
	expect_members(s, "attribute:arch == arm64", "n2,n4");
}

static void test_memberof_task_group(void **state)
{
	struct scheduler *s = three_nodes(state);

	expect_place(s, "db1", make_req(1, 1, "service:db"),
		     "[{\"type\":\"memberOf\",\"expression\":\"attribute:zone == b\"}]", NULL, "n2");
	/* the probes' own group does not matter; place next to the db */
	expect_members(s, "task:group == service:db", "n2");
	expect_members(s, "task:group != service:db", "n1,n3");
	expect_members(s, "task:group in [service:db, service:cache]", "n2");
	expect_members(s, "task:group == service:none", "");
}

static void test_memberof_reason(void **state)
{
	struct scheduler *s = three_nodes(state);

	expect_reason(s, "t1", make_req(1, 1, "g"),
		      "[{\"type\":\"memberOf\",\"expression\":\"attribute:arch == ppc64le\"}]", NULL,
		      "no ACTIVE node in cluster 'default' matches "
		      "memberOf(attribute:arch == ppc64le) (3 checked)");
	/* the filter that left none is named even when an earlier one passed */
	expect_reason(s, "t2", make_req(2000, 1, "g"),
		      "[{\"type\":\"memberOf\",\"expression\":\"attribute:arch == amd64\"}]", NULL,
		      "no ACTIVE node in cluster 'default' has 2000 CPU units free "
		      "(most free: 1024 on node 'n1'; 2 eligible nodes)");
}

static void test_expression_errors(void **state)
{
	static const struct {
		const char *expression;
		const char *message;
	} cases[] = {
		{ "attribute:arch ~= amd64", "unknown operator '~='" },
		{ "attribute:arch like amd64", "unknown operator 'like'" },
		{ "attribute:arch", "expected an operator at end of expression" },
		{ "attribute:arch ==", "expected a value at end of expression" },
		{ "agentVersion == 1", "unknown subject 'agentVersion' (use attribute:NAME or task:group)" },
		{ "attribute: == x", "attribute: needs a name (attribute:NAME)" },
		{ "(attribute:a == b", "expected ')' at end of expression" },
		{ "attribute:a == b)", "unexpected ')' at character 17" },
		{ "attribute:a == b and", "expected attribute:NAME or task:group at end of expression" },
		{ "attribute:a in [x, y", "expected ',' or ']' at end of expression" },
		{ "attribute:a in x", "expected a list such as [a, b] at character 16" },
		{ "attribute:a == b c", "unexpected 'c' at character 18" },
		{ "attribute:a =~ (", "bad pattern '(': Unmatched ( or \\(" },
		{ "attribute:a =~ s++++++++++++++++++++++++++++++",
		  "bad pattern 's++++++++++++++++++++++++++++++': too many atoms once its "
		  "repetitions are spelled out" },
		{ "attribute:a =~ (x{1,16}){1,17}",
		  "bad pattern '(x{1,16}){1,17}': too many atoms once its repetitions are spelled out" },
		{ "attribute:a =~ s*+++++",
		  "bad pattern 's*+++++': a part that can match nothing is repeated with + or {n,m}" },
		{ "attribute:a =~ a)|(b", "bad pattern 'a)|(b': a ')' without its '('" },
		{ "attribute:a =~ (a|b?){2}",
		  "bad pattern '(a|b?){2}': a part that can match nothing is repeated with + or {n,m}" },
		{ "task:group exists", "task:group takes ==, !=, in or not_in" },
		{ "   ", "must not be empty" },
		{ "attribute:a == 'open", "unterminated quoted value at end of expression" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char constraints[512], want[600];
		json_t *c = json_pack("[{s:s}, {s:s, s:s}]", "type", "distinctInstance", "type",
				      "memberOf", "expression", cases[i].expression);
		char *text = json_dumps(c, 0);

		snprintf(constraints, sizeof(constraints), "%s", text);
		snprintf(want, sizeof(want), "placementConstraints[1].expression: %s",
			 cases[i].message);
		expect_invalid(constraints, NULL, want);
		free(text);
		json_decref(c);
	}
}

static void test_expression_limits(void **state)
{
	char *expr = malloc(2100), *constraints = malloc(2300);
	size_t n = 0;

	(void)state;
	while (n < 2001)
		n += (size_t)sprintf(expr + n, "attribute:a == b or ");
	expr[2001] = '\0';
	snprintf(constraints, 2300, "[{\"type\":\"memberOf\",\"expression\":\"%s\"}]", expr);
	expect_invalid(constraints, NULL,
		       "placementConstraints[0].expression: longer than 2000 characters");
	n = 0;
	for (int i = 0; i < 40; i++)
		expr[n++] = '(';
	n += (size_t)sprintf(expr + n, "attribute:a == b");
	for (int i = 0; i < 40; i++)
		expr[n++] = ')';
	expr[n] = '\0';
	snprintf(constraints, 2300, "[{\"type\":\"memberOf\",\"expression\":\"%s\"}]", expr);
	expect_invalid(constraints, NULL,
		       "placementConstraints[0].expression: nested more than 32 levels deep");
	free(expr);
	free(constraints);
}

/* ---- validation ------------------------------------------------------------------ */

static void test_validate_constraints(void **state)
{
	(void)state;
	expect_invalid("[{\"type\":\"distinctInstance\"},{\"type\":\"memberOf\",\"expression\":\"attribute:a exists\"}]",
		       NULL, "");
	expect_invalid("{}", NULL, "placementConstraints: must be an array");
	expect_invalid("[1]", NULL, "placementConstraints[0]: must be an object");
	expect_invalid("[{}]", NULL,
		       "placementConstraints[0].type: required (distinctInstance or memberOf)");
	expect_invalid("[{\"type\":\"distinctInstance\"},{\"type\":\"sameHost\"}]", NULL,
		       "placementConstraints[1].type: unknown type 'sameHost' (distinctInstance or memberOf)");
	expect_invalid("[{\"type\":\"memberOf\"}]", NULL,
		       "placementConstraints[0].expression: required for memberOf");
	expect_invalid("[{\"type\":\"distinctInstance\",\"expression\":\"attribute:a exists\"}]", NULL,
		       "placementConstraints[0].expression: not allowed with distinctInstance");
	expect_invalid("[{\"type\":\"memberOf\",\"expression\":5}]", NULL,
		       "placementConstraints[0].expression: must be a string");
	expect_invalid("[{\"type\":\"memberOf\",\"expresion\":\"x\"}]", NULL,
		       "placementConstraints[0].expresion: unknown field");
	expect_invalid("[{\"type\":\"memberOf\",\"expression\":\"attribute:a exists\",\"field\":\"x\"}]",
		       NULL, "placementConstraints[0].field: unknown field");
}

static void test_validate_strategies(void **state)
{
	(void)state;
	expect_invalid(NULL,
		       "[{\"type\":\"spread\",\"field\":\"attribute:zone\"},{\"type\":\"spread\",\"field\":\"host\"},"
		       "{\"type\":\"binpack\",\"field\":\"memory\"},{\"type\":\"random\"}]", "");
	expect_invalid(NULL, "[]", "");
	expect_invalid(NULL, "\"binpack\"", "placementStrategy: must be an array");
	expect_invalid(NULL, "[{\"type\":\"binpack\"}]",
		       "placementStrategy[0].field: binpack needs cpu or memory");
	expect_invalid(NULL, "[{\"type\":\"random\"},{\"type\":\"binpack\",\"field\":\"disk\"}]",
		       "placementStrategy[1].field: binpack needs cpu or memory");
	expect_invalid(NULL, "[{\"type\":\"spread\",\"field\":\"attribute:\"}]",
		       "placementStrategy[0].field: spread needs instanceId, host or attribute:NAME");
	expect_invalid(NULL, "[{\"type\":\"spread\"}]",
		       "placementStrategy[0].field: spread needs instanceId, host or attribute:NAME");
	expect_invalid(NULL, "[{\"type\":\"pack\",\"field\":\"cpu\"}]",
		       "placementStrategy[0].type: unknown type 'pack' (binpack, spread or random)");
	expect_invalid(NULL, "[{\"field\":\"cpu\"}]",
		       "placementStrategy[0].type: required (binpack, spread or random)");
	expect_invalid(NULL, "[{\"type\":\"binpack\",\"field\":\"cpu\",\"weight\":2}]",
		       "placementStrategy[0].weight: unknown field");
	expect_invalid(NULL, "[{\"type\":\"binpack\",\"field\":1}]",
		       "placementStrategy[0].field: must be a string");
}

static void test_validate_limits_and_request(void **state)
{
	struct sched_request r = make_req(-1, 1, NULL);
	struct sched_port dup[2] = { { 80, false }, { 80, false } };
	orch_error err = ORCH_ERROR_INIT;

	(void)state;
	expect_invalid("[{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		       "{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		       "{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"},"
		       "{\"type\":\"distinctInstance\"},{\"type\":\"distinctInstance\"}]",
		       NULL, "placementConstraints: at most 10 constraints (got 11)");
	expect_invalid(NULL,
		       "[{\"type\":\"random\"},{\"type\":\"random\"},{\"type\":\"random\"},{\"type\":\"random\"},"
		       "{\"type\":\"random\"},{\"type\":\"random\"}]",
		       "placementStrategy: at most 5 strategies (got 6)");
	assert_int_equal(scheduler_request_validate(&r, &err), -1);
	assert_string_equal(err.message, "cpu: must not be negative");
	r = make_req(1, 1, NULL);
	r.ports = dup;
	r.port_count = 2;
	assert_int_equal(scheduler_request_validate(&r, &err), -1);
	assert_string_equal(err.message, "ports[1]: host port 80/tcp given twice");
	r.port_count = 1;
	dup[0].port = 0;
	assert_int_equal(scheduler_request_validate(&r, &err), -1);
	assert_string_equal(err.message, "ports[0]: host port must be 1-65535");
	r = make_req(1, 1, NULL);
	r.cluster = NULL;
	assert_int_equal(scheduler_request_validate(&r, &err), -1);
	assert_string_equal(err.message, "cluster: required");
}

/* ---- strategies ------------------------------------------------------------------ */

static void test_binpack_memory(void **state)
{
	struct scheduler *s = *state;
	const char *st = "[{\"type\":\"binpack\",\"field\":\"memory\"}]";

	add_node(s, "a", 4096, 4096, NULL);
	add_node(s, "b", 4096, 2048, NULL);
	add_node(s, "c", 4096, 1024, NULL);
	/* least remaining memory that still fits */
	expect_place(s, "t1", make_req(1, 1500, NULL), NULL, st, "b");	/* b: 548 left */
	expect_place(s, "t2", make_req(1, 500, NULL), NULL, st, "b");	/* b: 48 left */
	expect_place(s, "t3", make_req(1, 600, NULL), NULL, st, "c");	/* c: 424 left */
	expect_place(s, "t4", make_req(1, 400, NULL), NULL, st, "c");	/* c: 24 left */
	expect_place(s, "t5", make_req(1, 500, NULL), NULL, st, "a");
	scheduler_task_release(s, "t3");				/* c: 624 left */
	expect_place(s, "t6", make_req(1, 500, NULL), NULL, st, "c");
}

static void test_binpack_cpu(void **state)
{
	struct scheduler *s = *state;
	const char *st = "[{\"type\":\"binpack\",\"field\":\"cpu\"}]";

	add_node(s, "a", 2048, 4096, NULL);
	add_node(s, "b", 1024, 4096, NULL);
	expect_place(s, "t1", make_req(512, 1, NULL), NULL, st, "b");
	expect_place(s, "t2", make_req(512, 1, NULL), NULL, st, "b");
	expect_place(s, "t3", make_req(512, 1, NULL), NULL, st, "a");
	expect_place(s, "t4", make_req(512, 1, NULL), NULL, st, "a");
}

static void test_binpack_ties_by_next_strategy(void **state)
{
	struct scheduler *s = *state;

	add_node(s, "a", 2048, 1024, NULL);
	add_node(s, "b", 1024, 1024, NULL);
	add_node(s, "c", 1024, 1024, NULL);
	/* memory ties everywhere; binpack cpu picks b (lower CPU), ID breaks b/c */
	expect_place(s, "t1", make_req(1, 1, NULL), NULL,
		     "[{\"type\":\"binpack\",\"field\":\"memory\"},{\"type\":\"binpack\",\"field\":\"cpu\"}]",
		     "b");
	/* memory: b has less now; without the second strategy b wins as least memory */
	expect_place(s, "t2", make_req(1, 1, NULL), NULL,
		     "[{\"type\":\"binpack\",\"field\":\"memory\"}]", "b");
	/* a and c tie on memory (1024); spread by instance picks the one with fewer tasks: both 0 → ID */
	expect_place(s, "t3", make_req(1, 1, NULL), NULL,
		     "[{\"type\":\"binpack\",\"field\":\"memory\"},{\"type\":\"spread\",\"field\":\"instanceId\"}]",
		     "b");
}

static void test_tie_by_node_id(void **state)
{
	struct scheduler *s = *state;

	add_node(s, "node-b", 1024, 1024, NULL);
	add_node(s, "node-c", 1024, 1024, NULL);
	add_node(s, "node-a", 1024, 1024, NULL);
	expect_place(s, "t1", make_req(1, 1, NULL), NULL,
		     "[{\"type\":\"binpack\",\"field\":\"memory\"}]", "node-a");
	scheduler_task_release(s, "t1");
	expect_place(s, "t2", make_req(1, 1, NULL), NULL, NULL, "node-a");
}

static void test_spread_instance_default(void **state)
{
	struct scheduler *s = three_nodes(state);
	const char *order[] = { "n1", "n2", "n3", "n1", "n2", "n3" };

	for (int i = 0; i < 6; i++) {
		char id[16];

		snprintf(id, sizeof(id), "w%d", i);
		expect_place(s, id, make_req(1, 1, "service:web"), NULL, NULL, order[i]);
	}
	/* another group starts again at the lowest ID, whatever web holds */
	expect_place(s, "x0", make_req(1, 1, "service:api"), NULL, "[]", "n1");
	/* explicit spread by host is the same */
	expect_place(s, "x1", make_req(1, 1, "service:api"), NULL,
		     "[{\"type\":\"spread\",\"field\":\"host\"}]", "n2");
	/* a freed slot is refilled first */
	scheduler_task_release(s, "w4");
	expect_place(s, "w6", make_req(1, 1, "service:web"), NULL, NULL, "n2");
}

static void test_spread_without_group_counts_all(void **state)
{
	struct scheduler *s = three_nodes(state);

	expect_place(s, "a1", make_req(1, 1, "g1"), NULL, NULL, "n1");
	/* a group of its own: every node ties, the one with fewest tasks wins */
	expect_place(s, "a2", make_req(1, 1, "g2"), NULL, NULL, "n2");
	/* no group: all tasks count */
	expect_place(s, "t1", make_req(1, 1, NULL), NULL, NULL, "n3");
	expect_place(s, "t2", make_req(1, 1, ""), NULL, NULL, "n1");
	expect_place(s, "t3", make_req(1, 1, NULL), NULL, NULL, "n2");
}

static void test_spread_attribute(void **state)
{
	struct scheduler *s = *state;
	const char *st = "[{\"type\":\"spread\",\"field\":\"attribute:zone\"}]";
	int per_zone[2] = { 0, 0 };

	add_node(s, "a1", 4096, 4096, "{\"zone\":\"a\"}");
	add_node(s, "a2", 4096, 4096, "{\"zone\":\"a\"}");
	add_node(s, "a3", 4096, 4096, "{\"zone\":\"a\"}");
	add_node(s, "b1", 4096, 4096, "{\"zone\":\"b\"}");
	for (int i = 0; i < 8; i++) {
		char id[16], node[64], reason[512];

		snprintf(id, sizeof(id), "t%d", i);
		assert_int_equal(place_with(s, id, make_req(1, 1, "svc"), NULL, st, node, reason), 0);
		per_zone[node[0] == 'b']++;
		/* zones stay balanced after each placement */
		assert_true(abs(per_zone[0] - per_zone[1]) <= 1);
	}
	assert_int_equal(per_zone[1], 4);	/* b1 alone took half */
}

static void test_spread_attribute_then_binpack(void **state)
{
	struct scheduler *s = *state;
	const char *st = "[{\"type\":\"spread\",\"field\":\"attribute:ecs.availability-zone\"},"
			 "{\"type\":\"binpack\",\"field\":\"memory\"}]";

	add_node(s, "a1", 4096, 4096, "{\"zone\":\"a\"}");
	add_node(s, "a2", 4096, 2048, "{\"zone\":\"a\"}");
	add_node(s, "b1", 4096, 8192, "{\"zone\":\"b\"}");
	add_node(s, "b2", 4096, 3000, "{\"zone\":\"b\"}");
	/* zones tie at 0: binpack across both picks a2 (least memory) */
	expect_place(s, "t1", make_req(1, 1000, "g"), NULL, st, "a2");
	/* zone b has fewer: its least-memory node */
	expect_place(s, "t2", make_req(1, 1000, "g"), NULL, st, "b2");
	expect_place(s, "t3", make_req(1, 1000, "g"), NULL, st, "a2");
	expect_place(s, "t4", make_req(1, 1500, "g"), NULL, st, "b2");
	/* a2 has 48 left: the next in zone a by memory is a1 */
	expect_place(s, "t5", make_req(1, 1000, "g"), NULL, st, "a1");
	/* a zone with no room is passed over */
	expect_place(s, "t6", make_req(1, 5000, "g"), NULL, st, "b1");
}

static void test_random(void **state)
{
	struct scheduler *s = *state;
	int hits[4] = { 0 };
	const char *st = "[{\"type\":\"random\"}]";

	add_node(s, "n0", 100000, 100000, NULL);
	add_node(s, "n1", 100000, 100000, NULL);
	add_node(s, "n2", 100000, 100000, NULL);
	add_node(s, "n3", 10, 100000, NULL);	/* never fits 20 CPU */
	for (int i = 0; i < 600; i++) {
		char id[16], node[64], reason[512];

		snprintf(id, sizeof(id), "t%d", i);
		assert_int_equal(place_with(s, id, make_req(20, 1, "g"), NULL, st, node, reason), 0);
		hits[node[1] - '0']++;
	}
	assert_int_equal(hits[3], 0);
	for (int i = 0; i < 3; i++)
		assert_true(hits[i] > 120);	/* ~200 each */
}

static void test_random_breaks_ties_only(void **state)
{
	struct scheduler *s = *state;
	int hits[3] = { 0 };

	add_node(s, "n0", 4096, 1024, NULL);
	add_node(s, "n1", 4096, 1024, NULL);
	add_node(s, "n2", 4096, 9999, NULL);
	for (int i = 0; i < 60; i++) {
		char id[16], node[64], reason[512];

		snprintf(id, sizeof(id), "t%d", i);
		assert_int_equal(place_with(s, id, make_req(1, 1, NULL), NULL,
					    "[{\"type\":\"binpack\",\"field\":\"cpu\"},{\"type\":\"random\"}]",
					    node, reason), 0);
		hits[node[1] - '0']++;
		scheduler_task_release(s, id);
	}
	assert_true(hits[0] > 5 && hits[1] > 5 && hits[2] > 5);
}

/* ---- node and task bookkeeping ------------------------------------------------------ */

static void test_node_update(void **state)
{
	struct scheduler *s = *state;
	int64_t cpu, memory;
	orch_error err = ORCH_ERROR_INIT;

	add_node(s, "a", 1024, 1024, "{\"zone\":\"a\"}");
	expect_place(s, "t1", make_req(512, 512, "g"), NULL, NULL, "a");
	/* re-registration with more capacity keeps what is bound */
	add_node(s, "a", 2048, 4096, "{\"zone\":\"b\"}");
	assert_int_equal(scheduler_node_remaining(s, "a", &cpu, &memory, &err), 0);
	assert_int_equal(cpu, 1536);
	assert_int_equal(memory, 3584);
	expect_place(s, "t2", make_req(1, 1, "g"),
		     "[{\"type\":\"memberOf\",\"expression\":\"attribute:zone == b\"}]", NULL, "a");
	/* moving a node that runs tasks to another cluster is refused */
	{
		struct sched_node_info info = { "a", "other", SCHED_NODE_ACTIVE, 1, 1, NULL };

		assert_int_equal(scheduler_node_upsert(s, &info, &err), -1);
		assert_int_equal(err.kind, ORCH_ERR_CONFLICT);
	}
	{
		struct sched_node_info info = { "", "default", SCHED_NODE_ACTIVE, 1, 1, NULL };

		assert_int_equal(scheduler_node_upsert(s, &info, &err), -1);
		assert_string_equal(err.message, "node ID: required");
	}
}

static void test_node_remove(void **state)
{
	struct scheduler *s = *state;
	struct sched_port p = { 80, false };
	struct sched_request r = make_req(100, 100, "svc");

	add_node(s, "a", 1024, 1024, NULL);
	add_node(s, "b", 1024, 1024, NULL);
	r.ports = &p;
	r.port_count = 1;
	expect_place(s, "t1", r, NULL, NULL, "a");
	expect_place(s, "t2", r, NULL, NULL, "b");
	scheduler_node_remove(s, "a");
	scheduler_node_remove(s, "a");
	/* the removed node's tasks are forgotten: t1 can be placed again */
	expect_reason(s, "t1", r, NULL, NULL,
		      "port 80/tcp is in use on every node with the CPU and memory free (1 nodes)");
	scheduler_task_release(s, "t2");
	expect_place(s, "t1", r, NULL, NULL, "b");
	add_node(s, "a", 1024, 1024, NULL);
	expect_place(s, "t3", r, NULL, NULL, "a");
}

static void test_bind(void **state)
{
	struct scheduler *s = *state;
	struct sched_request r = make_req(2000, 100, "svc");
	orch_error err = ORCH_ERROR_INIT;
	int64_t cpu, memory;

	add_node(s, "a", 1024, 1024, NULL);
	/* binds from the store are recorded even when they over-commit */
	assert_int_equal(scheduler_task_bind(s, "t1", "a", &r, &err), 0);
	assert_int_equal(scheduler_node_remaining(s, "a", &cpu, &memory, &err), 0);
	assert_int_equal(cpu, -976);
	assert_int_equal(scheduler_task_bind(s, "t1", "a", &r, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_CONFLICT);
	assert_int_equal(scheduler_task_bind(s, "t2", "zz", &r, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_NOT_FOUND);
	{
		char node[64], reason[512];

		assert_int_equal(scheduler_place(s, "t1", &r, node, sizeof(node), reason,
						 sizeof(reason), &err), -1);
		assert_int_equal(err.kind, ORCH_ERR_CONFLICT);
	}
	scheduler_task_release(s, "t1");
	assert_int_equal(scheduler_node_remaining(s, "a", &cpu, &memory, &err), 0);
	assert_int_equal(cpu, 1024);
}

/* ---- randomized property: never over-commit ---------------------------------------- */

#define PROP_NODES_MAX 200
#define PROP_STEPS 6000

struct model_node {
	char id[16];
	int64_t cpu, memory, cpu_used, memory_used;
	enum sched_node_status status;
	char zone;
	int ports[4];	/* tasks holding port index k */
	int groups[2];	/* tasks of group "svc" [1] and of no group [0] */
};

struct model_task {
	bool live;
	int node;
	int64_t cpu, memory;
	int port;	/* index into prop_ports, or -1 */
	int group;	/* 1: "svc", 0: none */
};

static const struct sched_port prop_ports[4] = {
	{ 80, false }, { 80, true }, { 443, false }, { 53, true },
};

/*
 * Random nodes, random requests (strategies, memberOf, distinctInstance,
 * ports), random releases and status changes; every placement is checked
 * against a model, and every refusal too (no node of the model fits).
 */
static void run_property(struct scheduler *s, int PROP_NODES, unsigned seed)
{
	static struct model_node nodes[PROP_NODES_MAX];
	static struct model_task tasks[PROP_STEPS];
	static const char *strategies[] = {
		NULL,
		"[{\"type\":\"binpack\",\"field\":\"memory\"}]",
		"[{\"type\":\"binpack\",\"field\":\"cpu\"},{\"type\":\"spread\",\"field\":\"instanceId\"}]",
		"[{\"type\":\"spread\",\"field\":\"attribute:zone\"},{\"type\":\"binpack\",\"field\":\"memory\"}]",
		"[{\"type\":\"random\"}]",
	};
	int placed = 0, refused = 0;

	memset(nodes, 0, sizeof(nodes));
	memset(tasks, 0, sizeof(tasks));
	for (int i = 0; i < PROP_NODES; i++) {
		char attrs[64];

		snprintf(nodes[i].id, sizeof(nodes[i].id), "node%02d", i);
		nodes[i].cpu = 256 + rand_r(&seed) % 4096;
		nodes[i].memory = 256 + rand_r(&seed) % 8192;
		nodes[i].zone = (char)('a' + rand_r(&seed) % 3);
		nodes[i].status = SCHED_NODE_ACTIVE;
		snprintf(attrs, sizeof(attrs), "{\"zone\":\"%c\"}", nodes[i].zone);
		add_node(s, nodes[i].id, nodes[i].cpu, nodes[i].memory, attrs);
	}
	for (int step = 0; step < PROP_STEPS; step++) {
		int op = rand_r(&seed) % 10;

		if (op < 5) {
			struct model_task *t = &tasks[step];
			struct sched_request r = make_req(rand_r(&seed) % 300, rand_r(&seed) % 600,
							  rand_r(&seed) % 2 ? "svc" : NULL);
			int shape = rand_r(&seed) % 6;
			const char *constraint =
				shape == 0 ? "[{\"type\":\"memberOf\",\"expression\":\"attribute:zone in [a, b]\"}]"
				: shape == 1 ? "[{\"type\":\"distinctInstance\"}]"
				: shape == 2 ? "[{\"type\":\"distinctInstance\"},"
					       "{\"type\":\"memberOf\",\"expression\":\"attribute:zone in [a, b]\"}]"
				: NULL;
			bool zone_ab = shape == 0 || shape == 2, distinct = shape == 1 || shape == 2;
			char id[16], node[64], reason[512];
			int rc, k = -1;

			t->group = r.group != NULL;
			t->port = rand_r(&seed) % 3 == 0 ? rand_r(&seed) % 4 : -1;
			if (t->port >= 0) {
				r.ports = &prop_ports[t->port];
				r.port_count = 1;
			}
			snprintf(id, sizeof(id), "t%d", step);
			rc = place_with(s, id, r, constraint,
					strategies[rand_r(&seed) % 5], node, reason);
			if (rc == 1) {
				/* check the refusal: no node fits in the model either */
				for (int i = 0; i < PROP_NODES; i++) {
					struct model_node *m = &nodes[i];

					if (m->status == SCHED_NODE_ACTIVE &&
					    m->cpu - m->cpu_used >= r.cpu &&
					    m->memory - m->memory_used >= r.memory &&
					    (t->port < 0 || m->ports[t->port] == 0) &&
					    (!zone_ab || m->zone != 'c') &&
					    (!distinct || m->groups[t->group] == 0))
						fail_msg("step %d refused (%s) but %s fits", step,
							 reason, m->id);
				}
				refused++;
				continue;
			}
			for (int i = 0; i < PROP_NODES; i++)
				if (strcmp(nodes[i].id, node) == 0)
					k = i;
			assert_true(k >= 0);
			assert_int_equal(nodes[k].status, SCHED_NODE_ACTIVE);
			assert_true(nodes[k].cpu - nodes[k].cpu_used >= r.cpu);
			assert_true(nodes[k].memory - nodes[k].memory_used >= r.memory);
			if (zone_ab)
				assert_true(nodes[k].zone != 'c');
			if (distinct)
				assert_int_equal(nodes[k].groups[t->group], 0);
			nodes[k].groups[t->group]++;
			if (t->port >= 0) {
				assert_int_equal(nodes[k].ports[t->port], 0);
				nodes[k].ports[t->port]++;
			}
			nodes[k].cpu_used += r.cpu;
			nodes[k].memory_used += r.memory;
			t->live = true;
			t->node = k;
			t->cpu = r.cpu;
			t->memory = r.memory;
			placed++;
		} else if (op < 9) {
			int j = rand_r(&seed) % (step + 1);
			char id[16];

			for (int tries = 0; tries < 64 && !tasks[j].live; tries++)
				j = rand_r(&seed) % (step + 1);
			if (!tasks[j].live)
				continue;
			snprintf(id, sizeof(id), "t%d", j);
			scheduler_task_release(s, id);
			tasks[j].live = false;
			nodes[tasks[j].node].cpu_used -= tasks[j].cpu;
			nodes[tasks[j].node].memory_used -= tasks[j].memory;
			if (tasks[j].port >= 0)
				nodes[tasks[j].node].ports[tasks[j].port]--;
			nodes[tasks[j].node].groups[tasks[j].group]--;
		} else {
			int k = rand_r(&seed) % PROP_NODES;
			char attrs[64];

			nodes[k].status = (enum sched_node_status)(rand_r(&seed) % 3);
			if (rand_r(&seed) % 2)
				nodes[k].status = SCHED_NODE_ACTIVE;
			snprintf(attrs, sizeof(attrs), "{\"zone\":\"%c\"}", nodes[k].zone);
			add_node_status(s, nodes[k].id, "default", nodes[k].status, nodes[k].cpu,
					nodes[k].memory, attrs);
		}
		if (step % 500 == 0) {
			for (int i = 0; i < PROP_NODES; i++) {
				int64_t cpu, memory;
				orch_error err = ORCH_ERROR_INIT;

				assert_int_equal(scheduler_node_remaining(s, nodes[i].id, &cpu, &memory,
									  &err), 0);
				assert_int_equal(cpu, nodes[i].cpu - nodes[i].cpu_used);
				assert_int_equal(memory, nodes[i].memory - nodes[i].memory_used);
			}
		}
	}
	if (placed < 1000 || refused < 10)
		fail_msg("placed %d, refused %d", placed, refused);
}

static void test_property_never_overcommit(void **state)
{
	run_property(*state, 24, 12345);
}

/* Groups on more than 64 nodes take the bitmap path of spread. */
static void test_property_many_nodes(void **state)
{
	run_property(*state, PROP_NODES_MAX, 777);
}

static void test_spread_instance_many_nodes(void **state)
{
	struct scheduler *s = *state;
	char id[32], node[64], reason[512], on[450][64];
	int per_node[150] = { 0 }, twin = -1;

	for (int i = 0; i < 150; i++) {
		snprintf(id, sizeof(id), "n%03d", i);
		add_node(s, id, 100000, 100000, NULL);
	}
	/* the group stays even at every step: each node gets one before any gets two */
	for (int i = 0; i < 450; i++) {
		int lo = 1 << 30, hi = 0;

		snprintf(id, sizeof(id), "t%d", i);
		assert_int_equal(place_with(s, id, make_req(1, 1, "big"), NULL, NULL, node, reason), 0);
		snprintf(on[i], sizeof(on[i]), "%s", node);
		per_node[atoi(node + 1)]++;
		for (int k = 0; k < 150; k++) {
			lo = per_node[k] < lo ? per_node[k] : lo;
			hi = per_node[k] > hi ? per_node[k] : hi;
		}
		assert_true(hi - lo <= 1);
	}
	/* freeing two tasks of one node and one of another: the first is least loaded */
	for (int i = 1; i < 450 && twin < 0; i++)
		if (strcmp(on[i], on[0]) == 0)
			twin = i;
	assert_true(twin > 0);
	{
		int other = strcmp(on[1], on[0]) != 0 ? 1 : 2;
		char a[64], b[64], t_twin[32], t_other[32];

		snprintf(t_twin, sizeof(t_twin), "t%d", twin);
		snprintf(t_other, sizeof(t_other), "t%d", other);
		scheduler_task_release(s, "t0");
		scheduler_task_release(s, t_twin);
		scheduler_task_release(s, t_other);
		expect_place(s, "x1", make_req(1, 1, "big"), NULL, NULL, on[0]);
		/* then both hold two: fewest tasks tie, node ID decides */
		snprintf(a, sizeof(a), "%s", strcmp(on[0], on[other]) < 0 ? on[0] : on[other]);
		snprintf(b, sizeof(b), "%s", strcmp(on[0], on[other]) < 0 ? on[other] : on[0]);
		expect_place(s, "x2", make_req(1, 1, "big"), NULL, NULL, a);
		expect_place(s, "x3", make_req(1, 1, "big"), NULL, NULL, b);
	}
	/* a node joining empty comes first; draining a node takes it out */
	add_node(s, "n050x", 100000, 100000, NULL);
	add_node_status(s, "n000", "default", SCHED_NODE_DRAINING, 100000, 100000, NULL);
	expect_place(s, "x4", make_req(1, 1, "big"), NULL, NULL, "n050x");
	add_node_status(s, "n050x", "default", SCHED_NODE_DRAINING, 100000, 100000, NULL);
	assert_int_equal(place_with(s, "x5", make_req(1, 1, "big"), NULL, NULL, node, reason), 0);
	assert_string_not_equal(node, "n000");
	assert_string_not_equal(node, "n050x");
}

static void test_default_spreads_groups_over_the_cluster(void **state)
{
	struct scheduler *s = *state;
	char id[32], group[32], node[64], reason[512];
	int per_node[20] = { 0 }, used = 0;

	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "n%02d", i);
		add_node(s, id, 100000, 100000, NULL);
	}
	/* ten groups of two tasks: not all on the two lowest IDs */
	for (int g = 0; g < 10; g++) {
		snprintf(group, sizeof(group), "service:s%d", g);
		for (int k = 0; k < 2; k++) {
			snprintf(id, sizeof(id), "g%d-%d", g, k);
			assert_int_equal(place_with(s, id, make_req(1, 1, group), NULL, NULL, node,
						    reason), 0);
			per_node[atoi(node + 1)]++;
		}
	}
	for (int i = 0; i < 20; i++) {
		used += per_node[i] > 0;
		assert_true(per_node[i] <= 2);
	}
	assert_true(used >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_place_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_draining_lost_excluded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_tcp_udp_separate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_reason_combination, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_frees_resources_and_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_distinct_instance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memberof_expressions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memberof_matches_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memberof_value_alias, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memberof_task_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memberof_reason, setup, teardown),
		cmocka_unit_test(test_expression_errors),
		cmocka_unit_test(test_expression_limits),
		cmocka_unit_test(test_validate_constraints),
		cmocka_unit_test(test_validate_strategies),
		cmocka_unit_test(test_validate_limits_and_request),
		cmocka_unit_test_setup_teardown(test_binpack_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binpack_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binpack_ties_by_next_strategy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tie_by_node_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread_instance_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread_without_group_counts_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread_attribute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread_attribute_then_binpack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_breaks_ties_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread_instance_many_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_spreads_groups_over_the_cluster, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_property_never_overcommit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_property_many_nodes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

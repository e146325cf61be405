/*
 * test_spec.c - unit tests of the pure parts of the container runtime:
 * Docker's merging of image config and run overrides (spec.h), ulimits
 * (--ulimit and task definition values, spec.h), user and group
 * resolution over passwd/group text (user_lookup.h), the ECS cpu unit ->
 * cgroup v2 weight mapping (cgroup.h), and a task size as the limits of
 * the task's cgroup (agent_task_cgroup.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent_task_cgroup.h"
#include "runtime/cgroup.h"
#include "runtime/spec.h"
#include "runtime/user_lookup.h"

/* ---- spec merging -------------------------------------------------------- */

static json_t *image(const char *text)
{
	json_error_t jerr;
	char *copy = strdup(text);
	json_t *json;

	for (char *p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	json = json_loads(copy, 0, &jerr);
	if (!json)
		fail_msg("bad test JSON: %s", jerr.text);
	free(copy);
	return json;
}

/* argv joined with '|' for compact assertions. */
static char *joined(char **v, size_t n)
{
	static char buf[1024];
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? "|" : "", v[i]);
	return buf;
}

static void merge_ok(const char *img, const struct spec_overrides *ov, struct spec_process *out)
{
	orch_error err = ORCH_ERROR_INIT;
	json_t *json = img ? image(img) : NULL;

	if (spec_merge(json, ov, out, &err) < 0)
		fail_msg("merge failed: %s", err.message);
	json_decref(json);
}

static const char *const cmd_ls[] = { "ls", "-l" };

static void test_image_cmd_only(void **state)
{
	struct spec_overrides ov = { 0 };
	struct spec_process p;

	merge_ok("{'Cmd':['sh','-c','echo hi']}", &ov, &p);
	assert_string_equal(joined(p.argv, p.argc), "sh|-c|echo hi");
	assert_null(p.argv[p.argc]);
	assert_string_equal(p.workdir, "/");
	assert_string_equal(p.user, "");
	spec_process_release(&p);
}

static void test_cli_cmd_replaces_image_cmd_keeps_entrypoint(void **state)
{
	struct spec_overrides ov = { .cmd = cmd_ls, .cmd_count = 2 };
	struct spec_process p;

	merge_ok("{'Entrypoint':['/entry.sh'],'Cmd':['default']}", &ov, &p);
	assert_string_equal(joined(p.argv, p.argc), "/entry.sh|ls|-l");
	spec_process_release(&p);
}

static void test_entrypoint_and_image_cmd(void **state)
{
	struct spec_overrides ov = { 0 };
	struct spec_process p;

	merge_ok("{'Entrypoint':['/entry.sh','-x'],'Cmd':['serve']}", &ov, &p);
	assert_string_equal(joined(p.argv, p.argc), "/entry.sh|-x|serve");
	spec_process_release(&p);
}

static void test_new_entrypoint_drops_image_cmd(void **state)
{
	struct spec_overrides ov = { .entrypoint_set = true, .entrypoint = "/bin/echo" };
	struct spec_process p;

	merge_ok("{'Entrypoint':['/entry.sh'],'Cmd':['serve']}", &ov, &p);
	assert_string_equal(joined(p.argv, p.argc), "/bin/echo");
	spec_process_release(&p);
}

static void test_new_entrypoint_with_cli_cmd(void **state)
{
	struct spec_overrides ov = { .entrypoint_set = true, .entrypoint = "/bin/echo",
				     .cmd = cmd_ls, .cmd_count = 2 };
	struct spec_process p;

	merge_ok("{'Entrypoint':['/entry.sh'],'Cmd':['serve']}", &ov, &p);
	assert_string_equal(joined(p.argv, p.argc), "/bin/echo|ls|-l");
	spec_process_release(&p);
}

static void test_empty_entrypoint_keeps_image_cmd(void **state)
{
	struct spec_overrides ov = { .entrypoint_set = true, .entrypoint = "" };
	struct spec_process p;

	merge_ok("{'Entrypoint':['/entry.sh'],'Cmd':['serve','--port','80']}", &ov, &p);
	assert_string_equal(joined(p.argv, p.argc), "serve|--port|80");
	spec_process_release(&p);
}

static void test_no_command_is_an_error(void **state)
{
	struct spec_overrides ov = { 0 };
	struct spec_process p;
	orch_error err = ORCH_ERROR_INIT;
	json_t *json = image("{'Env':['A=1']}");

	assert_int_equal(spec_merge(json, &ov, &p, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_INVALID);
	assert_non_null(strstr(err.message, "no command"));
	json_decref(json);
	/* Clearing the only entrypoint with nothing else is the same error. */
	json = image("{'Entrypoint':['/e']}");
	ov.entrypoint_set = true;
	ov.entrypoint = "";
	assert_int_equal(spec_merge(json, &ov, &p, &err), -1);
	json_decref(json);
	assert_int_equal(spec_merge(NULL, &ov, &p, &err), -1);
}

static void test_env_order_and_overrides(void **state)
{
	static const char *const env[] = { "B=override", "C=new", "PATH=/only" };
	struct spec_overrides ov = { .env = env, .env_count = 3, .cmd = cmd_ls, .cmd_count = 1,
				     .hostname = "h1" };
	struct spec_process p;

	merge_ok("{'Env':['A=1','B=image','EMPTY=']}", &ov, &p);
	assert_string_equal(joined(p.env, p.env_count), "PATH=/only|HOSTNAME=h1|A=1|B=override|EMPTY=|C=new");
	assert_string_equal(spec_env_get(&p, "B"), "override");
	assert_string_equal(spec_env_get(&p, "EMPTY"), "");
	assert_null(spec_env_get(&p, "HOME"));
	spec_process_release(&p);
}

static void test_env_default_path_and_home(void **state)
{
	struct spec_overrides ov = { .cmd = cmd_ls, .cmd_count = 1 };
	struct spec_process p;
	orch_error err = ORCH_ERROR_INIT;

	merge_ok(NULL, &ov, &p);
	assert_string_equal(spec_env_get(&p, "PATH"), SPEC_DEFAULT_PATH);
	assert_int_equal(spec_env_set_default(&p, "HOME", "/root", &err), 0);
	assert_int_equal(spec_env_set_default(&p, "HOME", "/other", &err), 0);
	assert_string_equal(spec_env_get(&p, "HOME"), "/root");
	spec_process_release(&p);
}

static void test_env_rejects_bad_entries(void **state)
{
	static const char *const env[] = { "=novalue" };
	struct spec_overrides ov = { .env = env, .env_count = 1, .cmd = cmd_ls, .cmd_count = 1 };
	struct spec_process p;
	orch_error err = ORCH_ERROR_INIT;
	json_t *json = image("{'Env':['NOEQUALS']}");

	assert_int_equal(spec_merge(NULL, &ov, &p, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_INVALID);
	ov.env_count = 0;
	assert_int_equal(spec_merge(json, &ov, &p, &err), -1);
	json_decref(json);
}

static void test_workdir_and_user(void **state)
{
	struct spec_overrides ov = { .cmd = cmd_ls, .cmd_count = 1 };
	struct spec_process p;
	orch_error err = ORCH_ERROR_INIT;
	json_t *json;

	merge_ok("{'WorkingDir':'/srv','User':'app'}", &ov, &p);
	assert_string_equal(p.workdir, "/srv");
	assert_string_equal(p.user, "app");
	spec_process_release(&p);

	ov.workdir = "/tmp";
	ov.user = "1000:1000";
	merge_ok("{'WorkingDir':'/srv','User':'app'}", &ov, &p);
	assert_string_equal(p.workdir, "/tmp");
	assert_string_equal(p.user, "1000:1000");
	spec_process_release(&p);

	ov.workdir = "relative";
	json = image("{}");
	assert_int_equal(spec_merge(json, &ov, &p, &err), -1);
	assert_non_null(strstr(err.message, "absolute"));
	json_decref(json);
}

static void test_bad_image_config_types(void **state)
{
	struct spec_overrides ov = { 0 };
	struct spec_process p;
	orch_error err = ORCH_ERROR_INIT;
	const char *bad[] = { "{'Cmd':'sh'}", "{'Cmd':[1]}", "{'Env':'A=1','Cmd':['x']}",
			      "{'Entrypoint':{},'Cmd':['x']}" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *json = image(bad[i]);

		assert_int_equal(spec_merge(json, &ov, &p, &err), -1);
		assert_int_equal(err.kind, ORCH_ERR_INVALID);
		json_decref(json);
	}
}

static void test_process_json_round_trip(void **state)
{
	static const char *const env[] = { "X=1" };
	struct spec_overrides ov = { .env = env, .env_count = 1, .cmd = cmd_ls, .cmd_count = 2,
				     .user = "app", .workdir = "/w" };
	struct spec_process p, q;
	orch_error err = ORCH_ERROR_INIT;
	json_t *json;

	merge_ok("{'Entrypoint':['/e']}", &ov, &p);
	json = spec_process_to_json(&p);
	assert_int_equal(spec_process_from_json(json, &q, &err), 0);
	assert_string_equal(joined(q.argv, q.argc), "/e|ls|-l");
	assert_string_equal(joined(q.env, q.env_count), joined(p.env, p.env_count));
	assert_string_equal(q.user, "app");
	assert_string_equal(q.workdir, "/w");
	json_decref(json);
	spec_process_release(&p);
	spec_process_release(&q);
}

/* ---- ulimits --------------------------------------------------------------- */

static struct spec_rlimit rlimit_ok(const char *text)
{
	orch_error err = ORCH_ERROR_INIT;
	struct spec_rlimit r;

	if (spec_rlimit_parse(text, &r, &err) < 0)
		fail_msg("'%s' refused: %s", text, err.message);
	return r;
}

static void test_ulimit_parse(void **state)
{
	struct spec_rlimit r = rlimit_ok("nofile=1024:2048");
	char text[SPEC_RLIMIT_TEXT_MAX];

	assert_int_equal(r.resource, RLIMIT_NOFILE);
	assert_int_equal(r.soft, 1024);
	assert_int_equal(r.hard, 2048);
	r = rlimit_ok("nproc=50");		/* hard defaults to soft, as docker */
	assert_int_equal(r.resource, RLIMIT_NPROC);
	assert_int_equal(r.soft, 50);
	assert_int_equal(r.hard, 50);
	r = rlimit_ok("core=-1");
	assert_true(r.soft == SPEC_RLIMIT_UNLIMITED && r.hard == SPEC_RLIMIT_UNLIMITED);
	r = rlimit_ok("memlock=0:unlimited");
	assert_int_equal(r.soft, 0);
	assert_true(r.hard == SPEC_RLIMIT_UNLIMITED);
	spec_rlimit_format(&r, text, sizeof(text));
	assert_string_equal(text, "memlock=0:-1");
	for (const char *const *name = (const char *const[]){ "core", "cpu", "data", "fsize",
		"locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
		"rttime", "sigpending", "stack", NULL }; *name; name++) {
		assert_true(spec_rlimit_resource(*name) >= 0);
		assert_string_equal(spec_rlimit_name(spec_rlimit_resource(*name)), *name);
	}
}

static void test_ulimit_parse_errors(void **state)
{
	static const char *const bad[] = {
		"nofile", "=1", "nofile=", "nofile=1:", "nofile=:1", "nofile=x", "nofile=1:2:3",
		"nofile=-2", "nofile=2048:1024", "nofile=unlimited:10", "bogus=1",
		"nofile=1234567890123456789012", "NOFILE=1", " nofile=1",
	};
	orch_error err = ORCH_ERROR_INIT;
	struct spec_rlimit r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (spec_rlimit_parse(bad[i], &r, &err) == 0)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(err.kind, ORCH_ERR_INVALID);
	}
	assert_int_equal(spec_rlimit_parse("nofile=2048:1024", &r, &err), -1);
	assert_non_null(strstr(err.message, "exceeds the hard limit"));
	assert_int_equal(spec_rlimit_from_values("nofile", -1, 10, &r, &err), -1);
	assert_int_equal(spec_rlimit_from_values("nofile", -5, -1, &r, &err), -1);
	assert_int_equal(spec_rlimit_from_values("stack", 8192, -1, &r, &err), 0);
	assert_int_equal(spec_rlimit_from_values("stack", -1, -1, &r, &err), 0);
}

static void test_ulimit_put_replaces_and_round_trips(void **state)
{
	struct spec_overrides ov = { .cmd = cmd_ls, .cmd_count = 2 };
	struct spec_rlimit a = rlimit_ok("nofile=10:20"), b = rlimit_ok("nofile=30:40");
	struct spec_rlimit c = rlimit_ok("core=-1");
	orch_error err = ORCH_ERROR_INIT;
	struct spec_process p, q;
	json_t *json;

	merge_ok("{}", &ov, &p);
	assert_int_equal(p.rlimit_count, 0);	/* the merge adds none */
	assert_int_equal(spec_rlimit_put(&p, &a, &err), 0);
	assert_int_equal(spec_rlimit_put(&p, &c, &err), 0);
	assert_int_equal(spec_rlimit_put(&p, &b, &err), 0);
	assert_int_equal(p.rlimit_count, 2);
	assert_int_equal(spec_rlimit_get(&p, RLIMIT_NOFILE)->soft, 30);
	assert_null(spec_rlimit_get(&p, RLIMIT_NPROC));

	json = spec_process_to_json(&p);
	assert_int_equal(spec_process_from_json(json, &q, &err), 0);
	assert_int_equal(q.rlimit_count, 2);
	assert_int_equal(spec_rlimit_get(&q, RLIMIT_NOFILE)->hard, 40);
	assert_true(spec_rlimit_get(&q, RLIMIT_CORE)->hard == SPEC_RLIMIT_UNLIMITED);
	json_decref(json);
	spec_process_release(&q);

	/* A config.json written before ulimits existed has none. */
	p.rlimit_count = 0;
	json = spec_process_to_json(&p);
	assert_null(json_object_get(json, "rlimits"));
	assert_int_equal(spec_process_from_json(json, &q, &err), 0);
	assert_int_equal(q.rlimit_count, 0);
	json_decref(json);
	spec_process_release(&q);

	/* A malformed one is refused, not ignored. */
	json = spec_process_to_json(&p);
	json_object_set_new(json, "rlimits", json_pack("[{s:s, s:i, s:i}]", "type", "nofile",
						       "soft", 9, "hard", 3));
	assert_int_equal(spec_process_from_json(json, &q, &err), -1);
	assert_non_null(strstr(err.message, "rlimits[0]"));
	json_decref(json);
	spec_process_release(&p);
}

/* ---- user lookup ---------------------------------------------------------- */

static const char passwd[] =
	"# comment\n"
	"root:x:0:0:root:/root:/bin/sh\n"
	"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	"broken line without fields\n"
	"app:x:1000:1001:App User:/home/app:/bin/sh\n"
	"dup:x:1000:5:second entry for 1000:/dup:/bin/sh\n"
	"nohome:x:2000:2000::";

static const char group[] =
	"root:x:0:\n"
	"wheel:x:10:root,app\n"
	"app:x:1001:\n"
	"audio:x:29:other,app\n"
	"video:x:44:application\n"
	"staff:x:50:";

static struct user_exec lookup_ok(const char *spec, const char *pw, const char *gr)
{
	struct user_exec u;
	orch_error err = ORCH_ERROR_INIT;

	if (user_lookup_parse(spec, pw, gr, &u, &err) < 0)
		fail_msg("lookup '%s' failed: %s", spec, err.message);
	return u;
}

static void test_user_default_is_root(void **state)
{
	struct user_exec u = lookup_ok("", passwd, group);

	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_string_equal(u.home, "/root");
	assert_int_equal(u.sgid_count, 1);	/* root is listed in wheel */
	assert_int_equal(u.sgids[0], 10);
	u = lookup_ok(NULL, NULL, NULL);
	assert_int_equal(u.uid, 0);
	assert_string_equal(u.home, "/");
}

static void test_user_by_name_with_supplementary_groups(void **state)
{
	struct user_exec u = lookup_ok("app", passwd, group);

	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1001);
	assert_string_equal(u.home, "/home/app");
	assert_int_equal(u.sgid_count, 2);
	assert_int_equal(u.sgids[0], 10);
	assert_int_equal(u.sgids[1], 29);	/* "application" in video is not "app" */
}

static void test_user_by_uid_first_match_wins(void **state)
{
	struct user_exec u = lookup_ok("1000", passwd, group);

	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1001);
	assert_string_equal(u.home, "/home/app");
}

static void test_user_unknown_uid_is_fine(void **state)
{
	struct user_exec u = lookup_ok("4242", passwd, group);

	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.gid, 0);
	assert_string_equal(u.home, "/");
	assert_int_equal(u.sgid_count, 0);
}

static void test_user_explicit_group(void **state)
{
	struct user_exec u = lookup_ok("app:audio", passwd, group);

	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 29);
	assert_int_equal(u.sgid_count, 0);	/* explicit group: no supplementary ones */
	u = lookup_ok("app:7777", passwd, group);
	assert_int_equal(u.gid, 7777);
	u = lookup_ok("1000:1000", passwd, group);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1000);
	u = lookup_ok("nohome", passwd, group);
	assert_int_equal(u.uid, 2000);
	assert_string_equal(u.home, "/");
}

static void test_user_errors(void **state)
{
	struct user_exec u;
	orch_error err = ORCH_ERROR_INIT;

	assert_int_equal(user_lookup_parse("ghost", passwd, group, &u, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_NOT_FOUND);
	assert_non_null(strstr(err.message, "ghost"));
	assert_int_equal(user_lookup_parse("app:ghosts", passwd, group, &u, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_NOT_FOUND);
	assert_int_equal(user_lookup_parse("app:", passwd, group, &u, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_INVALID);
	assert_int_equal(user_lookup_parse("app", NULL, NULL, &u, &err), -1);
	/* Numbers too large for an id are names, and no such name exists. */
	assert_int_equal(user_lookup_parse("99999999999", passwd, group, &u, &err), -1);
}

/* ---- cgroup mapping ------------------------------------------------------- */

static void test_units_to_weight(void **state)
{
	assert_int_equal(cgroup_units_to_weight(2), 1);
	assert_int_equal(cgroup_units_to_weight(1024), 39);
	assert_int_equal(cgroup_units_to_weight(262144), 10000);
	assert_int_equal(cgroup_units_to_weight(0), 1);
	assert_int_equal(cgroup_units_to_weight(1000000), 10000);
}

static void test_cgroup_parent_validation(void **state)
{
	orch_error err = ORCH_ERROR_INIT;

	assert_int_equal(cgroup_parent_validate("orch", &err), 0);
	assert_int_equal(cgroup_parent_validate("agents/node-1", &err), 0);
	assert_int_equal(cgroup_parent_validate("/abs", &err), -1);
	assert_int_equal(cgroup_parent_validate("../escape", &err), -1);
	assert_int_equal(cgroup_parent_validate("a//b", &err), -1);
	assert_int_equal(cgroup_parent_validate("sp ace", &err), -1);
	assert_int_equal(cgroup_parent_validate("", &err), -1);
}

/* ---- task size -> task cgroup -------------------------------------------- */

static struct cgroup_limits task_limits_ok(const char *td, const char *overrides)
{
	orch_error err = ORCH_ERROR_INIT;
	struct cgroup_limits lim;
	json_t *t = image(td), *o = overrides ? image(overrides) : NULL;

	if (agent_task_cgroup_limits(t, o, &lim, &err) < 0)
		fail_msg("refused: %s", err.message);
	json_decref(t);
	json_decref(o);
	return lim;
}

static void test_task_size_limits(void **state)
{
	struct cgroup_limits lim = task_limits_ok("{'cpu':'256','memory':'512'}", NULL);
	orch_error err = ORCH_ERROR_INIT;
	json_t *bad;

	assert_int_equal(lim.memory_max, 512LL << 20);
	assert_int_equal(lim.cpu_millis, 250);	/* 0.25 vCPU */
	assert_int_equal(lim.cpu_units, 256);
	assert_int_equal(lim.memory_reservation, 0);
	assert_int_equal(lim.pids_max, 0);
	lim = task_limits_ok("{}", NULL);	/* no task size: no limit */
	assert_int_equal(lim.memory_max, 0);
	assert_int_equal(lim.cpu_millis, 0);
	assert_int_equal(lim.cpu_units, 0);
	/* RunTask overrides first, integers or strings. */
	lim = task_limits_ok("{'cpu':'256','memory':'512'}", "{'cpu':2048,'memory':'64'}");
	assert_int_equal(lim.memory_max, 64LL << 20);
	assert_int_equal(lim.cpu_millis, 2000);
	assert_int_equal(lim.cpu_units, 2048);
	lim = task_limits_ok("{'memory':'1024'}", "{'containerOverrides':[]}");
	assert_int_equal(lim.memory_max, 1024LL << 20);
	assert_int_equal(lim.cpu_millis, 0);
	lim = task_limits_ok("{'cpu':'1'}", NULL);	/* the kernel's smallest quota */
	assert_int_equal(lim.cpu_millis, AGENT_TASK_CPU_MILLIS_MIN);
	bad = image("{'memory':'1 GB'}");		/* the validator normalises this away */
	assert_int_equal(agent_task_cgroup_limits(bad, NULL, &lim, &err), -1);
	json_decref(bad);
	bad = image("{'cpu':-5}");
	assert_int_equal(agent_task_cgroup_limits(bad, NULL, &lim, &err), -1);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_cmd_only),
		cmocka_unit_test(test_cli_cmd_replaces_image_cmd_keeps_entrypoint),
		cmocka_unit_test(test_entrypoint_and_image_cmd),
		cmocka_unit_test(test_new_entrypoint_drops_image_cmd),
		cmocka_unit_test(test_new_entrypoint_with_cli_cmd),
		cmocka_unit_test(test_empty_entrypoint_keeps_image_cmd),
		cmocka_unit_test(test_no_command_is_an_error),
		cmocka_unit_test(test_env_order_and_overrides),
		cmocka_unit_test(test_env_default_path_and_home),
		cmocka_unit_test(test_env_rejects_bad_entries),
		cmocka_unit_test(test_workdir_and_user),
		cmocka_unit_test(test_bad_image_config_types),
		cmocka_unit_test(test_process_json_round_trip),
		cmocka_unit_test(test_ulimit_parse),
		cmocka_unit_test(test_ulimit_parse_errors),
		cmocka_unit_test(test_ulimit_put_replaces_and_round_trips),
		cmocka_unit_test(test_user_default_is_root),
		cmocka_unit_test(test_user_by_name_with_supplementary_groups),
		cmocka_unit_test(test_user_by_uid_first_match_wins),
		cmocka_unit_test(test_user_unknown_uid_is_fine),
		cmocka_unit_test(test_user_explicit_group),
		cmocka_unit_test(test_user_errors),
		cmocka_unit_test(test_units_to_weight),
		cmocka_unit_test(test_cgroup_parent_validation),
		cmocka_unit_test(test_task_size_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

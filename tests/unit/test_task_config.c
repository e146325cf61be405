/*
 * test_task_config.c - unit tests of the agent's translation of an ECS
 * container definition into the runtime's container config
 * (agent/task_config.h): entryPoint and command against the image's
 * Entrypoint and Cmd, environment order, workingDirectory, user and
 * hostname, readonlyRootFilesystem, initProcessEnabled, dockerLabels,
 * ulimits, memory and cpu (with RunTask overrides and the task size), the
 * network mode, the container's cgroup, and its failures.
 *
 * Images come from a table here instead of an image store: the resolver
 * is the translation's one input from outside the definition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/task_config.h"
#include "runtime/spec.h"

#define TASK_ID "0123456789abcdef0123456789abcdef"
#define STORE "test-store"

/* ---- fixtures ------------------------------------------------------------- */

/* JSON with ' for " so the definitions below stay readable. */
static json_t *json(const char *text)
{
	json_error_t jerr;
	char *copy = strdup(text);
	json_t *j;

	for (char *p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(copy, 0, &jerr);
	if (!j)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	free(copy);
	return j;
}

static const struct {
	const char *ref;
	const char *config;
} images[] = {
	{ "app:1", "{'Entrypoint':['/bin/app'],'Cmd':['--serve'],'Env':['A=image','IMG=1'],"
		   "'WorkingDir':'/srv','User':'app'}" },
	{ "plain", "{'Cmd':['sh']}" },
	{ "bare", "{}" },
};

/* The images table as a store: two layers each, so their hand-off shows. */
static int fake_resolve(const char *store, const char *ref, struct image_info *out,
			orch_error *err)
{
	memset(out, 0, sizeof(*out));
	assert_string_equal(store, STORE);
	for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++) {
		if (strcmp(images[i].ref, ref) != 0)
			continue;
		snprintf(out->id, sizeof(out->id), "sha256:%064zu", i);
		out->config = json(images[i].config);
		out->layer_dirs = calloc(2, sizeof(char *));
		assert_non_null(out->layer_dirs);
		out->layer_dirs[0] = strdup("/layers/bottom");
		out->layer_dirs[1] = strdup("/layers/top");
		out->layer_count = 2;
		return 0;
	}
	return orch_fail(err, ORCH_ERR_NOT_FOUND, "image '%s' is not in the store", ref);
}

struct build {
	const char *definition;		/* the task definition */
	const char *overrides;		/* RunTask's overrides, or NULL */
	size_t index;
	int64_t task_memory_mib;	/* the task size; 0 none */
	const char *network_from;
	const char *cgroup_parent;	/* NULL: "orch" */
};

/* Runs the translation; the config and error are the caller's to check. */
static int build(const struct build *b, struct container_config *cfg, orch_error *err)
{
	json_t *td = json(b->definition);
	json_t *ov = b->overrides ? json(b->overrides) : NULL;
	struct cgroup_limits task_lim = { .memory_max = b->task_memory_mib << 20 };
	struct task_config_input in = {
		.task_definition = td,
		.overrides = ov,
		.index = b->index,
		.task_id = TASK_ID,
		.container_name = "orch-" TASK_ID "-0",
		.cgroup_parent = b->cgroup_parent ? b->cgroup_parent : "orch",
		.task_limits = &task_lim,
		.network_from = b->network_from,
		.resolve = fake_resolve,
		.store = STORE,
	};
	int rc;

	/* Garbage in, so a field the translation forgets to set shows. */
	memset(cfg, 0xa5, sizeof(*cfg));
	rc = task_config_build(&in, cfg, err);
	json_decref(td);
	json_decref(ov);
	return rc;
}

static void build_ok(const struct build *b, struct container_config *cfg)
{
	orch_error err = ORCH_ERROR_INIT;

	if (build(b, cfg, &err) < 0)
		fail_msg("task_config_build failed: %s", err.message);
}

/* A build that must fail with kind and a message containing text. */
static void build_fails(const struct build *b, enum orch_error_kind kind, const char *text)
{
	orch_error err = ORCH_ERROR_INIT;
	struct container_config cfg;

	assert_int_equal(build(b, &cfg, &err), -1);
	assert_int_equal(err.kind, kind);
	if (!strstr(err.message, text))
		fail_msg("error '%s' does not say '%s'", err.message, text);
	/* Left released: nothing to free, nothing dangling. */
	assert_null(cfg.name);
	assert_null(cfg.image_id);
	assert_null(cfg.layer_dirs);
	assert_null(cfg.process.argv);
	assert_null(cfg.network_from);
}

/* A vector joined with '|' for compact assertions. */
static const char *joined(char **v, size_t n)
{
	static char buf[2048];
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? "|" : "", v[i]);
	return buf;
}

/* One container "app" in network mode none, with extra fields. */
#define TD(extra) "{'family':'web','networkMode':'none','containerDefinitions':[" \
	"{'name':'app','image':'app:1'" extra "}]}"

/* ---- the image and the command ---------------------------------------------- */

static void test_image_supplies_what_the_definition_leaves_out(void **state)
{
	struct build b = { .definition = TD("") };
	struct container_config cfg;

	(void)state;
	build_ok(&b, &cfg);
	assert_string_equal(cfg.name, "orch-" TASK_ID "-0");
	assert_string_equal(cfg.image, "app:1");
	assert_string_equal(cfg.image_id, "sha256:" "0000000000000000000000000000000000000000000000000000000000000000");
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "/bin/app|--serve");
	assert_null(cfg.process.argv[cfg.process.argc]);
	assert_string_equal(spec_env_get(&cfg.process, "A"), "image");
	assert_string_equal(spec_env_get(&cfg.process, "PATH"), SPEC_DEFAULT_PATH);
	assert_string_equal(cfg.process.workdir, "/srv");
	assert_string_equal(cfg.process.user, "app");
	assert_null(cfg.hostname);
	assert_int_equal(cfg.process.rlimit_count, 0);
	/* The image's layers move into the config. */
	assert_int_equal(cfg.layer_count, 2);
	assert_string_equal(cfg.layer_dirs[0], "/layers/bottom");
	assert_string_equal(cfg.layer_dirs[1], "/layers/top");
	/* The container's cgroup is in the task's group. */
	assert_string_equal(cfg.cgroup_parent, "orch/orch-" TASK_ID);
	assert_true(cfg.cgroup_parent_is_group);
	assert_false(cfg.auto_remove);
	/* No limits asked for: only the runtime's pids limit. */
	assert_int_equal(cfg.limits.pids_max, CONTAINER_DEFAULT_PIDS_LIMIT);
	assert_int_equal(cfg.limits.memory_max, 0);
	assert_int_equal(cfg.limits.memory_reservation, 0);
	assert_int_equal(cfg.limits.cpu_units, 0);
	assert_int_equal(cfg.limits.cpu_millis, 0);
	container_config_release(&cfg);
}

static void test_command_replaces_the_image_cmd_only(void **state)
{
	struct build b = { .definition = TD(",'command':['--port','80']") };
	struct container_config cfg;

	(void)state;
	build_ok(&b, &cfg);
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "/bin/app|--port|80");
	container_config_release(&cfg);
}

static void test_entry_point_replaces_entrypoint_and_cmd(void **state)
{
	struct build alone = { .definition = TD(",'entryPoint':['/bin/other','-v']") };
	struct build both = { .definition = TD(",'entryPoint':['sh','-c'],'command':['echo hi']") };
	struct build empty = { .definition = TD(",'entryPoint':[],'command':['x']") };
	struct container_config cfg;

	(void)state;
	/* ECS's entryPoint is --entrypoint plus leading arguments: no image Cmd. */
	build_ok(&alone, &cfg);
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "/bin/other|-v");
	container_config_release(&cfg);
	build_ok(&both, &cfg);
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "sh|-c|echo hi");
	container_config_release(&cfg);
	/* An empty entryPoint is no entryPoint: the image's stays. */
	build_ok(&empty, &cfg);
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "/bin/app|x");
	container_config_release(&cfg);
}

static void test_override_command_wins_for_its_container_only(void **state)
{
	struct build mine = {
		.definition = TD(",'command':['definition']"),
		.overrides = "{'containerOverrides':[{'name':'app','command':['override','1']}]}",
	};
	struct build other = {
		.definition = TD(",'command':['definition']"),
		.overrides = "{'containerOverrides':[{'name':'sidecar','command':['override']}]}",
	};
	struct container_config cfg;

	(void)state;
	build_ok(&mine, &cfg);
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "/bin/app|override|1");
	container_config_release(&cfg);
	build_ok(&other, &cfg);
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "/bin/app|definition");
	container_config_release(&cfg);
}

static void test_index_picks_the_container(void **state)
{
	struct build b = {
		.definition = "{'family':'web','networkMode':'host','containerDefinitions':["
			      "{'name':'app','image':'app:1'},"
			      "{'name':'side','image':'plain','command':['echo','side']}]}",
		.overrides = "{'containerOverrides':[{'name':'side','memory':64}]}",
		.index = 1,
	};
	struct container_config cfg;

	(void)state;
	build_ok(&b, &cfg);
	assert_string_equal(cfg.image, "plain");
	assert_string_equal(joined(cfg.process.argv, cfg.process.argc), "echo|side");
	assert_string_equal(cfg.process.workdir, "/");
	assert_string_equal(cfg.process.user, "");
	assert_int_equal(cfg.limits.memory_max, 64LL << 20);
	container_config_release(&cfg);
}

/* ---- environment, working directory, user, hostname --------------------------- */

static void test_environment_definition_then_override(void **state)
{
	struct build b = {
		.definition = TD(",'environment':[{'name':'A','value':'definition'},"
				 "{'name':'B','value':'b'},{'name':'EMPTY'}]"),
		.overrides = "{'containerOverrides':[{'name':'app','environment':"
			     "[{'name':'B','value':'override'},{'name':'C','value':'c'}]}]}",
	};
	struct container_config cfg;

	(void)state;
	build_ok(&b, &cfg);
	assert_string_equal(joined(cfg.process.env, cfg.process.env_count),
			    "PATH=" SPEC_DEFAULT_PATH "|A=definition|IMG=1|B=override|EMPTY=|C=c");
	container_config_release(&cfg);
}

static void test_working_directory_user_and_hostname(void **state)
{
	struct build b = {
		.definition = TD(",'workingDirectory':'/work','user':'1000:1000','hostname':'web-1'"),
	};
	struct build relative = { .definition = TD(",'workingDirectory':'work'") };
	struct container_config cfg;

	(void)state;
	build_ok(&b, &cfg);
	assert_string_equal(cfg.process.workdir, "/work");
	assert_string_equal(cfg.process.user, "1000:1000");
	assert_string_equal(cfg.hostname, "web-1");
	assert_string_equal(spec_env_get(&cfg.process, "HOSTNAME"), "web-1");
	container_config_release(&cfg);
	build_fails(&relative, ORCH_ERR_INVALID, "absolute path");
}

/*
 * readonlyRootFilesystem and linuxParameters.initProcessEnabled: only true
 * makes the root read-only or gives the container orch's init.
 */
static void test_readonly_root_and_init_process(void **state)
{
	static const struct {
		const char *extra;
		bool readonly, init;
	} cases[] = {
		{ ",'readonlyRootFilesystem':true", true, false },
		{ ",'readonlyRootFilesystem':false", false, false },
		{ ",'linuxParameters':{'initProcessEnabled':true}", false, true },
		{ ",'linuxParameters':{'initProcessEnabled':false}", false, false },
		{ ",'linuxParameters':{}", false, false },
		{ ",'readonlyRootFilesystem':true,'linuxParameters':{'initProcessEnabled':true}",
		  true, true },
		{ "", false, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char definition[512];
		struct build b = { .definition = definition };
		struct container_config cfg;

		snprintf(definition, sizeof(definition), TD("%s"), cases[i].extra);
		build_ok(&b, &cfg);
		assert_int_equal(cfg.readonly_rootfs, cases[i].readonly);
		assert_int_equal(cfg.init_process, cases[i].init);
		container_config_release(&cfg);
	}
}

/* dockerLabels: every entry, key and value, as the container's labels. */
static void test_docker_labels(void **state)
{
	struct build b = {
		.definition = TD(",'dockerLabels':{'team':'web','com.example.tier':'front'}"),
	};
	struct build none = { .definition = TD("") };
	struct container_config cfg;
	bool team = false, tier = false;

	(void)state;
	build_ok(&b, &cfg);
	assert_int_equal(cfg.label_count, 2);
	for (size_t i = 0; i < cfg.label_count; i++) {
		if (strcmp(cfg.labels[i].key, "team") == 0) {
			assert_string_equal(cfg.labels[i].value, "web");
			team = true;
		} else if (strcmp(cfg.labels[i].key, "com.example.tier") == 0) {
			assert_string_equal(cfg.labels[i].value, "front");
			tier = true;
		}
	}
	assert_true(team && tier);
	container_config_release(&cfg);
	build_ok(&none, &cfg);
	assert_int_equal(cfg.label_count, 0);
	assert_null(cfg.labels);
	container_config_release(&cfg);
}

/* ---- limits ------------------------------------------------------------------- */

static void test_memory_and_cpu_limits(void **state)
{
	struct build b = {
		.definition = TD(",'memory':256,'memoryReservation':128,'cpu':512"),
		.task_memory_mib = 512,
	};
	struct build overridden = {
		.definition = TD(",'memory':256,'memoryReservation':128,'cpu':512"),
		.overrides = "{'containerOverrides':[{'name':'app','memory':100,"
			     "'memoryReservation':50,'cpu':256}]}",
	};
	struct build tiny_cpu = { .definition = TD(",'cpu':1") };
	struct container_config cfg;

	(void)state;
	build_ok(&b, &cfg);
	assert_int_equal(cfg.limits.memory_max, 256LL << 20);
	assert_int_equal(cfg.limits.memory_reservation, 128LL << 20);
	assert_int_equal(cfg.limits.cpu_units, 512);
	assert_int_equal(cfg.limits.pids_max, CONTAINER_DEFAULT_PIDS_LIMIT);
	container_config_release(&cfg);
	build_ok(&overridden, &cfg);
	assert_int_equal(cfg.limits.memory_max, 100LL << 20);
	assert_int_equal(cfg.limits.memory_reservation, 50LL << 20);
	assert_int_equal(cfg.limits.cpu_units, 256);
	container_config_release(&cfg);
	/* Below the kernel's smallest weight: no cpu limit. */
	build_ok(&tiny_cpu, &cfg);
	assert_int_equal(cfg.limits.cpu_units, 0);
	container_config_release(&cfg);
}

static void test_container_limits_must_fit_the_task(void **state)
{
	struct build memory = { .definition = TD(",'memory':256"), .task_memory_mib = 128 };
	struct build reservation = {
		.definition = TD(",'memoryReservation':200"), .task_memory_mib = 128,
	};
	struct build equal = { .definition = TD(",'memory':128"), .task_memory_mib = 128 };
	struct build no_task_size = { .definition = TD(",'memory':4096") };
	struct container_config cfg;

	(void)state;
	build_fails(&memory, ORCH_ERR_INVALID,
		    "container app: memory 256 MiB exceeds the task memory of 128 MiB");
	build_fails(&reservation, ORCH_ERR_INVALID,
		    "container app: memoryReservation 200 MiB exceeds the task memory of 128 MiB");
	build_ok(&equal, &cfg);
	assert_int_equal(cfg.limits.memory_max, 128LL << 20);
	container_config_release(&cfg);
	build_ok(&no_task_size, &cfg);
	assert_int_equal(cfg.limits.memory_max, 4096LL << 20);
	container_config_release(&cfg);
}

static void test_ulimits(void **state)
{
	struct build b = {
		.definition = TD(",'ulimits':[{'name':'nofile','softLimit':1024,'hardLimit':4096},"
				 "{'name':'core','softLimit':-1,'hardLimit':-1}]"),
	};
	struct build unknown = {
		.definition = TD(",'ulimits':[{'name':'bogus','softLimit':1,'hardLimit':1}]"),
	};
	struct build incomplete = { .definition = TD(",'ulimits':[{'name':'nofile','softLimit':1}]") };
	struct build soft_above_hard = {
		.definition = TD(",'ulimits':[{'name':'nofile','softLimit':10,'hardLimit':5}]"),
	};
	struct container_config cfg;
	bool nofile = false, core = false;

	(void)state;
	build_ok(&b, &cfg);
	assert_int_equal(cfg.process.rlimit_count, 2);
	for (size_t i = 0; i < cfg.process.rlimit_count; i++) {
		const struct spec_rlimit *r = &cfg.process.rlimits[i];

		if (r->resource == RLIMIT_NOFILE) {
			nofile = true;
			assert_int_equal(r->soft, 1024);
			assert_int_equal(r->hard, 4096);
		} else if (r->resource == RLIMIT_CORE) {
			core = true;
			assert_true(r->soft == SPEC_RLIMIT_UNLIMITED);
			assert_true(r->hard == SPEC_RLIMIT_UNLIMITED);
		}
	}
	assert_true(nofile && core);
	container_config_release(&cfg);
	build_fails(&unknown, ORCH_ERR_INVALID, "bogus");
	build_fails(&incomplete, ORCH_ERR_INVALID, "ulimits[0] needs name, softLimit and hardLimit");
	build_fails(&soft_above_hard, ORCH_ERR_INVALID, "nofile");
}

/* ---- network --------------------------------------------------------------------- */

static void test_network_modes(void **state)
{
	struct build host = {
		.definition = "{'networkMode':'host','containerDefinitions':[{'name':'app','image':'app:1'}]}",
		.network_from = "f00d",
	};
	struct build none_first = { .definition = TD("") };
	struct build none_joins = { .definition = TD(""), .network_from = "f00d" };
	struct build bridge = {
		.definition = "{'networkMode':'bridge','containerDefinitions':[{'name':'app','image':'app:1'}]}",
	};
	struct build awsvpc = {
		.definition = "{'networkMode':'awsvpc','containerDefinitions':[{'name':'app','image':'app:1'}]}",
	};
	struct build unset = { .definition = "{'containerDefinitions':[{'name':'app','image':'app:1'}]}" };
	struct container_config cfg;

	(void)state;
	/* host: the host's namespace, never a sibling's. */
	build_ok(&host, &cfg);
	assert_int_equal(cfg.network, LINUX_NETWORK_HOST);
	assert_null(cfg.network_from);
	container_config_release(&cfg);
	/* none: one namespace per task, made by the first, joined by the rest. */
	build_ok(&none_first, &cfg);
	assert_int_equal(cfg.network, LINUX_NETWORK_NONE);
	assert_null(cfg.network_from);
	container_config_release(&cfg);
	build_ok(&none_joins, &cfg);
	assert_int_equal(cfg.network, LINUX_NETWORK_NONE);
	assert_string_equal(cfg.network_from, "f00d");
	container_config_release(&cfg);
	build_fails(&bridge, ORCH_ERR_UNSUPPORTED, "network mode bridge is not supported yet");
	build_fails(&awsvpc, ORCH_ERR_UNSUPPORTED, "network mode awsvpc is not supported yet");
	build_fails(&unset, ORCH_ERR_UNSUPPORTED, "network mode bridge is not supported yet");
}

/* ---- failures ---------------------------------------------------------------------- */

static void test_definition_errors(void **state)
{
	struct build no_image = {
		.definition = "{'networkMode':'none','containerDefinitions':[{'name':'app'}]}",
	};
	struct build missing = {
		.definition = "{'networkMode':'none','containerDefinitions':[{'name':'app','image':'gone'}]}",
	};
	struct build entry_not_strings = { .definition = TD(",'entryPoint':['sh',1]") };
	struct build command_not_strings = { .definition = TD(",'command':[true]") };
	struct build no_command = {
		.definition = "{'networkMode':'none','containerDefinitions':"
			      "[{'name':'app','image':'bare'}]}",
	};
	struct build bad_cgroup = { .definition = TD(""), .cgroup_parent = "/abs" };

	(void)state;
	build_fails(&no_image, ORCH_ERR_INVALID, "container 'app' has no image");
	build_fails(&missing, ORCH_ERR_NOT_FOUND, "image 'gone' is not in the store");
	build_fails(&entry_not_strings, ORCH_ERR_INVALID, "entryPoint must be strings");
	build_fails(&command_not_strings, ORCH_ERR_INVALID, "command must be strings");
	build_fails(&no_command, ORCH_ERR_INVALID, "no command");
	build_fails(&bad_cgroup, ORCH_ERR_INVALID, "cgroup parent");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_supplies_what_the_definition_leaves_out),
		cmocka_unit_test(test_command_replaces_the_image_cmd_only),
		cmocka_unit_test(test_entry_point_replaces_entrypoint_and_cmd),
		cmocka_unit_test(test_override_command_wins_for_its_container_only),
		cmocka_unit_test(test_index_picks_the_container),
		cmocka_unit_test(test_environment_definition_then_override),
		cmocka_unit_test(test_working_directory_user_and_hostname),
		cmocka_unit_test(test_readonly_root_and_init_process),
		cmocka_unit_test(test_docker_labels),
		cmocka_unit_test(test_memory_and_cpu_limits),
		cmocka_unit_test(test_container_limits_must_fit_the_task),
		cmocka_unit_test(test_ulimits),
		cmocka_unit_test(test_network_modes),
		cmocka_unit_test(test_definition_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

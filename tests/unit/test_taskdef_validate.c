/*
 * test_taskdef_validate.c - unit tests of the ECS task-definition validator.
 *
 * Most cases are rows of one table: a task definition written with single
 * quotes (turned into double quotes before parsing, for readability) and
 * either the exact error kind and message it must produce, or NULL for a
 * definition that must be accepted.  Separate tests check the normalized
 * output, the ignored-field list, the catalog and hostile inputs that are
 * easier to build in C than to write as text.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* asprintf */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/taskdef_validate.h"

/* ---- helpers --------------------------------------------------------------- */

/* Parse a test's JSON, written with ' for ". */
static json_t *parse(const char *text)
{
	char *copy = strdup(text);
	json_error_t jerr;
	json_t *json;
	char *p;

	assert_non_null(copy);
	for (p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	json = json_loads(copy, 0, &jerr);
	if (!json)
		fail_msg("bad test JSON (%s): %s", jerr.text, copy);
	free(copy);
	return json;
}

static json_t *validate_ok(const char *text, json_t **ignored)
{
	json_t *input = parse(text);
	json_t *norm = NULL, *ign = NULL;
	orch_error err = ORCH_ERROR_INIT;

	if (taskdef_validate(input, &norm, &ign, &err) != 0)
		fail_msg("rejected: %s\n  input: %s", err.message, text);
	json_decref(input);
	assert_non_null(norm);
	assert_non_null(ign);
	if (ignored)
		*ignored = ign;
	else
		json_decref(ign);
	return norm;
}

static void validate_obj_ok(const json_t *input)
{
	json_t *norm = NULL, *ign = NULL;
	orch_error err = ORCH_ERROR_INIT;

	if (taskdef_validate(input, &norm, &ign, &err) != 0)
		fail_msg("rejected: %s", err.message);
	json_decref(norm);
	json_decref(ign);
}

static void expect_error(const json_t *input, enum orch_error_kind kind, const char *message,
			 const char *label)
{
	json_t *norm = (json_t *)0x1, *ign = (json_t *)0x1;
	orch_error err = ORCH_ERROR_INIT;

	if (taskdef_validate(input, &norm, &ign, &err) == 0) {
		json_decref(norm);
		json_decref(ign);
		fail_msg("accepted, expected \"%s\"\n  input: %s", message, label);
	}
	assert_null(norm);
	assert_null(ign);
	if (strcmp(err.message, message) != 0 || err.kind != kind)
		fail_msg("input: %s\n  expected: [%s] %s\n  got:      [%s] %s", label,
			 orch_error_kind_name(kind), message, orch_error_kind_name(err.kind),
			 err.message);
}

static const char *str_at(const json_t *obj, const char *path)
{
	json_t *v = json_object_get(obj, path);

	return json_string_value(v);
}

static const json_t *container(const json_t *norm, size_t i)
{
	return json_array_get(json_object_get(norm, "containerDefinitions"), i);
}

/* ---- the table ------------------------------------------------------------- */

#define INV ORCH_ERR_INVALID
#define UNS ORCH_ERR_UNSUPPORTED

/* A task with the given containers, and a container "app" with extra fields. */
#define TASK(containers) "{'family':'web','containerDefinitions':[" containers "]}"
#define TASKX(extra, containers) \
	"{'family':'web'," extra ",'containerDefinitions':[" containers "]}"
#define APP(extra) "{'name':'app','image':'busybox','memory':128" extra "}"
#define SIDE(extra) "{'name':'side','image':'busybox','memory':64" extra "}"
#define C0 "containerDefinitions[0]"
#define C1 "containerDefinitions[1]"

/* Rows of the table.  C0_INV: a task of one container, refused as invalid
 * with C0's message.  APP_INV and APP_UNS: container "app" with extra fields
 * is refused as invalid with C0's message, or as not supported (path: the
 * field, after C0).  TASK_INV and TASK_UNS: the same for extra task-level
 * fields beside a plain "app".  HC_RANGE: one healthCheck field out of its
 * range. */
#define C0_INV(container, message) { TASK(container), INV, C0 message }
#define APP_INV(extra, message) C0_INV(APP(extra), message)
#define APP_UNS(extra, path) { TASK(APP(extra)), UNS, C0 path ": not supported by orch" }
#define TASK_INV(extra, message) { TASKX(extra, APP("")), INV, message }
#define TASK_UNS(extra, path) { TASKX(extra, APP("")), UNS, path ": not supported by orch" }
#define HC_RANGE(field, value, range) \
	APP_INV(",'healthCheck':{'command':['CMD','true'],'" field "':" value "}", \
		".healthCheck." field ": must be between " range)

struct table_case {
	const char *json;
	enum orch_error_kind kind;
	const char *message;	/* NULL: must be accepted */
};

static const struct table_case cases[] = {
	/* ---- accepted ---- */
	{ TASK(APP("")), 0, NULL },
	{ TASKX("'cpu':'0.25 vCPU','memory':'0.5GB'", "{'name':'a','image':'busybox'}"), 0, NULL },
	{ TASKX("'networkMode':'awsvpc'", APP(",'portMappings':[{'containerPort':80,'hostPort':80}]")),
	  0, NULL },
	{ TASK(APP(",'ulimits':[{'name':'memlock','softLimit':-1,'hardLimit':-1},"
		   "{'name':'nofile','softLimit':1024,'hardLimit':65535}]")), 0, NULL },
	{ TASKX("'volumes':[],'placementConstraints':[]",
		APP(",'privileged':false,'mountPoints':[],'linuxParameters':"
		    "{'initProcessEnabled':true,'capabilities':{'add':[],'drop':[]}}")), 0, NULL },
	{ TASK(APP(",'user':'1000:1000'")), 0, NULL },
	{ TASK(APP(",'user':'nobody'")), 0, NULL },
	{ TASK(APP(",'restartPolicy':{'enabled':false}")), 0, NULL },
	APP_INV(",'hostPort':null,'cpu':null", ".hostPort: unknown field"),

	/* ---- the body and the task level ---- */
	{ "[]", INV, "request body: must be a JSON object" },
	{ "{'containerDefinitions':[" APP("") "]}", INV, "family: is required" },
	{ "{'family':'web'}", INV, "containerDefinitions: is required" },
	{ "{'family':'web','containerDefinitions':[]}", INV, "containerDefinitions: must not be empty" },
	{ "{'family':'web','containerDefinitions':{}}", INV, "containerDefinitions: must be an array" },
	{ "{'family':'','containerDefinitions':[" APP("") "]}", INV, "family: must not be empty" },
	{ "{'family':'my app','containerDefinitions':[" APP("") "]}", INV,
	  "family: must be 1 to 255 letters, digits, underscores or hyphens" },
	{ "{'family':42,'containerDefinitions':[" APP("") "]}", INV, "family: must be a string" },
	TASK_INV("'famly':'x'", "famly: unknown field"),
	TASK_INV("'taskDefinitionArn':'arn:x'", "taskDefinitionArn: unknown field"),
	TASK_INV("'networkMode':'nat'", "networkMode: must be one of bridge, host, awsvpc, none"),
	TASK_INV("'cpu':'1.3 vCPU'",
		"cpu: must be a whole number of CPU units (\"1024\") or vCPUs (\"1 vCPU\")"),
	TASK_INV("'cpu':'lots'",
		"cpu: must be a whole number of CPU units (\"1024\") or vCPUs (\"1 vCPU\")"),
	TASK_INV("'cpu':64", "cpu: must be between 128 and 262144 CPU units"),
	TASK_INV("'cpu':true", "cpu: must be a string or an integer"),
	TASK_INV("'memory':'-512'",
		"memory: must be a whole number of MiB (\"1024\") or GB (\"1 GB\")"),
	TASK_INV("'memory':0", "memory: must be between 6 and 4194304 MiB"),
	TASK_INV("'memory':1.5", "memory: must be a string or an integer"),
	TASK_INV("'memory':'64'", C0 ".memory: 128 MiB exceeds the task memory (64 MiB)"),
	{ TASKX("'memory':'256'", APP("") ",{'name':'side','image':'busybox','memoryReservation':200}"), INV,
	  "memory: the containers reserve 328 MiB, more than the task memory of 256 MiB" },
	{ TASKX("'cpu':'256'", APP(",'cpu':200") "," SIDE(",'cpu':100")), INV,
	  "cpu: the containers reserve 300 CPU units, more than the task cpu of 256" },
	C0_INV("{'name':'app','image':'busybox'}",
		".memory: memory or memoryReservation is required when the task memory is not set"),
	TASK_UNS("'volumes':[{'name':'data'}]", "volumes"),
	TASK_UNS("'pidMode':'host'", "pidMode"),
	TASK_UNS("'placementConstraints':[{'type':'memberOf','expression':'attribute:x == y'}]",
		"placementConstraints"),
	TASK_UNS("'proxyConfiguration':{'containerName':'app'}", "proxyConfiguration"),
	TASK_UNS("'runtimePlatform':{'cpuArchitecture':'ARM64'}", "runtimePlatform.cpuArchitecture"),
	TASK_UNS("'runtimePlatform':{'operatingSystemFamily':'WINDOWS_SERVER_2022_CORE'}",
		"runtimePlatform.operatingSystemFamily"),
	TASK_INV("'runtimePlatform':{'operatingSystemFamily':'BEOS'}",
		"runtimePlatform.operatingSystemFamily: must be LINUX or a WINDOWS_SERVER_* family"),
	TASK_INV("'requiresCompatibilities':['EC2','K8S']",
		"requiresCompatibilities[1]: must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES"),
	TASK_INV("'tags':[{'key':'team','value':'a','extra':1}]", "tags[0].extra: unknown field"),
	TASK_INV("'tags':[{'value':'a'}]", "tags[0].key: is required"),
	TASK_INV("'ephemeralStorage':{'sizeInGiB':10}",
		"ephemeralStorage.sizeInGiB: must be between 21 and 200"),
	TASK_INV("'taskRoleArn':['arn']", "taskRoleArn: must be a string"),

	/* ---- containers ---- */
	C0_INV("'app'", ": must be an object"),
	APP_INV(",'imgae':'busybox'", ".imgae: unknown field"),
	C0_INV("{'image':'busybox','memory':128}", ".name: is required"),
	C0_INV("{'name':'app','memory':128}", ".image: is required"),
	{ TASK(APP("") "," APP("")), INV,
	  C1 ".name: duplicate container name \"app\" (also containerDefinitions[0])" },
	C0_INV("{'name':'app.1','image':'busybox','memory':128}",
		".name: must be 1 to 255 letters, digits, underscores or hyphens"),
	C0_INV("{'name':'app','image':'busy box','memory':128}",
		".image: must not contain whitespace, control or non-ASCII characters"),
	C0_INV("{'name':'app','image':'','memory':128}", ".image: must not be empty"),
	APP_INV(",'essential':'yes'", ".essential: must be a boolean"),
	{ TASK(APP(",'essential':false")), INV,
	  "containerDefinitions: at least one container must be essential" },
	APP_INV(",'cpu':-1", ".cpu: must be between 0 and 262144"),
	APP_INV(",'cpu':1.5", ".cpu: must be an integer"),
	APP_INV(",'cpu':'512'", ".cpu: must be an integer"),
	C0_INV("{'name':'app','image':'busybox','memory':4}", ".memory: must be between 6 and 4194304"),
	C0_INV("{'name':'app','image':'busybox','memory':9223372036854775807}",
		".memory: must be between 6 and 4194304"),
	C0_INV("{'name':'app','image':'busybox','memory':1e300}", ".memory: must be an integer"),
	APP_INV(",'memoryReservation':256", ".memoryReservation: must not exceed memory (128 MiB)"),
	APP_INV(",'entryPoint':'sh -c'", ".entryPoint: must be an array"),
	APP_INV(",'command':['sleep',10]", ".command[1]: must be a string"),
	APP_INV(",'workingDirectory':'srv'", ".workingDirectory: must be an absolute path"),
	APP_INV(",'user':'a:b:c'", ".user: must be \"uid\", \"uid:gid\", \"user\" or \"user:group\""),
	APP_INV(",'user':'4294967296'",
		".user: must be \"uid\", \"uid:gid\", \"user\" or \"user:group\""),
	{ TASKX("'networkMode':'awsvpc'", APP(",'hostname':'web1'")), INV,
	  C0 ".hostname: not allowed in networkMode awsvpc" },
	APP_INV(",'hostname':'web_1'",
		".hostname: must be letters, digits, hyphens and dots, not starting with a hyphen or dot"),
	APP_INV(",'stopTimeout':121", ".stopTimeout: must be between 0 and 120"),
	APP_INV(",'startTimeout':1", ".startTimeout: must be between 2 and 120"),
	APP_INV(",'readonlyRootFilesystem':1", ".readonlyRootFilesystem: must be a boolean"),

	/* ---- refused container features ---- */
	APP_UNS(",'privileged':true", ".privileged"),
	APP_UNS(",'secrets':[{'name':'A','valueFrom':'arn'}]", ".secrets"),
	APP_UNS(",'mountPoints':[{'sourceVolume':'d','containerPath':'/d'}]", ".mountPoints"),
	APP_UNS(",'volumesFrom':[{'sourceContainer':'x'}]", ".volumesFrom"),
	APP_UNS(",'repositoryCredentials':{'credentialsParameter':'arn'}", ".repositoryCredentials"),
	APP_UNS(",'firelensConfiguration':{'type':'fluentbit'}", ".firelensConfiguration"),
	APP_UNS(",'linuxParameters':{'devices':[{'hostPath':'/dev/kvm'}]}", ".linuxParameters.devices"),
	APP_UNS(",'linuxParameters':{'capabilities':{'add':['NET_ADMIN']}}",
		".linuxParameters.capabilities.add"),
	APP_INV(",'linuxParameters':{'initProcessEnabled':'true'}",
		".linuxParameters.initProcessEnabled: must be a boolean"),
	APP_UNS(",'restartPolicy':{'enabled':true}", ".restartPolicy.enabled"),
	APP_UNS(",'pseudoTerminal':true", ".pseudoTerminal"),
	APP_INV(",'privileged':'false'", ".privileged: must be a boolean"),

	/* ---- port mappings ---- */
	APP_INV(",'portMappings':[{'containerPort':0}]",
		".portMappings[0].containerPort: must be between 1 and 65535"),
	{ TASK(APP("") "," SIDE(",'portMappings':[{'containerPort':80},{'containerPort':70000}]")), INV,
	  C1 ".portMappings[1].containerPort: must be between 1 and 65535" },
	APP_INV(",'portMappings':[{'hostPort':80}]", ".portMappings[0].containerPort: is required"),
	APP_INV(",'portMappings':[{'containerPort':'80'}]",
		".portMappings[0].containerPort: must be an integer"),
	APP_INV(",'portMappings':[{'containerPort':80,'hostPort':-1}]",
		".portMappings[0].hostPort: must be between 0 and 65535"),
	APP_INV(",'portMappings':[{'containerPort':80,'protocol':'sctp'}]",
		".portMappings[0].protocol: must be one of tcp, udp"),
	APP_INV(",'portMappings':[{'containerPort':80,'appProtocol':'ftp'}]",
		".portMappings[0].appProtocol: must be one of http, http2, grpc"),
	APP_INV(",'portMappings':[{'containerPort':80,'name':'Web'}]",
		".portMappings[0].name: must be lowercase letters, digits, underscores or hyphens, not starting with a hyphen"),
	{ TASKX("'networkMode':'host'", APP(",'portMappings':[{'containerPort':80,'hostPort':8080}]")), INV,
	  C0 ".portMappings[0].hostPort: must equal containerPort (80) in networkMode host" },
	{ TASKX("'networkMode':'none'", APP(",'portMappings':[{'containerPort':80}]")), INV,
	  C0 ".portMappings: not allowed in networkMode none" },
	{ TASK(APP(",'portMappings':[{'containerPort':80,'hostPort':8080}]") ","
	       SIDE(",'portMappings':[{'containerPort':81,'hostPort':8080}]")), INV,
	  C1 ".portMappings[0].hostPort: 8080/tcp is already used by containerDefinitions[0].portMappings[0]" },
	{ TASK(APP(",'portMappings':[{'containerPort':80,'hostPort':8080}]") ","
	       SIDE(",'portMappings':[{'containerPort':81,'hostPort':8080,'protocol':'udp'}]")), 0, NULL },
	{ TASK(APP(",'portMappings':[{'containerPort':80}]") ","
	       SIDE(",'portMappings':[{'containerPort':80}]")), INV,
	  C1 ".portMappings[0].containerPort: 80/tcp is already used by containerDefinitions[0].portMappings[0] "
	  "(a task's containers share one network namespace)" },
	APP_INV(",'portMappings':[{'containerPort':80,'name':'web'},{'containerPort':81,'name':'web'}]",
		".portMappings[1].name: duplicate port mapping name \"web\" (also containerDefinitions[0].portMappings[0])"),
	APP_UNS(",'portMappings':[{'containerPort':80,'containerPortRange':'80-90'}]",
		".portMappings[0].containerPortRange"),

	/* ---- environment ---- */
	APP_INV(",'environment':[{'name':'A','value':'1'},{'name':'A','value':'2'}]",
		".environment[1].name: duplicate variable \"A\" (also environment[0])"),
	APP_INV(",'environment':[{'name':'A=B','value':'1'}]",
		".environment[0].name: must be printable ASCII without spaces or '='"),
	APP_INV(",'environment':[{'name':'A','value':1}]", ".environment[0].value: must be a string"),
	APP_INV(",'environment':[{'name':'A'}]", ".environment[0].value: is required"),
	APP_INV(",'environment':{'A':'1'}", ".environment: must be an array"),
	APP_INV(",'environment':[['A','1']]", ".environment[0]: must be an object"),

	/* ---- health checks, ulimits, labels, logs ---- */
	APP_INV(",'healthCheck':{'command':['curl','-f','http://x/']}",
		".healthCheck.command[0]: must be \"CMD\" or \"CMD-SHELL\""),
	APP_INV(",'healthCheck':{'command':['CMD-SHELL']}",
		".healthCheck.command: must name a command after \"CMD-SHELL\""),
	APP_INV(",'healthCheck':{'command':[]}", ".healthCheck.command: must not be empty"),
	APP_INV(",'healthCheck':{'interval':10}", ".healthCheck.command: is required"),
	HC_RANGE("interval", "1", "5 and 300"),
	HC_RANGE("timeout", "61", "2 and 60"),
	HC_RANGE("retries", "0", "1 and 10"),
	HC_RANGE("startPeriod", "301", "0 and 300"),
	APP_INV(",'ulimits':[{'name':'files','softLimit':1,'hardLimit':1}]",
		".ulimits[0].name: must be one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, "
		"nofile, nproc, rss, rtprio, rttime, sigpending, stack"),
	APP_INV(",'ulimits':[{'name':'nofile','softLimit':2048,'hardLimit':1024}]",
		".ulimits[0].softLimit: must not exceed hardLimit (1024)"),
	APP_INV(",'ulimits':[{'name':'nofile','softLimit':1,'hardLimit':1},"
		"{'name':'nofile','softLimit':2,'hardLimit':2}]",
		".ulimits[1].name: duplicate ulimit \"nofile\" (also ulimits[0])"),
	APP_INV(",'ulimits':[{'name':'nofile','softLimit':1}]", ".ulimits[0].hardLimit: is required"),
	APP_INV(",'dockerLabels':{'team':7}", ".dockerLabels[\"team\"]: must be a string"),
	APP_INV(",'dockerLabels':['a']", ".dockerLabels: must be an object"),
	APP_INV(",'logConfiguration':{'logDriver':'awslogs','options':{'a':{}}}",
		".logConfiguration.options[\"a\"]: must be a string"),
	APP_INV(",'logConfiguration':{'options':{}}", ".logConfiguration.logDriver: is required"),

	/* ---- dependsOn ---- */
	APP_INV(",'dependsOn':[{'containerName':'db','condition':'START'}]",
		".dependsOn[0].containerName: no container named \"db\" in this task definition"),
	{ TASK(APP(",'dependsOn':[{'containerName':'side','condition':'READY'}]") "," SIDE("")), INV,
	  C0 ".dependsOn[0].condition: must be one of START, COMPLETE, SUCCESS, HEALTHY" },
	{ TASK(APP(",'dependsOn':[{'containerName':'side'}]") "," SIDE("")), INV,
	  C0 ".dependsOn[0].condition: is required" },
	{ TASK(APP(",'dependsOn':[{'containerName':'side','condition':'HEALTHY'}]") "," SIDE("")), INV,
	  C0 ".dependsOn[0].condition: HEALTHY requires container \"side\" to have a healthCheck" },
	{ TASK(APP(",'dependsOn':[{'containerName':'side','condition':'SUCCESS'}]") "," SIDE("")), INV,
	  C0 ".dependsOn[0].condition: SUCCESS cannot be used on essential container \"side\"" },
	{ TASK(APP(",'dependsOn':[{'containerName':'side','condition':'START'},"
		   "{'containerName':'side','condition':'HEALTHY'}]") "," SIDE("")), INV,
	  C0 ".dependsOn[1].containerName: duplicate dependency on \"side\" (also dependsOn[0])" },
	APP_INV(",'dependsOn':[{'containerName':'app','condition':'START'}]",
		".dependsOn[0].containerName: dependency cycle app -> app"),
	{ TASK(APP(",'dependsOn':[{'containerName':'side','condition':'START'}]") ","
	       SIDE(",'dependsOn':[{'containerName':'app','condition':'START'}]")), INV,
	  C1 ".dependsOn[0].containerName: dependency cycle app -> side -> app" },
	{ TASK("{'name':'a','image':'i','memory':8,'dependsOn':[{'containerName':'b','condition':'START'}]},"
	       "{'name':'b','image':'i','memory':8,'dependsOn':[{'containerName':'c','condition':'START'}]},"
	       "{'name':'c','image':'i','memory':8,'dependsOn':[{'containerName':'a','condition':'START'}]}"),
	  INV, "containerDefinitions[2].dependsOn[0].containerName: dependency cycle a -> b -> c -> a" },
	{ TASK("{'name':'z','image':'i','memory':8,'dependsOn':[{'containerName':'a','condition':'START'}]},"
	       "{'name':'a','image':'i','memory':8,'dependsOn':[{'containerName':'b','condition':'START'}]},"
	       "{'name':'b','image':'i','memory':8,'dependsOn':[{'containerName':'a','condition':'START'}]}"),
	  INV, "containerDefinitions[2].dependsOn[0].containerName: dependency cycle a -> b -> a" },
	{ TASK("{'name':'a','image':'i','memory':8,'dependsOn':[{'containerName':'b','condition':'START'},"
	       "{'containerName':'c','condition':'START'}]},"
	       "{'name':'b','image':'i','memory':8,'dependsOn':[{'containerName':'c','condition':'START'}]},"
	       "{'name':'c','image':'i','memory':8}"), 0, NULL },
	{ TASK(APP(",'dependsOn':[{'containerName':'side','condition':'HEALTHY'}]") ","
	       SIDE(",'healthCheck':{'command':['CMD-SHELL','true']}")), 0, NULL },
	{ TASK(APP(",'dependsOn':[{'containerName':'side','condition':'COMPLETE'}]") ","
	       SIDE(",'essential':false")), 0, NULL },
	APP_INV(",'dependsOn':'side'", ".dependsOn: must be an array"),
};

/* One row of the table, run as its own cmocka test (state = the row). */
static void test_table_case(void **state)
{
	const struct table_case *tc = *state;
	json_t *input;

	if (!tc->message) {
		json_decref(validate_ok(tc->json, NULL));
		return;
	}
	input = parse(tc->json);
	expect_error(input, tc->kind, tc->message, tc->json);
	json_decref(input);
}

/* ---- normalization --------------------------------------------------------- */

static void test_defaults(void **state)
{
	json_t *norm = validate_ok(TASK(APP(",'portMappings':[{'containerPort':80}],"
					    "'healthCheck':{'command':['CMD','true']}")), NULL);
	const json_t *c0 = container(norm, 0);
	const json_t *pm = json_array_get(json_object_get(c0, "portMappings"), 0);
	const json_t *hc = json_object_get(c0, "healthCheck");

	(void)state;
	assert_string_equal(str_at(norm, "networkMode"), "bridge");
	assert_true(json_is_true(json_object_get(c0, "essential")));
	assert_string_equal(str_at(pm, "protocol"), "tcp");
	assert_int_equal(json_integer_value(json_object_get(pm, "hostPort")), 0);
	assert_int_equal(json_integer_value(json_object_get(hc, "interval")), 30);
	assert_int_equal(json_integer_value(json_object_get(hc, "timeout")), 5);
	assert_int_equal(json_integer_value(json_object_get(hc, "retries")), 3);
	assert_int_equal(json_integer_value(json_object_get(hc, "startPeriod")), 0);
	assert_null(json_object_get(norm, "cpu"));
	assert_null(json_object_get(norm, "memory"));
	json_decref(norm);
}

static void test_explicit_values_kept(void **state)
{
	json_t *norm = validate_ok(TASKX("'networkMode':'host'",
		APP(",'essential':true,'portMappings':[{'containerPort':53,'protocol':'udp'}],"
		    "'healthCheck':{'command':['CMD','true'],'interval':10,'retries':5}") ","
		SIDE(",'essential':false")), NULL);
	const json_t *c0 = container(norm, 0);
	const json_t *pm = json_array_get(json_object_get(c0, "portMappings"), 0);
	const json_t *hc = json_object_get(c0, "healthCheck");

	(void)state;
	assert_string_equal(str_at(norm, "networkMode"), "host");
	assert_string_equal(str_at(pm, "protocol"), "udp");
	assert_int_equal(json_integer_value(json_object_get(pm, "hostPort")), 53);
	assert_int_equal(json_integer_value(json_object_get(hc, "interval")), 10);
	assert_int_equal(json_integer_value(json_object_get(hc, "retries")), 5);
	assert_int_equal(json_integer_value(json_object_get(hc, "timeout")), 5);
	assert_true(json_is_false(json_object_get(container(norm, 1), "essential")));
	json_decref(norm);
}

static void test_cpu_memory_normalized(void **state)
{
	static const struct {
		const char *cpu, *memory, *want_cpu, *want_memory;
	} rows[] = {
		{ "'1 vCPU'", "'2 GB'", "1024", "2048" },
		{ "'0.5 vcpu'", "'1GB'", "512", "1024" },
		{ "'.25 vCPU'", "'0.5 GiB'", "256", "512" },
		{ "'2048'", "'512 MiB'", "2048", "512" },
		{ "256", "512", "256", "512" },
		{ "'  1024  '", "' 768 '", "1024", "768" },
		{ "'0.125 vCPU'", "'1.5 gb'", "128", "1536" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[512];
		json_t *norm;

		snprintf(text, sizeof(text),
			 "{'family':'f','cpu':%s,'memory':%s,'containerDefinitions':"
			 "[{'name':'a','image':'i'}]}", rows[i].cpu, rows[i].memory);
		norm = validate_ok(text, NULL);
		assert_string_equal(str_at(norm, "cpu"), rows[i].want_cpu);
		assert_string_equal(str_at(norm, "memory"), rows[i].want_memory);
		json_decref(norm);
	}
}

static void test_awsvpc_host_port_filled(void **state)
{
	json_t *norm = validate_ok(TASKX("'networkMode':'awsvpc'",
		APP(",'portMappings':[{'containerPort':8080}]")), NULL);
	const json_t *pm = json_array_get(json_object_get(container(norm, 0), "portMappings"), 0);

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(pm, "hostPort")), 8080);
	json_decref(norm);
}

static void test_nulls_dropped_and_input_untouched(void **state)
{
	const char *text = TASKX("'cpu':null,'taskRoleArn':null",
				 APP(",'user':null,'environment':[{'name':'A','value':'1'}]"));
	json_t *input = parse(text);
	json_t *before = json_deep_copy(input);
	json_t *norm = NULL, *ign = NULL;
	orch_error err = ORCH_ERROR_INIT;
	json_t *input_env, *norm_env;

	(void)state;
	assert_int_equal(taskdef_validate(input, &norm, &ign, &err), 0);
	assert_true(json_equal(input, before));
	assert_null(json_object_get(norm, "cpu"));
	assert_null(json_object_get(norm, "taskRoleArn"));
	assert_null(json_object_get(container(norm, 0), "user"));
	assert_int_equal(json_array_size(ign), 0);
	/* The normalized definition shares nothing with the input. */
	input_env = json_object_get(json_array_get(json_object_get(input, "containerDefinitions"), 0),
				    "environment");
	norm_env = json_object_get(container(norm, 0), "environment");
	assert_ptr_not_equal(input_env, norm_env);
	json_object_set_new(json_array_get(norm_env, 0), "value", json_string("changed"));
	assert_true(json_equal(input, before));
	json_decref(norm);
	json_decref(ign);
	json_decref(input);
	json_decref(before);
}

static void test_full_example_accepted(void **state)
{
	json_t *ign = NULL;
	json_t *norm = validate_ok(
		"{'family':'shop','networkMode':'bridge','cpu':'1 vCPU','memory':'1 GB',"
		"'taskRoleArn':'arn:aws:iam::1:role/shop','executionRoleArn':'arn:aws:iam::1:role/exec',"
		"'requiresCompatibilities':['EC2'],'tags':[{'key':'team','value':'web'}],"
		"'runtimePlatform':{'cpuArchitecture':'X86_64','operatingSystemFamily':'LINUX'},"
		"'ephemeralStorage':{'sizeInGiB':30},'enableFaultInjection':false,"
		"'containerDefinitions':["
		"{'name':'web','image':'nginx:1.27','cpu':512,'memory':512,'memoryReservation':256,"
		" 'essential':true,'portMappings':[{'containerPort':80,'hostPort':8080,'protocol':'tcp',"
		" 'name':'http','appProtocol':'http'}],"
		" 'entryPoint':['/docker-entrypoint.sh'],'command':['nginx','-g','daemon off;'],"
		" 'environment':[{'name':'MODE','value':'prod'},{'name':'EMPTY','value':''}],"
		" 'workingDirectory':'/srv','user':'www-data:www-data','hostname':'web-1',"
		" 'dependsOn':[{'containerName':'migrate','condition':'SUCCESS'}],"
		" 'startTimeout':60,'stopTimeout':30,"
		" 'healthCheck':{'command':['CMD-SHELL','curl -f http://localhost/ || exit 1'],"
		"  'interval':15,'timeout':3,'retries':2,'startPeriod':10},"
		" 'ulimits':[{'name':'nofile','softLimit':4096,'hardLimit':8192}],"
		" 'dockerLabels':{'com.example.team':'web'},'readonlyRootFilesystem':true,"
		" 'linuxParameters':{'initProcessEnabled':true},'restartPolicy':{'enabled':false},"
		" 'logConfiguration':{'logDriver':'awslogs','options':{'awslogs-group':'shop'}},"
		" 'versionConsistency':'enabled'},"
		"{'name':'migrate','image':'registry.example.com:5000/shop/migrate@sha256:"
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',"
		" 'essential':false,'memory':128,'command':['migrate','up']}]}", &ign);
	json_t *want = parse("['containerDefinitions[0].portMappings[0].name',"
			     "'containerDefinitions[0].portMappings[0].appProtocol',"
			     "'containerDefinitions[0].restartPolicy',"
			     "'containerDefinitions[0].logConfiguration',"
			     "'containerDefinitions[0].versionConsistency',"
			     "'taskRoleArn','executionRoleArn','requiresCompatibilities','tags',"
			     "'runtimePlatform','ephemeralStorage','enableFaultInjection']");

	(void)state;
	if (!json_equal(ign, want)) {
		char *got = json_dumps(ign, 0);

		fail_msg("ignored list: %s", got);
	}
	assert_string_equal(str_at(norm, "cpu"), "1024");
	assert_string_equal(str_at(norm, "memory"), "1024");
	assert_string_equal(str_at(json_object_get(container(norm, 0), "dockerLabels"),
				   "com.example.team"), "web");
	assert_string_equal(str_at(json_object_get(container(norm, 0), "logConfiguration"),
				   "logDriver"), "awslogs");
	json_decref(want);
	json_decref(ign);
	json_decref(norm);
}

static void test_ignored_catalog(void **state)
{
	json_t *catalog = taskdef_ignored_field_catalog();
	json_t *want = parse("['containerDefinitions[].portMappings[].name',"
			     "'containerDefinitions[].portMappings[].appProtocol',"
			     "'containerDefinitions[].restartPolicy',"
			     "'containerDefinitions[].logConfiguration',"
			     "'containerDefinitions[].versionConsistency',"
			     "'taskRoleArn','executionRoleArn','requiresCompatibilities','tags',"
			     "'runtimePlatform','ephemeralStorage','enableFaultInjection']");

	(void)state;
	assert_non_null(catalog);
	if (!json_equal(catalog, want)) {
		char *got = json_dumps(catalog, 0);

		fail_msg("catalog: %s", got);
	}
	json_decref(want);
	json_decref(catalog);
}

static bool list_has(const json_t *list, const char *path)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), path) == 0)
			return true;
	return false;
}

/* Every field in exactly one policy list; the ignored list is the catalog's. */
static void test_field_catalog(void **state)
{
	json_t *catalog = taskdef_field_catalog();
	json_t *ignored = taskdef_ignored_field_catalog();
	const json_t *acted = json_object_get(catalog, "acted");
	const json_t *refused = json_object_get(catalog, "refused");
	const char *key;
	json_t *list, *v;
	size_t i;

	(void)state;
	assert_non_null(catalog);
	assert_true(json_equal(json_object_get(catalog, "ignored"), ignored));
	assert_true(list_has(acted, "containerDefinitions[].linuxParameters.initProcessEnabled"));
	assert_true(list_has(acted, "containerDefinitions[].healthCheck.retries"));
	assert_true(list_has(acted, "containerDefinitions[].linuxParameters"));
	assert_true(list_has(refused, "containerDefinitions[].privileged"));
	assert_true(list_has(refused, "containerDefinitions[].linuxParameters.capabilities.add"));
	/* Nothing below an ignored field: restartPolicy.enabled is not listed. */
	assert_false(list_has(refused, "containerDefinitions[].restartPolicy.enabled"));
	json_object_foreach(catalog, key, list) {
		json_array_foreach(list, i, v) {
			const char *path = json_string_value(v);
			int in = list_has(acted, path) + list_has(ignored, path) + list_has(refused, path);

			if (in != 1)
				fail_msg("%s is in %d policy lists", path, in);
		}
	}
	json_decref(ignored);
	json_decref(catalog);
}

/* ---- hostile inputs built in C --------------------------------------------- */

static json_t *base_task(void)
{
	return parse(TASK(APP("")));
}

static json_t *app_of(json_t *task)
{
	return json_array_get(json_object_get(task, "containerDefinitions"), 0);
}

static void test_deep_nesting_in_labels(void **state)
{
	/* 1000 levels of objects; jansson's own parser allows 2048. */
	size_t depth = 1000, i;
	char *text = malloc(depth * 8 + 64);
	json_t *task = base_task(), *labels;
	json_error_t jerr;
	size_t n = 0;

	(void)state;
	assert_non_null(text);
	n += (size_t)sprintf(text + n, "{\"team\":");
	for (i = 0; i < depth; i++)
		n += (size_t)sprintf(text + n, "{\"a\":");
	n += (size_t)sprintf(text + n, "1");
	for (i = 0; i < depth + 1; i++)
		text[n++] = '}';
	text[n] = '\0';
	labels = json_loads(text, 0, &jerr);
	assert_non_null(labels);
	json_object_set_new(app_of(task), "dockerLabels", labels);
	expect_error(task, INV, C0 ".dockerLabels[\"team\"]: must be a string", "deep labels");
	json_decref(task);
	free(text);
}

static void test_deep_nesting_unknown_field(void **state)
{
	json_t *task = base_task();
	json_t *deep = json_object();
	json_t *cur = deep;
	int i;

	(void)state;
	for (i = 0; i < 500; i++) {
		json_t *next = json_object();

		json_object_set_new(cur, "x", next);
		cur = next;
	}
	json_object_set_new(app_of(task), "extra", deep);
	expect_error(task, INV, C0 ".extra: unknown field", "deep unknown");
	json_decref(task);
}

static void test_too_many_containers(void **state)
{
	json_t *task = parse("{'family':'f','containerDefinitions':[]}");
	json_t *list = json_object_get(task, "containerDefinitions");
	int i;

	(void)state;
	for (i = 0; i < TASKDEF_MAX_CONTAINERS + 1; i++) {
		char name[16];

		snprintf(name, sizeof(name), "c%d", i);
		json_array_append_new(list, json_pack("{s:s, s:s, s:i}", "name", name,
						      "image", "busybox", "memory", 16));
	}
	expect_error(task, INV, "containerDefinitions: must have at most 10 items", "11 containers");
	json_array_remove(list, 0);
	validate_obj_ok(task);
	json_decref(task);
}

static void test_huge_arrays_and_strings(void **state)
{
	json_t *task = base_task();
	json_t *argv = json_array();
	char *long_image = malloc(2001);
	char *long_name = malloc(257);
	int i;

	(void)state;
	for (i = 0; i < 10000; i++)
		json_array_append_new(argv, json_string("x"));
	json_object_set_new(app_of(task), "command", argv);
	expect_error(task, INV, C0 ".command: must have at most 256 items", "10000 args");
	json_object_del(app_of(task), "command");

	memset(long_image, 'a', 2000);
	long_image[2000] = '\0';
	json_object_set_new(app_of(task), "image", json_string(long_image));
	expect_error(task, INV, C0 ".image: must be at most 1024 characters", "long image");
	json_object_set_new(app_of(task), "image", json_string("busybox"));

	memset(long_name, 'n', 256);
	long_name[256] = '\0';
	json_object_set_new(task, "family", json_string(long_name));
	expect_error(task, INV, "family: must be at most 255 characters", "long family");
	long_name[255] = '\0';
	json_object_set_new(task, "family", json_string(long_name));
	validate_obj_ok(task);

	free(long_image);
	free(long_name);
	json_decref(task);
}

static void test_nul_and_control_characters(void **state)
{
	json_t *task = base_task();

	(void)state;
	json_object_set_new(app_of(task), "image", json_stringn("busy\0box", 8));
	expect_error(task, INV, C0 ".image: must not contain NUL characters", "NUL image");
	json_object_set_new(app_of(task), "image", json_string("busy\tbox"));
	expect_error(task, INV, C0 ".image: must not contain whitespace, control or non-ASCII characters",
		     "tab image");
	json_object_set_new(app_of(task), "image", json_string("busybox"));
	json_object_set_new(app_of(task), "workingDirectory", json_string("/srv\n"));
	expect_error(task, INV, C0 ".workingDirectory: must not contain control characters", "newline");
	json_object_del(app_of(task), "workingDirectory");
	/* Unknown keys are quoted safely: control bytes become '?', long ones are cut. */
	json_object_set_new(app_of(task), "bad\x01key\"", json_true());
	expect_error(task, INV, C0 ".bad?key?: unknown field", "control key");
	json_object_del(app_of(task), "bad\x01key\"");
	json_object_setn_new(app_of(task), "image\0x", 7, json_string("x"));
	expect_error(task, INV, C0 ".image?x: unknown field", "NUL key");
	json_decref(task);
}

static void test_long_unknown_key_truncated(void **state)
{
	json_t *task = base_task();
	char key[300];
	char want[128];

	(void)state;
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	json_object_set_new(task, key, json_true());
	memset(want, 'k', 64);
	strcpy(want + 64, "...: unknown field");
	expect_error(task, INV, want, "long key");
	json_decref(task);
}

static void test_too_many_labels(void **state)
{
	json_t *task = base_task();
	json_t *labels = json_object();
	int i;

	(void)state;
	for (i = 0; i < 300; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(labels, key, json_string("v"));
	}
	json_object_set_new(app_of(task), "dockerLabels", labels);
	expect_error(task, INV, C0 ".dockerLabels: must have at most 256 entries", "300 labels");
	json_decref(task);
}

static void test_null_input(void **state)
{
	json_t *norm = NULL, *ign = NULL;
	orch_error err = ORCH_ERROR_INIT;

	(void)state;
	assert_int_equal(taskdef_validate(NULL, &norm, &ign, &err), -1);
	assert_int_equal(err.kind, ORCH_ERR_INVALID);
	assert_string_equal(err.message, "request body: must be a JSON object");
	assert_null(norm);
	assert_null(ign);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_explicit_values_kept),
		cmocka_unit_test(test_cpu_memory_normalized),
		cmocka_unit_test(test_awsvpc_host_port_filled),
		cmocka_unit_test(test_nulls_dropped_and_input_untouched),
		cmocka_unit_test(test_full_example_accepted),
		cmocka_unit_test(test_ignored_catalog),
		cmocka_unit_test(test_field_catalog),
		cmocka_unit_test(test_deep_nesting_in_labels),
		cmocka_unit_test(test_deep_nesting_unknown_field),
		cmocka_unit_test(test_too_many_containers),
		cmocka_unit_test(test_huge_arrays_and_strings),
		cmocka_unit_test(test_nul_and_control_characters),
		cmocka_unit_test(test_long_unknown_key_truncated),
		cmocka_unit_test(test_too_many_labels),
		cmocka_unit_test(test_null_input),
	};
	size_t n_cases = sizeof(cases) / sizeof(cases[0]);
	size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests = calloc(n_cases + n_fixed, sizeof(*tests));
	char **names = calloc(n_cases, sizeof(*names));
	size_t i;
	int failed;

	if (!tests || !names)
		return 1;
	for (i = 0; i < n_cases; i++) {
		/* Name a row by the message it expects, or by its input. */
		if (asprintf(&names[i], "table[%zu] %.100s", i,
			     cases[i].message ? cases[i].message : cases[i].json) < 0)
			return 1;
		tests[i].name = names[i];
		tests[i].test_func = test_table_case;
		tests[i].initial_state = (void *)&cases[i];
	}
	memcpy(tests + n_cases, fixed, sizeof(fixed));
	failed = _cmocka_run_group_tests("taskdef_validate", tests, n_cases + n_fixed, NULL, NULL);
	for (i = 0; i < n_cases; i++)
		free(names[i]);
	free(names);
	free(tests);
	return failed;
}

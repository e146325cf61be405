/*
 * agent_task_cgroup.c - a task's group cgroup on the agent: its limits from
 * the task size, its path, making and removing it.  See agent_task_cgroup.h.
 */
#include "agent_task_cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agent_protocol.h"
#include "common/log.h"

/*
 * A task size value: a JSON integer or a string of digits (the validator
 * stores "256"; RunTask overrides may be either).  0 when absent; -1 when
 * malformed.
 */
static long long size_value(const json_t *v)
{
	const char *s;
	char *end;
	long long n;

	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		return json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
	s = json_string_value(v);
	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	return *end || errno ? -1 : n;
}

int agent_task_cgroup_limits(const json_t *task_definition, const json_t *overrides,
			     struct cgroup_limits *out, orch_error *err)
{
	const json_t *cpu_v = json_object_get(overrides, "cpu");
	const json_t *mem_v = json_object_get(overrides, "memory");
	long long cpu, memory;

	memset(out, 0, sizeof(*out));
	if (!cpu_v)
		cpu_v = json_object_get(task_definition, "cpu");
	if (!mem_v)
		mem_v = json_object_get(task_definition, "memory");
	cpu = size_value(cpu_v);
	memory = size_value(mem_v);
	if (cpu < 0 || cpu > (1LL << 30))
		return orch_fail(err, ORCH_ERR_INVALID, "the task cpu is not a number of CPU units");
	if (memory < 0 || memory > (1LL << 30))
		return orch_fail(err, ORCH_ERR_INVALID, "the task memory is not a number of MiB");
	if (memory > 0)
		out->memory_max = (int64_t)memory << 20;
	if (cpu > 0) {
		/* A ceiling of cpu/1024 CPUs, rounded to the nearest thousandth. */
		out->cpu_millis = (cpu * 1000 + CGROUP_CPU_UNITS_PER_CPU / 2) / CGROUP_CPU_UNITS_PER_CPU;
		if (out->cpu_millis < AGENT_TASK_CPU_MILLIS_MIN)
			out->cpu_millis = AGENT_TASK_CPU_MILLIS_MIN;
		out->cpu_units = cpu;
	}
	return 0;
}

int agent_task_cgroup_path(const char *parent, const char *task_id, char *buf, size_t len,
			   orch_error *err)
{
	if ((size_t)snprintf(buf, len, "%s/" AGENT_TASK_CGROUP_PREFIX "%s", parent, task_id) >= len)
		return orch_fail(err, ORCH_ERR_INVALID, "the cgroup path of task %s is too long",
				 task_id);
	/* What the runtime will check of its containers' cgroup parent (a long --cgroup-parent). */
	return cgroup_parent_validate(buf, err);
}

/* The group's struct cgroup: PARENT + "orch-TASKID". */
static int task_cgroup_init(struct cgroup *cg, const char *parent, const char *task_id,
			    orch_error *err)
{
	char name[sizeof(AGENT_TASK_CGROUP_PREFIX) + AGENT_TASK_ID_HEX_LEN];

	snprintf(name, sizeof(name), AGENT_TASK_CGROUP_PREFIX "%s", task_id);
	return cgroup_init(cg, parent, name, err);
}

int agent_task_cgroup_make(const char *parent, const char *task_id,
			   const struct cgroup_limits *limits, orch_error *err)
{
	struct cgroup cg;

	if (task_cgroup_init(&cg, parent, task_id, err) < 0 ||
	    cgroup_create_group(&cg, limits, err) < 0)
		return orch_error_prefix(err, "the cgroup of task %s", task_id);
	return 0;
}

bool agent_task_cgroup_release(const char *parent, const char *task_id)
{
	orch_error err = ORCH_ERROR_INIT;
	struct cgroup cg;
	int rc;

	if (task_cgroup_init(&cg, parent, task_id, &err) < 0)
		rc = -1;
	else
		rc = cgroup_remove_if_empty(&cg, &err);
	if (rc < 0)
		log_warn("agent: task %s: removing its cgroup: %s", task_id, err.message);
	else if (rc > 0)
		log_debug("agent: task %s: cgroup %s removed (or absent)", task_id, cg.path);
	return rc > 0;
}

static bool task_id_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return i == AGENT_TASK_ID_HEX_LEN;
}

int agent_task_cgroup_list(const char *parent, char ***task_ids, size_t *count,
			   orch_error *err)
{
	size_t plen = strlen(AGENT_TASK_CGROUP_PREFIX), kept = 0;
	char **names = NULL;
	size_t n = 0;

	*task_ids = NULL;
	*count = 0;
	if (cgroup_list_children(parent, &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(names[i], AGENT_TASK_CGROUP_PREFIX, plen) == 0 &&
		    task_id_valid(names[i] + plen)) {
			memmove(names[i], names[i] + plen, strlen(names[i] + plen) + 1);
			names[kept++] = names[i];
		} else {
			free(names[i]);
		}
	}
	*task_ids = names;
	*count = kept;
	return 0;
}

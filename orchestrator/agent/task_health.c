/*
 * task_health.c - container health checks (ECS healthCheck): probes run in
 * the container by container_exec_start, their results, and the task's
 * health from its essential containers'.  See agent_task_internal.h.
 *
 * The first probe runs as soon as the container runs, the next one
 * interval after each result; a probe that outlives its timeout, or cannot
 * be started, failed.  Failures count only after startPeriod; retries
 * consecutive failures make the container UNHEALTHY, one success HEALTHY
 * again.  A field the definition lacks has ECS's default (ecs_defaults.h).
 */
#include "agent_task_internal.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "runtime/container_exec.h"
#include "runtime/spec.h"

void task_health_cancel(struct agent_container *c)
{
	if (c->health_pid > 0) {
		kill(-c->health_pid, SIGKILL);
		waitpid(c->health_pid, NULL, 0);
		c->health_pid = 0;
	}
	if (c->health_pidfd >= 0) {
		close(c->health_pidfd);
		c->health_pidfd = -1;
	}
}

static int health_field(const json_t *hc, const char *key, int dflt)
{
	const json_t *v = json_object_get(hc, key);

	return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* Starts one probe: CMD runs argv, CMD-SHELL runs sh -c. */
static void health_probe_start(struct agent_tasks *t, struct agent_container *c,
			       const json_t *hc, double now)
{
	const json_t *cmd = json_object_get(hc, "command");
	const char *kind = json_string_value(json_array_get(cmd, 0));
	char *argv[SPEC_ARGV_MAX];
	size_t n = 0;
	struct container_exec_options o = { .argv = argv, .stdin_fd = -1, .stdout_fd = -1,
					    .stderr_fd = -1 };
	orch_error err = ORCH_ERROR_INIT;

	if (kind && strcmp(kind, "CMD-SHELL") == 0) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = (char *)(json_string_value(json_array_get(cmd, 1)) ?: "false");
	} else {
		for (size_t i = kind && strcmp(kind, "CMD") == 0 ? 1 : 0;
		     i < json_array_size(cmd) && n < SPEC_ARGV_MAX - 1; i++)
			argv[n++] = (char *)(json_string_value(json_array_get(cmd, i)) ?: "");
	}
	argv[n] = NULL;
	c->health_deadline = now + health_field(hc, "timeout", ECS_DEFAULT_HEALTH_TIMEOUT_S);
	c->health_pid = n ? container_exec_start(t->runtime_dir, c->runtime_id, &o, &err) : -1;
	if (c->health_pid < 0) {
		log_debug("agent: health check of %s: %s", c->runtime_id, err.message);
		c->health_pid = 0;
		return;
	}
	c->health_pidfd = pidfd_open_pid(c->health_pid);
}

/* Records one probe's result; true if the health status changed. */
static bool health_result(struct agent_container *c, const json_t *hc, bool ok, double now)
{
	enum agent_health before = c->health;

	if (ok) {
		c->health = AGENT_HEALTH_HEALTHY;
		c->health_fails = 0;
	} else if (now - c->health_since >=
		   health_field(hc, "startPeriod", ECS_DEFAULT_HEALTH_START_PERIOD_S)) {
		if (++c->health_fails >= health_field(hc, "retries", ECS_DEFAULT_HEALTH_RETRIES))
			c->health = AGENT_HEALTH_UNHEALTHY;
	}
	c->health_next_at = now + health_field(hc, "interval", ECS_DEFAULT_HEALTH_INTERVAL_S);
	return c->health != before;
}

void agent_tasks_health(struct agent_tasks *t)
{
	double now = clock_mono_s();

	for (struct agent_task *task = t->head; task; task = task->next) {
		for (size_t i = 0; i < task->container_count; i++) {
			struct agent_container *c = &task->containers[i];
			const json_t *hc = json_object_get(container_definition(task, i),
							   "healthCheck");
			int status;
			pid_t r;

			if (!hc || c->status != AGENT_CONTAINER_RUNNING || !c->runtime_id[0])
				continue;
			if (!c->health_since) {
				c->health_since = now;
				c->health_next_at = now;
			}
			if (c->health_pid > 0) {
				r = waitpid(c->health_pid, &status, WNOHANG);
				if (r == 0 && now < c->health_deadline)
					continue;
				if (r == 0) {	/* timed out: the probe and its child */
					kill(-c->health_pid, SIGKILL);
					waitpid(c->health_pid, &status, 0);
					status = -1;
				}
				c->health_pid = 0;
				if (c->health_pidfd >= 0) {
					close(c->health_pidfd);
					c->health_pidfd = -1;
				}
				if (health_result(c, hc, status != -1 && WIFEXITED(status) &&
						  WEXITSTATUS(status) == 0, now))
					task_changed(t);
				continue;
			}
			if (now >= c->health_next_at) {
				health_probe_start(t, c, hc, now);
				if (!c->health_pid && health_result(c, hc, false, now))
					task_changed(t);
			}
		}
	}
}

const char *task_health_name(enum agent_health h)
{
	return h == AGENT_HEALTH_HEALTHY ? "HEALTHY" : h == AGENT_HEALTH_UNHEALTHY ? "UNHEALTHY"
		: "UNKNOWN";
}

/* ECS: UNHEALTHY if an essential container is; HEALTHY if all checked essentials are. */
enum agent_health task_health(const struct agent_task *task)
{
	bool any_checked = false, all_healthy = true;

	for (size_t i = 0; i < task->container_count; i++) {
		const struct agent_container *c = &task->containers[i];

		if (!c->essential || !json_object_get(container_definition(task, i), "healthCheck"))
			continue;
		any_checked = true;
		if (c->health == AGENT_HEALTH_UNHEALTHY)
			return AGENT_HEALTH_UNHEALTHY;
		if (c->health != AGENT_HEALTH_HEALTHY)
			all_healthy = false;
	}
	return any_checked && all_healthy ? AGENT_HEALTH_HEALTHY : AGENT_HEALTH_UNKNOWN;
}

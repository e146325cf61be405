/*
 * cli_service.c - `orch service create|update|scale|ls|show|events|rm|autoscale`
 * (CreateService, UpdateService, ListServices, DescribeServices,
 * DeleteService and the service's events, orchestrator/server/api_service.c).
 *
 *   orch service create NAME --task-def FAMILY[:REV] [--desired N] [--daemon]
 *       [--strategy S]... [--constraint C]... [deployment flags] [--wait]
 *   orch service update NAME [--task-def F[:R]] [--desired N]
 *       [--force-new-deployment] [deployment flags] [--wait]
 *   orch service scale NAME N [--wait]
 *   orch service ls | show NAME | events NAME [-f] | rm NAME [--force]
 *   orch service autoscale NAME --min N --max N [--cpu PCT] [--memory PCT]
 *       [--scale-in-cooldown D] [--scale-out-cooldown D] [--no-scale-in] | --off
 *
 * --wait follows the deployment the request made (or the one in progress)
 * until it completes, fails or --timeout passes: see service_wait.  The
 * global flags and the dispatch are cli_verbs.h's.
 */
#include "cli_verbs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_http.h"
#include "cli_output.h"
#include "common/cleanup.h"
#include "common/clock.h"

/* How many --constraint and --strategy flags; the server takes 10 and 5. */
#define SERVICE_MAX_LIST_ARGS 10
/* create's desiredCount for a REPLICA service when --desired is not given. */
#define SERVICE_DEFAULT_DESIRED 1
/* --wait: how often it asks, and how long it waits when --timeout is not given. */
#define SERVICE_WAIT_POLL_MS 500
#define SERVICE_WAIT_DEFAULT_TIMEOUT_S 600
/* events -f: how often it asks for newer events. */
#define SERVICE_EVENTS_POLL_MS 1000
/* show: how many of the newest events it prints. */
#define SERVICE_SHOW_EVENTS 10
/* What the integer flags accept (the server checks again). */
#define SERVICE_MAX_COUNT 10000
#define SERVICE_MAX_SECONDS 86400

/* An integer flag: given or not, so that 0 can be a value. */
struct flag_long {
	bool given;
	long value;
};

/* service's own flags (each verb reads those its usage line names). */
struct service_options {
	const char *task_def;
	struct flag_long desired, max_percent, min_healthy_percent, grace, timeout;
	bool daemon, force_new_deployment, wait, follow, force;
	bool circuit_breaker, rollback, no_circuit_breaker;
	const char *constraints[SERVICE_MAX_LIST_ARGS];
	int constraint_count;
	const char *strategies[SERVICE_MAX_LIST_ARGS];
	int strategy_count;
	/* autoscale */
	struct flag_long min_capacity, max_capacity, cpu_percent, memory_percent;
	struct flag_long scale_in_cooldown, scale_out_cooldown;
	bool no_scale_in, off;
};

enum {
	SERVICE_OPT_TASK_DEF = CLI_OPTION_NOUN,
	SERVICE_OPT_DESIRED,
	SERVICE_OPT_DAEMON,
	SERVICE_OPT_STRATEGY,
	SERVICE_OPT_CONSTRAINT,
	SERVICE_OPT_MAX_PERCENT,
	SERVICE_OPT_MIN_HEALTHY_PERCENT,
	SERVICE_OPT_CIRCUIT_BREAKER,
	SERVICE_OPT_NO_CIRCUIT_BREAKER,
	SERVICE_OPT_ROLLBACK,
	SERVICE_OPT_GRACE,
	SERVICE_OPT_FORCE_NEW_DEPLOYMENT,
	SERVICE_OPT_WAIT,
	SERVICE_OPT_TIMEOUT,
	SERVICE_OPT_FORCE,
	SERVICE_OPT_MIN,
	SERVICE_OPT_MAX,
	SERVICE_OPT_CPU,
	SERVICE_OPT_MEMORY,
	SERVICE_OPT_SCALE_IN_COOLDOWN,
	SERVICE_OPT_SCALE_OUT_COOLDOWN,
	SERVICE_OPT_NO_SCALE_IN,
	SERVICE_OPT_OFF,
	SERVICE_OPT_FOLLOW = 'f',
};

static const struct option service_flags[] = {
	{ "task-def", required_argument, NULL, SERVICE_OPT_TASK_DEF },
	{ "desired", required_argument, NULL, SERVICE_OPT_DESIRED },
	{ "daemon", no_argument, NULL, SERVICE_OPT_DAEMON },
	{ "strategy", required_argument, NULL, SERVICE_OPT_STRATEGY },
	{ "constraint", required_argument, NULL, SERVICE_OPT_CONSTRAINT },
	{ "max-percent", required_argument, NULL, SERVICE_OPT_MAX_PERCENT },
	{ "min-healthy-percent", required_argument, NULL, SERVICE_OPT_MIN_HEALTHY_PERCENT },
	{ "circuit-breaker", no_argument, NULL, SERVICE_OPT_CIRCUIT_BREAKER },
	{ "no-circuit-breaker", no_argument, NULL, SERVICE_OPT_NO_CIRCUIT_BREAKER },
	{ "rollback", no_argument, NULL, SERVICE_OPT_ROLLBACK },
	{ "grace", required_argument, NULL, SERVICE_OPT_GRACE },
	{ "force-new-deployment", no_argument, NULL, SERVICE_OPT_FORCE_NEW_DEPLOYMENT },
	{ "wait", no_argument, NULL, SERVICE_OPT_WAIT },
	{ "timeout", required_argument, NULL, SERVICE_OPT_TIMEOUT },
	{ "force", no_argument, NULL, SERVICE_OPT_FORCE },
	{ "follow", no_argument, NULL, SERVICE_OPT_FOLLOW },
	{ "min", required_argument, NULL, SERVICE_OPT_MIN },
	{ "max", required_argument, NULL, SERVICE_OPT_MAX },
	{ "cpu", required_argument, NULL, SERVICE_OPT_CPU },
	{ "memory", required_argument, NULL, SERVICE_OPT_MEMORY },
	{ "scale-in-cooldown", required_argument, NULL, SERVICE_OPT_SCALE_IN_COOLDOWN },
	{ "scale-out-cooldown", required_argument, NULL, SERVICE_OPT_SCALE_OUT_COOLDOWN },
	{ "no-scale-in", no_argument, NULL, SERVICE_OPT_NO_SCALE_IN },
	{ "off", no_argument, NULL, SERVICE_OPT_OFF },
	{ NULL, 0, NULL, 0 },
};

/* A whole number from min to max into *out; -1 (a usage error) otherwise. */
static int parse_long_flag(const char *flag, const char *arg, long min, long max,
			   struct flag_long *out)
{
	char *end;

	errno = 0;
	out->value = strtol(arg, &end, 10);
	if (errno || end == arg || *end || out->value < min || out->value > max) {
		fprintf(stderr, "orch service: %s: must be a whole number from %ld to %ld\n", flag,
			min, max);
		return -1;
	}
	out->given = true;
	return 0;
}

/* "60", "60s" or "2m" into seconds; -1 (a usage error) otherwise. */
static int parse_duration_flag(const char *flag, const char *arg, struct flag_long *out)
{
	char *end;
	long unit = 1;

	errno = 0;
	out->value = strtol(arg, &end, 10);
	if (*end == 'm')
		unit = 60;
	if (*end == 's' || *end == 'm')
		end++;
	if (errno || end == arg || *end || out->value < 0 ||
	    out->value > SERVICE_MAX_SECONDS / unit) {
		fprintf(stderr, "orch service: %s: expected seconds (60, 60s) or minutes (2m), "
			"at most %d s\n", flag, SERVICE_MAX_SECONDS);
		return -1;
	}
	out->value *= unit;
	out->given = true;
	return 0;
}

static int service_option(void *options, int code, const char *arg)
{
	struct service_options *o = options;

	switch (code) {
	case SERVICE_OPT_TASK_DEF: o->task_def = arg; return 0;
	case SERVICE_OPT_DESIRED:
		return parse_long_flag("--desired", arg, 0, SERVICE_MAX_COUNT, &o->desired);
	case SERVICE_OPT_DAEMON: o->daemon = true; return 0;
	case SERVICE_OPT_STRATEGY:
		return cli_flag_list_add(o->strategies, &o->strategy_count, SERVICE_MAX_LIST_ARGS, arg,
					 "service", "--strategy");
	case SERVICE_OPT_CONSTRAINT:
		return cli_flag_list_add(o->constraints, &o->constraint_count, SERVICE_MAX_LIST_ARGS,
					 arg, "service", "--constraint");
	case SERVICE_OPT_MAX_PERCENT:
		return parse_long_flag("--max-percent", arg, 100, 1000, &o->max_percent);
	case SERVICE_OPT_MIN_HEALTHY_PERCENT:
		return parse_long_flag("--min-healthy-percent", arg, 0, 100, &o->min_healthy_percent);
	case SERVICE_OPT_CIRCUIT_BREAKER: o->circuit_breaker = true; return 0;
	case SERVICE_OPT_NO_CIRCUIT_BREAKER: o->no_circuit_breaker = true; return 0;
	case SERVICE_OPT_ROLLBACK: o->rollback = true; return 0;
	case SERVICE_OPT_GRACE: return parse_duration_flag("--grace", arg, &o->grace);
	case SERVICE_OPT_FORCE_NEW_DEPLOYMENT: o->force_new_deployment = true; return 0;
	case SERVICE_OPT_WAIT: o->wait = true; return 0;
	case SERVICE_OPT_TIMEOUT:
		return parse_long_flag("--timeout", arg, 1, SERVICE_MAX_SECONDS, &o->timeout);
	case SERVICE_OPT_FORCE: o->force = true; return 0;
	case SERVICE_OPT_FOLLOW: o->follow = true; return 0;
	case SERVICE_OPT_MIN:
		return parse_long_flag("--min", arg, 0, SERVICE_MAX_COUNT, &o->min_capacity);
	case SERVICE_OPT_MAX:
		return parse_long_flag("--max", arg, 0, SERVICE_MAX_COUNT, &o->max_capacity);
	case SERVICE_OPT_CPU: return parse_long_flag("--cpu", arg, 1, 100, &o->cpu_percent);
	case SERVICE_OPT_MEMORY:
		return parse_long_flag("--memory", arg, 1, 100, &o->memory_percent);
	case SERVICE_OPT_SCALE_IN_COOLDOWN:
		return parse_duration_flag("--scale-in-cooldown", arg, &o->scale_in_cooldown);
	case SERVICE_OPT_SCALE_OUT_COOLDOWN:
		return parse_duration_flag("--scale-out-cooldown", arg, &o->scale_out_cooldown);
	case SERVICE_OPT_NO_SCALE_IN: o->no_scale_in = true; return 0;
	case SERVICE_OPT_OFF: o->off = true; return 0;
	}
	return -1;
}

/* ---- paths, requests, small formats ---------------------------------------- */

/*
 * /v1/clusters/{cluster}/services[/{name}][suffix], escaped, into *out (the
 * caller frees it).
 */
static int service_path(const struct cli_args *a, const char *name, const char *suffix,
			char **out, orch_error *err)
{
	cleanup_free char *cluster = cli_escape(a->cluster);
	cleanup_free char *escaped = name ? cli_escape(name) : NULL;

	if (!cluster || (name && !escaped) ||
	    asprintf(out, "/v1/clusters/%s/services%s%s%s", cluster, name ? "/" : "",
		     name ? escaped : "", suffix) < 0) {
		*out = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	return 0;
}

/* cli_call with body as compact JSON (NULL: no body). */
static int call_json(const struct cli_conn *conn, const char *method, const char *path,
		     json_t *body, json_t **reply, orch_error *err)
{
	cleanup_free char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (body && !text)
		return orch_fail_errno(err, ENOMEM, "building the request");
	return cli_call(conn, method, path, text, text ? strlen(text) : 0, reply, err);
}

/* DescribeServices of the verb's first argument into *reply. */
static int describe(const struct cli_conn *conn, const struct cli_args *a, json_t **reply,
		    orch_error *err)
{
	cleanup_free char *path = NULL;

	if (service_path(a, a->argv[0], "", &path, err) < 0)
		return -1;
	if (cli_call(conn, "GET", path, NULL, 0, reply, err) < 0)
		return orch_error_prefix(err, "service '%s'", a->argv[0]);
	return 0;
}

static long long int_of(json_t *v)
{
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* An epoch-seconds value as local "YYYY-MM-DD HH:MM:SS", else "-". */
static void format_time(char *buf, size_t size, json_t *v)
{
	time_t t = (time_t)json_number_value(v);
	struct tm tm;

	if (!json_is_number(v) || !localtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
}

/* The first of service's deployments whose string field is value, or NULL. */
static json_t *deployment_where(json_t *service, const char *field, const char *value)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(service, "deployments"), i, d)
		if (strcmp(cli_str(json_object_get(d, field)), value) == 0)
			return d;
	return NULL;
}

static json_t *primary_deployment(json_t *service)
{
	return deployment_where(service, "status", "PRIMARY");
}

/* ---- --wait -------------------------------------------------------------- */

/*
 * Where --wait's progress goes: stdout, or stderr under --json (stdout then
 * holds only JSON).  On a terminal one line is rewritten in place; elsewhere
 * a line is printed when it differs from the one before.
 */
struct progress {
	FILE *out;
	bool tty;
	char last[256];
	size_t shown;		/* tty: the width of the line now on screen */
};

static void progress_show(struct progress *p, const char *line)
{
	size_t len = strlen(line);

	if (!p->tty) {
		if (strcmp(line, p->last) != 0)
			fprintf(p->out, "%s\n", line);
	} else {
		fprintf(p->out, "\r%s%*s", line, p->shown > len ? (int)(p->shown - len) : 0, "");
		p->shown = len;
	}
	snprintf(p->last, sizeof(p->last), "%s", line);
	fflush(p->out);
}

/* Ends a tty's rewritten line so what follows starts on a line of its own. */
static void progress_end(struct progress *p)
{
	if (p->tty && p->shown) {
		fputc('\n', p->out);
		p->shown = 0;
	}
	fflush(p->out);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* wait_check's answers besides -1. */
enum wait_state {
	WAIT_GOING,		/* the target is the PRIMARY, still rolling out */
	WAIT_DONE,		/* ... and complete */
	WAIT_REPLACED,		/* another deployment is the PRIMARY now */
};

/*
 * One look at the service for --wait: where deployment `target` stands,
 * and its progress shown.  Done is: the PRIMARY, COMPLETED, the only
 * deployment, running as many tasks as desired.  -1 with err when it
 * cannot finish where it is: its rollout FAILED and it is still the
 * PRIMARY (no rollback), or the service is being deleted.
 */
static int wait_check(json_t *service, const char *target, struct progress *p, orch_error *err)
{
	json_t *d = deployment_where(service, "id", target);
	const char *state = cli_str(json_object_get(d, "rolloutState"));
	char line[sizeof(p->last)];

	if (strcmp(cli_str(json_object_get(service, "status")), "ACTIVE") != 0)
		return orch_fail(err, ORCH_ERR_CONFLICT, "service '%s' is %s: it is being deleted",
				 cli_str(json_object_get(service, "serviceName")),
				 cli_str(json_object_get(service, "status")));
	if (!d || d != primary_deployment(service))
		return WAIT_REPLACED;
	snprintf(line, sizeof(line), "deployment %s: %lld/%lld running, %lld pending, "
		 "%lld failed  [%s]", target, int_of(json_object_get(d, "runningCount")),
		 int_of(json_object_get(d, "desiredCount")), int_of(json_object_get(d, "pendingCount")),
		 int_of(json_object_get(d, "failedTasks")), state);
	progress_show(p, line);
	if (strcmp(state, "FAILED") == 0)
		return orch_fail(err, ORCH_ERR_CONFLICT, "deployment %s failed: %s", target,
				 cli_str(json_object_get(d, "rolloutStateReason")));
	if (strcmp(state, "COMPLETED") == 0 &&
	    json_array_size(json_object_get(service, "deployments")) == 1 &&
	    int_of(json_object_get(d, "runningCount")) == int_of(json_object_get(d, "desiredCount")))
		return WAIT_DONE;
	return WAIT_GOING;
}

/*
 * The message of the newest event that names deployment `id` and contains
 * `word`, or NULL.  The service's events are where the reconciler tells
 * what it did to a deployment (service_reconciler.c): "deployment ID
 * failed: REASON", "rolling back to F:R in deployment ID".
 */
static const char *event_about(json_t *events, const char *id, const char *word)
{
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e) {
		const char *message = json_string_value(json_object_get(e, "message"));

		if (message && strstr(message, id) && strstr(message, word))
			return message;
	}
	return NULL;
}

/*
 * Why `target` is no longer the PRIMARY of `service`, into err: the
 * circuit breaker failed it and rolled back, it failed for another reason,
 * or a newer request replaced it.  A failed deployment with no tasks left
 * leaves the list at once (INACTIVE), so a poll seldom sees it FAILED, and
 * the rollback's deployment may already be COMPLETED: the service's events
 * are what tell.
 */
static int wait_explain(const struct cli_conn *conn, const struct cli_args *a,
			const char *target, json_t *service, orch_error *err)
{
	cleanup_free char *path = NULL;
	cleanup_json json_t *reply = NULL;
	json_t *primary = primary_deployment(service), *events;
	const char *primary_id = cli_str(json_object_get(primary, "id"));
	const char *failure, *reason;

	if (service_path(a, a->argv[0], "/events", &path, err) < 0)
		return -1;
	if (cli_call(conn, "GET", path, NULL, 0, &reply, err) < 0)
		return orch_error_prefix(err, "service '%s'", a->argv[0]);
	events = json_object_get(reply, "events");
	failure = event_about(events, target, "failed: ");
	reason = failure ? strstr(failure, "failed: ") + strlen("failed: ") : "";
	if (primary && event_about(events, primary_id, "rolling back"))
		return orch_fail(err, ORCH_ERR_CONFLICT, "deployment %s failed and was rolled back "
				 "to %s (deployment %s)%s%s", target,
				 cli_arn_id(cli_str(json_object_get(primary, "taskDefinition"))),
				 primary_id, *reason ? ": " : "", reason);
	if (failure)
		return orch_fail(err, ORCH_ERR_CONFLICT, "deployment %s failed: %s", target, reason);
	return orch_fail(err, ORCH_ERR_CONFLICT, "deployment %s was replaced by a newer "
			 "deployment (%s)", target, primary_id);
}

/*
 * --wait: follows the PRIMARY deployment of `service` (the reply to the
 * request that made or changed it) by DescribeServices every
 * SERVICE_WAIT_POLL_MS until it is done or cannot be, or --timeout seconds
 * pass.  0 when done; -1 with err otherwise.
 */
static int service_wait(const struct cli_conn *conn, const struct cli_args *a, json_t *service,
			orch_error *err)
{
	const struct service_options *o = a->options;
	long timeout_s = o->timeout.given ? o->timeout.value : SERVICE_WAIT_DEFAULT_TIMEOUT_S;
	int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
	struct progress p = { .out = a->json ? stderr : stdout };
	cleanup_free char *target = NULL;
	json_t *primary = primary_deployment(service);

	p.tty = isatty(fileno(p.out));
	if (!primary || !json_is_string(json_object_get(primary, "id")))
		return orch_fail(err, ORCH_ERR_INTERNAL, "service '%s': the server named no PRIMARY "
				 "deployment to wait for", a->argv[0]);
	target = strdup(json_string_value(json_object_get(primary, "id")));
	if (!target)
		return orch_fail_errno(err, ENOMEM, "waiting");
	for (;;) {
		cleanup_json json_t *reply = NULL;
		int rc;

		rc = describe(conn, a, &reply, err);
		if (rc == 0)
			rc = wait_check(json_object_get(reply, "service"), target, &p, err);
		if (rc != WAIT_GOING)
			progress_end(&p);
		if (rc == WAIT_REPLACED)
			return wait_explain(conn, a, target, json_object_get(reply, "service"), err);
		if (rc == WAIT_DONE) {
			fprintf(p.out, "deployment %s completed\n", target);
			return 0;
		}
		if (rc < 0)
			return -1;
		if (clock_mono_ms() + SERVICE_WAIT_POLL_MS > deadline) {
			progress_end(&p);
			return orch_fail(err, ORCH_ERR_INTERNAL, "deployment %s: not complete after "
					 "%ld s (--timeout)", target, timeout_s);
		}
		sleep_ms(SERVICE_WAIT_POLL_MS);
	}
}

/* ---- create, update, scale ----------------------------------------------- */

/*
 * The flags create and update share into body: placement, the deployment
 * configuration, the health check grace period.
 */
static int put_deployment_flags(json_t *body, const struct service_options *o, orch_error *err)
{
	json_t *dc = json_object();

	if (cli_set_placement(body, "placementConstraints", o->constraints, o->constraint_count,
			      cli_placement_constraint, err) < 0 ||
	    cli_set_placement(body, "placementStrategy", o->strategies, o->strategy_count,
			      cli_placement_strategy, err) < 0) {
		json_decref(dc);
		return -1;
	}
	if (o->max_percent.given)
		json_object_set_new(dc, "maximumPercent", json_integer(o->max_percent.value));
	if (o->min_healthy_percent.given)
		json_object_set_new(dc, "minimumHealthyPercent",
				    json_integer(o->min_healthy_percent.value));
	/* --rollback asks for the breaker too: it is what decides to roll back. */
	if (o->circuit_breaker || o->rollback || o->no_circuit_breaker)
		json_object_set_new(dc, "deploymentCircuitBreaker",
				    json_pack("{s:b, s:b}", "enable", !o->no_circuit_breaker,
					      "rollback", o->rollback && !o->no_circuit_breaker));
	if (json_object_size(dc))
		json_object_set_new(body, "deploymentConfiguration", dc);
	else
		json_decref(dc);
	if (o->grace.given)
		json_object_set_new(body, "healthCheckGracePeriodSeconds", json_integer(o->grace.value));
	return 0;
}

/*
 * What create, update and scale print: the reply's service in a line (or
 * the reply under --json), then --wait's progress when asked.
 */
static int report_change(const struct cli_conn *conn, const struct cli_args *a, json_t *reply,
			 const char *done, orch_error *err)
{
	const struct service_options *o = a->options;
	json_t *service = json_object_get(reply, "service");
	json_t *primary = primary_deployment(service);
	/* The PRIMARY deployment's is the definition the request asked for. */
	json_t *taskdef = json_object_get(primary ? primary : service, "taskDefinition");

	if (a->json) {
		cli_print_json(reply);
		fflush(stdout);
	} else {
		printf("service %s %s: desired %lld, task definition %s, deployment %s\n",
		       cli_str(json_object_get(service, "serviceName")), done,
		       int_of(json_object_get(service, "desiredCount")), cli_arn_id(cli_str(taskdef)),
		       cli_str(json_object_get(primary, "id")));
		fflush(stdout);
	}
	return o->wait ? service_wait(conn, a, service, err) : 0;
}

static int service_create(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct service_options *o = a->options;
	cleanup_json json_t *body = NULL, *reply = NULL;
	cleanup_free char *path = NULL;

	if (!o->task_def) {
		fprintf(stderr, "orch service create: --task-def FAMILY[:REV] is required\n");
		return CLI_EXIT_USAGE;
	}
	body = json_pack("{s:s, s:s, s:s}", "serviceName", a->argv[0], "taskDefinition",
			 o->task_def, "schedulingStrategy", o->daemon ? "DAEMON" : "REPLICA");
	if (!body)
		return orch_fail_errno(err, ENOMEM, "building the request");
	/* A DAEMON service's count is its nodes': sent only to be refused. */
	if (!o->daemon || o->desired.given)
		json_object_set_new(body, "desiredCount", json_integer(o->desired.given
				    ? o->desired.value : SERVICE_DEFAULT_DESIRED));
	if (put_deployment_flags(body, o, err) < 0 || service_path(a, NULL, "", &path, err) < 0)
		return -1;
	if (call_json(conn, "POST", path, body, &reply, err) < 0)
		return orch_error_prefix(err, "creating service '%s'", a->argv[0]);
	return report_change(conn, a, reply, "created", err);
}

/* PATCH body to the service; prints and waits as report_change. */
static int patch_service(const struct cli_conn *conn, const struct cli_args *a, json_t *body,
			 const char *done, orch_error *err)
{
	cleanup_json json_t *reply = NULL;
	cleanup_free char *path = NULL;

	if (service_path(a, a->argv[0], "", &path, err) < 0)
		return -1;
	if (call_json(conn, "PATCH", path, body, &reply, err) < 0)
		return orch_error_prefix(err, "service '%s'", a->argv[0]);
	return report_change(conn, a, reply, done, err);
}

static int service_update(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct service_options *o = a->options;
	cleanup_json json_t *body = json_object();

	if (!body)
		return orch_fail_errno(err, ENOMEM, "building the request");
	if (o->task_def)
		json_object_set_new(body, "taskDefinition", json_string(o->task_def));
	if (o->desired.given)
		json_object_set_new(body, "desiredCount", json_integer(o->desired.value));
	if (o->force_new_deployment)
		json_object_set_new(body, "forceNewDeployment", json_true());
	if (put_deployment_flags(body, o, err) < 0)
		return -1;
	if (json_object_size(body) == 0) {
		fprintf(stderr, "orch service update: nothing to change (--task-def, --desired, "
			"--force-new-deployment or a deployment flag)\n");
		return CLI_EXIT_USAGE;
	}
	return patch_service(conn, a, body, "updated", err);
}

static int service_scale(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	struct flag_long count = { 0 };
	cleanup_json json_t *body = NULL;

	if (parse_long_flag("the count", a->argv[1], 0, SERVICE_MAX_COUNT, &count) < 0)
		return CLI_EXIT_USAGE;
	body = json_pack("{s:I}", "desiredCount", (json_int_t)count.value);
	if (!body)
		return orch_fail_errno(err, ENOMEM, "building the request");
	return patch_service(conn, a, body, "scaled", err);
}

/* ---- autoscale ------------------------------------------------------------ */

static int service_autoscale(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct service_options *o = a->options;
	cleanup_json json_t *body = NULL;
	json_t *as;

	if (o->off) {
		if (o->min_capacity.given || o->max_capacity.given || o->cpu_percent.given ||
		    o->memory_percent.given || o->scale_in_cooldown.given ||
		    o->scale_out_cooldown.given || o->no_scale_in) {
			fprintf(stderr, "orch service autoscale: --off takes no other flag\n");
			return CLI_EXIT_USAGE;
		}
		body = json_pack("{s:n}", "autoScaling");
		return body ? patch_service(conn, a, body, "no longer autoscaled", err)
			    : orch_fail_errno(err, ENOMEM, "building the request");
	}
	if (!o->min_capacity.given || !o->max_capacity.given ||
	    o->min_capacity.value > o->max_capacity.value) {
		fprintf(stderr, "orch service autoscale: --min N and --max N are required, "
			"N of --min at most --max's (or --off)\n");
		return CLI_EXIT_USAGE;
	}
	as = json_pack("{s:I, s:I, s:b}", "minCapacity", (json_int_t)o->min_capacity.value,
		       "maxCapacity", (json_int_t)o->max_capacity.value, "disableScaleIn",
		       o->no_scale_in);
	body = json_pack("{s:o}", "autoScaling", as);
	if (!body)
		return orch_fail_errno(err, ENOMEM, "building the request");
	if (o->cpu_percent.given)
		json_object_set_new(as, "targetCpuPercent", json_integer(o->cpu_percent.value));
	if (o->memory_percent.given)
		json_object_set_new(as, "targetMemoryPercent", json_integer(o->memory_percent.value));
	if (o->scale_in_cooldown.given)
		json_object_set_new(as, "scaleInCooldownSeconds",
				    json_integer(o->scale_in_cooldown.value));
	if (o->scale_out_cooldown.given)
		json_object_set_new(as, "scaleOutCooldownSeconds",
				    json_integer(o->scale_out_cooldown.value));
	return patch_service(conn, a, body, "autoscaled", err);
}

/* ---- ls, show -------------------------------------------------------------- */

static int service_ls(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	cleanup_free char *path = NULL;
	cleanup_json json_t *services = NULL;
	struct cli_table t = { .columns = 7 };
	json_t *s;
	size_t i;

	if (service_path(a, NULL, "", &path, err) < 0)
		return -1;
	if (cli_list_all(conn, path, NULL, "services", &services, err) < 0)
		return orch_error_prefix(err, "listing services in cluster '%s'", a->cluster);
	if (a->json) {
		cli_print_list_json(services, "services", "serviceArns", "serviceArn");
		return 0;
	}
	cli_table_row(&t, (const char *[]){ "NAME", "STATUS", "DESIRED", "RUNNING", "PENDING",
					    "TASK-DEF", "ROLLOUT" });
	json_array_foreach(services, i, s) {
		char desired[24], running[24], pending[24];

		cli_format_int(desired, sizeof(desired), json_object_get(s, "desiredCount"));
		cli_format_int(running, sizeof(running), json_object_get(s, "runningCount"));
		cli_format_int(pending, sizeof(pending), json_object_get(s, "pendingCount"));
		cli_table_row(&t, (const char *[]){ cli_str(json_object_get(s, "serviceName")),
			cli_str(json_object_get(s, "status")), desired, running, pending,
			cli_arn_id(cli_str(json_object_get(s, "taskDefinition"))),
			cli_str(json_object_get(primary_deployment(s), "rolloutState")) });
	}
	cli_table_print_release(&t);
	return 0;
}

/* "distinctInstance, memberOf:EXPR" / "spread:instanceId, random" into buf. */
static void format_placement(char *buf, size_t size, json_t *list, const char *detail)
{
	size_t used = 0;
	json_t *p;
	size_t i;

	snprintf(buf, size, "-");
	json_array_foreach(list, i, p) {
		const char *more = json_string_value(json_object_get(p, detail));
		int n = snprintf(buf + used, size - used, "%s%s%s%s", i ? ", " : "",
				 cli_str(json_object_get(p, "type")), more ? ":" : "", more ? more : "");

		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

static void print_summary(json_t *s)
{
	json_t *dc = json_object_get(s, "deploymentConfiguration");
	json_t *breaker = json_object_get(dc, "deploymentCircuitBreaker");
	json_t *as = json_object_get(s, "autoScaling");
	char text[512];

	printf("%-16s %s\n", "service", cli_str(json_object_get(s, "serviceArn")));
	printf("%-16s %s\n", "status", cli_str(json_object_get(s, "status")));
	printf("%-16s %s\n", "scheduling", cli_str(json_object_get(s, "schedulingStrategy")));
	printf("%-16s %s\n", "task definition",
	       cli_arn_id(cli_str(json_object_get(s, "taskDefinition"))));
	printf("%-16s desired %lld, running %lld, pending %lld\n", "tasks",
	       int_of(json_object_get(s, "desiredCount")), int_of(json_object_get(s, "runningCount")),
	       int_of(json_object_get(s, "pendingCount")));
	printf("%-16s max %lld%%, min healthy %lld%%, circuit breaker %s\n", "deployments",
	       int_of(json_object_get(dc, "maximumPercent")),
	       int_of(json_object_get(dc, "minimumHealthyPercent")),
	       !json_is_true(json_object_get(breaker, "enable")) ? "off"
	       : json_is_true(json_object_get(breaker, "rollback")) ? "on, with rollback" : "on");
	format_placement(text, sizeof(text), json_object_get(s, "placementConstraints"), "expression");
	printf("%-16s %s\n", "constraints", text);
	format_placement(text, sizeof(text), json_object_get(s, "placementStrategy"), "field");
	printf("%-16s %s\n", "strategy", text);
	if (json_is_integer(json_object_get(s, "healthCheckGracePeriodSeconds")))
		printf("%-16s %lld s\n", "grace period",
		       int_of(json_object_get(s, "healthCheckGracePeriodSeconds")));
	if (json_is_object(as)) {
		printf("%-16s %lld to %lld tasks", "autoscaling",
		       int_of(json_object_get(as, "minCapacity")),
		       int_of(json_object_get(as, "maxCapacity")));
		if (json_is_integer(json_object_get(as, "targetCpuPercent")))
			printf(", cpu %lld%%", int_of(json_object_get(as, "targetCpuPercent")));
		if (json_is_integer(json_object_get(as, "targetMemoryPercent")))
			printf(", memory %lld%%", int_of(json_object_get(as, "targetMemoryPercent")));
		if (json_is_true(json_object_get(as, "disableScaleIn")))
			printf(", no scale-in");
		putchar('\n');
	}
	if (json_is_string(json_object_get(s, "pendingReason")))
		printf("%-16s %s\n", "pending reason", cli_str(json_object_get(s, "pendingReason")));
	format_time(text, sizeof(text), json_object_get(s, "createdAt"));
	printf("%-16s %s\n", "created at", text);
}

static void print_deployments(json_t *s)
{
	struct cli_table t = { .columns = 8 };
	json_t *d;
	size_t i;

	cli_table_row(&t, (const char *[]){ "DEPLOYMENT", "STATUS", "TASK-DEF", "DESIRED",
					    "RUNNING", "PENDING", "FAILED", "ROLLOUT" });
	json_array_foreach(json_object_get(s, "deployments"), i, d) {
		char desired[24], running[24], pending[24], failed[24];

		cli_format_int(desired, sizeof(desired), json_object_get(d, "desiredCount"));
		cli_format_int(running, sizeof(running), json_object_get(d, "runningCount"));
		cli_format_int(pending, sizeof(pending), json_object_get(d, "pendingCount"));
		cli_format_int(failed, sizeof(failed), json_object_get(d, "failedTasks"));
		cli_table_row(&t, (const char *[]){ cli_str(json_object_get(d, "id")),
			cli_str(json_object_get(d, "status")),
			cli_arn_id(cli_str(json_object_get(d, "taskDefinition"))), desired, running,
			pending, failed, cli_str(json_object_get(d, "rolloutState")) });
	}
	cli_table_print_release(&t);
	/* Why a rollout failed is worth its own line; the other reasons are routine. */
	json_array_foreach(json_object_get(s, "deployments"), i, d)
		if (strcmp(cli_str(json_object_get(d, "rolloutState")), "FAILED") == 0)
			printf("%s: %s\n", cli_str(json_object_get(d, "id")),
			       cli_str(json_object_get(d, "rolloutStateReason")));
}

/* The service's tasks; CPU and MEM columns when an agent reported usage. */
static void print_tasks(json_t *tasks)
{
	struct cli_table t = { .columns = 5 };
	json_t *task;
	size_t i;

	json_array_foreach(tasks, i, task)
		if (json_is_object(json_object_get(task, "usage")))
			t.columns = 7;
	cli_table_row(&t, (const char *[]){ "TASK", "TASK-DEF", "LAST", "HEALTH", "NODE", "CPU",
					    "MEM" });
	json_array_foreach(tasks, i, task) {
		json_t *usage = json_object_get(task, "usage");
		json_t *cpu = json_object_get(usage, "cpuUnits"), *mem = json_object_get(usage, "memoryMiB");
		char cpu_text[32] = "-", mem_text[32] = "-";

		if (json_is_number(cpu))
			snprintf(cpu_text, sizeof(cpu_text), "%.0f", json_number_value(cpu));
		if (json_is_number(mem))
			snprintf(mem_text, sizeof(mem_text), "%.1fMiB", json_number_value(mem));
		cli_table_row(&t, (const char *[]){ cli_str(json_object_get(task, "taskId")),
			cli_arn_id(cli_str(json_object_get(task, "taskDefinitionArn"))),
			cli_str(json_object_get(task, "lastStatus")),
			cli_str(json_object_get(task, "healthStatus")),
			cli_arn_id(cli_str(json_object_get(task, "containerInstanceArn"))), cpu_text,
			mem_text });
	}
	cli_table_print_release(&t);
}

/* One event as "TIME  MESSAGE" (or a compact JSON line under --json). */
static void print_event(json_t *e, bool json)
{
	char when[32];

	if (json) {
		json_dumpf(e, stdout, JSON_COMPACT);
		putchar('\n');
		return;
	}
	format_time(when, sizeof(when), json_object_get(e, "createdAt"));
	printf("%s  %s\n", when, cli_str(json_object_get(e, "message")));
}

/* The newest `most` of events (given newest first), printed oldest first. */
static void print_events_newest_first(json_t *events, size_t most, bool json)
{
	size_t n = json_array_size(events);

	for (size_t i = n < most ? n : most; i > 0; i--)
		print_event(json_array_get(events, i - 1), json);
}

static int service_show(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	cleanup_json json_t *reply = NULL, *tasks = NULL;
	cleanup_free char *cluster = cli_escape(a->cluster), *name = cli_escape(a->argv[0]);
	cleanup_free char *path = NULL, *query = NULL;
	json_t *s;

	if (!cluster || !name || asprintf(&path, "/v1/clusters/%s/tasks", cluster) < 0) {
		path = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	if (asprintf(&query, "serviceName=%s", name) < 0) {
		query = NULL;
		return orch_fail_errno(err, ENOMEM, "building the request");
	}
	if (describe(conn, a, &reply, err) < 0)
		return -1;
	s = json_object_get(reply, "service");
	if (cli_list_all(conn, path, query, "tasks", &tasks, err) < 0)
		return orch_error_prefix(err, "listing the tasks of service '%s'", a->argv[0]);
	if (a->json) {
		json_object_set(reply, "tasks", tasks);
		cli_print_json(reply);
		return 0;
	}
	print_summary(s);
	putchar('\n');
	print_deployments(s);
	putchar('\n');
	print_tasks(tasks);
	if (json_array_size(json_object_get(s, "events"))) {
		putchar('\n');
		print_events_newest_first(json_object_get(s, "events"), SERVICE_SHOW_EVENTS, false);
	}
	return 0;
}

/* ---- events, rm ----------------------------------------------------------- */

/* The highest event ID in events (IDs are decimal strings), or since. */
static long long last_event_id(json_t *events, long long since)
{
	json_t *e;
	size_t i;

	json_array_foreach(events, i, e) {
		long long id = strtoll(cli_str(json_object_get(e, "id")), NULL, 10);

		if (id > since)
			since = id;
	}
	return since;
}

/*
 * events: the newest events, oldest first.  With -f it then asks every
 * SERVICE_EVENTS_POLL_MS for those after the last one it printed, holding
 * no more than one answer at a time, until it is interrupted or the
 * service cannot be read.
 */
static int service_events(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct service_options *o = a->options;
	cleanup_free char *path = NULL;
	json_t *reply = NULL;
	long long last;

	if (service_path(a, a->argv[0], "/events", &path, err) < 0)
		return -1;
	if (cli_call(conn, "GET", path, NULL, 0, &reply, err) < 0)
		return orch_error_prefix(err, "service '%s'", a->argv[0]);
	if (a->json && !o->follow)
		cli_print_json(reply);
	else
		print_events_newest_first(json_object_get(reply, "events"), SIZE_MAX, a->json);
	fflush(stdout);
	last = last_event_id(json_object_get(reply, "events"), 0);
	json_decref(reply);
	while (o->follow) {
		cleanup_free char *after = NULL;
		json_t *e;
		size_t i;

		sleep_ms(SERVICE_EVENTS_POLL_MS);
		if (asprintf(&after, "%s?after=%lld", path, last) < 0) {
			after = NULL;
			return orch_fail_errno(err, ENOMEM, "building the request");
		}
		if (cli_call(conn, "GET", after, NULL, 0, &reply, err) < 0)
			return orch_error_prefix(err, "service '%s'", a->argv[0]);
		json_array_foreach(json_object_get(reply, "events"), i, e)
			print_event(e, a->json);
		fflush(stdout);
		last = last_event_id(json_object_get(reply, "events"), last);
		json_decref(reply);
	}
	return 0;
}

static int service_rm(struct cli_conn *conn, const struct cli_args *a, orch_error *err)
{
	const struct service_options *o = a->options;
	cleanup_json json_t *reply = NULL;
	cleanup_free char *path = NULL;

	if (service_path(a, a->argv[0], o->force ? "?force=true" : "", &path, err) < 0)
		return -1;
	if (cli_call(conn, "DELETE", path, NULL, 0, &reply, err) < 0)
		return orch_error_prefix(err, "deleting service '%s'", a->argv[0]);
	if (a->json)
		cli_print_json(reply);
	else
		printf("service %s is %s: its tasks are stopping\n", a->argv[0],
		       cli_str(json_object_get(json_object_get(reply, "service"), "status")));
	return 0;
}

#define SERVICE_DEPLOYMENT_FLAGS_USAGE \
	"        [--strategy spread:FIELD|binpack:cpu|memory|random]... " \
	"[--constraint distinctInstance|'memberOf:EXPR']...\n" \
	"        [--max-percent N] [--min-healthy-percent N] [--circuit-breaker [--rollback]] " \
	"[--grace SECONDS]\n"
#define SERVICE_WAIT_USAGE \
	"        --wait: until the deployment completes (exit 0) or fails (exit 1); " \
	"--timeout SECONDS (default 600)"

static const struct cli_verb service_verbs[] = {
	{ "create", "orch service create NAME --task-def FAMILY[:REV] [--desired N (default 1)] "
	  "[--daemon] [--cluster C]\n" SERVICE_DEPLOYMENT_FLAGS_USAGE
	  "        [--wait [--timeout SECONDS]]\n" SERVICE_WAIT_USAGE,
	  1, 1, false, service_create },
	{ "update", "orch service update NAME [--task-def FAMILY[:REV]] [--desired N] "
	  "[--force-new-deployment] [--cluster C]\n" SERVICE_DEPLOYMENT_FLAGS_USAGE
	  "        [--no-circuit-breaker] [--wait [--timeout SECONDS]]\n" SERVICE_WAIT_USAGE,
	  1, 1, false, service_update },
	{ "scale", "orch service scale NAME N [--wait [--timeout SECONDS]] [--cluster C]\n"
	  SERVICE_WAIT_USAGE,
	  2, 2, false, service_scale },
	{ "ls", "orch service ls [--cluster C]", 0, 0, false, service_ls },
	{ "show", "orch service show NAME [--cluster C]\n"
	  "        the service, its deployments, its running tasks and its last 10 events",
	  1, 1, false, service_show },
	{ "events", "orch service events NAME [-f|--follow] [--cluster C]\n"
	  "        -f: then print new events as they come (every second) until interrupted;\n"
	  "        with --json, one JSON object a line",
	  1, 1, false, service_events },
	{ "rm", "orch service rm NAME [--force] [--cluster C]\n"
	  "        --force: also while its desired count is above 0",
	  1, 1, false, service_rm },
	{ "autoscale", "orch service autoscale NAME --min N --max N [--cpu PCT] [--memory PCT]\n"
	  "        [--scale-in-cooldown D] [--scale-out-cooldown D] [--no-scale-in] [--cluster C]\n"
	  "        orch service autoscale NAME --off\n"
	  "        D: seconds (60, 60s) or minutes (2m)",
	  1, 1, false, service_autoscale },
};

const struct cli_noun cli_noun_service = {
	.name = "service",
	.summary = "create, update, scale, list, show and delete services (orch service --help)",
	.verbs = service_verbs,
	.verb_count = sizeof(service_verbs) / sizeof(service_verbs[0]),
	.has_cluster = true,
	.short_options = "f",
	.options = service_flags,
	.options_size = sizeof(struct service_options),
	.option = service_option,
};

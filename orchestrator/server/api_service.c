/*
 * api_service.c - CreateService, UpdateService, DescribeServices,
 * ListServices and DeleteService under /v1/clusters/{c}/services, and the
 * service's events (orch's addition, for `orch service events -f`).
 *
 * Bodies use ECS's field names.  What a request sets is stored in the
 * service row (services.config) and acted on by the reconciler (service.h);
 * the reply answers after the commit, and the reconciler's first pass runs
 * in the same loop turn.
 *
 * Errors follow ECS: InvalidParameterException for a bad or taken value,
 * ServiceNotFoundException (404) for a name never created,
 * ServiceNotActiveException for a deleted service, ClusterNotFoundException.
 *
 * Choices where ECS leaves room: maximumPercent 100-1000 for REPLICA
 * (default 200) and exactly 100 for DAEMON; minimumHealthyPercent 0-100
 * (default 100 for REPLICA, 0 for DAEMON); desiredCount 0-SERVICE_MAX_DESIRED;
 * healthCheckGracePeriodSeconds 0-86400.  Tasks a service starts have
 * group "service:NAME" and startedBy the deployment ID ("ecs-svc/..."), as
 * in ECS.  AWS-side fields (launchType, networkConfiguration, tags, ...)
 * are accepted and listed in the reply's "ignoredFields".
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/cleanup.h"
#include "common/str_util.h"
#include "ecs_names.h"
#include "http_response.h"
#include "placement.h"
#include "service.h"
#include "task_launch.h"

#define SERVICE_PAGE_DEFAULT 100
#define SERVICE_PAGE_MAX 100
#define SERVICE_EVENTS_SHOWN 20
#define SERVICE_MAX_CONSTRAINTS 10
#define SERVICE_MAX_STRATEGIES 5
#define SERVICE_MAX_GRACE_S 86400
#define SERVICE_MAX_LOAD_BALANCERS 5

static const char *const service_ignored_fields[] = {
	"launchType", "capacityProviderStrategy", "platformVersion", "role",
	"networkConfiguration", "serviceRegistries", "tags", "enableECSManagedTags",
	"propagateTags", "enableExecuteCommand", "clientToken", "serviceConnectConfiguration",
	"volumeConfigurations", "availabilityZoneRebalancing", "deploymentController",
};
static const char *const create_fields[] = {
	"serviceName", "taskDefinition", "desiredCount", "schedulingStrategy", "cluster",
	"deploymentConfiguration", "placementConstraints", "placementStrategy",
	"healthCheckGracePeriodSeconds", "loadBalancers", "autoScaling",
};
static const char *const update_fields[] = {
	"taskDefinition", "desiredCount", "forceNewDeployment", "cluster", "service",
	"deploymentConfiguration", "placementConstraints", "placementStrategy",
	"healthCheckGracePeriodSeconds", "loadBalancers", "autoScaling",
};

#define IN(key, list) str_in_list((key), (list), sizeof(list) / sizeof((list)[0]))

static void reply_invalid(struct api_request *ar, const orch_error *err)
{
	if (err->kind == ORCH_ERR_INVALID)
		http_reply_error(ar->req, 400, "InvalidParameterException", "%s", err->message);
	else
		http_reply_orch_error(ar->req, err);
}

/* Unknown fields refused, AWS-side ones collected into ignored. */
static int fields_check(json_t *body, const char *const *known, size_t n, json_t *ignored,
			orch_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		if (str_in_list(key, known, n))
			continue;
		if (IN(key, service_ignored_fields)) {
			if (strcmp(key, "deploymentController") == 0) {
				const char *type = json_string_value(json_object_get(v, "type"));

				if (type && strcmp(type, "ECS") != 0)
					return orch_fail(err, ORCH_ERR_INVALID,
							 "deploymentController.type: only ECS (rolling update) is supported");
				continue;
			}
			json_array_append_new(ignored, json_string(key));
			continue;
		}
		return orch_fail(err, ORCH_ERR_INVALID, "%.200s: unknown field", key);
	}
	return 0;
}

/* deploymentConfiguration: checked and copied into cfg with its defaults. */
static int deployment_config_check(json_t *dc, bool daemon, json_t *cfg, json_t *ignored,
				   orch_error *err)
{
	json_t *v, *cb, *out;
	const char *key;
	int64_t max = daemon ? 100 : 200, min = daemon ? 0 : 100;
	bool enable = false, rollback = false;
	json_t *old = json_object_get(cfg, "deploymentConfiguration");

	if (old) {
		max = json_integer_value(json_object_get(old, "maximumPercent"));
		min = json_integer_value(json_object_get(old, "minimumHealthyPercent"));
		cb = json_object_get(old, "deploymentCircuitBreaker");
		enable = json_is_true(json_object_get(cb, "enable"));
		rollback = json_is_true(json_object_get(cb, "rollback"));
	}
	if (dc && !json_is_null(dc)) {
		if (!json_is_object(dc))
			return orch_fail(err, ORCH_ERR_INVALID, "deploymentConfiguration: must be an object");
		json_object_foreach(dc, key, v) {
			if (strcmp(key, "maximumPercent") == 0 || strcmp(key, "minimumHealthyPercent") == 0 ||
			    strcmp(key, "deploymentCircuitBreaker") == 0 || strcmp(key, "strategy") == 0)
				continue;
			/* CloudWatch alarms and blue/green bake times are AWS-side. */
			if (strcmp(key, "alarms") == 0 || strcmp(key, "bakeTimeInMinutes") == 0 ||
			    strcmp(key, "lifecycleHooks") == 0) {
				char name[64];

				snprintf(name, sizeof(name), "deploymentConfiguration.%s", key);
				json_array_append_new(ignored, json_string(name));
				continue;
			}
			return orch_fail(err, ORCH_ERR_INVALID, "deploymentConfiguration.%.200s: unknown field", key);
		}
		v = json_object_get(dc, "strategy");
		if (v && (!json_is_string(v) || strcmp(json_string_value(v), "ROLLING") != 0))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "deploymentConfiguration.strategy: only ROLLING is supported");
		v = json_object_get(dc, "maximumPercent");
		if (v) {
			if (!json_is_integer(v) || json_integer_value(v) < 100 || json_integer_value(v) > 1000)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "deploymentConfiguration.maximumPercent: must be an integer from 100 to 1000");
			max = json_integer_value(v);
		}
		v = json_object_get(dc, "minimumHealthyPercent");
		if (v) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "deploymentConfiguration.minimumHealthyPercent: must be an integer from 0 to 100");
			min = json_integer_value(v);
		}
		cb = json_object_get(dc, "deploymentCircuitBreaker");
		if (cb) {
			json_t *e = json_object_get(cb, "enable"), *r = json_object_get(cb, "rollback");

			if (!json_is_object(cb) || !json_is_boolean(e) || !json_is_boolean(r))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "deploymentConfiguration.deploymentCircuitBreaker: must be {\"enable\": bool, \"rollback\": bool}");
			enable = json_is_true(e);
			rollback = json_is_true(r);
		}
	}
	if (daemon && max != 100)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "deploymentConfiguration.maximumPercent: a DAEMON service replaces in place; it must be 100");
	if (max == 100 && min == 100)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "deploymentConfiguration: maximumPercent 100 with minimumHealthyPercent 100 leaves a rolling deployment no room");
	out = json_pack("{s:I, s:I, s:{s:b, s:b}}", "maximumPercent", (json_int_t)max,
			"minimumHealthyPercent", (json_int_t)min, "deploymentCircuitBreaker", "enable",
			enable, "rollback", rollback);
	if (!out)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	json_object_set_new(cfg, "deploymentConfiguration", out);
	return 0;
}

/* loadBalancers: shape, and that containerName:containerPort is in the definition. */
static int load_balancers_check(json_t *lbs, json_t *def, orch_error *err)
{
	json_t *lb, *pm;
	size_t i, j;

	if (!json_is_array(lbs) || json_array_size(lbs) > SERVICE_MAX_LOAD_BALANCERS)
		return orch_fail(err, ORCH_ERR_INVALID, "loadBalancers: must be an array of at most %d",
				 SERVICE_MAX_LOAD_BALANCERS);
	json_array_foreach(lbs, i, lb) {
		const char *key;
		json_t *v, *c;
		const char *name = json_string_value(json_object_get(lb, "containerName"));
		json_t *port = json_object_get(lb, "containerPort");
		bool found = false;

		if (!json_is_object(lb))
			return orch_fail(err, ORCH_ERR_INVALID, "loadBalancers[%zu]: must be an object", i);
		json_object_foreach(lb, key, v)
			if (strcmp(key, "targetGroupArn") != 0 && strcmp(key, "loadBalancerName") != 0 &&
			    strcmp(key, "containerName") != 0 && strcmp(key, "containerPort") != 0)
				return orch_fail(err, ORCH_ERR_INVALID, "loadBalancers[%zu].%.200s: unknown field",
						 i, key);
		v = json_object_get(lb, "targetGroupArn");
		if (v && (!json_is_string(v) || strlen(json_string_value(v)) > 512))
			return orch_fail(err, ORCH_ERR_INVALID, "loadBalancers[%zu].targetGroupArn: must be a string", i);
		v = json_object_get(lb, "loadBalancerName");
		if (v && (!json_is_string(v) || strlen(json_string_value(v)) > 255))
			return orch_fail(err, ORCH_ERR_INVALID, "loadBalancers[%zu].loadBalancerName: must be a string", i);
		if (!name || !json_is_integer(port) || json_integer_value(port) < 1 ||
		    json_integer_value(port) > 65535)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "loadBalancers[%zu]: containerName (string) and containerPort (1-65535) are required", i);
		c = task_find_container(json_object_get(def, "containerDefinitions"), name);
		if (!c)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "loadBalancers[%zu].containerName: no container '%.200s' in the task definition", i, name);
		json_array_foreach(json_object_get(c, "portMappings"), j, pm)
			if (json_integer_value(json_object_get(pm, "containerPort")) == json_integer_value(port))
				found = true;
		if (!found)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "loadBalancers[%zu].containerPort: container '%.200s' maps no port %lld", i,
					 name, (long long)json_integer_value(port));
	}
	return 0;
}

static int int_field(json_t *obj, const char *key, int64_t min, int64_t max, int64_t dflt,
		     int64_t *out, orch_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = dflt;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return orch_fail(err, ORCH_ERR_INVALID, "autoScaling.%s: must be an integer from %lld to %lld",
				 key, (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

/*
 * autoScaling (orch's; ECS leaves it to Application Auto Scaling): target
 * tracking of the service's average CPU and/or memory use, in percent of
 * the tasks' reservation.  null removes it.
 */
static int autoscaling_check(json_t *as, bool daemon, json_t *cfg, orch_error *err)
{
	static const char *const fields[] = {
		"minCapacity", "maxCapacity", "targetCpuPercent", "targetMemoryPercent",
		"scaleInCooldownSeconds", "scaleOutCooldownSeconds", "disableScaleIn",
	};
	int64_t min, max, cpu, mem, in, out;
	const char *key;
	json_t *v;

	if (json_is_null(as)) {
		json_object_del(cfg, "autoScaling");
		return 0;
	}
	if (daemon)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "autoScaling: a DAEMON service runs one task per node; it does not scale");
	if (!json_is_object(as))
		return orch_fail(err, ORCH_ERR_INVALID, "autoScaling: must be an object or null");
	json_object_foreach(as, key, v)
		if (!IN(key, fields))
			return orch_fail(err, ORCH_ERR_INVALID, "autoScaling.%.200s: unknown field", key);
	if (int_field(as, "minCapacity", 0, SERVICE_MAX_DESIRED, 0, &min, err) < 0 ||
	    int_field(as, "maxCapacity", 1, SERVICE_MAX_DESIRED, 0, &max, err) < 0 ||
	    int_field(as, "targetCpuPercent", 1, 100, 0, &cpu, err) < 0 ||
	    int_field(as, "targetMemoryPercent", 1, 100, 0, &mem, err) < 0 ||
	    int_field(as, "scaleInCooldownSeconds", 0, 86400, 300, &in, err) < 0 ||
	    int_field(as, "scaleOutCooldownSeconds", 0, 86400, 300, &out, err) < 0)
		return -1;
	if (!json_object_get(as, "maxCapacity") || max < min)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "autoScaling.maxCapacity: required, at least minCapacity");
	if (!cpu && !mem)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "autoScaling: give targetCpuPercent and/or targetMemoryPercent");
	v = json_object_get(as, "disableScaleIn");
	if (v && !json_is_boolean(v))
		return orch_fail(err, ORCH_ERR_INVALID, "autoScaling.disableScaleIn: must be a boolean");
	v = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "minCapacity", (json_int_t)min,
		      "maxCapacity", (json_int_t)max, "targetCpuPercent", (json_int_t)cpu,
		      "targetMemoryPercent", (json_int_t)mem, "scaleInCooldownSeconds", (json_int_t)in,
		      "scaleOutCooldownSeconds", (json_int_t)out, "disableScaleIn",
		      json_is_true(json_object_get(as, "disableScaleIn")));
	if (!v)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	json_object_set_new(cfg, "autoScaling", v);
	return 0;
}

/* The active definition a taskDefinition field names, parsed (*def). */
static int taskdef_lookup(struct api_request *ar, json_t *v, struct store_taskdef *td, json_t **def,
			  orch_error *err)
{
	char family[ECS_NAME_MAX + 1];
	int64_t revision;

	if (!json_is_string(v))
		return orch_fail(err, ORCH_ERR_INVALID, "taskDefinition: required string (FAMILY[:REVISION] or ARN)");
	if (ecs_taskdef_ref_parse(json_string_value(v), family, &revision, err) < 0)
		return orch_error_prefix(err, "taskDefinition");
	if (store_taskdef_get(ar->ctx->store, family, revision, td, err) < 0) {
		if (err->kind == ORCH_ERR_NOT_FOUND)
			err->kind = ORCH_ERR_INVALID;
		return orch_error_prefix(err, "taskDefinition");
	}
	if (!td->active)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "taskDefinition: %s:%lld is INACTIVE; register a new revision", td->family,
				 (long long)td->revision);
	*def = json_loads(td->body, 0, NULL);
	if (!json_is_object(*def))
		return orch_fail(err, ORCH_ERR_INTERNAL, "stored task definition %s:%lld is not JSON",
				 td->family, (long long)td->revision);
	return 0;
}

/*
 * The fields CreateService and UpdateService share, checked against def
 * and merged into cfg (the service's stored configuration).
 */
/* A body's "cluster" (name or ARN), when given, is the path's. */
static int cluster_field_check(json_t *body, const char *cluster, orch_error *err)
{
	json_t *v = json_object_get(body, "cluster");
	const char *s, *slash;

	if (!v)
		return 0;
	s = json_string_value(v);
	slash = s ? strrchr(s, '/') : NULL;
	if (s && strncmp(s, "arn:", 4) == 0 && slash)
		s = slash + 1;
	if (!s || strcmp(s, cluster) != 0)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "cluster: must name the cluster of the path ('%s')", cluster);
	return 0;
}

static int common_check(struct api_request *ar, json_t *body, json_t *def, bool daemon,
			json_t *cfg, json_t *ignored, orch_error *err)
{
	json_t *v, *req;
	const char *cluster = ar->params[0];
	int rc;

	if (cluster_field_check(body, cluster, err) < 0 ||
	    deployment_config_check(json_object_get(body, "deploymentConfiguration"), daemon, cfg,
				    ignored, err) < 0)
		return -1;
	v = json_object_get(body, "placementConstraints");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) > SERVICE_MAX_CONSTRAINTS)
			return orch_fail(err, ORCH_ERR_INVALID, "placementConstraints: must be an array of at most %d",
					 SERVICE_MAX_CONSTRAINTS);
		json_object_set(cfg, "placementConstraints", v);
	}
	v = json_object_get(body, "placementStrategy");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) > SERVICE_MAX_STRATEGIES)
			return orch_fail(err, ORCH_ERR_INVALID, "placementStrategy: must be an array of at most %d",
					 SERVICE_MAX_STRATEGIES);
		if (daemon && json_array_size(v) > 0)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementStrategy: a DAEMON service places one task per node; it takes no strategy");
		json_object_set(cfg, "placementStrategy", v);
	}
	v = json_object_get(body, "healthCheckGracePeriodSeconds");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > SERVICE_MAX_GRACE_S)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "healthCheckGracePeriodSeconds: must be an integer from 0 to %d",
					 SERVICE_MAX_GRACE_S);
		json_object_set(cfg, "healthCheckGracePeriodSeconds", v);
	}
	v = json_object_get(body, "autoScaling");
	if (v && autoscaling_check(v, daemon, cfg, err) < 0)
		return -1;
	v = json_object_get(body, "loadBalancers");
	if (json_is_null(v))
		json_object_del(cfg, "loadBalancers");
	else if (v)
		json_object_set(cfg, "loadBalancers", v);
	v = json_object_get(cfg, "loadBalancers");
	if (v && load_balancers_check(v, def, err) < 0)
		return -1;
	/* The constraints and strategy as the scheduler will see them. */
	req = task_placement_request(def, NULL, "service:check",
				     json_array_size(json_object_get(cfg, "placementConstraints"))
					     ? json_object_get(cfg, "placementConstraints") : NULL,
				     json_array_size(json_object_get(cfg, "placementStrategy"))
					     ? json_object_get(cfg, "placementStrategy") : NULL,
				     NULL);
	if (!req)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	rc = placement_request_check(req, cluster, err);
	json_decref(req);
	return rc;
}

/* ---- the Service shape --------------------------------------------------- */

static void service_arn(char *out, size_t size, const char *cluster, const char *name)
{
	snprintf(out, size, ECS_ARN_PREFIX "service/%s/%s", cluster, name);
}

static json_t *deployment_to_json(const struct store_deployment *d)
{
	char arn[TASK_ARN_BUF];

	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "task-definition/%s:%lld", d->family,
		 (long long)d->revision);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:f, s:s}",
			 "id", d->id, "status", d->status, "taskDefinition", arn,
			 "desiredCount", (json_int_t)d->desired_count,
			 "runningCount", (json_int_t)d->running_count,
			 "pendingCount", (json_int_t)d->pending_count,
			 "failedTasks", (json_int_t)d->failed_tasks,
			 "rolloutState", d->rollout_state,
			 "rolloutStateReason", d->rollout_state_reason,
			 "createdAt", d->created_at, "updatedAt", d->updated_at,
			 "launchType", "EC2");
}

static json_t *event_to_json(const struct store_service_event *e)
{
	char id[32];

	snprintf(id, sizeof(id), "%lld", (long long)e->id);
	return json_pack("{s:s, s:f, s:s}", "id", id, "createdAt", e->created_at, "message",
			 e->message);
}

/* The Service object; with_events adds the newest SERVICE_EVENTS_SHOWN events. */
static json_t *service_to_json(struct api_context *ctx, const struct store_service *sv,
			       bool with_events, orch_error *err)
{
	struct store_deployment *deps = NULL;
	struct store_service_event *events = NULL;
	int dep_count = 0, event_count = 0;
	json_t *o, *cfg, *list, *v;
	int64_t running = 0, pending = 0;
	char arn[TASK_ARN_BUF];

	if (store_deployment_list(ctx->store, STORE_READER, sv->cluster, sv->name, false, &deps,
				  &dep_count, err) < 0)
		return NULL;
	if (with_events && store_event_list(ctx->store, STORE_READER, sv->cluster, sv->name, 0,
					    SERVICE_EVENTS_SHOWN, &events, &event_count, err) < 0) {
		store_deployment_list_free(deps, dep_count);
		return NULL;
	}
	cfg = json_loads(sv->config, 0, NULL);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		cfg = json_object();
	}
	o = json_object();
	service_arn(arn, sizeof(arn), sv->cluster, sv->name);
	json_object_set_new(o, "serviceArn", json_string(arn));
	json_object_set_new(o, "serviceName", json_string(sv->name));
	snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "cluster/%s", sv->cluster);
	json_object_set_new(o, "clusterArn", json_string(arn));
	json_object_set_new(o, "status", json_string(sv->status));
	json_object_set_new(o, "desiredCount", json_integer(sv->desired_count));
	json_object_set_new(o, "schedulingStrategy", json_string(sv->scheduling_strategy));
	json_object_set_new(o, "launchType", json_string("EC2"));
	list = json_array();
	for (int i = 0; i < dep_count; i++) {
		running += deps[i].running_count;
		pending += deps[i].pending_count;
		if (strcmp(deps[i].status, "PRIMARY") == 0) {
			snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "task-definition/%s:%lld",
				 deps[i].family, (long long)deps[i].revision);
			json_object_set_new(o, "taskDefinition", json_string(arn));
		}
		json_array_append_new(list, deployment_to_json(&deps[i]));
	}
	json_object_set_new(o, "runningCount", json_integer(running));
	json_object_set_new(o, "pendingCount", json_integer(pending));
	json_object_set_new(o, "deployments", list);
	v = json_object_get(cfg, "deploymentConfiguration");
	json_object_set(o, "deploymentConfiguration", v ? v : json_object());
	json_object_set_new(o, "deploymentController", json_pack("{s:s}", "type", "ECS"));
	v = json_object_get(cfg, "placementConstraints");
	json_object_set_new(o, "placementConstraints", v ? json_incref(v) : json_array());
	v = json_object_get(cfg, "placementStrategy");
	json_object_set_new(o, "placementStrategy", v ? json_incref(v) : json_array());
	v = json_object_get(cfg, "loadBalancers");
	json_object_set_new(o, "loadBalancers", v ? json_incref(v) : json_array());
	v = json_object_get(cfg, "healthCheckGracePeriodSeconds");
	if (v)
		json_object_set(o, "healthCheckGracePeriodSeconds", v);
	v = json_object_get(cfg, "autoScaling");
	if (v)
		json_object_set(o, "autoScaling", v);
	json_object_set_new(o, "createdAt", json_real(sv->created_at));
	if (sv->placement_reason)
		json_object_set_new(o, "pendingReason", json_string(sv->placement_reason));
	if (with_events) {
		list = json_array();
		for (int i = 0; i < event_count; i++)
			json_array_append_new(list, event_to_json(&events[i]));
		json_object_set_new(o, "events", list);
	}
	json_decref(cfg);
	store_deployment_list_free(deps, dep_count);
	store_event_list_free(events, event_count);
	return o;
}

static void put_ignored(json_t *reply, json_t *ignored)
{
	json_object_set(reply, "ignoredFields", ignored);
}

/* ---- handlers ------------------------------------------------------------ */

void api_service_create(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	const char *cluster = ar->params[0];
	json_t *body = NULL, *ignored = json_array(), *def = NULL, *cfg = json_object(), *v, *reply;
	struct store_taskdef td = { 0 };
	struct store_service sv = { 0 };
	cleanup_free char *cfg_text = NULL;
	char dep_id[SERVICE_DEPLOYMENT_ID_SIZE];
	const char *name, *strategy = "REPLICA";
	int64_t desired = 0;
	bool daemon;

	if (!api_cluster_checked(ar))
		goto out;
	body = api_read_json_object(ar);
	if (!body)
		goto out;
	if (fields_check(body, create_fields, sizeof(create_fields) / sizeof(create_fields[0]),
			 ignored, &err) < 0)
		goto invalid;
	name = json_string_value(json_object_get(body, "serviceName"));
	if (!name || !ecs_name_valid(name)) {
		orch_fail(&err, ORCH_ERR_INVALID,
			  "serviceName: required, 1-255 letters, digits, hyphens and underscores");
		goto invalid;
	}
	v = json_object_get(body, "schedulingStrategy");
	if (v) {
		if (!json_is_string(v) || (strcmp(json_string_value(v), "REPLICA") != 0 &&
					   strcmp(json_string_value(v), "DAEMON") != 0)) {
			orch_fail(&err, ORCH_ERR_INVALID, "schedulingStrategy: must be REPLICA or DAEMON");
			goto invalid;
		}
		strategy = json_string_value(v);
	}
	daemon = strcmp(strategy, "DAEMON") == 0;
	v = json_object_get(body, "desiredCount");
	if (daemon && v) {
		orch_fail(&err, ORCH_ERR_INVALID,
			  "desiredCount: a DAEMON service runs one task per node; do not set it");
		goto invalid;
	}
	if (!daemon) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > SERVICE_MAX_DESIRED) {
			orch_fail(&err, ORCH_ERR_INVALID,
				  "desiredCount: required for a REPLICA service, an integer from 0 to %d",
				  SERVICE_MAX_DESIRED);
			goto invalid;
		}
		desired = json_integer_value(v);
	}
	if (taskdef_lookup(ar, json_object_get(body, "taskDefinition"), &td, &def, &err) < 0 ||
	    common_check(ar, body, def, daemon, cfg, ignored, &err) < 0)
		goto invalid;
	cfg_text = json_dumps(cfg, JSON_COMPACT);
	if (!cfg_text) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
		goto invalid;
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0)
		goto invalid;
	sv.cluster = (char *)cluster;
	sv.name = (char *)name;
	sv.status = "ACTIVE";
	sv.scheduling_strategy = (char *)strategy;
	sv.desired_count = desired;
	sv.config = cfg_text;
	sv.created_at = sv.updated_at = store_now();
	if (store_service_create(ar->ctx->store, &sv, &err) < 0 ||
	    service_deployment_start(ar->ctx->store, &sv, td.family, td.revision, NULL, dep_id,
				     sizeof(dep_id), &err) < 0 ||
	    store_event_add(ar->ctx->store, cluster, name, "(service created)", SERVICE_EVENTS_KEPT,
			    &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		if (err.kind == ORCH_ERR_CONFLICT) {
			http_reply_error(ar->req, 400, "InvalidParameterException",
					 "%s (creation of service was not idempotent)", err.message);
			goto out;
		}
		goto invalid;
	}
	/* The reply shows the service as the open transaction has it. */
	memset(&sv, 0, sizeof(sv));
	if (store_service_get(ar->ctx->store, STORE_WRITER, cluster, name, &sv, &err) < 0) {
		write_batch_abort(ar->ctx->writes);
		goto invalid;
	}
	reply = json_object();
	{
		json_t *o = json_object();
		char arn[TASK_ARN_BUF];

		service_arn(arn, sizeof(arn), cluster, name);
		json_object_set_new(o, "serviceArn", json_string(arn));
		json_object_set_new(o, "serviceName", json_string(name));
		json_object_set_new(o, "status", json_string("ACTIVE"));
		json_object_set_new(o, "desiredCount", json_integer(desired));
		json_object_set_new(o, "schedulingStrategy", json_string(strategy));
		snprintf(arn, sizeof(arn), ECS_ARN_PREFIX "task-definition/%s:%lld", td.family,
			 (long long)td.revision);
		json_object_set_new(o, "taskDefinition", json_string(arn));
		json_object_set(o, "deploymentConfiguration", json_object_get(cfg, "deploymentConfiguration"));
		json_object_set_new(o, "deployments", json_array());
		json_array_append_new(json_object_get(o, "deployments"),
				      json_pack("{s:s, s:s, s:s, s:I, s:s}", "id", dep_id, "status",
						"PRIMARY", "taskDefinition", arn, "desiredCount",
						(json_int_t)desired, "rolloutState", "IN_PROGRESS"));
		json_object_set_new(reply, "service", o);
	}
	put_ignored(reply, ignored);
	write_batch_reply(ar->ctx->writes, ar->req, 201, reply);
	service_reconciler_mark(ar->ctx->services, cluster, name);
	store_service_release(&sv);
	goto out;
invalid:
	reply_invalid(ar, &err);
out:
	json_decref(cfg);
	json_decref(def);
	json_decref(ignored);
	json_decref(body);
	store_taskdef_release(&td);
}

/* The service of the path, on the writer; replies 404/400 and returns -1 if unusable. */
static int service_of_path(struct api_request *ar, enum store_conn conn, struct store_service *sv)
{
	orch_error err = ORCH_ERROR_INIT;
	const char *ref = ar->params[1];
	const char *slash = strrchr(ref, '/');
	const char *name = strncmp(ref, "arn:", 4) == 0 && slash ? slash + 1 : ref;
	char arn[TASK_ARN_BUF];

	/* An ARN names its cluster too: it must be the path's. */
	if (name != ref) {
		service_arn(arn, sizeof(arn), ar->params[0], name);
		if (strcmp(arn, ref) != 0) {
			http_reply_error(ar->req, 400, "InvalidParameterException",
					 "service: '%.200s' is not a service of cluster '%s'", ref,
					 ar->params[0]);
			return -1;
		}
	}

	if (!ecs_name_valid(name)) {
		http_reply_error(ar->req, 400, "InvalidParameterException",
				 "service: '%.200s' is not a service name or ARN", ref);
		return -1;
	}
	if (store_service_get(ar->ctx->store, conn, ar->params[0], name, sv, &err) < 0) {
		if (err.kind == ORCH_ERR_NOT_FOUND)
			http_reply_error(ar->req, 404, "ServiceNotFoundException", "%s", err.message);
		else
			http_reply_orch_error(ar->req, &err);
		return -1;
	}
	return 0;
}

void api_service_describe(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_service sv = { 0 };
	json_t *o;

	if (!api_cluster_checked(ar) || service_of_path(ar, STORE_READER, &sv) < 0)
		return;
	o = service_to_json(ar->ctx, &sv, true, &err);
	store_service_release(&sv);
	if (!o) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	http_reply_json(ar->req, 200, json_pack("{s:o, s:[]}", "service", o, "failures"));
}

void api_service_list(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	const char *token = evhttp_find_header(&ar->query, "nextToken");
	cleanup_free char *after = NULL;
	struct store_service *list = NULL;
	int64_t limit = SERVICE_PAGE_DEFAULT;
	json_t *items, *reply;
	bool more = false;
	int count = 0;

	if (!api_cluster_checked(ar) ||
	    api_query_int(ar, "maxResults", 1, SERVICE_PAGE_MAX, &limit) < 0)
		return;
	if (token && !(after = api_page_token_decode(ar, token)))
		return;
	if (store_service_list(ar->ctx->store, STORE_READER, ar->params[0], after, false, (int)limit,
			       &list, &count, &more, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	items = json_array();
	for (int i = 0; i < count; i++) {
		json_t *o = service_to_json(ar->ctx, &list[i], false, &err);

		if (!o) {
			json_decref(items);
			store_service_list_free(list, count);
			http_reply_orch_error(ar->req, &err);
			return;
		}
		json_array_append_new(items, o);
	}
	reply = api_list_reply(items, "serviceArn", "serviceArns", "services",
			       more && count > 0 ? list[count - 1].name : NULL);
	store_service_list_free(list, count);
	http_reply_json(ar->req, 200, reply);
}

void api_service_update(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_service sv = { 0 };
	struct store_taskdef td = { 0 };
	struct store_deployment *deps = NULL;
	json_t *body = NULL, *ignored = json_array(), *def = NULL, *cfg = NULL, *v, *o;
	char dep_id[SERVICE_DEPLOYMENT_ID_SIZE];
	char *cfg_text = NULL;
	int dep_count = 0;
	bool daemon, new_deployment = false, force;
	const char *family = NULL;
	int64_t revision = 0;

	if (!api_cluster_checked(ar))
		goto out;
	body = api_read_json_object(ar);
	if (!body)
		goto out;
	if (fields_check(body, update_fields, sizeof(update_fields) / sizeof(update_fields[0]),
			 ignored, &err) < 0)
		goto invalid;
	if (write_batch_begin(ar->ctx->writes, &err) < 0)
		goto invalid;
	if (service_of_path(ar, STORE_WRITER, &sv) < 0) {
		write_batch_abort(ar->ctx->writes);
		goto out;
	}
	if (strcmp(sv.status, "ACTIVE") != 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_error(ar->req, 400, "ServiceNotActiveException",
				 "service '%s' is %s: it was deleted", sv.name, sv.status);
		goto out;
	}
	daemon = strcmp(sv.scheduling_strategy, "DAEMON") == 0;
	cfg = json_loads(sv.config, 0, NULL);
	if (!json_is_object(cfg)) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "stored service configuration is not JSON");
		goto abort;
	}
	v = json_object_get(body, "service");
	if (v && (!json_is_string(v) ||
		  (strcmp(json_string_value(v), sv.name) != 0 &&
		   (!strrchr(json_string_value(v), '/') ||
		    strcmp(strrchr(json_string_value(v), '/') + 1, sv.name) != 0)))) {
		orch_fail(&err, ORCH_ERR_INVALID, "service: must name the service of the path ('%s')",
			  sv.name);
		goto abort;
	}
	v = json_object_get(body, "forceNewDeployment");
	if (v && !json_is_boolean(v)) {
		orch_fail(&err, ORCH_ERR_INVALID, "forceNewDeployment: must be a boolean");
		goto abort;
	}
	force = json_is_true(v);
	v = json_object_get(body, "desiredCount");
	if (v) {
		if (daemon) {
			orch_fail(&err, ORCH_ERR_INVALID,
				  "desiredCount: a DAEMON service runs one task per node; do not set it");
			goto abort;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > SERVICE_MAX_DESIRED) {
			orch_fail(&err, ORCH_ERR_INVALID, "desiredCount: must be an integer from 0 to %d",
				  SERVICE_MAX_DESIRED);
			goto abort;
		}
		sv.desired_count = json_integer_value(v);
	}
	if (store_deployment_list(ar->ctx->store, STORE_WRITER, sv.cluster, sv.name, false, &deps,
				  &dep_count, &err) < 0)
		goto abort;
	for (int i = 0; i < dep_count; i++)
		if (strcmp(deps[i].status, "PRIMARY") == 0) {
			family = deps[i].family;
			revision = deps[i].revision;
		}
	v = json_object_get(body, "taskDefinition");
	if (v) {
		if (taskdef_lookup(ar, v, &td, &def, &err) < 0)
			goto abort;
		if (!family || strcmp(family, td.family) != 0 || revision != td.revision)
			new_deployment = true;
		family = td.family;
		revision = td.revision;
	} else if (family) {
		if (store_taskdef_get(ar->ctx->store, family, revision, &td, &err) < 0)
			goto abort;
		def = json_loads(td.body, 0, NULL);
	}
	if (!family || !json_is_object(def)) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "service '%s' has no task definition", sv.name);
		goto abort;
	}
	if (common_check(ar, body, def, daemon, cfg, ignored, &err) < 0)
		goto abort;
	cfg_text = json_dumps(cfg, JSON_COMPACT);
	if (!cfg_text) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
		goto abort;
	}
	free(sv.config);
	sv.config = cfg_text;
	/* A new placement or health configuration reaches only new tasks: deploy. */
	if (json_object_get(body, "placementConstraints") || json_object_get(body, "placementStrategy"))
		new_deployment = true;
	sv.updated_at = store_now();
	if (store_service_update(ar->ctx->store, &sv, &err) < 0)
		goto abort;
	if ((new_deployment || force) &&
	    (service_deployment_start(ar->ctx->store, &sv, family, revision,
				      force && !new_deployment ? "ECS deployment in progress (forced)." : NULL,
				      dep_id, sizeof(dep_id), &err) < 0 ||
	     store_event_add(ar->ctx->store, sv.cluster, sv.name,
			     "(service updated: new deployment)", SERVICE_EVENTS_KEPT, &err) < 0))
		goto abort;
	if (!new_deployment && !force) {
		/* Scaling: the primary's desired count follows at once. */
		for (int i = 0; i < dep_count; i++)
			if (strcmp(deps[i].status, "PRIMARY") == 0 &&
			    deps[i].desired_count != sv.desired_count) {
				deps[i].desired_count = sv.desired_count;
				if (store_deployment_update(ar->ctx->store, &deps[i], &err) < 0)
					goto abort;
			}
	}
	o = service_to_json(ar->ctx, &sv, false, &err);
	if (!o)
		goto abort;
	{
		/* Deployments as the open transaction has them. */
		struct store_deployment *now = NULL;
		int n = 0;
		json_t *list = json_array();

		if (store_deployment_list(ar->ctx->store, STORE_WRITER, sv.cluster, sv.name, false, &now,
					  &n, &err) < 0) {
			json_decref(list);
			json_decref(o);
			goto abort;
		}
		for (int i = 0; i < n; i++) {
			json_t *d = deployment_to_json(&now[i]);

			if (strcmp(now[i].status, "PRIMARY") == 0)
				json_object_set(o, "taskDefinition", json_object_get(d, "taskDefinition"));
			json_array_append_new(list, d);
		}
		json_object_set_new(o, "deployments", list);
		store_deployment_list_free(now, n);
	}
	o = json_pack("{s:o}", "service", o);
	put_ignored(o, ignored);
	write_batch_reply(ar->ctx->writes, ar->req, 200, o);
	service_reconciler_mark(ar->ctx->services, sv.cluster, sv.name);
	goto out;
abort:
	write_batch_abort(ar->ctx->writes);
invalid:
	reply_invalid(ar, &err);
out:
	store_deployment_list_free(deps, dep_count);
	store_service_release(&sv);
	store_taskdef_release(&td);
	json_decref(cfg);
	json_decref(def);
	json_decref(ignored);
	json_decref(body);
}

void api_service_delete(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_service sv = { 0 };
	const char *force = evhttp_find_header(&ar->query, "force");
	bool forced = force && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0);
	json_t *o;

	if (!api_cluster_checked(ar))
		return;
	if (force && !forced && strcmp(force, "false") != 0 && strcmp(force, "0") != 0) {
		http_reply_error(ar->req, 400, "InvalidParameterException",
				 "force: must be true or false");
		return;
	}
	if (write_batch_begin(ar->ctx->writes, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	if (service_of_path(ar, STORE_WRITER, &sv) < 0) {
		write_batch_abort(ar->ctx->writes);
		return;
	}
	if (strcmp(sv.status, "ACTIVE") != 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_error(ar->req, 400, "ServiceNotActiveException",
				 "service '%s' is %s: it was already deleted", sv.name, sv.status);
		goto out;
	}
	if (!forced && strcmp(sv.scheduling_strategy, "REPLICA") == 0 && sv.desired_count > 0) {
		write_batch_abort(ar->ctx->writes);
		http_reply_error(ar->req, 400, "InvalidParameterException",
				 "The service cannot be stopped while it is scaled above 0 (desiredCount %lld): scale it to 0 first or delete with force=true",
				 (long long)sv.desired_count);
		goto out;
	}
	if (str_set_copy(&sv.status, "DRAINING") < 0) {
		orch_fail(&err, ORCH_ERR_INTERNAL, "out of memory");
		goto abort;
	}
	sv.desired_count = 0;
	sv.updated_at = store_now();
	if (store_service_update(ar->ctx->store, &sv, &err) < 0 ||
	    store_event_add(ar->ctx->store, sv.cluster, sv.name, "(service deleted: draining)",
			    SERVICE_EVENTS_KEPT, &err) < 0)
		goto abort;
	o = service_to_json(ar->ctx, &sv, false, &err);
	if (!o)
		goto abort;
	write_batch_reply(ar->ctx->writes, ar->req, 200, json_pack("{s:o}", "service", o));
	service_reconciler_mark(ar->ctx->services, sv.cluster, sv.name);
	goto out;
abort:
	write_batch_abort(ar->ctx->writes);
	http_reply_orch_error(ar->req, &err);
out:
	store_service_release(&sv);
}

void api_service_events(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	struct store_service sv = { 0 };
	struct store_service_event *events = NULL;
	int64_t after = -1, limit = SERVICE_EVENTS_KEPT;
	json_t *list;
	int count = 0, rc;

	if (!api_cluster_checked(ar) ||
	    api_query_int(ar, "after", 0, INT64_MAX, &after) < 0 ||
	    api_query_int(ar, "maxResults", 1, SERVICE_EVENTS_KEPT, &limit) < 0 ||
	    service_of_path(ar, STORE_READER, &sv) < 0)
		return;
	if (after >= 0)
		rc = store_event_list_after(ar->ctx->store, sv.cluster, sv.name, after, (int)limit,
					    &events, &count, &err);
	else
		rc = store_event_list(ar->ctx->store, STORE_READER, sv.cluster, sv.name, 0, (int)limit,
				      &events, &count, &err);
	store_service_release(&sv);
	if (rc < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	list = json_array();
	for (int i = 0; i < count; i++)
		json_array_append_new(list, event_to_json(&events[i]));
	store_event_list_free(events, count);
	http_reply_json(ar->req, 200, json_pack("{s:o}", "events", list));
}

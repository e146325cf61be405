/*
 * scheduler_request.c - a request's placementConstraints and
 * placementStrategy (ECS's JSON) checked and compiled into a struct
 * compiled_request; the messages name the field (see scheduler.h).
 */
#include "scheduler_internal.h"

#include <string.h>

static int check_ports(const struct sched_request *req, orch_error *err)
{
	if (req->port_count > 0 && !req->ports)
		return orch_fail(err, ORCH_ERR_INVALID, "ports: missing");
	for (size_t i = 0; i < req->port_count; i++) {
		if (req->ports[i].port == 0)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "ports[%zu]: host port must be 1-65535", i);
		for (size_t j = 0; j < i; j++)
			if (port_key(&req->ports[j]) == port_key(&req->ports[i]))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "ports[%zu]: host port %u/%s given twice", i,
						 req->ports[i].port, req->ports[i].udp ? "udp" : "tcp");
	}
	return 0;
}

int sched_check_resources(const struct sched_request *req, orch_error *err)
{
	if (req->cpu < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "cpu: must not be negative");
	if (req->memory < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "memory: must not be negative");
	if (req->port_count > UINT16_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "ports: too many");
	return check_ports(req, err);
}

void sched_request_release(struct compiled_request *c)
{
	for (size_t i = 0; i < c->expr_count; i++)
		sexpr_free(c->exprs[i]);
	c->expr_count = 0;
}

static int check_keys(const json_t *obj, const char *field, size_t i, orch_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)obj, key, value) {
		if (strcmp(key, "type") != 0 && strcmp(key, "expression") != 0 &&
		    strcmp(key, "field") != 0)
			return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].%s: unknown field", field, i,
					 key);
	}
	return 0;
}

static int compile_constraints(const json_t *constraints, struct compiled_request *c,
			       orch_error *err)
{
	size_t i;
	json_t *item;

	if (!constraints || json_is_null(constraints))
		return 0;
	if (!json_is_array(constraints))
		return orch_fail(err, ORCH_ERR_INVALID, "placementConstraints: must be an array");
	if (json_array_size(constraints) > SCHED_MAX_CONSTRAINTS)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "placementConstraints: at most %d constraints (got %zu)",
				 SCHED_MAX_CONSTRAINTS, json_array_size(constraints));
	json_array_foreach(constraints, i, item) {
		const json_t *type, *expression;
		const char *t;

		if (!json_is_object(item))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu]: must be an object", i);
		if (check_keys(item, "placementConstraints", i, err) < 0)
			return -1;
		if (json_object_get(item, "field"))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].field: unknown field", i);
		type = json_object_get(item, "type");
		expression = json_object_get(item, "expression");
		if (!type)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].type: required (distinctInstance or memberOf)",
					 i);
		if (!json_is_string(type))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].type: must be a string", i);
		if (expression && !json_is_null(expression) && !json_is_string(expression))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].expression: must be a string", i);
		t = json_string_value(type);
		if (strcmp(t, "distinctInstance") == 0) {
			if (expression && !json_is_null(expression) &&
			    *json_string_value(expression))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementConstraints[%zu].expression: not allowed with distinctInstance",
						 i);
			c->distinct = true;
		} else if (strcmp(t, "memberOf") == 0) {
			struct sexpr *e;

			if (!expression || json_is_null(expression))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementConstraints[%zu].expression: required for memberOf",
						 i);
			e = sexpr_parse(json_string_value(expression), err);
			if (!e)
				return orch_error_prefix(err, "placementConstraints[%zu].expression", i);
			c->exprs[c->expr_count] = e;
			c->expr_text[c->expr_count++] = json_string_value(expression);
		} else {
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementConstraints[%zu].type: unknown type '%s' (distinctInstance or memberOf)",
					 i, t);
		}
	}
	return 0;
}

static int compile_strategies(const json_t *strategy, struct compiled_request *c,
			      orch_error *err)
{
	size_t i;
	json_t *item;

	if (strategy && !json_is_null(strategy)) {
		if (!json_is_array(strategy))
			return orch_fail(err, ORCH_ERR_INVALID, "placementStrategy: must be an array");
		if (json_array_size(strategy) > SCHED_MAX_STRATEGIES)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementStrategy: at most %d strategies (got %zu)",
					 SCHED_MAX_STRATEGIES, json_array_size(strategy));
		json_array_foreach(strategy, i, item) {
			struct strategy *st = &c->strategies[c->strategy_count];
			const json_t *type, *field;
			const char *t, *f;

			if (!json_is_object(item))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu]: must be an object", i);
			if (check_keys(item, "placementStrategy", i, err) < 0)
				return -1;
			if (json_object_get(item, "expression"))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].expression: unknown field", i);
			type = json_object_get(item, "type");
			field = json_object_get(item, "field");
			if (!type)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].type: required (binpack, spread or random)",
						 i);
			if (!json_is_string(type))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].type: must be a string", i);
			if (field && !json_is_null(field) && !json_is_string(field))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].field: must be a string", i);
			t = json_string_value(type);
			f = field && json_is_string(field) ? json_string_value(field) : NULL;
			memset(st, 0, sizeof(*st));
			if (strcmp(t, "binpack") == 0) {
				if (f && strcmp(f, "cpu") == 0)
					st->kind = STRATEGY_BINPACK_CPU;
				else if (f && strcmp(f, "memory") == 0)
					st->kind = STRATEGY_BINPACK_MEMORY;
				else
					return orch_fail(err, ORCH_ERR_INVALID,
							 "placementStrategy[%zu].field: binpack needs cpu or memory",
							 i);
			} else if (strcmp(t, "spread") == 0) {
				if (f && (strcmp(f, "instanceId") == 0 || strcmp(f, "host") == 0)) {
					st->kind = STRATEGY_SPREAD_INSTANCE;
				} else if (f && strncmp(f, "attribute:", 10) == 0 && f[10]) {
					st->kind = STRATEGY_SPREAD_ATTRIBUTE;
					st->attribute = sexpr_attribute_alias(f + 10);
				} else {
					return orch_fail(err, ORCH_ERR_INVALID,
							 "placementStrategy[%zu].field: spread needs instanceId, host or attribute:NAME",
							 i);
				}
			} else if (strcmp(t, "random") == 0) {
				/* ECS: field is not used by random. */
				st->kind = STRATEGY_RANDOM;
			} else {
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementStrategy[%zu].type: unknown type '%s' (binpack, spread or random)",
						 i, t);
			}
			c->strategy_count++;
		}
	}
	if (c->strategy_count == 0) {
		c->strategies[0].kind = STRATEGY_SPREAD_INSTANCE;
		c->strategy_count = 1;
	}
	return 0;
}

int sched_request_compile(const struct sched_request *req, struct compiled_request *c,
			   orch_error *err)
{
	memset(c, 0, sizeof(*c));
	if (!req->cluster || !*req->cluster)
		return orch_fail(err, ORCH_ERR_INVALID, "cluster: required");
	if (sched_check_resources(req, err) < 0)
		return -1;
	if (compile_constraints(req->constraints, c, err) < 0 ||
	    compile_strategies(req->strategy, c, err) < 0) {
		sched_request_release(c);
		return -1;
	}
	return 0;
}

int scheduler_request_validate(const struct sched_request *req, orch_error *err)
{
	struct compiled_request c;

	if (sched_request_compile(req, &c, err) < 0)
		return -1;
	sched_request_release(&c);
	return 0;
}

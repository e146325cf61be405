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

/*
 * placementConstraints and placementStrategy share their shape: an array of
 * at most max objects, each with a string "type" and one optional string
 * (text_field: a constraint's "expression", a strategy's "field"); the
 * other list's field is refused as unknown, as any other key is.
 */
struct rule_list {
	const char *name;
	const char *noun;		/* "constraints", in the limit's message */
	size_t max;
	const char *text_field;
	const char *other_field;
	const char *types;		/* the types it knows, in messages */
};

static const struct rule_list constraint_list = {
	"placementConstraints", "constraints", SCHED_MAX_CONSTRAINTS,
	"expression", "field", "distinctInstance or memberOf",
};

static const struct rule_list strategy_list = {
	"placementStrategy", "strategies", SCHED_MAX_STRATEGIES,
	"field", "expression", "binpack, spread or random",
};

static int rule_list_check(const json_t *rules, const struct rule_list *list, orch_error *err)
{
	if (!json_is_array(rules))
		return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an array", list->name);
	if (json_array_size(rules) > list->max)
		return orch_fail(err, ORCH_ERR_INVALID, "%s: at most %zu %s (got %zu)", list->name,
				 list->max, list->noun, json_array_size(rules));
	return 0;
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

/* Checks rule i's keys; *type is its type, *text its optional string (NULL: absent or null). */
static int rule_fields(const json_t *rule, const struct rule_list *list, size_t i,
		       const char **type, const char **text, orch_error *err)
{
	const json_t *t, *x;

	if (!json_is_object(rule))
		return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu]: must be an object", list->name, i);
	if (check_keys(rule, list->name, i, err) < 0)
		return -1;
	if (json_object_get(rule, list->other_field))
		return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].%s: unknown field", list->name, i,
				 list->other_field);
	t = json_object_get(rule, "type");
	x = json_object_get(rule, list->text_field);
	if (!t)
		return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].type: required (%s)", list->name, i,
				 list->types);
	if (!json_is_string(t))
		return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].type: must be a string", list->name,
				 i);
	if (x && !json_is_null(x) && !json_is_string(x))
		return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].%s: must be a string", list->name,
				 i, list->text_field);
	*type = json_string_value(t);
	*text = json_is_string(x) ? json_string_value(x) : NULL;
	return 0;
}

static int unknown_type(const struct rule_list *list, size_t i, const char *type,
			orch_error *err)
{
	return orch_fail(err, ORCH_ERR_INVALID, "%s[%zu].type: unknown type '%s' (%s)", list->name,
			 i, type, list->types);
}

static int compile_constraints(const json_t *constraints, struct compiled_request *c,
			       orch_error *err)
{
	size_t i;
	json_t *item;

	if (!constraints || json_is_null(constraints))
		return 0;
	if (rule_list_check(constraints, &constraint_list, err) < 0)
		return -1;
	json_array_foreach(constraints, i, item) {
		const char *type, *expression;
		struct sexpr *e;

		if (rule_fields(item, &constraint_list, i, &type, &expression, err) < 0)
			return -1;
		if (strcmp(type, "distinctInstance") == 0) {
			if (expression && *expression)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementConstraints[%zu].expression: not allowed with distinctInstance",
						 i);
			c->distinct = true;
		} else if (strcmp(type, "memberOf") == 0) {
			if (!expression)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "placementConstraints[%zu].expression: required for memberOf",
						 i);
			e = sexpr_parse(expression, err);
			if (!e)
				return orch_error_prefix(err, "placementConstraints[%zu].expression", i);
			c->exprs[c->expr_count] = e;
			c->expr_text[c->expr_count++] = expression;
		} else {
			return unknown_type(&constraint_list, i, type, err);
		}
	}
	return 0;
}

/* One strategy rule, of a known type and field. */
static int compile_strategy(const char *type, const char *f, size_t i, struct strategy *st,
			    orch_error *err)
{
	memset(st, 0, sizeof(*st));
	if (strcmp(type, "binpack") == 0) {
		if (f && strcmp(f, "cpu") == 0)
			st->kind = STRATEGY_BINPACK_CPU;
		else if (f && strcmp(f, "memory") == 0)
			st->kind = STRATEGY_BINPACK_MEMORY;
		else
			return orch_fail(err, ORCH_ERR_INVALID,
					 "placementStrategy[%zu].field: binpack needs cpu or memory", i);
	} else if (strcmp(type, "spread") == 0) {
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
	} else if (strcmp(type, "random") == 0) {
		/* ECS: field is not used by random. */
		st->kind = STRATEGY_RANDOM;
	} else {
		return unknown_type(&strategy_list, i, type, err);
	}
	return 0;
}

static int compile_strategies(const json_t *strategy, struct compiled_request *c,
			      orch_error *err)
{
	size_t i;
	json_t *item;

	if (strategy && !json_is_null(strategy)) {
		if (rule_list_check(strategy, &strategy_list, err) < 0)
			return -1;
		json_array_foreach(strategy, i, item) {
			const char *type, *field;

			if (rule_fields(item, &strategy_list, i, &type, &field, err) < 0 ||
			    compile_strategy(type, field, i, &c->strategies[c->strategy_count], err) < 0)
				return -1;
			c->strategy_count++;
		}
	}
	if (c->strategy_count == 0) {
		/* Spread the group, and among equals the cluster's tasks. */
		c->strategies[0].kind = STRATEGY_SPREAD_INSTANCE;
		c->strategies[1].kind = STRATEGY_FEWEST_TASKS;
		c->strategy_count = 2;
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

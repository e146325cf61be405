/*
 * taskdef_validate.c - the ECS task-definition validator and normalizer.
 *
 * Each JSON object of a task definition has a table of the fields ECS
 * defines for it (struct td_schema): the JSON type, whether orch acts on the
 * field, ignores it or refuses it, its bounds, and an optional check that
 * knows the field's own rules.  walk_object() applies a table to an input
 * object and builds the normalized copy; a schema's finish hook fills
 * defaults and checks rules between sibling fields.  Rules that span
 * containers (names, memory and cpu budgets, ports, dependsOn) run last, on
 * the normalized task.  The refused and ignored choices are listed in
 * taskdef_validate.h; the ignored catalog is derived from the same tables.
 *
 * Nothing in the input is trusted: every string, array and object is bounded,
 * the walk only descends along the static tables (so its depth is fixed),
 * and user text quoted in messages is sanitized and truncated.
 */
#include "taskdef_validate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "proto/ecs_defaults.h"

/* ---- limits ---------------------------------------------------------------- */

#define TD_PATH_MAX		256	/* longest field path in a message */
#define TD_QUOTE_MAX		64	/* user text quoted in a message */
#define TD_NAME_MAX		255	/* family and container names (ECS) */
#define TD_IMAGE_MAX		1024
#define TD_STRING_MAX		32768	/* any other string, e.g. a command argument */
#define TD_ARRAY_MAX		100	/* arrays without a tighter limit */
#define TD_ARGV_MAX		256	/* entryPoint, command, healthCheck.command */
#define TD_ENV_MAX		1000	/* environment entries per container */
#define TD_ENV_NAME_MAX		255
#define TD_LABELS_MAX		256	/* dockerLabels and log options entries */
#define TD_LABEL_KEY_MAX	255
#define TD_PATHNAME_MAX		4096	/* workingDirectory */
#define TD_HOSTNAME_MAX		64	/* Linux HOST_NAME_MAX */
#define TD_USER_PART_MAX	32	/* Linux user and group names */
#define TD_ARN_MAX		2048
#define TD_PORT_NAME_MAX	64	/* ECS portMappings[].name */
#define TD_TASK_CPU_MIN		128	/* ECS: 0.125 vCPU */
#define TD_CPU_MAX		262144	/* 256 vCPUs, in CPU units */
#define TD_MEMORY_MIN		6	/* MiB; Docker reserves 6 MiB per container */
#define TD_MEMORY_MAX		4194304	/* 4 TiB in MiB */
#define TD_ULIMIT_MAX		2147483647LL

/* ---- tables ---------------------------------------------------------------- */

enum td_type { TD_STRING = 1, TD_INTEGER, TD_BOOL, TD_ARRAY, TD_OBJECT, TD_STR_OR_INT };

enum td_policy {
	TD_ACT = 0,	/* validated and acted on */
	TD_IGNORE,	/* validated, kept, listed in *ignored */
	TD_REFUSE,	/* ORCH_ERR_UNSUPPORTED when set */
};

struct td_ctx;
struct td_schema;

/* A field's own rule.  Runs after the generic type and bounds checks with
 * *out holding the normalized value built so far (NULL for a free-form
 * object, which is copied after the check); may replace it. */
typedef int (*td_check_fn)(struct td_ctx *c, const json_t *in, json_t **out, orch_error *err);

struct td_field {
	const char *name;
	enum td_type type;
	enum td_policy policy;
	bool required;
	long long min, max;		/* integer range; string length or array
					   size bounds (max 0 = the default) */
	enum td_type elem;		/* elements of an array of scalars */
	const struct td_schema *schema;	/* an object, or an array's elements */
	td_check_fn check;
};

/* Defines a td_check_fn; not every check reads every argument. */
#define TD_UNUSED __attribute__((unused))
#define TD_CHECK(fn) \
	static int fn(struct td_ctx *c TD_UNUSED, const json_t *in TD_UNUSED, \
		      json_t **out TD_UNUSED, orch_error *err)

struct td_schema {
	const struct td_field *fields;	/* ends with a NULL name */
	/* Fills defaults and checks rules between fields of one object. */
	int (*finish)(struct td_ctx *c, json_t *out, orch_error *err);
};

struct td_ctx {
	char path[TD_PATH_MAX];
	size_t path_len;
	const char *network_mode;
	json_t *ignored;
};

/* ---- paths and messages ---------------------------------------------------- */

static size_t path_push_field(struct td_ctx *c, const char *name)
{
	size_t old = c->path_len;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "%s%s",
			 old ? "." : "", name);

	c->path_len = n < 0 ? old : old + (size_t)n;
	if (c->path_len >= sizeof(c->path))
		c->path_len = sizeof(c->path) - 1;
	return old;
}

static size_t path_push_index(struct td_ctx *c, size_t index)
{
	size_t old = c->path_len;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "[%zu]", index);

	c->path_len = n < 0 ? old : old + (size_t)n;
	if (c->path_len >= sizeof(c->path))
		c->path_len = sizeof(c->path) - 1;
	return old;
}

static void path_pop(struct td_ctx *c, size_t old)
{
	c->path_len = old;
	c->path[old] = '\0';
}

/* Copy len bytes of user text into buf for a message: printable ASCII only
 * (anything else, and '"', becomes '?'), cut at TD_QUOTE_MAX with "...". */
static const char *quote_user(const char *s, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (o >= TD_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
	}
	buf[o] = '\0';
	return buf;
}

static int fail_at(orch_error *err, enum orch_error_kind kind, const char *path,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(orch_error *err, enum orch_error_kind kind, const char *path,
		   const char *fmt, ...)
{
	char reason[ORCH_ERROR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	return orch_fail(err, kind, "%s: %s", path[0] ? path : "request body", reason);
}

#define td_invalid(c, err, ...) fail_at((err), ORCH_ERR_INVALID, (c)->path, __VA_ARGS__)
#define td_unsupported(c, err) \
	fail_at((err), ORCH_ERR_UNSUPPORTED, (c)->path, "not supported by orch")

static int oom(orch_error *err)
{
	return orch_fail(err, ORCH_ERR_INTERNAL, "task definition: out of memory");
}

/* ---- small value helpers --------------------------------------------------- */

static bool has_nul(const json_t *str)
{
	return strlen(json_string_value(str)) != json_string_length(str);
}

static bool is_ecs_name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

static bool is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static json_int_t get_int(const json_t *obj, const char *key, json_int_t dflt)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static int set_default(json_t *obj, const char *key, json_t *value, orch_error *err)
{
	if (json_object_get(obj, key)) {
		json_decref(value);
		return 0;
	}
	if (!value || json_object_set_new(obj, key, value) < 0)
		return oom(err);
	return 0;
}

/* A refused field is "set" unless it is false or an empty array/object. */
static bool is_set(const json_t *v)
{
	if (json_is_array(v))
		return json_array_size(v) > 0;
	if (json_is_object(v))
		return json_object_size(v) > 0;
	if (json_is_boolean(v))
		return json_is_true(v);
	return true;
}

/* ---- the walk -------------------------------------------------------------- */

static int walk_object(struct td_ctx *c, const struct td_schema *s, const json_t *in,
		       json_t **out, orch_error *err);

static const char *type_name(enum td_type type)
{
	switch (type) {
	case TD_STRING:
		return "a string";
	case TD_INTEGER:
		return "an integer";
	case TD_BOOL:
		return "a boolean";
	case TD_ARRAY:
		return "an array";
	case TD_OBJECT:
		return "an object";
	case TD_STR_OR_INT:
		return "a string or an integer";
	}
	return "?";
}

static bool type_matches(enum td_type type, const json_t *v)
{
	switch (type) {
	case TD_STRING:
		return json_is_string(v);
	case TD_INTEGER:
		return json_is_integer(v);
	case TD_BOOL:
		return json_is_boolean(v);
	case TD_ARRAY:
		return json_is_array(v);
	case TD_OBJECT:
		return json_is_object(v);
	case TD_STR_OR_INT:
		return json_is_string(v) || json_is_integer(v);
	}
	return false;
}

static int check_string_bounds(struct td_ctx *c, const json_t *v, long long min,
			       long long max, orch_error *err)
{
	size_t len = json_string_length(v);

	if (max <= 0)
		max = TD_STRING_MAX;
	if (has_nul(v))
		return td_invalid(c, err, "must not contain NUL characters");
	if (min > 0 && len == 0)
		return td_invalid(c, err, "must not be empty");
	if ((long long)len < min)
		return td_invalid(c, err, "must be at least %lld characters", min);
	if ((long long)len > max)
		return td_invalid(c, err, "must be at most %lld characters", max);
	return 0;
}

static int walk_array(struct td_ctx *c, const struct td_field *f, const json_t *in,
		      json_t **out, orch_error *err)
{
	long long max = f->max > 0 ? f->max : TD_ARRAY_MAX;
	size_t i, n = json_array_size(in);
	json_t *arr;

	if (f->min > 0 && n == 0)
		return td_invalid(c, err, "must not be empty");
	if ((long long)n > max)
		return td_invalid(c, err, "must have at most %lld items", max);
	arr = json_array();
	if (!arr)
		return oom(err);
	for (i = 0; i < n; i++) {
		const json_t *elem = json_array_get(in, i);
		size_t old = path_push_index(c, i);
		json_t *val = NULL;
		int rc = 0;

		if (f->schema) {
			rc = walk_object(c, f->schema, elem, &val, err);
		} else if (!type_matches(f->elem, elem)) {
			rc = td_invalid(c, err, "must be %s", type_name(f->elem));
		} else {
			if (f->elem == TD_STRING)
				rc = check_string_bounds(c, elem, 0, TD_STRING_MAX, err);
			if (rc == 0 && !(val = json_deep_copy(elem)))
				rc = oom(err);
		}
		path_pop(c, old);
		if (rc == 0 && json_array_append_new(arr, val) < 0)
			rc = oom(err);
		if (rc < 0) {
			json_decref(arr);
			return -1;
		}
	}
	*out = arr;
	return 0;
}

/* Type and bounds of one present, non-null field; builds *out. */
static int walk_value(struct td_ctx *c, const struct td_field *f, const json_t *in,
		      json_t **out, orch_error *err)
{
	if (!type_matches(f->type, in))
		return td_invalid(c, err, "must be %s", type_name(f->type));
	if (f->policy == TD_REFUSE && is_set(in))
		return td_unsupported(c, err);

	switch (f->type) {
	case TD_STRING:
		if (check_string_bounds(c, in, f->min, f->max, err) < 0)
			return -1;
		break;
	case TD_INTEGER:
		if (f->min < f->max && (json_integer_value(in) < f->min ||
					json_integer_value(in) > f->max))
			return td_invalid(c, err, "must be between %lld and %lld",
					  f->min, f->max);
		break;
	case TD_ARRAY:
		return walk_array(c, f, in, out, err);
	case TD_OBJECT:
		if (f->schema)
			return walk_object(c, f->schema, in, out, err);
		/* A free-form map: copied by walk_field once its check has
		 * bounded its shape (jansson copies recursively). */
		return 0;
	case TD_BOOL:
	case TD_STR_OR_INT:
		break;
	}
	*out = json_deep_copy(in);
	return *out ? 0 : oom(err);
}

static int walk_field(struct td_ctx *c, const struct td_field *f, const json_t *in,
		      json_t **out, orch_error *err)
{
	json_t *val = NULL;
	json_t *path;

	if (walk_value(c, f, in, &val, err) < 0)
		return -1;
	if (f->check && f->check(c, in, &val, err) < 0) {
		json_decref(val);
		return -1;
	}
	if (!val && !(val = json_deep_copy(in)))
		return oom(err);
	if (f->policy == TD_IGNORE) {
		path = json_string(c->path);
		if (!path || json_array_append_new(c->ignored, path) < 0) {
			json_decref(val);
			return oom(err);
		}
	}
	*out = val;
	return 0;
}

static const struct td_field *schema_field(const struct td_schema *s, const char *key)
{
	const struct td_field *f;

	for (f = s->fields; f->name; f++)
		if (strcmp(f->name, key) == 0)
			return f;
	return NULL;
}

static int reject_unknown_fields(struct td_ctx *c, const struct td_schema *s,
				 const json_t *in, orch_error *err)
{
	char quoted[TD_QUOTE_MAX + 8];
	void *it;

	for (it = json_object_iter((json_t *)in); it;
	     it = json_object_iter_next((json_t *)in, it)) {
		const char *key = json_object_iter_key(it);
		size_t key_len = json_object_iter_key_len(it);
		size_t old;

		if (key_len == strlen(key) && schema_field(s, key))
			continue;
		old = path_push_field(c, quote_user(key, key_len, quoted, sizeof(quoted)));
		td_invalid(c, err, "unknown field");
		path_pop(c, old);
		return -1;
	}
	return 0;
}

/* Validate one object against its table, in table order, and build *out. */
static int walk_object(struct td_ctx *c, const struct td_schema *s, const json_t *in,
		       json_t **out, orch_error *err)
{
	const struct td_field *f;
	json_t *obj;

	if (!json_is_object(in))
		return td_invalid(c, err, "must be an object");
	if (reject_unknown_fields(c, s, in, err) < 0)
		return -1;
	obj = json_object();
	if (!obj)
		return oom(err);
	for (f = s->fields; f->name; f++) {
		const json_t *v = json_object_get(in, f->name);
		size_t old = path_push_field(c, f->name);
		json_t *val = NULL;
		int rc = 0;

		if (!v || json_is_null(v)) {
			if (f->required)
				rc = td_invalid(c, err, "is required");
		} else {
			rc = walk_field(c, f, v, &val, err);
			if (rc == 0 && json_object_set_new(obj, f->name, val) < 0)
				rc = oom(err);
		}
		path_pop(c, old);
		if (rc < 0) {
			json_decref(obj);
			return -1;
		}
	}
	if (s->finish && s->finish(c, obj, err) < 0) {
		json_decref(obj);
		return -1;
	}
	*out = obj;
	return 0;
}

/* ---- field checks ---------------------------------------------------------- */

/* family, container names: 1-255 letters, digits, underscores, hyphens. */
TD_CHECK(check_ecs_name)
{
	const char *s = json_string_value(in);

	for (; *s; s++)
		if (!is_ecs_name_char((unsigned char)*s))
			return td_invalid(c, err,
					  "must be 1 to 255 letters, digits, underscores or hyphens");
	return 0;
}

TD_CHECK(check_image)
{
	const unsigned char *s = (const unsigned char *)json_string_value(in);

	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return td_invalid(c, err,
					  "must not contain whitespace, control or non-ASCII characters");
	return 0;
}

TD_CHECK(check_network_mode)
{
	static const char *const modes[] = { "bridge", "host", "awsvpc", "none", NULL };
	const char *s = json_string_value(in);
	size_t i;

	for (i = 0; modes[i]; i++) {
		if (strcmp(s, modes[i]) == 0) {
			c->network_mode = modes[i];
			return 0;
		}
	}
	return td_invalid(c, err, "must be one of bridge, host, awsvpc, none");
}

/*
 * Parse "<digits>[.<digits>][ ]<unit>" into an integer count of base units,
 * where unit (case-insensitive) is one of units[] with its multiplier.  A bare
 * integer has multiplier 1.  Returns -1 if malformed or not a whole number.
 */
struct td_unit {
	const char *name;
	long long multiplier;
};

static int parse_quantity(const char *s, const struct td_unit *units, long long *value)
{
	long long mantissa = 0, scale = 1, mult = 1;
	int int_digits = 0, frac_digits = 0;

	while (*s == ' ')
		s++;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (++int_digits > 9)
			return -1;
		mantissa = mantissa * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (++frac_digits > 6)
				return -1;
			mantissa = mantissa * 10 + (*s - '0');
			scale *= 10;
		}
	}
	if (int_digits + frac_digits == 0)
		return -1;
	while (*s == ' ')
		s++;
	if (*s) {
		size_t len = strlen(s);

		while (len > 0 && s[len - 1] == ' ')
			len--;
		for (; units->name; units++)
			if (strlen(units->name) == len && strncasecmp(s, units->name, len) == 0)
				break;
		if (!units->name)
			return -1;
		mult = units->multiplier;
	}
	if ((mantissa * mult) % scale != 0)
		return -1;
	*value = mantissa * mult / scale;
	return 0;
}

static int normalize_quantity(struct td_ctx *c, const json_t *in, json_t **out,
			      const struct td_unit *units, long long min, long long max,
			      const char *unit_name, const char *syntax, orch_error *err)
{
	long long value;
	json_t *str;

	if (json_is_integer(in)) {
		value = json_integer_value(in);
	} else if (has_nul(in) || json_string_length(in) > 32 ||
		   parse_quantity(json_string_value(in), units, &value) < 0) {
		return td_invalid(c, err, "must be %s", syntax);
	}
	if (value < min || value > max)
		return td_invalid(c, err, "must be between %lld and %lld %s", min, max, unit_name);
	str = json_sprintf("%lld", value);
	if (!str)
		return oom(err);
	json_decref(*out);
	*out = str;
	return 0;
}

TD_CHECK(check_task_cpu)
{
	static const struct td_unit units[] = { { "vcpu", 1024 }, { NULL, 0 } };

	return normalize_quantity(c, in, out, units, TD_TASK_CPU_MIN, TD_CPU_MAX, "CPU units",
				  "a whole number of CPU units (\"1024\") or vCPUs (\"1 vCPU\")",
				  err);
}

TD_CHECK(check_task_memory)
{
	static const struct td_unit units[] = {
		{ "gb", 1024 }, { "gib", 1024 }, { "mb", 1 }, { "mib", 1 }, { NULL, 0 }
	};

	return normalize_quantity(c, in, out, units, TD_MEMORY_MIN, TD_MEMORY_MAX, "MiB",
				  "a whole number of MiB (\"1024\") or GB (\"1 GB\")", err);
}

static int check_enum(struct td_ctx *c, const json_t *in, const char *const *values,
		      const char *list, orch_error *err)
{
	if (!is_one_of(json_string_value(in), values))
		return td_invalid(c, err, "must be one of %s", list);
	return 0;
}

TD_CHECK(check_compatibilities)
{
	static const char *const values[] = { "EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES", NULL };
	size_t i;
	json_t *v;

	json_array_foreach(*out, i, v) {
		size_t old = path_push_index(c, i);
		int rc = check_enum(c, v, values, "EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES", err);

		path_pop(c, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

TD_CHECK(check_cpu_architecture)
{
	static const char *const values[] = { "X86_64", "ARM64", NULL };

	if (check_enum(c, in, values, "X86_64, ARM64", err) < 0)
		return -1;
	if (strcmp(json_string_value(in), "X86_64") != 0)
		return td_unsupported(c, err);
	return 0;
}

TD_CHECK(check_os_family)
{
	static const char *const values[] = {
		"LINUX", "WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE",
		"WINDOWS_SERVER_2016_FULL", "WINDOWS_SERVER_2004_CORE",
		"WINDOWS_SERVER_2022_CORE", "WINDOWS_SERVER_2022_FULL",
		"WINDOWS_SERVER_2025_CORE", "WINDOWS_SERVER_2025_FULL",
		"WINDOWS_SERVER_20H2_CORE", NULL
	};

	if (!is_one_of(json_string_value(in), values))
		return td_invalid(c, err, "must be LINUX or a WINDOWS_SERVER_* family");
	if (strcmp(json_string_value(in), "LINUX") != 0)
		return td_unsupported(c, err);
	return 0;
}

TD_CHECK(check_version_consistency)
{
	static const char *const values[] = { "enabled", "disabled", NULL };

	return check_enum(c, in, values, "enabled, disabled", err);
}

TD_CHECK(check_protocol)
{
	static const char *const values[] = { "tcp", "udp", NULL };

	return check_enum(c, in, values, "tcp, udp", err);
}

TD_CHECK(check_app_protocol)
{
	static const char *const values[] = { "http", "http2", "grpc", NULL };

	return check_enum(c, in, values, "http, http2, grpc", err);
}

/* ECS: lowercase letters, digits, underscores and hyphens; no leading hyphen. */
TD_CHECK(check_port_name)
{
	const char *s = json_string_value(in);
	const char *p;

	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-'))
			break;
	if (*p || s[0] == '-')
		return td_invalid(c, err,
				  "must be lowercase letters, digits, underscores or hyphens, not starting with a hyphen");
	return 0;
}

TD_CHECK(check_condition)
{
	static const char *const values[] = { "START", "COMPLETE", "SUCCESS", "HEALTHY", NULL };

	return check_enum(c, in, values, "START, COMPLETE, SUCCESS, HEALTHY", err);
}

TD_CHECK(check_ulimit_name)
{
	static const char *const values[] = {
		"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
		"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", NULL
	};

	return check_enum(c, in, values,
			  "core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, "
			  "nproc, rss, rtprio, rttime, sigpending, stack", err);
}

TD_CHECK(check_env_name)
{
	const unsigned char *s = (const unsigned char *)json_string_value(in);

	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f || *s == '=')
			return td_invalid(c, err,
					  "must be printable ASCII without spaces or '='");
	return 0;
}

TD_CHECK(check_working_directory)
{
	const unsigned char *s = (const unsigned char *)json_string_value(in);

	if (s[0] != '/')
		return td_invalid(c, err, "must be an absolute path");
	for (; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return td_invalid(c, err, "must not contain control characters");
	return 0;
}

TD_CHECK(check_hostname)
{
	const char *s = json_string_value(in);
	const char *p;

	if (strcmp(c->network_mode, "awsvpc") == 0)
		return td_invalid(c, err, "not allowed in networkMode awsvpc");
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			break;
	if (*p || s[0] == '-' || s[0] == '.')
		return td_invalid(c, err,
				  "must be letters, digits, hyphens and dots, not starting with a hyphen or dot");
	return 0;
}

/* One side of "user:group": a uid/gid up to 2^32-2, or a user/group name. */
static bool is_user_part(const char *s, size_t len)
{
	bool numeric = true;
	unsigned long long id = 0;
	size_t i;

	if (len == 0 || len > TD_USER_PART_MAX || s[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		char ch = s[i];

		if (ch >= '0' && ch <= '9')
			id = id * 10 + (unsigned long long)(ch - '0');
		else if (is_ecs_name_char((unsigned char)ch) || ch == '.')
			numeric = false;
		else
			return false;
	}
	return !numeric || id <= 4294967294ULL;
}

TD_CHECK(check_user)
{
	const char *s = json_string_value(in);
	const char *colon = strchr(s, ':');
	bool ok;

	if (colon)
		ok = is_user_part(s, (size_t)(colon - s)) &&
		     is_user_part(colon + 1, strlen(colon + 1));
	else
		ok = is_user_part(s, strlen(s));
	if (!ok)
		return td_invalid(c, err,
				  "must be \"uid\", \"uid:gid\", \"user\" or \"user:group\"");
	return 0;
}

/* dockerLabels, logConfiguration.options: an object of bounded strings. */
TD_CHECK(check_string_map)
{
	char quoted[TD_QUOTE_MAX + 8];
	void *it;

	if (json_object_size(in) > TD_LABELS_MAX)
		return td_invalid(c, err, "must have at most %d entries", TD_LABELS_MAX);
	for (it = json_object_iter((json_t *)in); it;
	     it = json_object_iter_next((json_t *)in, it)) {
		const char *key = json_object_iter_key(it);
		size_t key_len = json_object_iter_key_len(it);
		const json_t *v = json_object_iter_value(it);
		size_t old = c->path_len;
		int rc;

		snprintf(c->path + old, sizeof(c->path) - old, "[\"%s\"]",
			 quote_user(key, key_len, quoted, sizeof(quoted)));
		c->path_len = strlen(c->path);
		if (key_len == 0 || key_len > TD_LABEL_KEY_MAX)
			rc = td_invalid(c, err, "key must be 1 to %d characters", TD_LABEL_KEY_MAX);
		else if (key_len != strlen(key))
			rc = td_invalid(c, err, "key must not contain NUL characters");
		else if (!json_is_string(v))
			rc = td_invalid(c, err, "must be a string");
		else
			rc = check_string_bounds(c, v, 0, TD_STRING_MAX, err);
		path_pop(c, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

TD_CHECK(check_health_command)
{
	const char *kind = json_string_value(json_array_get(in, 0));
	size_t old;
	int rc;

	if (kind && (strcmp(kind, "CMD") == 0 || strcmp(kind, "CMD-SHELL") == 0)) {
		const char *first = json_string_value(json_array_get(in, 1));

		if (first && first[0])
			return 0;
		return td_invalid(c, err, "must name a command after \"%s\"", kind);
	}
	old = path_push_index(c, 0);
	rc = td_invalid(c, err, "must be \"CMD\" or \"CMD-SHELL\"");
	path_pop(c, old);
	return rc;
}

TD_CHECK(check_exit_codes)
{
	size_t i;
	json_t *v;

	json_array_foreach(*out, i, v) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > 255) {
			size_t old = path_push_index(c, i);

			td_invalid(c, err, "must be between 0 and 255");
			path_pop(c, old);
			return -1;
		}
	}
	return 0;
}

TD_CHECK(check_port_mappings)
{
	if (json_array_size(in) > 0 && strcmp(c->network_mode, "none") == 0)
		return td_invalid(c, err, "not allowed in networkMode none");
	return 0;
}

/* No two entries of the array field may share the string in key. */
static int check_unique_key(struct td_ctx *c, const json_t *arr, const char *field,
			    const char *key, const char *what, orch_error *err)
{
	char quoted[TD_QUOTE_MAX + 8];
	size_t i, j;

	for (i = 1; i < json_array_size(arr); i++) {
		const char *a = json_string_value(json_object_get(json_array_get(arr, i), key));

		for (j = 0; a && j < i; j++) {
			const char *b = json_string_value(
				json_object_get(json_array_get(arr, j), key));
			size_t old, old2;

			if (!b || strcmp(a, b) != 0)
				continue;
			old = path_push_index(c, i);
			old2 = path_push_field(c, key);
			td_invalid(c, err, "duplicate %s \"%s\" (also %s[%zu])", what,
				   quote_user(a, strlen(a), quoted, sizeof(quoted)), field, j);
			path_pop(c, old2);
			path_pop(c, old);
			return -1;
		}
	}
	return 0;
}

TD_CHECK(check_environment)
{
	return check_unique_key(c, *out, "environment", "name", "variable", err);
}

TD_CHECK(check_ulimits)
{
	return check_unique_key(c, *out, "ulimits", "name", "ulimit", err);
}

TD_CHECK(check_depends_on)
{
	return check_unique_key(c, *out, "dependsOn", "containerName", "dependency on", err);
}

/* ---- per-object finish hooks ----------------------------------------------- */

static int finish_port_mapping(struct td_ctx *c, json_t *out, orch_error *err)
{
	json_int_t container_port = get_int(out, "containerPort", 0);
	const json_t *host_port = json_object_get(out, "hostPort");
	bool fixed = strcmp(c->network_mode, "host") == 0 ||
		     strcmp(c->network_mode, "awsvpc") == 0;

	if (fixed && host_port && json_integer_value(host_port) != container_port) {
		size_t old = path_push_field(c, "hostPort");

		td_invalid(c, err, "must equal containerPort (%lld) in networkMode %s",
			   (long long)container_port, c->network_mode);
		path_pop(c, old);
		return -1;
	}
	if (set_default(out, "protocol", json_string("tcp"), err) < 0)
		return -1;
	return set_default(out, "hostPort", json_integer(fixed ? container_port : 0), err);
}

static int finish_health_check(struct td_ctx *c TD_UNUSED, json_t *out, orch_error *err)
{
	if (set_default(out, "interval", json_integer(ECS_DEFAULT_HEALTH_INTERVAL_S), err) < 0 ||
	    set_default(out, "timeout", json_integer(ECS_DEFAULT_HEALTH_TIMEOUT_S), err) < 0 ||
	    set_default(out, "retries", json_integer(ECS_DEFAULT_HEALTH_RETRIES), err) < 0 ||
	    set_default(out, "startPeriod", json_integer(ECS_DEFAULT_HEALTH_START_PERIOD_S),
			err) < 0)
		return -1;
	return 0;
}

static int finish_ulimit(struct td_ctx *c, json_t *out, orch_error *err)
{
	json_int_t soft = get_int(out, "softLimit", 0);
	json_int_t hard = get_int(out, "hardLimit", 0);

	/* -1 is "unlimited", as Docker takes it. */
	if (hard != -1 && (soft == -1 || soft > hard)) {
		size_t old = path_push_field(c, "softLimit");

		td_invalid(c, err, "must not exceed hardLimit (%lld)", (long long)hard);
		path_pop(c, old);
		return -1;
	}
	return 0;
}

static int finish_container(struct td_ctx *c, json_t *out, orch_error *err)
{
	const json_t *memory = json_object_get(out, "memory");
	const json_t *reservation = json_object_get(out, "memoryReservation");

	if (memory && reservation &&
	    json_integer_value(reservation) > json_integer_value(memory)) {
		size_t old = path_push_field(c, "memoryReservation");

		td_invalid(c, err, "must not exceed memory (%lld MiB)",
			   (long long)json_integer_value(memory));
		path_pop(c, old);
		return -1;
	}
	return set_default(out, "essential", json_true(), err);
}

static int finish_task(struct td_ctx *c, json_t *out, orch_error *err);

/* ---- the tables ------------------------------------------------------------ */

static const struct td_schema tag_schema = {
	.fields = (const struct td_field[]){
		{ .name = "key", .type = TD_STRING, .required = true, .min = 1, .max = 128 },
		{ .name = "value", .type = TD_STRING, .max = 256 },
		{ 0 },
	},
};

static const struct td_schema runtime_platform_schema = {
	.fields = (const struct td_field[]){
		{ .name = "cpuArchitecture", .type = TD_STRING, .check = check_cpu_architecture },
		{ .name = "operatingSystemFamily", .type = TD_STRING, .check = check_os_family },
		{ 0 },
	},
};

static const struct td_schema ephemeral_storage_schema = {
	.fields = (const struct td_field[]){
		{ .name = "sizeInGiB", .type = TD_INTEGER, .required = true, .min = 21, .max = 200 },
		{ 0 },
	},
};

static const struct td_schema port_mapping_schema = {
	.fields = (const struct td_field[]){
		{ .name = "containerPort", .type = TD_INTEGER, .required = true, .min = 1, .max = 65535 },
		{ .name = "hostPort", .type = TD_INTEGER, .min = 0, .max = 65535 },
		{ .name = "protocol", .type = TD_STRING, .check = check_protocol },
		/*
		 * Reported as ignored: ECS names a port for Service Connect, which
		 * orch does not have; nothing reads the name once it is checked
		 * (unique in the task).
		 */
		{ .name = "name", .type = TD_STRING, .policy = TD_IGNORE, .min = 1,
		  .max = TD_PORT_NAME_MAX, .check = check_port_name },
		{ .name = "appProtocol", .type = TD_STRING, .policy = TD_IGNORE,
		  .check = check_app_protocol },
		{ .name = "containerPortRange", .type = TD_STRING, .policy = TD_REFUSE },
		{ 0 },
	},
	.finish = finish_port_mapping,
};

static const struct td_schema key_value_schema = {
	.fields = (const struct td_field[]){
		{ .name = "name", .type = TD_STRING, .required = true, .min = 1,
		  .max = TD_ENV_NAME_MAX, .check = check_env_name },
		{ .name = "value", .type = TD_STRING, .required = true },
		{ 0 },
	},
};

static const struct td_schema dependency_schema = {
	.fields = (const struct td_field[]){
		{ .name = "containerName", .type = TD_STRING, .required = true, .min = 1,
		  .max = TD_NAME_MAX, .check = check_ecs_name },
		{ .name = "condition", .type = TD_STRING, .required = true, .check = check_condition },
		{ 0 },
	},
};

static const struct td_schema health_check_schema = {
	.fields = (const struct td_field[]){
		{ .name = "command", .type = TD_ARRAY, .required = true, .min = 1,
		  .max = TD_ARGV_MAX, .elem = TD_STRING, .check = check_health_command },
		{ .name = "interval", .type = TD_INTEGER, .min = 5, .max = 300 },
		{ .name = "timeout", .type = TD_INTEGER, .min = 2, .max = 60 },
		{ .name = "retries", .type = TD_INTEGER, .min = 1, .max = 10 },
		{ .name = "startPeriod", .type = TD_INTEGER, .min = 0, .max = 300 },
		{ 0 },
	},
	.finish = finish_health_check,
};

static const struct td_schema ulimit_schema = {
	.fields = (const struct td_field[]){
		{ .name = "name", .type = TD_STRING, .required = true, .check = check_ulimit_name },
		{ .name = "softLimit", .type = TD_INTEGER, .required = true, .min = -1,
		  .max = TD_ULIMIT_MAX },
		{ .name = "hardLimit", .type = TD_INTEGER, .required = true, .min = -1,
		  .max = TD_ULIMIT_MAX },
		{ 0 },
	},
	.finish = finish_ulimit,
};

static const struct td_schema capabilities_schema = {
	.fields = (const struct td_field[]){
		{ .name = "add", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "drop", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ 0 },
	},
};

static const struct td_schema linux_parameters_schema = {
	.fields = (const struct td_field[]){
		/* orch's own init as PID 1 (runtime/init_process.h). */
		{ .name = "initProcessEnabled", .type = TD_BOOL },
		{ .name = "capabilities", .type = TD_OBJECT, .schema = &capabilities_schema },
		{ .name = "devices", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "sharedMemorySize", .type = TD_INTEGER, .policy = TD_REFUSE },
		{ .name = "tmpfs", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "maxSwap", .type = TD_INTEGER, .policy = TD_REFUSE },
		{ .name = "swappiness", .type = TD_INTEGER, .policy = TD_REFUSE },
		{ 0 },
	},
};

static const struct td_schema restart_policy_schema = {
	.fields = (const struct td_field[]){
		{ .name = "enabled", .type = TD_BOOL, .policy = TD_REFUSE, .required = true },
		{ .name = "ignoredExitCodes", .type = TD_ARRAY, .max = 50, .elem = TD_INTEGER,
		  .check = check_exit_codes },
		{ .name = "restartAttemptPeriod", .type = TD_INTEGER, .min = 60, .max = 1800 },
		{ 0 },
	},
};

static const struct td_schema secret_option_schema = {
	.fields = (const struct td_field[]){
		{ .name = "name", .type = TD_STRING, .required = true, .min = 1, .max = 255 },
		{ .name = "valueFrom", .type = TD_STRING, .required = true, .min = 1,
		  .max = TD_ARN_MAX },
		{ 0 },
	},
};

static const struct td_schema log_configuration_schema = {
	.fields = (const struct td_field[]){
		{ .name = "logDriver", .type = TD_STRING, .required = true, .min = 1, .max = 255 },
		{ .name = "options", .type = TD_OBJECT, .check = check_string_map },
		{ .name = "secretOptions", .type = TD_ARRAY, .max = 50,
		  .schema = &secret_option_schema },
		{ 0 },
	},
};

static const struct td_schema container_schema = {
	.fields = (const struct td_field[]){
		{ .name = "name", .type = TD_STRING, .required = true, .min = 1,
		  .max = TD_NAME_MAX, .check = check_ecs_name },
		{ .name = "image", .type = TD_STRING, .required = true, .min = 1,
		  .max = TD_IMAGE_MAX, .check = check_image },
		{ .name = "essential", .type = TD_BOOL },
		{ .name = "cpu", .type = TD_INTEGER, .min = 0, .max = TD_CPU_MAX },
		{ .name = "memory", .type = TD_INTEGER, .min = TD_MEMORY_MIN, .max = TD_MEMORY_MAX },
		{ .name = "memoryReservation", .type = TD_INTEGER, .min = TD_MEMORY_MIN,
		  .max = TD_MEMORY_MAX },
		{ .name = "portMappings", .type = TD_ARRAY, .schema = &port_mapping_schema,
		  .check = check_port_mappings },
		{ .name = "entryPoint", .type = TD_ARRAY, .max = TD_ARGV_MAX, .elem = TD_STRING },
		{ .name = "command", .type = TD_ARRAY, .max = TD_ARGV_MAX, .elem = TD_STRING },
		{ .name = "environment", .type = TD_ARRAY, .max = TD_ENV_MAX,
		  .schema = &key_value_schema, .check = check_environment },
		{ .name = "workingDirectory", .type = TD_STRING, .min = 1, .max = TD_PATHNAME_MAX,
		  .check = check_working_directory },
		{ .name = "user", .type = TD_STRING, .min = 1, .max = 2 * TD_USER_PART_MAX + 1,
		  .check = check_user },
		{ .name = "hostname", .type = TD_STRING, .min = 1, .max = TD_HOSTNAME_MAX,
		  .check = check_hostname },
		{ .name = "dependsOn", .type = TD_ARRAY, .max = TASKDEF_MAX_CONTAINERS,
		  .schema = &dependency_schema, .check = check_depends_on },
		{ .name = "startTimeout", .type = TD_INTEGER, .min = 2, .max = 120 },
		{ .name = "stopTimeout", .type = TD_INTEGER, .min = 0, .max = 120 },
		{ .name = "healthCheck", .type = TD_OBJECT, .schema = &health_check_schema },
		{ .name = "ulimits", .type = TD_ARRAY, .max = 15, .schema = &ulimit_schema,
		  .check = check_ulimits },
		{ .name = "dockerLabels", .type = TD_OBJECT, .check = check_string_map },
		{ .name = "readonlyRootFilesystem", .type = TD_BOOL },
		{ .name = "linuxParameters", .type = TD_OBJECT, .schema = &linux_parameters_schema },
		/*
		 * Reported as ignored: enabled true is refused (its schema), and
		 * with enabled false the rest (ignoredExitCodes,
		 * restartAttemptPeriod) has nothing to act on; orch never restarts
		 * a container.
		 */
		{ .name = "restartPolicy", .type = TD_OBJECT, .policy = TD_IGNORE,
		  .schema = &restart_policy_schema },
		{ .name = "logConfiguration", .type = TD_OBJECT, .policy = TD_IGNORE,
		  .schema = &log_configuration_schema },
		{ .name = "versionConsistency", .type = TD_STRING, .policy = TD_IGNORE,
		  .check = check_version_consistency },
		{ .name = "privileged", .type = TD_BOOL, .policy = TD_REFUSE },
		{ .name = "repositoryCredentials", .type = TD_OBJECT, .policy = TD_REFUSE },
		{ .name = "links", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "environmentFiles", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "mountPoints", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "volumesFrom", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "secrets", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "disableNetworking", .type = TD_BOOL, .policy = TD_REFUSE },
		{ .name = "dnsServers", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "dnsSearchDomains", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "extraHosts", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "dockerSecurityOptions", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "interactive", .type = TD_BOOL, .policy = TD_REFUSE },
		{ .name = "pseudoTerminal", .type = TD_BOOL, .policy = TD_REFUSE },
		{ .name = "systemControls", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "resourceRequirements", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "firelensConfiguration", .type = TD_OBJECT, .policy = TD_REFUSE },
		{ .name = "credentialSpecs", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ 0 },
	},
	.finish = finish_container,
};

/* networkMode, cpu and memory come before containerDefinitions: the
 * container checks read the network mode. */
static const struct td_schema task_schema = {
	.fields = (const struct td_field[]){
		{ .name = "family", .type = TD_STRING, .required = true, .min = 1,
		  .max = TD_NAME_MAX, .check = check_ecs_name },
		{ .name = "networkMode", .type = TD_STRING, .check = check_network_mode },
		{ .name = "cpu", .type = TD_STR_OR_INT, .check = check_task_cpu },
		{ .name = "memory", .type = TD_STR_OR_INT, .check = check_task_memory },
		{ .name = "containerDefinitions", .type = TD_ARRAY, .required = true, .min = 1,
		  .max = TASKDEF_MAX_CONTAINERS, .schema = &container_schema },
		{ .name = "taskRoleArn", .type = TD_STRING, .policy = TD_IGNORE, .max = TD_ARN_MAX },
		{ .name = "executionRoleArn", .type = TD_STRING, .policy = TD_IGNORE,
		  .max = TD_ARN_MAX },
		{ .name = "requiresCompatibilities", .type = TD_ARRAY, .policy = TD_IGNORE,
		  .max = 4, .elem = TD_STRING, .check = check_compatibilities },
		{ .name = "tags", .type = TD_ARRAY, .policy = TD_IGNORE, .max = 50,
		  .schema = &tag_schema },
		{ .name = "runtimePlatform", .type = TD_OBJECT, .policy = TD_IGNORE,
		  .schema = &runtime_platform_schema },
		{ .name = "ephemeralStorage", .type = TD_OBJECT, .policy = TD_IGNORE,
		  .schema = &ephemeral_storage_schema },
		{ .name = "enableFaultInjection", .type = TD_BOOL, .policy = TD_IGNORE },
		{ .name = "volumes", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "placementConstraints", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ .name = "pidMode", .type = TD_STRING, .policy = TD_REFUSE },
		{ .name = "ipcMode", .type = TD_STRING, .policy = TD_REFUSE },
		{ .name = "proxyConfiguration", .type = TD_OBJECT, .policy = TD_REFUSE },
		{ .name = "inferenceAccelerators", .type = TD_ARRAY, .policy = TD_REFUSE },
		{ 0 },
	},
	.finish = finish_task,
};

/* ---- rules across containers ----------------------------------------------- */

struct td_task_view {
	const json_t *containers;
	size_t n;
	const char *names[TASKDEF_MAX_CONTAINERS];
};

static const json_t *container_at(const struct td_task_view *t, size_t i)
{
	return json_array_get(t->containers, i);
}

static int check_container_names(const struct td_task_view *t, orch_error *err)
{
	char path[TD_PATH_MAX];
	size_t i, j;

	for (i = 1; i < t->n; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(t->names[i], t->names[j]) != 0)
				continue;
			snprintf(path, sizeof(path), "containerDefinitions[%zu].name", i);
			return fail_at(err, ORCH_ERR_INVALID, path,
				       "duplicate container name \"%s\" (also containerDefinitions[%zu])",
				       t->names[i], j);
		}
	}
	return 0;
}

static int check_essential(const struct td_task_view *t, orch_error *err)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (json_is_true(json_object_get(container_at(t, i), "essential")))
			return 0;
	return fail_at(err, ORCH_ERR_INVALID, "containerDefinitions",
		       "at least one container must be essential");
}

static int check_memory_budget(const struct td_task_view *t, const json_t *task,
			       orch_error *err)
{
	const char *task_memory_str = json_string_value(json_object_get(task, "memory"));
	long long task_memory = task_memory_str ? strtoll(task_memory_str, NULL, 10) : 0;
	long long reserved = 0;
	char path[TD_PATH_MAX];
	size_t i;

	for (i = 0; i < t->n; i++) {
		const json_t *ct = container_at(t, i);
		long long memory = get_int(ct, "memory", 0);
		long long reservation = get_int(ct, "memoryReservation", 0);

		if (!task_memory && !memory && !reservation) {
			snprintf(path, sizeof(path), "containerDefinitions[%zu].memory", i);
			return fail_at(err, ORCH_ERR_INVALID, path,
				       "memory or memoryReservation is required when the task memory is not set");
		}
		if (task_memory && memory > task_memory) {
			snprintf(path, sizeof(path), "containerDefinitions[%zu].memory", i);
			return fail_at(err, ORCH_ERR_INVALID, path,
				       "%lld MiB exceeds the task memory (%lld MiB)",
				       memory, task_memory);
		}
		reserved += reservation ? reservation : memory;
	}
	if (task_memory && reserved > task_memory)
		return fail_at(err, ORCH_ERR_INVALID, "memory",
			       "the containers reserve %lld MiB, more than the task memory of %lld MiB",
			       reserved, task_memory);
	return 0;
}

static int check_cpu_budget(const struct td_task_view *t, const json_t *task, orch_error *err)
{
	const char *task_cpu_str = json_string_value(json_object_get(task, "cpu"));
	long long task_cpu = task_cpu_str ? strtoll(task_cpu_str, NULL, 10) : 0;
	long long reserved = 0;
	size_t i;

	if (!task_cpu)
		return 0;
	for (i = 0; i < t->n; i++)
		reserved += get_int(container_at(t, i), "cpu", 0);
	if (reserved > task_cpu)
		return fail_at(err, ORCH_ERR_INVALID, "cpu",
			       "the containers reserve %lld CPU units, more than the task cpu of %lld",
			       reserved, task_cpu);
	return 0;
}

struct td_port_use {
	size_t container, mapping;
	json_int_t container_port, host_port;
	const char *protocol;
	const char *name;
};

static int check_port_pair(const struct td_port_use *a, const struct td_port_use *b,
			   orch_error *err)
{
	char path[TD_PATH_MAX];
	const char *field = NULL;
	json_int_t port = 0;

	if (a->container_port == b->container_port && strcmp(a->protocol, b->protocol) == 0) {
		field = "containerPort";
		port = a->container_port;
	} else if (a->host_port && a->host_port == b->host_port &&
		   strcmp(a->protocol, b->protocol) == 0) {
		field = "hostPort";
		port = a->host_port;
	}
	if (field) {
		snprintf(path, sizeof(path), "containerDefinitions[%zu].portMappings[%zu].%s",
			 a->container, a->mapping, field);
		return fail_at(err, ORCH_ERR_INVALID, path,
			       "%lld/%s is already used by containerDefinitions[%zu].portMappings[%zu]%s",
			       (long long)port, a->protocol, b->container, b->mapping,
			       a->container != b->container && field[0] == 'c' ?
			       " (a task's containers share one network namespace)" : "");
	}
	if (a->name && b->name && strcmp(a->name, b->name) == 0) {
		snprintf(path, sizeof(path), "containerDefinitions[%zu].portMappings[%zu].name",
			 a->container, a->mapping);
		return fail_at(err, ORCH_ERR_INVALID, path,
			       "duplicate port mapping name \"%s\" (also containerDefinitions[%zu].portMappings[%zu])",
			       a->name, b->container, b->mapping);
	}
	return 0;
}

static int check_ports(const struct td_task_view *t, orch_error *err)
{
	struct td_port_use uses[TASKDEF_MAX_CONTAINERS * TD_ARRAY_MAX];
	size_t n_uses = 0, i, j;

	for (i = 0; i < t->n; i++) {
		const json_t *mappings = json_object_get(container_at(t, i), "portMappings");
		json_t *pm;

		json_array_foreach(mappings, j, pm) {
			struct td_port_use *u = &uses[n_uses];
			size_t k;

			u->container = i;
			u->mapping = j;
			u->container_port = get_int(pm, "containerPort", 0);
			u->host_port = get_int(pm, "hostPort", 0);
			u->protocol = json_string_value(json_object_get(pm, "protocol"));
			u->name = json_string_value(json_object_get(pm, "name"));
			for (k = 0; k < n_uses; k++)
				if (check_port_pair(u, &uses[k], err) < 0)
					return -1;
			n_uses++;
		}
	}
	return 0;
}

static size_t container_index(const struct td_task_view *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->names[i], name) == 0)
			return i;
	return SIZE_MAX;
}

/* Targets exist, are not the container itself, and suit the condition. */
static int check_dependency_targets(const struct td_task_view *t, orch_error *err)
{
	char path[TD_PATH_MAX];
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		const json_t *deps = json_object_get(container_at(t, i), "dependsOn");
		json_t *dep;

		json_array_foreach(deps, j, dep) {
			const char *target = json_string_value(json_object_get(dep, "containerName"));
			const char *cond = json_string_value(json_object_get(dep, "condition"));
			size_t k = container_index(t, target);
			const json_t *tc = container_at(t, k);

			snprintf(path, sizeof(path), "containerDefinitions[%zu].dependsOn[%zu].%s",
				 i, j, "containerName");
			if (k == SIZE_MAX)
				return fail_at(err, ORCH_ERR_INVALID, path,
					       "no container named \"%s\" in this task definition",
					       target);
			if (k == i)
				return fail_at(err, ORCH_ERR_INVALID, path,
					       "dependency cycle %s -> %s", target, target);
			snprintf(path, sizeof(path), "containerDefinitions[%zu].dependsOn[%zu].%s",
				 i, j, "condition");
			if (strcmp(cond, "HEALTHY") == 0 && !json_object_get(tc, "healthCheck"))
				return fail_at(err, ORCH_ERR_INVALID, path,
					       "HEALTHY requires container \"%s\" to have a healthCheck",
					       target);
			if ((strcmp(cond, "COMPLETE") == 0 || strcmp(cond, "SUCCESS") == 0) &&
			    json_is_true(json_object_get(tc, "essential")))
				return fail_at(err, ORCH_ERR_INVALID, path,
					       "%s cannot be used on essential container \"%s\"",
					       cond, target);
		}
	}
	return 0;
}

struct td_dfs {
	const struct td_task_view *t;
	int state[TASKDEF_MAX_CONTAINERS];	/* 0 new, 1 on the stack, 2 done */
	size_t stack[TASKDEF_MAX_CONTAINERS];
	size_t depth;
};

static int report_cycle(struct td_dfs *d, size_t from, size_t dep_index, size_t to,
			orch_error *err)
{
	char path[TD_PATH_MAX];
	char cycle[ORCH_ERROR_MESSAGE_MAX];
	size_t len = 0, i = 0;

	while (d->stack[i] != to)
		i++;
	for (; i < d->depth && len < sizeof(cycle); i++)
		len += (size_t)snprintf(cycle + len, sizeof(cycle) - len, "%s -> ",
					d->t->names[d->stack[i]]);
	if (len < sizeof(cycle))
		snprintf(cycle + len, sizeof(cycle) - len, "%s", d->t->names[to]);
	snprintf(path, sizeof(path), "containerDefinitions[%zu].dependsOn[%zu].containerName",
		 from, dep_index);
	return fail_at(err, ORCH_ERR_INVALID, path, "dependency cycle %s", cycle);
}

/* Depth-first search; the depth is bounded by TASKDEF_MAX_CONTAINERS. */
static int dfs_visit(struct td_dfs *d, size_t i, orch_error *err)
{
	const json_t *deps = json_object_get(container_at(d->t, i), "dependsOn");
	json_t *dep;
	size_t j;

	d->state[i] = 1;
	d->stack[d->depth++] = i;
	json_array_foreach(deps, j, dep) {
		size_t k = container_index(d->t,
					   json_string_value(json_object_get(dep, "containerName")));

		if (d->state[k] == 1)
			return report_cycle(d, i, j, k, err);
		if (d->state[k] == 0 && dfs_visit(d, k, err) < 0)
			return -1;
	}
	d->depth--;
	d->state[i] = 2;
	return 0;
}

static int check_dependency_cycles(const struct td_task_view *t, orch_error *err)
{
	struct td_dfs d = { .t = t };
	size_t i;

	for (i = 0; i < t->n; i++)
		if (d.state[i] == 0 && dfs_visit(&d, i, err) < 0)
			return -1;
	return 0;
}

static int finish_task(struct td_ctx *c TD_UNUSED, json_t *out, orch_error *err)
{
	struct td_task_view t = { .containers = json_object_get(out, "containerDefinitions") };
	size_t i;

	t.n = json_array_size(t.containers);
	for (i = 0; i < t.n; i++)
		t.names[i] = json_string_value(json_object_get(container_at(&t, i), "name"));
	if (set_default(out, "networkMode", json_string(ECS_DEFAULT_NETWORK_MODE), err) < 0 ||
	    check_container_names(&t, err) < 0 ||
	    check_essential(&t, err) < 0 ||
	    check_memory_budget(&t, out, err) < 0 ||
	    check_cpu_budget(&t, out, err) < 0 ||
	    check_ports(&t, err) < 0 ||
	    check_dependency_targets(&t, err) < 0 ||
	    check_dependency_cycles(&t, err) < 0)
		return -1;
	return 0;
}

/* ---- public interface ------------------------------------------------------ */

int taskdef_validate(const json_t *input, json_t **normalized, json_t **ignored, orch_error *err)
{
	struct td_ctx c = { .network_mode = ECS_DEFAULT_NETWORK_MODE };
	json_t *out = NULL;

	*normalized = NULL;
	*ignored = NULL;
	c.ignored = json_array();
	if (!c.ignored)
		return oom(err);
	if (!input || !json_is_object(input)) {
		json_decref(c.ignored);
		return orch_fail(err, ORCH_ERR_INVALID, "request body: must be a JSON object");
	}
	if (walk_object(&c, &task_schema, input, &out, err) < 0) {
		json_decref(c.ignored);
		return -1;
	}
	*normalized = out;
	*ignored = c.ignored;
	return 0;
}

/* Every field of s and of the acted-on objects below it, by policy. */
static int field_catalog_add(json_t *by_policy[3], const struct td_schema *s, const char *prefix)
{
	const struct td_field *f;

	for (f = s->fields; f->name; f++) {
		char path[TD_PATH_MAX];

		snprintf(path, sizeof(path), "%s%s", prefix, f->name);
		if (json_array_append_new(by_policy[f->policy], json_string(path)) < 0)
			return -1;
		if (f->policy == TD_ACT && f->schema) {
			char sub[TD_PATH_MAX + 4];

			snprintf(sub, sizeof(sub), "%s%s.", path, f->type == TD_ARRAY ? "[]" : "");
			if (field_catalog_add(by_policy, f->schema, sub) < 0)
				return -1;
		}
	}
	return 0;
}

json_t *taskdef_field_catalog(void)
{
	json_t *by_policy[3] = { json_array(), json_array(), json_array() };

	if (!by_policy[TD_ACT] || !by_policy[TD_IGNORE] || !by_policy[TD_REFUSE] ||
	    field_catalog_add(by_policy, &task_schema, "") < 0) {
		for (size_t i = 0; i < 3; i++)
			json_decref(by_policy[i]);
		return NULL;
	}
	/* json_pack takes the three references, on failure too. */
	return json_pack("{s:o, s:o, s:o}", "acted", by_policy[TD_ACT],
			 "ignored", by_policy[TD_IGNORE], "refused", by_policy[TD_REFUSE]);
}

json_t *taskdef_ignored_field_catalog(void)
{
	cleanup_json json_t *catalog = taskdef_field_catalog();
	json_t *ignored = json_object_get(catalog, "ignored");

	return ignored ? json_incref(ignored) : NULL;
}

int taskdef_fields_main(int argc, char **argv)
{
	cleanup_json json_t *catalog = NULL;

	if (argc != 1) {
		fprintf(stderr, "usage: orch %s\n", argv[0]);
		return 2;
	}
	catalog = taskdef_field_catalog();
	if (!catalog || json_dumpf(catalog, stdout, JSON_INDENT(2)) < 0) {
		fprintf(stderr, "orch %s: out of memory\n", argv[0]);
		return 1;
	}
	putchar('\n');
	return 0;
}

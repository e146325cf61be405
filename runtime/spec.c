/*
 * spec.c - merging the image config with docker-run-style overrides into
 * the process a container runs.  See spec.h for the rules.
 */
#include "spec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/cleanup.h"

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Appends a copy of s to the NULL-terminated vector *v of *n entries. */
static int strv_push(char ***v, size_t *n, const char *s, orch_error *err)
{
	char **grown;
	char *copy;

	if (*n >= SPEC_ARGV_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "more than %d entries", SPEC_ARGV_MAX);
	copy = strdup(s);
	if (!copy)
		return orch_fail_errno(err, ENOMEM, "copying '%s'", s);
	grown = realloc(*v, (*n + 2) * sizeof(**v));
	if (!grown) {
		free(copy);
		return orch_fail_errno(err, ENOMEM, "growing a list");
	}
	grown[(*n)++] = copy;
	grown[*n] = NULL;
	*v = grown;
	return 0;
}

/* Pushes every string of a JSON array; a non-array or NULL pushes nothing. */
static int strv_push_json(char ***v, size_t *n, const json_t *array, const char *what,
			  orch_error *err)
{
	size_t i;
	json_t *item;

	if (!array || json_is_null(array))
		return 0;
	if (!json_is_array(array))
		return orch_fail(err, ORCH_ERR_INVALID, "image config '%s' is not an array", what);
	json_array_foreach(array, i, item) {
		if (!json_is_string(item))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "image config '%s[%zu]' is not a string", what, i);
		if (strv_push(v, n, json_string_value(item), err) < 0)
			return -1;
	}
	return 0;
}

static size_t env_key_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

int spec_env_put(struct spec_process *p, const char *entry, orch_error *err)
{
	size_t klen = env_key_len(entry);
	char *copy;

	if (klen == 0 || entry[klen] != '=')
		return orch_fail(err, ORCH_ERR_INVALID,
				 "environment entry '%s' is not KEY=VALUE", entry);
	for (size_t i = 0; i < p->env_count; i++) {
		if (env_key_len(p->env[i]) == klen && strncmp(p->env[i], entry, klen) == 0) {
			copy = strdup(entry);
			if (!copy)
				return orch_fail_errno(err, ENOMEM, "copying '%s'", entry);
			free(p->env[i]);
			p->env[i] = copy;
			return 0;
		}
	}
	return strv_push(&p->env, &p->env_count, entry, err);
}

const char *spec_env_get(const struct spec_process *p, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < p->env_count; i++)
		if (env_key_len(p->env[i]) == klen && strncmp(p->env[i], key, klen) == 0)
			return p->env[i] + klen + 1;
	return NULL;
}

int spec_env_set_default(struct spec_process *p, const char *key, const char *value,
			 orch_error *err)
{
	cleanup_free char *entry = NULL;

	if (spec_env_get(p, key))
		return 0;
	if (asprintf(&entry, "%s=%s", key, value) < 0) {
		entry = NULL;
		return orch_fail_errno(err, ENOMEM, "setting '%s'", key);
	}
	return spec_env_put(p, entry, err);
}

static int merge_argv(const json_t *image, const struct spec_overrides *ov,
		      struct spec_process *out, orch_error *err)
{
	const json_t *image_entrypoint = image ? json_object_get(image, "Entrypoint") : NULL;
	const json_t *image_cmd = image ? json_object_get(image, "Cmd") : NULL;

	if (ov->entrypoint_set && ov->entrypoint && ov->entrypoint[0]) {
		/* A new entrypoint: the image's Cmd was written for the old one. */
		if (strv_push(&out->argv, &out->argc, ov->entrypoint, err) < 0)
			return -1;
	} else if (!ov->entrypoint_set) {
		if (strv_push_json(&out->argv, &out->argc, image_entrypoint, "Entrypoint", err) < 0)
			return -1;
	}
	if (ov->cmd_count > 0) {
		for (size_t i = 0; i < ov->cmd_count; i++)
			if (strv_push(&out->argv, &out->argc, ov->cmd[i], err) < 0)
				return -1;
	} else if (!(ov->entrypoint_set && ov->entrypoint && ov->entrypoint[0])) {
		if (strv_push_json(&out->argv, &out->argc, image_cmd, "Cmd", err) < 0)
			return -1;
	}
	if (out->argc == 0)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "no command specified: the image has no Cmd or Entrypoint");
	return 0;
}

static int merge_env(const json_t *image, const struct spec_overrides *ov,
		     struct spec_process *out, orch_error *err)
{
	const json_t *image_env = image ? json_object_get(image, "Env") : NULL;
	cleanup_free char *hostname_entry = NULL;
	size_t i;
	json_t *item;

	if (spec_env_put(out, "PATH=" SPEC_DEFAULT_PATH, err) < 0)
		return -1;
	if (ov->hostname) {
		if (asprintf(&hostname_entry, "HOSTNAME=%s", ov->hostname) < 0) {
			hostname_entry = NULL;
			return orch_fail_errno(err, ENOMEM, "setting HOSTNAME");
		}
		if (spec_env_put(out, hostname_entry, err) < 0)
			return -1;
	}
	if (image_env && !json_is_null(image_env)) {
		if (!json_is_array(image_env))
			return orch_fail(err, ORCH_ERR_INVALID, "image config 'Env' is not an array");
		json_array_foreach(image_env, i, item) {
			if (!json_is_string(item))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "image config 'Env[%zu]' is not a string", i);
			if (spec_env_put(out, json_string_value(item), err) < 0)
				return orch_error_prefix(err, "image config");
		}
	}
	for (i = 0; i < ov->env_count; i++)
		if (spec_env_put(out, ov->env[i], err) < 0)
			return -1;
	return 0;
}

static const char *image_string(const json_t *image, const char *key)
{
	const json_t *v = image ? json_object_get(image, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int spec_merge(const json_t *image_config, const struct spec_overrides *ov,
	       struct spec_process *out, orch_error *err)
{
	const char *workdir, *user;

	memset(out, 0, sizeof(*out));
	if (image_config && !json_is_object(image_config)) {
		orch_fail(err, ORCH_ERR_INVALID, "image config is not an object");
		goto fail;
	}
	if (merge_argv(image_config, ov, out, err) < 0 || merge_env(image_config, ov, out, err) < 0)
		goto fail;

	workdir = ov->workdir && ov->workdir[0] ? ov->workdir : image_string(image_config, "WorkingDir");
	if (!workdir || !workdir[0])
		workdir = "/";
	if (workdir[0] != '/') {
		orch_fail(err, ORCH_ERR_INVALID,
			  "the working directory '%s' is invalid: it needs to be an absolute path",
			  workdir);
		goto fail;
	}
	user = ov->user ? ov->user : image_string(image_config, "User");
	out->workdir = strdup(workdir);
	out->user = strdup(user ? user : "");
	if (!out->workdir || !out->user) {
		orch_fail_errno(err, ENOMEM, "merging the container spec");
		goto fail;
	}
	return 0;
fail:
	spec_process_release(out);
	return -1;
}

void spec_process_release(struct spec_process *p)
{
	strv_free(p->argv, p->argc);
	strv_free(p->env, p->env_count);
	free(p->workdir);
	free(p->user);
	memset(p, 0, sizeof(*p));
}

static json_t *strv_to_json(char **v, size_t n)
{
	json_t *array = json_array();

	for (size_t i = 0; array && i < n; i++)
		json_array_append_new(array, json_string(v[i]));
	return array;
}

/* ---- rlimits ---------------------------------------------------------------- */

static const struct { const char *name; int resource; } rlimit_names[] = {
	{ "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU }, { "data", RLIMIT_DATA },
	{ "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS }, { "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE }, { "nofile", RLIMIT_NOFILE },
	{ "nproc", RLIMIT_NPROC }, { "rss", RLIMIT_RSS }, { "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME }, { "sigpending", RLIMIT_SIGPENDING },
	{ "stack", RLIMIT_STACK },
};
#define RLIMIT_NAME_COUNT (sizeof(rlimit_names) / sizeof(rlimit_names[0]))
_Static_assert(RLIMIT_NAME_COUNT <= SPEC_RLIMIT_MAX, "SPEC_RLIMIT_MAX holds every resource");

int spec_rlimit_resource(const char *name)
{
	for (size_t i = 0; i < RLIMIT_NAME_COUNT; i++)
		if (strcmp(rlimit_names[i].name, name) == 0)
			return rlimit_names[i].resource;
	return -1;
}

const char *spec_rlimit_name(int resource)
{
	for (size_t i = 0; i < RLIMIT_NAME_COUNT; i++)
		if (rlimit_names[i].resource == resource)
			return rlimit_names[i].name;
	return "?";
}

int spec_rlimit_from_values(const char *name, int64_t soft, int64_t hard,
			    struct spec_rlimit *out, orch_error *err)
{
	memset(out, 0, sizeof(*out));
	out->resource = spec_rlimit_resource(name);
	if (out->resource < 0)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "ulimit '%s': unknown name (core, cpu, data, fsize, locks, memlock, "
				 "msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)",
				 name);
	if (soft < -1 || hard < -1)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "ulimit '%s': a limit is a non-negative number or -1 (unlimited)", name);
	out->soft = soft == -1 ? SPEC_RLIMIT_UNLIMITED : (uint64_t)soft;
	out->hard = hard == -1 ? SPEC_RLIMIT_UNLIMITED : (uint64_t)hard;
	if (out->soft > out->hard)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "ulimit '%s': the soft limit %" PRId64 " exceeds the hard limit %" PRId64,
				 name, soft, hard);
	return 0;
}

/* One value of --ulimit: digits, -1 or "unlimited"; false if malformed. */
static bool rlimit_value_parse(const char *text, size_t len, int64_t *out)
{
	int64_t v = 0;

	if ((len == 2 && strncmp(text, "-1", 2) == 0) ||
	    (len == 9 && strncmp(text, "unlimited", 9) == 0)) {
		*out = -1;
		return true;
	}
	if (len == 0 || len > 18)	/* up to 10^18 - 1: no overflow below */
		return false;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		v = v * 10 + (text[i] - '0');
	}
	*out = v;
	return true;
}

int spec_rlimit_parse(const char *text, struct spec_rlimit *out, orch_error *err)
{
	const char *eq = strchr(text, '='), *values, *colon;
	char name[16];
	int64_t soft, hard;

	memset(out, 0, sizeof(*out));
	if (!eq || eq == text || (size_t)(eq - text) >= sizeof(name))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "invalid ulimit '%s': expected name=soft[:hard]", text);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - text), text);
	values = eq + 1;
	colon = strchr(values, ':');
	if (!rlimit_value_parse(values, colon ? (size_t)(colon - values) : strlen(values), &soft) ||
	    (colon && !rlimit_value_parse(colon + 1, strlen(colon + 1), &hard)))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "invalid ulimit '%s': a limit is a number, -1 or 'unlimited'", text);
	if (!colon)
		hard = soft;
	return spec_rlimit_from_values(name, soft, hard, out, err);
}

void spec_rlimit_format(const struct spec_rlimit *r, char *buf, size_t len)
{
	int64_t soft = r->soft == SPEC_RLIMIT_UNLIMITED ? -1 : (int64_t)r->soft;
	int64_t hard = r->hard == SPEC_RLIMIT_UNLIMITED ? -1 : (int64_t)r->hard;

	snprintf(buf, len, "%s=%" PRId64 ":%" PRId64, spec_rlimit_name(r->resource), soft, hard);
}

int spec_rlimit_put(struct spec_process *p, const struct spec_rlimit *r, orch_error *err)
{
	for (size_t i = 0; i < p->rlimit_count; i++) {
		if (p->rlimits[i].resource == r->resource) {
			p->rlimits[i] = *r;
			return 0;
		}
	}
	if (p->rlimit_count >= SPEC_RLIMIT_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "more than %d ulimits", SPEC_RLIMIT_MAX);
	p->rlimits[p->rlimit_count++] = *r;
	return 0;
}

const struct spec_rlimit *spec_rlimit_get(const struct spec_process *p, int resource)
{
	for (size_t i = 0; i < p->rlimit_count; i++)
		if (p->rlimits[i].resource == resource)
			return &p->rlimits[i];
	return NULL;
}

/* ---- JSON -------------------------------------------------------------------- */

static json_int_t rlimit_json_value(uint64_t v)
{
	return v == SPEC_RLIMIT_UNLIMITED ? -1 : (json_int_t)v;
}

/* [{"type": "nofile", "soft": N, "hard": N}, ...], -1 for unlimited. */
static json_t *rlimits_to_json(const struct spec_process *p)
{
	json_t *array = json_array();

	for (size_t i = 0; array && i < p->rlimit_count; i++) {
		const struct spec_rlimit *r = &p->rlimits[i];

		if (json_array_append_new(array, json_pack("{s:s, s:I, s:I}",
							   "type", spec_rlimit_name(r->resource),
							   "soft", rlimit_json_value(r->soft),
							   "hard", rlimit_json_value(r->hard))) < 0) {
			json_decref(array);
			return NULL;
		}
	}
	return array;
}

static int rlimits_from_json(const json_t *array, struct spec_process *out, orch_error *err)
{
	size_t i;
	json_t *item;

	if (!array || json_is_null(array))
		return 0;	/* written before rlimits existed */
	if (!json_is_array(array))
		return orch_fail(err, ORCH_ERR_INVALID, "process spec: 'rlimits' is not an array");
	json_array_foreach(array, i, item) {
		const char *type = NULL;
		json_int_t soft = 0, hard = 0;
		struct spec_rlimit r;
		json_error_t jerr;

		if (json_unpack_ex(item, &jerr, 0, "{s:s, s:I, s:I}", "type", &type, "soft", &soft,
				   "hard", &hard) < 0)
			return orch_fail(err, ORCH_ERR_INVALID, "process spec: rlimits[%zu]: %s", i,
					 jerr.text);
		if (spec_rlimit_from_values(type, soft, hard, &r, err) < 0 ||
		    spec_rlimit_put(out, &r, err) < 0)
			return orch_error_prefix(err, "process spec: rlimits[%zu]", i);
	}
	return 0;
}

json_t *spec_process_to_json(const struct spec_process *p)
{
	return json_pack("{s:o, s:o, s:s, s:s, s:o*}",
			 "args", strv_to_json(p->argv, p->argc),
			 "env", strv_to_json(p->env, p->env_count),
			 "cwd", p->workdir, "user", p->user,
			 "rlimits", p->rlimit_count ? rlimits_to_json(p) : NULL);
}

int spec_process_from_json(const json_t *json, struct spec_process *out, orch_error *err)
{
	const char *cwd = NULL, *user = NULL;
	json_t *args = NULL, *env = NULL;
	json_error_t jerr;

	memset(out, 0, sizeof(*out));
	if (json_unpack_ex((json_t *)json, &jerr, 0, "{s:o, s:o, s:s, s:s}", "args", &args,
			   "env", &env, "cwd", &cwd, "user", &user) < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "process spec: %s", jerr.text);
	if (strv_push_json(&out->argv, &out->argc, args, "args", err) < 0 ||
	    strv_push_json(&out->env, &out->env_count, env, "env", err) < 0 ||
	    rlimits_from_json(json_object_get(json, "rlimits"), out, err) < 0)
		goto fail;
	out->workdir = strdup(cwd);
	out->user = strdup(user);
	if (!out->workdir || !out->user) {
		orch_fail_errno(err, ENOMEM, "reading the process spec");
		goto fail;
	}
	if (out->argc == 0) {
		orch_fail(err, ORCH_ERR_INVALID, "process spec has no args");
		goto fail;
	}
	return 0;
fail:
	spec_process_release(out);
	return -1;
}

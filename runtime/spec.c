/*
 * spec.c - merging the image config with docker-run-style overrides into
 * the process a container runs.  See spec.h for the rules.
 */
#include "spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

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

json_t *spec_process_to_json(const struct spec_process *p)
{
	return json_pack("{s:o, s:o, s:s, s:s}",
			 "args", strv_to_json(p->argv, p->argc),
			 "env", strv_to_json(p->env, p->env_count),
			 "cwd", p->workdir, "user", p->user);
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
	    strv_push_json(&out->env, &out->env_count, env, "env", err) < 0)
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

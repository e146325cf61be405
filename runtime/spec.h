/*
 * spec.h - what a container runs: argv, environment, working directory and
 * user, merged from the image config and the caller's overrides the way
 * Docker merges them.
 *
 * Pure logic (no I/O), unit-tested in tests/unit/test_spec.c.  The rules:
 *   - argv: an explicit non-empty entrypoint replaces the image's Entrypoint
 *     and drops the image's Cmd (only the caller's cmd follows it); an
 *     explicit empty entrypoint ("--entrypoint ''") clears the image's
 *     Entrypoint but keeps its Cmd unless the caller gives one; no entrypoint
 *     override keeps the image's Entrypoint, and the caller's cmd, if any,
 *     replaces the image's Cmd.  An empty result is an error.
 *   - env: PATH (a default) and HOSTNAME first, then the image's Env, then the
 *     caller's entries, each replacing an earlier entry with the same key.
 *     HOME is added later from the container's passwd (spec_env_set_default).
 *   - workdir: the caller's, else the image's WorkingDir, else "/"; absolute.
 *   - user: the caller's, else the image's User, else "" (root).
 */
#ifndef ORCH_RUNTIME_SPEC_H
#define ORCH_RUNTIME_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "error.h"

#define SPEC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SPEC_ARGV_MAX 4096	/* entries in argv and in env, each */

/* The caller's overrides (docker run's flags); NULL/0 means "not given". */
struct spec_overrides {
	const char *const *env;		/* "KEY=VALUE" entries */
	size_t env_count;
	bool entrypoint_set;		/* --entrypoint given, even as "" */
	const char *entrypoint;
	const char *const *cmd;		/* CMD ARGS... after the image */
	size_t cmd_count;
	const char *workdir;
	const char *user;
	const char *hostname;
};

/* The merged result; every string is owned by the struct. */
struct spec_process {
	char **argv;		/* NULL-terminated */
	size_t argc;
	char **env;		/* NULL-terminated */
	size_t env_count;
	char *workdir;
	char *user;
};

/*
 * Merges image_config (the OCI config's "config" object, may be NULL) with
 * ov into out.  On failure out is left released.
 */
int spec_merge(const json_t *image_config, const struct spec_overrides *ov,
	       struct spec_process *out, orch_error *err);

void spec_process_release(struct spec_process *p);

/* Sets key=value in env unless key is already there. */
int spec_env_set_default(struct spec_process *p, const char *key, const char *value,
			 orch_error *err);

/* Replaces or appends "KEY=VALUE" in env. */
int spec_env_put(struct spec_process *p, const char *entry, orch_error *err);

/* Returns the value of key in env, or NULL. */
const char *spec_env_get(const struct spec_process *p, const char *key);

/* Round trip through JSON (the container's config.json). */
json_t *spec_process_to_json(const struct spec_process *p);
int spec_process_from_json(const json_t *json, struct spec_process *out, orch_error *err);

#endif

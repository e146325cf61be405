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
 *   - rlimits: none from the merge; the caller adds them (spec_rlimit_put)
 *     from `--ulimit name=soft[:hard]` or a task definition's ulimits.  A
 *     resource the process does not list keeps what the container's init
 *     gives every container (container_init.h).
 */
#ifndef ORCH_RUNTIME_SPEC_H
#define ORCH_RUNTIME_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"

#define SPEC_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SPEC_ARGV_MAX 4096	/* entries in argv and in env, each */
#define SPEC_RLIMIT_MAX 16	/* one per resource spec_rlimit_resource knows */
#define SPEC_RLIMIT_UNLIMITED UINT64_MAX	/* RLIM_INFINITY; "-1" or "unlimited" */
#define SPEC_RLIMIT_TEXT_MAX 96	/* longest "name=soft:hard" spec_rlimit_format writes */

/* One resource limit of the process (setrlimit(2)), by its ulimit name. */
struct spec_rlimit {
	int resource;		/* RLIMIT_* */
	uint64_t soft, hard;	/* SPEC_RLIMIT_UNLIMITED for no limit; soft <= hard */
};

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
	struct spec_rlimit rlimits[SPEC_RLIMIT_MAX];	/* at most one per resource */
	size_t rlimit_count;
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

/*
 * RLIMIT_* of a ulimit name as ECS and Docker spell them (core, cpu, data,
 * fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime,
 * sigpending, stack); -1 for an unknown name.  spec_rlimit_name is the
 * reverse ("?" for a resource without a name).
 */
int spec_rlimit_resource(const char *name);
const char *spec_rlimit_name(int resource);

/*
 * Builds a limit from a name and values as a task definition gives them
 * (ECS ulimits: softLimit, hardLimit; -1 is unlimited, as Docker takes it).
 * Refuses unknown names, negative values other than -1 and soft > hard.
 */
int spec_rlimit_from_values(const char *name, int64_t soft, int64_t hard,
			    struct spec_rlimit *out, orch_error *err);

/*
 * Parses Docker's --ulimit syntax "name=soft[:hard]" (hard defaults to
 * soft; a value is a decimal number, -1 or "unlimited").
 */
int spec_rlimit_parse(const char *text, struct spec_rlimit *out, orch_error *err);

/* "nofile=1024:4096" (values -1 when unlimited) into buf of SPEC_RLIMIT_TEXT_MAX. */
void spec_rlimit_format(const struct spec_rlimit *r, char *buf, size_t len);

/* Sets r in p, replacing an earlier limit of the same resource. */
int spec_rlimit_put(struct spec_process *p, const struct spec_rlimit *r, orch_error *err);

/* The limit p sets for resource, or NULL. */
const struct spec_rlimit *spec_rlimit_get(const struct spec_process *p, int resource);

/* Round trip through JSON (the container's config.json). */
json_t *spec_process_to_json(const struct spec_process *p);
int spec_process_from_json(const json_t *json, struct spec_process *out, orch_error *err);

#endif

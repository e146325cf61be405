/*
 * cgroup_internal.h - the table of operations each cgroup manager
 * (cgroup_v1.c, cgroup_v2.c) implements, and helpers they share.  Not for
 * use outside runtime/cgroup*.c.
 */
#ifndef ORCH_RUNTIME_CGROUP_INTERNAL_H
#define ORCH_RUNTIME_CGROUP_INTERNAL_H

#include "cgroup.h"

struct cgroup_manager {
	const char *name;
	int (*create)(const struct cgroup *cg, const struct cgroup_limits *limits, orch_error *err);
	int (*enter)(const struct cgroup *cg, pid_t pid, orch_error *err);
	int (*oom_kill_count)(const struct cgroup *cg, uint64_t *out, orch_error *err);
	int (*destroy)(const struct cgroup *cg, orch_error *err);
	int (*create_group)(const struct cgroup *cg, const struct cgroup_limits *limits,
			    orch_error *err);
	int (*remove_if_empty)(const struct cgroup *cg, orch_error *err);
	int (*list_children)(const char *parent, char ***names, size_t *count, orch_error *err);
};

extern const struct cgroup_manager cgroup_manager_v1;
extern const struct cgroup_manager cgroup_manager_v2;

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_DESTROY_ATTEMPTS 50	/* rmdir retries while killed tasks exit */
#define CGROUP_DESTROY_RETRY_US 10000

/* Writes a string to dir/file. */
int cgroup_write_file(const char *dir, const char *file, const char *value, orch_error *err);

/* Reads "key N" from a flat-keyed file (memory.events, memory.oom_control). */
int cgroup_read_keyed(const char *dir, const char *file, const char *key, uint64_t *out,
		      orch_error *err);

/* mkdir -p of root/path. */
int cgroup_mkdir_path(const char *root, const char *path, orch_error *err);

/* SIGKILLs every pid in dir/cgroup.procs. */
void cgroup_kill_procs(const char *dir);

/* rmdir dir, killing its processes and retrying while it is busy. */
int cgroup_rmdir(const char *dir, orch_error *err);

/* rmdir dir once, killing nothing: 1 removed or absent, 0 busy, -1 failed. */
int cgroup_rmdir_if_empty(const char *dir, orch_error *err);

/* Appends the subdirectories of dir not yet in *names (none if dir is absent). */
int cgroup_collect_children(const char *dir, char ***names, size_t *count, orch_error *err);

/*
 * Device control (cgroup_devices.c): every container's cgroup gets the
 * device allow-list one way or the other, or the container does not start.
 */

/* Writes the allow-list into the v1 devices cgroup dir (deny all, then allow). */
int cgroup_devices_v1_apply(const char *dir, orch_error *err);

/*
 * Loads the allow-list as an eBPF device program and attaches it to the
 * cgroup2 directory dir.  The cgroup keeps the program: nothing to release
 * or detach later.
 */
int cgroup_devices_bpf_attach(const char *dir, orch_error *err);

#endif

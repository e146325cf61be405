/*
 * cgroup_v1.c - the cgroup v1 manager, also used on hybrid hosts (where
 * every controller orch needs is on v1).  One directory PARENT/ID per
 * controller hierarchy: memory, cpu, pids and devices; their mount points
 * come from /proc/self/mountinfo, so co-mounted "cpu,cpuacct" and separate
 * mounts both work.
 *
 * Device control (cgroup_devices.c): the devices controller carries the
 * allow-list (mknod of anything, read/write only of the devices the
 * container's /dev has).  A hybrid host without the devices controller on v1
 * gets the same list as an eBPF program on the container's cgroup in the
 * cgroup2 hierarchy (a fifth directory, made, entered and removed with the
 * others); with neither the container is refused.
 * Limits are hierarchical (memory.use_hierarchy is always 1 on current
 * kernels), so a group's memory and CPU quota bound its children together.
 */
#include "cgroup_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

/*
 * The hierarchies a container has a directory in: the v1 controllers, then
 * V1_UNIFIED, the cgroup2 mount, used only for the eBPF device program when
 * the devices controller is not mounted.
 */
enum v1_hierarchy {
	V1_MEMORY, V1_CPU, V1_PIDS, V1_DEVICES, V1_CONTROLLERS,
	V1_UNIFIED = V1_CONTROLLERS, V1_COUNT
};

static const char *const v1_names[V1_COUNT] = { "memory", "cpu", "pids", "devices", "cgroup2" };

/* Mount points of each hierarchy; "" when it is not mounted (or not used). */
static char v1_mounts[V1_COUNT][256];
static bool v1_mounts_loaded;

static bool option_has(const char *options, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *p = options; p && *p; ) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == nlen && strncmp(p, name, nlen) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Fills v1_mounts from mountinfo lines "... MOUNTPOINT ... - cgroup[2] SRC OPTS". */
static int v1_load_mounts(orch_error *err)
{
	cleanup_fclose FILE *f = NULL;
	cleanup_free char *line = NULL;
	size_t cap = 0;

	if (v1_mounts_loaded)
		return 0;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return orch_fail_errno(err, errno, "reading /proc/self/mountinfo");
	while (getline(&line, &cap, f) > 0) {
		char mountpoint[256], fstype[32], source[64], options[512];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %*s %255s", mountpoint) != 1 ||
		    sscanf(sep + 3, "%31s %63s %511s", fstype, source, options) != 3)
			continue;
		if (strcmp(fstype, "cgroup2") == 0 && !v1_mounts[V1_UNIFIED][0])
			snprintf(v1_mounts[V1_UNIFIED], sizeof(v1_mounts[V1_UNIFIED]), "%s",
				 mountpoint);
		if (strcmp(fstype, "cgroup") != 0)
			continue;
		for (int c = 0; c < V1_CONTROLLERS; c++)
			if (!v1_mounts[c][0] && option_has(options, v1_names[c]))
				snprintf(v1_mounts[c], sizeof(v1_mounts[c]), "%s", mountpoint);
	}
	/* The devices controller does it all when present: no cgroup2 directory. */
	if (v1_mounts[V1_DEVICES][0])
		v1_mounts[V1_UNIFIED][0] = '\0';
	v1_mounts_loaded = true;
	return 0;
}

static void v1_dir(const struct cgroup *cg, int c, char *buf, size_t len)
{
	/* Lengths are bounded by v1_mounts and CGROUP_PATH_MAX; never truncates. */
	if ((size_t)snprintf(buf, len, "%s/%s", v1_mounts[c], cg->path) >= len)
		buf[0] = '\0';
}

static int v1_write_i64(const char *dir, const char *file, int64_t value, orch_error *err)
{
	char text[32];

	snprintf(text, sizeof(text), "%" PRId64, value);
	return cgroup_write_file(dir, file, text, err);
}

/*
 * PARENT/ID in every mounted hierarchy; memory and pids are required, and
 * so is one way to control devices (never a container without).
 */
static int v1_make_dirs(const struct cgroup *cg, orch_error *err)
{
	if (v1_load_mounts(err) < 0)
		return -1;
	if (!v1_mounts[V1_DEVICES][0] && !v1_mounts[V1_UNIFIED][0])
		return orch_fail(err, ORCH_ERR_UNSUPPORTED,
				 "no device control: the cgroup v1 'devices' controller is not "
				 "mounted and no cgroup2 hierarchy is mounted for an eBPF device "
				 "program");
	for (int c = 0; c < V1_COUNT; c++) {
		if (!v1_mounts[c][0]) {
			if (c == V1_MEMORY || c == V1_PIDS)
				return orch_fail(err, ORCH_ERR_UNSUPPORTED,
						 "the cgroup v1 '%s' controller is not mounted",
						 v1_names[c]);
			continue;
		}
		if (cgroup_mkdir_path(v1_mounts[c], cg->path, err) < 0)
			return -1;
	}
	return 0;
}

/* memory, cpu and pids limits (hierarchical: they bound the children too). */
static int v1_write_limits(const struct cgroup *cg, const struct cgroup_limits *lim,
			   orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	v1_dir(cg, V1_MEMORY, dir, sizeof(dir));
	if (lim->memory_max > 0) {
		char memsw[CGROUP_PATH_MAX * 2 + 32];
		struct stat st;

		if (v1_write_i64(dir, "memory.limit_in_bytes", lim->memory_max, err) < 0)
			return -1;
		/* No swap beyond the limit (ECS semantics); absent without swap accounting. */
		snprintf(memsw, sizeof(memsw), "%s/memory.memsw.limit_in_bytes", dir);
		if (stat(memsw, &st) == 0 &&
		    v1_write_i64(dir, "memory.memsw.limit_in_bytes", lim->memory_max, err) < 0)
			return -1;
	}
	if (lim->memory_reservation > 0 &&
	    v1_write_i64(dir, "memory.soft_limit_in_bytes", lim->memory_reservation, err) < 0)
		return -1;

	if (v1_mounts[V1_CPU][0]) {
		v1_dir(cg, V1_CPU, dir, sizeof(dir));
		if (lim->cpu_millis > 0 &&
		    (v1_write_i64(dir, "cpu.cfs_period_us", CGROUP_CPU_PERIOD_US, err) < 0 ||
		     v1_write_i64(dir, "cpu.cfs_quota_us",
				  lim->cpu_millis * CGROUP_CPU_PERIOD_US / 1000, err) < 0))
			return -1;
		if (lim->cpu_units > 0 &&
		    v1_write_i64(dir, "cpu.shares", lim->cpu_units < 2 ? 2 : lim->cpu_units, err) < 0)
			return -1;
	} else if (lim->cpu_millis > 0 || lim->cpu_units > 0) {
		return orch_fail(err, ORCH_ERR_UNSUPPORTED, "the cgroup v1 'cpu' controller is not mounted");
	}

	v1_dir(cg, V1_PIDS, dir, sizeof(dir));
	if (lim->pids_max > 0 && v1_write_i64(dir, "pids.max", lim->pids_max, err) < 0)
		return -1;
	return 0;
}

static int v1_create(const struct cgroup *cg, const struct cgroup_limits *lim, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	if (v1_make_dirs(cg, err) < 0 || v1_write_limits(cg, lim, err) < 0)
		return -1;
	if (v1_mounts[V1_DEVICES][0]) {
		v1_dir(cg, V1_DEVICES, dir, sizeof(dir));
		if (cgroup_devices_v1_apply(dir, err) < 0)
			return orch_error_prefix(err, "no device control");
		return 0;
	}
	/* v1_make_dirs made sure of one of the two. */
	v1_dir(cg, V1_UNIFIED, dir, sizeof(dir));
	if (cgroup_devices_bpf_attach(dir, err) < 0)
		return orch_error_prefix(err, "no device control (the cgroup v1 'devices' "
					 "controller is not mounted)");
	return 0;
}

/*
 * A group keeps the device rules it inherits: each container below sets
 * Docker's list in its own cgroup, and v1 refuses "devices.deny a" in a
 * cgroup that has children (which a group being re-created has).
 */
static int v1_create_group(const struct cgroup *cg, const struct cgroup_limits *lim,
			   orch_error *err)
{
	if (v1_make_dirs(cg, err) < 0 || v1_write_limits(cg, lim, err) < 0)
		return -1;
	return 0;
}

static int v1_enter(const struct cgroup *cg, pid_t pid, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	char text[24];

	if (v1_load_mounts(err) < 0)
		return -1;
	snprintf(text, sizeof(text), "%d", (int)pid);
	for (int c = 0; c < V1_COUNT; c++) {
		if (!v1_mounts[c][0])
			continue;
		v1_dir(cg, c, dir, sizeof(dir));
		if (cgroup_write_file(dir, "cgroup.procs", text, err) < 0)
			return -1;
	}
	return 0;
}

static int v1_oom_kill_count(const struct cgroup *cg, uint64_t *out, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	if (v1_load_mounts(err) < 0)
		return -1;
	v1_dir(cg, V1_MEMORY, dir, sizeof(dir));
	/* "oom_kill N" is in memory.oom_control since Linux 4.13. */
	return cgroup_read_keyed(dir, "memory.oom_control", "oom_kill", out, err);
}

static int v1_destroy(const struct cgroup *cg, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	int rc = 0;

	if (v1_load_mounts(err) < 0)
		return -1;
	/* pids first: killing what is left there empties the others. */
	v1_dir(cg, V1_PIDS, dir, sizeof(dir));
	cgroup_kill_procs(dir);
	for (int c = 0; c < V1_COUNT; c++) {
		if (!v1_mounts[c][0])
			continue;
		v1_dir(cg, c, dir, sizeof(dir));
		if (cgroup_rmdir(dir, err) < 0)
			rc = -1;
	}
	return rc;
}

static int v1_remove_if_empty(const struct cgroup *cg, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	int removed = 1;

	if (v1_load_mounts(err) < 0)
		return -1;
	/* Each hierarchy on its own: one left busy is tried again next time. */
	for (int c = 0; c < V1_COUNT; c++) {
		int rc;

		if (!v1_mounts[c][0])
			continue;
		v1_dir(cg, c, dir, sizeof(dir));
		rc = cgroup_rmdir_if_empty(dir, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			removed = 0;
	}
	return removed;
}

static int v1_list_children(const char *parent, char ***names, size_t *count, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	if (v1_load_mounts(err) < 0)
		return -1;
	for (int c = 0; c < V1_COUNT; c++) {
		if (!v1_mounts[c][0])
			continue;
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", v1_mounts[c], parent) >= sizeof(dir))
			return orch_fail(err, ORCH_ERR_INVALID, "cgroup parent '%s' is too long",
					 parent);
		if (cgroup_collect_children(dir, names, count, err) < 0)
			return -1;
	}
	return 0;
}

const struct cgroup_manager cgroup_manager_v1 = {
	.name = "v1",
	.create = v1_create,
	.enter = v1_enter,
	.oom_kill_count = v1_oom_kill_count,
	.destroy = v1_destroy,
	.create_group = v1_create_group,
	.remove_if_empty = v1_remove_if_empty,
	.list_children = v1_list_children,
};

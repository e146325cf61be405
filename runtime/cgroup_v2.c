/*
 * cgroup_v2.c - the unified (cgroup v2) manager: one directory
 * /sys/fs/cgroup/PARENT/ID with memory.max (+ memory.swap.max 0),
 * memory.low, cpu.max, cpu.weight and pids.max.  The controllers are enabled
 * in every ancestor's cgroup.subtree_control on the way down; PARENT holds no
 * processes itself (v2's no-internal-processes rule), and neither does a
 * group cgroup (a task's, between PARENT and its containers), whose own
 * subtree_control delegates the controllers to the containers below.
 *
 * v2 has no devices controller: each container's cgroup gets the device
 * allow-list as an eBPF program (cgroup_devices.c) before any process of
 * the container is in it, and a container whose program cannot be attached
 * does not start.  Group cgroups get none; the containers below have theirs.
 */
#include "cgroup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const v2_controllers[] = { "memory", "cpu", "pids" };

static void v2_dir(const struct cgroup *cg, char *buf, size_t len)
{
	snprintf(buf, len, CGROUP_ROOT "/%s", cg->path);
}

static int v2_write_i64(const char *dir, const char *file, int64_t value, orch_error *err)
{
	char text[32];

	snprintf(text, sizeof(text), "%" PRId64, value);
	return cgroup_write_file(dir, file, text, err);
}

static bool word_in_file(const char *dir, const char *file, const char *word)
{
	char path[CGROUP_PATH_MAX * 2 + 32], buf[512];
	size_t wlen = strlen(word);
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *p = buf; (p = strstr(p, word)); p += wlen)
		if ((p == buf || p[-1] == ' ') && (p[wlen] == ' ' || p[wlen] == '\n' || !p[wlen]))
			return true;
	return false;
}

/*
 * Enables memory, cpu and pids for the children of dir, one at a time and
 * only those not enabled yet: a controller the host does not offer is
 * skipped here (setting its limit fails later, naming the file), and a
 * parent already set up by another agent is left as it is.
 */
static int v2_enable_in(const char *dir, orch_error *err)
{
	for (size_t i = 0; i < sizeof(v2_controllers) / sizeof(v2_controllers[0]); i++) {
		char change[16];

		if (word_in_file(dir, "cgroup.subtree_control", v2_controllers[i]) ||
		    !word_in_file(dir, "cgroup.controllers", v2_controllers[i]))
			continue;
		snprintf(change, sizeof(change), "+%s", v2_controllers[i]);
		if (cgroup_write_file(dir, "cgroup.subtree_control", change, err) < 0)
			return orch_error_prefix(err, "enabling the %s controller (is '%s' a "
						 "cgroup with processes of its own?)",
						 v2_controllers[i], dir);
	}
	return 0;
}

/* Enables the controllers in the root and every ancestor of path. */
static int v2_enable_controllers(const char *path, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	size_t len;

	if (v2_enable_in(CGROUP_ROOT, err) < 0)
		return -1;
	len = (size_t)snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s", path);
	/* Every ancestor below the root, leaving the leaf itself alone. */
	for (size_t i = strlen(CGROUP_ROOT) + 1; i < len; i++) {
		if (dir[i] != '/')
			continue;
		dir[i] = '\0';
		if (v2_enable_in(dir, err) < 0)
			return -1;
		dir[i] = '/';
	}
	return 0;
}

/* Makes the cgroup dir of a container or group and writes its limits. */
static int v2_make(const struct cgroup *cg, const struct cgroup_limits *lim, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	char text[64];

	if (cgroup_mkdir_path(CGROUP_ROOT, cg->path, err) < 0 ||
	    v2_enable_controllers(cg->path, err) < 0)
		return -1;
	v2_dir(cg, dir, sizeof(dir));
	if (lim->memory_max > 0) {
		struct stat st;
		char swap[CGROUP_PATH_MAX * 2 + 32];

		if (v2_write_i64(dir, "memory.max", lim->memory_max, err) < 0)
			return -1;
		snprintf(swap, sizeof(swap), "%s/memory.swap.max", dir);
		if (stat(swap, &st) == 0 && cgroup_write_file(dir, "memory.swap.max", "0", err) < 0)
			return -1;
	}
	if (lim->memory_reservation > 0 &&
	    v2_write_i64(dir, "memory.low", lim->memory_reservation, err) < 0)
		return -1;
	if (lim->cpu_millis > 0) {
		snprintf(text, sizeof(text), "%" PRId64 " %d",
			 lim->cpu_millis * CGROUP_CPU_PERIOD_US / 1000, CGROUP_CPU_PERIOD_US);
		if (cgroup_write_file(dir, "cpu.max", text, err) < 0)
			return -1;
	}
	if (lim->cpu_units > 0) {
		snprintf(text, sizeof(text), "%" PRIu64, cgroup_units_to_weight(lim->cpu_units));
		if (cgroup_write_file(dir, "cpu.weight", text, err) < 0)
			return -1;
	}
	if (lim->pids_max > 0 && v2_write_i64(dir, "pids.max", lim->pids_max, err) < 0)
		return -1;
	return 0;
}

static int v2_create(const struct cgroup *cg, const struct cgroup_limits *lim, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	if (v2_make(cg, lim, err) < 0)
		return -1;
	v2_dir(cg, dir, sizeof(dir));
	if (cgroup_devices_bpf_attach(dir, err) < 0)
		return orch_error_prefix(err, "no device control");
	return 0;
}

/*
 * A group cgroup: made like a container's but without a device program
 * (the containers below have theirs), then its own subtree_control gets the
 * controllers too, so the containers below it can have limits of their own
 * (a v2 child only has the controllers its parent delegates).
 */
static int v2_create_group(const struct cgroup *cg, const struct cgroup_limits *lim,
			   orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	if (v2_make(cg, lim, err) < 0)
		return -1;
	v2_dir(cg, dir, sizeof(dir));
	return v2_enable_in(dir, err);
}

static int v2_remove_if_empty(const struct cgroup *cg, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	v2_dir(cg, dir, sizeof(dir));
	return cgroup_rmdir_if_empty(dir, err);
}

static int v2_list_children(const char *parent, char ***names, size_t *count, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	snprintf(dir, sizeof(dir), CGROUP_ROOT "/%s", parent);
	return cgroup_collect_children(dir, names, count, err);
}

static int v2_enter(const struct cgroup *cg, pid_t pid, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	char text[24];

	v2_dir(cg, dir, sizeof(dir));
	snprintf(text, sizeof(text), "%d", (int)pid);
	return cgroup_write_file(dir, "cgroup.procs", text, err);
}

static int v2_oom_kill_count(const struct cgroup *cg, uint64_t *out, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];

	v2_dir(cg, dir, sizeof(dir));
	return cgroup_read_keyed(dir, "memory.events", "oom_kill", out, err);
}

static int v2_destroy(const struct cgroup *cg, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	struct stat st;

	v2_dir(cg, dir, sizeof(dir));
	if (stat(dir, &st) < 0)
		return 0;
	/* cgroup.kill (Linux 5.14) kills the whole subtree at once. */
	if (cgroup_write_file(dir, "cgroup.kill", "1", NULL) < 0)
		cgroup_kill_procs(dir);
	return cgroup_rmdir(dir, err);
}

const struct cgroup_manager cgroup_manager_v2 = {
	.name = "v2",
	.create = v2_create,
	.enter = v2_enter,
	.oom_kill_count = v2_oom_kill_count,
	.destroy = v2_destroy,
	.create_group = v2_create_group,
	.remove_if_empty = v2_remove_if_empty,
	.list_children = v2_list_children,
};

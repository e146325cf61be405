/*
 * task_usage.c - a task's CPU and memory use from its group cgroup: the
 * parsers of the cgroup and /proc files, the rate between two readings,
 * and the reads themselves.  See task_usage.h.
 */
#include "task_usage.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs_util.h"

#define NS_PER_S 1000000000.0
#define BYTES_PER_MIB (1024.0 * 1024.0)

/* ---- parsers --------------------------------------------------------------- */

/* A decimal number at *p (no sign), leaving *p after it; -1 if none. */
static int parse_digits(const char **p, uint64_t *out)
{
	uint64_t n = 0;

	if (!isdigit((unsigned char)**p))
		return -1;
	for (; isdigit((unsigned char)**p); (*p)++) {
		unsigned d = (unsigned)(**p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

int task_usage_parse_number(const char *text, uint64_t *out)
{
	const char *p = text;

	while (*p == ' ' || *p == '\t')
		p++;
	if (parse_digits(&p, out) < 0)
		return -1;
	while (isspace((unsigned char)*p))
		p++;
	return *p ? -1 : 0;
}

int task_usage_parse_keyed(const char *text, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line; ) {
		const char *next = strchr(line, '\n');

		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			const char *p = line + klen + 1;

			if (parse_digits(&p, out) < 0 || (*p && *p != '\n'))
				return -1;
			return 0;
		}
		line = next ? next + 1 : NULL;
	}
	return -1;
}

int task_usage_parse_proc_stat_ticks(const char *text, uint64_t *out)
{
	/* After "PID (COMM) ": state is field 3, utime..cstime fields 14 to 17. */
	const char *p = strrchr(text, ')');
	uint64_t sum = 0;

	if (!p)
		return -1;
	p++;
	for (int field = 3; field <= 17; field++) {
		uint64_t v;

		if (*p != ' ')
			return -1;
		p++;
		if (field < 14) {
			p += strcspn(p, " \n");	/* state, ids, flags, fault counts */
			continue;
		}
		if (parse_digits(&p, &v) < 0 || sum > UINT64_MAX - v)
			return -1;
		sum += v;
	}
	*out = sum;
	return 0;
}

uint64_t task_usage_memory_in_use(uint64_t usage_bytes, uint64_t inactive_file_bytes)
{
	return usage_bytes > inactive_file_bytes ? usage_bytes - inactive_file_bytes : 0;
}

/* ---- tracker --------------------------------------------------------------- */

void task_usage_tracker_init(struct task_usage_tracker *tr, const char *task_id)
{
	memset(tr, 0, sizeof(*tr));
	snprintf(tr->task_id, sizeof(tr->task_id), "%s", task_id);
}

bool task_usage_tracker_due(const struct task_usage_tracker *tr, int64_t now_ns)
{
	return !tr->last.taken_ns ||
	       now_ns - tr->last.taken_ns >= (int64_t)TASK_USAGE_MIN_INTERVAL_MS * 1000000;
}

void task_usage_tracker_advance(struct task_usage_tracker *tr,
				const struct task_usage_reading *now)
{
	const struct task_usage_reading *prev = &tr->last;
	int64_t wall_ns = now->taken_ns - prev->taken_ns;

	tr->report.has_memory = now->has_memory;
	tr->report.memory_mib = now->has_memory ? (double)now->memory_bytes / BYTES_PER_MIB : 0;
	tr->report.has_cpu_units = now->has_cpu && prev->has_cpu && prev->taken_ns &&
				   wall_ns > 0 && now->cpu_ns >= prev->cpu_ns;
	tr->report.cpu_units = tr->report.has_cpu_units
		? (double)(now->cpu_ns - prev->cpu_ns) / (double)wall_ns * CGROUP_CPU_UNITS_PER_CPU
		: 0;
	tr->last = *now;
}

/* ---- reading --------------------------------------------------------------- */

static int read_text(const char *dir, const char *file, char **text, orch_error *err)
{
	char path[CGROUP_PATH_MAX * 2];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return orch_fail(err, ORCH_ERR_INVALID, "the path '%s/%s' is too long", dir, file);
	return fs_read_file(path, TASK_USAGE_FILE_MAX, text, NULL, err);
}

static int read_number(const char *dir, const char *file, uint64_t *out, orch_error *err)
{
	cleanup_free char *text = NULL;

	if (read_text(dir, file, &text, err) < 0)
		return -1;
	if (task_usage_parse_number(text, out) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "'%s/%s' does not hold a number", dir, file);
	return 0;
}

static int read_keyed(const char *dir, const char *file, const char *key, uint64_t *out,
		      orch_error *err)
{
	cleanup_free char *text = NULL;

	if (read_text(dir, file, &text, err) < 0)
		return -1;
	if (task_usage_parse_keyed(text, key, out) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "'%s/%s' has no '%s'", dir, file, key);
	return 0;
}

/* usage_file minus stat_key of memory.stat, both in dir. */
static int read_memory(const char *dir, const char *usage_file, const char *stat_key,
		       uint64_t *out, orch_error *err)
{
	uint64_t usage = 0, inactive = 0;

	if (read_number(dir, usage_file, &usage, err) < 0 ||
	    read_keyed(dir, "memory.stat", stat_key, &inactive, err) < 0)
		return -1;
	*out = task_usage_memory_in_use(usage, inactive);
	return 0;
}

/*
 * Adds the CPU time of the processes listed in dir's cgroup.procs and in
 * those of the cgroups below it (depth levels down) to *ticks.  A process
 * that exits meanwhile is skipped.
 */
static int add_process_ticks(const char *dir, int depth, uint64_t *ticks, orch_error *err)
{
	cleanup_free char *procs = NULL;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (read_text(dir, "cgroup.procs", &procs, err) < 0)
		return -1;
	for (const char *p = procs; *p; ) {
		cleanup_free char *stat = NULL;
		char path[64];
		uint64_t pid, t;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (parse_digits(&p, &pid) < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "'%s/cgroup.procs' is malformed", dir);
		snprintf(path, sizeof(path), "/proc/%llu/stat", (unsigned long long)pid);
		if (fs_read_file(path, TASK_USAGE_FILE_MAX, &stat, NULL, NULL) < 0 ||
		    task_usage_parse_proc_stat_ticks(stat, &t) < 0)
			continue;
		*ticks += t;
	}
	if (depth <= 0)
		return 0;
	d = opendir(dir);
	if (!d)
		return orch_fail_errno(err, errno, "listing cgroup '%s'", dir);
	while (rc == 0 && (e = readdir(d))) {
		orch_error sub_err = ORCH_ERROR_INIT;
		char sub[CGROUP_PATH_MAX * 2];

		if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) >= sizeof(sub))
			continue;
		/* A cgroup removed since it was listed (its container exited) is no failure. */
		if (add_process_ticks(sub, depth - 1, ticks, &sub_err) < 0 &&
		    sub_err.sys_errno != ENOENT) {
			if (err)
				*err = sub_err;
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/*
 * v1 and hybrid: cpuacct.usage where the task has a cpuacct cgroup; on a
 * hybrid host whose runtime put the task in the cgroup2 hierarchy too (for
 * its device program), that cgroup's cpu.stat; else its processes' times.
 */
static int read_cpu_v1(const char *root, const char *path, uint64_t *cpu_ns, orch_error *err)
{
	char dir[CGROUP_PATH_MAX * 2];
	uint64_t ticks = 0, usec;
	long hz;

	snprintf(dir, sizeof(dir), "%s/cpuacct/%s", root, path);
	if (access(dir, F_OK) == 0)
		return read_number(dir, "cpuacct.usage", cpu_ns, err);
	snprintf(dir, sizeof(dir), "%s/unified/%s", root, path);
	if (access(dir, F_OK) == 0) {
		if (read_keyed(dir, "cpu.stat", "usage_usec", &usec, err) < 0)
			return -1;
		*cpu_ns = usec * 1000;
		return 0;
	}
	hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		return orch_fail_errno(err, errno, "the clock tick rate");
	snprintf(dir, sizeof(dir), "%s/memory/%s", root, path);
	if (add_process_ticks(dir, TASK_USAGE_WALK_DEPTH, &ticks, err) < 0)
		return -1;
	*cpu_ns = (uint64_t)((double)ticks * NS_PER_S / (double)hz);
	return 0;
}

int task_usage_read(const char *root, enum cgroup_mode mode, const char *path, int64_t now_ns,
		    struct task_usage_reading *out, orch_error *err)
{
	orch_error cpu_err = ORCH_ERROR_INIT;
	char dir[CGROUP_PATH_MAX * 2];
	uint64_t usec;
	int mem_rc, cpu_rc;

	memset(out, 0, sizeof(*out));
	out->taken_ns = now_ns;
	if (mode == CGROUP_MODE_V2) {
		snprintf(dir, sizeof(dir), "%s/%s", root, path);
		mem_rc = read_memory(dir, "memory.current", "inactive_file", &out->memory_bytes, err);
		cpu_rc = read_keyed(dir, "cpu.stat", "usage_usec", &usec, &cpu_err);
		if (cpu_rc == 0)
			out->cpu_ns = usec * 1000;
	} else {
		snprintf(dir, sizeof(dir), "%s/memory/%s", root, path);
		mem_rc = read_memory(dir, "memory.usage_in_bytes", "total_inactive_file",
				     &out->memory_bytes, err);
		cpu_rc = read_cpu_v1(root, path, &out->cpu_ns, &cpu_err);
	}
	out->has_memory = mem_rc == 0;
	out->has_cpu = cpu_rc == 0;
	if (!out->has_memory && !out->has_cpu)
		return -1;
	return 0;
}

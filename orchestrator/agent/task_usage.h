/*
 * task_usage.h - how much CPU and memory a task uses, read from its group
 * cgroup (agent_task_cgroup.h: PARENT/orch-TASKID holds the cgroups of all
 * the task's containers, so one read covers them all), for the "usage" of
 * the agent's status report (agent_protocol.h).
 *
 * What is read, by the host's layout (cgroup_detect_mode):
 *
 *   v2       cpu.stat usage_usec; memory.current minus memory.stat's
 *            inactive_file (in /sys/fs/cgroup/PATH)
 *   v1,      memory: memory.usage_in_bytes minus memory.stat's
 *   hybrid     total_inactive_file (in /sys/fs/cgroup/memory/PATH);
 *            CPU: cpuacct.usage in the cpuacct hierarchy (co-mounted with
 *            cpu on most hosts); where the task has no cpuacct cgroup
 *            (cpuacct mounted on its own: the runtime makes memory, cpu,
 *            pids and devices cgroups only), cpu.stat usage_usec of its
 *            cgroup in /sys/fs/cgroup/unified if the runtime made one
 *            there (hybrid hosts without the devices controller), else
 *            the user and system time of the processes in the task's
 *            memory cgroup from /proc/PID/stat, their reaped children's
 *            included (a process reaped by none of them takes its time
 *            with it: the sum may go backwards)
 *
 * Memory is counted as `docker stats` does: the page cache the kernel can
 * drop at once (inactive files) is not the task's to answer for.  The v1
 * hierarchies are taken at their usual mount points below /sys/fs/cgroup
 * (the runtime finds its own in mountinfo; a host that mounts them
 * elsewhere reports no usage).
 *
 * CPU is reported as a rate: the CPU time between two readings of the same
 * task over the wall time between them, in ECS units (1024 = one CPU
 * busy).  A task_usage_tracker keeps the previous reading; the first has
 * no rate, and a reading less than TASK_USAGE_MIN_INTERVAL_MS after the
 * previous one is not taken (the previous report stands), so a burst of
 * status reports neither reads the cgroups each time nor divides by a
 * few microseconds.
 *
 * The parsers take file contents and do no I/O, and the reads take the
 * mount root as an argument, for the unit tests
 * (tests/unit/test_task_usage.c).  Not thread-safe; the agent's loop owns
 * every tracker.
 */
#ifndef ORCH_AGENT_TASK_USAGE_H
#define ORCH_AGENT_TASK_USAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/agent_protocol.h"
#include "runtime/cgroup.h"
#include "common/error.h"

#define TASK_USAGE_MIN_INTERVAL_MS 1000	/* the shortest interval a rate is measured over */
#define TASK_USAGE_CGROUP_ROOT "/sys/fs/cgroup"
#define TASK_USAGE_FILE_MAX (64 * 1024)	/* the largest cgroup or /proc file read */
#define TASK_USAGE_WALK_DEPTH 4		/* cgroups below the task's searched for processes */

/* One reading of a task's counters. */
struct task_usage_reading {
	int64_t taken_ns;		/* CLOCK_MONOTONIC; 0: none yet */
	bool has_cpu;
	uint64_t cpu_ns;		/* CPU time used so far (a counter) */
	bool has_memory;
	uint64_t memory_bytes;		/* in use now, inactive file cache left out */
};

/* What the status report says of a task (agent_protocol.h, "usage"). */
struct task_usage_report {
	bool has_cpu_units;
	double cpu_units;		/* average over the last interval, 1024 = one CPU */
	bool has_memory;
	double memory_mib;
};

/*
 * One task's readings across status reports.  The key comes first, so a
 * hash_map_leading_string map can hold trackers by task ID.
 */
struct task_usage_tracker {
	char task_id[AGENT_TASK_ID_HEX_LEN + 1];
	struct task_usage_reading last;	/* the reading the next rate starts from */
	struct task_usage_report report;	/* what the last reading gave */
};

/* ---- parsers: file contents in, numbers out (no I/O) ----------------------- */

/* A file holding one decimal number (cpuacct.usage, memory.current, ...). */
int task_usage_parse_number(const char *text, uint64_t *out);

/*
 * The value of "KEY N" in a flat-keyed file (memory.stat, cpu.stat); -1 if
 * the key is not there or its value is not a number.
 */
int task_usage_parse_keyed(const char *text, const char *key, uint64_t *out);

/*
 * The clock ticks a process and its reaped children used, user and system
 * (utime + stime + cutime + cstime) from the text of /proc/PID/stat.
 * Fields are counted after the last ')', since the command name may hold
 * spaces and parentheses of its own.
 */
int task_usage_parse_proc_stat_ticks(const char *text, uint64_t *out);

/* usage minus inactive file cache, never below zero. */
uint64_t task_usage_memory_in_use(uint64_t usage_bytes, uint64_t inactive_file_bytes);

/* ---- tracker: readings into reports (no I/O) ------------------------------- */

/* A fresh tracker for task_id (nothing read yet). */
void task_usage_tracker_init(struct task_usage_tracker *tr, const char *task_id);

/* Whether a reading at now_ns is due: none yet, or the last is old enough. */
bool task_usage_tracker_due(const struct task_usage_tracker *tr, int64_t now_ns);

/*
 * Takes a new reading: memory as it is, CPU as the rate since the last
 * reading that had CPU time.  No rate when there is no earlier reading,
 * when this one has no CPU time, or when the counter went backwards
 * (processes it summed have gone); the next rate then starts here.
 */
void task_usage_tracker_advance(struct task_usage_tracker *tr,
				const struct task_usage_reading *now);

/* ---- reading a task's cgroups --------------------------------------------- */

/*
 * Reads the counters of the group cgroup at path ("PARENT/orch-TASKID")
 * for a host in mode, stamped now_ns.  root is where the hierarchies are
 * mounted (TASK_USAGE_CGROUP_ROOT; a directory laid out alike in the
 * tests).  What cannot be read is left out (has_cpu / has_memory false);
 * -1 only when neither could be, with the memory read's error in err.
 */
int task_usage_read(const char *root, enum cgroup_mode mode, const char *path, int64_t now_ns,
		    struct task_usage_reading *out, orch_error *err);

#endif

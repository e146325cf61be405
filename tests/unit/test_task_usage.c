/*
 * test_task_usage.c - unit tests of the agent's task usage parsers and
 * rate keeping (agent/task_usage.h): cgroup v1 and v2 files and
 * /proc/PID/stat as the kernel writes them, memory as `docker stats` counts
 * it, CPU units between two readings (the first has none, a counter
 * that goes back restarts, readings closer than the minimum interval are
 * not due), and the reads of a task's cgroup in a directory laid out as
 * /sys/fs/cgroup is on v2, v1 with cpuacct, hybrid with a cgroup2 cgroup,
 * and v1 where only the task's processes tell its CPU time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/task_usage.h"
#include "common/fs_util.h"

#define TASK_ID "0123456789abcdef0123456789abcdef"
#define MS 1000000LL		/* nanoseconds */

/* A v1 memory.stat (kernel 6.x): the group's own lines, then the hierarchy's. */
static const char v1_memory_stat[] =
	"cache 0\n"
	"rss 0\n"
	"rss_huge 0\n"
	"shmem 0\n"
	"mapped_file 0\n"
	"inactive_anon 0\n"
	"active_anon 0\n"
	"inactive_file 4096\n"
	"active_file 0\n"
	"unevictable 0\n"
	"hierarchical_memory_limit 268435456\n"
	"hierarchical_memsw_limit 268435456\n"
	"total_cache 12582912\n"
	"total_rss 67108864\n"
	"total_inactive_anon 67108864\n"
	"total_active_anon 0\n"
	"total_inactive_file 8388608\n"
	"total_active_file 4194304\n"
	"total_unevictable 0\n";

/* A v2 memory.stat (abridged; the order and the neighbours matter). */
static const char v2_memory_stat[] =
	"anon 67108864\n"
	"file 12582912\n"
	"kernel 655360\n"
	"shmem 0\n"
	"file_mapped 0\n"
	"active_anon 0\n"
	"inactive_anon 67108864\n"
	"active_file 4194304\n"
	"inactive_file 8388608\n"
	"unevictable 0\n"
	"workingset_refault_file 0\n";

static const char v2_cpu_stat[] =
	"usage_usec 8123456\n"
	"user_usec 6000000\n"
	"system_usec 2123456\n"
	"core_sched.force_idle_usec 0\n"
	"nr_periods 120\n"
	"nr_throttled 3\n"
	"throttled_usec 45000\n"
	"nr_bursts 0\n"
	"burst_usec 0\n";

static void test_numbers(void **state)
{
	uint64_t v = 1;

	(void)state;
	assert_int_equal(task_usage_parse_number("79691776\n", &v), 0);	/* memory.usage_in_bytes */
	assert_int_equal(v, 79691776);
	assert_int_equal(task_usage_parse_number("123456789012345\n", &v), 0);	/* cpuacct.usage */
	assert_int_equal(v, 123456789012345ULL);
	assert_int_equal(task_usage_parse_number("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(task_usage_parse_number("", &v), -1);
	assert_int_equal(task_usage_parse_number("max\n", &v), -1);
	assert_int_equal(task_usage_parse_number("-5\n", &v), -1);
	assert_int_equal(task_usage_parse_number("12 34\n", &v), -1);
	assert_int_equal(task_usage_parse_number("99999999999999999999\n", &v), -1);
}

static void test_keyed_v1_memory_stat(void **state)
{
	uint64_t v = 0;

	(void)state;
	/* total_inactive_file is the hierarchy's; inactive_file only the group's own. */
	assert_int_equal(task_usage_parse_keyed(v1_memory_stat, "total_inactive_file", &v), 0);
	assert_int_equal(v, 8388608);
	assert_int_equal(task_usage_parse_keyed(v1_memory_stat, "inactive_file", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(task_usage_parse_keyed(v1_memory_stat, "total_unevictable", &v), 0);
	assert_int_equal(v, 0);	/* the last line */
	assert_int_equal(task_usage_parse_keyed(v1_memory_stat, "total_inactive", &v), -1);
	assert_int_equal(task_usage_parse_keyed(v1_memory_stat, "swap", &v), -1);
}

static void test_keyed_v2_files(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(task_usage_parse_keyed(v2_memory_stat, "inactive_file", &v), 0);
	assert_int_equal(v, 8388608);
	assert_int_equal(task_usage_parse_keyed(v2_cpu_stat, "usage_usec", &v), 0);
	assert_int_equal(v, 8123456);
	assert_int_equal(task_usage_parse_keyed(v2_cpu_stat, "burst_usec", &v), 0);
	assert_int_equal(v, 0);
	/* A key without its newline at the end of the text, and malformed values. */
	assert_int_equal(task_usage_parse_keyed("a 1\nusage_usec 42", "usage_usec", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(task_usage_parse_keyed("usage_usec x\n", "usage_usec", &v), -1);
	assert_int_equal(task_usage_parse_keyed("usage_usec 5x\n", "usage_usec", &v), -1);
	assert_int_equal(task_usage_parse_keyed("", "usage_usec", &v), -1);
}

static void test_memory_leaves_out_inactive_files(void **state)
{
	uint64_t usage, inactive;

	(void)state;
	/* v1: memory.usage_in_bytes 79691776 = 64 MiB anon + 12 MiB cache. */
	assert_int_equal(task_usage_parse_number("79691776\n", &usage), 0);
	assert_int_equal(task_usage_parse_keyed(v1_memory_stat, "total_inactive_file", &inactive), 0);
	assert_int_equal(task_usage_memory_in_use(usage, inactive), 71303168);	/* 68 MiB */
	/* v2: memory.current. */
	assert_int_equal(task_usage_parse_number("80347136\n", &usage), 0);
	assert_int_equal(task_usage_parse_keyed(v2_memory_stat, "inactive_file", &inactive), 0);
	assert_int_equal(task_usage_memory_in_use(usage, inactive), 71958528);
	/* The two files are not read at one instant: never below zero. */
	assert_int_equal(task_usage_memory_in_use(4096, 8192), 0);
}

static void test_proc_stat_ticks(void **state)
{
	uint64_t t = 0;

	(void)state;
	/* utime 250, stime 30, cutime 7, cstime 3. */
	assert_int_equal(task_usage_parse_proc_stat_ticks(
		"4242 (sh) R 4200 4242 4242 0 -1 4194560 150 0 0 0 250 30 7 3 20 0 1 0 "
		"1102924 3133440 394 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0\n",
		&t), 0);
	assert_int_equal(t, 290);
	/* A command name with spaces and parentheses of its own. */
	assert_int_equal(task_usage_parse_proc_stat_ticks(
		"17 (a) b (c)) S 1 17 17 0 -1 0 0 0 0 0 100 50 0 0 20 0 1 0 5 0 0\n", &t), 0);
	assert_int_equal(t, 150);
	/* Cut short, or not a stat line at all. */
	assert_int_equal(task_usage_parse_proc_stat_ticks("17 (sh) S 1 17 17 0 -1 0 0 0", &t), -1);
	assert_int_equal(task_usage_parse_proc_stat_ticks("17 sh S", &t), -1);
	assert_int_equal(task_usage_parse_proc_stat_ticks("", &t), -1);
}

static struct task_usage_reading reading(int64_t at_ms, bool has_cpu, uint64_t cpu_ms,
					 uint64_t memory_bytes)
{
	return (struct task_usage_reading){
		.taken_ns = at_ms * MS,
		.has_cpu = has_cpu,
		.cpu_ns = cpu_ms * (uint64_t)MS,
		.has_memory = true,
		.memory_bytes = memory_bytes,
	};
}

static void test_first_reading_has_memory_but_no_rate(void **state)
{
	struct task_usage_tracker tr;
	struct task_usage_reading r = reading(5000, true, 1200, 64ULL << 20);

	(void)state;
	task_usage_tracker_init(&tr, TASK_ID);
	assert_string_equal(tr.task_id, TASK_ID);
	assert_true(task_usage_tracker_due(&tr, 5000 * MS));
	task_usage_tracker_advance(&tr, &r);
	assert_false(tr.report.has_cpu_units);
	assert_true(tr.report.has_memory);
	assert_float_equal(tr.report.memory_mib, 64.0, 1e-9);
}

static void test_rate_between_readings(void **state)
{
	struct task_usage_tracker tr;
	struct task_usage_reading r;

	(void)state;
	task_usage_tracker_init(&tr, TASK_ID);
	r = reading(10000, true, 1000, 1 << 20);
	task_usage_tracker_advance(&tr, &r);
	/* One CPU busy for 3 s of 3 s: 1024 units. */
	r = reading(13000, true, 4000, 3 << 19);
	task_usage_tracker_advance(&tr, &r);
	assert_true(tr.report.has_cpu_units);
	assert_float_equal(tr.report.cpu_units, 1024.0, 1e-6);
	assert_float_equal(tr.report.memory_mib, 1.5, 1e-9);
	/* 0.75 s of CPU in 1.5 s: 512 units. */
	r = reading(14500, true, 4750, 1 << 20);
	task_usage_tracker_advance(&tr, &r);
	assert_float_equal(tr.report.cpu_units, 512.0, 1e-6);
	/* Two CPUs busy: 2048. */
	r = reading(16500, true, 8750, 1 << 20);
	task_usage_tracker_advance(&tr, &r);
	assert_float_equal(tr.report.cpu_units, 2048.0, 1e-6);
	/* Idle. */
	r = reading(19500, true, 8750, 1 << 20);
	task_usage_tracker_advance(&tr, &r);
	assert_true(tr.report.has_cpu_units);
	assert_float_equal(tr.report.cpu_units, 0.0, 1e-9);
}

static void test_counter_back_or_missing_restarts_the_rate(void **state)
{
	struct task_usage_tracker tr;
	struct task_usage_reading r;

	(void)state;
	task_usage_tracker_init(&tr, TASK_ID);
	r = reading(1000, true, 5000, 0);
	task_usage_tracker_advance(&tr, &r);
	/* Summed processes went away: no rate now, the next one starts here. */
	r = reading(4000, true, 2000, 0);
	task_usage_tracker_advance(&tr, &r);
	assert_false(tr.report.has_cpu_units);
	r = reading(7000, true, 3500, 0);
	task_usage_tracker_advance(&tr, &r);
	assert_true(tr.report.has_cpu_units);
	assert_float_equal(tr.report.cpu_units, 512.0, 1e-6);
	/* A reading without CPU time: none reported, and none from it next. */
	r = reading(10000, false, 0, 0);
	task_usage_tracker_advance(&tr, &r);
	assert_false(tr.report.has_cpu_units);
	r = reading(13000, true, 9000, 0);
	task_usage_tracker_advance(&tr, &r);
	assert_false(tr.report.has_cpu_units);
	/* Nothing read at all (the cgroup is gone). */
	r = (struct task_usage_reading){ .taken_ns = 16000 * MS };
	task_usage_tracker_advance(&tr, &r);
	assert_false(tr.report.has_cpu_units);
	assert_false(tr.report.has_memory);
}

static void test_readings_closer_than_the_interval_are_not_due(void **state)
{
	struct task_usage_tracker tr;
	struct task_usage_reading r = reading(20000, true, 0, 0);

	(void)state;
	task_usage_tracker_init(&tr, TASK_ID);
	task_usage_tracker_advance(&tr, &r);
	assert_false(task_usage_tracker_due(&tr, 20000 * MS));
	assert_false(task_usage_tracker_due(&tr, (20000 + TASK_USAGE_MIN_INTERVAL_MS - 1) * MS));
	assert_true(task_usage_tracker_due(&tr, (20000 + TASK_USAGE_MIN_INTERVAL_MS) * MS));
	assert_true(task_usage_tracker_due(&tr, 23000 * MS));
}

/* ---- reads from a directory laid out as the cgroup mounts ------------------ */

#define GROUP "orch/orch-" TASK_ID

/* A fresh directory to play /sys/fs/cgroup; removed by rm_root. */
static int make_root(void **state)
{
	char *root = strdup("/tmp/test_task_usage.XXXXXX");

	assert_non_null(root);
	assert_non_null(mkdtemp(root));
	*state = root;
	return 0;
}

static int rm_root(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	assert_int_equal(system(cmd), 0);
	free(*state);
	return 0;
}

/* Writes root/dir/file (making dir). */
static void put(const char *root, const char *dir, const char *file, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, dir);
	assert_int_equal(fs_mkdir_p(path, 0755, NULL), 0);
	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_read_v2(void **state)
{
	const char *root = *state;
	struct task_usage_reading r;
	orch_error err = ORCH_ERROR_INIT;

	put(root, GROUP, "cpu.stat", v2_cpu_stat);
	put(root, GROUP, "memory.current", "80347136\n");
	put(root, GROUP, "memory.stat", v2_memory_stat);
	assert_int_equal(task_usage_read(root, CGROUP_MODE_V2, GROUP, 42, &r, &err), 0);
	assert_int_equal(r.taken_ns, 42);
	assert_true(r.has_cpu);
	assert_int_equal(r.cpu_ns, 8123456000ULL);
	assert_true(r.has_memory);
	assert_int_equal(r.memory_bytes, 71958528);
}

static void test_read_v1_cpuacct(void **state)
{
	const char *root = *state;
	struct task_usage_reading r;
	orch_error err = ORCH_ERROR_INIT;

	put(root, "memory/" GROUP, "memory.usage_in_bytes", "79691776\n");
	put(root, "memory/" GROUP, "memory.stat", v1_memory_stat);
	put(root, "cpuacct/" GROUP, "cpuacct.usage", "123456789012\n");
	/* A cgroup2 cgroup as well: cpuacct is the first choice. */
	put(root, "unified/" GROUP, "cpu.stat", v2_cpu_stat);
	assert_int_equal(task_usage_read(root, CGROUP_MODE_V1, GROUP, 1, &r, &err), 0);
	assert_true(r.has_cpu);
	assert_int_equal(r.cpu_ns, 123456789012ULL);
	assert_true(r.has_memory);
	assert_int_equal(r.memory_bytes, 71303168);
}

static void test_read_hybrid_unified_cpu(void **state)
{
	const char *root = *state;
	struct task_usage_reading r;
	orch_error err = ORCH_ERROR_INIT;

	put(root, "memory/" GROUP, "memory.usage_in_bytes", "79691776\n");
	put(root, "memory/" GROUP, "memory.stat", v1_memory_stat);
	put(root, "unified/" GROUP, "cpu.stat", v2_cpu_stat);
	assert_int_equal(task_usage_read(root, CGROUP_MODE_HYBRID, GROUP, 1, &r, &err), 0);
	assert_true(r.has_cpu);
	assert_int_equal(r.cpu_ns, 8123456000ULL);
	assert_int_equal(r.memory_bytes, 71303168);
}

/* This process's CPU time in clock ticks, after using at least one tick. */
static uint64_t own_ticks(void)
{
	char *stat = NULL;
	uint64_t ticks = 0;

	for (;;) {
		assert_int_equal(fs_read_file("/proc/self/stat", 4096, &stat, NULL, NULL), 0);
		assert_int_equal(task_usage_parse_proc_stat_ticks(stat, &ticks), 0);
		free(stat);
		if (ticks > 0)
			return ticks;
		for (clock_t until = clock() + CLOCKS_PER_SEC / 50; clock() < until; )
			;
	}
}

static void test_read_v1_processes(void **state)
{
	const char *root = *state;
	struct task_usage_reading r;
	orch_error err = ORCH_ERROR_INIT;
	uint64_t ticks = own_ticks();
	char procs[64];

	/* The group holds no process; a container's cgroup this one and one gone. */
	snprintf(procs, sizeof(procs), "%d\n999999999\n", (int)getpid());
	put(root, "memory/" GROUP, "memory.usage_in_bytes", "79691776\n");
	put(root, "memory/" GROUP, "memory.stat", v1_memory_stat);
	put(root, "memory/" GROUP, "cgroup.procs", "");
	put(root, "memory/" GROUP "/c1", "cgroup.procs", procs);
	assert_int_equal(task_usage_read(root, CGROUP_MODE_HYBRID, GROUP, 1, &r, &err), 0);
	assert_true(r.has_cpu);
	assert_true(r.cpu_ns >= ticks * 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK));
	assert_int_equal(r.memory_bytes, 71303168);
}

static void test_read_what_is_there(void **state)
{
	const char *root = *state;
	struct task_usage_reading r;
	orch_error err = ORCH_ERROR_INIT;

	/* No cgroup at all (the task's is gone): nothing, and why. */
	assert_int_equal(task_usage_read(root, CGROUP_MODE_V2, GROUP, 1, &r, &err), -1);
	assert_false(r.has_cpu);
	assert_false(r.has_memory);
	assert_int_equal(err.sys_errno, ENOENT);
	/* CPU without memory (memory.stat lacks its key): the CPU stands alone. */
	put(root, GROUP, "cpu.stat", v2_cpu_stat);
	put(root, GROUP, "memory.current", "80347136\n");
	put(root, GROUP, "memory.stat", "anon 1\n");
	assert_int_equal(task_usage_read(root, CGROUP_MODE_V2, GROUP, 1, &r, &err), 0);
	assert_true(r.has_cpu);
	assert_false(r.has_memory);
	/* v1 memory without a CPU source: no cgroup.procs to sum. */
	put(root, "memory/" GROUP, "memory.usage_in_bytes", "4096\n");
	put(root, "memory/" GROUP, "memory.stat", v1_memory_stat);
	assert_int_equal(task_usage_read(root, CGROUP_MODE_V1, GROUP, 1, &r, &err), 0);
	assert_false(r.has_cpu);
	assert_true(r.has_memory);
	assert_int_equal(r.memory_bytes, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_keyed_v1_memory_stat),
		cmocka_unit_test(test_keyed_v2_files),
		cmocka_unit_test(test_memory_leaves_out_inactive_files),
		cmocka_unit_test(test_proc_stat_ticks),
		cmocka_unit_test(test_first_reading_has_memory_but_no_rate),
		cmocka_unit_test(test_rate_between_readings),
		cmocka_unit_test(test_counter_back_or_missing_restarts_the_rate),
		cmocka_unit_test(test_readings_closer_than_the_interval_are_not_due),
		cmocka_unit_test_setup_teardown(test_read_v2, make_root, rm_root),
		cmocka_unit_test_setup_teardown(test_read_v1_cpuacct, make_root, rm_root),
		cmocka_unit_test_setup_teardown(test_read_hybrid_unified_cpu, make_root, rm_root),
		cmocka_unit_test_setup_teardown(test_read_v1_processes, make_root, rm_root),
		cmocka_unit_test_setup_teardown(test_read_what_is_there, make_root, rm_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

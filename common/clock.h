/*
 * clock.h - the two clocks, named so they cannot be confused.
 *
 *   clock_mono_*   CLOCK_MONOTONIC: for deadlines, timeouts and durations.
 *                  Never jumps; its zero is meaningless (boot), so its values
 *                  are never stored or shown.
 *   clock_wall_*   CLOCK_REALTIME: for timestamps a user or another host
 *                  reads (createdAt, log lines, task IDs).  May jump when the
 *                  clock is set; never used to measure an interval.
 *
 * clock_mono_coarse_ms is CLOCK_MONOTONIC_COARSE (a tick's resolution, no
 * system call cost) for the load balancer's per-request bookkeeping.
 */
#ifndef ORCH_COMMON_CLOCK_H
#define ORCH_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ns_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t clock_mono_ns(void)
{
	return clock_ns_of(CLOCK_MONOTONIC);
}

static inline int64_t clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000;
}

static inline int64_t clock_mono_coarse_ms(void)
{
	return clock_ns_of(CLOCK_MONOTONIC_COARSE) / 1000000;
}

static inline int64_t clock_wall_ns(void)
{
	return clock_ns_of(CLOCK_REALTIME);
}

static inline int64_t clock_wall_ms(void)
{
	return clock_wall_ns() / 1000000;
}

/* Seconds as a double, for timestamps reported in JSON (ECS's epoch seconds)
 * and the deadlines computed from them. */
static inline double clock_mono_s(void)
{
	return (double)clock_mono_ns() / 1e9;
}

static inline double clock_wall_s(void)
{
	return (double)clock_wall_ns() / 1e9;
}

#endif

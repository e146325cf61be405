/* scheduler_bench.h - `orch bench-scheduler`: in-memory placement benchmark. */
#ifndef ORCH_SCHEDULER_BENCH_H
#define ORCH_SCHEDULER_BENCH_H

int bench_scheduler_main(int argc, char **argv);

#endif

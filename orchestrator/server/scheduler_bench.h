/* scheduler_bench.h - `orch bench-scheduler`: in-memory placement benchmark. */
#ifndef ORCH_CLI_BENCH_SCHEDULER_H
#define ORCH_CLI_BENCH_SCHEDULER_H

int bench_scheduler_main(int argc, char **argv);

#endif

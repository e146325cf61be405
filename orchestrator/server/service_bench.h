/* service_bench.h - `orch bench-services`: the service reconciler measured at scale. */
#ifndef ORCH_SERVICE_BENCH_H
#define ORCH_SERVICE_BENCH_H

int bench_services_main(int argc, char **argv);

#endif

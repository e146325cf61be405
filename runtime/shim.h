/*
 * shim.h - `orch shim`: the supervisor of one container, the role conmon
 * plays for Podman.
 *
 *   orch shim --data DIR [--attach-fd N] ID
 *
 * Started (detached: setsid and a double fork) by container_start, it
 * creates the container's cgroup, becomes the parent of the container's
 * PID 1, moves its output from pipes into the log (container_log.h) and to
 * the attached client if any (container_attach.h), forwards stop and signal
 * requests, reaps the container, records exit code, signal, OOM kill and
 * finish time into state.json, removes the cgroup, and (for auto-remove
 * containers) the whole container.  It outlives its starter: nothing it
 * does depends on the starter staying alive.
 *
 * Memory: no JSON library past reading config.json, a fixed buffer per
 * stream, one poll loop; see tests/bench/shim_rss.sh for the figure.
 */
#ifndef ORCH_RUNTIME_SHIM_H
#define ORCH_RUNTIME_SHIM_H

#define SHIM_PIPE_READ_MAX 32768	/* bytes read from a stream per turn */
#define SHIM_EXIT_DRAIN_MS 2000		/* after PID 1 exits, wait this long for pipe EOF */
#define SHIM_LOG_FILE "shim.log"
#define SHIM_TRIM_DELAY_MS 200	/* idle time before dropping start-up pages */

int shim_main(int argc, char **argv);

#endif

/*
 * sealed_binary.h - one read-only in-memory copy of the running orch binary
 * per process, for the orch code that runs beside or inside a container:
 * the exec helper (container_exec.h), the shim of a container with an init
 * and that init (init_process.h).
 *
 * The copy is a memfd sealed against writing, growing, shrinking and further
 * seals, and it is executed with execveat(AT_EMPTY_PATH), never by path.  A
 * process in a container that reaches /proc/PID/exe of such a process finds
 * the copy, which it can read but not write, and never the host's file (the
 * runc CVE-2019-5736 class).
 *
 * A process that was itself started from such a copy (a shim the agent
 * started from its copy) reuses its own binary instead of copying again,
 * so one copy's pages serve the agent, its shims and their inits.
 */
#ifndef ORCH_RUNTIME_SEALED_BINARY_H
#define ORCH_RUNTIME_SEALED_BINARY_H

#include "common/error.h"

/* The name the copy shows in /proc/PID/exe: "/memfd:orch (deleted)". */
#define SEALED_BINARY_NAME "orch"

/*
 * The copy's descriptor: close-on-exec, 3 or above, made at the first call
 * and kept open for the life of the process (every later call returns the
 * same one; the caller must not close it).  Thread-safe.
 */
int sealed_binary_fd(orch_error *err);

#endif

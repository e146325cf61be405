/*
 * agent_stream.h - the agent's side of `orch task logs` (task_stream.h):
 * a thread long-polls GET /v1/agent/streams and, for each stream the server
 * asks for, a thread uploads the container's log as a chunked
 * POST /v1/agent/streams/{id}, following it while the container runs.
 *
 * Threads keep the agent's own loop (curl multi, runtime work) free of log
 * traffic.  An upload ends when the log ends (no follow), the container
 * stops (follow), or the server closes its side (the reader went away):
 * the upload watches its socket for the peer's shutdown while it waits for
 * log bytes.  At most AGENT_STREAM_MAX_ACTIVE uploads run at once; a
 * request past that is dropped and the server answers its client 504.
 * Streams of kind "exec" go to agent_exec.h.
 */
#ifndef ORCH_AGENT_STREAM_H
#define ORCH_AGENT_STREAM_H

#include "common/error.h"

#define AGENT_STREAM_MAX_ACTIVE 32
#define AGENT_STREAM_POLL_WAIT_S 25
#define AGENT_STREAM_RETRY_MS 2000
/* Logs of removed task containers kept for `orch task logs` of stopped tasks. */
#define AGENT_STREAM_LOG_ARCHIVE_DIR "task-logs"
#define AGENT_STREAM_MAX_ARCHIVED_LOGS 64

/*
 * Starts the stream poller (detached; it lives as long as the process).
 * The strings are copied.  Calling it again only replaces the credential.
 */
int agent_streams_start(const char *server, const char *ca_pem, const char *credential,
			const char *runtime_dir, orch_error *err);

/*
 * Keeps a copy of a container's log (RUNTIME_DIR/task-logs/ID/) before the
 * agent removes the container, so the log of a stopped task can still be
 * read; the oldest copies past AGENT_STREAM_MAX_ARCHIVED_LOGS are deleted.
 * Best effort: failures are logged.
 */
void agent_stream_archive_log(const char *runtime_dir, const char *runtime_id);

#endif

/*
 * embedded_agent.h - the server's embedded agent: a child `orch agent`
 * process of the same binary, pointed at the server's own HTTPS address with
 * its join token, so `orch server` alone is a one-node cluster.
 *
 * A child process (not a thread) keeps faults apart: a crash in the agent or
 * the runtime never takes the control plane down, and the agent is exactly
 * what runs on workers.  The server restarts it when it exits (backoff from
 * AGENT_CHILD_RESTART_MIN_MS doubling to AGENT_CHILD_RESTART_MAX_MS); the
 * child gets SIGTERM when the server dies (PR_SET_PDEATHSIG).  Stopping the
 * agent never stops its containers: their shims outlive it, and the next
 * agent re-adopts them.
 */
#ifndef ORCH_AGENT_EMBEDDED_H
#define ORCH_AGENT_EMBEDDED_H

#include <event2/event.h>

#include "common/error.h"

#define AGENT_CHILD_RESTART_MIN_MS 500
#define AGENT_CHILD_RESTART_MAX_MS 30000
#define AGENT_CHILD_STOP_TIMEOUT_MS 5000
#define AGENT_CHILD_MAX_ARGS 32

struct agent_child;

/*
 * Starts `orch agent ARGS...` (args: NULL-terminated, without "orch" and
 * "agent") and keeps it running from base's loop.
 */
struct agent_child *agent_child_start(struct event_base *base, const char *const *args,
				      orch_error *err);

/* SIGTERM, SIGKILL after AGENT_CHILD_STOP_TIMEOUT_MS, reap, free.  NULL is fine. */
void agent_child_stop(struct agent_child *child);

#endif

/*
 * agent_exec.h - the agent's side of `orch task exec` (exec_protocol.h):
 * for each "exec" stream of the stream poll (agent_stream.h) a thread
 * checks the container, opens the upgraded channel to the server, starts
 * the command in the container (runtime/container_exec.h: its namespaces,
 * cgroup, user, environment and working directory; a terminal from the
 * container's own devpts with "tty") and pumps frames until the process
 * exited and its output was sent, or the channel closed.
 *
 * No orphans: the helper is supervised (it kills the process group when
 * told to, or when this thread dies with the agent), and whenever the
 * channel closes before the process exited the thread ends it: SIGTERM to
 * the helper (which SIGKILLs the group), SIGKILL to the helper's group
 * after AGENT_EXEC_KILL_GRACE_MS.  The thread then reaps it and closes the
 * terminal, pipes and connection.  After the exit, output still arriving
 * is forwarded until the streams end or stay quiet for
 * AGENT_EXEC_DRAIN_IDLE_MS (a background child may hold them open).
 */
#ifndef ORCH_AGENT_EXEC_H
#define ORCH_AGENT_EXEC_H

#include <jansson.h>

#define AGENT_EXEC_MAX_ACTIVE 16
#define AGENT_EXEC_CONNECT_TIMEOUT_MS 10000
#define AGENT_EXEC_DRAIN_IDLE_MS 250
#define AGENT_EXEC_KILL_GRACE_MS 2000
/* Output frames queued for the server, and input queued for the process. */
#define AGENT_EXEC_HIGH_WATER (256 * 1024)
/* After EXIT: time for the server to take the rest and close its side. */
#define AGENT_EXEC_LINGER_MS 10000

struct agent_exec_server {
	const char *server;		/* https://host:port */
	const char *ca_pem;
	const char *credential;
	const char *runtime_dir;
};

/*
 * Starts the thread for one poll entry of kind "exec" (detached).  The
 * strings are copied.  Past AGENT_EXEC_MAX_ACTIVE the stream is refused
 * (429) instead.
 */
void agent_exec_begin(const json_t *stream, const struct agent_exec_server *srv);

#endif

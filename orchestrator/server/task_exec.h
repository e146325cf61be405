/*
 * task_exec.h - the server's side of `orch task exec`: a client's exec
 * request checked against the store, handed to the task's agent as a
 * stream of kind "exec" (task_stream.h), and the two upgraded connections
 * spliced frame by frame (exec_protocol.h).
 *
 * The server checks every frame's header (type allowed from that sender,
 * length within its limit) before it passes the frame on unchanged; a bad
 * client frame ends the session with an ERROR frame to the client.  While
 * more than TASK_EXEC_HIGH_WATER bytes wait to be sent to one side, the
 * other side is not read (backpressure end to end: the agent stops reading
 * the process's output, the CLI stops reading its stdin).  A side held back
 * so is still watched (http_channel_set_hup_cb): its going is seen at once,
 * not when the other side next moves.  The client going (or breaking the
 * protocol) resets the agent's side: its held input is of no use, and the
 * agent kills the process when its side closes.  The agent's side failing
 * sends the client what came from it, an ERROR frame if no EXIT was among
 * it, and closes.  At most TASK_EXEC_MAX_PER_NODE sessions (waiting for
 * their agent or open) per node: 429 past it.
 *
 * A session is owned here from the client's request until both of its
 * connections were closed or went away.
 */
#ifndef ORCH_TASK_EXEC_H
#define ORCH_TASK_EXEC_H

#include <event2/event.h>

#include "api.h"

#define TASK_EXEC_MAX_PER_NODE 16
#define TASK_EXEC_HIGH_WATER (256 * 1024)

struct task_streams;
struct task_execs;

/* Made and freed by task_streams_new/free (task_stream.h). */
struct task_execs *task_execs_new(struct task_streams *ts, struct event_base *base);
/* Ends every open session (an ERROR frame to the client, then closes). */
void task_execs_free(struct task_execs *te);

/* POST /v1/clusters/{c}/tasks/{id}/exec (api.c). */
void api_task_exec(struct api_request *ar);

#endif

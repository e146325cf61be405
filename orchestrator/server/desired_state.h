/*
 * desired_state.h - each node's desired-state index and the agents' long
 * polls waiting on it (GET /v1/agent/assignments, agent_protocol.h).
 *
 * A write that changes what a node should run calls desired_state_changed()
 * inside its open transaction.  Nothing is announced then: the node's index
 * bumps and its waiting long polls are answered only after the group commit
 * of that transaction ran (the announcement is an event activated after the
 * write batch's commit event, so libevent runs it later in the same loop
 * turn), and the answer is read from the store's read-only connection, so an
 * agent is never told of uncommitted state.
 *
 * Indexes start at the server's start time in milliseconds and each bump
 * sets index = max(index + 1, now_ms), so they keep growing across server
 * restarts; an agent that presents an index above the node's current one
 * (a restart with a clock step back) is answered at once.
 *
 * The module owns the waiting requests: each has a timer for its `wait`,
 * and an abandon callback so a client that goes away is forgotten.  At most
 * DESIRED_STATE_MAX_WAITERS_PER_NODE polls wait per node; a further one
 * answers the oldest at once (with the current set, which is harmless:
 * the protocol is level-triggered).
 */
#ifndef ORCH_DESIRED_STATE_H
#define ORCH_DESIRED_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "store.h"

#define DESIRED_STATE_MAX_WAITERS_PER_NODE 4

struct desired_state;
struct http_request;

/* Answers req with node_id's whole desired set at index (must http_respond). */
typedef void desired_render_fn(struct http_request *req, const char *node_id, uint64_t index,
			       void *arg);

struct desired_state *desired_state_new(struct event_base *base, struct store *store,
					desired_render_fn *render, void *arg);
/* Answers every waiting poll, then frees. */
void desired_state_free(struct desired_state *ds);

/* The node's set changed in the open transaction; announce after commit. */
void desired_state_changed(struct desired_state *ds, const char *node_id);

uint64_t desired_state_index(struct desired_state *ds, const char *node_id);

/*
 * Parks req until node_id's index passes since or wait_ms passed, then
 * renders the answer.  Returns true if parked; false if the caller should
 * answer now (the index already differs from since).
 */
bool desired_state_wait(struct desired_state *ds, const char *node_id, struct http_request *req,
			uint64_t since, int wait_ms);

/* Answers every waiting poll now (server shutdown). */
void desired_state_release_waiters(struct desired_state *ds);

#endif

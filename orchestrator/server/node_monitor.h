/*
 * node_monitor.h - LOST detection: which nodes stopped reporting.
 *
 * The monitor remembers when each watched node last reported (monotonic
 * clock, in memory only: after a server restart every node gets a full
 * grace period from the start).  A timer ticks every grace/4 (at least
 * NODE_MONITOR_MIN_TICK_MS, at most NODE_MONITOR_MAX_TICK_MS); a node silent
 * for longer than the grace is reported once through the lost callback and
 * no longer watched until it reports again.
 */
#ifndef ORCH_NODE_MONITOR_H
#define ORCH_NODE_MONITOR_H

#include <stdbool.h>

#include <event2/event.h>

#include "proto/agent_protocol.h"

#define NODE_MONITOR_MIN_TICK_MS 50
#define NODE_MONITOR_MAX_TICK_MS 1000

struct node_monitor;

typedef void node_lost_fn(const char *node_id, void *arg);

struct node_monitor *node_monitor_new(struct event_base *base, int grace_ms, node_lost_fn *lost,
				      void *arg);
void node_monitor_free(struct node_monitor *nm);

/* The node reported now: watch it (again). */
void node_monitor_seen(struct node_monitor *nm, const char *node_id);
/* Stop watching (deregistered, or already LOST at start). */
void node_monitor_forget(struct node_monitor *nm, const char *node_id);
/* Watched and heard from within the grace period. */
bool node_monitor_connected(struct node_monitor *nm, const char *node_id);

#endif

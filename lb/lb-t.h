/*
 * lb-t.h - the load balancer's internal types, shared by its .c files
 * (HAProxy style: types here, functions in each module's own header).
 *
 * Ownership and threads, in one place:
 *   - struct lb is the process-wide object.  A control thread (the one that
 *     calls lb_run) owns control_base: signals, health checks, the admin
 *     listener, the listening sockets (accepted connections are handed to
 *     the least loaded worker) and target-registry maintenance.  Each
 *     struct lb_worker owns one event_base, its client connections and its slot of
 *     every target's idle-connection pool.
 *   - struct lb_route_table is an immutable snapshot (config + resolved
 *     groups).  Publishing builds a new one and hands each worker a
 *     reference through its mailbox; the worker swaps its pointer on its own
 *     thread and drops the old reference.  A request holds a reference for
 *     its lifetime, so a reload never pulls a table out from under one.
 *   - struct lb_target is keyed by (group name, address) in the registry and
 *     outlives snapshots, so health, ejection and pooled connections survive
 *     a reload.  Its counters are atomics read by every thread.
 */
#ifndef ORCH_LB_LB_T_H
#define ORCH_LB_LB_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "common/http_parse.h"

struct lb;
struct lb_worker;
struct lb_upstream_conn;
struct lb_client;
struct lb_tls;
struct lb_listener;
struct lb_health_probe;
struct lb_handoff;

/* Latency histogram bucket bounds in microseconds (Prometheus "le"). */
#define LB_LATENCY_BUCKET_COUNT 14
extern const uint64_t lb_latency_bucket_us[LB_LATENCY_BUCKET_COUNT];

/*
 * One worker's share of a target group's counters.  Only that worker writes
 * it (a relaxed load and store: no locked instruction, no cache line shared
 * with another worker); a metrics scrape sums the shares.
 */
struct lb_group_counters {
	_Atomic uint64_t responses[6];		/* [0] no status (aborted), [1..5] = 1xx..5xx */
	_Atomic uint64_t latency_buckets[LB_LATENCY_BUCKET_COUNT + 1];
	_Atomic uint64_t latency_sum_us;
	_Atomic uint64_t retries;
} __attribute__((aligned(64)));

/* Per target-group counters; live until lb_free so reloads keep them. */
struct lb_group_stats {
	char *name;
	size_t worker_count;
	struct lb_group_counters *per_worker;	/* [worker_count] */
	struct lb_group_stats *next;
};

TAILQ_HEAD(lb_upstream_list, lb_upstream_conn);

struct lb_pool_slot {
	struct lb_upstream_list idle;
	size_t idle_count;
	char pad[64 - sizeof(struct lb_upstream_list) - sizeof(size_t)];
};

struct lb_target {
	_Atomic int refs;
	struct lb *lb;
	char *group_name;
	char *address;
	struct sockaddr_storage addr;
	socklen_t addr_len;

	_Atomic int healthy;			/* active health-check verdict */
	_Atomic int64_t ejected_until_ms;	/* passive ejection, monotonic ms */
	_Atomic int consecutive_failures;	/* passive: connect failures and 5xx */
	/*
	 * Requests in flight: written by every worker on every request, so
	 * padded away from the fields above, which every request only reads.
	 */
	char outstanding_pad_before[64];
	_Atomic int outstanding;
	char outstanding_pad_after[64 - sizeof(int)];
	_Atomic int draining;			/* no longer in the current snapshot */
	_Atomic int64_t drain_deadline_ms;

	/* Control thread only (under lb->registry_lock when written). */
	struct lb_health_check_conf hc;		/* deep copy, updated on publish */
	int passive_failures;
	double passive_eject_seconds;
	double deregistration_delay;
	int hc_successes, hc_failures;
	struct event *hc_timer;
	struct lb_health_probe *probe;
	bool in_registry;
	struct lb_target *registry_next;

	size_t pool_count;
	struct lb_pool_slot *pools;		/* [worker_count], slot i owned by worker i */
};

struct lb_rr_cursor {
	unsigned value;
	char pad[60];
};

struct lb_group {
	const struct lb_group_conf *conf;	/* inside the snapshot's config */
	struct lb_group_stats *stats;
	size_t target_count;
	struct lb_target **targets;
	int *weights;
	unsigned *schedule;			/* smooth weighted round-robin order */
	size_t schedule_len;
	struct lb_rr_cursor *cursors;		/* [worker_count] */
};

struct lb_route_table {
	_Atomic int refs;
	uint64_t generation;
	struct lb_config *config;
	size_t group_count;
	struct lb_group *groups;
	struct http_limits http_limits;
};

struct lb_worker {
	struct lb *lb;
	size_t index;
	pthread_t thread;
	bool thread_started;
	struct event_base *base;
	struct lb_route_table *routes;		/* this thread's current snapshot */

	pthread_mutex_t mailbox_lock;
	struct lb_route_table *mailbox;		/* next snapshot, handed over by publish */
	int wake_fd;				/* eventfd: other threads wake the loop */
	struct event *wake_event;
	_Atomic int stop;			/* leave the loop (lb_workers_stop) */
	struct event *sweep_timer;
	bool drain_applied;			/* idle clients closed */

	/* Accepted sockets handed over by the control thread (listener.c). */
	pthread_mutex_t handoff_lock;
	struct lb_handoff *handoff;		/* pending, newest first */
	_Atomic size_t handoff_count;

	struct lb_conn_turn turn;		/* write callbacks due after this turn */
	TAILQ_HEAD(, lb_client) clients;
	struct lb_upstream_list idle_upstreams;	/* all idle pooled connections */
	_Atomic size_t client_count;

	uint64_t rng;				/* xorshift state for request ids */
	int64_t log_window_ms;			/* per-request warnings: rate limit window */
	unsigned log_count, log_suppressed;
	struct http_head scratch_head;		/* parse space (one callback at a time) */
	char *head_buf;				/* upstream/client head assembly */
	size_t head_buf_cap;
};

struct lb_metrics {
	_Atomic int64_t active_connections;
	_Atomic uint64_t connections_total;
	_Atomic uint64_t connections_rejected;
	_Atomic uint64_t requests_rejected[6];	/* answered by the proxy itself, by class */
};

struct lb {
	char *config_path;
	size_t worker_count;
	struct lb_worker *workers;
	struct event_base *control_base;

	pthread_mutex_t publish_lock;		/* one publisher at a time */
	struct lb_route_table *current;		/* latest published (holds a reference) */
	uint64_t generation;

	pthread_mutex_t registry_lock;		/* targets and group stats lists */
	struct lb_target *registry;
	struct lb_group_stats *group_stats;
	struct lb_group_stats *unrouted_stats;	/* answered without a target group */

	/* Control thread: replaced as a whole by a reload (listener.c). */
	size_t listener_count;
	struct lb_listener **listeners;		/* on control_base: accept, then hand off */
	size_t next_worker;			/* accept rotation start (control thread) */
	struct lb_metrics metrics;

	_Atomic int draining;			/* graceful stop begun: no new connections */
	int64_t drain_deadline_ms;
	struct event *drain_timer;
	struct event *hc_kick;
	struct event *maintenance_timer;
	struct event *signal_events[4];
	struct evconnlistener *admin_listener;
	char *admin_address;			/* as configured; NULL: no admin listener */
	struct sockaddr_storage admin_addr;	/* as resolved */
	socklen_t admin_addr_len;
	char *pid_file;
};

#endif

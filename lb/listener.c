/*
 * listener.c - worker threads, their listening sockets and accept path.
 */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "log.h"
#include "proxy.h"
#include "route_table.h"
#include "tls.h"

/* How often a worker looks for draining targets and their idle connections. */
#define LB_SWEEP_INTERVAL_MS 250
#define LB_LISTEN_BACKLOG 1024

struct listen_ctx {
	struct lb_worker *worker;
	size_t index;
};

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
		      int socklen, void *arg)
{
	struct listen_ctx *ctx = arg;
	struct lb_worker *w = ctx->worker;
	struct lb *lb = w->lb;
	struct bufferevent *bev;
	int one = 1;

	if ((size_t)atomic_load_explicit(&lb->metrics.active_connections, memory_order_relaxed) >=
	    w->routes->config->limits.max_connections) {
		atomic_fetch_add_explicit(&lb->metrics.connections_rejected, 1, memory_order_relaxed);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lb->tls[ctx->index])
		bev = lb_tls_wrap(lb->tls[ctx->index], w->base, fd);
	else
		bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		if (!lb->tls[ctx->index])
			close(fd);
		return;
	}
	proxy_client_start(w, bev, ctx->index, addr, socklen);
}

static void accept_error_cb(struct evconnlistener *listener, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: log; libevent keeps the listener going. */
	log_warn("lb: accept: %s", evutil_socket_error_to_string(e));
}

static void mailbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb_worker *w = arg;
	struct lb_route_table *next, *old;

	pthread_mutex_lock(&w->mailbox_lock);
	next = w->mailbox;
	w->mailbox = NULL;
	pthread_mutex_unlock(&w->mailbox_lock);
	if (!next)
		return;
	old = w->routes;
	w->routes = next;
	route_table_unref(old);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	proxy_sweep(arg);
}

static void *worker_main(void *arg)
{
	struct lb_worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int lb_workers_init(struct lb *lb, orch_error *err)
{
	const struct lb_config *config = lb->boot_config;

	lb->workers = calloc(lb->worker_count, sizeof(*lb->workers));
	if (!lb->workers)
		return orch_fail_errno(err, ENOMEM, "workers");
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];
		struct timeval sweep = { 0, LB_SWEEP_INTERVAL_MS * 1000 };

		w->lb = lb;
		w->index = i;
		TAILQ_INIT(&w->clients);
		TAILQ_INIT(&w->idle_upstreams);
		pthread_mutex_init(&w->mailbox_lock, NULL);
		if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || w->rng == 0)
			w->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)w;
		w->base = event_base_new();
		if (!w->base)
			return orch_fail(err, ORCH_ERR_INTERNAL, "cannot create an event base");
		w->mailbox_event = event_new(w->base, -1, 0, mailbox_cb, w);
		w->sweep_timer = event_new(w->base, -1, EV_PERSIST, sweep_cb, w);
		event_add(w->sweep_timer, &sweep);
		w->listener_count = config->listener_count;
		w->listeners = calloc(config->listener_count, sizeof(*w->listeners));
		w->listen_ctxs = calloc(config->listener_count, sizeof(struct listen_ctx));
		for (size_t l = 0; l < config->listener_count; l++) {
			const struct lb_listener_conf *lc = &config->listeners[l];
			struct listen_ctx *ctx = &((struct listen_ctx *)w->listen_ctxs)[l];

			ctx->worker = w;
			ctx->index = l;
			w->listeners[l] = evconnlistener_new_bind(
				w->base, accept_cb, ctx,
				LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE |
				LEV_OPT_CLOSE_ON_EXEC,
				LB_LISTEN_BACKLOG, (const struct sockaddr *)&lc->addr, (int)lc->addr_len);
			if (!w->listeners[l]) {
				return orch_fail_errno(err, errno, "listeners[%zu].address: cannot listen on \"%s\"",
						       l, lc->address);
			}
			evconnlistener_set_error_cb(w->listeners[l], accept_error_cb);
		}
	}
	return 0;
}

int lb_workers_start(struct lb *lb, orch_error *err)
{
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];
		int rc = pthread_create(&w->thread, NULL, worker_main, w);

		if (rc != 0)
			return orch_fail_errno(err, rc, "cannot start worker thread %zu", i);
		w->thread_started = true;
	}
	return 0;
}

void lb_workers_publish(struct lb *lb, struct lb_route_table *table)
{
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];
		struct lb_route_table *stale;

		route_table_ref(table);
		if (!w->thread_started) {
			/* Before start: install directly, nobody else runs this worker yet. */
			stale = w->routes;
			w->routes = table;
			route_table_unref(stale);
			continue;
		}
		pthread_mutex_lock(&w->mailbox_lock);
		stale = w->mailbox;
		w->mailbox = table;
		pthread_mutex_unlock(&w->mailbox_lock);
		route_table_unref(stale);
		event_active(w->mailbox_event, 0, 0);
	}
}

void lb_workers_stop(struct lb *lb)
{
	if (!lb->workers)
		return;
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];

		if (w->thread_started)
			event_base_loopbreak(w->base);
	}
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];

		if (w->thread_started)
			pthread_join(w->thread, NULL);
		w->thread_started = false;
		for (size_t l = 0; l < w->listener_count; l++) {
			if (w->listeners[l])
				evconnlistener_free(w->listeners[l]);
		}
		free(w->listeners);
		free(w->listen_ctxs);
		if (w->base)
			proxy_close_all(w);
		if (w->mailbox_event)
			event_free(w->mailbox_event);
		if (w->sweep_timer)
			event_free(w->sweep_timer);
		route_table_unref(w->mailbox);
		route_table_unref(w->routes);
		if (w->base)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->mailbox_lock);
		free(w->head_buf);
	}
	free(lb->workers);
	lb->workers = NULL;
}

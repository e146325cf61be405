/*
 * listener.c - the listening sockets, the worker threads, and the hand-off
 * of accepted connections from the one to the others.
 *
 * Accept-then-dispatch: the listeners live on the control loop, which
 * accepts, applies the connection limit and hands the socket to the worker
 * with the fewest connections (open plus pending).  Per-worker SO_REUSEPORT
 * sockets were tried first; the kernel's hash spread keep-alive clients
 * unevenly (one worker with 30 of 50 connections) and that worker's queue
 * set the p99.  Handing off costs a mutex and a wake-up per connection,
 * nothing per request.  The worker creates the connection (lb_conn: TLS or
 * plain) on its own loop.
 *
 * Worker bases are created without libevent's internal locking (every
 * event_add would otherwise take a mutex): nothing outside the worker's
 * thread touches its base.  Other threads wake it through an eventfd, and
 * the worker then looks at its mailbox (new routes), its hand-off list
 * (new connections), the drain flag and the stop flag.
 *
 * A worker's loop goes turn by turn: handle every ready event, then write
 * the output those events queued (lb_conn_batch_flush), then wait again.
 * Writing after the turn, not inside each callback, hands the backend and
 * the clients their bytes in one burst per turn; in alternating
 * two-worker runs of the HAProxy benchmark (a busy shared machine) it
 * took the median p99 from 3.8 to 2.0 ms.  Tried since, at two workers,
 * against the same build in alternating rounds, and left out because none
 * clearly helped: writing each connection's output at once (median p99
 * 2.1 ms against 1.6 ms batched, with worse outliers), writing the batch
 * early once 2, 4 or 8 connections had queued output, first-in first-out
 * or upstreams-first batch order, one to four non-blocking re-polls before
 * sleeping, and a shorter scheduler slice (sched_setattr) for the workers.
 */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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
#define LB_LISTEN_BACKLOG 4096

struct lb_handoff {
	evutil_socket_t fd;
	size_t listener_index;
	struct sockaddr_storage peer;
	int peer_len;
	struct lb_handoff *next;
};

struct listen_ctx {
	struct lb *lb;
	size_t index;
};

/* Make the worker's loop run wake_cb soon.  Any thread. */
static void worker_wake(struct lb_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("lb: cannot wake worker %zu: %s", w->index, strerror(errno));
}

static struct lb_worker *least_loaded_worker(struct lb *lb)
{
	struct lb_worker *best = NULL;
	size_t best_load = SIZE_MAX;

	for (size_t k = 0; k < lb->worker_count; k++) {
		/* Rotate the start so ties do not all go to worker 0. */
		struct lb_worker *w = &lb->workers[(lb->next_worker + k) % lb->worker_count];
		size_t load = atomic_load_explicit(&w->client_count, memory_order_relaxed) +
			      atomic_load_explicit(&w->handoff_count, memory_order_relaxed);

		if (load < best_load) {
			best = w;
			best_load = load;
		}
	}
	lb->next_worker++;
	return best;
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
		      int socklen, void *arg)
{
	struct listen_ctx *ctx = arg;
	struct lb *lb = ctx->lb;
	struct lb_handoff *h;
	struct lb_worker *w;
	size_t limit;
	int one = 1;

	pthread_mutex_lock(&lb->publish_lock);
	limit = lb->current->config->limits.max_connections;
	pthread_mutex_unlock(&lb->publish_lock);
	if ((size_t)atomic_load_explicit(&lb->metrics.active_connections, memory_order_relaxed) >=
	    limit || atomic_load(&lb->draining)) {
		atomic_fetch_add_explicit(&lb->metrics.connections_rejected, 1, memory_order_relaxed);
		close(fd);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	atomic_fetch_add_explicit(&lb->metrics.active_connections, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&lb->metrics.connections_total, 1, memory_order_relaxed);
	h->fd = fd;
	h->listener_index = ctx->index;
	memcpy(&h->peer, addr, (size_t)socklen < sizeof(h->peer) ? (size_t)socklen : sizeof(h->peer));
	h->peer_len = socklen;
	w = least_loaded_worker(lb);
	pthread_mutex_lock(&w->handoff_lock);
	h->next = w->handoff;
	w->handoff = h;
	atomic_fetch_add_explicit(&w->handoff_count, 1, memory_order_relaxed);
	pthread_mutex_unlock(&w->handoff_lock);
	worker_wake(w);
}

static void accept_error_cb(struct evconnlistener *listener, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: log; libevent keeps the listener going. */
	log_warn("lb: accept: %s", evutil_socket_error_to_string(e));
}

/* Worker side: adopt the sockets the control thread accepted for us. */
static void adopt_handoffs(struct lb_worker *w)
{
	struct lb *lb = w->lb;
	struct lb_handoff *list, *h;

	pthread_mutex_lock(&w->handoff_lock);
	list = w->handoff;
	w->handoff = NULL;
	pthread_mutex_unlock(&w->handoff_lock);
	while ((h = list)) {
		struct lb_conn *conn = NULL;

		list = h->next;
		atomic_fetch_sub_explicit(&w->handoff_count, 1, memory_order_relaxed);
		if (lb->tls[h->listener_index]) {
			struct bufferevent *bev = lb_tls_wrap(lb->tls[h->listener_index], w->base,
							      h->fd);

			if (bev)
				conn = lb_conn_new_bufferevent(bev);
		} else {
			conn = lb_conn_new_socket(w->base, &w->out_batch, h->fd);
		}
		/* Each constructor closes the socket when it fails. */
		if (!conn) {
			atomic_fetch_sub_explicit(&lb->metrics.active_connections, 1,
						  memory_order_relaxed);
		} else {
			proxy_client_start(w, conn, h->listener_index, (struct sockaddr *)&h->peer,
					   h->peer_len);
		}
		free(h);
	}
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb_worker *w = arg;
	struct lb_route_table *next, *old;
	uint64_t count;

	if (read(w->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_error("lb: worker %zu: eventfd read: %s", w->index, strerror(errno));
	if (atomic_load(&w->stop)) {
		event_base_loopbreak(w->base);
		return;
	}
	adopt_handoffs(w);
	if (atomic_load(&w->lb->draining) && !w->drain_applied) {
		w->drain_applied = true;
		proxy_drain(w);
	}
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

	/* One turn at a time: handle every ready event, then write all output. */
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		if (event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0) {
			log_error("lb: worker %zu: event loop failed; the worker stops", w->index);
			break;
		}
		lb_conn_batch_flush(&w->out_batch);
	}
	return NULL;
}

int lb_workers_init(struct lb *lb, orch_error *err)
{
	const struct lb_config *config = lb->boot_config;
	struct listen_ctx *ctxs;

	lb->workers = calloc(lb->worker_count, sizeof(*lb->workers));
	if (!lb->workers)
		return orch_fail_errno(err, ENOMEM, "workers");
	for (size_t i = 0; i < lb->worker_count; i++)
		lb->workers[i].wake_fd = -1;	/* lb_workers_stop may see any of them */
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];
		struct timeval sweep = { 0, LB_SWEEP_INTERVAL_MS * 1000 };

		w->lb = lb;
		w->index = i;
		TAILQ_INIT(&w->clients);
		TAILQ_INIT(&w->idle_upstreams);
		pthread_mutex_init(&w->mailbox_lock, NULL);
		pthread_mutex_init(&w->handoff_lock, NULL);
		if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || w->rng == 0)
			w->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)w;
		struct event_config *cfg = event_config_new();

		if (cfg)
			event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
		w->base = cfg ? event_base_new_with_config(cfg) : NULL;
		event_config_free(cfg);
		if (!w->base)
			return orch_fail(err, ORCH_ERR_INTERNAL, "cannot create an event base");
		w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->wake_fd < 0)
			return orch_fail_errno(err, errno, "eventfd");
		w->wake_event = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST, wake_cb, w);
		if (!w->wake_event || event_add(w->wake_event, NULL) < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "cannot watch the wake-up eventfd");
		w->sweep_timer = event_new(w->base, -1, EV_PERSIST, sweep_cb, w);
		event_add(w->sweep_timer, &sweep);
	}

	lb->listener_count = config->listener_count;
	lb->listeners = calloc(config->listener_count, sizeof(*lb->listeners));
	lb->listen_ctxs = ctxs = calloc(config->listener_count, sizeof(*ctxs));
	if (!lb->listeners || !ctxs)
		return orch_fail_errno(err, ENOMEM, "listeners");
	for (size_t l = 0; l < config->listener_count; l++) {
		const struct lb_listener_conf *lc = &config->listeners[l];

		ctxs[l].lb = lb;
		ctxs[l].index = l;
		lb->listeners[l] = evconnlistener_new_bind(
			lb->control_base, accept_cb, &ctxs[l],
			LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
			LB_LISTEN_BACKLOG, (const struct sockaddr *)&lc->addr, (int)lc->addr_len);
		if (!lb->listeners[l])
			return orch_fail_errno(err, errno, "listeners[%zu].address: cannot listen on \"%s\"",
					       l, lc->address);
		evconnlistener_set_error_cb(lb->listeners[l], accept_error_cb);
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
		worker_wake(w);
	}
}

static void close_listeners(struct lb *lb)
{
	for (size_t l = 0; l < lb->listener_count; l++) {
		if (lb->listeners[l])
			evconnlistener_free(lb->listeners[l]);
		lb->listeners[l] = NULL;
	}
}

void lb_workers_drain(struct lb *lb)
{
	/* Closing (not pausing) the sockets makes the kernel refuse new connections. */
	close_listeners(lb);
	for (size_t i = 0; i < lb->worker_count; i++) {
		if (lb->workers[i].thread_started)
			worker_wake(&lb->workers[i]);
	}
}

void lb_workers_stop(struct lb *lb)
{
	if (lb->listeners) {
		close_listeners(lb);
		free(lb->listeners);
		lb->listeners = NULL;
	}
	free(lb->listen_ctxs);
	lb->listen_ctxs = NULL;
	if (!lb->workers)
		return;
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];

		if (w->thread_started) {
			atomic_store(&w->stop, 1);
			worker_wake(w);
		}
	}
	for (size_t i = 0; i < lb->worker_count; i++) {
		struct lb_worker *w = &lb->workers[i];
		struct lb_handoff *h;

		if (w->thread_started)
			pthread_join(w->thread, NULL);
		w->thread_started = false;
		while ((h = w->handoff)) {
			w->handoff = h->next;
			close(h->fd);
			free(h);
		}
		if (w->base)
			proxy_close_all(w);
		if (w->wake_event)
			event_free(w->wake_event);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		if (w->sweep_timer)
			event_free(w->sweep_timer);
		route_table_unref(w->mailbox);
		route_table_unref(w->routes);
		if (w->base)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->mailbox_lock);
		pthread_mutex_destroy(&w->handoff_lock);
		free(w->head_buf);
	}
	free(lb->workers);
	lb->workers = NULL;
}

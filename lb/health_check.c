/*
 * health_check.c - active HTTP health checks on the control loop.
 */
#include "health_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "target.h"

struct lb_health_probe {
	struct lb_target *target;
	struct bufferevent *bev;
};

/* Longest status line we wait for. */
#define LB_HC_STATUS_LINE_MAX 1024

bool lb_health_check_status_matches(const struct lb_health_check_conf *hc, int status)
{
	for (size_t i = 0; i < hc->matcher_count; i++) {
		if (status >= hc->matcher[i].low && status <= hc->matcher[i].high)
			return true;
	}
	return false;
}

static void probe_free(struct lb_health_probe *probe)
{
	if (!probe)
		return;
	if (probe->target->probe == probe)
		probe->target->probe = NULL;
	bufferevent_free(probe->bev);
	free(probe);
}

static void record_result(struct lb_target *t, bool ok, const char *why)
{
	if (ok) {
		t->hc_failures = 0;
		t->hc_successes++;
		if (!atomic_load(&t->healthy) && t->hc_successes >= t->hc.healthy_threshold) {
			atomic_store(&t->healthy, 1);
			log_info("lb: target %s in group \"%s\" is healthy", t->address, t->group_name);
		}
	} else {
		t->hc_successes = 0;
		t->hc_failures++;
		if (atomic_load(&t->healthy) && t->hc_failures >= t->hc.unhealthy_threshold) {
			atomic_store(&t->healthy, 0);
			log_warn("lb: target %s in group \"%s\" is unhealthy: %s", t->address,
				 t->group_name, why);
		}
	}
}

static void probe_finish(struct lb_health_probe *probe, bool ok, const char *why)
{
	struct lb_target *t = probe->target;

	probe_free(probe);
	if (t->in_registry)
		record_result(t, ok, why);
}

static void probe_read_locked(struct bufferevent *bev, void *arg);

/* The registry lock guards t->hc against a publisher on another thread. */
static void probe_read_cb(struct bufferevent *bev, void *arg)
{
	struct lb_health_probe *probe = arg;
	pthread_mutex_t *lock = &probe->target->lb->registry_lock;

	pthread_mutex_lock(lock);
	probe_read_locked(bev, arg);
	pthread_mutex_unlock(lock);
}

static void probe_read_locked(struct bufferevent *bev, void *arg)
{
	struct lb_health_probe *probe = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF_STRICT);
	char line[LB_HC_STATUS_LINE_MAX];
	char why[64];
	int status;
	size_t n;

	if (eol.pos < 0) {
		if (evbuffer_get_length(in) > LB_HC_STATUS_LINE_MAX)
			probe_finish(probe, false, "status line too long");
		return;
	}
	n = (size_t)eol.pos < sizeof(line) - 1 ? (size_t)eol.pos : sizeof(line) - 1;
	evbuffer_copyout(in, line, n);
	line[n] = '\0';
	if (n < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
	    sscanf(line + 9, "%3d", &status) != 1) {
		probe_finish(probe, false, "malformed status line");
		return;
	}
	snprintf(why, sizeof(why), "status %d", status);
	probe_finish(probe, lb_health_check_status_matches(&probe->target->hc, status), why);
}

static void probe_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct lb_health_probe *probe = arg;
	pthread_mutex_t *lock = &probe->target->lb->registry_lock;

	if (events & BEV_EVENT_CONNECTED)
		return;
	pthread_mutex_lock(lock);
	probe_finish(probe, false, (events & BEV_EVENT_TIMEOUT) ? "timeout" :
				   (events & BEV_EVENT_EOF) ? "connection closed" : "connect failed");
	pthread_mutex_unlock(lock);
}

static void hc_timer_locked(struct lb_target *t);

static void hc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb_target *t = arg;

	pthread_mutex_lock(&t->lb->registry_lock);
	hc_timer_locked(t);
	pthread_mutex_unlock(&t->lb->registry_lock);
}

static void hc_timer_locked(struct lb_target *t)
{	struct event_base *base = event_get_base(t->hc_timer);
	struct lb_health_probe *probe;
	struct timeval interval, timeout;
	char host[300];

	if (!t->in_registry || !t->hc.enabled || atomic_load(&t->draining))
		return;
	interval.tv_sec = (time_t)t->hc.interval;
	interval.tv_usec = (suseconds_t)((t->hc.interval - (double)interval.tv_sec) * 1e6);
	evtimer_add(t->hc_timer, &interval);
	if (t->probe) {
		probe_finish(t->probe, false, "timeout");
		if (!t->in_registry)
			return;
	}
	probe = calloc(1, sizeof(*probe));
	if (!probe)
		return;
	probe->target = t;
	probe->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!probe->bev) {
		free(probe);
		return;
	}
	t->probe = probe;
	timeout.tv_sec = (time_t)t->hc.timeout;
	timeout.tv_usec = (suseconds_t)((t->hc.timeout - (double)timeout.tv_sec) * 1e6);
	bufferevent_setcb(probe->bev, probe_read_cb, NULL, probe_event_cb, probe);
	bufferevent_set_timeouts(probe->bev, &timeout, &timeout);
	snprintf(host, sizeof(host), "%s", t->hc.host ? t->hc.host : t->address);
	evbuffer_add_printf(bufferevent_get_output(probe->bev),
			    "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: orch-lb-health-check\r\n"
			    "Connection: close\r\n\r\n", t->hc.path ? t->hc.path : "/", host);
	bufferevent_enable(probe->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(probe->bev, (struct sockaddr *)&t->addr,
				       (int)t->addr_len) < 0) {
		/* The error event (if any) was not scheduled: record the failure now. */
		if (t->probe == probe)
			probe_finish(probe, false, "connect failed");
	}
}

void lb_health_check_stop(struct lb_target *t)
{
	if (t->probe)
		probe_free(t->probe);
	if (t->hc_timer) {
		event_free(t->hc_timer);
		t->hc_timer = NULL;
		lb_target_unref(t);
	}
}

void lb_health_check_sync(struct lb *lb)
{
	pthread_mutex_lock(&lb->registry_lock);
	for (struct lb_target *t = lb->registry; t; t = t->registry_next) {
		bool want = t->hc.enabled && !atomic_load(&t->draining);

		if (want && !t->hc_timer) {
			/* First check soon, so a dead target is found quickly after start. */
			struct timeval soon = { 0, 50000 + (long)(random() % 100000) };

			t->hc_timer = evtimer_new(lb->control_base, hc_timer_cb, t);
			if (!t->hc_timer)
				continue;
			lb_target_ref(t);
			t->hc_successes = t->hc_failures = 0;
			evtimer_add(t->hc_timer, &soon);
		} else if (!want && t->hc_timer) {
			lb_health_check_stop(t);
		}
	}
	pthread_mutex_unlock(&lb->registry_lock);
}

/*
 * metrics.c - counters rendered as Prometheus text, and the admin listener.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "common/clock.h"
#include "common/log.h"
#include "target.h"

/* Admin requests are tiny; anything bigger is not for us. */
#define LB_ADMIN_MAX_HEAD 8192
#define LB_ADMIN_TIMEOUT_SECONDS 10

const uint64_t lb_latency_bucket_us[LB_LATENCY_BUCKET_COUNT] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};

static const char *const class_names[6] = { "aborted", "1xx", "2xx", "3xx", "4xx", "5xx" };

/* Label values are names we validated (group names) or addresses: no escaping needed. */
void lb_metrics_render(struct lb *lb, struct evbuffer *out)
{
	struct lb_group_stats *s;
	struct lb_target *t;
	int64_t now = clock_mono_coarse_ms();

	pthread_mutex_lock(&lb->registry_lock);
	evbuffer_add_printf(out, "# HELP orch_lb_requests_total Requests answered, by target group "
				 "and status class.\n# TYPE orch_lb_requests_total counter\n");
	for (s = lb->group_stats; s; s = s->next) {
		for (int k = 0; k < 6; k++)
			evbuffer_add_printf(out,
					    "orch_lb_requests_total{target_group=\"%s\",code_class=\"%s\"} %"
					    PRIu64 "\n", s->name, class_names[k],
					    lb_group_stats_sum(s, responses[k]));
	}
	evbuffer_add_printf(out, "# HELP orch_lb_request_duration_seconds Time from request head "
				 "to response end.\n# TYPE orch_lb_request_duration_seconds histogram\n");
	for (s = lb->group_stats; s; s = s->next) {
		uint64_t cumulative = 0;

		for (int b = 0; b <= LB_LATENCY_BUCKET_COUNT; b++) {
			cumulative += lb_group_stats_sum(s, latency_buckets[b]);
			if (b < LB_LATENCY_BUCKET_COUNT)
				evbuffer_add_printf(out,
						    "orch_lb_request_duration_seconds_bucket{target_group=\"%s\","
						    "le=\"%g\"} %" PRIu64 "\n", s->name,
						    (double)lb_latency_bucket_us[b] / 1e6, cumulative);
			else
				evbuffer_add_printf(out,
						    "orch_lb_request_duration_seconds_bucket{target_group=\"%s\","
						    "le=\"+Inf\"} %" PRIu64 "\n", s->name, cumulative);
		}
		evbuffer_add_printf(out, "orch_lb_request_duration_seconds_sum{target_group=\"%s\"} %.6f\n",
				    s->name, (double)lb_group_stats_sum(s, latency_sum_us) / 1e6);
		evbuffer_add_printf(out, "orch_lb_request_duration_seconds_count{target_group=\"%s\"} %"
				    PRIu64 "\n", s->name, cumulative);
	}
	evbuffer_add_printf(out, "# HELP orch_lb_retries_total Requests retried on another target.\n"
				 "# TYPE orch_lb_retries_total counter\n");
	for (s = lb->group_stats; s; s = s->next)
		evbuffer_add_printf(out, "orch_lb_retries_total{target_group=\"%s\"} %" PRIu64 "\n",
				    s->name, lb_group_stats_sum(s, retries));
	evbuffer_add_printf(out, "# HELP orch_lb_target_healthy 1 if the target takes new requests.\n"
				 "# TYPE orch_lb_target_healthy gauge\n");
	for (t = lb->registry; t; t = t->registry_next)
		evbuffer_add_printf(out, "orch_lb_target_healthy{target_group=\"%s\",target=\"%s\"} %d\n",
				    t->group_name, t->address, lb_target_usable(t, now) ? 1 : 0);
	evbuffer_add_printf(out, "# HELP orch_lb_target_outstanding_requests Requests in flight.\n"
				 "# TYPE orch_lb_target_outstanding_requests gauge\n");
	for (t = lb->registry; t; t = t->registry_next)
		evbuffer_add_printf(out,
				    "orch_lb_target_outstanding_requests{target_group=\"%s\",target=\"%s\"} "
				    "%d\n", t->group_name, t->address, atomic_load(&t->outstanding));
	pthread_mutex_unlock(&lb->registry_lock);

	evbuffer_add_printf(out, "# HELP orch_lb_rejected_requests_total Requests answered without "
				 "a target group (bad requests, no route).\n"
				 "# TYPE orch_lb_rejected_requests_total counter\n");
	for (int k = 0; k < 6; k++)
		evbuffer_add_printf(out, "orch_lb_rejected_requests_total{code_class=\"%s\"} %" PRIu64
				    "\n", class_names[k],
				    atomic_load(&lb->metrics.requests_rejected[k]));
	evbuffer_add_printf(out,
			    "# HELP orch_lb_active_connections Client connections open.\n"
			    "# TYPE orch_lb_active_connections gauge\n"
			    "orch_lb_active_connections %" PRId64 "\n"
			    "# HELP orch_lb_connections_total Client connections accepted.\n"
			    "# TYPE orch_lb_connections_total counter\n"
			    "orch_lb_connections_total %" PRIu64 "\n"
			    "# HELP orch_lb_connections_rejected_total Connections refused at the limit.\n"
			    "# TYPE orch_lb_connections_rejected_total counter\n"
			    "orch_lb_connections_rejected_total %" PRIu64 "\n",
			    atomic_load(&lb->metrics.active_connections),
			    atomic_load(&lb->metrics.connections_total),
			    atomic_load(&lb->metrics.connections_rejected));
}

static void admin_done_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void admin_event_cb(struct bufferevent *bev, short events, void *arg)
{
	bufferevent_free(bev);
}

static void admin_respond(struct bufferevent *bev, int status, const char *type,
			  struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n", status, http_status_reason(status), type,
			    evbuffer_get_length(body));
	evbuffer_add_buffer(out, body);
	bufferevent_setcb(bev, NULL, admin_done_cb, admin_event_cb, NULL);
	bufferevent_disable(bev, EV_READ);
}

static void admin_read_cb(struct bufferevent *bev, void *arg)
{
	struct lb *lb = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *body = evbuffer_new();
	static const struct http_limits limits = {
		.max_header_line_bytes = 4096, .max_header_bytes = LB_ADMIN_MAX_HEAD,
		.max_header_count = 64, .max_uri_bytes = 2048, .max_chunk_ext_bytes = 0,
	};
	struct http_head *head = malloc(sizeof(*head));
	size_t len = evbuffer_get_length(in);
	const char *p;
	int rc;

	if (!head || !body) {
		free(head);
		evbuffer_free(body);
		bufferevent_free(bev);
		return;
	}
	if (len > LB_ADMIN_MAX_HEAD + 1)
		len = LB_ADMIN_MAX_HEAD + 1;
	p = (const char *)evbuffer_pullup(in, (ssize_t)len);
	rc = http_parse_request_head(p, len, &limits, head);
	if (rc == 0)
		goto out;
	if (rc < 0) {
		evbuffer_add_printf(body, "%d %s\n", -rc, http_status_reason(-rc));
		admin_respond(bev, -rc, "text/plain", body);
	} else if (head->method != HTTP_METHOD_GET && head->method != HTTP_METHOD_HEAD) {
		evbuffer_add_printf(body, "405 Method Not Allowed\n");
		admin_respond(bev, 405, "text/plain", body);
	} else if (head->target.len >= 8 && memcmp(p + head->target.off, "/metrics", 8) == 0 &&
		   (head->target.len == 8 || p[head->target.off + 8] == '?')) {
		lb_metrics_render(lb, body);
		admin_respond(bev, 200, "text/plain; version=0.0.4", body);
	} else if (head->target.len == 8 && memcmp(p + head->target.off, "/healthz", 8) == 0) {
		evbuffer_add_printf(body, "ok\n");
		admin_respond(bev, 200, "text/plain", body);
	} else {
		evbuffer_add_printf(body, "404 Not Found\n");
		admin_respond(bev, 404, "text/plain", body);
	}
out:
	free(head);
	evbuffer_free(body);
}

static void admin_accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
			    struct sockaddr *addr, int socklen, void *arg)
{
	struct lb *lb = arg;
	struct bufferevent *bev = bufferevent_socket_new(lb->control_base, fd, BEV_OPT_CLOSE_ON_FREE);
	struct timeval tv = { LB_ADMIN_TIMEOUT_SECONDS, 0 };

	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, admin_read_cb, NULL, admin_event_cb, lb);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int lb_metrics_bind(struct lb *lb, const struct lb_config *config, struct evconnlistener **out,
		    orch_error *err)
{
	*out = NULL;
	if (!config->admin_address)
		return 0;
	*out = evconnlistener_new_bind(lb->control_base, admin_accept_cb, lb,
				       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				       64, (struct sockaddr *)&config->admin_addr,
				       (int)config->admin_addr_len);
	if (!*out)
		return orch_fail_errno(err, errno, "admin.address: cannot listen on \"%s\"",
				       config->admin_address);
	return 0;
}

/*
 * lb.c - the balancer object (lb_new/lb_publish_routes/lb_run/lb_free) and
 * the `orch lb` command: flags, signals (SIGHUP reload, SIGTERM/SIGINT stop)
 * and the pid file.
 */
#include "lb.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "common/clock.h"
#include "common/cleanup.h"
#include "health_check.h"
#include "lb-t.h"
#include "listener.h"
#include "common/log.h"
#include "metrics.h"
#include "route_table.h"
#include "target.h"
#include "tls.h"

/* Registry maintenance (deregistering drained targets) runs this often. */
#define LB_MAINTENANCE_INTERVAL_MS 250
#define LB_MAX_THREADS 256

static void hc_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	lb_health_check_sync(arg);
}

static void maintenance_cb(evutil_socket_t fd, short what, void *arg)
{
	lb_target_registry_prune(arg);
}

/* Build and publish config's routing table (config is the table's from here on). */
static int publish_config(struct lb *lb, struct lb_config *config, orch_error *err)
{
	struct lb_route_table *table, *old;

	pthread_mutex_lock(&lb->publish_lock);
	pthread_mutex_lock(&lb->registry_lock);
	table = route_table_build(lb, config, err);
	if (table)
		lb_target_mark_draining(lb, table);
	pthread_mutex_unlock(&lb->registry_lock);
	if (!table) {
		pthread_mutex_unlock(&lb->publish_lock);
		return -1;
	}
	table->generation = ++lb->generation;
	lb_workers_publish(lb, table);
	old = lb->current;
	lb->current = table;
	pthread_mutex_unlock(&lb->publish_lock);
	route_table_unref(old);
	if (lb->hc_kick)
		event_active(lb->hc_kick, 0, 0);
	log_info("lb: routes generation %llu: %zu rules, %zu target groups",
		 (unsigned long long)table->generation, table->config->rule_count,
		 table->config->group_count);
	return 0;
}

int lb_publish_routes(struct lb *lb, json_t *snapshot, orch_error *err)
{
	struct lb_config *config = lb_config_from_json(snapshot, err);

	if (!config)
		return -1;
	if (!lb_listeners_match(lb, config))
		log_warn("lb: listener, TLS or admin changes in a published snapshot are not applied "
			 "(a reload applies them)");
	return publish_config(lb, config, err);
}

int lb_reload(struct lb *lb, json_t *snapshot, orch_error *err)
{
	struct lb_config *config = lb_config_from_json(snapshot, err);
	struct lb_listener_plan *plan = NULL;

	if (!config)
		return -1;
	/* Stopping: the listeners are closed for good; routes still serve what is in flight. */
	if (!atomic_load(&lb->draining)) {
		plan = lb_listener_plan_new(lb, config, err);
		if (!plan) {
			lb_config_free(config);
			return -1;
		}
	}
	if (publish_config(lb, config, err) < 0) {
		lb_listener_plan_abandon(plan);
		return -1;
	}
	if (plan)
		lb_listener_plan_commit(lb, plan);
	return 0;
}

struct lb *lb_new(json_t *routes, size_t threads, orch_error *err)
{
	static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
	struct lb *lb;

	pthread_once(&evthread_once, (void (*)(void))evthread_use_pthreads);
	lb = calloc(1, sizeof(*lb));
	if (!lb) {
		orch_fail_errno(err, ENOMEM, "lb");
		return NULL;
	}
	pthread_mutex_init(&lb->publish_lock, NULL);
	pthread_mutex_init(&lb->registry_lock, NULL);
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n > 0 ? (size_t)n : 1;
	}
	if (threads > LB_MAX_THREADS)
		threads = LB_MAX_THREADS;
	lb->worker_count = threads;
	lb->unrouted_stats = lb_group_stats_new(lb, "");
	lb->control_base = event_base_new();
	if (!lb->control_base) {
		orch_fail(err, ORCH_ERR_INTERNAL, "cannot create the control event base");
		goto fail;
	}
	if (lb_workers_init(lb, err) < 0)
		goto fail;
	if (lb_reload(lb, routes, err) < 0)
		goto fail;
	lb->hc_kick = event_new(lb->control_base, -1, 0, hc_kick_cb, lb);
	lb->maintenance_timer = event_new(lb->control_base, -1, EV_PERSIST, maintenance_cb, lb);
	{
		struct timeval tv = { 0, LB_MAINTENANCE_INTERVAL_MS * 1000 };

		event_add(lb->maintenance_timer, &tv);
	}
	event_active(lb->hc_kick, 0, 0);
	if (lb_workers_start(lb, err) < 0)
		goto fail;
	return lb;
fail:
	lb_free(lb);
	return NULL;
}

int lb_run(struct lb *lb, orch_error *err)
{
	if (event_base_loop(lb->control_base, EVLOOP_NO_EXIT_ON_EMPTY) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "control loop failed");
	return 0;
}

void lb_stop(struct lb *lb)
{
	event_base_loopbreak(lb->control_base);
}

void lb_free(struct lb *lb)
{
	if (!lb)
		return;
	lb_workers_stop(lb);
	route_table_unref(lb->current);
	lb->current = NULL;
	if (lb->admin_listener)
		evconnlistener_free(lb->admin_listener);
	for (size_t i = 0; i < sizeof(lb->signal_events) / sizeof(lb->signal_events[0]); i++) {
		if (lb->signal_events[i])
			event_free(lb->signal_events[i]);
	}
	if (lb->hc_kick)
		event_free(lb->hc_kick);
	if (lb->drain_timer)
		event_free(lb->drain_timer);
	if (lb->maintenance_timer)
		event_free(lb->maintenance_timer);
	lb_target_registry_clear(lb);
	if (lb->control_base)
		event_base_free(lb->control_base);
	free(lb->admin_address);
	lb_group_stats_free(lb->unrouted_stats);
	free(lb->config_path);
	if (lb->pid_file) {
		unlink(lb->pid_file);
		free(lb->pid_file);
	}
	pthread_mutex_destroy(&lb->publish_lock);
	pthread_mutex_destroy(&lb->registry_lock);
	free(lb);
}

/* ---- orch lb ------------------------------------------------------------ */

static void reload(struct lb *lb)
{
	orch_error err = ORCH_ERROR_INIT;
	json_error_t jerr;
	json_t *root;

	log_info("lb: SIGHUP: reloading \"%s\"", lb->config_path);
	root = json_load_file(lb->config_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		log_error("lb: reload failed, keeping the running configuration: \"%s\": line %d: %s",
			  lb->config_path, jerr.line, jerr.text);
		return;
	}
	if (lb_reload(lb, root, &err) < 0)
		log_error("lb: reload failed, keeping the running configuration: %s", err.message);
	json_decref(root);
}

static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb *lb = arg;
	int64_t active = atomic_load(&lb->metrics.active_connections);

	if (active == 0 || clock_mono_coarse_ms() >= lb->drain_deadline_ms) {
		if (active)
			log_warn("lb: shutdown grace period over; closing %lld connections",
				 (long long)active);
		lb_stop(lb);
	}
}

void lb_shutdown(struct lb *lb)
{
	struct timeval tick = { 0, 50000 };
	double grace;

	if (atomic_exchange(&lb->draining, 1)) {
		lb_stop(lb);	/* asked twice: stop now */
		return;
	}
	pthread_mutex_lock(&lb->publish_lock);
	grace = lb->current->config->timeouts.shutdown_grace;
	pthread_mutex_unlock(&lb->publish_lock);
	lb->drain_deadline_ms = clock_mono_coarse_ms() + (int64_t)(grace * 1000);
	log_info("lb: stopping: no new connections; %lld open ones get up to %.1fs",
		 (long long)atomic_load(&lb->metrics.active_connections), grace);
	lb_workers_drain(lb);
	lb->drain_timer = event_new(lb->control_base, -1, EV_PERSIST, drain_check_cb, lb);
	event_add(lb->drain_timer, &tick);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct lb *lb = arg;

	if (sig == SIGHUP) {
		reload(lb);
		return;
	}
	log_info("lb: signal %d", (int)sig);
	lb_shutdown(lb);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: orch lb --config FILE [options]\n"
		"\n"
		"An HTTP/1.1 and HTTPS (SNI) reverse proxy and load balancer.  SIGHUP re-reads\n"
		"the config; a config that fails validation leaves the running one in place.\n"
		"\n"
		"options:\n"
		"  -c, --config FILE     routes file (schema/routes.schema.json)  [required]\n"
		"  -t, --threads N       worker threads, one event loop each (default: CPUs)\n"
		"      --log-level L     debug, info, warn or error (default: info)\n"
		"      --pid-file FILE   write the process id to FILE\n"
		"      --check           validate the config and exit\n"
		"  -h, --help            this text\n"
		"\n"
		"limits (config \"limits\" object, defaults):\n"
		"  maxHeaderLineBytes %d (431)   maxHeaderBytes %d (431)   maxHeaderCount %d (431)\n"
		"  maxUriBytes %d (414)          maxBodyBytes %llu (413)\n"
		"  maxChunkExtensionBytes %d     maxConnections %d          maxIdleUpstreamPerTarget %d\n"
		"  bufferBytes %u (per direction before backpressure)\n"
		"\n"
		"timeouts (config \"timeouts\" object, seconds):\n"
		"  headerReadSeconds %g (408)    bodyReadSeconds %g (408)  clientIdleSeconds %g\n"
		"  clientSendSeconds %g          upstreamConnectSeconds %g\n"
		"  upstreamResponseSeconds %g (504)  upstreamIdleSeconds %g  tunnelIdleSeconds %g\n"
		"  shutdownGraceSeconds %g (SIGTERM: requests in flight finish; a second signal stops at once)\n",
		LB_DEFAULT_MAX_HEADER_LINE_BYTES, LB_DEFAULT_MAX_HEADER_BYTES,
		LB_DEFAULT_MAX_HEADER_COUNT, LB_DEFAULT_MAX_URI_BYTES,
		(unsigned long long)LB_DEFAULT_MAX_BODY_BYTES, LB_DEFAULT_MAX_CHUNK_EXT_BYTES,
		LB_DEFAULT_MAX_CONNECTIONS, LB_DEFAULT_MAX_IDLE_UPSTREAM, LB_DEFAULT_BUFFER_BYTES,
		LB_DEFAULT_HEADER_READ_SECONDS, LB_DEFAULT_BODY_READ_SECONDS,
		LB_DEFAULT_CLIENT_IDLE_SECONDS, LB_DEFAULT_CLIENT_SEND_SECONDS,
		LB_DEFAULT_UPSTREAM_CONNECT_SECONDS, LB_DEFAULT_UPSTREAM_RESPONSE_SECONDS,
		LB_DEFAULT_UPSTREAM_IDLE_SECONDS, LB_DEFAULT_TUNNEL_IDLE_SECONDS,
		LB_DEFAULT_SHUTDOWN_GRACE_SECONDS);
}

static int write_pid_file(const char *path)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || dprintf(fd, "%ld\n", (long)getpid()) < 0) {
		log_error("lb: cannot write pid file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int lb_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const int signals[] = { SIGHUP, SIGTERM, SIGINT };
	orch_error err = ORCH_ERROR_INIT;
	const char *config_path = NULL, *pid_file = NULL;
	bool check_only = false;
	long threads = 0;
	json_error_t jerr;
	json_t *root;
	struct lb *lb;
	sigset_t held;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:t:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 't': {
			char *end;

			threads = strtol(optarg, &end, 10);
			if (*end || threads < 1 || threads > LB_MAX_THREADS) {
				fprintf(stderr, "orch lb: --threads: must be 1 to %d\n", LB_MAX_THREADS);
				return 2;
			}
			break;
		}
		case 'l': {
			enum log_level level;

			if (log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "orch lb: --log-level: unknown level \"%s\"\n", optarg);
				return 2;
			}
			log_threshold = level;
			break;
		}
		case 'p':
			pid_file = optarg;
			break;
		case 'k':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "orch lb: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!config_path) {
		fprintf(stderr, "orch lb: --config FILE is required\n");
		usage(stderr);
		return 2;
	}
	if (check_only) {
		struct lb_config *config = lb_config_load_file(config_path, &err);

		if (!config) {
			fprintf(stderr, "orch lb: %s\n", err.message);
			return 1;
		}
		lb_config_free(config);
		printf("%s: ok\n", config_path);
		return 0;
	}
	root = json_load_file(config_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		fprintf(stderr, "orch lb: \"%s\": line %d column %d: %s\n", config_path, jerr.line,
			jerr.column, jerr.text);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Hold the signals until libevent's handlers are in place: the listeners
	 * accept before that, and a SIGHUP sent as soon as the port answers must
	 * reload, not kill.  Worker threads inherit the mask, so the control
	 * thread alone takes these signals.
	 */
	sigemptyset(&held);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		sigaddset(&held, signals[i]);
	pthread_sigmask(SIG_BLOCK, &held, NULL);
	lb = lb_new(root, (size_t)threads, &err);
	json_decref(root);
	if (!lb) {
		fprintf(stderr, "orch lb: \"%s\": %s\n", config_path, err.message);
		return 1;
	}
	lb->config_path = strdup(config_path);
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		lb->signal_events[i] = evsignal_new(lb->control_base, signals[i], signal_cb, lb);
		evsignal_add(lb->signal_events[i], NULL);
	}
	pthread_sigmask(SIG_UNBLOCK, &held, NULL);
	if (pid_file && write_pid_file(pid_file) == 0)
		lb->pid_file = strdup(pid_file);
	log_info("lb: serving with %zu worker thread%s", lb->worker_count,
		 lb->worker_count == 1 ? "" : "s");
	rc = lb_run(lb, &err);
	if (rc < 0)
		log_error("lb: %s", err.message);
	lb_free(lb);
	return rc < 0 ? 1 : 0;
}

/*
 * server.c - `orch server`: flags, data dir, the API listener and shutdown.
 *
 * Shutdown on SIGTERM or SIGINT: the listener closes at once (no new
 * connections), the loop keeps running for the shutdown grace so requests
 * already being received are answered, then connections close and the
 * database is closed cleanly (checkpointing the WAL).
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <unistd.h>

#include <event2/event.h>
#include "http_server.h"
#include <event2/listener.h>
#include <openssl/crypto.h>

#include "embedded_agent.h"
#include "proto/agent_protocol.h"
#include "desired_state.h"
#include "node_monitor.h"
#include "placement.h"
#include "service.h"
#include "api.h"
#include "auth.h"
#include "common/cleanup.h"
#include "common/fs_util.h"
#include "history.h"
#include "common/log.h"
#include "proto/pki.h"
#include "store.h"
#include "task_stream.h"

struct server_options {
	const char *data_dir;
	const char *listen;
	long request_timeout;
	long max_body_bytes;
	long max_header_bytes;
	long shutdown_grace_ms;
	const char *advertise[SERVER_MAX_ADVERTISE];
	size_t advertise_count;
	bool no_agent;
	long node_grace_s;		/* a silent node is LOST after this */
	long task_retention_s;		/* stopped tasks are pruned after this */
};

struct server {
	struct server_options opt;
	struct event_base *base;
	struct http_server *http;
	struct event *sigterm, *sigint;
	struct event *drain_timer;
	double drain_deadline;
	struct api_context api;
	SSL_CTX *tls;
	char api_url[INET6_ADDRSTRLEN + 32];	/* what local clients use */
	struct agent_child *agent;
	struct history *history;
	int lock_fd;
	bool stopping;
};

static void server_usage(FILE *out)
{
	fprintf(out,
		"usage: orch server [options]\n"
		"\n"
		"Runs the control plane: state store, REST API.\n"
		"\n"
		"  --data DIR              data directory (env ORCH_DATA; default %s)\n"
		"  --listen ADDR:PORT      API address (default %s; [::1]:PORT for IPv6)\n"
		"  --log-level LEVEL       debug, info, warn or error (default info)\n"
		"  --request-timeout SECS  time a client has to send a request (default %d)\n"
		"  --max-body-bytes N      largest request body accepted (default %d)\n"
		"  --max-header-bytes N    largest request header block accepted (default %d)\n"
		"  --shutdown-grace-ms MS  time in-flight requests get after SIGTERM (default %d)\n"
		"  --advertise ADDR        address (IP or DNS name) agents reach the server at;\n"
		"                          added to the certificate, used in the join command\n"
		"                          (repeatable; default: this host's addresses)\n"
		"  --no-agent              do not run the embedded agent (a control plane only)\n"
		"  --node-grace SECONDS    a node silent this long is LOST and its tasks stopped\n"
		"                          (default %d)\n"
		"  --task-retention TIME   how long stopped tasks stay visible before they are\n"
		"                          deleted: seconds, or a number with s, m, h or d\n"
		"                          (default %ds)\n"
		"  --help                  this text\n"
		"\n"
		"The API is HTTPS only, with a CA created in DATA/pki on first start; agents\n"
		"join with the token in DATA/join-token (the command is printed at start).\n",
		SERVER_DEFAULT_DATA_DIR, SERVER_DEFAULT_LISTEN, SERVER_DEFAULT_REQUEST_TIMEOUT,
		SERVER_DEFAULT_MAX_BODY_BYTES, SERVER_DEFAULT_MAX_HEADER_BYTES,
		SERVER_DEFAULT_SHUTDOWN_GRACE_MS, AGENT_DEFAULT_NODE_GRACE_MS / 1000,
		HISTORY_DEFAULT_TASK_RETENTION_S);
}

static int parse_long_option(const char *name, const char *value, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno || end == value || *end || v < min || v > max) {
		fprintf(stderr, "orch server: --%s: must be an integer between %ld and %ld\n",
			name, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A duration: seconds, or a number with s, m, h or d, in [min_s, max_s]. */
static int parse_duration_option(const char *name, const char *value, long min_s, long max_s,
				 long *out)
{
	char *end;
	long v, unit = 1;

	errno = 0;
	v = strtol(value, &end, 10);
	if (*end && !end[1]) {
		switch (*end) {
		case 's': unit = 1; end++; break;
		case 'm': unit = 60; end++; break;
		case 'h': unit = 3600; end++; break;
		case 'd': unit = 86400; end++; break;
		default: break;
		}
	}
	if (errno || end == value || *end || v < 0 || v > max_s / unit || v * unit < min_s) {
		fprintf(stderr, "orch server: --%s: must be a duration between %lds and %lds "
			"(seconds, or a number with s, m, h or d)\n", name, min_s, max_s);
		return -1;
	}
	*out = v * unit;
	return 0;
}

static int parse_options(int argc, char **argv, struct server_options *opt)
{
	enum { OPT_DATA = 1, OPT_LISTEN, OPT_LOG_LEVEL, OPT_REQUEST_TIMEOUT, OPT_MAX_BODY,
	       OPT_MAX_HEADER, OPT_GRACE, OPT_HELP, OPT_ADVERTISE, OPT_NO_AGENT, OPT_NODE_GRACE,
	       OPT_TASK_RETENTION };
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, OPT_DATA },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
		{ "max-body-bytes", required_argument, NULL, OPT_MAX_BODY },
		{ "max-header-bytes", required_argument, NULL, OPT_MAX_HEADER },
		{ "shutdown-grace-ms", required_argument, NULL, OPT_GRACE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "advertise", required_argument, NULL, OPT_ADVERTISE },
		{ "no-agent", no_argument, NULL, OPT_NO_AGENT },
		{ "node-grace", required_argument, NULL, OPT_NODE_GRACE },
		{ "task-retention", required_argument, NULL, OPT_TASK_RETENTION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->data_dir = getenv("ORCH_DATA") && *getenv("ORCH_DATA") ? getenv("ORCH_DATA")
		: SERVER_DEFAULT_DATA_DIR;
	opt->listen = SERVER_DEFAULT_LISTEN;
	opt->request_timeout = SERVER_DEFAULT_REQUEST_TIMEOUT;
	opt->max_body_bytes = SERVER_DEFAULT_MAX_BODY_BYTES;
	opt->max_header_bytes = SERVER_DEFAULT_MAX_HEADER_BYTES;
	opt->shutdown_grace_ms = SERVER_DEFAULT_SHUTDOWN_GRACE_MS;
	opt->node_grace_s = AGENT_DEFAULT_NODE_GRACE_MS / 1000;
	opt->task_retention_s = HISTORY_DEFAULT_TASK_RETENTION_S;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		enum log_level level;

		switch (c) {
		case OPT_DATA:
			opt->data_dir = optarg;
			break;
		case OPT_LISTEN:
			opt->listen = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &level) < 0) {
				fprintf(stderr, "orch server: --log-level: must be debug, info, warn or error\n");
				return -1;
			}
			log_threshold = level;
			break;
		case OPT_REQUEST_TIMEOUT:
			if (parse_long_option("request-timeout", optarg, 1, 3600, &opt->request_timeout) < 0)
				return -1;
			break;
		case OPT_MAX_BODY:
			if (parse_long_option("max-body-bytes", optarg, 1024, 64L << 20, &opt->max_body_bytes) < 0)
				return -1;
			break;
		case OPT_MAX_HEADER:
			if (parse_long_option("max-header-bytes", optarg, 1024, 1L << 20, &opt->max_header_bytes) < 0)
				return -1;
			break;
		case OPT_GRACE:
			if (parse_long_option("shutdown-grace-ms", optarg, 0, 600000, &opt->shutdown_grace_ms) < 0)
				return -1;
			break;
		case OPT_ADVERTISE:
			if (opt->advertise_count >= SERVER_MAX_ADVERTISE) {
				fprintf(stderr, "orch server: at most %d --advertise flags\n",
					SERVER_MAX_ADVERTISE);
				return -1;
			}
			opt->advertise[opt->advertise_count++] = optarg;
			break;
		case OPT_NODE_GRACE:
			if (parse_long_option("node-grace", optarg, 1, 86400, &opt->node_grace_s) < 0)
				return -1;
			break;
		case OPT_TASK_RETENTION:
			if (parse_duration_option("task-retention", optarg, 1,
						  HISTORY_MAX_TASK_RETENTION_S, &opt->task_retention_s) < 0)
				return -1;
			break;
		case OPT_NO_AGENT:
			opt->no_agent = true;
			break;
		case OPT_HELP:
			server_usage(stdout);
			exit(0);
		default:
			server_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "orch server: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* Splits "ADDR:PORT" or "[V6]:PORT" into host and port. */
static int split_listen_address(const char *listen, char *host, size_t host_size,
				unsigned short *port, orch_error *err)
{
	const char *colon;
	size_t host_len;
	char *end;
	long p;

	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':')
			goto bad;
		host_len = (size_t)(close - listen - 1);
		listen++;
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			goto bad;
		host_len = (size_t)(colon - listen);
	}
	if (host_len == 0 || host_len >= host_size)
		goto bad;
	memcpy(host, listen, host_len);
	host[host_len] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || p < 0 || p > 65535)
		goto bad;
	*port = (unsigned short)p;
	return 0;
bad:
	return orch_fail(err, ORCH_ERR_INVALID, "--listen '%s': expected ADDR:PORT", listen);
}

static int lock_data_dir(struct server *srv, orch_error *err)
{
	cleanup_free char *path = NULL;

	if (asprintf(&path, "%s/" SERVER_LOCK_FILE, srv->opt.data_dir) < 0) {
		path = NULL;
		return orch_fail_errno(err, ENOMEM, "locking the data dir");
	}
	srv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (srv->lock_fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	if (flock(srv->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return orch_fail(err, ORCH_ERR_CONFLICT,
					 "another orch server is using data dir '%s'", srv->opt.data_dir);
		return orch_fail_errno(err, errno, "locking '%s'", path);
	}
	return 0;
}

/* Writes the URL clients on this host use to reach the API. */
static int write_api_address(struct server *srv, orch_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN], url[INET6_ADDRSTRLEN + 32];
	cleanup_free char *path = NULL;
	unsigned short port;

	if (getsockname(http_server_listen_fd(srv->http), (struct sockaddr *)&ss, &len) < 0)
		return orch_fail_errno(err, errno, "reading the bound address");
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
			strcpy(host, "::1");
		else
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(url, sizeof(url), "https://[%s]:%u", host, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			strcpy(host, "127.0.0.1");
		else
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(url, sizeof(url), "https://%s:%u", host, port);
	}
	if (asprintf(&path, "%s/" SERVER_API_ADDRESS_FILE, srv->opt.data_dir) < 0) {
		path = NULL;
		return orch_fail_errno(err, ENOMEM, "writing the API address");
	}
	log_info("server: API listening on %s (data dir %s)", url, srv->opt.data_dir);
	snprintf(srv->api_url, sizeof(srv->api_url), "%s", url);
	return fs_write_file_atomic(path, url, strlen(url), 0644, err);
}

/* Polls the draining server: done when no request is in flight or time is up. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval tick = { 0, SERVER_DRAIN_TICK_MS * 1000 };
	struct server *srv = arg;
	size_t busy = http_server_busy_connections(srv->http);

	if (busy == 0 || store_now() >= srv->drain_deadline) {
		if (busy)
			log_warn("server: grace over with %zu requests in flight", busy);
		event_base_loopbreak(srv->base);
		return;
	}
	evtimer_add(srv->drain_timer, &tick);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	if (srv->stopping) {
		log_warn("server: second signal, stopping now");
		event_base_loopbreak(srv->base);
		return;
	}
	srv->stopping = true;
	log_info("server: signal %d, no longer accepting; draining for %ld ms", (int)sig,
		 srv->opt.shutdown_grace_ms);
	http_server_stop_accepting(srv->http);
	desired_state_release_waiters(srv->api.desired);	/* long polls answer now */
	srv->drain_deadline = store_now() + srv->opt.shutdown_grace_ms / 1000.0;
	on_drain_tick(-1, 0, srv);
}

/*
 * The cluster PKI (pki.h): CA and server certificate (names: --advertise,
 * the listen host, this host's addresses), the TLS context, the join token
 * and the CA PEM that GET /v1/agent/ca serves.
 */
static int server_pki_start(struct server *srv, const char *listen_host, orch_error *err)
{
	const char *names[SERVER_MAX_ADVERTISE + 1];
	cleanup_free char *ca_path = pki_path(srv->opt.data_dir, PKI_CA_CERT_FILE);
	size_t n = 0;

	for (size_t i = 0; i < srv->opt.advertise_count; i++)
		names[n++] = srv->opt.advertise[i];
	names[n++] = listen_host;
	if (pki_ensure(srv->opt.data_dir, names, n, err) < 0)
		return -1;
	srv->tls = pki_server_tls_context(srv->opt.data_dir, err);
	if (!srv->tls)
		return -1;
	{
		/* Made (or checked) here; registrations read it from its file. */
		char join_token[PKI_JOIN_TOKEN_MAX];
		int rc = pki_join_token_load_or_create(srv->opt.data_dir, join_token, err);

		OPENSSL_cleanse(join_token, sizeof(join_token));
		if (rc < 0)
			return -1;
	}
	if (!ca_path)
		return orch_fail_errno(err, ENOMEM, "reading the CA");
	return fs_read_file(ca_path, PKI_CA_PEM_MAX, &srv->api.ca_pem, NULL, err);
}

/* The address agents on other hosts should use: --advertise, else a local one. */
static void server_join_host(struct server *srv, const char *listen_host, char *out,
			     size_t out_size)
{
	struct ifaddrs *ifs = NULL;

	if (srv->opt.advertise_count > 0) {
		snprintf(out, out_size, "%s", srv->opt.advertise[0]);
		return;
	}
	if (strcmp(listen_host, "0.0.0.0") != 0 && strcmp(listen_host, "::") != 0) {
		snprintf(out, out_size, "%s", listen_host);
		return;
	}
	snprintf(out, out_size, "127.0.0.1");
	if (getifaddrs(&ifs) < 0)
		return;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    !(i->ifa_flags & IFF_LOOPBACK) && (i->ifa_flags & IFF_UP)) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out,
				  (socklen_t)out_size);
			break;
		}
	freeifaddrs(ifs);
}

static void server_print_join_command(struct server *srv, const char *listen_host,
				      unsigned short port)
{
	char host[256];
	unsigned short bound = port;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(http_server_listen_fd(srv->http), (struct sockaddr *)&ss, &len) == 0)
		bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			      : ((struct sockaddr_in *)&ss)->sin_port);
	server_join_host(srv, listen_host, host, sizeof(host));
	/* The secret never goes to the log: the command names the file. */
	log_info("server: join agents with:  orch agent --server https://%s%s%s:%u "
		 "--token-file %s/" PKI_JOIN_TOKEN_FILE "  (copy that file to the agent host, "
		 "mode 0600)", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		 bound, srv->opt.data_dir);
}

/* `orch agent` as a child: the local HTTPS address and the join token file. */
static int server_start_embedded_agent(struct server *srv, orch_error *err)
{
	static const char *const level_names[] = { "debug", "info", "warn", "error" };
	cleanup_free char *agent_dir = NULL, *token_file = NULL;
	const char *args[AGENT_CHILD_MAX_ARGS];
	size_t n = 0;

	if (asprintf(&agent_dir, "%s/" SERVER_AGENT_SUBDIR, srv->opt.data_dir) < 0 ||
	    asprintf(&token_file, "%s/" PKI_JOIN_TOKEN_FILE, srv->opt.data_dir) < 0) {
		agent_dir = token_file = NULL;
		return orch_fail_errno(err, ENOMEM, "starting the embedded agent");
	}
	args[n++] = "--server";
	args[n++] = srv->api_url;
	args[n++] = "--token-file";
	args[n++] = token_file;
	args[n++] = "--data";
	args[n++] = agent_dir;
	/* Containers and images in the server's data dir: `orch image import`
	 * and `orch run` there share the image store with the node. */
	args[n++] = "--runtime-data";
	args[n++] = srv->opt.data_dir;
	args[n++] = "--log-level";
	args[n++] = level_names[log_threshold];
	if (srv->opt.advertise_count > 0) {
		args[n++] = "--advertise";
		args[n++] = srv->opt.advertise[0];
	}
	args[n] = NULL;
	srv->agent = agent_child_start(srv->base, args, err);
	return srv->agent ? 0 : -1;
}

static void watch_loaded_node(const struct store_node *n, void *arg)
{
	struct server *srv = arg;

	/* Every node gets a whole grace period from the server's start. */
	if (strcmp(n->status, "LOST") != 0)
		node_monitor_seen(srv->api.nodes, n->id);
}

/*
 * The cluster control plane: desired-state indexes and long polls, the
 * scheduler rebuilt from the store (placement), LOST detection.
 */
static int server_control_plane_start(struct server *srv, orch_error *err)
{
	srv->api.data_dir = srv->opt.data_dir;
	srv->api.desired = desired_state_new(srv->base, srv->api.store,
					     api_agent_render_assignments, &srv->api);
	srv->api.placement = srv->api.desired ? placement_new(srv->base, srv->api.store,
							      srv->api.writes, srv->api.desired) : NULL;
	srv->api.nodes = node_monitor_new(srv->base, (int)srv->opt.node_grace_s * 1000,
					  api_agent_node_lost, &srv->api);
	srv->api.streams = task_streams_new(srv->base);
	srv->history = history_new(srv->base, srv->api.store, srv->api.writes,
				   srv->opt.task_retention_s);
	if (!srv->api.desired || !srv->api.placement || !srv->api.nodes || !srv->api.streams ||
	    !srv->history)
		return orch_fail(err, ORCH_ERR_INTERNAL, "creating the control plane");
	http_server_set_stream_body(srv->http, task_stream_wants_body);
	if (placement_load(srv->api.placement, watch_loaded_node, srv, err) < 0)
		return -1;
	srv->api.services = service_reconciler_new(srv->base, srv->api.store, srv->api.writes,
						   srv->api.placement, srv->api.desired);
	if (!srv->api.services)
		return orch_fail(err, ORCH_ERR_INTERNAL, "creating the service reconciler");
	placement_on_service_change(srv->api.placement, service_reconciler_on_placement,
				    srv->api.services);
	return service_reconciler_load(srv->api.services, err);
}

static int server_start(struct server *srv, orch_error *err)
{
	cleanup_free char *db_path = NULL, *token_path = NULL;
	struct http_server_limits limits;
	char host[256];
	unsigned short port = 0;

	if (split_listen_address(srv->opt.listen, host, sizeof(host), &port, err) < 0)
		return -1;
	if (fs_mkdir_p(srv->opt.data_dir, 0700, err) < 0 || lock_data_dir(srv, err) < 0)
		return -1;
	if (asprintf(&db_path, "%s/" SERVER_DB_FILE, srv->opt.data_dir) < 0 ||
	    asprintf(&token_path, "%s/" SERVER_ADMIN_TOKEN_FILE, srv->opt.data_dir) < 0)
		return orch_fail_errno(err, ENOMEM, "starting");
	if (store_open(db_path, &srv->api.store, err) < 0)
		return -1;
	if (auth_token_load_or_create(token_path, srv->api.admin_token, err) < 0)
		return -1;
	if (server_pki_start(srv, host, err) < 0)
		return -1;
	srv->api.started_at = store_now();

	limits.max_header_bytes = (size_t)srv->opt.max_header_bytes;
	limits.max_body_bytes = (size_t)srv->opt.max_body_bytes;
	limits.request_timeout_ms = (int)srv->opt.request_timeout * 1000;
	limits.idle_timeout_ms = HTTP_SERVER_DEFAULT_IDLE_TIMEOUT_MS;
	limits.max_connections = HTTP_SERVER_DEFAULT_MAX_CONNECTIONS;
	srv->base = event_base_new();
	srv->drain_timer = srv->base ? evtimer_new(srv->base, on_drain_tick, srv) : NULL;
	srv->api.writes = srv->base ? write_batch_new(srv->base, srv->api.store) : NULL;
	srv->http = srv->base ? http_server_new(srv->base, &limits, api_handle_request,
						 api_refuse_request, &srv->api) : NULL;
	if (!srv->http || !srv->drain_timer || !srv->api.writes)
		return orch_fail(err, ORCH_ERR_INTERNAL, "creating the event loop");
	if (server_control_plane_start(srv, err) < 0)
		return -1;
	http_server_set_tls(srv->http, srv->tls);
	if (http_server_listen(srv->http, host, port, err) < 0)
		return orch_error_prefix(err, "--listen '%s'", srv->opt.listen);
	if (write_api_address(srv, err) < 0)
		return -1;
	server_print_join_command(srv, host, port);
	if (!srv->opt.no_agent && server_start_embedded_agent(srv, err) < 0)
		return -1;

	srv->sigterm = evsignal_new(srv->base, SIGTERM, on_stop_signal, srv);
	srv->sigint = evsignal_new(srv->base, SIGINT, on_stop_signal, srv);
	if (!srv->sigterm || !srv->sigint || evsignal_add(srv->sigterm, NULL) < 0 ||
	    evsignal_add(srv->sigint, NULL) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "installing signal handlers");
	return 0;
}

static void server_release(struct server *srv)
{
	agent_child_stop(srv->agent);
	srv->agent = NULL;
	SSL_CTX_free(srv->tls);
	srv->tls = NULL;
	free(srv->api.ca_pem);
	srv->api.ca_pem = NULL;
	if (srv->sigterm)
		event_free(srv->sigterm);
	if (srv->sigint)
		event_free(srv->sigint);
	if (srv->drain_timer)
		event_free(srv->drain_timer);
	task_streams_free(srv->api.streams);
	srv->api.streams = NULL;
	history_free(srv->history);
	srv->history = NULL;
	desired_state_free(srv->api.desired);
	srv->api.desired = NULL;
	node_monitor_free(srv->api.nodes);
	srv->api.nodes = NULL;
	write_batch_free(srv->api.writes);
	srv->api.writes = NULL;
	if (srv->api.placement)
		placement_on_service_change(srv->api.placement, NULL, NULL);
	service_reconciler_free(srv->api.services);
	srv->api.services = NULL;
	placement_free(srv->api.placement);
	srv->api.placement = NULL;
	http_server_free(srv->http);
	if (srv->base)
		event_base_free(srv->base);
	store_close(srv->api.store);
	srv->api.store = NULL;
	OPENSSL_cleanse(srv->api.admin_token, sizeof(srv->api.admin_token));
	if (srv->lock_fd >= 0)
		close(srv->lock_fd);
}

int server_main(int argc, char **argv)
{
	struct server srv = { .lock_fd = -1 };
	orch_error err = ORCH_ERROR_INIT;
	int rc = 0;

	if (parse_options(argc, argv, &srv.opt) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (server_start(&srv, &err) < 0) {
		log_error("server: %s", err.message);
		rc = 1;
	} else {
		event_base_dispatch(srv.base);
		log_info("server: stopped");
	}
	server_release(&srv);
	return rc;
}

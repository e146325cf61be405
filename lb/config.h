/*
 * config.h - the load balancer's configuration: routes.json parsed and
 * validated into plain structs (schema: schema/routes.schema.json).
 *
 * Every limit and timeout the proxy enforces lives in struct lb_limits and
 * struct lb_timeouts with its default below; all are settable from the
 * "limits" and "timeouts" objects of the file.  Validation errors name the
 * field as a JSON path ("rules[1].targetGroup: unknown target group \"x\"").
 * Unknown fields are refused, so a typo is never silently ignored.
 */
#ifndef ORCH_LB_CONFIG_H
#define ORCH_LB_CONFIG_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/error.h"

/* Defaults (documented in --help and the schema). */
#define LB_DEFAULT_MAX_HEADER_LINE_BYTES	8192
#define LB_DEFAULT_MAX_HEADER_BYTES		32768
#define LB_DEFAULT_MAX_HEADER_COUNT		100
#define LB_DEFAULT_MAX_URI_BYTES		8192
#define LB_DEFAULT_MAX_BODY_BYTES		(64ull << 20)
#define LB_DEFAULT_MAX_CHUNK_EXT_BYTES		1024
#define LB_DEFAULT_MAX_CONNECTIONS		10000
#define LB_DEFAULT_MAX_IDLE_UPSTREAM		64	/* per target per thread */
#define LB_DEFAULT_BUFFER_BYTES			(256u << 10)

#define LB_DEFAULT_HEADER_READ_SECONDS		10.0
#define LB_DEFAULT_BODY_READ_SECONDS		30.0
#define LB_DEFAULT_CLIENT_IDLE_SECONDS		60.0
#define LB_DEFAULT_CLIENT_SEND_SECONDS		60.0
#define LB_DEFAULT_UPSTREAM_CONNECT_SECONDS	5.0
#define LB_DEFAULT_UPSTREAM_RESPONSE_SECONDS	60.0
#define LB_DEFAULT_UPSTREAM_IDLE_SECONDS	30.0
#define LB_DEFAULT_TUNNEL_IDLE_SECONDS		300.0
#define LB_DEFAULT_SHUTDOWN_GRACE_SECONDS	10.0

#define LB_DEFAULT_HC_INTERVAL_SECONDS		5.0
#define LB_DEFAULT_HC_TIMEOUT_SECONDS		2.0
#define LB_DEFAULT_HC_HEALTHY_THRESHOLD		2
#define LB_DEFAULT_HC_UNHEALTHY_THRESHOLD	3
#define LB_DEFAULT_DEREGISTRATION_SECONDS	30.0
#define LB_DEFAULT_PASSIVE_FAILURES		5
#define LB_DEFAULT_PASSIVE_EJECT_SECONDS	30.0

#define LB_MAX_WEIGHT				256
#define LB_MAX_MATCHER_RANGES			8

struct lb_limits {
	size_t max_header_line_bytes;
	size_t max_header_bytes;
	size_t max_header_count;
	size_t max_uri_bytes;
	uint64_t max_body_bytes;
	size_t max_chunk_ext_bytes;
	size_t max_connections;
	size_t max_idle_upstream_per_target;
	size_t buffer_bytes;		/* per-direction buffering before backpressure */
};

struct lb_timeouts {
	double header_read;		/* first byte of a request to its blank line (408) */
	double body_read;		/* silence while reading a request body (408) */
	double client_idle;		/* keep-alive wait for the next request */
	double client_send;		/* client not reading our output */
	double upstream_connect;
	double upstream_response;	/* upstream silence while a response is due (504) */
	double upstream_idle;		/* pooled idle upstream connection lifetime */
	double tunnel_idle;		/* WebSocket tunnel silence */
	double shutdown_grace;		/* SIGTERM: in-flight requests get this long */
};

struct lb_certificate_conf {
	char *cert_file;
	char *key_file;
};

struct lb_listener_conf {
	char *address;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int port;
	bool tls;
	size_t certificate_count;
	struct lb_certificate_conf *certificates;
};

struct lb_rule_conf {
	char *host;			/* lower case, NULL = any host */
	bool host_wildcard;		/* "*.example.com": host holds ".example.com" */
	char *path_prefix;		/* "/" when absent */
	int priority;			/* lower first; absent = LB_RULE_DEFAULT_PRIORITY */
	size_t group_index;
	size_t order;			/* position in the file, the last tie-break */
};

#define LB_RULE_DEFAULT_PRIORITY 50000

struct lb_matcher_range {
	int low, high;
};

struct lb_health_check_conf {
	bool enabled;
	char *path;
	char *host;			/* Host header; NULL = the target address */
	double interval;
	double timeout;
	int healthy_threshold;
	int unhealthy_threshold;
	size_t matcher_count;
	struct lb_matcher_range matcher[LB_MAX_MATCHER_RANGES];
};

struct lb_target_conf {
	char *address;			/* as written, "10.0.0.5:8080" */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int weight;
};

enum lb_algorithm {
	LB_ALGORITHM_ROUND_ROBIN,
	LB_ALGORITHM_LEAST_OUTSTANDING,
};

struct lb_group_conf {
	char *name;
	enum lb_algorithm algorithm;
	size_t target_count;
	struct lb_target_conf *targets;
	struct lb_health_check_conf health_check;
	double deregistration_delay;
	int passive_failures;		/* consecutive connect failures or 5xx; 0 = off */
	double passive_eject_seconds;
};

struct lb_config {
	size_t listener_count;
	struct lb_listener_conf *listeners;
	char *admin_address;		/* /metrics listener, NULL = none */
	struct sockaddr_storage admin_addr;
	socklen_t admin_addr_len;
	size_t rule_count;
	struct lb_rule_conf *rules;	/* sorted: evaluation order */
	size_t group_count;
	struct lb_group_conf *groups;
	struct lb_limits limits;
	struct lb_timeouts timeouts;
};

/* Parse and validate a routes document.  Returns NULL and fills err. */
struct lb_config *lb_config_from_json(json_t *root, orch_error *err);

/* Read, parse and validate a routes file. */
struct lb_config *lb_config_load_file(const char *path, orch_error *err);

void lb_config_free(struct lb_config *config);

/* Parse "ip:port", "[v6]:port" or "name:port" (resolved now) into addr. */
int lb_parse_address(const char *text, struct sockaddr_storage *addr, socklen_t *addr_len,
		     int *port, orch_error *err);

#endif

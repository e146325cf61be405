/*
 * config.c - routes.json -> struct lb_config, with validation that names the
 * offending field by its JSON path.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

#define fail_field(err, path, ...) \
	orch_fail(err, ORCH_ERR_INVALID, __VA_ARGS__)

/*
 * calloc and strdup that fail the load naming the field the memory was for
 * ("listeners[0]: Cannot allocate memory").  config_calloc never asks for
 * zero bytes, so NULL always means failure.
 */
static void *config_calloc(size_t n, size_t size, const char *path, orch_error *err)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		orch_fail_errno(err, ENOMEM, "%s", path);
	return p;
}

static char *config_strdup(const char *s, const char *path, orch_error *err)
{
	char *p = strdup(s);

	if (!p)
		orch_fail_errno(err, ENOMEM, "%s", path);
	return p;
}

/* Refuse keys of obj not in allowed (NULL-terminated). */
static int check_keys(json_t *obj, const char *path, const char *const *allowed,
		      orch_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		bool known = false;

		for (size_t i = 0; allowed[i]; i++) {
			if (strcmp(key, allowed[i]) == 0) {
				known = true;
				break;
			}
		}
		if (!known)
			return orch_fail(err, ORCH_ERR_INVALID, "%s%s%s: unknown field", path,
					 *path ? "." : "", key);
	}
	return 0;
}

static int get_string(json_t *obj, const char *path, const char *key, bool required,
		      const char **out, orch_error *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v) {
		if (required)
			return orch_fail(err, ORCH_ERR_INVALID, "%s%s%s: required", path,
					 *path ? "." : "", key);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "%s%s%s: must be a non-empty string",
				 path, *path ? "." : "", key);
	*out = json_string_value(v);
	return 0;
}

static int get_number(json_t *obj, const char *path, const char *key, double min, double max,
		      double *out, orch_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
	    json_number_value(v) < min || json_number_value(v) > max)
		return orch_fail(err, ORCH_ERR_INVALID, "%s%s%s: must be a number from %g to %g",
				 path, *path ? "." : "", key, min, max);
	*out = json_number_value(v);
	return 0;
}

static int get_integer(json_t *obj, const char *path, const char *key, long long min,
		       long long max, long long *out, orch_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "%s%s%s: must be an integer from %lld to %lld", path,
				 *path ? "." : "", key, min, max);
	*out = json_integer_value(v);
	return 0;
}

int lb_parse_address(const char *text, struct sockaddr_storage *addr, socklen_t *addr_len,
		     int *port, orch_error *err)
{
	char host[256];
	const char *colon, *port_text;
	struct addrinfo hints, *res = NULL;
	char *end;
	long port_value;
	int rc;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return orch_fail(err, ORCH_ERR_INVALID,
					 "\"%s\": expected [ipv6]:port", text);
		if ((size_t)(close - text - 1) >= sizeof(host))
			return orch_fail(err, ORCH_ERR_INVALID, "\"%s\": host too long", text);
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port_text = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (!colon || colon == text)
			return orch_fail(err, ORCH_ERR_INVALID, "\"%s\": expected host:port", text);
		if ((size_t)(colon - text) >= sizeof(host))
			return orch_fail(err, ORCH_ERR_INVALID, "\"%s\": host too long", text);
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port_text = colon + 1;
	}
	errno = 0;
	port_value = strtol(port_text, &end, 10);
	if (!*port_text || *end || errno || port_value < 0 || port_value > 65535 ||
	    !isdigit((unsigned char)*port_text))
		return orch_fail(err, ORCH_ERR_INVALID, "\"%s\": bad port", text);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port_text, &hints, &res);
	if (rc != 0 || !res)
		return orch_fail(err, ORCH_ERR_INVALID, "\"%s\": cannot resolve host: %s", text,
				 gai_strerror(rc));
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addr_len = res->ai_addrlen;
	if (port)
		*port = (int)port_value;
	freeaddrinfo(res);
	return 0;
}

static int parse_limits(json_t *obj, struct lb_limits *limits, orch_error *err)
{
	static const char *const keys[] = {
		"maxHeaderLineBytes", "maxHeaderBytes", "maxHeaderCount", "maxUriBytes",
		"maxBodyBytes", "maxChunkExtensionBytes", "maxConnections",
		"maxIdleUpstreamPerTarget", "bufferBytes", NULL,
	};
	long long v;

	if (!json_is_object(obj))
		return orch_fail(err, ORCH_ERR_INVALID, "limits: must be an object");
	if (check_keys(obj, "limits", keys, err) < 0)
		return -1;
#define LIMIT(key, field, min, max) \
	v = (long long)limits->field; \
	if (get_integer(obj, "limits", key, min, max, &v, err) < 0) \
		return -1; \
	limits->field = (__typeof__(limits->field))v;
	LIMIT("maxHeaderLineBytes", max_header_line_bytes, 64, 1 << 20);
	LIMIT("maxHeaderBytes", max_header_bytes, 256, 1 << 22);
	LIMIT("maxHeaderCount", max_header_count, 4, 256);
	LIMIT("maxUriBytes", max_uri_bytes, 16, 1 << 20);
	LIMIT("maxBodyBytes", max_body_bytes, 0, 1ll << 50);
	LIMIT("maxChunkExtensionBytes", max_chunk_ext_bytes, 0, 1 << 16);
	LIMIT("maxConnections", max_connections, 1, 1 << 24);
	LIMIT("maxIdleUpstreamPerTarget", max_idle_upstream_per_target, 0, 1 << 16);
	LIMIT("bufferBytes", buffer_bytes, 4096, 1 << 26);
#undef LIMIT
	return 0;
}

static int parse_timeouts(json_t *obj, struct lb_timeouts *t, orch_error *err)
{
	static const char *const keys[] = {
		"headerReadSeconds", "bodyReadSeconds", "clientIdleSeconds", "clientSendSeconds",
		"upstreamConnectSeconds", "upstreamResponseSeconds", "upstreamIdleSeconds",
		"tunnelIdleSeconds", "shutdownGraceSeconds", NULL,
	};

	if (!json_is_object(obj))
		return orch_fail(err, ORCH_ERR_INVALID, "timeouts: must be an object");
	if (check_keys(obj, "timeouts", keys, err) < 0)
		return -1;
	if (get_number(obj, "timeouts", "headerReadSeconds", 0.01, 86400, &t->header_read, err) < 0 ||
	    get_number(obj, "timeouts", "bodyReadSeconds", 0.01, 86400, &t->body_read, err) < 0 ||
	    get_number(obj, "timeouts", "clientIdleSeconds", 0.01, 86400, &t->client_idle, err) < 0 ||
	    get_number(obj, "timeouts", "clientSendSeconds", 0.01, 86400, &t->client_send, err) < 0 ||
	    get_number(obj, "timeouts", "upstreamConnectSeconds", 0.01, 3600,
		       &t->upstream_connect, err) < 0 ||
	    get_number(obj, "timeouts", "upstreamResponseSeconds", 0.01, 86400,
		       &t->upstream_response, err) < 0 ||
	    get_number(obj, "timeouts", "upstreamIdleSeconds", 0.01, 86400,
		       &t->upstream_idle, err) < 0 ||
	    get_number(obj, "timeouts", "tunnelIdleSeconds", 0.01, 86400 * 7,
		       &t->tunnel_idle, err) < 0 ||
	    get_number(obj, "timeouts", "shutdownGraceSeconds", 0, 3600, &t->shutdown_grace, err) < 0)
		return -1;
	return 0;
}

static int parse_listener(json_t *obj, size_t index, struct lb_listener_conf *l, orch_error *err)
{
	static const char *const keys[] = { "address", "tls", NULL };
	static const char *const tls_keys[] = { "certificates", NULL };
	static const char *const cert_keys[] = { "cert", "key", NULL };
	char path[64];
	const char *address;
	json_t *tls, *certs, *cert;
	size_t i;

	snprintf(path, sizeof(path), "listeners[%zu]", index);
	if (!json_is_object(obj))
		return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an object", path);
	if (check_keys(obj, path, keys, err) < 0 ||
	    get_string(obj, path, "address", true, &address, err) < 0)
		return -1;
	l->address = config_strdup(address, path, err);
	if (!l->address)
		return -1;
	if (lb_parse_address(address, &l->addr, &l->addr_len, &l->port, err) < 0)
		return orch_error_prefix(err, "%s.address", path);
	if (l->port == 0)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "%s.address: port 0 is not allowed (every worker binds the same port)",
				 path);
	tls = json_object_get(obj, "tls");
	if (!tls)
		return 0;
	if (!json_is_object(tls))
		return orch_fail(err, ORCH_ERR_INVALID, "%s.tls: must be an object", path);
	snprintf(path, sizeof(path), "listeners[%zu].tls", index);
	if (check_keys(tls, path, tls_keys, err) < 0)
		return -1;
	certs = json_object_get(tls, "certificates");
	if (!json_is_array(certs) || json_array_size(certs) == 0)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "%s.certificates: must be a non-empty array", path);
	l->tls = true;
	l->certificates = config_calloc(json_array_size(certs), sizeof(*l->certificates), path, err);
	if (!l->certificates)
		return -1;
	l->certificate_count = json_array_size(certs);
	json_array_foreach(certs, i, cert) {
		char cpath[96];
		const char *c, *k;

		snprintf(cpath, sizeof(cpath), "listeners[%zu].tls.certificates[%zu]", index, i);
		if (!json_is_object(cert))
			return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an object", cpath);
		if (check_keys(cert, cpath, cert_keys, err) < 0 ||
		    get_string(cert, cpath, "cert", true, &c, err) < 0 ||
		    get_string(cert, cpath, "key", true, &k, err) < 0)
			return -1;
		l->certificates[i].cert_file = config_strdup(c, cpath, err);
		l->certificates[i].key_file = config_strdup(k, cpath, err);
		if (!l->certificates[i].cert_file || !l->certificates[i].key_file)
			return -1;
	}
	return 0;
}

static int parse_matcher(const char *text, const char *path, struct lb_health_check_conf *hc,
			 orch_error *err)
{
	const char *p = text;

	hc->matcher_count = 0;
	while (*p) {
		char *end;
		long low, high;

		low = strtol(p, &end, 10);
		if (end == p)
			goto bad;
		high = low;
		p = end;
		if (*p == '-') {
			p++;
			high = strtol(p, &end, 10);
			if (end == p)
				goto bad;
			p = end;
		}
		if (low < 100 || high > 599 || low > high ||
		    hc->matcher_count >= LB_MAX_MATCHER_RANGES)
			goto bad;
		hc->matcher[hc->matcher_count].low = (int)low;
		hc->matcher[hc->matcher_count].high = (int)high;
		hc->matcher_count++;
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	if (hc->matcher_count > 0)
		return 0;
bad:
	return orch_fail(err, ORCH_ERR_INVALID,
			 "%s.matcher: \"%s\" is not a list of status codes or ranges like \"200-399\"",
			 path, text);
}

static int parse_health_check(json_t *obj, const char *gpath, struct lb_health_check_conf *hc,
			      orch_error *err)
{
	static const char *const keys[] = {
		"path", "host", "intervalSeconds", "timeoutSeconds", "healthyThreshold",
		"unhealthyThreshold", "matcher", "enabled", NULL,
	};
	char path[300];
	const char *s;
	long long v;
	json_t *enabled;

	snprintf(path, sizeof(path), "%s.healthCheck", gpath);
	if (!json_is_object(obj))
		return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an object", path);
	if (check_keys(obj, path, keys, err) < 0)
		return -1;
	hc->enabled = true;
	enabled = json_object_get(obj, "enabled");
	if (enabled) {
		if (!json_is_boolean(enabled))
			return orch_fail(err, ORCH_ERR_INVALID, "%s.enabled: must be a boolean", path);
		hc->enabled = json_is_true(enabled);
	}
	if (get_string(obj, path, "path", false, &s, err) < 0)
		return -1;
	if (s && s[0] != '/')
		return orch_fail(err, ORCH_ERR_INVALID, "%s.path: must start with /", path);
	for (const char *q = s; q && *q; q++) {
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "%s.path: must not contain spaces or control bytes", path);
	}
	hc->path = config_strdup(s ? s : "/", path, err);
	if (!hc->path)
		return -1;
	if (get_string(obj, path, "host", false, &s, err) < 0)
		return -1;
	if (s) {
		for (const char *q = s; *q; q++) {
			if (!isalnum((unsigned char)*q) && !strchr(".-:[]_", *q))
				return orch_fail(err, ORCH_ERR_INVALID, "%s.host: not a host name", path);
		}
		hc->host = config_strdup(s, path, err);
		if (!hc->host)
			return -1;
	}
	if (get_number(obj, path, "intervalSeconds", 0.05, 3600, &hc->interval, err) < 0 ||
	    get_number(obj, path, "timeoutSeconds", 0.05, 3600, &hc->timeout, err) < 0)
		return -1;
	v = hc->healthy_threshold;
	if (get_integer(obj, path, "healthyThreshold", 1, 100, &v, err) < 0)
		return -1;
	hc->healthy_threshold = (int)v;
	v = hc->unhealthy_threshold;
	if (get_integer(obj, path, "unhealthyThreshold", 1, 100, &v, err) < 0)
		return -1;
	hc->unhealthy_threshold = (int)v;
	if (hc->timeout > hc->interval)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "%s.timeoutSeconds: must not exceed intervalSeconds", path);
	if (get_string(obj, path, "matcher", false, &s, err) < 0)
		return -1;
	if (s && parse_matcher(s, path, hc, err) < 0)
		return -1;
	return 0;
}

static int parse_group(const char *name, json_t *obj, struct lb_group_conf *g, orch_error *err)
{
	static const char *const keys[] = {
		"targets", "algorithm", "healthCheck", "deregistrationDelaySeconds",
		"passiveEjection", NULL,
	};
	static const char *const target_keys[] = { "address", "weight", NULL };
	static const char *const passive_keys[] = { "consecutiveFailures", "ejectSeconds", NULL };
	char path[256];
	const char *algorithm;
	json_t *targets, *target, *hc, *passive;
	size_t i;
	long long v;

	snprintf(path, sizeof(path), "targetGroups.%s", name);
	g->name = config_strdup(name, path, err);
	if (!g->name)
		return -1;
	g->algorithm = LB_ALGORITHM_ROUND_ROBIN;
	g->deregistration_delay = LB_DEFAULT_DEREGISTRATION_SECONDS;
	g->passive_failures = LB_DEFAULT_PASSIVE_FAILURES;
	g->passive_eject_seconds = LB_DEFAULT_PASSIVE_EJECT_SECONDS;
	g->health_check.interval = LB_DEFAULT_HC_INTERVAL_SECONDS;
	g->health_check.timeout = LB_DEFAULT_HC_TIMEOUT_SECONDS;
	g->health_check.healthy_threshold = LB_DEFAULT_HC_HEALTHY_THRESHOLD;
	g->health_check.unhealthy_threshold = LB_DEFAULT_HC_UNHEALTHY_THRESHOLD;
	g->health_check.matcher_count = 1;
	g->health_check.matcher[0].low = 200;
	g->health_check.matcher[0].high = 399;

	if (name[0] == '\0' || strlen(name) > 128)
		return orch_fail(err, ORCH_ERR_INVALID, "targetGroups: names must be 1-128 bytes");
	for (const char *q = name; *q; q++) {
		if (!isalnum((unsigned char)*q) && !strchr("-_.", *q))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "%s: name may hold only letters, digits, '-', '_' and '.'",
					 path);
	}
	if (!json_is_object(obj))
		return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an object", path);
	if (check_keys(obj, path, keys, err) < 0 ||
	    get_string(obj, path, "algorithm", false, &algorithm, err) < 0)
		return -1;
	if (algorithm) {
		if (strcmp(algorithm, "round_robin") == 0)
			g->algorithm = LB_ALGORITHM_ROUND_ROBIN;
		else if (strcmp(algorithm, "least_outstanding_requests") == 0)
			g->algorithm = LB_ALGORITHM_LEAST_OUTSTANDING;
		else
			return orch_fail(err, ORCH_ERR_INVALID,
					 "%s.algorithm: must be \"round_robin\" or "
					 "\"least_outstanding_requests\"", path);
	}
	targets = json_object_get(obj, "targets");
	if (!targets)
		targets = json_array();	/* an empty group answers 503 */
	else
		json_incref(targets);
	if (!json_is_array(targets) || json_array_size(targets) > 4096) {
		json_decref(targets);
		return orch_fail(err, ORCH_ERR_INVALID,
				 "%s.targets: must be an array of at most 4096 targets", path);
	}
	g->targets = config_calloc(json_array_size(targets), sizeof(*g->targets), path, err);
	if (!g->targets) {
		json_decref(targets);
		return -1;
	}
	g->target_count = json_array_size(targets);
	json_array_foreach(targets, i, target) {
		char tpath[300];
		const char *address;

		snprintf(tpath, sizeof(tpath), "%s.targets[%zu]", path, i);
		if (!json_is_object(target)) {
			json_decref(targets);
			return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an object", tpath);
		}
		v = 1;
		if (check_keys(target, tpath, target_keys, err) < 0 ||
		    get_string(target, tpath, "address", true, &address, err) < 0 ||
		    get_integer(target, tpath, "weight", 0, LB_MAX_WEIGHT, &v, err) < 0) {
			json_decref(targets);
			return -1;
		}
		g->targets[i].weight = (int)v;
		g->targets[i].address = config_strdup(address, tpath, err);
		if (!g->targets[i].address) {
			json_decref(targets);
			return -1;
		}
		if (lb_parse_address(address, &g->targets[i].addr, &g->targets[i].addr_len, NULL,
				     err) < 0) {
			json_decref(targets);
			return orch_error_prefix(err, "%s.address", tpath);
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(g->targets[j].address, address) == 0) {
				json_decref(targets);
				return orch_fail(err, ORCH_ERR_INVALID,
						 "%s.address: \"%s\" listed twice", tpath, address);
			}
		}
	}
	json_decref(targets);

	hc = json_object_get(obj, "healthCheck");
	if (hc && parse_health_check(hc, path, &g->health_check, err) < 0)
		return -1;
	if (get_number(obj, path, "deregistrationDelaySeconds", 0, 3600,
		       &g->deregistration_delay, err) < 0)
		return -1;
	passive = json_object_get(obj, "passiveEjection");
	if (passive) {
		char ppath[300];

		snprintf(ppath, sizeof(ppath), "%s.passiveEjection", path);
		if (!json_is_object(passive))
			return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an object", ppath);
		v = g->passive_failures;
		if (check_keys(passive, ppath, passive_keys, err) < 0 ||
		    get_integer(passive, ppath, "consecutiveFailures", 0, 1000, &v, err) < 0 ||
		    get_number(passive, ppath, "ejectSeconds", 0.05, 86400,
			       &g->passive_eject_seconds, err) < 0)
			return -1;
		g->passive_failures = (int)v;
	}
	return 0;
}

static int parse_rule(json_t *obj, size_t index, struct lb_config *config, struct lb_rule_conf *r,
		      orch_error *err)
{
	static const char *const keys[] = { "host", "pathPrefix", "priority", "targetGroup", NULL };
	char path[64];
	const char *host, *prefix, *group;
	long long priority = LB_RULE_DEFAULT_PRIORITY;
	size_t i;

	snprintf(path, sizeof(path), "rules[%zu]", index);
	if (!json_is_object(obj))
		return orch_fail(err, ORCH_ERR_INVALID, "%s: must be an object", path);
	if (check_keys(obj, path, keys, err) < 0 ||
	    get_string(obj, path, "host", false, &host, err) < 0 ||
	    get_string(obj, path, "pathPrefix", false, &prefix, err) < 0 ||
	    get_string(obj, path, "targetGroup", true, &group, err) < 0 ||
	    get_integer(obj, path, "priority", 1, LB_RULE_DEFAULT_PRIORITY - 1, &priority, err) < 0)
		return -1;
	r->order = index;
	r->priority = (int)priority;
	if (host) {
		const char *h = host;
		size_t n;

		if (strncmp(h, "*.", 2) == 0) {
			r->host_wildcard = true;
			h += 1;	/* keep the dot: ".example.com" */
		}
		n = strlen(h);
		if (n == 0 || n > 253 || (r->host_wildcard && n < 3))
			return orch_fail(err, ORCH_ERR_INVALID, "%s.host: \"%s\" is not a host name",
					 path, host);
		r->host = config_calloc(n + 1, 1, path, err);
		if (!r->host)
			return -1;
		for (i = 0; i <= n; i++) {
			unsigned char c = (unsigned char)h[i];

			if (c && !isalnum(c) && c != '-' && c != '.' && c != '_')
				return orch_fail(err, ORCH_ERR_INVALID,
						 "%s.host: \"%s\" is not a host name (an exact name or "
						 "\"*.\" followed by a domain)", path, host);
			r->host[i] = (char)tolower(c);
		}
	}
	if (prefix && prefix[0] != '/')
		return orch_fail(err, ORCH_ERR_INVALID, "%s.pathPrefix: must start with /", path);
	r->path_prefix = config_strdup(prefix ? prefix : "/", path, err);
	if (!r->path_prefix)
		return -1;
	for (i = 0; i < config->group_count; i++) {
		if (strcmp(config->groups[i].name, group) == 0)
			break;
	}
	if (i == config->group_count)
		return orch_fail(err, ORCH_ERR_INVALID, "%s.targetGroup: unknown target group \"%s\"",
				 path, group);
	r->group_index = i;
	return 0;
}

/*
 * Evaluation order: ascending priority; within one priority the more
 * specific rule first (exact host, then longer wildcard, then any host; then
 * the longer path prefix); the file order last.
 */
static int rule_compare(const void *a, const void *b)
{
	const struct lb_rule_conf *x = a, *y = b;
	int hx, hy;
	size_t px, py;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	hx = !x->host ? 0 : x->host_wildcard ? 1 + (int)strlen(x->host) : 10000;
	hy = !y->host ? 0 : y->host_wildcard ? 1 + (int)strlen(y->host) : 10000;
	if (hx != hy)
		return hx > hy ? -1 : 1;
	px = strlen(x->path_prefix);
	py = strlen(y->path_prefix);
	if (px != py)
		return px > py ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct lb_config *lb_config_from_json(json_t *root, orch_error *err)
{
	static const char *const keys[] = {
		"listeners", "admin", "rules", "targetGroups", "limits", "timeouts", NULL,
	};
	static const char *const admin_keys[] = { "address", NULL };
	struct lb_config *config;
	json_t *listeners, *rules, *groups, *v;
	const char *key;
	size_t i;

	if (!json_is_object(root)) {
		orch_fail(err, ORCH_ERR_INVALID, "routes: must be a JSON object");
		return NULL;
	}
	config = config_calloc(1, sizeof(*config), "routes", err);
	if (!config)
		return NULL;
	config->limits = (struct lb_limits) {
		.max_header_line_bytes = LB_DEFAULT_MAX_HEADER_LINE_BYTES,
		.max_header_bytes = LB_DEFAULT_MAX_HEADER_BYTES,
		.max_header_count = LB_DEFAULT_MAX_HEADER_COUNT,
		.max_uri_bytes = LB_DEFAULT_MAX_URI_BYTES,
		.max_body_bytes = LB_DEFAULT_MAX_BODY_BYTES,
		.max_chunk_ext_bytes = LB_DEFAULT_MAX_CHUNK_EXT_BYTES,
		.max_connections = LB_DEFAULT_MAX_CONNECTIONS,
		.max_idle_upstream_per_target = LB_DEFAULT_MAX_IDLE_UPSTREAM,
		.buffer_bytes = LB_DEFAULT_BUFFER_BYTES,
	};
	config->timeouts = (struct lb_timeouts) {
		.header_read = LB_DEFAULT_HEADER_READ_SECONDS,
		.body_read = LB_DEFAULT_BODY_READ_SECONDS,
		.client_idle = LB_DEFAULT_CLIENT_IDLE_SECONDS,
		.client_send = LB_DEFAULT_CLIENT_SEND_SECONDS,
		.upstream_connect = LB_DEFAULT_UPSTREAM_CONNECT_SECONDS,
		.upstream_response = LB_DEFAULT_UPSTREAM_RESPONSE_SECONDS,
		.upstream_idle = LB_DEFAULT_UPSTREAM_IDLE_SECONDS,
		.tunnel_idle = LB_DEFAULT_TUNNEL_IDLE_SECONDS,
		.shutdown_grace = LB_DEFAULT_SHUTDOWN_GRACE_SECONDS,
	};
	if (check_keys(root, "", keys, err) < 0)
		goto fail;

	v = json_object_get(root, "limits");
	if (v && parse_limits(v, &config->limits, err) < 0)
		goto fail;
	if (config->limits.max_header_line_bytes > config->limits.max_header_bytes) {
		orch_fail(err, ORCH_ERR_INVALID,
			  "limits.maxHeaderLineBytes: must not exceed limits.maxHeaderBytes");
		goto fail;
	}
	if (config->limits.buffer_bytes <= config->limits.max_header_bytes)
		config->limits.buffer_bytes = config->limits.max_header_bytes + 1;
	v = json_object_get(root, "timeouts");
	if (v && parse_timeouts(v, &config->timeouts, err) < 0)
		goto fail;

	listeners = json_object_get(root, "listeners");
	if (!json_is_array(listeners) || json_array_size(listeners) == 0 ||
	    json_array_size(listeners) > 64) {
		orch_fail(err, ORCH_ERR_INVALID, "listeners: must be an array of 1 to 64 listeners");
		goto fail;
	}
	config->listeners = config_calloc(json_array_size(listeners), sizeof(*config->listeners),
					  "listeners", err);
	if (!config->listeners)
		goto fail;
	config->listener_count = json_array_size(listeners);
	json_array_foreach(listeners, i, v) {
		if (parse_listener(v, i, &config->listeners[i], err) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			if (config->listeners[j].addr_len == config->listeners[i].addr_len &&
			    memcmp(&config->listeners[j].addr, &config->listeners[i].addr,
				   config->listeners[i].addr_len) == 0) {
				orch_fail(err, ORCH_ERR_INVALID,
					  "listeners[%zu].address: \"%s\" is already listeners[%zu]",
					  i, config->listeners[i].address, j);
				goto fail;
			}
		}
	}

	v = json_object_get(root, "admin");
	if (v) {
		const char *address;

		if (!json_is_object(v)) {
			orch_fail(err, ORCH_ERR_INVALID, "admin: must be an object");
			goto fail;
		}
		if (check_keys(v, "admin", admin_keys, err) < 0 ||
		    get_string(v, "admin", "address", true, &address, err) < 0)
			goto fail;
		config->admin_address = config_strdup(address, "admin", err);
		if (!config->admin_address)
			goto fail;
		if (lb_parse_address(address, &config->admin_addr, &config->admin_addr_len, NULL,
				     err) < 0) {
			orch_error_prefix(err, "admin.address");
			goto fail;
		}
	}

	groups = json_object_get(root, "targetGroups");
	if (groups && !json_is_object(groups)) {
		orch_fail(err, ORCH_ERR_INVALID, "targetGroups: must be an object");
		goto fail;
	}
	config->groups = config_calloc(groups ? json_object_size(groups) : 0,
				       sizeof(*config->groups), "targetGroups", err);
	if (!config->groups)
		goto fail;
	config->group_count = groups ? json_object_size(groups) : 0;
	i = 0;
	if (groups) {
		json_object_foreach(groups, key, v) {
			if (parse_group(key, v, &config->groups[i++], err) < 0)
				goto fail;
		}
	}

	rules = json_object_get(root, "rules");
	if (rules && (!json_is_array(rules) || json_array_size(rules) > 10000)) {
		orch_fail(err, ORCH_ERR_INVALID, "rules: must be an array of at most 10000 rules");
		goto fail;
	}
	config->rules = config_calloc(rules ? json_array_size(rules) : 0, sizeof(*config->rules),
				      "rules", err);
	if (!config->rules)
		goto fail;
	config->rule_count = rules ? json_array_size(rules) : 0;
	if (rules) {
		json_array_foreach(rules, i, v) {
			if (parse_rule(v, i, config, &config->rules[i], err) < 0)
				goto fail;
		}
	}
	qsort(config->rules, config->rule_count, sizeof(*config->rules), rule_compare);
	return config;
fail:
	lb_config_free(config);
	return NULL;
}

struct lb_config *lb_config_load_file(const char *path, orch_error *err)
{
	json_error_t jerr;
	json_t *root;
	struct lb_config *config;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		orch_fail(err, ORCH_ERR_INVALID, "\"%s\": line %d column %d: %s", path, jerr.line,
			  jerr.column, jerr.text);
		return NULL;
	}
	config = lb_config_from_json(root, err);
	json_decref(root);
	if (!config)
		orch_error_prefix(err, "\"%s\"", path);
	return config;
}

void lb_config_free(struct lb_config *config)
{
	if (!config)
		return;
	for (size_t i = 0; i < config->listener_count; i++) {
		struct lb_listener_conf *l = &config->listeners[i];

		free(l->address);
		for (size_t j = 0; j < l->certificate_count; j++) {
			free(l->certificates[j].cert_file);
			free(l->certificates[j].key_file);
		}
		free(l->certificates);
	}
	free(config->listeners);
	free(config->admin_address);
	for (size_t i = 0; i < config->rule_count; i++) {
		free(config->rules[i].host);
		free(config->rules[i].path_prefix);
	}
	free(config->rules);
	for (size_t i = 0; i < config->group_count; i++) {
		struct lb_group_conf *g = &config->groups[i];

		free(g->name);
		for (size_t j = 0; j < g->target_count; j++)
			free(g->targets[j].address);
		free(g->targets);
		free(g->health_check.path);
		free(g->health_check.host);
	}
	free(config->groups);
	free(config);
}

/*
 * api.c - the request entry point: route table, auth, path and query
 * decoding, JSON bodies and page tokens.
 */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>


#include "common/cleanup.h"
#include "ecs_names.h"
#include "http_response.h"
#include "common/log.h"
#include "taskdef_validate.h"
#include "task_exec.h"
#include "task_stream.h"
#include "proto/version.h"

/* Segments of a request path we look at; longer paths match no route. */
#define API_MAX_PATH_SEGMENTS 16

typedef void api_handler(struct api_request *ar);

/*
 * A route is a path pattern of '/'-separated segments where "*" matches
 * one segment and a final "**" matches the rest of the path (one or more
 * segments, rejoined with '/': task-definition ARNs contain a slash).
 */
struct api_route {
	const char *pattern;
	const char *method;
	api_handler *handler;
};

static const struct api_route api_routes[] = {
	{ "/v1/info", "GET", api_info },
	{ "/v1/clusters", "POST", api_cluster_create },
	{ "/v1/clusters", "GET", api_cluster_list },
	{ "/v1/clusters/*", "GET", api_cluster_describe },
	{ "/v1/clusters/*", "DELETE", api_cluster_delete },
	{ "/v1/task-definitions", "POST", api_taskdef_register },
	{ "/v1/task-definitions", "GET", api_taskdef_list },
	{ "/v1/task-definitions/**", "GET", api_taskdef_describe },
	{ "/v1/task-definitions/**", "DELETE", api_taskdef_deregister },
	{ "/v1/clusters/*/nodes", "GET", api_node_list },
	{ "/v1/clusters/*/nodes/*", "GET", api_node_describe },
	{ "/v1/clusters/*/nodes/*", "PATCH", api_node_update },
	{ "/v1/clusters/*/nodes/*", "DELETE", api_node_deregister },
	{ "/v1/clusters/*/services", "POST", api_service_create },
	{ "/v1/clusters/*/services", "GET", api_service_list },
	{ "/v1/clusters/*/services/*", "GET", api_service_describe },
	{ "/v1/clusters/*/services/*", "PATCH", api_service_update },
	{ "/v1/clusters/*/services/*", "DELETE", api_service_delete },
	{ "/v1/clusters/*/services/*/events", "GET", api_service_events },
	{ "/v1/clusters/*/tasks", "POST", api_task_run },
	{ "/v1/clusters/*/tasks", "GET", api_task_list },
	{ "/v1/clusters/*/tasks/*", "GET", api_task_describe },
	{ "/v1/clusters/*/tasks/*/stop", "POST", api_task_stop },
	{ "/v1/clusters/*/tasks/*/logs", "GET", api_task_logs },
	{ "/v1/clusters/*/tasks/*/exec", "POST", api_task_exec },
	{ "/v1/agent/register", "POST", api_agent_register },
	{ "/v1/agent/status", "POST", api_agent_status },
	{ "/v1/agent/assignments", "GET", api_agent_assignments },
	{ "/v1/agent/streams", "GET", api_agent_streams_poll },
	{ "/v1/agent/streams/*", "POST", api_agent_stream_upload },
	{ "/v1/agent/streams/*/refuse", "POST", api_agent_stream_refuse },
};

struct path_segments {
	char *decoded[API_MAX_PATH_SEGMENTS];
	int count;
};

static void path_segments_release(struct path_segments *ps)
{
	for (int i = 0; i < ps->count; i++) {
		free(ps->decoded[i]);
		ps->decoded[i] = NULL;
	}
	ps->count = 0;
}

/*
 * Splits an absolute, still percent-encoded path into decoded segments.
 * Returns 0, or -1 with *why set for a path no route can match (too many
 * segments) or one that is malformed (encoded NUL, empty segment).
 */
static int path_split(const char *path, struct path_segments *ps, const char **why)
{
	const char *p = path;

	ps->count = 0;
	if (*p != '/') {
		*why = "path must start with '/'";
		return -1;
	}
	while (*p == '/' && p[1] != '\0') {
		const char *start = p + 1;
		const char *end = strchr(start, '/');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		cleanup_free char *raw = strndup(start, len);
		size_t decoded_len = 0;
		char *decoded;

		if (!raw) {
			*why = "out of memory";
			return -1;
		}
		if (len == 0) {
			*why = "empty path segment";
			return -1;
		}
		if (ps->count == API_MAX_PATH_SEGMENTS) {
			*why = "too many path segments";
			return -1;
		}
		decoded = evhttp_uridecode(raw, 0, &decoded_len);
		if (!decoded) {
			*why = "malformed percent-encoding in path";
			return -1;
		}
		ps->decoded[ps->count++] = decoded;
		if (strlen(decoded) != decoded_len) {
			*why = "path contains a NUL byte";
			return -1;
		}
		p = start + len;
	}
	if (*p == '/' && ps->count > 0) {
		*why = "trailing '/' in path";
		return -1;
	}
	return 0;
}

/*
 * Matches segments against a route pattern, filling ar->params.  Joined
 * "**" parameters are allocated into *joined, which the caller frees.
 */
static bool route_matches(const char *pattern, const struct path_segments *ps,
			  struct api_request *ar, char **joined)
{
	char buf[128];
	char *save = NULL;
	int i = 0;

	snprintf(buf, sizeof(buf), "%s", pattern);
	ar->param_count = 0;
	for (char *seg = strtok_r(buf, "/", &save); seg; seg = strtok_r(NULL, "/", &save), i++) {
		if (strcmp(seg, "**") == 0) {
			size_t total = 0;
			char *out;

			if (i >= ps->count)
				return false;
			for (int j = i; j < ps->count; j++)
				total += strlen(ps->decoded[j]) + 1;
			out = malloc(total);
			if (!out)
				return false;
			out[0] = '\0';
			for (int j = i; j < ps->count; j++) {
				if (j > i)
					strcat(out, "/");
				strcat(out, ps->decoded[j]);
			}
			free(*joined);
			*joined = out;
			ar->params[ar->param_count++] = out;
			return true;
		}
		if (i >= ps->count)
			return false;
		if (strcmp(seg, "*") == 0) {
			if (ar->param_count == API_MAX_PATH_PARAMS)
				return false;
			ar->params[ar->param_count++] = ps->decoded[i];
		} else if (strcmp(seg, ps->decoded[i]) != 0) {
			return false;
		}
	}
	return i == ps->count;
}

/*
 * Decodes the query string into q.  Decoded values are C strings, so an
 * encoded NUL (which would cut a value short) is refused, naming the
 * parameter.  Replies 400 and returns -1 on a malformed query.
 */
static int query_parse(struct http_request *req, const char *query, struct evkeyvalq *q)
{
	const char *nul;

	if (!query)
		return 0;
	nul = strstr(query, "%00");
	if (nul) {
		const char *start = nul;

		while (start > query && start[-1] != '&')
			start--;
		http_reply_error(req, 400, "ClientException", "%.*s: contains a NUL byte",
				 (int)strcspn(start, "=&"), start);
		return -1;
	}
	if (evhttp_parse_query_str(query, q) < 0) {
		http_reply_error(req, 400, "ClientException", "malformed query string");
		return -1;
	}
	return 0;
}

static void dispatch(struct api_context *ctx, struct http_request *req)
{
	const char *method = http_request_method(req);
	const char *path = http_request_path(req);
	const char *query = http_request_query(req);
	struct path_segments ps = { .count = 0 };
	struct api_request ar = { .req = req, .ctx = ctx };
	cleanup_free char *joined = NULL;
	const char *why = NULL;
	char allow[160] = "";
	bool path_known = false;

	if (strcmp(path, "/healthz") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			http_reply_error_headers(req, 405, "ClientException", "Allow: GET, HEAD\r\n",
						 "method %s is not allowed on /healthz", method);
			return;
		}
		http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
		return;
	}
	if (strcmp(path, "/v1/agent/ca") == 0) {	/* no auth: agents check its hash */
		api_agent_ca(req, ctx);
		return;
	}
	if (strncmp(path, "/v1/agent/", 10) == 0) {
		/* Agents: register checks the join secret itself; the rest a node credential. */
		if (strcmp(path, "/v1/agent/register") != 0 && !api_agent_authenticate(&ar))
			return;
	} else if (!auth_bearer_matches(http_request_header(req, "Authorization"), ctx->admin_token)) {
		http_reply_error_headers(req, 401, "AccessDeniedException",
					 "WWW-Authenticate: Bearer realm=\"orch\"\r\n",
					 "missing or invalid bearer token");
		return;
	}
	if (path_split(path, &ps, &why) < 0) {
		path_segments_release(&ps);
		http_reply_error(req, 404, "ClientException", "no such resource: %s", why);
		return;
	}
	TAILQ_INIT(&ar.query);
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++) {
		const struct api_route *r = &api_routes[i];

		if (!route_matches(r->pattern, &ps, &ar, &joined))
			continue;
		path_known = true;
		if (strcmp(r->method, method) != 0) {
			size_t used = strlen(allow);

			snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "Allow: ",
				 r->method);
			continue;
		}
		if (query_parse(req, query, &ar.query) == 0)
			r->handler(&ar);
		evhttp_clear_headers(&ar.query);
		path_segments_release(&ps);
		return;
	}
	path_segments_release(&ps);
	if (path_known) {
		size_t used = strlen(allow);

		snprintf(allow + used, sizeof(allow) - used, "\r\n");
		http_reply_error_headers(req, 405, "ClientException", allow,
					 "method %s is not allowed on %.200s", method, path);
		return;
	}
	http_reply_error(req, 404, "ClientException", "no such resource: %.200s", path);
}

void api_handle_request(struct http_request *req, void *arg)
{
	dispatch(arg, req);
}

void api_refuse_request(struct http_request *req, int status, const char *why, void *arg)
{
	http_reply_error(req, status, "ClientException", "%s", why);
}

json_t *api_read_json_object(struct api_request *ar)
{
	size_t len;
	const char *data = http_request_body(ar->req, &len);
	json_error_t jerr;
	json_t *root;

	if (len == 0) {
		http_reply_error(ar->req, 400, "ClientException",
				 "request body is empty; expected a JSON object");
		return NULL;
	}
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		http_reply_error(ar->req, 400, "ClientException",
				 "request body is not valid JSON: %s (line %d, column %d, byte %d)",
				 jerr.text, jerr.line, jerr.column, jerr.position);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		http_reply_error(ar->req, 400, "ClientException",
				 "request body must be a JSON object");
		return NULL;
	}
	return root;
}

int api_query_int(struct api_request *ar, const char *name, int64_t min, int64_t max,
		  int64_t *out)
{
	const char *value = evhttp_find_header(&ar->query, name);
	char *end;
	long long v;

	if (!value)
		return 0;
	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno || end == value || *end != '\0' || v < min || v > max) {
		http_reply_error(ar->req, 400, "ClientException",
				 "%s: must be an integer between %lld and %lld", name,
				 (long long)min, (long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

const char *api_id_of(const char *ref)
{
	const char *slash = strrchr(ref, '/');
	const char *id = strncmp(ref, "arn:", 4) == 0 && slash ? slash + 1 : ref;
	size_t n = strspn(id, "0123456789abcdef");

	return n == STORE_ID_HEX_LEN && !id[n] ? id : NULL;
}

bool api_id_checked(struct api_request *ar, const char *ref, const char *field, const char *kind,
		    char out[STORE_ID_HEX_LEN + 1])
{
	const char *id = api_id_of(ref);

	if (!id) {
		http_reply_error(ar->req, 400, "ClientException",
				 "%s: '%.100s' is not a %s ID (%d hex digits) or ARN", field, ref, kind,
				 STORE_ID_HEX_LEN);
		return false;
	}
	memcpy(out, id, STORE_ID_HEX_LEN + 1);
	return true;
}

bool api_stream_task_id(struct api_request *ar, char out[STORE_ID_HEX_LEN + 1])
{
	const char *id = api_id_of(ar->params[1]);

	if (!id) {
		http_reply_error(ar->req, 404, "ClientException", "task not found: %.80s",
				 ar->params[1]);
		return false;
	}
	memcpy(out, id, STORE_ID_HEX_LEN + 1);
	return true;
}

void api_reply_cluster_error(struct api_request *ar, const orch_error *err)
{
	if (err->kind == ORCH_ERR_NOT_FOUND)
		http_reply_error(ar->req, 404, "ClusterNotFoundException", "%s", err->message);
	else
		http_reply_orch_error(ar->req, err);
}

bool api_cluster_checked(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;

	if (!ecs_name_valid(ar->params[0])) {
		http_reply_error(ar->req, 400, "ClientException",
				 "cluster: must be 1 to %d letters, digits, '-' or '_'", ECS_NAME_MAX);
		return false;
	}
	if (store_cluster_exists(ar->ctx->store, ar->params[0], &err) < 0) {
		api_reply_cluster_error(ar, &err);
		return false;
	}
	return true;
}

json_t *api_list_reply(json_t *items, const char *arn_field, const char *arns_key,
		       const char *items_key, const char *last_key)
{
	json_t *arns = json_array(), *item, *reply;
	size_t i;

	json_array_foreach(items, i, item)
		json_array_append(arns, json_object_get(item, arn_field));
	reply = json_pack("{s:o, s:o}", arns_key, arns, items_key, items);

	if (reply && last_key) {
		cleanup_free char *next = api_page_token_encode(last_key);

		json_object_set_new(reply, "nextToken", next ? json_string(next) : NULL);
	}
	return reply;
}

char *api_page_token_encode(const char *key)
{
	size_t len = strlen(key);
	char *token = malloc(2 * len + 1);

	if (!token)
		return NULL;
	for (size_t i = 0; i < len; i++)
		snprintf(token + 2 * i, 3, "%02x", (unsigned char)key[i]);
	token[2 * len] = '\0';
	return token;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *api_page_token_decode(struct api_request *ar, const char *token)
{
	size_t len = strlen(token);
	char *key;

	if (len == 0 || len % 2 || len > 4 * ECS_PAGE_KEY_MAX)
		goto bad;
	key = malloc(len / 2 + 1);
	if (!key)
		goto bad;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_value(token[2 * i]), lo = hex_value(token[2 * i + 1]);

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(key);
			goto bad;
		}
		key[i] = (char)(hi << 4 | lo);
	}
	key[len / 2] = '\0';
	return key;
bad:
	http_reply_error(ar->req, 400, "ClientException", "nextToken: invalid page token");
	return NULL;
}

void api_info(struct api_request *ar)
{
	orch_error err = ORCH_ERROR_INIT;
	int64_t definitions = 0, families = 0;
	int64_t clusters = store_cluster_count(ar->ctx->store);

	if (clusters < 0 || store_taskdef_counts(ar->ctx->store, &definitions, &families, &err) < 0) {
		http_reply_orch_error(ar->req, &err);
		return;
	}
	http_reply_json(ar->req, 200,
			json_pack("{s:s, s:o, s:i, s:f, s:{s:I, s:I, s:I}, s:o}",
				  "version", ORCH_VERSION_STRING,
				  "libraries", orch_library_versions(),
				  "schemaVersion", store_known_schema_version(),
				  "startedAt", ar->ctx->started_at,
				  "counts",
				  "clusters", (json_int_t)clusters,
				  "taskDefinitions", (json_int_t)definitions,
				  "taskDefinitionFamilies", (json_int_t)families,
				  "ignoredTaskDefinitionFields", taskdef_ignored_field_catalog()));
}

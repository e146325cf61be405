/* http_response.c - JSON replies and ECS-shaped errors. */
#include "http_response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "common/log.h"

static void reply_text(struct http_request *req, int status, char *text,
		       const char *extra_headers)
{
	static const char fallback[] =
		"{\"__type\":\"ServerException\",\"message\":\"out of memory\"}\n";

	if (!text) {
		http_respond(req, 500, "application/json", fallback, sizeof(fallback) - 1, NULL);
		return;
	}
	http_respond(req, status, "application/json", text, strlen(text), extra_headers);
	free(text);
}

void http_reply_json_headers(struct http_request *req, int status, json_t *body,
			     const char *extra_headers)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(13)) : NULL;

	json_decref(body);
	reply_text(req, status, text, extra_headers);
}

void http_reply_json_text(struct http_request *req, int status, char *text)
{
	reply_text(req, status, text, "Cache-Control: no-store\r\n");
}

void http_reply_json(struct http_request *req, int status, json_t *body)
{
	http_reply_json_headers(req, status, body, "Cache-Control: no-store\r\n");
}

static void reply_error_v(struct http_request *req, int status, const char *type,
			  const char *extra_headers, const char *fmt, va_list ap)
{
	char message[1024];

	vsnprintf(message, sizeof(message), fmt, ap);
	if (status >= 500)
		log_error("api: %s %s: %d %s", http_request_method(req), http_request_path(req),
			  status, message);
	else
		log_debug("api: %s %s: %d %s", http_request_method(req), http_request_path(req),
			  status, message);
	http_reply_json_headers(req, status, json_pack("{s:s, s:s}", "__type", type,
						       "message", message), extra_headers);
}

void http_reply_error(struct http_request *req, int status, const char *type,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_error_v(req, status, type, NULL, fmt, ap);
	va_end(ap);
}

void http_reply_error_headers(struct http_request *req, int status, const char *type,
			      const char *extra_headers, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_error_v(req, status, type, extra_headers, fmt, ap);
	va_end(ap);
}

void http_reply_orch_error(struct http_request *req, const orch_error *err)
{
	switch (err->kind) {
	case ORCH_ERR_INVALID:
		http_reply_error(req, 400, "ClientException", "%s", err->message);
		return;
	case ORCH_ERR_UNSUPPORTED:
		http_reply_error(req, 400, "UnsupportedFeatureException", "%s", err->message);
		return;
	case ORCH_ERR_NOT_FOUND:
		http_reply_error(req, 404, "ClientException", "%s", err->message);
		return;
	case ORCH_ERR_CONFLICT:
		http_reply_error(req, 409, "ClientException", "%s", err->message);
		return;
	case ORCH_ERR_INTERNAL:
		break;
	}
	http_reply_error(req, 500, "ServerException", "%s", err->message);
}

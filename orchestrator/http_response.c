/* http_response.c - JSON replies and ECS-shaped errors. */
#include "http_response.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "log.h"

const char *http_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

void http_reply_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *buf = evbuffer_new();
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(13)) : NULL;

	json_decref(body);
	if (!buf || !text) {
		free(text);
		if (buf)
			evbuffer_free(buf);
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(buf, text, strlen(text));
	evbuffer_add(buf, "\n", 1);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, status, http_reason_phrase(status), buf);
	evbuffer_free(buf);
}

void http_reply_error(struct evhttp_request *req, int status, const char *type,
		      const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (status >= 500)
		log_error("api: %s", message);
	else
		log_debug("api: %d %s", status, message);
	http_reply_json(req, status, json_pack("{s:s, s:s}", "__type", type,
					       "message", message));
}

void http_reply_orch_error(struct evhttp_request *req, const orch_error *err)
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

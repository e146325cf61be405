/*
 * http_response.h - JSON replies and ECS-shaped errors for the REST API.
 *
 * Every reply the API sends goes through here, so every response is JSON
 * with Content-Type application/json, and every error has ECS's shape:
 *   {"__type": "ClientException", "message": "containerDefinitions[0].name: ..."}
 */
#ifndef ORCH_HTTP_RESPONSE_H
#define ORCH_HTTP_RESPONSE_H

#include <jansson.h>

#include "common/error.h"

struct http_request;

/* Sends body (reference stolen) with the given status. */
void http_reply_json(struct http_request *req, int status, json_t *body);

/* The same with extra header lines ("Allow: GET\r\n"). */
void http_reply_json_headers(struct http_request *req, int status, json_t *body,
			     const char *extra_headers);

/* Sends a JSON text the caller built (freed here; NULL answers 500). */
void http_reply_json_text(struct http_request *req, int status, char *text);

void http_reply_error(struct http_request *req, int status, const char *type,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Like http_reply_error with extra header lines. */
void http_reply_error_headers(struct http_request *req, int status, const char *type,
			      const char *extra_headers, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Maps err->kind to a status and ECS exception type. */
void http_reply_orch_error(struct http_request *req, const orch_error *err);

#endif

/*
 * http_response.h - JSON replies and ECS-shaped errors for the REST API.
 *
 * Every reply the API sends goes through here, so every response is JSON
 * with Content-Type application/json, and every error has ECS's shape:
 *   {"__type": "ClientException", "message": "containerDefinitions[0].name: ..."}
 */
#ifndef ORCH_HTTP_RESPONSE_H
#define ORCH_HTTP_RESPONSE_H

#include <event2/http.h>
#include <jansson.h>

#include "error.h"

/* Sends body (reference stolen) with the given status. */
void http_reply_json(struct evhttp_request *req, int status, json_t *body);

void http_reply_error(struct evhttp_request *req, int status, const char *type,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Maps err->kind to a status and ECS exception type. */
void http_reply_orch_error(struct evhttp_request *req, const orch_error *err);

const char *http_reason_phrase(int status);

#endif

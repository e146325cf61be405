/*
 * api_pki.c - GET /v1/agent/ca: the cluster CA certificate (PEM).
 *
 * Unauthenticated on purpose: an agent fetches it before it trusts the
 * server, then checks its SHA-256 against the hash in its join token
 * (agent_protocol.h), so a man in the middle gains nothing by answering.
 */
#include <string.h>

#include "api.h"
#include "http_response.h"

void api_agent_ca(struct http_request *req, struct api_context *ctx)
{
	const char *method = http_request_method(req);

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_reply_error_headers(req, 405, "ClientException", "Allow: GET, HEAD\r\n",
					 "method %s is not allowed on /v1/agent/ca", method);
		return;
	}
	if (!ctx->ca_pem) {
		http_reply_error(req, 503, "ServerException", "the cluster CA is not loaded");
		return;
	}
	http_respond(req, 200, "application/x-pem-file", ctx->ca_pem, strlen(ctx->ca_pem), NULL);
}

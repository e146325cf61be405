/*
 * test_http_parse.c - unit tests for lb/http_parse.c: request and response
 * heads (framing, smuggling defenses, limits) and the chunked decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/http_parse.h"

static const struct http_limits limits = {
	.max_header_line_bytes = 256,
	.max_header_bytes = 1024,
	.max_header_count = 10,
	.max_uri_bytes = 64,
	.max_chunk_ext_bytes = 16,
};

static struct http_head head;

static int req(const char *text)
{
	return http_parse_request_head(text, strlen(text), &limits, &head);
}

static int resp(const char *text)
{
	return http_parse_response_head(text, strlen(text), &limits, &head);
}

static void test_simple_get(void **state)
{
	const char *r = "GET /a?b=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nX-A:  v  \r\n\r\nrest";

	assert_int_equal(req(r), (int)strlen(r) - 4);
	assert_int_equal(head.method, HTTP_METHOD_GET);
	assert_int_equal(head.version_minor, 1);
	assert_int_equal(head.target_form, HTTP_TARGET_ORIGIN);
	assert_memory_equal(r + head.target.off, "/a?b=1", 6);
	assert_int_equal(head.host_count, 1);
	assert_int_equal(head.header_count, 2);
	assert_int_equal(head.headers[1].value.len, 1);	/* OWS trimmed */
	assert_int_equal(head.content_length, -1);
	assert_false(head.chunked);
}

static void test_incomplete_needs_more(void **state)
{
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
	assert_int_equal(req("GET / HTT"), 0);
	assert_int_equal(req(""), 0);
}

static void test_leading_crlf_skipped(void **state)
{
	assert_true(req("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
}

static void test_absolute_form(void **state)
{
	const char *r = "GET http://foo.example/x HTTP/1.1\r\nHost: other\r\n\r\n";

	assert_true(req(r) > 0);
	assert_int_equal(head.target_form, HTTP_TARGET_ABSOLUTE);
	assert_memory_equal(r + head.authority.off, "foo.example", head.authority.len);
	assert_memory_equal(r + head.path.off, "/x", head.path.len);
	assert_int_equal(req("GET http://user@foo/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

static void test_smuggling(void **state)
{
	/* CL + TE */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"), -400);
	/* differing duplicate CL, in one line and in two */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			     "Content-Length: 6\r\n\r\n"), -400);
	/* identical duplicates are one value */
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") > 0);
	assert_int_equal(head.content_length, 5);
	/* signs, spaces, hex, overflow */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"), -400);
	/* unknown and layered codings */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), -501);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), -501);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), -400);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n") > 0);
	assert_true(head.chunked);
	/* TE in HTTP/1.0 */
	assert_int_equal(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
	/* space before colon */
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"), -400);
}

static void test_bad_bytes(void **state)
{
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), -400);
	assert_int_equal(http_parse_request_head("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 34,
						 &limits, &head), -400);
	assert_int_equal(req("GET / HTTP/1.1\nHost: a\n\n"), -400);	/* bare LF */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n"), -400);
	assert_int_equal(req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505);
	assert_int_equal(req("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), -505);
	assert_int_equal(req("GET / FOO/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("GET relative HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	assert_int_equal(req("\x16\x03\x01\x02"), -400);	/* TLS to a plain port */
}

static void test_host_rules(void **state)
{
	assert_int_equal(req("GET / HTTP/1.1\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -400);
	assert_true(req("GET / HTTP/1.0\r\n\r\n") > 0);	/* 1.0 needs none */
}

static void test_limits(void **state)
{
	char big[2048];

	/* URI */
	snprintf(big, sizeof(big), "GET /%0100d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
	assert_int_equal(req(big), -414);
	snprintf(big, sizeof(big), "GET /%0200d", 0);	/* unterminated and long */
	assert_int_equal(req(big), -414);
	/* one header line */
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0300d\r\n\r\n", 0);
	assert_int_equal(req(big), -431);
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: %0300d", 0);
	assert_int_equal(req(big), -431);
	/* header count */
	strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 12; i++)
		strcat(big, "X: y\r\n");
	strcat(big, "\r\n");
	assert_int_equal(req(big), -431);
	/* total bytes */
	strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 6; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "X%d: %0200d\r\n", i, 0);
	assert_int_equal(req(big), -431);
}

static void test_connection_tokens(void **state)
{
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\n"
			"Upgrade: websocket\r\n\r\n") > 0);
	assert_true(head.conn_close);
	assert_true(head.upgrade_websocket);
	assert_false(head.conn_upgrade);
	assert_int_equal(head.connection_token_count, 1);
}

static void test_response(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";

	assert_int_equal(resp(r), (int)strlen(r) - 3);
	assert_int_equal(head.status, 200);
	assert_int_equal(head.content_length, 3);
	assert_true(resp("HTTP/1.1 204\r\n\r\n") > 0);
	assert_int_equal(head.status, 204);
	assert_true(resp("HTTP/1.0 200 OK\r\n\r\n") > 0);
	assert_int_equal(resp("HTTP/1.1 20 OK\r\n\r\n"), -502);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), -502);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n"), -502);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), -502);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n"), 0);
}

static int chunk_all(struct http_chunk_decoder *dec, const char *text, size_t *data)
{
	size_t len = strlen(text), pos = 0;

	*data = 0;
	while (pos < len && dec->state != CHUNK_DONE) {
		if (dec->state == CHUNK_DATA) {
			size_t n = len - pos < dec->remaining ? len - pos : (size_t)dec->remaining;

			http_chunk_data_consumed(dec, n);
			pos += n;
			*data += n;
			continue;
		}
		int rc = http_chunk_decode_framing(dec, text + pos, len - pos);

		if (rc < 0)
			return rc;
		pos += (size_t)rc;
	}
	return dec->state == CHUNK_DONE ? 1 : 0;
}

static void test_chunked(void **state)
{
	struct http_chunk_decoder dec;
	size_t data;

	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "5\r\nhello\r\nA;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n", &data), 1);
	assert_int_equal(data, 15);

	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "5\r\nhello\r\n", &data), 0);	/* incomplete */

	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "g\r\n", &data), -400);
	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "-1\r\n", &data), -400);
	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "5\nhello\r\n0\r\n\r\n", &data), -400);	/* bare LF */
	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "5\r\nhelloXX0\r\n\r\n", &data), -400);	/* missing CRLF */
	http_chunk_decoder_init(&dec, UINT64_MAX, 16, 100);
	assert_int_equal(chunk_all(&dec, "fffffffffffffffff\r\n", &data), -400);	/* overflow */
	http_chunk_decoder_init(&dec, 10, 16, 100);
	assert_int_equal(chunk_all(&dec, "b\r\n", &data), -413);
	http_chunk_decoder_init(&dec, 1000, 4, 100);
	assert_int_equal(chunk_all(&dec, "1;aaaaaaaa\r\n", &data), -400);	/* ext limit */
	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "0\r\n folded\r\n\r\n", &data), -400);
	http_chunk_decoder_init(&dec, 1000, 16, 100);
	assert_int_equal(chunk_all(&dec, "1 ;a\r\nx\r\n0\r\n\r\n", &data), 1);	/* BWS */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_incomplete_needs_more),
		cmocka_unit_test(test_leading_crlf_skipped),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_connection_tokens),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_chunked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

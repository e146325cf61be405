/*
 * fuzz_http_parse.c - the load balancer's HTTP/1.1 head parser and chunked
 * decoder (common/http_parse.h) on arbitrary bytes.
 *
 * Every input is parsed as a request head and as a response head, under the
 * proxy's default limits and under small ones (so that short inputs reach
 * the 414 and 431 paths), and decoded as a chunked body.  Beyond what the
 * sanitizers catch, it checks the promises a streaming parser must keep,
 * because the proxy calls it again each time more bytes arrive:
 *   - a result never depends on how the bytes were split: every prefix of a
 *     head that parses (or still needs more) needs more too, the head alone
 *     parses to the same length, the resuming parser fed a piece at a time
 *     answers at every length what the plain one answers on that prefix,
 *     and the chunked decoder fed one byte at a time ends where it ends when
 *     fed everything at once;
 *   - every span of a parsed head lies inside the head, the header count is
 *     within the limit, and errors are the statuses the header lists.
 * Prefixes are parsed from exactly-sized copies so an over-read is caught.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_parse.h"
#include "fuzz_input.h"

/* The proxy's defaults (lb/config.h) and a small set. */
static const struct http_limits default_limits = {
	.max_header_line_bytes = 8192,
	.max_header_bytes = 32768,
	.max_header_count = 100,
	.max_uri_bytes = 8192,
	.max_chunk_ext_bytes = 1024,
};
static const struct http_limits small_limits = {
	.max_header_line_bytes = 64,
	.max_header_bytes = 256,
	.max_header_count = 4,
	.max_uri_bytes = 32,
	.max_chunk_ext_bytes = 8,
};

typedef int (*head_parser)(const char *buf, size_t len, const struct http_limits *limits,
			   struct http_head *head);

static struct http_head head, prefix_head, resumed_head;

static void check_span(struct http_span span, size_t head_len)
{
	FUZZ_CHECK((size_t)span.off + span.len <= head_len);
}

static void check_head(const struct http_head *h, int rc, const struct http_limits *limits,
		       bool request)
{
	FUZZ_CHECK(h->head_len == (size_t)rc);
	FUZZ_CHECK(h->header_count <= limits->max_header_count);
	FUZZ_CHECK(h->content_length >= -1);
	FUZZ_CHECK(h->connection_token_count <= HTTP_CONNECTION_TOKENS_MAX);
	for (size_t i = 0; i < h->header_count; i++) {
		check_span(h->headers[i].name, h->head_len);
		check_span(h->headers[i].value, h->head_len);
		FUZZ_CHECK(h->headers[i].name.len > 0);
	}
	for (size_t i = 0; i < h->connection_token_count; i++)
		check_span(h->connection_tokens[i], h->head_len);
	/* host and request_id are only set when present (the proxy checks). */
	if (h->host_count > 0)
		check_span(h->host, h->head_len);
	if (h->has_request_id)
		check_span(h->request_id, h->head_len);
	if (request) {
		check_span(h->method_name, h->head_len);
		check_span(h->target, h->head_len);
		check_span(h->authority, h->head_len);
		check_span(h->path, h->head_len);
		FUZZ_CHECK(h->target.len <= limits->max_uri_bytes);
		FUZZ_CHECK(h->version_minor == 0 || h->version_minor == 1);
		FUZZ_CHECK(h->host_count <= 1);
		FUZZ_CHECK(!(h->has_transfer_encoding && h->content_length >= 0));
	} else {
		check_span(h->reason, h->head_len);
		FUZZ_CHECK(h->status >= 100 && h->status <= 999);
	}
}

static int parse_copy(head_parser parse, const uint8_t *data, size_t len,
		      const struct http_limits *limits, struct http_head *out)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	if (!copy)
		abort();
	memcpy(copy, data, len);
	rc = parse(copy, len, limits, out);
	free(copy);
	return rc;
}

/*
 * Feeds data to the resuming parser step bytes more at a time, each time from
 * a fresh exactly-sized copy (the proxy's buffer moves between reads), until
 * it answers something other than "need more"; every answer must be the
 * plain parser's on the same prefix, and a parsed head the same head.
 */
static void fuzz_resume(head_parser parse, head_parser resume, const uint8_t *data, size_t size,
			const struct http_limits *limits, size_t step)
{
	size_t len = 0;

	memset(&resumed_head, 0, sizeof(resumed_head));
	do {
		int rc, plain;

		len = size - len < step ? size : len + step;
		rc = parse_copy(resume, data, len, limits, &resumed_head);
		plain = parse_copy(parse, data, len, limits, &prefix_head);
		FUZZ_CHECK(rc == plain);
		if (rc > 0) {
			FUZZ_CHECK(resumed_head.head_len == prefix_head.head_len);
			FUZZ_CHECK(resumed_head.header_count == prefix_head.header_count);
			FUZZ_CHECK(resumed_head.content_length == prefix_head.content_length);
			FUZZ_CHECK(resumed_head.chunked == prefix_head.chunked);
			FUZZ_CHECK(resumed_head.host_count == prefix_head.host_count);
			FUZZ_CHECK(resumed_head.connection_token_count ==
				   prefix_head.connection_token_count);
			FUZZ_CHECK(memcmp(resumed_head.headers, prefix_head.headers,
					  prefix_head.header_count * sizeof(prefix_head.headers[0])) == 0);
		}
		if (rc != 0)
			return;
	} while (len < size);
}

static void fuzz_head(head_parser parse, head_parser resume, bool request, const uint8_t *data,
		      size_t size, const struct http_limits *limits)
{
	const size_t cuts[] = { 0, 1, size / 2, size ? size - 1 : 0 };
	int rc = parse((const char *)data, size, limits, &head);

	if (size <= 256)
		fuzz_resume(parse, resume, data, size, limits, 1);
	fuzz_resume(parse, resume, data, size, limits, size / 7 + 1);

	if (rc > 0) {
		FUZZ_CHECK((size_t)rc <= size);
		check_head(&head, rc, limits, request);
		/* The head alone parses the same. */
		FUZZ_CHECK(parse_copy(parse, data, (size_t)rc, limits, &prefix_head) == rc);
		FUZZ_CHECK(prefix_head.header_count == head.header_count);
		FUZZ_CHECK(prefix_head.content_length == head.content_length);
		FUZZ_CHECK(prefix_head.chunked == head.chunked);
	} else if (rc < 0) {
		if (request)
			FUZZ_CHECK(rc == -400 || rc == -414 || rc == -431 || rc == -501 ||
				   rc == -505);
		else
			FUZZ_CHECK(rc == -502);
		return;	/* a prefix may be refused for another reason first */
	}
	/* The input is acceptable so far: none of its prefixes is refused. */
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t cut = cuts[i];

		if (cut >= size || (rc > 0 && cut >= (size_t)rc))
			continue;
		FUZZ_CHECK(parse_copy(parse, data, cut, limits, &prefix_head) == 0);
	}
}

/* Decodes buf as a chunked body, handing the decoder at most step bytes at
 * a time and moving data bytes as the proxy does.  Returns the decoder's
 * error or 0, with *used = the bytes taken. */
static int chunk_run(const char *buf, size_t len, size_t step, struct http_chunk_decoder *dec,
		     size_t *used)
{
	size_t pos = 0;

	while (pos < len && dec->state != CHUNK_DONE) {
		size_t n = len - pos < step ? len - pos : step;
		int rc;

		if (dec->state == CHUNK_DATA) {
			FUZZ_CHECK(dec->remaining > 0);
			if (n > dec->remaining)
				n = (size_t)dec->remaining;
			http_chunk_data_consumed(dec, n);
			pos += n;
			continue;
		}
		rc = http_chunk_decode_framing(dec, buf + pos, n);
		if (rc < 0) {
			FUZZ_CHECK(rc == -400 || rc == -413);
			*used = pos;
			return rc;
		}
		FUZZ_CHECK(rc > 0 && (size_t)rc <= n);
		pos += (size_t)rc;
		FUZZ_CHECK(dec->total <= dec->max_total);
	}
	*used = pos;
	return 0;
}

static void fuzz_chunked(const uint8_t *data, size_t size, uint64_t max_total, size_t max_ext,
			 size_t max_trailer)
{
	struct http_chunk_decoder whole, bytewise;
	size_t used_whole, used_bytewise;
	int rc_whole, rc_bytewise;

	http_chunk_decoder_init(&whole, max_total, max_ext, max_trailer);
	http_chunk_decoder_init(&bytewise, max_total, max_ext, max_trailer);
	rc_whole = chunk_run((const char *)data, size, size ? size : 1, &whole, &used_whole);
	rc_bytewise = chunk_run((const char *)data, size, 1, &bytewise, &used_bytewise);
	FUZZ_CHECK(rc_whole == rc_bytewise);
	FUZZ_CHECK(rc_whole < 0 || used_whole == used_bytewise);
	FUZZ_CHECK(rc_whole < 0 || whole.state == bytewise.state);
	FUZZ_CHECK(whole.total == bytewise.total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_head(http_parse_request_head, http_parse_request_head_resume, true, data, size,
		  &default_limits);
	fuzz_head(http_parse_request_head, http_parse_request_head_resume, true, data, size,
		  &small_limits);
	fuzz_head(http_parse_response_head, http_parse_response_head_resume, false, data, size,
		  &default_limits);
	fuzz_head(http_parse_response_head, http_parse_response_head_resume, false, data, size,
		  &small_limits);
	fuzz_chunked(data, size, 64ull << 20, default_limits.max_chunk_ext_bytes,
		     default_limits.max_header_bytes);
	fuzz_chunked(data, size, 64, small_limits.max_chunk_ext_bytes, 16);
	return 0;
}

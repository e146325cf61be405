/*
 * http_parse.h - a strict HTTP/1.1 message-head parser and an incremental
 * chunked-body decoder (RFC 9110 / RFC 9112), with no I/O of its own.
 *
 * The proxy hands the parser the bytes it has so far; the parser answers
 * "need more", "head complete after N bytes" or "reject with status S".
 * Everything it records is a span into the caller's buffer, so a parsed head
 * is only valid while that buffer is.  It is deliberately unforgiving, because
 * a proxy that is lenient where its backend is strict (or the reverse) is how
 * request smuggling happens:
 *   - lines must end in CRLF; a bare CR or bare LF, NUL or any other control
 *     byte in a line is 400;
 *   - obs-fold (a header line starting with SP/HT) is 400;
 *   - whitespace between a field name and its colon is 400;
 *   - Content-Length must be digits only; several that differ are 400;
 *   - Transfer-Encoding other than exactly "chunked" is 501 on requests;
 *     Transfer-Encoding together with Content-Length is 400 on requests;
 *   - HTTP/1.1 requests need exactly one Host;
 *   - an over-long header line, too many headers or too many header bytes is
 *     431, an over-long request target is 414, a version other than 1.0/1.1
 *     is 505.
 */
#ifndef ORCH_LB_HTTP_PARSE_H
#define ORCH_LB_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The hard upper bound of http_limits.max_header_count (array size). */
#define HTTP_HEADER_COUNT_HARD_MAX 256
/* Connection: tokens naming other hop-by-hop headers that we remember. */
#define HTTP_CONNECTION_TOKENS_MAX 8

struct http_limits {
	size_t max_header_line_bytes;	/* one header line, without CRLF */
	size_t max_header_bytes;	/* the whole head, request line included */
	size_t max_header_count;
	size_t max_uri_bytes;		/* the request target */
	size_t max_chunk_ext_bytes;	/* chunk extensions on one chunk-size line */
};

struct http_span {
	uint32_t off;
	uint32_t len;
};

struct http_header {
	struct http_span name;
	struct http_span value;
};

enum http_method {
	HTTP_METHOD_OTHER = 0,
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_TRACE,
	HTTP_METHOD_CONNECT,
	HTTP_METHOD_PATCH,
};

enum http_target_form {
	HTTP_TARGET_ORIGIN,	/* /path?query */
	HTTP_TARGET_ABSOLUTE,	/* http://authority/path */
	HTTP_TARGET_AUTHORITY,	/* host:port (CONNECT) */
	HTTP_TARGET_ASTERISK,	/* * (OPTIONS) */
};

/*
 * A parsed head.  Request fields are filled by http_parse_request_head,
 * response fields by http_parse_response_head; the rest by both.
 */
struct http_head {
	/* request line */
	enum http_method method;
	struct http_span method_name;
	struct http_span target;
	enum http_target_form target_form;
	struct http_span authority;	/* of an absolute-form target */
	struct http_span path;		/* of an absolute-form target ("" = "/") */
	/* status line */
	int status;
	struct http_span reason;

	int version_minor;		/* HTTP/1.<minor> */
	size_t head_len;		/* bytes up to and including the blank line */

	/* Where a "need more" answer stopped (the *_resume functions). */
	size_t resume_pos;		/* the first line not yet taken; 0: none taken */
	int resume_te_codings;		/* transfer codings seen so far */

	size_t header_count;
	struct http_header headers[HTTP_HEADER_COUNT_HARD_MAX];

	/* framing and the headers the proxy acts on */
	int64_t content_length;		/* -1 when absent */
	bool has_transfer_encoding;
	bool chunked;			/* Transfer-Encoding ends in chunked */
	bool conn_close;
	bool conn_keep_alive;
	bool conn_upgrade;
	bool upgrade_websocket;
	bool expect_continue;
	int host_count;
	struct http_span host;
	bool has_request_id;
	struct http_span request_id;
	size_t connection_token_count;
	struct http_span connection_tokens[HTTP_CONNECTION_TOKENS_MAX];
};

/*
 * Parse a request head from buf[0..len).  Returns the head length (> 0) when
 * the blank line ending the head was seen, 0 when more bytes are needed, or a
 * negative HTTP status (-400, -414, -431, -501, -505) to answer with.
 * Leading empty lines (RFC 9112 §2.2) are skipped and count in head_len.
 */
int http_parse_request_head(const char *buf, size_t len, const struct http_limits *limits,
			    struct http_head *head);

/*
 * Parse a response head; same return convention, and -502 for every
 * malformation (the client of a proxy sees a bad upstream as 502).
 */
int http_parse_response_head(const char *buf, size_t len, const struct http_limits *limits,
			     struct http_head *head);

/*
 * The same parsers for a head that arrives in pieces.  Call one again with
 * the same head after it answered 0, the buffer holding the same bytes as
 * then and more (it may have moved: spans are offsets): the lines already
 * taken are not read again, so a head that comes a byte at a time costs
 * time in proportion to its length, not to its square.  The answer is the
 * one the plain parser gives on buf[0..len).  Any answer but 0 ends the
 * head, and the next call starts a new one from buf[0]; so does a head that
 * took no line yet, so a zeroed head is ready too.
 */
int http_parse_request_head_resume(const char *buf, size_t len, const struct http_limits *limits,
				   struct http_head *head);
int http_parse_response_head_resume(const char *buf, size_t len,
				    const struct http_limits *limits, struct http_head *head);

/* Case-insensitive comparison of a span with a NUL-terminated lower-case name. */
bool http_span_equals(const char *buf, struct http_span span, const char *lower);

/* Is c a token character (RFC 9110 §5.6.2)? */
bool http_is_tchar(unsigned char c);

/* The name of a status code ("Not Found"), "Unknown" if not one we emit. */
const char *http_status_reason(int status);

/* Is the method idempotent (RFC 9110 §9.2.2), so a failed connect may be retried? */
bool http_method_idempotent(enum http_method method);

/*
 * Chunked transfer coding, decoded incrementally.  The decoder consumes the
 * framing bytes (sizes, extensions, CRLFs, trailers) itself; when it reports
 * CHUNK_DATA the caller moves `remaining` data bytes on by itself (zero-copy
 * from evbuffer to evbuffer) and calls http_chunk_data_consumed().
 */
enum http_chunk_state {
	CHUNK_SIZE_START,
	CHUNK_SIZE,
	CHUNK_SIZE_WS,
	CHUNK_EXT,
	CHUNK_SIZE_LF,
	CHUNK_DATA,
	CHUNK_DATA_CR,
	CHUNK_DATA_LF,
	CHUNK_TRAILER_START,
	CHUNK_TRAILER_LINE,
	CHUNK_TRAILER_LF,
	CHUNK_FINAL_LF,
	CHUNK_DONE,
};

struct http_chunk_decoder {
	enum http_chunk_state state;
	uint64_t size;			/* the chunk size being read */
	unsigned size_digits;
	size_t ext_bytes;
	size_t trailer_bytes;
	uint64_t remaining;		/* data bytes of the current chunk still to move */
	uint64_t total;			/* data bytes announced so far */
	uint64_t max_total;		/* body limit: past it the decoder fails with -413 */
	size_t max_ext_bytes;
	size_t max_trailer_bytes;
};

void http_chunk_decoder_init(struct http_chunk_decoder *dec, uint64_t max_total,
			     size_t max_ext_bytes, size_t max_trailer_bytes);

/*
 * Consume framing bytes from buf[0..len) until the decoder reaches CHUNK_DATA
 * (a chunk's data comes next), CHUNK_DONE, or the input ends.  Returns the
 * number of bytes consumed (>= 0), or -400 for malformed framing and -413 when
 * the announced sizes pass max_total.  Never call it in CHUNK_DATA.
 */
int http_chunk_decode_framing(struct http_chunk_decoder *dec, const char *buf, size_t len);

/* The caller moved n (<= remaining) data bytes of the current chunk. */
void http_chunk_data_consumed(struct http_chunk_decoder *dec, uint64_t n);

#endif

/*
 * http_parse.c - strict HTTP/1.1 head parsing and chunked decoding.
 *
 * See http_parse.h for the rules enforced.  A head nearly always arrives in
 * one read, but one that comes in many (a byte at a time, by a slow or a
 * hostile peer) must not be read again from its start each time: that costs
 * the square of its length.  So the head remembers the start of the first
 * line it has not taken (resume_pos) and the little state that spans lines
 * (resume_te_codings); a call that resumes parses from there.  Everything
 * else a line sets is in the head already, and a line is only taken whole,
 * so the answer does not depend on where the reads ended.
 */
#include "http_parse.h"

#include <string.h>

static const unsigned char tchar_table[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

bool http_is_tchar(unsigned char c)
{
	return tchar_table[c] != 0;
}

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static bool mem_equals_lower(const char *p, size_t n, const char *lower_name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lower_name[i] == '\0' || lower((unsigned char)p[i]) != (unsigned char)lower_name[i])
			return false;
	}
	return lower_name[i] == '\0';
}

bool http_span_equals(const char *buf, struct http_span span, const char *lower_name)
{
	return mem_equals_lower(buf + span.off, span.len, lower_name);
}

static struct http_span span_of(const char *base, const char *p, size_t n)
{
	struct http_span s = { (uint32_t)(p - base), (uint32_t)n };

	return s;
}

/*
 * Split a comma-separated list value into trimmed elements and call fn on
 * each.  Empty elements (", ,") are skipped as RFC 9110 §5.6.1 allows.
 */
typedef int (*list_element_fn)(struct http_head *head, const char *base, const char *p,
			       size_t n, void *arg);

static int for_each_list_element(struct http_head *head, const char *base, const char *v,
				 size_t n, list_element_fn fn, void *arg)
{
	size_t i = 0;

	while (i < n) {
		size_t start, end;
		int rc;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		rc = fn(head, base, v + start, end - start, arg);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int content_length_element(struct http_head *head, const char *base, const char *p,
				  size_t n, void *arg)
{
	int64_t value = 0;

	(void)base;
	(void)arg;
	if (n == 0 || n > 18)
		return -400;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -400;
		value = value * 10 + (p[i] - '0');
	}
	if (head->content_length >= 0 && head->content_length != value)
		return -400;
	head->content_length = value;
	return 0;
}

/* arg: int *codings seen so far; chunked must be last and only once. */
static int transfer_coding_element(struct http_head *head, const char *base, const char *p,
				   size_t n, void *arg)
{
	int *codings = arg;

	(void)base;
	/* Parameters (";q=...") on a transfer coding are not something we accept. */
	if (head->chunked)
		return -400;	/* something after chunked, or chunked twice */
	(*codings)++;
	if (mem_equals_lower(p, n, "chunked")) {
		head->chunked = true;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!http_is_tchar((unsigned char)p[i]))
			return -400;
	}
	return -501;
}

static int connection_element(struct http_head *head, const char *base, const char *p,
			      size_t n, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n; i++) {
		if (!http_is_tchar((unsigned char)p[i]))
			return -400;
	}
	if (mem_equals_lower(p, n, "close"))
		head->conn_close = true;
	else if (mem_equals_lower(p, n, "keep-alive"))
		head->conn_keep_alive = true;
	else if (mem_equals_lower(p, n, "upgrade"))
		head->conn_upgrade = true;
	else {
		if (head->connection_token_count >= HTTP_CONNECTION_TOKENS_MAX)
			return -400;
		head->connection_tokens[head->connection_token_count++] = span_of(base, p, n);
	}
	return 0;
}

static int upgrade_element(struct http_head *head, const char *base, const char *p, size_t n,
			   void *arg)
{
	(void)base;
	(void)arg;
	/* "websocket" or "websocket/13"-style product tokens. */
	if (n >= 9 && mem_equals_lower(p, 9, "websocket") && (n == 9 || p[9] == '/'))
		head->upgrade_websocket = true;
	return 0;
}

/* A Host value: reg-name, IPv4 or [IPv6], optional :port.  No userinfo. */
static bool host_value_valid(const char *v, size_t n)
{
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (strchr("-._~!$&'()*+,;=:[]%", c) && c != '\0')
			continue;
		return false;
	}
	return true;
}

/*
 * Parse the header lines of a head from buf+head->resume_pos, the first line
 * not yet taken.  Shared by requests and responses; `bad` is the status to
 * fail with for malformation (400 or 502).  Returns the head length, 0 for
 * more (head->resume_pos then says where to go on), or a negative status.
 */
static int parse_header_lines(const char *buf, size_t len, const struct http_limits *limits,
			      struct http_head *head, int bad)
{
	size_t pos = head->resume_pos;
	int te_codings = head->resume_te_codings;

	for (;;) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t line_len;
		const char *colon, *v, *vend;
		int rc = 0;

		if (!nl) {
			if (len - pos > limits->max_header_line_bytes + 1)
				return bad == 400 ? -431 : -bad;
			if (len > limits->max_header_bytes)
				return bad == 400 ? -431 : -bad;
			return 0;
		}
		if (nl == line || nl[-1] != '\r')
			return -bad;	/* bare LF */
		line_len = (size_t)(nl - line) - 1;
		if ((size_t)(nl - buf) + 1 > limits->max_header_bytes)
			return bad == 400 ? -431 : -bad;
		if (line_len == 0) {
			head->head_len = (size_t)(nl - buf) + 1;
			break;
		}
		if (line_len > limits->max_header_line_bytes)
			return bad == 400 ? -431 : -bad;
		if (line[0] == ' ' || line[0] == '\t')
			return -bad;	/* obs-fold */
		if (head->header_count >= limits->max_header_count ||
		    head->header_count >= HTTP_HEADER_COUNT_HARD_MAX)
			return bad == 400 ? -431 : -bad;

		colon = line;
		while (colon < line + line_len && http_is_tchar((unsigned char)*colon))
			colon++;
		if (colon == line || colon == line + line_len || *colon != ':')
			return -bad;	/* empty name, bad name char, or space before colon */
		v = colon + 1;
		vend = line + line_len;
		for (const char *q = v; q < vend; q++) {
			unsigned char c = (unsigned char)*q;

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -bad;	/* NUL, bare CR, other controls */
		}
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;

		struct http_header *h = &head->headers[head->header_count++];
		size_t name_len = (size_t)(colon - line);
		size_t value_len = (size_t)(vend - v);

		h->name = span_of(buf, line, name_len);
		h->value = span_of(buf, v, value_len);

		switch (name_len) {
		case 4:
			if (mem_equals_lower(line, 4, "host")) {
				head->host_count++;
				head->host = h->value;
				if (bad == 400 && !host_value_valid(v, value_len))
					return -400;
			}
			break;
		case 6:
			if (mem_equals_lower(line, 6, "expect"))
				head->expect_continue = mem_equals_lower(v, value_len, "100-continue");
			break;
		case 7:
			if (mem_equals_lower(line, 7, "upgrade"))
				rc = for_each_list_element(head, buf, v, value_len, upgrade_element, NULL);
			break;
		case 10:
			if (mem_equals_lower(line, 10, "connection"))
				rc = for_each_list_element(head, buf, v, value_len,
							   connection_element, NULL);
			break;
		case 12:
			if (mem_equals_lower(line, 12, "x-request-id")) {
				head->has_request_id = true;
				head->request_id = h->value;
			}
			break;
		case 14:
			if (mem_equals_lower(line, 14, "content-length")) {
				if (value_len == 0)
					return -bad;
				/* "5, 5" is one value repeated; "5, 6" is smuggling. */
				int64_t before = head->content_length;

				head->content_length = -1;
				rc = for_each_list_element(head, buf, v, value_len,
							   content_length_element, NULL);
				if (rc == 0 && before >= 0 && before != head->content_length)
					rc = -400;
			}
			break;
		case 17:
			if (mem_equals_lower(line, 17, "transfer-encoding")) {
				head->has_transfer_encoding = true;
				rc = for_each_list_element(head, buf, v, value_len,
							   transfer_coding_element, &te_codings);
				if (rc == 0 && te_codings == 0)
					rc = -400;	/* empty value */
			}
			break;
		}
		if (rc < 0)
			return bad == 400 ? rc : -bad;
		pos = (size_t)(nl - buf) + 1;
		head->resume_pos = pos;
		head->resume_te_codings = te_codings;
	}
	return (int)head->head_len;
}

static void head_reset(struct http_head *head)
{
	/* headers[] is left as is: header_count says how much of it is valid. */
	memset(head, 0, offsetof(struct http_head, headers));
	head->header_count = 0;
	head->content_length = -1;
	head->has_transfer_encoding = false;
	head->chunked = false;
	head->conn_close = false;
	head->conn_keep_alive = false;
	head->conn_upgrade = false;
	head->upgrade_websocket = false;
	head->expect_continue = false;
	head->host_count = 0;
	head->has_request_id = false;
	head->connection_token_count = 0;
}

static enum http_method method_of(const char *p, size_t n)
{
	switch (n) {
	case 3:
		if (memcmp(p, "GET", 3) == 0)
			return HTTP_METHOD_GET;
		if (memcmp(p, "PUT", 3) == 0)
			return HTTP_METHOD_PUT;
		break;
	case 4:
		if (memcmp(p, "HEAD", 4) == 0)
			return HTTP_METHOD_HEAD;
		if (memcmp(p, "POST", 4) == 0)
			return HTTP_METHOD_POST;
		break;
	case 5:
		if (memcmp(p, "TRACE", 5) == 0)
			return HTTP_METHOD_TRACE;
		if (memcmp(p, "PATCH", 5) == 0)
			return HTTP_METHOD_PATCH;
		break;
	case 6:
		if (memcmp(p, "DELETE", 6) == 0)
			return HTTP_METHOD_DELETE;
		break;
	case 7:
		if (memcmp(p, "OPTIONS", 7) == 0)
			return HTTP_METHOD_OPTIONS;
		if (memcmp(p, "CONNECT", 7) == 0)
			return HTTP_METHOD_CONNECT;
		break;
	}
	return HTTP_METHOD_OTHER;
}

bool http_method_idempotent(enum http_method method)
{
	switch (method) {
	case HTTP_METHOD_GET:
	case HTTP_METHOD_HEAD:
	case HTTP_METHOD_PUT:
	case HTTP_METHOD_DELETE:
	case HTTP_METHOD_OPTIONS:
	case HTTP_METHOD_TRACE:
		return true;
	default:
		return false;
	}
}

/* "HTTP/1.1" at p (8 bytes available)?  Returns minor, -400 or -505. */
static int parse_version(const char *p, size_t n, int bad)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
	    p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return -bad;
	if (p[5] != '1')
		return bad == 400 ? -505 : -bad;
	if (p[7] != '0' && p[7] != '1')
		return bad == 400 ? -505 : -bad;	/* HTTP/1.2+ is not a thing */
	return p[7] - '0';
}

static int classify_target(const char *buf, struct http_head *head)
{
	const char *t = buf + head->target.off;
	size_t n = head->target.len;

	if (t[0] == '/') {
		head->target_form = HTTP_TARGET_ORIGIN;
		return 0;
	}
	if (n == 1 && t[0] == '*') {
		head->target_form = HTTP_TARGET_ASTERISK;
		return 0;
	}
	size_t scheme = 0;

	if (n > 7 && mem_equals_lower(t, 7, "http://"))
		scheme = 7;
	else if (n > 8 && mem_equals_lower(t, 8, "https://"))
		scheme = 8;
	if (scheme) {
		const char *a = t + scheme, *end = t + n, *slash = a;

		while (slash < end && *slash != '/' && *slash != '?')
			slash++;
		if (slash == a)
			return -400;
		for (const char *q = a; q < slash; q++) {
			if (*q == '@')
				return -400;	/* userinfo: refused, RFC 9110 §4.2.4 */
		}
		if (!host_value_valid(a, (size_t)(slash - a)))
			return -400;
		head->target_form = HTTP_TARGET_ABSOLUTE;
		head->authority = span_of(buf, a, (size_t)(slash - a));
		head->path = span_of(buf, slash, (size_t)(end - slash));
		return 0;
	}
	if (head->method == HTTP_METHOD_CONNECT) {
		head->target_form = HTTP_TARGET_AUTHORITY;
		return 0;
	}
	return -400;
}

/*
 * The request line, after any empty lines.  Returns 1 with the line taken
 * (head->resume_pos is past it), 0 for more, or a negative status.
 */
static int parse_request_line(const char *buf, size_t len, const struct http_limits *limits,
			      struct http_head *head)
{
	size_t pos = 0;
	const char *line, *nl, *sp1, *sp2, *end;
	int minor, rc;

	/* Skip (a bounded number of) empty lines before the request line. */
	while (pos + 1 < len && buf[pos] == '\r' && buf[pos + 1] == '\n') {
		pos += 2;
		if (pos > 64)
			return -400;
	}
	if (pos < len && buf[pos] == '\n')
		return -400;
	line = buf + pos;
	nl = memchr(line, '\n', len - pos);
	if (!nl) {
		if (len - pos > limits->max_uri_bytes + 64)
			return -414;
		if (len > limits->max_header_bytes)
			return -431;
		/* A request line cannot start with a non-token byte: fail early
		 * (but a lone CR may begin one more empty line, whose LF is due). */
		if (len > pos && !http_is_tchar((unsigned char)line[0]) &&
		    !(line[0] == '\r' && len - pos == 1))
			return -400;
		return 0;
	}
	if (nl == line || nl[-1] != '\r')
		return -400;
	end = nl - 1;
	for (const char *q = line; q < end; q++) {
		unsigned char c = (unsigned char)*q;

		if (c < 0x20 || c == 0x7f)
			return -400;
	}
	sp1 = memchr(line, ' ', (size_t)(end - line));
	if (!sp1 || sp1 == line || sp1 - line > 32)
		return -400;
	for (const char *q = line; q < sp1; q++) {
		if (!http_is_tchar((unsigned char)*q))
			return -400;
	}
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return -400;
	if ((size_t)(sp2 - sp1 - 1) > limits->max_uri_bytes)
		return -414;
	minor = parse_version(sp2 + 1, (size_t)(end - sp2 - 1), 400);
	if (minor < 0)
		return minor;
	head->method_name = span_of(buf, line, (size_t)(sp1 - line));
	head->method = method_of(line, (size_t)(sp1 - line));
	head->target = span_of(buf, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	head->version_minor = minor;
	for (const char *q = sp1 + 1; q < sp2; q++) {
		if ((unsigned char)*q >= 0x80)
			return -400;	/* targets are ASCII; non-ASCII must be %-encoded */
	}
	rc = classify_target(buf, head);
	if (rc < 0)
		return rc;
	if ((size_t)(nl - buf) + 1 > limits->max_header_bytes)
		return -431;
	head->resume_pos = (size_t)(nl - buf) + 1;
	return 1;
}

/* The framing rules of a whole request head, RFC 9112 §6.1 and §6.3. */
static int check_request_framing(const struct http_head *head)
{
	if (head->has_transfer_encoding) {
		if (head->version_minor == 0)
			return -400;
		if (!head->chunked)
			return -501;
		if (head->content_length >= 0)
			return -400;
	}
	if (head->version_minor == 1 && head->host_count == 0)
		return -400;
	if (head->host_count > 1)
		return -400;
	return (int)head->head_len;
}

typedef int (*start_line_parser)(const char *buf, size_t len, const struct http_limits *limits,
				 struct http_head *head);

/*
 * A head from where the last call left it: the start line first when no
 * line was taken yet, then the header lines.  `bad` is 400 for a request
 * (whose framing is checked once the head is whole) and 502 for a response.
 */
static int parse_head(const char *buf, size_t len, const struct http_limits *limits,
		      struct http_head *head, start_line_parser start_line, int bad)
{
	int rc;

	if (head->resume_pos == 0) {
		head_reset(head);
		rc = start_line(buf, len, limits, head);
		if (rc <= 0)
			return rc;
	}
	rc = parse_header_lines(buf, len, limits, head, bad);
	if (rc > 0 && bad == 400)
		rc = check_request_framing(head);
	if (rc != 0)
		head->resume_pos = 0;	/* the next call starts a new head */
	return rc;
}

int http_parse_request_head_resume(const char *buf, size_t len, const struct http_limits *limits,
				   struct http_head *head)
{
	return parse_head(buf, len, limits, head, parse_request_line, 400);
}

int http_parse_request_head(const char *buf, size_t len, const struct http_limits *limits,
			    struct http_head *head)
{
	head->resume_pos = 0;
	return http_parse_request_head_resume(buf, len, limits, head);
}

/*
 * The status line.  Returns 1 with the line taken (head->resume_pos is past
 * it), 0 for more, or -502.
 */
static int parse_status_line(const char *buf, size_t len, const struct http_limits *limits,
			     struct http_head *head)
{
	const char *nl, *end;
	int minor;

	/* The status line is held to the header-line limits whether or not its
	 * end has arrived, so the answer never depends on how bytes were split. */
	nl = memchr(buf, '\n', len);
	if (!nl) {
		if (len > limits->max_header_line_bytes + 1 || len > limits->max_header_bytes)
			return -502;
		return 0;
	}
	if (nl == buf || nl[-1] != '\r')
		return -502;
	end = nl - 1;
	if ((size_t)(end - buf) > limits->max_header_line_bytes ||
	    (size_t)(nl - buf) + 1 > limits->max_header_bytes)
		return -502;
	if (end - buf < 12)
		return -502;
	minor = parse_version(buf, 8, 502);
	if (minor < 0 || buf[8] != ' ')
		return -502;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -502;
	}
	head->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (head->status < 100)
		return -502;
	if (end - buf > 12) {
		if (buf[12] != ' ')
			return -502;
		for (const char *q = buf + 13; q < end; q++) {
			unsigned char c = (unsigned char)*q;

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -502;
		}
		head->reason = span_of(buf, buf + 13, (size_t)(end - buf - 13));
	}
	head->version_minor = minor;
	head->resume_pos = (size_t)(nl - buf) + 1;
	return 1;
}

int http_parse_response_head_resume(const char *buf, size_t len,
				    const struct http_limits *limits, struct http_head *head)
{
	return parse_head(buf, len, limits, head, parse_status_line, 502);
}

int http_parse_response_head(const char *buf, size_t len, const struct http_limits *limits,
			     struct http_head *head)
{
	head->resume_pos = 0;
	return http_parse_response_head_resume(buf, len, limits, head);
}

const char *http_status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

/* ---- chunked ---------------------------------------------------------- */

void http_chunk_decoder_init(struct http_chunk_decoder *dec, uint64_t max_total,
			     size_t max_ext_bytes, size_t max_trailer_bytes)
{
	memset(dec, 0, sizeof(*dec));
	dec->state = CHUNK_SIZE_START;
	dec->max_total = max_total;
	dec->max_ext_bytes = max_ext_bytes;
	dec->max_trailer_bytes = max_trailer_bytes;
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int http_chunk_decode_framing(struct http_chunk_decoder *dec, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && dec->state != CHUNK_DATA && dec->state != CHUNK_DONE) {
		unsigned char c = (unsigned char)buf[i++];
		int hv;

		switch (dec->state) {
		case CHUNK_SIZE_START:
			hv = hex_value(c);
			if (hv < 0)
				return -400;
			dec->size = (uint64_t)hv;
			dec->size_digits = 1;
			dec->ext_bytes = 0;
			dec->state = CHUNK_SIZE;
			break;
		case CHUNK_SIZE:
			hv = hex_value(c);
			if (hv >= 0) {
				/* 15 hex digits: < 2^60, no overflow in total either. */
				if (++dec->size_digits > 15)
					return -400;
				dec->size = dec->size * 16 + (uint64_t)hv;
			} else if (c == ';') {
				dec->state = CHUNK_EXT;
			} else if (c == ' ' || c == '\t') {
				dec->state = CHUNK_SIZE_WS;
			} else if (c == '\r') {
				dec->state = CHUNK_SIZE_LF;
			} else {
				return -400;
			}
			break;
		case CHUNK_SIZE_WS:
			if (++dec->ext_bytes > dec->max_ext_bytes)
				return -400;
			if (c == ';')
				dec->state = CHUNK_EXT;
			else if (c != ' ' && c != '\t')
				return -400;
			break;
		case CHUNK_EXT:
			if (++dec->ext_bytes > dec->max_ext_bytes)
				return -400;
			if (c == '\r')
				dec->state = CHUNK_SIZE_LF;
			else if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -400;
			break;
		case CHUNK_SIZE_LF:
			if (c != '\n')
				return -400;
			if (dec->size == 0) {
				dec->state = CHUNK_TRAILER_START;
				break;
			}
			dec->total += dec->size;
			if (dec->total > dec->max_total)
				return -413;
			dec->remaining = dec->size;
			dec->state = CHUNK_DATA;
			break;
		case CHUNK_DATA_CR:
			if (c != '\r')
				return -400;
			dec->state = CHUNK_DATA_LF;
			break;
		case CHUNK_DATA_LF:
			if (c != '\n')
				return -400;
			dec->state = CHUNK_SIZE_START;
			break;
		case CHUNK_TRAILER_START:
			if (c == '\r') {
				dec->state = CHUNK_FINAL_LF;
				break;
			}
			if (!http_is_tchar(c))
				return -400;	/* obs-fold or garbage */
			if (++dec->trailer_bytes > dec->max_trailer_bytes)
				return -400;
			dec->state = CHUNK_TRAILER_LINE;
			break;
		case CHUNK_TRAILER_LINE:
			if (++dec->trailer_bytes > dec->max_trailer_bytes)
				return -400;
			if (c == '\r')
				dec->state = CHUNK_TRAILER_LF;
			else if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -400;
			break;
		case CHUNK_TRAILER_LF:
			if (c != '\n')
				return -400;
			dec->state = CHUNK_TRAILER_START;
			break;
		case CHUNK_FINAL_LF:
			if (c != '\n')
				return -400;
			dec->state = CHUNK_DONE;
			break;
		case CHUNK_DATA:
		case CHUNK_DONE:
			break;
		}
	}
	return (int)i;
}

void http_chunk_data_consumed(struct http_chunk_decoder *dec, uint64_t n)
{
	dec->remaining -= n;
	if (dec->remaining == 0)
		dec->state = CHUNK_DATA_CR;
}

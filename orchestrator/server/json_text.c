/* json_text.c - JSON appended to a buffer (json_text.h). */
#include "json_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct json_text *jt, size_t more)
{
	size_t cap;
	char *grown;

	if (jt->failed)
		return false;
	if (jt->len + more + 1 <= jt->cap)
		return true;
	cap = jt->cap ? jt->cap : 1024;
	while (cap < jt->len + more + 1)
		cap *= 2;
	grown = realloc(jt->buf, cap);
	if (!grown) {
		jt->failed = true;
		return false;
	}
	jt->buf = grown;
	jt->cap = cap;
	return true;
}

void json_text_raw(struct json_text *jt, const char *s, size_t n)
{
	if (!reserve(jt, n))
		return;
	memcpy(jt->buf + jt->len, s, n);
	jt->len += n;
	jt->buf[jt->len] = '\0';
}

/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t utf8_sequence(const unsigned char *p)
{
	unsigned char c = p[0];

	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
		       (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

void json_text_string(struct json_text *jt, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t run, n;

	if (!s) {
		json_text_lit(jt, "null");
		return;
	}
	json_text_lit(jt, "\"");
	while (*p) {
		/* Copy the longest stretch of ASCII that needs no escape in one go. */
		for (run = 0; p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\'; run++)
			;
		json_text_raw(jt, (const char *)p, run);
		p += run;
		if (!*p)
			break;
		if (*p >= 0x80) {
			/* Whole characters as they are; a broken one (a text cut in
			 * the middle of a character) becomes U+FFFD. */
			n = utf8_sequence(p);
			if (n) {
				json_text_raw(jt, (const char *)p, n);
				p += n;
			} else {
				json_text_lit(jt, "\\ufffd");
				p++;
			}
			continue;
		}
		switch (*p) {
		case '"': json_text_lit(jt, "\\\""); break;
		case '\\': json_text_lit(jt, "\\\\"); break;
		case '\b': json_text_lit(jt, "\\b"); break;
		case '\f': json_text_lit(jt, "\\f"); break;
		case '\n': json_text_lit(jt, "\\n"); break;
		case '\r': json_text_lit(jt, "\\r"); break;
		case '\t': json_text_lit(jt, "\\t"); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 0xf] };

			json_text_raw(jt, u, sizeof(u));
		}
		}
		p++;
	}
	json_text_lit(jt, "\"");
}

void json_text_int(struct json_text *jt, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	json_text_raw(jt, num, (size_t)n);
}

void json_text_real(struct json_text *jt, double v)
{
	char num[40];
	int n;

	if (!isfinite(v)) {
		json_text_lit(jt, "null");	/* JSON has no NaN or infinity */
		return;
	}
	n = snprintf(num, sizeof(num), "%.13g", v);
	json_text_raw(jt, num, (size_t)n);
	/* Still a real when read back, as jansson writes it. */
	if (!strpbrk(num, ".eE"))
		json_text_lit(jt, ".0");
}

void json_text_bool(struct json_text *jt, bool v)
{
	if (v)
		json_text_lit(jt, "true");
	else
		json_text_lit(jt, "false");
}

char *json_text_take(struct json_text *jt)
{
	char *text = jt->failed ? NULL : jt->buf;

	if (jt->failed)
		free(jt->buf);
	else if (!text)
		text = calloc(1, 1);
	*jt = (struct json_text)JSON_TEXT_INIT;
	return text;
}

void json_text_release(struct json_text *jt)
{
	free(jt->buf);
	*jt = (struct json_text)JSON_TEXT_INIT;
}

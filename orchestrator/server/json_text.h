/*
 * json_text.h - JSON written straight into one growing buffer.
 *
 * For the API's hottest answers (tasks: RunTask, DescribeTasks, ListTasks,
 * StopTask), building a jansson tree only to dump it costs more than the
 * work of the request: an allocation per value and a UTF-8 walk per string.
 * These calls append text instead; the caller writes the punctuation
 * (`{"a":`, `,`) as literals and values through the typed calls, which
 * quote and escape.  A string's bytes that are not well-formed UTF-8 (say,
 * a reason cut to a buffer's size in the middle of a character) are
 * written as U+FFFD, so the text is always valid JSON; JSON texts the
 * server stored itself (a task's containers) can be spliced in with
 * json_text_raw.
 *
 * An allocation failure is remembered and reported by json_text_take.
 */
#ifndef ORCH_JSON_TEXT_H
#define ORCH_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_text {
	char *buf;
	size_t len, cap;
	bool failed;
};

#define JSON_TEXT_INIT { NULL, 0, 0, false }

void json_text_raw(struct json_text *jt, const char *s, size_t n);
/* s must be a string literal (the "" pasting refuses anything else). */
#define json_text_lit(jt, s) json_text_raw((jt), "" s "", sizeof(s) - 1)
/* A quoted, escaped string; NULL writes null. */
void json_text_string(struct json_text *jt, const char *s);
void json_text_int(struct json_text *jt, int64_t v);
/* A number as the API's jansson answers print it (13 significant digits). */
void json_text_real(struct json_text *jt, double v);
void json_text_bool(struct json_text *jt, bool v);

/* The NUL-terminated text (caller frees), or NULL if memory ran out; jt is reset. */
char *json_text_take(struct json_text *jt);
void json_text_release(struct json_text *jt);

#endif

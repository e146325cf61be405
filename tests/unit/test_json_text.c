/*
 * test_json_text.c - unit tests of the JSON text writer: every string it
 * writes must parse back (with jansson) to the bytes it was given, numbers
 * must read back as the same values, and running out of memory must be
 * reported rather than produce half a document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/json_text.h"

/* Writes s as a string, parses the text back and compares. */
static void round_trip_string(const char *s)
{
	struct json_text jt = JSON_TEXT_INIT;
	json_error_t error;
	char *text;
	json_t *v;

	json_text_lit(&jt, "[");
	json_text_string(&jt, s);
	json_text_lit(&jt, "]");
	text = json_text_take(&jt);
	assert_non_null(text);
	v = json_loads(text, 0, &error);
	if (!v)
		fail_msg("'%s' does not parse: %s", text, error.text);
	assert_true(json_is_string(json_array_get(v, 0)));
	assert_string_equal(json_string_value(json_array_get(v, 0)), s);
	json_decref(v);
	free(text);
}

static void test_strings_round_trip(void **state)
{
	char controls[32];

	(void)state;
	round_trip_string("");
	round_trip_string("plain");
	round_trip_string("quote \" backslash \\ slash /");
	round_trip_string("tab\tnewline\nreturn\rformfeed\fbackspace\b");
	round_trip_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3");	/* UTF-8 kept as is */
	round_trip_string("\"\"\\\\");
	for (int i = 1; i < 32; i++)
		controls[i - 1] = (char)i;
	controls[31] = '\0';
	round_trip_string(controls);
	round_trip_string("\x7f del is not escaped");
}

static void test_escapes_are_exact(void **state)
{
	struct json_text jt = JSON_TEXT_INIT;
	char *text;

	(void)state;
	json_text_string(&jt, "a\"b\\c\x01\n");
	json_text_string(&jt, NULL);
	text = json_text_take(&jt);
	assert_string_equal(text, "\"a\\\"b\\\\c\\u0001\\n\"null");
	free(text);
}

/* Writes s and returns what a JSON parser reads back (caller frees). */
static char *written_back(const char *s)
{
	struct json_text jt = JSON_TEXT_INIT;
	char *text, *out;
	json_t *v;

	json_text_lit(&jt, "[");
	json_text_string(&jt, s);
	json_text_lit(&jt, "]");
	text = json_text_take(&jt);
	v = json_loads(text, 0, NULL);
	if (!v)
		fail_msg("'%s' is not valid JSON", text);
	out = strdup(json_string_value(json_array_get(v, 0)));
	json_decref(v);
	free(text);
	return out;
}

static void test_broken_utf8_becomes_replacement_characters(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "cut \xc3", "cut \xef\xbf\xbd" },				/* half a character */
		{ "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd" },		/* two lone bytes */
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },		/* overlong '/' */
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },	/* surrogate */
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },	/* > U+10FFFF */
		{ "\xff", "\xef\xbf\xbd" },
		{ "ok \xc3\xa9 \xf0\x9f\x90\xb3 \xc3", "ok \xc3\xa9 \xf0\x9f\x90\xb3 \xef\xbf\xbd" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *back = written_back(cases[i].in);

		assert_string_equal(back, cases[i].out);
		free(back);
	}
}

static void test_numbers(void **state)
{
	struct json_text jt = JSON_TEXT_INIT;
	json_t *v;
	char *text;

	(void)state;
	json_text_lit(&jt, "[");
	json_text_int(&jt, INT64_MIN);
	json_text_lit(&jt, ",");
	json_text_int(&jt, INT64_MAX);
	json_text_lit(&jt, ",");
	json_text_real(&jt, 1795833035.587);
	json_text_lit(&jt, ",");
	json_text_real(&jt, 3.0);
	json_text_lit(&jt, ",");
	json_text_real(&jt, 1e300);
	json_text_lit(&jt, ",");
	json_text_real(&jt, NAN);
	json_text_lit(&jt, ",");
	json_text_bool(&jt, true);
	json_text_lit(&jt, ",");
	json_text_bool(&jt, false);
	json_text_lit(&jt, "]");
	text = json_text_take(&jt);
	v = json_loads(text, 0, NULL);
	assert_non_null(v);
	assert_int_equal(json_integer_value(json_array_get(v, 0)), INT64_MIN);
	assert_int_equal(json_integer_value(json_array_get(v, 1)), INT64_MAX);
	/* Millisecond timestamps keep their milliseconds. */
	assert_true(json_is_real(json_array_get(v, 2)));
	assert_true(json_real_value(json_array_get(v, 2)) == 1795833035.587);
	/* A whole real stays a real. */
	assert_true(json_is_real(json_array_get(v, 3)));
	assert_true(json_real_value(json_array_get(v, 4)) == 1e300);
	assert_true(json_is_null(json_array_get(v, 5)));
	assert_true(json_is_true(json_array_get(v, 6)));
	assert_true(json_is_false(json_array_get(v, 7)));
	json_decref(v);
	free(text);
}

static void test_large_and_empty(void **state)
{
	struct json_text jt = JSON_TEXT_INIT;
	char *big = malloc(100001), *text;
	json_t *v;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	for (int i = 0; i < 1000; i += 97)
		big[i] = '"';
	round_trip_string(big);
	free(big);
	/* Nothing written: an empty text, not NULL. */
	text = json_text_take(&jt);
	assert_non_null(text);
	assert_string_equal(text, "");
	free(text);
	/* Many small appends grow the buffer correctly. */
	json_text_lit(&jt, "[");
	for (int i = 0; i < 20000; i++) {
		if (i)
			json_text_lit(&jt, ",");
		json_text_int(&jt, i);
	}
	json_text_lit(&jt, "]");
	text = json_text_take(&jt);
	v = json_loads(text, 0, NULL);
	assert_int_equal(json_array_size(v), 20000);
	assert_int_equal(json_integer_value(json_array_get(v, 19999)), 19999);
	json_decref(v);
	free(text);
}

static void test_failure_is_reported(void **state)
{
	struct json_text jt = JSON_TEXT_INIT;

	(void)state;
	json_text_lit(&jt, "{\"a\":");
	jt.failed = true;	/* as after a failed realloc */
	json_text_string(&jt, "more");
	assert_null(json_text_take(&jt));
	/* The writer is reset and usable again. */
	json_text_lit(&jt, "1");
	{
		char *text = json_text_take(&jt);

		assert_string_equal(text, "1");
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_round_trip),
		cmocka_unit_test(test_escapes_are_exact),
		cmocka_unit_test(test_broken_utf8_becomes_replacement_characters),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_large_and_empty),
		cmocka_unit_test(test_failure_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

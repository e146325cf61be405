/*
 * fuzz_input.h - what the libFuzzer targets of tests/fuzz/ share: the input
 * as a C string, and a check that stops the run when a parser breaks a
 * promise its header makes (a finding, like a sanitizer report).
 */
#ifndef ORCH_FUZZ_INPUT_H
#define ORCH_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input as a NEW NUL-terminated string (free() it): the parsers that
 * take a C string see everything up to the first NUL, as they would from a
 * JSON string or a command line. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Abort (libFuzzer saves the input as crash-*) when cond is false. */
#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, \
				#cond);                                               \
			abort();                                                      \
		}                                                                     \
	} while (0)

#endif

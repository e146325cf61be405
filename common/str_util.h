/*
 * str_util.h - small helpers for owned, nullable C strings.
 */
#ifndef ORCH_COMMON_STR_UTIL_H
#define ORCH_COMMON_STR_UTIL_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * Replaces the string *field owns with a copy of value (NULL clears it).
 * Returns -1, leaving *field as it was, when the copy cannot be made.
 */
static inline int str_set_copy(char **field, const char *value)
{
	char *copy = value ? strdup(value) : NULL;

	if (value && !copy)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* Whether two nullable strings differ (NULL equals only NULL). */
static inline bool str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* Whether s is one of the n strings of list. */
static inline bool str_in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

#endif

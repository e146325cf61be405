/* cli_output.c - tables and JSON on stdout.  See cli_output.h. */
#include "cli_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_table_row(struct cli_table *t, const char *const *values)
{
	char **grown = realloc(t->cells, sizeof(char *) * (size_t)(t->rows + 1) * (size_t)t->columns);

	if (!grown)
		return;
	t->cells = grown;
	for (int c = 0; c < t->columns; c++) {
		char *v = strdup(values[c] ? values[c] : "-");
		size_t len = v ? strlen(v) : 0;

		t->cells[t->rows * t->columns + c] = v;
		if (len > t->width[c])
			t->width[c] = len;
	}
	t->rows++;
}

void cli_table_print_release(struct cli_table *t)
{
	for (int r = 0; r < t->rows; r++)
		for (int c = 0; c < t->columns; c++) {
			const char *v = t->cells[r * t->columns + c];

			if (c == t->columns - 1)
				printf("%s\n", v ? v : "");
			else
				printf("%-*s  ", (int)t->width[c], v ? v : "");
		}
	for (int i = 0; i < t->rows * t->columns; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->rows = 0;
}

void cli_print_json(json_t *value)
{
	json_dumpf(value, stdout, JSON_INDENT(2));
	putchar('\n');
}

void cli_print_list_json(json_t *items, const char *items_key, const char *arns_key,
			 const char *arn_field)
{
	json_t *arns = json_array(), *item, *out;
	size_t i;

	json_array_foreach(items, i, item)
		json_array_append(arns, json_object_get(item, arn_field));
	out = json_pack("{s:o, s:O}", arns_key, arns, items_key, items);
	cli_print_json(out);
	json_decref(out);
}

const char *cli_str(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "-";
}

void cli_format_int(char *buf, size_t size, json_t *v)
{
	if (json_is_integer(v))
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v))
		snprintf(buf, size, "%s", json_string_value(v));
	else
		snprintf(buf, size, "-");
}

const char *cli_arn_id(const char *arn)
{
	const char *slash = arn ? strrchr(arn, '/') : NULL;

	return slash ? slash + 1 : arn;
}

/* cli_output.c - tables and JSON on stdout; placement flags as JSON.  See cli_output.h. */
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

int cli_flag_list_add(const char **list, int *count, int max, const char *value,
		      const char *noun, const char *flag)
{
	if (*count >= max) {
		fprintf(stderr, "orch %s: at most %d %s\n", noun, max, flag);
		return -1;
	}
	list[(*count)++] = value;
	return 0;
}

json_t *cli_placement_constraint(const char *text, orch_error *err)
{
	if (strcmp(text, "distinctInstance") == 0)
		return json_pack("{s:s}", "type", "distinctInstance");
	if (strncmp(text, "memberOf:", 9) == 0 && text[9])
		return json_pack("{s:s, s:s}", "type", "memberOf", "expression", text + 9);
	orch_fail(err, ORCH_ERR_INVALID,
		  "--constraint '%s': expected distinctInstance or memberOf:EXPRESSION", text);
	return NULL;
}

json_t *cli_placement_strategy(const char *text, orch_error *err)
{
	const char *colon = strchr(text, ':');
	size_t type_len = colon ? (size_t)(colon - text) : strlen(text);

	if (type_len == 6 && strncmp(text, "random", 6) == 0 && !colon)
		return json_pack("{s:s}", "type", "random");
	if (colon && colon[1] && ((type_len == 7 && strncmp(text, "binpack", 7) == 0) ||
				  (type_len == 6 && strncmp(text, "spread", 6) == 0)))
		return json_pack("{s:s%, s:s}", "type", text, type_len, "field", colon + 1);
	orch_fail(err, ORCH_ERR_INVALID,
		  "--strategy '%s': expected binpack:cpu|memory, spread:FIELD or random", text);
	return NULL;
}

int cli_set_placement(json_t *body, const char *key, const char *const *items, int count,
		      json_t *(*convert)(const char *text, orch_error *err), orch_error *err)
{
	json_t *list;

	if (count == 0)
		return 0;
	list = json_array();
	json_object_set_new(body, key, list);
	for (int i = 0; i < count; i++) {
		json_t *v = convert(items[i], err);

		if (!v)
			return -1;
		json_array_append_new(list, v);
	}
	return 0;
}

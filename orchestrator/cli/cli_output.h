/*
 * cli_output.h - how the client verbs print: aligned tables for people,
 * the API's JSON (indented) with --json, and the small conversions of JSON
 * values to table cells.
 */
#ifndef ORCH_CLI_OUTPUT_H
#define ORCH_CLI_OUTPUT_H

#include <stddef.h>

#include <jansson.h>

#define CLI_TABLE_MAX_COLUMNS 8

/* Set columns, add rows (the first is the header), print once. */
struct cli_table {
	int columns;
	size_t width[CLI_TABLE_MAX_COLUMNS];
	char **cells;
	int rows;
};

/* Copies values[0..columns); a NULL value is shown as "-". */
void cli_table_row(struct cli_table *t, const char *const *values);
/* Prints the rows, columns padded to their widest cell, and frees them. */
void cli_table_print_release(struct cli_table *t);

void cli_print_json(json_t *value);
/*
 * A list verb's --json: {"<arns_key>": [each item's arn_field], "<items_key>":
 * items}, the shape of ECS's List* answers.  items stays the caller's.
 */
void cli_print_list_json(json_t *items, const char *items_key, const char *arns_key,
			 const char *arn_field);
const char *cli_str(json_t *v);		/* the string, or "-" */
/* An integer or a string (ECS's "cpu": "256") into buf, else "-". */
void cli_format_int(char *buf, size_t size, json_t *v);
/* The part after the last '/' of an ARN (the ID), or the string itself. */
const char *cli_arn_id(const char *arn);

#endif

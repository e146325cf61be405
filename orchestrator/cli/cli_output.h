/*
 * cli_output.h - how the client verbs print: aligned tables for people,
 * the API's JSON (indented) with --json, and the small conversions of JSON
 * values to table cells; and the other way, the flag values several nouns
 * share (placement) turned into request JSON.
 */
#ifndef ORCH_CLI_OUTPUT_H
#define ORCH_CLI_OUTPUT_H

#include <stddef.h>

#include <jansson.h>

#include "common/error.h"

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


/*
 * Appends a repeatable flag's value to list, which holds max.  When it is
 * full: -1 after saying so on stderr as "orch NOUN: at most MAX FLAG" (a
 * usage error, for a noun's option()).
 */
int cli_flag_list_add(const char **list, int *count, int max, const char *value,
		      const char *noun, const char *flag);

/*
 * The placement flags of `orch task run` and `orch service create|update`:
 * cli_placement_constraint turns 'distinctInstance' or 'memberOf:EXPR' into
 * an ECS placementConstraint, cli_placement_strategy 'binpack:FIELD',
 * 'spread:FIELD' or 'random' into a placementStrategy; NULL with err set
 * for any other text.  cli_set_placement sets body[key] to the array of
 * items converted by one of them (nothing when count is 0) and answers -1
 * with err at the first one refused.
 */
json_t *cli_placement_constraint(const char *text, orch_error *err);
json_t *cli_placement_strategy(const char *text, orch_error *err);
int cli_set_placement(json_t *body, const char *key, const char *const *items, int count,
		      json_t *(*convert)(const char *text, orch_error *err), orch_error *err);

#endif

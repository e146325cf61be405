/*
 * scheduler_expr.h - the memberOf expression language (ECS's cluster query
 * language, the part that selects nodes).
 *
 *   expr    := or
 *   or      := and   (("or"  | "||") and)*
 *   and     := unary (("and" | "&&") unary)*
 *   unary   := ("not" | "!") unary | "(" expr ")" | compare
 *   compare := subject op [argument]
 *   subject := attribute:NAME | task:group
 *   op      := == equals  != not_equals  > greater_than  >= greater_than_equal
 *              < less_than  <= less_than_equal  exists  !exists not_exists
 *              in  !in not_in "not in"  =~ matches  !~ not_matches
 *   argument:= VALUE | "quoted value" | [v1, v2, ...] | (v1, v2, ...)
 *
 * Attribute names ecs.os-type, ecs.cpu-architecture and ecs.availability-zone
 * are aliases of our nodes' os, arch and zone; arch values x86_64 and aarch64
 * are read as amd64 and arm64 (on both sides).  =~ is a POSIX extended
 * regular expression matched against the whole value (ECS documents Java's
 * regex; the common patterns such as "t2.*" mean the same).  Patterns that
 * glibc's regcomp cannot compile in bounded time and memory are refused
 * first: more than SEXPR_MAX_PATTERN_COST atoms once repetitions are spelled
 * out ("x{1,300}", "s+++++++++"), or a part that can match nothing repeated
 * with + or {n,m} ("(a*b*)+", "s?+").  Ordering
 * operators compare numerically when both sides are numbers, else as strings.
 * A node without the attribute: ==, in, =~, exists and the orderings are
 * false; !=, !in, !~ and !exists are true.
 *
 * This module only parses; scheduler_search.c resolves names and evaluates.
 */
#ifndef ORCH_SCHEDULER_EXPR_H
#define ORCH_SCHEDULER_EXPR_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SEXPR_MAX_LENGTH 2000	/* ECS's limit on an expression */
#define SEXPR_MAX_DEPTH 32	/* parentheses and not/and/or nesting */
#define SEXPR_MAX_ARGS 100	/* values in one in (...) list */
/* Atoms a =~ pattern may expand to: glibc's regcomp spells out repetitions
 * ("x{1,256}" is 256 copies, "x+" two), so nested ones grow exponentially,
 * and its compile time grows with the square of the atoms. */
#define SEXPR_MAX_PATTERN_COST 256

enum sexpr_kind { SEXPR_AND, SEXPR_OR, SEXPR_NOT, SEXPR_CMP };
enum sexpr_subject { SEXPR_ATTRIBUTE, SEXPR_TASK_GROUP };
enum sexpr_op {
	SEXPR_EQ, SEXPR_NE, SEXPR_GT, SEXPR_GE, SEXPR_LT, SEXPR_LE,
	SEXPR_EXISTS, SEXPR_NOT_EXISTS, SEXPR_IN, SEXPR_NOT_IN,
	SEXPR_MATCHES, SEXPR_NOT_MATCHES,
};

struct sexpr {
	enum sexpr_kind kind;
	struct sexpr *left, *right;	/* AND, OR: both; NOT: left */
	/* SEXPR_CMP */
	enum sexpr_subject subject;
	enum sexpr_op op;
	char *name;			/* canonical attribute name (aliases resolved) */
	char **args;			/* arch values canonical */
	size_t arg_count;
	regex_t regex;			/* MATCHES, NOT_MATCHES */
	bool regex_compiled;
	/* filled by the evaluator (scheduler_search.c) */
	uint32_t name_id;
	uint32_t *arg_ids;
	void **arg_refs;
};

/*
 * Parses text into a tree the caller frees with sexpr_free().  On a syntax
 * error returns NULL with a message such as "unknown operator '~='" or
 * "expected a value after '==' at end of expression" (the caller prefixes
 * the field name).
 */
struct sexpr *sexpr_parse(const char *text, orch_error *err);
void sexpr_free(struct sexpr *e);

/* Canonical name of an attribute ("ecs.cpu-architecture" -> "arch"). */
const char *sexpr_attribute_alias(const char *name);
/* Canonical value of attribute name (arch: "x86_64" -> "amd64"). */
const char *sexpr_value_alias(const char *name, const char *value);

#endif

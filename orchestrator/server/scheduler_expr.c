/*
 * scheduler_expr.c - parser of memberOf expressions (see scheduler_expr.h).
 *
 * A recursive-descent parser over the text; each error names what was
 * expected and where, so the API can hand it to the user unchanged.
 */
#include "scheduler_expr.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

struct parser {
	const char *text;
	const char *p;
	orch_error *err;
};

static const struct {
	const char *ecs;
	const char *ours;
} attribute_aliases[] = {
	{ "ecs.os-type", "os" },
	{ "ecs.cpu-architecture", "arch" },
	{ "ecs.availability-zone", "zone" },
};

const char *sexpr_attribute_alias(const char *name)
{
	for (size_t i = 0; i < sizeof(attribute_aliases) / sizeof(attribute_aliases[0]); i++)
		if (strcmp(name, attribute_aliases[i].ecs) == 0)
			return attribute_aliases[i].ours;
	return name;
}

const char *sexpr_value_alias(const char *name, const char *value)
{
	if (strcmp(name, "arch") != 0)
		return value;
	if (strcmp(value, "x86_64") == 0)
		return "amd64";
	if (strcmp(value, "aarch64") == 0)
		return "arm64";
	return value;
}

void sexpr_free(struct sexpr *e)
{
	if (!e)
		return;
	sexpr_free(e->left);
	sexpr_free(e->right);
	free(e->name);
	for (size_t i = 0; i < e->arg_count; i++)
		free(e->args[i]);
	free(e->args);
	free(e->arg_ids);
	free(e->arg_refs);
	if (e->regex_compiled)
		regfree(&e->regex);
	free(e);
}

static void skip_space(struct parser *ps)
{
	while (*ps->p && isspace((unsigned char)*ps->p))
		ps->p++;
}

static size_t column(const struct parser *ps)
{
	return (size_t)(ps->p - ps->text) + 1;
}

/* A syntax error at the cursor: "... at character N" or "... at end of expression". */
static void *fail_at(struct parser *ps, const char *what)
{
	if (*ps->p)
		orch_fail(ps->err, ORCH_ERR_INVALID, "%s at character %zu", what, column(ps));
	else
		orch_fail(ps->err, ORCH_ERR_INVALID, "%s at end of expression", what);
	return NULL;
}

static bool is_delim(char c)
{
	return c == '\0' || isspace((unsigned char)c) || strchr("()[],", c) != NULL;
}

/* True (and consumes it) when the cursor is at keyword kw followed by a delimiter. */
static bool take_keyword(struct parser *ps, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(ps->p, kw, n) != 0 || !is_delim(ps->p[n]))
		return false;
	ps->p += n;
	return true;
}

static bool take_symbol(struct parser *ps, const char *sym)
{
	size_t n = strlen(sym);

	if (strncmp(ps->p, sym, n) != 0)
		return false;
	ps->p += n;
	return true;
}

/* A value: "quoted" or 'quoted', or a run of characters up to a delimiter. */
static char *parse_value(struct parser *ps, bool regex)
{
	const char *start;
	size_t len;

	skip_space(ps);
	if (*ps->p == '"' || *ps->p == '\'') {
		char quote = *ps->p++;

		start = ps->p;
		while (*ps->p && *ps->p != quote)
			ps->p++;
		if (!*ps->p)
			return fail_at(ps, "unterminated quoted value");
		len = (size_t)(ps->p - start);
		ps->p++;
		return strndup(start, len);
	}
	start = ps->p;
	if (regex) {
		/* A pattern may hold ( ) [ ]: take the whole word, then give back
		 * closing parentheses that belong to the enclosing expression. */
		int depth = 0;

		while (*ps->p && !isspace((unsigned char)*ps->p))
			ps->p++;
		for (const char *q = start; q < ps->p; q++)
			depth += (*q == '(') - (*q == ')');
		while (depth < 0 && ps->p > start && ps->p[-1] == ')') {
			ps->p--;
			depth++;
		}
	} else {
		while (!is_delim(*ps->p))
			ps->p++;
	}
	len = (size_t)(ps->p - start);
	if (len == 0)
		return fail_at(ps, "expected a value");
	return strndup(start, len);
}

static int add_arg(struct sexpr *e, char *value)
{
	char **args = realloc(e->args, (e->arg_count + 1) * sizeof(*args));

	if (!args) {
		free(value);
		return -1;
	}
	e->args = args;
	e->args[e->arg_count++] = value;
	return 0;
}

static int parse_list(struct parser *ps, struct sexpr *e)
{
	char close;

	skip_space(ps);
	if (*ps->p == '[')
		close = ']';
	else if (*ps->p == '(')
		close = ')';
	else {
		fail_at(ps, "expected a list such as [a, b]");
		return -1;
	}
	ps->p++;
	for (;;) {
		char *v = parse_value(ps, false);

		if (!v || add_arg(e, v) < 0)
			return -1;
		if (e->arg_count > SEXPR_MAX_ARGS) {
			orch_fail(ps->err, ORCH_ERR_INVALID, "more than %d values in a list",
				  SEXPR_MAX_ARGS);
			return -1;
		}
		skip_space(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			return 0;
		}
		fail_at(ps, close == ']' ? "expected ',' or ']'" : "expected ',' or ')'");
		return -1;
	}
}

static const struct {
	const char *name;
	enum sexpr_op op;
} operators[] = {
	{ "==", SEXPR_EQ }, { "equals", SEXPR_EQ },
	{ "!=", SEXPR_NE }, { "not_equals", SEXPR_NE },
	{ ">=", SEXPR_GE }, { "greater_than_equal", SEXPR_GE },
	{ ">", SEXPR_GT }, { "greater_than", SEXPR_GT },
	{ "<=", SEXPR_LE }, { "less_than_equal", SEXPR_LE },
	{ "<", SEXPR_LT }, { "less_than", SEXPR_LT },
	{ "exists", SEXPR_EXISTS },
	{ "!exists", SEXPR_NOT_EXISTS }, { "not_exists", SEXPR_NOT_EXISTS },
	{ "in", SEXPR_IN },
	{ "!in", SEXPR_NOT_IN }, { "not_in", SEXPR_NOT_IN },
	{ "=~", SEXPR_MATCHES }, { "matches", SEXPR_MATCHES },
	{ "!~", SEXPR_NOT_MATCHES }, { "not_matches", SEXPR_NOT_MATCHES },
};

static int parse_operator(struct parser *ps, enum sexpr_op *op)
{
	const char *start;
	cleanup_free char *word = NULL;

	skip_space(ps);
	start = ps->p;
	if (take_keyword(ps, "not")) {	/* "not in", as the interface header spells it */
		skip_space(ps);
		if (take_keyword(ps, "in")) {
			*op = SEXPR_NOT_IN;
			return 0;
		}
		ps->p = start;
	}
	if (*ps->p && strchr("=!<>~&|", *ps->p)) {
		while (*ps->p && strchr("=!<>~&|", *ps->p))
			ps->p++;
		if (ps->p - start == 1 && *start == '!')
			while (isalpha((unsigned char)*ps->p))
				ps->p++;
	} else {
		while (*ps->p && (isalnum((unsigned char)*ps->p) || *ps->p == '_'))
			ps->p++;
	}
	if (ps->p == start) {
		if (!*ps->p)
			return orch_fail(ps->err, ORCH_ERR_INVALID,
					 "expected an operator at end of expression");
		while (!is_delim(*ps->p))
			ps->p++;
	}
	word = strndup(start, (size_t)(ps->p - start));
	if (!word)
		return orch_fail(ps->err, ORCH_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++) {
		if (strcasecmp(word, operators[i].name) == 0) {
			*op = operators[i].op;
			return 0;
		}
	}
	return orch_fail(ps->err, ORCH_ERR_INVALID, "unknown operator '%s'", word);
}

static bool name_char_ok(char c)
{
	return isalnum((unsigned char)c) || strchr("-_./\\:@", c) != NULL;
}

/*
 * "{n}", "{n,}", "{n,m}" or "{,m}" at *pp: how many copies of the repeated
 * part regcomp makes (at most SEXPR_MAX_PATTERN_COST + 1), with *pp moved to
 * the '}' and *optional set when n is 0; 0 if *pp does not start an
 * interval (regcomp decides what it is).
 */
static size_t interval_copies(const char **pp, bool *optional)
{
	const size_t cap = SEXPR_MAX_PATTERN_COST + 1;
	const char *p = *pp + 1;
	size_t n = 0, m = 0, copies;
	bool comma = false, has_n = false, has_m = false;

	for (; isdigit((unsigned char)*p); p++, has_n = true)
		n = n < cap ? n * 10 + (size_t)(*p - '0') : cap;
	if (*p == ',') {
		comma = true;
		for (p++; isdigit((unsigned char)*p); p++, has_m = true)
			m = m < cap ? m * 10 + (size_t)(*p - '0') : cap;
	}
	if (*p != '}' || (!has_n && !comma))
		return 0;
	*pp = p;
	*optional = n == 0;
	if (!comma)
		copies = n;
	else if (has_m)
		copies = m > n ? m : n;
	else
		copies = n + 1;	/* n copies, then one more under a star */
	if (copies == 0)
		copies = 1;
	return copies < cap ? copies : cap;
}

/*
 * Why extended regular expression p must not be given to glibc's regcomp,
 * or NULL.  It is compiled as "^(p)$", so a ')' without its '(' would close
 * the anchoring group and let the rest match anywhere ("a)|(b").  And
 * regcomp cannot compile some patterns in bounded time and memory.  It
 * copies a repeated part once for each repetition it must spell out ("x+"
 * is "xx*", "x{2,5}" five copies), so repetitions of repetitions multiply:
 * a 40-character "s+++...+" is 2^30 atoms and takes the server's memory.
 * Its epsilon closures explode when a part that can match nothing is
 * copied: "s*+++++" (32 atoms) takes seconds.  So the atoms are counted
 * with their copies (at most SEXPR_MAX_PATTERN_COST), such a part may only
 * be repeated with * or ?, and groups nest at most SEXPR_MAX_DEPTH deep.
 */
static const char *pattern_unsafe(const char *p)
{
	/* Per open group: its atoms so far, whether the alternative being read
	 * can match nothing so far, and whether an earlier one could. */
	size_t sum[SEXPR_MAX_DEPTH + 1];
	bool alt_empty[SEXPR_MAX_DEPTH + 1], any_empty[SEXPR_MAX_DEPTH + 1];
	/* The part just read: its atoms, whether it can match nothing, and
	 * whether the alternative could before it. */
	size_t depth = 0, last = 0;
	bool last_empty = false, before_empty = true;

	sum[0] = 0;
	alt_empty[0] = true;
	any_empty[0] = false;
	for (; *p; p++) {
		size_t copies = 0;
		bool empty = false, optional = false, group = false;

		switch (*p) {
		case '(':
			if (++depth > SEXPR_MAX_DEPTH)
				return "groups nested too deep";
			sum[depth] = 0;
			alt_empty[depth] = true;
			any_empty[depth] = false;
			last = 0;
			last_empty = false;
			continue;
		case ')':
			if (depth == 0)
				return "a ')' without its '('";
			empty = alt_empty[depth] || any_empty[depth];
			last = sum[depth--] + 1;
			group = true;
			break;
		case '|':
			any_empty[depth] = any_empty[depth] || alt_empty[depth];
			alt_empty[depth] = true;
			last = 0;
			last_empty = false;
			continue;
		case '*':
		case '?':
			copies = 1;
			optional = true;
			break;
		case '+':
			copies = 2;
			break;
		case '{':
			copies = interval_copies(&p, &optional);
			break;
		case '^':
		case '$':
			empty = true;
			break;
		case '\\':
			if (p[1])
				p++;
			empty = *p >= '1' && *p <= '9';	/* a back-reference may be empty */
			break;
		case '[':
			/* A bracket expression is one atom: "[]a]", "[^]a]", "[[:alpha:]]". */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
					const char *close = strchr(p + 2, p[1]);

					while (close && close[1] != ']')
						close = strchr(close + 1, p[1]);
					if (!close)
						return NULL;	/* unterminated: regcomp refuses it */
					p = close + 2;
				} else {
					p++;
				}
			}
			if (!*p)
				return NULL;
			break;
		default:
			break;
		}
		if (copies) {
			/* A repetition of the part just read, counted once already. */
			if (copies > 1 && last_empty)
				return "a part that can match nothing is repeated with + or {n,m}";
			sum[depth] += last * (copies - 1);
			last *= copies;
			last_empty = last_empty || optional;
			alt_empty[depth] = before_empty && last_empty;
		} else {
			/* A new part: an atom, a group or an anchor. */
			last = group ? last : 1;
			last_empty = empty;
			before_empty = alt_empty[depth];
			sum[depth] += last;
			alt_empty[depth] = alt_empty[depth] && last_empty;
		}
		if (sum[depth] > SEXPR_MAX_PATTERN_COST)
			return "too many atoms once its repetitions are spelled out";
	}
	return NULL;
}

static struct sexpr *parse_compare(struct parser *ps)
{
	const char *start;
	struct sexpr *e;
	size_t len;

	skip_space(ps);
	start = ps->p;
	while (!is_delim(*ps->p) && !strchr("=!<>~&|", *ps->p))
		ps->p++;
	len = (size_t)(ps->p - start);
	if (len == 0) {
		ps->p = start;
		return fail_at(ps, "expected attribute:NAME or task:group");
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		orch_fail(ps->err, ORCH_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	e->kind = SEXPR_CMP;
	if (len > 10 && strncmp(start, "attribute:", 10) == 0) {
		cleanup_free char *raw = strndup(start + 10, len - 10);

		if (!raw)
			goto oom;
		for (const char *c = raw; *c; c++) {
			if (!name_char_ok(*c)) {
				orch_fail(ps->err, ORCH_ERR_INVALID,
					  "attribute name '%s' has a character that is not allowed", raw);
				goto fail;
			}
		}
		e->subject = SEXPR_ATTRIBUTE;
		e->name = strdup(sexpr_attribute_alias(raw));
		if (!e->name)
			goto oom;
	} else if (len == 10 && strncmp(start, "task:group", 10) == 0) {
		e->subject = SEXPR_TASK_GROUP;
		e->name = strdup("task:group");
		if (!e->name)
			goto oom;
	} else if (len == 10 && strncmp(start, "attribute:", 10) == 0) {
		orch_fail(ps->err, ORCH_ERR_INVALID, "attribute: needs a name (attribute:NAME)");
		goto fail;
	} else {
		orch_fail(ps->err, ORCH_ERR_INVALID,
			  "unknown subject '%.*s' (use attribute:NAME or task:group)", (int)len, start);
		goto fail;
	}
	if (parse_operator(ps, &e->op) < 0)
		goto fail;
	if (e->subject == SEXPR_TASK_GROUP && e->op != SEXPR_EQ && e->op != SEXPR_NE &&
	    e->op != SEXPR_IN && e->op != SEXPR_NOT_IN) {
		orch_fail(ps->err, ORCH_ERR_INVALID, "task:group takes ==, !=, in or not_in");
		goto fail;
	}
	switch (e->op) {
	case SEXPR_EXISTS:
	case SEXPR_NOT_EXISTS:
		break;
	case SEXPR_IN:
	case SEXPR_NOT_IN:
		if (parse_list(ps, e) < 0)
			goto fail;
		break;
	default: {
		char *v = parse_value(ps, e->op == SEXPR_MATCHES || e->op == SEXPR_NOT_MATCHES);

		if (!v || add_arg(e, v) < 0)
			goto fail;
		break;
	}
	}
	for (size_t i = 0; i < e->arg_count; i++) {
		const char *canon = sexpr_value_alias(e->name, e->args[i]);

		if (canon != e->args[i]) {
			char *c = strdup(canon);

			if (!c)
				goto oom;
			free(e->args[i]);
			e->args[i] = c;
		}
	}
	if (e->op == SEXPR_MATCHES || e->op == SEXPR_NOT_MATCHES) {
		size_t n = strlen(e->args[0]);
		const char *why = pattern_unsafe(e->args[0]);
		cleanup_free char *anchored = NULL;
		int rc;

		if (why) {
			orch_fail(ps->err, ORCH_ERR_INVALID, "bad pattern '%s': %s", e->args[0], why);
			goto fail;
		}
		anchored = malloc(n + 5);
		if (!anchored)
			goto oom;
		snprintf(anchored, n + 5, "^(%s)$", e->args[0]);
		rc = regcomp(&e->regex, anchored, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];

			regerror(rc, &e->regex, msg, sizeof(msg));
			orch_fail(ps->err, ORCH_ERR_INVALID, "bad pattern '%s': %s", e->args[0], msg);
			goto fail;
		}
		e->regex_compiled = true;
	}
	return e;
oom:
	orch_fail(ps->err, ORCH_ERR_INTERNAL, "out of memory");
fail:
	sexpr_free(e);
	return NULL;
}

static struct sexpr *parse_or(struct parser *ps, int depth);

static struct sexpr *node_new(enum sexpr_kind kind, struct sexpr *left, struct sexpr *right,
			      orch_error *err)
{
	struct sexpr *e = calloc(1, sizeof(*e));

	if (!e) {
		sexpr_free(left);
		sexpr_free(right);
		orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	e->kind = kind;
	e->left = left;
	e->right = right;
	return e;
}

static struct sexpr *parse_unary(struct parser *ps, int depth)
{
	if (depth > SEXPR_MAX_DEPTH) {
		orch_fail(ps->err, ORCH_ERR_INVALID, "nested more than %d levels deep",
			  SEXPR_MAX_DEPTH);
		return NULL;
	}
	skip_space(ps);
	if (*ps->p == '(') {
		struct sexpr *inner;

		ps->p++;
		inner = parse_or(ps, depth + 1);
		if (!inner)
			return NULL;
		skip_space(ps);
		if (*ps->p != ')') {
			sexpr_free(inner);
			return fail_at(ps, "expected ')'");
		}
		ps->p++;
		return inner;
	}
	if ((*ps->p == '!' && ps->p[1] != '=' && ps->p[1] != '~') || take_keyword(ps, "not")) {
		struct sexpr *operand;

		if (*ps->p == '!')
			ps->p++;
		operand = parse_unary(ps, depth + 1);
		if (!operand)
			return NULL;
		return node_new(SEXPR_NOT, operand, NULL, ps->err);
	}
	return parse_compare(ps);
}

static struct sexpr *parse_and(struct parser *ps, int depth)
{
	struct sexpr *left = parse_unary(ps, depth);

	while (left) {
		struct sexpr *right;

		skip_space(ps);
		if (!take_symbol(ps, "&&") && !take_keyword(ps, "and"))
			break;
		right = parse_unary(ps, depth);
		if (!right) {
			sexpr_free(left);
			return NULL;
		}
		left = node_new(SEXPR_AND, left, right, ps->err);
	}
	return left;
}

static struct sexpr *parse_or(struct parser *ps, int depth)
{
	struct sexpr *left = parse_and(ps, depth);

	while (left) {
		struct sexpr *right;

		skip_space(ps);
		if (!take_symbol(ps, "||") && !take_keyword(ps, "or"))
			break;
		right = parse_and(ps, depth);
		if (!right) {
			sexpr_free(left);
			return NULL;
		}
		left = node_new(SEXPR_OR, left, right, ps->err);
	}
	return left;
}

struct sexpr *sexpr_parse(const char *text, orch_error *err)
{
	struct parser ps = { text, text, err };
	struct sexpr *e;

	if (strlen(text) > SEXPR_MAX_LENGTH) {
		orch_fail(err, ORCH_ERR_INVALID, "longer than %d characters", SEXPR_MAX_LENGTH);
		return NULL;
	}
	skip_space(&ps);
	if (!*ps.p) {
		orch_fail(err, ORCH_ERR_INVALID, "must not be empty");
		return NULL;
	}
	e = parse_or(&ps, 0);
	if (!e)
		return NULL;
	skip_space(&ps);
	if (*ps.p) {
		char what[64];
		int n = 0;

		while (ps.p[n] && !isspace((unsigned char)ps.p[n]) && n < 20)
			n++;
		snprintf(what, sizeof(what), "unexpected '%.*s'", n, ps.p);
		sexpr_free(e);
		return fail_at(&ps, what);
	}
	return e;
}

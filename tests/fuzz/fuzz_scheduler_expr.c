/*
 * fuzz_scheduler_expr.c - the memberOf cluster query language
 * (orchestrator/server/scheduler_expr.h) on arbitrary expressions, as they
 * arrive in a task's placementConstraints.
 *
 * Beyond what the sanitizers catch (the tree is freed, so a leak is found
 * too), it checks the parser's promises: no expression over
 * SEXPR_MAX_LENGTH is accepted, every node of the tree is well formed (two
 * children for and/or, one for not, a name and at most SEXPR_MAX_ARGS values
 * for a comparison, a compiled regex for =~ and !~), and a refusal says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/scheduler_expr.h"
#include "fuzz_input.h"

static void check_tree(const struct sexpr *e)
{
	FUZZ_CHECK(e);
	switch (e->kind) {
	case SEXPR_AND:
	case SEXPR_OR:
		check_tree(e->left);
		check_tree(e->right);
		break;
	case SEXPR_NOT:
		check_tree(e->left);
		FUZZ_CHECK(!e->right);
		break;
	case SEXPR_CMP:
		FUZZ_CHECK(!e->left && !e->right);
		FUZZ_CHECK(e->subject == SEXPR_TASK_GROUP || (e->name && e->name[0]));
		FUZZ_CHECK(e->arg_count <= SEXPR_MAX_ARGS);
		for (size_t i = 0; i < e->arg_count; i++)
			FUZZ_CHECK(e->args[i]);
		FUZZ_CHECK(e->regex_compiled ==
			   (e->op == SEXPR_MATCHES || e->op == SEXPR_NOT_MATCHES));
		break;
	default:
		FUZZ_CHECK(!"a known node kind");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstring(data, size);
	orch_error err = ORCH_ERROR_INIT;
	struct sexpr *e = sexpr_parse(text, &err);

	if (!e) {
		FUZZ_CHECK(err.message[0] != '\0');
	} else {
		FUZZ_CHECK(strlen(text) <= SEXPR_MAX_LENGTH);
		check_tree(e);
		sexpr_free(e);
	}
	free(text);
	return 0;
}

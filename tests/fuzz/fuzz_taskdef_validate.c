/*
 * fuzz_taskdef_validate.c - the task-definition validator
 * (orchestrator/server/taskdef_validate.h) on arbitrary request bodies.
 *
 * The input is read as the API reads a RegisterTaskDefinition body (jansson,
 * duplicate keys refused) and validated.  Beyond what the sanitizers catch,
 * it checks the validator's promises: a refusal says why with the
 * ORCH_ERR_INVALID or ORCH_ERR_UNSUPPORTED kind, an acceptance hands back an
 * object and an array of field-path strings, and the normalized definition
 * it stores is itself accepted and normalizes to itself (what orch serves
 * back can be registered again unchanged).
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "server/taskdef_validate.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	orch_error err = ORCH_ERROR_INIT;
	json_t *body, *normalized = NULL, *ignored = NULL;
	json_t *again = NULL, *again_ignored = NULL;
	size_t i;
	json_t *field;

	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!body)
		return 0;
	if (taskdef_validate(body, &normalized, &ignored, &err) < 0) {
		FUZZ_CHECK(err.kind == ORCH_ERR_INVALID || err.kind == ORCH_ERR_UNSUPPORTED);
		FUZZ_CHECK(err.message[0] != '\0');
		FUZZ_CHECK(!normalized && !ignored);
		json_decref(body);
		return 0;
	}
	FUZZ_CHECK(json_is_object(normalized));
	FUZZ_CHECK(json_is_array(ignored));
	json_array_foreach(ignored, i, field)
		FUZZ_CHECK(json_is_string(field));

	if (taskdef_validate(normalized, &again, &again_ignored, &err) < 0) {
		fprintf(stderr, "normalized definition refused: %s\n", err.message);
		FUZZ_CHECK(!"the normalized definition validates");
	}
	FUZZ_CHECK(json_equal(again, normalized));

	json_decref(again);
	json_decref(again_ignored);
	json_decref(normalized);
	json_decref(ignored);
	json_decref(body);
	return 0;
}

/* ecs_names.c - ECS name rules and task definition references. */
#include "ecs_names.h"

#include <string.h>

bool ecs_name_valid(const char *name)
{
	size_t len = 0;

	for (const char *p = name; *p; p++, len++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return len >= 1 && len <= ECS_NAME_MAX;
}

int ecs_taskdef_ref_parse(const char *ref, char *family_out, int64_t *revision,
			  orch_error *err)
{
	static const char arn_prefix[] = ECS_ARN_PREFIX "task-definition/";
	const char *colon;
	size_t family_len;
	int64_t rev = 0;

	if (strncmp(ref, "arn:", 4) == 0) {
		if (strncmp(ref, arn_prefix, sizeof(arn_prefix) - 1) != 0)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "'%.300s' is not an orch task definition ARN "
					 "(expected " ECS_ARN_PREFIX "task-definition/FAMILY:REVISION)",
					 ref);
		ref += sizeof(arn_prefix) - 1;
	}
	colon = strchr(ref, ':');
	family_len = colon ? (size_t)(colon - ref) : strlen(ref);
	if (family_len == 0 || family_len > ECS_NAME_MAX)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "family: must be 1 to %d letters, digits, '-' or '_'", ECS_NAME_MAX);
	memcpy(family_out, ref, family_len);
	family_out[family_len] = '\0';
	if (!ecs_name_valid(family_out))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "family '%.300s': must be 1 to %d letters, digits, '-' or '_'",
				 family_out, ECS_NAME_MAX);
	if (colon) {
		const char *p = colon + 1;

		if (*p == '\0' || *p == '0' || strlen(p) > 9)
			goto bad_revision;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad_revision;
			rev = rev * 10 + (*p - '0');
		}
	}
	*revision = rev;
	return 0;
bad_revision:
	return orch_fail(err, ORCH_ERR_INVALID,
			 "revision '%.40s': must be a positive integer", colon + 1);
}

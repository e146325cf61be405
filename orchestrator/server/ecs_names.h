/*
 * ecs_names.h - ECS resource names and orch's ARNs.
 *
 * ARNs have ECS's shape with partition "orch", region "local" and account
 * 000000000000: arn:orch:ecs:local:000000000000:task-definition/web:3.
 */
#ifndef ORCH_ECS_NAMES_H
#define ORCH_ECS_NAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define ECS_ARN_PREFIX "arn:orch:ecs:local:000000000000:"
#define ECS_NAME_MAX 255
/* Longest key a page token carries: a family, a colon and a revision. */
#define ECS_PAGE_KEY_MAX (ECS_NAME_MAX + 12)

/* ECS's name rule for families, containers and clusters: 1-255 of [A-Za-z0-9_-]. */
bool ecs_name_valid(const char *name);

/*
 * Parses "family", "family:rev" or a task-definition ARN.  *revision is 0
 * when none was given.  family_out must hold ECS_NAME_MAX + 1 bytes.
 */
int ecs_taskdef_ref_parse(const char *ref, char *family_out, int64_t *revision,
			  orch_error *err);

#endif

/*
 * taskdef_validate.h - checks an ECS RegisterTaskDefinition body and turns
 * it into the normalized task definition orch stores.
 *
 * The module is pure (no I/O, no globals, no allocation that outlives the
 * call except what it hands back) but for taskdef_fields_main, which prints
 * the field catalog.  Every field of the input is either
 * validated and acted on, accepted and listed as ignored, or refused, so a
 * task never runs silently different from what its file says.  Field names,
 * patterns, ranges and defaults follow the Amazon ECS API reference
 * (RegisterTaskDefinition, ContainerDefinition, PortMapping, HealthCheck,
 * ContainerDependency, KeyValuePair, Ulimit, ...).
 *
 * Refused with ORCH_ERR_UNSUPPORTED ("<path>: not supported by orch"), when
 * set (non-empty array or object, true, or any string or number); the set is
 * close to what Fargate refuses, since orch is "Fargate on your own hosts":
 *   task:      volumes, placementConstraints, pidMode, ipcMode,
 *              proxyConfiguration, inferenceAccelerators,
 *              runtimePlatform.operatingSystemFamily other than LINUX,
 *              runtimePlatform.cpuArchitecture ARM64 (orch runs linux/amd64)
 *   container: privileged, repositoryCredentials, links, environmentFiles,
 *              mountPoints, volumesFrom, secrets, disableNetworking,
 *              dnsServers, dnsSearchDomains, extraHosts, dockerSecurityOptions,
 *              interactive, pseudoTerminal, systemControls,
 *              resourceRequirements, firelensConfiguration, credentialSpecs,
 *              restartPolicy.enabled, portMappings[].containerPortRange,
 *              linuxParameters.{capabilities.add, capabilities.drop, devices,
 *              sharedMemorySize, tmpfs, maxSwap, swappiness}
 *
 * Accepted, validated, kept in the normalized definition and reported as
 * ignored (AWS-side or informational; orch does not act on them):
 *   taskRoleArn, executionRoleArn, requiresCompatibilities, tags,
 *   runtimePlatform, ephemeralStorage, enableFaultInjection,
 *   containerDefinitions[].logConfiguration (orch keeps its own task logs),
 *   containerDefinitions[].versionConsistency,
 *   containerDefinitions[].portMappings[].appProtocol,
 *   containerDefinitions[].portMappings[].name (Service Connect's; checked
 *   to be unique in the task), containerDefinitions[].restartPolicy
 *   (enabled false only: orch never restarts a container)
 *
 * Anything else that is not an ECS field is refused as "unknown field"
 * (ORCH_ERR_INVALID), as are ECS's read-only describe fields such as
 * taskDefinitionArn or revision.  A JSON null is treated as an absent field
 * and dropped from the normalized definition.
 *
 * Normalization: networkMode defaults to "bridge"; task cpu and memory become
 * the ECS string form of an integer ("1 vCPU" -> "1024", "2 GB" -> "2048");
 * essential defaults to true; portMappings[].protocol defaults to "tcp" and
 * hostPort to containerPort in host/awsvpc mode or 0 (dynamic) in bridge mode;
 * healthCheck gets interval 30, timeout 5, retries 3, startPeriod 0.
 *
 * Rules beyond ECS's, because orch runs all of a task's containers in one
 * network namespace in every mode: a containerPort/protocol pair may appear
 * only once per task.  A healthCheck "CMD-SHELL" runs its remaining elements
 * joined by spaces with /bin/sh -c, as Docker does.
 */
#ifndef ORCH_TASKDEF_VALIDATE_H
#define ORCH_TASKDEF_VALIDATE_H

#include <jansson.h>

#include "common/error.h"
#include "proto/ecs_defaults.h"

/* The most containers one task definition may hold (ECS's limit). */
#define TASKDEF_MAX_CONTAINERS ECS_MAX_CONTAINERS_PER_TASK

/* Validates an ECS RegisterTaskDefinition request body.  On success returns 0,
 * sets *normalized to a NEW json object (caller decrefs) = the accepted task
 * definition with defaults filled in, and *ignored to a NEW json array of
 * field-path strings that were accepted but that orch does not act on.  On
 * failure returns -1 with err->kind = ORCH_ERR_INVALID (or ORCH_ERR_UNSUPPORTED
 * for a known ECS feature orch refuses) and err->message = "<field path>: <reason>",
 * e.g. "containerDefinitions[1].portMappings[0].containerPort: must be between 1 and 65535". */
int taskdef_validate(const json_t *input, json_t **normalized, json_t **ignored, orch_error *err);

/* The names of ECS fields orch accepts but ignores, as a NEW json array of strings
 * like "taskRoleArn", "containerDefinitions[].logConfiguration", for GET /v1/info. */
json_t *taskdef_ignored_field_catalog(void);

/*
 * Every field of the tables by policy, as a NEW json object {"acted": [...],
 * "ignored": [...], "refused": [...]} of paths in the form above
 * ("containerDefinitions[].linuxParameters.initProcessEnabled").  "acted"
 * holds the objects and arrays of objects acted on as well as their fields;
 * nothing below an ignored or refused field is listed.  What
 * tests/cluster/test_taskdef_fields.py checks an effect for, field by field.
 */
json_t *taskdef_field_catalog(void);

/* `orch taskdef-fields` (hidden): prints taskdef_field_catalog() as JSON. */
int taskdef_fields_main(int argc, char **argv);

#endif

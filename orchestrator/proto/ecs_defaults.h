/*
 * ecs_defaults.h - Amazon ECS's defaults and limits for task-definition
 * fields, written once for the server and the agent.
 *
 * The server's validator (server/taskdef_validate.c) fills the defaults
 * into every definition it stores; the agent falls back to the same values
 * when a field is absent from what it was sent, so both sides always agree
 * on what an unset field means.  Values are ECS's documented ones; change
 * them only to follow ECS.
 */
#ifndef ORCH_PROTO_ECS_DEFAULTS_H
#define ORCH_PROTO_ECS_DEFAULTS_H

/* containerDefinitions[].healthCheck */
#define ECS_DEFAULT_HEALTH_INTERVAL_S 30	/* between probes */
#define ECS_DEFAULT_HEALTH_TIMEOUT_S 5		/* a probe running longer failed */
#define ECS_DEFAULT_HEALTH_RETRIES 3		/* consecutive failures before UNHEALTHY */
#define ECS_DEFAULT_HEALTH_START_PERIOD_S 0	/* failures before it do not count */

/* containerDefinitions[].stopTimeout: SIGTERM, then SIGKILL after it. */
#define ECS_DEFAULT_STOP_TIMEOUT_S 30

/* networkMode when a definition has none. */
#define ECS_DEFAULT_NETWORK_MODE "bridge"

/* containerDefinitions per task definition. */
#define ECS_MAX_CONTAINERS_PER_TASK 10

#endif

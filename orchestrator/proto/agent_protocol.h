/*
 * agent_protocol.h - the contract between `orch server` and `orch agent`.
 *
 * Agents open every connection (workers behind NAT work).  All traffic is
 * HTTPS to the server's API port; the server's certificate is issued by the
 * cluster CA the server creates on first start (<data>/pki/).
 *
 * Joining
 *   The join token is  K10<sha256 of the CA certificate, DER, 64 hex>::<secret>
 *   (<data>/join-token, 0600; the server prints at start an `orch agent`
 *   command that reads it with --token-file, never the secret itself).  The
 *   agent fetches the CA with GET /v1/agent/ca (no auth, TLS not yet
 *   verified).  The answer must be exactly one PEM certificate and nothing
 *   else -- no second certificate, no key, no trailing bytes -- and its
 *   SHA-256 must be the token's; otherwise the agent stops before it sends
 *   anything (a man in the middle could otherwise add a CA of his own next
 *   to the real one).  The agent stores the certificate re-encoded from the
 *   parsed X509 (<agent data>/ca.pem) and from then on verifies the server
 *   with that CA only (pinned; never the system store).  It registers:
 *
 *     POST /v1/agent/register            Authorization: Bearer <join secret>
 *       {"nodeName": "w1", "cluster": "default", "advertiseAddress": "10.0.0.2",
 *        "resources": {"cpu": 2048, "memory": 3900},        CPU units, MiB
 *        "attributes": {"os": "linux", "arch": "amd64", "zone": "a"},
 *        "credential": "<64 hex>"}      only when registering again, see below
 *     201 {"node": {...as GET /v1/clusters/{c}/nodes/{id}...},
 *          "credential": "<64 hex>"}       (200 for a known nodeName)
 *
 *   The agent keeps nodeId and credential in <agent data>/agent.json (0600)
 *   and uses "Authorization: Bearer <credential>" for everything below.  The
 *   server stores only the credential's SHA-256.  A wrong join secret, or a
 *   wrong credential on the calls below, is 401 and changes nothing.
 *
 * Node identity
 *   The join secret admits a machine; it does not let it be any node it
 *   names.  Registering a nodeName the server knows must prove that node's
 *   current credential: the agent sends the credential from its agent.json
 *   as "credential" in the body (beside the join secret in Authorization),
 *   and the server compares its SHA-256 with the stored one in constant
 *   time.  Proven: same nodeId, a new credential, the old one revoked.
 *   Absent or wrong: 409 ClientException, nothing changes, and the message
 *   says that a node whose credential is lost is removed by an operator
 *   (`orch node rm ID`) before it can join again.  `orch node rm` clears the
 *   stored credential, so the next registration of that name needs no proof
 *   (it keeps the nodeId).  A new nodeName needs none either.  A restarted
 *   agent does not register again: it uses its credential as it is (unless
 *   it was started for another cluster: then it registers with the proof,
 *   and the server moves the node if no task holds it).
 *
 * Desired state (level-triggered long poll)
 *     GET /v1/agent/assignments?index=N&wait=SECONDS   (wait default 30, max 300)
 *   answers as soon as the node's desired-state index is greater than N, or
 *   after `wait` with the same index.  The body is always the WHOLE desired
 *   set of the node:
 *     200 {"index": 17, "nodeStatus": "ACTIVE",
 *          "tasks": [{"taskArn": ..., "taskId": "<32 hex>", "cluster": "default",
 *                     "desiredStatus": "RUNNING" | "STOPPED",
 *                     "taskDefinition": {...normalized, with taskDefinitionArn...},
 *                     "overrides": {"containerOverrides": [...], "cpu": ..., "memory": ...},
 *                     "stopReason": "..."}]}
 *   A task absent from the set must not run on the node: the agent stops and
 *   removes any container of it (and any container it does not know at all).
 *   Tasks desired STOPPED stay in the set until the agent reported them
 *   STOPPED, so the stop reaches the node even across restarts.
 *
 * Status (heartbeat and changes)
 *     POST /v1/agent/status
 *       {"tasks": [{"taskId": ..., "lastStatus": "PENDING"|"RUNNING"|"STOPPED",
 *                   "startedAt": 1.5e9, "stoppedAt": ..., "stopCode": ...,
 *                   "stoppedReason": "...", "healthStatus": "HEALTHY"|...,
 *                   "containers": [{"name": "web", "runtimeId": "<container id>",
 *                                   "lastStatus": "RUNNING", "exitCode": 0,
 *                                   "reason": "...", "healthStatus": "UNKNOWN"}],
 *                   "usage": {"cpuUnits": 812, "memoryMiB": 64.2}}],
 *        "resources": {"cpu": ..., "memory": ...}}
 *     200 {"index": 17}
 *   The agent sends it on every change and at least every
 *   AGENT_HEARTBEAT_INTERVAL_MS; a node silent for the server's grace period
 *   (--node-grace, default 10 s) becomes LOST and its tasks are stopped in
 *   the store ("Node lost").  When a LOST node reports again it becomes
 *   ACTIVE, and its old tasks are in its desired set as STOPPED (fencing).
 *
 *   "usage" is what the task's containers use together, measured in the
 *   task's group cgroup (PARENT/orch-TASKID) when the report is built; only
 *   tasks reported RUNNING carry it.  Both values are JSON numbers >= 0
 *   (integer or real: read them as numbers):
 *     cpuUnits   the average CPU use since the agent's previous reading of
 *                that task, in ECS CPU units: delta(CPU time ns) /
 *                delta(wall ns) * 1024, so 1024 is one CPU busy all the
 *                time (several CPUs give more than 1024; a task-level cpu
 *                is a CFS quota, so a sized task stays about within it).
 *                Sent as a whole number.  Absent at the first
 *                reading of a task (no interval yet), and when the CPU time
 *                could not be read or went back (summed from the task's
 *                processes, where a host has no cpuacct cgroup for it, once
 *                one of them left).
 *     memoryMiB  the memory in use now, in MiB, to a tenth, as `docker
 *                stats` counts it: usage minus the inactive file cache
 *                (v1: memory.usage_in_bytes minus memory.stat's
 *                total_inactive_file; v2: memory.current minus
 *                memory.stat's inactive_file).  Absent only when the
 *                memory cgroup could not be read.
 *   "usage" is absent when neither could be read.  A task is read at most
 *   once a second (TASK_USAGE_MIN_INTERVAL_MS, agent/task_usage.h): a
 *   report sooner after the last reading repeats its values.  So with the
 *   heartbeat the interval is about AGENT_HEARTBEAT_INTERVAL_MS, shorter
 *   when changes bring reports in between.
 *
 * Identifiers: a task ID is 32 lower-case hex digits; the task ARN is
 * arn:orch:ecs:local:000000000000:task/CLUSTER/ID; a node (container
 * instance) ARN is arn:orch:ecs:local:000000000000:container-instance/CLUSTER/ID.
 * On the agent, the runtime container of task T's container definition
 * number I (0-based) is named "orch-T-I" so a restarted agent finds
 * (re-adopts) it by name.
 */
#ifndef ORCH_AGENT_PROTOCOL_H
#define ORCH_AGENT_PROTOCOL_H

#define AGENT_JOIN_TOKEN_PREFIX "K10"
#define AGENT_JOIN_TOKEN_SEPARATOR "::"
#define AGENT_CREDENTIAL_HEX_LEN 64
#define AGENT_TASK_ID_HEX_LEN 32

#define AGENT_ASSIGNMENTS_DEFAULT_WAIT_S 30
#define AGENT_ASSIGNMENTS_MAX_WAIT_S 300
#define AGENT_HEARTBEAT_INTERVAL_MS 3000
#define AGENT_DEFAULT_NODE_GRACE_MS 10000

/* Runtime container names: "orch-" TASKID "-" INDEX. */
#define AGENT_CONTAINER_NAME_PREFIX "orch-"

#endif

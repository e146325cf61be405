/*
 * agent.h - `orch agent`: one worker node.
 *
 *   orch agent --server URL --token-file FILE|--token TOKEN [--data DIR]
 *              [--node-name NAME] [--advertise IP] [--cgroup-parent NAME]
 *              [--attr k=v]... [--cpu UNITS] [--memory MIB] [--cluster C]
 *
 * Joins the server (agent_protocol.h): fetches the CA, checks it against the
 * join token, registers (or reuses the credential in DIR/agent.json), then
 * loops: long poll for the desired set -> converge (agent_task.h) -> status
 * report, with a status heartbeat every AGENT_HEARTBEAT_INTERVAL_MS.  DIR
 * (default AGENT_DEFAULT_DATA_DIR) holds agent.json, ca.pem and agent.lock
 * (one agent per dir); containers and images live in --runtime-data
 * (default: DIR too).  SIGTERM/SIGINT end the agent but not its
 * containers: their shims outlive it and the next agent re-adopts them.
 */
#ifndef ORCH_AGENT_H
#define ORCH_AGENT_H

#define AGENT_DEFAULT_DATA_DIR "/var/lib/orch-agent"
#define AGENT_STATE_FILE "agent.json"
#define AGENT_CA_FILE "ca.pem"
#define AGENT_LOCK_FILE "agent.lock"
#define AGENT_DEFAULT_CLUSTER "default"
#define AGENT_MAX_ATTRS 32
/* Memory kept for the host: min(this, a tenth of MemTotal). */
#define AGENT_MEMORY_RESERVE_MIB 256
/* Retry pauses when the server cannot be reached: first, then doubling to max. */
#define AGENT_RETRY_MIN_MS 250
#define AGENT_RETRY_MAX_MS 5000

int agent_main(int argc, char **argv);

#endif

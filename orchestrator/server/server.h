/*
 * server.h - `orch server`: the control plane process.
 *
 * Owns the data directory (an exclusive lock on <data>/server.lock), the
 * SQLite store, the admin token and the REST API listener, all driven by one
 * libevent loop on the calling thread.  The API is served over HTTPS with
 * the cluster PKI (pki.h, <data>/pki/), and unless --no-agent the server
 * runs an embedded agent as a child `orch agent` (embedded_agent.h) so one
 * machine is a one-node cluster.
 */
#ifndef ORCH_SERVER_H
#define ORCH_SERVER_H

#include "proto/data_dir.h"

#define SERVER_DEFAULT_DATA_DIR ORCH_DEFAULT_DATA_DIR
/* All interfaces: the API is HTTPS only and every call needs a token. */
#define SERVER_DEFAULT_LISTEN "0.0.0.0:7070"
#define SERVER_MAX_ADVERTISE 8
/* The embedded agent's own files, below the server's data dir. */
#define SERVER_AGENT_SUBDIR "agent"
#define SERVER_DEFAULT_PORT 7070
/* A request (headers and body) must arrive within this many seconds. */
#define SERVER_DEFAULT_REQUEST_TIMEOUT 10
#define SERVER_DEFAULT_MAX_BODY_BYTES (1024 * 1024)
#define SERVER_DEFAULT_MAX_HEADER_BYTES (16 * 1024)
/* After SIGTERM, in-flight requests get this long to finish. */
#define SERVER_DEFAULT_SHUTDOWN_GRACE_MS 5000
/* How often a draining server checks for requests still in flight. */
#define SERVER_DRAIN_TICK_MS 20

/* Data-dir file names (the ones the CLI reads are in proto/data_dir.h). */
#define SERVER_ADMIN_TOKEN_FILE ORCH_ADMIN_TOKEN_FILE
#define SERVER_API_ADDRESS_FILE ORCH_API_ADDRESS_FILE
#define SERVER_DB_FILE "orch.db"
#define SERVER_LOCK_FILE "server.lock"

int server_main(int argc, char **argv);

#endif

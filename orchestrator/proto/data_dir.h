/*
 * data_dir.h - the server's data directory as other processes find it.
 *
 * The CLI discovers a local server from these files (its address and admin
 * token) and the local runtime verbs share the default directory, so the
 * names are written once here rather than in the server and each client.
 */
#ifndef ORCH_DATA_DIR_H
#define ORCH_DATA_DIR_H

#define ORCH_DEFAULT_DATA_DIR "/var/lib/orch"
/* The environment twin of --data. */
#define ORCH_DATA_ENV "ORCH_DATA"

/* Files the server writes below its data dir. */
#define ORCH_ADMIN_TOKEN_FILE "admin-token"
#define ORCH_API_ADDRESS_FILE "api-address"

#endif

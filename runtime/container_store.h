/*
 * container_store.h - the on-disk records of containers: the layout of
 * DIR/containers/ID, config.json and state.json (de)serialisation, IDs,
 * process identity (pid + start time) and removal of a container's tree.
 * Internal to runtime/container*.c and shim.c.
 */
#ifndef ORCH_RUNTIME_CONTAINER_STORE_H
#define ORCH_RUNTIME_CONTAINER_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "container.h"

#define CONTAINER_CONFIG_FILE "config.json"
#define CONTAINER_STATE_FILE "state.json"
#define CONTAINER_LOCK_FILE "containers/.lock"
#define CONTAINER_FILE_MAX (16u << 20)	/* config.json / state.json size bound */

int container_config_write(const char *dir, const char *id, const struct container_config *cfg,
			   int64_t created_ns, orch_error *err);
int container_config_read(const char *dir, struct container_config *cfg, int64_t *created_ns,
			  orch_error *err);

/* Replaces state.json atomically (temp file + rename). */
int container_state_write(const char *dir, const struct container_state *st, orch_error *err);

/* Reads state.json and the display fields of config.json; no liveness check. */
int container_state_read(const char *dir, const char *id, struct container_state *out,
			 orch_error *err);

int container_id_generate(char out[CONTAINER_ID_LEN + 1], orch_error *err);

/* True for 64 lower-case hex digits. */
bool container_id_valid(const char *id);

/* Start time of pid (field 22 of /proc/PID/stat) or 0 if it is gone. */
uint64_t container_proc_start_time(pid_t pid);

/* True if pid still runs and is the same process (start time matches). */
bool container_proc_alive(pid_t pid, uint64_t start);

/* rm -rf that never follows a symlink and crosses no mount point. */
int container_remove_tree(const char *path, orch_error *err);

/* RFC 3339 with nanoseconds, UTC: "2026-01-02T03:04:05.123456789Z". */
void container_format_time(int64_t ns, char *buf, size_t len);

/* Exclusive lock on DIR/containers/.lock (name uniqueness); returns an fd. */
int container_store_lock(const char *data_dir, orch_error *err);

#endif

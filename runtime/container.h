/*
 * container.h - the runtime's public interface for one host's containers:
 * create, start, attach, stop, kill, remove, list and state, all keyed by a
 * data dir (DIR, default /var/lib/orch) and a container ID.  `orch run`,
 * `orch ps|logs|stop|rm` and the agent are thin layers over it.
 *
 * A container lives in DIR/containers/ID/:
 *   config.json     what to run, rlimits included (written once by
 *                   container_create; a restarted agent reads it back)
 *   state.json      status, pids, exit code, OOM (replaced atomically by the
 *                   shim, the only writer once the container started)
 *   container.log   stdout/stderr as JSON lines, rotated (container_log.h)
 *   hosts resolv.conf hostname   bind-mounted into the container
 *   upper/ work/ rootfs/         overlayfs upper and work dirs, mount point
 *   shim.log        the shim's own messages
 *
 * Every container is supervised by its own `orch shim` process (shim.h),
 * which outlives whoever started it.  The container's mounts exist only in
 * its own mount namespace (they vanish with it); its cgroup is removed by
 * the shim when the container exits; its directory by container_remove (or
 * by the shim itself for auto-remove containers).
 */
#ifndef ORCH_RUNTIME_CONTAINER_H
#define ORCH_RUNTIME_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "common/error.h"
#include "linux_ns.h"
#include "spec.h"

#define CONTAINER_ID_LEN 64		/* hex digits */
#define CONTAINER_SHORT_ID_LEN 12
#define CONTAINER_NAME_MAX 128
#define CONTAINER_DEFAULT_DATA_DIR "/var/lib/orch"
#define CONTAINER_DEFAULT_STOP_TIMEOUT 10	/* seconds between SIGTERM and SIGKILL */
#define CONTAINER_DEFAULT_PIDS_LIMIT 4096
#define CONTAINER_NOFILE_LIMIT 1048576		/* RLIMIT_NOFILE soft and hard, as Docker */
#define CONTAINER_START_TIMEOUT_MS 30000	/* shim must report start within this */

/* Exit codes for a container that never ran its command (Docker's). */
#define CONTAINER_EXIT_RUNTIME_ERROR 125
#define CONTAINER_EXIT_NOT_EXECUTABLE 126
#define CONTAINER_EXIT_NOT_FOUND 127

enum container_status {
	CONTAINER_CREATED,
	CONTAINER_RUNNING,
	CONTAINER_EXITED,
	CONTAINER_DEAD,		/* its shim vanished without recording an exit */
};

/* One label (Docker's --label, ECS's dockerLabels); owned strings. */
struct container_label {
	char *key;
	char *value;
};

#define CONTAINER_LABELS_MAX 256

/* What to run; owned strings, released by container_config_release. */
struct container_config {
	char *name;			/* optional, unique on the host */
	char *image;			/* the reference the user gave */
	char *image_id;			/* "sha256:..."; "" for a bare rootfs (tests) */
	char **layer_dirs;		/* bottom layer first */
	size_t layer_count;
	struct spec_process process;
	char *hostname;
	enum linux_network_mode network;
	struct cgroup_limits limits;
	/*
	 * The cgroup is cgroup_parent/ID: the parent is CGROUP_DEFAULT_PARENT,
	 * --cgroup-parent, or a group cgroup below it that bounds several
	 * containers together (an agent's task: "PARENT/orch-TASKID", cgroup.h).
	 */
	char *cgroup_parent;
	/*
	 * cgroup_parent is such a group: container_remove also removes it once
	 * the last container in it is gone (a task's, whoever removes it).
	 */
	bool cgroup_parent_is_group;
	bool auto_remove;		/* --rm: the shim removes everything at exit */
	/*
	 * The root (the overlay) is remounted read-only once the container's
	 * own mounts are in place; /dev, /proc, /sys, /dev/shm and the
	 * bind-mounted /etc/hosts, resolv.conf and hostname keep their flags.
	 * Nothing else (not /tmp) is made writable.
	 */
	bool readonly_rootfs;
	/*
	 * PID 1 is orch's own init (init_process.h), run from a sealed copy of
	 * the binary, which starts the command as its child, reaps orphans,
	 * forwards signals and exits with the command's status (Docker's
	 * --init, ECS's initProcessEnabled).  Needs a statically linked orch.
	 */
	bool init_process;
	/* Kept with the container and shown (orch ps --json); the runtime does not read them. */
	struct container_label *labels;
	size_t label_count;
	/*
	 * NULL, or the ID of a running container whose network namespace this
	 * one joins instead of making its own (the containers of one task share
	 * it, as in a pod); network is then ignored.
	 */
	char *network_from;
};

void container_config_release(struct container_config *c);

/* A snapshot of one container, as `orch ps` shows it. */
struct container_state {
	char id[CONTAINER_ID_LEN + 1];
	char name[CONTAINER_NAME_MAX];
	char image[256];
	char command[256];		/* argv joined, for display */
	enum container_status status;
	pid_t pid;			/* the container's PID 1, as the host sees it */
	uint64_t pid_start;		/* its start time (/proc/PID/stat), against pid reuse */
	pid_t shim_pid;
	uint64_t shim_start;
	int64_t created_ns, started_ns, finished_ns;	/* CLOCK_REALTIME */
	int exit_code;			/* 128+N for signal N */
	int exit_signal;		/* 0 unless killed by a signal */
	bool oom_killed;
	char error[256];		/* why it failed to start, or "" */
	bool auto_remove;
};

const char *container_status_name(enum container_status status);

/* "OOMKilled", "Error", "Completed" ... for a finished container. */
const char *container_state_reason(const struct container_state *st);

/*
 * Creates DIR/containers/ID with config.json and a "created" state.  The
 * name, if any, must be unused (ORCH_ERR_CONFLICT).
 */
int container_create(const char *data_dir, const struct container_config *cfg,
		     char id_out[CONTAINER_ID_LEN + 1], orch_error *err);

/*
 * Starts the container's shim and returns once the container's command is
 * running (0) or failed to start (-1; the state records why and the exit
 * code, see CONTAINER_EXIT_*, also in *fail_exit_code).  With attach_fd non-NULL, *attach_fd receives
 * the attach stream (container_attach.h): the container's output from its
 * first byte and its exit status at the end.  Without, the shim runs detached.
 */
int container_start(const char *data_dir, const char *id, int *attach_fd, int *fail_exit_code,
		    orch_error *err);

/* Sends signo to the container's PID 1 (pid reuse checked via a pidfd). */
int container_kill(const char *data_dir, const char *id, int signo, orch_error *err);

/*
 * SIGTERM, then SIGKILL after timeout_s seconds; returns once the shim has
 * recorded the exit.  A container that is not running is fine.
 */
int container_stop(const char *data_dir, const char *id, int timeout_s, orch_error *err);

/*
 * Removes a stopped container: its cgroup (if left), directory and image
 * reference, and its group cgroup if it was the last container in it
 * (cgroup_parent_is_group).  A running one is ORCH_ERR_CONFLICT unless
 * force (then killed).
 */
int container_remove(const char *data_dir, const char *id, bool force, orch_error *err);

/* State of one container, refreshed (a vanished shim makes it DEAD). */
int container_state_get(const char *data_dir, const char *id, struct container_state *out,
			orch_error *err);

/* Every container on the host, oldest first; free(*out) afterwards. */
int container_list(const char *data_dir, struct container_state **out, size_t *count,
		   orch_error *err);

/* Full ID from an ID, a unique ID prefix or a name. */
int container_resolve(const char *data_dir, const char *id_or_name,
		      char id_out[CONTAINER_ID_LEN + 1], orch_error *err);

/*
 * Waits until the container is no longer running (timeout_ms < 0: forever)
 * and returns its final state; ORCH_ERR_CONFLICT on timeout.
 */
int container_wait(const char *data_dir, const char *id, int timeout_ms,
		   struct container_state *out, orch_error *err);

/*
 * The config a container was created with (config.json), for what `orch ps`
 * shows beyond the state: its labels.  Release with container_config_release.
 */
int container_config_get(const char *data_dir, const char *id, struct container_config *out,
			 orch_error *err);

/* The container's directory: DIR/containers/ID. */
int container_dir_path(const char *data_dir, const char *id, char *buf, size_t len);

#endif

/*
 * container_exec.h - another process in a running container: health checks
 * now, `orch task exec` later.
 *
 * The process joins the container's cgroup and its cgroup, IPC, UTS, net,
 * PID and mount namespaces (setns on the container's PID 1), so it sees the
 * container's root, then takes the container's user (from the container's
 * own /etc/passwd), environment and working directory, Docker's default
 * capabilities and no_new_privs, as the container's command did
 * (container_init.h).  Nothing of the host is reachable once it execs.
 *
 * Shape: the caller forks a helper that enters the namespaces and forks the
 * process itself (a PID namespace is entered by children only); the helper
 * waits for it and exits with its status (128+N for signal N).  The helper
 * leads its own process group, so killing -pid ends both.  The forked child
 * execs `orch exec-helper` at once: the caller may be multi-threaded, and
 * the helper's work (reading the config, the user lookup, building the
 * seccomp filter) allocates, which a forked copy of such a process must
 * not do (another thread may have held the allocator's lock at the fork).
 *
 * With a terminal (tty, `orch task exec -t`) the process leads a session of
 * its own with the terminal as its controlling terminal, so it is not in
 * the helper's group: a supervised helper (below) is how it is ended.  The
 * terminal comes from the container's own devpts instance
 * (container_exec_open_pty), so `tty` inside names a device that exists
 * there.
 */
#ifndef ORCH_RUNTIME_CONTAINER_EXEC_H
#define ORCH_RUNTIME_CONTAINER_EXEC_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

struct container_exec_options {
	char *const *argv;		/* NULL-terminated, argv[0] found in the container's PATH */
	int stdin_fd, stdout_fd, stderr_fd;	/* -1: /dev/null */
	/* stdin_fd is a terminal's slave: new session, controlling terminal. */
	bool tty;
	/*
	 * The helper kills the process and its process group (SIGKILL) when it
	 * gets SIGTERM, SIGHUP or SIGINT, or when the calling *thread* exits
	 * (PR_SET_PDEATHSIG), and the process is killed if the helper dies.
	 * The helper holds no descriptor of the caller but the three above.
	 * For a caller that supervises the process from a thread that lives
	 * until it reaped the helper.
	 */
	bool supervised;
};

/*
 * Starts argv in container id of data_dir; returns the helper's pid (a
 * child of the caller: waitpid it) or -1 (no command, the container not
 * running, no fork).  Failures inside the helper (the container's config,
 * cgroup or namespaces, the user, the exec) show as exit codes
 * CONTAINER_EXIT_* and a message on the stderr fd.
 */
pid_t container_exec_start(const char *data_dir, const char *id,
			   const struct container_exec_options *o, orch_error *err);

/* The helper's command, run by main as `orch exec-helper` (not for users). */
#define CONTAINER_EXEC_HELPER_COMMAND "exec-helper"

/* The helper's process; argv[0] is the command's name.  Does not return. */
__attribute__((noreturn)) void container_exec_helper_main(int argc, char **argv);

/*
 * Opens a new pseudo-terminal in running container id's own devpts (its
 * /dev/pts/ptmx, reached below /proc/PID/root without following a link out
 * of the container, and checked to be a devpts ptmx); sets its window size
 * when rows and cols are non-zero.  Both descriptors are close-on-exec.
 */
int container_exec_open_pty(const char *data_dir, const char *id, unsigned short rows,
			    unsigned short cols, int *master, int *slave, orch_error *err);

#endif

/*
 * container_init.h - the container's first process, between the shim's
 * fork and the execve of the user's command.
 *
 * It runs as PID 1 of the new PID namespace the shim unshared, waits for the
 * shim's go-ahead (sent once the shim moved it into the cgroup), builds the
 * container's namespaces and file system (linux_ns.h, linux_mounts.h),
 * resolves the user inside the container's /etc, sets the rlimits (the
 * container's ulimits over Docker's default RLIMIT_NOFILE), switches to the
 * user with Docker's capabilities (caps.h), sets no_new_privs, loads the
 * default seccomp filter (seccomp_profile.h), and execs.
 *
 * With an init (container.h init_process) the last execve runs orch's init
 * from the sealed copy of the binary the shim passes (init_exe_fd), and the
 * init starts the command (init_process.h).
 *
 * The host binary is never reachable from the container (CVE-2019-5736):
 * this process is the only one in the PID namespace until its execve, after
 * which its /proc/self/exe is the user's program or the sealed copy; the
 * host root is detached by then; every fd but stdio, the sync socket and
 * the sealed copy is closed before any path work, and those two are gone
 * once the command runs.  The shim is outside the PID namespace.
 *
 * Failure reports travel over sync_fd (a SOCK_SEQPACKET) as
 * "CODE MESSAGE" with CODE one of CONTAINER_EXIT_*; end-of-file on sync_fd
 * (closed by the execve) means the command is running.
 */
#ifndef ORCH_RUNTIME_CONTAINER_INIT_H
#define ORCH_RUNTIME_CONTAINER_INIT_H

#include "container.h"

#define CONTAINER_INIT_GO 'g'	/* the shim's go-ahead byte */

struct container_init_args {
	const struct container_config *config;
	const char *dir;	/* DIR/containers/ID */
	int sync_fd;
	int stdout_fd, stderr_fd;	/* write ends of the shim's pipes */
	int netns_fd;		/* -1, or the network namespace to join (network_from) */
	int init_exe_fd;	/* -1, or the sealed binary to run as the init (init_process) */
};

__attribute__((noreturn)) void container_init_run(const struct container_init_args *a);

/* The longest working directory a container may have. */
#define CONTAINER_WORKDIR_MAX 4096

/*
 * Closes every descriptor but 0, 1, 2 and keep (-1: none).  The container's
 * processes (PID 1 and every exec'd one) call it before any path work, so
 * nothing of the host stays reachable through /proc/self/fd.
 */
void container_close_extra_fds(int keep);

/* The same with count descriptors to keep (negative entries keep nothing). */
void container_close_fds_except(const int *keep, size_t count);

/*
 * Creates the absolute workdir inside the root root_fd if it is missing
 * (0755, as Docker does), every component resolved inside the root
 * (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).
 */
int container_make_workdir(int root_fd, const char *workdir, orch_error *err);

/*
 * Enters workdir resolved inside root_fd the same way (fchdir), then checks
 * that the kernel sees the new working directory inside this process's
 * root; fails with a message naming the directory otherwise.
 */
int container_enter_workdir(int root_fd, const char *workdir, orch_error *err);

/*
 * Sets the process's rlimits (before it drops CAP_SYS_RESOURCE): Docker's
 * RLIMIT_NOFILE (CONTAINER_NOFILE_LIMIT) unless proc sets nofile, then each
 * limit of proc as given.  A limit the host refuses (a hard limit above
 * fs.nr_open, or above the current one without CAP_SYS_RESOURCE) fails
 * with a message naming the ulimit; it is never lowered to what would
 * pass.  Also for processes exec'd into the container (container_exec.h).
 */
int container_init_set_rlimits(const struct spec_process *proc, orch_error *err);

/*
 * execve argv[0] searched in path_env (the container's PATH, not this
 * process's); returns the most telling errno (EACCES over ENOENT).  Also
 * used by container_exec.h.
 */
int container_init_exec_in_path(char *const argv[], char *const envp[], const char *path_env);

/*
 * After container_init_exec_in_path failed with exec_errno: sends the
 * start failure ("127 exec: 'NAME': executable file not found in $PATH", or
 * 126 and the errno's text) on sync_fd, or writes it to stderr when
 * sync_fd is -1, and exits with that code.  Also the init's, for its
 * command (init_process.h).
 */
__attribute__((noreturn)) void container_init_exec_failed(int sync_fd, char *const argv[],
							   int exec_errno);

#endif

/*
 * container_init.c - the container's PID 1 before execve.  See
 * container_init.h for what it does and why it is safe.
 */
#include "container_init.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "common/cleanup.h"
#include "init_process.h"
#include "linux_mounts.h"
#include "linux_ns.h"
#include "seccomp_profile.h"
#include "user_lookup.h"

/* Files of the container dir bind-mounted into the container. */
static const struct { const char *host_name, *container_path; } etc_files[] = {
	{ "hosts", "/etc/hosts" },
	{ "resolv.conf", "/etc/resolv.conf" },
	{ "hostname", "/etc/hostname" },
};
#define ETC_FILE_COUNT (sizeof(etc_files) / sizeof(etc_files[0]))

__attribute__((noreturn)) static void init_fail(int sync_fd, int code, const orch_error *err)
{
	char msg[ORCH_ERROR_MESSAGE_MAX + 16];
	int len = snprintf(msg, sizeof(msg), "%d %s", code, err->message);

	if (len <= 0)
		_exit(code);
	if (sync_fd >= 0)
		send(sync_fd, msg, (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg) - 1,
		     MSG_NOSIGNAL);
	else
		dprintf(STDERR_FILENO, "orch: %s\n", err->message);
	_exit(code);
}

/*
 * execvp with the container's PATH (glibc's execvpe would search the PATH
 * of this process, the host's).  Returns the errno of the most telling
 * failure: EACCES over ENOENT, as a shell does.
 */
int container_init_exec_in_path(char *const argv[], char *const envp[], const char *path_env)
{
	char candidate[4096];
	int best = ENOENT;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		return errno;
	}
	for (const char *p = path_env ? path_env : SPEC_DEFAULT_PATH; ; ) {
		const char *colon = strchr(p, ':');
		size_t dlen = colon ? (size_t)(colon - p) : strlen(p);

		if (dlen == 0)
			snprintf(candidate, sizeof(candidate), "%s", argv[0]);
		else
			snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)dlen, p, argv[0]);
		execve(candidate, argv, envp);
		if (errno == EACCES)
			best = EACCES;
		else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return errno;
		if (!colon)
			break;
		p = colon + 1;
	}
	return best;
}

void container_init_exec_failed(int sync_fd, char *const argv[], int exec_errno)
{
	orch_error err = ORCH_ERROR_INIT;

	if (exec_errno == ENOENT) {
		orch_fail(&err, ORCH_ERR_NOT_FOUND, "exec: '%s': executable file not found in $PATH",
			  argv[0]);
		init_fail(sync_fd, CONTAINER_EXIT_NOT_FOUND, &err);
	}
	orch_fail_errno(&err, exec_errno, "exec: '%s'", argv[0]);
	init_fail(sync_fd, CONTAINER_EXIT_NOT_EXECUTABLE, &err);
}

/*
 * Runs orch's init (init_process.h) from the sealed copy of the binary,
 * with the command after "--"; the start channel stays open across this
 * execve for the init's report.  Returns the errno of a failed execveat.
 */
static int exec_init_process(const struct container_init_args *a, const struct spec_process *proc)
{
	char fd_text[16];
	cleanup_free char **argv = NULL;
	size_t count = 0, n = 0;

	while (proc->argv[count])
		count++;
	argv = calloc(count + 6, sizeof(*argv));
	if (!argv)
		return ENOMEM;
	snprintf(fd_text, sizeof(fd_text), "%d", a->sync_fd);
	argv[n++] = "orch";
	argv[n++] = INIT_PROCESS_COMMAND;
	argv[n++] = "--report-fd";
	argv[n++] = fd_text;
	argv[n++] = "--";
	memcpy(argv + n, proc->argv, count * sizeof(*argv));
	if (fcntl(a->sync_fd, F_SETFD, 0) < 0)
		return errno;
	syscall(SYS_execveat, a->init_exe_fd, "", argv, proc->env, AT_EMPTY_PATH);
	return errno;
}

/* Docker's RLIMIT_NOFILE for a container that does not set its own. */
static int set_default_nofile(orch_error *err)
{
	struct rlimit nofile = { CONTAINER_NOFILE_LIMIT, CONTAINER_NOFILE_LIMIT };

	if (setrlimit(RLIMIT_NOFILE, &nofile) == 0)
		return 0;
	/*
	 * Without CAP_SYS_RESOURCE (orch itself in a restricted container) the
	 * hard limit cannot rise: take what there is, soft = hard.
	 */
	if (errno == EPERM && getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nofile) == 0)
			return 0;
	}
	return orch_fail_errno(err, errno, "setting RLIMIT_NOFILE to %d", CONTAINER_NOFILE_LIMIT);
}

/* fs.nr_open, the kernel's ceiling for RLIMIT_NOFILE even for root; 0 if unknown. */
static unsigned long long read_nr_open(void)
{
	char text[32];
	ssize_t n;
	int fd;

	fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	return strtoull(text, NULL, 10);
}

/* Why the host refused limit r (setrlimit failed with errnum), into err. */
static int rlimit_refused(const struct spec_rlimit *r, int errnum, orch_error *err)
{
	char text[SPEC_RLIMIT_TEXT_MAX];
	unsigned long long nr_open;
	struct rlimit now;

	spec_rlimit_format(r, text, sizeof(text));
	if (errnum != EPERM)
		return orch_fail_errno(err, errnum, "ulimit %s: setrlimit", text);
	nr_open = r->resource == RLIMIT_NOFILE ? read_nr_open() : 0;
	if (nr_open && r->hard > nr_open)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "ulimit %s: the hard limit exceeds what this host allows "
				 "(fs.nr_open is %llu)", text, nr_open);
	/* Raising a hard limit takes CAP_SYS_RESOURCE, which orch may run without. */
	if (getrlimit(r->resource, &now) == 0 && now.rlim_max != RLIM_INFINITY &&
	    r->hard > (uint64_t)now.rlim_max)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "ulimit %s: the hard limit exceeds what this host allows "
				 "(%llu here, and orch cannot raise it without CAP_SYS_RESOURCE)",
				 text, (unsigned long long)now.rlim_max);
	return orch_fail(err, ORCH_ERR_INVALID,
			 "ulimit %s: the hard limit exceeds what this host allows", text);
}

int container_init_set_rlimits(const struct spec_process *proc, orch_error *err)
{
	if (!spec_rlimit_get(proc, RLIMIT_NOFILE) && set_default_nofile(err) < 0)
		return -1;
	for (size_t i = 0; i < proc->rlimit_count; i++) {
		const struct spec_rlimit *r = &proc->rlimits[i];
		struct rlimit value = {
			.rlim_cur = r->soft == SPEC_RLIMIT_UNLIMITED ? RLIM_INFINITY : (rlim_t)r->soft,
			.rlim_max = r->hard == SPEC_RLIMIT_UNLIMITED ? RLIM_INFINITY : (rlim_t)r->hard,
		};

		/* Never lowered to what is allowed: a silently smaller limit is wrong. */
		if (setrlimit(r->resource, &value) < 0)
			return rlimit_refused(r, errno, err);
	}
	return 0;
}

static int setup_stdio(const struct container_init_args *a, orch_error *err)
{
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null_fd < 0)
		return orch_fail_errno(err, errno, "opening /dev/null");
	if (dup2(null_fd, 0) < 0 || dup2(a->stdout_fd, 1) < 0 || dup2(a->stderr_fd, 2) < 0)
		return orch_fail_errno(err, errno, "setting up stdio");
	close(null_fd);
	return 0;
}

/* Closes first..last (~0U: every descriptor from first on). */
static void close_fd_range(unsigned int first, unsigned int last)
{
	long max;

	if (syscall(SYS_close_range, first, last, 0U) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max <= 0)
		max = 1024;
	for (long fd = first; fd < max && fd <= (long)last; fd++)
		close((int)fd);
}

void container_close_fds_except(const int *keep, size_t count)
{
	unsigned int first = 3;

	for (;;) {
		unsigned int next = ~0U;	/* the lowest kept descriptor from first on */

		for (size_t i = 0; i < count; i++)
			if (keep[i] >= 0 && (unsigned int)keep[i] >= first &&
			    (unsigned int)keep[i] < next)
				next = (unsigned int)keep[i];
		if (next == ~0U) {
			close_fd_range(first, ~0U);
			return;
		}
		if (next > first)
			close_fd_range(first, next - 1);
		first = next + 1;
	}
}

void container_close_extra_fds(int keep)
{
	container_close_fds_except(&keep, 1);
}

int container_make_workdir(int root_fd, const char *workdir, orch_error *err)
{
	char path[CONTAINER_WORKDIR_MAX];
	size_t len = strlen(workdir);

	if (workdir[0] != '/' || len >= sizeof(path))
		return orch_fail(err, ORCH_ERR_INVALID, "working directory '%.200s': not an absolute path",
				 workdir);
	memcpy(path, workdir, len + 1);
	/* Each prefix is resolved inside the root, so a symlink in the image
	 * (even to /proc/self/...) cannot place a directory outside it. */
	for (char *slash = path + 1;; slash++) {
		bool last = *slash == '\0';
		int fd;

		if (*slash != '/' && !last)
			continue;
		*slash = '\0';
		fd = user_lookup_openat_in_root(root_fd, path, O_PATH | O_DIRECTORY, 0);
		if (fd < 0 && errno == ENOENT) {
			char *name = strrchr(path, '/');
			int parent;

			*name = '\0';
			parent = user_lookup_openat_in_root(root_fd, *path ? path : "/",
							    O_PATH | O_DIRECTORY, 0);
			*name = '/';
			if (parent < 0)
				return orch_fail_errno(err, errno, "creating the working directory '%s'",
						       workdir);
			if (mkdirat(parent, name + 1, 0755) < 0 && errno != EEXIST) {
				orch_fail_errno(err, errno, "creating the working directory '%s'", workdir);
				close(parent);
				return -1;
			}
			close(parent);
			fd = user_lookup_openat_in_root(root_fd, path, O_PATH | O_DIRECTORY, 0);
		}
		if (fd < 0)
			return orch_fail_errno(err, errno, "working directory '%s'", workdir);
		close(fd);
		if (last)
			return 0;
		*slash = '/';
	}
}

int container_enter_workdir(int root_fd, const char *workdir, orch_error *err)
{
	char cwd[CONTAINER_WORKDIR_MAX];
	int fd = user_lookup_openat_in_root(root_fd, workdir, O_PATH | O_DIRECTORY, 0);

	if (fd < 0)
		return orch_fail_errno(err, errno, "entering the working directory '%s'", workdir);
	if (fchdir(fd) < 0) {
		orch_fail_errno(err, errno, "entering the working directory '%s'", workdir);
		close(fd);
		return -1;
	}
	close(fd);
	/* The kernel names a directory outside this process's root
	 * "(unreachable)..." (glibc: ENOENT): never run there. */
	if (!getcwd(cwd, sizeof(cwd)) || cwd[0] != '/')
		return orch_fail(err, ORCH_ERR_INVALID,
				 "the working directory '%s' is outside the container", workdir);
	return 0;
}

/*
 * readonlyRootFilesystem: makes the root mount (the overlay, after
 * pivot_root) read-only.  A bind remount changes only that mount's own
 * flags, so the mounts on top of it (/dev, /proc, /sys, /dev/shm, the
 * bind-mounted /etc files) keep theirs; the flags the root already has
 * (nosuid, nodev ...) are carried over, as a remount without them would
 * clear them.  Called after the working directory is made, as Docker makes
 * it before the root turns read-only.
 */
static int remount_root_readonly(orch_error *err)
{
	static const struct { unsigned long st, ms; } carried[] = {
		{ ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
		{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME },
	};
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	struct statvfs sv;

	if (statvfs("/", &sv) < 0)
		return orch_fail_errno(err, errno, "reading the flags of the container's root");
	for (size_t i = 0; i < sizeof(carried) / sizeof(carried[0]); i++)
		if (sv.f_flag & carried[i].st)
			flags |= carried[i].ms;
	if (mount(NULL, "/", NULL, flags, NULL) < 0)
		return orch_fail_errno(err, errno, "remounting the container's root read-only");
	return 0;
}

__attribute__((noreturn)) void container_init_run(const struct container_init_args *a)
{
	const struct container_config *cfg = a->config;
	struct spec_process *proc = (struct spec_process *)&cfg->process;
	orch_error err = ORCH_ERROR_INIT;
	int etc_trees[ETC_FILE_COUNT];
	char rootfs[4200], upper[4200], work[4200], file[4200];
	struct user_exec user;
	char go = 0;
	int exec_errno, root_fd;

	/*
	 * The shim blocks and ignores signals for its own loop; both would be
	 * inherited through execve.  The container starts with a clean slate.
	 */
	{
		sigset_t none;

		for (int sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				signal(sig, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}

	/* Wait until the shim has put this process into the cgroup. */
	if (read(a->sync_fd, &go, 1) != 1 || go != CONTAINER_INIT_GO)
		_exit(CONTAINER_EXIT_RUNTIME_ERROR);

	if (a->netns_fd >= 0) {
		/* Another container's network namespace (container.h, network_from). */
		if (setns(a->netns_fd, CLONE_NEWNET) < 0) {
			orch_fail_errno(&err, errno, "joining the network namespace of '%s'",
					cfg->network_from);
			init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
		}
		close(a->netns_fd);
	}
	/*
	 * Before any path work, only stdio and the sync socket stay open: a
	 * descriptor inherited from the shim (its container directory, signalfd,
	 * timerfd, log) is a way out of the root through /proc/self/fd/N, for
	 * a working directory or anything the command opens before its exec
	 * (the runc CVE-2024-21626 class).  Closed, not only close-on-exec.
	 */
	if (setup_stdio(a, &err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	container_close_fds_except((const int[]){ a->sync_fd, a->init_exe_fd }, 2);
	if (linux_ns_unshare(a->netns_fd >= 0 ? LINUX_NETWORK_HOST : cfg->network, &err) < 0 ||
	    linux_ns_unshare_cgroup(&err) < 0 ||
	    linux_mounts_make_private(&err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);

	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", a->dir);
	snprintf(upper, sizeof(upper), "%s/upper", a->dir);
	snprintf(work, sizeof(work), "%s/work", a->dir);
	if (linux_mount_overlay(rootfs, cfg->layer_dirs, cfg->layer_count, upper, work, &err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	for (size_t i = 0; i < ETC_FILE_COUNT; i++) {
		snprintf(file, sizeof(file), "%s/%s", a->dir, etc_files[i].host_name);
		etc_trees[i] = linux_file_tree_open(file, &err);
		if (etc_trees[i] < 0)
			init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	}

	if (linux_pivot_root(rootfs, &err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	/* From here on "/" is the container's root and nothing else is reachable. */
	for (size_t i = 0; i < ETC_FILE_COUNT; i++) {
		if (linux_file_tree_attach(etc_trees[i], etc_files[i].container_path, &err) < 0)
			init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
		close(etc_trees[i]);
	}
	if (linux_mount_api_filesystems(&err) < 0 || linux_mask_paths(&err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	/* The UTS namespace is the container's own in every network mode. */
	if (linux_ns_set_hostname(cfg->hostname, &err) < 0 ||
	    (cfg->network != LINUX_NETWORK_HOST && a->netns_fd < 0 &&
	     linux_ns_loopback_up(&err) < 0))
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);

	root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		orch_fail_errno(&err, errno, "opening the container's root");
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	}
	if (user_lookup_in_root(root_fd, proc->user, &user, &err) < 0 ||
	    spec_env_set_default(proc, "HOSTNAME", cfg->hostname, &err) < 0 ||
	    spec_env_set_default(proc, "HOME", user.home, &err) < 0 ||
	    container_make_workdir(root_fd, proc->workdir, &err) < 0 ||
	    container_init_set_rlimits(proc, &err) < 0 ||
	    (cfg->readonly_rootfs && remount_root_readonly(&err) < 0))
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);

	if (caps_drop_and_switch_user(caps_docker_default, user.uid, user.gid, user.sgids,
				      user.sgid_count, &err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	/* As the user, as a chdir would be; resolved inside the root. */
	if (container_enter_workdir(root_fd, proc->workdir, &err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	close(root_fd);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		orch_fail_errno(&err, errno, "setting no_new_privs");
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	}
	/* Never run the command unfiltered: a failure here fails the start. */
	if (seccomp_profile_load_default(&err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);

	/* The init runs under all of the above, as the command would have. */
	if (a->init_exe_fd >= 0) {
		orch_fail_errno(&err, exec_init_process(a, proc), "running orch's init");
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	}
	exec_errno = container_init_exec_in_path(proc->argv, proc->env, spec_env_get(proc, "PATH"));
	container_init_exec_failed(a->sync_fd, proc->argv, exec_errno);
}

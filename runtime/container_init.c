/*
 * container_init.c - the container's PID 1 before execve.  See
 * container_init.h for what it does and why it is safe.
 */
#include "container_init.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"
#include "common/cleanup.h"
#include "linux_mounts.h"
#include "linux_ns.h"
#include "seccomp_profile.h"
#include "user_lookup.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

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

	if (len > 0)
		send(sync_fd, msg, (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg) - 1,
		     MSG_NOSIGNAL);
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
		return orch_fail_errno(err, errno, "opening /dev/null in the container");
	if (dup2(null_fd, 0) < 0 || dup2(a->stdout_fd, 1) < 0 || dup2(a->stderr_fd, 2) < 0)
		return orch_fail_errno(err, errno, "setting up stdio");
	close(null_fd);
	return 0;
}

/* The workdir is created if missing, as Docker does. */
static int enter_workdir(const char *workdir, orch_error *err)
{
	struct stat st;

	if (stat(workdir, &st) < 0 && errno == ENOENT && linux_mkdir_p(workdir, err) < 0)
		return -1;
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
	int exec_errno;

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

	{
		cleanup_close int root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (root_fd < 0 || user_lookup_in_root(root_fd, proc->user, &user, &err) < 0)
			init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	}
	if (spec_env_set_default(proc, "HOSTNAME", cfg->hostname, &err) < 0 ||
	    spec_env_set_default(proc, "HOME", user.home, &err) < 0 ||
	    enter_workdir(proc->workdir, &err) < 0 ||
	    container_init_set_rlimits(proc, &err) < 0 ||
	    setup_stdio(a, &err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);

	/* Nothing but stdio and sync_fd (already close-on-exec) survives the exec. */
	if (syscall(__NR_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (int fd = 3; fd < 1024; fd++)
			if (fd != a->sync_fd)
				fcntl(fd, F_SETFD, FD_CLOEXEC);

	if (caps_drop_and_switch_user(caps_docker_default, user.uid, user.gid, user.sgids,
				      user.sgid_count, &err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		orch_fail_errno(&err, errno, "setting no_new_privs");
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	}
	/* Never run the command unfiltered: a failure here fails the start. */
	if (seccomp_profile_load_default(&err) < 0)
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	if (chdir(proc->workdir) < 0) {
		orch_fail_errno(&err, errno, "entering the working directory '%s'", proc->workdir);
		init_fail(a->sync_fd, CONTAINER_EXIT_RUNTIME_ERROR, &err);
	}

	exec_errno = container_init_exec_in_path(proc->argv, proc->env, spec_env_get(proc, "PATH"));
	if (exec_errno == ENOENT) {
		orch_fail(&err, ORCH_ERR_NOT_FOUND, "exec: '%s': executable file not found in $PATH",
			  proc->argv[0]);
		init_fail(a->sync_fd, CONTAINER_EXIT_NOT_FOUND, &err);
	}
	orch_fail_errno(&err, exec_errno, "exec: '%s'", proc->argv[0]);
	init_fail(a->sync_fd, CONTAINER_EXIT_NOT_EXECUTABLE, &err);
}

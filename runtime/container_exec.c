/* container_exec.c - a process in a running container.  See container_exec.h. */
#include "container_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/magic.h>

#include "caps.h"
#include "cgroup.h"
#include "common/cleanup.h"
#include "container.h"
#include "container_init.h"
#include "container_store.h"
#include "sealed_binary.h"
#include "seccomp_profile.h"
#include "spec.h"
#include "user_lookup.h"

/* In the order they are entered: the mount namespace last (it moves root). */
static const struct { const char *name; int type; } exec_namespaces[] = {
	{ "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
	{ "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },
};
#define EXEC_NS_COUNT (sizeof(exec_namespaces) / sizeof(exec_namespaces[0]))

__attribute__((noreturn)) static void exec_fail(int code, const char *what, int errnum)
{
	dprintf(STDERR_FILENO, "orch exec: %s%s%s\n", what, errnum ? ": " : "",
		errnum ? strerror(errnum) : "");
	_exit(code);
}

static void setup_stdio(const struct container_exec_options *o)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int fds[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };

	for (int i = 0; i < 3; i++) {
		int fd = fds[i] >= 0 ? fds[i] : null_fd;

		if (fd >= 0 && fd != i)
			dup2(fd, i);
		else if (fd == i)
			fcntl(fd, F_SETFD, 0);
	}
}

/* The process itself, inside every namespace: user, caps, workdir, exec. */
__attribute__((noreturn)) static void exec_child(struct container_config *cfg,
						 const struct container_exec_options *o)
{
	struct spec_process *proc = &cfg->process;
	orch_error err = ORCH_ERROR_INIT;
	struct user_exec user;
	sigset_t none;
	int root_fd;

	/* The helper blocks signals and the agent ignores SIGPIPE: none of it
	 * is the process's business. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (o->tty && (setsid() < 0 || ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0))
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "taking the terminal", errno);
	/* Before any path work: nothing of the helper's stays open. */
	container_close_extra_fds(-1);
	root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "opening the container's root", errno);
	if (user_lookup_in_root(root_fd, proc->user, &user, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	if (spec_env_set_default(proc, "HOSTNAME", cfg->hostname, &err) < 0 ||
	    spec_env_set_default(proc, "HOME", user.home, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	/* The container's ulimits, as its command got them (while caps allow). */
	if (container_init_set_rlimits(proc, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	if (caps_drop_and_switch_user(caps_docker_default, user.uid, user.gid, user.sgids,
				      user.sgid_count, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	/* As the user, as a chdir would be; resolved inside the root. */
	if (container_enter_workdir(root_fd, proc->workdir && *proc->workdir ? proc->workdir : "/",
				    &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	close(root_fd);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "setting no_new_privs", errno);
	/* The container's own filter, as its command got it; never run unfiltered. */
	if (seccomp_profile_load_default(&err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	/* After the user switch, which clears it: the helper's death kills us. */
	if (o->supervised && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "setting the parent death signal", errno);
	errno = container_init_exec_in_path(o->argv, proc->env, spec_env_get(proc, "PATH"));
	exec_fail(errno == ENOENT ? CONTAINER_EXIT_NOT_FOUND : CONTAINER_EXIT_NOT_EXECUTABLE,
		  o->argv[0], errno);
}

/*
 * A supervised helper's wait: the child's exit, or a request to end it
 * (SIGTERM, SIGHUP, SIGINT, or the caller's thread gone: PR_SET_PDEATHSIG),
 * which kills the child's process group: its own session's with a
 * terminal, else the helper's own (the helper too, which is fine: nobody
 * waits for its status then).
 */
__attribute__((noreturn)) static void helper_supervise(pid_t child, bool tty,
						       const sigset_t *watched)
{
	int sfd = signalfd(-1, watched, SFD_CLOEXEC);
	int status;

	for (;;) {
		struct signalfd_siginfo si;
		pid_t r = waitpid(child, &status, WNOHANG);

		if (r == child)
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		if (r < 0 && errno != EINTR)
			_exit(CONTAINER_EXIT_RUNTIME_ERROR);
		if (sfd < 0) {	/* cannot watch: wait for the child only */
			if (waitpid(child, &status, 0) == child)
				continue;
			_exit(CONTAINER_EXIT_RUNTIME_ERROR);
		}
		if (read(sfd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo == SIGCHLD)
			continue;
		kill(child, SIGKILL);
		if (tty)
			kill(-child, SIGKILL);
		else
			kill(0, SIGKILL);
	}
}

/*
 * The helper, in the forked child of a possibly multi-threaded caller:
 * async-signal-safe calls only (another thread may have held a lock, the
 * allocator's among them, at the fork), then a fresh `orch exec-helper`.
 * The signal mask, the parent death signal and the process group carry
 * over the execve.
 */
__attribute__((noreturn)) static void exec_helper(const struct container_exec_options *o,
						  pid_t caller, const sigset_t *watched, int exe_fd,
						  char *const argv[], char *const envp[])
{
	static const char failed[] = "orch exec: cannot run the exec helper\n";

	setpgid(0, 0);
	if (o->supervised) {
		sigprocmask(SIG_BLOCK, watched, NULL);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 || getppid() != caller)
			_exit(CONTAINER_EXIT_RUNTIME_ERROR);
	}
	setup_stdio(o);
	/* The caller's other descriptors (sockets, other sessions' pipes)
	 * must not live on in the helper; exe_fd is close-on-exec. */
	container_close_extra_fds(exe_fd);
	syscall(SYS_execveat, exe_fd, "", argv, envp, AT_EMPTY_PATH);
	if (write(STDERR_FILENO, failed, sizeof(failed) - 1) < 0) {
		/* nowhere left to say it */
	}
	_exit(CONTAINER_EXIT_RUNTIME_ERROR);
}

static void watched_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGINT);
}

/*
 * The helper's environment: the caller's sanitizer options and nothing
 * else.  The caller's may hold secrets (an agent's join token), and the
 * helper's child is inside the container, readable there
 * (/proc/PID/environ) until it execs with the container's environment.
 */
static char **helper_environment(void)
{
	static const char *const kept[] = { "ASAN_OPTIONS=", "LSAN_OPTIONS=", "UBSAN_OPTIONS=" };
	size_t n = 0, count = 0;
	char **envp;

	for (char **e = environ; e && *e; e++)
		count++;
	envp = calloc(count + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (char **e = environ; e && *e; e++)
		for (size_t k = 0; k < sizeof(kept) / sizeof(kept[0]); k++)
			if (strncmp(*e, kept[k], strlen(kept[k])) == 0)
				envp[n++] = *e;
	return envp;
}

pid_t container_exec_start(const char *data_dir, const char *id,
			   const struct container_exec_options *o, orch_error *err)
{
	struct container_state st;
	cleanup_free char **argv = NULL;
	cleanup_free char **envp = NULL;
	size_t n = 0, count = 0;
	pid_t helper, caller = getpid();
	int exe_fd;
	sigset_t watched;

	if (!o->argv || !o->argv[0])
		return orch_fail(err, ORCH_ERR_INVALID, "exec: no command");
	if (container_state_get(data_dir, id, &st, err) < 0)
		return -1;
	if (st.status != CONTAINER_RUNNING)
		return orch_fail(err, ORCH_ERR_CONFLICT, "container '%s' is not running", id);
	while (o->argv[count])
		count++;
	argv = calloc(count + 9, sizeof(*argv));
	envp = helper_environment();
	if (!argv || !envp)
		return orch_fail_errno(err, ENOMEM, "exec in '%s'", id);
	argv[n++] = "orch";
	argv[n++] = CONTAINER_EXEC_HELPER_COMMAND;
	argv[n++] = "--data";
	argv[n++] = (char *)data_dir;
	if (o->tty)
		argv[n++] = "--tty";
	if (o->supervised)
		argv[n++] = "--supervised";
	argv[n++] = (char *)id;
	argv[n++] = "--";
	memcpy(argv + n, o->argv, count * sizeof(*argv));
	/* The helper's child enters the container and, until its own execve,
	 * /proc/PID/exe names this copy, never the host's binary. */
	exe_fd = sealed_binary_fd(err);
	if (exe_fd < 0)
		return orch_error_prefix(err, "exec in '%s'", id);
	watched_signals(&watched);
	helper = fork();
	if (helper == 0)
		exec_helper(o, caller, &watched, exe_fd, argv, envp);
	if (helper < 0)
		return orch_fail_errno(err, errno, "exec in '%s': fork", id);
	return helper;
}

/* The helper's work, in a single-threaded process of its own. */
static int helper_run(const char *data_dir, const char *id,
		      const struct container_exec_options *o)
{
	orch_error err = ORCH_ERROR_INIT;
	struct container_config cfg;
	struct container_state st;
	struct cgroup cg;
	int ns_fds[EXEC_NS_COUNT];
	char dir[4200], path[64];
	sigset_t watched;
	pid_t child;
	int status;

	if (container_state_get(data_dir, id, &st, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	if (st.status != CONTAINER_RUNNING)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "the container is not running", 0);
	container_dir_path(data_dir, id, dir, sizeof(dir));
	if (container_config_read(dir, &cfg, NULL, &err) < 0 ||
	    cgroup_init(&cg, cfg.cgroup_parent, id, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	for (size_t i = 0; i < EXEC_NS_COUNT; i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)st.pid, exec_namespaces[i].name);
		ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (ns_fds[i] < 0)
			exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, path, errno);
	}
	if (cgroup_enter(&cg, getpid(), &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	for (size_t i = 0; i < EXEC_NS_COUNT; i++) {
		if (setns(ns_fds[i], exec_namespaces[i].type) < 0)
			exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, exec_namespaces[i].name, errno);
		close(ns_fds[i]);
	}
	child = fork();
	if (child < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "fork", errno);
	if (child == 0)
		exec_child(&cfg, o);
	if (o->supervised) {
		watched_signals(&watched);
		helper_supervise(child, o->tty, &watched);
	}
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			return CONTAINER_EXIT_RUNTIME_ERROR;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void container_exec_helper_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "tty", no_argument, NULL, 't' },
		{ "supervised", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct container_exec_options o = { .stdin_fd = STDIN_FILENO, .stdout_fd = STDOUT_FILENO,
					    .stderr_fd = STDERR_FILENO };
	const char *data_dir = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (opt) {
		case 'd': data_dir = optarg; break;
		case 't': o.tty = true; break;
		case 's': o.supervised = true; break;
		default: exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "usage: orch " CONTAINER_EXEC_HELPER_COMMAND
				   " --data DIR [--tty] [--supervised] ID -- COMMAND...", 0);
		}
	}
	if (!data_dir || optind + 2 >= argc || !container_id_valid(argv[optind]) ||
	    strcmp(argv[optind + 1], "--") != 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "usage: orch " CONTAINER_EXEC_HELPER_COMMAND
			  " --data DIR [--tty] [--supervised] ID -- COMMAND...", 0);
	o.argv = argv + optind + 2;
	_exit(helper_run(data_dir, argv[optind], &o));
}

int container_exec_open_pty(const char *data_dir, const char *id, unsigned short rows,
			    unsigned short cols, int *master, int *slave, orch_error *err)
{
	struct container_state st;
	struct winsize ws = { .ws_row = rows, .ws_col = cols };
	cleanup_close int root_fd = -1, ptmx = -1;
	struct statfs sfs;
	struct stat sb;
	char path[64];
	int unlock = 0, peer;

	if (container_state_get(data_dir, id, &st, err) < 0)
		return -1;
	if (st.status != CONTAINER_RUNNING)
		return orch_fail(err, ORCH_ERR_CONFLICT, "container '%s' is not running", id);
	snprintf(path, sizeof(path), "/proc/%d/root", (int)st.pid);
	root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return orch_fail_errno(err, errno, "terminal in '%s': opening %s", id, path);
	ptmx = user_lookup_openat_in_root(root_fd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
	if (ptmx < 0)
		return orch_fail_errno(err, errno, "terminal in '%s': opening /dev/pts/ptmx", id);
	/* The container's root owns its /dev: trust only a real devpts ptmx. */
	if (fstatfs(ptmx, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC || fstat(ptmx, &sb) < 0 ||
	    !S_ISCHR(sb.st_mode) || major(sb.st_rdev) != 5 || minor(sb.st_rdev) != 2)
		return orch_fail(err, ORCH_ERR_INTERNAL,
				 "terminal in '%s': /dev/pts/ptmx is not a devpts multiplexer", id);
	if (ioctl(ptmx, TIOCSPTLCK, &unlock) < 0)
		return orch_fail_errno(err, errno, "terminal in '%s': unlocking", id);
	peer = ioctl(ptmx, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (peer < 0)
		return orch_fail_errno(err, errno, "terminal in '%s': opening its slave", id);
	if (rows && cols)
		ioctl(ptmx, TIOCSWINSZ, &ws);
	*master = take_fd(&ptmx);
	*slave = peer;
	return 0;
}

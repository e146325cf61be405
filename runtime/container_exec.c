/* container_exec.c - a process in a running container.  See container_exec.h. */
#include "container_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "cleanup.h"
#include "container.h"
#include "container_init.h"
#include "container_store.h"
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
	int root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (root_fd < 0 || user_lookup_in_root(root_fd, proc->user, &user, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	close(root_fd);
	if (spec_env_set_default(proc, "HOSTNAME", cfg->hostname, &err) < 0 ||
	    spec_env_set_default(proc, "HOME", user.home, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	if (caps_drop_and_switch_user(caps_docker_default, user.uid, user.gid, user.sgids,
				      user.sgid_count, &err) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err.message, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "setting no_new_privs", errno);
	if (chdir(proc->workdir && *proc->workdir ? proc->workdir : "/") < 0)
		exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "entering the working directory", errno);
	errno = container_init_exec_in_path(o->argv, proc->env, spec_env_get(proc, "PATH"));
	exec_fail(errno == ENOENT ? CONTAINER_EXIT_NOT_FOUND : CONTAINER_EXIT_NOT_EXECUTABLE,
		  o->argv[0], errno);
}

pid_t container_exec_start(const char *data_dir, const char *id,
			   const struct container_exec_options *o, orch_error *err)
{
	struct container_config cfg;
	struct container_state st;
	struct cgroup cg;
	int ns_fds[EXEC_NS_COUNT];
	char dir[4200], path[64];
	pid_t helper;

	if (!o->argv || !o->argv[0])
		return orch_fail(err, ORCH_ERR_INVALID, "exec: no command");
	if (container_state_get(data_dir, id, &st, err) < 0)
		return -1;
	if (st.status != CONTAINER_RUNNING)
		return orch_fail(err, ORCH_ERR_CONFLICT, "container '%s' is not running", id);
	container_dir_path(data_dir, id, dir, sizeof(dir));
	if (container_config_read(dir, &cfg, NULL, err) < 0)
		return -1;
	if (cgroup_init(&cg, cfg.cgroup_parent, id, err) < 0) {
		container_config_release(&cfg);
		return -1;
	}
	for (size_t i = 0; i < EXEC_NS_COUNT; i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)st.pid, exec_namespaces[i].name);
		ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (ns_fds[i] < 0) {
			orch_fail_errno(err, errno, "exec in '%s': opening %s", id, path);
			while (i-- > 0)
				close(ns_fds[i]);
			container_config_release(&cfg);
			return -1;
		}
	}
	helper = fork();
	if (helper == 0) {
		pid_t child;
		int status;

		setpgid(0, 0);
		setup_stdio(o);
		if (cgroup_enter(&cg, getpid(), err) < 0)
			exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, err->message, 0);
		for (size_t i = 0; i < EXEC_NS_COUNT; i++)
			if (setns(ns_fds[i], exec_namespaces[i].type) < 0)
				exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, exec_namespaces[i].name, errno);
		child = fork();
		if (child < 0)
			exec_fail(CONTAINER_EXIT_RUNTIME_ERROR, "fork", errno);
		if (child == 0)
			exec_child(&cfg, o);
		while (waitpid(child, &status, 0) < 0)
			if (errno != EINTR)
				_exit(CONTAINER_EXIT_RUNTIME_ERROR);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
	for (size_t i = 0; i < EXEC_NS_COUNT; i++)
		close(ns_fds[i]);
	container_config_release(&cfg);
	if (helper < 0)
		return orch_fail_errno(err, errno, "exec in '%s': fork", id);
	return helper;
}

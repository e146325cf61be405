/* init_process.c - `orch init`, a container's PID 1.  See init_process.h. */
#include "init_process.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "container_init.h"

#define INIT_PROCESS_USAGE "usage: orch " INIT_PROCESS_COMMAND " [--report-fd N] -- COMMAND [ARG]..."

/*
 * Signals the kernel raises for the process's own fault: they stay
 * unblocked (a blocked one would hang or kill it anyway) and are never
 * forwarded.  Every other signal but SIGKILL and SIGSTOP is forwarded.
 */
static const int init_fault_signals[] = {
	SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS,
};

int init_process_check(orch_error *err)
{
	/* AT_BASE is where the kernel loaded the program's interpreter; a
	 * statically linked binary has none. */
	if (getauxval(AT_BASE) != 0)
		return orch_fail(err, ORCH_ERR_UNSUPPORTED,
				 "an init process needs a statically linked orch: this one is "
				 "dynamically linked and its libraries are not in the container");
	return 0;
}

__attribute__((noreturn)) static void init_fail(const char *what, int errnum)
{
	dprintf(STDERR_FILENO, "orch init: %s%s%s\n", what, errnum ? ": " : "",
		errnum ? strerror(errnum) : "");
	_exit(CONTAINER_EXIT_RUNTIME_ERROR);
}

/* The child: the command, with the signal mask it would have had as PID 1. */
__attribute__((noreturn)) static void run_command(char **argv, int report_fd)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	container_init_exec_failed(report_fd, argv,
				   container_init_exec_in_path(argv, environ, getenv("PATH")));
}

static int exit_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Reaps every child that has ended, the command and orphans alike; true
 * once the command (pid command) is among them, its status in *status.
 */
static bool reap_children(pid_t command, int *status)
{
	bool ended = false;

	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)	/* 0: the rest still run; ECHILD: none left */
			return ended;
		if (pid == command) {
			*status = st;
			ended = true;
		}
	}
}

static int parse_fd(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 3 || v > 1 << 20)
		init_fail("--report-fd must be a descriptor number above 2", 0);
	return (int)v;
}

void init_process_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "report-fd", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	sigset_t forwarded;
	int report_fd = -1, opt, status = 0;
	pid_t command;

	while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		if (opt != 'r')
			init_fail(INIT_PROCESS_USAGE, 0);
		report_fd = parse_fd(optarg);
	}
	if (optind >= argc)
		init_fail(INIT_PROCESS_USAGE, 0);
	/* Kept open across the exec that started this process; the command
	 * must not inherit it. */
	if (report_fd >= 0 && fcntl(report_fd, F_SETFD, FD_CLOEXEC) < 0)
		init_fail("--report-fd", errno);

	/*
	 * Blocked signals are queued even for PID 1 of a PID namespace, which
	 * the kernel otherwise spares every signal it has no handler for: one
	 * sigwaitinfo loop then sees each signal and each child's end, with no
	 * handler and no descriptor.
	 */
	sigfillset(&forwarded);
	for (size_t i = 0; i < sizeof(init_fault_signals) / sizeof(init_fault_signals[0]); i++)
		sigdelset(&forwarded, init_fault_signals[i]);
	if (sigprocmask(SIG_BLOCK, &forwarded, NULL) < 0)
		init_fail("blocking signals", errno);
	/* Run anywhere else than as PID 1 (by hand), orphans still come here. */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	command = fork();
	if (command < 0)
		init_fail("starting the command", errno);
	if (command == 0)
		run_command(argv + optind, report_fd);
	if (report_fd >= 0)
		close(report_fd);

	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&forwarded, &info);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			init_fail("waiting for signals", errno);
		}
		if (sig == SIGCHLD) {
			if (reap_children(command, &status))
				_exit(exit_status(status));
			continue;
		}
		/* ESRCH: the command has just ended; its SIGCHLD is queued. */
		kill(command, sig);
	}
}

/* embedded_agent.c - the server's child `orch agent`.  See embedded_agent.h. */
#include "embedded_agent.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

struct agent_child {
	struct event_base *base;
	char *argv[AGENT_CHILD_MAX_ARGS + 3];
	pid_t pid;
	int backoff_ms;
	struct timespec started;
	struct event *sigchld;
	struct event *restart_timer;
};

static int child_spawn(struct agent_child *c)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		log_error("agent: cannot fork the embedded agent: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);	/* the server died before prctl */
		execv("/proc/self/exe", c->argv);
		_exit(127);
	}
	c->pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &c->started);
	log_info("agent: started the embedded agent (pid %d)", (int)pid);
	return 0;
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct agent_child *c = arg;

	if (c->pid <= 0 && child_spawn(c) < 0) {
		struct timeval tv = { c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000 };

		evtimer_add(c->restart_timer, &tv);
	}
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct agent_child *c = arg;
	struct timespec now;
	struct timeval tv;
	int status;
	double ran;

	if (c->pid <= 0 || waitpid(c->pid, &status, WNOHANG) != c->pid)
		return;
	c->pid = 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ran = (double)(now.tv_sec - c->started.tv_sec) + (now.tv_nsec - c->started.tv_nsec) / 1e9;
	/* A child that ran a while earns a quick restart again. */
	if (ran > AGENT_CHILD_RESTART_MAX_MS / 1000.0)
		c->backoff_ms = AGENT_CHILD_RESTART_MIN_MS;
	if (WIFEXITED(status))
		log_warn("agent: the embedded agent exited with status %d; restarting in %d ms",
			 WEXITSTATUS(status), c->backoff_ms);
	else
		log_warn("agent: the embedded agent was killed by signal %d; restarting in %d ms",
			 WTERMSIG(status), c->backoff_ms);
	tv.tv_sec = c->backoff_ms / 1000;
	tv.tv_usec = (c->backoff_ms % 1000) * 1000;
	evtimer_add(c->restart_timer, &tv);
	c->backoff_ms *= 2;
	if (c->backoff_ms > AGENT_CHILD_RESTART_MAX_MS)
		c->backoff_ms = AGENT_CHILD_RESTART_MAX_MS;
}

struct agent_child *agent_child_start(struct event_base *base, const char *const *args,
				      orch_error *err)
{
	struct agent_child *c = calloc(1, sizeof(*c));
	size_t n = 0;

	if (!c) {
		orch_fail_errno(err, ENOMEM, "starting the embedded agent");
		return NULL;
	}
	c->base = base;
	c->backoff_ms = AGENT_CHILD_RESTART_MIN_MS;
	c->argv[n++] = "orch";
	c->argv[n++] = "agent";
	for (size_t i = 0; args[i] && n < AGENT_CHILD_MAX_ARGS + 2; i++)
		c->argv[n++] = strdup(args[i]);
	c->argv[n] = NULL;
	for (size_t i = 2; i < n; i++)
		if (!c->argv[i]) {
			agent_child_stop(c);
			orch_fail_errno(err, ENOMEM, "starting the embedded agent");
			return NULL;
		}
	c->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, c);
	c->restart_timer = evtimer_new(base, on_restart, c);
	if (!c->sigchld || !c->restart_timer || evsignal_add(c->sigchld, NULL) < 0) {
		agent_child_stop(c);
		orch_fail(err, ORCH_ERR_INTERNAL, "starting the embedded agent: event setup");
		return NULL;
	}
	if (child_spawn(c) < 0) {
		struct timeval tv = { 1, 0 };

		evtimer_add(c->restart_timer, &tv);
	}
	return c;
}

void agent_child_stop(struct agent_child *c)
{
	struct timespec deadline, now;
	int status;

	if (!c)
		return;
	if (c->sigchld)
		event_free(c->sigchld);
	if (c->restart_timer)
		event_free(c->restart_timer);
	if (c->pid > 0) {
		kill(c->pid, SIGTERM);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += AGENT_CHILD_STOP_TIMEOUT_MS / 1000;
		for (;;) {
			pid_t r = waitpid(c->pid, &status, WNOHANG);

			if (r == c->pid || (r < 0 && errno != EINTR))
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > deadline.tv_sec ||
			    (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
				kill(c->pid, SIGKILL);
				waitpid(c->pid, &status, 0);
				break;
			}
			usleep(10000);
		}
	}
	for (size_t i = 2; i < AGENT_CHILD_MAX_ARGS + 3 && c->argv[i]; i++)
		free(c->argv[i]);
	free(c);
}

/*
 * task_pull.c - image pulls for the agent's tasks: which image of a task is
 * missing from the local store, the `orch image pull` child that fetches
 * it, and what its output says once it ended.  See agent_task_internal.h.
 *
 * The pull runs as a separate process so the agent's loop keeps
 * heart-beating meanwhile; the loop also waits on the read end of its
 * stderr pipe (agent_tasks_wait_fds), and agent_tasks_converge calls
 * task_pull_read when it is readable.
 */
#include "agent_task_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "runtime/container_image.h"
#include "runtime/container_init.h"

/* The first image of the task that is not in the local store, or NULL. */
const char *task_pull_missing_image(struct agent_tasks *t, struct agent_task *task)
{
	for (size_t i = 0; i < task->container_count; i++) {
		const char *image = json_string_value(json_object_get(container_definition(task, i),
								      "image"));
		struct image_info info;

		if (!image || task->containers[i].runtime_id[0])
			continue;
		memset(&info, 0, sizeof(info));
		if (container_image_resolve(t->runtime_dir, image, &info, NULL) == 0) {
			container_image_info_release(&info);
			continue;
		}
		return image;
	}
	return NULL;
}

/*
 * Starts `orch image pull` on image into the runtime's store; what it says
 * (warnings, then its error) comes through a pipe on its stderr.  A fresh
 * process, not a forked copy of the agent: the agent has threads (exec
 * sessions, log uploads) that may hold a lock (the allocator's, OpenSSL's, a
 * stream's) at the fork, and a pull takes all of them.
 */
int task_pull_start(struct agent_tasks *t, struct agent_task *task, const char *image)
{
	char *argv[] = { "orch", "image", "pull", "--data", t->runtime_dir, "--quiet",
			 "--log-level", "warn", "--", (char *)image, NULL };
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		/* Async-signal-safe calls only until the exec.  The pipe moves
		 * above stdio first, in case the agent runs without some of it. */
		int err_fd = fcntl(fds[1], F_DUPFD, 3);
		int null_fd = open("/dev/null", O_RDWR);
		sigset_t none;

		if (err_fd < 0 || null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
		    dup2(null_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
			_exit(2);
		container_close_extra_fds(-1);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fds[1]);
	task->pull_pid = pid;
	task->pull_fd = fds[0];
	task->pull_output_len = 0;
	task->pull_output_trimmed = false;
	free(task->pull_error);
	task->pull_error = NULL;
	log_info("agent: task %s: pulling %s", task->id, image);
	return 0;
}

/*
 * The puller's stderr, once it ended: lines other than its error are
 * logged; the error ("orch: error: ..."), or else its last line, is why a
 * failed pull failed (after the signal, if one killed it).
 */
static void pull_conclude(struct agent_task *task, int status)
{
	static const char prefix[] = "orch: error: ";
	static const size_t stamp_len = sizeof("2026-01-01T00:00:00.000Z warn  ") - 1;
	const char *error = NULL, *last = NULL;
	char *p = task->pull_output, *stop = p + task->pull_output_len;
	char text[AGENT_PULL_OUTPUT_MAX + 64];

	/* A NUL in it ends a line as a newline does. */
	for (char *c = p; c < stop; c++)
		if (*c == '\n')
			*c = '\0';
	*stop = '\0';
	if (task->pull_output_trimmed)	/* its first line lost its start */
		p += strlen(p) + 1;
	for (char *line = p; line < stop; line += strlen(line) + 1) {
		if (!*line)
			continue;
		if (strncmp(line, prefix, sizeof(prefix) - 1) == 0) {
			error = line + sizeof(prefix) - 1;
			continue;
		}
		/* Its log lines (log.h) lose their own time and level. */
		if (strlen(line) > stamp_len && line[10] == 'T' && line[23] == 'Z' &&
		    line[24] == ' ')
			line += stamp_len;
		last = line;
		log_warn("agent: task %s: image pull: %s", task->id, line);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	if (WIFSIGNALED(status))
		snprintf(text, sizeof(text), "the image pull was killed by signal %d%s%s",
			 WTERMSIG(status), last ? "; its last line: " : "", last ? last : "");
	else if (error || last)
		snprintf(text, sizeof(text), "%s", error ? error : last);
	else
		snprintf(text, sizeof(text), "the image pull failed (exit %d)", WEXITSTATUS(status));
	free(task->pull_error);
	task->pull_error = strdup(text);
}

void task_pull_read(struct agent_tasks *t, struct agent_task *task)
{
	char buf[1024];
	ssize_t n = read(task->pull_fd, buf, sizeof(buf));
	size_t room = sizeof(task->pull_output) - 1;
	int status = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {	/* keep the last of it: the error comes at the end */
		size_t add = (size_t)n, keep = task->pull_output_len;

		_Static_assert(sizeof(buf) < AGENT_PULL_OUTPUT_MAX, "a read fits the buffer");
		if (keep + add > room) {
			memmove(task->pull_output, task->pull_output + (keep + add - room),
				room - add);
			keep = room - add;
			task->pull_output_trimmed = true;
		}
		memcpy(task->pull_output + keep, buf, add);
		task->pull_output_len = keep + add;
		return;
	}
	close(task->pull_fd);
	task->pull_fd = -1;
	waitpid(task->pull_pid, &status, 0);
	task->pull_pid = 0;
	pull_conclude(task, status);
	task_changed(t);
}

void task_pull_cancel(struct agent_task *task)
{
	if (task->pull_fd >= 0)
		close(task->pull_fd);
	task->pull_fd = -1;
	if (task->pull_pid > 0) {
		kill(task->pull_pid, SIGKILL);
		waitpid(task->pull_pid, NULL, 0);
	}
	task->pull_pid = 0;
	free(task->pull_error);
	task->pull_error = NULL;
}

/*
 * shim.c - `orch shim`, the per-container supervisor.  See shim.h.
 *
 * One poll loop over: the container's stdout and stderr pipes, a signalfd
 * (SIGCHLD from the container's PID 1; SIGTERM/SIGINT asking the shim to
 * stop the container), a timerfd (the SIGKILL deadline of a stop) and the
 * attached client.  While the client has unsent output the pipes are not
 * read, so a slow client slows the container instead of growing memory.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "common/clock.h"
#include "common/cleanup.h"
#include "container.h"
#include "container_attach.h"
#include "container_image.h"
#include "container_init.h"
#include "container_log.h"
#include "container_store.h"
#include "common/log.h"
#include "init_process.h"
#include "sealed_binary.h"

#define SHIM_CLIENT_INBOX 64	/* client frames are tiny: a signal or a timeout */

struct shim {
	char data_dir[4096];
	char dir[4200];
	char id[CONTAINER_ID_LEN + 1];
	struct container_config cfg;
	struct cgroup cg;
	struct container_state st;
	struct container_log_writer log;
	int dir_fd;
	pid_t pid;
	int stream_fd[2];		/* read ends of stdout, stderr; -1 at EOF */
	int signal_fd;
	int timer_fd;
	int client_fd;			/* -1 when nobody is attached */
	char outbox[ATTACH_FRAME_HEADER + SHIM_PIPE_READ_MAX];
	size_t outbox_len, outbox_off;
	char inbox[SHIM_CLIENT_INBOX];
	size_t inbox_len;
	bool exited;
	int wait_status;
};

/* Large buffers live here, not on the stack, and are touched only as used. */
static struct shim shim_state;
static char shim_read_buf[SHIM_PIPE_READ_MAX];

static void client_drop(struct shim *s)
{
	if (s->client_fd >= 0)
		close(s->client_fd);
	s->client_fd = -1;
	s->outbox_len = s->outbox_off = 0;
}

/* Sends what the outbox holds without blocking; keeps the rest. */
static void client_flush(struct shim *s)
{
	while (s->client_fd >= 0 && s->outbox_off < s->outbox_len) {
		ssize_t n = send(s->client_fd, s->outbox + s->outbox_off,
				 s->outbox_len - s->outbox_off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			client_drop(s);
			return;
		}
		s->outbox_off += (size_t)n;
	}
	s->outbox_len = s->outbox_off = 0;
}

/* Queues one frame (the outbox is empty whenever this is called). */
static void client_queue(struct shim *s, enum attach_frame_type type, const char *data, size_t len)
{
	if (s->client_fd < 0)
		return;
	container_attach_header(s->outbox, type, len);
	memcpy(s->outbox + ATTACH_FRAME_HEADER, data, len);
	s->outbox_len = ATTACH_FRAME_HEADER + len;
	s->outbox_off = 0;
	client_flush(s);
}

/* Blocking send for the few control frames (start, exit). */
static void client_send_blocking(struct shim *s, enum attach_frame_type type, const char *data,
				 size_t len)
{
	if (s->client_fd < 0)
		return;
	fcntl(s->client_fd, F_SETFL, fcntl(s->client_fd, F_GETFL) & ~O_NONBLOCK);
	while (s->outbox_off < s->outbox_len) {
		ssize_t n = send(s->client_fd, s->outbox + s->outbox_off,
				 s->outbox_len - s->outbox_off, MSG_NOSIGNAL);

		if (n <= 0) {
			client_drop(s);
			return;
		}
		s->outbox_off += (size_t)n;
	}
	s->outbox_len = s->outbox_off = 0;
	if (container_attach_send(s->client_fd, type, data, len, NULL) < 0)
		client_drop(s);
	else
		fcntl(s->client_fd, F_SETFL, fcntl(s->client_fd, F_GETFL) | O_NONBLOCK);
}

static void container_signal(struct shim *s, int signo)
{
	if (!s->exited && s->pid > 0)
		kill(s->pid, signo);
}

/* SIGTERM now, SIGKILL when the timer fires. */
static void container_stop_request(struct shim *s, int timeout_s)
{
	struct itimerspec its = { .it_value = { .tv_sec = timeout_s > 0 ? timeout_s : 0,
						.tv_nsec = timeout_s > 0 ? 0 : 1 } };

	log_info("stopping container %s (SIGKILL in %d s)", s->id, timeout_s);
	container_signal(s, SIGTERM);
	timerfd_settime(s->timer_fd, 0, &its, NULL);
}

/* Reads frames the client sent: 'K' signal, 'T' stop. */
static void client_read(struct shim *s)
{
	ssize_t n = recv(s->client_fd, s->inbox + s->inbox_len, sizeof(s->inbox) - s->inbox_len,
			 MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_debug("attached client left");
		client_drop(s);
		return;
	}
	s->inbox_len += (size_t)n;
	while (s->inbox_len >= ATTACH_FRAME_HEADER) {
		const unsigned char *h = (const unsigned char *)s->inbox;
		size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
		char payload[SHIM_CLIENT_INBOX];

		if (len >= sizeof(payload) - ATTACH_FRAME_HEADER) {
			client_drop(s);
			return;
		}
		if (s->inbox_len < ATTACH_FRAME_HEADER + len)
			return;
		memcpy(payload, s->inbox + ATTACH_FRAME_HEADER, len);
		payload[len] = '\0';
		if (h[0] == ATTACH_SIGNAL)
			container_signal(s, atoi(payload));
		else if (h[0] == ATTACH_STOP)
			container_stop_request(s, atoi(payload));
		memmove(s->inbox, s->inbox + ATTACH_FRAME_HEADER + len,
			s->inbox_len - ATTACH_FRAME_HEADER - len);
		s->inbox_len -= ATTACH_FRAME_HEADER + len;
	}
}

/* Moves one read's worth of a stream into the log and to the client. */
static void stream_read(struct shim *s, int stream)
{
	orch_error err = ORCH_ERROR_INIT;
	ssize_t n = read(s->stream_fd[stream], shim_read_buf, sizeof(shim_read_buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(s->stream_fd[stream]);
		s->stream_fd[stream] = -1;
		return;
	}
	if (container_log_writer_write(&s->log, (enum container_log_stream)stream, shim_read_buf,
				       (size_t)n, &err) < 0)
		log_warn("container %s: %s", s->id, err.message);
	client_queue(s, stream == 0 ? ATTACH_STDOUT : ATTACH_STDERR, shim_read_buf, (size_t)n);
}

static void handle_signals(struct shim *s)
{
	struct signalfd_siginfo si;

	while (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int status;
			pid_t r;

			while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
				if (r == s->pid) {
					s->exited = true;
					s->wait_status = status;
				}
			}
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			container_stop_request(s, CONTAINER_DEFAULT_STOP_TIMEOUT);
		}
	}
}

/*
 * Drops the page-table entries of the binary's read-only, never-written
 * file mappings (text, rodata): start-up touched much of a large static
 * binary (JSON parsing, option parsing, the container init), and fault-
 * around maps 64 KiB at a time.  The pages stay in the page cache; what the
 * poll loop needs faults back in.  A mapping with any anonymous (COW)
 * page, such as relocated RELRO data, is left alone: dropping it would
 * bring back the unrelocated file contents.
 */
static void release_startup_pages(void)
{
	cleanup_fclose FILE *f = fopen("/proc/self/smaps", "re");
	cleanup_free char *line = NULL;
	unsigned long start = 0, end = 0;
	bool candidate = false;
	size_t cap = 0;

	malloc_trim(0);
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char perms[8], path[256] = "";
		unsigned long anon, lo, hi;

		/* "AnonHugePages:" parses as hex too: take the numbers only on a full match. */
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &lo, &hi, perms, path) >= 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			start = lo;
			end = hi;
			candidate = perms[1] != 'w' && path[0] == '/';
		} else if (candidate && sscanf(line, "Anonymous: %lu", &anon) == 1) {
			if (anon == 0) {
				madvise((void *)start, end - start, MADV_DONTNEED);
				/* No read-around when the loop faults pages back in. */
				madvise((void *)start, end - start, MADV_RANDOM);
			}
			candidate = false;
		}
	}
}

static void supervise(struct shim *s)
{
	int64_t drain_deadline = 0;
	bool trim_pending = true;	/* release_startup_pages once the loop is idle */

	while (!s->exited || s->stream_fd[0] >= 0 || s->stream_fd[1] >= 0) {
		struct pollfd fds[5];
		int nfds = 0, idx_stream[2] = { -1, -1 }, idx_client = -1, timeout = -1;

		fds[nfds++] = (struct pollfd){ .fd = s->signal_fd, .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = s->timer_fd, .events = POLLIN };
		if (s->client_fd >= 0) {
			idx_client = nfds;
			fds[nfds++] = (struct pollfd){ .fd = s->client_fd,
				.events = POLLIN | (s->outbox_len ? POLLOUT : 0) };
		}
		if (s->outbox_len == 0) {
			for (int i = 0; i < 2; i++) {
				if (s->stream_fd[i] < 0)
					continue;
				idx_stream[i] = nfds;
				fds[nfds++] = (struct pollfd){ .fd = s->stream_fd[i], .events = POLLIN };
			}
		}
		if (s->exited) {
			/* PID 1 is gone; a leaked pipe end must not keep us forever. */
			int64_t now = clock_wall_ns() / 1000000;

			if (!drain_deadline)
				drain_deadline = now + SHIM_EXIT_DRAIN_MS;
			if (now >= drain_deadline)
				break;
			timeout = (int)(drain_deadline - now);
		}
		if (trim_pending && !s->exited)
			timeout = SHIM_TRIM_DELAY_MS;
		int ready = poll(fds, (nfds_t)nfds, timeout);

		if (ready < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (ready == 0 && trim_pending && !s->exited) {
			/* Off the start path: a short-lived container never waits for it. */
			release_startup_pages();
			trim_pending = false;
			continue;
		}
		if (fds[0].revents)
			handle_signals(s);
		if (fds[1].revents) {
			uint64_t expirations;

			if (read(s->timer_fd, &expirations, sizeof(expirations)) > 0)
				container_signal(s, SIGKILL);
		}
		if (idx_client >= 0 && s->client_fd >= 0) {
			if (fds[idx_client].revents & POLLOUT)
				client_flush(s);
			if (fds[idx_client].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(s);
		}
		for (int i = 0; i < 2; i++)
			if (idx_stream[i] >= 0 && fds[idx_stream[i]].revents && s->outbox_len == 0)
				stream_read(s, i);
	}
	for (int i = 0; i < 2; i++)
		if (s->stream_fd[i] >= 0) {
			close(s->stream_fd[i]);
			s->stream_fd[i] = -1;
		}
	/* Without a SIGCHLD yet (drain loop ended early), wait for it now. */
	if (!s->exited && waitpid(s->pid, &s->wait_status, 0) == s->pid)
		s->exited = true;
}

/* Records how the container ended, cleans up, tells the client. */
static void finish(struct shim *s)
{
	orch_error err = ORCH_ERROR_INIT;
	uint64_t ooms = 0;
	char payload[64];

	if (container_log_writer_flush(&s->log, &err) < 0)
		log_warn("container %s: %s", s->id, err.message);
	container_log_writer_close(&s->log);
	if (WIFSIGNALED(s->wait_status)) {
		s->st.exit_signal = WTERMSIG(s->wait_status);
		s->st.exit_code = 128 + s->st.exit_signal;
	} else {
		s->st.exit_code = WEXITSTATUS(s->wait_status);
	}
	if (cgroup_oom_kill_count(&s->cg, &ooms, &err) < 0)
		log_warn("container %s: %s", s->id, err.message);
	s->st.oom_killed = ooms > 0;
	if (cgroup_destroy(&s->cg, &err) < 0)
		log_warn("container %s: %s", s->id, err.message);
	s->st.status = CONTAINER_EXITED;
	s->st.finished_ns = clock_wall_ns();
	log_info("container %s exited: code %d signal %d oom %d", s->id, s->st.exit_code,
		 s->st.exit_signal, s->st.oom_killed);

	if (s->cfg.auto_remove) {
		if (container_image_unpin(s->data_dir, s->cfg.image_id, s->id, &err) < 0)
			log_warn("container %s: %s", s->id, err.message);
		close(s->dir_fd);
		s->dir_fd = -1;
		if (container_remove_tree(s->dir, &err) < 0)
			log_warn("container %s: %s", s->id, err.message);
	} else if (container_state_write(s->dir, &s->st, &err) < 0) {
		log_error("container %s: %s", s->id, err.message);
	}
	snprintf(payload, sizeof(payload), "%d %d %d", s->st.exit_code, s->st.exit_signal,
		 s->st.oom_killed ? 1 : 0);
	client_send_blocking(s, ATTACH_EXITED, payload, strlen(payload));
}

/* The container never ran: record why, clean up and tell the client. */
static int fail_start(struct shim *s, int code, const char *message)
{
	orch_error err = ORCH_ERROR_INIT;
	char payload[ORCH_ERROR_MESSAGE_MAX + 16];

	log_error("container %s failed to start: %s", s->id, message);
	if (s->cg.path[0] && cgroup_destroy(&s->cg, &err) < 0)
		log_warn("container %s: %s", s->id, err.message);
	s->st.status = CONTAINER_EXITED;
	s->st.exit_code = code;
	s->st.finished_ns = clock_wall_ns();
	snprintf(s->st.error, sizeof(s->st.error), "%s", message);
	if (s->cfg.auto_remove) {
		container_image_unpin(s->data_dir, s->cfg.image_id, s->id, NULL);
		if (s->dir_fd >= 0)
			close(s->dir_fd);
		s->dir_fd = -1;
		container_remove_tree(s->dir, NULL);
	} else if (container_state_write(s->dir, &s->st, &err) < 0) {
		log_error("container %s: %s", s->id, err.message);
	}
	snprintf(payload, sizeof(payload), "%d %s", code, message);
	client_send_blocking(s, ATTACH_FAILED, payload, strlen(payload));
	return 1;
}

/*
 * Creates the cgroup and PID namespace, forks the container init, lets it
 * run once it is in the cgroup, and waits for its execve.
 */
static int launch(struct shim *s)
{
	orch_error err = ORCH_ERROR_INIT;
	int out_pipe[2], err_pipe[2], sync[2];
	char report[ORCH_ERROR_MESSAGE_MAX + 32];
	char go = CONTAINER_INIT_GO;
	int netns_fd = -1, init_exe_fd = -1;
	ssize_t n;

	if (cgroup_init(&s->cg, s->cfg.cgroup_parent, s->id, &err) < 0 ||
	    cgroup_create(&s->cg, &s->cfg.limits, &err) < 0)
		return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, err.message);
	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0)
		return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, strerror(errno));
	if (s->cfg.network_from) {
		struct container_state peer;
		char ns_path[64];

		if (container_state_get(s->data_dir, s->cfg.network_from, &peer, &err) < 0)
			return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, err.message);
		if (peer.status != CONTAINER_RUNNING)
			return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR,
					  "the container whose network it joins is not running");
		snprintf(ns_path, sizeof(ns_path), "/proc/%d/ns/net", (int)peer.pid);
		netns_fd = open(ns_path, O_RDONLY | O_CLOEXEC);
		if (netns_fd < 0)
			return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, strerror(errno));
	}
	/*
	 * The init's binary: this shim's own when it was started from the
	 * starter's sealed copy (container_start), else a copy of its own.
	 * Made here, outside the container's cgroup, which must not pay for it.
	 */
	if (s->cfg.init_process &&
	    (init_process_check(&err) < 0 || (init_exe_fd = sealed_binary_fd(&err)) < 0))
		return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, err.message);
	/* This process stays in the host PID namespace; its one child is PID 1. */
	if (unshare(CLONE_NEWPID) < 0)
		return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, strerror(errno));
	s->pid = fork();
	if (s->pid < 0)
		return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, strerror(errno));
	if (s->pid == 0) {
		struct container_init_args args = {
			.config = &s->cfg, .dir = s->dir, .sync_fd = sync[1],
			.stdout_fd = out_pipe[1], .stderr_fd = err_pipe[1],
			.netns_fd = netns_fd, .init_exe_fd = init_exe_fd,
		};

		close(sync[0]);
		close(out_pipe[0]);
		close(err_pipe[0]);
		if (s->client_fd >= 0)
			close(s->client_fd);
		container_init_run(&args);
	}
	close(sync[1]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (netns_fd >= 0)
		close(netns_fd);
	s->stream_fd[0] = out_pipe[0];
	s->stream_fd[1] = err_pipe[0];
	fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
	fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);

	if (cgroup_enter(&s->cg, s->pid, &err) < 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		close(sync[0]);
		return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR, err.message);
	}
	/* If the init died before reading this, the read below sees why (EOF, no report). */
	if (write(sync[0], &go, 1) != 1)
		log_warn("container %s: the init did not take the go-ahead", s->id);
	do {
		n = read(sync[0], report, sizeof(report) - 1);
	} while (n < 0 && errno == EINTR);
	close(sync[0]);
	if (n > 0) {
		int code = CONTAINER_EXIT_RUNTIME_ERROR;
		char *msg = report;

		report[n] = '\0';
		code = (int)strtol(report, &msg, 10);
		if (*msg == ' ')
			msg++;
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
		return fail_start(s, code, msg);
	}
	s->st.status = CONTAINER_RUNNING;
	s->st.pid = s->pid;
	s->st.pid_start = container_proc_start_time(s->pid);
	s->st.shim_pid = getpid();
	s->st.shim_start = container_proc_start_time(getpid());
	s->st.started_ns = clock_wall_ns();
	if (container_state_write(s->dir, &s->st, &err) < 0)
		log_error("container %s: %s", s->id, err.message);
	{
		char payload[24];

		snprintf(payload, sizeof(payload), "%d", (int)s->pid);
		client_send_blocking(s, ATTACH_STARTED, payload, strlen(payload));
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: orch shim --data DIR [--attach-fd N] ID\n"
		     "  (started by orch run and the agent; supervises one container)\n");
}

int shim_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "attach-fd", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shim *s = &shim_state;
	orch_error err = ORCH_ERROR_INIT;
	const char *data_dir = NULL;
	sigset_t mask;
	int opt;

	s->client_fd = -1;
	s->dir_fd = -1;
	s->stream_fd[0] = s->stream_fd[1] = -1;
	while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (opt) {
		case 'd': data_dir = optarg; break;
		case 'a': s->client_fd = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!data_dir || optind + 1 != argc || !container_id_valid(argv[optind])) {
		usage(stderr);
		return 2;
	}
	snprintf(s->data_dir, sizeof(s->data_dir), "%s", data_dir);
	snprintf(s->id, sizeof(s->id), "%s", argv[optind]);
	container_dir_path(data_dir, s->id, s->dir, sizeof(s->dir));
	if (s->client_fd >= 0)
		fcntl(s->client_fd, F_SETFD, FD_CLOEXEC);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	s->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->signal_fd < 0 || s->timer_fd < 0) {
		log_error("shim: %s", strerror(errno));
		return 1;
	}

	if (container_state_read(s->dir, s->id, &s->st, &err) < 0 ||
	    container_config_read(s->dir, &s->cfg, NULL, &err) < 0) {
		log_error("shim: %s", err.message);
		client_send_blocking(s, ATTACH_FAILED, "125 the container's records are unreadable",
				     strlen("125 the container's records are unreadable"));
		return 1;
	}
	if (s->st.status != CONTAINER_CREATED) {
		/* Someone else started it: report, but touch nothing. */
		client_send_blocking(s, ATTACH_FAILED, "125 the container was already started",
				     strlen("125 the container was already started"));
		return 1;
	}
	s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (s->dir_fd < 0 || container_log_writer_open(&s->log, s->dir_fd, &err) < 0)
		return fail_start(s, CONTAINER_EXIT_RUNTIME_ERROR,
				  s->dir_fd < 0 ? strerror(errno) : err.message);
	if (launch(s) != 0)
		return 1;
	supervise(s);
	finish(s);
	container_config_release(&s->cfg);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	client_drop(s);
	return 0;
}

/*
 * agent_exec.c - one thread per exec session: container check, channel,
 * process, frame pump, and the teardown that leaves nothing behind.  See
 * agent_exec.h and exec_protocol.h.
 */
#include "agent_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include <curl/curl.h>

#include "agent_client.h"
#include "runtime/container.h"
#include "runtime/container_exec.h"
#include "proto/exec_frames.h"
#include "common/clock.h"
#include "common/log.h"
#include "proto/server_curl.h"
#include "proto/upgrade_client.h"

static atomic_int exec_active;

struct exec_run {
	char stream_id[40];
	char task_id[40];
	char container[256];
	char runtime_id[CONTAINER_ID_LEN + 1];
	char **argv;
	bool tty, interactive;
	unsigned short rows, cols;
	char *server, *ca_pem, *credential, *runtime_dir;
};

static void run_free(struct exec_run *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->argv && r->argv[i]; i++)
		free(r->argv[i]);
	free(r->argv);
	free(r->server);
	free(r->ca_pem);
	free(r->credential);
	free(r->runtime_dir);
	free(r);
}

/* Tells the server why the stream cannot be served; its client gets status. */
static void refuse(const struct exec_run *r, int status, const char *message)
{
	struct server_tls tls = { .mode = SERVER_TLS_VERIFIED, .ca_pem = r->ca_pem };
	struct curl_slist *headers = NULL;
	char *url = NULL, *auth = NULL, *body;
	json_t *j = json_pack("{s:i, s:s}", "status", status, "message", message);
	CURL *h = curl_easy_init();

	log_info("agent: exec in %s of task %s refused: %s", r->container, r->task_id, message);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (h && body && asprintf(&url, "%s/v1/agent/streams/%s/refuse", r->server, r->stream_id) >= 0 &&
	    asprintf(&auth, "Authorization: Bearer %s", r->credential) >= 0) {
		headers = curl_slist_append(headers, auth);
		headers = curl_slist_append(headers, "Content-Type: application/json");
		server_curl_setup(h, &tls, AGENT_CLIENT_CONNECT_TIMEOUT_S * 1000L);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)AGENT_CLIENT_CALL_TIMEOUT_S);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, server_body_discard);
		curl_easy_perform(h);
	}
	curl_slist_free_all(headers);
	if (h)
		curl_easy_cleanup(h);
	free(url);
	free(auth);
	free(body);
}

/* ---- the session ---------------------------------------------------------- */

struct session {
	struct exec_run *r;
	struct upgrade_conn chan;
	pid_t helper;
	int pidfd;
	int in_fd;			/* the process's stdin (pipe or terminal master), or -1 */
	int out_fd[2];			/* stdout, stderr (a terminal: both the master), or -1 */
	bool stdin_closing;		/* close in_fd once in_q was written */
	bool exited;
	int exit_code;
	long long exited_at, last_output_at;
	struct exec_queue out_q;	/* frames for the server */
	struct exec_queue in_q;		/* bytes for the process's stdin */
	struct exec_frame_reader frames;	/* the server's, as they come */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Handles one whole frame from the server; -1 ends the session. */
static int session_frame(struct session *s, unsigned type, const unsigned char *p, uint32_t len)
{
	struct winsize ws;

	switch (type) {
	case EXEC_FRAME_STDIN:
		if (s->in_fd >= 0 && !s->stdin_closing && exec_queue_add(&s->in_q, p, len) < 0)
			return -1;
		return 0;
	case EXEC_FRAME_STDIN_CLOSE:
		if (s->r->tty) {	/* a terminal has no end: type its EOF character */
			struct termios t;
			char eof = 4;

			if (s->in_fd >= 0 && tcgetattr(s->in_fd, &t) == 0)
				eof = (char)t.c_cc[VEOF];
			if (s->in_fd >= 0)
				return exec_queue_add(&s->in_q, &eof, 1);
			return 0;
		}
		s->stdin_closing = true;
		return 0;
	case EXEC_FRAME_RESIZE:
		memset(&ws, 0, sizeof(ws));
		ws.ws_row = (unsigned short)(p[0] << 8 | p[1]);
		ws.ws_col = (unsigned short)(p[2] << 8 | p[3]);
		if (s->r->tty && s->out_fd[0] >= 0)
			ioctl(s->out_fd[0], TIOCSWINSZ, &ws);
		return 0;
	default:
		return -1;
	}
}

/*
 * Reads what the server sent, until the process's input queue is full;
 * -1 when the server closed or broke the protocol.
 */
static int session_read_channel(struct session *s)
{
	while (exec_queue_pending(&s->in_q) < AGENT_EXEC_HIGH_WATER) {
		struct exec_frame f;
		int rc = exec_frame_read(&s->frames, &s->chan, &f);

		if (rc == EXEC_READ_NONE)
			return 0;
		if (rc == EXEC_READ_BAD)
			log_info("agent: exec %s: bad frame from the server", s->r->stream_id);
		if (rc != EXEC_READ_FRAME || session_frame(s, f.type, f.payload, f.len) < 0)
			return -1;
	}
	return 0;
}

/* Feeds queued input to the process. */
static void session_write_stdin(struct session *s)
{
	while (s->in_fd >= 0 && exec_queue_pending(&s->in_q) > 0) {
		ssize_t n = write(s->in_fd, exec_queue_head(&s->in_q),
				  exec_queue_pending(&s->in_q));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {	/* the process closed its stdin: drop the rest */
			exec_queue_drop(&s->in_q, exec_queue_pending(&s->in_q));
			if (!s->r->tty)
				close_fd(&s->in_fd);
			return;
		}
		exec_queue_drop(&s->in_q, (size_t)n);
	}
	if (s->stdin_closing && exec_queue_pending(&s->in_q) == 0 && !s->r->tty)
		close_fd(&s->in_fd);
}

/* Reads one output stream into frames. */
static int session_read_output(struct session *s, int which)
{
	char buf[EXEC_FRAME_MAX_PAYLOAD];
	ssize_t n = read(s->out_fd[which], buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {	/* end, or EIO: a terminal whose last slave closed */
		if (s->r->tty) {
			if (s->in_fd == s->out_fd[0])
				s->in_fd = -1;
			close_fd(&s->out_fd[0]);
			s->out_fd[1] = -1;
		} else {
			close_fd(&s->out_fd[which]);
		}
		return 0;
	}
	s->last_output_at = clock_mono_ms();
	return exec_queue_frame(&s->out_q, which ? EXEC_FRAME_STDERR : EXEC_FRAME_STDOUT, buf,
				(uint32_t)n);
}

static void session_reap(struct session *s)
{
	int status;

	if (s->exited || waitpid(s->helper, &status, WNOHANG) != s->helper)
		return;
	s->exited = true;
	s->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	s->exited_at = clock_mono_ms();
	s->helper = -1;
}

/*
 * The pump: until the process exited and its output was queued (the
 * streams ended or went quiet), or the channel failed.  Returns 0 when the
 * EXIT frame is queued, -1 when the session must be torn down.
 */
static int session_pump(struct session *s)
{
	for (;;) {
		struct pollfd p[5];
		int n = 0, i_sock, i_pid = -1, i_out[2] = { -1, -1 };
		int timeout = -1;
		bool outputs_open = s->out_fd[0] >= 0 || (!s->r->tty && s->out_fd[1] >= 0);

		/* TLS may hold bytes the socket no longer shows: take them first. */
		if (exec_queue_pending(&s->in_q) < AGENT_EXEC_HIGH_WATER &&
		    session_read_channel(s) < 0)
			return -1;
		if (exec_queue_pending(&s->in_q) > 0 || s->stdin_closing)
			session_write_stdin(s);	/* non-blocking: cheap when not ready */
		if (exec_queue_send(&s->out_q, &s->chan) < 0)
			return -1;
		if (s->exited) {
			long long quiet;

			if (exec_queue_pending(&s->out_q) >= AGENT_EXEC_HIGH_WATER)
				s->last_output_at = clock_mono_ms();	/* not reading is not quiet */
			quiet = clock_mono_ms() - (s->last_output_at > s->exited_at
					    ? s->last_output_at : s->exited_at);

			if (!outputs_open || quiet >= AGENT_EXEC_DRAIN_IDLE_MS)
				return 0;
			timeout = (int)(AGENT_EXEC_DRAIN_IDLE_MS - quiet);
		}
		i_sock = n;
		p[n++] = (struct pollfd){ .fd = upgrade_fd(&s->chan),
			.events = (short)((exec_queue_pending(&s->in_q) < AGENT_EXEC_HIGH_WATER
					   ? POLLIN : 0) |
					  (exec_queue_pending(&s->out_q) ? POLLOUT : 0)) };
		if (!s->exited) {
			i_pid = n;
			p[n++] = (struct pollfd){ .fd = s->pidfd, .events = POLLIN };
			if (s->pidfd < 0)	/* no pidfd: look for the exit now and then */
				timeout = AGENT_EXEC_DRAIN_IDLE_MS;
		}
		if (s->in_fd >= 0 && exec_queue_pending(&s->in_q) > 0)
			p[n++] = (struct pollfd){ .fd = s->in_fd, .events = POLLOUT };
		for (int w = 0; w < (s->r->tty ? 1 : 2); w++)
			if (s->out_fd[w] >= 0 &&
			    exec_queue_pending(&s->out_q) < AGENT_EXEC_HIGH_WATER) {
				i_out[w] = n;
				p[n++] = (struct pollfd){ .fd = s->out_fd[w], .events = POLLIN };
			}
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return -1;
		if (p[i_sock].revents & (POLLERR | POLLNVAL))
			return -1;
		if ((p[i_sock].revents & (POLLIN | POLLHUP)) && session_read_channel(s) < 0)
			return -1;
		for (int w = 0; w < 2; w++)
			if (i_out[w] >= 0 && p[i_out[w]].revents &&
			    session_read_output(s, w) < 0)
				return -1;
		if (i_pid < 0 || p[i_pid].revents || s->pidfd < 0)
			session_reap(s);
	}
}

/* Sends the rest after EXIT and waits for the server to close (bounded). */
static void session_linger(struct session *s)
{
	long long deadline = clock_mono_ms() + AGENT_EXEC_LINGER_MS;
	char sink[4096];

	while (clock_mono_ms() < deadline) {
		struct pollfd p = { .fd = upgrade_fd(&s->chan),
				    .events = (short)(POLLIN |
						      (exec_queue_pending(&s->out_q) ? POLLOUT : 0)) };

		if (exec_queue_send(&s->out_q, &s->chan) < 0)
			return;
		for (;;) {	/* input is of no use now */
			ssize_t n = upgrade_recv(&s->chan, sink, sizeof(sink));

			if (n < 0)
				return;	/* the server closed: done */
			if (n == 0)
				break;
		}
		if (poll(&p, 1, (int)(deadline - clock_mono_ms())) < 0 && errno != EINTR)
			return;
	}
}

/* Ends the process if it still runs, and reaps the helper. */
static void session_kill(struct session *s)
{
	long long deadline = clock_mono_ms() + AGENT_EXEC_KILL_GRACE_MS;

	if (s->helper <= 0)
		return;
	kill(s->helper, SIGTERM);	/* the helper SIGKILLs the process's group */
	while (clock_mono_ms() < deadline) {
		struct pollfd p = { .fd = s->pidfd, .events = POLLIN };

		session_reap(s);
		if (s->helper <= 0)
			return;
		if (s->pidfd < 0)
			usleep(10000);
		else
			poll(&p, 1, (int)(deadline - clock_mono_ms()));
	}
	log_warn("agent: exec %s: the helper did not end; killing its group", s->r->stream_id);
	kill(-s->helper, SIGKILL);
	kill(s->helper, SIGKILL);
	waitpid(s->helper, NULL, 0);
	s->helper = -1;
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*
 * The process's descriptors: a terminal, or pipes (stdin only with
 * "interactive").  child[] are the process's ends, closed by the caller
 * once the helper holds them.
 */
static int session_stdio(struct session *s, int child[3], orch_error *err)
{
	int p[2];

	if (s->r->tty) {
		int master, slave;

		if (container_exec_open_pty(s->r->runtime_dir, s->r->runtime_id, s->r->rows,
					    s->r->cols, &master, &slave, err) < 0)
			return -1;
		s->in_fd = s->out_fd[0] = s->out_fd[1] = master;
		child[0] = child[1] = child[2] = slave;
		if (set_nonblocking(master) < 0)
			return orch_fail_errno(err, errno, "exec: terminal");
		return 0;
	}
	for (int w = 0; w < 2; w++) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return orch_fail_errno(err, errno, "exec: pipe");
		s->out_fd[w] = p[0];
		child[1 + w] = p[1];
		set_nonblocking(p[0]);
	}
	if (s->r->interactive) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return orch_fail_errno(err, errno, "exec: pipe");
		s->in_fd = p[1];
		child[0] = p[0];
		set_nonblocking(p[1]);
	}
	return 0;
}

static void *exec_thread(void *arg)
{
	struct exec_run *r = arg;
	struct session s = { .r = r, .helper = -1, .pidfd = -1, .in_fd = -1,
			     .out_fd = { -1, -1 } };
	int child[3] = { -1, -1, -1 };
	orch_error err = ORCH_ERROR_INIT;
	struct container_state st;
	char id[CONTAINER_ID_LEN + 1], *body = NULL, path[128];
	struct upgrade_request req = {
		.server = r->server, .path = path, .token = r->credential,
		.protocol = EXEC_UPGRADE_PROTOCOL, .ca_pem = r->ca_pem,
		.timeout_ms = AGENT_EXEC_CONNECT_TIMEOUT_MS,
	};
	long status = 0;
	sigset_t pipe_set;
	char message[sizeof(r->container) + sizeof(err.message) + 64];
	int rc;

	exec_frame_reader_init(&s.frames, EXEC_SENDER_CLIENT);
	/* Writes to a closed stdin fail with EPIPE here, not kill the agent. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	snprintf(path, sizeof(path), "/v1/agent/streams/%s", r->stream_id);
	if (container_resolve(r->runtime_dir, r->runtime_id, id, &err) < 0 ||
	    container_state_get(r->runtime_dir, id, &st, &err) < 0 ||
	    st.status != CONTAINER_RUNNING) {
		snprintf(message, sizeof(message), "container \"%s\" of task %s is not running "
			 "on its node", r->container, r->task_id);
		refuse(r, 409, message);
		goto out;
	}
	if (session_stdio(&s, child, &err) < 0) {
		snprintf(message, sizeof(message), "exec in container \"%s\": %s", r->container,
			 err.message);
		refuse(r, 500, message);
		goto out;
	}
	rc = upgrade_open(&req, &s.chan, &status, &body, &err);
	if (rc != 0) {
		log_info("agent: exec %s: the server did not take the channel: %s", r->stream_id,
			 rc < 0 ? err.message : body ? body : "?");
		goto out;
	}
	{
		struct container_exec_options o = {
			.argv = r->argv, .stdin_fd = child[0], .stdout_fd = child[1],
			.stderr_fd = child[2], .tty = r->tty, .supervised = true,
		};

		s.helper = container_exec_start(r->runtime_dir, id, &o, &err);
	}
	for (int i = 0; i < 3; i++)
		if (child[i] >= 0 && (i == 0 || child[i] != child[i - 1]))
			close(child[i]);
	child[0] = child[1] = child[2] = -1;
	if (s.helper < 0) {
		char text[sizeof(r->container) + sizeof(err.message) + 64];
		unsigned char code[4];

		snprintf(text, sizeof(text), "orch: exec in container \"%s\": %s\r\n", r->container,
			 err.message);
		exec_put_u32(code, CONTAINER_EXIT_RUNTIME_ERROR);
		exec_queue_frame(&s.out_q, r->tty ? EXEC_FRAME_STDOUT : EXEC_FRAME_STDERR, text,
				 (uint32_t)strlen(text));
		exec_queue_frame(&s.out_q, EXEC_FRAME_EXIT, code, 4);
		session_linger(&s);
		goto out;
	}
	s.pidfd = (int)syscall(SYS_pidfd_open, s.helper, 0);
	log_info("agent: exec %s in container %s of task %s (helper %d)", r->argv[0], r->container,
		 r->task_id, (int)s.helper);
	if (session_pump(&s) == 0) {
		unsigned char code[4];

		exec_put_u32(code, (uint32_t)s.exit_code);
		if (exec_queue_frame(&s.out_q, EXEC_FRAME_EXIT, code, 4) == 0)
			session_linger(&s);
		log_debug("agent: exec %s ended with %d", r->stream_id, s.exit_code);
	} else {
		log_info("agent: exec %s: the channel closed; ending the process", r->stream_id);
	}
out:
	session_kill(&s);
	for (int i = 0; i < 3; i++)
		if (child[i] >= 0 && (i == 0 || child[i] != child[i - 1]))
			close(child[i]);
	if (s.in_fd >= 0 && s.in_fd != s.out_fd[0])
		close(s.in_fd);
	close_fd(&s.out_fd[0]);
	if (!r->tty)
		close_fd(&s.out_fd[1]);
	close_fd(&s.pidfd);
	upgrade_close(&s.chan);
	exec_queue_release(&s.out_q);
	exec_queue_release(&s.in_q);
	free(body);
	run_free(r);
	atomic_fetch_sub(&exec_active, 1);
	return NULL;
}

/* ---- the poll entry ---------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void agent_exec_begin(const json_t *stream, const struct agent_exec_server *srv)
{
	const char *id = json_string_value(json_object_get(stream, "streamId"));
	const char *rid = json_string_value(json_object_get(stream, "runtimeId"));
	json_t *command = json_object_get(stream, "command"), *v;
	struct exec_run *r;
	bool over;
	pthread_t t;
	size_t i;

	if (!id || strlen(id) >= sizeof(r->stream_id) || !json_is_array(command) ||
	    json_array_size(command) == 0 || json_array_size(command) > EXEC_MAX_ARGS)
		return;
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	snprintf(r->stream_id, sizeof(r->stream_id), "%s", id);
	snprintf(r->task_id, sizeof(r->task_id), "%s",
		 json_string_value(json_object_get(stream, "taskId")) ?: "?");
	snprintf(r->container, sizeof(r->container), "%s",
		 json_string_value(json_object_get(stream, "container")) ?: "?");
	snprintf(r->runtime_id, sizeof(r->runtime_id), "%s", rid ? rid : "");
	r->tty = json_is_true(json_object_get(stream, "tty"));
	r->interactive = json_is_true(json_object_get(stream, "interactive"));
	r->rows = (unsigned short)json_integer_value(json_object_get(stream, "rows"));
	r->cols = (unsigned short)json_integer_value(json_object_get(stream, "cols"));
	r->server = dup_or_null(srv->server);
	r->ca_pem = dup_or_null(srv->ca_pem);
	r->credential = dup_or_null(srv->credential);
	r->runtime_dir = dup_or_null(srv->runtime_dir);
	r->argv = calloc(json_array_size(command) + 1, sizeof(char *));
	if (!r->server || !r->ca_pem || !r->credential || !r->runtime_dir || !r->argv) {
		run_free(r);
		return;
	}
	json_array_foreach(command, i, v)
		if (!json_is_string(v) || !(r->argv[i] = strdup(json_string_value(v)))) {
			run_free(r);
			return;
		}
	over = atomic_fetch_add(&exec_active, 1) >= AGENT_EXEC_MAX_ACTIVE;
	if (over || !r->runtime_id[0]) {
		atomic_fetch_sub(&exec_active, 1);
		refuse(r, over ? 429 : 400, over ? "too many exec sessions on this node"
		       : "the stream names no container");
		run_free(r);
		return;
	}
	if (pthread_create(&t, NULL, exec_thread, r) != 0) {
		atomic_fetch_sub(&exec_active, 1);
		refuse(r, 500, "the agent could not start a thread");
		run_free(r);
		return;
	}
	pthread_detach(t);
}

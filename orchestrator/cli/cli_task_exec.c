/* cli_task_exec.c - `orch task exec`'s end of the channel.  See cli_task_exec.h. */
#include "cli_task_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <jansson.h>

#include "proto/exec_frames.h"
#include "proto/upgrade_client.h"
#include "common/io_util.h"

/* Signals reach the loop through a pipe (the handler only writes to it). */
static int signal_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(signal_pipe[1], &b, 1) < 0) {
		/* full: a signal is pending already */
	}
	errno = saved;
}

struct exec_client {
	struct upgrade_conn chan;
	bool raw;			/* our terminal is in raw mode */
	struct termios saved_termios;
	bool stdin_open;
	struct exec_queue out;		/* frames for the server */
	struct exec_frame_reader frames;	/* the server's, as they come */
	int exit_code;			/* -1 until EXIT */
	bool got_error;			/* an ERROR frame came */
	char error[EXEC_FRAME_MAX_PAYLOAD + 1];	/* its text */
};

static void queue_resize(struct exec_client *c)
{
	struct winsize ws;
	unsigned char p[4];

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
		return;
	p[0] = (unsigned char)(ws.ws_row >> 8);
	p[1] = (unsigned char)ws.ws_row;
	p[2] = (unsigned char)(ws.ws_col >> 8);
	p[3] = (unsigned char)ws.ws_col;
	exec_queue_frame(&c->out, EXEC_FRAME_RESIZE, p, 4);
}

/* One whole frame from the server; -1 on a protocol error. */
static int handle_frame(struct exec_client *c, const struct exec_frame *f)
{
	switch (f->type) {
	case EXEC_FRAME_STDOUT:
	case EXEC_FRAME_STDERR:
		/* A reader that went away (EPIPE) does not end the command. */
		io_write_all(f->type == EXEC_FRAME_STDOUT ? STDOUT_FILENO : STDERR_FILENO, f->payload,
			  f->len);
		return 0;
	case EXEC_FRAME_EXIT:
		c->exit_code = (int)(exec_get_u32(f->payload) & 0xff);
		return 0;
	case EXEC_FRAME_ERROR:
		memcpy(c->error, f->payload, f->len);
		c->error[f->len] = '\0';
		c->got_error = true;
		return 0;
	default:
		return -1;
	}
}

/* Reads what arrived; 1 when the session ended (EXIT, ERROR or close), -1 on garbage. */
static int read_channel(struct exec_client *c)
{
	for (;;) {
		struct exec_frame f;
		int rc = exec_frame_read(&c->frames, &c->chan, &f);

		if (rc == EXEC_READ_NONE)
			return 0;
		if (rc == EXEC_READ_CLOSED)
			return 1;
		if (rc == EXEC_READ_BAD || handle_frame(c, &f) < 0)
			return -1;
		if (c->exit_code >= 0 || c->got_error)
			return 1;
	}
}

static void read_stdin(struct exec_client *c)
{
	unsigned char buf[EXEC_FRAME_MAX_PAYLOAD];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		c->stdin_open = false;
		exec_queue_frame(&c->out, EXEC_FRAME_STDIN_CLOSE, NULL, 0);
		return;
	}
	exec_queue_frame(&c->out, EXEC_FRAME_STDIN, buf, (uint32_t)n);
}

/*
 * The loop: returns the exit code, 128+N for a signal N we got, or -1
 * with err when the channel ended without an exit code.
 */
static int exec_loop(struct exec_client *c, orch_error *err)
{
	int rc;

	for (;;) {
		struct pollfd p[3];
		int n = 0, i_stdin = -1;

		rc = read_channel(c);	/* TLS may hold bytes the socket no longer shows */
		if (rc != 0)
			goto ended;
		p[n++] = (struct pollfd){ .fd = upgrade_fd(&c->chan),
			.events = (short)(POLLIN | (exec_queue_pending(&c->out) ? POLLOUT : 0)) };
		p[n++] = (struct pollfd){ .fd = signal_pipe[0], .events = POLLIN };
		if (c->stdin_open && exec_queue_pending(&c->out) < CLI_EXEC_HIGH_WATER) {
			i_stdin = n;
			p[n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		}
		if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
			return orch_fail_errno(err, errno, "exec: poll");
		if (p[1].revents & POLLIN) {
			unsigned char sig;

			while (read(signal_pipe[0], &sig, 1) == 1) {
				if (sig == SIGWINCH)
					queue_resize(c);
				else
					return 128 + sig;
			}
		}
		if (i_stdin >= 0 && p[i_stdin].revents)
			read_stdin(c);
		if (p[0].revents & (POLLERR | POLLNVAL))
			return orch_fail(err, ORCH_ERR_INTERNAL, "exec: the connection failed");
		if (p[0].revents & (POLLIN | POLLHUP)) {
			rc = read_channel(c);
			if (rc != 0)
				goto ended;
		}
		if (exec_queue_send(&c->out, &c->chan) < 0)
			return orch_fail(err, ORCH_ERR_INTERNAL, "exec: the connection failed");
	}
ended:
	if (rc < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "exec: the server sent a malformed frame");
	if (c->exit_code >= 0)
		return c->exit_code;
	return orch_fail(err, ORCH_ERR_INTERNAL, "exec: %s", c->error[0] ? c->error
			 : c->got_error ? "the server ended the session"
			 : "the channel closed before the command exited");
}

/* A refusal's JSON error body as an orch_error. */
static int refusal(long status, const char *body, orch_error *err)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "message"));
	const char *type = json_string_value(json_object_get(j, "__type"));

	orch_fail(err, status == 404 ? ORCH_ERR_NOT_FOUND : status == 409 ? ORCH_ERR_CONFLICT
		  : status < 500 ? ORCH_ERR_INVALID : ORCH_ERR_INTERNAL, "%s (%ld%s%s)",
		  msg ? msg : "exec refused", status, type ? " " : "", type ? type : "");
	json_decref(j);
	return -1;
}

static json_t *exec_body(const struct cli_exec_options *o)
{
	json_t *command = json_array(), *body;
	struct winsize ws = { 0 };

	for (int i = 0; i < o->argc; i++)
		json_array_append_new(command, json_string(o->argv[i]));
	if (o->tty && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
	body = json_pack("{s:o, s:b, s:b, s:i, s:i}", "command", command, "tty", o->tty,
			 "interactive", o->interactive, "rows", (int)ws.ws_row,
			 "cols", (int)ws.ws_col);
	if (body && o->container)
		json_object_set_new(body, "container", json_string(o->container));
	return body;
}

int cli_task_exec_run(const struct cli_conn *conn, const char *path,
		      const struct cli_exec_options *o, orch_error *err)
{
	static const int handled[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
	struct sigaction sa = { .sa_handler = on_signal }, old[4];
	struct exec_client *c;
	json_t *body = exec_body(o);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *refused = NULL;
	struct upgrade_request req = {
		.server = conn->server, .path = path, .token = conn->token,
		.protocol = EXEC_UPGRADE_PROTOCOL, .ca_file = conn->ca_file,
		.body = text, .body_len = text ? strlen(text) : 0,
		.timeout_ms = CLI_EXEC_OPEN_TIMEOUT_MS,
	};
	long status = 0;
	int rc;

	json_decref(body);
	c = calloc(1, sizeof(*c));
	if (!text || !c) {
		free(text);
		free(c);
		return orch_fail_errno(err, ENOMEM, "exec");
	}
	c->exit_code = -1;
	exec_frame_reader_init(&c->frames, EXEC_SENDER_AGENT);
	signal(SIGPIPE, SIG_IGN);
	rc = upgrade_open(&req, &c->chan, &status, &refused, err);
	free(text);
	if (rc != 0) {
		if (rc > 0)
			refusal(status, refused, err);
		free(refused);
		free(c);
		return -1;
	}
	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		upgrade_close(&c->chan);
		free(c);
		return orch_fail_errno(err, errno, "exec: pipe");
	}
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(handled[i], &sa, &old[i]);
	c->stdin_open = o->interactive;
	if (o->tty && o->interactive && isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &c->saved_termios) == 0) {
		struct termios raw = c->saved_termios;

		cfmakeraw(&raw);
		c->raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	rc = exec_loop(c, err);
	if (c->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_termios);
	for (int i = 0; i < 4; i++)
		sigaction(handled[i], &old[i], NULL);
	close(signal_pipe[0]);
	close(signal_pipe[1]);
	signal_pipe[0] = signal_pipe[1] = -1;
	/*
	 * Leaving a session the server did not end (a signal, a failure): a
	 * reset, not a close, which would reach the server only after the input
	 * still queued here, and never while the server holds that input back
	 * (the command does not read it): the command would run on.
	 */
	if (c->exit_code < 0 && !c->got_error && upgrade_fd(&c->chan) >= 0)
		setsockopt(upgrade_fd(&c->chan), SOL_SOCKET, SO_LINGER,
			   &(struct linger){ .l_onoff = 1, .l_linger = 0 }, sizeof(struct linger));
	upgrade_close(&c->chan);
	exec_queue_release(&c->out);
	free(c);
	return rc;
}

/*
 * conn.c - the proxy's connections: plain sockets driven here, TLS through
 * libevent's OpenSSL bufferevent (the rules are in conn.h).
 *
 * A plain connection has a read event, a write event and one timer.  The
 * read event is added while reading is wanted (enabled, connected, input
 * under the limit); the write event while output waits for the socket (or
 * a connect is in progress).  Timeouts are deadlines on the coarse clock
 * (clock_mono_coarse_ms): "since" is the last progress in that direction, or when the
 * direction started waiting.  The timer is set for the earliest deadline
 * and moved only when a deadline comes closer than the time it is set for;
 * progress only moves deadlines later, so it costs no timer work.  When the
 * timer fires it expires what is due and sets itself for what is left.
 *
 * Callbacks may free the connection: `busy` counts our own frames on the
 * stack, and lb_conn_free inside one only closes the socket, drops the
 * events and marks it; the outermost frame frees the memory.
 */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lb-t.h"
#include "common/clock.h"

struct lb_conn {
	struct bufferevent *bev;		/* set: a delegating (TLS) connection */

	/* plain sockets */
	evutil_socket_t fd;
	struct evbuffer *input, *output;
	struct event *read_event, *write_event, *timer;
	bool reading;				/* the owner wants input */
	bool read_watching;			/* read_event added */
	bool write_watching;			/* write_event added */
	bool connecting;
	bool write_failed;			/* an error or timeout ended writing */
	int connect_error;			/* connect failed at once: reported from the loop */
	size_t read_high, write_low;
	int64_t read_timeout_ms, write_timeout_ms;	/* 0: none */
	int64_t read_since_ms, write_since_ms;
	bool timer_armed;
	int64_t timer_at_ms;
	int busy;
	bool freed;
	struct lb_conn_turn *turn;
	bool queued;				/* on turn's list: write_cb due after the turn */
	struct lb_conn *turn_next, **turn_prev;

	lb_conn_data_cb read_cb, write_cb;
	lb_conn_event_cb event_cb;
	void *arg;
};

/* Chains of the output handed to one sendmsg. */
#define LB_CONN_WRITE_CHAINS 16

/* Every plain read lands here first: the input gets a chain of the right size. */
static _Thread_local char read_scratch[LB_CONN_READ_BYTES];

static int64_t ms_of(double seconds)
{
	int64_t ms;

	if (seconds <= 0)
		return 0;
	ms = (int64_t)(seconds * 1000.0);
	return (double)ms < seconds * 1000.0 ? ms + 1 : ms;
}

static void conn_unqueue(struct lb_conn *c)
{
	if (!c->queued)
		return;
	*c->turn_prev = c->turn_next;
	if (c->turn_next)
		c->turn_next->turn_prev = c->turn_prev;
	c->queued = false;
}

static void conn_destroy(struct lb_conn *c)
{
	conn_unqueue(c);
	if (c->read_event)
		event_free(c->read_event);
	if (c->write_event)
		event_free(c->write_event);
	if (c->timer)
		event_free(c->timer);
	if (c->input)
		evbuffer_free(c->input);
	if (c->output)
		evbuffer_free(c->output);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void conn_unbusy(struct lb_conn *c)
{
	if (--c->busy == 0 && c->freed)
		conn_destroy(c);
}

static void conn_report(struct lb_conn *c, short what)
{
	if (c->event_cb)
		c->event_cb(c, what, c->arg);
}

/* ---- timeouts ------------------------------------------------------------ */

static int64_t conn_next_deadline(const struct lb_conn *c)
{
	int64_t next = INT64_MAX;

	if (c->read_watching && c->read_timeout_ms)
		next = c->read_since_ms + c->read_timeout_ms;
	if (c->write_watching && c->write_timeout_ms && c->write_since_ms + c->write_timeout_ms < next)
		next = c->write_since_ms + c->write_timeout_ms;
	return next;
}

/* Make sure the timer fires no later than the earliest deadline. */
static void conn_timer_update(struct lb_conn *c, int64_t now)
{
	int64_t deadline = conn_next_deadline(c), delay;
	struct timeval tv;

	if (deadline == INT64_MAX || (c->timer_armed && c->timer_at_ms <= deadline))
		return;
	delay = deadline > now ? deadline - now : 0;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	c->timer_armed = true;
	c->timer_at_ms = deadline;
}

/* ---- watching the socket --------------------------------------------------- */

static void conn_watch_read(struct lb_conn *c, bool on)
{
	if (on == c->read_watching)
		return;
	c->read_watching = on;
	if (on) {
		int64_t now = clock_mono_coarse_ms();

		event_add(c->read_event, NULL);
		c->read_since_ms = now;
		conn_timer_update(c, now);
	} else {
		event_del(c->read_event);
	}
}

static void conn_watch_write(struct lb_conn *c, bool on)
{
	if (on == c->write_watching)
		return;
	c->write_watching = on;
	if (on) {
		int64_t now = clock_mono_coarse_ms();

		event_add(c->write_event, NULL);
		c->write_since_ms = now;
		conn_timer_update(c, now);
	} else {
		event_del(c->write_event);
	}
}

/* Read while the owner wants it, the socket is connected and the input has room. */
static void conn_update_read(struct lb_conn *c)
{
	conn_watch_read(c, c->reading && !c->connecting && !c->freed &&
			   (c->read_high == 0 || evbuffer_get_length(c->input) < c->read_high));
}

/*
 * Bytes written (0 if the kernel took none), or -1 on an error other than
 * EAGAIN.  send/sendmsg rather than writev: the socket calls skip the file
 * layer, and MSG_NOSIGNAL makes a closed peer an error, not a SIGPIPE.
 */
static ssize_t conn_write(struct lb_conn *c)
{
	struct evbuffer_iovec chains[LB_CONN_WRITE_CHAINS];
	struct iovec iov[LB_CONN_WRITE_CHAINS];
	int count = evbuffer_peek(c->output, -1, NULL, chains, LB_CONN_WRITE_CHAINS);
	ssize_t n;

	if (count <= 0)
		return 0;
	if (count > LB_CONN_WRITE_CHAINS)
		count = LB_CONN_WRITE_CHAINS;
	if (count == 1) {
		n = send(c->fd, chains[0].iov_base, chains[0].iov_len, MSG_NOSIGNAL);
	} else {
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)count };

		for (int i = 0; i < count; i++) {
			iov[i].iov_base = chains[i].iov_base;
			iov[i].iov_len = chains[i].iov_len;
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	if (n > 0) {
		evbuffer_drain(c->output, (size_t)n);
		c->write_since_ms = clock_mono_coarse_ms();
	}
	return n;
}

/* ---- event callbacks (plain) ------------------------------------------------ */

static void conn_read_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb_conn *c = arg;
	size_t len = evbuffer_get_length(c->input), want = LB_CONN_READ_BYTES;
	ssize_t n;

	if (c->read_high) {
		if (len >= c->read_high) {
			conn_update_read(c);
			return;
		}
		if (c->read_high - len < want)
			want = c->read_high - len;
	}
	n = recv(fd, read_scratch, want, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	c->busy++;
	if (n <= 0 || evbuffer_add(c->input, read_scratch, (size_t)n) < 0) {
		c->reading = false;
		conn_update_read(c);
		conn_report(c, (short)((n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR) | BEV_EVENT_READING));
	} else {
		c->read_since_ms = clock_mono_coarse_ms();
		if (c->read_high && len + (size_t)n >= c->read_high)
			conn_update_read(c);
		if (c->read_cb)
			c->read_cb(c, c->arg);
	}
	conn_unbusy(c);
}

static void conn_connect_done(struct lb_conn *c)
{
	int e = c->connect_error;
	socklen_t elen = sizeof(e);

	if (!e && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		e = errno;
	if (e == EINPROGRESS || e == EALREADY)
		return;	/* not yet: a spurious wake-up */
	c->connecting = false;
	conn_watch_write(c, false);
	if (e) {
		c->write_failed = true;
		c->reading = false;
		errno = e;
		conn_report(c, BEV_EVENT_ERROR);
		return;
	}
	conn_update_read(c);
	conn_report(c, BEV_EVENT_CONNECTED);
	if (!c->freed)
		lb_conn_settle(c);
}

static void conn_write_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb_conn *c = arg;
	ssize_t n;

	c->busy++;
	if (c->connecting) {
		conn_connect_done(c);
	} else if (c->write_failed) {
		conn_watch_write(c, false);
	} else if ((n = conn_write(c)) < 0) {
		conn_watch_write(c, false);
		c->write_failed = true;
		conn_report(c, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
	} else {
		size_t left = evbuffer_get_length(c->output);

		if (left == 0)
			conn_watch_write(c, false);
		if (n > 0 && left <= c->write_low && c->write_cb)
			c->write_cb(c, c->arg);
	}
	conn_unbusy(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lb_conn *c = arg;
	int64_t now = clock_mono_coarse_ms();

	c->timer_armed = false;
	c->busy++;
	if (c->read_watching && c->read_timeout_ms && now >= c->read_since_ms + c->read_timeout_ms) {
		c->reading = false;
		conn_update_read(c);
		conn_report(c, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
	}
	if (!c->freed && c->write_watching && c->write_timeout_ms &&
	    now >= c->write_since_ms + c->write_timeout_ms) {
		if (c->connecting) {
			c->connecting = false;
			c->reading = false;
		}
		c->write_failed = true;
		conn_watch_write(c, false);
		conn_report(c, BEV_EVENT_TIMEOUT | BEV_EVENT_WRITING);
	}
	if (!c->freed)
		conn_timer_update(c, clock_mono_coarse_ms());
	conn_unbusy(c);
}

/* ---- delegation to a bufferevent --------------------------------------------- */

static void bev_read_cb(struct bufferevent *bev, void *arg)
{
	struct lb_conn *c = arg;

	if (c->read_cb)
		c->read_cb(c, c->arg);
}

static void bev_write_cb(struct bufferevent *bev, void *arg)
{
	struct lb_conn *c = arg;

	if (c->write_cb)
		c->write_cb(c, c->arg);
}

static void bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lb_conn *c = arg;

	conn_report(c, what);
}

/* ---- the interface ----------------------------------------------------------- */

struct lb_conn *lb_conn_new_socket(struct event_base *base, struct lb_conn_turn *turn,
				   evutil_socket_t fd)
{
	struct lb_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->turn = turn;
	c->input = evbuffer_new();
	c->output = evbuffer_new();
	c->read_event = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_event_cb, c);
	c->write_event = event_new(base, fd, EV_WRITE | EV_PERSIST, conn_write_event_cb, c);
	c->timer = evtimer_new(base, conn_timer_cb, c);
	if (!c->input || !c->output || !c->read_event || !c->write_event || !c->timer) {
		conn_destroy(c);
		return NULL;
	}
	return c;
}

struct lb_conn *lb_conn_new_bufferevent(struct bufferevent *bev)
{
	struct lb_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		bufferevent_free(bev);
		return NULL;
	}
	c->bev = bev;
	c->fd = -1;
	bufferevent_setcb(bev, bev_read_cb, bev_write_cb, bev_event_cb, c);
	bufferevent_enable(bev, EV_WRITE);
	return c;
}

struct lb_conn *lb_conn_connect(struct event_base *base, struct lb_conn_turn *turn,
				const struct sockaddr *addr, socklen_t addr_len)
{
	int one = 1, e;
	evutil_socket_t fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct lb_conn *c;

	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = lb_conn_new_socket(base, turn, fd);
	if (!c)
		return NULL;
	c->connecting = true;
	if (connect(fd, addr, addr_len) < 0 && errno != EINPROGRESS) {
		e = errno;
		if (e != ECONNREFUSED) {
			conn_destroy(c);
			errno = e;
			return NULL;
		}
		/* Refused at once: reported from the loop, like any failed connect. */
		c->connect_error = e;
		event_active(c->write_event, EV_WRITE, 1);
	}
	conn_watch_write(c, true);
	return c;
}

void lb_conn_free(struct lb_conn *c)
{
	if (!c)
		return;
	if (c->bev) {
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	if (!c->busy) {
		conn_destroy(c);
		return;
	}
	/* Inside one of our callbacks: go quiet now, free on the way out. */
	c->freed = true;
	c->read_cb = c->write_cb = NULL;
	c->event_cb = NULL;
	conn_watch_read(c, false);
	conn_watch_write(c, false);
	conn_unqueue(c);
	evtimer_del(c->timer);
	close(c->fd);
	c->fd = -1;
}

void lb_conn_setcb(struct lb_conn *c, lb_conn_data_cb read_cb, lb_conn_data_cb write_cb,
		   lb_conn_event_cb event_cb, void *arg)
{
	c->read_cb = read_cb;
	c->write_cb = write_cb;
	c->event_cb = event_cb;
	c->arg = arg;
}

void lb_conn_enable(struct lb_conn *c, short what)
{
	if (!(what & EV_READ))
		return;
	if (c->bev) {
		bufferevent_enable(c->bev, EV_READ);
		return;
	}
	c->reading = true;
	conn_update_read(c);
}

void lb_conn_disable(struct lb_conn *c, short what)
{
	if (!(what & EV_READ))
		return;
	if (c->bev) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	c->reading = false;
	conn_update_read(c);
}

void lb_conn_set_timeouts(struct lb_conn *c, double read_seconds, double write_seconds)
{
	int64_t now;

	if (c->bev) {
		struct timeval rtv, wtv;

		rtv.tv_sec = (time_t)read_seconds;
		rtv.tv_usec = (suseconds_t)((read_seconds - (double)rtv.tv_sec) * 1e6);
		wtv.tv_sec = (time_t)write_seconds;
		wtv.tv_usec = (suseconds_t)((write_seconds - (double)wtv.tv_sec) * 1e6);
		bufferevent_set_timeouts(c->bev, read_seconds > 0 ? &rtv : NULL,
					 write_seconds > 0 ? &wtv : NULL);
		return;
	}
	now = clock_mono_coarse_ms();
	c->read_timeout_ms = ms_of(read_seconds);
	c->write_timeout_ms = ms_of(write_seconds);
	c->read_since_ms = c->write_since_ms = now;
	conn_timer_update(c, now);
}

void lb_conn_set_watermarks(struct lb_conn *c, size_t read_high, size_t write_low)
{
	if (c->bev) {
		bufferevent_setwatermark(c->bev, EV_READ, 0, read_high);
		bufferevent_setwatermark(c->bev, EV_WRITE, write_low, 0);
		return;
	}
	c->read_high = read_high;
	c->write_low = write_low;
	conn_update_read(c);
}

void lb_conn_settle(struct lb_conn *c)
{
	ssize_t n;
	size_t left;

	if (c->bev || c->freed)
		return;	/* a bufferevent writes and resumes by itself */
	if (c->reading && !c->read_watching)
		conn_update_read(c);
	/* Waiting for the socket to take more (or to report an error): the event writes. */
	if (c->connecting || c->write_failed || c->write_watching)
		return;
	if (evbuffer_get_length(c->output) == 0)
		return;
	/* On an error the write event fires at once and reports it from the loop. */
	n = conn_write(c);
	left = evbuffer_get_length(c->output);
	if (n < 0 || left > 0)
		conn_watch_write(c, true);
	if (n > 0 && left <= c->write_low && c->write_cb && !c->queued) {
		c->queued = true;
		c->turn_next = c->turn->first;
		if (c->turn_next)
			c->turn_next->turn_prev = &c->turn_next;
		c->turn_prev = &c->turn->first;
		c->turn->first = c;
	}
}

void lb_conn_turn_finish(struct lb_conn_turn *turn)
{
	struct lb_conn *c;

	while ((c = turn->first)) {
		conn_unqueue(c);
		/* Still true?  More may have been queued since, or an error ended writing. */
		if (c->write_failed || evbuffer_get_length(c->output) > c->write_low || !c->write_cb)
			continue;
		c->busy++;
		c->write_cb(c, c->arg);
		conn_unbusy(c);
	}
}

struct evbuffer *lb_conn_input(struct lb_conn *c)
{
	return c->bev ? bufferevent_get_input(c->bev) : c->input;
}

struct evbuffer *lb_conn_output(struct lb_conn *c)
{
	return c->bev ? bufferevent_get_output(c->bev) : c->output;
}

evutil_socket_t lb_conn_fd(struct lb_conn *c)
{
	return c->bev ? bufferevent_getfd(c->bev) : c->fd;
}

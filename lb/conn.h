/*
 * conn.h - a buffered byte stream on one worker's loop: the proxy's view of
 * a client or an upstream connection, plain TCP or TLS.
 *
 * Why not libevent's socket bufferevent: before every read it asks the
 * kernel how many bytes are waiting (ioctl FIONREAD: one system call in
 * three on the proxy's request path), and it re-arms its read and write
 * timeouts in the timer heap on every read and write.  A plain connection
 * here reads into a fixed per-thread buffer with one recv(2), writes with
 * one send/sendmsg when its owner settles it, and keeps its timeouts as
 * deadlines on the coarse clock, checked by one timer that is only moved
 * when a deadline comes closer (so progress costs nothing).
 * A TLS connection keeps libevent's OpenSSL bufferevent underneath: the
 * same interface and the same rules hold for both.
 *
 * The rules:
 *   - Input: lb_conn_input() holds what was read, for the owner to consume.
 *     Reading runs while enabled (lb_conn_enable(EV_READ)) and the input
 *     holds less than the read limit; read_cb runs after each read.  When
 *     the owner consumes input below the limit, lb_conn_settle resumes it.
 *   - Output: lb_conn_output() holds what is to be sent.  The owner calls
 *     lb_conn_settle at the end of each of its callbacks, which writes a
 *     plain connection's output at once; whatever the kernel does not take
 *     is written when the socket turns writable.  write_cb runs once a
 *     write leaves at most the write low mark queued: from the loop after a
 *     write there, or after the turn (lb_conn_turn_finish) for a write made
 *     by lb_conn_settle, so it never runs inside the owner's own callback.
 *     Writing is never "disabled": queued bytes always go out.
 *   - event_cb(what) uses libevent's BEV_EVENT_* flags: CONNECTED;
 *     EOF|READING; ERROR with READING or WRITING (or neither: connect
 *     failed); TIMEOUT|READING (nothing read for the read timeout while
 *     reading was enabled); TIMEOUT|WRITING (nothing written for the write
 *     timeout while output waited, or the connect took longer than it).  The
 *     direction an event names is off afterwards.
 *   - Any callback may free its connection (lb_conn_free); nothing touches
 *     it afterwards.
 *
 * One worker thread owns a connection and everything above.
 */
#ifndef ORCH_LB_CONN_H
#define ORCH_LB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

/* The most one recv(2) takes from a plain socket. */
#define LB_CONN_READ_BYTES 16384

struct lb_conn;

/*
 * A worker's turn of the loop: connections that lb_conn_settle wrote to and
 * whose write_cb is due wait here, and the loop's owner runs those
 * callbacks with lb_conn_turn_finish after each turn.  One per worker; a
 * connection knows its turn list from birth.
 */
struct lb_conn_turn {
	struct lb_conn *first;
};

typedef void (*lb_conn_data_cb)(struct lb_conn *conn, void *arg);
typedef void (*lb_conn_event_cb)(struct lb_conn *conn, short what, void *arg);

/* Adopt a connected plain socket (closed by lb_conn_free; closed now on failure). */
struct lb_conn *lb_conn_new_socket(struct event_base *base, struct lb_conn_turn *turn,
				   evutil_socket_t fd);

/* Adopt a bufferevent, e.g. a TLS one (freed by lb_conn_free; freed now on failure). */
struct lb_conn *lb_conn_new_bufferevent(struct bufferevent *bev);

/*
 * Start a non-blocking TCP connect (TCP_NODELAY set).  CONNECTED or an
 * error event follows once the caller is back in the loop.  NULL (errno
 * set) when no attempt could even be made: no socket, no local address.
 */
struct lb_conn *lb_conn_connect(struct event_base *base, struct lb_conn_turn *turn,
				const struct sockaddr *addr, socklen_t addr_len);

/* Run the write callbacks due from this turn's writes (the loop's owner, after each turn). */
void lb_conn_turn_finish(struct lb_conn_turn *turn);

void lb_conn_free(struct lb_conn *conn);

void lb_conn_setcb(struct lb_conn *conn, lb_conn_data_cb read_cb, lb_conn_data_cb write_cb,
		   lb_conn_event_cb event_cb, void *arg);

/* EV_READ only: writing is never off (see above). */
void lb_conn_enable(struct lb_conn *conn, short what);
void lb_conn_disable(struct lb_conn *conn, short what);

/* Seconds, 0 for none.  Both restart from now, as a re-armed timeout would. */
void lb_conn_set_timeouts(struct lb_conn *conn, double read_seconds, double write_seconds);

/* Stop reading at read_high input bytes (0: no limit); write_cb at <= write_low queued. */
void lb_conn_set_watermarks(struct lb_conn *conn, size_t read_high, size_t write_low);

/* Write what is queued and resume reading held back by the limit. */
void lb_conn_settle(struct lb_conn *conn);

struct evbuffer *lb_conn_input(struct lb_conn *conn);
struct evbuffer *lb_conn_output(struct lb_conn *conn);
evutil_socket_t lb_conn_fd(struct lb_conn *conn);

#endif

/*
 * exec_frames.h - what both ends of an `orch task exec` channel do with its
 * bytes (exec_protocol.h): the CLI and the agent each keep a queue of
 * frames waiting for the connection, and each read the peer's frames a few
 * bytes at a time as the connection yields them.
 *
 * struct exec_queue is a growable byte queue.  It owns its buffer
 * (exec_queue_release frees it); a zeroed struct is an empty queue.  The
 * agent uses one for its process's stdin as well.
 *
 * struct exec_frame_reader collects one frame at a time in its own buffer
 * and hands out whole frames, checked against what their sender may send:
 * a type from the other side, an unknown one, or a length its type does
 * not allow is a bad frame, and the reader refuses everything after it.
 * It never takes a byte past the frame it is collecting, so a caller that
 * stops asking leaves the rest of the channel unread (backpressure).
 */
#ifndef ORCH_EXEC_FRAMES_H
#define ORCH_EXEC_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec_protocol.h"
#include "upgrade_client.h"

/* The first allocation of a queue; it doubles from there as needed. */
#define EXEC_QUEUE_FIRST_BYTES 4096

/* Bytes waiting: data[off..len) of cap bytes. */
struct exec_queue {
	unsigned char *data;
	size_t off, len, cap;
};

size_t exec_queue_pending(const struct exec_queue *q);
/* The first waiting byte (exec_queue_pending(q) of them). */
const unsigned char *exec_queue_head(const struct exec_queue *q);
/* Appends n bytes; -1 (the queue unchanged) when out of memory. */
int exec_queue_add(struct exec_queue *q, const void *bytes, size_t n);
/* Appends one frame, header and payload; -1 (nothing added) when out of memory. */
int exec_queue_frame(struct exec_queue *q, unsigned type, const void *payload, uint32_t len);
/* Forgets the first n waiting bytes (they were written). */
void exec_queue_drop(struct exec_queue *q, size_t n);
/*
 * Sends what waits until the connection would block or the queue is
 * empty; -1 when the connection failed.  The queue may be compacted or
 * grown before the retry of a send that blocked: the upgraded connection
 * accepts a moved write buffer (upgrade_client.c).
 */
int exec_queue_send(struct exec_queue *q, struct upgrade_conn *c);
void exec_queue_release(struct exec_queue *q);

/* Whose frames a reader accepts. */
enum exec_sender {
	EXEC_SENDER_CLIENT,	/* STDIN, STDIN_CLOSE, RESIZE */
	EXEC_SENDER_AGENT,	/* STDOUT, STDERR, EXIT, ERROR */
};

struct exec_frame {
	unsigned type;
	uint32_t len;
	const unsigned char *payload;	/* len bytes; good until the reader's next call */
};

struct exec_frame_reader {
	enum exec_sender sender;
	bool bad;			/* a bad frame came: nothing more is read */
	size_t have;			/* bytes of the frame being collected */
	unsigned char frame[EXEC_FRAME_HEADER_BYTES + EXEC_FRAME_MAX_PAYLOAD];
};

/* What exec_frame_read and exec_frame_feed found. */
enum exec_read_result {
	EXEC_READ_BAD = -2,		/* a frame its sender may not send */
	EXEC_READ_CLOSED = -1,		/* the peer closed, or the connection failed */
	EXEC_READ_NONE = 0,		/* no whole frame yet; every byte at hand was taken */
	EXEC_READ_FRAME = 1,		/* *f is the next frame */
};

void exec_frame_reader_init(struct exec_frame_reader *r, enum exec_sender sender);
/*
 * Reads from c up to the end of the next frame: EXEC_READ_FRAME with *f,
 * EXEC_READ_NONE when c has nothing more now, or the end of the channel.
 */
int exec_frame_read(struct exec_frame_reader *r, struct upgrade_conn *c, struct exec_frame *f);
/*
 * The same from bytes in memory: takes from *bytes (advancing it and
 * shrinking *n) up to the end of the next frame.  Never EXEC_READ_CLOSED.
 */
int exec_frame_feed(struct exec_frame_reader *r, const unsigned char **bytes, size_t *n,
		    struct exec_frame *f);

#endif

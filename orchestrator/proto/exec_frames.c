/* exec_frames.c - an exec channel end's send queue and frame reader.  See exec_frames.h. */
#include "exec_frames.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the queue ------------------------------------------------------------ */

size_t exec_queue_pending(const struct exec_queue *q)
{
	return q->len - q->off;
}

const unsigned char *exec_queue_head(const struct exec_queue *q)
{
	return q->data + q->off;
}

/* Makes room for n more bytes at data + len: compacts first, then grows. */
static int queue_reserve(struct exec_queue *q, size_t n)
{
	size_t cap;
	unsigned char *grown;

	if (q->off == q->len)
		q->off = q->len = 0;
	if (n > SIZE_MAX / 2 - q->len)
		return -1;	/* never: frames are small */
	if (q->len + n <= q->cap)
		return 0;
	if (q->off > 0) {
		memmove(q->data, q->data + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	cap = q->cap ? q->cap : EXEC_QUEUE_FIRST_BYTES;
	while (cap < q->len + n)
		cap *= 2;
	if (cap != q->cap) {
		grown = realloc(q->data, cap);
		if (!grown)
			return -1;
		q->data = grown;
		q->cap = cap;
	}
	return 0;
}

int exec_queue_add(struct exec_queue *q, const void *bytes, size_t n)
{
	if (n == 0)
		return 0;
	if (queue_reserve(q, n) < 0)
		return -1;
	memcpy(q->data + q->len, bytes, n);
	q->len += n;
	return 0;
}

int exec_queue_frame(struct exec_queue *q, unsigned type, const void *payload, uint32_t len)
{
	if (queue_reserve(q, EXEC_FRAME_HEADER_BYTES + (size_t)len) < 0)
		return -1;
	exec_frame_header(q->data + q->len, type, len);
	if (len)
		memcpy(q->data + q->len + EXEC_FRAME_HEADER_BYTES, payload, len);
	q->len += EXEC_FRAME_HEADER_BYTES + (size_t)len;
	return 0;
}

void exec_queue_drop(struct exec_queue *q, size_t n)
{
	q->off += n < exec_queue_pending(q) ? n : exec_queue_pending(q);
}

int exec_queue_send(struct exec_queue *q, struct upgrade_conn *c)
{
	while (exec_queue_pending(q) > 0) {
		ssize_t n = upgrade_send(c, exec_queue_head(q), exec_queue_pending(q));

		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		q->off += (size_t)n;
	}
	return 0;
}

void exec_queue_release(struct exec_queue *q)
{
	free(q->data);
	q->data = NULL;
	q->off = q->len = q->cap = 0;
}

/* ---- the reader ------------------------------------------------------------ */

void exec_frame_reader_init(struct exec_frame_reader *r, enum exec_sender sender)
{
	r->sender = sender;
	r->bad = false;
	r->have = 0;
}

/* Bytes the frame being collected still lacks: its header, then its payload. */
static size_t reader_want(const struct exec_frame_reader *r)
{
	if (r->have < EXEC_FRAME_HEADER_BYTES)
		return EXEC_FRAME_HEADER_BYTES - r->have;
	return EXEC_FRAME_HEADER_BYTES + exec_get_u32(r->frame + 1) - r->have;
}

/*
 * n more bytes are in frame[have..]: a header is checked as soon as it is
 * whole (before its payload is read), and a whole frame is handed out.
 */
static int reader_took(struct exec_frame_reader *r, size_t n, struct exec_frame *f)
{
	bool had_header = r->have >= EXEC_FRAME_HEADER_BYTES;
	unsigned type;
	uint32_t len;

	r->have += n;
	if (r->have < EXEC_FRAME_HEADER_BYTES)
		return EXEC_READ_NONE;
	type = r->frame[0];
	len = exec_get_u32(r->frame + 1);
	if (!had_header &&
	    (!(r->sender == EXEC_SENDER_AGENT ? exec_frame_from_agent(type)
					       : exec_frame_from_client(type)) ||
	     !exec_frame_length_ok(type, len))) {
		r->bad = true;
		return EXEC_READ_BAD;
	}
	if (reader_want(r) > 0)
		return EXEC_READ_NONE;
	*f = (struct exec_frame){ .type = type, .len = len,
				  .payload = r->frame + EXEC_FRAME_HEADER_BYTES };
	r->have = 0;	/* the next call overwrites the payload, not before */
	return EXEC_READ_FRAME;
}

int exec_frame_read(struct exec_frame_reader *r, struct upgrade_conn *c, struct exec_frame *f)
{
	for (;;) {
		ssize_t n;
		int rc;

		if (r->bad)
			return EXEC_READ_BAD;
		n = upgrade_recv(c, r->frame + r->have, reader_want(r));
		if (n < 0)
			return EXEC_READ_CLOSED;
		if (n == 0)
			return EXEC_READ_NONE;
		rc = reader_took(r, (size_t)n, f);
		if (rc != EXEC_READ_NONE)
			return rc;
	}
}

int exec_frame_feed(struct exec_frame_reader *r, const unsigned char **bytes, size_t *n,
		    struct exec_frame *f)
{
	while (!r->bad && *n > 0) {
		size_t take = reader_want(r) < *n ? reader_want(r) : *n;
		int rc;

		memcpy(r->frame + r->have, *bytes, take);
		*bytes += take;
		*n -= take;
		rc = reader_took(r, take, f);
		if (rc != EXEC_READ_NONE)
			return rc;
	}
	return r->bad ? EXEC_READ_BAD : EXEC_READ_NONE;
}

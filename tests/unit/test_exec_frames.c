/*
 * test_exec_frames.c - unit tests of an exec channel end's frame reader
 * and send queue (exec_frames.h): frames come whole however the bytes are
 * split, empty frames count, a length or type the sender may not send is
 * refused at its header (before any payload) and for good, and what the
 * queue holds reads back as the frames that were queued.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/exec_frames.h"

static struct exec_frame_reader *reader_new(enum exec_sender sender)
{
	struct exec_frame_reader *r = malloc(sizeof(*r));

	assert_non_null(r);
	exec_frame_reader_init(r, sender);
	return r;
}

/* A frame's bytes, header and payload, into out; returns their count. */
static size_t frame_bytes(unsigned char *out, unsigned type, const void *payload, uint32_t len)
{
	exec_frame_header(out, type, len);
	if (len)
		memcpy(out + EXEC_FRAME_HEADER_BYTES, payload, len);
	return EXEC_FRAME_HEADER_BYTES + len;
}

static void assert_frame(const struct exec_frame *f, unsigned type, const char *payload)
{
	assert_int_equal(f->type, type);
	assert_int_equal(f->len, strlen(payload));
	assert_memory_equal(f->payload, payload, f->len);
}

static void test_frames_split_across_feeds(void **state)
{
	struct exec_frame_reader *r = reader_new(EXEC_SENDER_AGENT);
	unsigned char bytes[64];
	size_t total = 0;
	struct exec_frame f;

	(void)state;
	total += frame_bytes(bytes + total, EXEC_FRAME_STDOUT, "hello", 5);
	total += frame_bytes(bytes + total, EXEC_FRAME_STDERR, "oops\n", 5);
	/* One byte a feed: a frame only once its last byte came. */
	for (int pass = 0; pass < 2; pass++) {
		size_t frames = 0;

		for (size_t i = 0; i < total; i++) {
			const unsigned char *p = bytes + i;
			size_t n = 1;
			int rc = exec_frame_feed(r, &p, &n, &f);

			assert_int_equal(n, 0);
			if (i == 9 || i == total - 1) {
				assert_int_equal(rc, EXEC_READ_FRAME);
				if (frames == 0)
					assert_frame(&f, EXEC_FRAME_STDOUT, "hello");
				else
					assert_frame(&f, EXEC_FRAME_STDERR, "oops\n");
				frames++;
			} else {
				assert_int_equal(rc, EXEC_READ_NONE);
			}
		}
		assert_int_equal(frames, 2);
	}
	/* Both in one feed: the reader stops at the end of the first. */
	{
		const unsigned char *p = bytes;
		size_t n = total;

		assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_FRAME);
		assert_frame(&f, EXEC_FRAME_STDOUT, "hello");
		assert_int_equal(n, total - 10);
		assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_FRAME);
		assert_frame(&f, EXEC_FRAME_STDERR, "oops\n");
		assert_int_equal(n, 0);
		assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_NONE);
	}
	/* Split inside the header, then inside the payload. */
	{
		const unsigned char *p = bytes;
		size_t n = 3;

		assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_NONE);
		n = 4;
		assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_NONE);
		n = total - 7;
		assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_FRAME);
		assert_frame(&f, EXEC_FRAME_STDOUT, "hello");
	}
	free(r);
}

static void test_zero_length_frames(void **state)
{
	struct exec_frame_reader *client = reader_new(EXEC_SENDER_CLIENT);
	struct exec_frame_reader *agent = reader_new(EXEC_SENDER_AGENT);
	unsigned char bytes[32];
	size_t total = 0, n;
	const unsigned char *p;
	struct exec_frame f;

	(void)state;
	total += frame_bytes(bytes + total, EXEC_FRAME_STDIN_CLOSE, NULL, 0);
	total += frame_bytes(bytes + total, EXEC_FRAME_STDIN, NULL, 0);
	total += frame_bytes(bytes + total, EXEC_FRAME_STDIN, "x", 1);
	p = bytes;
	n = total;
	assert_int_equal(exec_frame_feed(client, &p, &n, &f), EXEC_READ_FRAME);
	assert_frame(&f, EXEC_FRAME_STDIN_CLOSE, "");
	assert_int_equal(exec_frame_feed(client, &p, &n, &f), EXEC_READ_FRAME);
	assert_frame(&f, EXEC_FRAME_STDIN, "");
	assert_int_equal(exec_frame_feed(client, &p, &n, &f), EXEC_READ_FRAME);
	assert_frame(&f, EXEC_FRAME_STDIN, "x");

	total = frame_bytes(bytes, EXEC_FRAME_ERROR, NULL, 0);
	p = bytes;
	n = total;
	assert_int_equal(exec_frame_feed(agent, &p, &n, &f), EXEC_READ_FRAME);
	assert_frame(&f, EXEC_FRAME_ERROR, "");
	free(client);
	free(agent);
}

/* Feeds a header alone; the reader must answer bad without its payload. */
static void assert_header_refused(enum exec_sender sender, unsigned type, uint32_t len)
{
	struct exec_frame_reader *r = reader_new(sender);
	unsigned char h[EXEC_FRAME_HEADER_BYTES], more[8] = { 0 };
	const unsigned char *p = h;
	size_t n = sizeof(h);
	struct exec_frame f;

	exec_frame_header(h, type, len);
	assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_BAD);
	/* For good: nothing after a bad frame is read. */
	p = more;
	n = sizeof(more);
	assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_BAD);
	assert_int_equal(n, sizeof(more));
	free(r);
}

static void test_bad_lengths_refused(void **state)
{
	(void)state;
	assert_header_refused(EXEC_SENDER_AGENT, EXEC_FRAME_STDOUT, EXEC_FRAME_MAX_PAYLOAD + 1);
	assert_header_refused(EXEC_SENDER_AGENT, EXEC_FRAME_ERROR, UINT32_MAX);
	assert_header_refused(EXEC_SENDER_AGENT, EXEC_FRAME_EXIT, 3);
	assert_header_refused(EXEC_SENDER_AGENT, EXEC_FRAME_EXIT, 5);
	assert_header_refused(EXEC_SENDER_CLIENT, EXEC_FRAME_STDIN, EXEC_FRAME_MAX_PAYLOAD + 1);
	assert_header_refused(EXEC_SENDER_CLIENT, EXEC_FRAME_STDIN_CLOSE, 1);
	assert_header_refused(EXEC_SENDER_CLIENT, EXEC_FRAME_RESIZE, 0);
}

static void test_largest_payload_taken(void **state)
{
	struct exec_frame_reader *r = reader_new(EXEC_SENDER_AGENT);
	size_t total = EXEC_FRAME_HEADER_BYTES + EXEC_FRAME_MAX_PAYLOAD;
	unsigned char *bytes = malloc(total);
	const unsigned char *p = bytes;
	size_t n = total;
	struct exec_frame f;

	(void)state;
	assert_non_null(bytes);
	exec_frame_header(bytes, EXEC_FRAME_STDOUT, EXEC_FRAME_MAX_PAYLOAD);
	for (size_t i = EXEC_FRAME_HEADER_BYTES; i < total; i++)
		bytes[i] = (unsigned char)i;
	assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_FRAME);
	assert_int_equal(f.len, EXEC_FRAME_MAX_PAYLOAD);
	assert_memory_equal(f.payload, bytes + EXEC_FRAME_HEADER_BYTES, EXEC_FRAME_MAX_PAYLOAD);
	free(bytes);
	free(r);
}

static void test_unknown_types_refused(void **state)
{
	(void)state;
	assert_header_refused(EXEC_SENDER_AGENT, 0x00, 0);
	assert_header_refused(EXEC_SENDER_AGENT, 0x7f, 1);
	assert_header_refused(EXEC_SENDER_CLIENT, 0xff, 0);
	/* A type from the other side is as bad as an unknown one. */
	assert_header_refused(EXEC_SENDER_AGENT, EXEC_FRAME_STDIN, 1);
	assert_header_refused(EXEC_SENDER_AGENT, EXEC_FRAME_RESIZE, 4);
	assert_header_refused(EXEC_SENDER_CLIENT, EXEC_FRAME_STDOUT, 1);
	assert_header_refused(EXEC_SENDER_CLIENT, EXEC_FRAME_EXIT, 4);
}

/* What the queue holds, after sends in part and compaction, reads back as queued. */
static void test_queue_holds_frames_in_order(void **state)
{
	struct exec_frame_reader *r = reader_new(EXEC_SENDER_AGENT);
	struct exec_queue q = { 0 };
	char payload[4000];
	unsigned char code[4];
	struct exec_frame f;
	size_t sent = 0, n;
	const unsigned char *p;

	(void)state;
	exec_put_u32(code, 7);
	for (int i = 0; i < 40; i++) {
		memset(payload, 'a' + i % 26, sizeof(payload));
		assert_int_equal(exec_queue_frame(&q, EXEC_FRAME_STDOUT, payload,
						  (uint32_t)(100 * i)), 0);
		/* Take some, as a connection that accepts little would. */
		p = exec_queue_head(&q);
		n = exec_queue_pending(&q) < 777 ? exec_queue_pending(&q) : 777;
		exec_queue_drop(&q, n);
		while (n > 0) {
			int rc = exec_frame_feed(r, &p, &n, &f);

			if (rc == EXEC_READ_FRAME) {
				assert_int_equal(f.type, EXEC_FRAME_STDOUT);
				assert_int_equal(f.len, 100 * sent);
				for (uint32_t k = 0; k < f.len; k++)
					assert_int_equal(f.payload[k], 'a' + sent % 26);
				sent++;
			} else {
				assert_int_equal(rc, EXEC_READ_NONE);
			}
		}
	}
	assert_int_equal(exec_queue_frame(&q, EXEC_FRAME_EXIT, code, 4), 0);
	p = exec_queue_head(&q);
	n = exec_queue_pending(&q);
	exec_queue_drop(&q, n);
	while (n > 0) {
		assert_int_equal(exec_frame_feed(r, &p, &n, &f), EXEC_READ_FRAME);
		if (f.type == EXEC_FRAME_EXIT)
			break;
		assert_int_equal(f.len, 100 * sent);
		sent++;
	}
	assert_int_equal(sent, 40);
	assert_int_equal(f.type, EXEC_FRAME_EXIT);
	assert_int_equal(exec_get_u32(f.payload), 7);
	assert_int_equal(exec_queue_pending(&q), 0);
	/* An empty add is nothing; a drop past the end empties. */
	assert_int_equal(exec_queue_add(&q, NULL, 0), 0);
	assert_int_equal(exec_queue_add(&q, "abc", 3), 0);
	exec_queue_drop(&q, 10);
	assert_int_equal(exec_queue_pending(&q), 0);
	exec_queue_release(&q);
	assert_null(q.data);
	free(r);
}

/*
 * From a connection, the reader takes no byte past the frame it hands out:
 * what it leaves stays with the connection (the agent's backpressure).
 * The bytes here are ones the connection read with its 101 answer.
 */
static void test_read_stops_at_the_frame_end(void **state)
{
	struct exec_frame_reader *r = reader_new(EXEC_SENDER_CLIENT);
	unsigned char bytes[64];
	struct upgrade_conn c = { .fd = -1 };
	struct exec_frame f;
	size_t first;

	(void)state;
	first = frame_bytes(bytes, EXEC_FRAME_STDIN, "abc", 3);
	c.early_len = first + frame_bytes(bytes + first, EXEC_FRAME_STDIN_CLOSE, NULL, 0);
	c.early = (char *)bytes;
	assert_int_equal(exec_frame_read(r, &c, &f), EXEC_READ_FRAME);
	assert_frame(&f, EXEC_FRAME_STDIN, "abc");
	assert_int_equal(c.early_off, first);
	assert_int_equal(exec_frame_read(r, &c, &f), EXEC_READ_FRAME);
	assert_frame(&f, EXEC_FRAME_STDIN_CLOSE, "");
	assert_int_equal(c.early_off, c.early_len);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_split_across_feeds),
		cmocka_unit_test(test_zero_length_frames),
		cmocka_unit_test(test_bad_lengths_refused),
		cmocka_unit_test(test_largest_payload_taken),
		cmocka_unit_test(test_unknown_types_refused),
		cmocka_unit_test(test_queue_holds_frames_in_order),
		cmocka_unit_test(test_read_stops_at_the_frame_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

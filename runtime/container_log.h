/*
 * container_log.h - a container's stdout and stderr as JSON lines, in
 * Docker's json-file format:
 *   {"log":"hello\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}
 * One entry per line of output; a line longer than CONTAINER_LOG_LINE_MAX is
 * split into several entries (the last one ends with "\n"), as Docker does.
 *
 * The files are DIR/containers/ID/container.log and, after rotation,
 * container.log.1 ... container.log.(MAX_FILES-1), .1 being the newest
 * rotated one.  The writer (the shim) rotates when the next entry would take
 * the current file past CONTAINER_LOG_MAX_SIZE.  Readers (orch logs, the
 * agent) read the files oldest first and may follow the current one.
 */
#ifndef ORCH_RUNTIME_CONTAINER_LOG_H
#define ORCH_RUNTIME_CONTAINER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CONTAINER_LOG_FILE "container.log"
#define CONTAINER_LOG_MAX_SIZE (10u << 20)	/* bytes per file before rotation */
#define CONTAINER_LOG_MAX_FILES 3		/* current + rotated files kept */
#define CONTAINER_LOG_LINE_MAX (16u << 10)	/* longer lines are split (Docker: 16 KiB) */
#define CONTAINER_LOG_FOLLOW_POLL_MS 50		/* follow: how often to look for more */

enum container_log_stream {
	CONTAINER_LOG_STDOUT = 0,
	CONTAINER_LOG_STDERR = 1,
};

struct container_log_writer {
	int dir_fd;			/* the container dir */
	int fd;				/* the current file, append-only */
	uint64_t size;
	uint64_t max_size;
	unsigned int max_files;
	char pending[2][CONTAINER_LOG_LINE_MAX];	/* incomplete last line per stream */
	size_t pending_len[2];
};

/* Opens (appending) container.log in the directory dir_fd; takes no ownership of dir_fd. */
int container_log_writer_open(struct container_log_writer *w, int dir_fd, orch_error *err);

/* Adds output of a stream; complete lines become entries now. */
int container_log_writer_write(struct container_log_writer *w, enum container_log_stream stream,
			       const char *data, size_t len, orch_error *err);

/* Writes the incomplete last lines (at the end of the streams). */
int container_log_writer_flush(struct container_log_writer *w, orch_error *err);

void container_log_writer_close(struct container_log_writer *w);

struct container_log_read_options {
	long tail;			/* last N entries only; < 0 for all */
	bool follow;			/* keep reading new entries */
	int stdout_fd, stderr_fd;	/* where each stream's text goes */
	/* While following, asked when no new data is there: false ends the read. */
	bool (*keep_following)(void *ctx);
	void *ctx;
};

/* Prints the log of the container in container_dir. */
int container_log_read(const char *container_dir, const struct container_log_read_options *opts,
		       orch_error *err);

#endif

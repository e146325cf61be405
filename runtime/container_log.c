/*
 * container_log.c - the json-file log writer of the shim and its reader.
 * See container_log.h.
 *
 * The writer is on the shim's path, where memory matters: no JSON library
 * and no heap, an entry is escaped through a small stack buffer.
 */
#include "container_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/cleanup.h"
#include "container_store.h"
#include "common/io_util.h"

#define LOG_ENCODE_CHUNK 4096
#define LOG_ENTRY_HEAD "{\"log\":\""

static const char *const stream_names[2] = { "stdout", "stderr" };

int container_log_writer_open(struct container_log_writer *w, int dir_fd, orch_error *err)
{
	struct stat st;

	w->dir_fd = dir_fd;
	w->max_size = CONTAINER_LOG_MAX_SIZE;
	w->max_files = CONTAINER_LOG_MAX_FILES;
	w->pending_len[0] = w->pending_len[1] = 0;
	w->fd = openat(dir_fd, CONTAINER_LOG_FILE,
		       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", CONTAINER_LOG_FILE);
	w->size = fstat(w->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

void container_log_writer_close(struct container_log_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* JSON string escaping: the bytes one input byte becomes. */
static size_t escape_len(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
		return 2;
	return c < 0x20 ? 6 : 1;
}

static size_t escape_byte(unsigned char c, char *out)
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '"': memcpy(out, "\\\"", 2); return 2;
	case '\\': memcpy(out, "\\\\", 2); return 2;
	case '\n': memcpy(out, "\\n", 2); return 2;
	case '\r': memcpy(out, "\\r", 2); return 2;
	case '\t': memcpy(out, "\\t", 2); return 2;
	}
	if (c < 0x20) {
		memcpy(out, "\\u00", 4);
		out[4] = hex[c >> 4];
		out[5] = hex[c & 15];
		return 6;
	}
	*out = (char)c;
	return 1;
}

/*
 * Invalid UTF-8 would make the line invalid JSON for strict readers; Docker
 * replaces it with U+FFFD.  Returns the length of a valid sequence at p, or 0.
 */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0 && p[0] >= 0xc2)
		n = 2;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((p[0] & 0xf8) == 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

static int rotate(struct container_log_writer *w, orch_error *err)
{
	char from[64], to[64];

	for (unsigned int i = w->max_files - 1; i >= 1; i--) {
		if (i == 1)
			snprintf(from, sizeof(from), "%s", CONTAINER_LOG_FILE);
		else
			snprintf(from, sizeof(from), "%s.%u", CONTAINER_LOG_FILE, i - 1);
		snprintf(to, sizeof(to), "%s.%u", CONTAINER_LOG_FILE, i);
		if (renameat(w->dir_fd, from, w->dir_fd, to) < 0 && errno != ENOENT)
			return orch_fail_errno(err, errno, "rotating '%s'", from);
	}
	close(w->fd);
	w->fd = openat(w->dir_fd, CONTAINER_LOG_FILE,
		       O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	w->size = 0;
	if (w->fd < 0)
		return orch_fail_errno(err, errno, "reopening '%s'", CONTAINER_LOG_FILE);
	return 0;
}

/* Writes one entry for text[0..len) of stream. */
static int write_entry(struct container_log_writer *w, enum container_log_stream stream,
		       const char *text, size_t len, orch_error *err)
{
	const unsigned char *p = (const unsigned char *)text;
	char head[64], tail[96], chunk[LOG_ENCODE_CHUNK + 8];
	size_t head_len, tail_len, body_len = 0, used = 0;
	char now[48];

	/* No stdio here (see container_format_time): plain concatenation. */
	container_format_time(clock_wall_ns(), now, sizeof(now));
	head_len = strlen(LOG_ENTRY_HEAD);
	memcpy(head, LOG_ENTRY_HEAD, head_len);
	tail_len = 0;
	for (const char *const *part = (const char *const[]){ "\",\"stream\":\"",
			stream_names[stream], "\",\"time\":\"", now, "\"}\n", NULL };
	     *part; part++) {
		size_t n = strlen(*part);

		memcpy(tail + tail_len, *part, n);
		tail_len += n;
	}
	for (size_t i = 0; i < len; ) {
		size_t n = utf8_seq_len(p + i, len - i);

		body_len += n == 0 ? 3 : n == 1 ? escape_len(p[i]) : n;
		i += n == 0 ? 1 : n;
	}
	if (w->size > 0 && w->size + head_len + body_len + tail_len > w->max_size &&
	    rotate(w, err) < 0)
		return -1;

	memcpy(chunk, head, head_len);
	used = head_len;
	for (size_t i = 0; i < len; ) {
		size_t n = utf8_seq_len(p + i, len - i);

		if (used > LOG_ENCODE_CHUNK) {
			if (io_write_all(w->fd, chunk, used) < 0)
				return orch_fail_errno(err, errno, "writing the log");
			used = 0;
		}
		if (n == 0) {
			memcpy(chunk + used, "\xef\xbf\xbd", 3);	/* U+FFFD */
			used += 3;
			i++;
		} else if (n == 1) {
			used += escape_byte(p[i], chunk + used);
			i++;
		} else {
			memcpy(chunk + used, p + i, n);
			used += n;
			i += n;
		}
	}
	if (io_write_all(w->fd, chunk, used) < 0 || io_write_all(w->fd, tail, tail_len) < 0)
		return orch_fail_errno(err, errno, "writing the log");
	w->size += head_len + body_len + tail_len;
	return 0;
}

int container_log_writer_write(struct container_log_writer *w, enum container_log_stream stream,
			       const char *data, size_t len, orch_error *err)
{
	char *pending = w->pending[stream];
	size_t *plen = &w->pending_len[stream];

	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) + 1 : len;

		if (*plen + take > CONTAINER_LOG_LINE_MAX)
			take = CONTAINER_LOG_LINE_MAX - *plen;
		memcpy(pending + *plen, data, take);
		*plen += take;
		data += take;
		len -= take;
		if (pending[*plen - 1] == '\n' || *plen == CONTAINER_LOG_LINE_MAX) {
			if (write_entry(w, stream, pending, *plen, err) < 0)
				return -1;
			*plen = 0;
		}
	}
	return 0;
}

int container_log_writer_flush(struct container_log_writer *w, orch_error *err)
{
	for (int s = 0; s < 2; s++) {
		if (w->pending_len[s] == 0)
			continue;
		if (write_entry(w, (enum container_log_stream)s, w->pending[s], w->pending_len[s],
				err) < 0)
			return -1;
		w->pending_len[s] = 0;
	}
	return 0;
}

/* ---- reader ------------------------------------------------------------------ */

/* Prints one JSON line; returns -1 when the output is gone (EPIPE). */
static int print_entry(const char *line, size_t len, const struct container_log_read_options *o)
{
	json_t *entry = json_loadb(line, len, 0, NULL);
	const char *stream = NULL, *text = NULL;
	size_t text_len = 0;
	int rc = 0;

	if (!entry)
		return 0;	/* a torn line after a crash: skip it */
	if (json_unpack(entry, "{s:s, s:s%}", "stream", &stream, "log", &text, &text_len) == 0)
		rc = io_write_all(strcmp(stream, "stderr") == 0 ? o->stderr_fd : o->stdout_fd,
			       text, text_len);
	json_decref(entry);
	return rc;
}

static FILE *open_log_file(const char *dir, unsigned int index)
{
	char path[4200];
	int fd;

	if (index == 0)
		snprintf(path, sizeof(path), "%s/%s", dir, CONTAINER_LOG_FILE);
	else
		snprintf(path, sizeof(path), "%s/%s.%u", dir, CONTAINER_LOG_FILE, index);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	return fdopen(fd, "r");
}

static long count_lines(FILE *f)
{
	char buf[8192];
	long lines = 0;
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	rewind(f);
	return lines;
}

/*
 * Prints complete lines of f from its position, skipping *skip lines first.
 * A trailing partial line (being written) is left for the next call.
 */
static int print_lines(FILE *f, long *skip, const struct container_log_read_options *o)
{
	cleanup_free char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	for (;;) {
		long pos = ftell(f);

		n = getline(&line, &cap, f);
		if (n <= 0) {
			clearerr(f);
			return 0;
		}
		if (line[n - 1] != '\n') {
			fseek(f, pos, SEEK_SET);
			clearerr(f);
			return 0;
		}
		if (*skip > 0) {
			(*skip)--;
			continue;
		}
		if (print_entry(line, (size_t)n, o) < 0)
			return -1;
	}
}

int container_log_read(const char *container_dir, const struct container_log_read_options *o,
		       orch_error *err)
{
	FILE *files[CONTAINER_LOG_MAX_FILES] = { NULL };
	long total = 0, skip = 0;
	int rc = 0;

	/* Oldest first: .2, .1, then the current file. */
	for (unsigned int i = 0; i < CONTAINER_LOG_MAX_FILES; i++) {
		files[i] = open_log_file(container_dir, CONTAINER_LOG_MAX_FILES - 1 - i);
		if (files[i] && o->tail >= 0)
			total += count_lines(files[i]);
	}
	if (o->tail >= 0 && total > o->tail)
		skip = total - o->tail;
	for (unsigned int i = 0; i < CONTAINER_LOG_MAX_FILES && rc == 0; i++)
		if (files[i])
			rc = print_lines(files[i], &skip, o);
	for (unsigned int i = 0; i + 1 < CONTAINER_LOG_MAX_FILES; i++)
		if (files[i])
			fclose(files[i]);

	FILE *current = files[CONTAINER_LOG_MAX_FILES - 1];

	while (rc == 0 && o->follow) {
		struct stat now, open_st;
		char path[4200];
		bool more;

		snprintf(path, sizeof(path), "%s/%s", container_dir, CONTAINER_LOG_FILE);
		if (current && stat(path, &now) == 0 && fstat(fileno(current), &open_st) == 0 &&
		    now.st_ino != open_st.st_ino) {
			/* Rotated: finish the old file, continue with the new one. */
			rc = print_lines(current, &skip, o);
			fclose(current);
			current = NULL;
		}
		if (!current)
			current = open_log_file(container_dir, 0);
		if (current && (rc = print_lines(current, &skip, o)) < 0)
			break;
		more = o->keep_following ? o->keep_following(o->ctx) : true;
		if (!more) {
			/* The writer is gone: what is in the file now is all. */
			if (current)
				rc = print_lines(current, &skip, o);
			break;
		}
		poll(NULL, 0, CONTAINER_LOG_FOLLOW_POLL_MS);
	}
	if (current)
		fclose(current);
	if (rc < 0 && errno != EPIPE)
		return orch_fail_errno(err, errno, "printing the log");
	return 0;
}

/*
 * blob_store.c - verified, atomic blob writes and reads.
 */
#include "blob_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs_util.h"

#define BLOB_IO_CHUNK (256 * 1024)

struct blob_store {
	char *dir;	/* .../blobs/sha256 */
	char *tmp_dir;
};

struct blob_writer {
	struct blob_store *bs;
	char expected[DIGEST_STR_SIZE];	/* "" if unknown */
	int64_t expected_size;		/* -1 if unknown */
	char *tmp_path;
	int fd;
	uint64_t written;
	struct sha256_stream *hash;
};

int blob_store_open(const char *blobs_dir, const char *tmp_dir, struct blob_store **out,
		    orch_error *err)
{
	struct blob_store *bs = calloc(1, sizeof(*bs));

	*out = NULL;
	if (!bs || asprintf(&bs->dir, "%s/sha256", blobs_dir) < 0 || !(bs->tmp_dir = strdup(tmp_dir))) {
		if (bs)
			free(bs->dir);
		free(bs);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	if (fs_mkdir_p(bs->dir, 0700, err) < 0 || fs_mkdir_p(bs->tmp_dir, 0700, err) < 0) {
		blob_store_close(bs);
		return -1;
	}
	*out = bs;
	return 0;
}

void blob_store_close(struct blob_store *bs)
{
	if (!bs)
		return;
	free(bs->dir);
	free(bs->tmp_dir);
	free(bs);
}

void blob_store_path(const struct blob_store *bs, const char *digest, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", bs->dir, digest_hex(digest));
}

bool blob_store_has(const struct blob_store *bs, const char *digest)
{
	char path[4096];
	struct stat st;

	if (!digest_is_valid(digest))
		return false;
	blob_store_path(bs, digest, path, sizeof(path));
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int blob_store_open_blob(const struct blob_store *bs, const char *digest, orch_error *err)
{
	char path[4096];
	int fd;

	if (!digest_is_valid(digest))
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not a sha256 digest", digest);
	blob_store_path(bs, digest, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "blob '%s' is not in the store", digest);
	if (fd < 0)
		return orch_fail_errno(err, errno, "opening blob '%s'", path);
	return fd;
}

int blob_store_read(const struct blob_store *bs, const char *digest, size_t max_len, char **out,
		    size_t *out_len, orch_error *err)
{
	char path[4096];
	char actual[DIGEST_STR_SIZE];

	*out = NULL;
	if (!digest_is_valid(digest))
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not a sha256 digest", digest);
	blob_store_path(bs, digest, path, sizeof(path));
	if (fs_read_file(path, max_len, out, out_len, err) < 0) {
		if (err && err->sys_errno == ENOENT)
			err->kind = ORCH_ERR_NOT_FOUND;
		return -1;
	}
	sha256_digest_buffer(*out, *out_len, actual);
	if (strcmp(actual, digest) != 0) {
		free(*out);
		*out = NULL;
		return orch_fail(err, ORCH_ERR_INTERNAL,
				 "stored blob '%s' is corrupt (its content hashes to %s)", digest, actual);
	}
	return 0;
}

int blob_store_put(struct blob_store *bs, const char *expected, const void *data, size_t len,
		   char *digest_out, orch_error *err)
{
	struct blob_writer *w = NULL;
	bool present = false;

	if (expected && blob_store_has(bs, expected)) {
		if (digest_out)
			strcpy(digest_out, expected);
		return 0;
	}
	if (blob_writer_open(bs, expected, (int64_t)len, false, &w, &present, err) < 0)
		return -1;
	if (present) {
		if (digest_out)
			strcpy(digest_out, expected);
		return 0;
	}
	if (blob_writer_write(w, data, len, err) < 0) {
		blob_writer_abort(w, false);
		return -1;
	}
	return blob_writer_commit(w, digest_out, err);
}

static void writer_free(struct blob_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	sha256_stream_free(w->hash);
	free(w->tmp_path);
	free(w);
}

/* Re-hash the bytes already in a partial file; returns their count. */
static int rehash_partial(struct blob_writer *w, orch_error *err)
{
	cleanup_free char *buf = malloc(BLOB_IO_CHUNK);
	ssize_t n;

	if (!buf)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (lseek(w->fd, 0, SEEK_SET) < 0)
		return orch_fail_errno(err, errno, "seeking '%s'", w->tmp_path);
	while ((n = read(w->fd, buf, BLOB_IO_CHUNK)) > 0) {
		sha256_stream_update(w->hash, buf, (size_t)n);
		w->written += (uint64_t)n;
	}
	if (n < 0)
		return orch_fail_errno(err, errno, "reading '%s'", w->tmp_path);
	return 0;
}

int blob_writer_open(struct blob_store *bs, const char *expected, int64_t expected_size,
		     bool resume, struct blob_writer **out, bool *present, orch_error *err)
{
	struct blob_writer *w;
	struct stat fst, pst;

	*out = NULL;
	*present = false;
	if (expected && !digest_is_valid(expected))
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not a sha256 digest", expected);
	w = calloc(1, sizeof(*w));
	if (!w)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	w->bs = bs;
	w->fd = -1;
	w->expected_size = expected_size;
	w->hash = sha256_stream_new();
	if (!w->hash)
		goto oom;
	if (expected) {
		strcpy(w->expected, expected);
		if (asprintf(&w->tmp_path, "%s/%s.partial", bs->tmp_dir, digest_hex(expected)) < 0) {
			w->tmp_path = NULL;
			goto oom;
		}
		for (;;) {
			w->fd = open(w->tmp_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (w->fd < 0) {
				orch_fail_errno(err, errno, "creating '%s'", w->tmp_path);
				goto fail;
			}
			/* Another process may be fetching the same blob: wait for it. */
			if (flock(w->fd, LOCK_EX) < 0) {
				orch_fail_errno(err, errno, "locking '%s'", w->tmp_path);
				goto fail;
			}
			if (blob_store_has(bs, expected)) {
				/* Stored meanwhile: a partial we may have just created
				 * (or inherited) is useless; we hold its lock, so it is
				 * safe to drop if it is still the file at the path. */
				if (fstat(w->fd, &fst) == 0 && stat(w->tmp_path, &pst) == 0 &&
				    fst.st_ino == pst.st_ino && fst.st_dev == pst.st_dev)
					unlink(w->tmp_path);
				*present = true;
				writer_free(w);
				return 0;
			}
			/* The file we locked must still be the one at the path. */
			if (fstat(w->fd, &fst) == 0 && stat(w->tmp_path, &pst) == 0 &&
			    fst.st_ino == pst.st_ino && fst.st_dev == pst.st_dev)
				break;
			close(w->fd);
			w->fd = -1;
		}
		if (resume && fst.st_size > 0) {
			if (rehash_partial(w, err) < 0)
				goto fail;
		} else if (ftruncate(w->fd, 0) < 0) {
			orch_fail_errno(err, errno, "truncating '%s'", w->tmp_path);
			goto fail;
		}
	} else {
		if (asprintf(&w->tmp_path, "%s/import-XXXXXX", bs->tmp_dir) < 0) {
			w->tmp_path = NULL;
			goto oom;
		}
		w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
		if (w->fd < 0) {
			orch_fail_errno(err, errno, "creating a temp file in '%s'", bs->tmp_dir);
			goto fail;
		}
	}
	*out = w;
	return 0;
oom:
	orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
fail:
	writer_free(w);
	return -1;
}

uint64_t blob_writer_offset(const struct blob_writer *w)
{
	return w->written;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, orch_error *err)
{
	const char *p = data;

	if (w->expected_size >= 0 && w->written + len > (uint64_t)w->expected_size)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "blob '%s' is larger than the %lld bytes its descriptor says",
				 w->expected[0] ? w->expected : "(import)", (long long)w->expected_size);
	sha256_stream_update(w->hash, data, len);
	while (len > 0) {
		ssize_t n = pwrite(w->fd, p, len, (off_t)w->written);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return orch_fail_errno(err, errno, "writing '%s'", w->tmp_path);
		p += n;
		len -= (size_t)n;
		w->written += (uint64_t)n;
	}
	return 0;
}

int blob_writer_restart(struct blob_writer *w, orch_error *err)
{
	if (ftruncate(w->fd, 0) < 0)
		return orch_fail_errno(err, errno, "truncating '%s'", w->tmp_path);
	sha256_stream_reset(w->hash);
	w->written = 0;
	return 0;
}

int blob_writer_commit(struct blob_writer *w, char *digest_out, orch_error *err)
{
	char actual[DIGEST_STR_SIZE];
	char path[4096];
	int rc = 0;

	sha256_stream_final(w->hash, actual);
	if (w->expected[0] && strcmp(actual, w->expected) != 0) {
		rc = orch_fail(err, ORCH_ERR_INVALID,
			       "digest mismatch: expected %s, content is %s (%llu bytes); "
			       "nothing was kept",
			       w->expected, actual, (unsigned long long)w->written);
		unlink(w->tmp_path);
		goto out;
	}
	if (w->expected_size >= 0 && w->written != (uint64_t)w->expected_size) {
		rc = orch_fail(err, ORCH_ERR_INVALID,
			       "blob '%s' has %llu bytes, its descriptor says %lld; nothing was kept",
			       actual, (unsigned long long)w->written, (long long)w->expected_size);
		unlink(w->tmp_path);
		goto out;
	}
	if (fsync(w->fd) < 0) {
		rc = orch_fail_errno(err, errno, "syncing '%s'", w->tmp_path);
		unlink(w->tmp_path);
		goto out;
	}
	blob_store_path(w->bs, actual, path, sizeof(path));
	if (fchmod(w->fd, 0600) < 0 || rename(w->tmp_path, path) < 0) {
		rc = orch_fail_errno(err, errno, "storing blob '%s'", path);
		unlink(w->tmp_path);
		goto out;
	}
	if (digest_out)
		strcpy(digest_out, actual);
out:
	writer_free(w);
	return rc;
}

void blob_writer_abort(struct blob_writer *w, bool keep_partial)
{
	if (!w)
		return;
	if (!keep_partial || !w->expected[0])
		unlink(w->tmp_path);
	writer_free(w);
}

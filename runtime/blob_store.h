/*
 * blob_store.h - the content-addressed blob store: DIR/sha256/HEX holds the
 * bytes whose SHA-256 is HEX, and nothing else.
 *
 * Writes go to DIR/../tmp/HEX.partial (named by the expected digest, so an
 * interrupted download can be found and resumed), are hashed as they arrive,
 * and are renamed into place only after the digest matched; on a mismatch the
 * temp file is deleted, so nothing unverified is ever kept.  Two processes
 * fetching the same blob serialise on an flock of the partial file.
 */
#ifndef ORCH_RUNTIME_BLOB_STORE_H
#define ORCH_RUNTIME_BLOB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "common/error.h"

struct blob_store;
struct blob_writer;

/* blobs_dir: DATA/images/blobs (created); temps go to tmp_dir (created). */
int blob_store_open(const char *blobs_dir, const char *tmp_dir, struct blob_store **out,
		    orch_error *err);
void blob_store_close(struct blob_store *bs);

/* DIR/sha256/HEX for a valid digest. */
void blob_store_path(const struct blob_store *bs, const char *digest, char *buf, size_t size);
bool blob_store_has(const struct blob_store *bs, const char *digest);

/* Opens a stored blob read-only (O_CLOEXEC); -1 with err if absent. */
int blob_store_open_blob(const struct blob_store *bs, const char *digest, orch_error *err);

/*
 * Reads a stored blob of at most max_len bytes, re-verifying its digest
 * (for manifests and configs, which are small and read often).
 */
int blob_store_read(const struct blob_store *bs, const char *digest, size_t max_len, char **out,
		    size_t *out_len, orch_error *err);

/* Stores a buffer; digest_out (may be NULL) receives its digest.  If
 * expected is non-NULL the content must match it. */
int blob_store_put(struct blob_store *bs, const char *expected, const void *data, size_t len,
		   char *digest_out, orch_error *err);

/*
 * Starts writing a blob.  expected may be NULL (digest unknown: an import
 * computes it).  With resume, a partial file left by an earlier run is kept
 * and its bytes re-hashed; blob_writer_offset() says where to continue.
 * If the blob is already stored (possibly by another process that held the
 * partial's lock), *present is set and no writer is returned.
 */
int blob_writer_open(struct blob_store *bs, const char *expected, int64_t expected_size,
		     bool resume, struct blob_writer **out, bool *present, orch_error *err);
uint64_t blob_writer_offset(const struct blob_writer *w);
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, orch_error *err);
/* Back to zero bytes (the server ignored a Range request). */
int blob_writer_restart(struct blob_writer *w, orch_error *err);
/*
 * Verifies and renames into place; digest_out (may be NULL) receives the
 * digest.  On a mismatch the partial is deleted and the error says both
 * digests.  The writer is freed either way.
 */
int blob_writer_commit(struct blob_writer *w, char *digest_out, orch_error *err);
/* Gives up; keep_partial leaves the partial file for a later resume. */
void blob_writer_abort(struct blob_writer *w, bool keep_partial);

#endif

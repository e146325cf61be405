/*
 * fs_util.h - small file-system helpers shared by the server, the CLI and
 * the runtime.
 */
#ifndef ORCH_COMMON_FS_UTIL_H
#define ORCH_COMMON_FS_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/*
 * Writes data to path durably and atomically: a temp file in the same
 * directory, fsync, rename over path, fsync of the directory.  A reader sees
 * the old content or the new, never a part.
 */
int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 orch_error *err);

/* mkdir -p with the given mode for the directories it creates. */
int fs_mkdir_p(const char *path, mode_t mode, orch_error *err);

/*
 * Reads a whole regular file of at most max_len bytes into a new
 * NUL-terminated buffer.
 */
int fs_read_file(const char *path, size_t max_len, char **out, size_t *out_len,
		 orch_error *err);

#endif

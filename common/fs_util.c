/* fs_util.c - durable writes, mkdir -p and bounded reads. */
#include "fs_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

static int fsync_parent_dir(const char *path, orch_error *err)
{
	cleanup_free char *copy = strdup(path);
	cleanup_close int dirfd = -1;

	if (!copy)
		return orch_fail_errno(err, ENOMEM, "syncing '%s'", path);
	dirfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fsync(dirfd) < 0)
		return orch_fail_errno(err, errno, "syncing the directory of '%s'", path);
	return 0;
}

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 orch_error *err)
{
	cleanup_free char *tmp = NULL;
	cleanup_close int fd = -1;
	const char *p = data;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
		tmp = NULL;
		return orch_fail_errno(err, ENOMEM, "writing '%s'", path);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return orch_fail_errno(err, errno, "creating '%s'", tmp);
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	close(take_fd(&fd));
	if (rename(tmp, path) < 0)
		goto fail;
	return fsync_parent_dir(path, err);
fail:
	orch_fail_errno(err, errno, "writing '%s'", path);
	unlink(tmp);
	return -1;
}

int fs_mkdir_p(const char *path, mode_t mode, orch_error *err)
{
	cleanup_free char *copy = strdup(path);

	if (!copy)
		return orch_fail_errno(err, ENOMEM, "creating '%s'", path);
	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return orch_fail_errno(err, errno, "creating directory '%s'", copy);
		*p = saved;
		if (saved == '\0')
			break;
	}
	struct stat st;

	if (stat(path, &st) < 0)
		return orch_fail_errno(err, errno, "checking '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not a directory", path);
	return 0;
}

int fs_read_file(const char *path, size_t max_len, char **out, size_t *out_len,
		 orch_error *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	cleanup_free char *buf = NULL;
	struct stat st;
	size_t len = 0;

	if (fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	if (fstat(fd, &st) < 0)
		return orch_fail_errno(err, errno, "reading '%s'", path);
	if (!S_ISREG(st.st_mode))
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not a regular file", path);
	buf = malloc(max_len + 1);
	if (!buf)
		return orch_fail_errno(err, ENOMEM, "reading '%s'", path);
	for (;;) {
		ssize_t n = read(fd, buf + len, max_len + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return orch_fail_errno(err, errno, "reading '%s'", path);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max_len)
			return orch_fail(err, ORCH_ERR_INVALID, "'%s' is larger than %zu bytes",
					 path, max_len);
	}
	buf[len] = '\0';
	*out = take_ptr(&buf);
	if (out_len)
		*out_len = len;
	return 0;
}

/* sealed_binary.c - a sealed memfd copy of this binary.  See sealed_binary.h. */
#include "sealed_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"

#define SEALED_BINARY_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

/* Copies src (size bytes) into a new memfd and seals it; -1 with err set. */
static int copy_and_seal(int src, off_t size, orch_error *err)
{
	cleanup_close int fd = memfd_create(SEALED_BINARY_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	off_t done = 0;

	if (fd < 0)
		return orch_fail_errno(err, errno, "copying this binary: memfd_create");
	while (done < size) {
		ssize_t n = sendfile(fd, src, NULL, (size_t)(size - done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return orch_fail_errno(err, n < 0 ? errno : EIO, "copying this binary");
		done += n;
	}
	if (fcntl(fd, F_ADD_SEALS, SEALED_BINARY_SEALS) < 0)
		return orch_fail_errno(err, errno, "sealing the copy of this binary");
	return take_fd(&fd);
}

int sealed_binary_fd(orch_error *err)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int copy = -1;
	cleanup_close int self = -1, sealed = -1;
	struct stat st;
	int seals;

	pthread_mutex_lock(&lock);
	if (copy >= 0)
		goto out;
	self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0 || fstat(self, &st) < 0) {
		orch_fail_errno(err, errno, "reading this binary");
		goto out;
	}
	/* Started from a sealed copy already: that copy is this binary. */
	seals = fcntl(self, F_GET_SEALS);
	if (seals >= 0 && (seals & SEALED_BINARY_SEALS) == SEALED_BINARY_SEALS)
		sealed = take_fd(&self);
	else
		sealed = copy_and_seal(self, st.st_size, err);
	if (sealed < 0)
		goto out;
	/* Above stdio, which the users of the copy replace before they exec it. */
	copy = fcntl(sealed, F_DUPFD_CLOEXEC, 3);
	if (copy < 0)
		orch_fail_errno(err, errno, "copying this binary");
out:
	pthread_mutex_unlock(&lock);
	return copy;
}

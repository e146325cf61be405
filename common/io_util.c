/* io_util.c - whole-buffer writes (io_util.h). */
#include "io_util.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_loop(int fd, const void *buf, size_t len, bool use_send)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = use_send ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int io_write_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, false);
}

int io_send_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, true);
}

/*
 * io_util.h - whole-buffer writes to a file descriptor.
 *
 * io_write_all writes every byte with write(2); io_send_all with
 * send(MSG_NOSIGNAL), so a peer that went away is EPIPE rather than a
 * SIGPIPE.  Both retry on EINTR and on short writes, and return 0, or -1
 * with errno set (a write that returned 0 is EIO).  They are for blocking
 * descriptors: EAGAIN is returned to the caller as a failure.
 */
#ifndef ORCH_COMMON_IO_UTIL_H
#define ORCH_COMMON_IO_UTIL_H

#include <stddef.h>

int io_write_all(int fd, const void *buf, size_t len);
int io_send_all(int fd, const void *buf, size_t len);

#endif

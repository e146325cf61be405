/*
 * container_attach.c - framing of the shim <-> attached client stream.
 * See container_attach.h.
 */
#include "container_attach.h"
#include "common/io_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

void container_attach_header(char out[ATTACH_FRAME_HEADER], enum attach_frame_type type,
			     size_t len)
{
	uint32_t n = (uint32_t)len;

	out[0] = (char)type;
	out[1] = (char)(n >> 24);
	out[2] = (char)(n >> 16);
	out[3] = (char)(n >> 8);
	out[4] = (char)n;
}

int container_attach_send(int fd, enum attach_frame_type type, const void *payload, size_t len,
			  orch_error *err)
{
	char header[ATTACH_FRAME_HEADER];

	if (len > ATTACH_PAYLOAD_MAX)
		return orch_fail(err, ORCH_ERR_INVALID, "attach frame of %zu bytes", len);
	container_attach_header(header, type, len);
	if (io_send_all(fd, header, sizeof(header)) < 0 || io_send_all(fd, payload, len) < 0)
		return orch_fail_errno(err, errno, "writing to the attach stream");
	return 0;
}

/* Reads exactly len bytes; 0 at a clean end before the first byte. */
static int recv_all(int fd, char *p, size_t len, orch_error *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return orch_fail_errno(err, errno, "reading the attach stream");
		if (n == 0) {
			if (got == 0)
				return 0;
			return orch_fail(err, ORCH_ERR_INTERNAL, "attach stream cut mid-frame");
		}
		got += (size_t)n;
	}
	return 1;
}

int container_attach_recv(int fd, char *type, char *buf, size_t *len, orch_error *err)
{
	unsigned char header[ATTACH_FRAME_HEADER];
	uint32_t n;
	int rc;

	rc = recv_all(fd, (char *)header, sizeof(header), err);
	if (rc <= 0)
		return rc;
	n = (uint32_t)header[1] << 24 | (uint32_t)header[2] << 16 | (uint32_t)header[3] << 8 |
	    header[4];
	if (n > ATTACH_PAYLOAD_MAX)
		return orch_fail(err, ORCH_ERR_INTERNAL, "attach frame of %u bytes", n);
	if (n > 0 && recv_all(fd, buf, n, err) <= 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "attach stream cut mid-frame");
	buf[n] = '\0';
	*type = (char)header[0];
	*len = n;
	return 1;
}

int container_exit_parse(const char *payload, struct container_exit *out)
{
	int oom = 0;

	if (sscanf(payload, "%d %d %d", &out->exit_code, &out->signal, &oom) != 3)
		return -1;
	out->oom_killed = oom != 0;
	return 0;
}

/*
 * container_attach.h - the stream between a container's shim and the one
 * process attached to it (`orch run` in the foreground, or the agent).
 *
 * The starter creates a socketpair and hands one end to the shim it spawns,
 * so the attached side sees the container's output from its first byte.
 * Frames are TYPE (1 byte), LENGTH (4 bytes, big-endian), PAYLOAD:
 *   shim -> client   'S' started, payload the host PID
 *                    'F' failed to start, payload "CODE MESSAGE"
 *                    'o' / 'e' stdout / stderr bytes
 *                    'X' exited, payload "EXIT_CODE SIGNAL OOM_KILLED"
 *   client -> shim   'K' send a signal, payload the number
 *                    'T' stop: SIGTERM, SIGKILL after payload seconds
 * The shim never blocks on a slow client: it stops reading the container's
 * pipes until the client catches up (backpressure, as docker attach).  A
 * client that goes away is dropped; the container runs on.
 */
#ifndef ORCH_RUNTIME_CONTAINER_ATTACH_H
#define ORCH_RUNTIME_CONTAINER_ATTACH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define ATTACH_FRAME_HEADER 5
#define ATTACH_PAYLOAD_MAX 65536

enum attach_frame_type {
	ATTACH_STARTED = 'S',
	ATTACH_FAILED = 'F',
	ATTACH_STDOUT = 'o',
	ATTACH_STDERR = 'e',
	ATTACH_EXITED = 'X',
	ATTACH_SIGNAL = 'K',
	ATTACH_STOP = 'T',
};

/* How a container ended, as carried by an 'X' frame. */
struct container_exit {
	int exit_code;
	int signal;
	bool oom_killed;
};

/* Blocking send of one frame. */
int container_attach_send(int fd, enum attach_frame_type type, const void *payload, size_t len,
			  orch_error *err);

/*
 * Blocking receive of one frame into buf (ATTACH_PAYLOAD_MAX + 1 bytes, the
 * payload NUL-terminated).  Returns 1 for a frame, 0 at end of stream.
 */
int container_attach_recv(int fd, char *type, char *buf, size_t *len, orch_error *err);

/* Encodes a header into out[ATTACH_FRAME_HEADER]. */
void container_attach_header(char out[ATTACH_FRAME_HEADER], enum attach_frame_type type,
			     size_t len);

int container_exit_parse(const char *payload, struct container_exit *out);

#endif

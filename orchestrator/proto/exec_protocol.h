/*
 * exec_protocol.h - the byte channel of `orch task exec`: how a client, the
 * server and an agent talk once their HTTP requests were upgraded.
 *
 * The client asks (admin token):
 *
 *     POST /v1/clusters/{c}/tasks/{id}/exec     Connection: Upgrade
 *                                               Upgrade: orch-exec/1
 *     {"command": ["sh", "-c", "..."], "container": NAME (default: the
 *      first essential container), "tty": false, "interactive": false,
 *      "rows": 24, "cols": 80}
 *
 * and the server hands the node that runs the task a stream of kind "exec"
 * through its stream long poll (task_stream.h), carrying the same fields
 * plus the container's runtimeId.  The agent either refuses it
 *
 *     POST /v1/agent/streams/{streamId}/refuse   {"status": 409, "message": "..."}
 *
 * (the client gets that status and message), or opens the channel:
 *
 *     POST /v1/agent/streams/{streamId}   Connection: Upgrade, Upgrade: orch-exec/1
 *
 * Only then does the client get "101 Switching Protocols"; every earlier
 * refusal is a plain JSON error answer (404, 409, 400, 426, 429, 504...).
 * After the 101s both connections carry frames, which the server checks
 * and passes on unchanged:
 *
 *     +--------+---------------------------+-----------------+
 *     | type 1 | length 4 (big-endian)     | payload: length |
 *     +--------+---------------------------+-----------------+
 *
 * client -> agent:  STDIN (data), STDIN_CLOSE (empty: end of input; with a
 *                   terminal the agent types the terminal's EOF character),
 *                   RESIZE (4 bytes: rows, cols as 16-bit big-endian)
 * agent -> client:  STDOUT, STDERR (data; with a terminal all output is
 *                   STDOUT), EXIT (4 bytes: the exit code, 128+N for signal
 *                   N), ERROR (text: why the channel ends without an exit)
 * server -> client: ERROR
 *
 * Data payloads are at most EXEC_FRAME_MAX_PAYLOAD bytes; control frames
 * have exactly their size.  A frame of a type the receiver does not expect
 * from that sender, or longer than its limit, ends the channel: the server
 * answers a client's bad frame with an ERROR frame and closes both sides.
 * EXIT is the agent's last frame; the server closes both sides after
 * passing it on.  A channel that closes before EXIT means the process was
 * killed: the agent kills the process's group (SIGKILL) whenever its side
 * closes, and releases the terminal, pipes and thread.
 */
#ifndef ORCH_EXEC_PROTOCOL_H
#define ORCH_EXEC_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEC_UPGRADE_PROTOCOL "orch-exec/1"
#define EXEC_FRAME_HEADER_BYTES 5
#define EXEC_FRAME_MAX_PAYLOAD (32 * 1024)
/* Most arguments and bytes of a command; the request body bounds both too. */
#define EXEC_MAX_ARGS 1024
#define EXEC_MAX_COMMAND_BYTES (64 * 1024)

enum exec_frame_type {
	EXEC_FRAME_STDIN = 0x01,
	EXEC_FRAME_STDIN_CLOSE = 0x02,
	EXEC_FRAME_RESIZE = 0x03,
	EXEC_FRAME_STDOUT = 0x11,
	EXEC_FRAME_STDERR = 0x12,
	EXEC_FRAME_EXIT = 0x13,
	EXEC_FRAME_ERROR = 0x14,
};

/* Who may send a frame type (the receiver checks). */
static inline bool exec_frame_from_client(unsigned type)
{
	return type == EXEC_FRAME_STDIN || type == EXEC_FRAME_STDIN_CLOSE ||
	       type == EXEC_FRAME_RESIZE;
}

static inline bool exec_frame_from_agent(unsigned type)
{
	return type == EXEC_FRAME_STDOUT || type == EXEC_FRAME_STDERR ||
	       type == EXEC_FRAME_EXIT || type == EXEC_FRAME_ERROR;
}

/* Whether length is allowed for type (known types only). */
static inline bool exec_frame_length_ok(unsigned type, uint32_t length)
{
	switch (type) {
	case EXEC_FRAME_STDIN_CLOSE:
		return length == 0;
	case EXEC_FRAME_RESIZE:
	case EXEC_FRAME_EXIT:
		return length == 4;
	default:
		return length <= EXEC_FRAME_MAX_PAYLOAD;
	}
}

static inline void exec_put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t exec_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void exec_frame_header(unsigned char h[EXEC_FRAME_HEADER_BYTES], unsigned type,
				     uint32_t length)
{
	h[0] = (unsigned char)type;
	exec_put_u32(h + 1, length);
}

#endif

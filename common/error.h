/*
 * error.h - the one error type of orch.
 *
 * Fallible functions return a negative int (or NULL) and fill an orch_error
 * passed as their last argument.  The kind says how a caller should react
 * (an API handler maps it to an HTTP status); the message is for people and
 * names the object in quotes.  Context is added as the error climbs with
 * orch_error_prefix().
 */
#ifndef ORCH_COMMON_ERROR_H
#define ORCH_COMMON_ERROR_H

#include <stddef.h>

enum orch_error_kind {
	ORCH_ERR_INTERNAL = 0,	/* a bug, I/O failure or resource exhaustion */
	ORCH_ERR_INVALID,	/* the caller's input is wrong */
	ORCH_ERR_NOT_FOUND,	/* the named object does not exist */
	ORCH_ERR_CONFLICT,	/* the object exists or is in use */
	ORCH_ERR_UNSUPPORTED,	/* valid request orch does not implement */
};

#define ORCH_ERROR_MESSAGE_MAX 512

typedef struct orch_error {
	enum orch_error_kind kind;
	int sys_errno;		/* errno at the failure, 0 if none */
	char message[ORCH_ERROR_MESSAGE_MAX];
} orch_error;

#define ORCH_ERROR_INIT { ORCH_ERR_INTERNAL, 0, "" }

/* Fill err (which may be NULL) and return -1. */
int orch_fail(orch_error *err, enum orch_error_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like orch_fail with kind INTERNAL, appending ": strerror(sys_errno)". */
int orch_fail_errno(orch_error *err, int sys_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message already in err; returns -1. */
int orch_error_prefix(orch_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

const char *orch_error_kind_name(enum orch_error_kind kind);

#endif

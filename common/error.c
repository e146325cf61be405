/* error.c - filling and decorating orch_error values. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void error_vformat(orch_error *err, const char *fmt, va_list ap)
{
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
}

int orch_fail(orch_error *err, enum orch_error_kind kind, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	err->kind = kind;
	err->sys_errno = 0;
	va_start(ap, fmt);
	error_vformat(err, fmt, ap);
	va_end(ap);
	return -1;
}

int orch_fail_errno(orch_error *err, int sys_errno, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (!err)
		return -1;
	err->kind = ORCH_ERR_INTERNAL;
	err->sys_errno = sys_errno;
	va_start(ap, fmt);
	error_vformat(err, fmt, ap);
	va_end(ap);
	len = strlen(err->message);
	snprintf(err->message + len, sizeof(err->message) - len, ": %s",
		 strerror(sys_errno));
	return -1;
}

int orch_error_prefix(orch_error *err, const char *fmt, ...)
{
	char context[ORCH_ERROR_MESSAGE_MAX];
	char joined[ORCH_ERROR_MESSAGE_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	size_t used = strlen(context), msg_len;

	if (used > sizeof(joined) - 3)
		used = sizeof(joined) - 3;
	memcpy(joined, context, used);
	memcpy(joined + used, ": ", 3);
	used += 2;
	msg_len = strnlen(err->message, sizeof(joined) - used - 1);
	memcpy(joined + used, err->message, msg_len);
	joined[used + msg_len] = '\0';
	memcpy(err->message, joined, sizeof(err->message));
	return -1;
}

const char *orch_error_kind_name(enum orch_error_kind kind)
{
	switch (kind) {
	case ORCH_ERR_INVALID:
		return "invalid";
	case ORCH_ERR_NOT_FOUND:
		return "not found";
	case ORCH_ERR_CONFLICT:
		return "conflict";
	case ORCH_ERR_UNSUPPORTED:
		return "unsupported";
	case ORCH_ERR_INTERNAL:
		break;
	}
	return "internal";
}

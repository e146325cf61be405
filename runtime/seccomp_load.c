/*
 * seccomp_load.c - loading the default seccomp filter compiled into the
 * binary (seccomp_profile.h).
 */
#include "seccomp_profile.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

int seccomp_profile_load_default(orch_error *err)
{
	struct sock_fprog prog = {
		.len = seccomp_default_bpf_len,
		.filter = (struct sock_filter *)seccomp_default_bpf,
	};

	if (seccomp_default_bpf_len == 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "seccomp: no filter compiled in");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return orch_fail_errno(err, errno, "seccomp: loading the filter");
	return 0;
}

/*
 * caps.c - bounding set, user switch and capset for the container process.
 * See caps.h.
 */
#include "caps.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CAP_BIT(c) (1ULL << (c))

const uint64_t caps_docker_default =
	CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_FSETID) |
	CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_MKNOD) | CAP_BIT(CAP_NET_RAW) |
	CAP_BIT(CAP_SETGID) | CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETFCAP) |
	CAP_BIT(CAP_SETPCAP) | CAP_BIT(CAP_NET_BIND_SERVICE) | CAP_BIT(CAP_SYS_CHROOT) |
	CAP_BIT(CAP_KILL) | CAP_BIT(CAP_AUDIT_WRITE);

#define CAPS_PROBE_MAX 64	/* capability numbers probed for the bounding set */

static int caps_set(uint64_t permitted, uint64_t effective, uint64_t inheritable,
		    orch_error *err)
{
	struct __user_cap_header_struct header = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[2] = {
		{ .effective = (uint32_t)effective, .permitted = (uint32_t)permitted,
		  .inheritable = (uint32_t)inheritable },
		{ .effective = (uint32_t)(effective >> 32), .permitted = (uint32_t)(permitted >> 32),
		  .inheritable = (uint32_t)(inheritable >> 32) },
	};

	if (syscall(SYS_capset, &header, data) < 0)
		return orch_fail_errno(err, errno, "setting capabilities");
	return 0;
}

int caps_drop_and_switch_user(uint64_t keep, uid_t uid, gid_t gid, const gid_t *groups,
			      size_t group_count, orch_error *err)
{
	for (int cap = 0; cap < CAPS_PROBE_MAX; cap++) {
		if (keep & CAP_BIT(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;	/* past the kernel's last capability */
			return orch_fail_errno(err, errno, "dropping capability %d", cap);
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return orch_fail_errno(err, errno, "prctl(PR_SET_KEEPCAPS)");
	if (setgroups(group_count, groups) < 0)
		return orch_fail_errno(err, errno, "setting supplementary groups");
	if (setresgid(gid, gid, gid) < 0)
		return orch_fail_errno(err, errno, "setting gid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return orch_fail_errno(err, errno, "setting uid %u", (unsigned)uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return orch_fail_errno(err, errno, "prctl(PR_SET_KEEPCAPS)");
	if (caps_set(keep, keep, 0, err) < 0)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return orch_fail_errno(err, errno, "clearing ambient capabilities");
	return 0;
}

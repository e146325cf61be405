/*
 * caps.h - the capability sets of a container's process, set with the
 * capset/prctl syscalls directly (no libcap).
 *
 * Docker's 14 defaults go into the bounding, permitted and effective sets.
 * The inheritable set is empty and no ambient capability is raised, as in
 * Docker since CVE-2022-24769 (moby 20.10.14): so a non-root user gets no
 * effective capabilities after execve, which is Docker's behaviour too.
 */
#ifndef ORCH_RUNTIME_CAPS_H
#define ORCH_RUNTIME_CAPS_H

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP
 * NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE = 0x00000000a80425fb */
extern const uint64_t caps_docker_default;

/*
 * Shrinks the bounding set to keep, switches to uid/gid/groups (keeping the
 * capabilities across the switch), then sets permitted = effective = keep,
 * inheritable = ambient = none.  The caller must still have CAP_SETPCAP,
 * CAP_SETUID and CAP_SETGID (i.e. be root) when calling.
 */
int caps_drop_and_switch_user(uint64_t keep, uid_t uid, gid_t gid, const gid_t *groups,
			      size_t group_count, orch_error *err);

#endif

/*
 * seccomp_profile.h - orch's default seccomp filter, loaded into every
 * container process (container_init.c) and every process exec'd into a
 * running container (container_exec.c) between no_new_privs and execve.
 *
 * The profile is Docker's default profile for a container with Docker's
 * 14 default capabilities (caps.h), written as an allow-list: the
 * syscalls in seccomp_profile.c's table run (clone, socket and personality
 * for some arguments only); every other syscall libseccomp can name, up to
 * the newest one the table names, fails with EPERM; anything newer or
 * unknown, and clone3, fails with ENOSYS, so a C library falls back to an
 * older call (glibc to clone, whose flags the filter can inspect).
 * Nothing is killed.  On x86_64 the i386 and x32 ABIs get the same rules;
 * any other ABI is killed by libseccomp's bad-architecture action.
 *
 * The filter is inherited by every child and survives execve; it cannot be
 * removed, only narrowed by further filters.
 */
#ifndef ORCH_RUNTIME_SECCOMP_PROFILE_H
#define ORCH_RUNTIME_SECCOMP_PROFILE_H

#include "common/error.h"

/*
 * Builds the default filter and loads it into the calling thread.  The
 * caller must have set no_new_privs (the filter is loaded without
 * CAP_SYS_ADMIN).  Returns 0, or -1 with err naming the step that failed;
 * a caller must then refuse to run the process, never run it unfiltered.
 */
int seccomp_profile_load_default(orch_error *err);

#endif

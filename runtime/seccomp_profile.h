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

#include <linux/filter.h>

#include "common/error.h"

/*
 * Loads the default filter into the calling thread.  The program is the one
 * seccomp_profile_export_default builds, compiled into the binary when orch
 * is built (scripts/seccomp_gen.c writes it; the unit test
 * tests/unit/test_seccomp_profile.c checks the two agree), so starting a
 * container or an exec builds nothing.  The caller must have set
 * no_new_privs (the filter is loaded without CAP_SYS_ADMIN).  Returns 0, or
 * -1 with err; a caller must then refuse to run the process, never run it
 * unfiltered.
 */
int seccomp_profile_load_default(orch_error *err);

/*
 * Builds the default filter from the tables of seccomp_profile.c with
 * libseccomp and writes its BPF program (struct sock_filter records in the
 * host's byte order) to fd.  For the build and the tests.
 */
int seccomp_profile_export_default(int fd, orch_error *err);

/* The compiled-in program (seccomp_default_bpf.c, generated at build time). */
extern const struct sock_filter seccomp_default_bpf[];
extern const unsigned short seccomp_default_bpf_len;

#endif

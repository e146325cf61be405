/*
 * init_process.h - orch's own init, PID 1 of a container whose config asks
 * for one (container.h init_process; ECS linuxParameters.initProcessEnabled,
 * Docker's --init).
 *
 *   orch init [--report-fd N] -- COMMAND [ARG]...
 *
 * The container's first process (container_init.h) sets the container up
 * as usual, then, instead of exec'ing the command, executes the sealed copy
 * of the orch binary (sealed_binary.h) with this argv, under everything the
 * command would have had: the container's root, user, capabilities,
 * rlimits, no_new_privs, seccomp filter and environment.  /proc/1/exe in the
 * container is that copy ("/memfd:orch (deleted)"), never the host's file,
 * and it cannot be opened for writing.
 *
 * What it does, as tini and docker-init do:
 *  - starts COMMAND as its one child (PID 2 of the container), searched in
 *    the container's PATH, with a clean signal mask;
 *  - reaps every process that ends up as its child, the command and the
 *    orphans re-parented to PID 1, so no zombie stays;
 *  - forwards every signal it can catch (SIGTERM, SIGINT, SIGHUP, SIGQUIT,
 *    SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT ... all but SIGCHLD and the
 *    signals the kernel raises for a fault) to the command's process only,
 *    as docker-init and tini without -g do: the command decides what its
 *    own children get, and whatever is left when PID 1 exits is killed by
 *    the kernel with the PID namespace;
 *  - exits as soon as the command has ended, with its exit status, or
 *    128+N when signal N killed it.
 *
 * --report-fd is the container's start channel (container_init.h): when
 * COMMAND cannot be executed the child sends the same "CODE MESSAGE" report
 * there and the container fails to start with 126 or 127, as it would
 * without an init.  No descriptor but 0, 1 and 2 stays open in the init or
 * the command once the command runs.
 *
 * It needs no capability and only the syscalls of Docker's default seccomp
 * profile (fork/clone, wait4, kill, rt_sigtimedwait, rt_sigprocmask,
 * execve), and holds no memory of its own beyond the binary's.
 */
#ifndef ORCH_RUNTIME_INIT_PROCESS_H
#define ORCH_RUNTIME_INIT_PROCESS_H

#include "common/error.h"

/*
 * 0 when this binary can run as a container's init: it must be statically
 * linked, as the shipped orch is, since the container's root holds none of
 * the host's shared libraries.  Else -1 with err saying so (an
 * AddressSanitizer build is dynamically linked).
 */
int init_process_check(orch_error *err);

/* The hidden verb: `orch init`, run only as a container's PID 1. */
#define INIT_PROCESS_COMMAND "init"

/* The process; argv[0] is the verb.  Does not return. */
__attribute__((noreturn)) void init_process_main(int argc, char **argv);

#endif

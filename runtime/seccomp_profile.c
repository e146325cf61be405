/*
 * seccomp_profile.c - the default seccomp filter of a container's
 * processes: an allow-list of syscalls, the few rules that look at
 * arguments, and a table of notable refusals with their reasons.  See
 * seccomp_profile.h.
 *
 * The list.  seccomp_allow_table holds the syscalls Docker's default
 * profile allows a container with Docker's 14 default capabilities
 * (caps.c) on the ABIs orch builds for: 357 names allowed with any
 * arguments plus three allowed for some arguments only (clone without a
 * namespace flag; socket for the address families Docker allows, which
 * leaves out AF_VSOCK, AF_ALG, AF_DECnet, AF_IRDA and the other rare
 * ones; personality for the five personas Docker allows).  Docker's rules
 * that depend on capabilities were decided for those 14 capabilities:
 * chroot is allowed (CAP_SYS_CHROOT); everything gated on CAP_SYS_ADMIN,
 * CAP_SYS_PTRACE (kcmp, pidfd_getfd, process_madvise), CAP_SYS_NICE
 * (mbind, move_pages, the memory policies), CAP_SYS_TIME, CAP_SYS_BOOT,
 * CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_PACCT, CAP_SYS_TTY_CONFIG,
 * CAP_SYSLOG, CAP_DAC_READ_SEARCH, CAP_BPF or CAP_PERFMON is refused.
 * ptrace and process_vm_readv/writev are allowed, as Docker allows them
 * on every kernel orch runs on (4.8 and later).
 *
 * What it allows beyond Docker's: nothing.  Where it is stricter:
 *  - name_to_handle_at is refused (Docker allows it): a file handle names
 *    a file of the host's filesystem, whatever the container's root;
 *  - Docker's list has syscalls the libseccomp orch is built with cannot
 *    name (2.5.4 names the kernel's up to futex_requeue, 456): statmount,
 *    listmount, mseal, the four *xattrat calls and x86_64's uretprobe.
 *    They fail with ENOSYS, as every syscall newer than the list does
 *    (open_tree_attr and the lsm_* calls among them, which Docker refuses
 *    too, with EPERM).
 *
 * EPERM or ENOSYS.  Docker refuses with EPERM what its list does not
 * allow, and runc patches the filter so that a syscall numbered above the
 * list's newest gets ENOSYS instead: a C library tries a new syscall and
 * falls back to an older one on ENOSYS only (glibc's faccessat2, clone3,
 * ...), so EPERM for a syscall the profile has never heard of breaks
 * programs built against a newer libc.  libseccomp cannot compare the
 * syscall number itself, it only names syscalls one by one, so this
 * filter turns the question round:
 *  - the default action is ERRNO(ENOSYS): any number the filter does not
 *    name, which includes every syscall added to the kernel after the list
 *    and every number that is no syscall at all;
 *  - every syscall libseccomp can name, numbered at most the list's
 *    highest on its ABI (the ceiling), that the list does not allow gets an
 *    explicit ERRNO(EPERM) rule: the refusal table below, with reasons, and
 *    a scan of libseccomp's names for the rest (on x86_64 the unimplemented
 *    afs_syscall, tuxcall, security, vserver, getpmsg and putpmsg; on i386
 *    the old calls such as signal, sigaction, nice, readdir, bdflush);
 *  - clone3 fails with ENOSYS on purpose (its flags are in memory the
 *    filter cannot read: glibc then falls back to clone, whose flags it can).
 * A syscall's verdict is decided by name, the same on every ABI of the
 * filter.  On x86_64 the i386 and x32 ABIs get the same rules (on aarch64
 * the arm one); any other ABI is killed by libseccomp's bad-architecture
 * action.  Everything the deny-list this replaced refused is still refused
 * with EPERM.
 */
#include "seccomp_profile.h"

#include "common/cleanup.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SECCOMP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What the filter does with a syscall of the tables. */
enum seccomp_verdict {
	SECCOMP_ALLOW,		/* allowed, whatever its arguments */
	SECCOMP_ALLOW_IF,	/* allowed for the arguments a rule below accepts, else EPERM */
	SECCOMP_REFUSE,		/* ERRNO(EPERM) */
	SECCOMP_NOSYS,		/* ERRNO(ENOSYS) */
};

/*
 * A syscall by name.  The number is libseccomp's, looked up when the
 * filter is built (SCMP_SYS would need the name in the build machine's
 * kernel headers, which lag libseccomp's own table).  A name libseccomp
 * does not know, or one listed twice, fails the filter's construction and
 * so every container start: a typo cannot go unnoticed.
 */
struct seccomp_syscall {
	const char *name;
	enum seccomp_verdict verdict;
	const char *reason;	/* refusals: why */
};

#define ALLOW(sys) { #sys, SECCOMP_ALLOW, NULL }
#define ALLOW_IF(sys) { #sys, SECCOMP_ALLOW_IF, NULL }
#define REFUSE(sys, why) { #sys, SECCOMP_REFUSE, why }
#define NOSYS(sys, why) { #sys, SECCOMP_NOSYS, why }

/*
 * The allow-list, by concern.  Names of other ABIs (the *32 and *64
 * variants, socketcall, ipc, the _time64 calls of 32-bit ABIs) are
 * included so the i386 and arm ABIs work; libseccomp skips a name on an
 * ABI that lacks it.
 */
static const struct seccomp_syscall seccomp_allow_table[] = {
	/* files and directories */
	ALLOW(access), ALLOW(faccessat), ALLOW(faccessat2),
	ALLOW(open), ALLOW(openat), ALLOW(openat2), ALLOW(creat), ALLOW(close),
	ALLOW(close_range), ALLOW(dup), ALLOW(dup2), ALLOW(dup3),
	ALLOW(read), ALLOW(readv), ALLOW(pread64), ALLOW(preadv), ALLOW(preadv2),
	ALLOW(write), ALLOW(writev), ALLOW(pwrite64), ALLOW(pwritev), ALLOW(pwritev2),
	ALLOW(lseek), ALLOW(_llseek), ALLOW(readahead), ALLOW(fadvise64), ALLOW(fadvise64_64),
	ALLOW(fallocate), ALLOW(ftruncate), ALLOW(ftruncate64), ALLOW(truncate), ALLOW(truncate64),
	ALLOW(fsync), ALLOW(fdatasync), ALLOW(sync), ALLOW(syncfs), ALLOW(sync_file_range),
	ALLOW(sendfile), ALLOW(sendfile64), ALLOW(splice), ALLOW(tee), ALLOW(vmsplice),
	ALLOW(copy_file_range), ALLOW(cachestat), ALLOW(fcntl), ALLOW(fcntl64), ALLOW(flock),
	ALLOW(ioctl),
	ALLOW(stat), ALLOW(stat64), ALLOW(lstat), ALLOW(lstat64), ALLOW(fstat), ALLOW(fstat64),
	ALLOW(newfstatat), ALLOW(fstatat64), ALLOW(statx), ALLOW(statfs), ALLOW(statfs64),
	ALLOW(fstatfs), ALLOW(fstatfs64),
	ALLOW(getcwd), ALLOW(chdir), ALLOW(fchdir), ALLOW(getdents), ALLOW(getdents64),
	ALLOW(mkdir), ALLOW(mkdirat), ALLOW(rmdir), ALLOW(mknod), ALLOW(mknodat),
	ALLOW(link), ALLOW(linkat), ALLOW(symlink), ALLOW(symlinkat), ALLOW(readlink),
	ALLOW(readlinkat), ALLOW(unlink), ALLOW(unlinkat), ALLOW(rename), ALLOW(renameat),
	ALLOW(renameat2), ALLOW(umask),
	ALLOW(chmod), ALLOW(fchmod), ALLOW(fchmodat), ALLOW(fchmodat2),
	ALLOW(chown), ALLOW(chown32), ALLOW(fchown), ALLOW(fchown32), ALLOW(fchownat),
	ALLOW(lchown), ALLOW(lchown32),
	ALLOW(utime), ALLOW(utimes), ALLOW(futimesat), ALLOW(utimensat), ALLOW(utimensat_time64),
	ALLOW(getxattr), ALLOW(lgetxattr), ALLOW(fgetxattr), ALLOW(setxattr), ALLOW(lsetxattr),
	ALLOW(fsetxattr), ALLOW(listxattr), ALLOW(llistxattr), ALLOW(flistxattr),
	ALLOW(removexattr), ALLOW(lremovexattr), ALLOW(fremovexattr),
	ALLOW(chroot),		/* Docker allows it with CAP_SYS_CHROOT, which containers have */
	/* events and waiting */
	ALLOW(poll), ALLOW(ppoll), ALLOW(ppoll_time64), ALLOW(select), ALLOW(_newselect),
	ALLOW(pselect6), ALLOW(pselect6_time64),
	ALLOW(epoll_create), ALLOW(epoll_create1), ALLOW(epoll_ctl), ALLOW(epoll_ctl_old),
	ALLOW(epoll_wait), ALLOW(epoll_wait_old), ALLOW(epoll_pwait), ALLOW(epoll_pwait2),
	ALLOW(eventfd), ALLOW(eventfd2), ALLOW(signalfd), ALLOW(signalfd4),
	ALLOW(inotify_init), ALLOW(inotify_init1), ALLOW(inotify_add_watch),
	ALLOW(inotify_rm_watch), ALLOW(fanotify_mark),
	ALLOW(timerfd_create), ALLOW(timerfd_gettime), ALLOW(timerfd_gettime64),
	ALLOW(timerfd_settime), ALLOW(timerfd_settime64),
	/* asynchronous I/O (not io_uring) and I/O priority */
	ALLOW(io_setup), ALLOW(io_destroy), ALLOW(io_submit), ALLOW(io_cancel),
	ALLOW(io_getevents), ALLOW(io_pgetevents), ALLOW(io_pgetevents_time64),
	ALLOW(ioprio_get), ALLOW(ioprio_set),
	/* memory */
	ALLOW(brk), ALLOW(mmap), ALLOW(mmap2), ALLOW(munmap), ALLOW(mremap), ALLOW(mprotect),
	ALLOW(madvise), ALLOW(mincore), ALLOW(msync), ALLOW(remap_file_pages),
	ALLOW(mlock), ALLOW(mlock2), ALLOW(mlockall), ALLOW(munlock), ALLOW(munlockall),
	ALLOW(membarrier), ALLOW(memfd_create), ALLOW(memfd_secret), ALLOW(map_shadow_stack),
	ALLOW(pkey_alloc), ALLOW(pkey_free), ALLOW(pkey_mprotect),
	/* processes, threads and limits */
	ALLOW(execve), ALLOW(execveat), ALLOW(fork), ALLOW(vfork), ALLOW(exit),
	ALLOW(exit_group), ALLOW(wait4), ALLOW(waitid), ALLOW(waitpid), ALLOW(restart_syscall),
	ALLOW(getpid), ALLOW(getppid), ALLOW(gettid), ALLOW(getpgid), ALLOW(getpgrp),
	ALLOW(setpgid), ALLOW(getsid), ALLOW(setsid), ALLOW(getpriority), ALLOW(setpriority),
	ALLOW(getrlimit), ALLOW(ugetrlimit), ALLOW(setrlimit), ALLOW(prlimit64),
	ALLOW(getrusage), ALLOW(times), ALLOW(sysinfo), ALLOW(uname), ALLOW(getcpu),
	ALLOW(getrandom), ALLOW(prctl), ALLOW(capget), ALLOW(capset), ALLOW(seccomp),
	ALLOW(landlock_create_ruleset), ALLOW(landlock_add_rule), ALLOW(landlock_restrict_self),
	ALLOW(set_tid_address), ALLOW(set_robust_list), ALLOW(get_robust_list), ALLOW(rseq),
	ALLOW(set_thread_area), ALLOW(get_thread_area),
	ALLOW(pidfd_open), ALLOW(pidfd_send_signal), ALLOW(process_mrelease),
	/* as Docker on kernels from 4.8, where seccomp runs again after a tracer */
	ALLOW(ptrace), ALLOW(process_vm_readv), ALLOW(process_vm_writev),
	ALLOW(sched_yield), ALLOW(sched_getaffinity), ALLOW(sched_setaffinity),
	ALLOW(sched_getattr), ALLOW(sched_setattr), ALLOW(sched_getparam),
	ALLOW(sched_setparam), ALLOW(sched_getscheduler), ALLOW(sched_setscheduler),
	ALLOW(sched_get_priority_max), ALLOW(sched_get_priority_min),
	ALLOW(sched_rr_get_interval), ALLOW(sched_rr_get_interval_time64),
	/* users and groups (the container's own, in its user namespace of one) */
	ALLOW(getuid), ALLOW(getuid32), ALLOW(geteuid), ALLOW(geteuid32), ALLOW(getgid),
	ALLOW(getgid32), ALLOW(getegid), ALLOW(getegid32), ALLOW(getresuid),
	ALLOW(getresuid32), ALLOW(getresgid), ALLOW(getresgid32), ALLOW(getgroups),
	ALLOW(getgroups32), ALLOW(setuid), ALLOW(setuid32), ALLOW(setgid), ALLOW(setgid32),
	ALLOW(setreuid), ALLOW(setreuid32), ALLOW(setregid), ALLOW(setregid32),
	ALLOW(setresuid), ALLOW(setresuid32), ALLOW(setresgid), ALLOW(setresgid32),
	ALLOW(setfsuid), ALLOW(setfsuid32), ALLOW(setfsgid), ALLOW(setfsgid32),
	ALLOW(setgroups), ALLOW(setgroups32),
	/* signals */
	ALLOW(kill), ALLOW(tkill), ALLOW(tgkill), ALLOW(rt_sigaction), ALLOW(rt_sigprocmask),
	ALLOW(rt_sigpending), ALLOW(rt_sigsuspend), ALLOW(rt_sigtimedwait),
	ALLOW(rt_sigtimedwait_time64), ALLOW(rt_sigqueueinfo), ALLOW(rt_tgsigqueueinfo),
	ALLOW(rt_sigreturn), ALLOW(sigreturn), ALLOW(sigprocmask), ALLOW(sigaltstack),
	ALLOW(alarm), ALLOW(pause),
	/* clocks and timers (reading; adjtimex and clock_adjtime change the clock
	 * only with CAP_SYS_TIME, glibc reads its state through them) */
	ALLOW(time), ALLOW(gettimeofday), ALLOW(clock_gettime), ALLOW(clock_gettime64),
	ALLOW(clock_getres), ALLOW(clock_getres_time64), ALLOW(clock_nanosleep),
	ALLOW(clock_nanosleep_time64), ALLOW(nanosleep), ALLOW(adjtimex),
	ALLOW(clock_adjtime), ALLOW(clock_adjtime64),
	ALLOW(getitimer), ALLOW(setitimer), ALLOW(timer_create), ALLOW(timer_delete),
	ALLOW(timer_getoverrun), ALLOW(timer_gettime), ALLOW(timer_gettime64),
	ALLOW(timer_settime), ALLOW(timer_settime64),
	ALLOW(futex), ALLOW(futex_time64), ALLOW(futex_waitv), ALLOW(futex_wake),
	ALLOW(futex_wait), ALLOW(futex_requeue),
	/* sockets (socket itself below) and pipes */
	ALLOW(socketpair), ALLOW(bind), ALLOW(listen), ALLOW(accept), ALLOW(accept4),
	ALLOW(connect), ALLOW(shutdown), ALLOW(getsockname), ALLOW(getpeername),
	ALLOW(getsockopt), ALLOW(setsockopt), ALLOW(send), ALLOW(sendto), ALLOW(sendmsg),
	ALLOW(sendmmsg), ALLOW(recv), ALLOW(recvfrom), ALLOW(recvmsg), ALLOW(recvmmsg),
	ALLOW(recvmmsg_time64),
	/* i386's multiplexers: their arguments are in memory the filter cannot
	 * read, so socketcall(SYS_SOCKET) reaches socket without the family
	 * check, as under Docker */
	ALLOW(socketcall), ALLOW(ipc),
	ALLOW(pipe), ALLOW(pipe2),
	/* System V and POSIX IPC (the container's own IPC namespace) */
	ALLOW(msgget), ALLOW(msgsnd), ALLOW(msgrcv), ALLOW(msgctl), ALLOW(semget),
	ALLOW(semop), ALLOW(semtimedop), ALLOW(semtimedop_time64), ALLOW(semctl),
	ALLOW(shmget), ALLOW(shmat), ALLOW(shmdt), ALLOW(shmctl),
	ALLOW(mq_open), ALLOW(mq_unlink), ALLOW(mq_timedsend), ALLOW(mq_timedsend_time64),
	ALLOW(mq_timedreceive), ALLOW(mq_timedreceive_time64), ALLOW(mq_notify),
	ALLOW(mq_getsetattr),
	/* the native ABI's own */
#if defined(__x86_64__) || defined(__i386__)
	ALLOW(arch_prctl), ALLOW(modify_ldt),
#elif defined(__aarch64__) || defined(__arm__)
	ALLOW(arm_fadvise64_64), ALLOW(arm_sync_file_range), ALLOW(sync_file_range2),
	ALLOW(breakpoint), ALLOW(cacheflush), ALLOW(set_tls),
#elif defined(__s390__) || defined(__s390x__)
	ALLOW(s390_pci_mmio_read), ALLOW(s390_pci_mmio_write), ALLOW(s390_runtime_instr),
#endif
	/* for some arguments only: the rules in seccomp_add_argument_rules */
	ALLOW_IF(clone), ALLOW_IF(socket), ALLOW_IF(personality),
};

/* x86_64's count; the header comment says it (other ABIs differ by their own calls). */
#if defined(__x86_64__)
_Static_assert(SECCOMP_ARRAY_SIZE(seccomp_allow_table) == 357 + 3,
	       "the header comment names the allow-list's size");
#endif

/*
 * Refused on purpose, each with its reason.  Every syscall at or below the
 * ceiling that the allow-list does not name is refused with EPERM anyway
 * (seccomp_refuse_the_rest); these are the ones a reader looks for, and
 * a name added to the allow-list while still here fails the filter's
 * construction instead of being quietly allowed or refused.
 */
static const struct seccomp_syscall seccomp_refuse_table[] = {
	/* accounting, keys, BPF, perf */
	REFUSE(acct, "process accounting is host-wide (CAP_SYS_PACCT)"),
	REFUSE(add_key, "the kernel keyring is not namespaced"),
	REFUSE(request_key, "the kernel keyring is not namespaced"),
	REFUSE(keyctl, "the kernel keyring is not namespaced"),
	REFUSE(bpf, "loads programs into the host kernel (CAP_SYS_ADMIN, CAP_BPF)"),
	REFUSE(perf_event_open, "observes the host and leaks kernel addresses (CAP_PERFMON)"),
	REFUSE(lookup_dcookie, "profiling interface into host kernel state"),
	REFUSE(fanotify_init, "can watch every mount of the host (CAP_SYS_ADMIN)"),
	REFUSE(syslog, "reads and clears the host's kernel log (CAP_SYSLOG)"),
	/* the clock is the host's */
	REFUSE(clock_settime, "the system clock is not namespaced (CAP_SYS_TIME)"),
	REFUSE(clock_settime64, "the system clock is not namespaced (32-bit time64 ABI)"),
	REFUSE(settimeofday, "the system clock is not namespaced (CAP_SYS_TIME)"),
	REFUSE(stime, "the system clock is not namespaced (i386)"),
	/* kernel modules and kexec */
	REFUSE(create_module, "kernel modules (CAP_SYS_MODULE)"),
	REFUSE(init_module, "kernel modules (CAP_SYS_MODULE)"),
	REFUSE(finit_module, "kernel modules (CAP_SYS_MODULE)"),
	REFUSE(delete_module, "kernel modules (CAP_SYS_MODULE)"),
	REFUSE(get_kernel_syms, "obsolete module interface"),
	REFUSE(query_module, "obsolete module interface"),
	REFUSE(kexec_load, "replaces the running kernel (CAP_SYS_BOOT)"),
	REFUSE(kexec_file_load, "replaces the running kernel (CAP_SYS_BOOT)"),
	REFUSE(reboot, "reboots the host (CAP_SYS_BOOT)"),
	/* mounts and file handles */
	REFUSE(mount, "the container's mounts are fixed (CAP_SYS_ADMIN)"),
	REFUSE(umount, "the container's mounts are fixed (i386)"),
	REFUSE(umount2, "the container's mounts are fixed (CAP_SYS_ADMIN)"),
	REFUSE(move_mount, "new mount API (CAP_SYS_ADMIN)"),
	REFUSE(open_tree, "new mount API (CAP_SYS_ADMIN)"),
	REFUSE(fsopen, "new mount API (CAP_SYS_ADMIN)"),
	REFUSE(fsconfig, "new mount API (CAP_SYS_ADMIN)"),
	REFUSE(fsmount, "new mount API (CAP_SYS_ADMIN)"),
	REFUSE(fspick, "new mount API (CAP_SYS_ADMIN)"),
	REFUSE(mount_setattr, "new mount API (CAP_SYS_ADMIN)"),
	REFUSE(pivot_root, "the container's root is fixed (CAP_SYS_ADMIN)"),
	REFUSE(name_to_handle_at, "file handles reach outside the rootfs (Docker allows it)"),
	REFUSE(open_by_handle_at, "opens host files by handle, the Shocker escape "
	       "(CAP_DAC_READ_SEARCH)"),
	REFUSE(quotactl, "disk quotas are host-wide (CAP_SYS_ADMIN)"),
	REFUSE(quotactl_fd, "disk quotas are host-wide (CAP_SYS_ADMIN)"),
	REFUSE(swapon, "swap is host-wide (CAP_SYS_ADMIN)"),
	REFUSE(swapoff, "swap is host-wide (CAP_SYS_ADMIN)"),
	/* namespaces: clone's namespace flags are refused by a rule below */
	REFUSE(setns, "joins other namespaces (CAP_SYS_ADMIN)"),
	REFUSE(unshare, "creates namespaces, user namespaces included (CAP_SYS_ADMIN)"),
	REFUSE(sethostname, "the UTS namespace is set by orch (CAP_SYS_ADMIN)"),
	REFUSE(setdomainname, "the UTS namespace is set by orch (CAP_SYS_ADMIN)"),
	/* other processes' insides */
	REFUSE(kcmp, "compares other processes' kernel objects (CAP_SYS_PTRACE)"),
	REFUSE(pidfd_getfd, "takes another process's descriptors (CAP_SYS_PTRACE)"),
	REFUSE(process_madvise, "advises on another process's memory (CAP_SYS_PTRACE)"),
	/* NUMA placement is the host's */
	REFUSE(mbind, "NUMA memory policy (CAP_SYS_NICE)"),
	REFUSE(get_mempolicy, "NUMA memory policy (CAP_SYS_NICE)"),
	REFUSE(set_mempolicy, "NUMA memory policy (CAP_SYS_NICE)"),
	REFUSE(set_mempolicy_home_node, "NUMA memory policy (CAP_SYS_NICE)"),
	REFUSE(migrate_pages, "moves another process's pages between NUMA nodes"),
	REFUSE(move_pages, "moves pages between NUMA nodes, another process's too"),
	/* hardware and old interfaces */
	REFUSE(iopl, "raw I/O port access (CAP_SYS_RAWIO)"),
	REFUSE(ioperm, "raw I/O port access (CAP_SYS_RAWIO)"),
	REFUSE(vm86, "virtual 8086 mode, a kernel attack surface (i386)"),
	REFUSE(vm86old, "virtual 8086 mode, a kernel attack surface (i386)"),
	REFUSE(vhangup, "hangs up the terminal (CAP_SYS_TTY_CONFIG)"),
	REFUSE(nfsservctl, "removed from the kernel"),
	REFUSE(sysfs, "obsolete"),
	REFUSE(_sysctl, "obsolete; /proc/sys is read-only"),
	REFUSE(uselib, "obsolete a.out loader"),
	REFUSE(ustat, "obsolete"),
	/* memory interfaces used in kernel exploits */
	REFUSE(userfaultfd, "stalls kernel page faults, a common exploit primitive"),
	REFUSE(io_uring_setup, "io_uring bypasses seccomp and has a history of exploits"),
	REFUSE(io_uring_enter, "io_uring bypasses seccomp and has a history of exploits"),
	REFUSE(io_uring_register, "io_uring bypasses seccomp and has a history of exploits"),
	/* clone3 passes its flags in a struct the filter cannot read: ENOSYS
	 * makes glibc (and any careful caller) fall back to clone */
	NOSYS(clone3, "flags out of the filter's sight; callers fall back to clone"),
};

/*
 * personality(2) personas a program may ask for; anything else (e.g.
 * ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) is refused.  PER_LINUX,
 * PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and 0xffffffff (the query).
 */
static const uint32_t seccomp_safe_personas[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

/*
 * socket(2) address families a container may open: Docker's list.  Left
 * out: AF_DECnet (12), AF_ECONET (19), AF_ATMSVC (20), AF_IRDA (23),
 * AF_WANPIPE (25), AF_ISDN (34), AF_CAIF (37), AF_ALG (38), AF_VSOCK (40,
 * reaches the hypervisor's host) and every family above AF_MCTP (45).
 */
static const uint32_t seccomp_safe_socket_families[] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,		/* AF_UNSPEC .. AF_ROSE */
	13, 14, 15, 16, 17, 18,				/* AF_NETBEUI .. AF_ASH */
	21, 22, 24,					/* AF_RDS, AF_SNA, AF_PPPOX */
	26, 27, 28, 29, 30, 31, 32, 33,			/* AF_LLC .. AF_RXRPC */
	35, 36,						/* AF_PHONET, AF_IEEE802154 */
	39,						/* AF_NFC */
	41, 42, 43, 44, 45,				/* AF_KCM .. AF_MCTP */
};

/* clone(2) flags that create a namespace: refused, as unshare(2) is. */
static const uint64_t seccomp_clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* clone's flags argument: the second on s390, the first everywhere else. */
#if defined(__s390__) || defined(__s390x__)
#define SECCOMP_CLONE_FLAGS_ARG 1
#else
#define SECCOMP_CLONE_FLAGS_ARG 0
#endif

/*
 * The ABIs that share the native one's kernel and get the same rules, with
 * the number their syscalls start at (x32's carry __X32_SYSCALL_BIT).
 */
struct seccomp_extra_arch {
	uint32_t arch;
	int nr_base;
};

static const struct seccomp_extra_arch seccomp_extra_arches[] = {
#if defined(__x86_64__)
	{ SCMP_ARCH_X86, 0 }, { SCMP_ARCH_X32, 0x40000000 },
#elif defined(__aarch64__)
	{ SCMP_ARCH_ARM, 0 },
#endif
	{ 0, 0 }	/* end */
};

/*
 * How far above an ABI's first number the scan for unlisted names looks:
 * past every syscall of every ABI today (the highest is below 500), short
 * of arm's private calls at 0xf0000, which stay ENOSYS unless listed.
 */
#define SECCOMP_SCAN_SPAN 1024

#define SECCOMP_ALLOW_COUNT SECCOMP_ARRAY_SIZE(seccomp_allow_table)
#define SECCOMP_LIST_COUNT (SECCOMP_ALLOW_COUNT + SECCOMP_ARRAY_SIZE(seccomp_refuse_table))

/*
 * Both tables, each name with its libseccomp number: the native number, or
 * a negative pseudo-number for a syscall only another ABI has.  libseccomp
 * maps either to every ABI of the filter by name.
 */
struct seccomp_list {
	const struct seccomp_syscall *sys[SECCOMP_LIST_COUNT];
	int nr[SECCOMP_LIST_COUNT];
};

static int seccomp_list_resolve(struct seccomp_list *list, orch_error *err)
{
	for (size_t i = 0; i < SECCOMP_LIST_COUNT; i++) {
		const struct seccomp_syscall *s = i < SECCOMP_ALLOW_COUNT ? &seccomp_allow_table[i]
			: &seccomp_refuse_table[i - SECCOMP_ALLOW_COUNT];
		int nr = seccomp_syscall_resolve_name(s->name);

		if (nr == __NR_SCMP_ERROR)
			return orch_fail(err, ORCH_ERR_INTERNAL,
					 "seccomp: libseccomp does not know syscall '%s'", s->name);
		/* libseccomp keeps the first action given to a syscall and drops
		 * a later different one silently: a name listed twice is a bug. */
		for (size_t j = 0; j < i; j++)
			if (list->nr[j] == nr)
				return orch_fail(err, ORCH_ERR_INTERNAL,
						 "seccomp: syscall '%s' is listed twice", s->name);
		list->sys[i] = s;
		list->nr[i] = nr;
	}
	return 0;
}

static bool seccomp_list_has(const struct seccomp_list *list, int nr)
{
	for (size_t i = 0; i < SECCOMP_LIST_COUNT; i++)
		if (list->nr[i] == nr)
			return true;
	return false;
}

/*
 * The ceiling of one ABI: the highest number, in that ABI's numbering and
 * within SECCOMP_SCAN_SPAN of nr_base, of a syscall the tables name.
 * Syscalls above it are newer than the list.
 */
static int seccomp_ceiling(const struct seccomp_list *list, uint32_t arch, int nr_base)
{
	int ceiling = -1;

	for (size_t i = 0; i < SECCOMP_LIST_COUNT; i++) {
		int nr = seccomp_syscall_resolve_name_arch(arch, list->sys[i]->name);

		if (nr >= nr_base && nr < nr_base + SECCOMP_SCAN_SPAN && nr > ceiling)
			ceiling = nr;
	}
	return ceiling;
}

/*
 * EPERM for every syscall libseccomp names on this ABI, at or below its
 * ceiling, that the tables leave out.  A name the native ABI has is
 * decided on the native scan (and mapped to the others by libseccomp),
 * so each name is decided once, the same on every ABI.
 */
static int seccomp_refuse_the_rest(scmp_filter_ctx ctx, const struct seccomp_list *list,
				   uint32_t arch, int nr_base, orch_error *err)
{
	bool native = arch == seccomp_arch_native();
	int ceiling = seccomp_ceiling(list, arch, nr_base);

	for (int nr = nr_base; nr <= ceiling; nr++) {
		cleanup_free char *name = seccomp_syscall_resolve_num_arch(arch, nr);
		int rc, native_nr;

		if (!name)
			continue;	/* no syscall there: ENOSYS, as the kernel says */
		native_nr = seccomp_syscall_resolve_name(name);
		if (native_nr == __NR_SCMP_ERROR || (!native && native_nr >= 0) ||
		    seccomp_list_has(list, native_nr))
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), native_nr, 0);
		if (rc < 0)
			return orch_fail_errno(err, -rc, "seccomp: refusing '%s'", name);
	}
	return 0;
}

static int seccomp_add_table_rules(scmp_filter_ctx ctx, const struct seccomp_list *list,
				   orch_error *err)
{
	/* Before the argument rules: with socketcall allowed outright,
	 * libseccomp adds no socketcall variant of socket's rules on i386. */
	for (size_t i = 0; i < SECCOMP_LIST_COUNT; i++) {
		const struct seccomp_syscall *s = list->sys[i];
		uint32_t action;
		int rc;

		switch (s->verdict) {
		case SECCOMP_ALLOW:
			action = SCMP_ACT_ALLOW;
			break;
		case SECCOMP_REFUSE:
			action = SCMP_ACT_ERRNO(EPERM);
			break;
		case SECCOMP_NOSYS:	/* the default action: libseccomp refuses a rule repeating it */
		case SECCOMP_ALLOW_IF:	/* seccomp_add_argument_rules */
		default:
			continue;
		}
		rc = seccomp_rule_add(ctx, action, list->nr[i], 0);
		if (rc < 0)
			return orch_fail_errno(err, -rc, "seccomp: adding the rule for '%s'",
					       s->name);
	}
	return 0;
}

/*
 * Allows syscall nr when the low 32 bits of its first argument (the kernel
 * reads it as an int) are one of safe[], and refuses it with EPERM
 * otherwise, so no value falls through to the default ENOSYS.  libseccomp
 * (2.5) takes one comparison per argument in a rule, so "one of" and
 * "none of" are sets of rules: this walks the binary trie of the 32-bit
 * values from bit 31 down and adds one masked-equality rule for each
 * largest subtree whose values are all safe (ALLOW) or all not (EPERM).
 * The rules never overlap and together cover every value.  prefix_mask and
 * prefix are the bits above bit fixed so far.
 */
static int seccomp_arg0_split(scmp_filter_ctx ctx, int nr, const uint32_t *safe, size_t count,
			      int bit, uint32_t prefix_mask, uint32_t prefix, orch_error *err)
{
	uint32_t bit_mask = 1U << bit;

	for (int side = 0; side < 2; side++) {
		uint32_t mask = prefix_mask | bit_mask, datum = prefix | (side ? bit_mask : 0);
		uint64_t width = 1ULL << bit, reached = 0;
		uint32_t action;
		int rc;

		/* safe[] holds distinct values: the subtree is all safe when it
		 * holds as many of them as it has values. */
		for (size_t i = 0; i < count; i++)
			reached += (safe[i] & mask) == datum;
		if (reached > 0 && reached < width) {
			if (seccomp_arg0_split(ctx, nr, safe, count, bit - 1, mask, datum, err) < 0)
				return -1;
			continue;
		}
		action = reached ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM);
		rc = seccomp_rule_add(ctx, action, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, mask, datum));
		if (rc < 0)
			return orch_fail_errno(err, -rc, "seccomp: adding the rule for argument "
					       "%#x/%#x of syscall %d", datum, mask, nr);
	}
	return 0;
}

static int seccomp_add_argument_rules(scmp_filter_ctx ctx, orch_error *err)
{
	uint64_t ns_mask = 0;
	int rc;

	/* clone: allowed without a namespace flag; one EPERM rule per flag
	 * (the rules are OR-ed, a rule's comparisons AND-ed). */
	for (size_t i = 0; i < SECCOMP_ARRAY_SIZE(seccomp_clone_ns_flags); i++) {
		uint64_t flag = seccomp_clone_ns_flags[i];

		ns_mask |= flag;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_CMP(SECCOMP_CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ,
					       flag, flag));
		if (rc < 0)
			return orch_fail_errno(err, -rc, "seccomp: refusing clone flag %#llx",
					       (unsigned long long)flag);
	}
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			      SCMP_CMP(SECCOMP_CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, ns_mask, 0));
	if (rc < 0)
		return orch_fail_errno(err, -rc, "seccomp: allowing clone");

	if (seccomp_arg0_split(ctx, SCMP_SYS(personality), seccomp_safe_personas,
			       SECCOMP_ARRAY_SIZE(seccomp_safe_personas), 31, 0, 0, err) < 0)
		return orch_error_prefix(err, "personality");
	if (seccomp_arg0_split(ctx, SCMP_SYS(socket), seccomp_safe_socket_families,
			       SECCOMP_ARRAY_SIZE(seccomp_safe_socket_families), 31, 0, 0, err) < 0)
		return orch_error_prefix(err, "socket");
	return 0;
}

/* Builds the whole filter into ctx (created with the default action). */
static int seccomp_add_rules(scmp_filter_ctx ctx, orch_error *err)
{
	struct seccomp_list list;

	if (seccomp_list_resolve(&list, err) < 0 || seccomp_add_table_rules(ctx, &list, err) < 0 ||
	    seccomp_add_argument_rules(ctx, err) < 0 ||
	    seccomp_refuse_the_rest(ctx, &list, seccomp_arch_native(), 0, err) < 0)
		return -1;
	for (size_t i = 0; seccomp_extra_arches[i].arch; i++)
		if (seccomp_refuse_the_rest(ctx, &list, seccomp_extra_arches[i].arch,
					    seccomp_extra_arches[i].nr_base, err) < 0)
			return -1;
	return 0;
}

/* The whole filter in a libseccomp context; NULL with err on failure. */
static scmp_filter_ctx seccomp_profile_build(orch_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
	int rc;

	if (!ctx) {
		orch_fail(err, ORCH_ERR_INTERNAL,
			  "seccomp: cannot create a filter (libseccomp seccomp_init failed)");
		return NULL;
	}
	/*
	 * The loader sets no_new_privs itself: one place does it.  The filter
	 * keeps libseccomp's default layout (a list in priority order), not
	 * the binary tree: kernels from 5.11 skip the filter altogether for a
	 * syscall it allows whatever the arguments (the seccomp action cache).
	 */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (rc < 0) {
		seccomp_release(ctx);
		orch_fail_errno(err, -rc, "seccomp: setting the filter attributes");
		return NULL;
	}
	for (size_t i = 0; seccomp_extra_arches[i].arch; i++) {
		rc = seccomp_arch_add(ctx, seccomp_extra_arches[i].arch);
		if (rc < 0 && rc != -EEXIST) {
			seccomp_release(ctx);
			orch_fail_errno(err, -rc, "seccomp: adding architecture %#x",
					seccomp_extra_arches[i].arch);
			return NULL;
		}
	}
	if (seccomp_add_rules(ctx, err) < 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

int seccomp_profile_export_default(int fd, orch_error *err)
{
	scmp_filter_ctx ctx = seccomp_profile_build(err);
	int rc;

	if (!ctx)
		return -1;
	rc = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (rc < 0)
		return orch_fail_errno(err, -rc, "seccomp: exporting the filter");
	return 0;
}

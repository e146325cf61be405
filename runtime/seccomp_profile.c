/*
 * seccomp_profile.c - the default seccomp filter of a container's
 * processes: a table of refused syscalls, each with its reason, and the
 * few rules that look at arguments.  See seccomp_profile.h.
 */
#include "seccomp_profile.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A syscall refused outright; nr is libseccomp's (negative if not native). */
struct seccomp_deny {
	const char *name;
	int nr;
	const char *reason;
};

/* SCMP_SYS fails to compile for a name libseccomp does not know. */
#define DENY(sys, why) { #sys, SCMP_SYS(sys), why }

/*
 * Refused with EPERM, as Docker's default profile refuses them to a
 * container without CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_TIME,
 * CAP_SYS_BOOT, CAP_SYS_RAWIO, CAP_SYS_PACCT, CAP_DAC_READ_SEARCH,
 * CAP_SYSLOG and CAP_SYS_TTY_CONFIG, or for everyone.
 */
static const struct seccomp_deny seccomp_deny_table[] = {
	/* accounting, keys, BPF, perf */
	DENY(acct, "process accounting is host-wide (CAP_SYS_PACCT)"),
	DENY(add_key, "the kernel keyring is not namespaced"),
	DENY(request_key, "the kernel keyring is not namespaced"),
	DENY(keyctl, "the kernel keyring is not namespaced"),
	DENY(bpf, "loads programs into the host kernel"),
	DENY(perf_event_open, "observes the host and leaks kernel addresses"),
	DENY(lookup_dcookie, "profiling interface into host kernel state"),
	DENY(fanotify_init, "can watch every mount of the host (CAP_SYS_ADMIN)"),
	DENY(syslog, "reads and clears the host's kernel log (CAP_SYSLOG)"),
	/* the clock is the host's (adjtimex and clock_adjtime stay: glibc reads the clock's
	 * state through them, and changing it needs CAP_SYS_TIME anyway) */
	DENY(clock_settime, "the system clock is not namespaced"),
	DENY(clock_settime64, "the system clock is not namespaced (32-bit time64 ABI)"),
	DENY(settimeofday, "the system clock is not namespaced"),
	DENY(stime, "the system clock is not namespaced (i386)"),
	/* kernel modules and kexec */
	DENY(create_module, "kernel modules (CAP_SYS_MODULE)"),
	DENY(init_module, "kernel modules (CAP_SYS_MODULE)"),
	DENY(finit_module, "kernel modules (CAP_SYS_MODULE)"),
	DENY(delete_module, "kernel modules (CAP_SYS_MODULE)"),
	DENY(get_kernel_syms, "obsolete module interface"),
	DENY(query_module, "obsolete module interface"),
	DENY(kexec_load, "replaces the running kernel (CAP_SYS_BOOT)"),
	DENY(kexec_file_load, "replaces the running kernel (CAP_SYS_BOOT)"),
	DENY(reboot, "reboots the host (CAP_SYS_BOOT)"),
	/* mounts and file handles */
	DENY(mount, "the container's mounts are fixed (CAP_SYS_ADMIN)"),
	DENY(umount, "the container's mounts are fixed (i386)"),
	DENY(umount2, "the container's mounts are fixed (CAP_SYS_ADMIN)"),
	DENY(move_mount, "new mount API (CAP_SYS_ADMIN)"),
	DENY(open_tree, "new mount API (CAP_SYS_ADMIN)"),
	DENY(fsopen, "new mount API (CAP_SYS_ADMIN)"),
	DENY(fsconfig, "new mount API (CAP_SYS_ADMIN)"),
	DENY(fsmount, "new mount API (CAP_SYS_ADMIN)"),
	DENY(fspick, "new mount API (CAP_SYS_ADMIN)"),
	DENY(mount_setattr, "new mount API (CAP_SYS_ADMIN)"),
	DENY(pivot_root, "the container's root is fixed (CAP_SYS_ADMIN)"),
	DENY(name_to_handle_at, "file handles reach outside the rootfs"),
	DENY(open_by_handle_at, "opens host files by handle (the Shocker escape)"),
	DENY(quotactl, "disk quotas are host-wide (CAP_SYS_ADMIN)"),
	DENY(quotactl_fd, "disk quotas are host-wide (CAP_SYS_ADMIN)"),
	DENY(swapon, "swap is host-wide (CAP_SYS_ADMIN)"),
	DENY(swapoff, "swap is host-wide (CAP_SYS_ADMIN)"),
	/* namespaces: clone's namespace flags are refused by a rule below */
	DENY(setns, "joins other namespaces (CAP_SYS_ADMIN)"),
	DENY(unshare, "creates namespaces, user namespaces included (CAP_SYS_ADMIN)"),
	DENY(sethostname, "the UTS namespace is set by orch (CAP_SYS_ADMIN)"),
	DENY(setdomainname, "the UTS namespace is set by orch (CAP_SYS_ADMIN)"),
	/* hardware and old interfaces */
	DENY(iopl, "raw I/O port access (CAP_SYS_RAWIO)"),
	DENY(ioperm, "raw I/O port access (CAP_SYS_RAWIO)"),
	DENY(vm86, "virtual 8086 mode, a kernel attack surface (i386)"),
	DENY(vm86old, "virtual 8086 mode, a kernel attack surface (i386)"),
	DENY(vhangup, "hangs up the terminal (CAP_SYS_TTY_CONFIG)"),
	DENY(nfsservctl, "removed from the kernel"),
	DENY(sysfs, "obsolete"),
	DENY(_sysctl, "obsolete; /proc/sys is read-only"),
	DENY(uselib, "obsolete a.out loader"),
	DENY(ustat, "obsolete"),
	/* memory interfaces used in kernel exploits */
	DENY(userfaultfd, "stalls kernel page faults, a common exploit primitive"),
	DENY(io_uring_setup, "io_uring bypasses seccomp and has a history of exploits"),
	DENY(io_uring_enter, "io_uring bypasses seccomp and has a history of exploits"),
	DENY(io_uring_register, "io_uring bypasses seccomp and has a history of exploits"),
};
#define SECCOMP_DENY_COUNT (sizeof(seccomp_deny_table) / sizeof(seccomp_deny_table[0]))

/*
 * personality(2) personas a program may ask for; anything else (e.g.
 * ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) is refused.  PER_LINUX,
 * PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and 0xffffffff (the query).
 * The kernel reads the argument as an unsigned int: only its low 32 bits
 * are compared.
 */
static const uint32_t seccomp_safe_personas[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
#define SECCOMP_SAFE_PERSONA_COUNT \
	(sizeof(seccomp_safe_personas) / sizeof(seccomp_safe_personas[0]))

/* clone(2) flags that create a namespace: refused, as unshare(2) is. */
static const uint64_t seccomp_clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};
#define SECCOMP_CLONE_NS_FLAG_COUNT \
	(sizeof(seccomp_clone_ns_flags) / sizeof(seccomp_clone_ns_flags[0]))

/* clone's flags argument: the second on s390, the first everywhere else. */
#if defined(__s390__) || defined(__s390x__)
#define SECCOMP_CLONE_FLAGS_ARG 1
#else
#define SECCOMP_CLONE_FLAGS_ARG 0
#endif

/* The ABIs that share the native one's kernel and get the same rules. */
static const uint32_t seccomp_extra_arches[] = {
#if defined(__x86_64__)
	SCMP_ARCH_X86, SCMP_ARCH_X32,
#elif defined(__aarch64__)
	SCMP_ARCH_ARM,
#endif
	0	/* end */
};

/*
 * Refuses syscall nr unless the low 32 bits of its first argument are one
 * of safe[].  libseccomp (2.5) takes one comparison per argument in a rule,
 * so "not one of" cannot be a single rule: this walks the binary trie of
 * safe[] from bit 31 down and adds one masked-equality rule for every
 * branch that leads to no safe value (at most 32 per safe value).  The
 * rules are OR-ed; prefix_mask/prefix are the bits above bit fixed so far.
 */
static int seccomp_refuse_arg0_unless(scmp_filter_ctx ctx, int nr, const uint32_t *safe,
				      size_t count, int bit, uint32_t prefix_mask,
				      uint32_t prefix, orch_error *err)
{
	uint32_t bit_mask = 1U << bit;

	for (int side = 0; side < 2; side++) {
		uint32_t mask = prefix_mask | bit_mask, datum = prefix | (side ? bit_mask : 0);
		bool reached = false;
		int rc;

		for (size_t i = 0; i < count && !reached; i++)
			reached = (safe[i] & mask) == datum;
		if (reached && bit > 0 &&
		    seccomp_refuse_arg0_unless(ctx, nr, safe, count, bit - 1, mask, datum,
					       err) < 0)
			return -1;
		if (reached)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, mask, datum));
		if (rc < 0)
			return orch_fail_errno(err, -rc, "seccomp: refusing argument %#x/%#x of "
					       "syscall %d", datum, mask, nr);
	}
	return 0;
}

static int seccomp_add_rules(scmp_filter_ctx ctx, orch_error *err)
{
	int rc;

	for (size_t i = 0; i < SECCOMP_DENY_COUNT; i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), seccomp_deny_table[i].nr, 0);
		if (rc < 0)
			return orch_fail_errno(err, -rc, "seccomp: refusing '%s'",
					       seccomp_deny_table[i].name);
	}

	/* One rule per flag: the rules are OR-ed, a rule's comparisons AND-ed. */
	for (size_t i = 0; i < SECCOMP_CLONE_NS_FLAG_COUNT; i++) {
		uint64_t flag = seccomp_clone_ns_flags[i];

		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_CMP(SECCOMP_CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ,
					       flag, flag));
		if (rc < 0)
			return orch_fail_errno(err, -rc, "seccomp: refusing clone flag %#llx",
					       (unsigned long long)flag);
	}
	/*
	 * clone3 passes its flags in a struct the filter cannot read: ENOSYS
	 * makes glibc (and any careful caller) fall back to clone.
	 */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc < 0)
		return orch_fail_errno(err, -rc, "seccomp: refusing 'clone3'");

	if (seccomp_refuse_arg0_unless(ctx, SCMP_SYS(personality), seccomp_safe_personas,
				       SECCOMP_SAFE_PERSONA_COUNT, 31, 0, 0, err) < 0)
		return orch_error_prefix(err, "personality");
	return 0;
}

int seccomp_profile_load_default(orch_error *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc;

	if (!ctx)
		return orch_fail(err, ORCH_ERR_INTERNAL,
				 "seccomp: cannot create a filter (libseccomp seccomp_init failed)");
	/* The caller set no_new_privs itself: one place does it. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* A binary tree over syscall numbers: every syscall of the container pays the filter. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc < 0) {
		seccomp_release(ctx);
		return orch_fail_errno(err, -rc, "seccomp: setting the filter attributes");
	}
	for (size_t i = 0; seccomp_extra_arches[i]; i++) {
		rc = seccomp_arch_add(ctx, seccomp_extra_arches[i]);
		if (rc < 0 && rc != -EEXIST) {
			seccomp_release(ctx);
			return orch_fail_errno(err, -rc, "seccomp: adding architecture %#x",
					       seccomp_extra_arches[i]);
		}
	}
	if (seccomp_add_rules(ctx, err) < 0) {
		seccomp_release(ctx);
		return -1;
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return orch_fail_errno(err, -rc, "seccomp: loading the filter");
	return 0;
}

/*
 * cgroup_devices.c - the device allow-list of every container and the two
 * ways the kernel enforces it: the rules of the cgroup v1 devices
 * controller, and a BPF_PROG_TYPE_CGROUP_DEVICE program attached to a
 * cgroup2 directory (v2 has no devices controller).  One table feeds both,
 * so the layouts cannot drift apart.
 *
 * The list is Docker's default without the host console (c 5:1; the
 * container's /dev has no console): mknod of any char or block device (so
 * images carrying device nodes unpack and `mknod` works), read and write
 * only of the nodes the container's /dev has.  A denied open fails with
 * EPERM on both layouts.
 */
#include "cgroup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

#define DEVICE_ANY (-1)

struct device_rule {
	char type;		/* 'c' char, 'b' block */
	int major, minor;	/* DEVICE_ANY for "*" */
	const char *access;	/* a subset of "rwm" */
};

static const struct device_rule device_allow[] = {
	{ 'c', DEVICE_ANY, DEVICE_ANY, "m" }, { 'b', DEVICE_ANY, DEVICE_ANY, "m" },
	{ 'c', 1, 3, "rwm" },	/* null */
	{ 'c', 1, 5, "rwm" },	/* zero */
	{ 'c', 1, 7, "rwm" },	/* full */
	{ 'c', 1, 8, "rwm" },	/* random */
	{ 'c', 1, 9, "rwm" },	/* urandom */
	{ 'c', 5, 0, "rwm" },	/* tty */
	{ 'c', 5, 2, "rwm" },	/* ptmx */
	{ 'c', 136, DEVICE_ANY, "rwm" },	/* pts */
};

#define DEVICE_RULE_COUNT (sizeof(device_allow) / sizeof(device_allow[0]))

/* ---- cgroup v1: devices.deny / devices.allow ------------------------------ */

static void rule_text(const struct device_rule *r, char *buf, size_t len)
{
	char major[16], minor[16];

	snprintf(major, sizeof(major), r->major == DEVICE_ANY ? "*" : "%d", r->major);
	snprintf(minor, sizeof(minor), r->minor == DEVICE_ANY ? "*" : "%d", r->minor);
	snprintf(buf, len, "%c %s:%s %s", r->type, major, minor, r->access);
}

int cgroup_devices_v1_apply(const char *dir, orch_error *err)
{
	char text[64];

	if (cgroup_write_file(dir, "devices.deny", "a", err) < 0)
		return -1;
	for (size_t i = 0; i < DEVICE_RULE_COUNT; i++) {
		rule_text(&device_allow[i], text, sizeof(text));
		if (cgroup_write_file(dir, "devices.allow", text, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- cgroup v2: an eBPF device program ------------------------------------ */

/*
 * The program, for a context struct bpf_cgroup_dev_ctx { u32 access_type
 * (BPF_DEVCG_ACC_* << 16 | BPF_DEVCG_DEV_*); u32 major; u32 minor; }:
 *
 *	r2 = type, r3 = access, r4 = major, r5 = minor
 *	for each rule:
 *		if r2 != rule type                 goto next rule
 *		if r3 & ~rule access               goto next rule   (rwm: no test)
 *		if r4 != rule major                goto next rule   (*: no test)
 *		if r5 != rule minor                goto next rule   (*: no test)
 *		return 1                           (allowed)
 *	return 0                                   (the kernel answers EPERM)
 */
#define DEVICE_PROG_MAX 128	/* instructions; the list needs 59 */
#define DEVICE_PROG_LOG_SIZE 8192	/* verifier log kept for the error message */

enum { R0 = 0, R1, R2, R3, R4, R5 };

struct prog {
	struct bpf_insn insns[DEVICE_PROG_MAX];
	size_t len;
};

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	/* The caller sizes DEVICE_PROG_MAX for the table; checked once built. */
	if (p->len < DEVICE_PROG_MAX)
		p->insns[p->len] = (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src,
						      .off = off, .imm = imm };
	p->len++;
}

static uint32_t access_mask(const char *access)
{
	return (strchr(access, 'm') ? BPF_DEVCG_ACC_MKNOD : 0) |
	       (strchr(access, 'r') ? BPF_DEVCG_ACC_READ : 0) |
	       (strchr(access, 'w') ? BPF_DEVCG_ACC_WRITE : 0);
}

static void emit_rule(struct prog *p, const struct device_rule *r)
{
	const uint32_t all = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
	uint32_t mask = access_mask(r->access);
	bool test_access = mask != all;
	/* Instructions after the type test: the jump offsets count them. */
	int16_t left = (int16_t)((test_access ? 3 : 0) + (r->major != DEVICE_ANY) +
				 (r->minor != DEVICE_ANY) + 2);

	emit(p, BPF_JMP | BPF_JNE | BPF_K, R2, 0, left,
	     r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
	if (test_access) {
		emit(p, BPF_ALU64 | BPF_MOV | BPF_X, R0, R3, 0, 0);
		emit(p, BPF_ALU64 | BPF_AND | BPF_K, R0, 0, 0, (int32_t)~mask);
		left -= 2;
		emit(p, BPF_JMP | BPF_JNE | BPF_K, R0, 0, --left, 0);
	}
	if (r->major != DEVICE_ANY)
		emit(p, BPF_JMP | BPF_JNE | BPF_K, R4, 0, --left, r->major);
	if (r->minor != DEVICE_ANY)
		emit(p, BPF_JMP | BPF_JNE | BPF_K, R5, 0, --left, r->minor);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 1);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static void build_program(struct prog *p)
{
	p->len = 0;
	emit(p, BPF_LDX | BPF_MEM | BPF_W, R2, R1, 0, 0);	/* access_type */
	emit(p, BPF_ALU64 | BPF_MOV | BPF_X, R3, R2, 0, 0);
	emit(p, BPF_ALU64 | BPF_AND | BPF_K, R2, 0, 0, 0xffff);	/* device type */
	emit(p, BPF_ALU64 | BPF_RSH | BPF_K, R3, 0, 0, 16);	/* access */
	emit(p, BPF_LDX | BPF_MEM | BPF_W, R4, R1, 4, 0);	/* major */
	emit(p, BPF_LDX | BPF_MEM | BPF_W, R5, R1, 8, 0);	/* minor */
	for (size_t i = 0; i < DEVICE_RULE_COUNT; i++)
		emit_rule(p, &device_allow[i]);
	emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 0);
	emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static int bpf_call(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* Loads the program; returns its fd, owned by the caller, or -1. */
static int load_program(orch_error *err)
{
	static char log[DEVICE_PROG_LOG_SIZE];
	struct prog prog;
	union bpf_attr attr;
	int fd;

	build_program(&prog);
	if (prog.len > DEVICE_PROG_MAX)
		return orch_fail(err, ORCH_ERR_INTERNAL,
				 "the device program needs %zu instructions, more than %d",
				 prog.len, DEVICE_PROG_MAX);
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)prog.insns;
	attr.insn_cnt = (uint32_t)prog.len;
	attr.license = (uint64_t)(uintptr_t)"GPL";
	fd = bpf_call(BPF_PROG_LOAD, &attr);
	if (fd >= 0)
		return fd;
	if (errno == EINVAL || errno == EACCES) {
		/* Again with the verifier's log, which says what it refused. */
		int saved = errno;

		log[0] = '\0';
		attr.log_buf = (uint64_t)(uintptr_t)log;
		attr.log_size = sizeof(log);
		attr.log_level = 1;
		fd = bpf_call(BPF_PROG_LOAD, &attr);
		if (fd >= 0)
			return fd;
		log[sizeof(log) - 1] = '\0';
		if (log[0])
			return orch_fail(err, ORCH_ERR_INTERNAL,
					 "the kernel refused the eBPF device program (%s): %.400s",
					 strerror(saved), log);
		errno = saved;
	}
	return orch_fail_errno(err, errno, "loading the eBPF device program");
}

int cgroup_devices_bpf_attach(const char *dir, orch_error *err)
{
	cleanup_close int prog_fd = -1;
	cleanup_close int dir_fd = -1;
	union bpf_attr attr;

	prog_fd = load_program(err);
	if (prog_fd < 0)
		return -1;
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return orch_fail_errno(err, errno, "opening cgroup '%s'", dir);
	/*
	 * BPF_F_ALLOW_MULTI: programs of ancestors attached the same way run
	 * too and every one must allow, so neither side can widen the other.
	 * The cgroup holds the program from here on; closing prog_fd does not
	 * detach it, and it goes away with the cgroup's removal.
	 */
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)dir_fd;
	attr.attach_bpf_fd = (uint32_t)prog_fd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf_call(BPF_PROG_ATTACH, &attr) < 0)
		return orch_fail_errno(err, errno, "attaching the eBPF device program to '%s'", dir);
	return 0;
}

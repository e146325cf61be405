/*
 * linux_mounts.c - rootfs, pivot_root, API file systems, device nodes and
 * masked/read-only paths for the container init.  See linux_mounts.h for
 * the order and why it is safe.
 */
#include "linux_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/cleanup.h"

/* The /dev tmpfs: nodev once the default nodes are bound in (populate_dev). */
#define LINUX_DEV_TMPFS_FLAGS (MS_NOSUID | MS_NODEV | MS_STRICTATIME)

/* Docker's masked paths (moby oci/defaults.go). */
static const char *const masked_paths[] = {
	"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
};

/* Docker's read-only paths. */
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

struct device_node {
	const char *path;
	unsigned int major, minor;
};

/* The only device nodes in the container's /dev (plus pts and ptmx). */
static const struct device_node default_devices[] = {
	{ "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
	{ "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

static const struct { const char *target, *link; } default_symlinks[] = {
	{ "/dev/ptmx", "pts/ptmx" }, { "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" }, { "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" }, { "/dev/core", "/proc/kcore" },
};

int linux_mounts_make_private(orch_error *err)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return orch_fail_errno(err, errno, "making mounts private");
	return 0;
}

int linux_mount_overlay(const char *target, char *const *layers_bottom_first, size_t layer_count,
			const char *upper, const char *work, orch_error *err)
{
	char options[LINUX_OVERLAY_OPTIONS_MAX + 1];
	size_t used;

	if (layer_count == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "the image has no layers");
	used = (size_t)snprintf(options, sizeof(options), "lowerdir=");
	/* overlayfs lists the top layer first. */
	for (size_t i = layer_count; i-- > 0; ) {
		const char *layer = layers_bottom_first[i];

		if (strpbrk(layer, ":,\\"))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "layer path '%s' has a character overlayfs cannot take", layer);
		used += (size_t)snprintf(options + used, used < sizeof(options) ? sizeof(options) - used : 0,
					 "%s%s", i == layer_count - 1 ? "" : ":", layer);
	}
	used += (size_t)snprintf(options + used, used < sizeof(options) ? sizeof(options) - used : 0,
				 ",upperdir=%s,workdir=%s", upper, work);
	if (used >= sizeof(options))
		return orch_fail(err, ORCH_ERR_UNSUPPORTED,
				 "%zu layers make overlayfs options longer than %d bytes",
				 layer_count, LINUX_OVERLAY_OPTIONS_MAX);
	if (mount("overlay", target, "overlay", 0, options) < 0)
		return orch_fail_errno(err, errno, "mounting the overlay rootfs at '%s'", target);
	return 0;
}

int linux_file_tree_open(const char *host_path, orch_error *err)
{
	int fd = open_tree(AT_FDCWD, host_path,
			   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);

	if (fd < 0)
		return orch_fail_errno(err, errno, "cloning the mount of '%s'", host_path);
	return fd;
}

int linux_pivot_root(const char *new_root, orch_error *err)
{
	if (chdir(new_root) < 0)
		return orch_fail_errno(err, errno, "entering '%s'", new_root);
	/* pivot_root(".", "."): the old root is stacked on "/", then detached. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return orch_fail_errno(err, errno, "pivot_root to '%s'", new_root);
	if (umount2(".", MNT_DETACH) < 0)
		return orch_fail_errno(err, errno, "detaching the old root");
	if (chdir("/") < 0)
		return orch_fail_errno(err, errno, "entering the new root");
	return 0;
}

int linux_mkdir_p(const char *path, orch_error *err)
{
	char copy[4096];

	if ((size_t)snprintf(copy, sizeof(copy), "%s", path) >= sizeof(copy))
		return orch_fail(err, ORCH_ERR_INVALID, "path '%s' is too long", path);
	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			return orch_fail_errno(err, errno, "creating '%s'", copy);
		*p = saved;
		if (!saved)
			break;
	}
	return 0;
}

/* A mount target must be a real directory: a symlink there is refused. */
static int ensure_dir_target(const char *path, orch_error *err)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "mount target '%s' in the image is not a directory", path);
		return 0;
	}
	if (errno != ENOENT)
		return orch_fail_errno(err, errno, "inspecting '%s'", path);
	return linux_mkdir_p(path, err);
}

int linux_file_tree_attach(int tree_fd, const char *path, orch_error *err)
{
	char parent[4096];
	struct stat st;
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (linux_mkdir_p(parent, err) < 0)
			return -1;
	}
	/* A symlink or directory in the image at path is replaced by a file. */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode) ? rmdir(path) < 0 : unlink(path) < 0)
			return orch_fail_errno(err, errno, "replacing '%s'", path);
	}
	{
		cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

		if (fd < 0)
			return orch_fail_errno(err, errno, "creating '%s'", path);
	}
	if (move_mount(tree_fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return orch_fail_errno(err, errno, "mounting over '%s'", path);
	return 0;
}

static int mount_at(const char *source, const char *target, const char *fstype,
		    unsigned long flags, const char *data, orch_error *err)
{
	if (ensure_dir_target(target, err) < 0)
		return -1;
	if (mount(source, target, fstype, flags, data) < 0)
		return orch_fail_errno(err, errno, "mounting %s at '%s'", fstype, target);
	return 0;
}

/*
 * /dev is a tmpfs mounted nodev, yet its default nodes work: each node is
 * made with mknod while the tmpfs still allows devices, then bind-mounted
 * onto itself, and only then is the /dev mount itself switched to nodev.
 * A bind mount is a mount of its own with the flags it was made with, so
 * the default nodes keep working while any node made later in /dev (root
 * in the container keeps CAP_MKNOD, and mknod of anything is allowed so
 * images with device nodes unpack) cannot be opened there.  runc binds the
 * host's nodes instead; those are out of reach here, after the pivot, and
 * nodes of our own need nothing from the host.  What a node may do once
 * opened is the cgroup device control's business (cgroup_devices.c): nodev
 * is the second wall, not the first.
 */
static int populate_dev(orch_error *err)
{
	for (size_t i = 0; i < sizeof(default_devices) / sizeof(default_devices[0]); i++) {
		const struct device_node *d = &default_devices[i];

		if (mknod(d->path, S_IFCHR | 0666, makedev(d->major, d->minor)) < 0)
			return orch_fail_errno(err, errno, "creating device '%s'", d->path);
		/* mknod honours the umask; the nodes are world-usable as in Docker. */
		if (chmod(d->path, 0666) < 0)
			return orch_fail_errno(err, errno, "chmod '%s'", d->path);
		if (mount(d->path, d->path, NULL, MS_BIND, NULL) < 0)
			return orch_fail_errno(err, errno, "binding device '%s'", d->path);
	}
	if (mount(NULL, "/dev", NULL, MS_REMOUNT | MS_BIND | LINUX_DEV_TMPFS_FLAGS, NULL) < 0)
		return orch_fail_errno(err, errno, "making '/dev' nodev");
	for (size_t i = 0; i < sizeof(default_symlinks) / sizeof(default_symlinks[0]); i++)
		if (symlink(default_symlinks[i].link, default_symlinks[i].target) < 0)
			return orch_fail_errno(err, errno, "creating '%s'", default_symlinks[i].target);
	return 0;
}

int linux_mount_api_filesystems(orch_error *err)
{
	const unsigned long nosuid_nodev_noexec = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (mount_at("proc", "/proc", "proc", nosuid_nodev_noexec, NULL, err) < 0 ||
	    mount_at("tmpfs", "/dev", "tmpfs", LINUX_DEV_TMPFS_FLAGS & ~MS_NODEV,
		     LINUX_DEV_TMPFS_OPTIONS, err) < 0 ||
	    populate_dev(err) < 0 ||
	    mount_at("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=0620,gid=5", err) < 0 ||
	    mount_at("shm", "/dev/shm", "tmpfs", nosuid_nodev_noexec,
		     LINUX_SHM_TMPFS_OPTIONS, err) < 0 ||
	    mount_at("mqueue", "/dev/mqueue", "mqueue", nosuid_nodev_noexec, NULL, err) < 0 ||
	    mount_at("sysfs", "/sys", "sysfs", nosuid_nodev_noexec | MS_RDONLY, NULL, err) < 0)
		return -1;
	return 0;
}

/* Bind-remounts path read-only (nosuid,nodev,noexec: all of it is under /proc). */
static int make_readonly(const char *path, orch_error *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : orch_fail_errno(err, errno, "inspecting '%s'", path);
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return orch_fail_errno(err, errno, "binding '%s'", path);
	if (mount(NULL, path, NULL,
		  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return orch_fail_errno(err, errno, "making '%s' read-only", path);
	return 0;
}

static int mask_path(const char *path, orch_error *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : orch_fail_errno(err, errno, "inspecting '%s'", path);
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=0") < 0)
			return orch_fail_errno(err, errno, "masking '%s'", path);
	} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
		return orch_fail_errno(err, errno, "masking '%s'", path);
	}
	return 0;
}

int linux_mask_paths(orch_error *err)
{
	for (size_t i = 0; i < sizeof(masked_paths) / sizeof(masked_paths[0]); i++)
		if (mask_path(masked_paths[i], err) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(readonly_paths) / sizeof(readonly_paths[0]); i++)
		if (make_readonly(readonly_paths[i], err) < 0)
			return -1;
	return 0;
}

/*
 * linux_mounts.h - the container's file system view: the overlayfs rootfs,
 * pivot_root, /proc /dev /sys, device nodes, masked and read-only paths, and
 * files bind-mounted from the container dir (/etc/hosts, /etc/resolv.conf,
 * /etc/hostname).
 *
 * Everything here runs in the container's init process, inside its new mount
 * namespace, before execve.  The order matters for safety:
 *   1. the overlay is mounted and pivot_root'ed into, and the old root is
 *      detached: from then on no path (and no symlink in the image) can name
 *      a host file, so plain path operations are confined like openat2
 *      RESOLVE_IN_ROOT;
 *   2. host files are brought in only as detached mount trees opened before
 *      the pivot (open_tree), attached with move_mount, and before /proc and
 *      /sys exist, so an image symlink cannot redirect them onto procfs;
 *   3. /proc, /dev and /sys are mounted on targets that must be real
 *      directories (a symlink there is refused), then masked.
 */
#ifndef ORCH_RUNTIME_LINUX_MOUNTS_H
#define ORCH_RUNTIME_LINUX_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define LINUX_DEV_TMPFS_OPTIONS "mode=755,size=65536k"
#define LINUX_SHM_TMPFS_OPTIONS "mode=1777,size=65536k"
#define LINUX_OVERLAY_OPTIONS_MAX 4000	/* mount(2) data is one page */

/* Makes every mount in this (new) namespace private: nothing propagates out. */
int linux_mounts_make_private(orch_error *err);

/* Mounts overlayfs at target: lowerdirs given bottom layer first. */
int linux_mount_overlay(const char *target, char *const *layers_bottom_first, size_t layer_count,
			const char *upper, const char *work, orch_error *err);

/*
 * Detached copy of a host file's mount (open_tree OPEN_TREE_CLONE), to be
 * attached inside the container after the pivot; returns an fd or -1.
 */
int linux_file_tree_open(const char *host_path, orch_error *err);

/* pivot_root into new_root and detach the old root; cwd becomes "/". */
int linux_pivot_root(const char *new_root, orch_error *err);

/* Attaches tree_fd (from linux_file_tree_open) over the file at path, creating it. */
int linux_file_tree_attach(int tree_fd, const char *path, orch_error *err);

/*
 * /proc, /dev (a nodev tmpfs with the default nodes bound in, pts, shm,
 * mqueue, symlinks), /sys read-only.
 */
int linux_mount_api_filesystems(orch_error *err);

/* Docker's masked paths and read-only paths under /proc and /sys. */
int linux_mask_paths(orch_error *err);

/* mkdir -p inside the (already pivoted) root; parents created 0755. */
int linux_mkdir_p(const char *path, orch_error *err);

#endif

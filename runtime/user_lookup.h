/*
 * user_lookup.h - resolving a docker-style user spec ("name", "uid",
 * "name:group", "uid:gid", ...) against the CONTAINER's /etc/passwd and
 * /etc/group, never the host's NSS (the binary is static: no getpwnam).
 *
 * The rules are runc's (libcontainer/user GetExecUser):
 *   - empty user means root (uid 0);
 *   - a numeric user is always a uid; it need not exist in passwd (then gid
 *     0 and home "/"); a name must exist;
 *   - an explicit group (numeric or name) sets the primary gid and no
 *     supplementary groups; without one, the user's passwd gid is primary and
 *     every group listing the user's name is supplementary.
 * Missing passwd/group files are treated as empty.
 */
#ifndef ORCH_RUNTIME_USER_LOOKUP_H
#define ORCH_RUNTIME_USER_LOOKUP_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

#define USER_LOOKUP_FILE_MAX (4u << 20)	/* larger passwd/group files are refused */
#define USER_LOOKUP_GROUPS_MAX 64	/* supplementary groups kept (NGROUPS-ish) */

struct user_exec {
	uid_t uid;
	gid_t gid;
	gid_t sgids[USER_LOOKUP_GROUPS_MAX];
	size_t sgid_count;
	char home[256];
};

/*
 * Pure resolution over file contents (NUL-terminated, or NULL for a missing
 * file).  ORCH_ERR_NOT_FOUND for an unknown name, INVALID for a bad spec.
 */
int user_lookup_parse(const char *user_spec, const char *passwd_text, const char *group_text,
		      struct user_exec *out, orch_error *err);

/*
 * Reads etc/passwd and etc/group below root_fd with openat2(RESOLVE_IN_ROOT)
 * (symlinks cannot leave the root) and resolves user_spec.
 */
int user_lookup_in_root(int root_fd, const char *user_spec, struct user_exec *out,
			orch_error *err);

/*
 * Opens path (absolute or relative, interpreted inside root_fd) with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS); -1 with errno on failure.
 * Shared with the rootfs setup.
 */
int user_lookup_openat_in_root(int root_fd, const char *path, int flags, mode_t mode);

#endif

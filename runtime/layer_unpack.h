/*
 * layer_unpack.h - extracting one image layer (a tar stream, gzip, zstd or
 * uncompressed) into an empty directory, in overlayfs form.
 *
 * A layer is hostile input.  The extractor
 *   - never follows a symlink: every parent is opened component by component
 *     with O_NOFOLLOW from the layer root, every final name is created with
 *     *at() calls that do not follow (O_EXCL|O_NOFOLLOW, AT_SYMLINK_NOFOLLOW);
 *   - refuses absolute names, '..' components, entries that would replace the
 *     layer root (a symlink named '.' or '/'), hardlinks whose target is
 *     absolute, climbs out, or is not a regular file of this layer, device
 *     nodes, and whiteouts of '.', '..' or ''; the error names the entry;
 *   - turns '.wh.NAME' into a 0:0 character device NAME and '.wh..wh..opq'
 *     into the xattr trusted.overlay.opaque=y on its directory;
 *   - bounds the uncompressed stream and the sum of entry sizes (max_bytes)
 *     and the number of entries (max_entries);
 *   - keeps ownership and all mode bits (setuid included): the layer store
 *     directory is 0700 root, so they only take effect inside a rootfs;
 *   - applies only the security.capability and user.* xattrs of an entry
 *     (trusted.* and the rest could forge overlayfs metadata).
 * It also hashes the uncompressed stream: that is the layer's diff ID,
 * which the caller checks against the image config.
 */
#ifndef ORCH_RUNTIME_LAYER_UNPACK_H
#define ORCH_RUNTIME_LAYER_UNPACK_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "common/error.h"

#define LAYER_UNPACK_MAX_BYTES_DEFAULT (16ULL << 30)	/* 16 GiB uncompressed per layer */
#define LAYER_UNPACK_MAX_ENTRIES_DEFAULT 1000000ULL	/* tar entries per layer */
#define LAYER_UNPACK_MAX_BYTES_ENV "ORCH_LAYER_MAX_BYTES"
#define LAYER_UNPACK_MAX_ENTRIES_ENV "ORCH_LAYER_MAX_ENTRIES"

#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

struct layer_unpack_limits {
	uint64_t max_bytes;
	uint64_t max_entries;
};

/* The defaults, overridden by the environment variables above if set
 * (a size may end in K, M or G). */
void layer_unpack_limits_default(struct layer_unpack_limits *limits);
/* Parses "123", "64K", "16M", "2G"; -1 if malformed. */
int layer_parse_size(const char *s, uint64_t *out);

/*
 * Extracts the layer read from blob_fd (compression sniffed from its magic
 * bytes) into dest_dir, which must exist and be empty.  On success diff_id
 * holds the sha256 of the uncompressed tar stream.  On failure dest_dir may
 * hold a partial tree: the caller removes it with layer_remove_tree().
 */
int layer_unpack(int blob_fd, const char *dest_dir, const struct layer_unpack_limits *limits,
		 char diff_id[DIGEST_STR_SIZE], orch_error *err);

/*
 * Normalizes a tar entry name: strips "./" and empty components.  Returns
 * -1 with a reason for absolute names, '..' components or over-long names.
 * An empty result means the layer root.
 */
int layer_path_clean(const char *name, char *out, size_t size, const char **reason);

/* rm -rf of path without following symlinks; ENOENT is success. */
int layer_remove_tree(const char *path, orch_error *err);

#endif

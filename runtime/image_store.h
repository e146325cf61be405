/*
 * image_store.h - the local image store: content-addressed blobs, unpacked
 * layers and the names that point at images.  The interface the container
 * side of the runtime uses; the image side (pull, import, unpack) fills it.
 *
 * Layout under the data dir (DIR, default /var/lib/orch):
 *   DIR/images/blobs/sha256/HEX          every manifest, config and layer blob,
 *                                        verified against its digest
 *   DIR/images/layers/CHAINHEX/          one unpacked layer per chain ID, in
 *                                        overlayfs form (whiteouts as 0:0 char
 *                                        devices, opaque dirs with the xattr)
 *   DIR/images/index.json                names (docker.io/library/busybox:latest)
 *                                        -> image IDs (config digests)
 *   DIR/images/refs/IMAGEHEX/CONTAINERID empty files: containers using an image;
 *                                        garbage collection keeps those images
 *
 * Every function is safe to call from several processes at once on the same
 * data dir (the store serialises its writers with a lock file).
 */
#ifndef ORCH_RUNTIME_IMAGE_STORE_H
#define ORCH_RUNTIME_IMAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/error.h"

#define IMAGE_ID_MAX 72		/* "sha256:" + 64 hex + NUL, rounded */

struct image_store;

/* Opens (creating if needed) the image store under data_dir/images. */
int image_store_open(const char *data_dir, struct image_store **out, orch_error *err);
void image_store_close(struct image_store *is);

/* A local image, ready for a container. */
struct image_info {
	char id[IMAGE_ID_MAX];	/* the image config's digest, "sha256:..." */
	char *name;		/* the normalized name it was found by, or NULL */
	json_t *config;		/* the OCI image config's "config" object (Env, Cmd, Entrypoint,
				 * WorkingDir, User, ExposedPorts, ...); may be an empty object */
	char **layer_dirs;	/* absolute paths, bottom layer first */
	size_t layer_count;
};

void image_info_release(struct image_info *info);

/*
 * Resolves a reference ("busybox", "127.0.0.1:5000/app:1", "name@sha256:...")
 * or an image ID (full "sha256:..." or a unique hex prefix of at least 12) to a
 * local image.  ORCH_ERR_NOT_FOUND if it is not in the store (no pull here).
 */
int image_store_resolve(struct image_store *is, const char *ref, struct image_info *out,
			orch_error *err);

/* Records that container_id uses image_id / forgets it again. */
int image_store_ref_add(struct image_store *is, const char *image_id, const char *container_id,
			orch_error *err);
int image_store_ref_remove(struct image_store *is, const char *image_id,
			   const char *container_id, orch_error *err);

/* ---- the image side: filling the store (pull, import), listing, removal ---- */

struct blob_store;
struct layer_unpack_limits;

/* The blob store inside the image store (owned by it). */
struct blob_store *image_store_blobs(struct image_store *is);

/* Limits for unpacking layers (default: layer_unpack_limits_default()). */
void image_store_set_unpack_limits(struct image_store *is, const struct layer_unpack_limits *l);

/*
 * Holds the store's GC lock shared until image_store_close(), so garbage
 * collection cannot delete blobs a pull or import has stored but not yet
 * recorded.  Pulls and imports call it first.
 */
int image_store_hold(struct image_store *is, orch_error *err);

/*
 * Records an image whose manifest, config and layer blobs are already in the
 * blob store: unpacks every layer not yet unpacked (in parallel, each into
 * layers/CHAINHEX, checking its diff ID against the config), then names it.
 * name (normalized, may be NULL) is pointed at the image; repo_digest
 * ("repo@sha256:...", may be NULL) is remembered for digest references.
 * image_id receives the config digest.
 */
int image_store_add(struct image_store *is, const char *manifest_digest, const char *name,
		    const char *repo_digest, char image_id[IMAGE_ID_MAX], orch_error *err);

/*
 * Layers can be unpacked while the rest of an image still downloads: an
 * unpacker runs up to IMAGE_STORE_UNPACK_THREADS workers; submit each layer
 * (its blob must be in the store) as it arrives, then finish, which waits
 * and returns the first failure.  image_store_add() later finds them done.
 */
#define IMAGE_STORE_UNPACK_THREADS 4	/* at most; never more than the CPUs */

struct image_unpacker;
int image_unpacker_start(struct image_store *is, struct image_unpacker **out, orch_error *err);
int image_unpacker_submit(struct image_unpacker *u, const char *blob_digest, const char *diff_id,
			  const char *chain_id, orch_error *err);
int image_unpacker_finish(struct image_unpacker *u, orch_error *err);

/*
 * All images, for `orch image ls`: an array of objects
 * {"id", "names": [...], "created", "size", "layers", "containers"}.
 */
int image_store_list(struct image_store *is, json_t **out, orch_error *err);

/*
 * `orch image rm`: a name is untagged; an ID untags all its names.  An image
 * left without names is deleted unless a container uses it, which is an
 * ORCH_ERR_CONFLICT unless force (then it is only untagged and kept until the
 * last container lets go).  Runs a GC afterwards.  *deleted says whether the
 * image itself went.
 */
int image_store_remove(struct image_store *is, const char *ref, bool force, bool *deleted,
		       orch_error *err);

struct image_gc_stats {
	size_t images_removed;
	size_t layers_removed;
	size_t blobs_removed;
	unsigned long long bytes_freed;	/* blob bytes */
};

/*
 * Deletes images with no name and no container, then every unpacked layer,
 * blob, stale temp dir and unlocked partial download no remaining image
 * needs.  Never removes anything an image in use by a container needs.
 */
int image_store_gc(struct image_store *is, struct image_gc_stats *stats, orch_error *err);

#endif

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

#include "error.h"

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

#endif

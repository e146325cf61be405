/*
 * image_import.h - `orch image import`: images from an OCI image layout
 * (a directory, or a tar of one) or a `docker save` tarball (manifest.json,
 * configs and layer tars), for hosts with no registry.
 *
 * Every blob is copied into the blob store and verified against its digest
 * (docker save names layers by path, not digest: they are stored by their
 * computed digest and checked against the config's diff IDs on unpack).
 * Names: --name REPO[:TAG] if given; else a layout's
 * org.opencontainers.image.ref.name (a full reference, or a tag for the
 * repository named after the directory), or docker save's RepoTags.
 */
#ifndef ORCH_RUNTIME_IMAGE_IMPORT_H
#define ORCH_RUNTIME_IMAGE_IMPORT_H

#include <stddef.h>

#include "common/error.h"
#include "image_store.h"

#define IMAGE_IMPORT_MAX_IMAGES 64

struct image_import_result {
	char id[IMAGE_ID_MAX];
	char name[600];		/* "" if the image got no name */
};

/*
 * Imports every image found at path.  results (room for max) receive what
 * was imported; *count how many.
 */
int image_import(struct image_store *is, const char *path, const char *name,
		 struct image_import_result *results, size_t max, size_t *count, orch_error *err);

#endif

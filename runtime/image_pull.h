/*
 * image_pull.h - `orch image pull`: resolve a reference on its registry,
 * fetch and verify the manifest (choosing linux/amd64 from an index), the
 * config and the layers, then record and unpack the image in the store.
 */
#ifndef ORCH_RUNTIME_IMAGE_PULL_H
#define ORCH_RUNTIME_IMAGE_PULL_H

#include "common/error.h"
#include "image_ref.h"
#include "image_store.h"
#include "registry.h"

/*
 * Pulls ref into is.  image_id receives the image ID (config digest),
 * name_out (IMAGE_REF_STR_MAX bytes, may be NULL) the normalized name.
 */
int image_pull(struct image_store *is, const char *ref, const struct registry_options *opts,
	       char image_id[IMAGE_ID_MAX], char *name_out, orch_error *err);

#endif

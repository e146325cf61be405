/*
 * container_image.h - the container side's use of the image store
 * (image_store.h): resolving a reference to layers and a config, and
 * pinning the image while a container uses it.
 */
#ifndef ORCH_RUNTIME_CONTAINER_IMAGE_H
#define ORCH_RUNTIME_CONTAINER_IMAGE_H

#include "image_store.h"

/* image_store_open + image_store_resolve + close. */
int container_image_resolve(const char *data_dir, const char *ref, struct image_info *out,
			    orch_error *err);

/* image_info_release, if the store is linked (else info was never filled). */
void container_image_info_release(struct image_info *info);

/* Pins / unpins image_id for container_id; an empty image_id is a no-op. */
int container_image_pin(const char *data_dir, const char *image_id, const char *container_id,
			orch_error *err);
int container_image_unpin(const char *data_dir, const char *image_id, const char *container_id,
			  orch_error *err);

#endif

/*
 * container_image.c - resolving and pinning images for containers through
 * image_store.h: each call opens the store on the data dir, does one thing
 * and closes it, so no lock is held while a container runs.
 */
#include "container_image.h"

#include <string.h>

int container_image_resolve(const char *data_dir, const char *ref, struct image_info *out,
			    orch_error *err)
{
	struct image_store *is = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (image_store_open(data_dir, &is, err) < 0)
		return -1;
	rc = image_store_resolve(is, ref, out, err);
	image_store_close(is);
	return rc;
}

void container_image_info_release(struct image_info *info)
{
	image_info_release(info);
}

static int pin_or_unpin(bool pin, const char *data_dir, const char *image_id,
			const char *container_id, orch_error *err)
{
	struct image_store *is = NULL;
	int rc;

	if (!image_id || !image_id[0])
		return 0;
	if (image_store_open(data_dir, &is, err) < 0)
		return -1;
	rc = pin ? image_store_ref_add(is, image_id, container_id, err)
		 : image_store_ref_remove(is, image_id, container_id, err);
	image_store_close(is);
	return rc;
}

int container_image_pin(const char *data_dir, const char *image_id, const char *container_id,
			orch_error *err)
{
	return pin_or_unpin(true, data_dir, image_id, container_id, err);
}

int container_image_unpin(const char *data_dir, const char *image_id, const char *container_id,
			  orch_error *err)
{
	return pin_or_unpin(false, data_dir, image_id, container_id, err);
}

/*
 * manifest.h - Docker schema 2 and OCI image manifests, manifest lists and
 * image indexes, and the parts of an image config orch needs (diff IDs).
 *
 * Pure parsing: no I/O.  Every digest found is validated (sha256 only); sizes
 * and layer counts are bounded so a hostile registry cannot make orch
 * allocate without limit.
 */
#ifndef ORCH_RUNTIME_MANIFEST_H
#define ORCH_RUNTIME_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "common/error.h"

#define MANIFEST_MAX_BYTES (4u << 20)	/* manifests and configs above this are refused */
#define MANIFEST_MAX_LAYERS 256
#define MANIFEST_MEDIA_TYPE_MAX 128

#define MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MEDIA_TYPE_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_TYPE_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MEDIA_TYPE_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MEDIA_TYPE_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

/* What orch sends as Accept when asking a registry for a manifest. */
#define MANIFEST_ACCEPT                                                              \
	MEDIA_TYPE_OCI_INDEX ", " MEDIA_TYPE_DOCKER_LIST ", " MEDIA_TYPE_OCI_MANIFEST \
	", " MEDIA_TYPE_DOCKER_MANIFEST

/* The platform orch runs images for. */
#define MANIFEST_PLATFORM_OS "linux"
#define MANIFEST_PLATFORM_ARCH "amd64"

enum manifest_kind { MANIFEST_KIND_IMAGE, MANIFEST_KIND_INDEX };

enum layer_compression {
	LAYER_COMPRESSION_NONE,
	LAYER_COMPRESSION_GZIP,
	LAYER_COMPRESSION_ZSTD,
};

struct descriptor {
	char media_type[MANIFEST_MEDIA_TYPE_MAX];
	char digest[DIGEST_STR_SIZE];
	int64_t size;
};

struct manifest {
	enum manifest_kind kind;
	char media_type[MANIFEST_MEDIA_TYPE_MAX];
	/* MANIFEST_KIND_IMAGE */
	struct descriptor config;
	struct descriptor *layers;
	size_t layer_count;
	/* MANIFEST_KIND_INDEX: the linux/amd64 entry, chosen at parse time */
	struct descriptor platform_manifest;
};

/*
 * Parses a manifest or index.  content_type is the HTTP Content-Type (or
 * NULL); the document's own mediaType wins when present.  For an index the
 * linux/amd64 manifest is chosen (ORCH_ERR_NOT_FOUND if there is none).
 * On success *out owns its layer array: release with manifest_release().
 */
int manifest_parse(const char *data, size_t len, const char *content_type, struct manifest *out,
		   orch_error *err);
void manifest_release(struct manifest *m);

/* How a layer with this media type is compressed; -1 if not a layer type. */
int layer_media_type_compression(const char *media_type);

/*
 * Reads rootfs.diff_ids from an image config.  *out is a new array of
 * *count digests (DIGEST_STR_SIZE each); free() it.
 */
int image_config_diff_ids(const char *data, size_t len, char (**out)[DIGEST_STR_SIZE],
			  size_t *count, orch_error *err);

/*
 * The chain ID of layer n given the chain ID of layer n-1 (NULL for the
 * bottom layer) and its diff ID: sha256(parent + " " + diff_id).
 */
void layer_chain_id(const char *parent_chain, const char *diff_id, char out[DIGEST_STR_SIZE]);

#endif

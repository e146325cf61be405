/*
 * manifest.c - parsing manifests, indexes and image configs with jansson.
 */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"

static int parse_descriptor(json_t *obj, const char *what, struct descriptor *d, orch_error *err)
{
	json_t *mt, *dg, *sz;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(obj))
		return orch_fail(err, ORCH_ERR_INVALID, "manifest: %s is not an object", what);
	mt = json_object_get(obj, "mediaType");
	dg = json_object_get(obj, "digest");
	sz = json_object_get(obj, "size");
	if (mt && (!json_is_string(mt) || strlen(json_string_value(mt)) >= sizeof(d->media_type)))
		return orch_fail(err, ORCH_ERR_INVALID, "manifest: %s has an invalid mediaType", what);
	if (mt)
		strcpy(d->media_type, json_string_value(mt));
	if (!json_is_string(dg) || !digest_is_valid(json_string_value(dg)))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "manifest: %s has no valid sha256 digest ('%.80s')", what,
				 json_is_string(dg) ? json_string_value(dg) : "");
	strcpy(d->digest, json_string_value(dg));
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "manifest: %s has no valid size", what);
	d->size = json_integer_value(sz);
	return 0;
}

int layer_media_type_compression(const char *mt)
{
	static const struct {
		const char *type;
		enum layer_compression c;
	} table[] = {
		{ MEDIA_TYPE_DOCKER_LAYER_GZIP, LAYER_COMPRESSION_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_COMPRESSION_GZIP },
		{ MEDIA_TYPE_OCI_LAYER, LAYER_COMPRESSION_NONE },
		{ MEDIA_TYPE_OCI_LAYER_GZIP, LAYER_COMPRESSION_GZIP },
		{ MEDIA_TYPE_OCI_LAYER_ZSTD, LAYER_COMPRESSION_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_COMPRESSION_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_COMPRESSION_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_COMPRESSION_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar", LAYER_COMPRESSION_NONE },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(mt, table[i].type) == 0)
			return (int)table[i].c;
	return -1;
}

static int pick_platform(json_t *manifests, struct descriptor *out, orch_error *err)
{
	size_t i;
	json_t *m;
	char what[64];

	json_array_foreach(manifests, i, m) {
		json_t *p = json_object_get(m, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(json_object_get(p, "architecture"));

		if (!os || !arch || strcmp(os, MANIFEST_PLATFORM_OS) != 0 ||
		    strcmp(arch, MANIFEST_PLATFORM_ARCH) != 0)
			continue;
		snprintf(what, sizeof(what), "manifests[%zu]", i);
		return parse_descriptor(m, what, out, err);
	}
	return orch_fail(err, ORCH_ERR_NOT_FOUND, "no %s/%s image in the index (%zu platforms)",
			 MANIFEST_PLATFORM_OS, MANIFEST_PLATFORM_ARCH, json_array_size(manifests));
}

int manifest_parse(const char *data, size_t len, const char *content_type, struct manifest *out,
		   orch_error *err)
{
	cleanup_json json_t *root = NULL;
	json_error_t jerr;
	json_t *mt, *sv, *manifests, *layers, *l;
	const char *type = NULL;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (len > MANIFEST_MAX_BYTES)
		return orch_fail(err, ORCH_ERR_INVALID, "manifest of %zu bytes exceeds %u", len,
				 MANIFEST_MAX_BYTES);
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root))
		return orch_fail(err, ORCH_ERR_INVALID, "manifest is not a JSON object: %s",
				 root ? "wrong type" : jerr.text);
	sv = json_object_get(root, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2)
		return orch_fail(err, ORCH_ERR_UNSUPPORTED,
				 "manifest schemaVersion %lld is not supported (only 2; schema 1 "
				 "images must be re-pushed)",
				 json_is_integer(sv) ? (long long)json_integer_value(sv) : -1LL);
	mt = json_object_get(root, "mediaType");
	if (json_is_string(mt))
		type = json_string_value(mt);
	manifests = json_object_get(root, "manifests");
	layers = json_object_get(root, "layers");
	if (!type && content_type && *content_type) {
		/* Content-Type may carry parameters. */
		size_t n = strcspn(content_type, "; ");

		if (n < sizeof(out->media_type)) {
			memcpy(out->media_type, content_type, n);
			out->media_type[n] = '\0';
			type = out->media_type;
		}
	}
	if (type && (strcmp(type, MEDIA_TYPE_OCI_INDEX) == 0 ||
		     strcmp(type, MEDIA_TYPE_DOCKER_LIST) == 0))
		out->kind = MANIFEST_KIND_INDEX;
	else if (type && (strcmp(type, MEDIA_TYPE_OCI_MANIFEST) == 0 ||
			  strcmp(type, MEDIA_TYPE_DOCKER_MANIFEST) == 0))
		out->kind = MANIFEST_KIND_IMAGE;
	else if (json_is_array(manifests) && !layers)
		out->kind = MANIFEST_KIND_INDEX, type = MEDIA_TYPE_OCI_INDEX;
	else if (json_is_array(layers) && json_is_object(json_object_get(root, "config")))
		out->kind = MANIFEST_KIND_IMAGE, type = MEDIA_TYPE_OCI_MANIFEST;
	else
		return orch_fail(err, ORCH_ERR_UNSUPPORTED, "unsupported manifest media type '%s'",
				 type ? type : "(none)");
	if (strlen(type) >= sizeof(out->media_type))
		return orch_fail(err, ORCH_ERR_INVALID, "manifest media type too long");
	memmove(out->media_type, type, strlen(type) + 1);

	if (out->kind == MANIFEST_KIND_INDEX) {
		if (!json_is_array(manifests))
			return orch_fail(err, ORCH_ERR_INVALID, "index has no 'manifests' array");
		return pick_platform(manifests, &out->platform_manifest, err);
	}

	if (parse_descriptor(json_object_get(root, "config"), "config", &out->config, err) < 0)
		return -1;
	if (!json_is_array(layers))
		return orch_fail(err, ORCH_ERR_INVALID, "manifest has no 'layers' array");
	if (json_array_size(layers) > MANIFEST_MAX_LAYERS)
		return orch_fail(err, ORCH_ERR_INVALID, "manifest has %zu layers (limit %d)",
				 json_array_size(layers), MANIFEST_MAX_LAYERS);
	out->layers = calloc(json_array_size(layers) + 1, sizeof(*out->layers));
	if (!out->layers)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	json_array_foreach(layers, i, l) {
		char what[32];

		snprintf(what, sizeof(what), "layers[%zu]", i);
		if (parse_descriptor(l, what, &out->layers[i], err) < 0)
			goto fail;
		if (!out->layers[i].media_type[0])
			strcpy(out->layers[i].media_type, MEDIA_TYPE_OCI_LAYER_GZIP);
		if (layer_media_type_compression(out->layers[i].media_type) < 0) {
			orch_fail(err, ORCH_ERR_UNSUPPORTED, "layers[%zu]: unsupported media type '%s'",
				  i, out->layers[i].media_type);
			goto fail;
		}
		out->layer_count++;
	}
	return 0;
fail:
	manifest_release(out);
	return -1;
}

void manifest_release(struct manifest *m)
{
	free(m->layers);
	m->layers = NULL;
	m->layer_count = 0;
}

int image_config_diff_ids(const char *data, size_t len, char (**out)[DIGEST_STR_SIZE],
			  size_t *count, orch_error *err)
{
	cleanup_json json_t *root = NULL;
	json_error_t jerr;
	json_t *ids, *d;
	size_t i;
	char (*arr)[DIGEST_STR_SIZE];

	*out = NULL;
	*count = 0;
	if (len > MANIFEST_MAX_BYTES)
		return orch_fail(err, ORCH_ERR_INVALID, "image config of %zu bytes is too large", len);
	root = json_loadb(data, len, 0, &jerr);
	if (!json_is_object(root))
		return orch_fail(err, ORCH_ERR_INVALID, "image config is not a JSON object: %s",
				 root ? "wrong type" : jerr.text);
	ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
	if (!json_is_array(ids))
		return orch_fail(err, ORCH_ERR_INVALID, "image config has no rootfs.diff_ids");
	if (json_array_size(ids) > MANIFEST_MAX_LAYERS)
		return orch_fail(err, ORCH_ERR_INVALID, "image config lists too many layers");
	arr = calloc(json_array_size(ids) + 1, sizeof(*arr));
	if (!arr)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	json_array_foreach(ids, i, d) {
		if (!digest_is_valid(json_string_value(d))) {
			free(arr);
			return orch_fail(err, ORCH_ERR_INVALID,
					 "image config: rootfs.diff_ids[%zu] is not a sha256 digest", i);
		}
		strcpy(arr[i], json_string_value(d));
	}
	*out = arr;
	*count = json_array_size(ids);
	return 0;
}

void layer_chain_id(const char *parent_chain, const char *diff_id, char out[DIGEST_STR_SIZE])
{
	char buf[2 * DIGEST_STR_SIZE + 2];

	if (!parent_chain) {
		memcpy(out, diff_id, DIGEST_STR_SIZE);
		return;
	}
	snprintf(buf, sizeof(buf), "%s %s", parent_chain, diff_id);
	sha256_digest_buffer(buf, strlen(buf), out);
}

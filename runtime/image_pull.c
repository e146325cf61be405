/*
 * image_pull.c - the pull workflow on top of registry.c and image_store.c.
 */
#include "image_pull.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob_store.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "manifest.h"

/* Layers are unpacked as they land, while the others still download. */
struct pull_pipeline {
	const struct manifest *m;
	char (*diff_ids)[DIGEST_STR_SIZE];
	char (*chains)[DIGEST_STR_SIZE];
	struct image_unpacker *unpacker;
};

static int layer_ready(void *ctx, size_t index, orch_error *err)
{
	struct pull_pipeline *pp = ctx;

	/* The same blob may serve several positions (each its own chain). */
	for (size_t j = 0; j < pp->m->layer_count; j++)
		if (strcmp(pp->m->layers[j].digest, pp->m->layers[index].digest) == 0 &&
		    image_unpacker_submit(pp->unpacker, pp->m->layers[j].digest, pp->diff_ids[j],
					  pp->chains[j], err) < 0)
			return -1;
	return 0;
}

/* Fetches the config, then the layers, unpacking each as it arrives. */
static int fetch_and_unpack(struct image_store *is, struct registry_client *rc,
			    const struct manifest *m, orch_error *err)
{
	struct blob_store *bs = image_store_blobs(is);
	struct pull_pipeline pp = { .m = m };
	cleanup_free char *cdata = NULL;
	cleanup_free char (*diff_ids)[DIGEST_STR_SIZE] = NULL;
	cleanup_free char (*chains)[DIGEST_STR_SIZE] = NULL;
	size_t clen, ndiff = 0;
	orch_error unpack_err = ORCH_ERROR_INIT;
	int fetched;

	registry_client_set_progress(rc, false);	/* one bar, for the layers */
	if (registry_fetch_blobs(rc, bs, &m->config, 1, NULL, NULL, err) < 0 ||
	    blob_store_read(bs, m->config.digest, MANIFEST_MAX_BYTES, &cdata, &clen, err) < 0 ||
	    image_config_diff_ids(cdata, clen, &diff_ids, &ndiff, err) < 0)
		return -1;
	if (ndiff != m->layer_count)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "the manifest has %zu layers but the image config lists %zu diff IDs",
				 m->layer_count, ndiff);
	chains = calloc(m->layer_count + 1, sizeof(*chains));
	if (!chains)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < m->layer_count; i++)
		layer_chain_id(i ? chains[i - 1] : NULL, diff_ids[i], chains[i]);
	pp.diff_ids = diff_ids;
	pp.chains = chains;
	if (image_unpacker_start(is, &pp.unpacker, err) < 0)
		return -1;
	registry_client_set_progress(rc, true);
	fetched = registry_fetch_blobs(rc, bs, m->layers, m->layer_count, layer_ready, &pp, err);
	/* Always wait for the workers; an unpack failure names the bad entry. */
	if (image_unpacker_finish(pp.unpacker, &unpack_err) < 0) {
		*err = unpack_err;
		return -1;
	}
	return fetched;
}

/* Fetches the manifest for reference, stores it, parses it. */
static int fetch_manifest(struct registry_client *rc, struct blob_store *bs, const char *reference,
			  struct manifest *m, char digest[DIGEST_STR_SIZE], orch_error *err)
{
	cleanup_free char *data = NULL, *content_type = NULL;
	size_t len = 0;

	if (registry_get_manifest(rc, reference, &data, &len, &content_type, digest, err) < 0)
		return -1;
	if (manifest_parse(data, len, content_type, m, err) < 0)
		return orch_error_prefix(err, "manifest %s", digest);
	if (blob_store_put(bs, digest, data, len, NULL, err) < 0) {
		manifest_release(m);
		return -1;
	}
	return 0;
}

int image_pull(struct image_store *is, const char *ref_str, const struct registry_options *opts,
	       char image_id[IMAGE_ID_MAX], char *name_out, orch_error *err)
{
	struct image_ref ref;
	struct registry_client *rc = NULL;
	struct blob_store *bs = image_store_blobs(is);
	struct manifest m = { 0 };
	char digest[DIGEST_STR_SIZE], name[IMAGE_REF_STR_MAX], repo[IMAGE_REF_STR_MAX];
	char repo_digest[IMAGE_REF_STR_MAX + DIGEST_STR_SIZE];
	char tagged[IMAGE_REF_STR_MAX + IMAGE_REF_TAG_MAX];
	int rc_out = -1;

	if (image_ref_parse(ref_str, &ref, err) < 0)
		return -1;
	image_ref_format(&ref, name, sizeof(name));
	image_ref_repository(&ref, repo, sizeof(repo));
	if (name_out)
		snprintf(name_out, IMAGE_REF_STR_MAX, "%s", name);
	if (image_store_hold(is, err) < 0 || registry_client_new(opts, &ref, &rc, err) < 0)
		return -1;
	if (fetch_manifest(rc, bs, image_ref_manifest_ref(&ref), &m, digest, err) < 0)
		goto out;
	if (m.kind == MANIFEST_KIND_INDEX) {
		char platform_digest[DIGEST_STR_SIZE];

		strcpy(platform_digest, m.platform_manifest.digest);
		log_debug("%s: index %s, %s/%s manifest %s", name, digest, MANIFEST_PLATFORM_OS,
			  MANIFEST_PLATFORM_ARCH, platform_digest);
		manifest_release(&m);
		if (fetch_manifest(rc, bs, platform_digest, &m, digest, err) < 0)
			goto out;
		if (m.kind != MANIFEST_KIND_IMAGE) {
			orch_fail(err, ORCH_ERR_INVALID, "%s: index entry %s is not an image manifest",
				  name, platform_digest);
			goto out;
		}
	}
	if (fetch_and_unpack(is, rc, &m, err) < 0)
		goto out;
	snprintf(repo_digest, sizeof(repo_digest), "%s@%s", repo, digest);
	snprintf(tagged, sizeof(tagged), "%s:%s", repo, ref.tag);
	if (image_store_add(is, digest, ref.tag[0] ? tagged : NULL, repo_digest, image_id, err) < 0)
		goto out;
	rc_out = 0;
out:
	if (rc_out < 0)
		orch_error_prefix(err, "pulling '%s'", name);
	manifest_release(&m);
	registry_client_free(rc);
	return rc_out;
}

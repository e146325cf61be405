/*
 * image_import.c - importing OCI layouts and docker save tarballs.
 */
#include "image_import.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "blob_store.h"
#include "common/cleanup.h"
#include "digest.h"
#include "common/fs_util.h"
#include "image_ref.h"
#include "layer_unpack.h"
#include "common/log.h"
#include "manifest.h"

#define IMPORT_IO_CHUNK (256 * 1024)
#define IMPORT_JSON_MAX (4u << 20)
#define OCI_REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"

struct importer {
	struct image_store *is;
	struct blob_store *bs;
	const char *dir;		/* an OCI layout directory, or NULL */
	json_t *members;		/* tar import: member path -> digest */
	const char *name;		/* --name, or NULL */
	char repo_default[256];		/* from the file or directory name */
	struct image_import_result *results;
	size_t max, count;
};

/* Copies fd into the blob store; expected may be NULL. */
static int store_fd(struct blob_store *bs, int fd, const char *expected, int64_t size,
		    char digest[DIGEST_STR_SIZE], orch_error *err)
{
	struct blob_writer *w = NULL;
	bool present = false;
	cleanup_free char *buf = malloc(IMPORT_IO_CHUNK);
	ssize_t n;

	if (!buf)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (blob_writer_open(bs, expected, size, false, &w, &present, err) < 0)
		return -1;
	if (present) {
		strcpy(digest, expected);
		return 0;
	}
	while ((n = read(fd, buf, IMPORT_IO_CHUNK)) > 0)
		if (blob_writer_write(w, buf, (size_t)n, err) < 0) {
			blob_writer_abort(w, false);
			return -1;
		}
	if (n < 0) {
		blob_writer_abort(w, false);
		return orch_fail_errno(err, errno, "reading");
	}
	return blob_writer_commit(w, digest, err);
}

/* Makes sure the blob of desc is in the store (copying it from a layout dir). */
static int ensure_blob(struct importer *im, const struct descriptor *d, orch_error *err)
{
	char path[4096], got[DIGEST_STR_SIZE];
	cleanup_close int fd = -1;

	if (blob_store_has(im->bs, d->digest))
		return 0;
	if (!im->dir)
		return orch_fail(err, ORCH_ERR_INVALID, "the archive has no blob %s", d->digest);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", im->dir, digest_hex(d->digest));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	if (store_fd(im->bs, fd, d->digest, d->size, got, err) < 0)
		return orch_error_prefix(err, "'%s'", path);
	return 0;
}

static int read_blob_json(struct importer *im, const char *digest, char **data, size_t *len,
			  orch_error *err)
{
	return blob_store_read(im->bs, digest, IMPORT_JSON_MAX, data, len, err);
}

static int add_result(struct importer *im, const char *id, const char *name)
{
	if (im->count >= im->max)
		return 0;
	snprintf(im->results[im->count].id, IMAGE_ID_MAX, "%s", id);
	snprintf(im->results[im->count].name, sizeof(im->results[0].name), "%s", name ? name : "");
	im->count++;
	return 0;
}

/* The normalized name for an image whose layout/tar says ref_name (may be NULL). */
static int pick_name(struct importer *im, const char *ref_name, char *out, size_t size,
		     orch_error *err)
{
	struct image_ref ref;
	char buf[IMAGE_REF_STR_MAX + IMAGE_REF_TAG_MAX];

	out[0] = '\0';
	if (im->name) {
		const char *colon = strrchr(im->name, ':'), *slash = strrchr(im->name, '/');

		if ((colon && (!slash || colon > slash)) || strchr(im->name, '@'))
			snprintf(buf, sizeof(buf), "%s", im->name);
		else
			snprintf(buf, sizeof(buf), "%s:%s", im->name,
				 ref_name && !strchr(ref_name, '/') && !strchr(ref_name, ':') ? ref_name
											: "latest");
	} else if (ref_name && (strchr(ref_name, '/') || strchr(ref_name, ':'))) {
		snprintf(buf, sizeof(buf), "%s", ref_name);
	} else if (im->repo_default[0]) {
		snprintf(buf, sizeof(buf), "%s:%s", im->repo_default, ref_name ? ref_name : "latest");
	} else {
		return 0;
	}
	if (image_ref_parse(buf, &ref, err) < 0)
		return orch_error_prefix(err, "naming the imported image (use --name REPO[:TAG])");
	image_ref_format(&ref, out, size);
	return 0;
}

/* Imports the image manifest desc names (an index entry: pick linux/amd64). */
static int import_manifest(struct importer *im, const struct descriptor *desc, const char *ref_name,
			   int depth, orch_error *err)
{
	cleanup_free char *data = NULL;
	size_t len;
	struct manifest m;
	char id[IMAGE_ID_MAX], name[600];
	int rc = -1;

	if (depth > 2)
		return orch_fail(err, ORCH_ERR_INVALID, "indexes nested too deep");
	if (ensure_blob(im, desc, err) < 0 || read_blob_json(im, desc->digest, &data, &len, err) < 0)
		return -1;
	if (manifest_parse(data, len, desc->media_type, &m, err) < 0)
		return orch_error_prefix(err, "manifest %s", desc->digest);
	if (m.kind == MANIFEST_KIND_INDEX) {
		struct descriptor pd = m.platform_manifest;

		manifest_release(&m);
		return import_manifest(im, &pd, ref_name, depth + 1, err);
	}
	if (ensure_blob(im, &m.config, err) < 0)
		goto out;
	for (size_t i = 0; i < m.layer_count; i++)
		if (ensure_blob(im, &m.layers[i], err) < 0)
			goto out;
	if (pick_name(im, ref_name, name, sizeof(name), err) < 0)
		goto out;
	if (image_store_add(im->is, desc->digest, name[0] ? name : NULL, NULL, id, err) < 0)
		goto out;
	add_result(im, id, name);
	rc = 0;
out:
	manifest_release(&m);
	return rc;
}

/* index.json of a layout: import every manifest it lists. */
static int import_oci_index(struct importer *im, const char *data, size_t len, orch_error *err)
{
	cleanup_json json_t *root = NULL;
	json_t *manifests, *entry;
	json_error_t jerr;
	size_t i;

	root = json_loadb(data, len, 0, &jerr);
	manifests = json_object_get(root, "manifests");
	if (!json_is_array(manifests))
		return orch_fail(err, ORCH_ERR_INVALID, "index.json has no 'manifests' array%s%s",
				 root ? "" : ": ", root ? "" : jerr.text);
	if (json_array_size(manifests) == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "index.json lists no images");
	if (json_array_size(manifests) > IMAGE_IMPORT_MAX_IMAGES)
		return orch_fail(err, ORCH_ERR_INVALID, "index.json lists more than %d images",
				 IMAGE_IMPORT_MAX_IMAGES);
	json_array_foreach(manifests, i, entry) {
		struct descriptor d = { 0 };
		const char *dg = json_string_value(json_object_get(entry, "digest"));
		const char *mt = json_string_value(json_object_get(entry, "mediaType"));
		json_t *sz = json_object_get(entry, "size");
		const char *ref_name = json_string_value(
			json_object_get(json_object_get(entry, "annotations"), OCI_REF_NAME_ANNOTATION));

		if (!digest_is_valid(dg) || !json_is_integer(sz))
			return orch_fail(err, ORCH_ERR_INVALID, "index.json: manifests[%zu] is invalid", i);
		strcpy(d.digest, dg);
		snprintf(d.media_type, sizeof(d.media_type), "%s", mt ? mt : "");
		d.size = json_integer_value(sz);
		if (import_manifest(im, &d, ref_name, 0, err) < 0)
			return -1;
	}
	return 0;
}

static int import_oci_dir(struct importer *im, const char *dir, orch_error *err)
{
	char path[4096];
	cleanup_free char *data = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	if (access(path, F_OK) < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not an OCI image layout (no oci-layout file)",
				 dir);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if (fs_read_file(path, IMPORT_JSON_MAX, &data, &len, err) < 0)
		return -1;
	im->dir = dir;
	return import_oci_index(im, data, len, err);
}

/* ---- tarballs ---------------------------------------------------------------------------- */

static const char *member_digest(struct importer *im, const char *member)
{
	char clean[4096];
	const char *reason;

	if (layer_path_clean(member, clean, sizeof(clean), &reason) < 0)
		return NULL;
	return json_string_value(json_object_get(im->members, clean));
}

/* A media type for a docker-save layer, from its first bytes. */
static const char *sniff_layer_type(struct importer *im, const char *digest)
{
	unsigned char magic[4] = { 0 };
	int fd = blob_store_open_blob(im->bs, digest, NULL);

	if (fd >= 0) {
		if (read(fd, magic, 4) < 0)
			magic[0] = 0;
		close(fd);
	}
	if (magic[0] == 0x1f && magic[1] == 0x8b)
		return MEDIA_TYPE_OCI_LAYER_GZIP;
	if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
		return MEDIA_TYPE_OCI_LAYER_ZSTD;
	return MEDIA_TYPE_OCI_LAYER;
}

static int64_t blob_size(struct importer *im, const char *digest)
{
	char path[4096];
	struct stat st;

	blob_store_path(im->bs, digest, path, sizeof(path));
	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* docker save: synthesize an OCI manifest per manifest.json entry. */
static int import_docker_save(struct importer *im, const char *manifest_digest, orch_error *err)
{
	cleanup_free char *data = NULL;
	cleanup_json json_t *root = NULL;
	size_t len, i;
	json_t *item;

	if (read_blob_json(im, manifest_digest, &data, &len, err) < 0)
		return -1;
	root = json_loadb(data, len, 0, NULL);
	if (!json_is_array(root) || json_array_size(root) == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "manifest.json is not a non-empty array");
	json_array_foreach(root, i, item) {
		const char *config = member_digest(im, json_string_value(json_object_get(item, "Config")) ?: "");
		json_t *layers = json_object_get(item, "Layers"), *l, *tags, *tag;
		cleanup_json json_t *man = NULL;
		cleanup_free char *text = NULL;
		char mdigest[DIGEST_STR_SIZE], id[IMAGE_ID_MAX], name[600];
		size_t j;

		if (!config)
			return orch_fail(err, ORCH_ERR_INVALID, "manifest.json[%zu]: Config '%s' is not in the archive",
					 i, json_string_value(json_object_get(item, "Config")) ?: "");
		if (!json_is_array(layers))
			return orch_fail(err, ORCH_ERR_INVALID, "manifest.json[%zu] has no Layers", i);
		man = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[]}", "schemaVersion", 2, "mediaType",
				MEDIA_TYPE_OCI_MANIFEST, "config", "mediaType", MEDIA_TYPE_OCI_CONFIG,
				"digest", config, "size", (json_int_t)blob_size(im, config), "layers");
		if (!man)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		json_array_foreach(layers, j, l) {
			const char *ld = member_digest(im, json_string_value(l) ?: "");

			if (!ld)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "manifest.json[%zu]: layer '%s' is not in the archive", i,
						 json_string_value(l) ?: "");
			json_array_append_new(json_object_get(man, "layers"),
					      json_pack("{s:s,s:s,s:I}", "mediaType", sniff_layer_type(im, ld),
							"digest", ld, "size", (json_int_t)blob_size(im, ld)));
		}
		text = json_dumps(man, JSON_COMPACT);
		if (!text || blob_store_put(im->bs, NULL, text, strlen(text), mdigest, err) < 0)
			return text ? -1 : orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		tags = json_object_get(item, "RepoTags");
		if (im->name || json_array_size(tags) == 0) {
			if (pick_name(im, NULL, name, sizeof(name), err) < 0)
				return -1;
			if (image_store_add(im->is, mdigest, name[0] ? name : NULL, NULL, id, err) < 0)
				return -1;
			add_result(im, id, name);
			continue;
		}
		json_array_foreach(tags, j, tag) {
			struct image_ref ref;

			if (image_ref_parse(json_string_value(tag) ?: "", &ref, err) < 0)
				return orch_error_prefix(err, "manifest.json[%zu] RepoTags", i);
			image_ref_format(&ref, name, sizeof(name));
			if (image_store_add(im->is, mdigest, name, NULL, id, err) < 0)
				return -1;
			add_result(im, id, name);
		}
	}
	return 0;
}

static int import_tar(struct importer *im, const char *path, orch_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	cleanup_free char *buf = malloc(IMPORT_IO_CHUNK);
	int r, rc = -1;
	const char *mj, *ij;

	im->members = json_object();
	if (!a || !buf || !im->members) {
		orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		goto out;
	}
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_filename(a, path, IMPORT_IO_CHUNK) != ARCHIVE_OK) {
		orch_fail(err, ORCH_ERR_INVALID, "'%s': %s", path, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		char clean[4096], digest[DIGEST_STR_SIZE];
		const char *reason, *raw = archive_entry_pathname(e);
		struct blob_writer *w = NULL;
		bool present;
		la_ssize_t n;

		if (archive_entry_filetype(e) != AE_IFREG || !raw ||
		    layer_path_clean(raw, clean, sizeof(clean), &reason) < 0 || !clean[0])
			continue;
		if (blob_writer_open(im->bs, NULL, -1, false, &w, &present, err) < 0)
			goto out;
		while ((n = archive_read_data(a, buf, IMPORT_IO_CHUNK)) > 0)
			if (blob_writer_write(w, buf, (size_t)n, err) < 0) {
				blob_writer_abort(w, false);
				goto out;
			}
		if (n < 0) {
			blob_writer_abort(w, false);
			orch_fail(err, ORCH_ERR_INVALID, "'%s': member '%s': %s", path, raw,
				  archive_error_string(a));
			goto out;
		}
		if (blob_writer_commit(w, digest, err) < 0)
			goto out;
		/* An OCI layout's blob must hash to its name. */
		if (strncmp(clean, "blobs/sha256/", 13) == 0 &&
		    strcmp(clean + 13, digest_hex(digest)) != 0) {
			orch_fail(err, ORCH_ERR_INVALID,
				  "'%s': member '%s' does not match its digest (content is %s)", path,
				  raw, digest);
			goto out;
		}
		json_object_set_new(im->members, clean, json_string(digest));
	}
	if (r != ARCHIVE_EOF) {
		orch_fail(err, ORCH_ERR_INVALID, "'%s': %s", path, archive_error_string(a));
		goto out;
	}
	mj = json_string_value(json_object_get(im->members, "manifest.json"));
	ij = json_string_value(json_object_get(im->members, "index.json"));
	if (mj) {
		rc = import_docker_save(im, mj, err);
	} else if (ij) {
		cleanup_free char *data = NULL;
		size_t len;

		if (read_blob_json(im, ij, &data, &len, err) == 0)
			rc = import_oci_index(im, data, len, err);
	} else {
		orch_fail(err, ORCH_ERR_INVALID,
			  "'%s' is neither a docker save archive (manifest.json) nor an OCI layout "
			  "(index.json)", path);
	}
out:
	if (a)
		archive_read_free(a);
	json_decref(im->members);
	im->members = NULL;
	return rc;
}

int image_import(struct image_store *is, const char *path, const char *name,
		 struct image_import_result *results, size_t max, size_t *count, orch_error *err)
{
	struct importer im = { .is = is, .bs = image_store_blobs(is), .name = name,
			       .results = results, .max = max };
	cleanup_free char *copy = strdup(path);
	struct stat st;
	char *base, *dot;
	int rc;

	*count = 0;
	if (!copy)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (stat(path, &st) < 0)
		return orch_fail_errno(err, errno, "'%s'", path);
	/* A default repository name: the file or directory name, made valid. */
	base = basename(copy);
	if ((dot = strstr(base, ".tar")))
		*dot = '\0';
	for (size_t i = 0, o = 0; base[i] && o + 1 < sizeof(im.repo_default); i++) {
		char c = base[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
			im.repo_default[o++] = c;
		im.repo_default[o] = '\0';
	}
	if (image_store_hold(is, err) < 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		rc = import_oci_dir(&im, path, err);
	else
		rc = import_tar(&im, path, err);
	*count = im.count;
	if (rc < 0)
		orch_error_prefix(err, "importing '%s'", path);
	return rc;
}

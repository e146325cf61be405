/*
 * image_store.c - the local image store (see image_store.h for the layout).
 *
 * Locking: DIR/images/index.lock (flock, exclusive) serialises every
 * read-modify-write of index.json and of refs/; DIR/images/gc.lock is held
 * shared by pulls and imports for their whole run and exclusive by image rm
 * and GC, so a GC never deletes blobs that a running pull has stored but not
 * yet recorded.
 */
#include "image_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob_store.h"
#include "common/cleanup.h"
#include "digest.h"
#include "common/fs_util.h"
#include "image_ref.h"
#include "layer_unpack.h"
#include "common/log.h"
#include "manifest.h"

#define IMAGE_INDEX_MAX_BYTES (64u << 20)

struct image_store {
	char *root;		/* DIR/images */
	char *layers_dir;
	char *refs_dir;
	char *index_path;
	struct blob_store *blobs;
	struct layer_unpack_limits limits;
	int hold_fd;		/* gc.lock held shared, or -1 */
};

static void unlock_close(int *fd)
{
	if (*fd >= 0) {
		flock(*fd, LOCK_UN);
		close(*fd);
	}
}
#define cleanup_lock __attribute__((cleanup(unlock_close)))

/* ---- opening, locks, the index ------------------------------------------------------ */

int image_store_open(const char *data_dir, struct image_store **out, orch_error *err)
{
	struct image_store *is = calloc(1, sizeof(*is));
	cleanup_free char *blobs = NULL, *tmp = NULL;

	*out = NULL;
	if (!is)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	is->hold_fd = -1;
	layer_unpack_limits_default(&is->limits);
	if (asprintf(&is->root, "%s/images", data_dir) < 0 ||
	    asprintf(&is->layers_dir, "%s/layers", is->root) < 0 ||
	    asprintf(&is->refs_dir, "%s/refs", is->root) < 0 ||
	    asprintf(&is->index_path, "%s/index.json", is->root) < 0 ||
	    asprintf(&blobs, "%s/blobs", is->root) < 0 || asprintf(&tmp, "%s/tmp", is->root) < 0) {
		image_store_close(is);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	/* 0700: the unpacked layers keep setuid bits, which must only ever take
	 * effect inside a container's rootfs, never for a host user. */
	if (fs_mkdir_p(is->root, 0700, err) < 0 || chmod(is->root, 0700) < 0 ||
	    fs_mkdir_p(is->layers_dir, 0700, err) < 0 || chmod(is->layers_dir, 0700) < 0 ||
	    fs_mkdir_p(is->refs_dir, 0700, err) < 0 ||
	    blob_store_open(blobs, tmp, &is->blobs, err) < 0) {
		if (err && !err->message[0])
			orch_fail_errno(err, errno, "preparing '%s'", is->root);
		image_store_close(is);
		return orch_error_prefix(err, "opening the image store");
	}
	*out = is;
	return 0;
}

void image_store_close(struct image_store *is)
{
	if (!is)
		return;
	unlock_close(&is->hold_fd);
	blob_store_close(is->blobs);
	free(is->root);
	free(is->layers_dir);
	free(is->refs_dir);
	free(is->index_path);
	free(is);
}

struct blob_store *image_store_blobs(struct image_store *is)
{
	return is->blobs;
}

void image_store_set_unpack_limits(struct image_store *is, const struct layer_unpack_limits *l)
{
	is->limits = *l;
}

static int lock_file(struct image_store *is, const char *name, int op, orch_error *err)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", is->root, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		close(fd);
		return orch_fail_errno(err, errno, "locking '%s'", path);
	}
	return fd;
}

int image_store_hold(struct image_store *is, orch_error *err)
{
	if (is->hold_fd >= 0)
		return 0;
	is->hold_fd = lock_file(is, "gc.lock", LOCK_SH, err);
	return is->hold_fd < 0 ? -1 : 0;
}

/* Reads index.json (an empty index if absent). */
static json_t *index_load(struct image_store *is, orch_error *err)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *root;

	if (fs_read_file(is->index_path, IMAGE_INDEX_MAX_BYTES, &data, &len, err) < 0) {
		if (err && err->sys_errno != ENOENT)
			return NULL;
		return json_pack("{s:{},s:{}}", "images", "names");
	}
	root = json_loadb(data, len, 0, &jerr);
	if (!json_is_object(root) || !json_is_object(json_object_get(root, "images")) ||
	    !json_is_object(json_object_get(root, "names"))) {
		json_decref(root);
		orch_fail(err, ORCH_ERR_INTERNAL, "'%s' is damaged: %s", is->index_path,
			  root ? "unexpected shape" : jerr.text);
		return NULL;
	}
	return root;
}

static int index_save(struct image_store *is, json_t *index, orch_error *err)
{
	cleanup_free char *text = json_dumps(index, JSON_INDENT(1) | JSON_SORT_KEYS);

	if (!text)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	return fs_write_file_atomic(is->index_path, text, strlen(text), 0600, err);
}

/* Number of containers using image_id (entries of refs/HEX). */
static size_t image_ref_count(struct image_store *is, const char *image_id, char *first,
			      size_t first_size)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", is->refs_dir, digest_hex(image_id));
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n++ == 0 && first)
			snprintf(first, first_size, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* ---- resolve ----------------------------------------------------------------------------- */

static bool is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/*
 * Finds the image ID a reference or ID names, in index.  name_out (may be
 * NULL) receives the name it matched ("" for an ID).
 */
static int index_find(json_t *index, const char *ref, char id_out[IMAGE_ID_MAX], char *name_out,
		      size_t name_size, orch_error *err)
{
	json_t *images = json_object_get(index, "images");
	json_t *names = json_object_get(index, "names");
	const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
	struct image_ref parsed;
	char normalized[IMAGE_REF_STR_MAX];
	const char *key, *id;
	json_t *val;
	orch_error perr = ORCH_ERROR_INIT;

	if (name_out)
		name_out[0] = '\0';
	/* An image ID, full or a unique prefix of at least 12 hex digits. */
	if (is_hex(hex) && strlen(hex) >= 12 && strlen(hex) <= DIGEST_HEX_LEN) {
		const char *found = NULL;

		json_object_foreach(images, key, val) {
			if (strncmp(key + 7, hex, strlen(hex)) != 0)
				continue;
			if (found)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "image ID prefix '%s' is ambiguous", ref);
			found = key;
		}
		if (found) {
			snprintf(id_out, IMAGE_ID_MAX, "%s", found);
			return 0;
		}
		if (strncmp(ref, "sha256:", 7) == 0)
			return orch_fail(err, ORCH_ERR_NOT_FOUND, "no image with ID '%s'", ref);
	}
	if (image_ref_parse(ref, &parsed, &perr) < 0)
		return orch_fail(err, perr.kind == ORCH_ERR_INVALID ? ORCH_ERR_NOT_FOUND : perr.kind,
				 "image '%s' is not in the local store (%s)", ref, perr.message);
	if (parsed.digest[0]) {
		char repo[IMAGE_REF_DOMAIN_MAX + IMAGE_REF_PATH_MAX + 2];

		image_ref_repository(&parsed, repo, sizeof(repo));
		snprintf(normalized, sizeof(normalized), "%s@%s", repo, parsed.digest);
		json_object_foreach(images, key, val) {
			size_t i;
			json_t *rd;

			json_array_foreach(json_object_get(val, "repo_digests"), i, rd) {
				if (json_is_string(rd) && strcmp(json_string_value(rd), normalized) == 0) {
					snprintf(id_out, IMAGE_ID_MAX, "%s", key);
					if (name_out)
						snprintf(name_out, name_size, "%s", normalized);
					return 0;
				}
			}
		}
		return orch_fail(err, ORCH_ERR_NOT_FOUND,
				 "image '%s' is not in the local store (orch image pull %s)", ref, ref);
	}
	image_ref_format(&parsed, normalized, sizeof(normalized));
	id = json_string_value(json_object_get(names, normalized));
	if (!id || !json_object_get(images, id))
		return orch_fail(err, ORCH_ERR_NOT_FOUND,
				 "image '%s' is not in the local store (orch image pull %s)", ref, ref);
	snprintf(id_out, IMAGE_ID_MAX, "%s", id);
	if (name_out)
		snprintf(name_out, name_size, "%s", normalized);
	return 0;
}

void image_info_release(struct image_info *info)
{
	free(info->name);
	json_decref(info->config);
	for (size_t i = 0; i < info->layer_count; i++)
		free(info->layer_dirs[i]);
	free(info->layer_dirs);
	memset(info, 0, sizeof(*info));
}

int image_store_resolve(struct image_store *is, const char *ref, struct image_info *out,
			orch_error *err)
{
	cleanup_json json_t *index = NULL;
	cleanup_json json_t *config_doc = NULL;
	cleanup_free char *config = NULL;
	char name[IMAGE_REF_STR_MAX];
	size_t config_len, i;
	json_t *record, *layers, *l, *cfg;
	json_error_t jerr;
	struct stat st;

	memset(out, 0, sizeof(*out));
	index = index_load(is, err);
	if (!index)
		return -1;
	if (index_find(index, ref, out->id, name, sizeof(name), err) < 0)
		return -1;
	record = json_object_get(json_object_get(index, "images"), out->id);
	if (blob_store_read(is->blobs, out->id, MANIFEST_MAX_BYTES, &config, &config_len, err) < 0)
		return orch_error_prefix(err, "image '%s'", ref);
	config_doc = json_loadb(config, config_len, 0, &jerr);
	cfg = json_object_get(config_doc, "config");
	out->config = json_is_object(cfg) ? json_incref(cfg) : json_object();
	out->name = name[0] ? strdup(name) : NULL;
	layers = json_object_get(record, "layers");
	out->layer_dirs = calloc(json_array_size(layers) + 1, sizeof(char *));
	if (!out->config || (name[0] && !out->name) || !out->layer_dirs)
		goto oom;
	json_array_foreach(layers, i, l) {
		const char *chain = json_string_value(l);

		if (!digest_is_valid(chain)) {
			image_info_release(out);
			return orch_fail(err, ORCH_ERR_INTERNAL, "image '%s': damaged index record", ref);
		}
		if (asprintf(&out->layer_dirs[i], "%s/%s", is->layers_dir, digest_hex(chain)) < 0) {
			out->layer_dirs[i] = NULL;
			goto oom;
		}
		out->layer_count++;
		if (stat(out->layer_dirs[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			orch_fail(err, ORCH_ERR_INTERNAL, "image '%s': layer '%s' is missing from the store",
				  ref, out->layer_dirs[i]);
			image_info_release(out);
			return -1;
		}
	}
	return 0;
oom:
	image_info_release(out);
	return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
}

/* ---- container references ------------------------------------------------------------- */

static bool container_id_valid(const char *id)
{
	if (!id || !*id || strlen(id) > 128 || id[0] == '.')
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

/* Checks a reference's two names and takes the index lock (its fd, or -1). */
static int ref_lock(struct image_store *is, const char *image_id, const char *container_id,
		    orch_error *err)
{
	if (!digest_is_valid(image_id))
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not an image ID", image_id);
	if (!container_id_valid(container_id))
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is not a valid container ID", container_id);
	return lock_file(is, "index.lock", LOCK_EX, err);
}

int image_store_ref_add(struct image_store *is, const char *image_id, const char *container_id,
			orch_error *err)
{
	cleanup_lock int lock = -1;
	cleanup_json json_t *index = NULL;
	cleanup_close int fd = -1;
	char path[4096];

	lock = ref_lock(is, image_id, container_id, err);
	if (lock < 0)
		return -1;
	index = index_load(is, err);
	if (!index)
		return -1;
	if (!json_object_get(json_object_get(index, "images"), image_id))
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "image '%s' is not in the store", image_id);
	snprintf(path, sizeof(path), "%s/%s", is->refs_dir, digest_hex(image_id));
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return orch_fail_errno(err, errno, "creating '%s'", path);
	snprintf(path, sizeof(path), "%s/%s/%s", is->refs_dir, digest_hex(image_id), container_id);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return orch_fail_errno(err, errno, "creating '%s'", path);
	return 0;
}

int image_store_ref_remove(struct image_store *is, const char *image_id,
			   const char *container_id, orch_error *err)
{
	cleanup_lock int lock = -1;
	char path[4096];

	lock = ref_lock(is, image_id, container_id, err);
	if (lock < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", is->refs_dir, digest_hex(image_id), container_id);
	if (unlink(path) < 0 && errno != ENOENT)
		return orch_fail_errno(err, errno, "removing '%s'", path);
	snprintf(path, sizeof(path), "%s/%s", is->refs_dir, digest_hex(image_id));
	rmdir(path);	/* fails harmlessly while other containers remain */
	return 0;
}

/* ---- adding images: unpack the layers ------------------------------------------------ */

struct unpack_job {
	char blob_digest[DIGEST_STR_SIZE];
	char diff_id[DIGEST_STR_SIZE];
	char chain[DIGEST_STR_SIZE];
	orch_error err;
	int rc;
};

struct image_unpacker {
	struct image_store *is;
	pthread_t threads[IMAGE_STORE_UNPACK_THREADS];
	size_t nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct unpack_job jobs[MANIFEST_MAX_LAYERS];
	size_t count, next;
	bool closing, failed;
};

static int unpack_one(struct image_store *is, struct unpack_job *job)
{
	char final[4096], tmp[4096], diff_id[DIGEST_STR_SIZE];
	cleanup_close int fd = -1;
	struct stat st;
	orch_error ignored = ORCH_ERROR_INIT;

	snprintf(final, sizeof(final), "%s/%s", is->layers_dir, digest_hex(job->chain));
	if (stat(final, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;	/* unpacked before, shared */
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%d-%lx", is->layers_dir, digest_hex(job->chain),
		 (int)getpid(), (unsigned long)pthread_self());
	fd = blob_store_open_blob(is->blobs, job->blob_digest, &job->err);
	if (fd < 0)
		return -1;
	if (mkdir(tmp, 0755) < 0)
		return orch_fail_errno(&job->err, errno, "creating '%s'", tmp);
	if (layer_unpack(fd, tmp, &is->limits, diff_id, &job->err) < 0) {
		layer_remove_tree(tmp, &ignored);
		return orch_error_prefix(&job->err, "layer %.19s", job->blob_digest);
	}
	if (strcmp(diff_id, job->diff_id) != 0) {
		layer_remove_tree(tmp, &ignored);
		return orch_fail(&job->err, ORCH_ERR_INVALID,
				 "layer %s: its uncompressed content hashes to %s but the image "
				 "config says %s",
				 job->blob_digest, diff_id, job->diff_id);
	}
	if (rename(tmp, final) < 0) {
		int e = errno;

		layer_remove_tree(tmp, &ignored);
		if (e == EEXIST || e == ENOTEMPTY)
			return 0;	/* another process unpacked it first */
		return orch_fail_errno(&job->err, e, "moving '%s' into place", tmp);
	}
	return 0;
}

static void *unpack_worker(void *arg)
{
	struct image_unpacker *u = arg;

	pthread_mutex_lock(&u->mu);
	for (;;) {
		struct unpack_job *job;

		while (u->next >= u->count && !u->closing && !u->failed)
			pthread_cond_wait(&u->cv, &u->mu);
		if (u->failed || u->next >= u->count)
			break;
		job = &u->jobs[u->next++];
		pthread_mutex_unlock(&u->mu);
		job->rc = unpack_one(u->is, job);
		pthread_mutex_lock(&u->mu);
		if (job->rc < 0) {
			u->failed = true;
			pthread_cond_broadcast(&u->cv);
		}
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

int image_unpacker_start(struct image_store *is, struct image_unpacker **out, orch_error *err)
{
	struct image_unpacker *u = calloc(1, sizeof(*u));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = IMAGE_STORE_UNPACK_THREADS;

	*out = NULL;
	if (!u)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	if (ncpu > 0 && want > (size_t)ncpu)
		want = (size_t)ncpu;
	u->is = is;
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cv, NULL);
	for (size_t i = 0; i < want; i++)
		if (pthread_create(&u->threads[u->nthreads], NULL, unpack_worker, u) == 0)
			u->nthreads++;
	if (u->nthreads == 0) {
		pthread_mutex_destroy(&u->mu);
		pthread_cond_destroy(&u->cv);
		free(u);
		return orch_fail(err, ORCH_ERR_INTERNAL, "cannot start unpack threads");
	}
	*out = u;
	return 0;
}

int image_unpacker_submit(struct image_unpacker *u, const char *blob_digest, const char *diff_id,
			  const char *chain_id, orch_error *err)
{
	struct unpack_job *job;

	if (!digest_is_valid(blob_digest) || !digest_is_valid(diff_id) || !digest_is_valid(chain_id))
		return orch_fail(err, ORCH_ERR_INVALID, "unpack: invalid digest");
	pthread_mutex_lock(&u->mu);
	if (u->count >= MANIFEST_MAX_LAYERS) {
		pthread_mutex_unlock(&u->mu);
		return orch_fail(err, ORCH_ERR_INVALID, "too many layers");
	}
	job = &u->jobs[u->count];
	memset(job, 0, sizeof(*job));
	strcpy(job->blob_digest, blob_digest);
	strcpy(job->diff_id, diff_id);
	strcpy(job->chain, chain_id);
	u->count++;
	pthread_cond_signal(&u->cv);
	pthread_mutex_unlock(&u->mu);
	return 0;
}

int image_unpacker_finish(struct image_unpacker *u, orch_error *err)
{
	int rc = 0;

	if (!u)
		return 0;
	pthread_mutex_lock(&u->mu);
	u->closing = true;
	pthread_cond_broadcast(&u->cv);
	pthread_mutex_unlock(&u->mu);
	for (size_t i = 0; i < u->nthreads; i++)
		pthread_join(u->threads[i], NULL);
	for (size_t i = 0; i < u->count; i++) {
		if (u->jobs[i].rc < 0) {
			if (err)
				*err = u->jobs[i].err;
			rc = -1;
			break;
		}
	}
	if (rc == 0 && u->failed)
		rc = orch_fail(err, ORCH_ERR_INTERNAL, "unpacking failed");
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cv);
	free(u);
	return rc;
}

static void json_array_add_unique(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return;
	json_array_append_new(arr, json_string(s));
}

int image_store_add(struct image_store *is, const char *manifest_digest, const char *name,
		    const char *repo_digest, char image_id[IMAGE_ID_MAX], orch_error *err)
{
	cleanup_free char *mdata = NULL, *cdata = NULL;
	cleanup_free char (*diff_ids)[DIGEST_STR_SIZE] = NULL;
	cleanup_free char (*chains)[DIGEST_STR_SIZE] = NULL;
	struct image_unpacker *u = NULL;
	cleanup_json json_t *index = NULL, *cdoc = NULL;
	cleanup_lock int lock = -1;
	size_t mlen, clen, ndiff = 0;
	struct manifest m;
	json_t *record, *layers, *blobs, *rds;
	long long size = 0;
	const char *created;
	int rc = -1;

	if (blob_store_read(is->blobs, manifest_digest, MANIFEST_MAX_BYTES, &mdata, &mlen, err) < 0)
		return -1;
	if (manifest_parse(mdata, mlen, NULL, &m, err) < 0)
		return -1;
	if (m.kind != MANIFEST_KIND_IMAGE) {
		manifest_release(&m);
		return orch_fail(err, ORCH_ERR_INVALID, "'%s' is an index, not an image manifest",
				 manifest_digest);
	}
	if (blob_store_read(is->blobs, m.config.digest, MANIFEST_MAX_BYTES, &cdata, &clen, err) < 0 ||
	    image_config_diff_ids(cdata, clen, &diff_ids, &ndiff, err) < 0)
		goto out;
	if (ndiff != m.layer_count) {
		orch_fail(err, ORCH_ERR_INVALID,
			  "the manifest has %zu layers but the image config lists %zu diff IDs",
			  m.layer_count, ndiff);
		goto out;
	}
	chains = calloc(m.layer_count + 1, sizeof(*chains));
	if (!chains) {
		orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (image_unpacker_start(is, &u, err) < 0)
		goto out;
	for (size_t i = 0; i < m.layer_count; i++) {
		layer_chain_id(i ? chains[i - 1] : NULL, diff_ids[i], chains[i]);
		size += m.layers[i].size;
		if (image_unpacker_submit(u, m.layers[i].digest, diff_ids[i], chains[i], err) < 0) {
			image_unpacker_finish(u, NULL);
			goto out;
		}
	}
	if (image_unpacker_finish(u, err) < 0)
		goto out;

	lock = lock_file(is, "index.lock", LOCK_EX, err);
	if (lock < 0 || !(index = index_load(is, err)))
		goto out;
	record = json_object_get(json_object_get(index, "images"), m.config.digest);
	if (!record) {
		record = json_object();
		json_object_set_new(json_object_get(index, "images"), m.config.digest, record);
	}
	layers = json_array();
	blobs = json_array();
	json_array_append_new(blobs, json_string(manifest_digest));
	json_array_append_new(blobs, json_string(m.config.digest));
	for (size_t i = 0; i < m.layer_count; i++) {
		json_array_append_new(layers, json_string(chains[i]));
		json_array_add_unique(blobs, m.layers[i].digest);
	}
	json_object_set_new(record, "manifest", json_string(manifest_digest));
	json_object_set_new(record, "layers", layers);
	json_object_set_new(record, "blobs", blobs);
	json_object_set_new(record, "size", json_integer(size));
	cdoc = json_loadb(cdata, clen, 0, NULL);
	created = json_string_value(json_object_get(cdoc, "created"));
	json_object_set_new(record, "created", json_string(created ? created : ""));
	rds = json_object_get(record, "repo_digests");
	if (!json_is_array(rds)) {
		rds = json_array();
		json_object_set_new(record, "repo_digests", rds);
	}
	if (repo_digest)
		json_array_add_unique(rds, repo_digest);
	if (name)
		json_object_set_new(json_object_get(index, "names"), name, json_string(m.config.digest));
	if (index_save(is, index, err) < 0)
		goto out;
	snprintf(image_id, IMAGE_ID_MAX, "%s", m.config.digest);
	rc = 0;
out:
	manifest_release(&m);
	return rc;
}

/* ---- listing ----------------------------------------------------------------------- */

int image_store_list(struct image_store *is, json_t **out, orch_error *err)
{
	cleanup_json json_t *index = NULL;
	json_t *arr, *names, *val, *n;
	const char *key, *nk;

	*out = NULL;
	index = index_load(is, err);
	if (!index)
		return -1;
	arr = json_array();
	names = json_object_get(index, "names");
	json_object_foreach(json_object_get(index, "images"), key, val) {
		json_t *img_names = json_array();

		json_object_foreach(names, nk, n)
			if (strcmp(json_string_value(n), key) == 0)
				json_array_append_new(img_names, json_string(nk));
		json_array_append_new(arr, json_pack("{s:s,s:o,s:O?,s:O?,s:I,s:I}", "id", key, "names",
						     img_names, "created",
						     json_object_get(val, "created"), "size",
						     json_object_get(val, "size"), "layers",
						     (json_int_t)json_array_size(json_object_get(val, "layers")),
						     "containers",
						     (json_int_t)image_ref_count(is, key, NULL, 0)));
	}
	*out = arr;
	return 0;
}

/* ---- removal and GC --------------------------------------------------------------------- */

static size_t image_name_count(json_t *index, const char *id)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	json_object_foreach(json_object_get(index, "names"), k, v)
		if (strcmp(json_string_value(v), id) == 0)
			n++;
	return n;
}

static int gc_locked(struct image_store *is, json_t *index, struct image_gc_stats *stats,
		     orch_error *err);

/*
 * Takes the GC lock, then the index lock, and loads the index: what removing
 * an image or collecting garbage needs.  The caller's cleanups release them.
 */
static int lock_for_gc(struct image_store *is, int *gc_lock, int *lock, json_t **index,
		       orch_error *err)
{
	*gc_lock = lock_file(is, "gc.lock", LOCK_EX, err);
	if (*gc_lock < 0)
		return -1;
	*lock = lock_file(is, "index.lock", LOCK_EX, err);
	if (*lock < 0 || !(*index = index_load(is, err)))
		return -1;
	return 0;
}

int image_store_remove(struct image_store *is, const char *ref, bool force, bool *deleted,
		       orch_error *err)
{
	cleanup_lock int gc_lock = -1, lock = -1;
	cleanup_json json_t *index = NULL;
	char id[IMAGE_ID_MAX], name[IMAGE_REF_STR_MAX], user[256];
	json_t *names;
	struct image_gc_stats stats = { 0 };
	size_t users;

	*deleted = false;
	if (lock_for_gc(is, &gc_lock, &lock, &index, err) < 0)
		return -1;
	if (index_find(index, ref, id, name, sizeof(name), err) < 0)
		return -1;
	names = json_object_get(index, "names");
	users = image_ref_count(is, id, user, sizeof(user));
	/* What is left once this name (or, for an ID or digest, all names) goes. */
	if ((!name[0] || strchr(name, '@') || image_name_count(index, id) <= 1) && users && !force)
		return orch_fail(err, ORCH_ERR_CONFLICT,
				 "image '%s' is in use by %zu container(s) (e.g. '%s'); remove them "
				 "first or use --force to untag it",
				 ref, users, user);
	if (name[0] && !strchr(name, '@')) {
		json_object_del(names, name);
	} else {
		const char *k;
		json_t *v;
		void *tmp;

		json_object_foreach_safe(names, tmp, k, v)
			if (strcmp(json_string_value(v), id) == 0)
				json_object_del(names, k);
	}
	if (image_name_count(index, id) == 0 && users == 0) {
		json_object_del(json_object_get(index, "images"), id);
		*deleted = true;
	}
	if (index_save(is, index, err) < 0)
		return -1;
	return gc_locked(is, index, &stats, err);
}

/* Removes every entry of dir not in keep (by name); counts removals. */
static int gc_dir(const char *dir, json_t *keep, bool is_layers, size_t *removed,
		  unsigned long long *bytes, orch_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];
	struct stat st;

	if (!d)
		return errno == ENOENT ? 0 : orch_fail_errno(err, errno, "opening '%s'", dir);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (json_object_get(keep, de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (is_layers) {
			if (layer_remove_tree(path, err) < 0) {
				closedir(d);
				return -1;
			}
		} else {
			if (lstat(path, &st) == 0 && bytes)
				*bytes += (unsigned long long)st.st_size;
			if (unlink(path) < 0 && errno != ENOENT) {
				orch_fail_errno(err, errno, "removing '%s'", path);
				closedir(d);
				return -1;
			}
		}
		(*removed)++;
	}
	closedir(d);
	return 0;
}

/* Partial downloads nobody holds a lock on are stale. */
static void gc_tmp(struct image_store *is)
{
	char dir[4096], path[8192];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/tmp", is->root);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlink(path);
		close(fd);
	}
	closedir(d);
}

static int gc_locked(struct image_store *is, json_t *index, struct image_gc_stats *stats,
		     orch_error *err)
{
	cleanup_json json_t *keep_layers = json_object(), *keep_blobs = json_object();
	json_t *images = json_object_get(index, "images"), *rec, *v;
	const char *id;
	void *tmp;
	size_t i;
	bool changed = false;
	char dir[4096];

	json_object_foreach_safe(images, tmp, id, rec) {
		if (image_name_count(index, id) == 0 && image_ref_count(is, id, NULL, 0) == 0) {
			json_object_del(images, id);
			stats->images_removed++;
			changed = true;
		}
	}
	if (changed && index_save(is, index, err) < 0)
		return -1;
	json_object_foreach(images, id, rec) {
		json_array_foreach(json_object_get(rec, "layers"), i, v)
			if (digest_is_valid(json_string_value(v)))
				json_object_set_new(keep_layers, digest_hex(json_string_value(v)),
						    json_true());
		json_array_foreach(json_object_get(rec, "blobs"), i, v)
			if (digest_is_valid(json_string_value(v)))
				json_object_set_new(keep_blobs, digest_hex(json_string_value(v)),
						    json_true());
	}
	if (gc_dir(is->layers_dir, keep_layers, true, &stats->layers_removed, NULL, err) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/blobs/sha256", is->root);
	if (gc_dir(dir, keep_blobs, false, &stats->blobs_removed, &stats->bytes_freed, err) < 0)
		return -1;
	gc_tmp(is);
	return 0;
}

int image_store_gc(struct image_store *is, struct image_gc_stats *stats, orch_error *err)
{
	cleanup_lock int gc_lock = -1, lock = -1;
	cleanup_json json_t *index = NULL;

	memset(stats, 0, sizeof(*stats));
	if (lock_for_gc(is, &gc_lock, &lock, &index, err) < 0)
		return -1;
	return gc_locked(is, index, stats, err);
}

/*
 * layer_unpack.c - hostile-input-safe layer extraction (see layer_unpack.h).
 *
 * The compressed blob is decompressed here (zlib, libzstd) rather than by
 * libarchive so the uncompressed stream can be hashed (the diff ID) and
 * bounded as it is produced; libarchive only parses tar.  Nothing is ever
 * resolved by path from outside: the layer root is one directory fd, parents
 * are reached with openat(O_NOFOLLOW|O_DIRECTORY) one component at a time,
 * and the last component is created with *at() calls that do not follow.
 */
#include "layer_unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/log.h"

#define UNPACK_IN_CHUNK (256 * 1024)
#define UNPACK_OUT_CHUNK (256 * 1024)
#define UNPACK_PATH_MAX 4096

enum stream_kind { STREAM_PLAIN, STREAM_GZIP, STREAM_ZSTD };

/* The uncompressed tar stream, produced on demand for libarchive. */
struct layer_stream {
	int fd;
	enum stream_kind kind;
	unsigned char *in;
	size_t in_len, in_pos;
	bool in_eof;
	unsigned char *out;
	z_stream z;
	bool z_ready, z_member_done;
	ZSTD_DStream *zs;
	bool zs_frame_done;
	struct sha256_stream *hash;
	uint64_t total, max;
	char error[256];
};

struct unpack_ctx {
	int root_fd;
	const char *dest;
	struct layer_unpack_limits limits;
	uint64_t declared_bytes;
	uint64_t entries;
	char cached_parent[UNPACK_PATH_MAX];
	int cached_fd;
	orch_error *err;
};

/* ---- limits ------------------------------------------------------------------ */

int layer_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: return -1;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

void layer_unpack_limits_default(struct layer_unpack_limits *limits)
{
	const char *s;
	uint64_t v;

	limits->max_bytes = LAYER_UNPACK_MAX_BYTES_DEFAULT;
	limits->max_entries = LAYER_UNPACK_MAX_ENTRIES_DEFAULT;
	s = getenv(LAYER_UNPACK_MAX_BYTES_ENV);
	if (s && layer_parse_size(s, &v) == 0)
		limits->max_bytes = v;
	s = getenv(LAYER_UNPACK_MAX_ENTRIES_ENV);
	if (s && layer_parse_size(s, &v) == 0)
		limits->max_entries = v;
}

/* ---- the decompressing, hashing, bounded stream -------------------------------------- */

static int stream_fill(struct layer_stream *st)
{
	ssize_t n;

	if (st->in_pos < st->in_len || st->in_eof)
		return 0;
	do
		n = read(st->fd, st->in, UNPACK_IN_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(st->error, sizeof(st->error), "reading the layer blob: %s", strerror(errno));
		return -1;
	}
	st->in_pos = 0;
	st->in_len = (size_t)n;
	if (n == 0)
		st->in_eof = true;
	return 0;
}

/* Produces the next uncompressed bytes: >0 bytes at st->out, 0 at the end, -1 on error. */
static ssize_t stream_produce_raw(struct layer_stream *st)
{
	for (;;) {
		if (stream_fill(st) < 0)
			return -1;
		if (st->kind == STREAM_PLAIN) {
			size_t n = st->in_len - st->in_pos;

			if (n == 0)
				return 0;
			memcpy(st->out, st->in + st->in_pos, n);
			st->in_pos += n;
			return (ssize_t)n;
		}
		if (st->kind == STREAM_GZIP) {
			int ret;
			size_t produced;

			if (st->in_pos == st->in_len) {
				if (st->z_member_done)
					return 0;
				snprintf(st->error, sizeof(st->error), "the gzip stream is truncated");
				return -1;
			}
			if (st->z_member_done) {
				/* Another gzip member follows (concatenated gzip). */
				inflateReset(&st->z);
				st->z_member_done = false;
			}
			st->z.next_in = st->in + st->in_pos;
			st->z.avail_in = (uInt)(st->in_len - st->in_pos);
			st->z.next_out = st->out;
			st->z.avail_out = UNPACK_OUT_CHUNK;
			ret = inflate(&st->z, Z_NO_FLUSH);
			st->in_pos = st->in_len - st->z.avail_in;
			produced = UNPACK_OUT_CHUNK - st->z.avail_out;
			if (ret == Z_STREAM_END)
				st->z_member_done = true;
			else if (ret != Z_OK && ret != Z_BUF_ERROR) {
				snprintf(st->error, sizeof(st->error), "corrupt gzip data: %s",
					 st->z.msg ? st->z.msg : "inflate failed");
				return -1;
			}
			if (produced > 0)
				return (ssize_t)produced;
			continue;
		}
		/* STREAM_ZSTD */
		{
			ZSTD_inBuffer in = { st->in + st->in_pos, st->in_len - st->in_pos, 0 };
			ZSTD_outBuffer out = { st->out, UNPACK_OUT_CHUNK, 0 };
			size_t ret;

			if (in.size == 0) {
				if (st->zs_frame_done)
					return 0;
				snprintf(st->error, sizeof(st->error), "the zstd stream is truncated");
				return -1;
			}
			ret = ZSTD_decompressStream(st->zs, &out, &in);
			st->in_pos += in.pos;
			if (ZSTD_isError(ret)) {
				snprintf(st->error, sizeof(st->error), "corrupt zstd data: %s",
					 ZSTD_getErrorName(ret));
				return -1;
			}
			st->zs_frame_done = (ret == 0);
			if (out.pos > 0)
				return (ssize_t)out.pos;
		}
	}
}

static ssize_t stream_produce(struct layer_stream *st)
{
	ssize_t n = stream_produce_raw(st);

	if (n <= 0)
		return n;
	st->total += (uint64_t)n;
	if (st->total > st->max) {
		snprintf(st->error, sizeof(st->error),
			 "the uncompressed layer exceeds the unpack limit of %llu bytes (%s)",
			 (unsigned long long)st->max, LAYER_UNPACK_MAX_BYTES_ENV);
		return -1;
	}
	sha256_stream_update(st->hash, st->out, (size_t)n);
	return n;
}

static la_ssize_t archive_read_cb(struct archive *a, void *opaque, const void **buf)
{
	struct layer_stream *st = opaque;
	ssize_t n = stream_produce(st);

	*buf = st->out;
	if (n < 0) {
		archive_set_error(a, EINVAL, "%s", st->error);
		return -1;
	}
	return n;
}

static int stream_init(struct layer_stream *st, int fd, orch_error *err)
{
	unsigned char magic[4] = { 0 };
	ssize_t n;

	memset(st, 0, sizeof(*st));
	st->fd = fd;
	st->in = malloc(UNPACK_IN_CHUNK);
	st->out = malloc(UNPACK_OUT_CHUNK);
	st->hash = sha256_stream_new();
	if (!st->in || !st->out || !st->hash)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	n = pread(fd, magic, sizeof(magic), 0);
	if (n < 0)
		return orch_fail_errno(err, errno, "reading the layer blob");
	if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		st->kind = STREAM_GZIP;
		if (inflateInit2(&st->z, 16 + MAX_WBITS) != Z_OK)
			return orch_fail(err, ORCH_ERR_INTERNAL, "inflateInit2 failed");
		st->z_ready = true;
	} else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
		   magic[3] == 0xfd) {
		st->kind = STREAM_ZSTD;
		st->zs = ZSTD_createDStream();
		if (!st->zs)
			return orch_fail(err, ORCH_ERR_INTERNAL, "ZSTD_createDStream failed");
		ZSTD_initDStream(st->zs);
	} else {
		st->kind = STREAM_PLAIN;
	}
	return 0;
}

static void stream_release(struct layer_stream *st)
{
	if (st->z_ready)
		inflateEnd(&st->z);
	ZSTD_freeDStream(st->zs);
	sha256_stream_free(st->hash);
	free(st->in);
	free(st->out);
}

/* ---- paths ---------------------------------------------------------------------- */

int layer_path_clean(const char *name, char *out, size_t size, const char **reason)
{
	size_t o = 0;
	const char *p = name;

	*reason = NULL;
	if (!name || !*name) {
		*reason = "empty name";
		return -1;
	}
	if (name[0] == '/') {
		*reason = "absolute name";
		return -1;
	}
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 0 || (len == 1 && p[0] == '.')) {
			/* empty or "." component */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			*reason = "'..' component";
			return -1;
		} else {
			if (o + (o ? 1 : 0) + len + 1 > size) {
				*reason = "name too long";
				return -1;
			}
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p = *end ? end + 1 : end;
	}
	out[o] = '\0';
	return 0;
}

static int entry_fail(struct unpack_ctx *c, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int entry_fail(struct unpack_ctx *c, const char *name, const char *fmt, ...)
{
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return orch_fail(c->err, ORCH_ERR_INVALID, "layer entry '%.200s': %s", name, why);
}

static void cache_drop(struct unpack_ctx *c)
{
	if (c->cached_fd >= 0)
		close(c->cached_fd);
	c->cached_fd = -1;
	c->cached_parent[0] = '\0';
}

/*
 * Opens the parent directory of the cleaned path "path" (creating missing
 * directories 0755) without following any symlink.  *name points at the last
 * component inside path.  The fd is borrowed (the root or the cache): do not
 * close it.
 */
static int open_parent(struct unpack_ctx *c, const char *entry_name, const char *path,
		       const char **name, int *dirfd_out)
{
	char parent[UNPACK_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;
	char *comp, *save = NULL;

	*name = slash ? slash + 1 : path;
	if (!slash) {
		*dirfd_out = c->root_fd;
		return 0;
	}
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	if (c->cached_fd >= 0 && strcmp(parent, c->cached_parent) == 0) {
		*dirfd_out = c->cached_fd;
		return 0;
	}
	cache_drop(c);
	strcpy(c->cached_parent, parent);
	fd = c->root_fd;
	for (comp = strtok_r(parent, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (nfd < 0 && errno == ENOENT) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				int e = errno;

				if (fd != c->root_fd)
					close(fd);
				c->cached_parent[0] = '\0';
				return entry_fail(c, entry_name, "creating parent '%s': %s", comp, strerror(e));
			}
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			int e = errno;

			if (fd != c->root_fd)
				close(fd);
			c->cached_parent[0] = '\0';
			if (e == ELOOP || e == ENOTDIR)
				return entry_fail(c, entry_name,
						  "parent '%s' is a symlink or not a directory "
						  "(refusing to write through it)", comp);
			return entry_fail(c, entry_name, "opening parent '%s': %s", comp, strerror(e));
		}
		if (fd != c->root_fd)
			close(fd);
		fd = nfd;
	}
	c->cached_fd = fd;
	*dirfd_out = fd;
	return 0;
}

/* ---- removal ------------------------------------------------------------------------ */

static int remove_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int layer_remove_tree(const char *path, orch_error *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : orch_fail_errno(err, errno, "removing '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? orch_fail_errno(err, errno, "removing '%s'", path) : 0;
	if (nftw(path, remove_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
		return orch_fail_errno(err, errno, "removing '%s'", path);
	return 0;
}

/*
 * Makes room for a new entry called name in dirfd: an existing directory
 * stays if the new entry is one too (*keep_dir), anything else is removed.
 */
static int clear_target(struct unpack_ctx *c, const char *entry_name, const char *path,
			int dirfd, const char *name, bool new_is_dir, bool *keep_dir)
{
	struct stat st;
	char full[UNPACK_PATH_MAX + PATH_MAX];
	orch_error sub = ORCH_ERROR_INIT;

	*keep_dir = false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return entry_fail(c, entry_name, "stat: %s", strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		if (new_is_dir) {
			*keep_dir = true;
			return 0;
		}
		/* The parents of path were just walked without symlinks and
		 * nothing else writes here, so the path names what we checked. */
		snprintf(full, sizeof(full), "%s/%s", c->dest, path);
		/* The cached parent may lie inside the removed tree, unless it
		 * is dirfd itself (the removed tree's parent), which stays. */
		if (c->cached_fd != dirfd)
			cache_drop(c);
		if (layer_remove_tree(full, &sub) < 0)
			return entry_fail(c, entry_name, "replacing a directory: %s", sub.message);
		return 0;
	}
	if (unlinkat(dirfd, name, 0) < 0)
		return entry_fail(c, entry_name, "replacing: %s", strerror(errno));
	return 0;
}

/* ---- metadata ------------------------------------------------------------------------ */

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
}

static bool xattr_allowed(const char *name)
{
	return strcmp(name, "security.capability") == 0 || strncmp(name, "user.", 5) == 0;
}

/* Owner, then mode (chown clears setuid), xattrs and times, all by fd. */
static int apply_meta_fd(struct unpack_ctx *c, const char *entry_name, int fd,
			 struct archive_entry *e, bool set_times)
{
	const char *xname;
	const void *xval;
	size_t xsize;
	struct timespec ts[2];

	if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
		return entry_fail(c, entry_name, "chown: %s", strerror(errno));
	if (fchmod(fd, archive_entry_mode(e) & 07777) < 0)
		return entry_fail(c, entry_name, "chmod: %s", strerror(errno));
	if (archive_entry_xattr_reset(e) > 0) {
		while (archive_entry_xattr_next(e, &xname, &xval, &xsize) == ARCHIVE_OK) {
			if (!xattr_allowed(xname)) {
				log_debug("layer entry '%s': ignoring xattr '%s'", entry_name, xname);
				continue;
			}
			if (fsetxattr(fd, xname, xval, xsize, 0) < 0)
				log_warn("layer entry '%s': cannot set xattr '%s': %s", entry_name,
					 xname, strerror(errno));
		}
	}
	if (set_times) {
		entry_times(e, ts);
		if (futimens(fd, ts) < 0)
			return entry_fail(c, entry_name, "setting times: %s", strerror(errno));
	}
	return 0;
}

/* For names that cannot be opened (symlinks, fifos): by name, never following. */
static int apply_meta_at(struct unpack_ctx *c, const char *entry_name, int dirfd, const char *name,
			 struct archive_entry *e, bool chmod_too)
{
	struct timespec ts[2];

	if (fchownat(dirfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
		     AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(c, entry_name, "chown: %s", strerror(errno));
	/* Only for fifos we just created; fchmodat cannot be told not to follow. */
	if (chmod_too && fchmodat(dirfd, name, archive_entry_mode(e) & 07777, 0) < 0)
		return entry_fail(c, entry_name, "chmod: %s", strerror(errno));
	entry_times(e, ts);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_fail(c, entry_name, "setting times: %s", strerror(errno));
	return 0;
}

/* ---- entry kinds ----------------------------------------------------------------------- */

static int write_file(struct unpack_ctx *c, struct archive *a, struct archive_entry *e,
		      const char *entry_name, int dirfd, const char *name)
{
	cleanup_close int fd = -1;
	const void *buf;
	size_t size;
	la_int64_t offset;
	int64_t declared = archive_entry_size(e);
	uint64_t end = 0;
	int r;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return entry_fail(c, entry_name, "create: %s", strerror(errno));
	while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		const char *p = buf;
		off_t at = (off_t)offset;

		if (offset < 0 || (uint64_t)offset + size > (uint64_t)(declared < 0 ? 0 : declared))
			return entry_fail(c, entry_name, "data beyond the entry's size");
		while (size > 0) {
			ssize_t n = pwrite(fd, p, size, at);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return entry_fail(c, entry_name, "write: %s", strerror(errno));
			p += n;
			at += n;
			size -= (size_t)n;
		}
		if ((uint64_t)at > end)
			end = (uint64_t)at;
	}
	if (r != ARCHIVE_EOF)
		return entry_fail(c, entry_name, "reading data: %s", archive_error_string(a));
	if (declared > 0 && (uint64_t)declared > end && ftruncate(fd, (off_t)declared) < 0)
		return entry_fail(c, entry_name, "truncate: %s", strerror(errno));
	return apply_meta_fd(c, entry_name, fd, e, true);
}

static int make_dir(struct unpack_ctx *c, struct archive_entry *e, const char *entry_name,
		    int dirfd, const char *name, bool exists)
{
	cleanup_close int fd = -1;

	if (!exists && mkdirat(dirfd, name, 0700) < 0)
		return entry_fail(c, entry_name, "mkdir: %s", strerror(errno));
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return entry_fail(c, entry_name, "open: %s", strerror(errno));
	/* Directory times would be changed by later entries: not kept. */
	return apply_meta_fd(c, entry_name, fd, e, false);
}

static int make_hardlink(struct unpack_ctx *c, const char *entry_name,
			 const char *path, const char *target_raw)
{
	char target[UNPACK_PATH_MAX];
	const char *reason, *tname, *name;
	cleanup_close int tfd = -1;
	int fd, dirfd;
	struct stat st;
	bool keep;

	if (layer_path_clean(target_raw, target, sizeof(target), &reason) < 0)
		return entry_fail(c, entry_name, "hardlink target '%.200s': %s", target_raw, reason);
	if (!target[0])
		return entry_fail(c, entry_name, "hardlink to the layer root");
	if (strcmp(target, path) == 0)
		return 0;	/* a link to itself: nothing to do */
	if (open_parent(c, entry_name, target, &tname, &fd) < 0)
		return -1;
	tfd = dup(fd);
	if (tfd < 0)
		return entry_fail(c, entry_name, "dup: %s", strerror(errno));
	if (fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return entry_fail(c, entry_name,
				  "hardlink target '%.200s' is not a regular file of this layer",
				  target_raw);
	if (open_parent(c, entry_name, path, &name, &dirfd) < 0)
		return -1;
	if (clear_target(c, entry_name, path, dirfd, name, false, &keep) < 0)
		return -1;
	if (linkat(tfd, tname, dirfd, name, 0) < 0)
		return entry_fail(c, entry_name, "link: %s", strerror(errno));
	return 0;
}

static int make_whiteout(struct unpack_ctx *c, const char *entry_name, const char *path, int dirfd,
			 const char *name)
{
	const char *real = name + strlen(WHITEOUT_PREFIX);
	bool keep;

	if (strcmp(name, WHITEOUT_OPAQUE) == 0) {
		if (fsetxattr(dirfd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
			return entry_fail(c, entry_name, "setting %s: %s", OVERLAY_OPAQUE_XATTR,
					  strerror(errno));
		return 0;
	}
	if (strncmp(name, WHITEOUT_PREFIX WHITEOUT_PREFIX, 8) == 0)
		return 0;	/* aufs metadata (.wh..wh.plnk etc.): meaningless here */
	if (!*real || strcmp(real, ".") == 0 || strcmp(real, "..") == 0)
		return entry_fail(c, entry_name, "whiteout of '%s' is not allowed", real);
	{
		/* path of the whited-out name, for clear_target's messages */
		char wpath[UNPACK_PATH_MAX];
		size_t plen = (size_t)(name - path);

		snprintf(wpath, sizeof(wpath), "%.*s%s", (int)plen, path, real);
		if (clear_target(c, entry_name, wpath, dirfd, real, false, &keep) < 0)
			return -1;
	}
	if (mknodat(dirfd, real, S_IFCHR | 0, makedev(0, 0)) < 0)
		return entry_fail(c, entry_name, "creating the whiteout device: %s", strerror(errno));
	return 0;
}

/* Rejects intermediate components that are whiteout names; says if the
 * entry is aufs metadata at the root (skipped). */
static int check_components(struct unpack_ctx *c, const char *entry_name, const char *path,
			    bool *skip)
{
	const char *p = path;

	*skip = strncmp(path, WHITEOUT_PREFIX WHITEOUT_PREFIX, 8) == 0;
	if (*skip)
		return 0;
	for (const char *slash; (slash = strchr(p, '/')); p = slash + 1)
		if (strncmp(p, WHITEOUT_PREFIX, 4) == 0)
			return entry_fail(c, entry_name, "a whiteout name used as a directory");
	return 0;
}

static int unpack_entry(struct unpack_ctx *c, struct archive *a, struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	char path[UNPACK_PATH_MAX];
	const char *reason, *name;
	mode_t type = archive_entry_filetype(e);
	int dirfd;
	bool keep, skip;

	if (!raw)
		return orch_fail(c->err, ORCH_ERR_INVALID, "layer entry with no readable name");
	if (layer_path_clean(raw, path, sizeof(path), &reason) < 0)
		return entry_fail(c, raw, "%s", reason);
	if (type == AE_IFREG && !hardlink) {
		int64_t size = archive_entry_size(e);

		if (size < 0 || (uint64_t)size > c->limits.max_bytes - c->declared_bytes)
			return entry_fail(c, raw, "size %lld exceeds the unpack limit of %llu bytes (%s)",
					  (long long)size, (unsigned long long)c->limits.max_bytes,
					  LAYER_UNPACK_MAX_BYTES_ENV);
		c->declared_bytes += (uint64_t)size;
	}
	if (!path[0]) {
		/* The layer root itself: only a directory entry may describe it. */
		if (type != AE_IFDIR || hardlink)
			return entry_fail(c, raw, "would replace the layer root");
		return apply_meta_fd(c, raw, c->root_fd, e, false);
	}
	if (check_components(c, raw, path, &skip) < 0)
		return -1;
	if (skip)
		return 0;
	if (hardlink)
		return make_hardlink(c, raw, path, hardlink);
	if (type == AE_IFCHR || type == AE_IFBLK)
		return entry_fail(c, raw, "device node %u:%u is not allowed in a layer",
				  (unsigned)archive_entry_rdevmajor(e),
				  (unsigned)archive_entry_rdevminor(e));
	if (type == AE_IFSOCK)
		return 0;
	if (open_parent(c, raw, path, &name, &dirfd) < 0)
		return -1;
	if (strncmp(name, WHITEOUT_PREFIX, 4) == 0)
		return make_whiteout(c, raw, path, dirfd, name);
	if (clear_target(c, raw, path, dirfd, name, type == AE_IFDIR, &keep) < 0)
		return -1;
	switch (type) {
	case AE_IFREG:
		return write_file(c, a, e, raw, dirfd, name);
	case AE_IFDIR:
		return make_dir(c, e, raw, dirfd, name, keep);
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);

		if (!target || !*target)
			return entry_fail(c, raw, "symlink with an empty target");
		if (symlinkat(target, dirfd, name) < 0)
			return entry_fail(c, raw, "symlink: %s", strerror(errno));
		return apply_meta_at(c, raw, dirfd, name, e, false);
	}
	case AE_IFIFO:
		if (mknodat(dirfd, name, S_IFIFO | 0600, 0) < 0)
			return entry_fail(c, raw, "mkfifo: %s", strerror(errno));
		return apply_meta_at(c, raw, dirfd, name, e, true);
	default:
		return entry_fail(c, raw, "unsupported entry type 0%o", (unsigned)type);
	}
}

int layer_unpack(int blob_fd, const char *dest_dir, const struct layer_unpack_limits *limits,
		 char diff_id[DIGEST_STR_SIZE], orch_error *err)
{
	struct layer_stream st;
	struct unpack_ctx c = { .root_fd = -1, .cached_fd = -1, .dest = dest_dir, .err = err };
	struct archive *a = NULL;
	struct archive_entry *e;
	int rc = -1, r;
	ssize_t n;

	c.limits = *limits;
	if (stream_init(&st, blob_fd, err) < 0)
		goto out;
	st.max = limits->max_bytes;
	c.root_fd = open(dest_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (c.root_fd < 0) {
		orch_fail_errno(err, errno, "opening '%s'", dest_dir);
		goto out;
	}
	a = archive_read_new();
	if (!a) {
		orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		goto out;
	}
	archive_read_support_format_tar(a);
	if (archive_read_open(a, &st, NULL, archive_read_cb, NULL) != ARCHIVE_OK) {
		orch_fail(err, ORCH_ERR_INVALID, "layer is not a tar archive: %s",
			  st.error[0] ? st.error : archive_error_string(a));
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_WARN)
			log_warn("layer: %s", archive_error_string(a));
		else if (r != ARCHIVE_OK) {
			orch_fail(err, ORCH_ERR_INVALID, "layer is not a valid tar archive: %s",
				  st.error[0] ? st.error : archive_error_string(a));
			goto out;
		}
		if (++c.entries > limits->max_entries) {
			orch_fail(err, ORCH_ERR_INVALID,
				  "layer has more than %llu entries, the unpack limit (%s)",
				  (unsigned long long)limits->max_entries, LAYER_UNPACK_MAX_ENTRIES_ENV);
			goto out;
		}
		if (unpack_entry(&c, a, e) < 0) {
			if (st.error[0])
				orch_error_prefix(err, "%s", st.error);
			goto out;
		}
	}
	/* The diff ID covers the whole stream, padding after the end marker too. */
	while ((n = stream_produce(&st)) > 0)
		;
	if (n < 0) {
		orch_fail(err, ORCH_ERR_INVALID, "layer: %s", st.error);
		goto out;
	}
	sha256_stream_final(st.hash, diff_id);
	rc = 0;
out:
	if (a)
		archive_read_free(a);
	cache_drop(&c);
	if (c.root_fd >= 0)
		close(c.root_fd);
	stream_release(&st);
	return rc;
}

/*
 * user_lookup.c - docker/runc user spec resolution over the container's own
 * passwd and group files.  See user_lookup.h.
 */
#include "user_lookup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"

#define USER_FIELD_MAX 7	/* passwd has 7 fields, group 4 */

/* Parses a decimal id in [0, 2^31); false if s is not purely numeric. */
static bool parse_id(const char *s, size_t len, unsigned long *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > INT_MAX)
		return false;
	*out = v;
	return true;
}

/* One line split at ':' into at most USER_FIELD_MAX (pointer, length) pairs. */
struct user_line {
	const char *field[USER_FIELD_MAX];
	size_t len[USER_FIELD_MAX];
	size_t count;
};

/*
 * Calls back for each line of text; stops when cb returns non-zero and
 * returns that value.  Comment lines and blank lines are skipped.
 */
static int for_each_line(const char *text, int (*cb)(const struct user_line *, void *), void *ctx)
{
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		struct user_line line = { .count = 0 };
		const char *f = p;
		int rc;

		if (*p != '#' && end > p) {
			while (line.count < USER_FIELD_MAX) {
				const char *colon = memchr(f, ':', (size_t)(end - f));
				const char *fend = colon ? colon : end;

				line.field[line.count] = f;
				line.len[line.count++] = (size_t)(fend - f);
				if (!colon)
					break;
				f = colon + 1;
			}
			rc = cb(&line, ctx);
			if (rc)
				return rc;
		}
		p = eol ? eol + 1 : NULL;
	}
	return 0;
}

static bool field_eq(const struct user_line *l, size_t i, const char *s, size_t slen)
{
	return i < l->count && l->len[i] == slen && memcmp(l->field[i], s, slen) == 0;
}

struct passwd_match {
	const char *name;	/* the user part of the spec */
	size_t name_len;
	bool numeric;
	unsigned long uid;
	/* results */
	bool found;
	unsigned long found_uid, found_gid;
	char found_name[256];
	char home[256];
};

static int passwd_cb(const struct user_line *l, void *ctx)
{
	struct passwd_match *m = ctx;
	unsigned long uid, gid;

	if (l->count < 4 || !parse_id(l->field[2], l->len[2], &uid) ||
	    !parse_id(l->field[3], l->len[3], &gid))
		return 0;
	if (m->numeric ? uid != m->uid : !field_eq(l, 0, m->name, m->name_len))
		return 0;
	m->found = true;
	m->found_uid = uid;
	m->found_gid = gid;
	if (l->len[0] < sizeof(m->found_name)) {
		memcpy(m->found_name, l->field[0], l->len[0]);
		m->found_name[l->len[0]] = '\0';
	}
	if (l->count >= 6 && l->len[5] > 0 && l->len[5] < sizeof(m->home)) {
		memcpy(m->home, l->field[5], l->len[5]);
		m->home[l->len[5]] = '\0';
	}
	return 1;	/* first match wins */
}

struct group_match {
	const char *group;	/* explicit group, or NULL for membership search */
	size_t group_len;
	bool numeric;
	unsigned long gid;
	const char *user_name;	/* for membership */
	struct user_exec *out;
	bool found;
	unsigned long found_gid;
};

static bool member_of(const struct user_line *l, const char *name)
{
	size_t nlen = strlen(name);
	const char *p, *end;

	if (l->count < 4 || nlen == 0)
		return false;
	p = l->field[3];
	end = p + l->len[3];
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *mend = comma ? comma : end;

		if ((size_t)(mend - p) == nlen && memcmp(p, name, nlen) == 0)
			return true;
		p = mend + 1;
	}
	return false;
}

static int group_cb(const struct user_line *l, void *ctx)
{
	struct group_match *m = ctx;
	unsigned long gid;

	if (l->count < 3 || !parse_id(l->field[2], l->len[2], &gid))
		return 0;
	if (m->group) {
		if (m->numeric ? gid != m->gid : !field_eq(l, 0, m->group, m->group_len))
			return 0;
		m->found = true;
		m->found_gid = gid;
		return 1;
	}
	if (member_of(l, m->user_name) && m->out->sgid_count < USER_LOOKUP_GROUPS_MAX)
		m->out->sgids[m->out->sgid_count++] = (gid_t)gid;
	return 0;
}

int user_lookup_parse(const char *user_spec, const char *passwd_text, const char *group_text,
		      struct user_exec *out, orch_error *err)
{
	const char *spec = user_spec ? user_spec : "";
	const char *colon = strchr(spec, ':');
	size_t user_len = colon ? (size_t)(colon - spec) : strlen(spec);
	const char *group = colon ? colon + 1 : NULL;
	struct passwd_match pm = { 0 };

	memset(out, 0, sizeof(*out));
	strcpy(out->home, "/");
	if (colon && !group[0])
		return orch_fail(err, ORCH_ERR_INVALID, "user '%s' has an empty group", spec);

	if (user_len == 0) {
		/* No user: root, by uid (the image may call it something else). */
		pm.numeric = true;
		pm.uid = 0;
	} else {
		pm.name = spec;
		pm.name_len = user_len;
		pm.numeric = parse_id(spec, user_len, &pm.uid);
	}
	if (passwd_text)
		for_each_line(passwd_text, passwd_cb, &pm);
	if (pm.found) {
		out->uid = (uid_t)pm.found_uid;
		out->gid = (gid_t)pm.found_gid;
		if (pm.home[0])
			strcpy(out->home, pm.home);
	} else if (pm.numeric) {
		out->uid = (uid_t)pm.uid;
	} else {
		return orch_fail(err, ORCH_ERR_NOT_FOUND,
				 "unable to find user '%.*s': no matching entries in passwd file",
				 (int)user_len, spec);
	}

	if (group) {
		struct group_match gm = { .group = group, .group_len = strlen(group), .out = out };

		gm.numeric = parse_id(group, gm.group_len, &gm.gid);
		if (group_text)
			for_each_line(group_text, group_cb, &gm);
		if (gm.found)
			out->gid = (gid_t)gm.found_gid;
		else if (gm.numeric)
			out->gid = (gid_t)gm.gid;
		else
			return orch_fail(err, ORCH_ERR_NOT_FOUND,
					 "unable to find group '%s': no matching entries in group file",
					 group);
	} else if (pm.found && group_text) {
		struct group_match gm = { .user_name = pm.found_name, .out = out };

		for_each_line(group_text, group_cb, &gm);
	}
	return 0;
}

int user_lookup_openat_in_root(int root_fd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
}

/* Reads a file inside the root into a new buffer; *out = NULL if missing. */
static int read_in_root(int root_fd, const char *path, char **out, orch_error *err)
{
	cleanup_close int fd = user_lookup_openat_in_root(root_fd, path, O_RDONLY | O_NOCTTY, 0);
	cleanup_free char *buf = NULL;
	size_t len = 0, cap = 0;

	*out = NULL;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return orch_fail_errno(err, errno, "opening '%s' in the container", path);
	}
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *grown;

			cap = cap ? cap * 2 : 4096;
			if (cap > USER_LOOKUP_FILE_MAX + 1)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "'%s' in the container is larger than %u bytes",
						 path, USER_LOOKUP_FILE_MAX);
			grown = realloc(buf, cap);
			if (!grown)
				return orch_fail_errno(err, ENOMEM, "reading '%s'", path);
			buf = grown;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return orch_fail_errno(err, errno, "reading '%s' in the container", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = take_ptr(&buf);
	return 0;
}

int user_lookup_in_root(int root_fd, const char *user_spec, struct user_exec *out,
			orch_error *err)
{
	cleanup_free char *passwd = NULL;
	cleanup_free char *group = NULL;

	if (read_in_root(root_fd, "/etc/passwd", &passwd, err) < 0 ||
	    read_in_root(root_fd, "/etc/group", &group, err) < 0)
		return -1;
	return user_lookup_parse(user_spec, passwd, group, out, err);
}

/*
 * cgroup.c - layout detection and dispatch to the cgroup manager of the
 * host, plus the file helpers the managers share.
 */
#include "cgroup_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/cleanup.h"

static int detected = -1;

int cgroup_detect_mode(enum cgroup_mode *out, orch_error *err)
{
	struct statfs st;

	if (detected >= 0) {
		*out = (enum cgroup_mode)detected;
		return 0;
	}
	if (statfs(CGROUP_ROOT, &st) < 0)
		return orch_fail_errno(err, errno, "inspecting '%s'", CGROUP_ROOT);
	if (st.f_type == CGROUP2_SUPER_MAGIC)
		detected = CGROUP_MODE_V2;
	else if (statfs(CGROUP_ROOT "/unified", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
		detected = CGROUP_MODE_HYBRID;
	else
		detected = CGROUP_MODE_V1;
	*out = (enum cgroup_mode)detected;
	return 0;
}

static const struct cgroup_manager *manager_of(const struct cgroup *cg)
{
	/* Hybrid hosts keep every controller orch uses on v1. */
	return cg->mode == CGROUP_MODE_V2 ? &cgroup_manager_v2 : &cgroup_manager_v1;
}

int cgroup_parent_validate(const char *parent, orch_error *err)
{
	const char *p;

	if (!parent[0] || parent[0] == '/' || strlen(parent) > CGROUP_PATH_MAX / 2)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "cgroup parent '%s' must be a short relative path", parent);
	for (p = parent; *p; p++)
		if (!(*p == '/' || *p == '-' || *p == '_' || *p == '.' ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9')))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "cgroup parent '%s' has a character outside [A-Za-z0-9._/-]",
					 parent);
	if (strstr(parent, "..") || strstr(parent, "//"))
		return orch_fail(err, ORCH_ERR_INVALID, "cgroup parent '%s' is not a clean path",
				 parent);
	return 0;
}

int cgroup_init(struct cgroup *cg, const char *parent, const char *id, orch_error *err)
{
	memset(cg, 0, sizeof(*cg));
	if (cgroup_parent_validate(parent, err) < 0 || cgroup_detect_mode(&cg->mode, err) < 0)
		return -1;
	if ((size_t)snprintf(cg->path, sizeof(cg->path), "%s/%s", parent, id) >= sizeof(cg->path))
		return orch_fail(err, ORCH_ERR_INVALID, "cgroup path '%s/%s' is too long", parent, id);
	return 0;
}

int cgroup_init_group(struct cgroup *cg, const char *path, orch_error *err)
{
	memset(cg, 0, sizeof(*cg));
	if (cgroup_parent_validate(path, err) < 0 || cgroup_detect_mode(&cg->mode, err) < 0)
		return -1;
	snprintf(cg->path, sizeof(cg->path), "%s", path);	/* validated: short */
	return 0;
}

int cgroup_create(const struct cgroup *cg, const struct cgroup_limits *limits, orch_error *err)
{
	return manager_of(cg)->create(cg, limits, err);
}

int cgroup_enter(const struct cgroup *cg, pid_t pid, orch_error *err)
{
	return manager_of(cg)->enter(cg, pid, err);
}

int cgroup_oom_kill_count(const struct cgroup *cg, uint64_t *out, orch_error *err)
{
	return manager_of(cg)->oom_kill_count(cg, out, err);
}

int cgroup_destroy(const struct cgroup *cg, orch_error *err)
{
	return manager_of(cg)->destroy(cg, err);
}

int cgroup_create_group(const struct cgroup *cg, const struct cgroup_limits *limits,
			orch_error *err)
{
	return manager_of(cg)->create_group(cg, limits, err);
}

int cgroup_remove_if_empty(const struct cgroup *cg, orch_error *err)
{
	return manager_of(cg)->remove_if_empty(cg, err);
}

int cgroup_list_children(const char *parent, char ***names, size_t *count, orch_error *err)
{
	struct cgroup probe = { 0 };

	*names = NULL;
	*count = 0;
	if (cgroup_parent_validate(parent, err) < 0 || cgroup_detect_mode(&probe.mode, err) < 0)
		return -1;
	if (manager_of(&probe)->list_children(parent, names, count, err) < 0) {
		cgroup_names_free(*names, *count);
		*names = NULL;
		*count = 0;
		return -1;
	}
	return 0;
}

void cgroup_names_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

uint64_t cgroup_units_to_weight(int64_t units)
{
	uint64_t shares = units < 2 ? 2 : units > 262144 ? 262144 : (uint64_t)units;

	return 1 + ((shares - 2) * 9999) / 262142;
}

/* ---- helpers shared by the managers ---------------------------------------- */

int cgroup_write_file(const char *dir, const char *file, const char *value, orch_error *err)
{
	char path[CGROUP_PATH_MAX * 2];
	cleanup_close int fd = -1;
	size_t len = strlen(value);

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	if (write(fd, value, len) != (ssize_t)len)
		return orch_fail_errno(err, errno, "writing '%s' to '%s'", value, path);
	return 0;
}

int cgroup_read_keyed(const char *dir, const char *file, const char *key, uint64_t *out,
		      orch_error *err)
{
	char path[CGROUP_PATH_MAX * 2];
	char buf[4096];
	cleanup_close int fd = -1;
	size_t klen = strlen(key);
	ssize_t n;
	char *line;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return orch_fail_errno(err, errno, "reading '%s'", path);
	buf[n] = '\0';
	*out = 0;
	for (line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*out = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	return 0;	/* older kernels lack the key: no event seen */
}

int cgroup_mkdir_path(const char *root, const char *path, orch_error *err)
{
	char full[CGROUP_PATH_MAX * 2];
	size_t rlen;

	rlen = (size_t)snprintf(full, sizeof(full), "%s/%s", root, path);
	if (rlen >= sizeof(full))
		return orch_fail(err, ORCH_ERR_INVALID, "cgroup path '%s/%s' is too long", root, path);
	for (char *p = full + strlen(root) + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(full, 0755) < 0 && errno != EEXIST)
			return orch_fail_errno(err, errno, "creating cgroup '%s'", full);
		*p = saved;
		if (!saved)
			break;
	}
	return 0;
}

void cgroup_kill_procs(const char *dir)
{
	char path[CGROUP_PATH_MAX * 2];
	cleanup_fclose FILE *f = NULL;
	long pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%ld", &pid) == 1)
		if (pid > 0)
			kill((pid_t)pid, SIGKILL);
}

int cgroup_rmdir_if_empty(const char *dir, orch_error *err)
{
	if (rmdir(dir) == 0 || errno == ENOENT)
		return 1;
	if (errno == EBUSY || errno == ENOTEMPTY)
		return 0;
	return orch_fail_errno(err, errno, "removing cgroup '%s'", dir);
}

int cgroup_collect_children(const char *dir, char ***names, size_t *count, orch_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : orch_fail_errno(err, errno, "listing cgroup '%s'", dir);
	while (rc == 0 && (e = readdir(d))) {
		bool known = false;
		char **grown;

		if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		for (size_t i = 0; i < *count && !known; i++)
			known = strcmp((*names)[i], e->d_name) == 0;
		if (known)
			continue;
		grown = realloc(*names, (*count + 1) * sizeof(**names));
		if (!grown) {
			rc = orch_fail_errno(err, ENOMEM, "listing cgroup '%s'", dir);
			break;
		}
		*names = grown;
		grown[*count] = strdup(e->d_name);
		if (!grown[*count])
			rc = orch_fail_errno(err, ENOMEM, "listing cgroup '%s'", dir);
		else
			(*count)++;
	}
	closedir(d);
	return rc;
}

int cgroup_rmdir(const char *dir, orch_error *err)
{
	for (int attempt = 0; ; attempt++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY || attempt >= CGROUP_DESTROY_ATTEMPTS)
			return orch_fail_errno(err, errno, "removing cgroup '%s'", dir);
		cgroup_kill_procs(dir);
		usleep(CGROUP_DESTROY_RETRY_US);
	}
}

/*
 * container_store.c - config.json, state.json, IDs, process identity and
 * tree removal for containers.  See container_store.h.
 */
#include "container_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs_util.h"

/*
 * By hand rather than gmtime_r + strftime + snprintf: the shim formats a
 * timestamp per log line, and those pull locale tables and stdio into its
 * resident set.  Civil-from-days after Howard Hinnant's algorithm.
 */
void container_format_time(int64_t ns, char *buf, size_t len)
{
	char out[32];
	int64_t secs = ns / 1000000000LL, nanos = ns % 1000000000LL;
	int64_t days = secs / 86400, rem = secs % 86400;
	int64_t z, era, doe, yoe, doy, mp, y, m, d;
	char *p = out;

	if (nanos < 0) {
		nanos += 1000000000LL;
		secs--;
		days = secs / 86400;
		rem = secs % 86400;
	}
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);

	const struct { int64_t value; int digits; char after; } parts[] = {
		{ y, 4, '-' }, { m, 2, '-' }, { d, 2, 'T' }, { rem / 3600, 2, ':' },
		{ rem / 60 % 60, 2, ':' }, { rem % 60, 2, '.' }, { nanos, 9, 'Z' },
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		int64_t v = parts[i].value;

		for (int k = parts[i].digits - 1; k >= 0; k--) {
			p[k] = (char)('0' + v % 10);
			v /= 10;
		}
		p += parts[i].digits;
		*p++ = parts[i].after;
	}
	*p = '\0';
	if (len > 0) {
		size_t n = (size_t)(p - out) < len - 1 ? (size_t)(p - out) : len - 1;

		memcpy(buf, out, n);
		buf[n] = '\0';
	}
}

int container_id_generate(char out[CONTAINER_ID_LEN + 1], orch_error *err)
{
	unsigned char raw[CONTAINER_ID_LEN / 2];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return orch_fail_errno(err, errno, "generating a container ID");
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[CONTAINER_ID_LEN] = '\0';
	return 0;
}

bool container_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return i == CONTAINER_ID_LEN;
}

uint64_t container_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	cleanup_close int fd = -1;
	unsigned long long start = 0;
	ssize_t n;
	char *p;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces and ')': fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* p+2 is field 3 (state); starttime is field 22. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start) != 1)
		return 0;
	/* A zombie is not running anymore. */
	if (p[2] == 'Z' || p[2] == 'X')
		return 0;
	return start;
}

bool container_proc_alive(pid_t pid, uint64_t start)
{
	return pid > 0 && start != 0 && container_proc_start_time(pid) == start;
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* The labels as a JSON object (a later key wins, as with docker --label). */
static json_t *labels_json(const struct container_label *labels, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < n; i++)
		if (json_object_set_new(o, labels[i].key, json_string(labels[i].value)) < 0)
			json_decref(take_ptr(&o));
	return o;
}

static int labels_from_json(const json_t *o, struct container_config *cfg)
{
	const char *key;
	json_t *value;

	if (!o)
		return 0;
	if (!json_is_object(o) || json_object_size(o) > CONTAINER_LABELS_MAX)
		return -1;
	cfg->labels = calloc(json_object_size(o) + 1, sizeof(*cfg->labels));
	if (!cfg->labels)
		return -1;
	json_object_foreach((json_t *)o, key, value) {
		struct container_label *l = &cfg->labels[cfg->label_count];

		if (!json_is_string(value))
			return -1;
		l->key = strdup(key);
		l->value = strdup(json_string_value(value));
		cfg->label_count++;
		if (!l->key || !l->value)
			return -1;
	}
	return 0;
}

int container_config_write(const char *dir, const char *id, const struct container_config *cfg,
			   int64_t created_ns, orch_error *err)
{
	cleanup_json json_t *json = NULL;
	cleanup_free char *text = NULL;
	char path[4096];

	json = json_pack("{s:s, s:s*, s:s, s:s, s:o, s:o, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I},"
			 " s:s, s:b, s:I}",
			 "id", id, "name", cfg->name, "image", cfg->image ? cfg->image : "",
			 "imageId", cfg->image_id ? cfg->image_id : "",
			 "layers", strv_json(cfg->layer_dirs, cfg->layer_count),
			 "process", spec_process_to_json(&cfg->process),
			 "hostname", cfg->hostname ? cfg->hostname : "",
			 "network", linux_network_mode_name(cfg->network),
			 "limits", "memory", (json_int_t)cfg->limits.memory_max,
			 "memoryReservation", (json_int_t)cfg->limits.memory_reservation,
			 "cpuMillis", (json_int_t)cfg->limits.cpu_millis,
			 "cpuUnits", (json_int_t)cfg->limits.cpu_units,
			 "pidsMax", (json_int_t)cfg->limits.pids_max,
			 "cgroupParent", cfg->cgroup_parent ? cfg->cgroup_parent : CGROUP_DEFAULT_PARENT,
			 "autoRemove", cfg->auto_remove, "createdNs", (json_int_t)created_ns);
	if (json && cfg->network_from &&
	    json_object_set_new(json, "networkFrom", json_string(cfg->network_from)) < 0)
		json_decref(take_ptr(&json));
	if (json && cfg->cgroup_parent_is_group &&
	    json_object_set_new(json, "cgroupParentIsGroup", json_true()) < 0)
		json_decref(take_ptr(&json));
	if (json && cfg->label_count > 0 &&
	    json_object_set_new(json, "labels", labels_json(cfg->labels, cfg->label_count)) < 0)
		json_decref(take_ptr(&json));
	if (json && cfg->readonly_rootfs &&
	    json_object_set_new(json, "readonlyRootfs", json_true()) < 0)
		json_decref(take_ptr(&json));
	if (json && cfg->init_process &&
	    json_object_set_new(json, "initProcess", json_true()) < 0)
		json_decref(take_ptr(&json));
	if (!json)
		return orch_fail(err, ORCH_ERR_INTERNAL, "encoding the config of '%s'", id);
	text = json_dumps(json, JSON_INDENT(2));
	if (!text)
		return orch_fail_errno(err, ENOMEM, "encoding the config of '%s'", id);
	snprintf(path, sizeof(path), "%s/" CONTAINER_CONFIG_FILE, dir);
	return fs_write_file_atomic(path, text, strlen(text), 0600, err);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int container_config_read(const char *dir, struct container_config *cfg, int64_t *created_ns,
			  orch_error *err)
{
	cleanup_json json_t *json = NULL;
	json_t *layers = NULL, *process = NULL;
	const char *name = NULL, *image = "", *image_id = "", *hostname = "", *network = "none";
	const char *parent = CGROUP_DEFAULT_PARENT;
	json_int_t mem = 0, res = 0, cpu = 0, units = 0, pids = 0, created = 0;
	int auto_remove = 0;
	json_error_t jerr;
	char path[4096];
	size_t i;
	json_t *item;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(path, sizeof(path), "%s/" CONTAINER_CONFIG_FILE, dir);
	json = json_load_file(path, 0, &jerr);
	if (!json)
		return orch_fail(err, errno == ENOENT ? ORCH_ERR_NOT_FOUND : ORCH_ERR_INTERNAL,
				 "reading '%s': %s", path, jerr.text);
	if (json_unpack_ex(json, &jerr, 0,
			   "{s?s, s?s, s?s, s:o, s:o, s?s, s?s, s?{s?I, s?I, s?I, s?I, s?I},"
			   " s?s, s?b, s?I}",
			   "name", &name, "image", &image, "imageId", &image_id, "layers", &layers,
			   "process", &process, "hostname", &hostname, "network", &network,
			   "limits", "memory", &mem, "memoryReservation", &res, "cpuMillis", &cpu,
			   "cpuUnits", &units, "pidsMax", &pids, "cgroupParent", &parent,
			   "autoRemove", &auto_remove, "createdNs", &created) < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "'%s': %s", path, jerr.text);
	if (spec_process_from_json(process, &cfg->process, err) < 0)
		return orch_error_prefix(err, "'%s'", path);
	cfg->name = dup_or_null(name);
	cfg->image = strdup(image);
	cfg->image_id = strdup(image_id);
	cfg->hostname = strdup(hostname);
	cfg->cgroup_parent = strdup(parent);
	if (!json_is_array(layers))
		goto invalid;
	cfg->layer_dirs = calloc(json_array_size(layers) + 1, sizeof(char *));
	if (!cfg->layer_dirs)
		goto nomem;
	json_array_foreach(layers, i, item) {
		if (!json_is_string(item))
			goto invalid;
		cfg->layer_dirs[cfg->layer_count] = strdup(json_string_value(item));
		if (!cfg->layer_dirs[cfg->layer_count++])
			goto nomem;
	}
	if (linux_network_mode_parse(network, &cfg->network) < 0)
		goto invalid;
	if (json_is_string(json_object_get(json, "networkFrom"))) {
		cfg->network_from = strdup(json_string_value(json_object_get(json, "networkFrom")));
		if (!cfg->network_from)
			goto nomem;
	}
	cfg->cgroup_parent_is_group = json_is_true(json_object_get(json, "cgroupParentIsGroup"));
	cfg->readonly_rootfs = json_is_true(json_object_get(json, "readonlyRootfs"));
	cfg->init_process = json_is_true(json_object_get(json, "initProcess"));
	if (labels_from_json(json_object_get(json, "labels"), cfg) < 0)
		goto invalid;
	cfg->limits = (struct cgroup_limits){ mem, res, cpu, units, pids };
	cfg->auto_remove = auto_remove;
	if (created_ns)
		*created_ns = created;
	if (!cfg->image || !cfg->image_id || !cfg->hostname || !cfg->cgroup_parent ||
	    (name && !cfg->name))
		goto nomem;
	return 0;
invalid:
	container_config_release(cfg);
	return orch_fail(err, ORCH_ERR_INVALID, "'%s' is malformed", path);
nomem:
	container_config_release(cfg);
	return orch_fail_errno(err, ENOMEM, "reading '%s'", path);
}

void container_config_release(struct container_config *c)
{
	free(c->name);
	free(c->image);
	free(c->image_id);
	for (size_t i = 0; i < c->layer_count; i++)
		free(c->layer_dirs[i]);
	free(c->layer_dirs);
	spec_process_release(&c->process);
	free(c->hostname);
	free(c->cgroup_parent);
	free(c->network_from);
	for (size_t i = 0; i < c->label_count; i++) {
		free(c->labels[i].key);
		free(c->labels[i].value);
	}
	free(c->labels);
	memset(c, 0, sizeof(*c));
}

int container_state_write(const char *dir, const struct container_state *st, orch_error *err)
{
	cleanup_json json_t *json = NULL;
	cleanup_free char *text = NULL;
	char path[4096], tmp[4200];
	cleanup_close int fd = -1;
	size_t len;

	json = json_pack("{s:s, s:i, s:I, s:i, s:I, s:I, s:I, s:I, s:i, s:i, s:b, s:s}",
			 "status", container_status_name(st->status), "pid", (int)st->pid,
			 "pidStart", (json_int_t)st->pid_start, "shimPid", (int)st->shim_pid,
			 "shimStart", (json_int_t)st->shim_start, "createdNs", (json_int_t)st->created_ns,
			 "startedNs", (json_int_t)st->started_ns,
			 "finishedNs", (json_int_t)st->finished_ns, "exitCode", st->exit_code,
			 "exitSignal", st->exit_signal, "oomKilled", st->oom_killed, "error", st->error);
	if (!json)
		return orch_fail(err, ORCH_ERR_INTERNAL, "encoding the state of '%s'", dir);
	text = json_dumps(json, 0);
	if (!text)
		return orch_fail_errno(err, ENOMEM, "encoding the state of '%s'", dir);
	/*
	 * Atomic but not fsynced: a container does not survive a host crash,
	 * and after one its state is rebuilt from what runs (nothing).
	 */
	snprintf(path, sizeof(path), "%s/" CONTAINER_STATE_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return orch_fail_errno(err, errno, "creating '%s'", tmp);
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || rename(tmp, path) < 0) {
		orch_fail_errno(err, errno, "writing '%s'", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static enum container_status status_parse(const char *s)
{
	if (strcmp(s, "created") == 0)
		return CONTAINER_CREATED;
	if (strcmp(s, "running") == 0)
		return CONTAINER_RUNNING;
	if (strcmp(s, "exited") == 0)
		return CONTAINER_EXITED;
	return CONTAINER_DEAD;
}

const char *container_status_name(enum container_status status)
{
	switch (status) {
	case CONTAINER_CREATED: return "created";
	case CONTAINER_RUNNING: return "running";
	case CONTAINER_EXITED: return "exited";
	case CONTAINER_DEAD: return "dead";
	}
	return "dead";
}

const char *container_state_reason(const struct container_state *st)
{
	if (st->status != CONTAINER_EXITED && st->status != CONTAINER_DEAD)
		return "";
	if (st->oom_killed)
		return "OOMKilled";
	if (st->error[0])
		return "StartError";
	if (st->status == CONTAINER_DEAD)
		return "ShimLost";
	return st->exit_code == 0 ? "Completed" : "Error";
}

int container_state_read(const char *dir, const char *id, struct container_state *out,
			 orch_error *err)
{
	cleanup_json json_t *json = NULL;
	cleanup_json json_t *config = NULL;
	const char *status = "dead", *error = "", *name = "", *image = "";
	json_int_t pid_start = 0, shim_start = 0, created = 0, started = 0, finished = 0;
	int pid = 0, shim_pid = 0, exit_code = 0, exit_signal = 0, oom = 0, auto_remove = 0;
	json_t *args = NULL;
	json_error_t jerr;
	char path[4096];

	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(path, sizeof(path), "%s/" CONTAINER_CONFIG_FILE, dir);
	config = json_load_file(path, 0, &jerr);
	if (!config)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "container '%s' not found", id);
	json_unpack(config, "{s?s, s?s, s?{s?o}, s?b}", "name", &name, "image", &image,
		    "process", "args", &args, "autoRemove", &auto_remove);
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->image, sizeof(out->image), "%s", image);
	out->auto_remove = auto_remove;
	if (json_is_array(args)) {
		size_t i, used = 0;
		json_t *a;

		json_array_foreach(args, i, a) {
			if (used < sizeof(out->command))
				used += (size_t)snprintf(out->command + used, sizeof(out->command) - used,
							 "%s%s", i ? " " : "", json_string_value(a) ?: "");
		}
	}
	snprintf(path, sizeof(path), "%s/" CONTAINER_STATE_FILE, dir);
	json = json_load_file(path, 0, &jerr);
	if (!json)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "container '%s' has no state: %s", id,
				 jerr.text);
	if (json_unpack_ex(json, &jerr, 0,
			   "{s:s, s?i, s?I, s?i, s?I, s?I, s?I, s?I, s?i, s?i, s?b, s?s}",
			   "status", &status, "pid", &pid, "pidStart", &pid_start, "shimPid", &shim_pid,
			   "shimStart", &shim_start, "createdNs", &created, "startedNs", &started,
			   "finishedNs", &finished, "exitCode", &exit_code, "exitSignal", &exit_signal,
			   "oomKilled", &oom, "error", &error) < 0)
		return orch_fail(err, ORCH_ERR_INVALID, "'%s': %s", path, jerr.text);
	out->status = status_parse(status);
	out->pid = pid;
	out->pid_start = (uint64_t)pid_start;
	out->shim_pid = shim_pid;
	out->shim_start = (uint64_t)shim_start;
	out->created_ns = created;
	out->started_ns = started;
	out->finished_ns = finished;
	out->exit_code = exit_code;
	out->exit_signal = exit_signal;
	out->oom_killed = oom;
	snprintf(out->error, sizeof(out->error), "%s", error);
	return 0;
}

/* Removes the entries of dir_fd (which is on device dev) recursively. */
static int remove_children(int dir_fd, dev_t dev, const char *path, orch_error *err)
{
	DIR *d = fdopendir(dir_fd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		close(dir_fd);
		return orch_fail_errno(err, errno, "listing '%s'", path);
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int child;

			if (st.st_dev != dev) {
				rc = orch_fail(err, ORCH_ERR_CONFLICT,
					       "'%s/%s' is a mount point; not removing it", path,
					       e->d_name);
				continue;
			}
			child = openat(dirfd(d), e->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (child < 0 || remove_children(child, dev, path, err) < 0) {
				rc = -1;
				continue;
			}
			if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
				rc = orch_fail_errno(err, errno, "removing '%s/%s'", path, e->d_name);
		} else if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT) {
			rc = orch_fail_errno(err, errno, "removing '%s/%s'", path, e->d_name);
		}
	}
	closedir(d);
	return rc;
}

int container_remove_tree(const char *path, orch_error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return errno == ENOENT ? 0 : orch_fail_errno(err, errno, "opening '%s'", path);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return orch_fail_errno(err, errno, "inspecting '%s'", path);
	}
	if (remove_children(fd, st.st_dev, path, err) < 0)
		return -1;
	if (rmdir(path) < 0 && errno != ENOENT)
		return orch_fail_errno(err, errno, "removing '%s'", path);
	return 0;
}

int container_store_lock(const char *data_dir, orch_error *err)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/" CONTAINER_LOCK_FILE, data_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return orch_fail_errno(err, errno, "opening '%s'", path);
	if (flock(fd, LOCK_EX) < 0) {
		close(fd);
		return orch_fail_errno(err, errno, "locking '%s'", path);
	}
	return fd;
}

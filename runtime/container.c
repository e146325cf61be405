/*
 * container.c - the lifecycle API of container.h: create the records,
 * start the shim, signal, stop, wait, remove, list and resolve.
 */
#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/cleanup.h"
#include "container_attach.h"
#include "container_image.h"
#include "container_store.h"
#include "common/fs_util.h"
#include "sealed_binary.h"
#include "shim.h"

#define CONTAINER_SHIM_EXIT_WAIT_MS 15000	/* stop/rm: shim records the exit by then */
#define CONTAINER_WAIT_POLL_MS 20
#define HOST_RESOLV_CONF "/etc/resolv.conf"
#define HOST_HOSTS "/etc/hosts"
#define RESOLV_CONF_MAX (64u << 10)

int container_dir_path(const char *data_dir, const char *id, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/containers/%s", data_dir, id) >= len)
		return -1;
	return 0;
}

/* ---- create ---------------------------------------------------------------- */

static int write_small_file(const char *dir, const char *name, const char *text, orch_error *err)
{
	char path[4200];
	cleanup_close int fd = -1;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return orch_fail_errno(err, errno, "creating '%s'", path);
	if (write(fd, text, len) != (ssize_t)len)
		return orch_fail_errno(err, errno, "writing '%s'", path);
	return 0;
}

/*
 * resolv.conf: the host's, without loopback nameservers when the container
 * has its own network namespace (they would be unreachable there), and
 * Docker's fallback servers when none is left.
 */
static int write_resolv_conf(const char *dir, enum linux_network_mode network, orch_error *err)
{
	cleanup_free char *host = NULL;
	cleanup_free char *out = NULL;
	size_t host_len = 0, used = 0;
	bool have_server = false;

	if (fs_read_file(HOST_RESOLV_CONF, RESOLV_CONF_MAX, &host, &host_len, NULL) < 0)
		host = NULL;
	out = malloc(host_len + 128);
	if (!out)
		return orch_fail_errno(err, ENOMEM, "writing resolv.conf");
	out[0] = '\0';
	for (char *line = host, *next; line && *line; line = next) {
		char *nl = strchr(line, '\n');
		bool loopback;

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		loopback = strncmp(line, "nameserver", 10) == 0 &&
			   (strstr(line, " 127.") || strstr(line, "\t127.") || strstr(line, " ::1"));
		if (loopback && network != LINUX_NETWORK_HOST)
			continue;
		if (strncmp(line, "nameserver", 10) == 0)
			have_server = true;
		used += (size_t)sprintf(out + used, "%s\n", line);
	}
	if (!have_server)
		used += (size_t)sprintf(out + used, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
	return write_small_file(dir, "resolv.conf", out, err);
}

static int write_hosts(const char *dir, const struct container_config *cfg, orch_error *err)
{
	char text[1024];

	if (cfg->network == LINUX_NETWORK_HOST) {
		cleanup_free char *host = NULL;
		size_t len;

		if (fs_read_file(HOST_HOSTS, RESOLV_CONF_MAX, &host, &len, NULL) == 0)
			return write_small_file(dir, "hosts", host, err);
	}
	snprintf(text, sizeof(text),
		 "127.0.0.1\tlocalhost\n"
		 "::1\tlocalhost ip6-localhost ip6-loopback\n"
		 "fe00::0\tip6-localnet\n"
		 "ff00::0\tip6-mcastprefix\n"
		 "ff02::1\tip6-allnodes\n"
		 "ff02::2\tip6-allrouters\n"
		 "127.0.1.1\t%s\n", cfg->hostname);
	return write_small_file(dir, "hosts", text, err);
}

static int validate_config(const struct container_config *cfg, orch_error *err)
{
	if (cfg->layer_count == 0)
		return orch_fail(err, ORCH_ERR_INVALID, "the image has no layers");
	for (size_t i = 0; i < cfg->layer_count; i++)
		if (cfg->layer_dirs[i][0] != '/')
			return orch_fail(err, ORCH_ERR_INVALID, "layer '%s' is not an absolute path",
					 cfg->layer_dirs[i]);
	if (cfg->name) {
		if (!cfg->name[0] || strlen(cfg->name) >= CONTAINER_NAME_MAX)
			return orch_fail(err, ORCH_ERR_INVALID, "invalid container name '%s'",
					 cfg->name);
		for (const char *p = cfg->name; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || (p != cfg->name && strchr("_.-", *p))))
				return orch_fail(err, ORCH_ERR_INVALID,
						 "invalid container name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
						 cfg->name);
	}
	if (cfg->hostname && strlen(cfg->hostname) > 63)
		return orch_fail(err, ORCH_ERR_INVALID, "hostname '%s' is longer than 63 bytes",
				 cfg->hostname);
	if (cgroup_parent_validate(cfg->cgroup_parent ? cfg->cgroup_parent : CGROUP_DEFAULT_PARENT,
				   err) < 0)
		return -1;
	return 0;
}

/* True if a container other than skip_id is called name. */
static bool name_taken(const char *data_dir, const char *name)
{
	char dir[4200];
	DIR *d;
	struct dirent *e;
	bool taken = false;

	snprintf(dir, sizeof(dir), "%s/containers", data_dir);
	d = opendir(dir);
	if (!d)
		return false;
	while (!taken && (e = readdir(d))) {
		struct container_state st;
		char cdir[4200];

		if (!container_id_valid(e->d_name))
			continue;
		container_dir_path(data_dir, e->d_name, cdir, sizeof(cdir));
		if (container_state_read(cdir, e->d_name, &st, NULL) == 0 && strcmp(st.name, name) == 0)
			taken = true;
	}
	closedir(d);
	return taken;
}

int container_create(const char *data_dir, const struct container_config *cfg_in,
		     char id_out[CONTAINER_ID_LEN + 1], orch_error *err)
{
	struct container_config cfg = *cfg_in;
	cleanup_close int lock_fd = -1;
	struct container_state st;
	char dir[4200], sub[4300], containers[4200];
	char default_hostname[CONTAINER_SHORT_ID_LEN + 1];

	if (validate_config(&cfg, err) < 0)
		return -1;
	snprintf(containers, sizeof(containers), "%s/containers", data_dir);
	if (fs_mkdir_p(containers, 0700, err) < 0)
		return -1;
	lock_fd = container_store_lock(data_dir, err);
	if (lock_fd < 0)
		return -1;
	if (cfg.name && name_taken(data_dir, cfg.name))
		return orch_fail(err, ORCH_ERR_CONFLICT, "the container name '%s' is already in use",
				 cfg.name);
	if (container_id_generate(id_out, err) < 0)
		return -1;
	if (!cfg.hostname || !cfg.hostname[0]) {
		snprintf(default_hostname, sizeof(default_hostname), "%.*s", CONTAINER_SHORT_ID_LEN,
			 id_out);
		cfg.hostname = default_hostname;
	}
	container_dir_path(data_dir, id_out, dir, sizeof(dir));
	if (mkdir(dir, 0700) < 0)
		return orch_fail_errno(err, errno, "creating '%s'", dir);
	for (const char *const *name = (const char *const[]){ "upper", "work", "rootfs", NULL };
	     *name; name++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, *name);
		if (mkdir(sub, 0755) < 0) {
			orch_fail_errno(err, errno, "creating '%s'", sub);
			goto fail;
		}
	}
	memset(&st, 0, sizeof(st));
	st.status = CONTAINER_CREATED;
	st.created_ns = clock_wall_ns();
	{
		char hostname_line[80];

		snprintf(hostname_line, sizeof(hostname_line), "%s\n", cfg.hostname);
		if (write_hosts(dir, &cfg, err) < 0 || write_resolv_conf(dir, cfg.network, err) < 0 ||
		    write_small_file(dir, "hostname", hostname_line, err) < 0)
			goto fail;
	}
	if (container_config_write(dir, id_out, &cfg, st.created_ns, err) < 0 ||
	    container_state_write(dir, &st, err) < 0)
		goto fail;
	if (container_image_pin(data_dir, cfg.image_id, id_out, err) < 0)
		goto fail;
	return 0;
fail:
	container_remove_tree(dir, NULL);
	return -1;
}

/* ---- start ----------------------------------------------------------------- */

/*
 * Runs in the forked child: detaches (setsid + second fork, so the shim is
 * nobody's child but init's) and execs `orch shim`, from exe_fd when it is
 * not -1 (the starter's sealed copy of the binary, which the shim then
 * hands on to the container's init: one copy for every container).  Only
 * async-signal-safe calls: the caller may be a multi-threaded agent.
 */
__attribute__((noreturn)) static void exec_shim(int attach_fd, int exe_fd, const char *log_path,
						char *const argv[])
{
	static char *const empty_env[] = { NULL };
	pid_t pid;
	int fd;

	setsid();
	pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? 1 : 0);
	/* Out of the way of 0-4, which are set up below. */
	if (exe_fd >= 0)
		exe_fd = fcntl(exe_fd, F_DUPFD_CLOEXEC, 5);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
	}
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
	if (fd >= 0)
		dup2(fd, 2);
	if (attach_fd != 3) {
		dup2(attach_fd, 3);
	} else {
		int flags = fcntl(3, F_GETFD);

		fcntl(3, F_SETFD, flags & ~FD_CLOEXEC);
	}
	if (exe_fd >= 0 && dup3(exe_fd, 4, O_CLOEXEC) == 4) {
		syscall(SYS_close_range, 5, ~0U, 0);
		syscall(SYS_execveat, 4, "", argv, empty_env, AT_EMPTY_PATH);
	}
	syscall(SYS_close_range, 4, ~0U, 0);
	execve("/proc/self/exe", argv, empty_env);
	_exit(127);
}

/*
 * The sealed copy of the binary to start the shim of container dir from
 * when the container runs an init (the shim passes it on), else -1.  An
 * error here only means the shim makes a copy of its own.
 */
static int shim_exe_fd(const char *dir)
{
	orch_error ignored = ORCH_ERROR_INIT;
	struct container_config cfg;
	bool init_process;

	if (container_config_read(dir, &cfg, NULL, &ignored) < 0)
		return -1;
	init_process = cfg.init_process;
	container_config_release(&cfg);
	return init_process ? sealed_binary_fd(&ignored) : -1;
}

int container_start(const char *data_dir, const char *id, int *attach_fd, int *fail_exit_code,
		    orch_error *err)
{
	char dir[4200], log_path[4300], type = 0;
	cleanup_free char *frame = NULL;
	cleanup_close int fd = -1;
	struct container_state st;
	size_t len;
	int sv[2], status, exe_fd;
	pid_t pid;
	char *argv[] = { "orch", "shim", "--data", (char *)data_dir, "--attach-fd", "3",
			 (char *)id, NULL };

	if (fail_exit_code)
		*fail_exit_code = CONTAINER_EXIT_RUNTIME_ERROR;
	container_dir_path(data_dir, id, dir, sizeof(dir));
	if (container_state_read(dir, id, &st, err) < 0)
		return -1;
	if (st.status != CONTAINER_CREATED)
		return orch_fail(err, ORCH_ERR_CONFLICT, "container '%s' was already started", id);
	frame = malloc(ATTACH_PAYLOAD_MAX + 1);
	if (!frame)
		return orch_fail_errno(err, ENOMEM, "starting '%s'", id);
	snprintf(log_path, sizeof(log_path), "%s/%s", dir, SHIM_LOG_FILE);
	exe_fd = shim_exe_fd(dir);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return orch_fail_errno(err, errno, "creating the attach socket");
	fd = sv[0];
	pid = fork();
	if (pid < 0) {
		close(sv[1]);
		return orch_fail_errno(err, errno, "forking the shim");
	}
	if (pid == 0)
		exec_shim(sv[1], exe_fd, log_path, argv);
	close(sv[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;

	{
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ready = poll(&pfd, 1, CONTAINER_START_TIMEOUT_MS);

		if (ready <= 0)
			return orch_fail(err, ORCH_ERR_INTERNAL,
					 "container '%s': the shim did not report within %d ms (see %s)",
					 id, CONTAINER_START_TIMEOUT_MS, log_path);
	}
	if (container_attach_recv(fd, &type, frame, &len, err) <= 0)
		return orch_fail(err, ORCH_ERR_INTERNAL,
				 "container '%s': the shim exited without a report (see %s)", id,
				 log_path);
	if (type == ATTACH_FAILED) {
		char *msg = frame;
		int code = (int)strtol(frame, &msg, 10);

		if (fail_exit_code)
			*fail_exit_code = code;
		return orch_fail(err, code == CONTAINER_EXIT_NOT_FOUND ? ORCH_ERR_NOT_FOUND
				      : ORCH_ERR_INTERNAL, "%s", *msg == ' ' ? msg + 1 : msg);
	}
	if (type != ATTACH_STARTED)
		return orch_fail(err, ORCH_ERR_INTERNAL, "container '%s': unexpected frame '%c'", id,
				 type);
	if (attach_fd)
		*attach_fd = take_fd(&fd);
	return 0;
}

/* ---- state, kill, stop, wait ---------------------------------------------- */

int container_config_get(const char *data_dir, const char *id, struct container_config *out,
			 orch_error *err)
{
	char dir[4200];

	memset(out, 0, sizeof(*out));
	if (!container_id_valid(id))
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "no such container '%s'", id);
	container_dir_path(data_dir, id, dir, sizeof(dir));
	return container_config_read(dir, out, NULL, err);
}

int container_state_get(const char *data_dir, const char *id, struct container_state *out,
			orch_error *err)
{
	char dir[4200];

	if (!container_id_valid(id))
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "no such container '%s'", id);
	container_dir_path(data_dir, id, dir, sizeof(dir));
	if (container_state_read(dir, id, out, err) < 0)
		return -1;
	if (out->status == CONTAINER_RUNNING && !container_proc_alive(out->shim_pid, out->shim_start)) {
		/* The shim may have just recorded the exit: read once more. */
		if (container_state_read(dir, id, out, err) < 0)
			return -1;
		if (out->status == CONTAINER_RUNNING &&
		    !container_proc_alive(out->pid, out->pid_start))
			out->status = CONTAINER_DEAD;
	}
	return 0;
}

/* A pidfd for pid if it is still the process that started at start, else -1. */
static int pidfd_checked(pid_t pid, uint64_t start)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return -1;
	/* Opened first, checked second: the pidfd pins the identity we checked. */
	if (!container_proc_alive(pid, start)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits for the process behind pidfd to exit; true if it did within timeout_ms. */
static bool pidfd_wait(int pidfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int rc;

	do {
		rc = poll(&pfd, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	return rc > 0;
}

int container_kill(const char *data_dir, const char *id, int signo, orch_error *err)
{
	struct container_state st;
	cleanup_close int pidfd = -1;

	if (container_state_get(data_dir, id, &st, err) < 0)
		return -1;
	if (st.status != CONTAINER_RUNNING)
		return orch_fail(err, ORCH_ERR_CONFLICT, "container '%.12s' is not running", id);
	pidfd = pidfd_checked(st.pid, st.pid_start);
	if (pidfd < 0)
		return orch_fail(err, ORCH_ERR_CONFLICT, "container '%.12s' is not running", id);
	if (syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0) < 0)
		return orch_fail_errno(err, errno, "signalling container '%.12s'", id);
	return 0;
}

/* After the container's PID 1 is gone, waits for the shim to record it. */
static void wait_for_shim(const struct container_state *st)
{
	cleanup_close int shim_fd = pidfd_checked(st->shim_pid, st->shim_start);

	if (shim_fd >= 0)
		pidfd_wait(shim_fd, CONTAINER_SHIM_EXIT_WAIT_MS);
}

int container_stop(const char *data_dir, const char *id, int timeout_s, orch_error *err)
{
	struct container_state st;
	cleanup_close int pidfd = -1;

	if (container_state_get(data_dir, id, &st, err) < 0)
		return -1;
	if (st.status != CONTAINER_RUNNING)
		return 0;
	pidfd = pidfd_checked(st.pid, st.pid_start);
	if (pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
		if (!pidfd_wait(pidfd, timeout_s * 1000)) {
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			pidfd_wait(pidfd, -1);
		}
	}
	wait_for_shim(&st);
	return 0;
}

int container_wait(const char *data_dir, const char *id, int timeout_ms,
		   struct container_state *out, orch_error *err)
{
	int waited = 0;

	for (;;) {
		if (container_state_get(data_dir, id, out, err) < 0)
			return -1;
		if (out->status != CONTAINER_RUNNING && out->status != CONTAINER_CREATED)
			return 0;
		if (out->status == CONTAINER_RUNNING) {
			cleanup_close int shim_fd = pidfd_checked(out->shim_pid, out->shim_start);

			if (shim_fd >= 0) {
				int slice = timeout_ms < 0 ? -1 : timeout_ms - waited;

				if (pidfd_wait(shim_fd, slice))
					continue;	/* shim gone: re-read the final state */
				return orch_fail(err, ORCH_ERR_CONFLICT,
						 "container '%.12s' still runs", id);
			}
		}
		if (timeout_ms >= 0 && waited >= timeout_ms)
			return orch_fail(err, ORCH_ERR_CONFLICT, "container '%.12s' still runs", id);
		poll(NULL, 0, CONTAINER_WAIT_POLL_MS);
		waited += CONTAINER_WAIT_POLL_MS;
	}
}

/* ---- remove ---------------------------------------------------------------- */

int container_remove(const char *data_dir, const char *id, bool force, orch_error *err)
{
	struct container_config cfg;
	struct container_state st;
	struct cgroup cg;
	char dir[4200];

	if (container_state_get(data_dir, id, &st, err) < 0)
		return -1;
	if (st.status == CONTAINER_RUNNING) {
		if (!force)
			return orch_fail(err, ORCH_ERR_CONFLICT,
					 "container '%.12s' is running: stop it first or use -f", id);
		if (container_kill(data_dir, id, SIGKILL, NULL) == 0) {
			cleanup_close int pidfd = pidfd_checked(st.pid, st.pid_start);

			if (pidfd >= 0)
				pidfd_wait(pidfd, CONTAINER_SHIM_EXIT_WAIT_MS);
		}
		wait_for_shim(&st);
	}
	container_dir_path(data_dir, id, dir, sizeof(dir));
	if (container_config_read(dir, &cfg, NULL, err) == 0) {
		/* The shim removes the cgroup at exit; a crashed shim may not have. */
		if (cgroup_init(&cg, cfg.cgroup_parent, id, NULL) == 0 && cgroup_destroy(&cg, err) < 0) {
			container_config_release(&cfg);
			return -1;
		}
		/*
		 * The group goes with its last container; one still in use stays.
		 * Best effort: whoever made the group (the agent) removes it too.
		 */
		if (cfg.cgroup_parent_is_group && cgroup_init_group(&cg, cfg.cgroup_parent, NULL) == 0)
			cgroup_remove_if_empty(&cg, NULL);
		if (container_image_unpin(data_dir, cfg.image_id, id, err) < 0) {
			container_config_release(&cfg);
			return -1;
		}
		container_config_release(&cfg);
	}
	return container_remove_tree(dir, err);
}

/* ---- list and resolve ------------------------------------------------------ */

static int by_created(const void *a, const void *b)
{
	const struct container_state *x = a, *y = b;

	return x->created_ns < y->created_ns ? -1 : x->created_ns > y->created_ns;
}

int container_list(const char *data_dir, struct container_state **out, size_t *count,
		   orch_error *err)
{
	char dir[4200];
	struct container_state *list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	*out = NULL;
	*count = 0;
	snprintf(dir, sizeof(dir), "%s/containers", data_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : orch_fail_errno(err, errno, "listing '%s'", dir);
	while ((e = readdir(d))) {
		if (!container_id_valid(e->d_name))
			continue;
		if (n == cap) {
			struct container_state *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				free(list);
				closedir(d);
				return orch_fail_errno(err, ENOMEM, "listing containers");
			}
			list = grown;
		}
		/* A container removed meanwhile is simply not listed. */
		if (container_state_get(data_dir, e->d_name, &list[n], NULL) == 0)
			n++;
	}
	closedir(d);
	if (n > 1)
		qsort(list, n, sizeof(*list), by_created);
	*out = list;
	*count = n;
	return 0;
}

int container_resolve(const char *data_dir, const char *id_or_name,
		      char id_out[CONTAINER_ID_LEN + 1], orch_error *err)
{
	cleanup_free struct container_state *list = NULL;
	size_t count, prefix_len = strlen(id_or_name), matches = 0;

	if (container_id_valid(id_or_name)) {
		char dir[4200];
		struct stat st;

		container_dir_path(data_dir, id_or_name, dir, sizeof(dir));
		if (stat(dir, &st) == 0) {
			snprintf(id_out, CONTAINER_ID_LEN + 1, "%s", id_or_name);
			return 0;
		}
	}
	if (container_list(data_dir, &list, &count, err) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		if (list[i].name[0] && strcmp(list[i].name, id_or_name) == 0) {
			snprintf(id_out, CONTAINER_ID_LEN + 1, "%s", list[i].id);
			return 0;
		}
	}
	for (size_t i = 0; prefix_len > 0 && i < count; i++) {
		if (strncmp(list[i].id, id_or_name, prefix_len) == 0) {
			snprintf(id_out, CONTAINER_ID_LEN + 1, "%s", list[i].id);
			matches++;
		}
	}
	if (matches == 1)
		return 0;
	if (matches > 1)
		return orch_fail(err, ORCH_ERR_CONFLICT, "'%s' matches several containers",
				 id_or_name);
	return orch_fail(err, ORCH_ERR_NOT_FOUND, "no such container '%s'", id_or_name);
}

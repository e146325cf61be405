/*
 * agent_stream.c - log uploads for the server's task log streams.  See
 * agent_stream.h.
 */
#include "agent_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent_client.h"
#include "agent_exec.h"
#include "runtime/container.h"
#include "runtime/container_log.h"
#include "runtime/container_store.h"
#include "common/log.h"
#include "proto/server_curl.h"

/* Process-wide: the threads are detached and outlive no one. */
static struct {
	pthread_mutex_t lock;
	bool started;
	char *server, *ca_pem, *credential, *runtime_dir;
	atomic_int active;
} streams = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct upload {
	char stream_id[40];
	char runtime_id[CONTAINER_ID_LEN + 1];
	bool have_container;
	bool archived;		/* the container is gone: its archived log */
	bool follow;
	long tail;
	int pipe_rd, pipe_wr;
	atomic_bool cancel;
	CURL *curl;
	char message[256];	/* sent instead of a log when there is none */
	size_t message_off;
};

static char *bearer_header(void)
{
	char *h = NULL;

	pthread_mutex_lock(&streams.lock);
	if (asprintf(&h, "Authorization: Bearer %s", streams.credential) < 0)
		h = NULL;
	pthread_mutex_unlock(&streams.lock);
	return h;
}

/* The API's transport rules with the pinned CA (server_curl.h), URL and headers. */
static void setup(CURL *h, const char *url, struct curl_slist *headers)
{
	struct server_tls tls = { .mode = SERVER_TLS_VERIFIED, .ca_pem = streams.ca_pem };

	server_curl_setup(h, &tls, AGENT_CLIENT_CONNECT_TIMEOUT_S * 1000L);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
}

/* ---- one upload ------------------------------------------------------- */

static bool keep_following(void *arg)
{
	struct upload *u = arg;
	struct container_state st;

	if (atomic_load(&u->cancel))
		return false;
	return container_state_get(streams.runtime_dir, u->runtime_id, &st, NULL) == 0 &&
	       (st.status == CONTAINER_RUNNING || st.status == CONTAINER_CREATED);
}

static void *log_reader(void *arg)
{
	struct upload *u = arg;
	orch_error err = ORCH_ERROR_INIT;
	char dir[4200];
	struct container_log_read_options o = {
		.tail = u->tail, .follow = u->follow, .stdout_fd = u->pipe_wr,
		.stderr_fd = u->pipe_wr, .keep_following = keep_following, .ctx = u,
	};

	if (u->archived) {
		snprintf(dir, sizeof(dir), "%s/" AGENT_STREAM_LOG_ARCHIVE_DIR "/%s",
			 streams.runtime_dir, u->runtime_id);
		o.follow = false;
	} else {
		container_dir_path(streams.runtime_dir, u->runtime_id, dir, sizeof(dir));
	}
	if (container_log_read(dir, &o, &err) < 0 && !atomic_load(&u->cancel))
		log_debug("agent: log stream %s: %s", u->stream_id, err.message);
	close(u->pipe_wr);
	u->pipe_wr = -1;
	return NULL;
}

/* curl asks for upload bytes: the log, or the end when the server left. */
static size_t upload_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t want = size * nitems;

	if (!u->have_container) {
		size_t left = strlen(u->message) - u->message_off;
		size_t n = left < want ? left : want;

		memcpy(buf, u->message + u->message_off, n);
		u->message_off += n;
		return n;
	}
	for (;;) {
		curl_socket_t sock = CURL_SOCKET_BAD;
		struct pollfd p[2] = { { .fd = u->pipe_rd, .events = POLLIN },
				       { .fd = -1, .events = POLLRDHUP } };
		ssize_t n;

		curl_easy_getinfo(u->curl, CURLINFO_ACTIVESOCKET, &sock);
		p[1].fd = sock == CURL_SOCKET_BAD ? -1 : sock;
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			return CURL_READFUNC_ABORT;
		if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			atomic_store(&u->cancel, true);	/* the reader went away */
			return CURL_READFUNC_ABORT;
		}
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(u->pipe_rd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
	}
}

static void *upload_run(void *arg)
{
	struct upload *u = arg;
	struct curl_slist *headers = NULL;
	char *auth = bearer_header(), *url = NULL;
	pthread_t reader;
	bool reading = false;
	int p[2];
	CURLcode rc;

	if (u->have_container && pipe2(p, O_CLOEXEC) == 0) {
		u->pipe_rd = p[0];
		u->pipe_wr = p[1];
		reading = pthread_create(&reader, NULL, log_reader, u) == 0;
		if (!reading) {
			close(p[1]);
			u->pipe_wr = -1;
		}
	} else if (u->have_container) {
		u->have_container = false;
		snprintf(u->message, sizeof(u->message), "orch: cannot read the log: %s\n",
			 strerror(errno));
	}
	u->curl = curl_easy_init();
	if (auth && u->curl && asprintf(&url, "%s/v1/agent/streams/%s", streams.server,
					u->stream_id) >= 0) {
		headers = curl_slist_append(headers, auth);
		headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
		headers = curl_slist_append(headers, "Content-Type: text/plain");
		headers = curl_slist_append(headers, "Expect:");
		setup(u->curl, url, headers);
		curl_easy_setopt(u->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(u->curl, CURLOPT_READFUNCTION, upload_read);
		curl_easy_setopt(u->curl, CURLOPT_READDATA, u);
		curl_easy_setopt(u->curl, CURLOPT_WRITEFUNCTION, server_body_discard);
		rc = curl_easy_perform(u->curl);
		if (rc != CURLE_OK && rc != CURLE_ABORTED_BY_CALLBACK)
			log_debug("agent: log stream %s: %s", u->stream_id, curl_easy_strerror(rc));
	}
	atomic_store(&u->cancel, true);
	if (u->pipe_rd >= 0)
		close(u->pipe_rd);	/* a blocked writer gets EPIPE */
	if (reading)
		pthread_join(reader, NULL);
	curl_slist_free_all(headers);
	if (u->curl)
		curl_easy_cleanup(u->curl);
	free(url);
	free(auth);
	free(u);
	atomic_fetch_sub(&streams.active, 1);
	return NULL;
}

static bool archived_log_exists(const char *runtime_id)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/" AGENT_STREAM_LOG_ARCHIVE_DIR "/%s/" CONTAINER_LOG_FILE,
		 streams.runtime_dir, runtime_id);
	return access(path, R_OK) == 0;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n = 0;

	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/* Deletes the oldest archived logs past the limit. */
static void archive_prune(const char *archive)
{
	for (;;) {
		DIR *d = opendir(archive);
		struct dirent *e;
		char oldest[NAME_MAX + 1] = "", path[4200];
		time_t oldest_mtime = 0;
		int count = 0;
		struct stat st;

		if (!d)
			return;
		while ((e = readdir(d))) {
			if (!container_id_valid(e->d_name))
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", archive, e->d_name) >=
			    (int)sizeof(path) || stat(path, &st) < 0)
				continue;
			count++;
			if (!oldest[0] || st.st_mtime < oldest_mtime) {
				oldest_mtime = st.st_mtime;
				snprintf(oldest, sizeof(oldest), "%s", e->d_name);
			}
		}
		closedir(d);
		if (count <= AGENT_STREAM_MAX_ARCHIVED_LOGS || !oldest[0])
			return;
		if (snprintf(path, sizeof(path), "%s/%s", archive, oldest) >= (int)sizeof(path) ||
		    container_remove_tree(path, NULL) < 0)
			return;
	}
}

void agent_stream_archive_log(const char *runtime_dir, const char *runtime_id)
{
	char src[4200], archive[4200], dst[4400], from[4400], to[4600];

	if (!container_id_valid(runtime_id))
		return;
	container_dir_path(runtime_dir, runtime_id, src, sizeof(src));
	snprintf(archive, sizeof(archive), "%s/" AGENT_STREAM_LOG_ARCHIVE_DIR, runtime_dir);
	snprintf(dst, sizeof(dst), "%s/%s", archive, runtime_id);
	if ((mkdir(archive, 0700) < 0 && errno != EEXIST) || (mkdir(dst, 0700) < 0 && errno != EEXIST)) {
		log_warn("agent: keeping the log of %s: %s", runtime_id, strerror(errno));
		return;
	}
	for (int i = 0; i < CONTAINER_LOG_MAX_FILES; i++) {
		snprintf(from, sizeof(from), i ? "%s/" CONTAINER_LOG_FILE ".%d" : "%s/" CONTAINER_LOG_FILE,
			 src, i);
		snprintf(to, sizeof(to), i ? "%s/" CONTAINER_LOG_FILE ".%d" : "%s/" CONTAINER_LOG_FILE,
			 dst, i);
		if (copy_file(from, to) < 0 && errno != ENOENT)
			log_warn("agent: keeping the log of %s: %s", runtime_id, strerror(errno));
	}
	archive_prune(archive);
}

static void upload_begin(json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "streamId"));
	const char *rid = json_string_value(json_object_get(req, "runtimeId"));
	const char *container = json_string_value(json_object_get(req, "container"));
	json_t *tail = json_object_get(req, "tail");
	orch_error err = ORCH_ERROR_INIT;
	struct upload *u;
	pthread_t t;

	if (!id || strlen(id) >= sizeof(u->stream_id))
		return;
	if (atomic_fetch_add(&streams.active, 1) >= AGENT_STREAM_MAX_ACTIVE) {
		atomic_fetch_sub(&streams.active, 1);
		log_warn("agent: dropping log stream %s: %d already running", id,
			 AGENT_STREAM_MAX_ACTIVE);
		return;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		atomic_fetch_sub(&streams.active, 1);
		return;
	}
	snprintf(u->stream_id, sizeof(u->stream_id), "%s", id);
	u->follow = json_is_true(json_object_get(req, "follow"));
	u->tail = json_is_integer(tail) ? (long)json_integer_value(tail) : -1;
	u->pipe_rd = u->pipe_wr = -1;
	if (rid && container_resolve(streams.runtime_dir, rid, u->runtime_id, &err) == 0)
		u->have_container = true;
	else if (rid && container_id_valid(rid) && archived_log_exists(rid)) {
		snprintf(u->runtime_id, sizeof(u->runtime_id), "%s", rid);
		u->have_container = u->archived = true;
	} else
		snprintf(u->message, sizeof(u->message),
			 "orch: the log of container %s is no longer on its node\n",
			 container ? container : "?");
	if (pthread_create(&t, NULL, upload_run, u) != 0) {
		free(u);
		atomic_fetch_sub(&streams.active, 1);
		return;
	}
	pthread_detach(t);
}

/* An exec stream (agent_exec.h) with this agent's server and credential. */
static void exec_begin(json_t *req)
{
	struct agent_exec_server srv;
	char *credential;

	pthread_mutex_lock(&streams.lock);
	credential = strdup(streams.credential);
	pthread_mutex_unlock(&streams.lock);
	if (!credential)
		return;
	srv.server = streams.server;	/* set once, before the poller started */
	srv.ca_pem = streams.ca_pem;
	srv.credential = credential;
	srv.runtime_dir = streams.runtime_dir;
	agent_exec_begin(req, &srv);
	free(credential);
}

/* ---- the poller ------------------------------------------------------- */

static void *poller_run(void *arg)
{
	CURL *h = curl_easy_init();
	char url[1024];

	snprintf(url, sizeof(url), "%s/v1/agent/streams?wait=%d", streams.server,
		 AGENT_STREAM_POLL_WAIT_S);
	while (h) {
		struct server_body body = { 0 };
		struct curl_slist *headers = NULL;
		char *auth = bearer_header();
		long status = 0;
		json_t *reply, *list, *req;
		size_t i;

		headers = auth ? curl_slist_append(headers, auth) : NULL;
		setup(h, url, headers);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT,
				 (long)(AGENT_STREAM_POLL_WAIT_S + AGENT_CLIENT_POLL_SLACK_S));
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, server_body_collect);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(headers);
		free(auth);
		reply = status == 200 && body.data ? json_loads(body.data, 0, NULL) : NULL;
		free(body.data);
		list = json_object_get(reply, "streams");
		json_array_foreach(list, i, req) {
			const char *kind = json_string_value(json_object_get(req, "kind"));

			if (kind && strcmp(kind, "exec") == 0)
				exec_begin(req);
			else if (!kind || strcmp(kind, "logs") == 0)
				upload_begin(req);
		}
		json_decref(reply);
		if (status != 200)
			usleep(AGENT_STREAM_RETRY_MS * 1000);
	}
	return NULL;
}

int agent_streams_start(const char *server, const char *ca_pem, const char *credential,
			const char *runtime_dir, orch_error *err)
{
	pthread_t t;
	int rc = 0;

	pthread_mutex_lock(&streams.lock);
	free(streams.credential);
	streams.credential = strdup(credential);
	if (!streams.started) {
		streams.server = strdup(server);
		streams.ca_pem = strdup(ca_pem);
		streams.runtime_dir = strdup(runtime_dir);
		if (!streams.server || !streams.ca_pem || !streams.runtime_dir ||
		    !streams.credential || pthread_create(&t, NULL, poller_run, NULL) != 0)
			rc = orch_fail(err, ORCH_ERR_INTERNAL, "starting the log stream thread");
		else
			streams.started = true;
		if (streams.started)
			pthread_detach(t);
	}
	pthread_mutex_unlock(&streams.lock);
	return rc;
}

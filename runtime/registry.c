/*
 * registry.c - the distribution API client: auth challenges, manifests and
 * concurrent, resumable, verified blob downloads (see registry.h).
 */
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "blob_store.h"
#include "common/cleanup.h"
#include "common/log.h"

#define REGISTRY_TOKEN_MAX_BYTES (1u << 20)
#define REGISTRY_ERROR_BODY_MAX 4096
#define PROGRESS_INTERVAL_MS 100

struct registry_client {
	struct image_ref ref;
	char base[IMAGE_REF_DOMAIN_MAX + 16];	/* "https://host:port" */
	char *user, *pass;			/* from the config file, or NULL */
	char *auth_header;			/* "Authorization: ..." once authenticated */
	char *insecure_hosts;			/* "a,b:5000": every source's list, joined */
	bool progress_allowed;
	bool progress;
};

struct resp_headers {
	char *www_auth;
	char *content_type;
	char *docker_digest;
	long long range_start;	/* from Content-Range, -1 if none */
};

struct membuf {
	char *data;
	size_t len, max;
	bool overflow;
};

/* ---- small helpers ------------------------------------------------------------------ */

static void resp_headers_clear(struct resp_headers *h)
{
	free(h->www_auth);
	free(h->content_type);
	free(h->docker_digest);
	memset(h, 0, sizeof(*h));
	h->range_start = -1;
}

static char *trimmed_dup(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return strndup(s, len);
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
	struct resp_headers *h = ud;
	size_t len = size * n;
	const char *colon;
	char **slot = NULL;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		resp_headers_clear(h);	/* a new response (after a redirect or 100) */
		return len;
	}
	colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	if ((size_t)(colon - buf) == 16 && strncasecmp(buf, "WWW-Authenticate", 16) == 0)
		slot = &h->www_auth;
	else if ((size_t)(colon - buf) == 12 && strncasecmp(buf, "Content-Type", 12) == 0)
		slot = &h->content_type;
	else if ((size_t)(colon - buf) == 21 && strncasecmp(buf, "Docker-Content-Digest", 21) == 0)
		slot = &h->docker_digest;
	else if ((size_t)(colon - buf) == 13 && strncasecmp(buf, "Content-Range", 13) == 0) {
		cleanup_free char *v = trimmed_dup(colon + 1, len - (size_t)(colon + 1 - buf));
		long long start;

		if (v && sscanf(v, "bytes %lld-", &start) == 1)
			h->range_start = start;
		return len;
	}
	if (slot && !*slot)
		*slot = trimmed_dup(colon + 1, len - (size_t)(colon + 1 - buf));
	return len;
}

static size_t membuf_cb(char *p, size_t size, size_t n, void *ud)
{
	struct membuf *m = ud;
	size_t len = size * n;
	char *grown;

	if (m->len + len > m->max) {
		m->overflow = true;
		return 0;
	}
	grown = realloc(m->data, m->len + len + 1);
	if (!grown)
		return 0;
	m->data = grown;
	memcpy(m->data + m->len, p, len);
	m->len += len;
	m->data[m->len] = '\0';
	return len;
}

static char *base64_encode(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	return out;
}

static char *base64_decode(const char *s)
{
	size_t len = strlen(s);
	unsigned char *out = malloc(len + 1);
	int n;

	if (!out)
		return NULL;
	n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding's zero bytes. */
	while (len && s[len - 1] == '=') {
		len--;
		n--;
	}
	out[n < 0 ? 0 : n] = '\0';
	return (char *)out;
}

/* "code: message" of a registry error body, or "" */
static void registry_error_text(const struct membuf *body, char *out, size_t size)
{
	json_t *root, *first;

	out[0] = '\0';
	if (!body->data)
		return;
	root = json_loadb(body->data, body->len, 0, NULL);
	first = json_array_get(json_object_get(root, "errors"), 0);
	if (json_is_object(first))
		snprintf(out, size, " (%s: %s)", json_string_value(json_object_get(first, "code")) ?: "?",
			 json_string_value(json_object_get(first, "message")) ?: "");
	json_decref(root);
}

/* ---- configuration: insecure registries and credentials ----------------------------------- */

static bool list_has(const char *list, const char *host)
{
	size_t hl = strlen(host);

	for (const char *p = list; p && *p;) {
		const char *end = strchrnul(p, ',');
		cleanup_free char *item = trimmed_dup(p, (size_t)(end - p));

		if (item && strlen(item) == hl && strcmp(item, host) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

/* Appends hosts (one, or a comma-separated list) to rc's insecure hosts. */
static int insecure_hosts_add(struct registry_client *rc, const char *hosts)
{
	char *joined;

	if (asprintf(&joined, "%s%s%s", rc->insecure_hosts ? rc->insecure_hosts : "",
		     rc->insecure_hosts ? "," : "", hosts) < 0)
		return -1;
	free(rc->insecure_hosts);
	rc->insecure_hosts = joined;
	return 0;
}

/*
 * Whether a plain-HTTP URL's host (HOST or HOST:PORT, as the insecure lists
 * name registries) is one the user listed as insecure.  A URL with user
 * information or an empty host is never.
 */
static bool http_url_host_insecure(const struct registry_client *rc, const char *url)
{
	const char *host = url + strlen("http://");
	size_t n = strcspn(host, "/?#");
	cleanup_free char *authority = strndup(host, n);

	return authority && *authority && !strchr(authority, '@') &&
	       list_has(rc->insecure_hosts, authority);
}

static int load_credentials(struct registry_client *rc, json_t *config, const char *path,
			    orch_error *err)
{
	json_t *auths = json_object_get(config, "auths");
	const char *d = rc->ref.domain;
	char keys[8][IMAGE_REF_DOMAIN_MAX + 32];
	size_t nkeys = 0;

	if (strcmp(d, IMAGE_REF_DOCKER_HUB) == 0) {
		snprintf(keys[nkeys++], sizeof(keys[0]), "https://index.docker.io/v1/");
		snprintf(keys[nkeys++], sizeof(keys[0]), "index.docker.io");
		snprintf(keys[nkeys++], sizeof(keys[0]), "registry-1.docker.io");
	}
	snprintf(keys[nkeys++], sizeof(keys[0]), "%s", d);
	snprintf(keys[nkeys++], sizeof(keys[0]), "https://%s", d);
	snprintf(keys[nkeys++], sizeof(keys[0]), "http://%s", d);
	snprintf(keys[nkeys++], sizeof(keys[0]), "https://%s/v2/", d);
	snprintf(keys[nkeys++], sizeof(keys[0]), "https://%s/v1/", d);
	for (size_t i = 0; i < nkeys; i++) {
		json_t *entry = json_object_get(auths, keys[i]);
		const char *auth = json_string_value(json_object_get(entry, "auth"));
		const char *u = json_string_value(json_object_get(entry, "username"));
		const char *p = json_string_value(json_object_get(entry, "password"));

		if (auth && *auth) {
			cleanup_free char *plain = base64_decode(auth);
			char *colon = plain ? strchr(plain, ':') : NULL;

			if (!colon)
				return orch_fail(err, ORCH_ERR_INVALID,
						 "'%s': auths.\"%s\".auth is not base64 of user:password",
						 path, keys[i]);
			*colon = '\0';
			rc->user = strdup(plain);
			rc->pass = strdup(colon + 1);
		} else if (u && p) {
			rc->user = strdup(u);
			rc->pass = strdup(p);
		} else {
			continue;
		}
		if (!rc->user || !rc->pass)
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		log_debug("registry %s: credentials for user '%s' from '%s'", d, rc->user, path);
		return 0;
	}
	if (json_object_get(config, "credsStore") || json_object_get(config, "credHelpers"))
		log_warn("'%s': credential helpers (credsStore, credHelpers) are not supported; "
			 "put an \"auth\" entry under \"auths\"", path);
	return 0;
}

int registry_client_new(const struct registry_options *opts, const struct image_ref *ref,
			struct registry_client **out, orch_error *err)
{
	struct registry_client *rc = calloc(1, sizeof(*rc));
	const char *config_path = opts->config_path ? opts->config_path : getenv(REGISTRY_CONFIG_ENV);
	json_t *config = NULL;
	bool insecure = false;

	*out = NULL;
	if (!rc)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	rc->ref = *ref;
	rc->progress = rc->progress_allowed = opts->progress;
	if (config_path && *config_path) {
		json_error_t jerr;

		config = json_load_file(config_path, 0, &jerr);
		if (!json_is_object(config)) {
			json_decref(config);
			registry_client_free(rc);
			return orch_fail(err, ORCH_ERR_INVALID, "registry config '%s': %s", config_path,
					 config ? "not a JSON object" : jerr.text);
		}
		if (load_credentials(rc, config, config_path, err) < 0) {
			json_decref(config);
			registry_client_free(rc);
			return -1;
		}
		{
			size_t i;
			json_t *v;

			json_array_foreach(json_object_get(config, "insecure-registries"), i, v)
				if (json_is_string(v) &&
				    insecure_hosts_add(rc, json_string_value(v)) < 0) {
					json_decref(config);
					registry_client_free(rc);
					return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
				}
		}
		json_decref(config);
	}
	for (size_t i = 0; i < opts->insecure_count; i++)
		if (insecure_hosts_add(rc, opts->insecure[i]) < 0) {
			registry_client_free(rc);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
	if (getenv(REGISTRY_INSECURE_ENV) && insecure_hosts_add(rc, getenv(REGISTRY_INSECURE_ENV)) < 0) {
		registry_client_free(rc);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	insecure = list_has(rc->insecure_hosts, ref->domain);
	snprintf(rc->base, sizeof(rc->base), "%s://%s", insecure ? "http" : "https",
		 image_ref_endpoint(ref));
	*out = rc;
	return 0;
}

void registry_client_free(struct registry_client *rc)
{
	if (!rc)
		return;
	free(rc->user);
	if (rc->pass)
		explicit_bzero(rc->pass, strlen(rc->pass));
	free(rc->pass);
	free(rc->auth_header);
	free(rc->insecure_hosts);
	free(rc);
}

void registry_client_set_progress(struct registry_client *rc, bool on)
{
	rc->progress = on && rc->progress_allowed;
}

/* ---- requests ---------------------------------------------------------------------------- */

/* Options every request shares; hdrs receives the header list to free. */
static int easy_setup(struct registry_client *rc, CURL *h, const char *url, const char *accept,
		      struct resp_headers *rh, struct curl_slist **hdrs)
{
	char accept_line[512];

	*hdrs = NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)REGISTRY_MAX_REDIRECTS);
	/* Never send our Authorization to whatever host a redirect names. */
	curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)REGISTRY_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)REGISTRY_STALL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "orch/" "0.1");
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, rh);
	if (accept) {
		snprintf(accept_line, sizeof(accept_line), "Accept: %s", accept);
		*hdrs = curl_slist_append(*hdrs, accept_line);
	}
	if (rc->auth_header)
		*hdrs = curl_slist_append(*hdrs, rc->auth_header);
	if ((accept || rc->auth_header) && !*hdrs)
		return -1;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	return 0;
}

/* Splits a challenge into its scheme and realm/service/scope parameters. */
static void parse_challenge(const char *s, char *scheme, size_t scheme_size, char *realm,
			    char *service, char *scope, size_t size)
{
	const char *p = s;
	size_t n = 0;

	realm[0] = service[0] = scope[0] = '\0';
	while (*p && !isspace((unsigned char)*p) && n + 1 < scheme_size)
		scheme[n++] = *p++;
	scheme[n] = '\0';
	while (*p) {
		char key[32], *dst = NULL;
		size_t k = 0, v = 0;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		while (*p && *p != '=' && k + 1 < sizeof(key))
			key[k++] = *p++;
		key[k] = '\0';
		if (*p != '=')
			break;
		p++;
		if (strcasecmp(key, "realm") == 0)
			dst = realm;
		else if (strcasecmp(key, "service") == 0)
			dst = service;
		else if (strcasecmp(key, "scope") == 0)
			dst = scope;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				if (dst && v + 1 < size)
					dst[v++] = *p;
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',') {
				if (dst && v + 1 < size)
					dst[v++] = *p;
				p++;
			}
		}
		if (dst)
			dst[v] = '\0';
	}
}

/* Answers a 401's challenge: sets rc->auth_header for the retry. */
static int authenticate(struct registry_client *rc, const char *challenge, orch_error *err)
{
	char scheme[32], realm[1024], service[512], scope[512];
	cleanup_free char *url = NULL;
	struct membuf body = { .max = REGISTRY_TOKEN_MAX_BYTES };
	struct resp_headers rh = { .range_start = -1 };
	struct curl_slist *hdrs = NULL;
	CURL *h;
	CURLcode cc;
	long status = 0;
	json_t *doc;
	const char *token;
	char *esc_service, *esc_scope;

	if (!challenge)
		return orch_fail(err, ORCH_ERR_INVALID,
				 "registry %s answered 401 without a WWW-Authenticate challenge",
				 rc->ref.domain);
	parse_challenge(challenge, scheme, sizeof(scheme), realm, service, scope, sizeof(realm) / 2);
	free(rc->auth_header);
	rc->auth_header = NULL;
	if (strcasecmp(scheme, "Basic") == 0) {
		cleanup_free char *pair = NULL, *b64 = NULL;

		if (!rc->user)
			return orch_fail(err, ORCH_ERR_INVALID,
					 "registry %s requires a login: give credentials with "
					 "--registry-config FILE (Docker config.json format)",
					 rc->ref.domain);
		if (asprintf(&pair, "%s:%s", rc->user, rc->pass) < 0 || !(b64 = base64_encode(pair)) ||
		    asprintf(&rc->auth_header, "Authorization: Basic %s", b64) < 0) {
			rc->auth_header = NULL;
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		return 0;
	}
	if (strcasecmp(scheme, "Bearer") != 0)
		return orch_fail(err, ORCH_ERR_UNSUPPORTED, "registry %s wants '%s' auth (unsupported)",
				 rc->ref.domain, scheme);
	if (strncmp(realm, "https://", 8) != 0 && strncmp(realm, "http://", 7) != 0)
		return orch_fail(err, ORCH_ERR_INVALID, "registry %s: token realm '%s' is not http(s)",
				 rc->ref.domain, realm);
	/* Credentials travel over plain HTTP only to a host the user named. */
	if (rc->user && strncmp(realm, "http://", 7) == 0 && !http_url_host_insecure(rc, realm))
		return orch_fail(err, ORCH_ERR_INVALID,
				 "registry %s: the token realm '%s' is plain HTTP: the credentials "
				 "are sent there only if its host is an insecure registry "
				 "(--insecure-registry HOST:PORT)", rc->ref.domain, realm);
	if (!scope[0])
		snprintf(scope, sizeof(scope), "repository:%s:pull", rc->ref.path);
	h = curl_easy_init();
	if (!h)
		return orch_fail(err, ORCH_ERR_INTERNAL, "curl_easy_init failed");
	esc_service = curl_easy_escape(h, service, 0);
	esc_scope = curl_easy_escape(h, scope, 0);
	if (asprintf(&url, "%s%cservice=%s&scope=%s", realm, strchr(realm, '?') ? '&' : '?',
		     esc_service ? esc_service : "", esc_scope ? esc_scope : "") < 0)
		url = NULL;
	curl_free(esc_service);
	curl_free(esc_scope);
	if (!url) {
		curl_easy_cleanup(h);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	if (easy_setup(rc, h, url, NULL, &rh, &hdrs) < 0) {
		curl_easy_cleanup(h);
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	if (rc->user) {
		/* A redirect may not carry the credentials to plain HTTP either. */
		if (strncmp(realm, "https://", 8) == 0)
			curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, rc->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, rc->pass);
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	resp_headers_clear(&rh);
	if (cc != CURLE_OK) {
		free(body.data);
		return orch_fail(err, ORCH_ERR_INTERNAL, "getting a token from '%s': %s", realm,
				 curl_easy_strerror(cc));
	}
	if (status != 200) {
		free(body.data);
		return orch_fail(err, status == 401 ? ORCH_ERR_INVALID : ORCH_ERR_INTERNAL,
				 "token server '%s' refused%s (HTTP %ld)", realm,
				 rc->user ? " the credentials" : " anonymous access", status);
	}
	doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
	free(body.data);
	token = json_string_value(json_object_get(doc, "token"));
	if (!token)
		token = json_string_value(json_object_get(doc, "access_token"));
	if (!token || !*token) {
		json_decref(doc);
		return orch_fail(err, ORCH_ERR_INVALID, "token server '%s' returned no token", realm);
	}
	if (asprintf(&rc->auth_header, "Authorization: Bearer %s", token) < 0)
		rc->auth_header = NULL;
	json_decref(doc);
	return rc->auth_header ? 0 : orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
}

static int transport_error(struct registry_client *rc, CURLcode cc, const char *errbuf,
			   orch_error *err)
{
	const char *hint = "";

	if (strncmp(rc->base, "https", 5) == 0 &&
	    (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
	     cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING))
		hint = " (if it serves plain HTTP: --insecure-registry HOST:PORT)";
	return orch_fail(err, ORCH_ERR_INTERNAL, "cannot reach registry %s: %s%s", rc->ref.domain,
			 errbuf && *errbuf ? errbuf : curl_easy_strerror(cc), hint);
}

int registry_get_manifest(struct registry_client *rc, const char *reference, char **data,
			  size_t *len, char **content_type, char digest[DIGEST_STR_SIZE],
			  orch_error *err)
{
	cleanup_free char *url = NULL;
	char errbuf[CURL_ERROR_SIZE];

	*data = NULL;
	*content_type = NULL;
	if (asprintf(&url, "%s/v2/%s/manifests/%s", rc->base, rc->ref.path, reference) < 0) {
		url = NULL;
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	for (int attempt = 0;; attempt++) {
		struct membuf body = { .max = MANIFEST_MAX_BYTES };
		struct resp_headers rh = { .range_start = -1 };
		struct curl_slist *hdrs = NULL;
		CURL *h = curl_easy_init();
		CURLcode cc;
		long status = 0;
		char detail[300];

		if (!h)
			return orch_fail(err, ORCH_ERR_INTERNAL, "curl_easy_init failed");
		errbuf[0] = '\0';
		if (easy_setup(rc, h, url, MANIFEST_ACCEPT, &rh, &hdrs) < 0) {
			curl_easy_cleanup(h);
			return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, membuf_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
		cc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(h);
		curl_slist_free_all(hdrs);
		if (body.overflow) {
			free(body.data);
			resp_headers_clear(&rh);
			return orch_fail(err, ORCH_ERR_INVALID, "manifest '%s' is larger than %u bytes",
					 reference, MANIFEST_MAX_BYTES);
		}
		if (cc != CURLE_OK) {
			free(body.data);
			resp_headers_clear(&rh);
			return transport_error(rc, cc, errbuf, err);
		}
		if (status == 401 && attempt == 0) {
			int rc2 = authenticate(rc, rh.www_auth, err);

			free(body.data);
			resp_headers_clear(&rh);
			if (rc2 < 0)
				return -1;
			continue;
		}
		registry_error_text(&body, detail, sizeof(detail));
		if (status == 401) {
			free(body.data);
			resp_headers_clear(&rh);
			return orch_fail(err, ORCH_ERR_INVALID,
					 "registry %s refused the credentials%s: authentication failed "
					 "(wrong user name or password?)%s",
					 rc->ref.domain, rc->user ? " of user" : "", detail);
		}
		if (status == 404) {
			free(body.data);
			resp_headers_clear(&rh);
			return orch_fail(err, ORCH_ERR_NOT_FOUND,
					 "manifest unknown: %s/%s has no tag or digest '%s'%s",
					 rc->ref.domain, rc->ref.path, reference, detail);
		}
		if (status != 200) {
			free(body.data);
			resp_headers_clear(&rh);
			return orch_fail(err, status == 403 ? ORCH_ERR_INVALID : ORCH_ERR_INTERNAL,
					 "registry %s: GET manifest '%s': HTTP %ld%s", rc->ref.domain,
					 reference, status, detail);
		}
		sha256_digest_buffer(body.data ? body.data : "", body.len, digest);
		if (digest_is_valid(reference) && strcmp(reference, digest) != 0) {
			orch_fail(err, ORCH_ERR_INVALID,
				  "manifest digest mismatch: asked for %s, content is %s; nothing was kept",
				  reference, digest);
		} else if (rh.docker_digest && digest_is_valid(rh.docker_digest) &&
			   strcmp(rh.docker_digest, digest) != 0) {
			orch_fail(err, ORCH_ERR_INVALID,
				  "manifest digest mismatch: registry says %s, content is %s; nothing "
				  "was kept",
				  rh.docker_digest, digest);
		} else {
			*data = body.data ? body.data : strdup("");
			*len = body.len;
			*content_type = rh.content_type;
			rh.content_type = NULL;
			resp_headers_clear(&rh);
			return *data ? 0 : orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		}
		free(body.data);
		resp_headers_clear(&rh);
		return -1;
	}
}

/* ---- concurrent blob downloads ------------------------------------------------------------ */

struct transfer {
	struct registry_client *rc;
	const struct descriptor *desc;
	struct blob_writer *w;
	CURL *h;
	struct curl_slist *hdrs;
	struct resp_headers rh;
	char errbuf[CURL_ERROR_SIZE];
	uint64_t start_offset;	/* bytes already there when this attempt began */
	uint64_t received;	/* this attempt */
	long status;
	bool checked;
	bool no_range;
	bool write_failed;
	bool resumed;		/* this attempt continued a partial file */
	int attempts;
	orch_error err;
};

struct progress {
	bool enabled;
	uint64_t total;
	uint64_t bytes_committed;
	size_t blobs_total, blobs_done;
	struct timespec last;
};

static size_t blob_write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;

	if (!t->checked) {
		t->checked = true;
		curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->status);
		if (t->status == 206) {
			if (t->rh.range_start != (long long)t->start_offset) {
				t->no_range = true;	/* odd answer: start over without Range */
				return 0;
			}
		} else if (t->status == 200) {
			if (t->start_offset > 0 && blob_writer_restart(t->w, &t->err) < 0) {
				t->write_failed = true;
				return 0;
			}
			t->start_offset = 0;
		} else {
			return 0;	/* an error status: the body is not the blob */
		}
	}
	if (blob_writer_write(t->w, p, len, &t->err) < 0) {
		t->write_failed = true;
		return 0;
	}
	t->received += len;
	return len;
}

static void progress_draw(struct progress *pg, struct transfer *ts, size_t count, bool final)
{
	struct timespec now;
	uint64_t done = 0;
	int width = 30, fill;
	char bar[64];

	if (!pg->enabled)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && (now.tv_sec - pg->last.tv_sec) * 1000 +
			      (now.tv_nsec - pg->last.tv_nsec) / 1000000 < PROGRESS_INTERVAL_MS)
		return;
	pg->last = now;
	done = pg->bytes_committed;
	for (size_t i = 0; i < count; i++)
		if (ts[i].h)
			done += ts[i].start_offset + ts[i].received;
	if (final)
		done = pg->total;
	fill = pg->total ? (int)((double)done / (double)pg->total * width) : width;
	if (fill > width)
		fill = width;
	memset(bar, '=', (size_t)fill);
	memset(bar + fill, ' ', (size_t)(width - fill));
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %6.1f/%.1f MB  %zu/%zu blobs", bar, (double)done / 1e6,
		(double)pg->total / 1e6, pg->blobs_done, pg->blobs_total);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

static int transfer_start(struct transfer *t, CURLM *multi, struct blob_store *bs,
			  orch_error *err)
{
	cleanup_free char *url = NULL;
	bool present = false;
	char range[32];

	if (!t->w) {
		if (blob_writer_open(bs, t->desc->digest, t->desc->size, !t->no_range, &t->w, &present,
				     err) < 0)
			return -1;
		if (present)
			return 1;	/* another process fetched it meanwhile */
	}
	t->start_offset = blob_writer_offset(t->w);
	if (t->desc->size >= 0 && t->start_offset >= (uint64_t)t->desc->size) {
		if (blob_writer_restart(t->w, err) < 0)
			return -1;
		t->start_offset = 0;
	}
	t->resumed = t->start_offset > 0;
	t->received = 0;
	t->checked = false;
	t->status = 0;
	t->write_failed = false;
	t->errbuf[0] = '\0';
	resp_headers_clear(&t->rh);
	if (asprintf(&url, "%s/v2/%s/blobs/%s", t->rc->base, t->rc->ref.path, t->desc->digest) < 0) {
		url = NULL;
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	}
	t->h = curl_easy_init();
	if (!t->h)
		return orch_fail(err, ORCH_ERR_INTERNAL, "curl_easy_init failed");
	if (easy_setup(t->rc, t->h, url, NULL, &t->rh, &t->hdrs) < 0)
		return orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
	curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, blob_write_cb);
	curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
	if (t->start_offset > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)t->start_offset);
		curl_easy_setopt(t->h, CURLOPT_RANGE, range);
		log_debug("blob %s: resuming at byte %s", t->desc->digest, range);
	}
	t->attempts++;
	if (curl_multi_add_handle(multi, t->h) != CURLM_OK)
		return orch_fail(err, ORCH_ERR_INTERNAL, "curl_multi_add_handle failed");
	return 0;
}

static void transfer_end_handle(struct transfer *t, CURLM *multi)
{
	if (t->h) {
		curl_multi_remove_handle(multi, t->h);
		curl_easy_cleanup(t->h);
		t->h = NULL;
	}
	curl_slist_free_all(t->hdrs);
	t->hdrs = NULL;
}

/*
 * A transfer finished: 1 = blob stored, 0 = retry it, -1 = give up (err set).
 * reauth is set when the retry needs a fresh token first.
 */
static int transfer_finish(struct transfer *t, CURLcode cc, bool *reauth, orch_error *err)
{
	if (t->write_failed) {
		*err = t->err;
		return -1;
	}
	if (cc == CURLE_OK && (t->status == 200 || t->status == 206)) {
		struct blob_writer *w = t->w;

		t->w = NULL;
		if (blob_writer_commit(w, NULL, err) < 0) {
			/* A stale partial from an earlier run may have been the bad
			 * part: it is gone now; fetch the whole blob once more. */
			if (t->resumed && !t->no_range && t->attempts < REGISTRY_BLOB_ATTEMPTS) {
				log_warn("blob %s: resumed download did not verify; starting over",
					 t->desc->digest);
				t->no_range = true;
				return 0;
			}
			return orch_error_prefix(err, "blob %s", t->desc->digest);
		}
		return 1;
	}
	if (t->no_range && t->attempts < REGISTRY_BLOB_ATTEMPTS)
		return blob_writer_restart(t->w, err) < 0 ? -1 : 0;
	if (t->status == 401 && t->attempts < REGISTRY_BLOB_ATTEMPTS) {
		*reauth = true;
		return 0;
	}
	if (t->status == 416 && t->attempts < REGISTRY_BLOB_ATTEMPTS) {
		t->no_range = true;
		return blob_writer_restart(t->w, err) < 0 ? -1 : 0;
	}
	if (t->status == 404)
		return orch_fail(err, ORCH_ERR_NOT_FOUND, "blob unknown: %s/%s has no blob %s",
				 t->rc->ref.domain, t->rc->ref.path, t->desc->digest);
	if (t->status == 401 || t->status == 403)
		return orch_fail(err, ORCH_ERR_INVALID, "registry %s refused access to blob %s (HTTP %ld)",
				 t->rc->ref.domain, t->desc->digest, t->status);
	if (t->attempts < REGISTRY_BLOB_ATTEMPTS) {
		log_warn("blob %s: %s; retrying (%d/%d)", t->desc->digest,
			 cc != CURLE_OK ? (t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc)) : "HTTP error",
			 t->attempts, REGISTRY_BLOB_ATTEMPTS);
		return 0;	/* the writer keeps its bytes: the retry resumes */
	}
	if (cc != CURLE_OK)
		return transport_error(t->rc, cc, t->errbuf, err);
	return orch_fail(err, ORCH_ERR_INTERNAL, "registry %s: GET blob %s: HTTP %ld",
			 t->rc->ref.domain, t->desc->digest, t->status);
}

int registry_fetch_blobs(struct registry_client *rc, struct blob_store *bs,
			 const struct descriptor *descs, size_t count, registry_blob_ready_fn ready,
			 void *ready_ctx, orch_error *err)
{
	struct transfer *ts = calloc(count + 1, sizeof(*ts));
	/* Every attempt of every blob is queued once: attempts bound the queue. */
	size_t *queue = calloc(count * (REGISTRY_BLOB_ATTEMPTS + 1) + 1, sizeof(size_t));
	size_t qhead = 0, qtail = 0, active = 0, done = 0;
	struct progress pg = { .enabled = rc->progress };
	CURLM *multi = curl_multi_init();
	int rc_out = -1;
	bool reauthed = false;

	if (!ts || !queue || !multi) {
		orch_fail(err, ORCH_ERR_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		bool dup = false;

		for (size_t j = 0; j < i; j++)
			dup = dup || strcmp(descs[j].digest, descs[i].digest) == 0;
		ts[i].rc = rc;
		ts[i].desc = &descs[i];
		ts[i].rh.range_start = -1;
		if (dup || blob_store_has(bs, descs[i].digest)) {
			done++;
			if (!dup && ready && ready(ready_ctx, i, err) < 0)
				goto out;
			continue;
		}
		queue[qtail++] = i;
		pg.total += (uint64_t)(descs[i].size > 0 ? descs[i].size : 0);
		pg.blobs_total++;
	}
	while (done < count) {
		int running = 0, msgs = 0;
		CURLMsg *msg;

		while (active < REGISTRY_MAX_PARALLEL && qhead < qtail) {
			struct transfer *t = &ts[queue[qhead++]];
			int r = transfer_start(t, multi, bs, err);

			if (r < 0)
				goto out;
			if (r == 1) {
				done++;
				pg.blobs_done++;
				if (ready && ready(ready_ctx, (size_t)(t - ts), err) < 0)
					goto out;
				continue;
			}
			active++;
		}
		if (curl_multi_perform(multi, &running) != CURLM_OK) {
			orch_fail(err, ORCH_ERR_INTERNAL, "curl_multi_perform failed");
			goto out;
		}
		while ((msg = curl_multi_info_read(multi, &msgs))) {
			struct transfer *t = NULL;
			bool reauth = false;
			int r;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			if (!t->checked)
				curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &t->status);
			r = transfer_finish(t, msg->data.result, &reauth, err);
			transfer_end_handle(t, multi);
			active--;
			if (r < 0)
				goto out;
			if (r == 1) {
				done++;
				pg.blobs_done++;
				pg.bytes_committed += (uint64_t)(t->desc->size > 0 ? t->desc->size : 0);
				if (ready && ready(ready_ctx, (size_t)(t - ts), err) < 0)
					goto out;
				continue;
			}
			if (reauth) {
				if (reauthed) {
					orch_fail(err, ORCH_ERR_INVALID,
						  "registry %s keeps refusing blob %s after re-authenticating",
						  rc->ref.domain, t->desc->digest);
					goto out;
				}
				reauthed = true;
				if (authenticate(rc, t->rh.www_auth, err) < 0)
					goto out;
			}
			queue[qtail++] = (size_t)(t - ts);
		}
		progress_draw(&pg, ts, count, false);
		if (done < count && curl_multi_poll(multi, NULL, 0, 200, NULL) != CURLM_OK) {
			orch_fail(err, ORCH_ERR_INTERNAL, "curl_multi_poll failed");
			goto out;
		}
	}
	progress_draw(&pg, ts, count, true);
	rc_out = 0;
out:
	if (rc_out < 0 && pg.enabled)
		fputc('\n', stderr);
	for (size_t i = 0; ts && i < count; i++) {
		transfer_end_handle(&ts[i], multi);
		/* Keep partial bytes for a later resume unless the blob itself was bad. */
		blob_writer_abort(ts[i].w, true);
		resp_headers_clear(&ts[i].rh);
	}
	curl_multi_cleanup(multi);
	free(ts);
	free(queue);
	return rc_out;
}

/*
 * registry.h - a client for OCI distribution registries (Docker Registry
 * HTTP API v2) on libcurl.
 *
 * It speaks HTTPS, or plain HTTP to registries named insecure (the
 * --insecure-registry flags, ORCH_INSECURE_REGISTRIES="h:p,h:p", or an
 * "insecure-registries" array in the registry config file).  Auth follows the
 * WWW-Authenticate challenge: anonymous first, then Basic, or a Bearer token
 * from the realm (with Basic credentials if there are any).  Credentials come
 * from a Docker config.json ("auths": {"host": {"auth": base64("user:pass")}})
 * named by --registry-config or ORCH_REGISTRY_CONFIG.  Redirects (to blob
 * storage) are followed; libcurl drops the Authorization header when a
 * redirect changes host, port or scheme (CURLOPT_UNRESTRICTED_AUTH stays 0).
 *
 * Blobs download concurrently on one curl multi handle, straight into the
 * blob store's verified writers, resuming a partial file left by an
 * interrupted pull with a Range request.
 */
#ifndef ORCH_RUNTIME_REGISTRY_H
#define ORCH_RUNTIME_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "image_ref.h"
#include "manifest.h"

#define REGISTRY_CONFIG_ENV "ORCH_REGISTRY_CONFIG"
#define REGISTRY_INSECURE_ENV "ORCH_INSECURE_REGISTRIES"
#define REGISTRY_MAX_PARALLEL 4		/* blob downloads at once */
#define REGISTRY_CONNECT_TIMEOUT_S 30
#define REGISTRY_STALL_TIMEOUT_S 60	/* abort a transfer slower than 1 B/s this long */
#define REGISTRY_MAX_REDIRECTS 5
#define REGISTRY_BLOB_ATTEMPTS 3	/* tries per blob (resuming) before giving up */
#define REGISTRY_MAX_INSECURE 32

struct registry_options {
	const char *config_path;			/* NULL: $ORCH_REGISTRY_CONFIG */
	const char *insecure[REGISTRY_MAX_INSECURE];	/* "host:port" */
	size_t insecure_count;
	bool progress;					/* draw a progress bar on stderr */
};

struct registry_client;
struct blob_store;

/* A client for the registry of ref (credentials and scheme chosen here). */
int registry_client_new(const struct registry_options *opts, const struct image_ref *ref,
			struct registry_client **out, orch_error *err);
void registry_client_free(struct registry_client *rc);

/* Turns the progress bar of later registry_fetch_blobs() calls on or off
 * (never on unless the options asked for it). */
void registry_client_set_progress(struct registry_client *rc, bool on);

/*
 * GETs the manifest for reference (a tag or digest) of the client's
 * repository.  The body is verified: against reference when it is a digest,
 * against the Docker-Content-Digest header otherwise; *digest receives its
 * sha256.  *data (free()) and *content_type (free()) are new strings.
 */
int registry_get_manifest(struct registry_client *rc, const char *reference, char **data,
			  size_t *len, char **content_type, char digest[DIGEST_STR_SIZE],
			  orch_error *err);

/*
 * Called once per blob as soon as it is verified in the store (or found
 * there), with its index in descs; a negative return stops the fetch with
 * the error it filled.
 */
typedef int (*registry_blob_ready_fn)(void *ctx, size_t index, orch_error *err);

/*
 * Downloads the blobs in descs (those not already in the store) into the
 * blob store, REGISTRY_MAX_PARALLEL at a time, each verified before it is
 * kept.  Fails on the first blob that cannot be fetched or verified.
 * ready (may be NULL) hears of each blob as it lands.
 */
int registry_fetch_blobs(struct registry_client *rc, struct blob_store *bs,
			 const struct descriptor *descs, size_t count, registry_blob_ready_fn ready,
			 void *ready_ctx, orch_error *err);

#endif

/*
 * image_ref.h - image references with Docker's naming rules.
 *
 *   busybox                      -> docker.io/library/busybox:latest
 *   user/app:1                   -> docker.io/user/app:1
 *   127.0.0.1:5000/app           -> 127.0.0.1:5000/app:latest
 *   ghcr.io/o/app@sha256:...     -> by digest (no default tag)
 *
 * The first path component is a registry host when it contains '.' or ':'
 * or is "localhost"; otherwise the image is on Docker Hub, whose one-component
 * names live under "library/".  Docker Hub's API endpoint is
 * registry-1.docker.io.
 */
#ifndef ORCH_RUNTIME_IMAGE_REF_H
#define ORCH_RUNTIME_IMAGE_REF_H

#include <stddef.h>

#include "digest.h"
#include "common/error.h"

#define IMAGE_REF_DOMAIN_MAX 256
#define IMAGE_REF_PATH_MAX 256
#define IMAGE_REF_TAG_MAX 129	/* 128 characters + NUL */
#define IMAGE_REF_STR_MAX (IMAGE_REF_DOMAIN_MAX + IMAGE_REF_PATH_MAX + IMAGE_REF_TAG_MAX + DIGEST_STR_SIZE + 4)

#define IMAGE_REF_DOCKER_HUB "docker.io"
#define IMAGE_REF_DOCKER_HUB_ENDPOINT "registry-1.docker.io"

struct image_ref {
	char domain[IMAGE_REF_DOMAIN_MAX];	/* "docker.io", "127.0.0.1:5000" */
	char path[IMAGE_REF_PATH_MAX];		/* "library/busybox" */
	char tag[IMAGE_REF_TAG_MAX];		/* "" when pulled by digest only */
	char digest[DIGEST_STR_SIZE];		/* "" unless "@sha256:..." was given */
};

/* Parses and normalizes s; ORCH_ERR_INVALID with the reason if malformed. */
int image_ref_parse(const char *s, struct image_ref *out, orch_error *err);

/* "domain/path" (the repository) into buf. */
void image_ref_repository(const struct image_ref *ref, char *buf, size_t size);

/* The normalized name: "domain/path:tag", "domain/path@digest" or both. */
void image_ref_format(const struct image_ref *ref, char *buf, size_t size);

/* The host[:port] to talk to: the domain, or registry-1.docker.io for Hub. */
const char *image_ref_endpoint(const struct image_ref *ref);

/* The reference to ask the registry for: the digest if any, else the tag. */
const char *image_ref_manifest_ref(const struct image_ref *ref);

#endif

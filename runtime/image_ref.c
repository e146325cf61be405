/*
 * image_ref.c - parsing image references (Docker's grammar, simplified to
 * what registries accept: lowercase path components joined by '.', '_',
 * '__' or '-'s; tags of word characters, '.' and '-').
 */
#include "image_ref.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static bool path_component_valid(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < len && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= len || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

static bool domain_valid(const char *s)
{
	if (!*s)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':' &&
		    *p != '[' && *p != ']')
			return false;
	return true;
}

static bool tag_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 128)
		return false;
	if (!isalnum((unsigned char)s[0]) && s[0] != '_')
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

int image_ref_parse(const char *s, struct image_ref *out, orch_error *err)
{
	char buf[IMAGE_REF_STR_MAX];
	char *at, *name, *slash, *colon, *rest;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return orch_fail(err, ORCH_ERR_INVALID, "empty image reference");
	if (strlen(s) >= sizeof(buf))
		return orch_fail(err, ORCH_ERR_INVALID, "image reference '%.64s...' is too long", s);
	strcpy(buf, s);

	at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (!digest_is_valid(at + 1))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "image reference '%s': '%s' is not a sha256 digest", s, at + 1);
		strcpy(out->digest, at + 1);
	}
	name = buf;

	/* A tag is a ':' after the last '/'. */
	slash = strrchr(name, '/');
	colon = strrchr(slash ? slash : name, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_valid(colon + 1))
			return orch_fail(err, ORCH_ERR_INVALID, "image reference '%s': invalid tag '%s'",
					 s, colon + 1);
		strcpy(out->tag, colon + 1);
	}

	slash = strchr(name, '/');
	if (slash && (memchr(name, '.', (size_t)(slash - name)) ||
		      memchr(name, ':', (size_t)(slash - name)) ||
		      ((size_t)(slash - name) == strlen("localhost") &&
		       strncmp(name, "localhost", 9) == 0))) {
		*slash = '\0';
		if (strlen(name) >= sizeof(out->domain) || !domain_valid(name))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "image reference '%s': invalid registry host '%s'", s, name);
		strcpy(out->domain, name);
		rest = slash + 1;
	} else {
		strcpy(out->domain, IMAGE_REF_DOCKER_HUB);
		rest = name;
	}
	if (strcmp(out->domain, "index.docker.io") == 0)
		strcpy(out->domain, IMAGE_REF_DOCKER_HUB);

	if (strcmp(out->domain, IMAGE_REF_DOCKER_HUB) == 0 && !strchr(rest, '/')) {
		if (snprintf(out->path, sizeof(out->path), "library/%s", rest) >= (int)sizeof(out->path))
			return orch_fail(err, ORCH_ERR_INVALID, "image reference '%s' is too long", s);
	} else {
		if (strlen(rest) >= sizeof(out->path))
			return orch_fail(err, ORCH_ERR_INVALID, "image reference '%s' is too long", s);
		strcpy(out->path, rest);
	}

	/* Validate each component of the repository path. */
	for (const char *p = out->path;;) {
		const char *end = strchr(p, '/');

		len = end ? (size_t)(end - p) : strlen(p);
		if (!path_component_valid(p, len))
			return orch_fail(err, ORCH_ERR_INVALID,
					 "image reference '%s': invalid repository name '%s' "
					 "(lowercase letters, digits and separators . _ __ -)",
					 s, out->path);
		if (!end)
			break;
		p = end + 1;
	}
	if (strlen(out->domain) + 1 + strlen(out->path) > 255)
		return orch_fail(err, ORCH_ERR_INVALID, "image reference '%s': name longer than 255", s);

	if (!out->tag[0] && !out->digest[0])
		strcpy(out->tag, "latest");
	return 0;
}

void image_ref_repository(const struct image_ref *ref, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", ref->domain, ref->path);
}

void image_ref_format(const struct image_ref *ref, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag[0] ? ":" : "",
		 ref->tag, ref->digest[0] ? "@" : "", ref->digest);
}

const char *image_ref_endpoint(const struct image_ref *ref)
{
	if (strcmp(ref->domain, IMAGE_REF_DOCKER_HUB) == 0)
		return IMAGE_REF_DOCKER_HUB_ENDPOINT;
	return ref->domain;
}

const char *image_ref_manifest_ref(const struct image_ref *ref)
{
	return ref->digest[0] ? ref->digest : ref->tag;
}

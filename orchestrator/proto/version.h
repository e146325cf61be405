/* version.h - orch's version and the versions of the libraries linked in. */
#ifndef ORCH_VERSION_H
#define ORCH_VERSION_H

#include <stdio.h>

#include <jansson.h>

extern const char ORCH_VERSION_STRING[];

/* {"sqlite": "3.40.1", "libevent": ..., "jansson": ..., "libcurl": ..., "openssl": ...} */
json_t *orch_library_versions(void);

/* The text of `orch --version`. */
void orch_print_version(FILE *out);

#endif

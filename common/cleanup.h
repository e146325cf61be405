/*
 * cleanup.h - scoped release of resources with __attribute__((cleanup)).
 *
 *   cleanup_free char *path = NULL;     freed when path leaves scope
 *   cleanup_close int fd = -1;          closed when fd leaves scope
 *   cleanup_fclose FILE *f = NULL;      fclose'd when f leaves scope
 *   cleanup_json json_t *doc = NULL;    json_decref'd when doc leaves scope
 *
 * Hand ownership out of the scope with take_ptr(&p) / take_fd(&fd), which
 * return the value and reset the variable so the cleanup does nothing.
 */
#ifndef ORCH_COMMON_CLEANUP_H
#define ORCH_COMMON_CLEANUP_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_free_fn(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_close_fn(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cleanup_fclose_fn(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void cleanup_json_fn(json_t **j)
{
	json_decref(*j);
}

#define cleanup_free __attribute__((cleanup(cleanup_free_fn)))
#define cleanup_close __attribute__((cleanup(cleanup_close_fn)))
#define cleanup_fclose __attribute__((cleanup(cleanup_fclose_fn)))
#define cleanup_json __attribute__((cleanup(cleanup_json_fn)))

static inline void *take_ptr_fn(void **p)
{
	void *v = *p;

	*p = NULL;
	return v;
}

static inline int take_fd(int *fd)
{
	int v = *fd;

	*fd = -1;
	return v;
}

#define take_ptr(pp) take_ptr_fn((void **)(pp))

#endif

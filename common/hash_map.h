/*
 * hash_map.h - orch's one hash map: caller-owned values found by a key
 * they hold.
 *
 * Ownership: the map stores pointers to the caller's values and never
 * allocates, copies or frees one (hash_map_release hands each to a
 * callback if asked).  Values must not be NULL.
 *
 * Keys: a value holds its own key (a node its ID), so the map stores no
 * key.  What a key is - a string, a struct of two IDs - is the business of
 * the map's type: hash() turns a key into 64 bits, key_equal() says
 * whether a value has that key.  Both receive the key as the caller passed
 * it to find, insert or remove.  The map remembers each value's hash, so it
 * never hashes again while it grows.
 *
 * Layout and growth: open addressing with linear probing in a table whose
 * size is a power of two.  The first insert allocates
 * HASH_MAP_MIN_CAPACITY slots; an insert that would fill more than 3/4 of
 * the table doubles it first.  The table never shrinks until
 * hash_map_release.  Removal shifts the entries after the hole back (no
 * tombstones), so many inserts and removes do not slow lookups down.
 *
 * Not thread-safe: one owner, as every other structure of a module.
 */
#ifndef ORCH_COMMON_HASH_MAP_H
#define ORCH_COMMON_HASH_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASH_MAP_MIN_CAPACITY 16

struct hash_map_type {
	uint64_t (*hash)(const void *key);
	bool (*key_equal)(const void *value, const void *key);
};

struct hash_map_slot {
	uint64_t hash;
	void *value;		/* NULL: empty */
};

struct hash_map {
	const struct hash_map_type *type;
	struct hash_map_slot *slots;
	size_t capacity;	/* 0 or a power of two */
	size_t count;
};

#define HASH_MAP_INIT(map_type) { .type = (map_type) }

/* An empty map of that type (no allocation until the first insert). */
void hash_map_init(struct hash_map *m, const struct hash_map_type *type);

/*
 * Frees the table; value_free (may be NULL) is called on every value
 * first.  The map is empty afterwards and can be used again.
 */
void hash_map_release(struct hash_map *m, void (*value_free)(void *value));

size_t hash_map_count(const struct hash_map *m);

/* The value with that key, or NULL. */
void *hash_map_find(const struct hash_map *m, const void *key);

/*
 * Adds value under key (value's own key).  The key must not be in the map
 * yet (find first; the map does not check).  0, or -1 if the table could
 * not grow (out of memory; the map is unchanged).
 */
int hash_map_insert(struct hash_map *m, const void *key, void *value);

/* Takes the value with that key out of the map and returns it (NULL: none). */
void *hash_map_remove(struct hash_map *m, const void *key);

/*
 * Iteration, in no particular order:
 *
 *	struct hash_map_iter it = HASH_MAP_ITER_INIT;
 *	while ((v = hash_map_next(&map, &it)))
 *		...
 *
 * The value last returned may be removed (hash_map_remove, by the loop or
 * by code it calls) or freed before the next call: no other value is
 * skipped then, though one that the removal moved back across the end of
 * the table is returned a second time.  Any other insert or remove during
 * an iteration may skip or repeat values.
 */
struct hash_map_iter {
	size_t slot;
	uintptr_t last;		/* the value last returned, as a number only */
};

#define HASH_MAP_ITER_INIT { 0, 0 }

void *hash_map_next(const struct hash_map *m, struct hash_map_iter *it);

/*
 * Hashes for types: of a NUL-terminated string, and of a 64-bit number.
 * Inline, so that a type's own hash() (of a struct key, say) compiles into
 * one function.
 */
static inline uint64_t hash_map_hash_string(const char *s)
{
	/* FNV-1a, then the high bits folded into the low ones the mask keeps. */
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static inline uint64_t hash_map_hash_u64(uint64_t x)
{
	/* MurmurHash3's finalizer: every input bit moves every output bit. */
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* A type's hash() for keys that are NUL-terminated strings. */
uint64_t hash_map_string_key_hash(const void *key);

/*
 * A ready type for values that begin with their key, a NUL-terminated
 * string in a char array (struct node { char id[N]; ... }): the key is that
 * string.
 */
extern const struct hash_map_type hash_map_leading_string;

#endif

/*
 * hash_map.c - open addressing with linear probing and backward-shift
 * deletion (see hash_map.h).
 */
#include "hash_map.h"

#include <stdlib.h>
#include <string.h>

uint64_t hash_map_string_key_hash(const void *key)
{
	return hash_map_hash_string(key);
}

static bool leading_string_equal(const void *value, const void *key)
{
	return strcmp(value, key) == 0;
}

const struct hash_map_type hash_map_leading_string = {
	hash_map_string_key_hash, leading_string_equal,
};

void hash_map_init(struct hash_map *m, const struct hash_map_type *type)
{
	m->type = type;
	m->slots = NULL;
	m->capacity = m->count = 0;
}

void hash_map_release(struct hash_map *m, void (*value_free)(void *value))
{
	if (value_free)
		for (size_t i = 0; i < m->capacity; i++)
			if (m->slots[i].value)
				value_free(m->slots[i].value);
	free(m->slots);
	m->slots = NULL;
	m->capacity = m->count = 0;
}

size_t hash_map_count(const struct hash_map *m)
{
	return m->count;
}

/* The slot holding key, or the empty slot that ends its probe sequence. */
static size_t slot_of(const struct hash_map *m, uint64_t hash, const void *key)
{
	size_t mask = m->capacity - 1, i;

	for (i = hash & mask; m->slots[i].value; i = (i + 1) & mask)
		if (m->slots[i].hash == hash && m->type->key_equal(m->slots[i].value, key))
			break;
	return i;
}

void *hash_map_find(const struct hash_map *m, const void *key)
{
	if (m->capacity == 0)
		return NULL;
	return m->slots[slot_of(m, m->type->hash(key), key)].value;
}

static void place(struct hash_map_slot *slots, size_t capacity, uint64_t hash, void *value)
{
	size_t i;

	for (i = hash & (capacity - 1); slots[i].value; i = (i + 1) & (capacity - 1))
		;
	slots[i].hash = hash;
	slots[i].value = value;
}

int hash_map_insert(struct hash_map *m, const void *key, void *value)
{
	if ((m->count + 1) * 4 > m->capacity * 3) {
		size_t capacity = m->capacity ? m->capacity * 2 : HASH_MAP_MIN_CAPACITY;
		struct hash_map_slot *slots = calloc(capacity, sizeof(*slots));

		if (!slots)
			return -1;
		for (size_t i = 0; i < m->capacity; i++)
			if (m->slots[i].value)
				place(slots, capacity, m->slots[i].hash, m->slots[i].value);
		free(m->slots);
		m->slots = slots;
		m->capacity = capacity;
	}
	place(m->slots, m->capacity, m->type->hash(key), value);
	m->count++;
	return 0;
}

void *hash_map_remove(struct hash_map *m, const void *key)
{
	size_t mask, i, j;
	void *value;

	if (m->capacity == 0)
		return NULL;
	mask = m->capacity - 1;
	i = slot_of(m, m->type->hash(key), key);
	value = m->slots[i].value;
	if (!value)
		return NULL;
	/*
	 * Close the hole at i: walk the run after it and move back each entry
	 * whose home slot does not lie cyclically in (i, j], so that every
	 * entry stays reachable from its home without crossing an empty slot.
	 */
	for (j = i;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->slots[j].value)
			break;
		home = m->slots[j].hash & mask;
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].value = NULL;
	m->count--;
	return value;
}

void *hash_map_next(const struct hash_map *m, struct hash_map_iter *it)
{
	size_t i = it->slot;

	/*
	 * Still in its slot: step past it.  Gone (removed): the entry the
	 * removal shifted into that slot, if any, has not been returned yet.
	 */
	if (it->last && i < m->capacity && (uintptr_t)m->slots[i].value == it->last)
		i++;
	for (; i < m->capacity; i++) {
		if (m->slots[i].value) {
			it->slot = i;
			it->last = (uintptr_t)m->slots[i].value;
			return m->slots[i].value;
		}
	}
	it->slot = m->capacity;
	it->last = 0;
	return NULL;
}

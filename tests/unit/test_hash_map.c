/*
 * test_hash_map.c - unit tests of common/hash_map: insert, find, remove,
 * growth past many doublings, iteration (each value once), removing the
 * current value while iterating, release with a callback, the ready type
 * for values that begin with their string key, keys that are not strings,
 * and a randomized run against a plain array with hashes chosen to collide
 * and to wrap around the end of the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/hash_map.h"

/* ---- values keyed by a string ------------------------------------------------ */

struct item {
	char name[24];
	int visits;
};

static bool item_has_name(const void *value, const void *key)
{
	return strcmp(((const struct item *)value)->name, key) == 0;
}

static const struct hash_map_type item_by_name = { hash_map_string_key_hash, item_has_name };

static struct item *items_new(size_t count)
{
	struct item *items = calloc(count, sizeof(*items));

	assert_non_null(items);
	for (size_t i = 0; i < count; i++)
		snprintf(items[i].name, sizeof(items[i].name), "item-%zu", i);
	return items;
}

static void insert_all(struct hash_map *m, struct item *items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		assert_int_equal(hash_map_insert(m, items[i].name, &items[i]), 0);
}

static void test_empty(void **state)
{
	struct hash_map m = HASH_MAP_INIT(&item_by_name);
	struct hash_map_iter it = HASH_MAP_ITER_INIT;

	(void)state;
	assert_int_equal(hash_map_count(&m), 0);
	assert_null(hash_map_find(&m, "x"));
	assert_null(hash_map_remove(&m, "x"));
	assert_null(hash_map_next(&m, &it));
	assert_null(hash_map_next(&m, &it));
	hash_map_release(&m, NULL);
	assert_int_equal(hash_map_count(&m), 0);
}

static void test_insert_find_remove(void **state)
{
	struct hash_map m;
	struct item a = { "alpha", 0 }, b = { "beta", 0 }, c = { "", 0 };

	(void)state;
	hash_map_init(&m, &item_by_name);
	assert_int_equal(hash_map_insert(&m, a.name, &a), 0);
	assert_int_equal(hash_map_insert(&m, b.name, &b), 0);
	assert_int_equal(hash_map_insert(&m, c.name, &c), 0);	/* the empty string is a key */
	assert_int_equal(hash_map_count(&m), 3);
	assert_ptr_equal(hash_map_find(&m, "alpha"), &a);
	assert_ptr_equal(hash_map_find(&m, "beta"), &b);
	assert_ptr_equal(hash_map_find(&m, ""), &c);
	assert_null(hash_map_find(&m, "gamma"));
	assert_null(hash_map_find(&m, "alph"));

	assert_ptr_equal(hash_map_remove(&m, "alpha"), &a);
	assert_null(hash_map_remove(&m, "alpha"));
	assert_null(hash_map_find(&m, "alpha"));
	assert_ptr_equal(hash_map_find(&m, "beta"), &b);
	assert_int_equal(hash_map_count(&m), 2);

	/* removed values can come back; the table is reused after release */
	assert_int_equal(hash_map_insert(&m, a.name, &a), 0);
	assert_ptr_equal(hash_map_find(&m, "alpha"), &a);
	hash_map_release(&m, NULL);
	assert_null(hash_map_find(&m, "beta"));
	assert_int_equal(hash_map_insert(&m, b.name, &b), 0);
	assert_ptr_equal(hash_map_find(&m, "beta"), &b);
	hash_map_release(&m, NULL);
}

#define MANY 100000

static void test_growth_many_keys(void **state)
{
	struct hash_map m = HASH_MAP_INIT(&item_by_name);
	struct item *items = items_new(MANY);

	(void)state;
	for (size_t i = 0; i < MANY; i++) {
		assert_int_equal(hash_map_insert(&m, items[i].name, &items[i]), 0);
		/* a power of two, never more than 3/4 full */
		assert_int_equal(m.capacity & (m.capacity - 1), 0);
		assert_true(m.capacity >= HASH_MAP_MIN_CAPACITY);
		assert_true(hash_map_count(&m) * 4 <= m.capacity * 3);
	}
	assert_int_equal(hash_map_count(&m), MANY);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(hash_map_find(&m, items[i].name), &items[i]);
	assert_null(hash_map_find(&m, "item-100000"));

	/* remove every third; the rest stay reachable across the holes */
	for (size_t i = 0; i < MANY; i += 3)
		assert_ptr_equal(hash_map_remove(&m, items[i].name), &items[i]);
	for (size_t i = 0; i < MANY; i++) {
		if (i % 3 == 0)
			assert_null(hash_map_find(&m, items[i].name));
		else
			assert_ptr_equal(hash_map_find(&m, items[i].name), &items[i]);
	}
	assert_int_equal(hash_map_count(&m), MANY - (MANY + 2) / 3);
	hash_map_release(&m, NULL);
	free(items);
}

static void test_iteration_visits_each_once(void **state)
{
	struct hash_map m = HASH_MAP_INIT(&item_by_name);
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct item *items = items_new(1000), *v;
	size_t seen = 0;

	(void)state;
	insert_all(&m, items, 1000);
	for (size_t i = 0; i < 1000; i += 2)
		hash_map_remove(&m, items[i].name);
	while ((v = hash_map_next(&m, &it))) {
		v->visits++;
		seen++;
	}
	assert_int_equal(seen, 500);
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(items[i].visits, i % 2 ? 1 : 0);
	assert_null(hash_map_next(&m, &it));	/* stays at the end */
	hash_map_release(&m, NULL);
	free(items);
}

static void test_remove_while_iterating(void **state)
{
	struct hash_map m = HASH_MAP_INIT(&item_by_name);
	struct hash_map_iter it = HASH_MAP_ITER_INIT;
	struct item *items = items_new(5000), *v;

	(void)state;
	insert_all(&m, items, 5000);
	/* remove the odd ones as they come: every value is still visited */
	while ((v = hash_map_next(&m, &it))) {
		v->visits++;
		if ((v - items) % 2)
			assert_ptr_equal(hash_map_remove(&m, v->name), v);
	}
	for (size_t i = 0; i < 5000; i++) {
		assert_true(items[i].visits >= 1);
		if (i % 2)
			assert_null(hash_map_find(&m, items[i].name));
		else
			assert_ptr_equal(hash_map_find(&m, items[i].name), &items[i]);
	}
	assert_int_equal(hash_map_count(&m), 2500);

	/* remove everything as it comes */
	it = (struct hash_map_iter)HASH_MAP_ITER_INIT;
	while ((v = hash_map_next(&m, &it)))
		hash_map_remove(&m, v->name);
	assert_int_equal(hash_map_count(&m), 0);
	hash_map_release(&m, NULL);
	free(items);
}

static int freed;

static void count_free(void *value)
{
	freed++;
	free(value);
}

static void test_release_frees_values(void **state)
{
	struct hash_map m = HASH_MAP_INIT(&item_by_name);

	(void)state;
	for (int i = 0; i < 300; i++) {
		struct item *v = calloc(1, sizeof(*v));

		assert_non_null(v);
		snprintf(v->name, sizeof(v->name), "v%d", i);
		assert_int_equal(hash_map_insert(&m, v->name, v), 0);
	}
	free(hash_map_remove(&m, "v7"));
	freed = 0;
	hash_map_release(&m, count_free);
	assert_int_equal(freed, 299);
	assert_int_equal(hash_map_count(&m), 0);
}

/* struct item begins with its name: the ready type finds it by that. */
static void test_leading_string_type(void **state)
{
	struct hash_map m = HASH_MAP_INIT(&hash_map_leading_string);
	struct item *items = items_new(500);

	(void)state;
	insert_all(&m, items, 500);
	for (size_t i = 0; i < 500; i++)
		assert_ptr_equal(hash_map_find(&m, items[i].name), &items[i]);
	assert_null(hash_map_find(&m, "item-500"));
	assert_ptr_equal(hash_map_remove(&m, "item-7"), &items[7]);
	assert_null(hash_map_find(&m, "item-7"));
	hash_map_release(&m, NULL);
	free(items);
}

/* ---- a key that is not a string ---------------------------------------------- */

struct pair_key {
	uint32_t a, b;
};

struct pair {
	struct pair_key key;
};

static uint64_t pair_hash(const void *key)
{
	const struct pair_key *k = key;

	return hash_map_hash_u64((uint64_t)k->a << 32 | k->b);
}

static bool pair_has_key(const void *value, const void *key)
{
	const struct pair_key *x = &((const struct pair *)value)->key, *y = key;

	return x->a == y->a && x->b == y->b;
}

static const struct hash_map_type pair_by_key = { pair_hash, pair_has_key };

static void test_struct_keys(void **state)
{
	struct hash_map m = HASH_MAP_INIT(&pair_by_key);
	struct pair pairs[64];

	(void)state;
	for (uint32_t i = 0; i < 64; i++) {
		pairs[i].key.a = i / 8;
		pairs[i].key.b = i % 8;
		assert_int_equal(hash_map_insert(&m, &pairs[i].key, &pairs[i]), 0);
	}
	for (uint32_t i = 0; i < 64; i++) {
		struct pair_key k = { i / 8, i % 8 };

		assert_ptr_equal(hash_map_find(&m, &k), &pairs[i]);
	}
	{
		struct pair_key swapped = { 1, 9 };

		assert_null(hash_map_find(&m, &swapped));
	}
	hash_map_release(&m, NULL);
}

/* ---- collisions and wrap-around against a model -------------------------------- */

/* Keys are numbers; the hash is chosen by the test so that runs collide. */
struct forced {
	uint32_t id;
	uint64_t hash;
	bool in_map;
	int visits;
};

#define FORCED_COUNT 64

static struct forced forced[FORCED_COUNT];

static uint64_t forced_hash(const void *key)
{
	return forced[*(const uint32_t *)key].hash;
}

static bool forced_has_key(const void *value, const void *key)
{
	return ((const struct forced *)value)->id == *(const uint32_t *)key;
}

static const struct hash_map_type forced_by_id = { forced_hash, forced_has_key };

static void check_against_model(const struct hash_map *m)
{
	size_t count = 0;

	for (uint32_t i = 0; i < FORCED_COUNT; i++) {
		void *v = hash_map_find(m, &forced[i].id);

		if (forced[i].in_map) {
			assert_ptr_equal(v, &forced[i]);
			count++;
		} else {
			assert_null(v);
		}
	}
	assert_int_equal(hash_map_count(m), count);
}

/*
 * Hashes from a handful of values near the end of a small table, so probe
 * runs are long and wrap past the last slot; random inserts and removes
 * (and removals during iteration) are checked against the in_map flags.
 */
static void test_collisions_against_model(void **state)
{
	unsigned seed = 4242;

	(void)state;
	for (int round = 0; round < 200; round++) {
		struct hash_map m = HASH_MAP_INIT(&forced_by_id);
		struct hash_map_iter it = HASH_MAP_ITER_INIT;
		struct forced *v;

		for (uint32_t i = 0; i < FORCED_COUNT; i++) {
			forced[i].id = i;
			/* slots 13..15 of 16, 29..31 of 32, ...: home near the end */
			forced[i].hash = (uint64_t)-1 - (uint64_t)(rand_r(&seed) % 3) -
					 ((uint64_t)(rand_r(&seed) % 2) << 40);
			forced[i].in_map = false;
			forced[i].visits = 0;
		}
		for (int step = 0; step < 400; step++) {
			uint32_t i = (uint32_t)rand_r(&seed) % FORCED_COUNT;

			if (!forced[i].in_map) {
				assert_int_equal(hash_map_insert(&m, &forced[i].id, &forced[i]), 0);
				forced[i].in_map = true;
			} else {
				assert_ptr_equal(hash_map_remove(&m, &forced[i].id), &forced[i]);
				forced[i].in_map = false;
			}
			check_against_model(&m);
		}
		/* remove about half while iterating; nothing that stays is missed */
		while ((v = hash_map_next(&m, &it))) {
			v->visits++;
			if (rand_r(&seed) % 2) {
				assert_ptr_equal(hash_map_remove(&m, &v->id), v);
				v->in_map = false;
				check_against_model(&m);
			}
		}
		for (uint32_t i = 0; i < FORCED_COUNT; i++) {
			if (forced[i].in_map)
				assert_true(forced[i].visits >= 1);
			/* only a value moved back across the end is seen twice */
			assert_true(forced[i].visits <= 2);
		}
		hash_map_release(&m, NULL);
	}
}

/* Sequential IDs spread over a small table's slots (the mask keeps low bits). */
static void test_hashes_spread(void **state)
{
	static bool used[1024];
	size_t string_slots = 0, number_slots = 0;
	char key[32];

	(void)state;
	assert_true(hash_map_string_key_hash("node-1") == hash_map_hash_string("node-1"));
	memset(used, 0, sizeof(used));
	for (int i = 0; i < 1024; i++) {
		snprintf(key, sizeof(key), "node-%d", i);
		used[hash_map_hash_string(key) & 1023] = true;
	}
	for (int i = 0; i < 1024; i++)
		string_slots += used[i];
	memset(used, 0, sizeof(used));
	for (uint64_t i = 0; i < 1024; i++)
		used[hash_map_hash_u64(i << 32) & 1023] = true;
	for (int i = 0; i < 1024; i++)
		number_slots += used[i];
	/* random hashes fill about 1 - 1/e of the slots (647) */
	assert_true(string_slots > 550);
	assert_true(number_slots > 550);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_insert_find_remove),
		cmocka_unit_test(test_growth_many_keys),
		cmocka_unit_test(test_iteration_visits_each_once),
		cmocka_unit_test(test_remove_while_iterating),
		cmocka_unit_test(test_release_frees_values),
		cmocka_unit_test(test_leading_string_type),
		cmocka_unit_test(test_struct_keys),
		cmocka_unit_test(test_collisions_against_model),
		cmocka_unit_test(test_hashes_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * str_hash.h - the string hash for orch's small hash tables (FNV-1a,
 * 32 bits): fast, no allocation, good enough for IDs that are already
 * random hex.
 */
#ifndef ORCH_COMMON_STR_HASH_H
#define ORCH_COMMON_STR_HASH_H

static inline unsigned str_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

#endif

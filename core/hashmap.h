/* SPDX-License-Identifier: Apache-2.0 */
/* String-keyed hash map (open addressing, linear probing). Not thread-safe. */
#ifndef KN_HASHMAP_H
#define KN_HASHMAP_H

#include "util.h"

typedef struct kn_hashmap_entry {
        char *key; /* owned; NULL = empty slot */
        void *value;
} kn_hashmap_entry; /* 16 bytes: no stored hash (maps of 10k+ keys are common) */

typedef struct kn_hashmap {
        kn_hashmap_entry *slots;
        size_t cap, len, tombstones;
} kn_hashmap;

#define KN_HASHMAP_TOMBSTONE ((char *)1)

/* Returns the previous value (or NULL) in *ret_old when non-NULL. */
void kn_hashmap_put(kn_hashmap *m, const char *key, void *value, void **ret_old);
void *kn_hashmap_get(const kn_hashmap *m, const char *key);
/* Removes KEY; returns its value or NULL. */
void *kn_hashmap_remove(kn_hashmap *m, const char *key);
/* Frees keys and slots; values are the caller's (free_value may be NULL). */
void kn_hashmap_clear(kn_hashmap *m, void (*free_value)(void *));

/* Iteration: for (size_t i = 0; kn_hashmap_next(m, &i, &k, &v);) */
bool kn_hashmap_next(const kn_hashmap *m, size_t *iter, const char **ret_key, void **ret_value);

#endif

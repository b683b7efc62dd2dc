/* SPDX-License-Identifier: Apache-2.0 */
#include "hashmap.h"

static uint32_t hash_str(const char *s)
{
        uint32_t h = 2166136261u; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 16777619u;
        return h;
}

static bool live(const kn_hashmap_entry *e) { return e->key && e->key != KN_HASHMAP_TOMBSTONE; }

static kn_hashmap_entry *find(const kn_hashmap *m, const char *key, uint32_t h)
{
        if (!m->cap)
                return NULL;
        for (size_t i = h & (m->cap - 1), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
                kn_hashmap_entry *e = &m->slots[i];
                if (!e->key)
                        return NULL;
                if (live(e) && strcmp(e->key, key) == 0)
                        return e;
        }
        return NULL;
}

static void grow(kn_hashmap *m)
{
        kn_hashmap_entry *old = m->slots;
        size_t oldcap = m->cap;

        m->cap = m->cap ? m->cap * 2 : 16;
        while (m->len * 2 >= m->cap)
                m->cap *= 2;
        m->slots = kn_calloc(m->cap, sizeof(*m->slots));
        m->tombstones = 0;
        for (size_t i = 0; i < oldcap; i++) {
                if (!live(&old[i]))
                        continue;
                size_t j = hash_str(old[i].key) & (m->cap - 1);
                while (m->slots[j].key)
                        j = (j + 1) & (m->cap - 1);
                m->slots[j] = old[i];
        }
        free(old);
}

void kn_hashmap_put(kn_hashmap *m, const char *key, void *value, void **ret_old)
{
        uint32_t h = hash_str(key);
        kn_hashmap_entry *e = find(m, key, h);
        size_t i;

        if (e) {
                if (ret_old)
                        *ret_old = e->value;
                e->value = value;
                return;
        }
        if (ret_old)
                *ret_old = NULL;
        if ((m->len + m->tombstones + 1) * 4 >= m->cap * 3)
                grow(m);
        i = h & (m->cap - 1);
        while (live(&m->slots[i]))
                i = (i + 1) & (m->cap - 1);
        if (m->slots[i].key == KN_HASHMAP_TOMBSTONE)
                m->tombstones--;
        m->slots[i] = (kn_hashmap_entry){kn_strdup(key), value};
        m->len++;
}

void *kn_hashmap_get(const kn_hashmap *m, const char *key)
{
        kn_hashmap_entry *e = find(m, key, hash_str(key));
        return e ? e->value : NULL;
}

void *kn_hashmap_remove(kn_hashmap *m, const char *key)
{
        kn_hashmap_entry *e = find(m, key, hash_str(key));
        void *v;

        if (!e)
                return NULL;
        v = e->value;
        free(e->key);
        e->key = KN_HASHMAP_TOMBSTONE;
        e->value = NULL;
        m->len--;
        m->tombstones++;
        return v;
}

void kn_hashmap_clear(kn_hashmap *m, void (*free_value)(void *))
{
        for (size_t i = 0; i < m->cap; i++)
                if (live(&m->slots[i])) {
                        free(m->slots[i].key);
                        if (free_value)
                                free_value(m->slots[i].value);
                }
        free(m->slots);
        *m = (kn_hashmap){0};
}

bool kn_hashmap_next(const kn_hashmap *m, size_t *iter, const char **ret_key, void **ret_value)
{
        for (; *iter < m->cap; (*iter)++)
                if (live(&m->slots[*iter])) {
                        if (ret_key)
                                *ret_key = m->slots[*iter].key;
                        if (ret_value)
                                *ret_value = m->slots[*iter].value;
                        (*iter)++;
                        return true;
                }
        return false;
}

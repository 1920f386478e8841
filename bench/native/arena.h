/*
 * assembly/arena.ts's object arena in C, for the native references: a tagged Treiber
 * stack of free objects over a bump pointer of never-used ones. Objects are `size`
 * bytes from `base`; while an object is free, the u32 at `link` bytes into it holds the
 * next free index + 1 (0: none). The head is tag << 32 | (index + 1): the tag, bumped by
 * every successful cmpxchg, makes a stale `next` (the object popped and reused
 * meanwhile) fail the cmpxchg instead of corrupting the stack (ABA).
 *
 *   line 0  head    u64   tag << 32 | (first free index + 1), 0 = empty
 *   line 1  base, count, unused (the first index never handed out)
 *
 * `size` and `link` are passed by each call, so that an inlined call with constants
 * turns the index arithmetic into shifts.
 */
#ifndef KWQ_NATIVE_ARENA_H
#define KWQ_NATIVE_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include "kernel.h"

struct arena {
	uint64_t head __attribute__((aligned(CACHELINE)));
	char *base __attribute__((aligned(CACHELINE)));
	uint32_t count;
	uint32_t unused;
};

static inline uint32_t *arena_link(const struct arena *a, uint32_t idx, size_t size, size_t link)
{
	return (uint32_t *)(void *)(a->base + (size_t)idx * size + link);
}

static inline uint32_t arena_index(const struct arena *a, const void *obj, size_t size)
{
	return (uint32_t)(((const char *)obj - a->base) / size);
}

/* arena_alloc: an object (not zeroed), or NULL when the arena is exhausted */
static inline void *arena_alloc(struct arena *a, size_t size, size_t link)
{
	uint64_t old = __atomic_load_n(&a->head, SEQ);
	for (;;) {
		uint32_t idx = (uint32_t)old;
		if (idx == 0) { /* arena_bump */
			uint32_t u = __atomic_load_n(&a->unused, SEQ);
			while (u < a->count) {
				if (__atomic_compare_exchange_n(&a->unused, &u, u + 1, 0, SEQ, SEQ))
					return a->base + (size_t)u * size;
			}
			return NULL;
		}
		/* may be stale (popped and reused meanwhile): the tagged cmpxchg rejects it */
		uint32_t next = __atomic_load_n(arena_link(a, idx - 1, size, link), __ATOMIC_RELAXED);
		uint64_t nw = ((uint64_t)((uint32_t)(old >> 32) + 1) << 32) | next;
		if (__atomic_compare_exchange_n(&a->head, &old, nw, 0, SEQ, SEQ))
			return a->base + (size_t)(idx - 1) * size;
	}
}

/* arena_free_batch: the n objects linked into one chain, pushed with one cmpxchg */
static inline void arena_free_batch(struct arena *a, void *const *objs, uint32_t n, size_t size, size_t link)
{
	if (n == 0)
		return;
	for (uint32_t i = 0; i + 1 < n; i++)
		__atomic_store_n(arena_link(a, arena_index(a, objs[i], size), size, link), arena_index(a, objs[i + 1], size) + 1, __ATOMIC_RELAXED);
	uint32_t *last = arena_link(a, arena_index(a, objs[n - 1], size), size, link);
	uint32_t first = arena_index(a, objs[0], size) + 1;
	uint64_t old = __atomic_load_n(&a->head, SEQ);
	for (;;) {
		__atomic_store_n(last, (uint32_t)old, __ATOMIC_RELAXED); /* private until the cmpxchg publishes it */
		uint64_t nw = ((uint64_t)((uint32_t)(old >> 32) + 1) << 32) | first;
		if (__atomic_compare_exchange_n(&a->head, &old, nw, 0, SEQ, SEQ))
			return;
	}
}

#endif

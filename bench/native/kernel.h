/*
 * What every native reference needs (the .c files of bench/native): sequentially consistent
 * atomics, the clock, the thread's CPU accounting, futex(2), and the kernel's llist
 * and bitops with the semantics kwq's Wasm has (assembly/llist.ts, assembly/bitops.ts).
 * Header-only: each .c file gets its own static copies, and the compiler inlines them.
 */
#ifndef KWQ_NATIVE_KERNEL_H
#define KWQ_NATIVE_KERNEL_H

#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SEQ __ATOMIC_SEQ_CST
#define CACHELINE 64

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void die(const char *what)
{
	fprintf(stderr, "kwq-native: %s\n", what);
	exit(2);
}

/* this thread's CPU ns and ns runnable but waiting for a CPU (/proc/thread-self/schedstat) */
struct cpu_t {
	uint64_t run, wait;
};

/* a thread's CPU ns and ns runnable but waiting for a CPU from its schedstat file (0 0 where there is none) */
static inline struct cpu_t schedstat_read(const char *path)
{
	struct cpu_t c = { 0, 0 };
	FILE *f = fopen(path, "r");
	if (f) {
		unsigned long long a, b;
		if (fscanf(f, "%llu %llu", &a, &b) == 2) {
			c.run = a;
			c.wait = b;
		}
		fclose(f);
	}
	return c;
}

static inline struct cpu_t thread_cpu(void)
{
	return schedstat_read("/proc/thread-self/schedstat");
}

/* keep the optimiser from dropping a computed value */
static volatile uint64_t sink __attribute__((unused));

/* ---- llist (include/linux/llist.h semantics) -------------------------------- */

struct llist_node {
	struct llist_node *next;
};

static inline int llist_add_batch(struct llist_node *first, struct llist_node *last, struct llist_node **head)
{
	struct llist_node *old = __atomic_load_n(head, SEQ);
	do {
		last->next = old; /* private until the cmpxchg publishes it */
	} while (!__atomic_compare_exchange_n(head, &old, first, 0, SEQ, SEQ));
	return old == NULL;
}

static inline int llist_add(struct llist_node *n, struct llist_node **head)
{
	return llist_add_batch(n, n, head);
}

static inline struct llist_node *llist_del_all(struct llist_node **head)
{
	return __atomic_exchange_n(head, NULL, SEQ);
}

static inline struct llist_node *llist_reverse_order(struct llist_node *n)
{
	struct llist_node *prev = NULL;
	while (n) {
		struct llist_node *next = n->next;
		n->next = prev;
		prev = n;
		n = next;
	}
	return prev;
}

/* ---- bitops (asm-generic/bitops/atomic.h semantics, with the early read) ---- */

static inline int test_and_set_bit(unsigned nr, uint32_t *w)
{
	uint32_t m = 1u << nr;
	if (__atomic_load_n(w, SEQ) & m)
		return 1;
	return (__atomic_fetch_or(w, m, SEQ) & m) != 0;
}

static inline int test_and_clear_bit(unsigned nr, uint32_t *w)
{
	uint32_t m = 1u << nr;
	return (__atomic_fetch_and(w, ~m, SEQ) & m) != 0;
}

/* ---- futex(2) ---------------------------------------------------------------- */

static inline long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

/* ---- assembly/spinlock.ts: test-and-test-and-set, no pause ----------------------- */

static inline void spin_lock(uint32_t *l)
{
	for (;;) {
		uint32_t e = 0;
		/* the read is a hint; the cmpxchg decides (pairs with spin_unlock's store) */
		if (__atomic_load_n(l, SEQ) == 0 && __atomic_compare_exchange_n(l, &e, 1, 0, SEQ, SEQ))
			return;
	}
}

static inline void spin_unlock(uint32_t *l)
{
	__atomic_store_n(l, 0, SEQ); /* Wasm's atomic.store is seq-cst too */
}

#endif

/*
 * io_uring's io-wq in C: the native reference of bench/io-wq.ts, the same algorithm
 * kwq runs in Wasm (assembly/io-wq.ts, after io_uring/io-wq.c of 6.12; 6.1 keeps the
 * same rules under io_wqe): io_wq_enqueue onto the acct's work list under acct->lock,
 * hashed works (io_wq_hash_work, the hash_tail add-after in io_wq_insert_work,
 * io_get_next_work's test_and_set_bit on the hash map and wq_list_cut of the whole
 * chain, the fast-forward past an owned hash, IO_ACCT_STALLED_BIT with
 * io_wait_on_hash's re-test), io_worker_handle_work's chain loop with the hash
 * release and the stalled-acct wake of io_wq_work_done, the free-worker claim
 * (FREE -> BUSY cmpxchg + FUTEX_WAKE) and io_wq_worker_loop's read-only spin, free
 * list and futex sleep. Written for this repository from kwq's Wasm and the kernel's
 * io-wq.c (function names kept), not copied from the kernel.
 *
 *   kwq-native io-wq single unhashed|hashed N REPS [WARM]
 *       bench/io-wq.ts's one-thread figure: per rep, N works INIT_WQ_WORK'd (NOP),
 *       hashed over keys i & 15 when hashed, io_wq_enqueue'd one by one, then one
 *       io_worker_handle_work on the one attached worker slot runs them all; WARM
 *       (default 1) untimed reps first, then each rep timed alone.
 *   kwq-native io-wq threads PRODUCERS WORKERS COUNT KEYS BATCH COST_SPINS SPIN
 *       src/runtime/io-wq-threads.ts on pthreads: a fixed pool of WORKERS workers
 *       (nr_workers = max_workers) in io_wq_worker_loop, PRODUCERS producers
 *       io_wq_enqueue'ing BATCH works per io_wq_enqueue_batch call after a start
 *       gate; each work is IO_WQ_FN_CHECK (per-key overlap and order check, COST_SPINS
 *       iterations inside), hashed by key, keys owned one producer each (KEYS 0:
 *       unhashed IO_WQ_FN_SPIN works).
 *
 * What is the same as kwq (so that kwq/C compares implementations, not work):
 *  - the algorithm and its atomics operation for operation, all sequentially
 *    consistent as Wasm's are; the spinlock is assembly/spinlock.ts's
 *    test-and-test-and-set with no pause instruction (Wasm has none);
 *  - one distinct io_wq_work per item, the same field set; the io_wq and io_wq_acct
 *    line layout (lock/state/hash map on line 0, each acct on its own line, the
 *    worker slots packed after hash_tail[]);
 *  - the same item counts, keys, key-to-producer split, seq per key, batch, spin
 *    iterations and worker/producer numbers (given on the command line by
 *    bench/io-wq.ts from the figures it prints beside);
 *  - the threads figure's clock: from opening the gate until the main thread, polling
 *    every 1 ms as io-wq-threads.ts does, sees every work done. The exact moment the
 *    last work was done (stamped by the worker that did it) is printed beside it.
 * What differs: pointers instead of 32-bit offsets (io_wq_work is 40 bytes here, 32
 * in Wasm; a worker slot 24 bytes, 16 in Wasm); producers pass their own array of
 * work pointers to io_wq_enqueue_batch (kwq's copy them into the thread's scratch
 * array first); the worker sleeps in FUTEX_WAIT on its slot word where kwq's sleeps in
 * memory.atomic.wait32 (V8's futex emulation).
 *
 * Every run checks itself: every work's run count must end at 1 (exactly once), and
 * with keys, no two works of a key inside at once, each the next of its key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "io-wq.h"
#include "kernel.h"

#define IO_WQ_BIT_EXIT 0
#define IO_ACCT_STALLED_BIT 0
#define IO_WQ_WORK_CANCEL 1u
#define IO_WQ_WORK_HASHED 2u
#define IO_WQ_WORK_UNBOUND 4u
#define IO_WQ_WORK_CONCURRENT 16u
#define IO_WQ_HASH_SHIFT 24
#define IO_WQ_HASH_ORDER 6
#define IO_WQ_NR_HASH_BUCKETS (1u << IO_WQ_HASH_ORDER)
#define IO_WQ_MAX_SLOTS 64u
#define NO_HASH 0xffffffffu

enum { IO_WQ_ACCT_BOUND = 0, IO_WQ_ACCT_UNBOUND = 1 };
enum { IO_WORKER_NONE = 0, IO_WORKER_BUSY = 1, IO_WORKER_FREE = 2 };
enum { IO_WQ_FN_NOP = 0, IO_WQ_FN_SPIN = 1, IO_WQ_FN_COUNT = 2, IO_WQ_FN_CHECK = 3 };
/* io_wq_enqueue's answer */
enum { ENQ_QUEUED = 1, ENQ_WOKE = 2, ENQ_CANCEL = 4, ENQ_CREATE = 8 };
/* io_wq_worker_loop's answer (no HOST works here: 1 never comes back) */
enum { LOOP_TIMEOUT = 2, LOOP_EXIT = 3 };

struct io_wq_work {
	struct io_wq_work *next; /* io_wq_work_node */
	uint32_t flags;          /* CANCEL, HASHED, UNBOUND, CONCURRENT; hash << 24 */
	uint32_t fn;
	uint32_t arg;  /* SPIN: iterations; COUNT: counter; CHECK: the key (its io_wq_check) */
	uint32_t cost; /* CHECK: spin iterations inside the section */
	uint32_t owner;
	uint32_t seq; /* CHECK: order within its key */
	uint32_t runs; /* times it ran: exactly-once must leave 1 */
};

/* what an IO_WQ_FN_CHECK work checks while it runs: one per key, one line each */
struct io_wq_check {
	uint32_t active, next, overlaps, reorders, runs;
} __attribute__((aligned(CACHELINE)));

struct io_wq_acct {
	uint32_t lock;  /* acct->lock: work_list and the hash tails of its works */
	uint32_t flags; /* IO_ACCT_STALLED_BIT */
	struct io_wq_work *first, *last;
	uint32_t nr_workers, max_workers; /* under wq->lock */
	uint32_t nr_running;              /* atomic_t */
	uint32_t nr_free;                 /* under wq->lock */
	uint32_t enqueued, taken, stalls, creates, done; /* statistics */
} __attribute__((aligned(CACHELINE)));

struct io_worker_slot {
	uint32_t state; /* NONE / BUSY / FREE: the futex word a FREE worker sleeps on */
	uint32_t acct;
	struct io_wq_work *next; /* the rest of the chain it runs */
	uint32_t runs;
};

struct io_wq {
	uint32_t lock;  /* wq->lock: nr_workers, nr_free, slot FREE<->NONE */
	uint32_t state; /* IO_WQ_BIT_EXIT */
	uint64_t hash_map; /* wq->hash->map */
	uint32_t slots_used;
	struct io_wq_acct acct[2] __attribute__((aligned(CACHELINE)));
	struct io_wq_work *hash_tail[IO_WQ_NR_HASH_BUCKETS];
	struct io_worker_slot slot[IO_WQ_MAX_SLOTS];
} __attribute__((aligned(CACHELINE)));

/* per run: the check records (IO_WQ_FN_CHECK's arg indexes them) and the exact end */
static struct io_wq_check *check_base;
static uint64_t counters[8];
static uint32_t done_target; /* the done count whose work stamps done_ns (0: none) */
static uint64_t done_ns;

static inline int is_hashed(uint32_t flags)
{
	return (flags & IO_WQ_WORK_HASHED) != 0;
}

static inline struct io_wq_acct *work_acct(struct io_wq *wq, const struct io_wq_work *work)
{
	return &wq->acct[(work->flags & IO_WQ_WORK_UNBOUND) ? IO_WQ_ACCT_UNBOUND : IO_WQ_ACCT_BOUND];
}

/* io_wq_create's part: both accts empty, max_workers bounded / unbounded */
static void io_wq_init(struct io_wq *wq, uint32_t bounded, uint32_t unbounded)
{
	memset(wq, 0, sizeof(*wq));
	wq->acct[IO_WQ_ACCT_BOUND].max_workers = bounded;
	wq->acct[IO_WQ_ACCT_UNBOUND].max_workers = unbounded;
	__atomic_store_n(&wq->lock, 0, SEQ);
}

/* INIT_WQ_WORK */
static inline void io_wq_work_init(struct io_wq_work *work, uint32_t fn, uint32_t arg, uint32_t cost)
{
	work->next = NULL;
	work->flags = 0;
	work->fn = fn;
	work->arg = arg;
	work->cost = cost;
	work->owner = 0;
	work->seq = 0;
	work->runs = 0;
}

/* hash_32 (include/linux/hash.h, GOLDEN_RATIO_32) */
static inline uint32_t hash_32(uint32_t val, unsigned bits)
{
	return (val * 0x61C88647u) >> (32 - bits);
}

/* io_wq_hash_work: the model hashes the key (the kernel: file_inode(file) with hash_ptr) */
static inline uint32_t io_wq_hash_work(struct io_wq_work *work, uint32_t key)
{
	uint32_t bit = hash_32(key, IO_WQ_HASH_ORDER);
	work->flags |= IO_WQ_WORK_HASHED | (bit << IO_WQ_HASH_SHIFT);
	return bit;
}

/* io_wq_insert_work, under acct->lock: a hashed work goes right after its hash's tail */
static inline void insert_work(struct io_wq *wq, struct io_wq_acct *acct, struct io_wq_work *work)
{
	uint32_t flags = work->flags;
	work->next = NULL;
	if (is_hashed(flags)) {
		uint32_t h = flags >> IO_WQ_HASH_SHIFT;
		struct io_wq_work *tail = wq->hash_tail[h];
		wq->hash_tail[h] = work;
		if (tail) { /* wq_list_add_after */
			struct io_wq_work *next = tail->next;
			work->next = next;
			tail->next = work;
			if (!next)
				acct->last = work;
			return;
		}
	}
	/* wq_list_add_tail */
	if (!acct->last)
		acct->first = work;
	else
		acct->last->next = work;
	acct->last = work;
}

/* io_wq_activate_free_worker, under wq->lock: claim a FREE worker (FREE -> BUSY) and wake it; slot + 1 or 0 */
static uint32_t activate_free_worker(struct io_wq *wq, uint32_t index)
{
	uint32_t n = wq->slots_used;
	for (uint32_t i = 0; i < n; i++) {
		struct io_worker_slot *s = &wq->slot[i];
		if (s->acct != index)
			continue;
		uint32_t exp = IO_WORKER_FREE;
		/* wake_up_process() is true only for a sleeper: the cmpxchg is that test */
		if (__atomic_compare_exchange_n(&s->state, &exp, IO_WORKER_BUSY, 0, SEQ, SEQ)) {
			wq->acct[index].nr_free--;
			futex(&s->state, FUTEX_WAKE_PRIVATE, 1, NULL);
			return i + 1;
		}
	}
	return 0;
}

/* io_wq_create_worker's reservation: nr_workers++ under wq->lock if below max */
static inline int reserve_worker(struct io_wq *wq, struct io_wq_acct *acct)
{
	spin_lock(&wq->lock);
	uint32_t nr = acct->nr_workers;
	int ok = nr < acct->max_workers && nr < IO_WQ_MAX_SLOTS;
	if (ok)
		acct->nr_workers = nr + 1;
	spin_unlock(&wq->lock);
	return ok;
}

/* io_wq_enqueue: ENQ_* flags; the claimed slot + 1 in *slot_out */
static inline uint32_t io_wq_enqueue(struct io_wq *wq, struct io_wq_work *work, uint32_t *slot_out)
{
	uint32_t flags = work->flags;
	if ((__atomic_load_n(&wq->state, SEQ) & (1u << IO_WQ_BIT_EXIT)) || (flags & IO_WQ_WORK_CANCEL))
		return ENQ_CANCEL;
	uint32_t index = (flags & IO_WQ_WORK_UNBOUND) ? IO_WQ_ACCT_UNBOUND : IO_WQ_ACCT_BOUND;
	struct io_wq_acct *acct = &wq->acct[index];
	spin_lock(&acct->lock);
	insert_work(wq, acct, work);
	__atomic_fetch_and(&acct->flags, ~(1u << IO_ACCT_STALLED_BIT), SEQ); /* clear_bit */
	spin_unlock(&acct->lock);
	__atomic_fetch_add(&acct->enqueued, 1, SEQ);
	spin_lock(&wq->lock);
	uint32_t woke = activate_free_worker(wq, index);
	spin_unlock(&wq->lock);
	if (woke) {
		*slot_out = woke;
		return ENQ_QUEUED | ENQ_WOKE;
	}
	*slot_out = 0;
	if ((flags & IO_WQ_WORK_CONCURRENT) || __atomic_load_n(&acct->nr_running, SEQ) == 0) {
		if (reserve_worker(wq, acct)) {
			__atomic_fetch_add(&acct->nr_running, 1, SEQ);
			__atomic_fetch_add(&acct->creates, 1, SEQ);
			return ENQ_QUEUED | ENQ_CREATE;
		}
	}
	return ENQ_QUEUED;
}

/* io_acct_run_queue: work queued and not stalled on a hash */
static inline int io_acct_run_queue(struct io_wq *wq, uint32_t index)
{
	struct io_wq_acct *acct = &wq->acct[index];
	spin_lock(&acct->lock);
	int ret = __atomic_load_n(&acct->first, SEQ) != NULL &&
		  !(__atomic_load_n(&acct->flags, SEQ) & (1u << IO_ACCT_STALLED_BIT));
	spin_unlock(&acct->lock);
	return ret;
}

/* wq_list_cut: remove the chain after `prev` (NULL: at the head) ending at `last` */
static inline void cut(struct io_wq_acct *acct, struct io_wq_work *last, struct io_wq_work *prev)
{
	struct io_wq_work *after = last->next;
	if (!prev)
		acct->first = after;
	else
		prev->next = after;
	if (last == acct->last)
		acct->last = prev;
	last->next = NULL;
}

/*
 * io_get_next_work with io_worker_handle_work's locking: the first runnable work; a
 * hashed one whose hash is free takes the hash bit and the whole chain [work .. tail].
 */
static struct io_wq_work *io_get_next_work(struct io_wq *wq, uint32_t index)
{
	struct io_wq_acct *acct = &wq->acct[index];
	spin_lock(&acct->lock);
	struct io_wq_work *prev = NULL, *node = acct->first;
	uint32_t stall_hash = NO_HASH;
	while (node) {
		uint32_t flags = node->flags;
		if (!is_hashed(flags)) {
			cut(acct, node, prev);
			spin_unlock(&acct->lock);
			__atomic_fetch_add(&acct->taken, 1, SEQ);
			return node;
		}
		uint32_t hash = flags >> IO_WQ_HASH_SHIFT;
		struct io_wq_work *tail = wq->hash_tail[hash];
		uint64_t bit = 1ull << hash;
		if (!(__atomic_fetch_or(&wq->hash_map, bit, SEQ) & bit)) { /* test_and_set_bit */
			wq->hash_tail[hash] = NULL;
			cut(acct, tail, prev);
			spin_unlock(&acct->lock);
			__atomic_fetch_add(&acct->taken, 1, SEQ);
			return node;
		}
		if (stall_hash == NO_HASH)
			stall_hash = hash;
		prev = tail; /* fast-forward past this hash's chain */
		node = tail->next;
	}
	if (stall_hash != NO_HASH) {
		__atomic_fetch_or(&acct->flags, 1u << IO_ACCT_STALLED_BIT, SEQ); /* set_bit */
		__atomic_fetch_add(&acct->stalls, 1, SEQ);
		/* io_wait_on_hash: released before STALLED was set? */
		if (!(__atomic_load_n(&wq->hash_map, SEQ) & (1ull << stall_hash)))
			__atomic_fetch_and(&acct->flags, ~(1u << IO_ACCT_STALLED_BIT), SEQ);
	}
	spin_unlock(&acct->lock);
	return NULL;
}

/*
 * After do_work: count the run; the last of a hashed chain releases the hash, clears
 * STALLED on both accts (io_wq_hash_wake) and wakes a free worker of a stalled one.
 */
static inline struct io_wq_work *io_wq_work_done(struct io_wq *wq, struct io_wq_work *work, uint32_t *slot_out)
{
	uint32_t flags = work->flags;
	struct io_wq_work *next = work->next; /* wq_next_work, before the work may be freed */
	__atomic_fetch_add(&work->runs, 1, SEQ);
	if (__atomic_add_fetch(&work_acct(wq, work)->done, 1, SEQ) == done_target)
		__atomic_store_n(&done_ns, now_ns(), SEQ); /* the exact end of a threads run */
	*slot_out = 0;
	if (is_hashed(flags) && !next) {
		uint32_t hash = flags >> IO_WQ_HASH_SHIFT;
		__atomic_fetch_and(&wq->hash_map, ~(1ull << hash), SEQ); /* clear_bit */
		for (uint32_t i = 0; i < 2; i++) {
			struct io_wq_acct *a = &wq->acct[i];
			if (__atomic_fetch_and(&a->flags, ~(1u << IO_ACCT_STALLED_BIT), SEQ) & (1u << IO_ACCT_STALLED_BIT)) {
				spin_lock(&wq->lock);
				uint32_t s = activate_free_worker(wq, i);
				spin_unlock(&wq->lock);
				if (s)
					*slot_out = s;
			}
		}
	}
	return next;
}

/* io_init_new_worker (reserve: also nr_workers++, nr_running++ for a fixed pool); the slot or -1 */
static int io_wq_worker_attach(struct io_wq *wq, uint32_t index, int reserve)
{
	spin_lock(&wq->lock);
	if (reserve) {
		wq->acct[index].nr_workers++;
		__atomic_fetch_add(&wq->acct[index].nr_running, 1, SEQ);
	}
	uint32_t used = wq->slots_used;
	int slot = -1;
	for (uint32_t i = 0; i < IO_WQ_MAX_SLOTS; i++) {
		struct io_worker_slot *s = &wq->slot[i];
		if (i < used && s->state != IO_WORKER_NONE)
			continue;
		s->acct = index;
		s->next = NULL;
		s->runs = 0;
		__atomic_store_n(&s->state, IO_WORKER_BUSY, SEQ);
		if (i >= used)
			wq->slots_used = i + 1;
		slot = (int)i;
		break;
	}
	spin_unlock(&wq->lock);
	return slot;
}

/* __io_worker_idle: on the free list (FREE) */
static void io_wq_worker_idle(struct io_wq *wq, uint32_t slot)
{
	struct io_worker_slot *s = &wq->slot[slot];
	spin_lock(&wq->lock);
	if (s->state == IO_WORKER_BUSY) {
		wq->acct[s->acct].nr_free++;
		__atomic_store_n(&s->state, IO_WORKER_FREE, SEQ);
	}
	spin_unlock(&wq->lock);
}

/* __io_worker_busy: off the free list itself; 1 if it was FREE */
static uint32_t io_wq_worker_busy(struct io_wq *wq, uint32_t slot)
{
	struct io_worker_slot *s = &wq->slot[slot];
	spin_lock(&wq->lock);
	uint32_t exp = IO_WORKER_FREE;
	int was = __atomic_compare_exchange_n(&s->state, &exp, IO_WORKER_BUSY, 0, SEQ, SEQ);
	if (was)
		wq->acct[s->acct].nr_free--;
	spin_unlock(&wq->lock);
	return (uint32_t)was;
}

/* the idle-timeout exit: "exit if we're not the last worker" */
static uint32_t io_wq_worker_timeout(struct io_wq *wq, uint32_t slot)
{
	struct io_worker_slot *s = &wq->slot[slot];
	spin_lock(&wq->lock);
	struct io_wq_acct *acct = &wq->acct[s->acct];
	uint32_t exit = 0;
	if (acct->nr_workers > 1 && s->state == IO_WORKER_FREE) {
		acct->nr_workers--;
		acct->nr_free--;
		__atomic_store_n(&s->state, IO_WORKER_NONE, SEQ);
		exit = 1;
	}
	spin_unlock(&wq->lock);
	return exit;
}

/* io_worker_exit: slot NONE, nr_workers-- */
static void io_wq_worker_exit(struct io_wq *wq, uint32_t slot)
{
	struct io_worker_slot *s = &wq->slot[slot];
	spin_lock(&wq->lock);
	struct io_wq_acct *acct = &wq->acct[s->acct];
	uint32_t st = s->state;
	if (st != IO_WORKER_NONE) {
		if (st == IO_WORKER_FREE)
			acct->nr_free--;
		acct->nr_workers--;
		__atomic_store_n(&s->state, IO_WORKER_NONE, SEQ);
	}
	spin_unlock(&wq->lock);
}

static inline void io_wq_inc_running(struct io_wq *wq, uint32_t index)
{
	__atomic_fetch_add(&wq->acct[index].nr_running, 1, SEQ);
}

/* io_wq_dec_running: 1 when the last running worker sleeps with work runnable and one was reserved */
static uint32_t io_wq_dec_running(struct io_wq *wq, uint32_t index)
{
	struct io_wq_acct *acct = &wq->acct[index];
	if (__atomic_fetch_sub(&acct->nr_running, 1, SEQ) != 1)
		return 0;
	if (!io_acct_run_queue(wq, index))
		return 0;
	if (!reserve_worker(wq, acct))
		return 0;
	__atomic_fetch_add(&acct->nr_running, 1, SEQ);
	__atomic_fetch_add(&acct->creates, 1, SEQ);
	return 1;
}

/* create_io_worker failed: undo the reservation; the nr_workers left */
static uint32_t io_wq_create_failed(struct io_wq *wq, uint32_t index)
{
	struct io_wq_acct *acct = &wq->acct[index];
	__atomic_fetch_sub(&acct->nr_running, 1, SEQ);
	spin_lock(&wq->lock);
	uint32_t nr = --acct->nr_workers;
	spin_unlock(&wq->lock);
	return nr;
}

/* io_wq_exit_start: IO_WQ_BIT_EXIT, then claim and wake every FREE worker */
static void io_wq_exit_start(struct io_wq *wq)
{
	__atomic_fetch_or(&wq->state, 1u << IO_WQ_BIT_EXIT, SEQ);
	spin_lock(&wq->lock);
	uint32_t n = wq->slots_used;
	for (uint32_t i = 0; i < n; i++) {
		struct io_worker_slot *s = &wq->slot[i];
		uint32_t exp = IO_WORKER_FREE;
		if (__atomic_compare_exchange_n(&s->state, &exp, IO_WORKER_BUSY, 0, SEQ, SEQ))
			wq->acct[s->acct].nr_free--;
		futex(&s->state, FUTEX_WAKE_PRIVATE, 1, NULL);
	}
	spin_unlock(&wq->lock);
}

/* the built-in work functions (assembly/io-wq.ts run_builtin) */
static inline void run_builtin(struct io_wq_work *work)
{
	uint32_t fn = work->fn;
	if (fn == IO_WQ_FN_SPIN) {
		uint32_t x = work->seq, n = work->arg;
		for (uint32_t i = 0; i < n; i++)
			x = x * 1664525u + 1013904223u;
		work->seq = x;
	} else if (fn == IO_WQ_FN_COUNT) {
		__atomic_fetch_add(&counters[work->arg & 7], 1, SEQ);
	} else if (fn == IO_WQ_FN_CHECK) {
		struct io_wq_check *c = &check_base[work->arg];
		if (__atomic_fetch_add(&c->active, 1, SEQ) != 0)
			__atomic_fetch_add(&c->overlaps, 1, SEQ);
		uint32_t seq = work->seq;
		if (seq != __atomic_load_n(&c->next, SEQ))
			__atomic_fetch_add(&c->reorders, 1, SEQ);
		__atomic_store_n(&c->next, seq + 1, SEQ);
		uint32_t x = seq, n = work->cost;
		for (uint32_t i = 0; i < n; i++)
			x = x * 1664525u + 1013904223u;
		work->owner = x; /* keeps the spin */
		__atomic_fetch_add(&c->runs, 1, SEQ);
		__atomic_fetch_sub(&c->active, 1, SEQ);
	}
}

/* io_worker_handle_work: run chains until the acct has nothing runnable */
static void io_worker_handle_work(struct io_wq *wq, uint32_t slot, uint32_t *scratch)
{
	struct io_worker_slot *s = &wq->slot[slot];
	uint32_t index = s->acct;
	struct io_wq_work *work = s->next;
	s->next = NULL;
	for (;;) {
		if (!work)
			work = io_get_next_work(wq, index);
		if (!work)
			return;
		while (work) {
			run_builtin(work);
			s->runs++;
			work = io_wq_work_done(wq, work, scratch);
		}
	}
}

struct loop_stats {
	uint64_t sleeps; /* futex waits entered */
	uint64_t idles;  /* times it went on the free list */
};

/*
 * io_wq_worker for a thread (assembly/io-wq.ts io_wq_worker_loop): handle work, a
 * read-only spin of `spin` checks, then the free list and a futex sleep on the slot
 * word (timeout_us < 0: no timeout). LOOP_TIMEOUT (slot NONE already) or LOOP_EXIT.
 */
static uint32_t io_wq_worker_loop(struct io_wq *wq, uint32_t slot, uint32_t spin, int32_t timeout_us, struct loop_stats *st)
{
	struct io_worker_slot *s = &wq->slot[slot];
	uint32_t index = s->acct;
	struct io_wq_acct *acct = &wq->acct[index];
	uint32_t scratch = 0;
	for (;;) {
		io_worker_handle_work(wq, slot, &scratch);
		if (__atomic_load_n(&wq->state, SEQ) & (1u << IO_WQ_BIT_EXIT))
			return LOOP_EXIT;
		int seen = 0;
		for (uint32_t i = 0; i < spin; i++)
			if (__atomic_load_n(&acct->first, SEQ) != NULL) {
				seen = 1;
				break;
			}
		if (seen && io_acct_run_queue(wq, index))
			continue;
		io_wq_worker_idle(wq, slot);
		st->idles++;
		if (__atomic_load_n(&wq->state, SEQ) & (1u << IO_WQ_BIT_EXIT)) {
			io_wq_worker_busy(wq, slot);
			return LOOP_EXIT;
		}
		if (io_wq_dec_running(wq, index)) {
			/* the last running worker with work runnable runs it itself (kwq's DIVERGENCE) */
			io_wq_create_failed(wq, index);
			__atomic_fetch_add(&acct->nr_running, 1, SEQ);
			io_wq_worker_busy(wq, slot);
			continue;
		}
		if (io_acct_run_queue(wq, index)) {
			io_wq_worker_busy(wq, slot);
			io_wq_inc_running(wq, index);
			continue;
		}
		struct timespec ts, *tp = NULL;
		if (timeout_us >= 0) {
			ts.tv_sec = timeout_us / 1000000;
			ts.tv_nsec = (long)(timeout_us % 1000000) * 1000;
			tp = &ts;
		}
		st->sleeps++;
		long r = futex(&s->state, FUTEX_WAIT_PRIVATE, IO_WORKER_FREE, tp);
		int timed_out = r == -1 && errno == ETIMEDOUT;
		if (__atomic_load_n(&wq->state, SEQ) & (1u << IO_WQ_BIT_EXIT)) {
			io_wq_worker_busy(wq, slot);
			io_wq_inc_running(wq, index);
			return LOOP_EXIT;
		}
		if (timed_out && io_wq_worker_timeout(wq, slot))
			return LOOP_TIMEOUT;
		io_wq_worker_busy(wq, slot);
		io_wq_inc_running(wq, index);
	}
}

/* io_wq_enqueue_batch: (creates << 16) | wakes */
static uint32_t io_wq_enqueue_batch(struct io_wq *wq, struct io_wq_work **works, uint32_t n, uint32_t *slot_out)
{
	uint32_t creates = 0, wakes = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = io_wq_enqueue(wq, works[i], slot_out);
		creates += (r & ENQ_CREATE) != 0;
		wakes += (r & ENQ_WOKE) != 0;
	}
	return (creates << 16) | (wakes & 0xffff);
}

static void *xalloc(size_t bytes)
{
	void *p = NULL;
	if (posix_memalign(&p, CACHELINE, bytes ? bytes : CACHELINE)) {
		fprintf(stderr, "kwq-native io-wq: out of memory (%zu bytes)\n", bytes);
		exit(2);
	}
	memset(p, 0, bytes);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- one thread: bench/io-wq.ts's enqueue + handle_work figure ------------------------ */

static int cmd_single(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: kwq-native io-wq single unhashed|hashed N REPS [WARM]\n");
		return 2;
	}
	int hashed = !strcmp(argv[3], "hashed");
	if (!hashed && strcmp(argv[3], "unhashed")) {
		fprintf(stderr, "kwq-native io-wq single: mode must be hashed or unhashed\n");
		return 2;
	}
	uint32_t n = (uint32_t)strtoul(argv[4], NULL, 10), reps = (uint32_t)strtoul(argv[5], NULL, 10);
	uint32_t warm = argc > 6 ? (uint32_t)strtoul(argv[6], NULL, 10) : 1;
	if (n < 1 || reps < 1) {
		fprintf(stderr, "kwq-native io-wq single: N and REPS must be >= 1\n");
		return 2;
	}
	struct io_wq *wq = xalloc(sizeof(*wq));
	io_wq_init(wq, 4, 64);
	int slot = io_wq_worker_attach(wq, IO_WQ_ACCT_BOUND, 1);
	struct io_wq_work *pool = xalloc(sizeof(*pool) * n);
	struct io_wq_work **works = xalloc(sizeof(*works) * n);
	for (uint32_t i = 0; i < n; i++)
		works[i] = &pool[i];
	double *ns = xalloc(sizeof(double) * reps);
	double *ph[3] = { xalloc(sizeof(double) * reps), xalloc(sizeof(double) * reps), xalloc(sizeof(double) * reps) };
	uint32_t scratch = 0;
	uint64_t total = 0, never = 0, twice = 0;
	int sampled_ok = 1;
	done_target = 0;
	for (uint32_t r = 0; r < warm + reps; r++) { /* the first `warm` reps are not timed, as bench/io-wq.ts's */
		uint64_t t0 = now_ns();
		for (uint32_t i = 0; i < n; i++) {
			io_wq_work_init(works[i], IO_WQ_FN_NOP, 0, 0);
			if (hashed)
				io_wq_hash_work(works[i], i & 15);
		}
		uint64_t ta = now_ns();
		io_wq_enqueue_batch(wq, works, n, &scratch);
		uint64_t tb = now_ns();
		io_worker_handle_work(wq, (uint32_t)slot, &scratch);
		uint64_t tc = now_ns();
		for (uint32_t i = 0; i < n; i += 97) /* the same sample check as kwq's, inside the time */
			if (__atomic_load_n(&works[i]->runs, SEQ) != 1)
				sampled_ok = 0;
		uint64_t dt = now_ns() - t0;
		/* every work, outside the time */
		for (uint32_t i = 0; i < n; i++) {
			uint32_t k = works[i]->runs;
			never += k == 0;
			twice += k > 1;
		}
		if (r < warm)
			continue;
		total += dt;
		ph[0][r - warm] = (double)(ta - t0) / n;
		ph[1][r - warm] = (double)(tb - ta) / n;
		ph[2][r - warm] = (double)(tc - tb) / n;
		ns[r - warm] = (double)dt / n;
	}
	qsort(ns, reps, sizeof(double), cmp_double);
	for (int k = 0; k < 3; k++)
		qsort(ph[k], reps, sizeof(double), cmp_double);
	struct io_wq_acct *a = &wq->acct[IO_WQ_ACCT_BOUND];
	int left = a->first != NULL || wq->hash_map != 0;
	uint64_t expect = (uint64_t)n * (warm + reps);
	int ok = !never && !twice && sampled_ok && !left && a->done == expect && a->enqueued == expect;
	printf("{\"mode\":\"%s\",\"n\":%u,\"reps\":%u,\"warm\":%u,\"nsPerWork\":%.4f,\"medianNsPerWork\":%.4f,\"minNsPerWork\":%.4f,"
	       "\"initNs\":%.4f,\"enqueueNs\":%.4f,\"handleNs\":%.4f,"
	       "\"exactlyOnce\":%s,\"never\":%llu,\"twice\":%llu,\"done\":%u,\"taken\":%u,\"stalls\":%u,\"left\":%s}\n",
	       hashed ? "hashed" : "unhashed", n, reps, warm, (double)total / ((double)reps * n), ns[reps / 2], ns[0],
	       ph[0][reps / 2], ph[1][reps / 2], ph[2][reps / 2],
	       ok ? "true" : "false", (unsigned long long)never, (unsigned long long)twice, a->done, a->taken, a->stalls,
	       left ? "true" : "false");
	return 0;
}

/* ---- threads: src/runtime/io-wq-threads.ts on pthreads ------------------------------ */

/* the run's problems, one sentence each, for the JSON (no quotes or backslashes in them) */
struct problems {
	char text[1024];
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void problem(struct problems *p, const char *fmt, ...)
{
	if (p->len >= sizeof(p->text) - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->text + p->len, sizeof(p->text) - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n < sizeof(p->text) - p->len ? (size_t)n : sizeof(p->text) - 1 - p->len;
}

struct iw_thread {
	pthread_t th;
	struct io_wq *wq;
	uint32_t *gate, *ready;
	/* worker */
	uint32_t slot, spin, exit;
	struct loop_stats st;
	/* producer */
	struct io_wq_work **works;
	uint32_t nworks, batch;
	uint64_t calls, creates, wakes, ns, start_ns;
	/* producer: acct->taken / done when it finished enqueueing (which regime the round is in) */
	uint32_t taken_at_end, done_at_end;
	/* both: this thread's CPU and run-queue wait ns (/proc/thread-self/schedstat) */
	uint64_t cpu_ns, queue_ns;
} __attribute__((aligned(CACHELINE)));

/* this thread's CPU and run-queue wait ns so far (0 0 where /proc has no schedstat) */
static void thread_schedstat(uint64_t *cpu, uint64_t *queue)
{
	struct cpu_t c = thread_cpu(); /* kernel.h */
	*cpu = c.run;
	*queue = c.wait;
}

static void *iw_worker_main(void *arg)
{
	struct iw_thread *t = arg;
	uint64_t c0, q0;
	thread_schedstat(&c0, &q0);
	__atomic_fetch_add(t->ready, 1, SEQ);
	for (;;) {
		uint32_t r = io_wq_worker_loop(t->wq, t->slot, t->spin, -1, &t->st);
		if (r == LOOP_EXIT) {
			io_wq_worker_exit(t->wq, t->slot);
			t->exit = r;
			break;
		}
		if (r == LOOP_TIMEOUT) { /* not with timeout -1 */
			t->exit = r;
			break;
		}
	}
	thread_schedstat(&t->cpu_ns, &t->queue_ns);
	t->cpu_ns -= c0;
	t->queue_ns -= q0;
	return NULL;
}

static void *iw_producer_main(void *arg)
{
	struct iw_thread *t = arg;
	uint64_t c0, q0;
	thread_schedstat(&c0, &q0); /* a sleeping thread uses no CPU: the gate's reading (as io-wq-worker.js) */
	__atomic_fetch_add(t->ready, 1, SEQ);
	while (!__atomic_load_n(t->gate, SEQ))
		futex(t->gate, FUTEX_WAIT_PRIVATE, 0, NULL);
	uint64_t t0 = now_ns();
	t->start_ns = t0;
	uint32_t scratch = 0;
	for (uint32_t i = 0; i < t->nworks; i += t->batch) {
		uint32_t n = t->nworks - i < t->batch ? t->nworks - i : t->batch;
		uint32_t r = io_wq_enqueue_batch(t->wq, t->works + i, n, &scratch);
		t->creates += r >> 16;
		t->wakes += r & 0xffff;
		t->calls++;
	}
	t->ns = now_ns() - t0;
	t->taken_at_end = __atomic_load_n(&t->wq->acct[IO_WQ_ACCT_BOUND].taken, SEQ);
	t->done_at_end = __atomic_load_n(&t->wq->acct[IO_WQ_ACCT_BOUND].done, SEQ);
	thread_schedstat(&t->cpu_ns, &t->queue_ns);
	t->cpu_ns -= c0;
	t->queue_ns -= q0;
	return NULL;
}

static int cmd_threads(int argc, char **argv)
{
	if (argc < 10) {
		fprintf(stderr, "usage: kwq-native io-wq threads PRODUCERS WORKERS COUNT KEYS BATCH COST_SPINS SPIN\n");
		return 2;
	}
	uint32_t P = (uint32_t)strtoul(argv[3], NULL, 10), W = (uint32_t)strtoul(argv[4], NULL, 10);
	uint32_t count = (uint32_t)strtoul(argv[5], NULL, 10), keys = (uint32_t)strtoul(argv[6], NULL, 10);
	uint32_t batch = (uint32_t)strtoul(argv[7], NULL, 10), cost = (uint32_t)strtoul(argv[8], NULL, 10);
	uint32_t spin = (uint32_t)strtoul(argv[9], NULL, 10);
	if (P < 1 || P > 16 || W < 1 || W > IO_WQ_MAX_SLOTS || count < 1 || batch < 1) {
		fprintf(stderr, "kwq-native io-wq threads: producers 1..16, workers 1..64, count and batch >= 1\n");
		return 2;
	}
	if (keys && keys < P)
		keys = P; /* as io-wq-threads.ts: every producer owns a key */
	struct io_wq *wq = xalloc(sizeof(*wq));
	io_wq_init(wq, W, W);
	struct iw_thread *th = xalloc(sizeof(*th) * (P + W));
	for (uint32_t w = 0; w < W; w++)
		th[w].slot = (uint32_t)io_wq_worker_attach(wq, IO_WQ_ACCT_BOUND, 1);
	struct io_wq_work *pool = xalloc(sizeof(*pool) * count);
	check_base = xalloc(sizeof(struct io_wq_check) * (keys ? keys : 1));
	uint32_t *seq_of = xalloc(sizeof(uint32_t) * (keys ? keys : 1));
	struct io_wq_work **lists = xalloc(sizeof(*lists) * count);
	/* producer p queues works p, p+P, ...; its keys are p, p+P, ... */
	uint32_t at = 0;
	for (uint32_t p = 0; p < P; p++) {
		struct iw_thread *t = &th[W + p];
		t->works = lists + at;
		uint32_t j = 0;
		for (uint32_t i = p; i < count; i += P, j++) {
			struct io_wq_work *w = &pool[i];
			if (!keys) {
				io_wq_work_init(w, IO_WQ_FN_SPIN, cost, 0);
			} else {
				uint32_t my_keys = (keys - p + P - 1) / P;
				uint32_t key = p + P * (j % my_keys);
				io_wq_work_init(w, IO_WQ_FN_CHECK, key, cost);
				w->seq = seq_of[key]++;
				io_wq_hash_work(w, key);
			}
			lists[at++] = w;
		}
		t->nworks = j;
		t->batch = batch;
	}
	uint32_t gate = 0, ready = 0;
	done_target = count;
	__atomic_store_n(&done_ns, 0, SEQ);
	for (uint32_t i = 0; i < P + W; i++) {
		th[i].wq = wq;
		th[i].gate = &gate;
		th[i].ready = &ready;
		th[i].spin = spin;
		if (pthread_create(&th[i].th, NULL, i < W ? iw_worker_main : iw_producer_main, &th[i])) {
			fprintf(stderr, "kwq-native io-wq threads: pthread_create failed\n");
			return 2;
		}
	}
	while (__atomic_load_n(&ready, SEQ) < P + W) {
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	struct io_wq_acct *acct = &wq->acct[IO_WQ_ACCT_BOUND];
	uint64_t t0 = now_ns();
	__atomic_store_n(&gate, 1, SEQ);
	futex(&gate, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	int timed_out = 0;
	/* the main thread sleeps at once and checks every 1 ms, as io-wq-threads.ts does (Atomics.wait 1 ms) */
	while (__atomic_load_n(&acct->done, SEQ) + __atomic_load_n(&wq->acct[IO_WQ_ACCT_UNBOUND].done, SEQ) < count) {
		if (now_ns() - t0 > 60000000000ull) {
			timed_out = 1;
			break;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	uint64_t t1 = now_ns();
	io_wq_exit_start(wq);
	for (uint32_t i = 0; i < P + W; i++)
		pthread_join(th[i].th, NULL);
	uint64_t exact = __atomic_load_n(&done_ns, SEQ);

	struct problems pr = { "", 0 };
	if (timed_out)
		problem(&pr, "only %u of %u works were done within 60 s; ", acct->done, count);
	uint64_t never = 0, twice = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t k = pool[i].runs;
		never += k == 0;
		twice += k > 1;
	}
	if (never)
		problem(&pr, "%llu work(s) never ran; ", (unsigned long long)never);
	if (twice)
		problem(&pr, "%llu work(s) ran more than once; ", (unsigned long long)twice);
	uint64_t overlaps = 0, reorders = 0;
	for (uint32_t k = 0; k < keys; k++) {
		struct io_wq_check *c = &check_base[k];
		overlaps += c->overlaps;
		reorders += c->reorders;
		if (c->runs != seq_of[k])
			problem(&pr, "key %u: %u runs of %u works; ", k, c->runs, seq_of[k]);
		if (c->active)
			problem(&pr, "key %u: %u worker(s) still inside; ", k, c->active);
	}
	if (overlaps)
		problem(&pr, "%llu time(s) two works of one key ran at once; ", (unsigned long long)overlaps);
	if (reorders)
		problem(&pr, "%llu work(s) of a key ran out of queueing order; ", (unsigned long long)reorders);
	if (acct->enqueued != count || acct->done != count)
		problem(&pr, "acct counted %u enqueued, %u done, of %u; ", acct->enqueued, acct->done, count);
	if (acct->first)
		problem(&pr, "the work list is not empty; ");
	if (acct->nr_workers)
		problem(&pr, "nr_workers is %u after every worker exited; ", acct->nr_workers);
	if (wq->hash_map)
		problem(&pr, "a hash bit is still set; ");
	uint64_t sleeps = 0, idles = 0, wakes = 0, creates = 0, calls = 0, runs = 0, prod_ns = 0;
	uint64_t wk_cpu = 0, wk_queue = 0, pr_cpu = 0, pr_queue = 0;
	uint32_t taken_at_end = 0, done_at_end = 0;
	uint64_t start_lag = 0; /* the latest producer start after the gate opened */
	for (uint32_t w = 0; w < W; w++) {
		sleeps += th[w].st.sleeps;
		idles += th[w].st.idles;
		runs += wq->slot[th[w].slot].runs;
		wk_cpu += th[w].cpu_ns;
		wk_queue += th[w].queue_ns;
	}
	for (uint32_t p = 0; p < P; p++) {
		wakes += th[W + p].wakes;
		creates += th[W + p].creates;
		calls += th[W + p].calls;
		pr_cpu += th[W + p].cpu_ns;
		pr_queue += th[W + p].queue_ns;
		if (th[W + p].start_ns - t0 > start_lag)
			start_lag = th[W + p].start_ns - t0;
		if (th[W + p].ns > prod_ns) { /* the last producer to finish */
			prod_ns = th[W + p].ns;
			taken_at_end = th[W + p].taken_at_end;
			done_at_end = th[W + p].done_at_end;
		}
	}
	if (runs != count)
		problem(&pr, "the worker slots counted %llu runs of %u; ", (unsigned long long)runs, count);
	double ms = (double)(t1 - t0) / 1e6;
	double exact_ms = exact > t0 ? (double)(exact - t0) / 1e6 : ms;
	int once = !never && !twice && !timed_out;
	printf("{\"producers\":%u,\"workers\":%u,\"count\":%u,\"keys\":%u,\"batch\":%u,\"costSpins\":%u,\"spin\":%u,"
	       "\"ms\":%.4f,\"worksPerSec\":%.1f,\"exactMs\":%.4f,\"exactWorksPerSec\":%.1f,\"producerMs\":%.4f,"
	       "\"ok\":%s,\"exactlyOnce\":%s,\"never\":%llu,\"twice\":%llu,\"overlaps\":%llu,\"reorders\":%llu,"
	       "\"stalls\":%u,\"taken\":%u,\"wakes\":%llu,\"creates\":%llu,\"calls\":%llu,\"sleeps\":%llu,\"idles\":%llu,"
	       "\"startLagMs\":%.4f,\"takenAtProducersEnd\":%u,\"doneAtProducersEnd\":%u,"
	       "\"producerCpuMs\":%.3f,\"producerQueueMs\":%.3f,\"workerCpuMs\":%.3f,\"workerQueueMs\":%.3f,"
	       "\"problems\":\"%s\"}\n",
	       P, W, count, keys, batch, cost, spin, ms, count / (ms / 1e3), exact_ms, count / (exact_ms / 1e3),
	       (double)prod_ns / 1e6, pr.len == 0 ? "true" : "false", once ? "true" : "false", (unsigned long long)never,
	       (unsigned long long)twice, (unsigned long long)overlaps, (unsigned long long)reorders, acct->stalls,
	       acct->taken, (unsigned long long)wakes, (unsigned long long)creates, (unsigned long long)calls,
	       (unsigned long long)sleeps, (unsigned long long)idles, start_lag / 1e6, taken_at_end, done_at_end,
	       pr_cpu / 1e6, pr_queue / 1e6, wk_cpu / 1e6, wk_queue / 1e6, pr.text);
	return 0;
}

int io_wq_main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[2], "single"))
		return cmd_single(argc, argv);
	if (argc >= 3 && !strcmp(argv[2], "threads"))
		return cmd_threads(argc, argv);
	fprintf(stderr, "usage: kwq-native io-wq single unhashed|hashed N REPS | io-wq threads P W COUNT KEYS BATCH COST_SPINS SPIN\n");
	return 2;
}

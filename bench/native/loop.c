/*
 * loop's per-cgroup worker dispatch in C: the native reference of bench/loop.ts
 * section 2, the same algorithm kwq runs in Wasm (assembly/loop.ts, after
 * drivers/block/loop.c of 6.12: loop_queue_work with the blkcg's loop_worker looked
 * up in lo->worker_tree or allocated (GFP_NOWAIT, falling back to the root worker),
 * taken off idle_worker_list when idle, the cmd appended to its worker's cmd_list
 * (or rootcg_cmd_list), queue_work's test_and_set_bit(WORK_STRUCT_PENDING_BIT), all
 * under lo->lo_work_lock; loop_process_work's take in FIFO order and its "go idle
 * unless the work is pending again" step). Written for this repository from kwq's
 * Wasm and the kernel's loop.c (function names kept), not copied from the kernel.
 *
 *   kwq-native loop dispatch NCG N MS [batch|one]
 *       bench/loop.ts's "dispatch ... (wasm, batched)" task: N commands (one distinct
 *       loop_cmd each) keyed round-robin over NCG cgroups (ids 2..NCG+1; NCG 0 = every
 *       command on the root worker: the kworker design's root FIFO). One untimed round
 *       creates the workers; then per iteration: loop_queue_work_batch of all N, then
 *       for each worker's work (the root work for NCG 0) the kworker's take: clear
 *       PENDING (process_one_work), loop_process_batch until the list is empty (the
 *       last call does the idle step). `one` takes with loop_process_one instead (the
 *       "one call each" task's take). Prints the median ns/request over the iterations
 *       and the check: every command taken exactly once per iteration, in FIFO order
 *       per worker, by its own cgroup's worker, and queue_work found the work idle
 *       (returned "queued") exactly once per worker per iteration.
 *   kwq-native loop lookup NCG LOOKUPS MS
 *       the worker_tree lookup alone (bench/loop.ts's rb_find_batch_u64 figure): a tree
 *       of NCG workers, LOOKUPS keys 2 + ((i * 7919) % NCG) per iteration, no lock (as
 *       rb_find_batch_u64 takes none); the median ns/lookup.
 *   kwq-native loop scale NCG QD MIN_ITEMS MS [TAGS [hint|walk]]
 *       the dispatch part of one round of bench/scale-points.ts's loopPoint (bench/scale.ts's
 *       loop curve), in kwq's order and call granularity (see "loop scale" below): NCG cgroups
 *       (keys 2 + c, NCG 1..2^20, the worker arena sized NCG), each issuing QD requests in a
 *       row, cgroup after cgroup; one loop_queue_work per request with the cgroup's last
 *       worker as the hint (`walk`: none, the kernel's worker_tree walk every time), queued
 *       while one of TAGS tags is free (default 128, loop.hw_queue_depth's) with a loop_cmd
 *       from a LIFO pool of at most TAGS (CmdPool); with every tag held, the kworker drains
 *       the pending works in queue order (PENDING cleared, loop_process_one per command until
 *       the worker goes idle), the first freed tag going to the waiting request. What is not
 *       in it: aio (io_submit, the events and their reap), blk-mq's request setup, the css
 *       references, the backing-file write and completion, virtual time, the idle timer:
 *       only the dispatch, so its curve is what the memory hierarchy does to the dispatch as
 *       the cgroups grow. Timing as kwq-native.c's `scale` (scale.h): a warm-up of at least 3 rounds
 *       and MS (300 ms at least), then three blocks of at least MIN_ITEMS / 3 requests and MS / 3 ms; prints
 *       {"nsPerItem": the median block's ns/request, "spread": [min, max], "items": the
 *       requests of every round, warm-up included, "exactlyOnce": every request taken once
 *       a round, in the order queued (so FIFO per worker), by its own cgroup's worker, and
 *       each round queued and ran the works the schedule says (scale_expected_works)}.
 *   kwq-native loop threads SUBMITTERS KWORKERS CGROUPS COUNT DESIGN [BATCH INFLIGHT [SPIN_NS [WARMUP]]]
 *       bench/loop.ts section 3 (src/runtime/loop-threads.ts with loop-kworker.js): the
 *       dispatch on pthreads. DESIGN per-cgroup (submitter s issues cgroups s, s + S, ...
 *       round-robin, ids 2 + c) or kworker (key 0: the root FIFO and its one work). Each
 *       submitter takes BATCH (64) loop_cmds from an arena of INFLIGHT (1024: blk-mq's tags;
 *       assembly/arena.ts's tagged stack, one cmpxchg each), stamps id/seq/key and queues
 *       them with loop_queue_work_batch, whose newly PENDING works go on the workqueue
 *       (__queue_work under lo_work_lock); with no tag free it sleeps on the tag words
 *       (waiters++, re-try, futex wait 5 ms cap) as blk_mq_get_tag. KWORKERS threads of the
 *       workqueue of assembly/loop-wq.ts (pool lock, worklist, per-kworker scheduled list,
 *       non-reentrancy by the runners' `current`, PENDING cleared as execution starts; idle:
 *       SPIN_NS of read-only checks of `wake`, default 20,000 of kwq's checks, then a futex
 *       wait with Wasm's 100 ms cap) pick a work, loop_process_batch (BATCH, `now` from the
 *       clock each call) until it is empty or idle, check each command, free the batch
 *       (one chain push), wake the tag waiters once per freed batch, loop_wq_done. The
 *       checks, counted by the kworkers as loop-kworker.js does: a per-work `active` add
 *       (never re-entered), per-list per-submitter last seq (FIFO), a per-command `seen`
 *       byte add (exactly once), and at the end every byte 1, handled = COUNT, works
 *       queued = executed. Phases as loop-threads.ts: WARMUP (default 0) commands in up to 4
 *       untimed phases, then COUNT timed; each phase opens the gate (its number), sleeps on a
 *       done word the kworker that handled its last command wakes, then checks the workqueue
 *       idle every 50 us. requestsPerSec: COUNT / the timed phase's time. Where kwq's harness is JS: threads
 *       are pthreads started before the gate (worker_threads + a 'ready' message), the
 *       gate is a futex word (Atomics.wait/notify), reports are the threads' structs read
 *       after pthread_join (postMessage), no canary check (the Wasm stack's), Atomics.wait/
 *       notify are futex(2) wait/wake (V8 implements them with its own waiter lists).
 *
 * What is the same as kwq (so that kwq/C compares implementations, not work):
 *  - the fields and steps of assembly/loop.ts, operation for operation: the
 *    test-and-test-and-set spinlock of assembly/spinlock.ts (no pause instruction:
 *    Wasm has none), one lock hold per command to queue and one per batch to take,
 *    the statistics counters bumped under the lock, the PENDING RMW (seq-cst, as
 *    Wasm's atomic.or) and the kworker's seq-cst clear (Atomics.and in bench/loop.ts);
 *  - the loop_worker arena: a tagged lock-free stack with a bump pointer
 *    (assembly/arena.ts), the kernel rbtree of rbtree.h keyed by the u64 cgroup id;
 *  - the batch capacity (OUT_CAP: the Wasm scratch slot's outCap in that benchmark),
 *    the command count, keys and order.
 *  - loop_queue_work's one walk of worker_tree with branches (the kernel's: it finds
 *    the worker or ends at the slot a new one is linked at), and loop_process_batch's
 *    run of cmd_shifts with the head in a register, head/tail/count stored once.
 *  - Wasm's hint (loop scale): a cached worker taken, without the walk, when it still has
 *    the command's key and device (queue_locked); the other commands pass none.
 *  - a loop_cmd of 32 bytes, allocated back to back as in Wasm's loop_cmd arena.
 * What differs: pointers instead of 32-bit offsets (a loop_worker is 112 bytes here,
 * 80 in Wasm; a loop_cmd has no seq/done words: its pointers fill them; for loop threads
 * `tag` carries the seq and a u16 beside the u16 result the submitter id); in `loop lookup` the walk is the kernel's
 * three-way compare with branches where kwq's rb_find_batch_u64 picks the child
 * branch-free; C takes into a log array (the checks read it afterwards) where kwq's
 * host reuses one out buffer.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "kernel.h"
#include "loop.h"
#include "rbtree.h"
#include "scale.h"

/* ---- the structures (assembly/loop.ts, assembly/loop-wq.ts) ------------------ */

#define WORK_PENDING 1u /* WORK_STRUCT_PENDING_BIT's mask in work->data */

struct loop_device;
struct loop_worker;

struct work_struct {
	uint32_t data; /* bit 0 PENDING */
	uint32_t reserved;
	struct work_struct *entry; /* link on the worklist or a kworker's scheduled list (loop threads) */
	struct loop_device *lo;
};

struct loop_cmd {
	union {
		struct loop_cmd *next; /* list_entry: a FIFO link */
		uint32_t free_link;    /* while free in the loop_cmd arena (loop threads): next free index + 1 */
	};
	uint32_t tag;    /* the host's (dispatch: the command's index; threads: the submitter's sequence number, Wasm's seq) */
	uint16_t result; /* LOOP_QW_* flags (5 bits) */
	uint16_t sub;    /* threads: the submitter id (Wasm's tag word) */
	uint64_t key;          /* the issuing blkcg's cgroup id; 0 = the root blkcg */
	struct loop_worker *worker;
	/* no seq/done words (the host's in Wasm; nothing here uses them): 32 bytes, Wasm's
	 * loop_cmd stride. The stride decides which cache sets a worker's commands share: the
	 * commands of one of 64 round-robin cgroups are 64 * 32 = 2 KiB apart in both, so they
	 * fall in the same few L1 sets in both (at 40 bytes C's took 1.1 ns a request to drain
	 * at 64 cgroups, Wasm's 2.6, and Wasm's 1.7 with commands spaced 40 bytes apart) */
};
_Static_assert(sizeof(struct loop_cmd) == 32, "loop_cmd: Wasm's 32-byte stride (assembly/loop.ts)");

#define LW_ON_IDLE 1u

struct loop_worker {
	struct rb_node rb; /* first: a free object's first u32 is the arena's free link */
	uint32_t flags;    /* LW_ON_IDLE */
	uint32_t nr_cmds;
	uint64_t key;
	struct loop_cmd *cmd_head, *cmd_tail;
	struct loop_worker *idle_prev, *idle_next;
	double last_ran_at;
	struct work_struct work;
	struct loop_device *lo;
};

struct loop_device {
	uint32_t lo_work_lock __attribute__((aligned(CACHELINE))); /* line 0 */
	struct rb_root worker_tree __attribute__((aligned(CACHELINE)));
	struct loop_worker *idle_head, *idle_tail; /* idle_worker_list, oldest first */
	struct loop_cmd *root_head, *root_tail;    /* rootcg_cmd_list */
	struct arena *worker_arena; /* of struct loop_worker (arena.h) */
	uint32_t fail_pct, prng, nr_workers, root_nr_cmds;
	uint32_t queued, root_queued, alloc_failures, workers_created, queue_noop, rescued, workers_freed;
	struct work_struct rootcg_work __attribute__((aligned(16)));
};

#define LOOP_QW_QUEUE 1u
#define LOOP_QW_ROOT 2u
#define LOOP_QW_NEW 4u
#define LOOP_QW_FAILED 8u
#define LOOP_QW_RESCUED 16u

/* ---- assembly/arena.ts -------------------------------------------------------- */

/* a free loop_worker's link is its first word, as in assembly/arena.ts */
static inline struct loop_worker *loop_worker_arena_alloc(struct arena *a)
{
	return arena_alloc(a, sizeof(struct loop_worker), 0);
}

/* ---- the unbound workqueue of real kworker threads (assembly/loop-wq.ts) ------- */

/* The same pool as kwq's Wasm: one spinlock (pool->lock) over the worklist, each kworker's
 * `current` (find_worker_executing_work's busy hash, a scan) and scheduled list; `wake` a
 * futex word bumped by __queue_work when a kworker said it idles (nr_idle); PENDING in
 * work->data, test_and_set by queue_work, cleared by the kworker as execution starts.
 * Pointers instead of 32-bit offsets: a kworker's slot is 32 bytes here, 16 in Wasm (both
 * kworkers of the benchmark share one cache line either way). */
#define LOOP_WQ_MAX_KWORKERS 64

struct wq_kworker {
	struct work_struct *current, *sched_head, *sched_tail;
	void *pad;
};

struct workqueue {
	uint32_t lock __attribute__((aligned(CACHELINE))); /* line 0 */
	struct work_struct *wl_head __attribute__((aligned(CACHELINE))), *wl_tail; /* line 1 */
	uint32_t nr_idle, stop, nr_kworkers, executed, collisions, queued;
	uint32_t wake __attribute__((aligned(CACHELINE))); /* line 2: the futex word */
	struct wq_kworker kw[LOOP_WQ_MAX_KWORKERS] __attribute__((aligned(CACHELINE)));
};

static inline struct wq_kworker *executing_kworker(struct workqueue *wq, struct work_struct *work)
{
	for (uint32_t i = 0; i < wq->nr_kworkers; i++)
		if (wq->kw[i].current == work)
			return &wq->kw[i];
	return NULL;
}

/*
 * A singly linked FIFO (head and tail pointers, `link` the next field): push at the
 * tail, shift from the head. One pair of macros for the workqueue's work lists and the
 * loop workers' command lists.
 */
#define FIFO_PUSH(headp, tailp, n, link)                   \
	do {                                               \
		(n)->link = NULL;                          \
		if (!*(tailp))                             \
			*(headp) = (n);                    \
		else                                       \
			(*(tailp))->link = (n);            \
		*(tailp) = (n);                            \
	} while (0)

#define FIFO_SHIFT(headp, tailp, out, link)                \
	do {                                               \
		(out) = *(headp);                          \
		if (out) {                                 \
			*(headp) = (out)->link;            \
			if (!(out)->link)                  \
				*(tailp) = NULL;           \
			(out)->link = NULL;                \
		}                                          \
	} while (0)

static inline void work_push(struct work_struct **headp, struct work_struct **tailp, struct work_struct *w)
{
	FIFO_PUSH(headp, tailp, w, entry);
}

static inline struct work_struct *work_shift(struct work_struct **headp, struct work_struct **tailp)
{
	struct work_struct *w;
	FIFO_SHIFT(headp, tailp, w, entry);
	return w;
}

/* __queue_work: PENDING was just set. A work running on a kworker goes to that kworker's
 * scheduled list (non-reentrancy), else to the worklist, and an idle kworker is woken. */
static uint32_t __queue_work(struct workqueue *wq, struct work_struct *work)
{
	spin_lock(&wq->lock);
	wq->queued++;
	struct wq_kworker *runner = executing_kworker(wq, work);
	if (runner) {
		work_push(&runner->sched_head, &runner->sched_tail, work);
		wq->collisions++;
		spin_unlock(&wq->lock);
		return 0; /* that kworker is awake: it is executing the work */
	}
	work_push(&wq->wl_head, &wq->wl_tail, work);
	uint32_t idle = wq->nr_idle;
	if (idle)
		__atomic_fetch_add(&wq->wake, 1, SEQ); /* pairs with loop_wq_pick's load of `wake` under the lock */
	spin_unlock(&wq->lock);
	if (!idle)
		return 0;
	futex(&wq->wake, FUTEX_WAKE_PRIVATE, 1, NULL); /* Wasm's atomic.notify(wake, 1) */
	return 1;
}

/* worker_thread + the start of process_one_work: the scheduled list, then the worklist
 * (a work running elsewhere is handed to its runner); `spin` read-only checks of `wake`,
 * then a futex wait with Wasm's 100 ms cap. NULL once stopped with nothing left. */
static struct work_struct *loop_wq_pick(struct workqueue *wq, uint32_t me, uint32_t spin, uint64_t *sleeps)
{
	struct wq_kworker *kw = &wq->kw[me];
	for (;;) {
		spin_lock(&wq->lock);
		struct work_struct *w = work_shift(&kw->sched_head, &kw->sched_tail);
		while (!w) {
			w = work_shift(&wq->wl_head, &wq->wl_tail);
			if (!w)
				break;
			struct wq_kworker *runner = executing_kworker(wq, w);
			if (runner && runner != kw) {
				work_push(&runner->sched_head, &runner->sched_tail, w);
				wq->collisions++;
				w = NULL;
			}
		}
		if (w) {
			kw->current = w;
			/* set_work_pool_and_clear_pending: a queue_work from here queues it again */
			__atomic_fetch_and(&w->data, ~WORK_PENDING, SEQ);
			spin_unlock(&wq->lock);
			return w;
		}
		if (__atomic_load_n(&wq->stop, SEQ)) {
			spin_unlock(&wq->lock);
			return NULL;
		}
		wq->nr_idle++;
		uint32_t seq = __atomic_load_n(&wq->wake, SEQ);
		spin_unlock(&wq->lock);
		int woke = 0;
		for (uint32_t i = 0; i < spin; i++) {
			if (__atomic_load_n(&wq->wake, SEQ) != seq) { /* a hint: the lock above decides */
				woke = 1;
				break;
			}
		}
		if (!woke) {
			struct timespec ts = { 0, 100000000 }; /* Wasm's wait32 100 ms cap */
			(*sleeps)++;
			futex(&wq->wake, FUTEX_WAIT_PRIVATE, seq, &ts);
		}
		spin_lock(&wq->lock);
		wq->nr_idle--;
		spin_unlock(&wq->lock);
	}
}

/* the end of process_one_work: `me` runs nothing now (work is a key only) */
static void loop_wq_done(struct workqueue *wq, uint32_t me, struct work_struct *work)
{
	spin_lock(&wq->lock);
	if (wq->kw[me].current == work)
		wq->kw[me].current = NULL;
	wq->executed++;
	spin_unlock(&wq->lock);
}

static void loop_wq_stop(struct workqueue *wq)
{
	__atomic_store_n(&wq->stop, 1, SEQ);
	spin_lock(&wq->lock);
	__atomic_fetch_add(&wq->wake, 1, SEQ);
	spin_unlock(&wq->lock);
	futex(&wq->wake, FUTEX_WAKE_PRIVATE, LOOP_WQ_MAX_KWORKERS, NULL);
}

/* 1 iff nothing is queued or running (the drain check; may be stale) */
static int loop_wq_idle(struct workqueue *wq)
{
	spin_lock(&wq->lock);
	int busy = wq->wl_head != NULL;
	for (uint32_t i = 0; i < wq->nr_kworkers && !busy; i++)
		busy = wq->kw[i].current != NULL || wq->kw[i].sched_head != NULL;
	spin_unlock(&wq->lock);
	return !busy;
}

/* ---- drivers/block/loop.c's dispatch (assembly/loop.ts) ----------------------- */

static void loop_work_init(struct work_struct *w, struct loop_device *lo)
{
	memset(w, 0, sizeof(*w));
	w->lo = lo;
}

static void loop_device_init(struct loop_device *lo, struct arena *arena, uint32_t fail_pct, uint32_t seed)
{
	memset(lo, 0, sizeof(*lo));
	lo->worker_tree.node = NULL;
	lo->worker_arena = arena;
	lo->fail_pct = fail_pct;
	lo->prng = seed ? seed : 0x9e3779b9u;
	loop_work_init(&lo->rootcg_work, lo);
	__atomic_store_n(&lo->lo_work_lock, 0, SEQ);
}

static inline void cmd_push(struct loop_cmd **headp, struct loop_cmd **tailp, struct loop_cmd *cmd)
{
	FIFO_PUSH(headp, tailp, cmd, next);
}

static inline struct loop_cmd *cmd_shift(struct loop_cmd **headp, struct loop_cmd **tailp)
{
	struct loop_cmd *c;
	FIFO_SHIFT(headp, tailp, c, next);
	return c;
}

static inline void idle_del(struct loop_device *lo, struct loop_worker *w)
{
	struct loop_worker *prev = w->idle_prev, *next = w->idle_next;
	if (!prev)
		lo->idle_head = next;
	else
		prev->idle_next = next;
	if (!next)
		lo->idle_tail = prev;
	else
		next->idle_prev = prev;
	w->idle_prev = w->idle_next = NULL;
	w->flags &= ~LW_ON_IDLE;
}

static inline void idle_add_tail(struct loop_device *lo, struct loop_worker *w)
{
	struct loop_worker *tail = lo->idle_tail;
	w->idle_prev = tail;
	w->idle_next = NULL;
	if (!tail)
		lo->idle_head = w;
	else
		tail->idle_next = w;
	lo->idle_tail = w;
	w->flags |= LW_ON_IDLE;
}

/* kzalloc(GFP_NOWAIT) of a loop_worker, or NULL (arena exhausted, or an injected failure) */
static inline struct loop_worker *worker_alloc(struct loop_device *lo)
{
	if (lo->fail_pct) {
		uint32_t x = lo->prng; /* xorshift32, under the lock */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		lo->prng = x;
		if (x % 100 < lo->fail_pct)
			return NULL;
	}
	return loop_worker_arena_alloc(lo->worker_arena);
}

static inline struct loop_worker *rb_entry_worker(struct rb_node *n)
{
	return (struct loop_worker *)((char *)n - offsetof(struct loop_worker, rb));
}

/* a walk of worker_tree by cgroup id (the kernel's three-way compare): the benchmark's lookups */
static inline struct loop_worker *worker_find(struct rb_root *root, uint64_t key)
{
	struct rb_node *n = root->node;
	while (n) {
		struct loop_worker *w = rb_entry_worker(n);
		if (key < w->key)
			n = n->left;
		else if (key > w->key)
			n = n->right;
		else
			return w;
	}
	return NULL;
}

/* assembly/loop.ts queue_locked: the body of loop_queue_work with lo_work_lock held; with wq a
 * newly pending work is put on that workqueue (__queue_work, nested in lo_work_lock as in the
 * kernel); the dispatch benchmark passes NULL, a constant the compiler folds away */
static inline __attribute__((always_inline)) uint32_t queue_locked(struct loop_device *lo, struct loop_cmd *cmd, uint64_t key,
								   struct workqueue *wq, struct loop_worker *hint)
{
	uint32_t flags = 0;
	struct loop_worker *worker = NULL;
	struct work_struct *work;
	lo->queued++;
	if (key && hint && hint->key == key && hint->lo == lo) {
		/* assembly/loop.ts's hint: the caller's cached worker for this cgroup (the sim's
		 * BlkCgroup.driverHint) is still worker_tree's node for `key` (keys are unique in
		 * the tree), so no walk. Model-only: the kernel walks every time. Only `loop scale`
		 * passes one; the other callers pass NULL, folded away */
		worker = hint;
	} else if (key) {
		/* loop_queue_work's one walk: it finds the worker or ends below the node a new one is
		 * linked to. The child is loaded in the branch taken, as assembly/loop.ts does (gcc
		 * turns `link = key < k ? &left : &right` into a cmov feeding the next load: 16
		 * cgroups 7.6 -> 10.8 ns a request) */
		struct rb_node *n = lo->worker_tree.node, *parent = NULL;
		while (n) {
			struct loop_worker *cur = rb_entry_worker(n);
			if (key == cur->key) {
				worker = cur;
				break;
			}
			parent = n;
			n = key < cur->key ? n->left : n->right;
		}
		if (!worker) {
			worker = worker_alloc(lo);
			if (!worker) {
				flags |= LOOP_QW_FAILED; /* the root worker issues it as the root cgroup */
				lo->alloc_failures++;
			} else {
				memset(worker, 0, sizeof(*worker)); /* kzalloc */
				worker->key = key;
				worker->lo = lo;
				loop_work_init(&worker->work, lo); /* INIT_WORK(&worker->work, loop_workfn) */
				struct rb_node **link = !parent ? &lo->worker_tree.node
						       : key < rb_entry_worker(parent)->key ? &parent->left : &parent->right;
				rb_link_node(&worker->rb, parent, link);
				rb_insert_color(&worker->rb, &lo->worker_tree);
				lo->nr_workers++;
				lo->workers_created++;
				flags |= LOOP_QW_NEW;
			}
		}
	}
	if (worker) {
		if (worker->flags & LW_ON_IDLE) {
			idle_del(lo, worker); /* list_del_init: rescued from the reaper */
			lo->rescued++;
			flags |= LOOP_QW_RESCUED;
		}
		cmd_push(&worker->cmd_head, &worker->cmd_tail, cmd);
		work = &worker->work;
	} else {
		cmd_push(&lo->root_head, &lo->root_tail, cmd);
		lo->root_queued++;
		flags |= LOOP_QW_ROOT;
		work = &lo->rootcg_work;
	}
	cmd->worker = worker;
	/* queue_work's test_and_set_bit(WORK_STRUCT_PENDING_BIT): x86's lock bts has no early
	 * read and neither has kwq's atomic.or; pairs with the kworker's clear */
	if (!(__atomic_fetch_or(&work->data, WORK_PENDING, SEQ) & WORK_PENDING)) {
		flags |= LOOP_QW_QUEUE;
		if (wq)
			__queue_work(wq, work);
	} else
		lo->queue_noop++;
	cmd->result = (uint16_t)flags;
	return flags;
}

/* loop_queue_work(lo, cmd, hint) as Wasm's (the key already in cmd->key; hint: the cgroup's
 * cached worker or NULL) */
static uint32_t loop_queue_work(struct loop_device *lo, struct loop_cmd *cmd, struct loop_worker *hint)
{
	spin_lock(&lo->lo_work_lock);
	uint32_t flags = queue_locked(lo, cmd, cmd->key, NULL, hint);
	spin_unlock(&lo->lo_work_lock);
	return flags;
}

/* loop_queue_work for n commands, one lock hold each, as n loop_queue_rq calls; how many works became pending */
static uint32_t loop_queue_work_batch(struct loop_device *lo, struct loop_cmd **cmds, uint32_t n)
{
	uint32_t queued = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct loop_cmd *cmd = cmds[i];
		uint64_t key = cmd->key;
		spin_lock(&lo->lo_work_lock);
		queued += queue_locked(lo, cmd, key, NULL, NULL) & LOOP_QW_QUEUE;
		spin_unlock(&lo->lo_work_lock);
	}
	return queued;
}

/* loop_queue_work_batch(lo, wq, ...): the same, newly pending works put on wq (loop threads' submitters) */
static uint32_t loop_queue_work_batch_wq(struct loop_device *lo, struct workqueue *wq, struct loop_cmd **cmds, uint32_t n)
{
	uint32_t queued = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct loop_cmd *cmd = cmds[i];
		uint64_t key = cmd->key;
		spin_lock(&lo->lo_work_lock);
		queued += queue_locked(lo, cmd, key, wq, NULL) & LOOP_QW_QUEUE;
		spin_unlock(&lo->lo_work_lock);
	}
	return queued;
}

static inline struct loop_worker *worker_of_work(struct work_struct *work)
{
	struct loop_device *lo = work->lo;
	return work == &lo->rootcg_work ? NULL : (struct loop_worker *)((char *)work - offsetof(struct loop_worker, work));
}

/* with lo_work_lock held: the first command, or NULL after the idle step (*idle = 1 if the worker went idle) */
static inline struct loop_cmd *take_locked(struct loop_device *lo, struct loop_worker *worker, double now, int *idle)
{
	if (!worker) {
		struct loop_cmd *c = cmd_shift(&lo->root_head, &lo->root_tail);
		if (c)
			lo->root_nr_cmds++;
		return c;
	}
	struct loop_cmd *c = cmd_shift(&worker->cmd_head, &worker->cmd_tail);
	if (c) {
		worker->nr_cmds++;
		return c;
	}
	/* work_pending(&worker->work): pairs with loop_queue_work's test_and_set under this lock */
	if (!(__atomic_load_n(&worker->work.data, SEQ) & WORK_PENDING) && !(worker->flags & LW_ON_IDLE)) {
		worker->last_ran_at = now;
		idle_add_tail(lo, worker);
		*idle = 1;
	}
	return NULL;
}

/* one step of loop_process_work: a command, or NULL (*idle says whether the worker went idle) */
static struct loop_cmd *loop_process_one(struct work_struct *work, double now, int *idle)
{
	struct loop_device *lo = work->lo;
	struct loop_worker *worker = worker_of_work(work);
	spin_lock(&lo->lo_work_lock);
	struct loop_cmd *c = take_locked(lo, worker, now, idle);
	spin_unlock(&lo->lo_work_lock);
	return c;
}

/* loop_process_work in batches: up to cap commands under one lock hold, the head kept in a
 * register and the head, tail and count stored once after the run (assembly/loop.ts); with the
 * list empty only the idle step: 0, or -1 when the worker went idle */
static int loop_process_batch(struct work_struct *work, struct loop_cmd **out, uint32_t cap, double now)
{
	if (cap == 0)
		return 0;
	struct loop_device *lo = work->lo;
	struct loop_worker *worker = worker_of_work(work);
	struct loop_cmd **head = worker ? &worker->cmd_head : &lo->root_head;
	struct loop_cmd **tail = worker ? &worker->cmd_tail : &lo->root_tail;
	uint32_t *count = worker ? &worker->nr_cmds : &lo->root_nr_cmds;
	spin_lock(&lo->lo_work_lock);
	struct loop_cmd *c = *head;
	if (!c) {
		int idle = 0;
		take_locked(lo, worker, now, &idle); /* the list is empty: only the idle step */
		spin_unlock(&lo->lo_work_lock);
		return idle ? -1 : 0;
	}
	uint32_t n = 0;
	do {
		out[n++] = c;
		struct loop_cmd *next = c->next;
		c->next = NULL;
		c = next;
	} while (c && n < cap);
	*head = c;
	if (!c)
		*tail = NULL;
	*count += n;
	spin_unlock(&lo->lo_work_lock);
	return (int)n;
}

/* ---- the benchmark ------------------------------------------------------------- */

/* the Wasm scratch slot's outCap in bench/loop.ts's LoopEngine (16 KiB slot) */
#define OUT_CAP 2040
#define WORKER_CAP 512
#define MAX_SAMPLES (1u << 20)

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void *xalloc(size_t bytes)
{
	void *p = aligned_alloc(CACHELINE, (bytes + CACHELINE - 1) / CACHELINE * CACHELINE);
	if (!p)
		die("out of memory");
	memset(p, 0, bytes);
	return p;
}

static struct arena *arena_new(uint32_t count)
{
	struct arena *a = xalloc(sizeof(*a));
	a->base = xalloc(sizeof(struct loop_worker) * count);
	a->count = count;
	return a;
}

struct stats {
	double median, mean, min;
	uint64_t n;
};

static struct stats summarize(double *t, uint64_t n, double per)
{
	struct stats s = { 0, 0, 0, n };
	double sum = 0;
	for (uint64_t i = 0; i < n; i++)
		sum += t[i];
	qsort(t, n, sizeof(double), cmp_dbl);
	s.median = (n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2) / per;
	s.mean = sum / n / per;
	s.min = t[0] / per;
	return s;
}

/* one iteration of the dispatch: queue all, drain each work; the commands taken into log */
static inline uint32_t dispatch_round(struct loop_device *lo, struct loop_cmd **cmdp, uint32_t n, struct work_struct **works,
				      uint32_t nworks, int one, struct loop_cmd **log, uint32_t *queued)
{
	*queued = loop_queue_work_batch(lo, cmdp, n);
	uint32_t taken = 0;
	for (uint32_t k = 0; k < nworks; k++) {
		struct work_struct *w = works[k];
		__atomic_fetch_and(&w->data, ~WORK_PENDING, SEQ); /* process_one_work clears PENDING */
		if (one) {
			for (;;) {
				int idle = 0;
				struct loop_cmd *c = loop_process_one(w, 0, &idle);
				if (!c)
					break;
				log[taken++] = c;
			}
		} else {
			for (;;) {
				int got = loop_process_batch(w, log + taken, OUT_CAP, 0);
				if (got <= 0)
					break;
				taken += (uint32_t)got;
			}
		}
	}
	return taken;
}

static int cmd_dispatch(uint32_t ncg, uint32_t n, uint32_t ms, int one)
{
	if (n == 0 || ncg > WORKER_CAP)
		die("loop dispatch: N >= 1 and NCG <= 512");
	struct arena *arena = arena_new(WORKER_CAP);
	struct loop_device *lo = xalloc(sizeof(*lo));
	loop_device_init(lo, arena, 0, 1);
	struct loop_cmd *cmds = xalloc(sizeof(struct loop_cmd) * n); /* one distinct loop_cmd per request */
	struct loop_cmd **cmdp = xalloc(sizeof(*cmdp) * n);
	struct loop_cmd **log = xalloc(sizeof(*log) * (n + OUT_CAP));
	uint64_t *stamp = xalloc(sizeof(*stamp) * n);
	for (uint32_t i = 0; i < n; i++) {
		cmds[i].tag = i;
		cmds[i].key = ncg ? 2 + i % ncg : 0;
		cmdp[i] = &cmds[i];
	}
	/* one round makes the workers; their works are what the kworker drains */
	uint32_t nworks = ncg ? ncg : 1, q;
	struct work_struct **works = xalloc(sizeof(*works) * nworks);
	loop_queue_work_batch(lo, cmdp, n);
	for (uint32_t k = 0; k < nworks; k++) {
		struct loop_worker *w = ncg ? worker_find(&lo->worker_tree, 2 + k) : NULL;
		if (ncg && !w)
			die("loop dispatch: a worker is missing after the first round");
		works[k] = w ? &w->work : &lo->rootcg_work;
	}
	for (uint32_t k = 0; k < nworks; k++) {
		__atomic_fetch_and(&works[k]->data, ~WORK_PENDING, SEQ);
		while (loop_process_batch(works[k], log, OUT_CAP, 0) > 0)
			;
	}
	double *t = xalloc(sizeof(double) * MAX_SAMPLES);
	uint64_t it = 0, warm = 0, bad_taken = 0, bad_queued = 0, dup = 0, unordered = 0, wrong = 0;
	uint32_t noop0 = lo->queue_noop, resc0 = lo->rescued;
	uint64_t start = now_ns(), warm_end = start + (uint64_t)ms * 1000000ull / 5, end = warm_end + (uint64_t)ms * 1000000ull;
	for (;;) {
		uint64_t t0 = now_ns();
		uint32_t taken = dispatch_round(lo, cmdp, n, works, nworks, one, log, &q);
		uint64_t t1 = now_ns();
		uint64_t round = it + warm + 1;
		/* the checks, untimed: exactly once, FIFO per worker, the right worker */
		if (taken != n)
			bad_taken++;
		if (q != nworks)
			bad_queued++;
		for (uint32_t k = 0; k < taken && k < n; k++) {
			struct loop_cmd *c = log[k];
			if (stamp[c->tag] != round - 1)
				dup++;
			stamp[c->tag] = round;
			if (k > 0 && log[k - 1]->worker == c->worker && log[k - 1]->tag >= c->tag)
				unordered++;
			if (c->key ? (!c->worker || c->worker->key != c->key) : c->worker != NULL)
				wrong++;
		}
		if (t0 < warm_end) {
			warm++;
			continue;
		}
		if (it < MAX_SAMPLES)
			t[it] = (double)(t1 - t0);
		it++;
		if ((t1 >= end && it >= 5) || it >= MAX_SAMPLES)
			break;
	}
	uint64_t rounds = it + warm;
	for (uint32_t i = 0; i < n; i++)
		if (stamp[i] != rounds)
			dup++; /* a command missed in some round */
	struct stats s = summarize(t, it, n);
	int ok = !bad_taken && !bad_queued && !dup && !unordered && !wrong;
	printf("{\"ncg\":%u,\"n\":%u,\"mode\":\"%s\",\"workers\":%u,\"iterations\":%llu,\"medianNsPerRequest\":%.4f,\"meanNsPerRequest\":%.4f,"
	       "\"minNsPerRequest\":%.4f,\"queueNoopPerIteration\":%.1f,\"rescuedPerIteration\":%.1f,\"exactlyOnce\":%s,"
	       "\"badTaken\":%llu,\"badQueued\":%llu,\"dupOrMissed\":%llu,\"unordered\":%llu,\"wrongWorker\":%llu}\n",
	       ncg, n, one ? "one" : "batch", lo->nr_workers, (unsigned long long)it, s.median, s.mean, s.min,
	       (double)(lo->queue_noop - noop0) / (double)rounds, (double)(lo->rescued - resc0) / (double)rounds, ok ? "true" : "false",
	       (unsigned long long)bad_taken, (unsigned long long)bad_queued, (unsigned long long)dup, (unsigned long long)unordered,
	       (unsigned long long)wrong);
	return 0; /* the JSON says whether the check passed */
}

static int cmd_lookup(uint32_t ncg, uint32_t lookups, uint32_t ms)
{
	if (ncg == 0 || ncg > WORKER_CAP || lookups == 0)
		die("loop lookup: 1 <= NCG <= 512, LOOKUPS >= 1");
	struct arena *arena = arena_new(WORKER_CAP);
	struct loop_device *lo = xalloc(sizeof(*lo));
	loop_device_init(lo, arena, 0, 1);
	struct loop_cmd *cmds = xalloc(sizeof(struct loop_cmd) * ncg);
	for (uint32_t i = 0; i < ncg; i++) { /* one command per cgroup makes its worker */
		cmds[i].key = 2 + i;
		loop_queue_work(lo, &cmds[i], NULL);
	}
	uint64_t *keys = xalloc(sizeof(*keys) * lookups);
	struct loop_worker **out = xalloc(sizeof(*out) * lookups);
	for (uint32_t i = 0; i < lookups; i++)
		keys[i] = 2 + ((uint64_t)i * 7919) % ncg;
	double *t = xalloc(sizeof(double) * MAX_SAMPLES);
	uint64_t it = 0, missed = 0, wrong = 0;
	uint64_t start = now_ns(), warm_end = start + (uint64_t)ms * 1000000ull / 5, end = warm_end + (uint64_t)ms * 1000000ull;
	for (;;) {
		uint64_t t0 = now_ns();
		uint32_t found = 0;
		for (uint32_t i = 0; i < lookups; i++) { /* rb_find_batch_u64: no lock */
			struct loop_worker *w = worker_find(&lo->worker_tree, keys[i]);
			out[i] = w;
			found += w != NULL;
		}
		uint64_t t1 = now_ns();
		missed += lookups - found;
		for (uint32_t i = 0; i < lookups; i++)
			wrong += out[i] && out[i]->key != keys[i];
		if (t0 < warm_end)
			continue;
		if (it < MAX_SAMPLES)
			t[it] = (double)(t1 - t0);
		it++;
		if ((t1 >= end && it >= 5) || it >= MAX_SAMPLES)
			break;
	}
	struct stats s = summarize(t, it, lookups);
	int ok = !missed && !wrong;
	printf("{\"ncg\":%u,\"lookups\":%u,\"iterations\":%llu,\"medianNsPerLookup\":%.4f,\"meanNsPerLookup\":%.4f,\"minNsPerLookup\":%.4f,"
	       "\"exactlyOnce\":%s,\"missed\":%llu,\"wrongWorker\":%llu}\n",
	       ncg, lookups, (unsigned long long)it, s.median, s.mean, s.min, ok ? "true" : "false", (unsigned long long)missed,
	       (unsigned long long)wrong);
	return 0; /* the JSON says whether the check passed */
}

/* ---- loop scale: the dispatch of bench/scale-points.ts's loopPoint round ------------- */

/*
 * What kwq does in a loopPoint round (sim runtime; read from the code and confirmed by
 * logging its Wasm calls, loop_queue_work and loop_process_one, at 4, 40, 64, 100 and 1,000
 * cgroups):
 *  - requests arrive task after task, each task's QD in a row (scale-points.ts reap: a task's
 *    completions resubmitted with one io_submit), each handed to loop_queue_rq on its own: one
 *    loop_queue_work call per request (loop-device.ts loopQueueRq -> loopQueueWork), with the
 *    cgroup's last worker as the hint (loopQueueWork's `hint`, BlkCgroup.driverHint), so after
 *    the first round no request walks worker_tree;
 *  - a request first needs one of the device's hw_queue_depth tags (128 by default; blk-mq.ts
 *    blkMqGetTag) and a loop_cmd from the tag set's pdus (loop-cmd.ts CmdPool: a LIFO free list,
 *    never more than the tags); with every tag in use the submitter sleeps (k.waitFor), which
 *    runs the kworker: it drains the pending works in the order they became pending
 *    (workqueue.ts: PENDING cleared as each starts), each with loop_process_one per command
 *    (loopProcessWork) and a last call that finds the list empty and puts the worker on the
 *    idle list; the first completion puts its pdu, then its tag (loopCompleteCmd), which go at
 *    once to the sleeping request (blkMqPutTag issues it: its worker's work queued behind the
 *    others), and the submitter goes on after the drain. So with 100 cgroups x 4 a round is
 *    128 queued, 1 taken, 1 queued, 128 taken (33 works), twice more, then 13 queued and taken
 *    (the next round's runUntilIdle); every request is taken in the order it was queued,
 *    through 128 loop_cmds. The C below is that schedule; TAGS >= NCG * QD makes it "queue
 *    every request, then drain every worker" with NCG * QD distinct loop_cmds.
 */
struct loop_scale {
	struct loop_device *lo;
	struct loop_cmd **pool;        /* the free pdus, a stack (CmdPool.free) */
	uint32_t nfree;
	struct loop_worker **hint;     /* per cgroup: its last worker (BlkCgroup.driverHint); NULL: walk */
	struct work_struct **wl;       /* one drain's pending works, in queue order (the sim workqueue's worklist) */
	uint32_t nwl;
	uint32_t ncg, qd, tags;
	uint64_t n;                    /* requests a round */
	/* the checks: O(1) a request, on words the dispatch has just loaded */
	uint64_t expect;               /* the request the next take must return: kwq takes them in queue order */
	uint64_t bad;                  /* takes of another request, by another worker, or for another key */
	uint64_t queued_works, executed, rounds;
};

/* blk_mq_get_tag (a tag is free), then loop_queue_rq's loop_queue_work for request r of cgroup c */
static inline void scale_issue(struct loop_scale *s, uint64_t r, uint32_t c)
{
	struct loop_cmd *cmd = s->pool[--s->nfree];
	cmd->tag = (uint32_t)r;
	cmd->key = 2 + (uint64_t)c;
	struct loop_worker *h = s->hint ? s->hint[c] : NULL;
	uint32_t f = loop_queue_work(s->lo, cmd, h);
	if (s->hint && cmd->worker != h)
		s->hint[c] = cmd->worker; /* bg.driverHint = w */
	if (f & LOOP_QW_QUEUE) { /* __queueWork on the sim workqueue */
		s->wl[s->nwl++] = cmd->worker ? &cmd->worker->work : &s->lo->rootcg_work;
		s->queued_works++;
	}
}

/* one round: the requests in order, queued while tags last; then the kworker drains */
static void scale_loop_round(struct loop_scale *s)
{
	uint64_t r = 0, n = s->n;
	uint32_t c = 0, q = 0, qd = s->qd;
	s->expect = 0;
	while (r < n) {
		s->nwl = 0;
		for (; r < n && s->nfree; r++) {
			scale_issue(s, r, c);
			if (++q == qd)
				q = 0, c++;
		}
		int waiter = r < n; /* request r sleeps in blk_mq_get_tag: its submitter's wait runs the kworker */
		if (waiter && s->nwl == 0) { /* every tag held and no work pending: commands were lost */
			s->bad++;
			break;
		}
		for (uint32_t k = 0; k < s->nwl; k++) {
			struct work_struct *w = s->wl[k];
			struct loop_worker *worker = worker_of_work(w);
			uint64_t wkey = worker ? worker->key : 0;
			__atomic_fetch_and(&w->data, ~WORK_PENDING, SEQ); /* process_one_work clears PENDING */
			s->executed++;
			for (;;) {
				int idle = 0;
				struct loop_cmd *cmd = loop_process_one(w, 0, &idle);
				if (!cmd)
					break; /* the list was empty: the worker went idle unless pending again */
				s->bad += (cmd->tag != s->expect) | (cmd->worker != worker) | (cmd->key != wkey);
				s->expect++;
				s->pool[s->nfree++] = cmd; /* loopCompleteCmd: the pdu back to the pool, then the tag */
				if (waiter) { /* blk_mq_put_tag hands the tag (and the pdu just freed) to the sleeper */
					waiter = 0;
					scale_issue(s, r, c);
					r++;
					if (++q == qd)
						q = 0, c++;
				}
			}
		}
	}
	s->bad += s->expect != n;
	s->rounds++;
}

/* the works a round queues, from the schedule above alone (a pending flag per cgroup, no loop
 * structures): the check of queue_work's PENDING test over a round; untimed */
static uint64_t scale_expected_works(uint32_t ncg, uint32_t qd, uint32_t tags)
{
	uint8_t *pending = xalloc(ncg);
	uint32_t *left = xalloc(sizeof(uint32_t) * ncg), *wl = xalloc(sizeof(uint32_t) * ((size_t)tags + 2));
	uint64_t n = (uint64_t)ncg * qd, r = 0, works = 0;
#define SCALE_ADD(req)                                   \
	do {                                             \
		uint32_t cg = (uint32_t)((req) / qd);    \
		left[cg]++;                              \
		if (!pending[cg]) {                      \
			pending[cg] = 1;                 \
			wl[nw++] = cg;                   \
			works++;                         \
		}                                        \
	} while (0)
	while (r < n) {
		uint32_t nw = 0, inflight = 0;
		for (; r < n && inflight < tags; r++, inflight++)
			SCALE_ADD(r);
		int waiter = r < n;
		for (uint32_t k = 0; k < nw; k++) {
			uint32_t cg = wl[k];
			pending[cg] = 0;
			while (left[cg]) {
				left[cg]--;
				if (waiter) {
					waiter = 0;
					SCALE_ADD(r);
					r++;
				}
			}
		}
	}
#undef SCALE_ADD
	free(pending);
	free(left);
	free(wl);
	return works;
}

/* an integer argument in [lo, hi], else die naming it */
static uint64_t scale_arg(const char *s, const char *name, uint64_t lo, uint64_t hi)
{
	char *end, msg[160];
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*s == '-' || *s == '\0' || *end != '\0' || errno || v < lo || v > hi) {
		snprintf(msg, sizeof(msg), "loop scale: %s must be an integer from %llu to %llu, got '%s'", name, (unsigned long long)lo,
			 (unsigned long long)hi, s);
		die(msg);
	}
	return v;
}

/* scale_loop_round for scale.h's timing */
static void scale_loop_round_cb(void *s)
{
	scale_loop_round(s);
}

/* a number in (0, hi] (MIN_ITEMS and MS: cmd_scale's atof, fractions allowed), else die naming it */
static double scale_num(const char *s, const char *name, double hi)
{
	char *end, msg[160];
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v > 0) || !(v <= hi)) {
		snprintf(msg, sizeof(msg), "loop scale: %s must be a number above 0 and at most %.0f, got '%s'", name, hi, s);
		die(msg);
	}
	return v;
}

#define SCALE_MAX_NCG (1u << 20)
#define SCALE_MAX_QD 4096u
#define SCALE_MAX_REQUESTS (1u << 24)
#define SCALE_DEFAULT_TAGS 128 /* loop.hw_queue_depth's default (LOOP_DEFAULT_HW_Q_DEPTH) */

static int cmd_scale_loop(int argc, char **argv)
{
	if (argc < 7)
		die("usage: loop scale NCG QD MIN_ITEMS MS [TAGS [hint|walk]]");
	uint32_t ncg = (uint32_t)scale_arg(argv[3], "NCG", 1, SCALE_MAX_NCG);
	uint32_t qd = (uint32_t)scale_arg(argv[4], "QD", 1, SCALE_MAX_QD);
	double min_items = scale_num(argv[5], "MIN_ITEMS", 1e12);
	double ms = scale_num(argv[6], "MS", 3600000);
	uint32_t tags = argc >= 8 ? (uint32_t)scale_arg(argv[7], "TAGS", 1, SCALE_MAX_REQUESTS) : SCALE_DEFAULT_TAGS;
	int walk = argc >= 9 && !strcmp(argv[8], "walk");
	if (argc >= 9 && !walk && strcmp(argv[8], "hint"))
		die("loop scale: the 6th argument is hint (kwq's cached worker per cgroup) or walk (the kernel's worker_tree walk)");
	if ((uint64_t)ncg * qd > SCALE_MAX_REQUESTS)
		die("loop scale: NCG * QD (the requests of a round) must be at most 2^24");
	uint64_t n = (uint64_t)ncg * qd;
	uint32_t npdu = n < tags ? (uint32_t)n : tags; /* CmdPool makes pdus as needed: never more than in flight */
	struct loop_scale s;
	memset(&s, 0, sizeof(s));
	s.ncg = ncg, s.qd = qd, s.tags = tags, s.n = n;
	s.lo = xalloc(sizeof(*s.lo));
	loop_device_init(s.lo, arena_new(ncg), 0, 1); /* a worker per cgroup: the arena never runs out */
	struct loop_cmd *cmds = xalloc(sizeof(struct loop_cmd) * npdu); /* back to back, as the Wasm loop_cmd arena */
	s.pool = xalloc(sizeof(*s.pool) * npdu);
	for (uint32_t i = 0; i < npdu; i++)
		s.pool[i] = &cmds[npdu - 1 - i]; /* the first round takes them in address order, as kwq makes them */
	s.nfree = npdu;
	s.hint = walk ? NULL : xalloc(sizeof(*s.hint) * ncg);
	s.wl = xalloc(sizeof(*s.wl) * ((size_t)npdu + 2)); /* a queued work has a command of the drain: at most tags + 1 */
	uint64_t works_per_round = scale_expected_works(ncg, qd, npdu);
	/* the timing as cmd_scale's (scale.h); the first round creates the workers */
	struct scale_blocks t = scale_measure(scale_loop_round_cb, &s, n, min_items, ms);
	struct loop_device *lo = s.lo;
	int ok = s.bad == 0 && s.queued_works == s.rounds * works_per_round && s.executed == s.queued_works && s.nfree == npdu &&
		 lo->nr_workers == ncg && lo->workers_created == ncg && lo->root_queued == 0 && lo->alloc_failures == 0 &&
		 lo->queued == s.rounds * n;
	scale_print(t, s.rounds * n, ok);
	return 0; /* the JSON says whether the checks passed */
}

/* ---- loop threads: the dispatch on real threads (src/runtime/loop-threads.ts) ----- */

/* the loop_cmd arena (blk-mq's tags): arena.h's, arena_alloc_batch (one cmpxchg per
 * command) and arena_free_batch (one chain push); a free command's link is free_link */
static inline struct loop_cmd *cmd_alloc(struct arena *a)
{
	return arena_alloc(a, sizeof(struct loop_cmd), offsetof(struct loop_cmd, free_link));
}

static uint32_t cmd_alloc_batch(struct arena *a, struct loop_cmd **out, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct loop_cmd *c = cmd_alloc(a);
		if (!c)
			return i;
		out[i] = c;
	}
	return n;
}

static void cmd_free_batch(struct arena *a, struct loop_cmd **cmds, uint32_t n)
{
	arena_free_batch(a, (void *const *)cmds, n, sizeof(struct loop_cmd), offsetof(struct loop_cmd, free_link));
}

/* the harness's tag-wait words (src/runtime/loop-kworker-layout.js TAGS), one line */
struct tag_wait {
	uint32_t waiters __attribute__((aligned(CACHELINE)));
	uint32_t wake;
};

struct lt_shared {
	struct loop_device *lo;
	struct workqueue *wq;
	struct arena *cmds;    /* of struct loop_cmd */
	struct arena *workers; /* of struct loop_worker */
	struct tag_wait tags;
	uint32_t gate __attribute__((aligned(CACHELINE)));
	uint32_t ready;
	uint32_t handled __attribute__((aligned(CACHELINE))); /* loop-threads.ts's `handled` word */
	int32_t done; /* the last phase whose commands were all handled (loop-kworker.js DONE) */
	uint32_t nphases;
	uint32_t targets[8]; /* commands queued by the end of each phase */
	/* the checks' state (loop-kworker.js): rows = worker arena index, + 1 for the root list */
	int32_t *active;
	int32_t *last_seq;
	uint8_t *seen;
	uint32_t *seq_base;
	uint32_t nsub, root_index, batch, spin;
};

struct lt_thread {
	pthread_t t;
	struct lt_shared *sh;
	uint32_t id; /* submitter id or kworker `me` */
	/* submitter */
	uint64_t *keys;
	uint32_t nkeys, count;
	uint32_t phase_count[8]; /* this submitter's commands in each phase */
	pid_t tid;
	uint64_t queued, calls, tag_waits, tag_wait_ns, queued_works;
	/* kworker */
	uint64_t executions, handled, batches, reentered, fifo_broken, dupes, idled, tag_wakes, sleeps;
	uint64_t ns; /* from the gate to the thread's end */
	struct cpu_t cpu;
} __attribute__((aligned(CACHELINE)));

/* loop-kworker.js waitGate: sleep until the gate word reaches `phase` */
static void lt_wait_gate(struct lt_shared *sh, uint32_t phase)
{
	for (uint32_t v = __atomic_load_n(&sh->gate, SEQ); v < phase; v = __atomic_load_n(&sh->gate, SEQ))
		futex(&sh->gate, FUTEX_WAIT_PRIVATE, v, NULL); /* pairs with the main thread's store + wake */
}

static void lt_gate(struct lt_thread *t)
{
	t->tid = (pid_t)syscall(SYS_gettid);
	__atomic_fetch_add(&t->sh->ready, 1, SEQ); /* loop-kworker.js's 'ready' message */
	lt_wait_gate(t->sh, 1);
}

/* a thread's CPU and run-queue ns so far, read by the main thread (loop-threads.ts taskSchedstat) */
static struct cpu_t task_cpu(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", (int)tid);
	return schedstat_read(path);
}

static struct cpu_t cpu_since(struct cpu_t a)
{
	struct cpu_t b = thread_cpu();
	b.run -= a.run;
	b.wait -= a.wait;
	return b;
}

static double now_ms(void) /* performance.now()'s role: loop_process_batch's `now` */
{
	return (double)now_ns() / 1e6;
}

/* loop-kworker.js submit(): tags in batches, a stamp per command, one loop_queue_work_batch per batch */
static void *lt_submitter(void *arg)
{
	struct lt_thread *t = arg;
	struct lt_shared *sh = t->sh;
	uint32_t batch = sh->batch;
	struct loop_cmd **at = xalloc(sizeof(*at) * batch);
	lt_gate(t);
	struct cpu_t c0 = thread_cpu();
	uint64_t t0 = now_ns();
	uint32_t seq = 0, end = 0;
	for (uint32_t p = 0; p < sh->nphases; p++) {
		if (p > 0)
			lt_wait_gate(sh, p + 1);
		end += t->phase_count[p];
		while (seq < end) {
			uint32_t want = end - seq < batch ? end - seq : batch;
			uint32_t got = cmd_alloc_batch(sh->cmds, at, want);
			if (got == 0) {
				/* every command in flight: blk_mq_get_tag's sleep until blk_mq_put_tag frees some */
				t->tag_waits++;
				uint64_t tw = now_ns();
				__atomic_fetch_add(&sh->tags.waiters, 1, SEQ); /* pairs with the kworkers' load after the free */
				uint32_t woken = __atomic_load_n(&sh->tags.wake, SEQ);
				got = cmd_alloc_batch(sh->cmds, at, want); /* a free before the add is seen here */
				if (got == 0) {
					struct timespec ts = { 0, 5000000 }; /* Atomics.wait's 5 ms cap */
					futex(&sh->tags.wake, FUTEX_WAIT_PRIVATE, woken, &ts);
				}
				__atomic_fetch_sub(&sh->tags.waiters, 1, SEQ);
				t->tag_wait_ns += now_ns() - tw;
				if (got == 0)
					continue;
			}
			for (uint32_t i = 0; i < got; i++) {
				struct loop_cmd *c = at[i];
				c->sub = (uint16_t)t->id;
				c->key = t->keys[(seq + i) % t->nkeys];
				c->tag = seq + i;
			}
			t->queued_works += loop_queue_work_batch_wq(sh->lo, sh->wq, at, got);
			seq += got;
			t->calls++;
		}
	}
	t->queued = seq;
	lt_wait_gate(sh, sh->nphases + 1); /* as loop-kworker.js: until the main thread read this thread's schedstat */
	t->ns = now_ns() - t0;
	t->cpu = cpu_since(c0);
	free(at);
	return NULL;
}

/* loop-kworker.js kworker(): pick, take batches until the list is empty, check each command, free the tags */
static void *lt_kworker(void *arg)
{
	struct lt_thread *t = arg;
	struct lt_shared *sh = t->sh;
	uint32_t cap = sh->batch, nsub = sh->nsub;
	struct loop_cmd **out = xalloc(sizeof(*out) * cap);
	struct loop_device *lo = sh->lo;
	lt_gate(t);
	struct cpu_t c0 = thread_cpu();
	uint64_t t0 = now_ns();
	for (;;) {
		struct work_struct *w = loop_wq_pick(sh->wq, t->id, sh->spin, &t->sleeps);
		if (!w)
			break; /* stopped */
		struct loop_worker *worker = worker_of_work(w);
		uint32_t row = worker ? arena_index(sh->workers, worker, sizeof(struct loop_worker)) : sh->root_index;
		if (__atomic_fetch_add(&sh->active[row], 1, SEQ) != 0) /* pairs with the sub below, on any kworker */
			t->reentered++;
		t->executions++;
		for (;;) {
			int n = loop_process_batch(w, out, cap, now_ms());
			if (n <= 0) {
				if (n < 0)
					t->idled++;
				break;
			}
			t->batches++;
			for (int i = 0; i < n; i++) {
				struct loop_cmd *c = out[i];
				uint32_t s = c->sub, seq = c->tag;
				uint32_t li = row * nsub + s;
				if (sh->last_seq[li] >= (int32_t)seq)
					t->fifo_broken++; /* FIFO per list: one submitter's seqs only grow */
				sh->last_seq[li] = (int32_t)seq; /* only the kworker running this work writes its row */
				if (__atomic_fetch_add(&sh->seen[sh->seq_base[s] + seq], 1, SEQ) != 0)
					t->dupes++;
			}
			t->handled += (uint32_t)n;
			cmd_free_batch(sh->cmds, out, (uint32_t)n); /* the tags go back (blk_mq_free_request) */
			if (__atomic_load_n(&sh->tags.waiters, SEQ) != 0) { /* sbitmap_queue_wake_up, once per freed batch */
				__atomic_fetch_add(&sh->tags.wake, 1, SEQ);
				futex(&sh->tags.wake, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL); /* Atomics.notify: every waiter */
				t->tag_wakes++;
			}
			uint32_t total = __atomic_add_fetch(&sh->handled, (uint32_t)n, SEQ); /* pairs with the main thread's drain check */
			/* the phase whose last command this was: only this kworker's add reaches its target */
			for (uint32_t p = 0; p < sh->nphases; p++) {
				if (total == sh->targets[p]) {
					__atomic_store_n(&sh->done, (int32_t)(p + 1), SEQ); /* pairs with the main thread's load + wait */
					futex((uint32_t *)&sh->done, FUTEX_WAKE_PRIVATE, 1, NULL);
				}
			}
		}
		__atomic_fetch_sub(&sh->active[row], 1, SEQ);
		loop_wq_done(sh->wq, t->id, w);
	}
	(void)lo;
	t->ns = now_ns() - t0;
	t->cpu = cpu_since(c0);
	free(out);
	return NULL;
}

/* loop-threads.ts's default spin (20,000 checks) in time: 0.315 ns a check of kwq's Wasm loop
 * measured on the benchmark machine (one thread, nothing writing `wake`); bench/loop.ts measures
 * it in each run and passes SPIN_NS */
#define DEFAULT_SPIN_NS 6300.0

/* ns per read-only check of `wake` in loop_wq_pick's spin, on this machine (one thread, nothing writes it) */
static double spin_ns_per_check(struct workqueue *wq)
{
	double best = 1e9;
	for (int r = 0; r < 5; r++) { /* the fastest of 5: the first ones may run before the CPU's clock rose */
		uint32_t seq = __atomic_load_n(&wq->wake, SEQ), n = 5000000, i;
		uint64_t t0 = now_ns();
		for (i = 0; i < n; i++)
			if (__atomic_load_n(&wq->wake, SEQ) != seq)
				break;
		double ns = (double)(now_ns() - t0) / (double)i;
		best = ns < best ? ns : best;
	}
	return best;
}

static int cmd_threads(uint32_t S, uint32_t K, uint32_t C, uint32_t count, const char *design, uint32_t batch, uint32_t inflight,
		       double spin_ns, uint32_t warmup)
{
	int kworker_design = !strcmp(design, "kworker");
	if (!kworker_design && strcmp(design, "per-cgroup"))
		die("loop threads: DESIGN is per-cgroup or kworker");
	if (S < 1 || S > 32 || K < 1 || K > LOOP_WQ_MAX_KWORKERS || C < 1 || C > (1u << 20) || count < 1 || count > (1u << 26) || batch < 1 ||
	    batch > 4096 || inflight < 1 || inflight > (1u << 20))
		die("loop threads: SUBMITTERS 1..32, KWORKERS 1..64, CGROUPS 1..2^20, COUNT 1..2^26, BATCH 1..4096, INFLIGHT 1..2^20");
	if (warmup > (1u << 26))
		die("loop threads: WARMUP 0..2^26");
	/* phases as loop-threads.ts: the warm-up in up to 4 phases, then the timed one */
	uint32_t nwarm = warmup < 4 ? warmup : 4, phases[8], nph = 0, total = 0;
	for (uint32_t i = 0; i < nwarm; i++)
		phases[nph++] = warmup / nwarm + (i < warmup % nwarm);
	phases[nph++] = count;
	struct lt_shared *sh = xalloc(sizeof(*sh));
	sh->workers = arena_new(C); /* workerCapacity: cgroups */
	sh->lo = xalloc(sizeof(*sh->lo));
	loop_device_init(sh->lo, sh->workers, 0, 0x12345678u);
	sh->wq = xalloc(sizeof(*sh->wq));
	sh->wq->nr_kworkers = K;
	sh->cmds = xalloc(sizeof(*sh->cmds));
	sh->cmds->base = xalloc(sizeof(struct loop_cmd) * inflight);
	sh->cmds->count = inflight;
	uint32_t rows = C + 1;
	sh->active = xalloc(sizeof(int32_t) * rows);
	sh->last_seq = xalloc(sizeof(int32_t) * rows * S);
	for (uint32_t i = 0; i < rows * S; i++)
		sh->last_seq[i] = -1;
	sh->nphases = nph;
	for (uint32_t p = 0; p < nph; p++)
		sh->targets[p] = total += phases[p];
	sh->seen = xalloc(total);
	sh->seq_base = xalloc(sizeof(uint32_t) * S);
	sh->nsub = S;
	sh->root_index = C;
	sh->batch = batch;
	/* loop_wq_pick's idle spin, the same in time as kwq's: SPIN_NS / this loop's ns per check */
	double ns_per_check = spin_ns_per_check(sh->wq);
	double checks = spin_ns / ns_per_check;
	uint32_t spin = sh->spin = checks > 4e9 ? 4000000000u : (uint32_t)(checks + 0.5);
	struct lt_thread *th = xalloc(sizeof(*th) * (S + K));
	uint32_t base = 0;
	for (uint32_t s = 0; s < S; s++) {
		struct lt_thread *t = &th[K + s];
		t->sh = sh;
		t->id = s;
		t->count = 0;
		for (uint32_t p = 0; p < nph; p++)
			t->count += t->phase_count[p] = phases[p] / S + (s < phases[p] % S);
		sh->seq_base[s] = base;
		base += t->count;
		/* loop-threads.ts keysOf: key 0 (the root FIFO) in the kworker design, else this
		 * submitter's share of the cgroups round-robin (ids 2 + c) */
		t->keys = xalloc(sizeof(uint64_t) * (C / S + 2));
		if (kworker_design)
			t->keys[t->nkeys++] = 0;
		else
			for (uint32_t c = s; c < C; c += S)
				t->keys[t->nkeys++] = 2 + c;
		if (t->nkeys == 0)
			t->keys[t->nkeys++] = 2 + s % C;
	}
	/* loop-threads.ts spawns the kworkers first, then the submitters */
	for (uint32_t i = 0; i < S + K; i++) {
		th[i].sh = sh;
		if (i < K)
			th[i].id = i;
		if (pthread_create(&th[i].t, NULL, i < K ? lt_kworker : lt_submitter, &th[i]))
			die("loop threads: pthread_create");
	}
	while (__atomic_load_n(&sh->ready, SEQ) < S + K) { /* every thread at the gate */
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	/* each phase as loop-threads.ts runs it: open the gate, sleep on the done word until the
	 * kworker that handled the phase's last command wakes this thread, then the workqueue
	 * idle, checked every 50 us; the last phase is timed */
	double ms = 0;
	struct cpu_t sc0[S + K], sc1[S + K];
	for (uint32_t p = 1; p <= nph; p++) {
		if (p == nph)
			for (uint32_t i = 0; i < S + K; i++)
				sc0[i] = task_cpu(th[i].tid);
		uint64_t t0 = now_ns(), deadline = t0 + 60000000000ull;
		__atomic_store_n(&sh->gate, p, SEQ);
		futex(&sh->gate, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
		for (int32_t v = __atomic_load_n(&sh->done, SEQ); v < (int32_t)p; v = __atomic_load_n(&sh->done, SEQ)) {
			if (now_ns() > deadline)
				die("loop threads: the commands were not handled within 60 s");
			struct timespec ts = { 1, 0 };
			futex((uint32_t *)&sh->done, FUTEX_WAIT_PRIVATE, (uint32_t)v, &ts); /* pairs with the kworkers' store + wake */
		}
		while (!loop_wq_idle(sh->wq)) {
			if (now_ns() > deadline)
				die("loop threads: the workqueue was not idle within 60 s");
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
		ms = (double)(now_ns() - t0) / 1e6;
	}
	for (uint32_t i = 0; i < S + K; i++)
		sc1[i] = task_cpu(th[i].tid);
	__atomic_store_n(&sh->gate, nph + 1, SEQ); /* the submitters end */
	futex(&sh->gate, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
	for (uint32_t s = 0; s < S; s++)
		pthread_join(th[K + s].t, NULL);
	loop_wq_stop(sh->wq);
	for (uint32_t k = 0; k < K; k++)
		pthread_join(th[k].t, NULL);

	/* the checks of loop-threads.ts */
	uint64_t missing = 0, twice = 0;
	for (uint32_t i = 0; i < total; i++) {
		if (sh->seen[i] == 0)
			missing++;
		else if (sh->seen[i] > 1)
			twice++;
	}
	uint64_t executions = 0, handled = 0, batches = 0, reentered = 0, fifo_broken = 0, dupes = 0, idled = 0, tag_wakes = 0, sleeps = 0;
	uint64_t tag_waits = 0, tag_wait_ns = 0, calls = 0, queued_works = 0;
	double kw_cpu = 0, kw_rq = 0, sub_cpu = 0, sub_rq = 0;
	for (uint32_t k = 0; k < K; k++) {
		struct lt_thread *t = &th[k];
		executions += t->executions, handled += t->handled, batches += t->batches, reentered += t->reentered;
		fifo_broken += t->fifo_broken, dupes += t->dupes, idled += t->idled, tag_wakes += t->tag_wakes, sleeps += t->sleeps;
		kw_cpu += (double)(sc1[k].run - sc0[k].run) / 1e6, kw_rq += (double)(sc1[k].wait - sc0[k].wait) / 1e6;
	}
	for (uint32_t s = 0; s < S; s++) {
		struct lt_thread *t = &th[K + s];
		tag_waits += t->tag_waits, tag_wait_ns += t->tag_wait_ns, calls += t->calls, queued_works += t->queued_works;
		sub_cpu += (double)(sc1[K + s].run - sc0[K + s].run) / 1e6, sub_rq += (double)(sc1[K + s].wait - sc0[K + s].wait) / 1e6;
	}
	struct loop_device *lo = sh->lo;
	struct workqueue *wq = sh->wq;
	int ok = !missing && !twice && !reentered && !fifo_broken && !dupes && handled == total && lo->queued == total &&
		 wq->executed == executions && wq->queued == wq->executed;
	printf("{\"submitters\":%u,\"kworkers\":%u,\"cgroups\":%u,\"count\":%u,\"warmup\":%u,\"design\":\"%s\",\"batch\":%u,\"inflight\":%u,\"spin\":%u,"
	       "\"spinNs\":%.1f,\"spinNsPerCheck\":%.3f,\"ms\":%.3f,\"requestsPerSec\":%.1f,\"ok\":%s,\"exactlyOnce\":%s,\"missing\":%llu,\"twice\":%llu,"
	       "\"dupes\":%llu,\"fifoBroken\":%llu,\"reentered\":%llu,\"handled\":%llu,\"executions\":%llu,\"batches\":%llu,\"idled\":%llu,"
	       "\"kworkerSleeps\":%llu,\"tagWaits\":%llu,\"tagWaitMs\":%.3f,\"tagWakes\":%llu,\"calls\":%llu,\"queuedWorks\":%llu,"
	       "\"dispatch\":{\"queued\":%u,\"rootQueued\":%u,\"allocFailures\":%u,\"workersCreated\":%u,\"queueNoop\":%u,\"rescued\":%u,\"nrWorkers\":%u},"
	       "\"workqueue\":{\"queued\":%u,\"executed\":%u,\"collisions\":%u},"
	       "\"submitterCpuMs\":%.3f,\"submitterRunQueueMs\":%.3f,\"kworkerCpuMs\":%.3f,\"kworkerRunQueueMs\":%.3f}\n",
	       S, K, C, count, warmup, design, batch, inflight, spin, spin_ns, ns_per_check, ms, (double)count / (ms / 1000), ok ? "true" : "false",
	       !missing && !twice && !dupes && handled == total ? "true" : "false", (unsigned long long)missing, (unsigned long long)twice,
	       (unsigned long long)dupes, (unsigned long long)fifo_broken, (unsigned long long)reentered, (unsigned long long)handled,
	       (unsigned long long)executions, (unsigned long long)batches, (unsigned long long)idled, (unsigned long long)sleeps,
	       (unsigned long long)tag_waits, (double)tag_wait_ns / 1e6, (unsigned long long)tag_wakes, (unsigned long long)calls,
	       (unsigned long long)queued_works, lo->queued, lo->root_queued, lo->alloc_failures, lo->workers_created, lo->queue_noop,
	       lo->rescued, lo->nr_workers, wq->queued, wq->executed, wq->collisions, sub_cpu, sub_rq, kw_cpu, kw_rq);
	return 0; /* the JSON says whether the checks passed */
}

int loop_main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[2], "dispatch"))
		return cmd_dispatch((uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]), argc >= 7 && !strcmp(argv[6], "one"));
	if (argc >= 6 && !strcmp(argv[2], "lookup"))
		return cmd_lookup((uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]));
	if (argc >= 3 && !strcmp(argv[2], "scale"))
		return cmd_scale_loop(argc, argv);
	if (argc >= 8 && !strcmp(argv[2], "threads"))
		return cmd_threads((uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]), (uint32_t)atoi(argv[6]), argv[7],
				   argc >= 9 ? (uint32_t)atoi(argv[8]) : 64, argc >= 10 ? (uint32_t)atoi(argv[9]) : 1024,
				   argc >= 11 ? atof(argv[10]) : DEFAULT_SPIN_NS, argc >= 12 ? (uint32_t)atoi(argv[11]) : 0);
	die("usage: kwq-native loop dispatch NCG N MS [batch|one] | loop lookup NCG LOOKUPS MS"
	    " | loop scale NCG QD MIN_ITEMS MS [TAGS [hint|walk]]"
	    " | loop threads SUBMITTERS KWORKERS CGROUPS COUNT DESIGN [BATCH INFLIGHT [SPIN_NS [WARMUP]]]");
	return 2;
}

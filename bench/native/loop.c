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
 *  - a loop_cmd of 32 bytes, allocated back to back as in Wasm's loop_cmd arena.
 * What differs: pointers instead of 32-bit offsets (a loop_worker is 112 bytes here,
 * 80 in Wasm; a loop_cmd has no seq/done words: its pointers fill them); in `loop lookup` the walk is the kernel's
 * three-way compare with branches where kwq's rb_find_batch_u64 picks the child
 * branch-free; C takes into a log array (the checks read it afterwards) where kwq's
 * host reuses one out buffer.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "loop.h"
#include "rbtree.h"

/* ---- the structures (assembly/loop.ts, assembly/loop-wq.ts) ------------------ */

#define WORK_PENDING 1u /* WORK_STRUCT_PENDING_BIT's mask in work->data */

struct loop_device;
struct loop_worker;

struct work_struct {
	uint32_t data; /* bit 0 PENDING */
	uint32_t entry, reserved, pad;
	struct loop_device *lo;
};

struct loop_cmd {
	struct loop_cmd *next; /* list_entry: a FIFO link */
	uint32_t tag;          /* the host's (here: the command's index) */
	uint32_t result;       /* LOOP_QW_* flags */
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

/* the loop_worker arena: assembly/arena.ts's tagged Treiber stack + bump pointer */
struct worker_arena {
	uint64_t head __attribute__((aligned(CACHELINE))); /* tag << 32 | (index + 1), 0 = empty */
	struct loop_worker *base __attribute__((aligned(CACHELINE)));
	uint32_t count;
	uint32_t unused; /* the first index never handed out */
};

struct loop_device {
	uint32_t lo_work_lock __attribute__((aligned(CACHELINE))); /* line 0 */
	struct rb_root worker_tree __attribute__((aligned(CACHELINE)));
	struct loop_worker *idle_head, *idle_tail; /* idle_worker_list, oldest first */
	struct loop_cmd *root_head, *root_tail;    /* rootcg_cmd_list */
	struct worker_arena *worker_arena;
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

static inline uint32_t *free_link(struct loop_worker *w)
{
	return (uint32_t *)(void *)w;
}

static struct loop_worker *arena_alloc(struct worker_arena *a)
{
	uint64_t old = __atomic_load_n(&a->head, SEQ);
	for (;;) {
		uint32_t idx = (uint32_t)old;
		if (idx == 0) { /* arena_bump */
			uint32_t u = __atomic_load_n(&a->unused, SEQ);
			while (u < a->count) {
				if (__atomic_compare_exchange_n(&a->unused, &u, u + 1, 0, SEQ, SEQ))
					return &a->base[u];
			}
			return NULL;
		}
		uint32_t next = __atomic_load_n(free_link(&a->base[idx - 1]), __ATOMIC_RELAXED); /* may be stale: the tag rejects it */
		uint64_t nw = ((uint64_t)((uint32_t)(old >> 32) + 1) << 32) | next;
		if (__atomic_compare_exchange_n(&a->head, &old, nw, 0, SEQ, SEQ))
			return &a->base[idx - 1];
	}
}

/* ---- drivers/block/loop.c's dispatch (assembly/loop.ts) ----------------------- */

static void loop_work_init(struct work_struct *w, struct loop_device *lo)
{
	memset(w, 0, sizeof(*w));
	w->lo = lo;
}

static void loop_device_init(struct loop_device *lo, struct worker_arena *arena, uint32_t fail_pct, uint32_t seed)
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
	cmd->next = NULL;
	if (*tailp == NULL)
		*headp = cmd;
	else
		(*tailp)->next = cmd;
	*tailp = cmd;
}

static inline struct loop_cmd *cmd_shift(struct loop_cmd **headp, struct loop_cmd **tailp)
{
	struct loop_cmd *c = *headp;
	if (!c)
		return NULL;
	*headp = c->next;
	if (!c->next)
		*tailp = NULL;
	c->next = NULL;
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
	return arena_alloc(lo->worker_arena);
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

/* assembly/loop.ts queue_locked: the body of loop_queue_work with lo_work_lock held */
static inline uint32_t queue_locked(struct loop_device *lo, struct loop_cmd *cmd, uint64_t key)
{
	uint32_t flags = 0;
	struct loop_worker *worker = NULL;
	struct work_struct *work;
	lo->queued++;
	if (key) {
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
	if (!(__atomic_fetch_or(&work->data, WORK_PENDING, SEQ) & WORK_PENDING))
		flags |= LOOP_QW_QUEUE;
	else
		lo->queue_noop++;
	cmd->result = flags;
	return flags;
}

static uint32_t loop_queue_work(struct loop_device *lo, struct loop_cmd *cmd)
{
	spin_lock(&lo->lo_work_lock);
	uint32_t flags = queue_locked(lo, cmd, cmd->key);
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
		queued += queue_locked(lo, cmd, key) & LOOP_QW_QUEUE;
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

static struct worker_arena *arena_new(uint32_t count)
{
	struct worker_arena *a = xalloc(sizeof(*a));
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
	struct worker_arena *arena = arena_new(WORKER_CAP);
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
	struct worker_arena *arena = arena_new(WORKER_CAP);
	struct loop_device *lo = xalloc(sizeof(*lo));
	loop_device_init(lo, arena, 0, 1);
	struct loop_cmd *cmds = xalloc(sizeof(struct loop_cmd) * ncg);
	for (uint32_t i = 0; i < ncg; i++) { /* one command per cgroup makes its worker */
		cmds[i].key = 2 + i;
		loop_queue_work(lo, &cmds[i]);
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

int loop_main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[2], "dispatch"))
		return cmd_dispatch((uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]), argc >= 7 && !strcmp(argv[6], "one"));
	if (argc >= 6 && !strcmp(argv[2], "lookup"))
		return cmd_lookup((uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]), (uint32_t)atoi(argv[5]));
	die("usage: kwq-native loop dispatch NCG N MS [batch|one] | loop lookup NCG LOOKUPS MS");
	return 2;
}

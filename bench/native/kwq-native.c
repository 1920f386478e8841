/*
 * The native reference of kwq's benchmarks: the same work in C, built with the
 * machine's cc by bench/native/native.ts and run as a child process that prints
 * one JSON object on stdout. Every figure of bench/llist.ts, bench/vhost-threads.ts,
 * bench/vhost-scsi.ts (its queue figures), bench/rbtree.ts and bench/scale.ts's vhost
 * and processes curves gets its C figure from here, measured in the same run.
 *
 *   kwq-native calibrate
 *   kwq-native llist BATCH MS
 *   kwq-native threads MODE POOL BATCH RESUME PRODUCERS MS ROUNDS WORKER_SPIN_US WAIT_MAX_US WAIT_MIN_US SLEEP_US SPIN_FLOOR [WORKERS [noop|count]]
 *       MODE: ring-each (one vhost_worker_queue per work) | ring-batch (one llist_add_batch per burst)
 *   kwq-native rbtree N SEED MS PROTOCOL        PROTOCOL: same | fresh
 *   kwq-native scale DEVICES WORKS MIN_ITEMS MS [psi|psi-groups]
 *
 * Written for this repository from the kernel's algorithms (include/linux/llist.h,
 * drivers/vhost/vhost.c's vhost_worker_queue / vhost_run_work_list, lib/rbtree.c's
 * insert and erase rebalancing as documented there, kernel/sched/psi.c's task
 * accounting), not copied from the kernel.
 *
 * What is the same as kwq (so that the ratio compares implementations, not work):
 *  - vhost_work: 32 bytes, llist_node first, QUEUED = bit 1 of flags; one work per
 *    item (distinct nodes), the same pool sizes, batch sizes and ring order;
 *  - test_and_set_bit with the early read (asm-generic's; x86's lock bts has none,
 *    and kwq's assembly/bitops.ts has it), test_and_clear_bit by the worker (kwq
 *    counts QUEUED violations with its result), every atomic sequentially consistent;
 *  - a NOOP work is skipped, not called (kwq's run loop skips NOOP the same way);
 *  - the worker loop of assembly/vhost.ts: llist_del_all + llist_reverse_order per
 *    batch, an idle re-check spin set in time then a futex sleep, wake-ups sent only
 *    to a worker that published SLEEPING (cmpxchg SLEEPING -> RUNNING + FUTEX_WAKE),
 *    the adaptive spin budget and its floor when threads outnumber CPUs;
 *  - the ring producers of src/runtime/worker.js: queue in ring order, stop at the
 *    first work still QUEUED, wait for the RESUME-th one with an adaptive read-only
 *    spin then a timed futex wait that nobody wakes (a yield), check the stop word
 *    once per call; items/s = works added / the longest producer window.
 *  - rbtree: the same keys (xorshift32 from the same seed, 21+32-bit keys), orders
 *    and protocol as bench/rbtree.ts; nodes are the kernel's (pointers, 24 bytes,
 *    parent and colour in one word) embedded beside a u64 key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "io-wq.h"
#include "loop.h"
#include "kernel.h"
#include "psi.h"
#include "rbtree.h"
#include "scale.h"

/* ---- vhost_work / vhost_worker ----------------------------------------------- */

#define VHOST_WORK_QUEUED 1
#define FN_NOOP 0
#define FN_COUNT 2 /* assembly/vhost.ts VHOST_FN_COUNT: counter_add(arg, 1), an atomic u64 add */

/* FN_COUNT's counter slots (kwq's counters arena: one u64 each) */
#define NCOUNTERS 64
static uint64_t counters[NCOUNTERS] __attribute__((aligned(CACHELINE)));

struct vhost_work {
	struct llist_node node; /* first: container_of is the identity */
	uint32_t flags;
	uint32_t fn;
	uint32_t cost;
	uint32_t arg; /* FN_COUNT's counter slot */
	uint32_t pad[2];
};

enum { RUNNING = 0, SLEEPING = 1 };

struct vhost_worker {
	struct llist_node *list __attribute__((aligned(CACHELINE))); /* line 0: producers cmpxchg, worker xchg */
	uint32_t state __attribute__((aligned(CACHELINE)));          /* line 1: the futex word */
	uint32_t stop;
	uint32_t spin_floor;
	uint64_t wakeups;
	/* line 2: private to the thread running the worker */
	uint64_t items __attribute__((aligned(CACHELINE)));
	uint64_t batches, sleeps, vcost, violations;
	struct psi_task psi; /* the worker task's PSI part (scale ... psi) */
};

/* wake the worker iff it said it is asleep (kwq's policy; the kernel wakes on every add) */
static inline unsigned vhost_worker_wakeup(struct vhost_worker *w)
{
	if (__atomic_load_n(&w->state, SEQ) != SLEEPING)
		return 0;
	uint32_t exp = SLEEPING;
	if (!__atomic_compare_exchange_n(&w->state, &exp, RUNNING, 0, SEQ, SEQ))
		return 0;
	futex(&w->state, FUTEX_WAKE_PRIVATE, 1, NULL);
	__atomic_fetch_add(&w->wakeups, 1, SEQ);
	return 1;
}

/* vhost_worker_queue: 0 already queued, else 1 | woke << 1 */
static inline unsigned vhost_worker_queue(struct vhost_worker *w, struct vhost_work *work)
{
	if (test_and_set_bit(VHOST_WORK_QUEUED, &work->flags))
		return 0;
	llist_add(&work->node, &w->list);
	return 1 | (vhost_worker_wakeup(w) << 1);
}

/*
 * What a vhost driver work is beside its node in kwq: a VhostWork object holding the
 * handler and its data, found through the engine's table by the node's arg (the
 * index). bench/scale.ts's handler counts its runs (runs[data]++), through a pointer.
 */
struct host_work {
	void (*fn)(struct host_work *);
	uint64_t data;
};

/*
 * one llist_del_all batch (vhost_run_work_list); returns the works taken. With a table,
 * each work's fn is the table's handler record at its arg (HOST works), called after the
 * clear; without, the built-ins: NOOP skipped, COUNT an atomic add. (Inline with a
 * constant table, the compiler keeps one of the two.)
 */
static inline uint64_t vhost_worker_run_list(struct vhost_worker *w, struct host_work **table)
{
	struct llist_node *node = llist_del_all(&w->list);
	if (!node)
		return 0;
	node = llist_reverse_order(node);
	uint64_t items = 0, vcost = 0, viol = 0;
	while (node) {
		struct vhost_work *work = (struct vhost_work *)node;
		struct llist_node *next = node->next; /* before the clear: a producer may re-queue it */
		vcost += work->cost;
		viol += !test_and_clear_bit(VHOST_WORK_QUEUED, &work->flags);
		if (table) {
			struct host_work *hw = table[work->arg];
			hw->fn(hw);
		} else if (work->fn == FN_COUNT)
			__atomic_fetch_add(&counters[work->arg & (NCOUNTERS - 1)], 1, SEQ);
		else if (work->fn != FN_NOOP)
			sink += work->fn;
		items++;
		node = next;
	}
	w->items += items;
	w->batches++;
	w->vcost += vcost;
	w->violations += viol;
	return items;
}

/* one llist_del_all batch (vhost_run_work_list) of built-in works (NOOP, COUNT); returns the works taken */
static inline uint64_t vhost_worker_run_batch(struct vhost_worker *w)
{
	return vhost_worker_run_list(w, NULL);
}

static inline int idle_spin(struct vhost_worker *w, uint32_t spin)
{
	for (uint32_t i = 0; i < spin; i++)
		if (__atomic_load_n(&w->list, SEQ) != NULL || __atomic_load_n(&w->stop, SEQ))
			return 1;
	return 0;
}

/* assembly/vhost.ts vhost_worker_loop, without HOST works */
static void vhost_worker_loop(struct vhost_worker *w, uint32_t spin)
{
	uint32_t budget = spin;
	for (;;) {
		if (__atomic_load_n(&w->stop, SEQ))
			return;
		if (vhost_worker_run_batch(w))
			continue;
		if (__atomic_load_n(&w->list, SEQ) != NULL)
			continue;
		if (idle_spin(w, budget)) {
			budget = budget > spin >> 1 ? spin : budget << 1;
			continue;
		}
		uint32_t min_spin = spin >> __atomic_load_n(&w->spin_floor, SEQ);
		budget = budget >> 1 < min_spin ? min_spin : budget >> 1;
		__atomic_store_n(&w->state, SLEEPING, SEQ); /* set_current_state */
		if (__atomic_load_n(&w->list, SEQ) != NULL || __atomic_load_n(&w->stop, SEQ)) {
			__atomic_store_n(&w->state, RUNNING, SEQ);
			continue;
		}
		w->sleeps++;
		while (__atomic_load_n(&w->state, SEQ) == SLEEPING)
			futex(&w->state, FUTEX_WAIT_PRIVATE, SLEEPING, NULL);
		__atomic_store_n(&w->state, RUNNING, SEQ);
	}
}

/* vhost_worker_queue_each_ordered: stop before the first work still queued */
static inline uint32_t queue_each_ordered(struct vhost_worker *w, struct vhost_work **works, uint32_t n)
{
	uint32_t i = 0;
	while (i < n && (vhost_worker_queue(w, works[i]) & 1))
		i++;
	return i;
}

/* vhost_work_queue_batch_ordered: one chain, one llist_add_batch, one wake check */
static inline uint32_t queue_batch_ordered(struct vhost_worker *w, struct vhost_work **works, uint32_t n)
{
	struct llist_node *first = NULL, *last = NULL;
	uint32_t added = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct vhost_work *work = works[i];
		if (test_and_set_bit(VHOST_WORK_QUEUED, &work->flags))
			break;
		if (!last)
			last = &work->node;
		else
			work->node.next = first;
		first = &work->node;
		added++;
	}
	if (!added)
		return 0;
	llist_add_batch(first, last, &w->list);
	vhost_worker_wakeup(w);
	return added;
}

/* vhost_work_wait_idle: 1 idle within the spin, 3 idle after a sleep, 2 slept, 0 spin ran out */
static inline uint32_t wait_idle(struct vhost_work *work, uint32_t spin, uint32_t sleep_us)
{
	const uint32_t m = 1u << VHOST_WORK_QUEUED;
	for (uint32_t i = 0; i < spin; i++)
		if (!(__atomic_load_n(&work->flags, SEQ) & m))
			return 1;
	uint32_t v = __atomic_load_n(&work->flags, SEQ);
	if (!(v & m))
		return 1;
	if (!sleep_us)
		return 0;
	struct timespec ts = { 0, (long)sleep_us * 1000 };
	futex(&work->flags, FUTEX_WAIT_PRIVATE, v, &ts); /* nobody wakes it: a yield */
	return 2 | ((__atomic_load_n(&work->flags, SEQ) & m) ? 0 : 1);
}

/* ---- calibration: ns per check of the worker's spin and a producer's wait ---- */

static double ns_per_check_spin(void)
{
	static struct vhost_worker w;
	double best = 1e9;
	for (int r = 0; r < 5; r++) {
		uint64_t t0 = now_ns();
		idle_spin(&w, 2000000);
		double ns = (double)(now_ns() - t0) / 2000000;
		if (ns < best)
			best = ns;
	}
	return best;
}

static double ns_per_check_wait(void)
{
	static struct vhost_work work = { .flags = 1u << VHOST_WORK_QUEUED };
	double best = 1e9;
	for (int r = 0; r < 5; r++) {
		uint64_t t0 = now_ns();
		wait_idle(&work, 2000000, 0);
		double ns = (double)(now_ns() - t0) / 2000000;
		if (ns < best)
			best = ns;
	}
	return best;
}

static uint32_t checks(double us, double ns_per)
{
	double c = us * 1000.0 / ns_per;
	return c < 1 ? 1 : (uint32_t)(c + 0.5);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

/* ---- llist on one thread: bench/llist.ts's batch ---------------------------- */

static int cmd_llist(int argc, char **argv)
{
	if (argc < 4)
		die("usage: llist BATCH MS");
	uint32_t B = (uint32_t)atoi(argv[2]);
	double ms = atof(argv[3]);
	struct vhost_work *works = aligned_alloc(64, sizeof(struct vhost_work) * B);
	struct vhost_work **arr = malloc(sizeof(*arr) * B);
	static struct vhost_worker w;
	if (!works || !arr)
		die("out of memory");
	memset(works, 0, sizeof(struct vhost_work) * B);
	for (uint32_t i = 0; i < B; i++)
		arr[i] = &works[i];
	uint64_t queued = 0;
	/* warm-up, then samples of one batch each until MS elapsed; the mean, as tinybench */
	double best_of = 0, sum = 0;
	uint64_t samples = 0;
	uint64_t warm = now_ns() + 50000000ull;
	while (now_ns() < warm) {
		for (uint32_t i = 0; i < B; i++)
			queued += vhost_worker_queue(&w, arr[i]) & 1;
		vhost_worker_run_batch(&w);
	}
	uint64_t end = now_ns() + (uint64_t)(ms * 1e6);
	double min = 1e18;
	size_t cap = 1 << 22;
	float *lat = malloc(sizeof(float) * cap);
	if (!lat)
		die("out of memory");
	while (now_ns() < end && samples < cap) {
		uint64_t t0 = now_ns();
		for (uint32_t i = 0; i < B; i++)
			queued += vhost_worker_queue(&w, arr[i]) & 1;
		vhost_worker_run_batch(&w);
		double d = (double)(now_ns() - t0);
		sum += d;
		if (d < min)
			min = d;
		lat[samples++] = (float)d;
	}
	best_of = min / B;
	qsort(lat, samples, sizeof(float), cmp_float);
	double median = samples % 2 ? lat[samples / 2] : (lat[samples / 2 - 1] + lat[samples / 2]) / 2.0;
	int ok = w.items == queued && w.violations == 0;
	printf("{\"nsPerItem\":%.4f,\"medianNsPerItem\":%.4f,\"minNsPerItem\":%.4f,\"samples\":%llu,\"batch\":%u,\"items\":%llu,\"exactlyOnce\":%s}\n",
	       sum / samples / B, median / B, best_of, (unsigned long long)samples, B, (unsigned long long)w.items, ok ? "true" : "false");
	return 0;
}

/* ---- the scale curves' queue work on one thread: bench/scale.ts ------------- */

static uint32_t *scale_runs;

static void count_run(struct host_work *hw)
{
	scale_runs[hw->data]++;
}

/* a scale point's works and workers */
struct scale {
	struct vhost_worker *workers, **runq;
	struct vhost_work *works;
	struct host_work **table;
	uint32_t devices, per_dev;
	uint64_t rounds, queued;
	/* with PSI: the virtual clock (ns), advanced by each work's run */
	int psi;
	uint64_t now;
};

/* a work's virtual run time with PSI (the stall it makes the others wait) */
#define SCALE_WORK_NS 1000

/*
 * one round: queue every work of every device, then run the woken workers until their
 * lists are empty. With PSI, the kernel's accounting around it: a wake-up counts the
 * worker runnable in its groups (psi_enqueue -> psi_task_change), each dispatch is a
 * switch from the worker before, which goes to sleep (psi_task_switch), the last a
 * switch to idle.
 */
static void scale_round(struct scale *s)
{
	uint32_t nr = 0;
	for (uint32_t d = 0; d < s->devices; d++) {
		struct vhost_worker *w = &s->workers[d];
		for (uint32_t v = 0; v < s->per_dev; v++) {
			struct vhost_work *work = &s->works[(size_t)d * s->per_dev + v];
			if (test_and_set_bit(VHOST_WORK_QUEUED, &work->flags))
				continue;
			s->queued++;
			if (llist_add(&work->node, &w->list) && w->state == SLEEPING) {
				w->state = RUNNING; /* wake_up_process */
				if (s->psi)
					psi_task_change(&w->psi, 0, TSK_RUNNING, s->now);
				s->runq[nr++] = w;
			}
		}
	}
	struct psi_task *prev = NULL;
	for (uint32_t i = 0; i < nr; i++) {
		struct vhost_worker *w = s->runq[i];
		if (s->psi) {
			psi_task_switch(prev, &w->psi, 1, s->now);
			prev = &w->psi;
		}
		uint64_t items = 0, got;
		while ((got = vhost_worker_run_list(w, s->table)))
			items += got;
		s->now += items * SCALE_WORK_NS;
		w->state = SLEEPING;
	}
	if (prev)
		psi_task_switch(prev, NULL, 1, s->now);
	s->rounds++;
}

static void scale_round_cb(void *s)
{
	scale_round(s);
}

/*
 * kwq-native scale DEVICES WORKS MIN_ITEMS MS: bench/scale-points.ts's vhost round
 * in C. DEVICES workers (the kernel's layout above), DEVICES * WORKS 32-byte works
 * allocated device after device (kwq's arena bumps in that order), each with its
 * host_work and table slot; a round queues every work of every device in that order
 * (vhost_worker_queue; the first work on an empty list wakes its worker: SLEEPING ->
 * RUNNING and onto the run queue, as wake_up_process puts the task on a run queue),
 * then runs each woken worker in wake order until its list is empty
 * (vhost_run_work_list batches, each work's fn through the table) and puts it back to
 * sleep (scale_round). Timing as scale-points.ts (scale.h): rounds for MS (300 ms at least), then three blocks of
 * at least MIN_ITEMS / 3 works and MS / 3 (the clock read as there), the median
 * block's ns/work.
 *
 * With `psi` or `psi-groups`, the kernel's PSI accounting of the workers' wake-ups,
 * dispatches and sleeps (psi.h) over the cgroups of scale-points.ts: the root
 * (psi_system), /machine.slice, and /machine.slice/vm0 holding every worker (`psi`:
 * one qemu process, the vhost curves) or /machine.slice/vmD per device (`psi-groups`:
 * a process per device, the processes curve); the clock is virtual, SCALE_WORK_NS a
 * work. kwq counts the same changes (src/kernel/cgroup/psi.ts). What is not here:
 * the rest of the simulation kwq runs around it (the scheduler's run queue, virtual
 * time's events, cpu.stat), the JS-to-Wasm calls; so the curve is what the memory
 * hierarchy does to the same queue-and-run work (and its PSI) as the host grows.
 */
static int cmd_scale(int argc, char **argv)
{
	if (argc < 6)
		die("usage: scale DEVICES WORKS MIN_ITEMS MS [psi|psi-groups]");
	uint32_t D = (uint32_t)atoi(argv[2]), V = (uint32_t)atoi(argv[3]);
	double min_items = atof(argv[4]), ms = atof(argv[5]);
	if (D < 1 || V < 1)
		die("scale: DEVICES and WORKS must be >= 1");
	int psi = 0; /* 1: one group for every worker; 2: a group per device */
	if (argc > 6) {
		if (!strcmp(argv[6], "psi"))
			psi = 1;
		else if (!strcmp(argv[6], "psi-groups"))
			psi = 2;
		else
			die("scale: the sixth argument must be psi or psi-groups");
	}
	uint32_t n = D * V;
	struct vhost_worker *workers = aligned_alloc(CACHELINE, sizeof(struct vhost_worker) * D);
	struct vhost_worker **runq = malloc(sizeof(*runq) * D);
	struct vhost_work *works = aligned_alloc(CACHELINE, sizeof(struct vhost_work) * n);
	struct host_work *hws = malloc(sizeof(*hws) * n);
	struct host_work **table = malloc(sizeof(*table) * n);
	scale_runs = calloc(n, sizeof(*scale_runs));
	if (!workers || !runq || !works || !hws || !table || !scale_runs)
		die("out of memory");
	memset(workers, 0, sizeof(struct vhost_worker) * D);
	memset(works, 0, sizeof(struct vhost_work) * n);
	for (uint32_t d = 0; d < D; d++)
		workers[d].state = SLEEPING;
	for (uint32_t i = 0; i < n; i++) {
		works[i].fn = FN_COUNT; /* unused: with a table, every work runs its handler record */
		works[i].arg = i;
		hws[i].fn = count_run;
		hws[i].data = i;
		table[i] = &hws[i];
	}
	/* the cgroups' PSI groups; the per-CPU parts in one chunk, as alloc_percpu's */
	uint32_t ngroups = psi == 2 ? D + 2 : 3;
	struct psi_group **groups = NULL;
	if (psi) {
		struct psi_group_cpu *chunk = aligned_alloc(CACHELINE, sizeof(*chunk) * ngroups);
		groups = malloc(sizeof(*groups) * ngroups);
		if (!chunk || !groups)
			die("out of memory");
		groups[0] = psi_group_new(NULL, &chunk[0]);      /* psi_system */
		groups[1] = psi_group_new(groups[0], &chunk[1]); /* /machine.slice */
		for (uint32_t d = 0; d < D; d++) {
			if (d == 0 || psi == 2) /* /machine.slice/vmD, made with its process */
				groups[2 + (psi == 2 ? d : 0)] = psi_group_new(groups[1], &chunk[2 + (psi == 2 ? d : 0)]);
			workers[d].psi.group = groups[2 + (psi == 2 ? d : 0)];
		}
	}
	struct scale sc = { workers, runq, works, table, D, V, 0, 0, psi, 0 };
	struct scale_blocks t = scale_measure(scale_round_cb, &sc, n, min_items, ms);
	uint64_t rounds = sc.rounds, queued = sc.queued;
	int ok = 1;
	uint64_t taken = 0, viol = 0;
	for (uint32_t i = 0; i < n; i++)
		ok &= scale_runs[i] == rounds;
	for (uint32_t d = 0; d < D; d++) {
		taken += workers[d].items;
		viol += workers[d].violations;
	}
	ok &= taken == queued && queued == rounds * n && viol == 0;
	/* PSI: every worker asleep, so no group counts a task or is on the CPU; with more
	 * than one device, the root saw the others wait (cpu some) */
	for (uint32_t g = 0; g < (psi ? ngroups : 0); g++) {
		struct psi_group_cpu *c = groups[g]->pcpu;
		ok &= c->tasks[NR_RUNNING] == 0 && !(c->state_mask & (PSI_ONCPU | 1u << PSI_NONIDLE)) && groups[g]->avgs_work_pending;
	}
	if (psi && D > 1)
		ok &= groups[0]->pcpu->times[PSI_CPU_SOME] > 0;
	scale_print(t, rounds * n, ok);
	return 0;
}

/* ---- 2 producers + 1 worker on threads: bench/vhost-threads.ts's scenarios ---- */

struct prod {
	pthread_t th;
	struct vhost_worker *w;
	struct vhost_work **works;
	uint32_t pool, batch, resume, each;
	uint32_t wait_max, wait_min, sleep_us;
	uint32_t *gate, *stop;
	uint64_t added, waits, sleeps, ns;
	struct cpu_t cpu;
} __attribute__((aligned(CACHELINE)));

static void *producer_main(void *arg)
{
	struct prod *p = arg;
	while (!__atomic_load_n(p->gate, SEQ))
		futex(p->gate, FUTEX_WAIT_PRIVATE, 0, NULL);
	uint64_t t0 = now_ns();
	struct cpu_t c0 = thread_cpu();
	uint32_t spin = p->wait_max, i = 0;
	uint32_t resume = p->resume < 1 ? 1 : p->resume > p->batch ? p->batch : p->resume;
	while (!__atomic_load_n(p->stop, SEQ)) { /* once per call, as worker.js */
		uint32_t n = p->batch < p->pool - i ? p->batch : p->pool - i;
		uint32_t a = p->each ? queue_each_ordered(p->w, p->works + i, n) : queue_batch_ordered(p->w, p->works + i, n);
		p->added += a;
		i += a;
		if (i == p->pool)
			i = 0;
		if (a == n)
			continue;
		p->waits++;
		struct vhost_work *target = p->works[(i + resume - 1) % p->pool];
		for (;;) {
			uint32_t r = wait_idle(target, spin, p->sleep_us);
			spin = r == 1 ? (spin * 2 < p->wait_max ? spin * 2 : p->wait_max) : (spin >> 1 > p->wait_min ? spin >> 1 : p->wait_min);
			if (r & 1)
				break;
			p->sleeps += r >> 1;
			if (__atomic_load_n(p->stop, SEQ))
				break;
		}
	}
	p->ns = now_ns() - t0;
	struct cpu_t c1 = thread_cpu();
	p->cpu.run = c1.run - c0.run;
	p->cpu.wait = c1.wait - c0.wait;
	return NULL;
}

struct wthread {
	pthread_t th;
	struct vhost_worker *w;
	uint32_t spin;
	uint32_t *gate;
	struct cpu_t cpu;
};

static void *worker_main(void *arg)
{
	struct wthread *t = arg;
	while (!__atomic_load_n(t->gate, SEQ))
		futex(t->gate, FUTEX_WAIT_PRIVATE, 0, NULL);
	struct cpu_t c0 = thread_cpu();
	vhost_worker_loop(t->w, t->spin);
	struct cpu_t c1 = thread_cpu();
	t->cpu.run = c1.run - c0.run;
	t->cpu.wait = c1.wait - c0.wait;
	return NULL;
}

static int cmd_threads(int argc, char **argv)
{
	if (argc < 14)
		die("usage: threads MODE POOL BATCH RESUME PRODUCERS MS ROUNDS WORKER_SPIN_US WAIT_MAX_US WAIT_MIN_US SLEEP_US SPIN_FLOOR [WORKERS [noop|count]]");
	int each;
	if (!strcmp(argv[2], "ring-each"))
		each = 1;
	else if (!strcmp(argv[2], "ring-batch"))
		each = 0;
	else
		die("threads: MODE must be ring-each or ring-batch");
	uint32_t pool = atoi(argv[3]), batch = atoi(argv[4]), resume = atoi(argv[5]), nprod = atoi(argv[6]);
	double ms = atof(argv[7]);
	int rounds = atoi(argv[8]);
	double wspin_us = atof(argv[9]), wmax_us = atof(argv[10]), wmin_us = atof(argv[11]);
	uint32_t sleep_us = atoi(argv[12]), floor = atoi(argv[13]);
	/* WORKERS: producer p queues on worker p % WORKERS (vhost-scsi's worker per vq); count: each work adds 1 to its producer's counter */
	uint32_t nw = argc > 14 ? (uint32_t)atoi(argv[14]) : 1;
	uint32_t fn = FN_NOOP;
	if (argc > 15 && !strcmp(argv[15], "count"))
		fn = FN_COUNT;
	else if (argc > 15 && strcmp(argv[15], "noop"))
		die("threads: FN must be noop or count");
	if (!pool || !batch || !nprod || nprod > NCOUNTERS || rounds < 1 || !nw || nw > nprod)
		die("threads: bad numbers");
	double spin_ns = ns_per_check_spin(), wait_ns = ns_per_check_wait();
	uint32_t wspin = checks(wspin_us, spin_ns), wmax = checks(wmax_us, wait_ns), wmin = checks(wmin_us, wait_ns);
	printf("{\"calibration\":{\"spinNs\":%.4f,\"waitNs\":%.4f,\"workerSpin\":%u,\"waitMax\":%u,\"waitMin\":%u},\"rounds\":[", spin_ns, wait_ns, wspin, wmax, wmin);
	for (int r = 0; r < rounds; r++) {
		struct vhost_worker *ws = aligned_alloc(CACHELINE, sizeof(*ws) * nw);
		struct wthread *wts = calloc(nw, sizeof(*wts));
		struct vhost_work *works = aligned_alloc(CACHELINE, sizeof(struct vhost_work) * pool * nprod);
		struct vhost_work **arr = malloc(sizeof(*arr) * pool * nprod);
		struct prod *ps = aligned_alloc(CACHELINE, sizeof(struct prod) * nprod);
		static uint32_t ctl[2 * 16] __attribute__((aligned(CACHELINE)));
		uint32_t *gate = &ctl[0], *stop = &ctl[16];
		if (!ws || !wts || !works || !arr || !ps)
			die("out of memory");
		memset(ws, 0, sizeof(*ws) * nw);
		memset(works, 0, sizeof(struct vhost_work) * pool * nprod);
		memset(ps, 0, sizeof(struct prod) * nprod);
		memset(counters, 0, sizeof(counters));
		__atomic_store_n(gate, 0, SEQ);
		__atomic_store_n(stop, 0, SEQ);
		for (uint32_t i = 0; i < pool * nprod; i++) {
			arr[i] = &works[i];
			works[i].fn = fn;
			works[i].arg = i / pool; /* the producer's counter slot */
		}
		for (uint32_t i = 0; i < nw; i++) {
			ws[i].spin_floor = floor;
			wts[i] = (struct wthread){ .w = &ws[i], .spin = wspin, .gate = gate };
			pthread_create(&wts[i].th, NULL, worker_main, &wts[i]);
		}
		for (uint32_t p = 0; p < nprod; p++) {
			ps[p] = (struct prod){ .w = &ws[p % nw], .works = arr + p * pool, .pool = pool, .batch = batch, .resume = resume, .each = (uint32_t)each,
					       .wait_max = wmax, .wait_min = wmin, .sleep_us = sleep_us, .gate = gate, .stop = stop };
			pthread_create(&ps[p].th, NULL, producer_main, &ps[p]);
		}
		usleep(2000); /* every thread at the gate */
		__atomic_store_n(gate, 1, SEQ);
		futex(gate, FUTEX_WAKE_PRIVATE, 64, NULL);
		struct timespec d = { (time_t)(ms / 1000), (long)((ms - 1000 * (long)(ms / 1000)) * 1e6) };
		nanosleep(&d, NULL);
		__atomic_store_n(stop, 1, SEQ);
		uint64_t added = 0, waits = 0, sleeps = 0, maxns = 0, pcpu = 0, pwait = 0;
		for (uint32_t p = 0; p < nprod; p++) {
			pthread_join(ps[p].th, NULL);
			added += ps[p].added;
			waits += ps[p].waits;
			sleeps += ps[p].sleeps;
			pcpu += ps[p].cpu.run;
			pwait += ps[p].cpu.wait;
			if (ps[p].ns > maxns)
				maxns = ps[p].ns;
		}
		/* drain: each worker runs until its list is empty, then stop it */
		uint64_t items = 0, viol = 0, wakeups = 0, wsleeps = 0, batches = 0, wcpu = 0, wwait = 0;
		for (uint32_t i = 0; i < nw; i++) {
			struct vhost_worker *w = &ws[i];
			uint64_t deadline = now_ns() + 10000000000ull;
			while (__atomic_load_n(&w->list, SEQ) != NULL && now_ns() < deadline)
				usleep(100);
			usleep(1000); /* the last batch detached may still be running */
			__atomic_store_n(&w->stop, 1, SEQ);
			__atomic_store_n(&w->state, RUNNING, SEQ);
			futex(&w->state, FUTEX_WAKE_PRIVATE, 1, NULL);
			pthread_join(wts[i].th, NULL);
			items += w->items;
			viol += w->violations;
			wakeups += w->wakeups;
			wsleeps += w->sleeps;
			batches += w->batches;
			wcpu += wts[i].cpu.run;
			wwait += wts[i].cpu.wait;
		}
		uint64_t left = 0, count = 0;
		for (uint32_t i = 0; i < pool * nprod; i++)
			left += (works[i].flags >> VHOST_WORK_QUEUED) & 1;
		for (uint32_t p = 0; p < nprod; p++)
			count += counters[p];
		/* exactly once: every work added ran once (and, counting, each run counted once) */
		int ok = items == added && viol == 0 && left == 0 && (fn != FN_COUNT || count == added);
		printf("%s{\"itemsPerSec\":%.1f,\"added\":%llu,\"run\":%llu,\"counted\":%llu,\"violations\":%llu,\"leftQueued\":%llu,\"wakeups\":%llu,\"sleeps\":%llu,"
		       "\"batches\":%llu,\"waits\":%llu,\"waitSleeps\":%llu,\"ms\":%.3f,\"exactlyOnce\":%s,"
		       "\"cpu\":{\"worker\":%.3f,\"workerQueue\":%.3f,\"producers\":%.3f,\"producersQueue\":%.3f}}",
		       r ? "," : "", maxns ? added * 1e9 / maxns : 0.0, (unsigned long long)added, (unsigned long long)items,
		       (unsigned long long)(fn == FN_COUNT ? count : items), (unsigned long long)viol, (unsigned long long)left, (unsigned long long)wakeups,
		       (unsigned long long)wsleeps, (unsigned long long)batches, (unsigned long long)waits,
		       (unsigned long long)sleeps, maxns / 1e6, ok ? "true" : "false", wcpu / 1e6, wwait / 1e6, pcpu / 1e6, pwait / 1e6);
		fflush(stdout);
		free(wts);
		free(ws);
		free(works);
		free(arr);
		free(ps);
	}
	printf("]}\n");
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_d(double *v, size_t n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct knode {
	struct rb_node rb;
	uint64_t key;
};

/* rb_find with the kernel's three-way compare (the caller's walk, as loop's) */
static inline struct knode *kfind(struct rb_root *root, uint64_t key)
{
	struct rb_node *n = root->node;
	while (n) {
		struct knode *k = (struct knode *)n;
		if (key == k->key)
			return k;
		/* as kwq's find_u64 (assembly/rbtree.ts): both children loaded, one picked
		 * without a branch (random keys make the branch a coin flip); the kernel's
		 * rb_find branches, and so did this walk until kwq's lookup ran 0.6x of it */
		uintptr_t l = (uintptr_t)n->left, r = (uintptr_t)n->right;
		uintptr_t left = -(uintptr_t)(key < k->key); /* a mask: gcc made `?:` a branch here */
		n = (struct rb_node *)((l & left) | (r & ~left));
	}
	return NULL;
}

/* rb_find_add: NULL when inserted, else the node already holding the key */
static inline struct knode *kfind_add(struct rb_root *root, struct knode *node)
{
	struct rb_node **link = &root->node, *parent = NULL;
	uint64_t key = node->key;
	while (*link) {
		struct knode *k = (struct knode *)*link;
		parent = *link;
		if (key < k->key)
			link = &parent->left;
		else if (key > k->key)
			link = &parent->right;
		else
			return k;
	}
	rb_link_node(&node->rb, parent, link);
	rb_insert_color(&node->rb, root);
	return NULL;
}

/* black height, or -1 if an invariant is broken (order, red-red, heights, parents) */
static int rb_check(struct rb_node *n, struct rb_node *parent, uint64_t lo, uint64_t hi, int lo_ok, int hi_ok, uint64_t *count)
{
	if (!n)
		return 1;
	struct knode *k = (struct knode *)n;
	if (rb_parent(n) != parent || (lo_ok && k->key <= lo) || (hi_ok && k->key >= hi))
		return -1;
	if (rb_is_red(n) && ((n->left && rb_is_red(n->left)) || (n->right && rb_is_red(n->right))))
		return -1;
	(*count)++;
	int l = rb_check(n->left, n, lo, k->key, lo_ok, 1, count);
	int r = rb_check(n->right, n, k->key, hi, 1, hi_ok, count);
	if (l < 0 || r < 0 || l != r)
		return -1;
	return l + rb_is_black(n);
}

/* bench/rbtree.ts's xorshift32 and key sets */
static uint32_t xs;
static inline uint32_t xnext(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 17;
	xs ^= xs << 5;
	return xs;
}

static void shuffle(uint32_t *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		a[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = xnext() % (i + 1);
		uint32_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

/* fresh keys (21-bit high word, 32-bit low word) into the nodes, and new orders */
static void make_keys(struct knode *nodes, uint32_t n, uint32_t *lookup, uint32_t *erase)
{
	for (uint32_t i = 0; i < n; i++) {
		uint32_t h = xnext() & 0x1fffff;
		uint32_t l = xnext();
		nodes[i].key = ((uint64_t)h << 32) | l;
	}
	shuffle(lookup, n);
	shuffle(erase, n);
}

static int cmd_rbtree(int argc, char **argv)
{
	if (argc < 6)
		die("usage: rbtree N SEED MS same|fresh");
	uint32_t n = (uint32_t)atoi(argv[2]);
	xs = (uint32_t)strtoul(argv[3], NULL, 0);
	if (!xs)
		xs = 1;
	double ms = atof(argv[4]);
	int fresh = !strcmp(argv[5], "fresh");
	if (!fresh && strcmp(argv[5], "same"))
		die("rbtree: PROTOCOL must be same or fresh");
	struct knode *nodes = aligned_alloc(64, sizeof(struct knode) * n + 64);
	uint32_t *lookup = malloc(4 * n), *erase = malloc(4 * n);
	uint64_t *lkeys = malloc(8 * n);
	struct knode **enodes = malloc(sizeof(*enodes) * n);
	if (!nodes || !lookup || !erase || !lkeys || !enodes)
		die("out of memory");
	memset(nodes, 0, sizeof(struct knode) * n);
	make_keys(nodes, n, lookup, erase);
	struct rb_root root = { NULL };
	size_t cap = 1 << 16;
	double *t_ins = malloc(sizeof(double) * cap), *t_look = malloc(sizeof(double) * cap), *t_erase = malloc(sizeof(double) * cap);
	if (!t_ins || !t_look || !t_erase)
		die("out of memory");
	uint64_t cycles = 0, lost = 0, missed = 0, left = 0, checked = 0;
	int invalid = 0;
	uint64_t end = now_ns() + (uint64_t)(ms * 1e6);
	/* one warm-up cycle, then cycles until MS; "same": one key set and order throughout */
	for (int warm = 1; (warm || cycles < 3 || now_ns() < end) && cycles < cap; warm = 0) {
		if (fresh && !warm)
			make_keys(nodes, n, lookup, erase);
		for (uint32_t i = 0; i < n; i++) {
			lkeys[i] = nodes[lookup[i]].key;
			enodes[i] = &nodes[erase[i]];
		}
		root.node = NULL;
		uint64_t t0 = now_ns();
		uint64_t ins = 0;
		for (uint32_t i = 0; i < n; i++)
			ins += kfind_add(&root, &nodes[i]) == NULL;
		uint64_t t1 = now_ns();
		uint64_t found = 0;
		for (uint32_t i = 0; i < n; i++) {
			struct knode *k = kfind(&root, lkeys[i]);
			found += k != NULL;
			sink += (uintptr_t)k;
		}
		uint64_t t2 = now_ns();
		if (!checked++) {
			uint64_t c = 0;
			invalid |= rb_check(root.node, NULL, 0, 0, 0, 0, &c) < 0 || c != ins;
		}
		if (warm) {
			/* the warm-up cycle also checks the tree halfway through the erases */
			uint64_t c = 0;
			for (uint32_t i = 0; i < n / 2; i++)
				rb_erase(&enodes[i]->rb, &root);
			invalid |= rb_check(root.node, NULL, 0, 0, 0, 0, &c) < 0 || c != ins - n / 2;
			for (uint32_t i = n / 2; i < n; i++)
				rb_erase(&enodes[i]->rb, &root);
			left += root.node != NULL;
			lost += n - ins;
			continue;
		}
		uint64_t t3 = now_ns();
		for (uint32_t i = 0; i < n; i++)
			rb_erase(&enodes[i]->rb, &root);
		uint64_t t4 = now_ns();
		lost += n - ins; /* a duplicate key (2^-53 odds) or a broken insert */
		missed += ins - (found < ins ? found : ins);
		left += root.node != NULL;
		t_ins[cycles] = (double)(t1 - t0);
		t_look[cycles] = (double)(t2 - t1);
		t_erase[cycles] = (double)(t4 - t3);
		cycles++;
	}
	/* the median cycle of each phase: a preempted cycle moves the mean, not the median */
	double m_ins = median_d(t_ins, cycles), m_look = median_d(t_look, cycles), m_erase = median_d(t_erase, cycles);
	printf("{\"n\":%u,\"protocol\":\"%s\",\"cycles\":%llu,\"insert\":%.4f,\"lookup\":%.4f,\"erase\":%.4f,\"lost\":%llu,\"missed\":%llu,\"left\":%llu,\"valid\":%s}\n",
	       n, fresh ? "fresh" : "same", (unsigned long long)cycles, m_ins / n, m_look / n, m_erase / n,
	       (unsigned long long)lost, (unsigned long long)missed, (unsigned long long)left, invalid ? "false" : "true");
	return 0;
}

static int cmd_calibrate(void)
{
	/* an uncontended compare-and-swap, the machine's locked-instruction cost */
	static uint64_t word;
	double best = 1e9;
	for (int r = 0; r < 5; r++) {
		uint64_t t0 = now_ns();
		for (uint32_t i = 0; i < 10000000; i++) {
			uint64_t exp = i;
			__atomic_compare_exchange_n(&word, &exp, (uint64_t)i + 1, 0, SEQ, SEQ);
		}
		double ns = (double)(now_ns() - t0) / 10000000;
		if (ns < best)
			best = ns;
	}
	printf("{\"casNs\":%.4f,\"spinNs\":%.4f,\"waitNs\":%.4f}\n", best, ns_per_check_spin(), ns_per_check_wait());
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: kwq-native calibrate | llist ... | threads ... | rbtree ... | scale ... | io-wq ... | loop ...");
	if (!strcmp(argv[1], "calibrate"))
		return cmd_calibrate();
	if (!strcmp(argv[1], "llist"))
		return cmd_llist(argc, argv);
	if (!strcmp(argv[1], "threads"))
		return cmd_threads(argc, argv);
	if (!strcmp(argv[1], "rbtree"))
		return cmd_rbtree(argc, argv);
	if (!strcmp(argv[1], "scale"))
		return cmd_scale(argc, argv);
	if (!strcmp(argv[1], "io-wq")) return io_wq_main(argc, argv);
	if (!strcmp(argv[1], "loop")) return loop_main(argc, argv);
	die("unknown command (calibrate, llist, threads, rbtree, scale, io-wq, loop)");
	return 2;
}

// The vhost worker in Wasm: vhost_work, vhost_worker, vhost_worker_queue and the
// worker loop (drivers/vhost/vhost.c; kernel-reference.md sections 1.7, 1.8, 2.3).
//
//   vhost_work (32 bytes, an object of the work arena)
//   +0  node    u32  llist_node.next (first, so &work->node == work)
//   +4  flags   u32  bit VHOST_WORK_QUEUED (1, mask 0x2)
//   +8  fn      u32  VHOST_FN_* below (4, 5: vhost_vq.ts); >= VHOST_FN_HOST: a host (JS) handler
//   +12 arg     u32  fn's argument (SPIN: iterations, COUNT: counter slot)
//   +16 cost    u32  virtual cost in ns, summed by the worker (the sim's clock)
//   +20 owner   u32  the host's (e.g. producer or device id)
//   +24 seq     u32  the host's (e.g. a sequence number)
//   +28 result  u32  written by built-ins (SPIN: final value, COMPLETE: 1)
//
//   vhost_worker (256 bytes, 64-byte aligned)
//   line 0  +0   work_list  u32   llist_head: producers cmpxchg, the worker xchg
//   line 1  +64  state      u32   VHOST_WORKER_RUNNING / _SLEEPING (futex word)
//           +68  stop       u32   set by vhost_worker_stop
//           +72  wakeups    u64   notifies sent (atomic add by producers)
//           +80  spin_floor u32   the idle spin may shrink to spin >> spin_floor (host-set;
//                                 it sat at +76, inside wakeups, until ABI 2)
//   line 2  +128 pending    u32   rest of the detached FIFO chain, continued first
//   (private +136 items      u64   works taken (built-ins run + HOST handed out)
//    to the  +144 batches    u64   non-empty llist_del_all calls
//    thread  +152 sleeps     u64   times the worker slept on `state`
//    running +160 vcost      u64   summed work cost (virtual ns)
//    it)     +168 host_items u64   HOST works handed to the caller
//           +176 violations u64   works taken with QUEUED already clear (must stay 0)
//           +184 bad_fn     u64   built-in ids that do not exist / bad COUNT slots
//           +192..255 padding
//
// Sleep/wake protocol (the kernel's set_current_state + wake_up_process, as a
// Dekker pair over two seq-cst words):
//   worker:   store state = SLEEPING; if list non-empty or stop: state = RUNNING,
//             go on; else wait32(state, SLEEPING)
//   producer: llist_add (seq-cst cmpxchg); if state == SLEEPING and
//             cmpxchg(state, SLEEPING -> RUNNING) won: notify(state, 1)
// Either the worker's re-check sees the new node, or the producer's load sees
// SLEEPING; wait32 returns at once if state is no longer SLEEPING.
//
// DIVERGENCE (wake policy): the kernel calls wakeup on every successful
// test_and_set (wake_up_process on a running task is cheap in the kernel); kwq
// only notifies a worker that said it is asleep, because a notify costs a
// syscall-like builtin and waking a halted vCPU costs 36-48 us here.
// DIVERGENCE (idle spin): vhost_task_fn calls schedule() as soon as its list is
// empty; vhost_worker_loop first re-checks the list `spin` times (read-only),
// because going to sleep and being woken costs more here (36-48 us) than the gap
// between a producer's bursts usually lasts.
//
// Ring producers (vhost_work_queue_batch_ordered, vhost_worker_queue_each_ordered,
// vhost_work_wait_idle): a producer that owns a fixed set of works and re-uses
// each one as soon as it has run (a virtqueue's descriptors) queues them in ring
// order and stops at the first one still QUEUED, then waits for that one with
// read-only loads (which leave the line shared instead of taking it from the
// worker that is about to clear the bit) before sleeping. Re-testing works that
// are still queued, over and over, costs the producers CPU that the worker
// needs and pulls the works' lines away from the worker. These entry points are
// kwq's (benchmarks, simulators); the kernel has no such call: a vhost producer
// (a guest kick) queues once per event.
//
// DIVERGENCE (batches): vhost_work_queue_batch links all the works it could mark
// QUEUED into one chain and pushes it with one llist_add_batch and one wake check;
// the resulting order is the one n vhost_worker_queue calls would give.
import { test_and_set_bit, test_and_clear_bit } from './bitops';
import { llist_add, llist_add_batch, llist_del_all, llist_reverse_order, llist_empty } from './llist';
import { counter_add } from './counters';
import { VHOST_FN_VQ_HANDLE, VHOST_FN_VQ_COMPLETE, vhost_vq_handle, vhost_vq_complete } from './vhost_vq';

export const VHOST_WORK_QUEUED: u32 = 1; // a bit NUMBER (mask 0x2), as in vhost.h

export const VHOST_WORK_NODE: u32 = 0;
export const VHOST_WORK_FLAGS: u32 = 4;
export const VHOST_WORK_FN: u32 = 8;
export const VHOST_WORK_ARG: u32 = 12;
export const VHOST_WORK_COST: u32 = 16;
export const VHOST_WORK_OWNER: u32 = 20;
export const VHOST_WORK_SEQ: u32 = 24;
export const VHOST_WORK_RESULT: u32 = 28;
export const VHOST_WORK_SIZE: u32 = 32;

export const VHOST_WORKER_LIST: u32 = 0;
export const VHOST_WORKER_STATE: u32 = 64;
export const VHOST_WORKER_STOP: u32 = 68;
export const VHOST_WORKER_WAKEUPS: u32 = 72;
/** how far the idle re-check budget may shrink: spin >> floor (0: a fixed budget); set by the host */
export const VHOST_WORKER_SPIN_FLOOR: u32 = 80;
export const VHOST_WORKER_PENDING: u32 = 128;
export const VHOST_WORKER_ITEMS: u32 = 136;
export const VHOST_WORKER_BATCHES: u32 = 144;
export const VHOST_WORKER_SLEEPS: u32 = 152;
export const VHOST_WORKER_VCOST: u32 = 160;
export const VHOST_WORKER_HOST_ITEMS: u32 = 168;
export const VHOST_WORKER_VIOLATIONS: u32 = 176;
export const VHOST_WORKER_BAD_FN: u32 = 184;
export const VHOST_WORKER_SIZE: u32 = 256;

export const VHOST_WORKER_RUNNING: u32 = 0;
export const VHOST_WORKER_SLEEPING: u32 = 1;

export const VHOST_FN_NOOP: u32 = 0;
export const VHOST_FN_SPIN: u32 = 1;
export const VHOST_FN_COUNT: u32 = 2;
export const VHOST_FN_COMPLETE: u32 = 3;
export const VHOST_FN_HOST: u32 = 16;

export function vhost_work_size(): u32 { return VHOST_WORK_SIZE; }
export function vhost_worker_size(): u32 { return VHOST_WORKER_SIZE; }

/** vhost_work_init: clear QUEUED, set fn/arg/cost; owner/seq/result zeroed. */
export function vhost_work_init(work: usize, fn: u32, arg: u32, cost: u32): void {
  store<u32>(work + VHOST_WORK_NODE, <u32>work); // init_llist_node: not on a list
  store<u32>(work + VHOST_WORK_FN, fn);
  store<u32>(work + VHOST_WORK_ARG, arg);
  store<u32>(work + VHOST_WORK_COST, cost);
  store<u32>(work + VHOST_WORK_OWNER, 0);
  store<u32>(work + VHOST_WORK_SEQ, 0);
  store<u32>(work + VHOST_WORK_RESULT, 0);
  atomic.store<u32>(work + VHOST_WORK_FLAGS, 0); // clear_bit(QUEUED); pairs with test_and_set_bit
}

/** vhost_work_init for the `n` works listed at `works`. */
export function vhost_work_init_batch(works: usize, n: u32, fn: u32, arg: u32, cost: u32): void {
  for (let i: u32 = 0; i < n; i++) vhost_work_init(<usize>load<u32>(works + (<usize>i << 2)), fn, arg, cost);
}

/** A zeroed worker: empty list, RUNNING, not stopped, stats 0. Before threads start. */
export function vhost_worker_init(worker: usize): void {
  memory.fill(worker, 0, VHOST_WORKER_SIZE);
  atomic.store<u32>(worker + VHOST_WORKER_STATE, VHOST_WORKER_RUNNING); // pairs with the threads started after
}

/**
 * Wake the worker if (and only if) it said it is asleep. Returns 1 iff this call
 * sent the notify. Pairs with the worker's store of SLEEPING + list re-check.
 */
// @ts-ignore: decorator
@inline function vhost_worker_wakeup(worker: usize): u32 {
  const state = worker + VHOST_WORKER_STATE;
  if (atomic.load<u32>(state) != VHOST_WORKER_SLEEPING) return 0; // pairs with the worker's SLEEPING store (Dekker)
  // only one waker sends the notify; pairs with the worker's wait32 / RUNNING store
  if (atomic.cmpxchg<u32>(state, VHOST_WORKER_SLEEPING, VHOST_WORKER_RUNNING) != VHOST_WORKER_SLEEPING) return 0;
  atomic.notify(state, 1); // pairs with the worker's memory.atomic.wait32
  atomic.add<u64>(worker + VHOST_WORKER_WAKEUPS, 1); // a statistic; pairs with vhost_worker_stats
  return 1;
}

/**
 * vhost_worker_queue: test_and_set QUEUED, then llist_add, then wake.
 * Returns 0 if the work was already queued (nothing added, no wake-up), else
 * 1 | (woke << 1): 1 = added, 3 = added and this call woke the worker.
 */
export function vhost_worker_queue(worker: usize, work: usize): u32 {
  if (test_and_set_bit(VHOST_WORK_QUEUED, work + VHOST_WORK_FLAGS)) return 0;
  llist_add(work, worker + VHOST_WORKER_LIST); // the return value is ignored, as in the kernel
  return 1 | (vhost_worker_wakeup(worker) << 1);
}

/**
 * vhost_worker_queue for a worker no Wasm loop runs (the sim runtime's): the host wakes
 * the worker's thread itself (ops->wakeup, VhostWorker.wake), and the state word is
 * never SLEEPING (only vhost_worker_loop parks), so the wake check would only read a
 * cache line: with a thousand workers taking turns, one miss a queue-and-run round.
 * Returns 0 already queued, 1 added.
 */
export function vhost_worker_queue_nowake(worker: usize, work: usize): u32 {
  if (test_and_set_bit(VHOST_WORK_QUEUED, work + VHOST_WORK_FLAGS)) return 0;
  llist_add(work, worker + VHOST_WORKER_LIST);
  return 1;
}

/**
 * Queue the `n` works listed (u32 offsets) at `works` to `worker`, in array
 * order; the ones already QUEUED are skipped. Returns how many were added.
 * One llist_add_batch and at most one wake-up for the whole batch.
 */
export function vhost_work_queue_batch(worker: usize, works: usize, n: u32): u32 {
  return queue_chain(worker, works, n, false);
}

/**
 * The body of both batch queue calls: mark works[0..n) QUEUED in array order, chain
 * the ones this call marked (newest at the head, so that reverse order after
 * llist_del_all is array order), then one llist_add_batch and one wake check. A work
 * already QUEUED is skipped, or ends the batch when `stop_at_queued` (ring producers).
 */
// @ts-ignore: decorator
@inline function queue_chain(worker: usize, works: usize, n: u32, stop_at_queued: bool): u32 {
  let first: usize = 0;
  let last: usize = 0;
  let added: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const w = <usize>load<u32>(works + (<usize>i << 2));
    if (test_and_set_bit(VHOST_WORK_QUEUED, w + VHOST_WORK_FLAGS)) {
      if (stop_at_queued) break;
      continue;
    }
    // we own w's node now (QUEUED set by us)
    if (last == 0) last = w; else store<u32>(w, <u32>first);
    first = w;
    added++;
  }
  if (added == 0) return 0;
  llist_add_batch(first, last, worker + VHOST_WORKER_LIST);
  vhost_worker_wakeup(worker);
  return added;
}

/**
 * `n` separate vhost_worker_queue calls for the works listed at `works` (the
 * kernel's per-work path: one cmpxchg and one wake check per added work).
 * Returns how many were added.
 */
export function vhost_worker_queue_each(worker: usize, works: usize, n: u32): u32 {
  let added: u32 = 0;
  for (let i: u32 = 0; i < n; i++) added += vhost_worker_queue(worker, <usize>load<u32>(works + (<usize>i << 2))) & 1;
  return added;
}

/**
 * A ring producer's batch: queue works[0..n) in array order with ONE
 * llist_add_batch and at most one wake-up, stopping before the first work that
 * is still QUEUED (it has not run since it was last queued; nothing is written
 * to it). Returns how many were queued, every one of them added: the caller's
 * ring position advances by that many, and works[ret] (ret < n) is the one to
 * wait for (vhost_work_wait_idle). The resulting order is the one `ret`
 * vhost_worker_queue calls would give.
 */
export function vhost_work_queue_batch_ordered(worker: usize, works: usize, n: u32): u32 {
  return queue_chain(worker, works, n, true);
}

/**
 * One vhost_worker_queue per work (the kernel's path: a cmpxchg and a wake check
 * each) for works[0..n) in order, stopping before the first one still QUEUED.
 * Returns how many were queued (all added).
 */
export function vhost_worker_queue_each_ordered(worker: usize, works: usize, n: u32): u32 {
  let i: u32 = 0;
  while (i < n && (vhost_worker_queue(worker, <usize>load<u32>(works + (<usize>i << 2))) & 1)) i++;
  return i;
}

/** vhost_work_wait_idle's result bits. */
export const VHOST_WAIT_IDLE: u32 = 1;
export const VHOST_WAIT_SLEPT: u32 = 2;

/**
 * Wait until `work` is no longer QUEUED (its worker took it and cleared the bit):
 * up to `spin` read-only checks, then, if it is still queued and `sleep_us` > 0,
 * one sleep of at most `sleep_us` on the flags word. Nobody notifies that word:
 * the sleep is a yield of this CPU (to the worker, on a machine with fewer cores
 * than busy threads). Returns VHOST_WAIT_IDLE (1) if the work is idle,
 * | VHOST_WAIT_SLEPT (2) if this call slept: 1 = idle within the spin,
 * 3 = idle after sleeping, 2 = slept and still queued, 0 = spin ran out.
 * The caller adapts `spin` from that (see src/runtime/worker.js).
 */
export function vhost_work_wait_idle(work: usize, spin: u32, sleep_us: u32): u32 {
  const flags = work + VHOST_WORK_FLAGS;
  const m: u32 = 1 << VHOST_WORK_QUEUED;
  for (let i: u32 = 0; i < spin; i++) {
    // a plain (non-RMW) load keeps the line shared; pairs with the worker's test_and_clear_bit
    if (!(atomic.load<u32>(flags) & m)) return VHOST_WAIT_IDLE;
  }
  const v = atomic.load<u32>(flags); // pairs with the worker's test_and_clear_bit
  if (!(v & m)) return VHOST_WAIT_IDLE;
  if (sleep_us == 0) return 0;
  // a timed sleep (never notified); returns early if the word already changed
  memory.atomic.wait32(flags, <i32>v, <i64>sleep_us * 1000); // pairs with no notify: a yield
  // pairs with the worker's test_and_clear_bit
  return VHOST_WAIT_SLEPT | (atomic.load<u32>(flags) & m ? 0 : VHOST_WAIT_IDLE);
}

/**
 * The worker's idle spin: up to `spin` checks of the list and the stop flag
 * (read-only). Returns 1 as soon as either is set, 0 if the spin ran out.
 * vhost_worker_loop runs it before sleeping; exported so that the host can
 * time one check (a spin budget is set in time, not in checks).
 */
// @ts-ignore: decorator
@inline function vhost_worker_idle_spin(list: usize, stop: usize, spin: u32): u32 {
  for (let i: u32 = 0; i < spin; i++) {
    // may be stale: a hint; llist_del_all decides. pairs with llist_add_batch / vhost_worker_stop
    if (!llist_empty(list) || atomic.load<u32>(stop)) return 1;
  }
  return 0;
}

/** vhost_worker_idle_spin for the host (calibration): 1 if work or stop was seen. */
export function vhost_worker_spin(worker: usize, spin: u32): u32 {
  return vhost_worker_idle_spin(worker + VHOST_WORKER_LIST, worker + VHOST_WORKER_STOP, spin);
}

/** Set the stop flag and wake the worker (vhost_task_stop without the wait). */
export function vhost_worker_stop(worker: usize): void {
  atomic.store<u32>(worker + VHOST_WORKER_STOP, 1); // pairs with the loop's stop checks
  atomic.store<u32>(worker + VHOST_WORKER_STATE, VHOST_WORKER_RUNNING); // pairs with the loop's wait32 (not-equal)
  atomic.notify(worker + VHOST_WORKER_STATE, 1); // pairs with the loop's wait32
}

/** How far the worker's idle re-check budget may shrink: spin >> floor (0..31; 0 = fixed). */
export function vhost_worker_set_spin_floor(worker: usize, floor: u32): void {
  atomic.store<u32>(worker + VHOST_WORKER_SPIN_FLOOR, floor < 31 ? floor : 31); // pairs with vhost_worker_loop's load
}

/** Clear the stop flag (before a worker thread is started again). */
export function vhost_worker_clear_stop(worker: usize): void {
  atomic.store<u32>(worker + VHOST_WORKER_STOP, 0); // pairs with the loop's stop checks
}

/** 1 iff a chain is pending or the list is non-empty. May be stale. */
export function vhost_worker_has_work(worker: usize): u32 {
  return u32(load<u32>(worker + VHOST_WORKER_PENDING) != 0 || !llist_empty(worker + VHOST_WORKER_LIST)); // may be stale
}

/**
 * Run one built-in work other than NOOP; returns 0, or 1 if the id or argument
 * was bad. NOOP (the common case) never gets here: the run loop tests for it
 * and skips the dispatch (binaryen still inlines this single call site; the
 * gain, 4.5 -> 4.2 ns per work on one thread, came from the loop's shape).
 */
function vhost_run_builtin(work: usize, fn: u32): u32 {
  const arg = load<u32>(work + VHOST_WORK_ARG);
  if (fn == VHOST_FN_SPIN) {
    // an LCG the optimiser cannot drop: its result is stored
    let x: u32 = <u32>work;
    for (let i: u32 = 0; i < arg; i++) x = x * 1664525 + 1013904223;
    store<u32>(work + VHOST_WORK_RESULT, x);
    return 0;
  }
  if (fn == VHOST_FN_COUNT) return u32(counter_add(arg, 1) != 0);
  if (fn == VHOST_FN_COMPLETE) {
    // complete(): pairs with the host's Atomics.waitAsync on the result word
    atomic.store<u32>(work + VHOST_WORK_RESULT, 1);
    atomic.notify(work + VHOST_WORK_RESULT, -1);
    return 0;
  }
  // a virtqueue's works (assembly/vhost_vq.ts): arg is the vhost_vq's offset
  if (fn == VHOST_FN_VQ_HANDLE) {
    if (arg == 0) return 1;
    vhost_vq_handle(<usize>arg);
    return 0;
  }
  if (fn == VHOST_FN_VQ_COMPLETE) {
    if (arg == 0) return 1;
    vhost_vq_complete(<usize>arg);
    return 0;
  }
  return 1;
}

/**
 * Run the worker without sleeping: continue the pending chain, then detach up to
 * `max_batches` new batches (llist_del_all + llist_reverse_order, FIFO). Built-in
 * works run inline; consecutive HOST works (QUEUED already cleared) are written
 * to `out` (u32 offsets, at most `cap`) and the call returns their number so the
 * caller runs their JS handlers, then calls again: the rest of the chain is kept
 * in `pending` and continued first, so the order is exactly FIFO across built-in
 * and HOST works. Returns 0 when nothing is left in the pending chain and either
 * the list was empty or `max_batches` batches were taken; -22 (-EINVAL) if cap is 0.
 * One thread at a time per worker (the single consumer).
 */
export function vhost_worker_run(worker: usize, out: usize, cap: u32, max_batches: u32): i32 {
  if (cap == 0) return -22;
  let node = <usize>load<u32>(worker + VHOST_WORKER_PENDING);
  let left = max_batches;
  let n: u32 = 0;
  let items: u64 = 0;
  let batches: u64 = 0;
  let vcost: u64 = 0;
  let violations: u64 = 0;
  let bad: u64 = 0;
  while (true) {
    if (node == 0) {
      if (n != 0 || left == 0) break;
      node = llist_del_all(worker + VHOST_WORKER_LIST);
      if (node == 0) break;
      node = llist_reverse_order(node);
      // the kernel's smp_wmb() here orders the reversed links before the
      // clear_bit below; Wasm's seq-cst RMW in test_and_clear_bit gives that
      left--;
      batches++;
    }
    let fn = load<u32>(node + VHOST_WORK_FN);
    if (fn < VHOST_FN_HOST) {
      if (n != 0) break; // a built-in after HOST works: let the caller run those first
      // built-ins in a tight loop until a HOST work or the end of the chain
      do {
        // read next BEFORE clearing QUEUED: once clear, a producer may re-queue the
        // work and overwrite its node (the kernel's llist_for_each_entry_safe)
        const next = <usize>load<u32>(node);
        vcost += <u64>load<u32>(node + VHOST_WORK_COST);
        // cleared BEFORE fn runs: a fn that re-queues its work lands in the next batch
        violations += <u64>!test_and_clear_bit(VHOST_WORK_QUEUED, node + VHOST_WORK_FLAGS);
        if (fn != VHOST_FN_NOOP) bad += <u64>vhost_run_builtin(node, fn);
        items++;
        node = next;
        if (node == 0) break;
        fn = load<u32>(node + VHOST_WORK_FN);
      } while (fn < VHOST_FN_HOST);
      continue;
    }
    if (n == cap) break;
    // a HOST work: next read before the clear, as above; the caller runs fn
    const next = <usize>load<u32>(node);
    violations += <u64>!test_and_clear_bit(VHOST_WORK_QUEUED, node + VHOST_WORK_FLAGS);
    vcost += <u64>load<u32>(node + VHOST_WORK_COST);
    store<u32>(out + (<usize>n << 2), <u32>node);
    n++;
    items++;
    node = next;
  }
  store<u32>(worker + VHOST_WORKER_PENDING, <u32>node);
  // statistics: private to the running thread, readers may see them stale
  store<u64>(worker + VHOST_WORKER_ITEMS, load<u64>(worker + VHOST_WORKER_ITEMS) + items);
  store<u64>(worker + VHOST_WORKER_BATCHES, load<u64>(worker + VHOST_WORKER_BATCHES) + batches);
  store<u64>(worker + VHOST_WORKER_VCOST, load<u64>(worker + VHOST_WORKER_VCOST) + vcost);
  store<u64>(worker + VHOST_WORKER_HOST_ITEMS, load<u64>(worker + VHOST_WORKER_HOST_ITEMS) + <u64>n);
  if (violations | bad) {
    store<u64>(worker + VHOST_WORKER_VIOLATIONS, load<u64>(worker + VHOST_WORKER_VIOLATIONS) + violations);
    store<u64>(worker + VHOST_WORKER_BAD_FN, load<u64>(worker + VHOST_WORKER_BAD_FN) + bad);
  }
  return <i32>n;
}

/**
 * The blocking worker loop for a real thread (vhost_task_fn + vhost_run_work_list):
 * returns n > 0 when `out` holds n HOST works for the caller to run (then call
 * again), or -1 once the stop flag is seen (checked before every batch, as
 * vhost_task_fn checks STOP before every fn call: works still queued stay
 * queued). When the list is empty it re-checks it up to `spin` times, then sleeps on
 * `state` until a producer or vhost_worker_stop wakes it.
 *
 * With a spin floor (the host sets one when it runs more busy threads than there
 * are CPUs: vhost_worker_set_spin_floor) the re-check budget adapts between
 * spin >> floor and spin: halved after a spin that ran out (the worker slept),
 * doubled after one that saw work. A spin that keeps running out on an
 * oversubscribed machine often means the spinner holds the CPU a producer needs:
 * sleeping sooner hands it over. Without one (floor 0) the budget stays `spin`: a
 * producer on another CPU that is merely slow should not cost a wake-up each time.
 */
export function vhost_worker_loop(worker: usize, out: usize, cap: u32, spin: u32): i32 {
  const list = worker + VHOST_WORKER_LIST;
  const state = worker + VHOST_WORKER_STATE;
  const stop = worker + VHOST_WORKER_STOP;
  let budget = spin;
  while (true) {
    if (atomic.load<u32>(stop)) return -1; // pairs with vhost_worker_stop
    const n = vhost_worker_run(worker, out, cap, 1);
    if (n != 0) return n;
    if (!llist_empty(list)) continue; // may be stale: a hint
    if (vhost_worker_idle_spin(list, stop, budget)) {
      budget = budget > spin >> 1 ? spin : budget << 1;
      continue;
    }
    // may be stale (the host changes it between runs); pairs with vhost_worker_set_spin_floor
    const min_spin = spin >> atomic.load<u32>(worker + VHOST_WORKER_SPIN_FLOOR);
    budget = budget >> 1 < min_spin ? min_spin : budget >> 1;
    atomic.store<u32>(state, VHOST_WORKER_SLEEPING); // set_current_state; pairs with vhost_worker_wakeup's load
    if (!llist_empty(list) || atomic.load<u32>(stop)) { // the re-check after publishing SLEEPING (Dekker)
      atomic.store<u32>(state, VHOST_WORKER_RUNNING);
      continue;
    }
    store<u64>(worker + VHOST_WORKER_SLEEPS, load<u64>(worker + VHOST_WORKER_SLEEPS) + 1);
    memory.atomic.wait32(state, <i32>VHOST_WORKER_SLEEPING, -1); // pairs with vhost_worker_wakeup / _stop notify
    atomic.store<u32>(state, VHOST_WORKER_RUNNING); // pairs with vhost_worker_wakeup's load
  }
}

/**
 * Statistics snapshot as 8 f64 at `out` (exact below 2^53): items, batches,
 * sleeps, vcost, host_items, violations, bad_fn, wakeups. May be stale.
 */
export function vhost_worker_stats(worker: usize, out: usize): void {
  store<f64>(out, <f64>load<u64>(worker + VHOST_WORKER_ITEMS));
  store<f64>(out + 8, <f64>load<u64>(worker + VHOST_WORKER_BATCHES));
  store<f64>(out + 16, <f64>load<u64>(worker + VHOST_WORKER_SLEEPS));
  store<f64>(out + 24, <f64>load<u64>(worker + VHOST_WORKER_VCOST));
  store<f64>(out + 32, <f64>load<u64>(worker + VHOST_WORKER_HOST_ITEMS));
  store<f64>(out + 40, <f64>load<u64>(worker + VHOST_WORKER_VIOLATIONS));
  store<f64>(out + 48, <f64>load<u64>(worker + VHOST_WORKER_BAD_FN));
  store<f64>(out + 56, <f64>atomic.load<u64>(worker + VHOST_WORKER_WAKEUPS)); // may be stale; pairs with vhost_worker_wakeup
}

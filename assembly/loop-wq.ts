// An unbound workqueue for real threads: the part of kernel/workqueue.c that the
// loop driver relies on (kernel-reference.md section 6.8), over the ONE shared
// memory, so that kworkers can be worker_threads. The sim runtime models the same
// rules in TypeScript (src/drivers/loop/workqueue.ts) on virtual CPUs; this file is
// what runs when the kworkers are real threads (src/runtime/loop-kworker.js).
//
//   work_struct (16 bytes, embedded: loop_worker +48, loop_device +144)
//   +0  data    u32  bit 0 WORK_STRUCT_PENDING (test_and_set by queue_work,
//                    cleared by the kworker as execution starts)
//   +4  entry   u32  link on the worklist or a kworker's scheduled list
//   +8  (reserved, 0)
//   +12 lo      u32  the loop_device it belongs to (the work function's data)
//
//   workqueue / worker_pool (1280 bytes, 64-byte aligned)
//   line 0  +0    lock       u32   pool->lock (spinlock): worklist, runners, scheduled
//   line 1  +64   wl_head    u32   worklist (FIFO through work.entry)
//           +68   wl_tail    u32
//           +72   nr_idle    u32   kworkers about to sleep or asleep on `wake`
//           +76   stop       u32   1: kworkers return from loop_wq_pick
//           +80   nr_kworkers u32  (at most LOOP_WQ_MAX_KWORKERS)
//           +84   executed   u32   executions finished
//           +88   collisions u32   works queued (or picked) while a kworker ran them: handed to it
//           +92   queued     u32   __queue_work calls
//   line 2  +128  wake       u32   futex word: bumped by __queue_work when someone idles
//   +192  kworker[64], 16 bytes each: current u32, sched_head u32, sched_tail u32, pad
//
// The rules (as process_one_work and __queue_work keep them):
// - a work is on at most one list: PENDING (test_and_set_bit) gates __queue_work;
// - a work never runs on two kworkers at once: a kworker that picks a work some
//   other kworker is executing (find_worker_executing_work: a scan of the kworkers'
//   `current`, the kernel's busy hash) moves it to that kworker's scheduled list,
//   which that kworker runs before anything else when its current execution ends;
// - the work struct is not touched once its function returned (a loop_worker may be
//   freed by the reaper as soon as it went idle): "running" is the kworker's
//   `current`, never a word in the work. A freed and reused work can look busy for
//   a moment, as in the kernel; that only delays it.
// - different works run in parallel, one per kworker (WQ_UNBOUND).
// Every word except `wake` and the PENDING bit is read and written under `lock`.
// Lock order: loop_device.lo_work_lock, then pool->lock (loop_queue_work calls
// __queue_work under lo_work_lock as the kernel does); no path takes them the
// other way round.
//
// DIVERGENCE: __queue_work here puts a work that is running on a kworker straight
// onto that kworker's scheduled list (the kernel puts it on the worklist and
// process_one_work moves it when another kworker picks it); the outcome is the same.
// The kernel wakes an idle worker per queued work; kwq notifies only when a kworker
// said it idles (nr_idle), and kworkers spin briefly before sleeping (waking a
// halted vCPU costs 36-48 us here).

import { spin_lock, spin_unlock } from './spinlock';

export const WORK_PENDING: u32 = 1;
export const WORK_DATA: u32 = 0;
export const WORK_ENTRY: u32 = 4;
export const WORK_RESERVED: u32 = 8;
export const WORK_LO: u32 = 12;
export const WORK_SIZE: u32 = 16;

export const WQ_LOCK: u32 = 0;
export const WQ_WL_HEAD: u32 = 64;
export const WQ_WL_TAIL: u32 = 68;
export const WQ_NR_IDLE: u32 = 72;
export const WQ_STOP: u32 = 76;
export const WQ_NR_KWORKERS: u32 = 80;
export const WQ_EXECUTED: u32 = 84;
export const WQ_COLLISIONS: u32 = 88;
export const WQ_QUEUED: u32 = 92;
export const WQ_WAKE: u32 = 128;
export const WQ_KWORKERS: u32 = 192;
export const WQ_KW_SIZE: u32 = 16;
export const KW_CURRENT: u32 = 0;
export const KW_SCHED_HEAD: u32 = 4;
export const KW_SCHED_TAIL: u32 = 8;
export const LOOP_WQ_MAX_KWORKERS: u32 = 64;
export const LOOP_WQ_SIZE: u32 = WQ_KWORKERS + LOOP_WQ_MAX_KWORKERS * WQ_KW_SIZE;

export function loop_wq_size(): u32 {
  return LOOP_WQ_SIZE;
}

/** INIT_WORK: not pending, on no list, not running, belonging to `lo`. */
export function loop_work_init(work: u32, lo: u32): void {
  store<u32>(work, 0, WORK_ENTRY);
  store<u32>(work, 0, WORK_RESERVED);
  store<u32>(work, lo, WORK_LO);
  atomic.store<u32>(work + WORK_DATA, 0); // pairs with queue_work's test_and_set (threads start later)
}

/** alloc_workqueue: an empty pool for `nr_kworkers` kworker threads. Before any thread uses it. */
export function loop_wq_init(wq: u32, nr_kworkers: u32): i32 {
  if (nr_kworkers == 0 || nr_kworkers > LOOP_WQ_MAX_KWORKERS) return -22; // -EINVAL
  memory.fill(wq, 0, LOOP_WQ_SIZE);
  store<u32>(wq, nr_kworkers, WQ_NR_KWORKERS);
  atomic.store<u32>(wq + WQ_LOCK, 0); // pairs with every spin_lock on it (threads start later)
  return 0;
}

// @ts-ignore: decorator
@inline function kw_of(wq: u32, id: u32): u32 {
  return wq + WQ_KWORKERS + id * WQ_KW_SIZE;
}

/** find_worker_executing_work: the kworker id + 1 whose `current` is `work`, or 0. Under the lock. */
// @ts-ignore: decorator
@inline function executing_kworker(wq: u32, work: u32): u32 {
  const n = load<u32>(wq, WQ_NR_KWORKERS);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(kw_of(wq, i), KW_CURRENT) == work) return i + 1;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function list_push(headp: u32, tailp: u32, work: u32): void {
  store<u32>(work, 0, WORK_ENTRY);
  const tail = load<u32>(tailp);
  if (tail == 0) store<u32>(headp, work);
  else store<u32>(tail, work, WORK_ENTRY);
  store<u32>(tailp, work);
}

// @ts-ignore: decorator
@inline function list_shift(headp: u32, tailp: u32): u32 {
  const w = load<u32>(headp);
  if (w == 0) return 0;
  const next = load<u32>(w, WORK_ENTRY);
  store<u32>(headp, next);
  if (next == 0) store<u32>(tailp, 0);
  store<u32>(w, 0, WORK_ENTRY);
  return w;
}

/**
 * __queue_work: the caller has just set PENDING (queue_work's test_and_set_bit
 * returned 0). Put the work where it will run: on its runner's scheduled list if a
 * kworker is executing it (non-reentrancy), else on the worklist; wake an idle
 * kworker. Returns 1 if a kworker was notified.
 */
export function __queue_work(wq: u32, work: u32): u32 {
  spin_lock(wq + WQ_LOCK);
  store<u32>(wq, load<u32>(wq, WQ_QUEUED) + 1, WQ_QUEUED);
  const runner = executing_kworker(wq, work);
  if (runner != 0) {
    const kw = kw_of(wq, runner - 1);
    list_push(kw + KW_SCHED_HEAD, kw + KW_SCHED_TAIL, work);
    store<u32>(wq, load<u32>(wq, WQ_COLLISIONS) + 1, WQ_COLLISIONS);
    spin_unlock(wq + WQ_LOCK);
    return 0; // that kworker is awake: it is executing the work
  }
  list_push(wq + WQ_WL_HEAD, wq + WQ_WL_TAIL, work);
  const idle = load<u32>(wq, WQ_NR_IDLE);
  if (idle != 0) atomic.add<u32>(wq + WQ_WAKE, 1); // pairs with loop_wq_pick's load of `wake` under the lock
  spin_unlock(wq + WQ_LOCK);
  if (idle == 0) return 0;
  atomic.notify(wq + WQ_WAKE, 1); // pairs with loop_wq_pick's wait32
  return 1;
}

/**
 * queue_work: false (0) and nothing done if the work is PENDING; else set PENDING
 * and __queue_work. Returns 1 when queued.
 */
export function loop_queue_work_on(wq: u32, work: u32): u32 {
  // pairs with the kworker's clear in loop_wq_pick (seq-cst RMW)
  if ((atomic.or<u32>(work + WORK_DATA, WORK_PENDING) & WORK_PENDING) != 0) return 0;
  __queue_work(wq, work);
  return 1;
}

/**
 * A kworker's next work (worker_thread + the start of process_one_work): its
 * scheduled list first, then the worklist; a work some other kworker is running
 * is handed to that kworker (collision) and the search goes on. The work is marked
 * running on `me` and its PENDING bit cleared before it is returned. With nothing
 * to do the kworker spins `spin` read-only checks of `wake`, then sleeps on it.
 * Returns the work, or 0 once the stop word is set and nothing is left for it.
 */
export function loop_wq_pick(wq: u32, me: u32, spin: u32): u32 {
  const kw = kw_of(wq, me);
  while (true) {
    spin_lock(wq + WQ_LOCK);
    let w = list_shift(kw + KW_SCHED_HEAD, kw + KW_SCHED_TAIL);
    while (w == 0) {
      w = list_shift(wq + WQ_WL_HEAD, wq + WQ_WL_TAIL);
      if (w == 0) break;
      const runner = executing_kworker(wq, w);
      if (runner != 0 && runner != me + 1) {
        // running on another kworker: it runs it again after its current execution
        const other = kw_of(wq, runner - 1);
        list_push(other + KW_SCHED_HEAD, other + KW_SCHED_TAIL, w);
        store<u32>(wq, load<u32>(wq, WQ_COLLISIONS) + 1, WQ_COLLISIONS);
        w = 0;
      }
    }
    if (w != 0) {
      store<u32>(kw, w, KW_CURRENT);
      // set_work_pool_and_clear_pending: from here a queue_work queues it again;
      // pairs with loop_queue_work's test_and_set (under lo_work_lock)
      atomic.and<u32>(w + WORK_DATA, ~WORK_PENDING);
      spin_unlock(wq + WQ_LOCK);
      return w;
    }
    if (atomic.load<u32>(wq + WQ_STOP) != 0) { // pairs with loop_wq_stop's store
      spin_unlock(wq + WQ_LOCK);
      return 0;
    }
    store<u32>(wq, load<u32>(wq, WQ_NR_IDLE) + 1, WQ_NR_IDLE);
    const seq = atomic.load<u32>(wq + WQ_WAKE); // pairs with __queue_work's add (under the lock)
    spin_unlock(wq + WQ_LOCK);
    let woke = false;
    for (let i: u32 = 0; i < spin; i++) {
      // may be stale: a hint to stop spinning; the lock above decides
      if (atomic.load<u32>(wq + WQ_WAKE) != seq) { woke = true; break; }
    }
    if (!woke) memory.atomic.wait32(wq + WQ_WAKE, <i32>seq, 100_000_000); // pairs with __queue_work's notify; 100 ms cap
    spin_lock(wq + WQ_LOCK);
    store<u32>(wq, load<u32>(wq, WQ_NR_IDLE) - 1, WQ_NR_IDLE);
    spin_unlock(wq + WQ_LOCK);
  }
  return 0;
}

/**
 * The end of process_one_work: `me` runs nothing now. `work` is not read: it may
 * have been freed already (the reaper); it is a key only.
 */
export function loop_wq_done(wq: u32, me: u32, work: u32): void {
  const kw = kw_of(wq, me);
  spin_lock(wq + WQ_LOCK);
  if (load<u32>(kw, KW_CURRENT) == work) store<u32>(kw, 0, KW_CURRENT);
  store<u32>(wq, load<u32>(wq, WQ_EXECUTED) + 1, WQ_EXECUTED);
  spin_unlock(wq + WQ_LOCK);
}

/** Make every kworker return from loop_wq_pick once it has nothing left. */
export function loop_wq_stop(wq: u32): void {
  atomic.store<u32>(wq + WQ_STOP, 1); // pairs with loop_wq_pick's load
  spin_lock(wq + WQ_LOCK);
  atomic.add<u32>(wq + WQ_WAKE, 1); // pairs with loop_wq_pick's load of `wake`
  spin_unlock(wq + WQ_LOCK);
  atomic.notify(wq + WQ_WAKE, LOOP_WQ_MAX_KWORKERS); // pairs with loop_wq_pick's wait32
}

/** 1 iff nothing is queued or running (a drain check). May be stale. */
export function loop_wq_idle(wq: u32): u32 {
  spin_lock(wq + WQ_LOCK);
  let busy = load<u32>(wq, WQ_WL_HEAD) != 0;
  const n = load<u32>(wq, WQ_NR_KWORKERS);
  for (let i: u32 = 0; i < n && !busy; i++) {
    const kw = kw_of(wq, i);
    busy = load<u32>(kw, KW_CURRENT) != 0 || load<u32>(kw, KW_SCHED_HEAD) != 0;
  }
  spin_unlock(wq + WQ_LOCK);
  return u32(!busy);
}

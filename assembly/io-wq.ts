// io_uring's io-wq in Wasm: the per-task io_wq with its bounded and unbounded
// io_wq_acct, io_wq_enqueue, hashed work (one chain per hash at a time, the stalled
// bit), the free-worker wake and the worker loop. After io_uring/io-wq.c: 6.12
// (torvalds/linux, read at 0604aa87b098 for the acct->lock layout; 6.1 keeps the same
// rules under io_wqe, per NUMA node, with the same acct fields). Functions keep the
// kernel's names; the host (src/wasm/io-wq.ts) assigns every offset.
//
//   io_wq (1536 bytes, 64-byte aligned; one per submitting task, io_uring_task->io_wq)
//   line 0  +0    lock       u32  wq->lock: nr_workers, nr_free, worker slots' FREE<->NONE
//           +4    state      u32  bit 0 IO_WQ_BIT_EXIT
//           +8    hash_map   u64  wq->hash->map: bit h set while a worker owns hash h's chain
//           +16   slots      u32  worker slots in use (high-water mark, for scans)
//   line 1  +64   acct[0]    IO_WQ_ACCT_BOUND   (64 bytes, below)
//   line 2  +128  acct[1]    IO_WQ_ACCT_UNBOUND
//   +192  hash_tail[64] u32      wq->hash_tail[]: last queued work of each hash (under acct->lock)
//   +448  worker slot[64], 16 bytes each:
//           +0 state u32  IO_WORKER_NONE / BUSY / FREE (FREE: on the free list, asleep;
//                         the futex word the worker sleeps on)
//           +4 acct  u32  index of the acct it serves (IO_WORKER_F_BOUND)
//           +8 next  u32  the rest of the hashed chain it is running (wq_next_work)
//           +12 runs u32  works it ran (a statistic, written by its own thread)
//
//   io_wq_acct (64 bytes)
//           +0  lock        u32  acct->lock: work_list, hash_tail of its works
//           +4  flags       u32  bit 0 IO_ACCT_STALLED_BIT (atomic bit ops)
//           +8  first       u32  work_list (io_wq_work_list: singly linked, first/last)
//           +12 last        u32
//           +16 nr_workers  u32  under wq->lock
//           +20 max_workers u32  under wq->lock
//           +24 nr_running  u32  atomic_t
//           +28 nr_free     u32  FREE slots of this acct (under wq->lock)
//           +32 enqueued    u32  statistics (atomic adds)
//           +36 taken       u32
//           +40 stalls      u32
//           +44 creates     u32  "create a worker" answers
//           +48 done        u32
//
//   io_wq_work (32 bytes, an object of the host's work arena)
//   +0  next   u32  io_wq_work_node
//   +4  flags  u32  IO_WQ_WORK_CANCEL 1, _HASHED 2, _UNBOUND 4, _CONCURRENT 16; hash << 24
//   +8  fn     u32  IO_WQ_FN_* (NOP 0, SPIN 1, COUNT 2, CHECK 3); >= IO_WQ_FN_HOST: the host runs it
//   +12 arg    u32
//   +16 cost   u32  virtual ns (the sim's)
//   +20 owner  u32  the host's (request id)
//   +24 seq    u32  the host's
//   +28 runs   u32  times do_work ran it (exactly-once checks: must end at 1)
//
// Lock order: acct->lock, then wq->lock is never taken inside it here (the kernel's
// io_wq_enqueue drops acct->lock before taking wq->lock; so does this file). Spin locks
// only: no thread sleeps holding one.
//
// DIVERGENCE (worker slots): the kernel's free list is an hlist of io_worker and
// wake_up_process() tells whether the worker slept; here each worker has a slot whose
// state word is cmpxchg'd FREE -> BUSY by whoever wakes it (the same "true only if it
// was sleeping"). At most IO_WQ_MAX_SLOTS workers exist per io_wq at once; creation
// beyond that is answered like nr_workers == max_workers.
// DIVERGENCE (going idle): a worker that put itself on the free list re-checks the
// work list and takes itself off again if work arrived (the kernel instead relies on
// io_wq_worker_sleeping creating a worker when the last running one sleeps).
import { spin_lock, spin_unlock } from './spinlock';
import { counter_add } from './counters';

export const IO_WQ_BIT_EXIT: u32 = 0;
export const IO_ACCT_STALLED_BIT: u32 = 0;

export const IO_WQ_WORK_CANCEL: u32 = 1;
export const IO_WQ_WORK_HASHED: u32 = 2;
export const IO_WQ_WORK_UNBOUND: u32 = 4;
export const IO_WQ_WORK_CONCURRENT: u32 = 16;
export const IO_WQ_HASH_SHIFT: u32 = 24;
export const IO_WQ_HASH_ORDER: u32 = 6;
export const IO_WQ_NR_HASH_BUCKETS: u32 = 1 << IO_WQ_HASH_ORDER;

export const IO_WQ_ACCT_BOUND: u32 = 0;
export const IO_WQ_ACCT_UNBOUND: u32 = 1;

export const IO_WQ_LOCK: u32 = 0;
export const IO_WQ_STATE: u32 = 4;
export const IO_WQ_HASH_MAP: u32 = 8;
export const IO_WQ_SLOTS_USED: u32 = 16;
export const IO_WQ_ACCT: u32 = 64;
export const IO_WQ_ACCT_SIZE: u32 = 64;
export const IO_WQ_HASH_TAIL: u32 = 192;
export const IO_WQ_SLOTS: u32 = 448;
export const IO_WQ_SLOT_SIZE: u32 = 16;
export const IO_WQ_MAX_SLOTS: u32 = 64;
export const IO_WQ_SIZE: u32 = 1536;

export const ACCT_LOCK: u32 = 0;
export const ACCT_FLAGS: u32 = 4;
export const ACCT_FIRST: u32 = 8;
export const ACCT_LAST: u32 = 12;
export const ACCT_NR_WORKERS: u32 = 16;
export const ACCT_MAX_WORKERS: u32 = 20;
export const ACCT_NR_RUNNING: u32 = 24;
export const ACCT_NR_FREE: u32 = 28;
export const ACCT_ENQUEUED: u32 = 32;
export const ACCT_TAKEN: u32 = 36;
export const ACCT_STALLS: u32 = 40;
export const ACCT_CREATES: u32 = 44;
export const ACCT_DONE: u32 = 48;

export const SLOT_STATE: u32 = 0;
export const SLOT_ACCT: u32 = 4;
export const SLOT_NEXT: u32 = 8;
export const SLOT_RUNS: u32 = 12;
export const IO_WORKER_NONE: u32 = 0;
export const IO_WORKER_BUSY: u32 = 1;
export const IO_WORKER_FREE: u32 = 2;

export const WORK_NEXT: u32 = 0;
export const WORK_FLAGS: u32 = 4;
export const WORK_FN: u32 = 8;
export const WORK_ARG: u32 = 12;
export const WORK_COST: u32 = 16;
export const WORK_OWNER: u32 = 20;
export const WORK_SEQ: u32 = 24;
export const WORK_RUNS: u32 = 28;
export const IO_WQ_WORK_SIZE: u32 = 32;

export const IO_WQ_FN_NOP: u32 = 0;
export const IO_WQ_FN_SPIN: u32 = 1;
export const IO_WQ_FN_COUNT: u32 = 2;
export const IO_WQ_FN_CHECK: u32 = 3;
export const IO_WQ_FN_HOST: u32 = 16;

// io_wq_check (64 bytes, one line; an object of the host's check arena): what an
// IO_WQ_FN_CHECK work checks while it runs, one record per hash key (a test's "file").
// The work's arg is the record's offset, its seq the order its producer queued it in
// (0, 1, 2, ... per key), its cost the spin iterations inside the section.
//   +0  active      u32  workers inside this key's section now (must never exceed 1)
//   +4  next        u32  the seq expected next (last seq run + 1)
//   +8  overlaps    u32  times a work found another inside (hashed works ran in parallel)
//   +12 reorders    u32  times a work ran before an earlier one of its key
//   +16 runs        u32  works of this key run
export const CHK_ACTIVE: u32 = 0;
export const CHK_NEXT: u32 = 4;
export const CHK_OVERLAPS: u32 = 8;
export const CHK_REORDERS: u32 = 12;
export const CHK_RUNS: u32 = 16;
export const IO_WQ_CHECK_SIZE: u32 = 64;

/** io_wq_enqueue's answer: bit flags */
export const IO_WQ_ENQ_QUEUED: u32 = 1;
/** a FREE worker was claimed (its slot is BUSY now; threads: notified) */
export const IO_WQ_ENQ_WOKE: u32 = 2;
/** exiting or IO_WQ_WORK_CANCEL: not queued, the caller runs the cancel (io_run_cancel) */
export const IO_WQ_ENQ_CANCEL: u32 = 4;
/** nr_workers and nr_running were raised: the caller creates a worker (create_io_worker) */
export const IO_WQ_ENQ_CREATE: u32 = 8;

export function io_wq_size(): u32 { return IO_WQ_SIZE; }
export function io_wq_work_size(): u32 { return IO_WQ_WORK_SIZE; }

// @ts-ignore: decorator
@inline function acct_of(wq: usize, index: u32): usize {
  return wq + IO_WQ_ACCT + (<usize>index) * IO_WQ_ACCT_SIZE;
}
// @ts-ignore: decorator
@inline function slot_of(wq: usize, slot: u32): usize {
  return wq + IO_WQ_SLOTS + (<usize>slot) * IO_WQ_SLOT_SIZE;
}
// @ts-ignore: decorator
@inline function work_acct(work: usize): u32 {
  return (load<u32>(work + WORK_FLAGS) & IO_WQ_WORK_UNBOUND) ? IO_WQ_ACCT_UNBOUND : IO_WQ_ACCT_BOUND;
}
// @ts-ignore: decorator
@inline function is_hashed(flags: u32): bool {
  return (flags & IO_WQ_WORK_HASHED) != 0;
}

/** io_wq_create: both accts empty, max_workers = bounded / unbounded (RLIMIT_NPROC). Before any thread uses it. */
export function io_wq_init(wq: usize, bounded: u32, unbounded: u32): void {
  memory.fill(wq, 0, IO_WQ_SIZE);
  store<u32>(acct_of(wq, IO_WQ_ACCT_BOUND) + ACCT_MAX_WORKERS, bounded);
  store<u32>(acct_of(wq, IO_WQ_ACCT_UNBOUND) + ACCT_MAX_WORKERS, unbounded);
  atomic.store<u32>(wq + IO_WQ_LOCK, 0); // pairs with every spin_lock on it (threads start later)
}

/** INIT_WQ_WORK: fn/arg/cost, flags 0, not on a list, never run. */
export function io_wq_work_init(work: usize, fn: u32, arg: u32, cost: u32): void {
  store<u32>(work + WORK_NEXT, 0);
  store<u32>(work + WORK_FLAGS, 0);
  store<u32>(work + WORK_FN, fn);
  store<u32>(work + WORK_ARG, arg);
  store<u32>(work + WORK_COST, cost);
  store<u32>(work + WORK_OWNER, 0);
  store<u32>(work + WORK_SEQ, 0);
  store<u32>(work + WORK_RUNS, 0);
}

/** hash_32(val, bits) (include/linux/hash.h, GOLDEN_RATIO_32). */
// @ts-ignore: decorator
@inline function hash_32(val: u32, bits: u32): u32 {
  return (val * 0x61C88647) >>> (32 - bits);
}

/**
 * io_wq_hash_work: works with the same key (the kernel hashes file_inode(file), a
 * pointer, with hash_ptr; the model hashes the inode number) never run in parallel.
 * Returns the bucket.
 */
export function io_wq_hash_work(work: usize, key: u32): u32 {
  const bit = hash_32(key, IO_WQ_HASH_ORDER);
  store<u32>(work + WORK_FLAGS, load<u32>(work + WORK_FLAGS) | IO_WQ_WORK_HASHED | (bit << IO_WQ_HASH_SHIFT));
  return bit;
}

/**
 * INIT_WQ_WORK of `n` works (offsets at `works`), each with `fn`, `arg` and `cost`, and
 * io_wq_hash_work of work i with keys[i] when `keys` is not 0: one call for a batch
 * of submissions instead of two per work (a JS-to-Wasm call costs ~4-5 ns).
 */
export function io_wq_work_init_batch(works: usize, n: u32, fn: u32, arg: u32, cost: u32, keys: usize): void {
  for (let i: u32 = 0; i < n; i++) {
    const work = <usize>load<u32>(works + (<usize>i << 2));
    io_wq_work_init(work, fn, arg, cost);
    if (keys != 0) io_wq_hash_work(work, load<u32>(keys + (<usize>i << 2)));
  }
}

/** io_wq_insert_work, under acct->lock: hashed works go right after their hash's tail. */
// @ts-ignore: decorator
@inline function insert_work(wq: usize, acct: usize, work: usize): void {
  const flags = load<u32>(work + WORK_FLAGS);
  store<u32>(work + WORK_NEXT, 0);
  if (is_hashed(flags)) {
    const tailp = wq + IO_WQ_HASH_TAIL + ((<usize>(flags >>> IO_WQ_HASH_SHIFT)) << 2);
    const tail = <usize>load<u32>(tailp);
    store<u32>(tailp, <u32>work);
    if (tail != 0) {
      // wq_list_add_after(&work->list, &tail->list, &acct->work_list)
      const next = load<u32>(tail + WORK_NEXT);
      store<u32>(work + WORK_NEXT, next);
      store<u32>(tail + WORK_NEXT, <u32>work);
      if (next == 0) store<u32>(acct + ACCT_LAST, <u32>work);
      return;
    }
  }
  // wq_list_add_tail
  const last = load<u32>(acct + ACCT_LAST);
  if (last == 0) store<u32>(acct + ACCT_FIRST, <u32>work);
  else store<u32>(<usize>last + WORK_NEXT, <u32>work);
  store<u32>(acct + ACCT_LAST, <u32>work);
}

/**
 * io_wq_activate_free_worker, under wq->lock: claim one FREE worker of `index`
 * (FREE -> BUSY, then wake it). Returns the slot + 1, or 0 if none was asleep.
 */
function activate_free_worker(wq: usize, index: u32): u32 {
  const n = load<u32>(wq + IO_WQ_SLOTS_USED);
  for (let i: u32 = 0; i < n; i++) {
    const s = slot_of(wq, i);
    if (load<u32>(s + SLOT_ACCT) != index) continue;
    // wake_up_process() returns true only for a sleeper: the cmpxchg is that test;
    // pairs with the worker's FREE store and its wait32 on the same word
    if (atomic.cmpxchg<u32>(s + SLOT_STATE, IO_WORKER_FREE, IO_WORKER_BUSY) == IO_WORKER_FREE) {
      const acct = acct_of(wq, index);
      store<u32>(acct + ACCT_NR_FREE, load<u32>(acct + ACCT_NR_FREE) - 1);
      atomic.notify(s + SLOT_STATE, 1); // pairs with io_wq_worker_sleep's wait32
      return i + 1;
    }
  }
  return 0;
}

/** io_wq_create_worker's reservation, under nothing: nr_workers++ under wq->lock if below max. */
// @ts-ignore: decorator
@inline function reserve_worker(wq: usize, acct: usize): bool {
  spin_lock(wq + IO_WQ_LOCK);
  const nr = load<u32>(acct + ACCT_NR_WORKERS);
  const ok = nr < load<u32>(acct + ACCT_MAX_WORKERS) && nr < IO_WQ_MAX_SLOTS;
  if (ok) store<u32>(acct + ACCT_NR_WORKERS, nr + 1);
  spin_unlock(wq + IO_WQ_LOCK);
  return ok;
}

/**
 * io_wq_enqueue: queue `work` on its acct (bound unless IO_WQ_WORK_UNBOUND), clear the
 * stalled bit, wake a free worker or, if none and (CONCURRENT or nothing running),
 * reserve a new one (nr_workers++ and nr_running++, as io_wq_create_worker does).
 * Returns IO_WQ_ENQ_* flags; the claimed slot (WOKE) is written to `slot_out` (a u32) + 1.
 */
export function io_wq_enqueue(wq: usize, work: usize, slot_out: usize): u32 {
  const flags = load<u32>(work + WORK_FLAGS);
  // pairs with io_wq_exit_start's atomic or
  if ((atomic.load<u32>(wq + IO_WQ_STATE) & (1 << IO_WQ_BIT_EXIT)) != 0 || (flags & IO_WQ_WORK_CANCEL) != 0) return IO_WQ_ENQ_CANCEL;
  const index = work_acct(work);
  const acct = acct_of(wq, index);
  spin_lock(acct + ACCT_LOCK);
  insert_work(wq, acct, work);
  atomic.and<u32>(acct + ACCT_FLAGS, ~(1 << IO_ACCT_STALLED_BIT)); // clear_bit; pairs with io_get_next_work's set
  spin_unlock(acct + ACCT_LOCK);
  atomic.add<u32>(acct + ACCT_ENQUEUED, 1); // a statistic
  spin_lock(wq + IO_WQ_LOCK);
  const woke = activate_free_worker(wq, index);
  spin_unlock(wq + IO_WQ_LOCK);
  if (woke != 0) {
    store<u32>(slot_out, woke);
    return IO_WQ_ENQ_QUEUED | IO_WQ_ENQ_WOKE;
  }
  store<u32>(slot_out, 0);
  // pairs with io_wq_inc_running / io_wq_dec_running's atomic adds
  if ((flags & IO_WQ_WORK_CONCURRENT) != 0 || atomic.load<u32>(acct + ACCT_NR_RUNNING) == 0) {
    if (reserve_worker(wq, acct)) {
      atomic.add<u32>(acct + ACCT_NR_RUNNING, 1); // pairs with io_wq_dec_running's sub
      atomic.add<u32>(acct + ACCT_CREATES, 1); // a statistic
      return IO_WQ_ENQ_QUEUED | IO_WQ_ENQ_CREATE;
    }
  }
  return IO_WQ_ENQ_QUEUED;
}

/** io_acct_run_queue: work queued and the acct not stalled on a hash. */
export function io_acct_run_queue(wq: usize, index: u32): u32 {
  const acct = acct_of(wq, index);
  spin_lock(acct + ACCT_LOCK);
  const ret = load<u32>(acct + ACCT_FIRST) != 0 &&
    (atomic.load<u32>(acct + ACCT_FLAGS) & (1 << IO_ACCT_STALLED_BIT)) == 0; // pairs with the set/clear of STALLED
  spin_unlock(acct + ACCT_LOCK);
  return u32(ret);
}

/**
 * io_get_next_work (with io_worker_handle_work's locking): the first runnable work;
 * for a hashed one whose hash is free, take the hash bit and cut the whole chain
 * [work .. hash_tail] off the list (NULL-terminated: walk it with `next`). A hash
 * already owned is skipped (fast-forward to its tail). Nothing runnable but hashed
 * work waiting: set STALLED, then re-test the first stalled hash (io_wait_on_hash:
 * if it was released meanwhile, clear STALLED). Returns the work or 0.
 */
export function io_get_next_work(wq: usize, index: u32): usize {
  const acct = acct_of(wq, index);
  const map = wq + IO_WQ_HASH_MAP;
  spin_lock(acct + ACCT_LOCK);
  let prev: usize = 0;
  let node = <usize>load<u32>(acct + ACCT_FIRST);
  let stall_hash: u32 = 0xffff_ffff;
  while (node != 0) {
    const flags = load<u32>(node + WORK_FLAGS);
    if (!is_hashed(flags)) {
      cut(acct, node, prev);
      spin_unlock(acct + ACCT_LOCK);
      atomic.add<u32>(acct + ACCT_TAKEN, 1); // a statistic
      return node;
    }
    const hash = flags >>> IO_WQ_HASH_SHIFT;
    const tailp = wq + IO_WQ_HASH_TAIL + ((<usize>hash) << 2);
    const tail = <usize>load<u32>(tailp);
    const bit = (<u64>1) << hash;
    // test_and_set_bit(hash, &wq->hash->map); pairs with io_wq_work_done's clear
    if ((atomic.or<u64>(map, bit) & bit) == 0) {
      store<u32>(tailp, 0);
      cut(acct, tail, prev);
      spin_unlock(acct + ACCT_LOCK);
      atomic.add<u32>(acct + ACCT_TAKEN, 1); // a statistic
      return node;
    }
    if (stall_hash == 0xffff_ffff) stall_hash = hash;
    // fast-forward past this hash's chain
    prev = tail;
    node = <usize>load<u32>(tail + WORK_NEXT);
  }
  if (stall_hash != 0xffff_ffff) {
    atomic.or<u32>(acct + ACCT_FLAGS, 1 << IO_ACCT_STALLED_BIT); // set_bit; pairs with enqueue/done's clear
    atomic.add<u32>(acct + ACCT_STALLS, 1); // a statistic
    // io_wait_on_hash: the hash may have been released before STALLED was set; pairs with done's clear
    if ((atomic.load<u64>(map) & ((<u64>1) << stall_hash)) == 0) {
      atomic.and<u32>(acct + ACCT_FLAGS, ~(1 << IO_ACCT_STALLED_BIT)); // pairs with the set above
    }
  }
  spin_unlock(acct + ACCT_LOCK);
  return 0;
}

/** wq_list_cut: remove the chain that starts after `prev` (0: at the head) and ends at `last`; last->next = 0. */
// @ts-ignore: decorator
@inline function cut(acct: usize, last: usize, prev: usize): void {
  const after = load<u32>(last + WORK_NEXT);
  if (prev == 0) store<u32>(acct + ACCT_FIRST, after);
  else store<u32>(prev + WORK_NEXT, after);
  if (<u32>last == load<u32>(acct + ACCT_LAST)) store<u32>(acct + ACCT_LAST, <u32>prev);
  store<u32>(last + WORK_NEXT, 0);
}

/**
 * After do_work ran `work` (io_worker_handle_work's inner loop): count the run; if it
 * was the last of a hashed chain (next == 0), release the hash and clear STALLED
 * (both accts: io_wq_hash_wake) and, if that acct has runnable work, wake a free
 * worker. Returns the next work of the chain, or 0; the woken slot + 1 goes to `slot_out`.
 */
export function io_wq_work_done(wq: usize, work: usize, slot_out: usize): usize {
  const flags = load<u32>(work + WORK_FLAGS);
  const next = <usize>load<u32>(work + WORK_NEXT); // wq_next_work: read before the work is freed
  atomic.add<u32>(work + WORK_RUNS, 1); // exactly-once check; pairs with the host's read after the run
  const index = work_acct(work);
  atomic.add<u32>(acct_of(wq, index) + ACCT_DONE, 1); // a statistic
  store<u32>(slot_out, 0);
  if (is_hashed(flags) && next == 0) {
    const hash = flags >>> IO_WQ_HASH_SHIFT;
    atomic.and<u64>(wq + IO_WQ_HASH_MAP, ~((<u64>1) << hash)); // clear_bit; pairs with io_get_next_work's test_and_set
    for (let i: u32 = 0; i < 2; i++) {
      const a = acct_of(wq, i);
      // test_and_clear_bit(IO_ACCT_STALLED_BIT): pairs with io_get_next_work's set
      if ((atomic.and<u32>(a + ACCT_FLAGS, ~(1 << IO_ACCT_STALLED_BIT)) & (1 << IO_ACCT_STALLED_BIT)) != 0) {
        spin_lock(wq + IO_WQ_LOCK);
        const s = activate_free_worker(wq, i);
        spin_unlock(wq + IO_WQ_LOCK);
        if (s != 0) store<u32>(slot_out, s);
      }
    }
  }
  return next;
}

// ---- workers ---------------------------------------------------------------------------

/**
 * io_init_new_worker: a BUSY slot serving acct `index`; returns the slot or -1 (none
 * left). `reserve` 1: also count it (nr_workers++, nr_running++) for a worker that no
 * io_wq_enqueue / io_wq_dec_running reservation announced (a benchmark's fixed pool).
 */
export function io_wq_worker_attach(wq: usize, index: u32, reserve: u32): i32 {
  spin_lock(wq + IO_WQ_LOCK);
  if (reserve != 0) {
    const acct = acct_of(wq, index);
    store<u32>(acct + ACCT_NR_WORKERS, load<u32>(acct + ACCT_NR_WORKERS) + 1);
    atomic.add<u32>(acct + ACCT_NR_RUNNING, 1); // pairs with io_wq_enqueue's load
  }
  const used = load<u32>(wq + IO_WQ_SLOTS_USED);
  let slot: i32 = -1;
  for (let i: u32 = 0; i < IO_WQ_MAX_SLOTS; i++) {
    const s = slot_of(wq, i);
    if (i < used && load<u32>(s + SLOT_STATE) != IO_WORKER_NONE) continue;
    store<u32>(s + SLOT_ACCT, index);
    store<u32>(s + SLOT_NEXT, 0);
    store<u32>(s + SLOT_RUNS, 0);
    atomic.store<u32>(s + SLOT_STATE, IO_WORKER_BUSY); // pairs with activate_free_worker's cmpxchg
    if (i >= used) store<u32>(wq + IO_WQ_SLOTS_USED, i + 1);
    slot = <i32>i;
    break;
  }
  spin_unlock(wq + IO_WQ_LOCK);
  return slot;
}

/** __io_worker_idle: put the worker on the free list (FREE). It sleeps on the slot word next. */
export function io_wq_worker_idle(wq: usize, slot: u32): void {
  const s = slot_of(wq, slot);
  spin_lock(wq + IO_WQ_LOCK);
  if (load<u32>(s + SLOT_STATE) == IO_WORKER_BUSY) {
    const acct = acct_of(wq, load<u32>(s + SLOT_ACCT));
    store<u32>(acct + ACCT_NR_FREE, load<u32>(acct + ACCT_NR_FREE) + 1);
    atomic.store<u32>(s + SLOT_STATE, IO_WORKER_FREE); // pairs with activate_free_worker's cmpxchg
  }
  spin_unlock(wq + IO_WQ_LOCK);
}

/**
 * __io_worker_busy: take a FREE worker off the free list itself (woken by its timeout,
 * or it found work after going idle). Returns 1 if it was FREE, 0 if someone had
 * claimed it already (it is BUSY either way afterwards).
 */
export function io_wq_worker_busy(wq: usize, slot: u32): u32 {
  const s = slot_of(wq, slot);
  spin_lock(wq + IO_WQ_LOCK);
  // pairs with activate_free_worker's cmpxchg (under the same lock)
  const was = atomic.cmpxchg<u32>(s + SLOT_STATE, IO_WORKER_FREE, IO_WORKER_BUSY) == IO_WORKER_FREE;
  if (was) {
    const acct = acct_of(wq, load<u32>(s + SLOT_ACCT));
    store<u32>(acct + ACCT_NR_FREE, load<u32>(acct + ACCT_NR_FREE) - 1);
  }
  spin_unlock(wq + IO_WQ_LOCK);
  return u32(was);
}

/**
 * The idle-timeout exit (io_wq_worker after schedule_timeout returned 0): "exit if
 * we're not the last worker". Takes the worker off the free list if it is still
 * there; returns 1 (the slot is NONE, nr_workers--) or 0 (it stays: last worker, or
 * it was claimed meanwhile and must run).
 */
export function io_wq_worker_timeout(wq: usize, slot: u32): u32 {
  const s = slot_of(wq, slot);
  spin_lock(wq + IO_WQ_LOCK);
  const acct = acct_of(wq, load<u32>(s + SLOT_ACCT));
  let exit: u32 = 0;
  const nr = load<u32>(acct + ACCT_NR_WORKERS);
  if (nr > 1 && load<u32>(s + SLOT_STATE) == IO_WORKER_FREE) {
    store<u32>(acct + ACCT_NR_WORKERS, nr - 1);
    store<u32>(acct + ACCT_NR_FREE, load<u32>(acct + ACCT_NR_FREE) - 1);
    atomic.store<u32>(s + SLOT_STATE, IO_WORKER_NONE); // pairs with activate_free_worker's cmpxchg
    exit = 1;
  }
  spin_unlock(wq + IO_WQ_LOCK);
  return exit;
}

/** io_worker_exit for a worker that leaves on exit (IO_WQ_BIT_EXIT) or a signal: slot NONE, nr_workers--. */
export function io_wq_worker_exit(wq: usize, slot: u32): void {
  const s = slot_of(wq, slot);
  spin_lock(wq + IO_WQ_LOCK);
  const acct = acct_of(wq, load<u32>(s + SLOT_ACCT));
  const st = load<u32>(s + SLOT_STATE);
  if (st != IO_WORKER_NONE) {
    if (st == IO_WORKER_FREE) store<u32>(acct + ACCT_NR_FREE, load<u32>(acct + ACCT_NR_FREE) - 1);
    store<u32>(acct + ACCT_NR_WORKERS, load<u32>(acct + ACCT_NR_WORKERS) - 1);
    atomic.store<u32>(s + SLOT_STATE, IO_WORKER_NONE); // pairs with activate_free_worker's cmpxchg
  }
  spin_unlock(wq + IO_WQ_LOCK);
}

/** io_wq_inc_running (io_wq_worker_running: the worker was scheduled in). */
export function io_wq_inc_running(wq: usize, index: u32): void {
  atomic.add<u32>(acct_of(wq, index) + ACCT_NR_RUNNING, 1); // pairs with io_wq_enqueue's load
}

/**
 * io_wq_dec_running (io_wq_worker_sleeping: the worker blocks or sleeps). If it was
 * the last running one and the acct has runnable work, a worker is needed: the
 * kernel queues create_worker_cb as task_work on the submitter, which reserves one if
 * nr_workers < max_workers. Here the reservation is made at once (nr_workers++ and
 * nr_running++); returns 1 when the caller must create a worker, else 0.
 */
export function io_wq_dec_running(wq: usize, index: u32): u32 {
  const acct = acct_of(wq, index);
  // atomic_dec_and_test; pairs with io_wq_enqueue's load and io_wq_inc_running
  if (atomic.sub<u32>(acct + ACCT_NR_RUNNING, 1) != 1) return 0;
  if (io_acct_run_queue(wq, index) == 0) return 0;
  if (!reserve_worker(wq, acct)) return 0;
  atomic.add<u32>(acct + ACCT_NR_RUNNING, 1); // pairs with the sub above
  atomic.add<u32>(acct + ACCT_CREATES, 1); // a statistic
  return 1;
}

/**
 * create_io_worker failed for good (not retried, or out of retries): undo the
 * reservation (nr_running--, nr_workers--). Returns the nr_workers left: 0 means the
 * caller cancels the acct's pending work (create_worker_cont's io_acct_cancel_pending_work loop).
 */
export function io_wq_create_failed(wq: usize, index: u32): u32 {
  const acct = acct_of(wq, index);
  atomic.sub<u32>(acct + ACCT_NR_RUNNING, 1); // pairs with the reservation's add
  spin_lock(wq + IO_WQ_LOCK);
  const nr = load<u32>(acct + ACCT_NR_WORKERS) - 1;
  store<u32>(acct + ACCT_NR_WORKERS, nr);
  spin_unlock(wq + IO_WQ_LOCK);
  return nr;
}

/**
 * io_acct_cancel_pending_work for every pending work of acct `index` (cancel_all):
 * detach them all (hash tails of the acct's hashes reset), write up to `cap` to `out`
 * in list order; the rest stay queued. Returns how many were written.
 */
export function io_wq_cancel_pending(wq: usize, index: u32, out: usize, cap: u32): u32 {
  const acct = acct_of(wq, index);
  spin_lock(acct + ACCT_LOCK);
  let n: u32 = 0;
  let node = <usize>load<u32>(acct + ACCT_FIRST);
  while (node != 0 && n < cap) {
    const next = <usize>load<u32>(node + WORK_NEXT);
    const flags = load<u32>(node + WORK_FLAGS);
    if (is_hashed(flags)) {
      const tailp = wq + IO_WQ_HASH_TAIL + ((<usize>(flags >>> IO_WQ_HASH_SHIFT)) << 2);
      if (load<u32>(tailp) == <u32>node) store<u32>(tailp, 0);
    }
    store<u32>(node + WORK_NEXT, 0);
    store<u32>(node + WORK_FLAGS, flags | IO_WQ_WORK_CANCEL);
    store<u32>(out + (<usize>n << 2), <u32>node);
    n++;
    node = next;
  }
  store<u32>(acct + ACCT_FIRST, <u32>node);
  if (node == 0) store<u32>(acct + ACCT_LAST, 0);
  spin_unlock(acct + ACCT_LOCK);
  return n;
}

/**
 * io_wq_exit_start: set IO_WQ_BIT_EXIT and wake every FREE worker (io_wq_worker_wake).
 * The wake claims the slot (FREE -> BUSY, as wake_up_process makes the task running):
 * a worker that went FREE after its last look at EXIT and has not reached wait32 yet
 * would otherwise wait on an unchanged FREE word and miss the notify for good (the bug
 * test/drivers/io_uring/io-wq.threads.test.ts caught: workers that never exited).
 */
export function io_wq_exit_start(wq: usize): void {
  atomic.or<u32>(wq + IO_WQ_STATE, 1 << IO_WQ_BIT_EXIT); // pairs with io_wq_enqueue's and the loop's loads
  spin_lock(wq + IO_WQ_LOCK);
  const n = load<u32>(wq + IO_WQ_SLOTS_USED);
  for (let i: u32 = 0; i < n; i++) {
    const s = slot_of(wq, i);
    // pairs with the worker's FREE store and its wait32 (which returns at once on BUSY)
    if (atomic.cmpxchg<u32>(s + SLOT_STATE, IO_WORKER_FREE, IO_WORKER_BUSY) == IO_WORKER_FREE) {
      const acct = acct_of(wq, load<u32>(s + SLOT_ACCT));
      store<u32>(acct + ACCT_NR_FREE, load<u32>(acct + ACCT_NR_FREE) - 1);
    }
    atomic.notify(s + SLOT_STATE, 1); // pairs with the sleep's wait32
  }
  spin_unlock(wq + IO_WQ_LOCK);
}

/** IORING_REGISTER_IOWQ_MAX_WORKERS's core (io_wq_max_workers): set max_workers of `index` if `count` != 0; returns the previous. */
export function io_wq_max_workers(wq: usize, index: u32, count: u32): u32 {
  const acct = acct_of(wq, index);
  spin_lock(wq + IO_WQ_LOCK);
  const prev = load<u32>(acct + ACCT_MAX_WORKERS);
  if (count != 0) store<u32>(acct + ACCT_MAX_WORKERS, count);
  spin_unlock(wq + IO_WQ_LOCK);
  return prev;
}

// ---- the worker loop for real threads ------------------------------------------------------

/** A built-in work function; 0 for HOST works (not run here). */
// @ts-ignore: decorator
@inline function run_builtin(work: usize): bool {
  const fn = load<u32>(work + WORK_FN);
  if (fn >= IO_WQ_FN_HOST) return false;
  if (fn == IO_WQ_FN_SPIN) {
    let x: u32 = load<u32>(work + WORK_SEQ);
    const n = load<u32>(work + WORK_ARG);
    for (let i: u32 = 0; i < n; i++) x = x * 1664525 + 1013904223;
    store<u32>(work + WORK_SEQ, x);
  } else if (fn == IO_WQ_FN_COUNT) {
    counter_add(load<u32>(work + WORK_ARG), 1);
  } else if (fn == IO_WQ_FN_CHECK) {
    const c = <usize>load<u32>(work + WORK_ARG);
    // pairs with the sub below on another worker: a second worker inside is an overlap
    if (atomic.add<u32>(c + CHK_ACTIVE, 1) != 0) atomic.add<u32>(c + CHK_OVERLAPS, 1);
    const seq = load<u32>(work + WORK_SEQ);
    // pairs with the previous runner's store (the hash bit's clear/set orders them)
    if (seq != atomic.load<u32>(c + CHK_NEXT)) atomic.add<u32>(c + CHK_REORDERS, 1);
    atomic.store<u32>(c + CHK_NEXT, seq + 1); // pairs with the load above on the next runner
    let x: u32 = seq;
    const n = load<u32>(work + WORK_COST);
    for (let i: u32 = 0; i < n; i++) x = x * 1664525 + 1013904223;
    store<u32>(work + WORK_OWNER, x); // keeps the spin
    atomic.add<u32>(c + CHK_RUNS, 1); // a statistic, read after the threads stop
    atomic.sub<u32>(c + CHK_ACTIVE, 1); // pairs with the add above
  }
  return true;
}

/**
 * io_worker_handle_work: run chains until the acct has nothing runnable. Built-in works
 * run here; a HOST work is written to `out` (with the chain's rest kept in the slot) and
 * the call returns 1: the host runs it, calls io_wq_work_done, and calls again. Returns
 * 0 when the acct had nothing runnable (or the wq is exiting and nothing is pending).
 */
export function io_worker_handle_work(wq: usize, slot: u32, out: usize): u32 {
  const s = slot_of(wq, slot);
  const index = load<u32>(s + SLOT_ACCT);
  const scratch = out + 4;
  let work = <usize>load<u32>(s + SLOT_NEXT);
  store<u32>(s + SLOT_NEXT, 0);
  while (true) {
    if (work == 0) work = io_get_next_work(wq, index);
    if (work == 0) return 0;
    while (work != 0) {
      if (!run_builtin(work)) {
        store<u32>(s + SLOT_NEXT, load<u32>(work + WORK_NEXT)); // wq_next_work, before the host may free it
        store<u32>(out, <u32>work);
        return 1;
      }
      store<u32>(s + SLOT_RUNS, load<u32>(s + SLOT_RUNS) + 1);
      work = io_wq_work_done(wq, work, scratch);
    }
  }
}

/**
 * io_wq_worker for a real thread: handle work while io_acct_run_queue, then go on the
 * free list and sleep on the slot word, first re-checking the list `spin` times
 * (read-only) and then for at most `timeout_us` (WORKER_IDLE_TIMEOUT). Returns when a
 * HOST work is in `out` (1), the worker timed out and may exit (2: its slot is NONE
 * already), or the wq is exiting (3: the caller runs io_wq_worker_exit).
 */
export function io_wq_worker_loop(wq: usize, slot: u32, out: usize, spin: u32, timeout_us: i32): u32 {
  const s = slot_of(wq, slot);
  const index = load<u32>(s + SLOT_ACCT);
  while (true) {
    if (io_worker_handle_work(wq, slot, out) != 0) return 1;
    if ((atomic.load<u32>(wq + IO_WQ_STATE) & (1 << IO_WQ_BIT_EXIT)) != 0) return 3; // pairs with io_wq_exit_start
    // a brief read-only spin before the free list (waking a halted vCPU costs 36-48 us)
    let seen = false;
    for (let i: u32 = 0; i < spin; i++) {
      if (atomic.load<u32>(acct_of(wq, index) + ACCT_FIRST) != 0) { seen = true; break; } // may be stale; a hint
    }
    if (seen && io_acct_run_queue(wq, index) != 0) continue;
    io_wq_worker_idle(wq, slot);
    // io_wq_exit_start may have run after the EXIT test above but before the FREE store
    // (it saw the slot BUSY and claimed nothing): look again now that the slot is FREE.
    // Pairs with io_wq_exit_start's atomic or (its wq->lock section orders it after ours or before)
    if ((atomic.load<u32>(wq + IO_WQ_STATE) & (1 << IO_WQ_BIT_EXIT)) != 0) {
      io_wq_worker_busy(wq, slot);
      return 3;
    }
    // io_wq_dec_running happens in schedule(): the worker stops counting as running
    const need = io_wq_dec_running(wq, index);
    if (need != 0) {
      // the last running worker sleeps with work runnable: rather than ask the host for
      // a new thread, take itself off the free list and run it (DIVERGENCE, header)
      io_wq_create_failed(wq, index);
      atomic.add<u32>(acct_of(wq, index) + ACCT_NR_RUNNING, 1); // back to running
      io_wq_worker_busy(wq, slot);
      continue;
    }
    if (io_acct_run_queue(wq, index) != 0) {
      io_wq_worker_busy(wq, slot);
      io_wq_inc_running(wq, index);
      continue;
    }
    const ns: i64 = timeout_us < 0 ? -1 : <i64>timeout_us * 1000;
    const r = memory.atomic.wait32(s + SLOT_STATE, <i32>IO_WORKER_FREE, ns); // pairs with activate_free_worker's notify
    if ((atomic.load<u32>(wq + IO_WQ_STATE) & (1 << IO_WQ_BIT_EXIT)) != 0) { // pairs with io_wq_exit_start
      io_wq_worker_busy(wq, slot);
      io_wq_inc_running(wq, index);
      return 3;
    }
    if (r == 2 && io_wq_worker_timeout(wq, slot) != 0) return 2;
    // woken (claimed: BUSY already) or a timeout that must stay: running again
    io_wq_worker_busy(wq, slot);
    io_wq_inc_running(wq, index);
  }
}

/**
 * The enqueue side of a benchmark or producer thread: `n` works listed at `works`, one
 * io_wq_enqueue each. Returns how many asked for a worker to be created (CREATE) in the
 * high 16 bits and how many woke one in the low 16.
 */
export function io_wq_enqueue_batch(wq: usize, works: usize, n: u32, slot_out: usize): u32 {
  let creates: u32 = 0;
  let wakes: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const r = io_wq_enqueue(wq, <usize>load<u32>(works + (<usize>i << 2)), slot_out);
    if ((r & IO_WQ_ENQ_CREATE) != 0) creates++;
    if ((r & IO_WQ_ENQ_WOKE) != 0) wakes++;
  }
  return (creates << 16) | (wakes & 0xffff);
}

/**
 * The machine's uncontended compare-and-swap, timed by benchmarks beside their figures:
 * `n` cmpxchg on `ptr` (a word only the caller uses), alternating 0 and 1. Returns the last old value.
 */
export function io_wq_cas_bench(ptr: usize, n: u32): u32 {
  let v: u32 = 0;
  for (let i: u32 = 0; i < n; i++) v = atomic.cmpxchg<u32>(ptr, i & 1, (i + 1) & 1); // pairs with nothing: one thread
  return v;
}

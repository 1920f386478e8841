// loop's per-cgroup worker dispatch in Wasm (drivers/block/loop.c, 5.14+;
// kernel-reference.md sections 6.2-6.6): the device's dispatch state, the
// loop_workers and the loop_cmds live in the ONE shared memory, so submitters and
// kworkers on any thread run loop_queue_work / loop_process_work on the same
// structures. The host (src/wasm/loop.ts) assigns every object from arenas.
//
//   loop_device dispatch state (192 bytes, 64-byte aligned; an arena object)
//   line 0  +0    lo_work_lock   u32  spinlock: everything below except the stats
//   line 1  +64   worker_tree    u32  rb_root, keyed by the u64 cgroup id at worker+16
//           +68   idle_head      u32  idle_worker_list, oldest last_ran_at first
//           +72   idle_tail      u32
//           +76   root_head      u32  rootcg_cmd_list (FIFO through cmd+0)
//           +80   root_tail      u32
//           +84   worker_arena   u32  header of the loop_worker arena (kzalloc)
//           +88   fail_pct       u32  fault injection: percent of allocations that fail
//           +92   prng           u32  xorshift32 state for fail_pct
//           +96   nr_workers     u32  loop_workers in worker_tree
//           +100  root_nr_cmds   u32  commands the root work took
//           +104  queued         u32  ┐
//           +108  root_queued    u32  │ counters (under the lock; read racily,
//           +112  alloc_failures u32  │ "may be stale")
//           +116  workers_created u32 │
//           +120  queue_noop     u32  │ queue_work found the work PENDING
//           +124  rescued        u32  │ taken back off the idle list
//   line 2  +128  workers_freed  u32  ┘
//           +144  rootcg_work    work_struct (16 bytes, assembly/loop-wq.ts)
//
//   loop_worker (80 bytes; an object of the loop_worker arena)
//   +0   rb_node        12 bytes  (assembly/rbtree.ts)
//   +12  flags          u32  bit 0 LW_ON_IDLE: on idle_worker_list
//   +16  key            u64  blkcg cgroup id (css_get'd by the host); 0 once freed
//   +24  cmd_head       u32  cmd_list (FIFO through cmd+0)
//   +28  cmd_tail       u32
//   +32  idle_prev      u32  idle_worker_list links
//   +36  idle_next      u32
//   +40  last_ran_at    f64  jiffies when it last went idle
//   +48  work           work_struct (16 bytes): data (PENDING), entry, runner, lo
//   +64  nr_cmds        u32  commands it took
//   +68  lo             u32  worker->lo
//   +72  pad
//
//   loop_cmd (32 bytes; an object of the loop_cmd arena)
//   +0   next    u32  list_entry (a FIFO link; the arena's free link while free)
//   +4   tag     u32  the host's (the TypeScript command's index, a submitter id)
//   +8   key     u64  the issuing blkcg's cgroup id; 0 = no css / the root blkcg
//   +16  worker  u32  set by loop_queue_work: its loop_worker, 0 = the root queue
//   +20  result  u32  set by loop_queue_work: its LOOP_QW_* flags
//   +24  seq     u32  the host's (a submitter's sequence number)
//   +28  done    u32  the host's (a completion count)
//
// Concurrency. Every field of the device, its workers and the commands on their
// lists is read and written under lo_work_lock, as in the kernel (the whole of
// loop_queue_work, the list handling of loop_process_work, and the reaper). The
// one exception is a work's PENDING bit: test_and_set under lo_work_lock by
// loop_queue_work, cleared by the kworker that starts executing it (loop-wq.ts,
// or the sim's TypeScript workqueue), outside the lock, with a seq-cst RMW.
// loop_process_work's "go idle unless PENDING" check runs under lo_work_lock, so
// a queue_work that set PENDING is ordered before or after it, as in the kernel.
//
//   submitter (any thread)           kworker (any thread)
//   spin_lock(lo)                    clear PENDING                (pool lock)
//   find / alloc / fallback          spin_lock(lo)
//   rescue from idle list            take cmds in FIFO order
//   list_add_tail(cmd)               if none and !PENDING: go idle
//   test_and_set PENDING             spin_unlock(lo)
//   [__queue_work(wq)]               handle cmds (host), repeat
//   spin_unlock(lo)
//
// DIVERGENCE (key): the kernel keys worker_tree by the css pointer compared as a
// signed long with an inverted comparison; kwq keys by the 64-bit cgroup id
// (never reused), smaller ids on the left (see assembly/rbtree.ts).
// DIVERGENCE (allocation): kzalloc(GFP_NOWAIT) is an arena pop here; fail_pct
// injects failures with a per-device PRNG under the lock.

import { spin_lock, spin_unlock } from './spinlock';
import { arena_alloc, arena_free } from './arena';
import { rb_root_init, rb_find_u64, rb_link_node, rb_insert_color, rb_erase, rb_first, rb_next, RB_LEFT, RB_RIGHT } from './rbtree';
import { __queue_work, loop_work_init, WORK_DATA, WORK_PENDING, WORK_LO } from './loop-wq';

export const LO_LOCK: u32 = 0;
export const LO_TREE: u32 = 64;
export const LO_IDLE_HEAD: u32 = 68;
export const LO_IDLE_TAIL: u32 = 72;
export const LO_ROOT_HEAD: u32 = 76;
export const LO_ROOT_TAIL: u32 = 80;
export const LO_WORKER_ARENA: u32 = 84;
export const LO_FAIL_PCT: u32 = 88;
export const LO_PRNG: u32 = 92;
export const LO_NR_WORKERS: u32 = 96;
export const LO_ROOT_NR_CMDS: u32 = 100;
export const LO_QUEUED: u32 = 104;
export const LO_ROOT_QUEUED: u32 = 108;
export const LO_ALLOC_FAILURES: u32 = 112;
export const LO_WORKERS_CREATED: u32 = 116;
export const LO_QUEUE_NOOP: u32 = 120;
export const LO_RESCUED: u32 = 124;
export const LO_WORKERS_FREED: u32 = 128;
export const LO_ROOT_WORK: u32 = 144;
export const LOOP_DEVICE_SIZE: u32 = 192;

export const LW_FLAGS: u32 = 12;
export const LW_KEY: u32 = 16;
export const LW_CMD_HEAD: u32 = 24;
export const LW_CMD_TAIL: u32 = 28;
export const LW_IDLE_PREV: u32 = 32;
export const LW_IDLE_NEXT: u32 = 36;
export const LW_LAST_RAN: u32 = 40;
export const LW_WORK: u32 = 48;
export const LW_NR_CMDS: u32 = 64;
export const LW_LO: u32 = 68;
export const LOOP_WORKER_SIZE: u32 = 80;
export const LW_ON_IDLE: u32 = 1;

export const LC_NEXT: u32 = 0;
export const LC_TAG: u32 = 4;
export const LC_KEY: u32 = 8;
export const LC_WORKER: u32 = 16;
export const LC_RESULT: u32 = 20;
export const LOOP_CMD_SIZE: u32 = 32;

/** queue_work returned true: the work became PENDING and must be queued (and a kworker woken). */
export const LOOP_QW_QUEUE: u32 = 1;
/** the command went to the root queue */
export const LOOP_QW_ROOT: u32 = 2;
/** a loop_worker was allocated for the command's cgroup (the host takes its css reference) */
export const LOOP_QW_NEW: u32 = 4;
/** allocation failed (arena full or injected): root queue, issued as root (the host drops the memcg css) */
export const LOOP_QW_FAILED: u32 = 8;
/** the worker was idle: taken off idle_worker_list */
export const LOOP_QW_RESCUED: u32 = 16;

/** loop_process_one: the list was empty and the worker went idle (the host arms the reaper timer) */
export const LOOP_PW_IDLE: u32 = 1;

export function loop_device_size(): u32 { return LOOP_DEVICE_SIZE; }
export function loop_worker_size(): u32 { return LOOP_WORKER_SIZE; }
export function loop_cmd_size(): u32 { return LOOP_CMD_SIZE; }

/**
 * loop_add's part: an empty worker_tree, empty lists, the root work, the worker
 * arena to allocate from, the fault-injection rate and PRNG seed. Before any other
 * thread uses the device.
 */
export function loop_device_init(lo: u32, worker_arena: u32, fail_pct: u32, seed: u32): void {
  memory.fill(lo, 0, LOOP_DEVICE_SIZE);
  rb_root_init(lo + LO_TREE);
  store<u32>(lo, worker_arena, LO_WORKER_ARENA);
  store<u32>(lo, fail_pct, LO_FAIL_PCT);
  store<u32>(lo, seed == 0 ? 0x9e3779b9 : seed, LO_PRNG);
  loop_work_init(lo + LO_ROOT_WORK, lo);
  atomic.store<u32>(lo + LO_LOCK, 0); // pairs with every spin_lock on it (users come later)
}

/** Change the fault-injection rate (percent, 0..100) under the lock. */
export function loop_set_fail_pct(lo: u32, pct: u32): void {
  spin_lock(lo + LO_LOCK);
  store<u32>(lo, pct, LO_FAIL_PCT);
  spin_unlock(lo + LO_LOCK);
}

// @ts-ignore: decorator
@inline function bump(p: u32, off: u32): void {
  store<u32>(p + off, load<u32>(p + off) + 1);
}

// @ts-ignore: decorator
@inline function cmd_push(headp: u32, tailp: u32, cmd: u32): void {
  store<u32>(cmd, 0, LC_NEXT);
  const tail = load<u32>(tailp);
  if (tail == 0) store<u32>(headp, cmd);
  else store<u32>(tail, cmd, LC_NEXT);
  store<u32>(tailp, cmd);
}

// @ts-ignore: decorator
@inline function cmd_shift(headp: u32, tailp: u32): u32 {
  const c = load<u32>(headp);
  if (c == 0) return 0;
  const next = load<u32>(c, LC_NEXT);
  store<u32>(headp, next);
  if (next == 0) store<u32>(tailp, 0);
  store<u32>(c, 0, LC_NEXT);
  return c;
}

// @ts-ignore: decorator
@inline function idle_del(lo: u32, w: u32): void {
  const prev = load<u32>(w, LW_IDLE_PREV);
  const next = load<u32>(w, LW_IDLE_NEXT);
  if (prev == 0) store<u32>(lo, next, LO_IDLE_HEAD);
  else store<u32>(prev, next, LW_IDLE_NEXT);
  if (next == 0) store<u32>(lo, prev, LO_IDLE_TAIL);
  else store<u32>(next, prev, LW_IDLE_PREV);
  store<u32>(w, 0, LW_IDLE_PREV);
  store<u32>(w, 0, LW_IDLE_NEXT);
  store<u32>(w, load<u32>(w, LW_FLAGS) & ~LW_ON_IDLE, LW_FLAGS);
}

// @ts-ignore: decorator
@inline function idle_add_tail(lo: u32, w: u32): void {
  const tail = load<u32>(lo, LO_IDLE_TAIL);
  store<u32>(w, tail, LW_IDLE_PREV);
  store<u32>(w, 0, LW_IDLE_NEXT);
  if (tail == 0) store<u32>(lo, w, LO_IDLE_HEAD);
  else store<u32>(tail, w, LW_IDLE_NEXT);
  store<u32>(lo, w, LO_IDLE_TAIL);
  store<u32>(w, load<u32>(w, LW_FLAGS) | LW_ON_IDLE, LW_FLAGS);
}

/** GFP_NOWAIT kzalloc of a loop_worker, or 0 (arena exhausted, or an injected failure). */
// @ts-ignore: decorator
@inline function worker_alloc(lo: u32): u32 {
  const pct = load<u32>(lo, LO_FAIL_PCT);
  if (pct != 0) {
    let x = load<u32>(lo, LO_PRNG); // xorshift32, under the lock
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    store<u32>(lo, x, LO_PRNG);
    if (x % 100 < pct) return 0;
  }
  return arena_alloc(load<u32>(lo, LO_WORKER_ARENA));
}

/**
 * loop_queue_work's allocation of a worker for a cgroup absent from worker_tree, with
 * lo_work_lock held: kzalloc(GFP_NOWAIT), INIT_WORK, rb_link_node below `parent`
 * (where the caller's walk ended) and rb_insert_color; 0 when the allocation failed.
 * Not inlined (no decorator; two callers): the rare path stays out of the hot loop.
 */
function worker_new(lo: u32, key: u64, parent: u32): u32 {
  const worker = worker_alloc(lo);
  if (worker == 0) {
    bump(lo, LO_ALLOC_FAILURES);
    return 0;
  }
  memory.fill(worker, 0, LOOP_WORKER_SIZE); // kzalloc
  store<u64>(worker, key, LW_KEY);
  store<u32>(worker, lo, LW_LO);
  loop_work_init(worker + LW_WORK, lo); // INIT_WORK(&worker->work, loop_workfn)
  // rb_link_node(&worker->rb_node, parent, node) at the slot the walk ended on
  const link = parent == 0 ? lo + LO_TREE : parent + (key < load<u64>(parent, LW_KEY) ? RB_LEFT : RB_RIGHT);
  rb_link_node(worker, parent, link);
  rb_insert_color(worker, lo + LO_TREE);
  bump(lo, LO_NR_WORKERS);
  bump(lo, LO_WORKERS_CREATED);
  return worker;
}

/**
 * The body of loop_queue_work with lo_work_lock held (section 6.4): root queue for
 * key 0; else find the cgroup's worker, or allocate one (falling back to the root
 * queue, issued as root, when that fails); rescue it from the idle list; append the
 * command (FIFO); test_and_set PENDING. With wq != 0 a newly pending work is also
 * put on that workqueue (__queue_work, nested inside lo_work_lock as in the kernel).
 */
// @ts-ignore: decorator
@inline function queue_locked(lo: u32, cmd: u32, key: u64, wq: u32, hint: u32): u32 {
  let flags: u32 = 0;
  let worker: u32 = 0;
  bump(lo, LO_QUEUED);
  if (key != 0 && hint != 0 && load<u64>(hint, LW_KEY) == key && load<u32>(hint, LW_LO) == lo) {
    // the caller's cached worker for this cgroup (the host passes one it knows is
    // live) is still worker_tree's node for `key`: keys are unique in the tree and a
    // freed worker's key is 0, so this is the node the walk below would end on,
    // without the walk's cache misses (10,000 cgroups: ~5 cold nodes a request;
    // issue 10). Model-only: the kernel walks every time.
    worker = hint;
  } else if (key != 0) {
    // loop_queue_work's own walk of worker_tree, as the kernel writes it: one walk
    // that either finds the worker or ends at the slot where a new one is linked
    // (no second walk to insert). The child is loaded in the branch taken, not
    // picked with rb_find_u64's branch-free select: measured in the dispatch
    // (the walk right after the lock's cmpxchg, keys in round-robin order), V8's
    // code for the select cost ~1 ns more a request at 64 cgroups (queue side
    // 10.6 -> 9.5 ns; bench/native/loop.c 8.2-8.5). The lookup alone (random keys)
    // is the other way round: rb_find_u64 keeps the select.
    let parent: u32 = 0;
    let n = load<u32>(lo, LO_TREE);
    while (n != 0) {
      const k = load<u64>(n, LW_KEY);
      if (key == k) break;
      parent = n;
      if (key < k) n = load<u32>(n, RB_LEFT);
      else n = load<u32>(n, RB_RIGHT);
    }
    worker = n;
    if (worker == 0) {
      worker = worker_new(lo, key, parent);
      flags |= worker != 0 ? LOOP_QW_NEW : LOOP_QW_FAILED; // FAILED: the root worker issues it as the root cgroup
    }
  }
  let work: u32;
  if (worker != 0) {
    if (load<u32>(worker, LW_FLAGS) & LW_ON_IDLE) {
      idle_del(lo, worker); // list_del_init: rescued from the reaper
      bump(lo, LO_RESCUED);
      flags |= LOOP_QW_RESCUED;
    }
    cmd_push(worker + LW_CMD_HEAD, worker + LW_CMD_TAIL, cmd);
    work = worker + LW_WORK;
  } else {
    cmd_push(lo + LO_ROOT_HEAD, lo + LO_ROOT_TAIL, cmd);
    bump(lo, LO_ROOT_QUEUED);
    flags |= LOOP_QW_ROOT;
    work = lo + LO_ROOT_WORK;
  }
  store<u32>(cmd, worker, LC_WORKER);
  // queue_work's test_and_set_bit(WORK_STRUCT_PENDING_BIT); pairs with the kworker's
  // clear as execution starts (loop_wq_pick, or the sim workqueue through the host)
  if ((atomic.or<u32>(work + WORK_DATA, WORK_PENDING) & WORK_PENDING) == 0) {
    flags |= LOOP_QW_QUEUE;
    if (wq != 0) __queue_work(wq, work);
  } else {
    bump(lo, LO_QUEUE_NOOP);
  }
  store<u32>(cmd, flags, LC_RESULT);
  return flags;
}

/**
 * loop_queue_work(lo, cmd, css_id_lo, css_id_hi): section 6.4 whole, under
 * lo_work_lock. The key is split because a u64 would be a BigInt in JS; 0 means no
 * css or the root blkcg (queue_on_root_worker). Returns the LOOP_QW_* flags; the
 * command's `worker` word says which worker (0 = root). With LOOP_QW_QUEUE the
 * caller queues the worker's work (worker + 48, or lo + 144) on its workqueue.
 */
export function loop_queue_work(lo: u32, cmd: u32, css_id_lo: u32, css_id_hi: u32, hint: u32): u32 {
  const key = (<u64>css_id_hi << 32) | <u64>css_id_lo;
  store<u64>(cmd, key, LC_KEY);
  spin_lock(lo + LO_LOCK);
  const flags = queue_locked(lo, cmd, key, 0, hint);
  spin_unlock(lo + LO_LOCK);
  return flags;
}

/**
 * loop_queue_work for n commands in one crossing: the u32 command offsets at
 * cmds_ptr, each keyed by its own key word (cmd + 8), in order. One lock hold per
 * command, as n loop_queue_rq calls would take it. With wq != 0 newly pending works
 * go straight onto that workqueue. Each command's result word gets its flags.
 * Returns how many works became pending.
 */
export function loop_queue_work_batch(lo: u32, wq: u32, cmds_ptr: u32, n: u32): u32 {
  let queued: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const cmd = load<u32>(cmds_ptr + (i << 2));
    const key = load<u64>(cmd, LC_KEY);
    spin_lock(lo + LO_LOCK);
    queued += queue_locked(lo, cmd, key, wq, 0) & LOOP_QW_QUEUE;
    spin_unlock(lo + LO_LOCK);
  }
  return queued;
}

/** the worker of a work (0 for the root work), from work->data's device */
// @ts-ignore: decorator
@inline function worker_of_work(work: u32): u32 {
  const lo = load<u32>(work, WORK_LO);
  return work == lo + LO_ROOT_WORK ? 0 : work - LW_WORK;
}

/**
 * With lo_work_lock held: the first command of the work's list, or, when the list
 * is empty, 0 after the idle step: a cgroup worker whose work is not PENDING again
 * records last_ran_at = now and goes to the tail of idle_worker_list (returns
 * LOOP_PW_IDLE: the host calls loop_set_timer).
 */
// @ts-ignore: decorator
@inline function take_locked(lo: u32, worker: u32, now: f64): u32 {
  if (worker == 0) {
    const c = cmd_shift(lo + LO_ROOT_HEAD, lo + LO_ROOT_TAIL);
    if (c != 0) bump(lo, LO_ROOT_NR_CMDS);
    return c;
  }
  const c = cmd_shift(worker + LW_CMD_HEAD, worker + LW_CMD_TAIL);
  if (c != 0) {
    bump(worker, LW_NR_CMDS);
    return c;
  }
  // work_pending(&worker->work): pairs with loop_queue_work's test_and_set, which
  // runs under this lock too
  if ((atomic.load<u32>(worker + LW_WORK + WORK_DATA) & WORK_PENDING) == 0 &&
      (load<u32>(worker, LW_FLAGS) & LW_ON_IDLE) == 0) {
    store<f64>(worker, now, LW_LAST_RAN);
    idle_add_tail(lo, worker);
    return LOOP_PW_IDLE;
  }
  return 0;
}

/**
 * One step of loop_process_work (section 6.5) for `work` (a worker's or the root
 * work): under lo_work_lock take the first command (returned: an offset >= 64), or
 * with the list empty return LOOP_PW_IDLE if the worker went idle, else 0. The
 * caller handles the command outside the lock and calls again, as the kernel's loop
 * does.
 */
export function loop_process_one(work: u32, now: f64): u32 {
  const lo = load<u32>(work, WORK_LO);
  const worker = worker_of_work(work);
  spin_lock(lo + LO_LOCK);
  const r = take_locked(lo, worker, now);
  spin_unlock(lo + LO_LOCK);
  return r;
}

/**
 * loop_process_work in batches: under one lo_work_lock hold take up to `cap`
 * commands in FIFO order into the u32 array at out and return how many; with the
 * list empty do the idle step and return 0, or -1 when the worker went idle.
 * The idle step happens only on a call that finds the list empty: a batch that took
 * commands stops at the end of the list, so that the worker goes idle (and may be
 * reaped) only after the caller handled them, as the kernel's list_empty check
 * comes after each command ran.
 * DIVERGENCE: the kernel takes one command per lock hold; a batch takes what is
 * there, in the same order (commands queued meanwhile come in the next batch).
 */
export function loop_process_batch(work: u32, out: u32, cap: u32, now: f64): i32 {
  if (cap == 0) return 0;
  const lo = load<u32>(work, WORK_LO);
  const worker = worker_of_work(work);
  // the list and its count: the root's or the worker's (tail = head + 4 in both)
  const headp = worker == 0 ? lo + LO_ROOT_HEAD : worker + LW_CMD_HEAD;
  const countp = worker == 0 ? lo + LO_ROOT_NR_CMDS : worker + LW_NR_CMDS;
  spin_lock(lo + LO_LOCK);
  let c = load<u32>(headp);
  if (c == 0) {
    const r = take_locked(lo, worker, now); // the list is empty: only the idle step
    spin_unlock(lo + LO_LOCK);
    return r == LOOP_PW_IDLE ? -1 : 0;
  }
  // cmd_shift up to cap times under the one hold, with the head in a register: each
  // command is unlinked (next = 0) and written out in FIFO order; the head, the tail
  // (when the list ran out) and the count are stored once, after the run
  let n: u32 = 0;
  do {
    store<u32>(out + (n << 2), c);
    const next = load<u32>(c, LC_NEXT);
    store<u32>(c, 0, LC_NEXT);
    c = next;
    n++;
  } while (c != 0 && n < cap);
  store<u32>(headp, c);
  if (c == 0) store<u32>(headp, 0, 4); // list_empty: tail = 0
  store<u32>(countp, load<u32>(countp) + n);
  spin_unlock(lo + LO_LOCK);
  return <i32>n;
}

/**
 * loop_free_idle_workers(lo, now, timeout, delete_all) (section 6.6), under
 * lo_work_lock: from the head (oldest) of idle_worker_list, free each worker whose
 * last_ran_at + timeout is not after `now` (every one with delete_all), stopping
 * at the first that is not yet expired: list_del, rb_erase, kfree. Each freed worker
 * is written to `out` as { u32 worker, u32 0, f64 last_ran_at } (16 bytes) for the
 * host's css_put; at most `cap` per call. Returns how many were freed, with bit 31
 * set when workers stay on the idle list (the host re-arms the timer: loop_set_timer).
 */
export function loop_free_idle_workers(lo: u32, now: f64, timeout: f64, delete_all: u32, out: u32, cap: u32): u32 {
  spin_lock(lo + LO_LOCK);
  let n: u32 = 0;
  const arena = load<u32>(lo, LO_WORKER_ARENA);
  while (n < cap) {
    const w = load<u32>(lo, LO_IDLE_HEAD);
    if (w == 0) break;
    const ran = load<f64>(w, LW_LAST_RAN);
    if (!delete_all && ran + timeout > now) break; // time_is_after_jiffies: not yet expired
    idle_del(lo, w);
    rb_erase(w, lo + LO_TREE);
    const rec = out + (n << 4);
    store<u32>(rec, w);
    store<u32>(rec, 0, 4);
    store<f64>(rec, ran, 8);
    n++;
    store<u32>(lo, load<u32>(lo, LO_NR_WORKERS) - 1, LO_NR_WORKERS);
    bump(lo, LO_WORKERS_FREED);
    store<u64>(w, 0, LW_KEY); // no cgroup's: a host's stale hint to it fails queue_locked's check
    arena_free(arena, w); // kfree (the arena's free list is lock-free)
  }
  const more = load<u32>(lo, LO_IDLE_HEAD) != 0;
  spin_unlock(lo + LO_LOCK);
  return n | (u32(more) << 31);
}

/** rb_find in worker_tree by cgroup id, under the lock: the worker or 0. */
export function loop_find_worker(lo: u32, css_id_lo: u32, css_id_hi: u32): u32 {
  spin_lock(lo + LO_LOCK);
  const w = rb_find_u64(lo + LO_TREE, css_id_lo, css_id_hi, LW_KEY);
  spin_unlock(lo + LO_LOCK);
  return w;
}

/**
 * Lookups only, n keys (u64 at keys_ptr) into out (u32 each), one lock hold per
 * key: what the dispatch pays for the tree (a benchmark figure). Returns how many
 * were found.
 */
export function loop_find_worker_batch(lo: u32, keys_ptr: u32, n: u32, out: u32): u32 {
  let found: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const key = load<u64>(keys_ptr + (i << 3));
    spin_lock(lo + LO_LOCK);
    const w = rb_find_u64(lo + LO_TREE, <u32>key, <u32>(key >> 32), LW_KEY);
    spin_unlock(lo + LO_LOCK);
    store<u32>(out + (i << 2), w);
    found += u32(w != 0);
  }
  return found;
}

/**
 * The workers in tree (cgroup id) order into out (u32 each), at most cap, under the
 * lock; returns how many there are (may exceed cap).
 */
export function loop_workers_snapshot(lo: u32, out: u32, cap: u32): u32 {
  spin_lock(lo + LO_LOCK);
  let n: u32 = 0;
  for (let w = rb_first(lo + LO_TREE); w != 0; w = rb_next(w)) {
    if (n < cap) store<u32>(out + (n << 2), w);
    n++;
  }
  spin_unlock(lo + LO_LOCK);
  return n;
}

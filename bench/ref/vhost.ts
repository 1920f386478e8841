/**
 * The pure-TypeScript reference of assembly/vhost.ts: vhost_worker_queue, the
 * batch queue, the non-blocking run and the blocking worker loop, over the same
 * struct layouts (src/wasm/layout.ts), with JS Atomics on an Int32Array.
 * Built-ins only (NOOP, COUNT into a counter slot given as a byte offset base);
 * the benchmarks compare it with the Wasm engine measured in the same run.
 */
import { VHOST_FN_COUNT, VHOST_WORK, VHOST_WORKER, VHOST_WORKER_RUNNING, VHOST_WORKER_SLEEPING, VHOST_WORK_QUEUED } from '../../src/wasm/layout.js';
import { llistAdd, llistAddBatch, llistDelAll, llistEmpty, llistReverseOrder, testAndClearBit, testAndSetBit } from './llist.js';

/** Worker stats kept in JS by the thread running the worker (the Wasm keeps them in memory). */
export interface RefWorkerStats {
  items: number;
  batches: number;
  sleeps: number;
  violations: number;
  /** summed virtual cost of the works run (the Wasm sums it too) */
  vcost: number;
}

export function newRefStats(): RefWorkerStats {
  return { items: 0, batches: 0, sleeps: 0, violations: 0, vcost: 0 };
}

function wakeup(m: Int32Array, worker: number): number {
  const s = (worker + VHOST_WORKER.STATE) >> 2;
  if (Atomics.load(m, s) !== VHOST_WORKER_SLEEPING) return 0; // pairs with the loop's SLEEPING store
  if (Atomics.compareExchange(m, s, VHOST_WORKER_SLEEPING, VHOST_WORKER_RUNNING) !== VHOST_WORKER_SLEEPING) return 0;
  Atomics.notify(m, s, 1); // pairs with the loop's Atomics.wait
  Atomics.add(m, (worker + VHOST_WORKER.WAKEUPS) >> 2, 1); // a statistic (low word of the u64)
  return 1;
}

/** vhostWorkerQueue: 0 deduped, 1 added, 3 added and woke. */
export function vhostWorkerQueue(m: Int32Array, worker: number, work: number): number {
  if (testAndSetBit(m, VHOST_WORK_QUEUED, work + VHOST_WORK.FLAGS)) return 0;
  llistAdd(m, work, worker + VHOST_WORKER.LIST);
  return 1 | (wakeup(m, worker) << 1);
}

/** vhostWorkQueueBatch: works[from..from+n) in order, one add_batch; returns how many were added. */
export function vhostWorkQueueBatch(m: Int32Array, worker: number, works: ArrayLike<number>, from: number, n: number): number {
  return queueChain(m, worker, works, from, n, false);
}

/** vhostWorkQueueBatchOrdered: works[from..from+n) in order, one add_batch, stopping before the first still QUEUED. */
export function vhostWorkQueueBatchOrdered(m: Int32Array, worker: number, works: ArrayLike<number>, from: number, n: number): number {
  return queueChain(m, worker, works, from, n, true);
}

/** assembly/vhost.ts queue_chain: mark, chain (newest at the head), one add_batch, one wake check. */
function queueChain(m: Int32Array, worker: number, works: ArrayLike<number>, from: number, n: number, stopAtQueued: boolean): number {
  let first = 0;
  let last = 0;
  let added = 0;
  for (let i = from; i < from + n; i++) {
    const w = works[i]!;
    if (testAndSetBit(m, VHOST_WORK_QUEUED, w + VHOST_WORK.FLAGS)) {
      if (stopAtQueued) break;
      continue;
    }
    if (last === 0) last = w; else m[w >> 2] = first;
    first = w;
    added++;
  }
  if (added === 0) return 0;
  llistAddBatch(m, first, last, worker + VHOST_WORKER.LIST);
  wakeup(m, worker);
  return added;
}

/** vhostWorkerQueue per work for works[from..from+n), stopping before the first still QUEUED. */
export function vhostWorkerQueueEachOrdered(m: Int32Array, worker: number, works: ArrayLike<number>, from: number, n: number): number {
  let i = 0;
  while (i < n && (vhostWorkerQueue(m, worker, works[from + i]!) & 1)) i++;
  return i;
}

/** vhostWorkWaitIdle: `spin` read-only checks, then one timed sleep (a yield); 1 idle, 3 idle after sleeping, 2 slept and queued, 0 spin ran out. */
export function vhostWorkWaitIdle(m: Int32Array, work: number, spin: number, sleepUs: number): number {
  const f = (work + VHOST_WORK.FLAGS) >> 2;
  const mask = 1 << VHOST_WORK_QUEUED;
  for (let i = 0; i < spin; i++) if (!(Atomics.load(m, f) & mask)) return 1; // pairs with testAndClearBit
  const v = Atomics.load(m, f); // pairs with testAndClearBit
  if (!(v & mask)) return 1;
  if (sleepUs === 0) return 0;
  Atomics.wait(m, f, v, sleepUs / 1000); // a timed yield: nobody notifies
  return 2 | (Atomics.load(m, f) & mask ? 0 : 1); // pairs with testAndClearBit
}

/** The worker's idle spin (vhost_worker_spin): 1 as soon as the list is non-empty or stop is set. */
export function vhostWorkerSpin(m: Int32Array, worker: number, spin: number): number {
  const list = worker + VHOST_WORKER.LIST;
  const stop = (worker + VHOST_WORKER.STOP) >> 2;
  for (let i = 0; i < spin; i++) {
    if (!llistEmpty(m, list) || Atomics.load(m, stop)) return 1; // may be stale: a hint
  }
  return 0;
}

/** One del_all batch: reverse, clear QUEUED before each fn, run built-ins. Returns works run. */
export function vhostRunBatch(m: Int32Array, worker: number, counters: number, st: RefWorkerStats): number {
  let node = llistDelAll(m, worker + VHOST_WORKER.LIST);
  if (node === 0) return 0;
  node = llistReverseOrder(m, node);
  st.batches++;
  let n = 0;
  while (node !== 0) {
    const next = m[node >> 2]!; // before clearing QUEUED (the work may be re-queued at once)
    const fn = m[(node + VHOST_WORK.FN) >> 2]!;
    const arg = m[(node + VHOST_WORK.ARG) >> 2]!;
    st.vcost += m[(node + VHOST_WORK.COST) >> 2]! >>> 0;
    if (!testAndClearBit(m, VHOST_WORK_QUEUED, node + VHOST_WORK.FLAGS)) st.violations++;
    if (fn === VHOST_FN_COUNT) Atomics.add(m, (counters >> 2) + arg * 2, 1); // low word of the u64 slot
    n++;
    node = next;
  }
  st.items += n;
  return n;
}

/** The blocking loop (worker threads only): returns when the stop word is set. */
export function vhostWorkerLoop(m: Int32Array, worker: number, counters: number, spin: number, st: RefWorkerStats, spinFloor = 0): void {
  const list = worker + VHOST_WORKER.LIST;
  const state = (worker + VHOST_WORKER.STATE) >> 2;
  const stop = (worker + VHOST_WORKER.STOP) >> 2;
  // the same re-check budget as assembly/vhost.ts vhost_worker_loop: fixed, or adaptive
  // down to spin >> spinFloor when the harness runs more busy threads than CPUs
  const minSpin = spin >>> spinFloor;
  let budget = spin;
  for (;;) {
    if (Atomics.load(m, stop)) return; // pairs with the stopper's store
    if (vhostRunBatch(m, worker, counters, st)) continue;
    if (!llistEmpty(m, list)) continue; // may be stale: a hint
    if (vhostWorkerSpin(m, worker, budget)) {
      budget = budget > spin >>> 1 ? spin : budget * 2;
      continue;
    }
    budget = budget >>> 1 < minSpin ? minSpin : budget >>> 1;
    Atomics.store(m, state, VHOST_WORKER_SLEEPING); // pairs with wakeup's load (Dekker)
    if (!llistEmpty(m, list) || Atomics.load(m, stop)) { Atomics.store(m, state, VHOST_WORKER_RUNNING); continue; }
    st.sleeps++;
    Atomics.wait(m, state, VHOST_WORKER_SLEEPING); // pairs with wakeup's notify
    Atomics.store(m, state, VHOST_WORKER_RUNNING);
  }
}

/** Stop a reference worker: stop word, RUNNING, notify (as vhost_worker_stop). */
export function vhostWorkerStop(m: Int32Array, worker: number): void {
  Atomics.store(m, (worker + VHOST_WORKER.STOP) >> 2, 1); // pairs with the loop's loads
  Atomics.store(m, (worker + VHOST_WORKER.STATE) >> 2, VHOST_WORKER_RUNNING);
  Atomics.notify(m, (worker + VHOST_WORKER.STATE) >> 2, 1); // pairs with the loop's wait
}

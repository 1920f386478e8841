/**
 * The typed handle over loop's worker dispatch in Wasm (assembly/loop.ts, with the
 * pictures of loop_device, loop_worker and loop_cmd) and the unbound workqueue for
 * real threads (assembly/loop-wq.ts). Drivers and benchmarks use these classes;
 * nothing outside src/wasm touches the offsets (src/runtime/loop-kworker.js mirrors
 * them in plain JavaScript for worker threads; test/drivers/loop/dispatch.test.ts
 * checks that the two agree).
 *
 * ```ts
 * const le = new LoopEngine({ workers: 4096, cmds: 16384 });
 * const lo = le.device(0, seed);                   // loop_device dispatch state
 * const cmd = le.cmdAlloc();                       // a loop_cmd (throws when the arena is full)
 * const f = lo.queueWork(cmd, cgroupId);           // LOOP_QW_* flags (section 6.4 whole)
 * if (f & LOOP_QW_QUEUE) ...                       // queue lo.workOf(le.cmdWorker(cmd)) on the workqueue
 * const c = lo.processOne(work, jiffies);          // a command, 0, or LOOP_PW_IDLE
 * lo.freeIdleWorkers(jiffies, 60 * HZ, false, (w, lastRanAt) => cssPut(...));
 * ```
 *
 * Locking: every method takes the device's lo_work_lock inside Wasm; callers add
 * none. Reads of single fields (lastRanAt, onIdle, ...) are plain reads of shared
 * memory and may be stale while other threads run the dispatch.
 * No allocation per operation: keys go in as two u32 halves, batches through this
 * thread's scratch slot.
 */
import { KwqError } from '../kernel/error.js';
import { Engine, type EngineTransferable } from './engine.js';
import { rbValidate, type RbShape } from './rbtree.js';

// ---- the layout (assembly/loop.ts, assembly/loop-wq.ts) ----------------------------

export const LO = Object.freeze({
  LOCK: 0, TREE: 64, IDLE_HEAD: 68, IDLE_TAIL: 72, ROOT_HEAD: 76, ROOT_TAIL: 80, WORKER_ARENA: 84, FAIL_PCT: 88,
  PRNG: 92, NR_WORKERS: 96, ROOT_NR_CMDS: 100, QUEUED: 104, ROOT_QUEUED: 108, ALLOC_FAILURES: 112,
  WORKERS_CREATED: 116, QUEUE_NOOP: 120, RESCUED: 124, WORKERS_FREED: 128, ROOT_WORK: 144, SIZE: 192,
});
export const LW = Object.freeze({
  FLAGS: 12, KEY: 16, CMD_HEAD: 24, CMD_TAIL: 28, IDLE_PREV: 32, IDLE_NEXT: 36, LAST_RAN: 40, WORK: 48,
  NR_CMDS: 64, LO: 68, SIZE: 80,
});
export const LW_ON_IDLE = 1;
export const LC = Object.freeze({ NEXT: 0, TAG: 4, KEY: 8, WORKER: 16, RESULT: 20, SEQ: 24, DONE: 28, SIZE: 32 });
export const WORK = Object.freeze({ DATA: 0, ENTRY: 4, RESERVED: 8, LO: 12, SIZE: 16 });
export const WORK_PENDING = 1;
export const WQ = Object.freeze({
  LOCK: 0, WL_HEAD: 64, WL_TAIL: 68, NR_IDLE: 72, STOP: 76, NR_KWORKERS: 80, EXECUTED: 84, COLLISIONS: 88,
  QUEUED: 92, WAKE: 128, KWORKERS: 192, KW_SIZE: 16, MAX_KWORKERS: 64, SIZE: 192 + 64 * 16,
});

/** queue_work returned true: the caller queues the work (and a kworker is woken) */
export const LOOP_QW_QUEUE = 1;
/** the command went to the root queue */
export const LOOP_QW_ROOT = 2;
/** a loop_worker was allocated for the cgroup: the caller takes the css reference */
export const LOOP_QW_NEW = 4;
/** the allocation failed (arena full or injected): root queue, issued as root */
export const LOOP_QW_FAILED = 8;
/** the worker was taken back off the idle list */
export const LOOP_QW_RESCUED = 16;
/** loop_process_one: the list was empty and the worker went idle */
export const LOOP_PW_IDLE = 1;

/** The loop entry points of kwq.wasm. */
export interface LoopExports {
  loop_device_size(): number;
  loop_worker_size(): number;
  loop_cmd_size(): number;
  loop_wq_size(): number;
  loop_device_init(lo: number, workerArena: number, failPct: number, seed: number): void;
  loop_set_fail_pct(lo: number, pct: number): void;
  loop_queue_work(lo: number, cmd: number, idLo: number, idHi: number, hint: number): number;
  loop_queue_work_batch(lo: number, wq: number, cmds: number, n: number): number;
  loop_process_one(work: number, now: number): number;
  loop_process_batch(work: number, out: number, cap: number, now: number): number;
  loop_free_idle_workers(lo: number, now: number, timeout: number, deleteAll: number, out: number, cap: number): number;
  loop_find_worker(lo: number, idLo: number, idHi: number): number;
  loop_find_worker_batch(lo: number, keys: number, n: number, out: number): number;
  loop_workers_snapshot(lo: number, out: number, cap: number): number;
  rb_first(root: number): number;
  rb_next(node: number): number;
  loop_work_init(work: number, lo: number): void;
  loop_wq_init(wq: number, nrKworkers: number): number;
  __queue_work(wq: number, work: number): number;
  loop_queue_work_on(wq: number, work: number): number;
  loop_wq_pick(wq: number, me: number, spin: number): number;
  loop_wq_done(wq: number, me: number, work: number): void;
  loop_wq_stop(wq: number): void;
  loop_wq_idle(wq: number): number;
}

const EXPORTS: readonly (keyof LoopExports)[] = [
  'loop_device_size', 'loop_worker_size', 'loop_cmd_size', 'loop_wq_size', 'loop_device_init', 'loop_set_fail_pct',
  'loop_queue_work', 'loop_queue_work_batch', 'loop_process_one', 'loop_process_batch', 'loop_free_idle_workers',
  'loop_find_worker', 'loop_find_worker_batch', 'loop_workers_snapshot', 'rb_first', 'rb_next', 'loop_work_init', 'loop_wq_init',
  '__queue_work', 'loop_queue_work_on', 'loop_wq_pick', 'loop_wq_done', 'loop_wq_stop', 'loop_wq_idle',
];

/** Pick the loop functions out of an instance's exports and check the struct sizes. */
export function loopExports(exports: Record<string, unknown>): LoopExports {
  for (const name of EXPORTS) {
    if (typeof exports[name] !== 'function') throw new KwqError('LoopEngine', `kwq.wasm does not export ${name}(); rebuild with \`npm run build:wasm\``);
  }
  const x = exports as unknown as LoopExports;
  if (x.loop_device_size() !== LO.SIZE || x.loop_worker_size() !== LW.SIZE || x.loop_cmd_size() !== LC.SIZE || x.loop_wq_size() !== WQ.SIZE) {
    throw new KwqError('LoopEngine', 'kwq.wasm loop struct sizes differ from src/wasm/loop.ts: rebuild with `npm run build:wasm`');
  }
  return x;
}

const TWO32 = 2 ** 32;

export interface LoopEngineOptions {
  /** loop_worker arena capacity (kwq.loop_worker_max) */
  workers: number;
  /** loop_cmd arena capacity: commands in flight at once (kwq.loop_cmd_max) */
  cmds: number;
  /** loop_device dispatch blocks (bound devices at once); default 4096 */
  devices?: number;
  /** workqueues for real-thread kworkers (loop_wq); default 0 */
  workqueues?: number;
  /** scratch slots: 1 + the threads that attach; default 1 */
  threadSlots?: number;
  /** bytes per scratch slot; default 16 KiB */
  slotBytes?: number;
}

/** The engine loop's structures live in: one per kernel (or per benchmark). */
export class LoopEngine {
  readonly engine: Engine;
  readonly x: LoopExports;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly workerBase: number;
  readonly cmdBase: number;
  readonly workerCapacity: number;
  readonly cmdCapacity: number;

  constructor(opts: LoopEngineOptions) {
    // 'works' (32 B each) comes first in the arena bodies: 2 of them keep loop_device 64-byte aligned
    this.engine = Engine.create({
      works: 2, workers: 0, counters: 0, threadSlots: opts.threadSlots ?? 1, slotBytes: opts.slotBytes ?? 16384, syncWords: 4,
      arenas: [
        { name: 'loop_device', objSize: LO.SIZE, capacity: opts.devices ?? 4096 },
        { name: 'loop_worker', objSize: LW.SIZE, capacity: opts.workers },
        { name: 'loop_cmd', objSize: LC.SIZE, capacity: opts.cmds },
        ...(opts.workqueues ? [{ name: 'loop_wq', objSize: WQ.SIZE, capacity: opts.workqueues }] : []),
      ],
    });
    this.x = loopExports(this.engine.exports as unknown as Record<string, unknown>);
    this.u32 = this.engine.u32;
    this.f64 = this.engine.f64;
    this.workerBase = this.engine.arena('loop_worker').layout.base;
    this.cmdBase = this.engine.arena('loop_cmd').layout.base;
    this.workerCapacity = opts.workers;
    this.cmdCapacity = opts.cmds;
  }

  /** A device's dispatch state (loop_add's part), or null when every block is in use. */
  device(failPct: number, seed: number): LoopDispatch | null {
    const lo = this.engine.arena('loop_device').tryAlloc();
    if (lo < 0) return null;
    this.x.loop_device_init(lo, this.engine.arena('loop_worker').layout.header, failPct >>> 0, seed >>> 0);
    return new LoopDispatch(this, lo);
  }

  /** A loop_cmd; throws a KwqError naming the switch that sizes the arena when it is full. */
  cmdAlloc(): number {
    const c = this.engine.arena('loop_cmd').tryAlloc();
    if (c < 0) throw new KwqError('loop_queue_rq', `more than ${this.cmdCapacity} loop commands in flight: the loop_cmd arena is full (size it with kwq.loop_cmd_max)`);
    return c;
  }

  cmdFree(c: number): void {
    this.engine.arena('loop_cmd').free(c);
  }

  /** index of a command in its arena (the host's side table) */
  cmdIndex(c: number): number {
    return (c - this.cmdBase) / LC.SIZE;
  }

  /** index of a worker in its arena (the host's side table) */
  workerIndex(w: number): number {
    return (w - this.workerBase) / LW.SIZE;
  }

  /** the worker loop_queue_work chose for `cmd` (0: the root queue) */
  cmdWorker(cmd: number): number {
    return this.u32[(cmd + LC.WORKER) >>> 2]!;
  }

  setCmdKey(cmd: number, id: number): void {
    this.u32[(cmd + LC.KEY) >>> 2] = id % TWO32 >>> 0;
    this.u32[(cmd + LC.KEY + 4) >>> 2] = Math.floor(id / TWO32) >>> 0;
  }

  /** a worker's key (cgroup id) */
  key(w: number): number {
    return this.u32[(w + LW.KEY + 4) >>> 2]! * TWO32 + this.u32[(w + LW.KEY) >>> 2]!;
  }

  /** jiffies when it last went idle. May be stale. */
  lastRanAt(w: number): number {
    return this.f64[(w + LW.LAST_RAN) >>> 3]!;
  }

  /** on idle_worker_list. May be stale. */
  onIdle(w: number): boolean {
    return (this.u32[(w + LW.FLAGS) >>> 2]! & LW_ON_IDLE) !== 0;
  }

  /** commands the worker took. May be stale. */
  nrCmds(w: number): number {
    return this.u32[(w + LW.NR_CMDS) >>> 2]!;
  }

  /** list_empty(&worker->cmd_list). May be stale. */
  cmdListEmpty(w: number): boolean {
    return this.u32[(w + LW.CMD_HEAD) >>> 2] === 0;
  }

  /** the work_struct of a worker */
  workOf(w: number): number {
    return w + LW.WORK;
  }

  /** PENDING bit of a work_struct (its Int32Array index, for the sim workqueue). */
  workDataIndex(work: number): number {
    return (work + WORK.DATA) >>> 2;
  }

  /**
   * A workqueue for real-thread kworkers, or -ENOMEM (-12) when every loop_wq block is
   * in use; throws a KwqError for a bad kworker count or an engine made without `workqueues`.
   */
  tryWorkqueue(nrKworkers: number): number {
    if (!Number.isInteger(nrKworkers) || nrKworkers < 1 || nrKworkers > WQ.MAX_KWORKERS) {
      throw new KwqError('LoopEngine.workqueue', `nrKworkers must be 1..${WQ.MAX_KWORKERS}, got ${nrKworkers}`);
    }
    const a = this.engine.arena('loop_wq');
    const wq = a.tryAlloc();
    if (wq < 0) return wq;
    this.x.loop_wq_init(wq, nrKworkers);
    return wq;
  }

  /** Give a workqueue block back (destroy_workqueue): only once no kworker thread uses it. */
  freeWorkqueue(wq: number): void {
    this.engine.arena('loop_wq').free(wq);
  }

  /** A workqueue for real-thread kworkers (the engine was made with `workqueues`). */
  workqueue(nrKworkers: number): number {
    const wq = this.engine.arena('loop_wq').alloc();
    const r = this.x.loop_wq_init(wq, nrKworkers);
    if (r < 0) {
      this.engine.arena('loop_wq').free(wq);
      throw new KwqError('LoopEngine.workqueue', `nrKworkers must be 1..${WQ.MAX_KWORKERS}, got ${nrKworkers}`);
    }
    return wq;
  }

  transferable(): EngineTransferable {
    return this.engine.transferable();
  }
}

export interface LoopDispatchStats {
  queued: number; rootQueued: number; allocFailures: number; workersCreated: number; queueNoop: number;
  rescued: number; workersFreed: number; nrWorkers: number; rootNrCmds: number;
}

/** One loop_device's dispatch state in the shared memory. */
export class LoopDispatch {
  readonly rootWork: number;
  constructor(readonly le: LoopEngine, readonly lo: number) {
    this.rootWork = lo + LO.ROOT_WORK;
  }

  /**
   * loop_queue_work (section 6.4 whole, one crossing): LOOP_QW_* flags; le.cmdWorker(cmd)
   * says where it went. `id` 0: the root queue. `hint`: a live loop_worker of this
   * device the caller cached for `id`; used instead of the tree walk when Wasm finds it
   * is still the worker for `id` (assembly/loop.ts queue_locked), else ignored.
   */
  queueWork(cmd: number, id: number, hint = 0): number {
    return this.le.x.loop_queue_work(this.lo, cmd, id % TWO32 >>> 0, Math.floor(id / TWO32) >>> 0, hint);
  }

  /**
   * loop_queue_work for cmds[from..from+n) (keys already in the commands: setCmdKey),
   * one crossing per scratch-sized chunk; newly pending works go on `wq` when it is
   * not 0. Returns how many works became pending.
   */
  queueWorkBatch(cmds: ArrayLike<number>, from = 0, n = cmds.length - from, wq = 0): number {
    const e = this.le.engine;
    let q = 0;
    for (let done = 0; done < n;) {
      const chunk = Math.min(n - done, e.scratch.inputCap);
      q += this.le.x.loop_queue_work_batch(this.lo, wq, e.stageInput(cmds, from + done, chunk), chunk);
      done += chunk;
    }
    return q;
  }

  /**
   * loop_queue_work with the workqueue's __queue_work nested under lo_work_lock, as the
   * kernel calls queue_work (real-thread kworkers of `wq` pick the work up): one crossing.
   * Returns the LOOP_QW_* flags; le.cmdWorker(cmd) says where the command went.
   */
  queueWorkOn(cmd: number, id: number, wq: number): number {
    const le = this.le;
    le.setCmdKey(cmd, id);
    const at = le.engine.scratch.input;
    le.u32[at >>> 2] = cmd;
    le.x.loop_queue_work_batch(this.lo, wq, at, 1);
    return le.u32[(cmd + LC.RESULT) >>> 2]!;
  }

  /** One step of loop_process_work for `work`: a command, 0 (empty), or LOOP_PW_IDLE (went idle: arm the timer). */
  processOne(work: number, now: number): number {
    return this.le.x.loop_process_one(work, now) >>> 0;
  }

  /**
   * loop_free_idle_workers (section 6.6): frees the expired idle workers (all of them
   * with deleteAll), oldest first, calling `freed(worker, lastRanAt)` for each after
   * it left the tree (its arena object is already free: use it as a key only).
   * Returns true when workers stay idle (re-arm the timer).
   */
  freeIdleWorkers(now: number, timeout: number, deleteAll: boolean, freed: (worker: number, lastRanAt: number) => void): boolean {
    const e = this.le.engine;
    const { out, outCap } = e.scratch;
    const cap = outCap >> 2; // 16-byte records
    for (;;) {
      const r = this.le.x.loop_free_idle_workers(this.lo, now, timeout, deleteAll ? 1 : 0, out, cap) >>> 0;
      const n = r & 0x7fff_ffff;
      const u = this.le.u32;
      const f = this.le.f64;
      for (let i = 0; i < n; i++) freed(u[(out >>> 2) + i * 4]!, f[(out >>> 3) + i * 2 + 1]!);
      if (n < cap) return (r >>> 31) === 1;
    }
  }

  /**
   * The live workers in tree (cgroup id) order: one Wasm call into the scratch slot
   * when they fit it, else the in-order walk (rb_first, rb_next) made from here under
   * lo_work_lock, taken with the spin_lock protocol of assembly/spinlock.ts.
   */
  workers(): number[] {
    const e = this.le.engine;
    const { out, outCap } = e.scratch;
    const n = this.le.x.loop_workers_snapshot(this.lo, out, outCap);
    if (n <= outCap) return Array.from(this.le.u32.subarray(out >>> 2, (out >>> 2) + n));
    const lock = (this.lo + LO.LOCK) >>> 2;
    const i32 = e.i32;
    while (Atomics.compareExchange(i32, lock, 0, 1) !== 0) { /* spin_lock: held only for a list or tree step */ }
    try {
      const r: number[] = [];
      const x = this.le.x;
      for (let w = x.rb_first(this.lo + LO.TREE) >>> 0; w !== 0; w = x.rb_next(w) >>> 0) r.push(w);
      return r;
    } finally {
      Atomics.store(i32, lock, 0); // spin_unlock
    }
  }

  /** The idle list, oldest first. May be stale while other threads run. */
  idleList(): number[] {
    const u = this.le.u32;
    const out: number[] = [];
    for (let w = u[(this.lo + LO.IDLE_HEAD) >>> 2]!; w !== 0 && out.length <= this.le.workerCapacity; w = u[(w + LW.IDLE_NEXT) >>> 2]!) out.push(w);
    return out;
  }

  /** rb_find by cgroup id: the worker or 0 */
  find(id: number): number {
    return this.le.x.loop_find_worker(this.lo, id % TWO32 >>> 0, Math.floor(id / TWO32) >>> 0) >>> 0;
  }

  get nrWorkers(): number {
    return this.le.u32[(this.lo + LO.NR_WORKERS) >>> 2]!;
  }

  /** list_empty(&lo->rootcg_cmd_list). May be stale. */
  get rootListEmpty(): boolean {
    return this.le.u32[(this.lo + LO.ROOT_HEAD) >>> 2] === 0;
  }

  /** list_empty of `work`'s command list (a worker's or the root's). May be stale. */
  workListEmpty(work: number): boolean {
    return work === this.rootWork ? this.rootListEmpty : this.le.cmdListEmpty(work - LW.WORK);
  }

  setFailPct(pct: number): void {
    this.le.x.loop_set_fail_pct(this.lo, pct >>> 0);
  }

  /** The dispatch counters. May be stale. */
  stats(): LoopDispatchStats {
    const u = this.le.u32;
    const at = (off: number): number => u[(this.lo + off) >>> 2]!;
    return {
      queued: at(LO.QUEUED), rootQueued: at(LO.ROOT_QUEUED), allocFailures: at(LO.ALLOC_FAILURES), workersCreated: at(LO.WORKERS_CREATED),
      queueNoop: at(LO.QUEUE_NOOP), rescued: at(LO.RESCUED), workersFreed: at(LO.WORKERS_FREED), nrWorkers: at(LO.NR_WORKERS), rootNrCmds: at(LO.ROOT_NR_CMDS),
    };
  }

  /** Check worker_tree's red-black invariants (tests); only while no other thread runs the dispatch. */
  validate(): RbShape {
    const u = this.le.u32;
    const root = this.lo + LO.TREE;
    return rbValidate({
      rootNode: () => u[root >>> 2]!,
      parentColor: (n) => u[n >>> 2]!,
      right: (n) => u[(n + 4) >>> 2]!,
      left: (n) => u[(n + 8) >>> 2]!,
      keyLo: (n) => u[(n + LW.KEY) >>> 2]!,
      keyHi: (n) => u[(n + LW.KEY + 4) >>> 2]!,
    }, this.le.workerCapacity + 1, 'loop worker_tree');
  }

  /** Give the block back (lo_free_disk); the tree must be empty. */
  release(): void {
    if (this.nrWorkers !== 0) throw new KwqError('LoopDispatch.release', `${this.nrWorkers} worker(s) are still in worker_tree`);
    this.le.engine.arena('loop_device').free(this.lo);
  }
}

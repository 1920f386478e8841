/**
 * The typed handle over io_uring's io-wq in Wasm (assembly/io-wq.ts has the pictures of
 * io_wq, io_wq_acct, the worker slots and io_wq_work) and the SQ/CQ ring memory of
 * io_uring instances. Drivers, tests and benchmarks use these classes; nothing outside
 * src/wasm touches the offsets.
 *
 * ```ts
 * const ie = new IoWqEngine({ wqs: 16, works: 4096, rings: 8, ringEntries: 256 });
 * const wq = ie.wq(ie.wqAlloc());             // an io_wq (throws when the arena is full)
 * wq.init(4, 1024);                           // bounded max_workers, unbounded (RLIMIT_NPROC)
 * const w = ie.workAlloc();                   // an io_wq_work
 * ie.workInit(w, IO_WQ_FN_HOST, reqId, 0);
 * ie.hashWork(w, inode.ino);                  // io_wq_hash_work
 * const r = wq.enqueue(w);                    // IO_WQ_ENQ_* flags; wq.lastSlot: the woken slot
 * const next = wq.getNextWork(IO_WQ_ACCT_BOUND);  // a chain head or 0
 * ```
 *
 * No allocation per operation: handles are numbers, out-values go through this
 * thread's scratch slot. Engine layout: the io_wq, io_wq_work and ring objects are
 * arenas of one Engine (Engine.create's `arenas` option); engine.ts is unchanged.
 */
import { KwqError } from '../kernel/error.js';
import { ENOMEM } from '../kernel/errno.js';
import { Engine, type EngineTransferable } from './engine.js';

// ---- the layout (assembly/io-wq.ts) ----------------------------------------------------

export const IO_WQ = Object.freeze({
  LOCK: 0, STATE: 4, HASH_MAP: 8, SLOTS_USED: 16, ACCT: 64, ACCT_SIZE: 64, HASH_TAIL: 192, SLOTS: 448,
  SLOT_SIZE: 16, MAX_SLOTS: 64, SIZE: 1536,
});
export const IO_WQ_ACCT_F = Object.freeze({
  LOCK: 0, FLAGS: 4, FIRST: 8, LAST: 12, NR_WORKERS: 16, MAX_WORKERS: 20, NR_RUNNING: 24, NR_FREE: 28,
  ENQUEUED: 32, TAKEN: 36, STALLS: 40, CREATES: 44, DONE: 48,
});
export const IO_WQ_SLOT = Object.freeze({ STATE: 0, ACCT: 4, NEXT: 8, RUNS: 12 });
export const IO_WQ_WORK = Object.freeze({ NEXT: 0, FLAGS: 4, FN: 8, ARG: 12, COST: 16, OWNER: 20, SEQ: 24, RUNS: 28, SIZE: 32 });

export const IO_WQ_WORK_CANCEL = 1;
export const IO_WQ_WORK_HASHED = 2;
export const IO_WQ_WORK_UNBOUND = 4;
export const IO_WQ_WORK_CONCURRENT = 16;
export const IO_WQ_HASH_SHIFT = 24;
export const IO_WQ_NR_HASH_BUCKETS = 64;
export const IO_WQ_ACCT_BOUND = 0;
export const IO_WQ_ACCT_UNBOUND = 1;
export const IO_ACCT_STALLED_BIT = 0;
export const IO_WORKER_NONE = 0;
export const IO_WORKER_BUSY = 1;
export const IO_WORKER_FREE = 2;

export const IO_WQ_FN_NOP = 0;
export const IO_WQ_FN_SPIN = 1;
export const IO_WQ_FN_COUNT = 2;
/** a built-in that checks hashed serialisation and order (assembly/io-wq.ts: io_wq_check) */
export const IO_WQ_FN_CHECK = 3;
export const IO_WQ_FN_HOST = 16;
/** io_wq_check: one record per hash key, for IO_WQ_FN_CHECK works (arg = its offset, seq = order per key) */
export const IO_WQ_CHECK = Object.freeze({ ACTIVE: 0, NEXT: 4, OVERLAPS: 8, REORDERS: 12, RUNS: 16, SIZE: 64 });

export const IO_WQ_ENQ_QUEUED = 1;
export const IO_WQ_ENQ_WOKE = 2;
export const IO_WQ_ENQ_CANCEL = 4;
export const IO_WQ_ENQ_CREATE = 8;

/** io_wq_worker_loop's answers */
export const IO_WQ_LOOP_HOST = 1;
export const IO_WQ_LOOP_TIMEOUT = 2;
export const IO_WQ_LOOP_EXIT = 3;

/** The io-wq entry points of kwq.wasm. */
export interface IoWqExports {
  io_wq_size(): number;
  io_wq_work_size(): number;
  io_wq_init(wq: number, bounded: number, unbounded: number): void;
  io_wq_work_init(work: number, fn: number, arg: number, cost: number): void;
  io_wq_work_init_batch(works: number, n: number, fn: number, arg: number, cost: number, keys: number): void;
  io_wq_hash_work(work: number, key: number): number;
  io_wq_enqueue(wq: number, work: number, slotOut: number): number;
  io_wq_enqueue_batch(wq: number, works: number, n: number, slotOut: number): number;
  io_acct_run_queue(wq: number, index: number): number;
  io_get_next_work(wq: number, index: number): number;
  io_wq_work_done(wq: number, work: number, slotOut: number): number;
  io_wq_worker_attach(wq: number, index: number, reserve: number): number;
  io_wq_worker_idle(wq: number, slot: number): void;
  io_wq_worker_busy(wq: number, slot: number): number;
  io_wq_worker_timeout(wq: number, slot: number): number;
  io_wq_worker_exit(wq: number, slot: number): void;
  io_wq_inc_running(wq: number, index: number): void;
  io_wq_dec_running(wq: number, index: number): number;
  io_wq_create_failed(wq: number, index: number): number;
  io_wq_cancel_pending(wq: number, index: number, out: number, cap: number): number;
  io_wq_exit_start(wq: number): void;
  io_wq_max_workers(wq: number, index: number, count: number): number;
  io_worker_handle_work(wq: number, slot: number, out: number): number;
  io_wq_worker_loop(wq: number, slot: number, out: number, spin: number, timeoutUs: number): number;
  io_wq_cas_bench(ptr: number, n: number): number;
}

const EXPORTS: readonly (keyof IoWqExports)[] = [
  'io_wq_size', 'io_wq_work_size', 'io_wq_init', 'io_wq_work_init', 'io_wq_work_init_batch', 'io_wq_hash_work', 'io_wq_enqueue', 'io_wq_enqueue_batch',
  'io_acct_run_queue', 'io_get_next_work', 'io_wq_work_done', 'io_wq_worker_attach', 'io_wq_worker_idle', 'io_wq_worker_busy',
  'io_wq_worker_timeout', 'io_wq_worker_exit', 'io_wq_inc_running', 'io_wq_dec_running', 'io_wq_create_failed',
  'io_wq_cancel_pending', 'io_wq_exit_start', 'io_wq_max_workers', 'io_worker_handle_work', 'io_wq_worker_loop', 'io_wq_cas_bench',
];

/** Pick the io-wq functions out of an instance's exports and check the struct sizes. */
export function ioWqExports(exports: Record<string, unknown>): IoWqExports {
  for (const name of EXPORTS) {
    if (typeof exports[name] !== 'function') throw new KwqError('IoWqEngine', `kwq.wasm does not export ${name}(); rebuild with \`npm run build:wasm\``);
  }
  const x = exports as unknown as IoWqExports;
  if (x.io_wq_size() !== IO_WQ.SIZE || x.io_wq_work_size() !== IO_WQ_WORK.SIZE) {
    throw new KwqError('IoWqEngine', 'kwq.wasm io-wq struct sizes differ from src/wasm/io-wq.ts: rebuild with `npm run build:wasm`');
  }
  return x;
}

/**
 * An io_uring instance's rings in shared memory (one ring object):
 *
 * ```
 *   +0    sq_head    u32   consumed by io_uring_enter (the kernel's side)
 *   +4    sq_tail    u32   produced by the application
 *   +8    sq_mask    u32   +12 sq_entries u32  +16 sq_flags u32  +20 sq_dropped u32
 *   +64   cq_head    u32   consumed by the application
 *   +68   cq_tail    u32   produced by completions
 *   +72   cq_mask    u32   +76 cq_entries u32  +80 cq_overflow u32  +84 cq_flags u32
 *   +128  sq_array   u32[ringEntries]        (IORING_SETUP_NO_SQARRAY is not modelled)
 *   then  sqes       io_uring_sqe[ringEntries], 64 B each
 *   then  cqes       io_uring_cqe[2 * ringEntries], 16 B each
 * ```
 *
 * io_uring_sqe (64 B): +0 opcode u8, +1 flags u8, +2 ioprio u16, +4 fd i32, +8 off u64,
 * +16 addr u64, +24 len u32, +28 rw_flags u32, +32 user_data u64, +40..63 (buf_index, ...).
 * io_uring_cqe (16 B): +0 user_data u64, +8 res i32, +12 flags u32. u64 fields are
 * read and written as two u32 halves (no BigInt on the hot path).
 */
export const RING = Object.freeze({
  SQ_HEAD: 0, SQ_TAIL: 4, SQ_MASK: 8, SQ_ENTRIES: 12, SQ_FLAGS: 16, SQ_DROPPED: 20,
  CQ_HEAD: 64, CQ_TAIL: 68, CQ_MASK: 72, CQ_ENTRIES: 76, CQ_OVERFLOW: 80, CQ_FLAGS: 84, SQ_ARRAY: 128,
});
export const SQE = Object.freeze({ OPCODE: 0, FLAGS: 1, IOPRIO: 2, FD: 4, OFF: 8, ADDR: 16, LEN: 24, RW_FLAGS: 28, USER_DATA: 32, SIZE: 64 });
export const CQE = Object.freeze({ USER_DATA: 0, RES: 8, FLAGS: 12, SIZE: 16 });

/** Bytes of one ring object holding `entries` SQEs and 2 * entries CQEs. */
export function ringBytes(entries: number): number {
  return RING.SQ_ARRAY + Math.ceil((4 * entries) / 64) * 64 + SQE.SIZE * entries + CQE.SIZE * 2 * entries;
}

export interface IoWqEngineOptions {
  /** io_wq structs (one per task that uses io_uring) */
  wqs: number;
  /** io_wq_work arena capacity (requests in io-wq at once) */
  works: number;
  /** ring objects (io_uring instances at once); default 0 */
  rings?: number;
  /** largest sq_entries a ring can hold (a power of 2); default 256 */
  ringEntries?: number;
  /** scratch slots: 1 + the threads that attach; default 1 */
  threadSlots?: number;
  /** counter slots (IO_WQ_FN_COUNT); default 8 */
  counters?: number;
  /** io_wq_check records (IO_WQ_FN_CHECK); default 0 */
  checks?: number;
  /** bytes per scratch slot (a thread's batch array holds (slotBytes - 64) / 8 refs); default 16384 */
  slotBytes?: number;
}

/** The engine io-wq's structures live in: one per kernel (or per benchmark). */
export class IoWqEngine {
  readonly engine: Engine;
  readonly x: IoWqExports;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly ringEntries: number;
  private readonly wqArena: string = 'io_wq';
  private readonly handles = new Map<number, IoWqHandle>();

  constructor(opts: IoWqEngineOptions, attach?: { t: EngineTransferable; slot: number }) {
    const ringEntries = opts.ringEntries ?? 256;
    if (!Number.isInteger(ringEntries) || ringEntries < 1 || (ringEntries & (ringEntries - 1)) !== 0) {
      throw new KwqError('IoWqEngine', `ringEntries must be a power of 2, got ${ringEntries}`);
    }
    this.ringEntries = ringEntries;
    this.engine = attach
      ? Engine.attach(attach.t, attach.slot)
      : Engine.create({
        works: 2, workers: 0, counters: opts.counters ?? 8, threadSlots: opts.threadSlots ?? 1, slotBytes: opts.slotBytes ?? 16384, syncWords: 8,
        arenas: [
          { name: 'io_wq', objSize: IO_WQ.SIZE, capacity: opts.wqs },
          { name: 'io_wq_work', objSize: IO_WQ_WORK.SIZE, capacity: opts.works },
          ...((opts.checks ?? 0) > 0 ? [{ name: 'io_wq_check', objSize: IO_WQ_CHECK.SIZE, capacity: opts.checks! }] : []),
          ...((opts.rings ?? 0) > 0 ? [{ name: 'io_uring_ring', objSize: ringBytes(ringEntries), capacity: opts.rings! }] : []),
        ],
      });
    this.x = ioWqExports(this.engine.instance.exports as Record<string, unknown>);
    this.u32 = this.engine.u32;
    this.i32 = this.engine.i32;
  }

  /** In a worker thread: the same engine over the same memory, scratch slot `slot`. */
  static attach(t: EngineTransferable, slot: number, opts: IoWqEngineOptions): IoWqEngine {
    return new IoWqEngine(opts, { t, slot });
  }

  /** An io_wq struct, or -ENOMEM when the arena is full (io_wq_create's kzalloc failing). */
  wqAlloc(): number {
    return this.engine.arena(this.wqArena).tryAlloc();
  }

  wqFree(wq: number): void {
    this.handles.delete(wq);
    this.engine.arena(this.wqArena).free(wq);
  }

  /** The handle of io_wq `wq` (cached per thread). */
  wq(wq: number): IoWqHandle {
    let h = this.handles.get(wq);
    if (h === undefined) {
      if (!this.engine.arena(this.wqArena).contains(wq)) throw new KwqError('IoWqEngine.wq', `${wq} is not an io_wq of this engine`);
      h = new IoWqHandle(this, wq);
      this.handles.set(wq, h);
    }
    return h;
  }

  /** An io_wq_work, or -ENOMEM when the arena is full. */
  workTryAlloc(): number {
    return this.engine.arena('io_wq_work').tryAlloc();
  }

  /** An io_wq_work; throws a KwqError naming the arena when it is full. */
  workAlloc(): number {
    return this.engine.arena('io_wq_work').alloc();
  }

  workFree(w: number): void {
    this.engine.arena('io_wq_work').free(w);
  }

  get works(): { capacity: number; countFree(): number; allocBatch(out: Uint32Array | number[], n?: number): void; freeBatch(refs: ArrayLike<number>): void } {
    return this.engine.arena('io_wq_work');
  }

  workInit(w: number, fn: number, arg: number, costNs: number): void {
    this.x.io_wq_work_init(w, fn >>> 0, arg >>> 0, costNs >>> 0);
  }

  /**
   * workInit(refs[i], fn, 0, 0) for every ref, and hashWork(refs[i], keys[i]) too when
   * `keys` is given: one JS-to-Wasm call per batch of the scratch slot's size.
   */
  workInitBatch(refs: ArrayLike<number>, fn: number, keys?: ArrayLike<number>): void {
    if (keys && keys.length < refs.length) throw new KwqError('IoWqEngine.workInitBatch', `${refs.length} works but only ${keys.length} keys`);
    const e = this.engine;
    const u32 = this.u32;
    const cap = keys ? e.scratch.inputCap >> 1 : e.scratch.inputCap;
    for (let from = 0; from < refs.length; from += cap) {
      const n = Math.min(cap, refs.length - from);
      const at = e.stageInput(refs, from, n);
      let k = 0;
      if (keys) {
        k = at + n * 4;
        for (let i = 0; i < n; i++) u32[(k >> 2) + i] = keys[from + i]! >>> 0;
      }
      this.x.io_wq_work_init_batch(at, n, fn >>> 0, 0, 0, k);
    }
  }

  /** io_wq_hash_work(work, key): returns the bucket. */
  hashWork(w: number, key: number): number {
    return this.x.io_wq_hash_work(w, key >>> 0);
  }

  /** OR flags into the work (IO_WQ_WORK_UNBOUND, _CONCURRENT, _CANCEL); before it is queued. */
  workSetFlags(w: number, flags: number): void {
    this.u32[(w + IO_WQ_WORK.FLAGS) >> 2] = (this.u32[(w + IO_WQ_WORK.FLAGS) >> 2]! | flags) >>> 0;
  }

  workFlags(w: number): number { return Atomics.load(this.u32, (w + IO_WQ_WORK.FLAGS) >> 2); }
  workFn(w: number): number { return this.u32[(w + IO_WQ_WORK.FN) >> 2]!; }
  workArg(w: number): number { return this.u32[(w + IO_WQ_WORK.ARG) >> 2]!; }
  workCost(w: number): number { return this.u32[(w + IO_WQ_WORK.COST) >> 2]!; }
  /** The next work of a detached hashed chain (wq_next_work), 0 at its end. */
  workNext(w: number): number { return this.u32[(w + IO_WQ_WORK.NEXT) >> 2]!; }
  /** Times do_work ran it (io_wq_work_done counts). May be stale. */
  workRuns(w: number): number { return Atomics.load(this.u32, (w + IO_WQ_WORK.RUNS) >> 2); }
  workHash(w: number): number { return this.u32[(w + IO_WQ_WORK.FLAGS) >> 2]! >>> IO_WQ_HASH_SHIFT; }
  setTag(w: number, owner: number, seq: number): void {
    this.u32[(w + IO_WQ_WORK.OWNER) >> 2] = owner;
    this.u32[(w + IO_WQ_WORK.SEQ) >> 2] = seq;
  }
  workOwner(w: number): number { return this.u32[(w + IO_WQ_WORK.OWNER) >> 2]!; }
  workSeq(w: number): number { return this.u32[(w + IO_WQ_WORK.SEQ) >> 2]!; }

  /** A ring object (or -ENOMEM), zeroed, for sq_entries `entries` (<= ringEntries). */
  ringAlloc(entries: number): number {
    const a = this.engine.arena('io_uring_ring');
    const r = a.tryAlloc();
    if (r < 0) return -ENOMEM;
    this.u32.fill(0, r >> 2, (r + a.layout.objSize) >> 2);
    const u = this.u32;
    u[(r + RING.SQ_MASK) >> 2] = entries - 1;
    u[(r + RING.SQ_ENTRIES) >> 2] = entries;
    u[(r + RING.CQ_MASK) >> 2] = 2 * entries - 1;
    u[(r + RING.CQ_ENTRIES) >> 2] = 2 * entries;
    return r;
  }

  ringFree(r: number): void {
    this.engine.arena('io_uring_ring').free(r);
  }

  /** Offset of SQE `index` of ring `r`. */
  sqe(r: number, index: number): number {
    return r + RING.SQ_ARRAY + Math.ceil((4 * this.ringEntries) / 64) * 64 + index * SQE.SIZE;
  }

  /** Offset of CQE slot `index` of ring `r`. */
  cqe(r: number, index: number): number {
    return this.sqe(r, this.ringEntries) + index * CQE.SIZE;
  }

  /** An io_wq_check record, zeroed (throws a KwqError naming the arena when it is full). */
  checkAlloc(): number {
    const c = this.engine.arena('io_wq_check').alloc();
    this.u32.fill(0, c >> 2, (c + IO_WQ_CHECK.SIZE) >> 2);
    return c;
  }

  /** An io_wq_check record's counters (read once the threads stopped). */
  check(c: number): { active: number; next: number; overlaps: number; reorders: number; runs: number } {
    const u = this.u32;
    const C = IO_WQ_CHECK;
    return {
      active: Atomics.load(u, (c + C.ACTIVE) >> 2), next: Atomics.load(u, (c + C.NEXT) >> 2), overlaps: Atomics.load(u, (c + C.OVERLAPS) >> 2),
      reorders: Atomics.load(u, (c + C.REORDERS) >> 2), runs: Atomics.load(u, (c + C.RUNS) >> 2),
    };
  }

  /** Total free io_wq_work objects (quiescent use). */
  freeWorks(): number {
    return this.engine.arena('io_wq_work').countFree();
  }
}

export interface IoWqAcctStats {
  nrWorkers: number;
  maxWorkers: number;
  nrRunning: number;
  nrFree: number;
  stalled: boolean;
  enqueued: number;
  taken: number;
  stalls: number;
  creates: number;
  done: number;
  /** the work list is non-empty. May be stale. */
  pending: boolean;
}

/** One io_wq (assembly/io-wq.ts). */
export class IoWqHandle {
  private readonly x: IoWqExports;
  private readonly out: number;
  /** the slot (+1) the last enqueue / workDone woke, 0 for none */
  lastSlot = 0;

  constructor(private readonly ie: IoWqEngine, readonly offset: number) {
    this.x = ie.x;
    this.out = ie.engine.scratch.input;
  }

  /** io_wq_create's part: max_workers of both accts (bounded, unbounded = RLIMIT_NPROC). Before use. */
  init(bounded: number, unbounded: number): void {
    this.x.io_wq_init(this.offset, bounded >>> 0, Math.min(unbounded, 0xffff_ffff) >>> 0);
  }

  /** io_wq_enqueue: IO_WQ_ENQ_* flags; lastSlot = woken slot + 1 (WOKE). */
  enqueue(w: number): number {
    const r = this.x.io_wq_enqueue(this.offset, w, this.out);
    this.lastSlot = this.ie.u32[this.out >> 2]!;
    return r;
  }

  /** Enqueue refs[0..n) in one call; returns { creates, wakes }. */
  enqueueBatch(refs: ArrayLike<number>, n: number = refs.length): { creates: number; wakes: number } {
    const e = this.ie.engine;
    const at = e.stageInput(refs, 0, n);
    const r = this.x.io_wq_enqueue_batch(this.offset, at, n, e.scratch.out);
    return { creates: r >>> 16, wakes: r & 0xffff };
  }

  runQueue(acct: number): boolean { return this.x.io_acct_run_queue(this.offset, acct) === 1; }
  getNextWork(acct: number): number { return this.x.io_get_next_work(this.offset, acct); }
  /** After do_work: the chain's next work (0 at the end); lastSlot = woken slot + 1. */
  workDone(w: number): number {
    const next = this.x.io_wq_work_done(this.offset, w, this.out);
    this.lastSlot = this.ie.u32[this.out >> 2]!;
    return next;
  }
  attach(acct: number, reserve = false): number { return this.x.io_wq_worker_attach(this.offset, acct, reserve ? 1 : 0); }
  idle(slot: number): void { this.x.io_wq_worker_idle(this.offset, slot); }
  busy(slot: number): boolean { return this.x.io_wq_worker_busy(this.offset, slot) === 1; }
  timeout(slot: number): boolean { return this.x.io_wq_worker_timeout(this.offset, slot) === 1; }
  exitWorker(slot: number): void { this.x.io_wq_worker_exit(this.offset, slot); }
  incRunning(acct: number): void { this.x.io_wq_inc_running(this.offset, acct); }
  /** io_wq_dec_running: true when a worker was reserved and must be created. */
  decRunning(acct: number): boolean { return this.x.io_wq_dec_running(this.offset, acct) === 1; }
  /** create_io_worker failed for good: the nr_workers left. */
  createFailed(acct: number): number { return this.x.io_wq_create_failed(this.offset, acct); }
  /**
   * A worker attached to `slot` never started (threads runtime: no thread): the slot
   * NONE again and the reservation undone (nr_workers--, nr_running--). Returns the
   * nr_workers left, as createFailed.
   */
  undoAttach(slot: number, acct: number): number {
    this.x.io_wq_worker_exit(this.offset, slot); // NONE, nr_workers--
    const a = (this.offset + IO_WQ.ACCT + acct * IO_WQ.ACCT_SIZE) >> 2;
    Atomics.sub(this.ie.u32, a + (IO_WQ_ACCT_F.NR_RUNNING >> 2), 1); // the reservation's nr_running++; pairs with io_wq_enqueue's load
    return this.ie.u32[a + (IO_WQ_ACCT_F.NR_WORKERS >> 2)]!;
  }
  exitStart(): void { this.x.io_wq_exit_start(this.offset); }
  /** io_wq_max_workers for one acct: the previous value; count 0 only reads. */
  maxWorkers(acct: number, count: number): number { return this.x.io_wq_max_workers(this.offset, acct, count >>> 0) >>> 0; }

  /** Detach every pending work of `acct` (marked IO_WQ_WORK_CANCEL), in list order. */
  cancelPending(acct: number): number[] {
    const e = this.ie.engine;
    const res: number[] = [];
    for (;;) {
      const n = this.x.io_wq_cancel_pending(this.offset, acct, e.scratch.input, e.scratch.inputCap);
      for (let i = 0; i < n; i++) res.push(e.u32[(e.scratch.input >> 2) + i]!);
      if (n < e.scratch.inputCap) return res;
    }
  }

  slotState(slot: number): number {
    return Atomics.load(this.ie.u32, (this.offset + IO_WQ.SLOTS + slot * IO_WQ.SLOT_SIZE + IO_WQ_SLOT.STATE) >> 2);
  }

  /** io_wq->hash->map (64 bits as two halves). May be stale. */
  hashMap(): { lo: number; hi: number } {
    const u = this.ie.u32;
    return { lo: Atomics.load(u, (this.offset + IO_WQ.HASH_MAP) >> 2), hi: Atomics.load(u, (this.offset + IO_WQ.HASH_MAP + 4) >> 2) };
  }

  /** One acct's counters (plain reads: may be stale while threads run). */
  stats(acct: number): IoWqAcctStats {
    const u = this.ie.u32;
    const a = (this.offset + IO_WQ.ACCT + acct * IO_WQ.ACCT_SIZE) >> 2;
    const F = IO_WQ_ACCT_F;
    return {
      nrWorkers: u[a + (F.NR_WORKERS >> 2)]!, maxWorkers: u[a + (F.MAX_WORKERS >> 2)]!, nrRunning: Atomics.load(u, a + (F.NR_RUNNING >> 2)),
      nrFree: u[a + (F.NR_FREE >> 2)]!, stalled: (Atomics.load(u, a + (F.FLAGS >> 2)) & 1) !== 0,
      enqueued: u[a + (F.ENQUEUED >> 2)]!, taken: u[a + (F.TAKEN >> 2)]!, stalls: u[a + (F.STALLS >> 2)]!,
      creates: u[a + (F.CREATES >> 2)]!, done: u[a + (F.DONE >> 2)]!, pending: u[a + (F.FIRST >> 2)]! !== 0,
    };
  }
}

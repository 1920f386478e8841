/**
 * The vhost driver's Wasm engine: one per Kernel, created at the first open of a
 * vhost device. Every vhost_work of every vhost device lives in its work arena and
 * every vhost_worker's llist in its worker structs (assembly/vhost.ts); this file
 * maps them to the driver's JS objects.
 *
 *   Wasm (shared memory)                         JS (this file)
 *   works arena: vhost_work 32 B each       <->  table[(ref - base) / 32]: VhostWork
 *     fn = VHOST_FN_HOST (16), arg = table index    (its handler and owner)
 *   vhost_worker structs 256 B each         <->  free list of struct indices
 *     (llist head, QUEUED bit protocol)              (VhostWorker holds one)
 *
 * A worker body drains its Wasm llist with one `VhostWorkerHandle.run` call per
 * llist_del_all batch; the HOST works of the batch come back in FIFO order (QUEUED
 * already cleared, as vhost_run_work_list clears it before fn) and are dispatched
 * here to their VhostWork's fn, given the work or its data (workAlloc / workAllocData;
 * tracepoints workqueue_execute_start/end). Handlers add the virtual CPU time they use with
 * `charge(ns)`: to the sim thread running the worker (so `k.now` advances inside the
 * batch), or to a sink that the caller charges to the worker task afterwards.
 *
 * Sizing (model switches, DESIGN.md rule 5): `kwq.vhost_workers` worker structs
 * (default 65536) and `kwq.vhost_works` works (default 1M): a large host (a thousand
 * VMs with a vhost-scsi device of 130 vqs each, or a worker per vq) fits without
 * flags. The capacity is address space, not RAM: arenas hand out never-used objects
 * from a bump pointer (assembly/arena.ts) and nothing touches the rest, and the JS
 * side tables below grow with use. A device open that finds the work arena full
 * fails with -ENOMEM (the kernel's kzalloc of the device); a worker creation that
 * finds no free worker struct fails like any other worker creation failure (-ENOMEM
 * from SET_OWNER / VHOST_NEW_WORKER).
 */
import { KwqError } from '../../kernel/error.js';
import { ENOMEM } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { SimThread } from '../../runtime/sim-thread.js';
import type { Tracepoint } from '../../kernel/trace.js';
import { Engine, readU64, vhostWorkerHasWork, type HostHandler, type ObjectArena, type VhostWorkerHandle, type WorkRef } from '../../wasm/engine.js';
import { VHOST_FN_HOST, VHOST_WORK, VHOST_WORKER } from '../../wasm/layout.js';
import { spinPerNs, VHOST_VQ, vqExports } from './vq-shared.js';
import { VhostThreads } from './vhost-threads.js';

/** A vhost_work owned by the driver: the Wasm work plus its JS function. */
export class VhostWork {
  /**
   * Three fields, 48 bytes with V8's 24-byte header. With 1,000 devices of 16 works each
   * the works of a round overflow L2 between queue and run, and each line a work spans
   * is a miss each time it is read (cachegrind, a 1 MB cache: 6.1 misses a work at 1,000
   * devices, 0 at 1; issue 10). So it is read as little as it can be: vhostWorkerQueueRef
   * queues by the Wasm node alone, an untraced run calls the fn from the engine's fns
   * and args arrays (a workAllocData work's fn is given its data, not the work), the
   * table index is derived from the node (VhostEngine.indexOf), the fn's name for
   * tracepoints is looked up when one fires (workFnName), and a flush's completion is
   * its data (VhostFlush), not a flags word on every work.
   */
  constructor(
    readonly ref: WorkRef,
    /** the handler: given the work (workAlloc, the kernel's vhost_work_fn_t) or its data (workAllocData) */
    readonly fn: VhostWorkFn,
    /** the object the fn works on (a vq, a VhostFlush, a device) */
    readonly data: unknown,
  ) {}

  /** the fn's name for tracepoints (Function.name is slow: looked up once per fn) */
  get fnName(): string {
    return workFnName(this.fn);
  }
}

/**
 * struct vhost_flush_struct without its work: the completion the flusher waits on
 * (the flush work's data), and whether the work frees itself when it runs (a flush
 * that could not wait for it).
 */
export class VhostFlush {
  done = false;
  freeOnRun = false;
}

/** a work's handler, called with the one argument its allocation named (the work, or its data) */
export type VhostWorkFn = (arg: never) => void;

const fnNames = new WeakMap<VhostWorkFn, string>();

function workFnName(fn: VhostWorkFn): string {
  let n = fnNames.get(fn);
  if (n === undefined) {
    n = fn.name || 'vhost_work';
    fnNames.set(fn, n);
  }
  return n;
}

/**
 * The flush work's fn (__vhost_worker_flush's vhost_flush_work: complete(&flush.wait_event)).
 * The dispatch runs it at a call site of its own, never through the handlers' `f(arg)`: every
 * SET_OWNER and most vring ioctls queue a flush, and once the handlers' call site
 * has seen this function beside a handler V8 makes it megamorphic (no inlining of any
 * handler). In the first kernel of a process the set-up flushes run before that site
 * collects feedback, so only a later kernel lost the inlining (with the stats reads of
 * runBatches: 29.5 -> 25.4 ns per work on a second kernel, a handler shared by both).
 */
export function flushWorkFn(flush: VhostFlush): void {
  flush.done = true; // complete(&flush.wait_event)
}

const engines = new WeakMap<Kernel, VhostEngine>();

export class VhostEngine {
  readonly engine: Engine;
  /** index -> work; grows as the arena's high-water mark does (dense: indices come out in order) */
  private readonly table: (VhostWork | null)[] = [];
  /**
   * index -> the work's fn and the argument it is called with (the work itself, or its
   * data: workAllocData), beside the table: the untraced run reads these two dense
   * arrays and not the VhostWork (issue 10: with 16,000 works a round the VhostWork
   * objects, 48 bytes each, were most of a work's cache misses at run time)
   */
  private readonly fns: (((arg: unknown) => void) | null)[] = [];
  private readonly args: unknown[] = [];
  /** worker struct indices given back; below `workerStructsUsed`, every index was handed out once */
  private readonly freeWorkerStructs: number[] = [];
  private workerStructsUsed = 0;
  private readonly workerStructCount: number;
  private readonly base: number;
  /** the sim thread whose body is running a worker batch now (charge() goes there) */
  private th: SimThread | null = null;
  /** virtual ns charged outside a thread body (the killed path's drain) */
  private sink = 0;
  /** a worker run is in progress on this thread (Engine.run is not re-entrant) */
  running = false;
  /** HOST works dispatched since boot (a statistic) */
  hostWorks = 0;
  /** per-work dispatch cost of the worker running now (its device's costs.workNs) */
  workNs = 0;
  /** the pid of the worker task running now (for the workqueue_execute_* tracepoints) */
  private pid = 0;
  readonly dispatch: HostHandler;
  /** this engine's vhost_worker_run, read once (a field of this object, not a load through exports) */
  private readonly runFn: (worker: number, out: number, cap: number, maxBatches: number) => number;
  /** workqueue_execute_start / _end, read once (dispatchWork runs per work) */
  private readonly tpStart: Tracepoint;
  private readonly tpEnd: Tracepoint;
  /**
   * The threads runtime's worker threads (vhost-threads.ts), or null in sim: then
   * every worker runs on the kernel's thread, as a sim thread body.
   */
  readonly threads: VhostThreads | null;
  /** vhost_vq structs (threads runtime: one per vq of every open device), from their arena */
  private vqArena: ObjectArena | null = null;
  /** cost-loop iterations per ns (threads runtime; vq-shared.ts spinPerNs) */
  readonly spinPerNs: number = 0;

  private constructor(
    readonly k: Kernel,
    workers: number,
    works: number,
  ) {
    const threaded = k.rt.kind === 'threads';
    const vqs = threaded ? (k.kwqSwitch('vhost_vqs') as number) : 0;
    const threadMax = threaded ? (k.kwqSwitch('vhost_threads') as number) : 0;
    this.engine = Engine.create({
      works, workers, counters: 8, slotBytes: 16 * 1024, syncWords: 4,
      // slot 0: this thread; in threads mode one per worker thread, and 8 for guest threads
      threadSlots: threaded ? 1 + threadMax + 8 : 8,
      arenas: threaded ? [{ name: 'vhost_vq', objSize: VHOST_VQ.SIZE, capacity: vqs + 1 }] : [],
    });
    if (threaded) {
      this.vqArena = this.engine.arena('vhost_vq');
      this.spinPerNs = spinPerNs(this.engine, this.vqArena.alloc()); // the calibration's scratch vq, kept (capacity vqs + 1)
    }
    this.threads = threaded ? new VhostThreads(k, this, this.engine) : null;
    this.base = this.engine.layout.works.base;
    this.workerStructCount = workers;
    this.tpStart = k.tp.workExecuteStart;
    this.tpEnd = k.tp.workExecuteEnd;
    this.dispatch = (ref, fn, arg) => this.dispatchWork(ref, fn, arg);
    this.runFn = this.engine.exports.vhost_worker_run;
  }

  /** Run one HOST work that came off a worker's list: its fn, its virtual cost, the tracepoints. */
  private dispatchWork(ref: WorkRef, fn: number, arg: number): void {
    const f = this.hostFn(ref, fn, arg);
    const w = this.table[arg]!;
    this.hostWorks++;
    this.charge(this.workNs);
    // name and ts first in the literal: fire(), emit() without the check (src/kernel/trace.ts)
    const start = this.tpStart;
    if (start.enabled) start.fire({ name: start.name, ts: start.now, pid: this.pid, work: w.ref, fn: w.fnName });
    const flush = f === flushWorkFn ? (this.args[arg] as VhostFlush) : null;
    if (flush !== null) flush.done = true; // flushWorkFn, inline (see there)
    else f(this.args[arg]);
    const end = this.tpEnd;
    if (end.enabled) end.fire({ name: end.name, ts: end.now, pid: this.pid, work: w.ref });
    if (flush?.freeOnRun === true) this.workFree(w);
  }

  /** dispatchWork while workqueue_execute_start and _end are both off: no event code, and no read of the VhostWork (see runBatches). */
  private dispatchUntraced(ref: WorkRef, fn: number, arg: number, th: SimThread | null): void {
    const f = this.hostFn(ref, fn, arg);
    this.hostWorks++;
    if (th !== null) th.costNs += this.workNs; // charge(), with the batch's thread in a register
    else this.sink += this.workNs;
    if (f === flushWorkFn) this.runFlush(arg);
    else f(this.args[arg]);
  }

  /** flushWorkFn at a call site of its own (see there), and the free of a flush that could not wait */
  private runFlush(index: number): void {
    const flush = this.args[index] as VhostFlush;
    flush.done = true; // complete(&flush.wait_event)
    if (flush.freeOnRun) this.workFree(this.table[index]!);
  }

  /** The fn of the driver work a HOST work's arg names (the table index). */
  private hostFn(ref: WorkRef, fn: number, arg: number): (arg: unknown) => void {
    const f = fn === VHOST_FN_HOST ? this.fns[arg] : null;
    if (f === null || f === undefined) throw new KwqError('vhost worker', `work ${ref} (fn ${fn}, arg ${arg}) is not a vhost driver work`);
    return f;
  }

  /** The kernel's vhost engine, created on first use. */
  static of(k: Kernel): VhostEngine {
    let ve = engines.get(k);
    if (ve === undefined) {
      const workers = k.kwqSwitch('vhost_workers') as number;
      const works = k.kwqSwitch('vhost_works') as number;
      ve = new VhostEngine(k, workers, works);
      engines.set(k, ve);
    }
    return ve;
  }

  /** The engine if one was created for `k` (inspection; no creation). */
  static peek(k: Kernel): VhostEngine | undefined {
    return engines.get(k);
  }

  /** vhost_work_init on a new work whose fn is given the work (vhost_work_fn_t): the work, or -ENOMEM when the arena is full. */
  workAlloc(fn: (w: VhostWork) => void, data: unknown): VhostWork | number {
    return this.alloc(fn, data, true);
  }

  /**
   * workAlloc for a fn that is given the work's data instead (what the kernel's handlers
   * get with container_of): a run then reads no JS object of the work. The drivers'
   * poll, completion and flush works are of this kind.
   */
  workAllocData<D>(fn: (data: D) => void, data: D): VhostWork | number {
    return this.alloc(fn, data, false);
  }

  private alloc(fn: VhostWorkFn, data: unknown, givenWork: boolean): VhostWork | number {
    const ref = this.engine.works.tryAlloc();
    if (ref < 0) return -ENOMEM;
    const index = (ref - this.base) / VHOST_WORK.SIZE;
    this.engine.works.init(ref as WorkRef, VHOST_FN_HOST, index, 0);
    const w = new VhostWork(ref as WorkRef, fn, data);
    // a never-used work's index is the table's length (the arena bumps in order): push keeps them dense
    while (this.table.length < index) {
      this.table.push(null);
      this.fns.push(null);
      this.args.push(null);
    }
    this.table[index] = w;
    this.fns[index] = fn as (arg: unknown) => void;
    this.args[index] = givenWork ? w : data;
    return w;
  }

  /** the work's slot in the table: its Wasm node's index in the work arena */
  indexOf(w: VhostWork): number {
    return (w.ref - this.base) / VHOST_WORK.SIZE;
  }

  /** Give a work back. It must not be queued (a queued work is on a worker's list). */
  workFree(w: VhostWork): void {
    const index = this.indexOf(w);
    if (this.table[index] !== w) return;
    if (this.engine.works.queued(w.ref)) throw new KwqError('vhost', `work ${w.ref} is freed while QUEUED`);
    this.table[index] = null;
    this.fns[index] = null;
    this.args[index] = null;
    this.engine.works.free(w.ref);
  }

  /** Works allocated now (inspection). */
  worksInUse(): number {
    let n = 0;
    for (const w of this.table) if (w !== null) n++;
    return n;
  }

  /** A zeroed vhost_worker struct: its handle, or -ENOMEM when all are in use. */
  workerStructAlloc(): VhostWorkerHandle | number {
    let i = this.freeWorkerStructs.pop();
    if (i === undefined) {
      if (this.workerStructsUsed === this.workerStructCount) return -ENOMEM;
      i = this.workerStructsUsed++;
    }
    const h = this.engine.worker(i);
    this.engine.exports.vhost_worker_init(h.offset);
    return h;
  }

  workerStructFree(h: VhostWorkerHandle): void {
    if (h.hasWork()) throw new KwqError('vhost', `vhost_worker struct ${h.index} is freed with works on its list`);
    this.freeWorkerStructs.push(h.index);
  }

  get workerStructsFree(): number {
    return this.freeWorkerStructs.length + this.workerStructCount - this.workerStructsUsed;
  }

  /** Add `ns` of virtual CPU time to whoever is running works now. */
  charge(ns: number): void {
    if (this.th !== null) this.th.costNs += ns;
    else this.sink += ns;
  }

  /**
   * Run up to `maxBatches` llist_del_all batches of `h` (all: until empty) on this
   * thread, charging handlers' time to `th` (a body) or to the sink. Returns
   * [works taken, ns charged to the sink].
   */
  runWorker(h: VhostWorkerHandle, th: SimThread | null, maxBatches: number, pid = 0): number {
    return this.runWorkerAt(h.offset, th, maxBatches, pid);
  }

  /** runWorker of the worker struct at `offset` (VhostWorkerHandle.offset; a worker's run does not touch the handle object) */
  runWorkerAt(offset: number, th: SimThread | null, maxBatches: number, pid = 0): number {
    if (this.running) throw new KwqError('vhost worker', 'a worker batch is already running on this thread (Engine.run is not re-entrant)');
    this.running = true;
    this.th = th;
    this.pid = pid;
    try {
      return this.runBatches(offset, maxBatches);
    } finally {
      this.running = false;
      this.th = null;
    }
  }

  /**
   * VhostWorkerHandle.run, with the per-work dispatch as a method call, in two loops.
   * Why not h.run(this.dispatch): a HostHandler is a closure per engine, so once a
   * second kernel has run works, that call site and the closure's `this` are
   * polymorphic and V8 stops specialising the per-work path. Why two loops: when the
   * per-work function holds the event code (object literals, emit, tp.now), V8's
   * inlining budget goes to it or to the dispatch depending on what the tracepoints
   * were when the loop was optimised, and either the untraced or the traced rate
   * dropped by a third from one run to the next. Tracing is checked per work, so a
   * listener a handler attaches or detaches mid-batch is honoured from the next work.
   */
  private runBatches(offset: number, maxBatches: number): number {
    const e = this.engine;
    const { out, outCap } = e.scratch;
    const u32 = e.u32;
    const start = this.tpStart;
    const end = this.tpEnd;
    // the statistics and the has-work check are memory reads (VhostWorkerHandle's, by the
    // struct's offset: the handle object is not touched, one cache line fewer per run
    // with a thousand workers): of the Wasm calls only vhost_worker_run is left per
    // batch (a call per kernel's instance)
    const items = (offset + VHOST_WORKER.ITEMS) >> 2;
    const batchesAt = (offset + VHOST_WORKER.BATCHES) >> 2;
    const itemsBefore = readU64(u32, items);
    let batchesSeen = readU64(u32, batchesAt);
    let left = maxBatches;
    for (;;) {
      const n = this.runFn(offset, out, outCap, left >>> 0);
      let i = 0;
      const th = this.th;
      for (; i < n && !start.enabled && !end.enabled; i++) {
        const w = u32[(out >> 2) + i]! as WorkRef;
        this.dispatchUntraced(w, u32[(w + VHOST_WORK.FN) >> 2]!, u32[(w + VHOST_WORK.ARG) >> 2]!, th);
      }
      if (i < n) this.dispatchFrom(out, i, n);
      const batches = readU64(u32, batchesAt);
      left -= batches - batchesSeen;
      batchesSeen = batches;
      // n == 0: nothing pending and (list empty or budget spent); n > 0: go on, the
      // pending chain first (handlers may have queued more: the next batch)
      if (n <= 0 && (left <= 0 || !this.hasWorkAt(offset))) break;
    }
    return readU64(u32, items) - itemsBefore;
  }

  /** VhostWorkerHandle.hasWork of the worker struct at `offset` (the handle object not touched). May be stale. */
  hasWorkAt(offset: number): boolean {
    return vhostWorkerHasWork(this.engine.u32, offset);
  }

  /** The rest of a batch with the tracepoints checked per work: out[from..n). */
  private dispatchFrom(out: number, from: number, n: number): void {
    const u32 = this.engine.u32;
    for (let i = from; i < n; i++) {
      const w = u32[(out >> 2) + i]! as WorkRef;
      this.dispatchWork(w, u32[(w + VHOST_WORK.FN) >> 2]!, u32[(w + VHOST_WORK.ARG) >> 2]!);
    }
  }

  /** A reset vhost_vq struct (threads runtime), or -ENOMEM when all are in use (kwq.vhost_vqs). */
  vqStructAlloc(): number {
    const vq = this.vqArena === null ? -ENOMEM : this.vqArena.tryAlloc();
    if (vq < 0) return -ENOMEM;
    vqExports(this.engine).vhost_vq_init(vq);
    return vq;
  }

  vqStructFree(vq: number): void {
    this.vqArena?.free(vq);
  }

  /**
   * Run what is left on a worker's list on this thread (threads runtime, after its
   * thread exited): built-ins in Wasm, HOST works through dispatch. Not while a
   * thread runs the worker (one consumer at a time).
   */
  runLeftovers(h: VhostWorkerHandle): number {
    if (this.running) return 0; // a batch is running on this thread: the struct keeps them (reported by workerStructFree)
    this.running = true;
    try {
      return h.run(this.dispatch);
    } finally {
      this.running = false;
    }
  }

  /** Take the time charged outside a body since the last call. */
  takeSink(): number {
    const s = this.sink;
    this.sink = 0;
    return s;
  }
}

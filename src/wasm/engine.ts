/**
 * The Engine: one shared WebAssembly.Memory, the compiled kwq.wasm, this thread's
 * instance, and the layout; typed handles over the Wasm structures so that nothing
 * outside src/wasm touches a raw offset.
 *
 * Who uses it and how (the kernel model and drivers create one Engine per Kernel):
 *
 * ```ts
 * const engine = Engine.create({ works: 4096, workers: 4, counters: 64 });
 * const w = engine.works.alloc();                       // a WorkRef (throws KwqError when full)
 * engine.works.init(w, VHOST_FN_COUNT, cgroupSlot, 1000);  // fn, arg, virtual cost (ns)
 * const worker = engine.worker(0);
 * worker.queue(w);                                      // 0 deduped, 1 added, 3 added + woke
 * worker.run(handler);                                  // sim: run until empty, HOST works -> handler
 * engine.counters.get(cgroupSlot);                      // 1
 * // real threads: src/runtime/threads.ts hands engine.transferable() to worker_threads
 * ```
 *
 * Every structure is sized once here (Engine.create): the memory has
 * initial == maximum pages. An arena that is full makes `alloc()` throw a KwqError
 * naming the arena and the option that sizes it; `tryAlloc()` returns -ENOMEM for
 * callers that model a kernel path returning -ENOMEM.
 *
 * Threads: the main thread uses scratch slot 0; worker threads attach with
 * `Engine.attach(t, slot)` (compiled JavaScript, e.g. under dist/) or through
 * src/wasm/thread.js (plain JavaScript, usable from worker files under vitest).
 * Handles use this thread's scratch slot for batch arrays, so a handle must not
 * be shared between threads (the memory is; the handle objects are per thread).
 */
import { randomInt } from 'node:crypto';
import { KwqError } from '../kernel/error.js';
import { ENOMEM } from '../kernel/errno.js';
import { compileKwq, createSharedMemory, instantiateKwq, type WasmFlavour } from './module.js';
import type { KwqExports } from './exports.js';
import {
  ARENA_HEADER_SIZE, CACHELINE, CTRL_ABI, CTRL_CANARY, CTRL_COUNTERS, CTRL_MAGIC, CTRL_NCOUNTERS, CTRL_TOTAL,
  KWQ_ABI_VERSION, KWQ_MAGIC, LayoutBuilder, VHOST_FN_HOST, VHOST_WORK, VHOST_WORKER, VHOST_WORKER_SLEEPING,
  VHOST_WORK_QUEUED, type ArenaLayout, type EngineLayout,
} from './layout.js';

export type { KwqExports } from './exports.js';

/** An allocated vhost_work, as an opaque handle (its offset; 0 is never one). */
export type WorkRef = number & { readonly __kwq: 'vhost_work' };
/** Runs one HOST work (fn >= VHOST_FN_HOST) on the thread that runs the worker. */
export type HostHandler = (work: WorkRef, fn: number, arg: number) => void;

export interface ArenaSpec {
  /** named in errors and looked up with engine.arena(name) */
  name: string;
  /** bytes per object: a multiple of 8, at least 8 (the free list uses the first u32) */
  objSize: number;
  capacity: number;
}

export interface EngineOptions {
  /** capacity of the vhost_work arena */
  works: number;
  /** number of vhost_worker structs */
  workers: number;
  /** per-cgroup counter slots (u64); default 64 */
  counters?: number;
  /** scratch slots, one per thread that calls into the engine (slot 0: this thread); default 8 */
  threadSlots?: number;
  /** bytes per scratch slot; default 64 KiB (a batch array holds (slotBytes - 64) / 8 refs) */
  slotBytes?: number;
  /** u32 words each on its own cache line, for start gates and completions; default 16 */
  syncWords?: number;
  /** extra fixed-size object arenas (rbtree nodes, loop workers, ...) */
  arenas?: ArenaSpec[];
  flavour?: WasmFlavour;
}

/** What worker_threads need to attach to the same engine (structured-cloneable). */
export interface EngineTransferable {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly layout: EngineLayout;
  readonly canary: number;
}

export interface VhostWorkerStats {
  /** works taken off the list (built-ins run + HOST works handed out) */
  items: number;
  /** non-empty llist_del_all calls */
  batches: number;
  /** times the worker slept */
  sleeps: number;
  /** summed virtual cost (ns) of the works taken */
  vcost: number;
  /** HOST works handed to JS handlers */
  hostItems: number;
  /** works taken with QUEUED already clear: a broken invariant, must stay 0 */
  violations: number;
  /** unknown built-in ids or out-of-range COUNT slots */
  badFn: number;
  /** notifies producers sent to wake this worker */
  wakeups: number;
}

const STATS_BYTES = 64;

function positiveInt(v: unknown, where: string, field: string, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new KwqError(where, `option ${field} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** Plan the layout for `opts` (pure: no memory yet). */
export function planLayout(opts: EngineOptions): EngineLayout {
  const where = 'Engine.create';
  if (typeof opts !== 'object' || opts === null) throw new KwqError(where, 'options must be an object { works, workers, ... }');
  const works = positiveInt(opts.works, where, 'works');
  const workers = positiveInt(opts.workers, where, 'workers', 0);
  const counters = positiveInt(opts.counters ?? 64, where, 'counters', 0);
  const threadSlots = positiveInt(opts.threadSlots ?? 8, where, 'threadSlots');
  const slotBytes = positiveInt(opts.slotBytes ?? 65536, where, 'slotBytes', 1024);
  if (slotBytes % CACHELINE) throw new KwqError(where, `option slotBytes must be a multiple of ${CACHELINE}, got ${slotBytes}`);
  const syncWords = positiveInt(opts.syncWords ?? 16, where, 'syncWords', 0);
  const b = new LayoutBuilder();
  const specs: ArenaSpec[] = [{ name: 'works', objSize: VHOST_WORK.SIZE, capacity: works }, ...(opts.arenas ?? [])];
  const names = new Set<string>();
  const headers = specs.map((s, i) => {
    const w = `${where}: arenas[${i - 1}]`;
    if (i > 0) {
      if (typeof s.name !== 'string' || !s.name) throw new KwqError(w, 'name must be a non-empty string');
      positiveInt(s.objSize, w, 'objSize', 8);
      if (s.objSize % 8) throw new KwqError(w, `objSize must be a multiple of 8, got ${s.objSize}`);
      positiveInt(s.capacity, w, 'capacity');
    }
    if (names.has(s.name)) throw new KwqError(w, `arena name ${JSON.stringify(s.name)} is used twice`);
    names.add(s.name);
    return b.region(`arena ${s.name} header`, ARENA_HEADER_SIZE);
  });
  const arenas: ArenaLayout[] = specs.map((s, i) => ({
    name: s.name, header: headers[i]!, base: b.region(`arena ${s.name}`, s.objSize * s.capacity, 8), objSize: s.objSize, capacity: s.capacity,
  }));
  const workersBase = b.region('vhost workers', VHOST_WORKER.SIZE * workers);
  const countersBase = b.region('counters', 8 * counters);
  const syncBase = b.region('sync words', CACHELINE * syncWords);
  const slotsBase = b.region('scratch slots', slotBytes * threadSlots);
  return {
    totalBytes: b.totalBytes,
    regions: [...b.regions],
    works: arenas[0]!,
    arenas: arenas.slice(1),
    workers: { base: workersBase, count: workers, stride: VHOST_WORKER.SIZE },
    counters: { base: countersBase, count: counters },
    sync: { base: syncBase, count: syncWords, stride: CACHELINE },
    slots: { base: slotsBase, count: threadSlots, bytes: slotBytes },
  };
}

/** A thread's scratch slot: stats snapshot, then a HOST-work out buffer, then a batch input array. */
export interface ScratchSlot {
  readonly index: number;
  readonly offset: number;
  readonly bytes: number;
  /** u32 array for HOST works handed out by vhost_worker_run */
  readonly out: number;
  readonly outCap: number;
  /** u32 array for batch inputs (queue_batch, free_batch, ...) */
  readonly input: number;
  readonly inputCap: number;
}

export function scratchSlot(layout: EngineLayout, index: number): ScratchSlot {
  const { base, count, bytes } = layout.slots;
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new KwqError('Engine.slot', `scratch slot ${index} does not exist: the engine has ${count} (option threadSlots)`);
  }
  const offset = base + index * bytes;
  const half = ((bytes - STATS_BYTES) >> 3) << 2; // bytes for one u32 array, 4-aligned
  return {
    index, offset, bytes,
    out: offset + STATS_BYTES, outCap: half >> 2,
    input: offset + STATS_BYTES + half, inputCap: half >> 2,
  };
}

export class Engine {
  readonly exports: KwqExports;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly scratch: ScratchSlot;
  readonly works: WorkArena;
  readonly counters: CounterSet;
  readonly sync: SyncWords;
  private readonly workerHandles: VhostWorkerHandle[] = [];
  private readonly arenaHandles = new Map<string, ObjectArena>();

  private constructor(
    readonly module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    readonly instance: WebAssembly.Instance,
    readonly layout: EngineLayout,
    readonly canary: number,
    slot: number,
  ) {
    this.exports = instance.exports as unknown as KwqExports;
    const buf = memory.buffer;
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    this.scratch = scratchSlot(layout, slot);
    this.works = new WorkArena(this, layout.works);
    for (const a of layout.arenas) this.arenaHandles.set(a.name, new ObjectArena(this, a));
    // worker handles are made on first use (worker()): a large host's engine has tens of thousands
    this.counters = new CounterSet(this);
    this.sync = new SyncWords(this);
  }

  /** Size the memory once from `opts`, write the control block + canary, instantiate, initialise every structure. */
  static create(opts: EngineOptions): Engine {
    const layout = planLayout(opts);
    const module = compileKwq(opts.flavour);
    const memory = createSharedMemory(layout.totalBytes);
    const u32 = new Uint32Array(memory.buffer);
    const canary = randomInt(1, 0xffff_ffff) >>> 0;
    u32[CTRL_MAGIC >> 2] = KWQ_MAGIC;
    u32[CTRL_ABI >> 2] = KWQ_ABI_VERSION;
    u32[CTRL_CANARY >> 2] = canary;
    u32[CTRL_TOTAL >> 2] = layout.totalBytes;
    u32[CTRL_COUNTERS >> 2] = layout.counters.base;
    u32[CTRL_NCOUNTERS >> 2] = layout.counters.count;
    const engine = Engine.instantiate({ module, memory, layout, canary }, 0, 'Engine.create');
    const x = engine.exports;
    if (x.vhost_work_size() !== VHOST_WORK.SIZE || x.vhost_worker_size() !== VHOST_WORKER.SIZE || x.arena_header_size() !== ARENA_HEADER_SIZE) {
      throw new KwqError('Engine.create', 'kwq.wasm struct sizes differ from src/wasm/layout.ts: rebuild with `npm run build:wasm`');
    }
    // arena_init touches no object and a new memory is zero, which is vhost_worker_init's
    // state (empty list, RUNNING, stats 0): nothing here writes the objects' pages, so a
    // large capacity costs address space, not RAM (only the pages used are backed)
    for (const a of [layout.works, ...layout.arenas]) x.arena_init(a.header, a.base, a.objSize, a.capacity);
    return engine;
  }

  /** In another thread (compiled JS): instantiate over the same memory, using scratch slot `slot`. */
  static attach(t: EngineTransferable, slot: number): Engine {
    return Engine.instantiate(t, slot, 'Engine.attach');
  }

  private static instantiate(t: EngineTransferable, slot: number, where: string): Engine {
    const instance = instantiateKwq(t.module, t.memory);
    const engine = new Engine(t.module, t.memory, instance, t.layout, t.canary, slot);
    if (!engine.checkCanary()) {
      throw new KwqError(where, 'the control block canary changed during instantiation: the module rewrote shared memory (run the module guard)');
    }
    if (engine.exports.kwq_control_ok() !== 1) {
      throw new KwqError(where, `kwq.wasm ABI ${engine.exports.kwq_abi_version()} does not match the host's ${KWQ_ABI_VERSION}: rebuild`);
    }
    return engine;
  }

  /** True iff the canary word is the one written at create (no instantiation clobbered shared state). */
  checkCanary(): boolean {
    return Atomics.load(this.u32, CTRL_CANARY >> 2) === this.canary && this.u32[CTRL_MAGIC >> 2] === KWQ_MAGIC;
  }

  transferable(): EngineTransferable {
    return { module: this.module, memory: this.memory, layout: this.layout, canary: this.canary };
  }

  worker(index: number): VhostWorkerHandle {
    let h = this.workerHandles[index];
    if (h) return h;
    const count = this.layout.workers.count;
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new KwqError('Engine.worker', `vhost worker ${index} does not exist: the engine has ${count} (option workers)`);
    // fill up to index so that the array stays dense (no holes: V8 keeps it fast)
    for (let i = this.workerHandles.length; i <= index; i++) this.workerHandles.push(new VhostWorkerHandle(this, i));
    h = this.workerHandles[index]!;
    return h;
  }

  get workerCount(): number {
    return this.layout.workers.count;
  }

  arena(name: string): ObjectArena {
    const a = this.arenaHandles.get(name);
    if (!a) throw new KwqError('Engine.arena', `no arena named ${JSON.stringify(name)}; configured: ${[...this.arenaHandles.keys()].join(', ') || 'none'} (option arenas)`);
    return a;
  }

  /** Scratch slot `index` (the threads runtime gives one to each thread). */
  slot(index: number): ScratchSlot {
    return scratchSlot(this.layout, index);
  }

  /** Copy refs into this thread's batch input array; returns its offset. */
  stageInput(refs: ArrayLike<number>, from: number, n: number): number {
    const at = this.scratch.input >> 2;
    const u32 = this.u32;
    // a Uint32Array goes in with one set() (a memcpy): element by element from JS cost
    // ~1.5 ns a ref, 15 % of the loop dispatch of a root-queue command
    if (refs instanceof Uint32Array) u32.set(refs.subarray(from, from + n), at);
    else for (let i = 0; i < n; i++) u32[at + i] = refs[from + i]!;
    return this.scratch.input;
  }
}

/** A fixed-size object arena (assembly/arena.ts). Objects are offsets; 0 is never one. */
export class ObjectArena {
  constructor(protected readonly engine: Engine, readonly layout: ArenaLayout) {}

  get name(): string {
    return this.layout.name;
  }

  get capacity(): number {
    return this.layout.capacity;
  }

  /** An object, or -ENOMEM when the arena is exhausted (for kernel paths that return -ENOMEM). */
  tryAlloc(): number {
    const p = this.engine.exports.arena_alloc(this.layout.header);
    return p === 0 ? -ENOMEM : p;
  }

  /** An object; throws a KwqError naming the arena and how to size it when it is exhausted. */
  alloc(): number {
    const p = this.engine.exports.arena_alloc(this.layout.header);
    if (p === 0) throw this.exhausted(1);
    return p;
  }

  /** Fill out[0..n) with n objects, or throw (having allocated nothing) if fewer are free. */
  allocBatch(out: Uint32Array | number[], n: number = out.length): void {
    const e = this.engine;
    let done = 0;
    while (done < n) {
      const chunk = Math.min(n - done, e.scratch.inputCap);
      const got = e.exports.arena_alloc_batch(this.layout.header, e.scratch.input, chunk);
      const at = e.scratch.input >> 2;
      for (let i = 0; i < got; i++) out[done + i] = e.u32[at + i]!;
      done += got;
      if (got < chunk) {
        this.freeBatch(out, 0, done); // a rejected call changes nothing
        throw this.exhausted(n);
      }
    }
  }

  /** True iff `p` is an object of this arena (in range and aligned; says nothing about whether it is allocated). */
  contains(p: number): boolean {
    const { base, objSize, capacity } = this.layout;
    return Number.isInteger(p) && p >= base && p < base + objSize * capacity && (p - base) % objSize === 0;
  }

  free(p: number): void {
    this.check(p, 'free');
    this.engine.exports.arena_free(this.layout.header, p);
  }

  /** Free refs[from..from+n) with one cmpxchg per chunk. */
  freeBatch(refs: ArrayLike<number>, from = 0, n: number = refs.length - from): void {
    const e = this.engine;
    for (let i = 0; i < n; i++) this.check(refs[from + i]!, 'freeBatch');
    for (let done = 0; done < n;) {
      const chunk = Math.min(n - done, e.scratch.inputCap);
      e.exports.arena_free_batch(this.layout.header, e.stageInput(refs, from + done, chunk), chunk);
      done += chunk;
    }
  }

  /** Free objects, by walking the list: only while no other thread uses the arena. */
  countFree(): number {
    return this.engine.exports.arena_count_free(this.layout.header);
  }

  /** Objects handed out at least once since init (the pages backed so far). May be stale. */
  highWater(): number {
    return this.engine.exports.arena_high_water(this.layout.header);
  }

  protected check(p: number, op: string): void {
    if (!this.contains(p)) {
      throw new KwqError(`arena ${this.layout.name}.${op}`, `${p} is not an object of this arena (objects ${this.layout.base}..${this.layout.base + this.layout.objSize * (this.layout.capacity - 1)}, ${this.layout.objSize} bytes apart)`);
    }
  }

  private exhausted(n: number): KwqError {
    const opt = this.layout.name === 'works' ? 'the `works` option' : `arenas[{ name: '${this.layout.name}' }].capacity`;
    return new KwqError(`arena ${this.layout.name}.alloc`, `cannot allocate ${n} object(s): the arena (capacity ${this.layout.capacity}) is exhausted; size it with ${opt} of Engine.create`);
  }
}

/** The vhost_work arena, with field access for works. */
export class WorkArena extends ObjectArena {
  override alloc(): WorkRef {
    return super.alloc() as WorkRef;
  }

  /** vhost_work_init: QUEUED clear, fn, arg, virtual cost (ns); owner/seq/result 0. */
  init(w: WorkRef, fn: number, arg = 0, costNs = 0): void {
    this.check(w, 'init');
    if (!Number.isInteger(fn) || fn < 0 || (fn > 5 && fn < VHOST_FN_HOST) || fn > 0xffff_ffff) {
      throw new KwqError('works.init', `work function ${fn} does not exist: built-ins are 0 NOOP, 1 SPIN, 2 COUNT, 3 COMPLETE, 4 VQ_HANDLE, 5 VQ_COMPLETE (arg: a vhost_vq, assembly/vhost_vq.ts); host handlers use ids >= ${VHOST_FN_HOST}`);
    }
    this.engine.exports.vhost_work_init(w, fn >>> 0, arg >>> 0, costNs >>> 0);
  }

  /** The host's words: owner and seq (free for the caller to use). */
  setTag(w: WorkRef, owner: number, seq: number): void {
    const u = this.engine.u32;
    u[(w + VHOST_WORK.OWNER) >> 2] = owner;
    u[(w + VHOST_WORK.SEQ) >> 2] = seq;
  }

  owner(w: WorkRef): number { return this.engine.u32[(w + VHOST_WORK.OWNER) >> 2]!; }
  seq(w: WorkRef): number { return this.engine.u32[(w + VHOST_WORK.SEQ) >> 2]!; }
  fn(w: WorkRef): number { return this.engine.u32[(w + VHOST_WORK.FN) >> 2]!; }
  arg(w: WorkRef): number { return this.engine.u32[(w + VHOST_WORK.ARG) >> 2]!; }
  cost(w: WorkRef): number { return this.engine.u32[(w + VHOST_WORK.COST) >> 2]!; }
  /** The result word (SPIN's value, COMPLETE's flag). May be stale. */
  result(w: WorkRef): number { return Atomics.load(this.engine.u32, (w + VHOST_WORK.RESULT) >> 2); }
  /** test_bit(VHOST_WORK_QUEUED). May be stale. */
  queued(w: WorkRef): boolean { return this.engine.exports.test_bit(VHOST_WORK_QUEUED, w + VHOST_WORK.FLAGS) === 1; }
  /** The flags word (bit 1 = QUEUED). May be stale. */
  flags(w: WorkRef): number { return Atomics.load(this.engine.u32, (w + VHOST_WORK.FLAGS) >> 2); }
}

/** One vhost_worker struct (assembly/vhost.ts): queueing, running (sim), stopping, stats. */
export class VhostWorkerHandle {
  readonly offset: number;
  constructor(private readonly engine: Engine, readonly index: number) {
    this.offset = engine.layout.workers.base + index * engine.layout.workers.stride;
  }

  /** vhost_worker_queue: 0 = already queued (nothing added, no wake-up), 1 = added, 3 = added and woke the worker. */
  queue(w: WorkRef): number {
    return this.engine.exports.vhost_worker_queue(this.offset, w);
  }

  /** Queue refs[from..from+n) in order (one Wasm call per scratch-sized chunk); returns how many were added. */
  queueBatch(refs: ArrayLike<number>, from = 0, n: number = refs.length - from): number {
    const e = this.engine;
    let added = 0;
    for (let done = 0; done < n;) {
      const chunk = Math.min(n - done, e.scratch.inputCap);
      added += e.exports.vhost_work_queue_batch(this.offset, e.stageInput(refs, from + done, chunk), chunk);
      done += chunk;
    }
    return added;
  }

  /**
   * A ring producer's batch (vhost_work_queue_batch_ordered): queue refs[from..from+n)
   * in order, one llist_add_batch per scratch-sized chunk, stopping before the first
   * work still QUEUED (it has not run since it was last queued; it is not touched).
   * Returns how many were queued, all added: refs[from + returned] is the one to wait for.
   * `perWork`: one vhost_worker_queue per work instead (vhost_worker_queue_each_ordered).
   */
  queueOrdered(refs: ArrayLike<number>, from = 0, n: number = refs.length - from, perWork = false): number {
    const e = this.engine;
    const queue = perWork ? e.exports.vhost_worker_queue_each_ordered : e.exports.vhost_work_queue_batch_ordered;
    let done = 0;
    while (done < n) {
      const chunk = Math.min(n - done, e.scratch.inputCap);
      const got = queue(this.offset, e.stageInput(refs, from + done, chunk), chunk);
      done += got;
      if (got < chunk) break;
    }
    return done;
  }

  /**
   * Run without sleeping on this thread (the sim runtime): built-ins inline, HOST
   * works through `handler` in FIFO order, until the list is empty or `maxBatches`
   * llist_del_all batches were taken. Returns the number of works taken.
   * Only one thread may run a worker at a time, and `run` is not re-entrant on
   * one thread (a handler must not call run() itself: the out buffer is shared).
   */
  run(handler?: HostHandler, maxBatches = 0xffff_ffff): number {
    const e = this.engine;
    const x = e.exports;
    const { out, outCap } = e.scratch;
    const itemsBefore = this.itemsTaken();
    let batchesSeen = this.batchesTaken();
    let left = maxBatches;
    const u32 = e.u32;
    for (;;) {
      const n = x.vhost_worker_run(this.offset, out, outCap, left >>> 0);
      if (n > 0 && !handler) {
        throw new KwqError(`vhost worker ${this.index}.run`, `${n} HOST work(s) (fn >= ${VHOST_FN_HOST}) came off the list but no handler was given; they were dropped`);
      }
      for (let i = 0; i < n; i++) {
        const w = u32[(out >> 2) + i]! as WorkRef;
        handler!(w, u32[(w + VHOST_WORK.FN) >> 2]!, u32[(w + VHOST_WORK.ARG) >> 2]!);
      }
      const batches = this.batchesTaken();
      left -= batches - batchesSeen;
      batchesSeen = batches;
      // n == 0: nothing pending and (list empty or budget spent); n > 0: go on, the
      // pending chain first (handlers may have queued more: the next batch)
      if (n <= 0 && (left <= 0 || !this.hasWork())) break;
    }
    return this.itemsTaken() - itemsBefore;
  }

  /*
   * The reads below are of plain memory words, not Wasm calls: with several engines
   * in a process (a kernel each) every Wasm export is a different function per
   * instance, so a shared call site is megamorphic and each call costs ~4 ns more
   * than the inlined one a single engine gets (V8 inlines a JS-to-Wasm call only for
   * a known target). The sim runtime makes these reads after every batch.
   */

  /** Works taken so far: the u64 ITEMS statistic (vhost_worker_run's). The running thread's value may be stale. */
  itemsTaken(): number {
    return readU64(this.engine.u32, (this.offset + VHOST_WORKER.ITEMS) >> 2);
  }

  /** Non-empty llist_del_all batches taken so far (BATCHES, u64). The running thread's value may be stale. */
  batchesTaken(): number {
    return readU64(this.engine.u32, (this.offset + VHOST_WORKER.BATCHES) >> 2);
  }

  /** A pending chain or a non-empty list (vhost_worker_has_work, read here). May be stale. */
  hasWork(): boolean {
    return vhostWorkerHasWork(this.engine.u32, this.offset);
  }

  /** The worker said it is asleep. May be stale. */
  get sleeping(): boolean {
    return Atomics.load(this.engine.u32, (this.offset + VHOST_WORKER.STATE) >> 2) === VHOST_WORKER_SLEEPING;
  }

  /** Set the stop flag and wake the worker thread (it returns before its next batch). */
  stop(): void {
    this.engine.exports.vhost_worker_stop(this.offset);
  }

  clearStop(): void {
    this.engine.exports.vhost_worker_clear_stop(this.offset);
  }

  /**
   * How far the worker thread's idle re-check budget may shrink (spin >> floor; 0 keeps
   * it fixed). ThreadRuntime sets 6 while it runs more busy threads than there are CPUs.
   */
  setSpinFloor(floor: number): void {
    this.engine.exports.vhost_worker_set_spin_floor(this.offset, floor);
  }

  stats(): VhostWorkerStats {
    const e = this.engine;
    e.exports.vhost_worker_stats(this.offset, e.scratch.offset);
    const f = e.f64;
    const at = e.scratch.offset >> 3;
    return {
      items: f[at]!, batches: f[at + 1]!, sleeps: f[at + 2]!, vcost: f[at + 3]!,
      hostItems: f[at + 4]!, violations: f[at + 5]!, badFn: f[at + 6]!, wakeups: f[at + 7]!,
    };
  }

  /**
   * vhost_worker_flush for a worker run by a thread: queue a COMPLETE work and wait
   * (Atomics.waitAsync: the main thread never blocks) until the worker ran it, i.e.
   * until every work queued before it has run. Resolves false on timeout (the
   * flush work is then left to the worker and not freed).
   */
  async flush(timeoutMs = Infinity): Promise<boolean> {
    const e = this.engine;
    const w = e.works.alloc();
    e.works.init(w, 3 /* VHOST_FN_COMPLETE */);
    const idx = (w + VHOST_WORK.RESULT) >> 2;
    this.queue(w);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(e.i32, idx) === 0) { // pairs with the COMPLETE built-in's store + notify
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const r = Atomics.waitAsync(e.i32, idx, 0, Number.isFinite(left) ? left : undefined);
      if (r.async) await r.value;
    }
    e.works.free(w);
    return true;
  }
}

/**
 * vhost_worker_has_work read from memory: a pending chain or a non-empty list at the
 * worker struct `offset`. May be stale: the pending chain is the consumer's;
 * llist_empty's load pairs with llist_add's cmpxchg.
 */
export function vhostWorkerHasWork(u32: Uint32Array, offset: number): boolean {
  return u32[(offset + VHOST_WORKER.PENDING) >> 2] !== 0 || Atomics.load(u32, (offset + VHOST_WORKER.LIST) >> 2) !== 0;
}

/**
 * A u64 statistic at u32 index `at` (little-endian), exact below 2^53 as
 * vhost_worker_stats's f64. Another thread may be writing it (threads runtime): the
 * high word is read again so that a carry between the two reads is not torn. May be stale.
 */
export function readU64(u32: Uint32Array, at: number): number {
  let hi = u32[at + 1]!;
  for (;;) {
    const lo = u32[at]!;
    const again = u32[at + 1]!;
    if (again === hi) return lo + hi * 0x1_0000_0000;
    hi = again;
  }
}

/** Per-cgroup counter slots (u64), read in batch. */
export class CounterSet {
  constructor(private readonly engine: Engine) {}

  get count(): number {
    return this.engine.layout.counters.count;
  }

  add(slot: number, delta: number): void {
    if (this.engine.exports.counter_add32(slot >>> 0, delta >>> 0) !== 0) {
      throw new KwqError('counters.add', `counter slot ${slot} does not exist: the engine has ${this.count} (option counters)`);
    }
  }

  /**
   * Slots first..first+n-1 into out (exact below 2^53); one Wasm call per scratch
   * chunk. Uses the batch input area, never the HOST-work out buffer, so a HOST
   * handler may call it while its worker runs. May be stale.
   */
  snapshot(first = 0, n = this.count - first, out: Float64Array = new Float64Array(n)): Float64Array {
    const e = this.engine;
    const max = e.scratch.inputCap >> 1;
    const dst = e.scratch.input;
    for (let done = 0; done < n;) {
      const chunk = Math.min(n - done, max);
      if (e.exports.counters_snapshot(first + done, chunk, dst) < 0) {
        throw new KwqError('counters.snapshot', `slots ${first}..${first + n - 1} are out of range: the engine has ${this.count}`);
      }
      out.set(e.f64.subarray(dst >> 3, (dst >> 3) + chunk), done);
      done += chunk;
    }
    return out;
  }

  get(slot: number): number {
    const e = this.engine;
    const dst = e.scratch.offset; // the stats area: read back at once
    if (e.exports.counters_snapshot(slot >>> 0, 1, dst) < 0) {
      throw new KwqError('counters.get', `counter slot ${slot} does not exist: the engine has ${this.count}`);
    }
    return e.f64[dst >> 3]!;
  }

  reset(first = 0, n = this.count - first): void {
    if (this.engine.exports.counters_reset(first, n) < 0) {
      throw new KwqError('counters.reset', `slots ${first}..${first + n - 1} are out of range: the engine has ${this.count}`);
    }
  }
}

/** u32 words on their own cache lines, for gates, barriers and completions across threads. */
export class SyncWords {
  constructor(private readonly engine: Engine) {}

  get count(): number {
    return this.engine.layout.sync.count;
  }

  /** The Int32Array index of word i (for Atomics on engine.i32). */
  index(i: number): number {
    const { base, count, stride } = this.engine.layout.sync;
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new KwqError('sync', `sync word ${i} does not exist: the engine has ${count} (option syncWords)`);
    return (base + i * stride) >> 2;
  }

  load(i: number): number { return Atomics.load(this.engine.i32, this.index(i)); }
  store(i: number, v: number): void { Atomics.store(this.engine.i32, this.index(i), v); }
  add(i: number, v: number): number { return Atomics.add(this.engine.i32, this.index(i), v); }
  notify(i: number, count = Infinity): number { return Atomics.notify(this.engine.i32, this.index(i), count); }

  /** Resolve once word i != expected (never blocks this thread). */
  async waitWhile(i: number, expected: number, timeoutMs = Infinity): Promise<boolean> {
    const idx = this.index(i);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(this.engine.i32, idx) === expected) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const r = Atomics.waitAsync(this.engine.i32, idx, expected, Number.isFinite(left) ? left : undefined);
      if (r.async) await r.value;
    }
    return true;
  }
}

/**
 * The `threads` runtime piece: real worker_threads running the Wasm vhost worker
 * loops over the Engine's shared structures, and producer threads queueing to them.
 *
 * ```ts
 * const rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0 }] });
 * const reports = await rt.produce([{ worker: 0, works, mode: 'batch', batch: 256 }], { durationMs: 500 });
 * await rt.drain();              // every queued work has run
 * await rt.stop();               // stop flags, threads exit; rt.threadCount === 0
 * ```
 *
 * The main thread never blocks: it waits with Atomics.waitAsync and message
 * events. Worker threads block in memory.atomic.wait32 (vhost_worker_loop) or
 * Atomics.wait (the start gate). Each thread gets its own scratch slot (1..N;
 * slot 0 is the main thread's), released when the thread exits.
 *
 * stop() is vhost_task_stop: it sets the stop flag and wakes the worker, which
 * returns before its next batch, so works still queued stay queued (the kernel
 * flushes before it stops; call drain() first for the same effect).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KwqError } from '../kernel/error.js';
import type { Engine, WorkRef } from '../wasm/engine.js';

export interface VhostWorkerThreadSpec {
  /** index of the vhost_worker struct this thread runs */
  worker: number;
  /**
   * empty-list re-checks before sleeping (default DEFAULT_WORKER_SPIN: about 0.1 ms
   * here; vhost_worker_spin times one check)
   */
  spin?: number;
  /**
   * URL (string) of an ES module whose default export `(ctx, options) => handler`
   * builds the HOST-work handler in the thread; it may export `report()`, whose
   * result comes back from stop(). Must be JavaScript (Node 20).
   */
  handler?: string;
  handlerOptions?: Record<string, unknown>;
}

/**
 * Empty-list re-checks a worker thread makes before it sleeps when no `spin` is
 * given: one check costs about 1 ns here (vhost_worker_spin times it), so this is
 * about 0.1 ms: longer than a sleep + wake-up costs (36-48 us, wasm-notes.md) and
 * than a producer's timed yield lasts (RingWait.sleepUs + ~50 us of timer slack).
 * The old default (2000 checks, ~2 us) made the worker sleep thousands of times a
 * second between bursts, each wake-up costing a producer a notify and the worker
 * ~40 us.
 */
export const DEFAULT_WORKER_SPIN = 100_000;
/** the workers' spin floor while produce() runs more busy threads than CPUs: the idle spin may shrink to spin/64 */
export const SPIN_FLOOR_OVERSUBSCRIBED = 6;

/**
 * How a producer thread queues its works:
 * - 'batch': vhost_work_queue_batch, `batch` works per call, cycling over the
 *   pool and skipping (re-testing) the ones still queued;
 * - 'each': vhost_worker_queue per work, the same way;
 * - 'ring-batch': the pool is a ring: vhost_work_queue_batch_ordered queues up to
 *   `batch` works in ring order with one llist_add_batch and stops at the first
 *   one still queued, which the producer then waits for (read-only spin, then a
 *   timed yield; see `wait`, and `wait.resume` for a burst producer) before going on;
 * - 'ring-each': the same with one vhost_worker_queue per work
 *   (vhost_worker_queue_each_ordered): a producer that keeps re-queuing its works;
 * - 'sequence': see src/runtime/worker.js (stress: owner + sequence stamps).
 */
export type ProducerMode = 'batch' | 'each' | 'ring-batch' | 'ring-each' | 'sequence';
const PRODUCER_MODES: readonly ProducerMode[] = ['batch', 'each', 'ring-batch', 'ring-each', 'sequence'];

/**
 * How a ring producer waits for its next work to be idle (vhost_work_wait_idle):
 * it spins `spin` read-only checks, then sleeps `sleepUs`. The spin adapts: it
 * doubles (up to `spin`) after a wait that ended within the spin and halves (down
 * to `minSpin`) after one that had to sleep, so a producer whose worker is not
 * running (another thread holds its CPU) yields after `minSpin`, and one whose
 * work comes back within microseconds keeps spinning instead of paying a sleep.
 */
export interface RingWait {
  /** most read-only checks before a sleep (default 100_000: about 40 us here, ~0.4 ns each) */
  spin?: number;
  /**
   * fewest checks the adaptation goes down to (default 25_000: about 10 us). Keep it
   * above the time the worker needs to run the works queued ahead of the one waited
   * for: a spin only grows after a wait that ended within it, so a floor shorter than
   * that never grows again and turns every wait into a timed yield (~90 us here).
   */
  minSpin?: number;
  /** length of one timed yield, microseconds (default 20; Linux adds ~50 us of timer slack) */
  sleepUs?: number;
  /**
   * how many works from the first one still queued must be idle before the
   * producer goes on (default 1: re-queue each work as soon as it has run; a
   * burst producer sets its burst size, so that it goes on with a whole burst
   * instead of trailing the worker a few works at a time). At most `batch`.
   */
  resume?: number;
}

export interface ProducerThreadSpec {
  worker: number;
  /** the works this producer owns (allocated and initialised by the caller) */
  works: readonly WorkRef[];
  /** 'batch': vhost_work_queue_batch; 'each': vhost_worker_queue per work; 'sequence': see worker.js */
  mode: ProducerMode;
  /** works per Wasm call (default: all) */
  batch?: number;
  /** stop after this many works were added (default: until the duration ends) */
  count?: number;
  /** written into each work's owner word in 'sequence' mode */
  owner?: number;
  /** ring modes: how to wait for the next work */
  wait?: RingWait;
}

export interface ProducerReport {
  worker: number;
  added: number;
  attempted: number;
  calls: number;
  ms: number;
  violations?: number;
  /** ring modes: times the producer found its next work still queued, and sleeps while waiting */
  waits?: number;
  sleeps?: number;
  /** this thread's CPU ms and ms spent waiting for a CPU while producing (Linux only) */
  cpu?: ThreadCpu;
  canaryOk: boolean;
}

/** From /proc/thread-self/schedstat: CPU time used, and time runnable but waiting for a CPU. */
export interface ThreadCpu {
  ms: number;
  queueMs: number;
}

export interface WorkerThreadReport {
  worker: number;
  hostRuns: number;
  handler?: unknown;
  /** CPU ms and ms waiting for a CPU over the thread's whole run (Linux only) */
  cpu?: ThreadCpu;
  canaryOk: boolean;
}

interface Thread {
  readonly w: Worker;
  readonly slot: number;
  readonly done: Promise<unknown>;
  readonly exited: Promise<number>;
  readonly ready: Promise<void>;
  readonly worker?: number;
  /** the Linux thread id, from the thread's ready message (undefined elsewhere, or before) */
  tid?: number;
}

/** One worker thread started by ThreadRuntime.addWorker. */
export interface WorkerThread {
  readonly worker: number;
  /** resolves once the thread attached (canary checked); rejects if it failed to */
  readonly ready: Promise<void>;
  /** resolves with the exit code once the thread is gone (its scratch slot is free again) */
  readonly exited: Promise<number>;
  /** the Linux thread id (for /proc/self/task/<tid>/schedstat) once ready, else undefined */
  tid(): number | undefined;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

export class ThreadRuntime {
  private readonly live = new Set<Worker>();
  private readonly freeSlots: number[] = [];
  private readonly workerThreads: Thread[] = [];
  private stopped = false;
  private readonly gateWord: number;
  private readonly stopWord: number;

  private constructor(private readonly engine: Engine) {
    const slots = engine.layout.slots.count;
    for (let s = slots - 1; s >= 1; s--) this.freeSlots.push(s);
    if (engine.sync.count < 2) throw new KwqError('ThreadRuntime.start', 'the engine needs at least 2 sync words (option syncWords)');
    this.gateWord = 0;
    this.stopWord = 1;
  }

  /** Start one thread per spec running its vhost worker loop; resolves once all are attached. */
  static async start(engine: Engine, opts: { workers: VhostWorkerThreadSpec[] }): Promise<ThreadRuntime> {
    const rt = new ThreadRuntime(engine);
    const seen = new Set<number>();
    for (const [i, spec] of opts.workers.entries()) {
      engine.worker(spec.worker); // throws for a worker that does not exist
      if (seen.has(spec.worker)) throw new KwqError(`ThreadRuntime.start: workers[${i}]`, `vhost worker ${spec.worker} is given twice: one thread per worker (the single consumer)`);
      seen.add(spec.worker);
    }
    if (opts.workers.length > rt.freeSlots.length) {
      throw new KwqError('ThreadRuntime.start', `${opts.workers.length} threads need ${opts.workers.length} scratch slots; the engine has ${rt.freeSlots.length} free (option threadSlots)`);
    }
    try {
      for (const spec of opts.workers) {
        engine.worker(spec.worker).clearStop();
        const t = rt.spawn({ role: 'vhost-worker', worker: spec.worker, spin: spec.spin ?? DEFAULT_WORKER_SPIN, handler: spec.handler, handlerOptions: spec.handlerOptions });
        rt.workerThreads.push(t);
      }
      await Promise.all(rt.workerThreads.map((t) => t.ready));
    } catch (e) {
      await rt.stop().catch(() => undefined);
      throw e;
    }
    return rt;
  }

  /**
   * An empty runtime: worker threads are then started one at a time with
   * addWorker() and stopped with stopWorker() (the vhost driver starts one per
   * vhost_worker when the worker is created).
   */
  static create(engine: Engine): ThreadRuntime {
    return new ThreadRuntime(engine);
  }

  /**
   * Start one worker thread running vhost worker `spec.worker` now: the Worker is
   * constructed before this returns (works queued meanwhile wait on the list and
   * run once the loop starts). Throws a KwqError if that worker already has a
   * thread, the runtime was stopped, or no scratch slot is free (option threadSlots).
   */
  addWorker(spec: VhostWorkerThreadSpec): WorkerThread {
    if (this.stopped) throw new KwqError('ThreadRuntime.addWorker', 'the runtime was stopped');
    this.engine.worker(spec.worker); // throws for a worker that does not exist
    if (this.workerThreads.some((t) => t.worker === spec.worker)) {
      throw new KwqError('ThreadRuntime.addWorker', `vhost worker ${spec.worker} already has a thread (the single consumer)`);
    }
    if (this.freeSlots.length === 0) {
      throw new KwqError('ThreadRuntime.addWorker', `no free scratch slot for another thread (option threadSlots: ${this.engine.layout.slots.count})`);
    }
    this.engine.worker(spec.worker).clearStop();
    const t = this.spawn({ role: 'vhost-worker', worker: spec.worker, spin: spec.spin ?? DEFAULT_WORKER_SPIN, handler: spec.handler, handlerOptions: spec.handlerOptions });
    this.workerThreads.push(t);
    return { worker: spec.worker, ready: t.ready, exited: t.exited, tid: () => t.tid };
  }

  /**
   * vhost_task_stop for one worker thread: set its stop flag, wake it, and resolve
   * with its report once it exited (works still queued stay queued: flush first).
   * A thread that does not exit within `timeoutMs` is terminated and the promise
   * rejects with a KwqError.
   */
  async stopWorker(worker: number, timeoutMs = 10_000): Promise<WorkerThreadReport> {
    const i = this.workerThreads.findIndex((t) => t.worker === worker);
    if (i < 0) throw new KwqError('ThreadRuntime.stopWorker', `vhost worker ${worker} has no thread`);
    const t = this.workerThreads[i]!;
    this.engine.worker(worker).stop();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      t.exited.then(() => false),
      new Promise<boolean>((res) => { timer = setTimeout(() => res(true), timeoutMs); }),
    ]);
    if (timer) clearTimeout(timer);
    const j = this.workerThreads.indexOf(t);
    if (j >= 0) this.workerThreads.splice(j, 1);
    if (timedOut) {
      await t.w.terminate();
      throw new KwqError('ThreadRuntime.stopWorker', `the thread of vhost worker ${worker} did not exit within ${timeoutMs} ms and was terminated`);
    }
    return (await t.done.catch((e: Error) => ({ worker, hostRuns: 0, canaryOk: false, error: e.message }))) as WorkerThreadReport;
  }

  /** Scratch slots free for more threads. */
  get freeSlotCount(): number {
    return this.freeSlots.length;
  }

  /** Threads alive now (worker loops and producers). */
  get threadCount(): number {
    return this.live.size;
  }

  private spawn(data: Record<string, unknown>): Thread {
    const slot = this.freeSlots.pop();
    if (slot === undefined) throw new KwqError('ThreadRuntime', `no free scratch slot for another thread (option threadSlots: ${this.engine.layout.slots.count})`);
    // a Worker inherits execArgv, but --input-type (node -e scripts) is refused for
    // file entries; an explicit list may not hold process-wide flags (--expose-gc)
    const execArgv = process.execArgv.some((a) => a.startsWith('--input-type')) ? [] : undefined;
    const w = new Worker(WORKER_URL, { execArgv, workerData: { ...data, slot, engine: this.engine.transferable() } });
    this.live.add(w);
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => { resolveReady = res; rejectReady = rej; });
    let resolveDone!: (r: unknown) => void;
    let rejectDone!: (e: Error) => void;
    const done = new Promise<unknown>((res, rej) => { resolveDone = res; rejectDone = rej; });
    let tid: number | undefined;
    w.on('message', (m: { type: string; report?: unknown; message?: string; tid?: number }) => {
      if (m.type === 'ready') {
        tid = m.tid;
        thread.tid = tid;
        resolveReady();
      }
      else if (m.type === 'done') resolveDone(m.report);
      else if (m.type === 'error') {
        const err = new KwqError(`thread ${data.role as string}`, m.message ?? 'failed');
        rejectReady(err);
        rejectDone(err);
      }
    });
    w.on('error', (e) => { rejectReady(e); rejectDone(e); });
    const exited = new Promise<number>((res) => {
      w.on('exit', (code) => {
        this.live.delete(w);
        this.freeSlots.push(slot);
        const err = new KwqError(`thread ${data.role as string}`, `exited (code ${code}) before it finished`);
        rejectReady(err);
        rejectDone(err);
        res(code);
      });
    });
    // avoid unhandled rejections for promises nobody awaits
    ready.catch(() => undefined);
    done.catch(() => undefined);
    const thread: Thread = { w, slot, done, exited, ready, worker: data.role === 'vhost-worker' ? (data.worker as number) : undefined, tid };
    return thread;
  }

  /**
   * Start producer threads, open the start gate once all are attached, and wait
   * until each reached its `count` or `durationMs` elapsed (then the stop word is
   * set). Resolves with one report per producer, in spec order; threads have exited.
   */
  async produce(specs: ProducerThreadSpec[], opts: { durationMs?: number } = {}): Promise<ProducerReport[]> {
    if (this.stopped) throw new KwqError('ThreadRuntime.produce', 'the runtime was stopped');
    const e = this.engine;
    for (const [i, s] of specs.entries()) {
      e.worker(s.worker);
      if (!s.works.length) throw new KwqError(`ThreadRuntime.produce: specs[${i}]`, 'works is empty');
      for (const w of s.works) if (!e.works.contains(w)) throw new KwqError(`ThreadRuntime.produce: specs[${i}]`, `${w} is not a vhost_work of this engine`);
      if (s.count === undefined && opts.durationMs === undefined) throw new KwqError(`ThreadRuntime.produce: specs[${i}]`, 'give a count or a durationMs, or it never ends');
      if (!PRODUCER_MODES.includes(s.mode)) throw new KwqError(`ThreadRuntime.produce: specs[${i}].mode`, `unknown mode ${JSON.stringify(s.mode)}; allowed: ${PRODUCER_MODES.join(', ')}`);
      if (s.batch !== undefined && (!Number.isInteger(s.batch) || s.batch < 1)) throw new KwqError(`ThreadRuntime.produce: specs[${i}].batch`, `must be an integer >= 1, got ${String(s.batch)}`);
      for (const k of ['spin', 'minSpin', 'sleepUs', 'resume'] as const) {
        const v = s.wait?.[k];
        if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)) throw new KwqError(`ThreadRuntime.produce: specs[${i}].wait.${k}`, `must be an integer in 0..2^32-1, got ${String(v)}`);
      }
      const ringCap = this.engine.slot(0).inputCap;
      if ((s.mode === 'batch' || s.mode === 'each' || s.mode === 'ring-batch' || s.mode === 'ring-each') && s.works.length > ringCap) {
        throw new KwqError(`ThreadRuntime.produce: specs[${i}].works`, `${s.works.length} works do not fit a thread's batch array (${ringCap}; option slotBytes)`);
      }
    }
    e.sync.store(this.gateWord, 0);
    e.sync.store(this.stopWord, 0);
    // more busy threads than CPUs: let the workers' idle spin shrink (a spinning worker
    // may hold the CPU a producer needs); back to a fixed spin when the producers are done
    const oversubscribed = this.workerThreads.length + specs.length > availableParallelism();
    const floor = oversubscribed ? SPIN_FLOOR_OVERSUBSCRIBED : 0;
    for (const i of this.workerIndices()) e.worker(i).setSpinFloor(floor);
    const threads = specs.map((s) => this.spawn({ role: 'producer', gate: this.gateWord, stop: this.stopWord, ...s, works: [...s.works] }));
    await Promise.all(threads.map((t) => t.ready));
    e.sync.store(this.gateWord, 1); // pairs with the producers' Atomics.wait on the gate
    e.sync.notify(this.gateWord);
    let timer: NodeJS.Timeout | undefined;
    if (opts.durationMs !== undefined) {
      timer = setTimeout(() => e.sync.store(this.stopWord, 1), opts.durationMs); // pairs with the producers' loads
    }
    try {
      const reports = (await Promise.all(threads.map((t) => t.done))) as ProducerReport[];
      await Promise.all(threads.map((t) => t.exited));
      return reports;
    } finally {
      if (timer) clearTimeout(timer);
      e.sync.store(this.stopWord, 1);
      for (const i of this.workerIndices()) e.worker(i).setSpinFloor(0);
    }
  }

  /**
   * Resolve true once every work queued to the worker threads before this call has
   * run (vhost_worker_flush: a COMPLETE work each, awaited with Atomics.waitAsync),
   * false on timeout.
   */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    const results = await Promise.all(this.workerIndices().map((i) => this.engine.worker(i).flush(timeoutMs)));
    return results.every(Boolean);
  }

  private workerIndices(): number[] {
    return this.workerThreads.map((t) => t.worker!);
  }

  /**
   * vhost_task_stop for every worker thread: set the stop flags, wake them, wait
   * until every thread (workers and producers) has exited. Resolves with the worker
   * threads' reports. Threads that do not exit within `timeoutMs` are terminated
   * and reported in the thrown KwqError.
   */
  async stop(timeoutMs = 10_000): Promise<WorkerThreadReport[]> {
    this.stopped = true;
    this.engine.sync.store(this.stopWord, 1);
    for (const i of this.workerIndices()) this.engine.worker(i).stop();
    const all = [...this.live];
    const exits = Promise.all(this.workerThreads.map((t) => t.exited));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exits.then(() => false),
      new Promise<boolean>((res) => { timer = setTimeout(() => res(true), timeoutMs); }),
    ]);
    if (timer) clearTimeout(timer);
    if (timedOut) {
      await Promise.all(all.map((w) => w.terminate()));
      throw new KwqError('ThreadRuntime.stop', `${all.length} thread(s) did not exit within ${timeoutMs} ms and were terminated`);
    }
    const reports = await Promise.all(this.workerThreads.map((t) => t.done.catch((e: Error) => ({ error: e.message }))));
    return reports as WorkerThreadReport[];
  }
}

/**
 * The `threads` runtime piece: real worker_threads running the Wasm vhost worker
 * loops over the Engine's shared structures, and producer threads queueing to them.
 *
 * ```ts
 * const rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0, spin: 2000 }] });
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
import { Worker } from 'node:worker_threads';
import { KwqError } from '../kernel/error.js';
import type { Engine, WorkRef } from '../wasm/engine.js';

export interface VhostWorkerThreadSpec {
  /** index of the vhost_worker struct this thread runs */
  worker: number;
  /** empty-list re-checks before sleeping (default 2000) */
  spin?: number;
  /**
   * URL (string) of an ES module whose default export `(ctx, options) => handler`
   * builds the HOST-work handler in the thread; it may export `report()`, whose
   * result comes back from stop(). Must be JavaScript (Node 20).
   */
  handler?: string;
  handlerOptions?: Record<string, unknown>;
}

export type ProducerMode = 'batch' | 'each' | 'sequence';

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
}

export interface ProducerReport {
  worker: number;
  added: number;
  attempted: number;
  calls: number;
  ms: number;
  violations?: number;
  canaryOk: boolean;
}

export interface WorkerThreadReport {
  worker: number;
  hostRuns: number;
  handler?: unknown;
  canaryOk: boolean;
}

interface Thread {
  readonly w: Worker;
  readonly slot: number;
  readonly done: Promise<unknown>;
  readonly exited: Promise<number>;
  readonly ready: Promise<void>;
  readonly worker?: number;
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
        const t = rt.spawn({ role: 'vhost-worker', worker: spec.worker, spin: spec.spin ?? 2000, handler: spec.handler, handlerOptions: spec.handlerOptions });
        rt.workerThreads.push(t);
      }
      await Promise.all(rt.workerThreads.map((t) => t.ready));
    } catch (e) {
      await rt.stop().catch(() => undefined);
      throw e;
    }
    return rt;
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
    w.on('message', (m: { type: string; report?: unknown; message?: string }) => {
      if (m.type === 'ready') resolveReady();
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
    return { w, slot, done, exited, ready, worker: data.role === 'vhost-worker' ? (data.worker as number) : undefined };
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
    }
    e.sync.store(this.gateWord, 0);
    e.sync.store(this.stopWord, 0);
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

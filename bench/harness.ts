/**
 * The multi-thread harness: a start gate (every thread attached before any
 * starts), a fixed duration (the main thread sets the stop word), per-thread
 * counters reported by each thread, and the exactly-once check printed beside
 * each figure by the caller. tinybench has no multi-thread mode (wasm-notes.md).
 *
 * This file is also the worker entry for the pure-TypeScript reference threads
 * (bench/ref/vhost.ts): run from dist/bench/harness.js, as `npm run bench` does
 * (worker entries must be JavaScript on Node 20). The Wasm threads run through
 * src/runtime/threads.ts, which has the same gate and stop words.
 */
import { availableParallelism } from 'node:os';
import { SPIN_FLOOR_OVERSUBSCRIBED } from '../src/runtime/threads.js';
import { cpuSince, schedstat } from '../src/runtime/thread-self.js';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  newRefStats, vhostWorkQueueBatch, vhostWorkQueueBatchOrdered, vhostWorkerLoop, vhostWorkerQueue, vhostWorkerQueueEachOrdered, vhostWorkWaitIdle,
  type RefWorkerStats,
} from './ref/vhost.js';

/** Control words in their own SharedArrayBuffer: [gate, stop], each on its own line. */
const GATE = 0;
const STOP = 16;

export interface RefThreadSpec {
  role: 'ts-worker' | 'ts-producer';
  /** byte offset of the vhost_worker struct */
  worker: number;
  /** ts-worker: counters base (byte offset), spin */
  counters?: number;
  spin?: number;
  /** ts-worker: set by runRefThreads, as ThreadRuntime.produce sets the Wasm workers' */
  spinFloor?: number;
  /** ts-producer: works (byte offsets), mode, works per call */
  works?: number[];
  /** as src/runtime/threads.ts ProducerMode (without 'sequence') */
  mode?: 'batch' | 'each' | 'ring-batch' | 'ring-each';
  batch?: number;
  /** ring modes: as threads.ts RingWait, in this implementation's own checks */
  wait?: { spin: number; minSpin: number; sleepUs: number; resume: number };
}

export interface RefThreadReport {
  role: RefThreadSpec['role'];
  /** producers */
  added?: number;
  attempted?: number;
  waits?: number;
  sleeps?: number;
  ms?: number;
  /** worker */
  stats?: RefWorkerStats;
  /** CPU ms and ms waiting for a CPU (Linux schedstat), as src/runtime/worker.js reports them */
  cpu?: { ms: number; queueMs: number };
}

function cpuSinceNow(a: ReturnType<typeof schedstat>): RefThreadReport['cpu'] {
  return cpuSince(a, schedstat());
}

export interface HarnessResult {
  reports: RefThreadReport[];
}

/**
 * Run the reference threads over `memory`: start them all, open the gate, stop the
 * producers after `durationMs`, then stop the worker threads once `drained()` says
 * the list is empty (the caller passes a check over the shared memory).
 */
export async function runRefThreads(memory: WebAssembly.Memory, specs: RefThreadSpec[], durationMs: number, stopWorker: () => void): Promise<HarnessResult> {
  const control = new Int32Array(new SharedArrayBuffer(64 * 2));
  const url = new URL('./harness.js', import.meta.url);
  // as ThreadRuntime.produce: more busy threads than CPUs lets the workers' idle spin shrink
  const spinFloor = specs.length > availableParallelism() ? SPIN_FLOOR_OVERSUBSCRIBED : 0;
  const threads = specs.map((s) => {
    const spec = s.role === 'ts-worker' ? { ...s, spinFloor } : s;
    const w = new Worker(url, { workerData: { kwqHarness: true, memory, control, spec } });
    const ready = new Promise<void>((res, rej) => {
      w.once('message', () => res());
      w.once('error', rej);
    });
    const done = new Promise<RefThreadReport>((res, rej) => {
      w.on('message', (m: { type: string; report?: RefThreadReport }) => { if (m.type === 'done') res(m.report!); });
      w.on('error', rej);
    });
    const exited = new Promise<void>((res) => w.once('exit', () => res()));
    return { w, ready, done, exited, spec };
  });
  await Promise.all(threads.map((t) => t.ready));
  Atomics.store(control, GATE, 1); // pairs with the threads' wait on the gate
  Atomics.notify(control, GATE);
  await new Promise((r) => setTimeout(r, durationMs));
  Atomics.store(control, STOP, 1); // pairs with the producers' loads
  const producers = threads.filter((t) => t.spec.role === 'ts-producer');
  const reports = new Map<(typeof threads)[number], RefThreadReport>();
  for (const t of producers) reports.set(t, await t.done);
  stopWorker();
  for (const t of threads) if (!reports.has(t)) reports.set(t, await t.done);
  await Promise.all(threads.map((t) => t.exited));
  return { reports: threads.map((t) => reports.get(t)!) };
}

/** Per-thread wall time and counts for the Wasm threads, as src/runtime/threads.ts reports them. */
export function itemsPerSecond(added: number, ms: number): number {
  return ms > 0 ? (added / ms) * 1000 : 0;
}

function threadMain(): void {
  const { memory, control, spec } = workerData as { memory: WebAssembly.Memory; control: Int32Array; spec: RefThreadSpec };
  const m = new Int32Array(memory.buffer);
  parentPort!.postMessage({ type: 'ready' });
  while (Atomics.load(control, GATE) === 0) Atomics.wait(control, GATE, 0); // pairs with runRefThreads' store
  const t0 = performance.now();
  const c0 = schedstat();
  if (spec.role === 'ts-worker') {
    const st = newRefStats();
    vhostWorkerLoop(m, spec.worker, spec.counters ?? 0, spec.spin ?? 2000, st, spec.spinFloor ?? 0);
    parentPort!.postMessage({ type: 'done', report: { role: spec.role, stats: st, ms: performance.now() - t0, cpu: cpuSinceNow(c0) } });
    return;
  }
  const works = spec.works!;
  const batch = Math.min(spec.batch ?? works.length, works.length);
  let added = 0;
  let attempted = 0;
  let i = 0;
  if (spec.mode === 'ring-batch' || spec.mode === 'ring-each') {
    // the same loop as src/runtime/worker.js's ring modes, over the TS reference
    const queue = spec.mode === 'ring-batch' ? vhostWorkQueueBatchOrdered : vhostWorkerQueueEachOrdered;
    const { spin: maxSpin, minSpin, sleepUs } = spec.wait!;
    const resume = Math.min(Math.max(1, spec.wait!.resume), batch);
    let spin = maxSpin;
    let waits = 0;
    let sleeps = 0;
    while (Atomics.load(control, STOP) === 0) { // pairs with runRefThreads' store; once per call
      const n = Math.min(batch, works.length - i);
      const a = queue(m, spec.worker, works, i, n);
      added += a;
      attempted += a;
      i += a;
      if (i === works.length) i = 0;
      if (a === n) continue;
      waits++;
      const target = works[(i + resume - 1) % works.length]!;
      for (;;) {
        const r = vhostWorkWaitIdle(m, target, spin, sleepUs);
        spin = r === 1 ? Math.min(maxSpin, spin * 2) : Math.max(minSpin, spin >>> 1);
        if (r & 1) break;
        sleeps += r >>> 1;
        if (Atomics.load(control, STOP) !== 0) break; // pairs with runRefThreads' store
      }
    }
    parentPort!.postMessage({ type: 'done', report: { role: spec.role, added, attempted, waits, sleeps, ms: performance.now() - t0, cpu: cpuSinceNow(c0) } });
    return;
  }
  while (Atomics.load(control, STOP) === 0) { // pairs with runRefThreads' store; once per `batch` works
    const n = Math.min(batch, works.length - i);
    if (spec.mode === 'each') {
      for (let k = i; k < i + n; k++) added += vhostWorkerQueue(m, spec.worker, works[k]!) & 1;
    } else {
      added += vhostWorkQueueBatch(m, spec.worker, works, i, n);
    }
    attempted += n;
    i += n;
    if (i === works.length) i = 0;
  }
  parentPort!.postMessage({ type: 'done', report: { role: spec.role, added, attempted, ms: performance.now() - t0, cpu: cpuSinceNow(c0) } });
}

if (!isMainThread && (workerData as { kwqHarness?: boolean } | undefined)?.kwqHarness) threadMain();

/**
 * The TypeScript reference of io-wq (bench/ref/io-wq.ts: the same queue, hash tails,
 * chain cut, hash bits and stalled bit, over Int32Arrays on SharedArrayBuffers with
 * Atomics) on real worker_threads, doing what src/runtime/io-wq-threads.ts does with
 * the Wasm path: P producer threads enqueue their works in order, W worker threads take
 * chains, run each work's check (the same overlap / order test as IO_WQ_FN_CHECK) and
 * sleep with Atomics.wait when nothing is runnable; a producer wakes a sleeper after an
 * enqueue. This one file is both the main-thread harness and the thread entry (run from
 * dist/bench, compiled to JavaScript). Not part of the package API.
 *
 * The sleep is simpler than the Wasm free list (one wake word and a sleeper count), in
 * the reference's favour.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { RefIoWq } from './io-wq.js';

export interface RefThreadsOptions {
  producers: number;
  workers: number;
  count: number;
  /** hash keys (>= producers); 0: unhashed */
  keys: number;
  batch: number;
  costSpins: number;
  spin: number;
}

export interface RefThreadsReport {
  ok: boolean;
  problems: string[];
  ms: number;
  worksPerSec: number;
}

// control words: [0] gate [1] stop [2] wake seq [3] sleepers [4] done
const GATE = 0;
const STOP = 1;
const WAKE = 2;
const SLEEPERS = 3;
const DONE = 4;
// check records, 4 words per key: active, next, overlaps, reorders
const C_ACTIVE = 0;
const C_NEXT = 1;
const C_OVERLAPS = 2;
const C_REORDERS = 3;

interface Shared { q: SharedArrayBuffer; w: SharedArrayBuffer; ctl: SharedArrayBuffer; chk: SharedArrayBuffer; meta: SharedArrayBuffer }

export async function runRefIoWqThreads(o: RefThreadsOptions): Promise<RefThreadsReport> {
  const ref = new RefIoWq(o.count);
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const keys = o.keys === 0 ? 0 : Math.max(o.keys, o.producers);
  const chk = new Int32Array(new SharedArrayBuffer(16 * Math.max(keys, 1)));
  // per work: key (or -1), seq
  const meta = new Int32Array(new SharedArrayBuffer(8 * (o.count + 1)));
  const per: number[][] = Array.from({ length: o.producers }, () => []);
  const seqOf = new Int32Array(Math.max(keys, 1));
  for (let p = 0; p < o.producers; p++) {
    let j = 0;
    for (let i = p; i < o.count; i += o.producers, j++) {
      const w = i + 1;
      if (keys === 0) { ref.init(w, null); meta[2 * w] = -1; } else {
        const myKeys = Math.floor((keys - p + o.producers - 1) / o.producers);
        const key = p + o.producers * (j % myKeys);
        ref.init(w, key);
        meta[2 * w] = key;
        meta[2 * w + 1] = seqOf[key]!++;
      }
      per[p]!.push(w);
    }
  }
  const sh: Shared = { q: ref.q.buffer as SharedArrayBuffer, w: ref.w.buffer as SharedArrayBuffer, ctl: ctl.buffer as SharedArrayBuffer, chk: chk.buffer as SharedArrayBuffer, meta: meta.buffer as SharedArrayBuffer };
  const threads: { w: Worker; ready: Promise<void>; done: Promise<Record<string, unknown>> }[] = [];
  const spawn = (data: Record<string, unknown>): void => {
    const w = new Worker(new URL(import.meta.url), { workerData: { ...data, sh, capacity: o.count, spin: o.spin, costSpins: o.costSpins, batch: o.batch } });
    let rr!: () => void;
    const ready = new Promise<void>((res) => { rr = res; });
    const done = new Promise<Record<string, unknown>>((res, rej) => {
      w.on('message', (m: { type: string; report?: Record<string, unknown> }) => { if (m.type === 'ready') rr(); else if (m.type === 'done') res(m.report!); });
      w.on('error', rej);
    });
    threads.push({ w, ready, done });
  };
  for (let i = 0; i < o.workers; i++) spawn({ role: 'worker' });
  for (let p = 0; p < o.producers; p++) spawn({ role: 'producer', works: per[p] });
  await Promise.all(threads.map((t) => t.ready));
  const t0 = performance.now();
  Atomics.store(ctl, GATE, 1); // pairs with the producers' wait on the gate
  Atomics.notify(ctl, GATE);
  while (Atomics.load(ctl, DONE) < o.count) await new Promise((r) => setTimeout(r, 1)); // pairs with the workers' adds
  const ms = performance.now() - t0;
  Atomics.store(ctl, STOP, 1); // pairs with the workers' loads
  Atomics.add(ctl, WAKE, 1);
  Atomics.notify(ctl, WAKE);
  await Promise.all(threads.map((t) => t.done));
  await Promise.all(threads.map((t) => t.w.terminate()));
  const problems: string[] = [];
  let bad = 0;
  for (let w = 1; w <= o.count; w++) if (ref.runs(w) !== 1) bad++;
  if (bad) problems.push(`${bad} work(s) not run exactly once`);
  let overlaps = 0;
  let reorders = 0;
  for (let key = 0; key < keys; key++) { overlaps += chk[4 * key + C_OVERLAPS]!; reorders += chk[4 * key + C_REORDERS]!; }
  if (overlaps) problems.push(`${overlaps} overlap(s) within a key`);
  if (reorders) problems.push(`${reorders} reorder(s) within a key`);
  return { ok: problems.length === 0, problems, ms, worksPerSec: o.count / (ms / 1000) };
}

function threadMain(): void {
  const d = workerData as { role: string; sh: Shared; capacity: number; spin: number; costSpins: number; batch: number; works?: number[] };
  const ref = RefIoWq.attach(d.capacity, d.sh.q, d.sh.w);
  const ctl = new Int32Array(d.sh.ctl);
  const chk = new Int32Array(d.sh.chk);
  const meta = new Int32Array(d.sh.meta);
  parentPort!.postMessage({ type: 'ready' });
  if (d.role === 'producer') {
    while (Atomics.load(ctl, GATE) === 0) Atomics.wait(ctl, GATE, 0); // pairs with the main thread's store
    const works = d.works!;
    for (let i = 0; i < works.length; i += d.batch) {
      const end = Math.min(works.length, i + d.batch);
      for (let j = i; j < end; j++) ref.enqueue(works[j]!);
      if (Atomics.load(ctl, SLEEPERS) > 0) { // pairs with the sleeper's add before its re-check
        Atomics.add(ctl, WAKE, 1);
        Atomics.notify(ctl, WAKE, 1);
      }
    }
    parentPort!.postMessage({ type: 'done', report: { role: 'producer' } });
    return;
  }
  let runs = 0;
  for (;;) {
    const first = ref.getNextWork();
    if (first !== 0) {
      for (let w = first; w !== 0;) {
        const key = meta[2 * w]!;
        if (key >= 0) {
          const c = 4 * key;
          if (Atomics.add(chk, c + C_ACTIVE, 1) !== 0) Atomics.add(chk, c + C_OVERLAPS, 1); // pairs with the sub below
          const seq = meta[2 * w + 1]!;
          if (seq !== Atomics.load(chk, c + C_NEXT)) Atomics.add(chk, c + C_REORDERS, 1);
          Atomics.store(chk, c + C_NEXT, seq + 1);
          let x = seq;
          for (let i = 0; i < d.costSpins; i++) x = (Math.imul(x, 1664525) + 1013904223) | 0;
          Atomics.sub(chk, c + C_ACTIVE, 1 + (x & 0)); // pairs with the add above
        } else {
          let x = w;
          for (let i = 0; i < d.costSpins; i++) x = (Math.imul(x, 1664525) + 1013904223) | 0;
          if (x === 0.5) runs--; // keeps the spin
        }
        w = ref.done(w);
        runs++;
        Atomics.add(ctl, DONE, 1); // pairs with the main thread's load
      }
      continue;
    }
    if (Atomics.load(ctl, STOP) !== 0) break; // pairs with the main thread's store
    let seen = false;
    for (let i = 0; i < d.spin && !seen; i++) seen = ref.runnable();
    if (seen) continue;
    Atomics.add(ctl, SLEEPERS, 1);
    const wake = Atomics.load(ctl, WAKE);
    if (!ref.runnable() && Atomics.load(ctl, STOP) === 0) Atomics.wait(ctl, WAKE, wake, 1); // pairs with the producers' add + notify
    Atomics.sub(ctl, SLEEPERS, 1);
  }
  parentPort!.postMessage({ type: 'done', report: { role: 'worker', runs } });
}

if (!isMainThread && (workerData as { sh?: unknown } | null)?.sh !== undefined) threadMain();

/**
 * io-wq enqueue + worker loop, one thread: the Wasm path (io_wq_enqueue_batch, then
 * io_worker_handle_work running the built-in NOP works in Wasm) against the TypeScript
 * reference (bench/ref/io-wq.ts), hashed (16 files) and unhashed works, with the
 * exactly-once check (every work's run count is 1) beside each figure, and the cost of
 * one JS Atomics.compareExchange on this machine for scale.
 *
 * Real threads: producers enqueue (io_wq_enqueue_batch) while workers run
 * io_wq_worker_loop in Wasm (src/runtime/io-wq-threads.ts), against the same work done
 * by the TypeScript reference on real threads (bench/ref/io-wq-threads.ts), hashed
 * over 16 files, each work checking in its run that no other work of its file runs
 * at once and that it is the next of its file; exactly-once and those checks beside
 * each figure, and the uncontended compare-and-swap (JS Atomics and Wasm) of this run.
 */
import { IoWqEngine, IO_WQ_FN_NOP, IO_WQ_ACCT_BOUND } from '../src/wasm/io-wq.js';
import { RefIoWq } from './ref/io-wq.js';
import { runRefIoWqThreads } from './ref/io-wq-threads.js';
import { runIoWqThreads } from '../src/runtime/io-wq-threads.js';
import type { BenchOptions, BenchSection, Figure } from './types.js';

const N = 4096;

function timeIt(reps: number, fn: () => void): number {
  fn(); // warm
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  return Number(process.hrtime.bigint() - t0) / reps;
}

export default async function ioWq(opts: BenchOptions): Promise<BenchSection> {
  const reps = opts.quick ? 20 : 200;
  const ie = new IoWqEngine({ wqs: 1, works: N });
  const wqOff = ie.wqAlloc();
  const wq = ie.wq(wqOff);
  wq.init(4, 64);
  const slot = wq.attach(IO_WQ_ACCT_BOUND, true);
  const works = new Uint32Array(N);
  ie.works.allocBatch(works);
  const out = ie.engine.scratch.out;
  const figures: Figure[] = [];
  const ratios = [];
  for (const hashed of [false, true]) {
    let onceOk = true;
    const wasmNs = timeIt(reps, () => {
      for (let i = 0; i < N; i++) {
        ie.workInit(works[i]!, IO_WQ_FN_NOP, 0, 0);
        if (hashed) ie.hashWork(works[i]!, i & 15);
      }
      wq.enqueueBatch(works, N);
      ie.x.io_worker_handle_work(wqOff, slot, out);
      for (let i = 0; i < N; i += 97) if (ie.workRuns(works[i]!) !== 1) onceOk = false;
    }) / N;
    const ref = new RefIoWq(N);
    let refOk = true;
    const refNs = timeIt(reps, () => {
      for (let w = 1; w <= N; w++) ref.init(w, hashed ? (w & 15) : null);
      for (let w = 1; w <= N; w++) ref.enqueue(w);
      for (let w = ref.getNextWork(); w !== 0; w = ref.getNextWork()) for (let x = w; x !== 0; x = ref.done(x));
      for (let w = 1; w <= N; w += 97) if (ref.runs(w) !== 1) refOk = false;
    }) / N;
    const kind = hashed ? 'hashed, 16 files' : 'unhashed';
    figures.push({ name: `io-wq enqueue + handle_work (wasm, ${kind})`, value: wasmNs, unit: 'ns/work', notes: { exactlyOnce: onceOk } });
    figures.push({ name: `io-wq enqueue + handle_work (ts ref, ${kind})`, value: refNs, unit: 'ns/work', notes: { exactlyOnce: refOk } });
    ratios.push({ name: `ts ref / wasm (${kind})`, value: refNs / wasmNs });
  }
  const cas = new Int32Array(new SharedArrayBuffer(64));
  const casNs = timeIt(reps, () => { for (let i = 0; i < 10_000; i++) Atomics.compareExchange(cas, 0, i & 1, (i + 1) & 1); }) / 10_000;
  figures.push({ name: 'JS Atomics.compareExchange, uncontended', value: casNs, unit: 'ns/op' });
  const casWord = ie.engine.scratch.out + 64; // this thread's own scratch: nobody else touches it
  const wasmCasNs = timeIt(reps, () => { ie.x.io_wq_cas_bench(casWord, 10_000); }) / 10_000;
  figures.push({ name: 'Wasm atomic.cmpxchg, uncontended', value: wasmCasNs, unit: 'ns/op' });

  // real threads: producers + workers, the same works through Wasm and the TypeScript reference
  const count = opts.quick ? 100_000 : 400_000;
  for (const [P, W] of [[1, 1], [2, 2]] as const) {
    const cfg = { producers: P, workers: W, count, keys: 16, batch: 64, costSpins: 0, spin: 4096 };
    const w = await runIoWqThreads(cfg);
    const r = await runRefIoWqThreads(cfg);
    const tag = `${P} producer${P > 1 ? 's' : ''} + ${W} worker${W > 1 ? 's' : ''}, 16 files`;
    figures.push({ name: `io-wq threads (wasm, ${tag})`, value: w.worksPerSec / 1e6, unit: 'M works/s', notes: { exactlyOnce: w.ok, overlaps: w.checks.overlaps, reorders: w.checks.reorders, stalls: w.acct.stalls, threadsLeft: w.threadsLeft } });
    figures.push({ name: `io-wq threads (ts ref, ${tag})`, value: r.worksPerSec / 1e6, unit: 'M works/s', notes: { exactlyOnce: r.ok, problems: r.problems.join('; ') || 'none' } });
    ratios.push({ name: `wasm / ts ref throughput on threads (${tag})`, value: w.worksPerSec / r.worksPerSec });
  }
  return { title: 'io-wq: enqueue + worker loop in Wasm vs a TypeScript reference (one thread, and producers + workers on real threads)', figures, ratios };
}

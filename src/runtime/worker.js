// @ts-check
/**
 * The worker_threads entry of the `threads` runtime (plain JavaScript: Node 20
 * cannot start a .ts worker). One thread plays one role, given in workerData:
 *
 * - 'vhost-worker': run the blocking vhost worker loop (Wasm) until its stop flag;
 *   HOST works go to the handler module's function, if one was given.
 * - 'producer': wait at the start gate, then queue works to a vhost worker until
 *   `count` works were added or the stop word is set (fixed-duration runs).
 *   modes: 'batch' (vhost_work_queue_batch, `batch` works per call, cycling over
 *   the pool), 'each' (vhost_worker_queue per work, one Wasm call per `batch`),
 *   'ring-batch' / 'ring-each' (the pool is a ring: queue in order with
 *   vhost_work_queue_batch_ordered / vhost_worker_queue_each_ordered, which stop
 *   at the first work still queued; wait for that one, then go on),
 *   'sequence' (stress: re-use a work only after its handler marked it done,
 *   stamping owner + sequence numbers so the consumer can check order).
 * - 'selftest': run the Liftoff probe (kwq_selftest_wait_sum) in this thread.
 *
 * Each thread posts { type: 'ready' } once attached (canary checked), and
 * { type: 'done', report } before it exits. Errors are posted as { type: 'error' }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachKwq } from '../wasm/thread.js';
import { cpuSince, schedstat, threadId } from './thread-self.js';

/** @param {any} msg */
function post(msg) {
  parentPort?.postMessage(msg);
}

async function main() {
  const d = workerData;
  const ctx = attachKwq(d.engine, d.slot);
  if (d.role === 'vhost-worker') {
    let handler;
    let mod;
    if (d.handler) {
      mod = await import(d.handler);
      handler = mod.default(ctx, d.handlerOptions ?? {});
    }
    post({ type: 'ready', tid: threadId() });
    const c0 = schedstat();
    const hostRuns = ctx.runVhostWorker(d.worker, d.spin ?? 100_000, handler);
    const cpu = cpuSince(c0, schedstat());
    const report = { role: d.role, worker: d.worker, hostRuns, handler: mod?.report ? mod.report() : undefined, cpu, canaryOk: ctx.checkCanary() };
    post({ type: 'done', report });
    return;
  }
  if (d.role === 'producer') {
    post({ type: 'ready' });
    const gate = ctx.syncIndex(d.gate);
    const stopWord = ctx.syncIndex(d.stop);
    while (Atomics.load(ctx.i32, gate) === 0) Atomics.wait(ctx.i32, gate, 0); // pairs with the runtime's store + notify
    const t0 = performance.now();
    const c0 = schedstat();
    const r = produce(ctx, d, stopWord);
    const ms = performance.now() - t0;
    const cpu = cpuSince(c0, schedstat());
    post({ type: 'done', report: { role: d.role, worker: d.worker, ...r, ms, cpu, canaryOk: ctx.checkCanary() } });
    return;
  }
  if (d.role === 'selftest') {
    const word = ctx.slotOffset; // this thread's own scratch: nobody else touches it
    const results = [];
    for (let i = 0; i < d.rounds; i++) results.push(ctx.x.kwq_selftest_wait_sum(word, d.n));
    post({ type: 'done', report: { role: d.role, results } });
    return;
  }
  throw new Error(`kwq worker: unknown role ${JSON.stringify(d.role)}`);
}

/**
 * @param {import('../wasm/thread.js').ThreadContext} ctx
 * @param {any} d
 * @param {number} stopWord
 */
function produce(ctx, d, stopWord) {
  const x = ctx.x;
  const worker = ctx.workerOffset(d.worker);
  /** @type {number[]} */
  const works = d.works;
  const count = d.count ?? Infinity;
  let added = 0;
  let attempted = 0;
  let calls = 0;
  if (d.mode === 'batch' || d.mode === 'each') {
    const batch = Math.min(d.batch ?? works.length, works.length);
    const at = ctx.stage(works);
    const queue = d.mode === 'batch' ? x.vhost_work_queue_batch : x.vhost_worker_queue_each;
    let i = 0;
    while (added < count) {
      // checking the stop word once per call: a call is `batch` works
      if (Atomics.load(ctx.i32, stopWord) !== 0) break; // pairs with the runtime's store
      const n = Math.min(batch, works.length - i);
      added += queue(worker, at + i * 4, n);
      attempted += n;
      calls++;
      i += n;
      if (i === works.length) i = 0;
    }
    return { added, attempted, calls };
  }
  if (d.mode === 'ring-batch' || d.mode === 'ring-each') {
    const batch = Math.min(d.batch ?? works.length, works.length);
    const at = ctx.stage(works);
    const queue = d.mode === 'ring-batch' ? x.vhost_work_queue_batch_ordered : x.vhost_worker_queue_each_ordered;
    const waitIdle = x.vhost_work_wait_idle;
    const w = d.wait ?? {};
    const maxSpin = w.spin ?? 100_000;
    const minSpin = Math.min(w.minSpin ?? 25_000, maxSpin); // RingWait.minSpin's doc
    const sleepUs = w.sleepUs ?? 20;
    const resume = Math.min(Math.max(1, w.resume ?? 1), batch);
    let spin = maxSpin;
    let waits = 0;
    let sleeps = 0;
    let i = 0;
    while (added < count) {
      if (Atomics.load(ctx.i32, stopWord) !== 0) break; // pairs with the runtime's store; once per call
      const n = Math.min(batch, works.length - i, count - added);
      const a = queue(worker, at + i * 4, n);
      added += a;
      attempted += a;
      calls++;
      i += a;
      if (i === works.length) i = 0;
      if (a === n) continue;
      // works[i] has not run since we last queued it: wait for it. The spin adapts
      // (the RingWait doc in threads.ts): doubled after a wait that ended within
      // it, halved after one that had to sleep.
      waits++;
      // wait for the `resume`-th work from here: when it is idle, so are the ones
      // before it (they were queued before it, and each producer's works run in order)
      const target = works[(i + resume - 1) % works.length];
      for (;;) {
        const r = waitIdle(target, spin, sleepUs);
        spin = r === 1 ? Math.min(maxSpin, spin * 2) : Math.max(minSpin, spin >>> 1);
        if (r & 1) break;
        sleeps += r >>> 1;
        if (Atomics.load(ctx.i32, stopWord) !== 0) break; // pairs with the runtime's store
      }
    }
    return { added, attempted, calls, waits, sleeps };
  }
  if (d.mode === 'sequence') {
    // work k carries sequence numbers k, k + W, k + 2W, ...; it is re-used only
    // after the consumer's handler stored seq + 1 in its result word (pairs with
    // that Atomics.store), so every sequence number is queued exactly once
    const W = works.length;
    const owner = d.owner ?? 0;
    let violations = 0;
    for (let seq = 0; seq < count; seq++) {
      const w = works[seq % W];
      const ri = ctx.workResultIndex(w);
      if (seq >= W) {
        let spins = 0;
        while (Atomics.load(ctx.i32, ri) !== seq - W + 1) {
          if (++spins > 1000) {
            if (Atomics.load(ctx.i32, stopWord) !== 0) return { added, attempted, calls, violations, stoppedEarly: true };
            Atomics.wait(ctx.i32, ri, Atomics.load(ctx.i32, ri), 1); // yield the CPU (2 cores, 3 threads)
            spins = 0;
          }
        }
      }
      ctx.setWorkTag(w, owner, seq);
      attempted++;
      calls++;
      const r = x.vhost_worker_queue(worker, w);
      if ((r & 1) === 0) violations++; // a free work must not be QUEUED
      else added++;
    }
    return { added, attempted, calls, violations };
  }
  throw new Error(`kwq producer: unknown mode ${JSON.stringify(d.mode)}`);
}

main().catch((e) => {
  post({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
});

// @ts-check
/**
 * One thread of src/runtime/io-wq-threads.ts (plain JavaScript: Node 20 cannot start a
 * .ts worker), over the io-wq engine's one shared memory. workerData.role:
 *
 * - 'worker': an io-wq worker (io_wq_worker) on the slot the main thread attached for
 *   it: io_wq_worker_loop in Wasm runs the acct's built-in works (io_worker_handle_work:
 *   chains, the hash bit, the stalled bit), puts itself on the free list and sleeps in
 *   memory.atomic.wait32 on its slot word until an io_wq_enqueue claims it or
 *   io_wq_exit_start wakes it; then io_wq_worker_exit. A HOST work (none is queued by
 *   this harness) is done at once and counted, so that nothing hangs.
 * - 'producer': the submitter side: waits at the start gate, then queues its works in
 *   order with io_wq_enqueue_batch, `batch` per Wasm call (refs copied into its scratch
 *   input array: no allocation per call).
 *
 * Posts { type: 'ready', tid } once attached (canary checked), { type: 'done', report }
 * before it exits, { type: 'error', message } on a failure.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachKwq } from '../wasm/thread.js';
import { cpuSince, schedstat, threadId } from './thread-self.js';

const IO_WQ_LOOP_HOST = 1;
const IO_WQ_LOOP_TIMEOUT = 2;
const IO_WQ_LOOP_EXIT = 3;

/** @param {any} msg */
function post(msg) {
  parentPort?.postMessage(msg);
}

function main() {
  const d = workerData;
  const ctx = attachKwq(d.engine, d.slot);
  const x = ctx.x;
  if (d.role === 'worker') {
    post({ type: 'ready', tid: threadId() });
    const c0 = schedstat();
    let hostRuns = 0;
    let loops = 0;
    let exit = 0;
    for (;;) {
      loops++;
      const r = x.io_wq_worker_loop(d.wq, d.workerSlot, ctx.out, d.spin, -1);
      if (r === IO_WQ_LOOP_HOST) {
        hostRuns++;
        x.io_wq_work_done(d.wq, ctx.u32[ctx.out >> 2], ctx.out + 4);
        continue;
      }
      if (r === IO_WQ_LOOP_EXIT) {
        x.io_wq_worker_exit(d.wq, d.workerSlot);
        exit = r;
        break;
      }
      if (r === IO_WQ_LOOP_TIMEOUT) { exit = r; break; } // not with timeout -1
      throw new Error(`io_wq_worker_loop returned ${r}`);
    }
    const cpu = cpuSince(c0, schedstat());
    post({ type: 'done', report: { role: d.role, slot: d.workerSlot, loops, hostRuns, exit, cpu, canaryOk: ctx.checkCanary() } });
    return;
  }
  if (d.role === 'producer') {
    post({ type: 'ready', tid: threadId() });
    const gate = ctx.syncIndex(d.gate);
    while (Atomics.load(ctx.i32, gate) === 0) Atomics.wait(ctx.i32, gate, 0); // pairs with the main thread's store + notify
    /** @type {Uint32Array} */
    const works = d.works;
    const batch = Math.min(d.batch, ctx.inputCap);
    const inAt = ctx.input >> 2;
    const t0 = performance.now();
    const c0 = schedstat();
    let calls = 0;
    let creates = 0;
    let wakes = 0;
    for (let i = 0; i < works.length; i += batch) {
      const n = Math.min(batch, works.length - i);
      ctx.u32.set(works.subarray(i, i + n), inAt);
      const r = x.io_wq_enqueue_batch(d.wq, ctx.input, n, ctx.out);
      creates += r >>> 16;
      wakes += r & 0xffff;
      calls++;
    }
    const ms = performance.now() - t0;
    post({ type: 'done', report: { role: d.role, id: d.id, enqueued: works.length, calls, creates, wakes, ms, cpu: cpuSince(c0, schedstat()), canaryOk: ctx.checkCanary() } });
    return;
  }
  throw new Error(`io-wq thread: unknown role ${JSON.stringify(d.role)}`);
}

try {
  main();
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
}

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
/** assembly/io-wq.ts: the bound acct's offset in the io_wq, its taken and done counters */
const IO_WQ_ACCT = 64;
const ACCT_TAKEN = 36;
const ACCT_DONE = 48;

/** the start gate's FAILED value (io-wq-threads.ts GATE_FAILED) */
const GATE_FAILED = 2;

/** @param {any} msg */
function post(msg) {
  parentPort?.postMessage(msg);
}

/** once attached: tell the main thread, which waits on the gate word while the works run, that this thread failed */
let failGate = () => {};

function main() {
  const d = workerData;
  const ctx = attachKwq(d.engine, d.slot);
  const x = ctx.x;
  const gateAt = ctx.syncIndex(d.gate);
  failGate = () => {
    Atomics.store(ctx.i32, gateAt, GATE_FAILED);
    Atomics.notify(ctx.i32, gateAt); // pairs with the main thread's Atomics.wait on the gate
  };
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
    /** @type {Uint32Array} */
    const works = d.works;
    const batch = Math.min(d.batch, ctx.inputCap);
    const inAt = ctx.input >> 2;
    const gate = gateAt;
    // everything the timed part calls, called once before the gate (an empty batch, the
    // clocks, the schedstat read): their first calls cost 0.1-0.3 ms here (lazy
    // compilation, the first JS-to-Wasm call), after the gate they delayed this
    // producer's first enqueue by that much, where C's producer starts within ~20 us
    ctx.u32.set(works.subarray(0, 0), inAt);
    x.io_wq_enqueue_batch(d.wq, ctx.input, 0, ctx.out);
    process.hrtime.bigint();
    performance.now();
    const c0 = schedstat(); // a sleeping thread uses no CPU: this is the gate's reading
    post({ type: 'ready', tid: threadId() });
    while (Atomics.load(ctx.i32, gate) === 0) Atomics.wait(ctx.i32, gate, 0); // pairs with the main thread's store + notify
    const startNs = process.hrtime.bigint(); // the clock the main thread's gate time is on
    const t0 = performance.now();
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
    // the bound acct's chains taken and works done when this producer finished: ~0 when
    // the workers had not looked yet (the round's regime; io-wq-threads.ts reports them)
    const acctAt = (d.wq + IO_WQ_ACCT) >> 2; // the bound acct: every work here is bound
    const takenAtEnd = Atomics.load(ctx.u32, acctAt + (ACCT_TAKEN >> 2)); // pairs with io_get_next_work's add
    const doneAtEnd = Atomics.load(ctx.u32, acctAt + (ACCT_DONE >> 2)); // pairs with io_wq_work_done's add
    post({ type: 'done', report: { role: d.role, id: d.id, enqueued: works.length, calls, creates, wakes, ms, startNs, takenAtEnd, doneAtEnd, cpu: cpuSince(c0, schedstat()), canaryOk: ctx.checkCanary() } });
    return;
  }
  throw new Error(`io-wq thread: unknown role ${JSON.stringify(d.role)}`);
}

try {
  main();
} catch (e) {
  failGate();
  post({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
}

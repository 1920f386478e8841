// @ts-check
/**
 * One kworker of a loop device's workqueue on a real thread (Kernel.boot({ runtime:
 * 'threads' }); src/drivers/loop/loop-kthreads.ts starts one per kworker and stops
 * them at teardown). Plain JavaScript: Node 20 cannot start a .ts worker.
 *
 * What runs here, in Wasm over the one shared memory:
 *   worker_thread + process_one_work   loop_wq_pick (assembly/loop-wq.ts): this
 *                                      kworker's scheduled list, then the worklist; a
 *                                      work another kworker runs is handed to it (one
 *                                      work never runs on two kworkers); PENDING is
 *                                      cleared as execution starts; sleeps when idle
 *   loop_process_work                  loop_process_batch (assembly/loop.ts): the
 *                                      work's FIFO under lo_work_lock, the idle step
 *                                      (last_ran_at, idle_worker_list) when it is empty
 * What does NOT run here: loop_handle_cmd's kernel-model part (kthread_associate_blkcg,
 * set_active_memcg, do_req_filebacked with its page-cache/shmem charges and bios,
 * io.stat, the completion) and loop_set_timer. The kernel model is single-threaded
 * JavaScript on the main thread, so this thread posts "handle these commands as
 * kworker `me` for work W" on its ring (loop-kthread-ring.js) and waits for the
 * answer with Atomics.wait; the main thread runs them in order and answers. Which
 * command runs when, on which kworker, and in parallel with what, is decided here;
 * the effects on the kernel model are serialized on the main thread.
 *
 * workerData: engine (transferable), slot (this thread's scratch slot), wq (the Wasm
 * workqueue), me (kworker index), nr (kworkers), ring (the device's SharedArrayBuffer),
 * spin (loop_wq_pick's read-only checks before sleeping), ringSpin (RESP checks before
 * Atomics.wait), batch (commands per request), epochMs + tickNs (the kernel's clock:
 * its time 0 as performance.timeOrigin + now(), so that jiffies for last_ran_at are
 * the main thread's jiffies).
 *
 * Posts { type: 'ready', tid } once attached, { type: 'done', report } before it
 * exits, { type: 'error', message } on a failure.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachKwq } from '../wasm/thread.js';
import { schedstat, threadId } from './thread-self.js';
import { postRequest } from './thread-request.js';
import { LO, LW, WORK } from './loop-kworker-layout.js';
import {
  RING, RING_ABORT, RING_OP_CMDS, RING_OP_IDLE, KT_IDLE, KT_RUN, KT_WAIT, ringBase, activeBase,
} from './loop-kthread-ring.js';

/** @param {any} msg */
function post(msg) {
  parentPort?.postMessage(msg);
}

/**
 * Post one request and wait for its answer. Returns false (nothing posted, or the
 * answer abandoned) once the ring is aborted.
 * @param {Int32Array} r @param {number} base @param {import('./thread-request.js').RequestLine} line
 * @param {number} op @param {number} work @param {number} ptr @param {number} n @param {number} spin
 */
function request(r, base, line, op, work, ptr, n, spin) {
  if (Atomics.load(r, RING_ABORT) !== 0) return false; // pairs with the main thread's abort store
  r[base + RING.OP] = op;
  r[base + RING.WORK] = work;
  r[base + RING.PTR] = ptr;
  r[base + RING.N] = n;
  return postRequest(r, line, spin, KT_WAIT, KT_RUN);
}

function main() {
  const d = workerData;
  const ctx = attachKwq(d.engine, d.slot);
  const { x, u32 } = ctx;
  const r = new Int32Array(d.ring);
  const base = ringBase(d.me);
  /** this thread's request line (thread-request.js) */
  const line = { req: base + RING.REQ, resp: base + RING.RESP, state: base + RING.STATE, abort: RING_ABORT };
  const act = activeBase(d.nr);
  const workers = d.engine.layout.arenas.find((/** @type {any} */ a) => a.name === 'loop_worker');
  if (!workers) throw new Error('loop-kthread: the engine has no loop_worker arena');
  const rootRow = workers.capacity;
  const out = ctx.out;
  const cap = Math.max(1, Math.min(d.batch, ctx.outCap));
  const spin = d.spin >>> 0;
  const ringSpin = d.ringSpin >>> 0;
  // the kernel's jiffies on the main thread's clock: performance.timeOrigin + now() is
  // one time line across threads (measured here: agreement within the wake-up latency,
  // ~0.1 ms), while process.hrtime drifts from performance.now() by ~0.1 %
  const epochMs = d.epochMs;
  const tickNs = d.tickNs;
  const origin = performance.timeOrigin;
  const jiffies = () => Math.floor(((origin + performance.now() - epochMs) * 1e6) / tickNs);
  post({ type: 'ready', tid: threadId() });
  const c0 = schedstat()?.ms;
  let executions = 0;
  let handled = 0;
  let batches = 0;
  let idled = 0;
  let reentered = 0;
  let dropped = 0;
  for (;;) {
    Atomics.store(r, base + RING.STATE, KT_IDLE); // (inspection)
    const w = x.loop_wq_pick(d.wq, d.me, spin) >>> 0;
    if (w === 0) break; // loop_wq_stop and nothing left for this kworker
    Atomics.store(r, base + RING.STATE, KT_RUN);
    const lo = u32[(w + WORK.LO) >>> 2];
    const row = w === lo + LO.ROOT_WORK ? rootRow : (w - LW.WORK - workers.base) / LW.SIZE;
    // pairs with the Atomics.sub below, on this or another kworker
    if (Atomics.add(r, act + row, 1) !== 0) Atomics.store(r, base + RING.REENTERED, ++reentered);
    Atomics.store(r, base + RING.EXECUTIONS, ++executions);
    for (;;) {
      const n = x.loop_process_batch(w, out, cap, jiffies());
      if (n === 0) break; // empty, and PENDING again (or the root work): no idle step
      if (n < 0) {
        // the worker went idle under lo_work_lock: the main thread arms the reaper
        request(r, base, line, RING_OP_IDLE, w, 0, 0, ringSpin);
        Atomics.store(r, base + RING.IDLED, ++idled);
        break;
      }
      if (request(r, base, line, RING_OP_CMDS, w, out, n, ringSpin)) {
        Atomics.store(r, base + RING.HANDLED, handled += n);
        Atomics.store(r, base + RING.BATCHES, ++batches);
      } else {
        Atomics.store(r, base + RING.DROPPED, dropped += n); // the kernel model is gone
      }
    }
    Atomics.sub(r, act + row, 1); // pairs with the Atomics.add on entry
    x.loop_wq_done(d.wq, d.me, w); // `w` is a key only from here (the reaper may free it)
  }
  const c1 = schedstat()?.ms;
  post({
    type: 'done',
    report: {
      me: d.me, executions, handled, batches, idled, reentered, dropped,
      cpuMs: c0 !== undefined && c1 !== undefined ? c1 - c0 : undefined, canaryOk: ctx.checkCanary(),
    },
  });
}

try {
  main();
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
}

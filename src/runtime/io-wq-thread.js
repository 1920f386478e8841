// @ts-check
/**
 * One io-wq worker (iou-wrk-<pid>) of the kernel API on a real thread
 * (Kernel.boot({ runtime: 'threads' }); src/drivers/io_uring/io-wq-threads.ts starts
 * one per create_io_worker). Plain JavaScript: Node 20 cannot start a .ts worker.
 *
 * What runs here, in Wasm over the io_uring engine's one shared memory:
 *   io_wq_worker                 io_wq_worker_loop (assembly/io-wq.ts): io_get_next_work
 *   io_worker_handle_work          (the hashed chains, the hash bit, STALLED), the free
 *                                  list, the idle sleep in memory.atomic.wait32 on the
 *                                  slot word for at most WORKER_IDLE_TIMEOUT, the
 *                                  "not the last worker" exit, IO_WQ_BIT_EXIT
 *   io_wq_worker_running           io_wq_inc_running after a blocking part
 *   io_worker_exit                 io_wq_worker_exit (nr_workers--, slot NONE)
 * What does NOT run here: io_wq_submit_work's kernel-model part (vfs_write / vfs_read /
 * vfs_fsync with their memcg, io and cpu charges), io_wq_work_done and the CQE. The
 * kernel model is single-threaded JavaScript on the main thread, so this thread posts
 * "run work W as this worker" on its ring (io-wq-ring.js) and waits with Atomics.wait;
 * the answer says whether the work blocks (then this thread sleeps through the
 * blocking part, counts itself running again and posts "complete W"). Which work runs
 * when, on which worker, and in parallel with what, is decided here.
 *
 * workerData: engine (transferable), slot (scratch slot), wq (io_wq offset), wslot (the
 * worker slot io_wq_worker_attach gave), acct, ring (SharedArrayBuffer), spin
 * (io_wq_worker_loop's read-only checks before sleeping), ringSpin (RESP checks before
 * Atomics.wait), timeoutUs (WORKER_IDLE_TIMEOUT).
 *
 * Posts { type: 'ready', tid } once attached, { type: 'done', report } before it
 * exits, { type: 'error', message } on a failure.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachKwq } from '../wasm/thread.js';
import { schedstat, threadId } from './thread-self.js';
import { postRequest } from './thread-request.js';
import {
  IOWQ_RING as R, IOWQ_EXIT_ABORT, IO_WQ_LOOP_EXIT, IO_WQ_LOOP_HOST, IO_WQ_LOOP_TIMEOUT, KT_BLOCK, KT_IDLE, KT_RUN, KT_WAIT,
  RING_OP_COMPLETE, RING_OP_RUN,
} from './io-wq-ring.js';

/** the request line's words (thread-request.js) */
const LINE = { req: R.REQ, resp: R.RESP, state: R.STATE, abort: R.ABORT };

/** @param {any} msg */
function post(msg) {
  parentPort?.postMessage(msg);
}

/**
 * Post one request and wait for its answer. False once the ring is aborted (nothing
 * posted, or the answer abandoned).
 * @param {Int32Array} r @param {number} op @param {number} work @param {number} spin
 */
function request(r, op, work, spin) {
  if (Atomics.load(r, R.ABORT) !== 0) return false; // pairs with the main thread's abort store
  r[R.OP] = op;
  r[R.WORK] = work;
  return postRequest(r, LINE, spin, KT_WAIT, KT_RUN);
}

function main() {
  const d = workerData;
  const ctx = attachKwq(d.engine, d.slot);
  const { x, u32 } = ctx;
  const r = new Int32Array(d.ring);
  const wq = d.wq >>> 0;
  const wslot = d.wslot >>> 0;
  const out = ctx.out;
  post({ type: 'ready', tid: threadId() });
  const c0 = schedstat()?.ms;
  let runs = 0;
  let blocked = 0;
  let dropped = 0;
  let exit = 0;
  for (;;) {
    Atomics.store(r, R.STATE, KT_IDLE); // (inspection)
    const res = x.io_wq_worker_loop(wq, wslot, out, d.spin >>> 0, d.timeoutUs | 0);
    Atomics.store(r, R.STATE, KT_RUN);
    if (res === IO_WQ_LOOP_HOST) {
      const w = u32[out >>> 2];
      Atomics.store(r, R.RUNS, ++runs);
      if (!request(r, RING_OP_RUN, w, d.ringSpin >>> 0)) {
        // the kernel model is gone: the work is never completed
        Atomics.store(r, R.DROPPED, ++dropped);
        x.io_wq_worker_exit(wq, wslot);
        exit = IOWQ_EXIT_ABORT;
        break;
      }
      const blockNs = Atomics.load(r, R.BLOCK_NS); // ordered after the RESP load in request()
      if (blockNs > 0) {
        // do_work sleeps (the main thread ran io_wq_worker_sleeping's io_wq_dec_running)
        Atomics.store(r, R.STATE, KT_BLOCK);
        Atomics.store(r, R.BLOCKED, ++blocked);
        Atomics.wait(r, R.SLEEP, 0, blockNs / 1e6); // woken early only by ABORT's notify
        x.io_wq_inc_running(wq, d.acct >>> 0); // io_wq_worker_running: scheduled in again
        if (!request(r, RING_OP_COMPLETE, w, d.ringSpin >>> 0)) {
          Atomics.store(r, R.DROPPED, ++dropped);
          x.io_wq_worker_exit(wq, wslot);
          exit = IOWQ_EXIT_ABORT;
          break;
        }
      }
      continue;
    }
    if (res === IO_WQ_LOOP_TIMEOUT) { exit = res; break; } // the slot is NONE already (nr_workers--)
    if (res === IO_WQ_LOOP_EXIT) {
      x.io_wq_worker_exit(wq, wslot);
      exit = res;
      break;
    }
    throw new Error(`io_wq_worker_loop returned ${res}`);
  }
  const c1 = schedstat()?.ms;
  post({
    type: 'done',
    report: { wslot, runs, blocked, dropped, exit, cpuMs: c0 !== undefined && c1 !== undefined ? c1 - c0 : undefined, canaryOk: ctx.checkCanary() },
  });
}

try {
  main();
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
}

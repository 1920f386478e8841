// @ts-check
/**
 * The worker_threads entry for loop's dispatch on real threads (plain JavaScript:
 * Node 20 cannot start a .ts worker). src/runtime/loop-threads.ts starts it; one
 * thread plays one role, given in workerData:
 *
 * - 'submitter' (loop_queue_rq on some CPU): waits at the start gate, then issues
 *   `count` commands for its cgroups (round-robin over `keys`): takes free loop_cmds
 *   from the arena in batches (arena_alloc_batch: blk-mq's tag allocation), stamps
 *   each with its submitter id and sequence number, and queues the batch with one
 *   loop_queue_work_batch call, which also puts newly pending works on the workqueue
 *   (__queue_work) and wakes a kworker. With no loop_cmd free it sleeps until a
 *   kworker frees some, as blk_mq_get_tag sleeps on the sbitmap wait queue until
 *   blk_mq_put_tag wakes it (block/blk-mq-tag.c; lib/sbitmap.c sbitmap_queue_wake_up,
 *   6.12): the TAGS words of loop-kworker-layout.js, one wake per freed batch. (It
 *   polled on a 50 us timer before; on the shared 2-vCPU machine those wake-ups took
 *   the kworkers' CPU and cut the throughput 10-40x.)
 * - 'kworker' (a kworker of the unbound workqueue lo->workqueue): loop_wq_pick (its
 *   scheduled list, then the worklist; sleeps when there is nothing), then
 *   loop_process_batch until the work's list is empty (it goes idle in Wasm when not
 *   pending), "handles" each command, frees the commands (arena_free_batch; wakes
 *   the tag waiters, if any), and loop_wq_done. Handling a command is the checks
 *   below plus an optional busy loop of `cmdCostNs`: no backing file, no kernel
 *   model (that stays on the kernel's thread; see loop-threads.ts).
 *
 * Each report carries the thread's CPU and run-queue ms (/proc/thread-self/schedstat).
 *
 * The checks, each against shared state the dispatch does not use:
 *   active[work]   Atomics.add on entry must return 0: one work never runs on two
 *                  kworkers at once (loop_wq_pick's runner rule)
 *   lastSeq[list, submitter]  the sequence numbers one submitter's commands show on
 *                  one list (a worker's FIFO, or the root FIFO) only grow: FIFO per worker
 *   seen[submitter base + seq]  Atomics.add must return 0: every command handled once
 *                  (the main thread checks that every entry ends at 1)
 *
 * Offsets: loop-kworker-layout.js mirrors src/wasm/loop.ts (test/drivers/loop/threads.test.ts checks it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { attachKwq } from '../wasm/thread.js';
import { cpuSince, schedstat } from './thread-self.js';
import { LC, LO, LW, TAGS, WORK } from './loop-kworker-layout.js';


/** @param {any} msg */
function post(msg) {
  parentPort?.postMessage(msg);
}

/** @param {any} layout @param {string} name */
function arena(layout, name) {
  const a = layout.arenas.find((/** @type {any} */ x) => x.name === name);
  if (!a) throw new Error(`loop-kworker: the engine has no ${name} arena`);
  return a;
}

function main() {
  const d = workerData;
  const ctx = attachKwq(d.engine, d.slot);
  const { x, u32, i32 } = ctx;
  const cmds = arena(d.engine.layout, 'loop_cmd');
  const workers = arena(d.engine.layout, 'loop_worker');
  const gate = ctx.syncIndex(d.gate);
  post({ type: 'ready' });
  while (Atomics.load(i32, gate) === 0) Atomics.wait(i32, gate, 0); // pairs with the main thread's store + notify
  const s0 = schedstat();
  /** @param {Record<string, unknown>} report */
  const done = (report) => {
    // this thread's CPU time and its time runnable but waiting for a CPU (undefined off Linux)
    const cpu = cpuSince(s0, schedstat());
    post({ type: 'done', report: { ...report, cpuMs: cpu?.ms, runQueueMs: cpu?.queueMs } });
  };
  if (d.role === 'submitter') {
    done(submit(ctx, d, cmds));
    return;
  }
  if (d.role === 'kworker') {
    done(kworker(ctx, d, cmds, workers));
    return;
  }
  throw new Error(`loop-kworker: unknown role ${JSON.stringify(d.role)}`);
}

/**
 * @param {import('../wasm/thread.js').ThreadContext} ctx
 * @param {any} d
 * @param {any} cmds the loop_cmd arena layout
 */
function submit(ctx, d, cmds) {
  const { x, u32 } = ctx;
  /** @type {number[]} */
  const keys = d.keys;
  const batch = Math.min(d.batch, ctx.inputCap);
  const at = ctx.input;
  const atIdx = at >>> 2;
  let seq = 0;
  let calls = 0;
  let tagWaits = 0;
  let queuedWorks = 0;
  let tagWaitMs = 0;
  const tags = new Int32Array(d.tags);
  const t0 = performance.now();
  while (seq < d.count) {
    const want = Math.min(batch, d.count - seq);
    let got = x.arena_alloc_batch(cmds.header, at, want); // blk-mq tags: lock-free pops
    if (got === 0) {
      // every command is in flight: sleep until a kworker frees a batch (a tag wait:
      // blk_mq_get_tag's sbitmap wait queue, woken by blk_mq_put_tag)
      tagWaits++;
      const tw = performance.now();
      Atomics.add(tags, TAGS.WAITERS, 1); // pairs with the kworkers' load after arena_free_batch
      const woken = Atomics.load(tags, TAGS.WAKE);
      // try again after saying so: a free that came before the add is seen here, one
      // after it bumps TAGS.WAKE (seq-cst on both sides)
      got = x.arena_alloc_batch(cmds.header, at, want);
      if (got === 0) Atomics.wait(tags, TAGS.WAKE, woken, 5); // pairs with the kworkers' add + notify; 5 ms cap
      Atomics.sub(tags, TAGS.WAITERS, 1);
      tagWaitMs += performance.now() - tw;
      if (got === 0) continue;
    }
    for (let i = 0; i < got; i++) {
      const c = u32[atIdx + i];
      const key = keys[(seq + i) % keys.length];
      u32[(c + LC.TAG) >>> 2] = d.id;
      u32[(c + LC.KEY) >>> 2] = key; // cgroup ids < 2^32 here; the high word is 0
      u32[(c + LC.KEY + 4) >>> 2] = 0;
      u32[(c + LC.SEQ) >>> 2] = seq + i;
    }
    queuedWorks += x.loop_queue_work_batch(d.lo, d.wq, at, got);
    seq += got;
    calls++;
  }
  return { role: 'submitter', id: d.id, queued: seq, calls, tagWaits, tagWaitMs, queuedWorks, ms: performance.now() - t0, canaryOk: ctx.checkCanary() };
}

/**
 * @param {import('../wasm/thread.js').ThreadContext} ctx
 * @param {any} d
 * @param {any} cmds the loop_cmd arena layout
 * @param {any} workers the loop_worker arena layout
 */
function kworker(ctx, d, cmds, workers) {
  const { x, u32 } = ctx;
  const active = new Int32Array(d.active);
  const lastSeq = new Int32Array(d.lastSeq);
  const seen = new Uint8Array(d.seen);
  const handledTotal = new Int32Array(d.handled);
  /** @type {number[]} */
  const seqBase = d.seqBase;
  const nsub = seqBase.length;
  const rootIndex = workers.capacity; // the root list's row in active/lastSeq
  const out = ctx.out;
  const outIdx = out >>> 2;
  const cap = Math.min(d.batch, ctx.outCap);
  const spinPerCmd = d.cmdCostNs > 0 ? d.cmdCostNs : 0;
  let executions = 0;
  let handled = 0;
  let batches = 0;
  let reentered = 0;
  let fifoBroken = 0;
  let dupes = 0;
  let idled = 0;
  let tagWakes = 0;
  let sink = 0;
  const tags = new Int32Array(d.tags);
  for (;;) {
    const w = x.loop_wq_pick(d.wq, d.me, d.spin) >>> 0;
    if (w === 0) break; // stopped
    const lo = u32[(w + WORK.LO) >>> 2];
    const row = w === lo + LO.ROOT_WORK ? rootIndex : (w - LW.WORK - workers.base) / LW.SIZE;
    if (Atomics.add(active, row, 1) !== 0) reentered++; // pairs with the Atomics.sub below, on any kworker
    executions++;
    for (;;) {
      const n = x.loop_process_batch(w, out, cap, performance.now());
      if (n <= 0) {
        if (n < 0) idled++;
        break;
      }
      batches++;
      for (let i = 0; i < n; i++) {
        const c = u32[outIdx + i];
        const s = u32[(c + LC.TAG) >>> 2];
        const seq = u32[(c + LC.SEQ) >>> 2];
        const li = row * nsub + s;
        if (lastSeq[li] >= seq) fifoBroken++; // FIFO per list: one submitter's seqs only grow
        lastSeq[li] = seq; // only the kworker running this work writes its row
        if (Atomics.add(seen, seqBase[s] + seq, 1) !== 0) dupes++; // pairs with other kworkers' adds and the main thread's final read
        if (spinPerCmd > 0) {
          const until = performance.now() + spinPerCmd / 1e6;
          while (performance.now() < until) sink++;
        }
      }
      handled += n;
      x.arena_free_batch(cmds.header, out, n); // the tags go back (blk_mq_free_request)
      // sbitmap_queue_wake_up: wake the submitters waiting for a tag, once per freed batch
      if (Atomics.load(tags, TAGS.WAITERS) !== 0) { // pairs with the submitter's add before its retry
        Atomics.add(tags, TAGS.WAKE, 1); // pairs with the submitter's load + wait
        Atomics.notify(tags, TAGS.WAKE);
        tagWakes++;
      }
      Atomics.add(handledTotal, 0, n); // pairs with the main thread's drain check
    }
    Atomics.sub(active, row, 1); // pairs with the Atomics.add on entry (this or another kworker's)
    x.loop_wq_done(d.wq, d.me, w);
  }
  return { role: 'kworker', me: d.me, executions, handled, batches, reentered, fifoBroken, dupes, idled, tagWakes, sink, canaryOk: ctx.checkCanary() };
}

try {
  main();
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
}

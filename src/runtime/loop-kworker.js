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
 * Phases (one set of threads, so that V8 has compiled their code before the timed
 * window): the gate word opens phase p when it reaches p (1, 2, ...). A submitter
 * issues `phases[p - 1]` commands in phase p, sequence numbers going on from the
 * previous phase, then waits for the next. The kworkers run across phases; the
 * one whose count of handled commands reaches `targets[p - 1]` (the total queued by
 * the end of phase p) stores p in the done word (handled[1]) and notifies the main
 * thread, which sleeps on it (as kwq-native's main thread sleeps on a futex). The
 * loop-threads.ts harness runs a warm-up phase first (the hot functions below get
 * optimized in it: measured, with the threads new for every run, TurboFan compiled
 * them on V8's platform threads during the timed window, 35 of its 120 CPU-ms, while
 * they ran as baseline code with inline-cache stubs), then one phase per round.
 * A thread that fails stores -1 in the done word and notifies it.
 *
 * The 'ready' message carries the thread's tid: the main thread reads its CPU and
 * run-queue ms per round from /proc/self/task/<tid>/schedstat; each report carries
 * its whole-life figures (/proc/thread-self/schedstat).
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
import { cpuSince, schedstat, threadId } from './thread-self.js';
import { LC, LO, LW, TAGS, WORK } from './loop-kworker-layout.js';

/** the done word's index in `handled` (index 0: commands handled, all kworkers) */
const DONE = 1;

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

/** sleep until the gate word reaches `phase` @param {Int32Array} i32 @param {number} gate @param {number} phase */
function waitGate(i32, gate, phase) {
  for (let v = Atomics.load(i32, gate); v < phase; v = Atomics.load(i32, gate)) Atomics.wait(i32, gate, v); // pairs with the main thread's store + notify
}

function main() {
  const d = workerData;
  const ctx = attachKwq(d.engine, d.slot);
  const { i32 } = ctx;
  const cmds = arena(d.engine.layout, 'loop_cmd');
  const workers = arena(d.engine.layout, 'loop_worker');
  const gate = ctx.syncIndex(d.gate);
  post({ type: 'ready', tid: threadId() });
  waitGate(i32, gate, 1);
  const s0 = schedstat();
  /** @param {Record<string, unknown>} report */
  const done = (report) => {
    // this thread's CPU time and its time runnable but waiting for a CPU (undefined off Linux)
    const cpu = cpuSince(s0, schedstat());
    post({ type: 'done', report: { ...report, cpuMs: cpu?.ms, runQueueMs: cpu?.queueMs } });
  };
  if (d.role === 'submitter') {
    done(submit(ctx, d, cmds, gate));
    return;
  }
  if (d.role === 'kworker') {
    done(kworker(ctx, d, cmds, workers));
    return;
  }
  throw new Error(`loop-kworker: unknown role ${JSON.stringify(d.role)}`);
}

/**
 * Stamp `got` loop_cmds (their offsets at u32[atIdx..]) with the submitter id, key
 * (round-robin over `keys` by sequence number) and sequence number.
 * @param {Uint32Array} u32 @param {number} atIdx @param {number} got @param {number} id @param {number[]} keys @param {number} seq
 */
function stamp(u32, atIdx, got, id, keys, seq) {
  for (let i = 0; i < got; i++) {
    const c = u32[atIdx + i];
    u32[(c + LC.TAG) >>> 2] = id;
    u32[(c + LC.KEY) >>> 2] = keys[(seq + i) % keys.length]; // cgroup ids < 2^32 here; the high word is 0
    u32[(c + LC.KEY + 4) >>> 2] = 0;
    u32[(c + LC.SEQ) >>> 2] = seq + i;
  }
}

/**
 * @param {import('../wasm/thread.js').ThreadContext} ctx
 * @param {any} d
 * @param {any} cmds the loop_cmd arena layout
 * @param {number} gate the gate's index in ctx.i32
 */
function submit(ctx, d, cmds, gate) {
  /** @type {number[]} */
  const phases = d.phases;
  // tagWaitMs starts as a double: a field that turns from small integer to double changes
  // the object's map and deoptimizes the code that depends on it (seen in a timed round)
  const st = { seq: 0, calls: 0, tagWaits: 0, tagWaitMs: 0.5, queuedWorks: 0 };
  st.tagWaitMs = 0;
  const t0 = performance.now();
  for (let p = 0; p < phases.length; p++) {
    if (p > 0) waitGate(ctx.i32, gate, p + 1);
    submitRange(ctx, d, cmds, st, st.seq + phases[p]);
  }
  // stay (asleep) until the main thread has read the last round's schedstat of this thread
  waitGate(ctx.i32, gate, phases.length + 1);
  return { role: 'submitter', id: d.id, queued: st.seq, calls: st.calls, tagWaits: st.tagWaits, tagWaitMs: st.tagWaitMs, queuedWorks: st.queuedWorks, ms: performance.now() - t0, canaryOk: ctx.checkCanary() };
}

/**
 * One phase of a submitter: commands st.seq..end-1, a batch per call of submitBatch (a
 * function of its own, optimized in the warm-up: see execute).
 * @param {import('../wasm/thread.js').ThreadContext} ctx
 * @param {any} d
 * @param {any} cmds
 * @param {{ seq: number, calls: number, tagWaits: number, tagWaitMs: number, queuedWorks: number }} st
 * @param {number} end
 */
function submitRange(ctx, d, cmds, st, end) {
  const s = {
    x: ctx.x, u32: ctx.u32, keys: d.keys, id: d.id, lo: d.lo, wq: d.wq, batch: Math.min(d.batch, ctx.inputCap),
    at: ctx.input, atIdx: ctx.input >>> 2, tags: new Int32Array(d.tags), header: cmds.header, st,
  };
  while (st.seq < end) submitBatch(s, end);
}

/**
 * Take up to a batch of loop_cmds (or sleep for them), stamp them, queue them with one
 * loop_queue_work_batch.
 * @param {any} s the submitter's state (submitRange())
 * @param {number} end
 */
function submitBatch(s, end) {
  const { x, st } = s;
  /** @type {Int32Array} */
  const tags = s.tags;
  const seq = st.seq;
  const want = Math.min(s.batch, end - seq);
  let got = x.arena_alloc_batch(s.header, s.at, want); // blk-mq tags: lock-free pops
  if (got === 0) {
    // every command is in flight: sleep until a kworker frees a batch (a tag wait:
    // blk_mq_get_tag's sbitmap wait queue, woken by blk_mq_put_tag)
    st.tagWaits++;
    const tw = performance.now();
    Atomics.add(tags, TAGS.WAITERS, 1); // pairs with the kworkers' load after arena_free_batch
    const woken = Atomics.load(tags, TAGS.WAKE);
    // try again after saying so: a free that came before the add is seen here, one
    // after it bumps TAGS.WAKE (seq-cst on both sides)
    got = x.arena_alloc_batch(s.header, s.at, want);
    if (got === 0) Atomics.wait(tags, TAGS.WAKE, woken, 5); // pairs with the kworkers' add + notify; 5 ms cap
    Atomics.sub(tags, TAGS.WAITERS, 1);
    st.tagWaitMs += performance.now() - tw;
    if (got === 0) return;
  }
  stamp(s.u32, s.atIdx, got, s.id, s.keys, seq);
  st.queuedWorks += x.loop_queue_work_batch(s.lo, s.wq, s.at, got);
  st.seq = seq + got;
  st.calls++;
}

/**
 * The checks of one batch of `n` commands (offsets at u32[outIdx..]) taken from list `row`;
 * returns the number of FIFO breaks and duplicates, as fifoBroken * 2^16 + dupes.
 * @param {Uint32Array} u32 @param {number} outIdx @param {number} n @param {number} row @param {number} nsub
 * @param {Int32Array} lastSeq @param {Uint8Array} seen @param {number[]} seqBase
 */
function checkBatch(u32, outIdx, n, row, nsub, lastSeq, seen, seqBase) {
  let fifoBroken = 0;
  let dupes = 0;
  for (let i = 0; i < n; i++) {
    const c = u32[outIdx + i];
    const s = u32[(c + LC.TAG) >>> 2];
    const seq = u32[(c + LC.SEQ) >>> 2];
    const li = row * nsub + s;
    if (lastSeq[li] >= seq) fifoBroken++; // FIFO per list: one submitter's seqs only grow
    lastSeq[li] = seq; // only the kworker running this work writes its row
    if (Atomics.add(seen, seqBase[s] + seq, 1) !== 0) dupes++; // pairs with other kworkers' adds and the main thread's final read
  }
  return fifoBroken * 65536 + dupes;
}

/**
 * @param {import('../wasm/thread.js').ThreadContext} ctx
 * @param {any} d
 * @param {any} cmds the loop_cmd arena layout
 * @param {any} workers the loop_worker arena layout
 */
function kworker(ctx, d, cmds, workers) {
  const k = {
    x: ctx.x, u32: ctx.u32, wq: d.wq, me: d.me, header: cmds.header,
    active: new Int32Array(d.active), lastSeq: new Int32Array(d.lastSeq), seen: new Uint8Array(d.seen),
    handledTotal: new Int32Array(d.handled), tags: new Int32Array(d.tags),
    /** @type {number[]} */ seqBase: d.seqBase, /** @type {number[]} */ targets: d.targets,
    nsub: d.seqBase.length, rootIndex: workers.capacity, /* the root list's row in active/lastSeq */ wbase: workers.base,
    out: ctx.out, outIdx: ctx.out >>> 2, cap: Math.min(d.batch, ctx.outCap), spinPerCmd: d.cmdCostNs > 0 ? d.cmdCostNs : 0,
    executions: 0, handled: 0, batches: 0, reentered: 0, fifoBroken: 0, dupes: 0, idled: 0, tagWakes: 0, sink: 0,
  };
  // the loop is small and the execution a function of its own: V8 optimizes execute() as
  // a function during the warm-up (an OSR compile of one big loop took 17-24 ms of a
  // platform thread's CPU and came late, in a timed round)
  for (;;) {
    const w = k.x.loop_wq_pick(k.wq, k.me, d.spin) >>> 0;
    if (w === 0) break; // stopped
    execute(k, w);
  }
  return {
    role: 'kworker', me: d.me, executions: k.executions, handled: k.handled, batches: k.batches, reentered: k.reentered, fifoBroken: k.fifoBroken,
    dupes: k.dupes, idled: k.idled, tagWakes: k.tagWakes, sink: k.sink, canaryOk: ctx.checkCanary(),
  };
}

/**
 * One execution of work `w` (process_one_work of loop_workfn): batches until its list is
 * empty. The loop is small and a batch a function of its own (step): V8 optimizes step as
 * a function, called thousands of times in the warm-up; in the kworker design a whole
 * phase can be a handful of executions, and their one big loop was OSR-compiled late (a
 * TurboFan job of 17-24 ms on a platform thread during timed rounds, perf and --trace-opt).
 * @param {any} k the kworker's state (kworker())
 * @param {number} w
 */
function execute(k, w) {
  const lo = k.u32[(w + WORK.LO) >>> 2];
  const row = w === lo + LO.ROOT_WORK ? k.rootIndex : (w - LW.WORK - k.wbase) / LW.SIZE;
  if (Atomics.add(k.active, row, 1) !== 0) k.reentered++; // pairs with the Atomics.sub below, on any kworker
  k.executions++;
  while (step(k, w, row)) ;
  Atomics.sub(k.active, row, 1); // pairs with the Atomics.add on entry (this or another kworker's)
  k.x.loop_wq_done(k.wq, k.me, w);
}

/**
 * One loop_process_batch of work `w` and what follows it: the checks, the tags freed (and
 * their waiters woken), the handled count (and the phase's end). False when the list was empty.
 * @param {any} k the kworker's state (kworker())
 * @param {number} w
 * @param {number} row the work's row in active / lastSeq
 */
function step(k, w, row) {
  const { x, u32 } = k;
  /** @type {Int32Array} */
  const tags = k.tags;
  const n = x.loop_process_batch(w, k.out, k.cap, performance.now());
  if (n <= 0) {
    k.idled += n < 0 ? 1 : 0; // no branch of its own: one that first runs after V8 optimized step deopts it
    return false;
  }
  k.batches++;
  const bad = checkBatch(u32, k.outIdx, n, row, k.nsub, k.lastSeq, k.seen, k.seqBase);
  if (bad !== 0) {
    k.fifoBroken += Math.floor(bad / 65536);
    k.dupes += bad % 65536;
  }
  if (k.spinPerCmd > 0) {
    const until = performance.now() + (n * k.spinPerCmd) / 1e6;
    while (performance.now() < until) k.sink++;
  }
  k.handled += n;
  x.arena_free_batch(k.header, k.out, n); // the tags go back (blk_mq_free_request)
  // sbitmap_queue_wake_up: wake the submitters waiting for a tag, once per freed batch
  if (Atomics.load(tags, TAGS.WAITERS) !== 0) { // pairs with the submitter's add before its retry
    Atomics.add(tags, TAGS.WAKE, 1); // pairs with the submitter's load + wait
    Atomics.notify(tags, TAGS.WAKE);
    k.tagWakes++;
  }
  /** @type {Int32Array} */
  const hw = k.handledTotal;
  const total = Atomics.add(hw, 0, n) + n; // pairs with the main thread's drain check
  // the phase whose last command this was: only this kworker's add reaches its target
  const targets = k.targets;
  for (let p = 0; p < targets.length; p++) {
    if (total === targets[p]) {
      Atomics.store(hw, DONE, p + 1); // pairs with the main thread's load + wait
      Atomics.notify(hw, DONE);
    }
  }
  return true;
}

try {
  main();
} catch (e) {
  post({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
  // end the main thread's wait on the done word (it sleeps synchronously, not reading messages)
  const h = workerData?.handled;
  if (h instanceof SharedArrayBuffer) {
    const hi = new Int32Array(h);
    Atomics.store(hi, DONE, -1); // pairs with the main thread's load after its wait
    Atomics.notify(hi, DONE);
  }
}

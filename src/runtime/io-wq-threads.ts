/**
 * io-wq on real worker_threads: producer threads queue works with io_wq_enqueue
 * (Wasm, io_wq_enqueue_batch) while io-wq worker threads run io_wq_worker_loop (Wasm)
 * over the one shared memory: the hashed chains, the hash bits and the stalled bit,
 * the free list (a worker sleeps in memory.atomic.wait32 on its slot word; an enqueue
 * claims it FREE -> BUSY and notifies). Nothing crosses a thread boundary per work.
 *
 * ```ts
 * const r = await runIoWqThreads({ producers: 2, workers: 2, count: 100_000, keys: 16 });
 * r.ok;              // every work ran exactly once; no two works of a key at once; per-key order kept
 * r.worksPerSec;     // wall clock, from the start gate until the last work was done
 * ```
 *
 *   main thread                          producer p (P threads)        worker w (W threads)
 *   -----------------------------------  ----------------------------  ---------------------------
 *   io_wq_init(W, W); attach W slots     gate                          io_wq_worker_loop:
 *     (reserve: nr_workers = max)        io_wq_enqueue_batch: insert     io_get_next_work (a chain
 *   works: IO_WQ_FN_CHECK, hashed by       under acct->lock, clear         or a plain work), the
 *     key (io_wq_hash_work), seq per       STALLED, claim a FREE worker    built-in runs, work_done
 *     key in queueing order                (notify)                        (hash released, STALLED
 *   gate; sleep, check ACCT_DONE every                                     cleared, a free worker
 *     1 ms (Atomics.wait) until = count                                    claimed); idle: FREE,
 *   io_wq_exit_start (wakes sleepers)
 *   checks: runs == 1 per work; per key                                    wait32
 *     no overlap, no reorder, runs       exits                           EXIT: io_wq_worker_exit
 *
 * The works are the built-in IO_WQ_FN_CHECK (assembly/io-wq.ts): each increments its
 * key's `active` word on entry and decrements it on exit (a second worker inside is an
 * overlap: hashed works of one file ran in parallel), checks that it is the next seq of
 * its key (a reorder otherwise), and spins `costSpins` iterations in between. With
 * keys 0 the works are unhashed IO_WQ_FN_SPIN (only exactly-once is checked).
 *
 * The workers are a fixed pool (nr_workers = max_workers = W), so io_wq_enqueue never
 * answers "create a worker"; a worker that is the last one running and sleeps with
 * work runnable takes itself off the free list again (assembly/io-wq.ts, DIVERGENCE
 * "going idle"). This harness is the Wasm queue alone, with producers on threads too;
 * under Kernel.boot({ runtime: 'threads' }) the kernel API's io-wq workers are threads
 * running the same loop (src/runtime/io-wq-thread.js, src/drivers/io_uring/io-wq-threads.ts),
 * with each request's kernel-model part handed to the main thread.
 */
import { Worker } from 'node:worker_threads';
import { KwqError } from '../kernel/error.js';
import {
  IoWqEngine, IO_WQ_ACCT_BOUND, IO_WQ_ACCT_F, IO_WQ, IO_WQ_FN_CHECK, IO_WQ_FN_SPIN, type IoWqAcctStats,
} from '../wasm/io-wq.js';

export interface IoWqThreadsOptions {
  /** producer threads (1..16) */
  producers: number;
  /** io-wq worker threads (1..64: IO_WQ_MAX_SLOTS) */
  workers: number;
  /** works in all (each queued and run once) */
  count: number;
  /** hash keys ("files"; each owned by one producer); 0: unhashed works */
  keys: number;
  /** works per io_wq_enqueue_batch call (default 64) */
  batch?: number;
  /** spin iterations inside each work (default 0) */
  costSpins?: number;
  /** a worker's read-only re-checks before it sleeps (default 4096) */
  spin?: number;
  /** give up after this many ms (default 60_000) */
  timeoutMs?: number;
}

export interface IoWqThreadsReport {
  ok: boolean;
  problems: string[];
  count: number;
  /** wall ms from the start gate until the last work was done */
  ms: number;
  worksPerSec: number;
  /** startLagMs: from the main thread's gate store to the producer's start; ms: from then to its last enqueue; takenAtEnd / doneAtEnd: the acct's chains taken and works done then; cpuMs / queueMs: its CPU and run-queue wait time (schedstat) */
  producers: { id: number; enqueued: number; calls: number; creates: number; wakes: number; ms: number; startLagMs: number; takenAtEnd: number; doneAtEnd: number; cpuMs?: number; queueMs?: number }[];
  workers: { slot: number; runs: number; loops: number; hostRuns: number; cpuMs?: number; queueMs?: number }[];
  /** per-key checks summed (hashed works only) */
  checks: { overlaps: number; reorders: number };
  acct: IoWqAcctStats;
  /** threads still alive after the run (0 after a clean shutdown) */
  threadsLeft: number;
}

/** the start gate's values (a sync word): producers wait while CLOSED; a thread that fails after attaching sets FAILED (io-wq-worker.js) */
const GATE_CLOSED = 0;
const GATE_OPEN = 1;
const GATE_FAILED = 2;

const ENTRY = new URL('./io-wq-worker.js', import.meta.url);

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new KwqError('runIoWqThreads', `option ${field} must be an integer in ${min}..${max}, got ${String(v)}`);
  return v;
}

/**
 * INIT_WQ_WORK (and io_wq_hash_work, a seq per key in queueing order) of producer p's
 * works: p, p+P, ... of `works`; its keys are p, p+P, ... (one producer per key).
 * The per-work loops live in small functions of their own, not in runIoWqThreads: a
 * hot loop there made V8 compile the whole async function (OSR, then a full TurboFan
 * job of 7-37 ms CPU) on a background thread that was still running after the gate
 * opened, taking one of a 2-CPU machine's CPUs from the producers (perf, --trace-opt).
 */
function prepareWorks(ie: IoWqEngine, works: Uint32Array, p: number, P: number, keys: number, checks: number[], seqOf: Uint32Array, costSpins: number): Uint32Array {
  const mine = new Uint32Array(Math.ceil((works.length - p) / P));
  const myKeys = Math.floor((keys - p + P - 1) / P);
  for (let i = p, j = 0; i < works.length; i += P, j++) {
    const w = works[i]!;
    if (keys === 0) {
      ie.workInit(w, IO_WQ_FN_SPIN, costSpins, 0);
    } else {
      const key = p + P * (j % myKeys);
      ie.workInit(w, IO_WQ_FN_CHECK, checks[key]!, costSpins);
      ie.setTag(w, 0, seqOf[key]!++);
      ie.hashWork(w, key);
    }
    mine[j] = w;
  }
  return mine;
}

/** exactly-once, after the run: works that never ran and works that ran more than once */
function countRuns(ie: IoWqEngine, works: Uint32Array): { never: number; twice: number } {
  let never = 0;
  let twice = 0;
  for (let i = 0; i < works.length; i++) {
    const r = ie.workRuns(works[i]!);
    if (r === 0) never++;
    else if (r > 1) twice++;
  }
  return { never, twice };
}

export async function runIoWqThreads(o: IoWqThreadsOptions): Promise<IoWqThreadsReport> {
  const P = int(o.producers, 'producers', 1, 16);
  const W = int(o.workers, 'workers', 1, IO_WQ.MAX_SLOTS);
  const count = int(o.count, 'count', 1, 1 << 22);
  const keys = o.keys === 0 ? 0 : Math.max(int(o.keys, 'keys', 0, 1 << 16), P);
  const batch = int(o.batch ?? 64, 'batch', 1, 2040);
  const costSpins = int(o.costSpins ?? 0, 'costSpins', 0, 1 << 24);
  const spin = int(o.spin ?? 4096, 'spin', 0, 2 ** 31 - 1);
  const timeoutMs = o.timeoutMs ?? 60_000;
  const ie = new IoWqEngine({ wqs: 1, works: count, checks: keys, threadSlots: P + W + 1 });
  const wqOff = ie.wqAlloc();
  const wq = ie.wq(wqOff);
  wq.init(W, W);
  const slots: number[] = [];
  for (let i = 0; i < W; i++) slots.push(wq.attach(IO_WQ_ACCT_BOUND, true));
  const works = new Uint32Array(count);
  ie.works.allocBatch(works);
  const checks: number[] = [];
  for (let key = 0; key < keys; key++) checks.push(ie.checkAlloc());
  const seqOf = new Uint32Array(Math.max(keys, 1));
  const per: Uint32Array[] = [];
  for (let p = 0; p < P; p++) per.push(prepareWorks(ie, works, p, P, keys, checks, seqOf, costSpins));
  const gate = 0;
  ie.engine.sync.store(gate, GATE_CLOSED);
  const t = ie.engine.transferable();
  const threads: { w: Worker; done: Promise<Record<string, unknown>>; ready: Promise<void>; exited: Promise<void> }[] = [];
  let slot = 1;
  const spawn = (data: Record<string, unknown>): void => {
    const execArgv = process.execArgv.some((a) => a.startsWith('--input-type')) ? [] : undefined;
    const w = new Worker(ENTRY, { execArgv, workerData: { ...data, slot: slot++, engine: t, wq: wqOff, gate } });
    let rr!: () => void;
    let rj!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => { rr = res; rj = rej; });
    let ex!: () => void;
    const exited = new Promise<void>((res) => { ex = res; });
    const done = new Promise<Record<string, unknown>>((res, rej) => {
      w.on('message', (m: { type: string; report?: Record<string, unknown>; message?: string }) => {
        if (m.type === 'ready') rr();
        else if (m.type === 'done') res(m.report!);
        else if (m.type === 'error') { const e = new KwqError('io-wq thread', m.message ?? 'failed'); rj(e); rej(e); }
      });
      w.on('error', (e) => { rj(e); rej(e); });
      w.on('exit', (code) => { ex(); const e = new KwqError('io-wq thread', `exited (code ${code}) before it finished`); rj(e); rej(e); });
    });
    ready.catch(() => undefined);
    done.catch(() => undefined);
    threads.push({ w, done, ready, exited });
  };
  for (const s of slots) spawn({ role: 'worker', workerSlot: s, spin });
  for (let p = 0; p < P; p++) spawn({ role: 'producer', id: p, works: per[p], batch });
  let alive = threads.length;
  for (const th of threads) void th.exited.then(() => { alive--; });
  const u = ie.u32;
  const doneAt = (acct: number): number => (wqOff + IO_WQ.ACCT + acct * IO_WQ.ACCT_SIZE + IO_WQ_ACCT_F.DONE) >> 2;
  const doneCount = (): number => Atomics.load(u, doneAt(0)) + Atomics.load(u, doneAt(1)); // pairs with io_wq_work_done's adds
  let exitStarted = false;
  try {
    await Promise.all(threads.map((th) => th.ready));
    const gi = ie.engine.sync.index(gate);
    const t0 = performance.now();
    const gateNs = process.hrtime.bigint();
    ie.engine.sync.store(gate, GATE_OPEN); // pairs with the producers' Atomics.wait on the gate
    ie.engine.sync.notify(gate);
    const deadline = t0 + timeoutMs;
    // The main thread sleeps at once and checks every 1 ms, synchronously, as C's does
    // (bench/native/io-wq.c: FUTEX_WAKE, then nanosleep 1 ms between checks). Awaiting
    // here instead kept this thread on its CPU ~0.1 ms after the notify (the promise and
    // timer set-up): by then the first producer had queued a work and woken a worker,
    // and the scheduler gave this CPU to that long-sleeping worker before the second
    // producer, which then started 1-5 ms late while the worker took chains beside the
    // first one (perf sched: the round turned into the slow regime). A thread that
    // fails after the gate sets it to GATE_FAILED, ending this wait.
    let ms = -1;
    while (Atomics.load(ie.engine.i32, gi) === GATE_OPEN && performance.now() < deadline) {
      if (doneCount() >= count) { ms = performance.now() - t0; break; }
      Atomics.wait(ie.engine.i32, gi, GATE_OPEN, 1); // pairs with a failing thread's store + notify
    }
    const prodReports = await Promise.race([
      Promise.all(threads.slice(W).map((th) => th.done)),
      new Promise<never>((_, rej) => setTimeout(() => rej(new KwqError('runIoWqThreads', `producers did not finish within ${timeoutMs} ms`)), Math.max(0, deadline - performance.now())).unref()),
    ]);
    while (doneCount() < count) {
      if (Atomics.load(ie.engine.i32, gi) === GATE_FAILED) await Promise.all(threads.map((th) => th.done)); // rejects with the thread's error
      if (performance.now() > deadline) {
        const st = wq.stats(IO_WQ_ACCT_BOUND);
        const states = slots.map((s) => wq.slotState(s)).join(',');
        throw new KwqError('runIoWqThreads', `only ${doneCount()} of ${count} works were done within ${timeoutMs} ms ` +
          `(acct: running ${st.nrRunning}, free ${st.nrFree}, stalled ${st.stalled}, pending ${st.pending}, stalls ${st.stalls}; slots ${states}; hash map ${JSON.stringify(wq.hashMap())})`);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    if (ms < 0) ms = performance.now() - t0;
    // io_wq_exit_start: EXIT set, every sleeper woken; each worker runs io_wq_worker_exit and returns
    wq.exitStart();
    exitStarted = true;
    const wkReports = await Promise.race([
      Promise.all(threads.slice(0, W).map((th) => th.done)),
      new Promise<never>((_, rej) => setTimeout(() => rej(new KwqError('runIoWqThreads', `workers did not exit within ${timeoutMs} ms of io_wq_exit_start`)), timeoutMs).unref()),
    ]);
    await Promise.all(threads.map((th) => th.exited));
    const problems: string[] = [];
    const { never, twice } = countRuns(ie, works);
    if (never) problems.push(`${never} work(s) never ran`);
    if (twice) problems.push(`${twice} work(s) ran more than once`);
    let overlaps = 0;
    let reorders = 0;
    for (let key = 0; key < keys; key++) {
      const c = ie.check(checks[key]!);
      overlaps += c.overlaps;
      reorders += c.reorders;
      if (c.runs !== seqOf[key]) problems.push(`key ${key}: ${c.runs} runs of ${seqOf[key]} works`);
      if (c.active !== 0) problems.push(`key ${key}: ${c.active} worker(s) still inside`);
    }
    if (overlaps) problems.push(`${overlaps} time(s) two works of one key (hash) ran at once`);
    if (reorders) problems.push(`${reorders} work(s) of a key ran out of queueing order`);
    const hostRuns = wkReports.reduce((a, r) => a + (r['hostRuns'] as number), 0);
    if (hostRuns) problems.push(`${hostRuns} HOST work(s) came back from the loop (none were queued)`);
    for (const r of [...prodReports, ...wkReports]) if (r['canaryOk'] !== true) problems.push(`${r['role'] as string}: the canary changed`);
    const acct = wq.stats(IO_WQ_ACCT_BOUND);
    if (acct.enqueued !== count || acct.done !== count) problems.push(`acct counted ${acct.enqueued} enqueued, ${acct.done} done, of ${count}`);
    if (acct.pending) problems.push('the work list is not empty');
    if (acct.nrWorkers !== 0) problems.push(`nr_workers is ${acct.nrWorkers} after every worker exited`);
    const hm = wq.hashMap();
    if (hm.lo !== 0 || hm.hi !== 0) problems.push('a hash bit is still set');
    const cpuMs = (r: Record<string, unknown>): number | undefined => (r['cpu'] as { ms: number } | undefined)?.ms;
    const queueMs = (r: Record<string, unknown>): number | undefined => (r['cpu'] as { queueMs: number } | undefined)?.queueMs;
    const slotRuns = (s: number): number => u[(wqOff + IO_WQ.SLOTS + s * IO_WQ.SLOT_SIZE + 12) >> 2]!;
    return {
      ok: problems.length === 0, problems, count, ms, worksPerSec: count / (ms / 1000),
      producers: prodReports.map((r) => ({ id: r['id'] as number, enqueued: r['enqueued'] as number, calls: r['calls'] as number, creates: r['creates'] as number, wakes: r['wakes'] as number, ms: r['ms'] as number,
        startLagMs: Number((r['startNs'] as bigint) - gateNs) / 1e6, takenAtEnd: r['takenAtEnd'] as number, doneAtEnd: r['doneAtEnd'] as number, cpuMs: cpuMs(r), queueMs: queueMs(r),
      })),
      workers: wkReports.map((r) => ({ slot: r['slot'] as number, runs: slotRuns(r['slot'] as number), loops: r['loops'] as number, hostRuns: r['hostRuns'] as number, cpuMs: cpuMs(r), queueMs: queueMs(r) })),
      checks: { overlaps, reorders }, acct, threadsLeft: alive,
    };
  } finally {
    if (!exitStarted) wq.exitStart();
    await Promise.all(threads.map((th) => th.w.terminate().catch(() => undefined)));
  }
}

/**
 * loop's worker dispatch on real worker_threads: submitter threads from different
 * "cgroups" queue commands concurrently through Wasm loop_queue_work, kworker threads
 * of one unbound workqueue (assembly/loop-wq.ts) drain the per-worker FIFOs, and
 * (optionally) the main thread runs the idle reaper (loop_free_idle_workers) while
 * they do. Every structure is in the one shared memory; no message per command.
 *
 * ```ts
 * const r = await runLoopThreads({ submitters: 2, kworkers: 2, cgroups: 16, count: 100_000 });
 * r.ok;               // every command handled exactly once, FIFO per worker, no work re-entered
 * r.requestsPerSec;   // wall clock, from the start gate until every command was handled
 * // a warm-up, then timed rounds on the same threads (bench/loop.ts section 3)
 * const m = await runLoopThreads({ submitters: 2, kworkers: 2, cgroups: 16, count: 200_000, warmup: 200_000, rounds: 5 });
 * m.rounds;           // each round's ms, req/s, per-thread CPU / run-queue ms, V8 threads' CPU
 * ```
 *
 * Timing (measured with perf, --trace-opt, schedstat): threads are new for each call, so
 * V8 compiles their hot functions while they run; without a warm-up its TurboFan jobs
 * took 35 of a 50,000-command window's 120 CPU-ms on a 2-CPU machine, with the threads
 * in baseline code meanwhile (quick-mode kwq/C 0.1-0.5). Hence the warm-up phases on
 * the same threads, a settle until V8's threads are idle, and per-batch functions that
 * V8 optimizes early (loop-kworker.js). The main thread sleeps synchronously on a done
 * word from the gate to the phase's last command (no event-loop turn, no 1 ms poll),
 * then checks the workqueue idle every 50 us; kwq-native does the same.
 *
 * What runs where (be precise about it): the dispatch (sections 6.4-6.6: tree, FIFOs,
 * PENDING, idle list, reaper walk) and the workqueue (queue_work, non-reentrancy,
 * parallel execution) run on these threads. The kernel model (css references,
 * memcg/blkcg charging, bios, backing files, timers) does NOT: it runs on the
 * kernel's one thread. A command here carries a cgroup id and a sequence stamp;
 * "handling" it is the checks of loop-kworker.js plus an optional busy loop
 * (`cmdCostNs`). The loop driver itself, under Kernel.boot({ runtime: 'threads' }),
 * runs its kworkers on threads too (src/drivers/loop/loop-kthreads.ts, the same Wasm
 * workqueue and FIFO step) with the kernel-model part of each command on the main
 * thread; this harness is the dispatch alone, with submitters on threads as well.
 *
 * Waiting, so that a 2-CPU machine shared with other work spends its time on the
 * dispatch (measured: bench/stress.ts, docs/performance.md "reliability runs"):
 * a submitter with every loop_cmd in flight sleeps until a kworker frees a batch
 * (Atomics.wait/notify on the TAGS words, blk-mq's tag wait), rather than polling
 * on a 50 us timer, which cost 10-40x in throughput; the reaper does not enter
 * lo_work_lock while the word shows it held (a preempted holder would make it spin).
 */
import { Worker } from 'node:worker_threads';
import { KwqError } from '../kernel/error.js';
import { LoopEngine, LO, WQ } from '../wasm/loop.js';
import { readFileSync, readdirSync } from 'node:fs';
import { TAGS } from './loop-kworker-layout.js';

export interface LoopThreadsOptions {
  /** submitter threads (each one "cgroup"-set: cgroup ids are spread round-robin over them) */
  submitters: number;
  /** kworker threads of the workqueue (1..64) */
  kworkers: number;
  /** issuing cgroups (worker keys 2, 3, ...; 0 would be the root queue) */
  cgroups: number;
  /**
   * 'per-cgroup' (default): each command carries its cgroup's id; 'kworker' (<= 5.13):
   * every command carries key 0, so all go to the one root FIFO and its one work
   * (at most one kworker runs it at a time: the single "loopN" thread of that design)
   */
  design?: 'per-cgroup' | 'kworker';
  /** commands in all (split over the submitters) */
  count: number;
  /** commands per loop_queue_work_batch call and per loop_process_batch call (default 64) */
  batch?: number;
  /** loop_cmd arena: commands in flight at once (blk-mq tags; default 1024) */
  inflight?: number;
  /** loop_worker arena capacity (default: cgroups; smaller makes allocations fail to the root queue) */
  workerCapacity?: number;
  /** percent of worker allocations that fail (fault injection; default 0) */
  failPct?: number;
  /** a busy loop per handled command, ns (default 0: dispatch only) */
  cmdCostNs?: number;
  /** idle reaper on the main thread every `reapEveryMs` with this timeout (ms); default: no reaper */
  reap?: { everyMs: number; timeoutMs: number };
  /** kworker idle spin in loop_wq_pick once it counts itself idle (read-only checks of `wake` before sleeping, ~1.7 ns each here; default 20_000) */
  spin?: number;
  /** give up after this many ms (default 60_000) */
  timeoutMs?: number;
  /**
   * commands in a first, untimed phase on the same threads (default 0): V8 compiles
   * the threads' hot functions then, not in a timed round, and the cgroups' workers exist
   */
  warmup?: number;
  /** timed rounds of `count` commands each on the same threads (default 1) */
  rounds?: number;
  /**
   * called after each timed round with the threads idle (the submitters at the gate,
   * the kworkers asleep in loop_wq_pick): bench/loop.ts runs the native C round there
   */
  betweenRounds?: (round: number, r: LoopThreadsRound) => void | Promise<void>;
}

/** one timed round (phase) */
export interface LoopThreadsRound {
  ms: number;
  requestsPerSec: number;
  /** per thread (kworkers first, then submitters), from /proc/self/task/<tid>/schedstat over the round */
  cpuMs: number[];
  runQueueMs: number[];
  /** the main thread's CPU and this process's other threads' (V8's compiler and GC threads, libuv's) over the round */
  mainCpuMs: number;
  otherCpuMs: number;
  /** the workqueue's executions and collisions in this round */
  executed: number;
  collisions: number;
}

export interface LoopThreadsReport {
  ok: boolean;
  problems: string[];
  /** commands per round */
  count: number;
  /** the median round's */
  ms: number;
  requestsPerSec: number;
  rounds: LoopThreadsRound[];
  /** wall ns per command over the whole run, per thread that worked (ms * threads / count) */
  /** cpuMs / runQueueMs: the thread's CPU time and time runnable without a CPU (/proc schedstat; undefined off Linux) */
  submitters: { id: number; queued: number; calls: number; tagWaits: number; tagWaitMs: number; queuedWorks: number; ms: number; cpuMs?: number; runQueueMs?: number }[];
  /** over every phase (warm-up included); tagWakes: freed batches after which it woke submitters waiting for a tag */
  kworkers: { me: number; executions: number; handled: number; batches: number; reentered: number; fifoBroken: number; dupes: number; idled: number; tagWakes: number; cpuMs?: number; runQueueMs?: number }[];
  dispatch: { queued: number; rootQueued: number; allocFailures: number; workersCreated: number; queueNoop: number; rescued: number; workersFreed: number; nrWorkers: number };
  workqueue: { queued: number; executed: number; collisions: number };
  reaperRuns: number;
  /** 20 us sleeps of the reaper waiting for lo_work_lock to look free */
  reaperNaps: number;
}

const ENTRY = new URL('./loop-kworker.js', import.meta.url);

/** a thread's CPU and run-queue ns so far, by tid (main thread side); [0, 0] off Linux */
function taskSchedstat(tid: number | undefined): [number, number] {
  if (tid === undefined) return [0, 0];
  try {
    const [run, queue] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    return [Number(run), Number(queue)];
  } catch {
    return [0, 0];
  }
}

/** the CPU ns so far of this process's other threads (V8's platform threads, libuv's, ...), all but `mine` and the main thread */
function otherThreadsCpuNs(mine: Set<number>): number {
  let ns = 0;
  try {
    for (const t of readdirSync('/proc/self/task')) {
      const tid = Number(t);
      if (tid !== process.pid && !mine.has(tid)) ns += taskSchedstat(tid)[0];
    }
  } catch {
    return 0;
  }
  return ns;
}

/** the done word's index in `handled` (loop-kworker.js DONE) */
const DONE = 1;

function int(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new KwqError('runLoopThreads', `option ${field} must be an integer in ${min}..${max}, got ${String(v)}`);
  return v;
}

export async function runLoopThreads(o: LoopThreadsOptions): Promise<LoopThreadsReport> {
  const S = int(o.submitters, 'submitters', 1, 32);
  const K = int(o.kworkers, 'kworkers', 1, WQ.MAX_KWORKERS);
  const C = int(o.cgroups, 'cgroups', 1, 1 << 20);
  const count = int(o.count, 'count', 1, 1 << 26);
  const warmup = int(o.warmup ?? 0, 'warmup', 0, 1 << 26);
  const R = int(o.rounds ?? 1, 'rounds', 1, 1000);
  if (warmup + R * count > 2 ** 31 - 1) throw new KwqError('runLoopThreads', `warmup + rounds * count must be below 2^31, got ${warmup + R * count}`);
  const batch = int(o.batch ?? 64, 'batch', 1, 4096);
  const inflight = int(o.inflight ?? 1024, 'inflight', 1, 1 << 20);
  const workerCap = int(o.workerCapacity ?? C, 'workerCapacity', 1, 1 << 20);
  const failPct = int(o.failPct ?? 0, 'failPct', 0, 100);
  const spin = int(o.spin ?? 20_000, 'spin', 0, 2 ** 32 - 1);
  const timeoutMs = o.timeoutMs ?? 60_000;
  const le = new LoopEngine({ workers: workerCap, cmds: inflight, devices: 1, workqueues: 1, threadSlots: S + K + 1, slotBytes: 64 + 16 * Math.max(batch, 64) });
  const d = le.device(failPct, 0x1234_5678)!;
  const wq = le.workqueue(K);
  const gate = 0;
  le.engine.sync.store(gate, 0);
  // phases: the warm-up (if any), then the rounds; phase p opens when the gate reaches p
  // The warm-up is several phases, so that every path of the threads' hot functions (a
  // phase's end among them) has run before V8 optimizes them: a path first taken in
  // optimized code deoptimizes it, and the new compile (5-43 ms of a platform thread's
  // CPU, --trace-opt --trace-deopt) then came in a timed round.
  const WARMUP_PHASES = Math.min(4, warmup);
  const warmCounts = Array.from({ length: WARMUP_PHASES }, (_, i) => Math.floor(warmup / WARMUP_PHASES) + (i < warmup % WARMUP_PHASES ? 1 : 0));
  const phaseCounts = [...warmCounts, ...Array.from({ length: R }, () => count)];
  const total = phaseCounts.reduce((a, b) => a + b, 0);
  const targets = phaseCounts.map((_, p) => phaseCounts.slice(0, p + 1).reduce((a, b) => a + b, 0));
  const share = (n: number, s: number): number => Math.floor(n / S) + (s < n % S ? 1 : 0);
  // the checks' shared state (loop-kworker.js): rows = worker arena index, + 1 for the root list
  const rows = workerCap + 1;
  const active = new SharedArrayBuffer(4 * rows);
  const lastSeq = new SharedArrayBuffer(4 * rows * S);
  new Int32Array(lastSeq).fill(-1);
  const seen = new SharedArrayBuffer(total);
  const handled = new SharedArrayBuffer(64); // [0] commands handled, [DONE] the last phase done (-1: a thread failed)
  const tags = new SharedArrayBuffer(4 * TAGS.WORDS); // the tag-wait words (loop-kworker-layout.js)
  const per = Array.from({ length: S }, (_, s) => phaseCounts.reduce((a, n) => a + share(n, s), 0));
  const seqBase = per.map((_, s) => per.slice(0, s).reduce((a, b) => a + b, 0));
  const design = o.design ?? 'per-cgroup';
  if (design !== 'per-cgroup' && design !== 'kworker') throw new KwqError('runLoopThreads', `option design must be per-cgroup or kworker, got ${String(design)}`);
  const keysOf = (s: number): number[] => {
    if (design === 'kworker') return [0];
    const ks: number[] = [];
    for (let c = s; c < C; c += S) ks.push(2 + c);
    return ks.length > 0 ? ks : [2 + (s % C)];
  };
  const transferable = le.transferable();
  const threads: { w: Worker; done: Promise<Record<string, unknown>>; ready: Promise<void>; tid?: number }[] = [];
  let slot = 1;
  const spawn = (data: Record<string, unknown>): void => {
    const execArgv = process.execArgv.some((a) => a.startsWith('--input-type')) ? [] : undefined;
    const w = new Worker(ENTRY, { execArgv, workerData: { ...data, slot: slot++, engine: transferable, gate, lo: d.lo, wq, tags, handled } });
    let rr!: () => void;
    let rj!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => { rr = res; rj = rej; });
    const th: (typeof threads)[number] = { w, done: undefined as unknown as Promise<Record<string, unknown>>, ready };
    th.done = new Promise<Record<string, unknown>>((res, rej) => {
      w.on('message', (m: { type: string; report?: Record<string, unknown>; message?: string; tid?: number }) => {
        if (m.type === 'ready') { th.tid = m.tid; rr(); }
        else if (m.type === 'done') res(m.report!);
        else if (m.type === 'error') { const e = new KwqError('loop thread', m.message ?? 'failed'); rj(e); rej(e); }
      });
      w.on('error', (e) => { rj(e); rej(e); });
      w.on('exit', (code) => { const e = new KwqError('loop thread', `exited (code ${code}) before it finished`); rj(e); rej(e); });
    });
    ready.catch(() => undefined);
    th.done.catch(() => undefined);
    threads.push(th);
  };
  for (let me = 0; me < K; me++) spawn({ role: 'kworker', me, spin, batch, active, lastSeq, seen, seqBase, targets, cmdCostNs: o.cmdCostNs ?? 0 });
  for (let s = 0; s < S; s++) spawn({ role: 'submitter', id: s, keys: keysOf(s), phases: phaseCounts.map((n) => share(n, s)), batch });
  let reaperRuns = 0;
  let reaperNaps = 0;
  const i32 = le.engine.i32;
  const hw = new Int32Array(handled);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const sleepMs = (ms: number): void => { Atomics.wait(nap, 0, 0, ms); }; // pairs with nothing: a sleep
  const lock = (d.lo + LO.LOCK) >>> 2;
  const reap = (): void => {
    reaperRuns++;
    // lo_work_lock is a spinlock (assembly/spinlock.ts): going in while its holder
    // (a submitter or kworker) waits in the run queue spins the main thread until the
    // holder runs again, on a CPU the holder needs (profiled: the main thread spent most
    // of its time in loop_free_idle_workers). Wait for the word to look free: a short
    // read-only spin, then 20 us sleeps, at most ~1 ms in all. Racy (may be stale):
    // loop_free_idle_workers's spin_lock decides.
    const until = performance.now() + 1;
    for (let i = 0; Atomics.load(i32, lock) !== 0; i++) { // pairs with spin_lock's cmpxchg / spin_unlock's store
      if (i < 1_000) continue;
      if (performance.now() > until) break;
      reaperNaps++;
      sleepMs(0.02);
    }
    d.freeIdleWorkers(performance.now(), o.reap!.timeoutMs, false, () => undefined); // no css to put: no kernel model here
  };
  // after the warm-up: wait (at most 1 s) until this process's other threads (V8's
  // compiler threads above all) used < 0.1 ms of CPU in 10 ms, so that no optimizing
  // compile of the warm-up's code runs in a timed round
  const settle = (mine: Set<number>): void => {
    const until = performance.now() + 1_000;
    let last = otherThreadsCpuNs(mine);
    while (performance.now() < until) {
      sleepMs(10);
      const now = otherThreadsCpuNs(mine);
      if (now - last < 100_000) return;
      last = now;
    }
  };
  const failed = async (): Promise<never> => {
    await Promise.all(threads.map((t) => t.done)); // rejects with the thread's error
    throw new KwqError('runLoopThreads', 'a thread failed');
  };
  try {
    await Promise.all(threads.map((t) => t.ready));
    const rounds: LoopThreadsRound[] = [];
    const u = le.u32;
    for (let p = 1; p <= phaseCounts.length; p++) {
      const timed = p > phaseCounts.length - R;
      const mine = new Set(threads.map((t) => t.tid ?? -1));
      const s0 = threads.map((t) => taskSchedstat(t.tid));
      const m0 = taskSchedstat(process.pid)[0];
      const o0 = otherThreadsCpuNs(mine);
      const e0 = u[(wq + WQ.EXECUTED) >>> 2]!;
      const c0 = u[(wq + WQ.COLLISIONS) >>> 2]!;
      const deadline = performance.now() + timeoutMs;
      const t0 = performance.now();
      le.engine.sync.store(gate, p); // pairs with the threads' Atomics.wait on the gate
      le.engine.sync.notify(gate);
      // The main thread sleeps at once, synchronously, until the kworker that handled the
      // phase's last command wakes it (kwq-native's main thread: a futex wait): no event-loop
      // turn and no 1 ms timer, which kept this thread on a CPU after the gate and rounded the
      // end up to the next tick. The reaper, if any, runs on the wait's timeout.
      let nextReap = o.reap ? t0 + o.reap.everyMs : Infinity;
      for (let v = Atomics.load(hw, DONE); v < p; v = Atomics.load(hw, DONE)) { // pairs with the kworkers' store + notify
        if (v < 0) await failed();
        const now = performance.now();
        if (now > deadline) throw new KwqError('runLoopThreads', `only ${Atomics.load(hw, 0)} of ${targets[p - 1]} commands were handled within ${timeoutMs} ms`);
        if (now >= nextReap) { reap(); nextReap = performance.now() + o.reap!.everyMs; continue; }
        Atomics.wait(hw, DONE, v, Math.min(nextReap, deadline) - now);
      }
      // then the workqueue idle (the last kworker's loop_process_batch and loop_wq_done), checked every 50 us
      while (le.x.loop_wq_idle(wq) !== 1) {
        if (performance.now() > deadline) throw new KwqError('runLoopThreads', `the workqueue was not idle within ${timeoutMs} ms`);
        sleepMs(0.05);
      }
      const ms = performance.now() - t0;
      if (!timed) {
        if (p === WARMUP_PHASES) settle(new Set(threads.map((t) => t.tid ?? -1)));
        continue;
      }
      const s1 = threads.map((t) => taskSchedstat(t.tid));
      const m1 = taskSchedstat(process.pid)[0];
      const o1 = otherThreadsCpuNs(mine);
      const r: LoopThreadsRound = {
        ms, requestsPerSec: count / (ms / 1000),
        cpuMs: s1.map((x, i) => (x[0] - s0[i]![0]) / 1e6), runQueueMs: s1.map((x, i) => (x[1] - s0[i]![1]) / 1e6),
        mainCpuMs: (m1 - m0) / 1e6, otherCpuMs: (o1 - o0) / 1e6,
        executed: u[(wq + WQ.EXECUTED) >>> 2]! - e0, collisions: u[(wq + WQ.COLLISIONS) >>> 2]! - c0,
      };
      rounds.push(r);
      if (o.betweenRounds) await o.betweenRounds(rounds.length - 1, r);
    }
    le.engine.sync.store(gate, phaseCounts.length + 1); // the submitters report and end
    le.engine.sync.notify(gate);
    const subReports = await Promise.race([
      Promise.all(threads.slice(K).map((t) => t.done)),
      new Promise<never>((_, rej) => setTimeout(() => rej(new KwqError('runLoopThreads', `submitters did not report within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    le.x.loop_wq_stop(wq);
    const kwReports = await Promise.all(threads.slice(0, K).map((t) => t.done));
    const problems: string[] = [];
    const seenU8 = new Uint8Array(seen);
    let missing = 0;
    let twice = 0;
    for (let i = 0; i < total; i++) {
      if (seenU8[i] === 0) missing++;
      else if (seenU8[i]! > 1) twice++;
    }
    if (missing) problems.push(`${missing} command(s) never handled`);
    if (twice) problems.push(`${twice} command(s) handled more than once`);
    const sum = (k: string): number => kwReports.reduce((a, r) => a + (r[k] as number), 0);
    if (sum('reentered')) problems.push(`a work ran on two kworkers at once ${sum('reentered')} time(s)`);
    if (sum('fifoBroken')) problems.push(`${sum('fifoBroken')} command(s) out of FIFO order on their list`);
    if (sum('dupes')) problems.push(`${sum('dupes')} duplicate handling(s)`);
    if (sum('handled') !== total) problems.push(`kworkers handled ${sum('handled')} commands, ${total} were queued`);
    for (const r of [...subReports, ...kwReports]) if (r['canaryOk'] !== true) problems.push(`${r['role'] as string}: the canary changed`);
    const st = d.stats();
    if (st.queued !== total) problems.push(`loop_queue_work counted ${st.queued} commands, ${total} were submitted`);
    const wqStats = { queued: u[(wq + WQ.QUEUED) >>> 2]!, executed: u[(wq + WQ.EXECUTED) >>> 2]!, collisions: u[(wq + WQ.COLLISIONS) >>> 2]! };
    if (wqStats.executed !== sum('executions')) problems.push(`workqueue executions ${wqStats.executed} vs kworkers' ${sum('executions')}`);
    if (wqStats.queued !== wqStats.executed) problems.push(`works queued ${wqStats.queued} but executed ${wqStats.executed} (each queued work runs once)`);
    const median = [...rounds].sort((a, b) => a.ms - b.ms)[(rounds.length - 1) >> 1]!;
    return {
      ok: problems.length === 0, problems, count, ms: median.ms, requestsPerSec: median.requestsPerSec, rounds,
      submitters: subReports.map((r) => ({ id: r['id'] as number, queued: r['queued'] as number, calls: r['calls'] as number, tagWaits: r['tagWaits'] as number, tagWaitMs: r['tagWaitMs'] as number, queuedWorks: r['queuedWorks'] as number, ms: r['ms'] as number,
        cpuMs: r['cpuMs'] as number | undefined, runQueueMs: r['runQueueMs'] as number | undefined,
      })),
      kworkers: kwReports.map((r) => ({
        me: r['me'] as number, executions: r['executions'] as number, handled: r['handled'] as number, batches: r['batches'] as number,
        reentered: r['reentered'] as number, fifoBroken: r['fifoBroken'] as number, dupes: r['dupes'] as number, idled: r['idled'] as number,
        tagWakes: r['tagWakes'] as number, cpuMs: r['cpuMs'] as number | undefined, runQueueMs: r['runQueueMs'] as number | undefined,
      })),
      dispatch: { queued: st.queued, rootQueued: st.rootQueued, allocFailures: st.allocFailures, workersCreated: st.workersCreated, queueNoop: st.queueNoop, rescued: st.rescued, workersFreed: st.workersFreed, nrWorkers: st.nrWorkers },
      workqueue: wqStats,
      reaperRuns,
      reaperNaps,
    };
  } finally {
    le.x.loop_wq_stop(wq);
    await Promise.all(threads.map((t) => t.w.terminate().catch(() => undefined)));
  }
}

/**
 * Question: how many works per second pass through vhost_worker_queue and the
 * worker loop with 2 producer threads and 1 worker thread, in Wasm and in the
 * pure-TypeScript reference (bench/ref/vhost.ts), measured in the same run?
 *
 * - bursts: each producer owns a ring of 8192 works and queues them up to 512 at
 *   a time with vhost_work_queue_batch_ordered (one llist_add_batch per burst),
 *   stopping at the first work that has not run yet and waiting for it;
 * - re-queue 64: each producer keeps re-queuing its own 64 works, one
 *   vhost_worker_queue per work (the kernel's path), each as soon as it has run
 *   (vhost_worker_queue_each_ordered + the same wait).
 * Works are NOOPs, so the figure is the queue's cost. items/s = works added (each
 * then run exactly once) / the producers' window. Each scenario runs ROUNDS times,
 * Wasm and TypeScript alternating, and the figure is the median (the spread is
 * printed beside it: 3 busy threads on 2 shared cores make single runs noisy).
 * Printed beside each figure: the exactly-once check over every round (works run
 * == works added, no QUEUED violation, nothing left queued), wake-ups per 1000
 * items, each thread's CPU time and time spent waiting for a CPU (Linux
 * schedstat) per item, and the share of the CPUs other processes used meanwhile
 * (/proc/stat minus this process): with 3 busy threads on 2 cores, any other
 * CPU-bound process (a test run beside the benchmark) cuts these figures, the
 * re-queue one most (it needs all 3 threads running at once).
 *
 * Both implementations run the same algorithm with the same policy, set in time
 * (not in loop iterations: one check costs ~0.4 ns in Wasm and ~8 ns through JS
 * Atomics): the worker spins WORKER_SPIN_US before sleeping (about what waking a
 * sleeper costs here); a producer waits for its next work with an adaptive
 * read-only spin of WAIT_SPIN_MIN_US..WAIT_SPIN_MAX_US, then yields SLEEP_US
 * (src/runtime/threads.ts RingWait). Each implementation's checks per microsecond
 * are measured at the start (calibrate()).
 *
 * One round of the old producer policy (cycle over the pool re-testing works that
 * are still queued: modes 'batch' and 'each') is printed for comparison, Wasm only.
 *
 * The native C reference (bench/native/kwq-native.c `threads`) runs each scenario's
 * rounds in the same run, interleaved with kwq's and the TypeScript reference's: the
 * same works (32 bytes, one per item), pool, batch and resume, the same worker loop
 * (spin in time, futex sleep, wake only a sleeper, the spin floor when threads
 * outnumber CPUs) and the same producer wait, all on pthreads.
 *
 * Floors (issue 10, medians, kwq/C in items/s): re-queue 64 >= 1.0 with max/min of
 * its rounds <= 1.5; bursts with per-item llist_add >= 0.9; bursts with chain adds
 * beside C's chain adds (no floor). Issue 2's floors (>= 70 M items/s bursts, >= 12 M
 * items/s re-queue, >= 4x the TypeScript reference) are kept beside them.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Engine, type WorkRef } from '../src/wasm/engine.js';
import { VHOST_FN_NOOP, VHOST_WORKER } from '../src/wasm/layout.js';
import { ThreadRuntime, type ProducerMode } from '../src/runtime/threads.js';
import { vhostWorkerStop, vhostWorkWaitIdle, vhostWorkerSpin } from './ref/vhost.js';
import { runRefThreads, itemsPerSecond, type RefThreadReport } from './harness.js';
import { hasNative, nativeRef, type NativeRef } from './native/native.js';
import { availableParallelism } from 'node:os';
import { SPIN_FLOOR_OVERSUBSCRIBED } from '../src/runtime/threads.js';
import type { BenchScript, Figure, Ratio } from './types.js';
import { median } from './stats.js';

interface Scenario {
  name: string;
  pool: number;
  batch: number;
  mode: 'ring-batch' | 'ring-each';
  /** the old policy, for the comparison figure */
  blind: 'batch' | 'each';
  /** works that must be idle before a waiting producer goes on (RingWait.resume) */
  resume: number;
  /** issue 2's floor in M items/s (none for the per-item bursts, added by issue 10) */
  floor?: number;
  /** issue 10's floor: kwq/C items/s (medians) */
  cFloor?: number;
  /** issue 10's floor on the rounds' spread: max/min */
  spreadFloor?: number;
}

/**
 * re-queue 64: each producer re-queues its own 64 works one vhost_worker_queue call
 * each; once it meets a work still QUEUED it waits until half its ring (32) has run.
 * With resume 1, each wait covered one work: when the OS put a producer and the
 * worker on the same CPU (3 busy threads, 2 CPUs), every wait became a timed yield
 * and rounds of one run spread from 4 to 34 M items/s; waiting for 32 keeps the
 * yields rare. The TS reference runs the same policy.
 */
const SCENARIOS: Scenario[] = [
  { name: 'bursts', pool: 8192, batch: 512, mode: 'ring-batch', blind: 'batch', resume: 512, floor: 70 },
  { name: 'bursts, per-item llist_add', pool: 8192, batch: 512, mode: 'ring-each', blind: 'each', resume: 512, cFloor: 0.9 },
  { name: 're-queue 64', pool: 64, batch: 64, mode: 'ring-each', blind: 'each', resume: 32, floor: 12, cFloor: 1.0, spreadFloor: 1.5 },
];
const PRODUCERS = 2;
/**
 * the worker's spin before it sleeps: longer than a producer's timed yield lasts
 * (SLEEP_US + Linux's 50 us timer slack, 70-120 us measured), so that a worker
 * whose producers are yielding does not fall asleep between their bursts and
 * cost a 36-48 us wake-up each time
 */
const WORKER_SPIN_US = 150;
/**
 * a ring producer's wait: adaptive spin between these, then a timed yield. The
 * floor must outlast what the worker needs to run the `resume` works ahead of the
 * target (32 works, 1-3 us): with a floor of 0.1 us a spin that had once shrunk
 * never succeeded again, since it only grows after a wait that ended within it, so
 * every wait became a ~90 us timed yield (perf sched on C, same policy: each producer
 * ran ~10 us per ~90 us, 1.1-1.4 M items/s, where rounds that kept spinning ran 20+).
 */
const WAIT_SPIN_MAX_US = 40;
const WAIT_SPIN_MIN_US = 10;
export const SLEEP_US = 20;

export interface Spins {
  worker: number;
  waitMax: number;
  waitMin: number;
}

interface Run {
  itemsPerSec: number;
  added: number;
  run: number;
  violations: number;
  leftQueued: number;
  wakeups: number;
  sleeps: number;
  /** non-empty llist_del_all calls of the worker */
  batches: number;
  /** producers: times they found their next work still queued; sleeps while waiting */
  waits: number;
  waitSleeps: number;
  /** CPU ms used and ms spent runnable but waiting for a CPU: worker, producers summed */
  cpu?: { worker: number; workerQueue: number; producers: number; producersQueue: number };
  /** share of the machine's CPUs that other processes used during the run (Linux), 0..1 */
  others?: number;
}

/** Busy CPU ms of the whole machine (/proc/stat) and of this process, now. */
function machineCpu(): { busyMs: number; ownMs: number; t: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
    const hz = 100; // USER_HZ
    const u = process.cpuUsage();
    return { busyMs: ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / hz, ownMs: (u.user + u.system) / 1000, t: performance.now() };
  } catch {
    return undefined;
  }
}

/** Run `f` and add the share of the CPUs other processes used meanwhile to its result. */
async function measured(f: () => Promise<Run>): Promise<Run> {
  const a = machineCpu();
  const r = await f();
  const b = machineCpu();
  if (a && b) r.others = Math.max(0, (b.busyMs - a.busyMs - (b.ownMs - a.ownMs)) / (os.cpus().length * (b.t - a.t)));
  return r;
}

function setup(sc: Scenario): { engine: Engine; pools: WorkRef[][] } {
  const engine = Engine.create({ works: PRODUCERS * sc.pool + 8, workers: 1, counters: 1, threadSlots: 4, slotBytes: 128 * 1024 });
  const pools: WorkRef[][] = [];
  for (let p = 0; p < PRODUCERS; p++) {
    const pool: WorkRef[] = [];
    for (let i = 0; i < sc.pool; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_NOOP); pool.push(w); }
    pools.push(pool);
  }
  return { engine, pools };
}

function leftQueued(engine: Engine, pools: WorkRef[][]): number {
  let n = 0;
  for (const pool of pools) for (const w of pool) n += engine.works.queued(w) ? 1 : 0;
  return n;
}

/** ns per check of `f(n)` (best of 5, n checks each), on this thread. */
function nsPerCheck(f: (n: number) => void, n: number): number {
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    f(n);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

/**
 * Checks per microsecond of the worker's idle spin and of a producer's wait, for
 * each implementation: on an empty, running worker and a queued work (nothing
 * changes, so every check runs).
 */
export function calibrate(): { wasm: Spins; ts: Spins; ns: Record<string, number>; us: Spins } {
  const engine = Engine.create({ works: 2, workers: 1, counters: 1 });
  const x = engine.exports;
  const m = engine.i32;
  const worker = engine.worker(0).offset;
  const w = engine.works.alloc();
  engine.works.init(w, VHOST_FN_NOOP);
  const queueBack = () => { engine.worker(0).run(); }; // leave nothing queued
  const ns = {
    'wasm worker spin': nsPerCheck((n) => x.vhost_worker_spin(worker, n), 2_000_000),
    'ts worker spin': nsPerCheck((n) => vhostWorkerSpin(m, worker, n), 100_000),
    'wasm wait check': 0,
    'ts wait check': 0,
  };
  engine.worker(0).queue(w);
  ns['wasm wait check'] = nsPerCheck((n) => x.vhost_work_wait_idle(w, n, 0), 2_000_000);
  ns['ts wait check'] = nsPerCheck((n) => vhostWorkWaitIdle(m, w, n, 0), 100_000);
  queueBack();
  const spins = (workerNs: number, waitNs: number): Spins => ({
    worker: Math.max(1, Math.round((WORKER_SPIN_US * 1000) / workerNs)),
    waitMax: Math.max(1, Math.round((WAIT_SPIN_MAX_US * 1000) / waitNs)),
    waitMin: Math.max(1, Math.round((WAIT_SPIN_MIN_US * 1000) / waitNs)),
  });
  return {
    wasm: spins(ns['wasm worker spin'], ns['wasm wait check']), ts: spins(ns['ts worker spin'], ns['ts wait check']), ns,
    // the same policy in microseconds, for the C reference (it calibrates its own checks)
    us: { worker: WORKER_SPIN_US, waitMax: WAIT_SPIN_MAX_US, waitMin: WAIT_SPIN_MIN_US },
  };
}

async function runWasm(sc: Scenario, durationMs: number, spins: Spins, mode: ProducerMode): Promise<Run> {
  const { engine, pools } = setup(sc);
  const rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0, spin: spins.worker }] });
  try {
    const wait = { spin: spins.waitMax, minSpin: spins.waitMin, sleepUs: SLEEP_US, resume: sc.resume };
    const reports = await rt.produce(pools.map((works) => ({ worker: 0, works, mode, batch: sc.batch, wait })), { durationMs });
    if (!(await rt.drain(10_000))) throw new Error('vhost-threads: the Wasm worker did not drain');
    const [wr] = await rt.stop();
    const st = engine.worker(0).stats();
    const added = reports.reduce((a, r) => a + r.added, 0);
    const ms = Math.max(...reports.map((r) => r.ms));
    const cpu = wr?.cpu && reports.every((r) => r.cpu)
      ? { worker: wr.cpu.ms, workerQueue: wr.cpu.queueMs, producers: reports.reduce((a, r) => a + r.cpu!.ms, 0), producersQueue: reports.reduce((a, r) => a + r.cpu!.queueMs, 0) }
      : undefined;
    return {
      itemsPerSec: itemsPerSecond(added, ms), added, run: st.items - 1 /* the drain's COMPLETE */, violations: st.violations,
      leftQueued: leftQueued(engine, pools), wakeups: st.wakeups, sleeps: st.sleeps, batches: st.batches,
      waits: reports.reduce((a, r) => a + (r.waits ?? 0), 0), waitSleeps: reports.reduce((a, r) => a + (r.sleeps ?? 0), 0), cpu,
    };
  } finally {
    if (rt.threadCount) await rt.stop();
  }
}

async function runRef(sc: Scenario, durationMs: number, spins: Spins): Promise<Run> {
  const { engine, pools } = setup(sc);
  const worker = engine.worker(0).offset;
  const m = engine.i32;
  const wait = { spin: spins.waitMax, minSpin: spins.waitMin, sleepUs: SLEEP_US, resume: sc.resume };
  const res = await runRefThreads(engine.memory, [
    { role: 'ts-worker', worker, counters: engine.layout.counters.base, spin: spins.worker },
    ...pools.map((works) => ({ role: 'ts-producer' as const, worker, works: [...works], mode: sc.mode, batch: sc.batch, wait })),
  ], durationMs, () => {
    // drain: the reference worker runs until the list is empty, then stop it
    const deadline = Date.now() + 10_000;
    while (Atomics.load(m, (worker + VHOST_WORKER.LIST) >> 2) !== 0 && Date.now() < deadline) { /* the worker thread drains; may be stale */ }
    vhostWorkerStop(m, worker);
  });
  const prods = res.reports.filter((r) => r.role === 'ts-producer');
  const w = res.reports.find((r) => r.role === 'ts-worker')!;
  const added = prods.reduce((a, r) => a + r.added!, 0);
  const ms = Math.max(...prods.map((r) => r.ms!));
  const wakeups = Atomics.load(m, (worker + VHOST_WORKER.WAKEUPS) >> 2);
  const all: RefThreadReport[] = [w, ...prods];
  const cpu = all.every((r) => r.cpu)
    ? { worker: w.cpu!.ms, workerQueue: w.cpu!.queueMs, producers: prods.reduce((a, r) => a + r.cpu!.ms, 0), producersQueue: prods.reduce((a, r) => a + r.cpu!.queueMs, 0) }
    : undefined;
  return {
    itemsPerSec: itemsPerSecond(added, ms), added, run: w.stats!.items, violations: w.stats!.violations, leftQueued: leftQueued(engine, pools),
    wakeups, sleeps: w.stats!.sleeps, batches: w.stats!.batches, waits: prods.reduce((a, r) => a + (r.waits ?? 0), 0), waitSleeps: prods.reduce((a, r) => a + (r.sleeps ?? 0), 0), cpu,
  };
}

interface NativeRound {
  itemsPerSec: number; added: number; run: number; violations: number; leftQueued: number; wakeups: number; sleeps: number;
  batches: number; waits: number; waitSleeps: number; exactlyOnce: boolean;
  cpu: { worker: number; workerQueue: number; producers: number; producersQueue: number };
}

/** One round of the scenario in C (bench/native/kwq-native.c `threads`), the same policy in time. */
function runNative(c: NativeRef, sc: Scenario, durationMs: number): Run {
  const floor = 1 + PRODUCERS > availableParallelism() ? SPIN_FLOOR_OVERSUBSCRIBED : 0; // as ThreadRuntime.produce
  const out = c.run<{ rounds: NativeRound[] }>([
    'threads', sc.mode, sc.pool, sc.batch, sc.resume, PRODUCERS, durationMs, 1, WORKER_SPIN_US, WAIT_SPIN_MAX_US, WAIT_SPIN_MIN_US, SLEEP_US, floor,
  ]);
  const r = out.rounds[0]!;
  return { ...r };
}

/** As measured(), for a child process: its threads' CPU (reported by it) is not another process's. */
function measuredNative(f: () => Run): Run {
  const a = machineCpu();
  const r = f();
  const b = machineCpu();
  const child = r.cpu ? r.cpu.worker + r.cpu.producers : 0;
  if (a && b) r.others = Math.max(0, (b.busyMs - a.busyMs - (b.ownMs - a.ownMs) - child) / (os.cpus().length * (b.t - a.t)));
  return r;
}

const exactlyOnce = (r: Run): boolean => r.run === r.added && r.violations === 0 && r.leftQueued === 0;
const nsPer = (ms: number, items: number): number => Number(((ms * 1e6) / Math.max(1, items)).toFixed(2));

function figure(name: string, runs: Run[]): Figure {
  const ips = runs.map((r) => r.itemsPerSec);
  const med = median(ips);
  // the round closest to the median supplies the per-round details
  const mid = runs.reduce((b, r) => (Math.abs(r.itemsPerSec - med) < Math.abs(b.itemsPerSec - med) ? r : b));
  const bad = runs.filter((r) => !exactlyOnce(r));
  const notes: Record<string, number | string> = {
    'ns/item': Number((1e9 / med).toFixed(2)),
    rounds: runs.length,
    'min..max M/s': `${(Math.min(...ips) / 1e6).toFixed(1)}..${(Math.max(...ips) / 1e6).toFixed(1)}`,
    // in the order run: kwq's, the reference's and C's rounds alternate, so a slow
    // stretch of the machine shows in all three at the same positions
    'rounds M/s': ips.map((v) => (v / 1e6).toFixed(1)).join(' '),
    'worker sleeps by round': runs.map((r) => r.sleeps).join(' '),
    // the round's regime: a worker that shares its CPU with a busy producer waits for it
    // (Linux schedstat; rounds whose worker waited long are the slow ones, C's alike)
    ...(runs.every((r) => r.cpu) ? { 'worker waiting for a CPU, % of its time, by round': runs.map((r) => ((100 * r.cpu!.workerQueue) / Math.max(1e-9, r.cpu!.worker + r.cpu!.workerQueue)).toFixed(0)).join(' ') } : {}),
    'wake-ups/1000 items': Number(((mid.wakeups / Math.max(1, mid.added)) * 1000).toFixed(3)),
    'worker sleeps/1000 items': Number(((mid.sleeps / Math.max(1, mid.added)) * 1000).toFixed(3)),
    'works per batch': Number((mid.run / Math.max(1, mid.batches)).toFixed(1)),
    'worker sleeps': mid.sleeps,
    'producer waits/sleeps': `${mid.waits}/${mid.waitSleeps}`,
  };
  if (mid.cpu) {
    notes['cpu ns/item worker'] = nsPer(mid.cpu.worker, mid.added);
    notes['producers'] = nsPer(mid.cpu.producers, mid.added);
    notes['waiting for a cpu ns/item worker'] = nsPer(mid.cpu.workerQueue, mid.added);
    notes['producers '] = nsPer(mid.cpu.producersQueue, mid.added);
  }
  const others = runs.map((r) => r.others).filter((v): v is number => v !== undefined);
  if (others.length) notes['other processes\' CPU % (max of rounds)'] = Number((Math.max(...others) * 100).toFixed(0));
  notes['exactly-once'] = bad.length === 0 ? `ok (${runs.length} rounds)` : `FAILED in ${bad.length} round(s) (first: run ${bad[0]!.run}, added ${bad[0]!.added}, violations ${bad[0]!.violations}, left queued ${bad[0]!.leftQueued})`;
  return { name, value: med / 1e6, unit: 'M items/s', notes };
}

const vhostThreadsBench: BenchScript = async ({ quick }) => {
  const durationMs = quick ? 300 : 1000;
  // KWQ_BENCH_VHOST=NAME[@ROUNDS]: only the scenario whose name starts with NAME (e.g. re-queue@9)
  const [selName, selRounds] = (process.env['KWQ_BENCH_VHOST'] ?? '').split('@');
  const rounds = selRounds ? Number(selRounds) : quick ? 3 : 7;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`KWQ_BENCH_VHOST: rounds must be a positive integer, got '${selRounds}'`);
  const scenarios = selName ? SCENARIOS.filter((s) => s.name.startsWith(selName)) : SCENARIOS;
  if (!scenarios.length) throw new Error(`KWQ_BENCH_VHOST: no scenario named '${selName}' (scenarios: ${SCENARIOS.map((s) => s.name).join('; ')})`);
  const cal = calibrate();
  const figures: Figure[] = [];
  const ratios: Ratio[] = [];
  const c = nativeRef();
  const notes: string[] = [];
  if (!hasNative(c)) notes.push(c.note);
  for (const sc of scenarios) {
    const wasm: Run[] = [];
    const ref: Run[] = [];
    const nat: Run[] = [];
    // one untimed round of each first (a third of a round's length): in full runs kwq's
    // first re-queue round read 8-11 M items/s and the next ones 27-32, a warm-up
    // effect of the process (C's first round showed none), not the queue's steady cost
    await runWasm(sc, durationMs / 3, cal.wasm, sc.mode);
    await runRef(sc, durationMs / 3, cal.ts);
    if (hasNative(c)) runNative(c, sc, durationMs / 3);
    for (let r = 0; r < rounds; r++) {
      // rotate which goes first, so that drift in the machine's load hits all alike
      const order: (() => Promise<void>)[] = [
        async () => { wasm.push(await measured(() => runWasm(sc, durationMs, cal.wasm, sc.mode))); },
        async () => { ref.push(await measured(() => runRef(sc, durationMs, cal.ts))); },
      ];
      if (hasNative(c)) order.push(async () => { nat.push(measuredNative(() => runNative(c, sc, durationMs))); });
      for (let i = 0; i < order.length; i++) await order[(i + r) % order.length]!();
    }
    const blind = await measured(() => runWasm(sc, durationMs, cal.wasm, sc.blind));
    figures.push(figure(`vhost 2 producers + 1 worker, ${sc.name} (wasm)`, wasm));
    figures.push(figure(`vhost 2 producers + 1 worker, ${sc.name} (ts reference)`, ref));
    if (nat.length) figures.push(figure(`vhost 2 producers + 1 worker, ${sc.name} (native C)`, nat));
    const old = figure(`  ${sc.name}, old policy: '${sc.blind}' re-testing queued works (wasm, 1 round)`, [blind]);
    figures.push(old);
    const wasmMed = median(wasm.map((r) => r.itemsPerSec));
    const m = wasmMed / 1e6;
    if (nat.length) {
      const kc = wasmMed / median(nat.map((r) => r.itemsPerSec));
      ratios.push({ name: `vhost ${sc.name}: kwq/C (medians)`, value: kc, ...(sc.cFloor !== undefined ? { floor: sc.cFloor, pass: kc >= sc.cFloor } : {}) });
    }
    if (sc.spreadFloor !== undefined) {
      const ips = wasm.map((r) => r.itemsPerSec);
      const spread = Math.max(...ips) / Math.max(1, Math.min(...ips));
      ratios.push({ name: `vhost ${sc.name}: wasm rounds max/min (lower is better)`, value: spread, floor: sc.spreadFloor, pass: spread <= sc.spreadFloor });
      if (nat.length) {
        // the machine's own spread for this policy: C's rounds, interleaved with kwq's (no floor)
        const cips = nat.map((r) => r.itemsPerSec);
        ratios.push({ name: `vhost ${sc.name}: native C rounds max/min, same policy, same run`, value: Math.max(...cips) / Math.max(1, Math.min(...cips)) });
      }
    }
    if (sc.floor !== undefined) ratios.push({ name: `vhost ${sc.name}: wasm M items/s vs floor`, value: m, floor: sc.floor, pass: m >= sc.floor });
    const ratio = wasmMed / median(ref.map((r) => r.itemsPerSec));
    ratios.push({ name: `vhost ${sc.name}: wasm vs ts reference (medians)`, value: ratio, ...(sc.floor !== undefined ? { floor: 4, pass: ratio >= 4 } : {}) });
  }
  figures.push({
    name: 'spin calibration: ns per check (worker spin / producer wait)', value: cal.ns['wasm worker spin']!, unit: 'ns (wasm)',
    notes: {
      'wasm wait': Number(cal.ns['wasm wait check']!.toFixed(3)), 'ts worker spin': Number(cal.ns['ts worker spin']!.toFixed(2)), 'ts wait': Number(cal.ns['ts wait check']!.toFixed(2)),
      'checks wasm (worker/wait max/min)': `${cal.wasm.worker}/${cal.wasm.waitMax}/${cal.wasm.waitMin}`, 'ts': `${cal.ts.worker}/${cal.ts.waitMax}/${cal.ts.waitMin}`,
    },
  });
  return { title: 'vhost worker queue + loop on real threads (2 producers, 1 worker)', figures, ratios, notes };
};

export default vhostThreadsBench;

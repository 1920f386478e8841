/**
 * `npm run stress -- --items N [--only vhost,loop,iowq] [--json]`: the threaded queues
 * under load on real worker_threads, N items per configuration, with the exactly-once
 * checks beside each figure:
 *
 *   vhost  1..4 producer threads x 1..2 vhost worker threads (ThreadRuntime, Wasm
 *          vhost_worker_loop). Producers stamp owner + sequence into each work
 *          ('sequence' mode); the worker's handler (test/engine/fixtures/seq-handler.js)
 *          checks every sequence number arrives once and in its producer's order; the
 *          Wasm loop counts QUEUED violations (a work found queued twice / run unqueued).
 *   loop   per-cgroup dispatch (runLoopThreads): 2 submitters, 2 kworkers, 16 cgroups,
 *          the reaper running, then a worker arena of 3 with 30 % injected allocation
 *          failures (the root-queue fallback): every command handled once, FIFO per
 *          worker, no work re-entered.
 *   iowq   io-wq (runIoWqThreads): 2 producers, 3 workers, 8 hashed files: every work
 *          once, one worker per hash at a time, FIFO per file, every thread gone after.
 *
 * Prints items/s per configuration (wall time, 2 shared cores: other processes cut it)
 * and the time 10^9 items would take at the slowest rate measured. Exit code 1 if any
 * check failed, 2 on bad options.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Engine, type WorkRef } from '../src/wasm/engine.js';
import { VHOST_FN_HOST } from '../src/wasm/layout.js';
import { ThreadRuntime } from '../src/runtime/threads.js';
import { runLoopThreads } from '../src/runtime/loop-threads.js';
import { runIoWqThreads } from '../src/runtime/io-wq-threads.js';

interface Row {
  queue: string;
  config: string;
  items: number;
  ms: number;
  itemsPerSec: number;
  ok: boolean;
  checks: string;
}

const SEQ_HANDLER = new URL('../../test/engine/fixtures/seq-handler.js', import.meta.url).href;

/** P producers x W vhost workers, `items` works in all: exactly once, per-producer order, QUEUED never violated. */
async function vhostRun(producers: number, workers: number, items: number): Promise<Row> {
  const POOL = 512;
  const per = Math.ceil(items / producers);
  const engine = Engine.create({ works: producers * POOL + 8 * workers, workers });
  const pools: WorkRef[][] = [];
  for (let p = 0; p < producers; p++) {
    const pool: WorkRef[] = [];
    for (let i = 0; i < POOL; i++) {
      const w = engine.works.alloc();
      engine.works.init(w, VHOST_FN_HOST);
      pool.push(w);
    }
    pools.push(pool);
  }
  const rt = await ThreadRuntime.start(engine, {
    workers: Array.from({ length: workers }, (_, i) => ({ worker: i, spin: 1000, handler: SEQ_HANDLER, handlerOptions: { producers } })),
  });
  const t0 = performance.now();
  // producer p feeds worker p % W; the handler of that worker checks owner p's sequence
  const prod = await rt.produce(pools.map((works, owner) => ({ worker: owner % workers, works, mode: 'sequence' as const, count: per, owner })));
  const drained = await rt.drain(600_000);
  const ms = performance.now() - t0;
  const reports = await rt.stop();
  const problems: string[] = [];
  if (!drained) problems.push('not drained');
  if (rt.threadCount !== 0) problems.push(`${rt.threadCount} threads left`);
  for (const [p, r] of prod.entries()) {
    if (r.added !== per) problems.push(`producer ${p} added ${r.added} of ${per}`);
    if ((r.violations ?? 0) !== 0) problems.push(`producer ${p}: ${r.violations} QUEUED violations`);
    if (!r.canaryOk) problems.push(`producer ${p}: canary`);
  }
  let runs = 0;
  for (const [w, rep] of reports.entries()) {
    const h = rep.handler as { runs: number; errors: number; expected: number[]; firstError?: unknown };
    runs += h.runs;
    if (h.errors !== 0) problems.push(`worker ${w}: ${h.errors} out of order or repeated, first ${JSON.stringify(h.firstError)}`);
    // every producer of this worker got exactly `per` sequence numbers through, in order
    h.expected.forEach((n, p) => {
      if (p % workers === w && n !== per) problems.push(`worker ${w}: producer ${p} reached seq ${n} of ${per}`);
    });
    const st = engine.worker(w).stats();
    if (st.violations !== 0) problems.push(`worker ${w}: ${st.violations} QUEUED violations in the Wasm loop`);
  }
  if (runs !== per * producers) problems.push(`ran ${runs} of ${per * producers}`);
  if (!engine.checkCanary()) problems.push('arena canary');
  return {
    queue: 'vhost', config: `${producers} producer${producers > 1 ? 's' : ''} x ${workers} worker${workers > 1 ? 's' : ''}`,
    items: per * producers, ms, itemsPerSec: (per * producers) / (ms / 1000), ok: problems.length === 0,
    checks: problems.length === 0 ? `exactly once, per-producer order, 0 QUEUED violations, ${runs} runs` : problems.join('; '),
  };
}

async function loopRun(items: number, faults: boolean): Promise<Row> {
  const r = await runLoopThreads(faults
    ? { submitters: 3, kworkers: 2, cgroups: 12, count: items, workerCapacity: 3, failPct: 30, batch: 16, inflight: 256, reap: { everyMs: 2, timeoutMs: 0.1 }, timeoutMs: 3_600_000 }
    : { submitters: 2, kworkers: 2, cgroups: 16, count: items, batch: 32, inflight: 512, reap: { everyMs: 1, timeoutMs: 0.05 }, timeoutMs: 3_600_000 });
  const handled = r.kworkers.reduce((a, k) => a + k.handled, 0);
  const problems = [...r.problems];
  if (handled !== items) problems.push(`handled ${handled} of ${items}`);
  if (r.workqueue.executed !== r.workqueue.queued) problems.push(`workqueue executed ${r.workqueue.executed} of ${r.workqueue.queued}`);
  if (faults && r.dispatch.rootQueued !== r.dispatch.allocFailures) problems.push(`root queue ${r.dispatch.rootQueued} != alloc failures ${r.dispatch.allocFailures}`);
  return {
    queue: 'loop', config: faults ? '3 submitters x 2 kworkers, 3-worker arena, 30 % alloc failures, reaper' : '2 submitters x 2 kworkers, 16 cgroups, reaper',
    items, ms: r.ms, itemsPerSec: r.requestsPerSec, ok: r.ok && problems.length === 0,
    checks: problems.length === 0
      ? `exactly once, FIFO per worker, never re-entered; ${r.dispatch.workersCreated} workers made, ${r.dispatch.workersFreed} reaped, ${r.dispatch.allocFailures} alloc failures to the root queue`
      : problems.join('; '),
  };
}

async function iowqRun(items: number): Promise<Row> {
  const r = await runIoWqThreads({ producers: 2, workers: 3, count: items, keys: 8, batch: 32, timeoutMs: 3_600_000 });
  const runs = r.workers.reduce((a, w) => a + w.runs, 0);
  const problems = [...r.problems];
  if (runs !== items) problems.push(`ran ${runs} of ${items}`);
  if (r.checks.overlaps !== 0 || r.checks.reorders !== 0) problems.push(`${r.checks.overlaps} overlaps, ${r.checks.reorders} reorders`);
  if (r.threadsLeft !== 0) problems.push(`${r.threadsLeft} threads left`);
  return {
    queue: 'io-wq', config: '2 producers x 3 workers, 8 hashed files', items, ms: r.ms, itemsPerSec: r.worksPerSec, ok: r.ok && problems.length === 0,
    checks: problems.length === 0 ? 'exactly once, one worker per hash at a time, FIFO per file, every thread exited' : problems.join('; '),
  };
}

function fail(msg: string): never {
  process.stderr.write(`kwq stress: ${msg}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { items: { type: 'string' }, only: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: false }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (v.help) {
    process.stdout.write('usage: npm run stress -- [--items N (1000000) per configuration] [--only vhost,loop,iowq] [--json]\n');
    return;
  }
  const items = v.items === undefined ? 1_000_000 : Number(v.items);
  if (!/^\d+$/.test(v.items ?? '1') || !Number.isSafeInteger(items) || items < 1) fail(`--items must be an integer >= 1, got '${v.items}'`);
  const only = new Set((v.only ?? 'vhost,loop,iowq').split(','));
  for (const q of only) if (!['vhost', 'loop', 'iowq'].includes(q)) fail(`--only takes vhost, loop, iowq; got '${q}'`);
  process.stdout.write(`stress: ${items} items per configuration, ${availableParallelism()} CPUs\n`);
  const rows: Row[] = [];
  const print = (r: Row): void => {
    rows.push(r);
    process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.queue.padEnd(6)} ${r.config.padEnd(62)} ${String(r.items).padStart(11)} items ${(r.ms / 1000).toFixed(1).padStart(7)} s ${(r.itemsPerSec / 1e6).toFixed(2).padStart(7)} M items/s  ${r.checks}\n`);
  };
  if (only.has('vhost')) for (const w of [1, 2]) for (const p of [1, 2, 3, 4]) print(await vhostRun(p, w, items));
  if (only.has('loop')) {
    print(await loopRun(items, false));
    print(await loopRun(items, true));
  }
  if (only.has('iowq')) print(await iowqRun(items));
  const total = rows.reduce((a, r) => a + r.items, 0);
  const slowest = Math.min(...rows.map((r) => r.itemsPerSec));
  const totalS = rows.reduce((a, r) => a + r.ms, 0) / 1000;
  process.stdout.write(`${total} items in ${totalS.toFixed(1)} s, ${rows.every((r) => r.ok) ? 'every check held' : 'CHECKS FAILED'}; ` +
    `10^9 items through the slowest configuration (${(slowest / 1e6).toFixed(2)} M items/s) would take ${(1e9 / slowest / 60).toFixed(1)} min, ` +
    `through all ${rows.length} at their rates ${(rows.reduce((a, r) => a + 1e9 / r.itemsPerSec, 0) / 60).toFixed(1)} min\n`);
  if (v.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
}

await main();

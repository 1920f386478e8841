/**
 * `npm run stress -- [--items N | --per-config N] [--only vhost,loop,iowq] [--json]`: the
 * threaded queues under load on real worker_threads, with the exactly-once checks beside
 * each figure. `--items N` (default 10^6) is the TOTAL over the configurations run, split in
 * proportion to each configuration's share (SHARE below; printed before the runs);
 * `--per-config N` gives every configuration N items instead. Issue 13's figure is
 * `--items 1000000000` in under 30 minutes on the 2-core machine.
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
 * A configuration's items go through in rounds of at most CHUNK (runLoopThreads and
 * runIoWqThreads size their arrays by the count: 2^26 and 2^22 at most); each round is a
 * complete run with its own checks, and the row sums them.
 *
 * Prints items/s per configuration (wall time from the start gate to the last item, 2
 * shared cores: other processes cut it), the time the whole run took (thread start-up and
 * teardown included), and the time 10^9 items in all would take with the same split at
 * the rates measured. Exit code 1 if any check failed, 2 on bad options.
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
  /** timed wall ms (start gate to last item), summed over rounds */
  ms: number;
  itemsPerSec: number;
  /** wall ms of the whole configuration: rounds, thread start-up and teardown */
  elapsedMs: number;
  rounds: number;
  ok: boolean;
  checks: string;
}

/** what one round of a configuration reports */
interface Round {
  ms: number;
  problems: string[];
  /** counters the row sums over rounds (loop: workers made / reaped, alloc failures) */
  counts: Record<string, number>;
}

interface Config {
  queue: 'vhost' | 'loop' | 'io-wq';
  config: string;
  /** its part of --items: items = N * share / (sum of the shares run) */
  share: number;
  /** at most this many items per round */
  chunk: number;
  run(items: number): Promise<Round>;
  /** what held, from the counters summed over the rounds */
  checks(counts: Record<string, number>): string;
}

const SEQ_HANDLER = new URL('../../test/engine/fixtures/seq-handler.js', import.meta.url).href;

/** n split over k as evenly as it goes (the first n % k get one more) */
function spread(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

/** P producers x W vhost workers, `items` works in all: exactly once, per-producer order, QUEUED never violated. */
async function vhostRun(producers: number, workers: number, items: number): Promise<Round> {
  const POOL = 512;
  const per = spread(items, producers);
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
  const prod = await rt.produce(pools.map((works, owner) => ({ worker: owner % workers, works, mode: 'sequence' as const, count: per[owner]!, owner })));
  // 10 min, or 10 s per 10^6 items (0.1 M items/s) when that is longer
  const drained = await rt.drain(Math.max(600_000, items / 100));
  const ms = performance.now() - t0;
  const reports = await rt.stop();
  const problems: string[] = [];
  if (!drained) problems.push('not drained');
  if (rt.threadCount !== 0) problems.push(`${rt.threadCount} threads left`);
  for (const [p, r] of prod.entries()) {
    if (r.added !== per[p]) problems.push(`producer ${p} added ${r.added} of ${per[p]}`);
    if ((r.violations ?? 0) !== 0) problems.push(`producer ${p}: ${r.violations} QUEUED violations`);
    if (!r.canaryOk) problems.push(`producer ${p}: canary`);
  }
  let runs = 0;
  for (const [w, rep] of reports.entries()) {
    const h = rep.handler as { runs: number; errors: number; expected: number[]; firstError?: unknown };
    runs += h.runs;
    if (h.errors !== 0) problems.push(`worker ${w}: ${h.errors} out of order or repeated, first ${JSON.stringify(h.firstError)}`);
    // every producer of this worker got exactly its count of sequence numbers through, in order
    h.expected.forEach((n, p) => {
      if (p % workers === w && n !== per[p]) problems.push(`worker ${w}: producer ${p} reached seq ${n} of ${per[p]}`);
    });
    const st = engine.worker(w).stats();
    if (st.violations !== 0) problems.push(`worker ${w}: ${st.violations} QUEUED violations in the Wasm loop`);
  }
  if (runs !== items) problems.push(`ran ${runs} of ${items}`);
  if (!engine.checkCanary()) problems.push('arena canary');
  return { ms, problems, counts: { runs } };
}

const LOOP_PLAIN = '2 submitters x 2 kworkers, 16 cgroups, reaper';
const LOOP_FAULTS = '3 submitters x 2 kworkers, 3-worker arena, 30 % alloc failures, reaper';

/** one round of a loop configuration */
async function loopRound(items: number, faults: boolean): Promise<Round> {
  const r = await runLoopThreads(faults
    ? { submitters: 3, kworkers: 2, cgroups: 12, count: items, workerCapacity: 3, failPct: 30, batch: 16, inflight: 256, reap: { everyMs: 2, timeoutMs: 0.1 }, timeoutMs: 3_600_000 }
    : { submitters: 2, kworkers: 2, cgroups: 16, count: items, batch: 32, inflight: 512, reap: { everyMs: 1, timeoutMs: 0.05 }, timeoutMs: 3_600_000 });
  const handled = r.kworkers.reduce((a, k) => a + k.handled, 0);
  const problems = [...r.problems];
  if (!r.ok && problems.length === 0) problems.push('not ok');
  if (handled !== items) problems.push(`handled ${handled} of ${items}`);
  if (r.workqueue.executed !== r.workqueue.queued) problems.push(`workqueue executed ${r.workqueue.executed} of ${r.workqueue.queued}`);
  if (faults && r.dispatch.rootQueued !== r.dispatch.allocFailures) problems.push(`root queue ${r.dispatch.rootQueued} != alloc failures ${r.dispatch.allocFailures}`);
  return { ms: r.ms, problems, counts: { made: r.dispatch.workersCreated, reaped: r.dispatch.workersFreed, failures: r.dispatch.allocFailures } };
}

async function iowqRound(items: number): Promise<Round> {
  const r = await runIoWqThreads({ producers: 2, workers: 3, count: items, keys: 8, batch: 32, timeoutMs: 3_600_000 });
  const runs = r.workers.reduce((a, w) => a + w.runs, 0);
  const problems = [...r.problems];
  if (!r.ok && problems.length === 0) problems.push('not ok');
  if (runs !== items) problems.push(`ran ${runs} of ${items}`);
  if (r.checks.overlaps !== 0 || r.checks.reorders !== 0) problems.push(`${r.checks.overlaps} overlaps, ${r.checks.reorders} reorders`);
  if (r.threadsLeft !== 0) problems.push(`${r.threadsLeft} threads left`);
  return { ms: r.ms, problems, counts: {} };
}

/** Every configuration, in the order they run, with its share of --items (equal shares: 1/11 each when all run). */
const CONFIGS: Config[] = [
  ...[1, 2].flatMap((w) => [1, 2, 3, 4].map((p): Config => ({
    queue: 'vhost', config: `${p} producer${p > 1 ? 's' : ''} x ${w} worker${w > 1 ? 's' : ''}`, share: 1, chunk: Number.MAX_SAFE_INTEGER,
    run: (n) => vhostRun(p, w, n),
    checks: (c) => `exactly once, per-producer order, 0 QUEUED violations, ${c['runs']} runs`,
  }))),
  ...[false, true].map((faults): Config => ({
    queue: 'loop', config: faults ? '3 submitters x 2 kworkers, 3-worker arena, 30 % alloc failures, reaper' : '2 submitters x 2 kworkers, 16 cgroups, reaper',
    share: 1, chunk: 1 << 26, // runLoopThreads' count limit
    run: (n) => loopRound(n, faults),
    checks: (c) => `exactly once, FIFO per worker, never re-entered; ${c['made']} workers made, ${c['reaped']} reaped, ${c['failures']} alloc failures to the root queue`,
  })),
  {
    queue: 'io-wq', config: '2 producers x 3 workers, 8 hashed files', share: 1, chunk: 1 << 22, // runIoWqThreads' count limit
    run: iowqRound,
    checks: () => 'exactly once, one worker per hash at a time, FIFO per file, every thread exited',
  },
];

/** `total` over `configs` in proportion to their shares, largest remainders first, summing to `total` exactly. */
function split(total: number, configs: Config[]): number[] {
  const shares = configs.reduce((a, c) => a + c.share, 0);
  const exact = configs.map((c) => (total * c.share) / shares);
  const n = exact.map(Math.floor);
  let left = total - n.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left === 0) break;
    n[i]!++;
    left--;
  }
  return n;
}

/** a configuration's items in rounds of at most its chunk; the row sums them and stops at the first failing round */
async function runConfig(c: Config, items: number): Promise<Row> {
  const t0 = performance.now();
  const rounds = spread(items, Math.ceil(items / c.chunk));
  let ms = 0;
  let done = 0;
  const problems: string[] = [];
  const counts: Record<string, number> = {};
  for (const [i, n] of rounds.entries()) {
    const r = await c.run(n);
    ms += r.ms;
    done += n;
    for (const [k, x] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + x;
    if (r.problems.length > 0) {
      problems.push(...(rounds.length > 1 ? [`round ${i + 1} of ${rounds.length}:`] : []), ...r.problems);
      break;
    }
  }
  const ok = problems.length === 0;
  return {
    queue: c.queue, config: c.config, items: done, ms, itemsPerSec: done / (ms / 1000), elapsedMs: performance.now() - t0, rounds: rounds.length, ok,
    checks: ok ? `${c.checks(counts)}${rounds.length > 1 ? ` (${rounds.length} rounds)` : ''}` : problems.join('; '),
  };
}

function fail(msg: string): never {
  process.stderr.write(`kwq stress: ${msg}\n`);
  process.exit(2);
}

const USAGE = 'usage: npm run stress -- [--items N (1000000) in all, split over the configurations by share | --per-config N] [--only vhost,loop,iowq] [--json]\n';

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { items: { type: 'string' }, 'per-config': { type: 'string' }, only: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: false }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (v.items !== undefined && v['per-config'] !== undefined) fail('give --items (in all) or --per-config, not both');
  const count = (name: string, s: string | undefined, dflt: number): number => {
    const n = s === undefined ? dflt : Number(s);
    if (!/^\d+$/.test(s ?? '1') || !Number.isSafeInteger(n) || n < 1) fail(`--${name} must be an integer >= 1, got '${s}'`);
    return n;
  };
  const only = new Set((v.only ?? 'vhost,loop,iowq').split(','));
  for (const q of only) if (!['vhost', 'loop', 'iowq'].includes(q)) fail(`--only takes vhost, loop, iowq; got '${q}'`);
  const configs = CONFIGS.filter((c) => only.has(c.queue === 'io-wq' ? 'iowq' : c.queue));
  const perConfig = v['per-config'] !== undefined ? count('per-config', v['per-config'], 0) : undefined;
  const items = perConfig === undefined ? split(count('items', v.items, 1_000_000), configs) : configs.map(() => perConfig);
  // every producer of every configuration gets at least one item
  const MIN = 4;
  for (const [i, c] of configs.entries()) {
    if (items[i]! < MIN) fail(`${c.queue} ${c.config} would get ${items[i]} item(s); give at least ${MIN} per configuration (--items ${MIN * configs.length} or more)`);
  }
  const total = items.reduce((a, b) => a + b, 0);
  const shares = configs.reduce((a, c) => a + c.share, 0);
  const uniform = configs.every((c) => c.share === configs[0]!.share);
  const byQueue = [...new Set(configs.map((c) => c.queue))]
    .map((q) => `${q} ${configs.flatMap((c, i) => (c.queue === q ? [uniform ? `${items[i]}` : `${items[i]} (${c.share}/${shares})`] : [])).join(' + ')}`);
  process.stdout.write(perConfig === undefined
    ? `stress: ${total} items in all, ${availableParallelism()} CPUs; split by share (${uniform ? `1/${configs.length} each` : `of ${shares}`}): ${byQueue.join('; ')}\n`
    : `stress: ${perConfig} items per configuration (${total} in all), ${availableParallelism()} CPUs\n`);
  const rows: Row[] = [];
  const t0 = performance.now();
  for (const [i, c] of configs.entries()) {
    const r = await runConfig(c, items[i]!);
    rows.push(r);
    process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.queue.padEnd(6)} ${r.config.padEnd(62)} ${String(r.items).padStart(11)} items ${(r.ms / 1000).toFixed(1).padStart(7)} s ${(r.itemsPerSec / 1e6).toFixed(2).padStart(7)} M items/s  ${r.checks}\n`);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  const done = rows.reduce((a, r) => a + r.items, 0);
  const timedS = rows.reduce((a, r) => a + r.ms, 0) / 1000;
  // 10^9 in all with the same shares, each configuration at the rate it just showed; the
  // start-up and teardown outside the timed sections, per round, times the rounds 10^9 needs
  const big = split(1e9, configs);
  const bigTimedS = rows.reduce((a, r, i) => a + big[i]! / r.itemsPerSec, 0);
  const roundsNow = rows.reduce((a, r) => a + r.rounds, 0);
  const bigRounds = configs.reduce((a, c, i) => a + Math.ceil(big[i]! / c.chunk), 0);
  const bigS = bigTimedS + ((elapsedS - timedS) / roundsNow) * bigRounds;
  const slowest = rows.reduce((a, r) => (r.itemsPerSec < a.itemsPerSec ? r : a));
  process.stdout.write(`${done} items in ${elapsedS.toFixed(1)} s (${timedS.toFixed(1)} s timed, ${(done / timedS / 1e6).toFixed(2)} M items/s over the timed sections), ` +
    `${rows.every((r) => r.ok) ? 'every check held' : 'CHECKS FAILED'}; at these rates 10^9 items in all, split by share as here, would take ${(bigS / 60).toFixed(1)} min ` +
    `(${(bigTimedS / 60).toFixed(1)} min timed + start-up for ${bigRounds} rounds)` +
    `${rows.some((r) => r.items < 1e6) ? ' (a configuration under 10^6 items: its rate includes warm-up)' : ''}; ` +
    `slowest: ${slowest.queue} ${slowest.config.split(',')[0]} at ${(slowest.itemsPerSec / 1e6).toFixed(2)} M items/s\n`);
  if (v.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
}

await main();

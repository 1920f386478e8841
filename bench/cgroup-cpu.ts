/**
 * Question (issue 15): what does CFS bandwidth enforcement cost the sim runtime per
 * period, with 10^3 cgroups that are throttled in every period?
 *
 * Set-up: 1000 cgroups /g<i>, each with cpu.max "1000 1000000" (1 ms per 1 s period,
 * the smallest quota) and one busy thread (a user worker whose body uses every ns it is
 * given). The 2 virtual CPUs could give them 2 s per period, the quotas allow 1 s: every
 * group runs out of quota and is throttled in every period, so each period does 1000
 * refills, 1000 unthrottles and the slices between them.
 *
 * Figures: wall µs per virtual period, and ns per cgroup-period; the reference is the
 * same 1000 busy threads with no limit (cpu.max "max"), per virtual second (one period's
 * length): the ratio is what enforcement adds. Exactly-once check: after P periods each
 * group has run exactly P ms (its quota per period, no more, no less), and cpu.stat
 * counts nr_periods and nr_throttled = P in every group. The machine's uncontended CAS
 * (Atomics.compareExchange) is printed beside, as in the other sections.
 *
 * Warm-up: the first virtual seconds after boot are not the steady state. The throttle
 * path runs for the first time (V8 tiers its code up while it runs), and virtual ns
 * pass the small-integer range (2^30 ns, 1.07 s), which used to change the
 * representation of every timer's and cgroup's ns fields mid-run (src/runtime/sim.ts,
 * DOUBLE_FIELD). The measured periods come after WARMUP periods; the cold figure (the
 * warm-up periods, from boot) is reported beside, not hidden.
 */
import { Kernel, type Task } from '../src/index.js';
import type { SimThread } from '../src/runtime/sim-thread.js';
import type { BenchScript, Figure } from './types.js';

const GROUPS = 1000;
const PERIOD_US = 1_000_000;
const QUOTA_US = 1000;
/** periods run before the measured ones (quick: 2) */
const WARMUP = 5;

interface Setup {
  k: Kernel;
  used: Float64Array;
}

async function setup(limited: boolean): Promise<Setup> {
  const k = await Kernel.boot({ release: '6.12', cgroup: 'v2', runtime: 'sim', ncpus: 2, seed: 1 });
  const used = new Float64Array(GROUPS);
  for (let i = 0; i < GROUPS; i++) {
    const p: Task = k.spawn({ comm: `busy${i}`, cgroup: `/g${i}` });
    if (limited && k.writeFile(k.init, `/sys/fs/cgroup/g${i}/cpu.max`, `${QUOTA_US} ${PERIOD_US}`) < 0) throw new Error('bench cgroup-cpu: cpu.max');
    const w = k.userWorkerCreate(p, 'burn', { run(th: SimThread, budget: number) { th.costNs += budget; used[i]! += budget; return true; } }, null);
    if (typeof w === 'number') throw new Error(`bench cgroup-cpu: userWorkerCreate ${w}`);
    k.wakeUpProcess(w);
  }
  return { k, used };
}

function stat(k: Kernel, i: number): Record<string, number> {
  const s = k.readFile(k.init, `/sys/fs/cgroup/g${i}/cpu.stat`) as string;
  return Object.fromEntries(s.trim().split('\n').map((l) => { const [a, b] = l.split(' '); return [a!, Number(b)]; }));
}

const cgroupCpu: BenchScript = async ({ quick }) => {
  const periods = quick ? 3 : 10;
  const warmup = quick ? 2 : WARMUP;
  const figures: Figure[] = [];

  const lim = await setup(true);
  // start just before a period boundary so that every measured period is whole
  lim.k.advance(PERIOD_US / 1000 - 1);
  const tw = performance.now();
  lim.k.advance((warmup * PERIOD_US) / 1000);
  const coldWallUs = (performance.now() - tw) * 1000;
  lim.used.fill(0);
  const t0 = performance.now();
  lim.k.advance((periods * PERIOD_US) / 1000);
  const limWallUs = (performance.now() - t0) * 1000;
  // exactly once: the last period's slice at its start is in `used` too (advance runs what is due at the target)
  let exact = true;
  for (let i = 0; i < GROUPS; i++) {
    const ms = lim.used[i]! / 1e6;
    const s = stat(lim.k, i);
    if (ms < periods || ms > periods + 1 || s.nr_throttled !== s.nr_periods || s.nr_periods! < periods) exact = false;
  }
  const ev0 = (lim.k.rt as unknown as { eventsFired: number }).eventsFired;
  for (let i = 0; i < GROUPS; i++) if (stat(lim.k, i).nr_periods! < periods + warmup) exact = false;
  lim.k.shutdown();

  const free = await setup(false);
  free.k.advance(PERIOD_US / 1000 - 1);
  free.k.advance((warmup * PERIOD_US) / 1000);
  const t1 = performance.now();
  free.k.advance((periods * PERIOD_US) / 1000);
  const freeWallUs = (performance.now() - t1) * 1000;
  free.k.shutdown();

  const cas = new Int32Array(new SharedArrayBuffer(64));
  const c0 = performance.now();
  for (let i = 0; i < 1_000_000; i++) Atomics.compareExchange(cas, 0, i & 1, (i + 1) & 1);
  const casNs = ((performance.now() - c0) * 1e6) / 1_000_000;

  figures.push({
    name: `sim, ${GROUPS} cgroups throttled every period (cpu.max ${QUOTA_US} ${PERIOD_US})`,
    value: limWallUs / periods,
    unit: 'µs/period',
    notes: { 'ns per cgroup-period': Math.round((limWallUs * 1000) / periods / GROUPS), periods, 'after warm-up periods': warmup, events: ev0, 'exactly-once': exact ? 'ok' : 'FAILED', 'uncontended CAS ns': Number(casNs.toFixed(2)) },
  });
  figures.push({
    name: `sim, the same, cold: the first ${warmup} periods after boot`,
    value: coldWallUs / warmup,
    unit: 'µs/period',
    notes: { 'ns per cgroup-period': Math.round((coldWallUs * 1000) / warmup / GROUPS) },
  });
  figures.push({ name: `sim, the same ${GROUPS} busy threads, no limit`, value: freeWallUs / periods, unit: 'µs/virtual s' });
  return {
    title: 'CFS bandwidth in the sim runtime: wall cost per period with 10^3 throttled cgroups',
    figures,
    ratios: [{ name: 'throttled vs unlimited, wall time per virtual second', value: limWallUs / freeWallUs }],
    notes: ['the unlimited run keeps both virtual CPUs busy for the whole second (2000 slices of 1 ms); the throttled one runs 1000 slices of 1 ms, then throttles, refills and unthrottles 1000 groups'],
  };
};

export default cgroupCpu;

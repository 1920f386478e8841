/**
 * The report's charts, as Vega-Lite specs: one function per chart, each taking the
 * data a scenario prints with `kwq scenario NAME --json` (or corpusAgreement()'s rows,
 * or sweep points) and returning a spec for render.ts. A chart reads only the fields
 * its interface below names; data without them is a KwqError naming the field.
 *
 * Every point a chart plots is its own mark (lines carry point marks), so each datum
 * shows up in the SVG as one element with an aria-label: that is what the browser
 * test counts and reads the numbers from.
 */
import { KwqError } from '../kernel/error.js';
import type { Agreement } from '../oracle/agreement.js';
import type { VegaLiteSpec } from './render.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 520;
const HEIGHT = 280;

function need<T>(chart: string, data: unknown, field: string): T {
  const v = (data as Record<string, unknown> | null | undefined)?.[field];
  if (v === undefined || v === null) throw new KwqError(`chart ${chart}`, `the data has no '${field}' (pass the scenario's --json output)`);
  return v as T;
}

// ---- multiqueue --------------------------------------------------------------------

/** scenarios/multiqueue.ts's --json data (the fields read here) */
export interface MultiqueueData {
  rows: { jobs: number; oneWorkerK: number; perVqK: number }[];
  hostCpus: number;
  /** the v9 cover letter's table, thousands of IOPS by fio jobs; null = not measured */
  published: Record<string, { one: number | null; perVq: number | null }>;
}

export const MQ_ONE = '1 worker';
export const MQ_PER_VQ = 'worker per vq';
export const MQ_PUBLISHED = 'published (v9)';

/** multiqueue: IOPS vs fio jobs, the model's two designs as lines, the published points beside them */
export function multiqueueChart(data: MultiqueueData): VegaLiteSpec {
  const rows = need<MultiqueueData['rows']>('multiqueue', data, 'rows');
  const published = need<MultiqueueData['published']>('multiqueue', data, 'published');
  const values: { jobs: number; kiops: number; design: string; source: string }[] = [];
  for (const r of rows) {
    values.push({ jobs: r.jobs, kiops: r.oneWorkerK, design: MQ_ONE, source: 'kwq model' });
    values.push({ jobs: r.jobs, kiops: r.perVqK, design: MQ_PER_VQ, source: 'kwq model' });
  }
  for (const [jobs, p] of Object.entries(published)) {
    if (p.one !== null) values.push({ jobs: Number(jobs), kiops: p.one, design: MQ_ONE, source: MQ_PUBLISHED });
    if (p.perVq !== null) values.push({ jobs: Number(jobs), kiops: p.perVq, design: MQ_PER_VQ, source: MQ_PUBLISHED });
  }
  const x = { field: 'jobs', type: 'quantitative', title: 'fio jobs (one vq and one vCPU each)', scale: { domain: [0, 17] }, axis: { values: rows.map((r) => r.jobs) } } as const;
  const y = { field: 'kiops', type: 'quantitative', title: 'IOPS (thousands)' } as const;
  const color = { field: 'design', type: 'nominal', title: 'vhost-scsi workers', scale: { domain: [MQ_ONE, MQ_PER_VQ] } } as const;
  return {
    $schema: SCHEMA,
    title: { text: 'multiqueue: vhost-scsi IOPS vs fio jobs', subtitle: `kwq sim (one calibrated cost model, ${data.hostCpus} host CPUs) beside the published figures` },
    width: WIDTH, height: HEIGHT,
    data: { values },
    layer: [
      {
        transform: [{ filter: "datum.source === 'kwq model'" }],
        mark: { type: 'line', point: { filled: true, size: 40 } },
        encoding: { x, y, color },
      },
      {
        transform: [{ filter: "datum.source !== 'kwq model'" }],
        mark: { type: 'point', shape: 'diamond', size: 110, strokeWidth: 2, filled: false },
        encoding: { x, y, color, shape: { field: 'source', type: 'nominal', title: null, scale: { range: ['diamond'] } } },
      },
    ],
  };
}

// ---- loop-reap ---------------------------------------------------------------------

/** scenarios/loop-reap.ts's --json data */
export interface LoopReapData {
  /** [seconds, live workers] */
  samples: [number, number][];
  reaps: { cgroup: string; idleAtS: number; freedAtS: number }[];
}

/** loop-reap: live per-cgroup loop workers over time, the reaping instants as rules */
export function loopReapChart(data: LoopReapData): VegaLiteSpec {
  const samples = need<LoopReapData['samples']>('loop-reap', data, 'samples');
  const reaps = need<LoopReapData['reaps']>('loop-reap', data, 'reaps');
  const freed = new Map<number, string[]>();
  for (const r of reaps) freed.set(r.freedAtS, [...(freed.get(r.freedAtS) ?? []), r.cgroup]);
  return {
    $schema: SCHEMA,
    title: { text: 'loop-reap: live per-cgroup loop workers over time', subtitle: 'dashed: the reaping timer freed idle workers (named by cgroup)' },
    width: WIDTH, height: HEIGHT,
    layer: [
      {
        data: { values: samples.map(([t, live]) => ({ t, live })) },
        mark: { type: 'line', interpolate: 'step-after', point: { filled: true, size: 30 } },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'time (s)' },
          y: { field: 'live', type: 'quantitative', title: 'live loop workers', axis: { tickMinStep: 1 } },
        },
      },
      {
        data: { values: [...freed].map(([t, cgs]) => ({ t, freed: cgs.join(' ') })) },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#c0392b' },
        encoding: { x: { field: 't', type: 'quantitative' }, tooltip: [{ field: 't', title: 'freed at (s)' }, { field: 'freed', title: 'cgroups' }] },
      },
      {
        data: { values: [...freed].map(([t, cgs]) => ({ t, freed: cgs.join(' ') })) },
        mark: { type: 'text', align: 'left', dx: 3, dy: -4, angle: 0, fontSize: 10, color: '#c0392b', y: 0, baseline: 'top' },
        encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'freed' } },
      },
    ],
  };
}

// ---- loop-inversion ----------------------------------------------------------------

/** scenarios/loop-inversion.ts's --json data */
export interface LoopInversionData {
  rows: { design: string; cgroup: string; ios: number; p50Us: number; p99Us: number; cdfUs: number[] }[];
}

/** loop-inversion: latency CDF per design, one panel per cgroup (log latency axis) */
export function loopInversionChart(data: LoopInversionData): VegaLiteSpec {
  const rows = need<LoopInversionData['rows']>('loop-inversion', data, 'rows');
  const values: { latencyUs: number; fraction: number; design: string; cgroup: string }[] = [];
  for (const r of rows) {
    if (!Array.isArray(r.cdfUs)) throw new KwqError('chart loop-inversion', `row ${r.design}/${r.cgroup} has no 'cdfUs' (a scenario build from before the CDF was recorded)`);
    r.cdfUs.forEach((us, p) => values.push({ latencyUs: us, fraction: p / 100, design: r.design, cgroup: `/${r.cgroup}` }));
  }
  return {
    $schema: SCHEMA,
    title: { text: 'loop-inversion: write latency CDF per design', subtitle: '/slow is throttled by io.max; behind the kworker /fast waits as long as /slow, with its own worker it does not' },
    data: { values },
    facet: { column: { field: 'cgroup', type: 'nominal', title: null, sort: ['/fast', '/slow'], header: { labelFontSize: 13, labelFontWeight: 'bold' } } },
    spec: {
      width: 300, height: HEIGHT,
      mark: { type: 'line', interpolate: 'step-after', point: { size: 10, filled: true } },
      encoding: {
        x: { field: 'latencyUs', type: 'quantitative', title: 'latency, submission to completion (µs, log)', scale: { type: 'log' } },
        y: { field: 'fraction', type: 'quantitative', title: 'fraction of writes ≤ latency', axis: { format: '.0%' } },
        color: { field: 'design', type: 'nominal', title: 'loop design' },
        tooltip: [{ field: 'cgroup' }, { field: 'design' }, { field: 'latencyUs', title: 'latency (µs)' }, { field: 'fraction', format: '.0%' }],
      },
    },
  };
}

// ---- iowq --------------------------------------------------------------------------

/** scenarios/iowq.ts's --json data */
export interface IoWqData {
  rows: { files: number; inflight: number; workers: number; mbps: number }[];
}

/** iowq: throughput vs writes in flight, one line per number of files (hashed per file) */
export function iowqChart(data: IoWqData): VegaLiteSpec {
  const rows = need<IoWqData['rows']>('iowq', data, 'rows');
  return {
    $schema: SCHEMA,
    title: { text: 'iowq: io-wq throughput vs writes in flight', subtitle: 'buffered writes hash per file: one file runs one at a time' },
    width: WIDTH, height: HEIGHT,
    data: { values: rows.map((r) => ({ inflight: r.inflight, mbps: r.mbps, workers: r.workers, files: `${r.files} file${r.files === 1 ? '' : 's'}` })) },
    mark: { type: 'line', point: { filled: true, size: 40 } },
    encoding: {
      x: { field: 'inflight', type: 'quantitative', title: 'writes in flight (log2)', scale: { type: 'log', base: 2 }, axis: { values: [...new Set(rows.map((r) => r.inflight))] } },
      y: { field: 'mbps', type: 'quantitative', title: 'MB/s' },
      color: { field: 'files', type: 'nominal', title: 'files written' },
      tooltip: [{ field: 'files' }, { field: 'inflight' }, { field: 'mbps' }, { field: 'workers' }],
    },
  };
}

// ---- the oracle's agreement --------------------------------------------------------

/** one row of corpusAgreement() (src/oracle/agreement.ts) */
export type AgreementRow = Pick<Agreement, 'kernel' | 'scripts' | 'steps' | 'agree' | 'divergent' | 'differ' | 'unrecorded'>;

export const AGREEMENT_KINDS = ['agree', 'divergent (marked)', 'differ'] as const;

/** the oracle: steps per release that agree with real Linux, are marked divergent, or differ */
export function agreementChart(rows: AgreementRow[]): VegaLiteSpec {
  if (!Array.isArray(rows)) throw new KwqError('chart agreement', 'expected corpusAgreement() rows (an array)');
  const values = rows.flatMap((r) => [
    { kernel: `Linux ${r.kernel}`, kind: AGREEMENT_KINDS[0], steps: r.agree },
    { kernel: `Linux ${r.kernel}`, kind: AGREEMENT_KINDS[1], steps: r.divergent },
    { kernel: `Linux ${r.kernel}`, kind: AGREEMENT_KINDS[2], steps: r.differ },
  ]);
  return {
    $schema: SCHEMA,
    title: { text: "the oracle: kwq's answers beside real Linux, per release", subtitle: 'steps of the recorded step-script corpus (oracle/recorded)' },
    width: WIDTH, height: 40 * Math.max(1, rows.length),
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'kernel', type: 'nominal', title: null },
      x: { field: 'steps', type: 'quantitative', title: 'steps', stack: 'zero' },
      color: { field: 'kind', type: 'nominal', title: null, scale: { domain: [...AGREEMENT_KINDS], range: ['#4c9a2a', '#e0a030', '#c0392b'] } },
      order: { field: 'kind', sort: 'ascending' },
      tooltip: [{ field: 'kernel' }, { field: 'kind' }, { field: 'steps' }],
    },
  };
}

// ---- sweeps ------------------------------------------------------------------------

export interface SweepAxes {
  /** dotted paths into each point (a JSON line); see sweepValue */
  x: string;
  y: string;
  series?: string;
  title?: string;
}

/**
 * A field of one sweep point by dotted path ("params.vms", "data.rows.3.perVqK"). A path
 * not found as given is looked up under `params` and then `data`, so `--x vms` works
 * on lines shaped { params: {...}, data: {...} }.
 */
export function sweepValue(point: unknown, path: string): unknown {
  const walk = (root: unknown): unknown => {
    let v = root;
    for (const k of path.split('.')) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return v;
  };
  const direct = walk(point);
  if (direct !== undefined) return direct;
  for (const under of ['params', 'data']) {
    const inner = (point as Record<string, unknown> | null)?.[under];
    if (inner !== undefined) {
      const v = walk(inner);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

/** Parse a JSON-lines file's text into points; a bad line is a KwqError naming it. */
export function parseJsonLines(text: string, where: string): unknown[] {
  const out: unknown[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line));
    } catch (e) {
      throw new KwqError(where, `line ${i + 1} is not JSON: ${(e as Error).message}`);
    }
  });
  return out;
}

/**
 * Sweep results: y against x, one line per series value. Points sharing x and series
 * (other parameters varied) are all drawn; the line goes through their mean.
 */
export function sweepChart(points: unknown[], axes: SweepAxes): VegaLiteSpec {
  if (points.length === 0) throw new KwqError('chart sweep', 'no points');
  const values = points.map((p, i) => {
    const x = sweepValue(p, axes.x);
    const y = sweepValue(p, axes.y);
    if (typeof x !== 'number' && typeof x !== 'string') throw new KwqError('chart sweep', `point ${i + 1} has no number or string at --x ${axes.x}`);
    if (typeof y !== 'number') throw new KwqError('chart sweep', `point ${i + 1} has no number at --y ${axes.y} (got ${JSON.stringify(y)})`);
    const s = axes.series === undefined ? 'all' : sweepValue(p, axes.series);
    if (axes.series !== undefined && s === undefined) throw new KwqError('chart sweep', `point ${i + 1} has nothing at --series ${axes.series}`);
    return { x, y, series: String(s) };
  });
  const numericX = values.every((v) => typeof v.x === 'number');
  const x = { field: 'x', type: numericX ? 'quantitative' : 'ordinal', title: axes.x } as const;
  // series in numeric order when they are numbers (1, 4, 8, 16, not 1, 16, 4, 8)
  const names = [...new Set(values.map((v) => v.series))];
  const numeric = names.every((n) => n.trim() !== '' && Number.isFinite(Number(n)));
  names.sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
  const color = { field: 'series', type: 'nominal', title: axes.series ?? null, scale: { domain: names } };
  return {
    $schema: SCHEMA,
    title: { text: axes.title ?? `${axes.y} vs ${axes.x}`, subtitle: `${points.length} sweep points${axes.series ? `, by ${axes.series}` : ''}` },
    width: WIDTH, height: HEIGHT,
    data: { values },
    layer: [
      { mark: { type: 'point', filled: true, size: 36, opacity: 0.7 }, encoding: { x, y: { field: 'y', type: 'quantitative', title: axes.y }, color } },
      { mark: { type: 'line' }, encoding: { x, y: { field: 'y', aggregate: 'mean', type: 'quantitative' }, color } },
    ],
  };
}

// ---- vm-cpu-max --------------------------------------------------------------------

interface VmCpuMaxPhaseData { ios: number; nrThrottled: number; emulatorThrottled: number; workerCgroup: string }

/** scenarios/vm-cpu-max.ts's --json data (the fields read here) */
export interface VmCpuMaxData {
  runs: { release: string; percent: number; workerIsKthread: boolean; before: VmCpuMaxPhaseData; after: VmCpuMaxPhaseData }[];
  /** virtual ms per phase (IOPS = ios / (ms / 1000)); absent in older output: 1000, the scenario's default */
  ms?: number;
}

// no ': ' in a value: an aria-label is 'title: value; ...'
export const VM_BEFORE = 'before (QEMU in vm1)';
export const VM_AFTER = 'after (QEMU in vm1/emulator)';

/** the worker's design by release, as the legend names it */
function workerDesign(release: string, kthread: boolean): string {
  return `${release} (${kthread ? 'kthread' : 'vhost_task'})`;
}

/**
 * vm-cpu-max: top, IOPS by vm1's cpu.max, a bar per release, before and after QEMU
 * moves (the worker's cgroup in each bar's label); below, the periods each cgroup was
 * throttled (cpu.stat nr_throttled) in the same phases. Grouped bars, not lines: the
 * releases have the same figures before the move and would hide each other.
 */
export function vmCpuMaxChart(data: VmCpuMaxData): VegaLiteSpec {
  const runs = need<VmCpuMaxData['runs']>('vm-cpu-max', data, 'runs');
  const ms = data.ms ?? 1000;
  const iops: Record<string, unknown>[] = [];
  const throttled: Record<string, unknown>[] = [];
  for (const r of runs) {
    const design = workerDesign(r.release, r.workerIsKthread);
    for (const [phase, p] of [[VM_BEFORE, r.before], [VM_AFTER, r.after]] as const) {
      if (p === undefined) throw new KwqError('chart vm-cpu-max', `run ${r.release} ${r.percent}% has no before/after phase`);
      iops.push({ design, percent: r.percent, phase, iops: Math.round(p.ios / (ms / 1000)), worker: p.workerCgroup });
      throttled.push({ design, percent: r.percent, panel: `vm1 ${phase === VM_BEFORE ? 'before' : 'after'}`, nr: p.nrThrottled });
      if (phase === VM_AFTER) throttled.push({ design, percent: r.percent, panel: 'vm1/emulator after', nr: p.emulatorThrottled });
    }
  }
  const designs = [...new Set(iops.map((v) => v['design'] as string))];
  const x = { field: 'percent', type: 'ordinal', title: "vm1's cpu.max (% of a CPU)", axis: { labelAngle: 0 }, scale: { paddingInner: 0.25 } } as const;
  const color = { field: 'design', type: 'nominal', title: 'vhost worker', scale: { domain: designs } } as const;
  return {
    $schema: SCHEMA,
    title: { text: 'vm-cpu-max: a VM under cpu.max, before and after QEMU moves to vm1/emulator', subtitle: "6.12's worker moves with QEMU under the emulator's limit; 6.1's kthread stays in vm1 on vm1's quota" },
    vconcat: [
      {
        data: { values: iops },
        facet: { column: { field: 'phase', type: 'nominal', title: null, sort: [VM_BEFORE, VM_AFTER], header: { labelFontSize: 12, labelFontWeight: 'bold' } } },
        spec: {
          width: 260, height: 200,
          mark: { type: 'bar' },
          encoding: {
            x, xOffset: { field: 'design', type: 'nominal', title: 'vhost worker', scale: { domain: designs } }, color,
            y: { field: 'iops', type: 'quantitative', title: 'IOPS' },
            // the SVG is static: tooltip fields only add to each bar's aria-label (the facet's phase is not in it otherwise)
            tooltip: [{ field: 'phase' }, { field: 'worker', title: 'worker in' }],
          },
        },
      },
      {
        data: { values: throttled },
        facet: { column: { field: 'panel', type: 'nominal', title: null, sort: ['vm1 before', 'vm1 after', 'vm1/emulator after'], header: { labelFontSize: 11 } } },
        spec: {
          width: 200, height: 110,
          mark: { type: 'bar' },
          encoding: {
            x, xOffset: { field: 'design', type: 'nominal', title: 'vhost worker', scale: { domain: designs } }, color,
            y: { field: 'nr', type: 'quantitative', title: 'periods throttled', axis: { tickMinStep: 1 } },
            tooltip: [{ field: 'panel', title: 'cgroup' }],
          },
        },
      },
    ],
  };
}

// ---- vm-freeze ---------------------------------------------------------------------

/** scenarios/vm-freeze.ts's --json data */
export interface VmFreezeData {
  runs: { release: string; workerIsKthread: boolean; iosBefore: number; iosFrozen: number; iosAfter: number; workerUsFrozen: number; frozenWhileFrozen: number; frozenAfterThaw: number }[];
}

export const FREEZE_PHASES = ['before', 'while frozen', 'after the thaw'] as const;

/**
 * vm-freeze: I/Os completed before, while and after cgroup.freeze 1, a bar per design
 * (the count over each bar: a zero is a bar you cannot see), and beside it the worker's
 * CPU time while frozen with what cgroup.events said.
 */
export function vmFreezeChart(data: VmFreezeData): VegaLiteSpec {
  const runs = need<VmFreezeData['runs']>('vm-freeze', data, 'runs');
  const ios = runs.flatMap((r) => {
    const design = workerDesign(r.release, r.workerIsKthread);
    return [r.iosBefore, r.iosFrozen, r.iosAfter].map((n, i) => ({ design, phase: FREEZE_PHASES[i], ios: n }));
  });
  const cpu = runs.map((r) => ({ design: workerDesign(r.release, r.workerIsKthread), us: r.workerUsFrozen, frozen: r.frozenWhileFrozen, thawed: r.frozenAfterThaw }));
  const designs = cpu.map((c) => c.design);
  const color = { field: 'design', type: 'nominal', title: 'vhost worker', scale: { domain: designs } } as const;
  const xPhase = { field: 'phase', type: 'nominal', title: null, sort: [...FREEZE_PHASES], axis: { labelAngle: 0 } } as const;
  const off = { field: 'design', type: 'nominal', title: 'vhost worker', scale: { domain: designs } } as const;
  return {
    $schema: SCHEMA,
    title: { text: "vm-freeze: what a VM's vhost worker runs while its cgroup is frozen", subtitle: "cgroup.freeze 1 with the guest's I/O queued; over the CPU bars: cgroup.events' frozen while frozen" },
    hconcat: [
      {
        width: 330, height: 220,
        data: { values: ios },
        layer: [
          {
            mark: { type: 'bar' },
            encoding: {
              x: xPhase, xOffset: off, color,
              y: { field: 'ios', type: 'quantitative', title: 'I/Os completed' },
            },
          },
          {
            mark: { type: 'text', dy: -5, fontSize: 10, baseline: 'bottom' },
            encoding: { x: xPhase, xOffset: off, y: { field: 'ios', type: 'quantitative' }, text: { field: 'ios', type: 'quantitative' } },
          },
        ],
      },
      {
        width: 220, height: 220,
        data: { values: cpu },
        layer: [
          {
            mark: { type: 'bar' },
            encoding: {
              x: { field: 'design', type: 'nominal', title: 'vhost worker', scale: { domain: designs }, axis: { labelAngle: 0, title: null } }, color,
              y: { field: 'us', type: 'quantitative', title: 'worker CPU while frozen (µs)' },
              tooltip: [{ field: 'frozen', title: 'cgroup.events frozen while frozen' }, { field: 'thawed', title: 'after the thaw' }],
            },
          },
          {
            transform: [{ calculate: "'frozen ' + datum.frozen", as: 'events' }],
            mark: { type: 'text', dy: -5, fontSize: 10, baseline: 'bottom' },
            encoding: { x: { field: 'design', type: 'nominal' }, y: { field: 'us', type: 'quantitative' }, text: { field: 'events', type: 'nominal' } },
          },
        ],
      },
    ],
  };
}

// ---- bench/scale.ts's curves -------------------------------------------------------

/** one figure of a bench section (bench/types.ts's Figure) */
interface BenchFigure { name: string; value: number; unit: string; notes?: Record<string, unknown> }

/** what `npm run bench -- --json F` writes (the fields read here) */
export interface BenchJson {
  env?: { quick?: boolean; cpus?: number; cpu?: string; date?: string };
  sections: { section: string; title: string; figures: BenchFigure[] }[];
}

/**
 * bench/scale.ts: host cost per item against the count (cgroups, devices or processes),
 * one line per curve, log-log; the bars are the min..max of the point's 3 blocks.
 * Reads the figures whose notes carry `series` and `x` (the startup figures do not);
 * where a point's notes carry the native C of the same rounds ('C ns/item'), the C
 * curve is drawn dashed in the curve's colour (no bars: its processes' figures are in
 * the notes, not its blocks).
 */
export function scaleChart(bench: BenchJson): VegaLiteSpec {
  const sections = need<BenchJson['sections']>('scale', bench, 'sections');
  const scale = sections.find((s) => s.section === 'scale');
  if (scale === undefined) throw new KwqError('chart scale', `the bench JSON has no 'scale' section (sections: ${sections.map((s) => s.section).join(', ') || 'none'}); run npm run bench -- --only scale --json F`);
  const values = scale.figures.flatMap((f) => {
    const n = f.notes ?? {};
    if (typeof n['series'] !== 'string' || typeof n['x'] !== 'number') return [];
    const series = n['series'];
    const spread = /^([\d.]+)\.\.([\d.]+)$/.exec(String(n['min..max of blocks'] ?? ''));
    // "…, cgroups 100": what x counts
    const of = f.name.startsWith(`${series}, `) ? f.name.slice(series.length + 2).split(' ')[0] : '';
    const kwq = {
      series, impl: 'kwq', x: n['x'], ns: f.value, unit: f.unit, of,
      lo: spread ? Number(spread[1]) : f.value, hi: spread ? Number(spread[2]) : f.value,
      exactlyOnce: String(n['exactly-once'] ?? ''),
    };
    const c = n['C ns/item'];
    if (typeof c !== 'number') return [kwq];
    return [kwq, { series, impl: 'native C', x: n['x'], ns: c, unit: f.unit, of, lo: c, hi: c, exactlyOnce: String(n['C exactly-once'] ?? '') }];
  });
  if (values.length === 0) throw new KwqError('chart scale', "the 'scale' section has no curve figures (notes with series and x)");
  const series = [...new Set(values.map((v) => v.series))];
  const x = { field: 'x', type: 'quantitative', title: 'count: cgroups, devices or processes (log)', scale: { type: 'log' }, axis: { values: [...new Set(values.map((v) => v.x))].sort((a, b) => a - b), format: ',' } } as const;
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: series }, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0 } } as const;
  const env = bench.env;
  return {
    $schema: SCHEMA,
    title: { text: 'scale: sim cost per item vs count (bench/scale.ts)', subtitle: `host ns per request or work, median of 3 blocks (bars: their min..max)${values.some((v) => v.impl === 'native C') ? '; dashed: native C of the same rounds (of the loop curve, its dispatch)' : ''}${env ? `; ${env.quick ? '--quick, ' : ''}${env.cpus ?? '?'} × ${env.cpu ?? 'CPU'}` : ''}` },
    width: WIDTH, height: HEIGHT,
    data: { values },
    layer: [
      { transform: [{ filter: "datum.impl === 'kwq'" }], mark: { type: 'rule', opacity: 0.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
      {
        mark: { type: 'line', point: { filled: true, size: 40 } },
        encoding: {
          x, color,
          y: { field: 'ns', type: 'quantitative', title: 'host ns per item (log)', scale: { type: 'log' } },
          // one line per curve and implementation: kwq solid, the native C dashed
          strokeDash: { field: 'impl', type: 'nominal', title: null, scale: { domain: ['kwq', 'native C'], range: [[1, 0], [4, 3]] }, legend: null }, // the subtitle says which is dashed
          tooltip: [{ field: 'impl' }, { field: 'of' }, { field: 'unit' }, { field: 'exactlyOnce', title: 'exactly-once' }],
        },
      },
    ],
  };
}

/** The tour's charts by scenario: the scenarios that have one, and how to draw it. */
export const SCENARIO_CHARTS: Record<string, (data: never) => VegaLiteSpec> = {
  multiqueue: multiqueueChart,
  'loop-inversion': loopInversionChart,
  'loop-reap': loopReapChart,
  iowq: iowqChart,
  'vm-cpu-max': vmCpuMaxChart,
  'vm-freeze': vmFreezeChart,
};

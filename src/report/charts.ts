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

/** The tour's charts by scenario: the scenarios that have one, and how to draw it. */
export const SCENARIO_CHARTS: Record<string, (data: never) => VegaLiteSpec> = {
  multiqueue: multiqueueChart,
  'loop-inversion': loopInversionChart,
  'loop-reap': loopReapChart,
  iowq: iowqChart,
};

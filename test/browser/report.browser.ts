/**
 * The report in a real browser: `kwq report` writes the page, headless Chromium (Debian's
 * /usr/bin/chromium driven by playwright-core) opens it from file:// and we check that
 *   - the page loads nothing from anywhere else (every request is the file itself);
 *   - every chart rendered: an <svg> with a non-empty box and marks in it;
 *   - the numbers shown match the JSON the page was built from: each chart's marks
 *     (their aria-labels name the datum) against the scenario's --json data, the tour's
 *     tables verbatim, the oracle table's cells, the engine's figures;
 *   - `kwq report --bench` on a real bench JSON (test/report/fixtures): a point per scale
 *     curve figure at its ns/item, and per native C figure beside it;
 *   - that JSON is what the scenarios print (the sim runtime is deterministic, so a fresh
 *     run of multiqueue gives the same data).
 * Run by `npm run test:browser` (not `npm test`: no browser there).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { reportCommand } from '../../src/cli/report.js';
import { runScenario } from '../../src/cli/tour.js';
import { SCENARIO_CHARTS, MQ_ONE, MQ_PER_VQ, MQ_PUBLISHED, VM_AFTER, VM_BEFORE, FREEZE_PHASES, type BenchJson } from '../../src/report/charts.js';
import type { TourReportData } from '../../src/report/tour-report.js';

const CHROMIUM = process.env['KWQ_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

interface ChartSeen {
  id: string;
  width: number;
  height: number;
  marks: number;
  /** aria-labels of the marks that stand for one datum each, as { title: value } */
  labels: Record<string, string>[];
}

let dir: string;
let file: string;
let ctx: BrowserContext;
let page: Page;
let data: TourReportData;
let charts: ChartSeen[];
const foreign: string[] = [];
const pageErrors: string[] = [];

/** "a: 1; b: 1,240.8" -> { a: '1', b: '1,240.8' } */
function parseLabel(label: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of label.split('; ')) {
    const i = part.lastIndexOf(': ');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 2);
  }
  return out;
}

/** a number as a label shows it: d3's ',' grouping and '%' undone */
function num(s: string | undefined): number {
  if (s === undefined) return NaN;
  const t = s.replace(/,/g, '');
  return t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : Number(t);
}

function close(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
}

function chart(id: string): ChartSeen {
  const c = charts.find((x) => x.id === id);
  if (!c) throw new Error(`no chart ${id} in the page`);
  return c;
}

function scenarioData(name: string): Record<string, unknown> {
  const s = data.scenarios.find((x) => x.name === name);
  if (!s) throw new Error(`no scenario ${name} in the report data`);
  return s.data;
}

/** every figure.chart of a page: its box, drawn marks and its data marks' labels */
async function readCharts(p: Page): Promise<ChartSeen[]> {
  const seen = await p.$$eval('figure.chart', (figs) =>
    figs.map((f) => {
      const svg = f.querySelector('svg');
      const box = svg?.getBoundingClientRect();
      // Vega draws each mark item as a path/line/text inside <g class="mark-TYPE role-mark">
      const items = svg ? [...svg.querySelectorAll('g.role-mark > *')] : [];
      const drawn = items.filter((e) => {
        const b = (e as SVGGraphicsElement).getBBox?.();
        return b !== undefined && (b.width > 0 || b.height > 0);
      });
      // one datum each: points and bars (a line's label repeats its first point's)
      const labels = items
        .filter((e) => ['point', 'bar'].includes(e.getAttribute('aria-roledescription') ?? '') && e.getAttribute('aria-label'))
        .map((e) => e.getAttribute('aria-label')!);
      return { id: f.getAttribute('data-chart') ?? '', width: box?.width ?? 0, height: box?.height ?? 0, marks: drawn.length, labels: labels as unknown as Record<string, string>[] };
    }),
  );
  for (const c of seen) c.labels = (c.labels as unknown as string[]).map(parseLabel);
  return seen;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set KWQ_CHROMIUM)`);
  dir = mkdtempSync(join(tmpdir(), 'kwq-report-'));
  file = join(dir, 'report.html');
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    // exit 0 or 1 (1: an oracle step differs unmarked, which the page shows in red); never 2
    expect(await reportCommand(['--out', file, '--ms', '200'])).toBeLessThanOrEqual(1);
  } finally {
    log.mockRestore();
  }
  ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1200, height: 900 }, offline: true,
  });
  page = ctx.pages()[0] ?? (await ctx.newPage());
  const self = pathToFileURL(file).href;
  page.on('request', (r) => {
    if (r.url() !== self) foreign.push(r.url());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  await page.goto(self, { waitUntil: 'load' });
  data = JSON.parse((await page.locator('#kwq-report-data').textContent()) ?? 'null') as TourReportData;
  charts = await readCharts(page);
}, 240_000);

afterAll(async () => {
  await ctx?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('kwq report in headless Chromium', () => {
  it('is self-contained: the page requests nothing but itself and runs without errors', () => {
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
    const html = readFileSync(file, 'utf8');
    // no src/href to another origin (the SVG namespace URIs are names, not fetched)
    expect(html.match(/(?:src|href)\s*=\s*["']?(?:https?:)?\/\//gi)).toBeNull();
  });

  it('renders every chart: one per charted scenario and the oracle agreement, each an svg with marks', () => {
    const want = [...data.scenarios.map((s) => s.name).filter((n) => n in SCENARIO_CHARTS), 'agreement'];
    expect(charts.map((c) => c.id).sort()).toEqual(want.sort());
    for (const c of charts) {
      expect(c.width, `${c.id} width`).toBeGreaterThan(100);
      expect(c.height, `${c.id} height`).toBeGreaterThan(50);
      expect(c.marks, `${c.id} drawn marks`).toBeGreaterThan(0);
      expect(c.labels.length, `${c.id} data marks`).toBeGreaterThan(0);
    }
  });

  it('multiqueue: a mark per design and fio-jobs count at the measured IOPS, and the published points', () => {
    const d = scenarioData('multiqueue') as { rows: { jobs: number; oneWorkerK: number; perVqK: number }[]; published: Record<string, { one: number | null; perVq: number | null }> };
    const c = chart('multiqueue');
    const has = (jobs: number, k: number, design: string, published: boolean): boolean =>
      c.labels.some((l) => {
        const v = Object.values(l);
        return num(v[0]) === jobs && close(num(v[1]), k) && v.includes(design) && v.includes(MQ_PUBLISHED) === published;
      });
    for (const r of d.rows) {
      expect(has(r.jobs, r.oneWorkerK, MQ_ONE, false), `1 worker at ${r.jobs} jobs`).toBe(true);
      expect(has(r.jobs, r.perVqK, MQ_PER_VQ, false), `per vq at ${r.jobs} jobs`).toBe(true);
    }
    let published = 0;
    for (const [jobs, p] of Object.entries(d.published)) {
      if (p.one !== null) { published++; expect(has(Number(jobs), p.one, MQ_ONE, true)).toBe(true); }
      if (p.perVq !== null) { published++; expect(has(Number(jobs), p.perVq, MQ_PER_VQ, true)).toBe(true); }
    }
    expect(c.labels.filter((l) => Object.values(l).includes(MQ_PUBLISHED))).toHaveLength(published);
  });

  it('loop-reap: a point per sample at the live worker count', () => {
    const d = scenarioData('loop-reap') as { samples: [number, number][] };
    const pts = chart('loop-reap').labels.filter((l) => 'live loop workers' in l).map((l) => [num(l['time (s)']), num(l['live loop workers'])]);
    for (const s of d.samples) expect(pts, `sample at ${s[0]} s`).toContainEqual(s);
  });

  it('loop-inversion: each design and cgroup CDF goes through its measured percentiles', () => {
    const d = scenarioData('loop-inversion') as { rows: { design: string; cgroup: string; p50Us: number; p99Us: number; cdfUs: number[] }[] };
    const labels = chart('loop-inversion').labels;
    for (const r of d.rows) {
      const mine = labels.filter((l) => Object.values(l).includes(r.design) && Object.values(l).includes(`/${r.cgroup}`));
      expect(mine, `${r.design} /${r.cgroup}`).toHaveLength(r.cdfUs.length);
      const at = (p: number): number => num(Object.values(mine.find((l) => close(num(Object.values(l)[1]), p / 100))!)[0]);
      expect(close(at(50), r.p50Us), `${r.design} /${r.cgroup} p50`).toBe(true);
      expect(close(at(99), r.p99Us), `${r.design} /${r.cgroup} p99`).toBe(true);
    }
  });

  it('iowq: throughput per files and writes in flight', () => {
    const d = scenarioData('iowq') as { rows: { files: number; inflight: number; mbps: number }[] };
    const labels = chart('iowq').labels;
    for (const r of d.rows) {
      const files = `${r.files} file${r.files === 1 ? '' : 's'}`;
      expect(labels.some((l) => num(l['inflight']) === r.inflight && num(l['mbps']) === r.mbps && l['files'] === files), `${files} at ${r.inflight}`).toBe(true);
    }
  });

  it('vm-cpu-max: a bar per release, cpu.max and phase at its IOPS, the worker\'s cgroup, and nr_throttled per cgroup', () => {
    const d = scenarioData('vm-cpu-max') as { ms?: number; runs: { release: string; percent: number; workerIsKthread: boolean; before: { ios: number; nrThrottled: number; workerCgroup: string }; after: { ios: number; nrThrottled: number; emulatorThrottled: number; workerCgroup: string } }[] };
    const labels = chart('vm-cpu-max').labels;
    const cpuMax = "vm1's cpu.max (% of a CPU)";
    const perSecond = 1000 / (d.ms ?? 1000);
    for (const r of d.runs) {
      const worker = `${r.release} (${r.workerIsKthread ? 'kthread' : 'vhost_task'})`;
      const mine = labels.filter((l) => l['vhost worker'] === worker && num(l[cpuMax]) === r.percent);
      for (const [phase, p] of [[VM_BEFORE, r.before], [VM_AFTER, r.after]] as const) {
        const bar = mine.filter((l) => l['phase'] === phase);
        expect(bar, `${worker} ${r.percent}% ${phase}`).toHaveLength(1);
        expect(num(bar[0]!['IOPS']), `${worker} ${r.percent}% ${phase} IOPS`).toBe(Math.round(p.ios * perSecond));
        expect(bar[0]!['worker in']).toBe(p.workerCgroup);
      }
      const thr = (cg: string): number[] => mine.filter((l) => l['cgroup'] === cg).map((l) => num(l['periods throttled']));
      expect(thr('vm1 before'), `${worker} ${r.percent}% vm1 before`).toEqual([r.before.nrThrottled]);
      expect(thr('vm1 after'), `${worker} ${r.percent}% vm1 after`).toEqual([r.after.nrThrottled]);
      expect(thr('vm1/emulator after'), `${worker} ${r.percent}% emulator after`).toEqual([r.after.emulatorThrottled]);
    }
    expect(labels).toHaveLength(d.runs.length * 5);
  });

  it('vm-freeze: I/Os per design before, while and after frozen; the worker CPU and cgroup.events while frozen', () => {
    const d = scenarioData('vm-freeze') as { runs: { release: string; workerIsKthread: boolean; iosBefore: number; iosFrozen: number; iosAfter: number; workerUsFrozen: number; frozenWhileFrozen: number; frozenAfterThaw: number }[] };
    const labels = chart('vm-freeze').labels;
    for (const r of d.runs) {
      const worker = `${r.release} (${r.workerIsKthread ? 'kthread' : 'vhost_task'})`;
      [r.iosBefore, r.iosFrozen, r.iosAfter].forEach((n, i) => {
        const bar = labels.filter((l) => l['vhost worker'] === worker && l['phase'] === FREEZE_PHASES[i]);
        expect(bar.map((l) => num(l['I/Os completed'])), `${worker} ${FREEZE_PHASES[i]}`).toEqual([n]);
      });
      const cpu = labels.filter((l) => l['vhost worker'] === worker && 'worker CPU while frozen (µs)' in l);
      expect(cpu, worker).toHaveLength(1);
      expect(num(cpu[0]!['worker CPU while frozen (µs)'])).toBe(r.workerUsFrozen);
      expect(num(cpu[0]!['cgroup.events frozen while frozen'])).toBe(r.frozenWhileFrozen);
      expect(num(cpu[0]!['after the thaw'])).toBe(r.frozenAfterThaw);
    }
    expect(labels).toHaveLength(d.runs.length * 4);
  });

  it('kwq report --bench: the scale curves, a point per figure at its ns/item, in a page of its own', async () => {
    const fixture = fileURLToPath(new URL('../report/fixtures/bench-scale-quick.json', import.meta.url));
    const bench = JSON.parse(readFileSync(fixture, 'utf8')) as BenchJson;
    const out = join(dir, 'scale.html');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await reportCommand(['--bench', fixture, '--out', out])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const p = await ctx.newPage();
    try {
      await p.goto(pathToFileURL(out).href, { waitUntil: 'load' });
      const [c] = await readCharts(p);
      expect(c?.id).toBe('scale');
      expect(c!.width).toBeGreaterThan(100);
      const curves = bench.sections.find((s) => s.section === 'scale')!.figures.filter((f) => typeof f.notes?.['series'] === 'string');
      expect(curves.length).toBeGreaterThan(0);
      // a point per figure, and one per native C figure of the same rounds (every curve's)
      const withC = curves.filter((f) => typeof f.notes!['C ns/item'] === 'number');
      expect(withC.length).toBeGreaterThan(0);
      expect(c!.labels).toHaveLength(curves.length + withC.length);
      const at = (f: (typeof curves)[number], impl: string) =>
        c!.labels.filter((l) => l['series'] === f.notes!['series'] && l['impl'] === impl && num(l['count: cgroups, devices or processes (log)']) === f.notes!['x']);
      for (const f of curves) {
        const pt = at(f, 'kwq');
        expect(pt, f.name).toHaveLength(1);
        // the label shows ns/item to 12 significant digits
        expect(Math.abs(num(pt[0]!['host ns per item (log)']) - f.value) / f.value, f.name).toBeLessThan(1e-9);
        expect(pt[0]!['exactly-once']).toBe(f.notes!['exactly-once']);
      }
      for (const f of withC) {
        const pt = at(f, 'native C');
        expect(pt, `${f.name} (C)`).toHaveLength(1);
        expect(num(pt[0]!['host ns per item (log)']), `${f.name} (C)`).toBe(f.notes!['C ns/item']);
        expect(pt[0]!['exactly-once']).toBe(f.notes!['C exactly-once']);
      }
    } finally {
      await p.close();
    }
  });

  it("the oracle: the chart's bars and the table's cells are corpusAgreement()'s numbers", async () => {
    const bars = chart('agreement').labels;
    for (const a of data.agreement) {
      for (const [kind, n] of [['agree', a.agree], ['divergent (marked)', a.divergent], ['differ', a.differ]] as const) {
        expect(bars.some((l) => l['kernel'] === `Linux ${a.kernel}` && l['kind'] === kind && num(l['steps']) === n), `${a.kernel} ${kind}`).toBe(true);
      }
      const row = page.locator(`table#agreement tr[data-kernel="${a.kernel}"]`);
      for (const f of ['scripts', 'steps', 'agree', 'divergent', 'differ'] as const) {
        expect(await row.locator(`td[data-field="${f}"]`).textContent(), `${a.kernel} ${f}`).toBe(String(a[f]));
      }
      expect(await row.locator('td[data-field="provenance"]').textContent()).toBe(a.provenance);
    }
    expect(await page.locator('table#agreement tbody tr').count()).toBe(data.agreement.length);
  });

  it("shows the tour's tables verbatim and the engine's figures", async () => {
    for (const s of data.scenarios) {
      expect(await page.locator(`section[data-scenario="${s.name}"] pre.tour`).textContent(), s.name).toBe(s.lines.join('\n'));
    }
    const e = data.engine!;
    expect(await page.locator('#engine [data-field="added"]').textContent()).toBe(String(e.added));
    expect(await page.locator('#engine [data-field="itemsPerSec"]').textContent()).toBe((e.itemsPerSec / 1e6).toFixed(1));
    expect(await page.locator('#engine [data-field="exactlyOnce"]').textContent()).toBe(e.exactlyOnce ? 'ok' : 'FAILED');
  });

  it("its data is the scenarios' --json: a fresh multiqueue run gives the same numbers", async () => {
    const fresh = await runScenario('multiqueue');
    expect(JSON.parse(JSON.stringify(fresh.data))).toEqual(scenarioData('multiqueue'));
  });
});

/**
 * `kwq report`: the tour as one self-contained HTML page with its charts, and the
 * oracle's agreement per release (src/report/*). `npm start` writes the same page at
 * the end of the tour (reportAfterTour).
 *
 *   kwq report [--out FILE] [--ms N] [--json] [--svg-dir DIR]
 *   kwq report --sweep FILE.jsonl --x PATH --y PATH [--series PATH] [--title T] [--out FILE.svg|FILE.html]
 *   kwq report --bench FILE.json [--out FILE.svg|FILE.html]
 *
 * The second form charts sweep results (`kwq sweep`'s JSON lines, or any JSON lines):
 * PATH is a dotted path into each line, looked up under `params` and `data` when not
 * found as given (`--x vms` = `params.vms`). The third charts bench/scale.ts's curves
 * from `npm run bench -- --only scale --json FILE` (scaleChart).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXIT_FAILED, EXIT_OK, numberOption, parseCommand, UsageError, writableDir, writableFile, type CommandSpec } from './args.js';
import { Progress } from './progress.js';
import type { EngineTourResult } from './engine-tour.js';
import { collectTourReport, type TourReportData } from '../report/tour-report.js';
import { renderReportCharts, reportHtml } from '../report/html.js';
import { parseJsonLines, scaleChart, sweepChart, type BenchJson } from '../report/charts.js';
import { renderVegaLite, type VegaLiteSpec } from '../report/render.js';

/** where the tour's report goes unless --out or KWQ_REPORT says otherwise */
export const DEFAULT_REPORT = 'kwq-report.html';

export const REPORT_SPEC: CommandSpec = {
  name: 'kwq report',
  usage: 'kwq report [--out FILE] [--ms N] [--json] [--svg-dir DIR] | kwq report --sweep FILE.jsonl --x PATH --y PATH [--series PATH] [--title T] [--out FILE] | kwq report --bench FILE.json [--out FILE]',
  help: [
    'Runs the tour (the threaded engine, every scenario) and the oracle comparison, and writes one self-contained',
    'HTML page (inline SVG charts, no external URL) with the tour\'s tables and charts and the agreement per release.',
    `  --out FILE     where (default $KWQ_REPORT, else ./${DEFAULT_REPORT})`,
    '  --ms N         the engine run, ms (default 1000; 0 leaves the engine out)',
    '  --json         also print the data the page was built from (stdout; the path goes to stderr)',
    '  --svg-dir DIR  also write each chart as DIR/NAME.svg (the README\'s pictures: --svg-dir docs/img)',
    'Sweep results as a chart:',
    '  --sweep FILE   a JSON-lines file, one point a line (what `kwq sweep` writes)',
    '  --x/--y PATH   dotted paths into each line (looked up under params and data too); --y must be a number',
    '  --series PATH  one line per value of this field',
    '  --out FILE     FILE.svg: the chart alone; otherwise an HTML page (default: the sweep file\'s name + .html)',
    'The scale benchmark\'s curves (cost per item vs cgroups, devices, processes) as a chart:',
    '  --bench FILE   what `npm run bench -- --only scale --json FILE` writes (its scale section is read)',
    '  --out FILE     FILE.svg: the chart alone; otherwise an HTML page (default: the bench file\'s name + .html)',
    'Exit 1 when the engine\'s exactly-once check fails or a step differs from real Linux unmarked.',
  ],
  options: {
    out: { type: 'string', short: 'o' },
    ms: { type: 'string' },
    json: { type: 'boolean' },
    sweep: { type: 'string' },
    bench: { type: 'string' },
    x: { type: 'string' },
    y: { type: 'string' },
    series: { type: 'string' },
    title: { type: 'string' },
    'svg-dir': { type: 'string' },
  },
  positionals: [0, 0],
};

/** Render and write the page (and each chart as svgDir/ID.svg when given); returns the page's absolute path. */
export async function writeTourReport(data: TourReportData, file: string, svgDir?: string): Promise<string> {
  const abs = writableFile('kwq report', file);
  const charts = await renderReportCharts(data);
  writeFileSync(abs, reportHtml(data, charts));
  if (svgDir !== undefined) for (const c of charts) writeFileSync(join(svgDir, `${c.id}.svg`), c.svg);
  return abs;
}

/** a report's verdict: the engine's exactly-once check and the oracle's unmarked differences */
export function reportOk(data: TourReportData): boolean {
  return (data.engine?.exactlyOnce ?? true) && data.agreement.every((a) => a.differ === 0);
}

export async function reportCommand(argv: string[]): Promise<number> {
  const p = parseCommand(REPORT_SPEC, argv);
  if (p === null) return EXIT_OK;
  const v = p.values as { out?: string; ms?: string; json?: boolean; sweep?: string; bench?: string; x?: string; y?: string; series?: string; title?: string; 'svg-dir'?: string };
  if (v.bench !== undefined) {
    if (v.sweep !== undefined) throw new UsageError('kwq report', '--bench and --sweep are two charts: give one');
    for (const k of ['x', 'y', 'series', 'title', 'svg-dir', 'ms'] as const) {
      if (v[k] !== undefined) throw new UsageError('kwq report --bench', `--${k} is not for the bench chart (only --out FILE and --json)`);
    }
    return benchReport(v.bench, v.out, v.json);
  }
  if (v.sweep !== undefined) {
    if (v['svg-dir'] !== undefined) throw new UsageError('kwq report --sweep', '--svg-dir is for the tour report; give the sweep chart --out FILE.svg');
    return sweepReport(v);
  }
  for (const k of ['x', 'y', 'series', 'title'] as const) {
    if (v[k] !== undefined) throw new UsageError('kwq report', `--${k} charts sweep results and needs --sweep FILE`);
  }
  const ms = numberOption('kwq report', 'ms', v.ms, { min: 0, max: 3_600_000, dflt: 1000, unit: 'ms' });
  const file = writableFile('kwq report', v.out ?? (process.env['KWQ_REPORT'] || DEFAULT_REPORT));
  const svgDir = v['svg-dir'] === undefined ? undefined : writableDir('kwq report', v['svg-dir']);
  let progress: Progress | undefined;
  const data = await collectTourReport({
    engineMs: ms,
    onStep: (what, i, n) => {
      progress ??= new Progress('kwq report:', n);
      progress.update(i, what);
    },
  });
  progress?.clear();
  const abs = await writeTourReport(data, file, svgDir);
  if (svgDir !== undefined) console.error(`charts: ${svgDir}/*.svg`);
  if (v.json) {
    console.log(JSON.stringify(data, null, 1));
    console.error(`report: ${abs}`);
  } else console.log(`report: ${abs} (open ${pathToFileURL(abs).href})`);
  return reportOk(data) ? EXIT_OK : EXIT_FAILED;
}

async function sweepReport(v: { out?: string; sweep?: string; x?: string; y?: string; series?: string; title?: string; ms?: string; json?: boolean }): Promise<number> {
  const where = 'kwq report --sweep';
  if (v.x === undefined || v.y === undefined) throw new UsageError(where, 'needs --x PATH and --y PATH (dotted paths into each JSON line)');
  if (v.ms !== undefined) throw new UsageError(where, '--ms is for the tour report, not a sweep chart');
  let text: string;
  try {
    text = readFileSync(v.sweep!, 'utf8');
  } catch (e) {
    throw new UsageError(where, `cannot read ${v.sweep}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const points = parseJsonLines(text, `${where} ${v.sweep}`);
  const spec = sweepChart(points, { x: v.x, y: v.y, series: v.series, title: v.title });
  const out = v.out ?? `${basename(v.sweep!, extname(v.sweep!))}.html`;
  const abs = await writeOneChart(where, spec, out, 'sweep', v.title ?? `${v.y} vs ${v.x}`, `${points.length} points from ${resolve(v.sweep!)}`);
  if (v.json) console.log(JSON.stringify(spec));
  (v.json ? console.error : console.log)(`chart: ${abs} (${points.length} points)`);
  return EXIT_OK;
}

/** `--bench FILE`: bench/scale.ts's curves from the bench's --json output. */
async function benchReport(file: string, outOpt: string | undefined, json: boolean | undefined): Promise<number> {
  const where = 'kwq report --bench';
  let bench: BenchJson;
  try {
    bench = JSON.parse(readFileSync(file, 'utf8')) as BenchJson;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(where, err.code ? `cannot read ${file}: ${err.code}` : `${file} is not JSON: ${err.message}`);
  }
  const spec = scaleChart(bench);
  const out = outOpt ?? `${basename(file, extname(file))}.html`;
  const abs = await writeOneChart(where, spec, out, 'scale', 'scale: cost per item vs count', `the scale section of ${resolve(file)}`);
  if (json) console.log(JSON.stringify(spec));
  (json ? console.error : console.log)(`chart: ${abs}`);
  return EXIT_OK;
}

/** One chart to FILE.svg (the SVG alone) or to a small page (figure.chart[data-chart=ID]); returns the absolute path. */
async function writeOneChart(where: string, spec: VegaLiteSpec, out: string, id: string, title: string, caption: string): Promise<string> {
  const abs = writableFile(where, out);
  const svg = await renderVegaLite(spec);
  const esc = (t: string): string => t.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  if (extname(abs) === '.svg') writeFileSync(abs, svg);
  else {
    writeFileSync(abs, `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body style="font-family: system-ui, sans-serif">\n<figure class="chart" data-chart="${id}">${svg}</figure>\n<p>${esc(caption)}</p>\n</body></html>\n`);
  }
  return abs;
}

/**
 * The end of `kwq tour` (what `npm start` runs): the same page, with the tour's engine
 * run (not run again; the scenarios, deterministic in the sim runtime, are). Goes to
 * $KWQ_REPORT, else ./kwq-report.html; KWQ_REPORT=off writes none. Says where on
 * stdout (stderr under --json, whose stdout is the data).
 */
export async function reportAfterTour(o: { engine: EngineTourResult; engineMs: number; json?: boolean }): Promise<void> {
  const target = process.env['KWQ_REPORT'] ?? DEFAULT_REPORT;
  if (target === 'off' || target === '') return;
  const data = await collectTourReport({ engine: o.engine, engineMs: o.engineMs });
  const abs = await writeTourReport(data, target);
  (o.json ? console.error : console.log)(`\nreport: ${abs} (open ${pathToFileURL(abs).href})`);
}

/**
 * `kwq compare`: one workload under two designs, or one design at two releases, from
 * one run of each; one table of who was charged what (memory, io, cpu, pids per cgroup
 * and phase) with the difference, then the outcome values that differ.
 *
 *   kwq compare charge --designs vhost-task,vhost-kthread
 *   kwq compare charge --designs vhost-task --releases 6.1,6.12 --writes 16
 *   kwq compare loop-oom
 *   kwq compare --params FILE
 */
import { EXIT_OK, parseCommand, UsageError, type CommandSpec } from './args.js';
import { Progress } from './progress.js';
import { loadParams, parseParams, type Experiment } from './params.js';
import { optionHelpLines, optionsFromArgs, scenarioArgOptions, validateScenarioOptions } from './scenario-options.js';
import { RELEASE_NAMES, WORKLOADS, WORKLOAD_NAMES, workload, type ChargeRow, type WorkloadRun } from './workloads.js';
import { kwqVersion } from './version.js';
import type { Release } from '../kernel/release.js';
import type { Scenario } from '../../scenarios/types.js';

export const COMPARE_SPEC: CommandSpec = {
  name: 'kwq compare',
  usage: 'kwq compare WORKLOAD [--designs A,B | --designs A --releases R1,R2] [--OPTION VALUE ...] [--json] | kwq compare --params FILE',
  help: [
    'One workload under two designs (at one release), or one design at two releases: what each cgroup was charged',
    '(memory, io, cpu, pids) per phase, side by side with the difference, and the outcome values that differ.',
    '  --designs A,B      the designs (default: the workload\'s first two)',
    '  --releases R1,R2   two releases for one design (default: Kernel.boot\'s release)',
    '  --params FILE      a parameter file: {"compare": WORKLOAD, "designs": [...], "releases": [...], "options": {...}}',
    '  --json             the runs and the differences as JSON',
    '',
    ...Object.values(WORKLOADS).flatMap((w) => [
      `${w.name}: ${w.title}`,
      `  designs: ${w.designs.join(', ')}; releases: ${w.releases ? RELEASE_NAMES.join(', ') : 'the default only'}`,
      ...optionHelpLines(w as unknown as Scenario),
    ]),
  ],
  options: {},
  positionals: [0, 1],
};

export interface CompareResult {
  workload: string;
  options: Record<string, unknown>;
  runs: [WorkloadRun, WorkloadRun];
}

/** the two (design, release) pairs an experiment compares */
function pairs(exp: Pick<Experiment, 'designs' | 'releases'>): [string, Release | undefined][] {
  const designs = exp.designs!;
  const releases = (exp.releases ?? []) as Release[];
  if (designs.length === 2) return designs.map((d) => [d, releases[0]]);
  return releases.map((r) => [designs[0]!, r]);
}

/** Run both sides; `opts` already validated (defaults filled). */
export async function runCompare(exp: Pick<Experiment, 'name' | 'designs' | 'releases'>, opts: Record<string, unknown>, progress?: Progress): Promise<CompareResult> {
  const w = workload(exp.name);
  const runs: WorkloadRun[] = [];
  for (const [i, [design, release]] of pairs(exp).entries()) {
    progress?.update(i, `${design}${release ? ` at ${release}` : ''}`);
    runs.push(await w.run(design, release, opts));
  }
  progress?.clear();
  return { workload: w.name, options: opts, runs: runs as [WorkloadRun, WorkloadRun] };
}

const fmtBytes = (b: number): string => {
  const a = Math.abs(b);
  if (a >= 2 ** 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (a >= 1024) return `${(b / 1024).toFixed(0)} KiB`;
  return `${b} B`;
};
const RESOURCES: { key: keyof ChargeRow; name: string; fmt: (v: number) => string }[] = [
  { key: 'memoryBytes', name: 'memory', fmt: fmtBytes },
  { key: 'ioWbytes', name: 'io wbytes', fmt: fmtBytes },
  { key: 'cpuUsec', name: 'cpu', fmt: (v) => `${v} us` },
  { key: 'pidsPeak', name: 'pids.peak', fmt: (v) => String(v) },
];

/** the table's lines */
export function compareLines(r: CompareResult): string[] {
  const [a, b] = r.runs;
  const label = (x: WorkloadRun): string => (a.design !== b.design ? x.design : `${x.design} at ${x.release}`);
  const la = label(a);
  const lb = label(b);
  const w = Math.max(14, la.length + 1, lb.length + 1);
  const cw = Math.max(10, ...a.charged.map((c) => c.cgroup.length));
  const pw = Math.max(5, ...a.charged.map((c) => c.phase.length));
  const opts = Object.entries(r.options).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ');
  const lines = [
    `kwq compare ${r.workload}: ${la} vs ${lb}${a.design !== b.design ? ` (release ${a.release})` : ''}; ${opts}`,
    '',
    'who was charged what (rows where both sides are 0 are left out; pids.peak: the whole run):',
    `  ${'phase'.padEnd(pw)} ${'cgroup'.padEnd(cw)} ${'resource'.padEnd(10)} ${la.padStart(w)} ${lb.padStart(w)} ${'difference'.padStart(w)}`,
  ];
  for (const [i, ra] of a.charged.entries()) {
    const rb = b.charged[i]!;
    for (const res of RESOURCES) {
      const va = ra[res.key] as number | null;
      const vb = rb[res.key] as number | null;
      if (va === null || vb === null) continue;
      if (res.key === 'pidsPeak' && ra.phase !== a.charged[0]!.phase) continue; // one figure for the run: shown once, in the first phase
      if (va === 0 && vb === 0) continue;
      const diff = vb - va;
      lines.push(`  ${ra.phase.padEnd(pw)} ${ra.cgroup.padEnd(cw)} ${res.name.padEnd(10)} ${res.fmt(va).padStart(w)} ${res.fmt(vb).padStart(w)} ${(diff === 0 ? 'same' : `${diff > 0 ? '+' : ''}${res.fmt(diff)}`).padStart(w)}`);
    }
  }
  lines.push('', 'outcome:');
  const keys = Object.keys(a.outcome);
  const kw = Math.max(...keys.map((k) => k.length));
  let differ = 0;
  for (const k of keys) {
    const same = a.outcome[k] === b.outcome[k];
    if (!same) differ++;
    lines.push(`  ${same ? ' ' : '*'} ${k.padEnd(kw)}  ${String(a.outcome[k]).padStart(w)} ${String(b.outcome[k]).padStart(w)}`);
  }
  lines.push(`  (${differ} of ${keys.length} outcome values differ, marked *)`);
  return lines;
}

export async function compareCommand(argv: string[]): Promise<number> {
  // the workload decides which options exist: find it before parsing
  const first = argv[0];
  const name = first !== undefined && !first.startsWith('-') ? first : undefined;
  const w = name === undefined ? undefined : workload(name);
  const spec: CommandSpec = {
    ...COMPARE_SPEC,
    options: {
      designs: { type: 'string' }, releases: { type: 'string' }, params: { type: 'string' }, json: { type: 'boolean' },
      ...(w ? scenarioArgOptions(w as unknown as Scenario) : {}),
    },
  };
  const p = parseCommand(spec, argv);
  if (p === null) return EXIT_OK;
  let exp: Experiment;
  if (p.values.params !== undefined) {
    if (name !== undefined || p.values.designs !== undefined || p.values.releases !== undefined) {
      throw new UsageError('kwq compare', '--params FILE takes the workload, designs and releases from the file: give nothing else');
    }
    exp = await loadParams(p.values.params as string);
    if (exp.kind !== 'compare') throw new UsageError('kwq compare', `${exp.file} names scenario ${exp.name}: run it with kwq scenario --params ${exp.file}`);
    if (exp.axes.length > 0) throw new UsageError('kwq compare', `${exp.file} sweeps ${exp.axes.map(([x]) => x).join(', ')}: run it with kwq sweep ${exp.file}`);
  } else {
    if (w === undefined) throw new UsageError('kwq compare', `name a workload: ${WORKLOAD_NAMES.join(', ')} (or --params FILE)`);
    const table = w as unknown as Scenario;
    const options = validateScenarioOptions(table, optionsFromArgs(table, p.values));
    // only what was given goes into the file form; defaults are filled when it runs
    const given = Object.fromEntries(Object.keys(optionsFromArgs(table, p.values)).map((k) => [k, options[k]]));
    const list = (v: unknown): string[] | undefined => (v === undefined ? undefined : String(v).split(',').map((x) => x.trim()));
    exp = await parseParams({
      compare: w.name,
      ...(p.values.designs !== undefined ? { designs: list(p.values.designs) } : {}),
      ...(p.values.releases !== undefined ? { releases: list(p.values.releases) } : {}),
      options: given,
    }, 'kwq compare');
  }
  const opts = validateScenarioOptions(exp.table as Scenario, exp.options);
  const r = await runCompare(exp, opts, new Progress(`kwq compare ${exp.name}:`, 2));
  if (p.values.json === true) console.log(JSON.stringify({ kwq: kwqVersion(), ...r }, null, 1));
  else for (const l of compareLines(r)) console.log(l);
  return EXIT_OK;
}

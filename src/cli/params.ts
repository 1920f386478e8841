/**
 * Experiments as files: a parameter file names a scenario (or a compare workload with
 * the designs or releases to compare), fixed option values, and the options to sweep
 * with their values or ranges. `kwq scenario NAME --params FILE`, `kwq compare --params
 * FILE` and `kwq sweep FILE` take it.
 *
 *   {
 *     "description": "per-vq workers vs one worker as the host shrinks",
 *     "scenario": "multiqueue",
 *     "options": { "measureMs": 2, "warmupMs": 1 },
 *     "sweep": {
 *       "hostCpus": [8, 16, 32],                 a list of values
 *       "seed": { "from": 1, "to": 5 },          a range: step 1 (or "step": s)
 *       "jobs": [[1], [2], [4], [8]]             a list option's values are lists
 *     }
 *   }
 *
 *   { "compare": "charge", "designs": ["vhost-task", "vhost-kthread"], "options": { "writes": 16 } }
 *   { "compare": "charge", "designs": ["vhost-task"], "releases": ["6.1", "6.12"] }
 *
 * A range is { "from", "to", "step" } (arithmetic, default step 1) or { "from", "to",
 * "factor" } (geometric: 1, 2, 4, ...). The grid is every combination, the last axis
 * varying fastest. The file is checked by a JSON Schema (ajv) built from the target's
 * option table (scenario-options.ts), the same one that checks `--name value` words:
 * a bad file names the field, the value and what is allowed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { UsageError } from './args.js';
import { SCENARIOS, loadScenario } from './tour.js';
import { ajv, describeAllowed, isListOption, isNumericOption, optionSchema, optionsSchema } from './scenario-options.js';
import { RELEASE_NAMES, WORKLOAD_NAMES, workload } from './workloads.js';
import type { Scenario, ScenarioOption } from '../../scenarios/types.js';

/** the most points one file may ask for */
export const MAX_POINTS = 1_000_000;

export interface Experiment {
  file: string;
  kind: 'scenario' | 'compare';
  /** the scenario's or the workload's name */
  name: string;
  /** the option table the values were checked against */
  table: Pick<Scenario, 'name' | 'options'>;
  /** fixed option values (defaults are filled when a point runs) */
  options: Record<string, unknown>;
  /** the swept options and their values, in file order (the last varies fastest) */
  axes: [string, unknown[]][];
  /** compare: the designs and releases (one of them has two entries) */
  designs?: string[];
  releases?: string[];
  /** a hash of the definition: lines of different experiments never mix in one output */
  id: string;
}

const TOP_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    description: { type: 'string' },
    scenario: { enum: [...SCENARIOS] },
    compare: { enum: WORKLOAD_NAMES },
    designs: { type: 'array', minItems: 1, maxItems: 2, uniqueItems: true, items: { type: 'string' } },
    releases: { type: 'array', minItems: 1, maxItems: 2, uniqueItems: true, items: { enum: RELEASE_NAMES } },
    options: { type: 'object' },
    sweep: { type: 'object' },
  },
} as const;

let topValidator: ValidateFunction | null = null;
const tableValidators = new WeakMap<object, ValidateFunction>();

/** a swept option's values: a list, or (numbers) a range */
function axisSchema(spec: ScenarioOption): Record<string, unknown> {
  const list = { type: 'array', minItems: 1, items: optionSchema(spec) };
  if (!isNumericOption(spec) || isListOption(spec)) return list;
  const bound = optionSchema(spec);
  return {
    if: { type: 'array' },
    then: list,
    else: {
      type: 'object', additionalProperties: false, required: ['from', 'to'],
      properties: { from: bound, to: bound, step: { type: 'number', exclusiveMinimum: 0 }, factor: { type: 'number', exclusiveMinimum: 1 } },
    },
  };
}

function tableValidator(table: Pick<Scenario, 'name' | 'options'>): ValidateFunction {
  let v = tableValidators.get(table);
  if (v === undefined) {
    const sweep: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(table.options)) sweep[name] = axisSchema(spec);
    v = ajv().compile({
      type: 'object',
      properties: {
        options: optionsSchema(table as Scenario),
        sweep: { type: 'object', additionalProperties: false, properties: sweep },
      },
    });
    tableValidators.set(table, v);
  }
  return v;
}

function valueAt(doc: unknown, path: string[]): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], doc);
}

/** one ajv error as "sweep.hostCpus[2] has value 5000; expected an integer in 1..1024" */
export function fileError(e: ErrorObject | undefined, doc: unknown, table?: Pick<Scenario, 'options'>): string {
  if (e === undefined) return 'invalid';
  const path = e.instancePath.split('/').slice(1).map(decodeURIComponent);
  const at = path.map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') || 'the file';
  if (e.keyword === 'additionalProperties') {
    const field = (e.params as { additionalProperty: string }).additionalProperty;
    const allowed = path.length === 0 ? Object.keys(TOP_SCHEMA.properties) : Object.keys(table?.options ?? {});
    return `${at === 'the file' ? '' : `${at}: `}unknown field '${field}'; allowed: ${allowed.join(', ') || '(none)'}`;
  }
  const value = valueAt(doc, path);
  const shown = value === undefined ? '' : ` has value ${JSON.stringify(value)}`;
  // a value of an option (options.X, sweep.X[i], sweep.X.from/to): the option's allowed range
  const spec = (path[0] === 'options' || path[0] === 'sweep') && path[1] !== undefined ? table?.options[path[1]] : undefined;
  const rangeField = path[0] === 'sweep' && (path[2] === 'step' || path[2] === 'factor');
  if (spec !== undefined && path.length >= 2 && !rangeField && e.keyword !== 'required' && e.keyword !== 'minItems' && !(path[0] === 'sweep' && path.length === 2)) {
    return `${at}${shown}; expected ${describeAllowed(spec)}`;
  }
  if (e.keyword === 'enum') return `${at}${shown}; expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (spec !== undefined && path[0] === 'sweep' && path.length === 2 && e.keyword === 'type') {
    return `${at}${shown}; expected a list of values${isNumericOption(spec) && !isListOption(spec) ? ' or a range {"from", "to", "step" | "factor"}' : ''}`;
  }
  return `${at}${shown}; ${e.message ?? 'invalid'}`;
}

/** a range's values, each checked against the option */
function expandRange(where: string, name: string, spec: ScenarioOption, r: { from: number; to: number; step?: number; factor?: number }): number[] {
  if (r.step !== undefined && r.factor !== undefined) throw new UsageError(where, `sweep.${name}: give "step" or "factor", not both`);
  if (r.to < r.from) throw new UsageError(where, `sweep.${name}: "to" (${r.to}) is below "from" (${r.from})`);
  if (r.factor !== undefined && !(r.from > 0)) throw new UsageError(where, `sweep.${name}: a "factor" range needs "from" > 0, got ${r.from}`);
  const out: number[] = [];
  const eps = 1e-9 * Math.max(1, Math.abs(r.to));
  for (let i = 0; ; i++) {
    // from + i*step, not repeated addition: 0.1 steps do not drift
    const v = r.factor !== undefined ? r.from * r.factor ** i : r.from + i * (r.step ?? 1);
    if (v > r.to + eps) break;
    const x = Math.abs(v - Math.round(v)) < eps ? Math.round(v) : v;
    out.push(x);
    if (out.length > MAX_POINTS) throw new UsageError(where, `sweep.${name}: the range has more than ${MAX_POINTS} values`);
  }
  const v = ajv().compile(optionSchema(spec));
  for (const x of out) {
    if (!v(x)) throw new UsageError(where, `sweep.${name}: the range gives ${x}; expected ${describeAllowed(spec)}`);
  }
  return out;
}

/** Check a parsed parameter file and resolve its ranges. */
export async function parseParams(doc: unknown, file = 'parameter file'): Promise<Experiment> {
  const where = file;
  topValidator ??= ajv().compile(TOP_SCHEMA);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError(where, 'a parameter file is a JSON object');
  if (!topValidator(doc)) throw new UsageError(where, fileError(topValidator.errors?.[0], doc));
  const d = doc as { scenario?: string; compare?: string; designs?: string[]; releases?: string[]; options?: Record<string, unknown>; sweep?: Record<string, unknown> };
  if ((d.scenario === undefined) === (d.compare === undefined)) {
    throw new UsageError(where, `name one "scenario" (${SCENARIOS.join(', ')}) or one "compare" workload (${WORKLOAD_NAMES.join(', ')})`);
  }
  let table: Pick<Scenario, 'name' | 'options'>;
  let kind: Experiment['kind'];
  if (d.scenario !== undefined) {
    kind = 'scenario';
    table = await loadScenario(d.scenario);
    if (d.designs !== undefined || d.releases !== undefined) {
      throw new UsageError(where, `"designs" and "releases" belong to a "compare" file (workloads: ${WORKLOAD_NAMES.join(', ')}); scenario ${d.scenario} runs its designs itself`);
    }
  } else {
    kind = 'compare';
    const w = workload(d.compare!);
    table = w;
    const designs = d.designs ?? [...w.designs].slice(0, 2);
    designs.forEach((x, i) => {
      if (!w.designs.includes(x)) throw new UsageError(where, `designs[${i}] has value ${JSON.stringify(x)}; expected one of ${w.designs.join(', ')}`);
    });
    if (d.releases !== undefined && !w.releases) throw new UsageError(where, `releases: workload ${w.name} compares designs at the default release only`);
    const releases = d.releases ?? [];
    if (designs.length * Math.max(1, releases.length) !== 2) {
      throw new UsageError(where, `compare two designs at one release or one design at two releases (got ${designs.length} design(s), ${releases.length || 'the default'} release(s))`);
    }
  }
  const v = tableValidator(table);
  const sub = { options: d.options ?? {}, sweep: d.sweep ?? {} };
  if (!v(sub)) throw new UsageError(where, fileError(v.errors?.[0], sub, table));
  const axes: [string, unknown[]][] = [];
  for (const [name, spec0] of Object.entries(sub.sweep)) {
    const spec = table.options[name]!;
    if (name in sub.options) throw new UsageError(where, `option '${name}' is both fixed (options) and swept (sweep): keep one`);
    axes.push([name, Array.isArray(spec0) ? spec0 : expandRange(where, name, spec, spec0 as { from: number; to: number })]);
  }
  const size = axes.reduce((n, [, vals]) => n * vals.length, 1);
  if (size > MAX_POINTS) throw new UsageError(where, `the grid has ${size} points; at most ${MAX_POINTS}`);
  const def = {
    kind, name: table.name, options: sub.options, axes,
    ...(kind === 'compare' ? { designs: d.designs ?? [...workload(table.name).designs].slice(0, 2), releases: d.releases ?? [] } : {}),
  };
  const id = createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 16);
  return { file, table, id, ...def };
}

export async function loadParams(file: string): Promise<Experiment> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(file, `cannot read the parameter file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(file, `not JSON: ${(e as Error).message}`);
  }
  return parseParams(doc, file);
}

/** how many points the grid has */
export function gridSize(exp: Experiment): number {
  return exp.axes.reduce((n, [, vals]) => n * vals.length, 1);
}

/** the swept values of point `i` (mixed radix, the last axis fastest) */
export function pointAt(exp: Experiment, i: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let rest = i;
  for (let a = exp.axes.length - 1; a >= 0; a--) {
    const [name, vals] = exp.axes[a]!;
    out[name] = vals[rest % vals.length];
    rest = Math.floor(rest / vals.length);
  }
  // file order in the object, for reading
  return Object.fromEntries(exp.axes.map(([name]) => [name, out[name]]));
}

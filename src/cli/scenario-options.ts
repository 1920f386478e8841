/**
 * Scenario options as a JSON Schema. Each scenario's option table (scenarios/types.ts:
 * type, range, unit) becomes one schema that ajv checks, whether the values came as
 * `--name value` words on the command line (coerced from text first) or from a
 * parameter file (src/cli/params.ts embeds the same per-option schemas). A bad value
 * names the option, the value and the allowed range; an unknown option names the
 * ones there are; nothing runs.
 */
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { KwqError } from '../kernel/error.js';
import type { Scenario, ScenarioOption } from '../../scenarios/types.js';

type AjvCtor = typeof Ajv2020Module.default;
const Ajv2020 = ((Ajv2020Module as unknown as { default?: AjvCtor }).default ?? Ajv2020Module) as AjvCtor;

/** one ajv for kwq's option and parameter-file schemas (strict: a typo in a schema is an error) */
let ajvInstance: InstanceType<AjvCtor> | null = null;
export function ajv(): InstanceType<AjvCtor> {
  ajvInstance ??= new Ajv2020({ allErrors: false, strict: true, allowUnionTypes: true });
  return ajvInstance;
}

const isList = (spec: ScenarioOption): boolean => spec.type === 'integer[]' || spec.type === 'number[]';
const isNumeric = (spec: ScenarioOption): boolean => spec.type !== 'string' && spec.type !== 'boolean';

/** The JSON Schema of one value of an option (of each item, for a list). */
function scalarSchema(spec: ScenarioOption): Record<string, unknown> {
  if (spec.type === 'boolean') return { type: 'boolean' };
  if (spec.type === 'string') return spec.choices ? { type: 'string', enum: [...spec.choices] } : { type: 'string' };
  const s: Record<string, unknown> = { type: spec.type.startsWith('integer') ? 'integer' : 'number' };
  if (spec.min !== undefined) s['minimum'] = spec.min;
  if (spec.exclusiveMin !== undefined) s['exclusiveMinimum'] = spec.exclusiveMin;
  if (spec.max !== undefined) s['maximum'] = spec.max;
  if (spec.multipleOf !== undefined) s['multipleOf'] = spec.multipleOf;
  return s;
}

/** The JSON Schema of an option's value (a list of them for a list type). */
export function optionSchema(spec: ScenarioOption): Record<string, unknown> {
  const description = `${spec.help}${spec.unit ? ` (${spec.unit})` : ''}`;
  if (isList(spec)) return { description, type: 'array', minItems: 1, items: scalarSchema(spec) };
  return { description, ...scalarSchema(spec) };
}

/** The JSON Schema of a scenario's whole options object (every field optional, no others). */
export function optionsSchema(scenario: Scenario): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(scenario.options)) properties[name] = optionSchema(spec);
  return { type: 'object', additionalProperties: false, properties };
}

function rangeText(spec: ScenarioOption): string {
  const lo = spec.exclusiveMin !== undefined ? { v: spec.exclusiveMin, op: '>' } : spec.min !== undefined ? { v: spec.min, op: '>=' } : null;
  const hi = spec.max;
  if (lo && lo.op === '>=' && hi !== undefined) return ` in ${lo.v}..${hi}`;
  if (lo && hi !== undefined) return ` ${lo.op} ${lo.v} and <= ${hi}`;
  if (lo) return ` ${lo.op} ${lo.v}`;
  if (hi !== undefined) return ` <= ${hi}`;
  return '';
}

/** What an option allows, in words: "an integer in 1..1024", "a number > 0 and <= 60000 ms". */
export function describeAllowed(spec: ScenarioOption): string {
  if (spec.type === 'boolean') return 'true or false';
  if (spec.type === 'string') return spec.choices ? `one of ${spec.choices.join(', ')}` : 'a string';
  const kind = spec.type.startsWith('integer') ? 'integer' : 'number';
  const tail = `${spec.multipleOf !== undefined ? ` multiple of ${spec.multipleOf}` : ''}${rangeText(spec)}${spec.unit ? ` ${spec.unit}` : ''}`;
  if (isList(spec)) return `a list of ${kind}s (1,2,4 on the command line)${tail ? `, each${tail}` : ''}`;
  return `${kind === 'integer' ? 'an integer' : 'a number'}${tail}`;
}

const BYTE_SUFFIX: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/** one command-line word as a number: "20", "1e3", and for byte units "64K", "8M" */
function wordNumber(spec: ScenarioOption, w: string): number {
  const t = w.trim();
  const m = /^(\d+(?:\.\d+)?)([KMG])i?B?$/i.exec(t);
  if (m && spec.unit?.startsWith('bytes')) return Number(m[1]) * BYTE_SUFFIX[m[2]!.toUpperCase()]!;
  return t === '' ? NaN : Number(t);
}

/**
 * A command-line word as the option's type, before the schema checks it; a word that
 * does not read as the type stays a string, so the schema names it.
 */
export function coerceWord(spec: ScenarioOption, raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  switch (spec.type) {
    case 'integer':
    case 'number': {
      const n = wordNumber(spec, raw);
      return Number.isNaN(n) ? raw : n;
    }
    case 'integer[]':
    case 'number[]': {
      const items = raw.split(',').map((w) => wordNumber(spec, w));
      return items.some((n) => Number.isNaN(n)) ? raw : items;
    }
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return raw;
    case 'string':
      return raw;
  }
}

const compiled = new WeakMap<Scenario, ValidateFunction>();

function validatorOf(scenario: Scenario): ValidateFunction {
  let v = compiled.get(scenario);
  if (v === undefined) {
    v = ajv().compile(optionsSchema(scenario));
    compiled.set(scenario, v);
  }
  return v;
}

/** The first ajv error as a one-line message about the option it concerns. */
export function optionError(scenario: Scenario, errors: ErrorObject[] | null | undefined, shown: Record<string, unknown>, prefix = 'option'): string {
  const e = errors?.[0];
  if (e === undefined) return 'invalid options';
  if (e.keyword === 'additionalProperties') {
    const field = (e.params as { additionalProperty: string }).additionalProperty;
    const known = Object.keys(scenario.options);
    return `unknown ${prefix} '${field}'; allowed: ${known.length ? known.join(', ') : '(none)'}`;
  }
  const field = decodeURIComponent(e.instancePath.split('/')[1] ?? '');
  const spec = scenario.options[field];
  if (spec === undefined) return `${e.instancePath}: ${e.message ?? 'invalid'}`;
  return `${prefix} '${field}' has value ${JSON.stringify(shown[field])}; expected ${describeAllowed(spec)}`;
}

/**
 * Fill defaults and check every field of `raw` against the scenario's option schema.
 * Strings (command-line words) are read as the option's type first; values of the
 * right type (a parameter file, a caller's object) are checked as they are. Unknown
 * fields are an error too (a typo must not silently run the default).
 */
export function validateScenarioOptions(scenario: Scenario, raw: Record<string, unknown> = {}): Record<string, unknown> {
  const where = `scenario ${scenario.name}`;
  const typed: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const spec = scenario.options[field];
    typed[field] = spec === undefined ? value : coerceWord(spec, value);
  }
  const v = validatorOf(scenario);
  // show the value as read (0, not "0"), or the word as given when it did not read as the type
  const shown = Object.fromEntries(Object.entries(typed).map(([k, x]) => [k, typeof x === 'string' && typeof raw[k] === 'string' ? raw[k] : x]));
  if (!v(typed)) throw new KwqError(where, optionError(scenario, v.errors, shown));
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(scenario.options)) out[field] = field in typed ? typed[field] : spec.default;
  return out;
}

/**
 * The node:util parseArgs option table of a scenario's options: every option takes a
 * value (`--jobs 1,2,4`, `--bs 64K`) but a boolean, which is a flag with its `--no-`
 * form (`--charge`, `--no-charge`).
 */
export function scenarioArgOptions(scenario: Scenario): Record<string, { type: 'string' | 'boolean' }> {
  const out: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(scenario.options)) {
    if (spec.type === 'boolean') {
      out[name] = { type: 'boolean' };
      out[`no-${name}`] = { type: 'boolean' };
    } else out[name] = { type: 'string' };
  }
  return out;
}

/** parseArgs values of scenarioArgOptions back to raw options (`no-charge: true` -> `charge: false`) */
export function optionsFromArgs(scenario: Scenario, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(scenario.options)) {
    if (spec.type === 'boolean') {
      if (values[name] === true && values[`no-${name}`] === true) throw new KwqError(`scenario ${scenario.name}`, `both --${name} and --no-${name}`);
      if (values[name] === true) out[name] = true;
      if (values[`no-${name}`] === true) out[name] = false;
    } else if (values[name] !== undefined) out[name] = values[name];
  }
  return out;
}

/** `kwq list` / `--help` lines for a scenario's options */
export function optionHelpLines(scenario: Scenario): string[] {
  return Object.entries(scenario.options).map(([name, spec]) => {
    const flag = spec.type === 'boolean' ? `--${name} | --no-${name}` : `--${name} ${isList(spec) ? 'N,N,...' : spec.type === 'string' ? 'WORD' : 'N'}`;
    const def = Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default);
    return `  ${flag.padEnd(28)} ${spec.help}; ${describeAllowed(spec)}; default ${def}`;
  });
}

export { isNumeric as isNumericOption, isList as isListOption };

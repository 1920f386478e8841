/**
 * Validation of scenario options, shared by the CLI (`--name value` words) and by
 * callers that pass an object. A malformed option names the field, the value and
 * what is allowed, and nothing runs.
 */
import { KwqError } from '../kernel/error.js';
import type { Scenario, ScenarioOption } from '../../scenarios/types.js';

function parseOne(where: string, field: string, spec: ScenarioOption, raw: unknown): unknown {
  const bad = (allowed: string): never => {
    throw new KwqError(where, `option '${field}' has value ${JSON.stringify(raw)}; expected ${allowed}`);
  };
  switch (spec.type) {
    case 'number': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isFinite(n)) bad('a finite number');
      return n;
    }
    case 'boolean':
      if (raw === true || raw === 'true' || raw === '1') return true;
      if (raw === false || raw === 'false' || raw === '0') return false;
      return bad('true or false');
    case 'string':
      if (typeof raw !== 'string') return bad(spec.choices ? `one of ${spec.choices.join(', ')}` : 'a string');
      if (spec.choices && !spec.choices.includes(raw)) bad(`one of ${spec.choices.join(', ')}`);
      return raw;
    case 'number[]': {
      const list = typeof raw === 'string' ? raw.split(',').map((w) => (w.trim() === '' ? NaN : Number(w))) : raw;
      if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        bad('a comma-separated list of numbers, e.g. 1,2,4');
      }
      return list;
    }
  }
}

/**
 * Fill defaults and check every field of `raw` against the scenario's option table.
 * Unknown fields are an error too (a typo must not silently run the default).
 */
export function validateScenarioOptions(scenario: Scenario, raw: Record<string, unknown> = {}): Record<string, unknown> {
  const where = `scenario ${scenario.name}`;
  const known = Object.keys(scenario.options);
  for (const field of Object.keys(raw)) {
    if (!(field in scenario.options)) {
      throw new KwqError(
        where,
        `unknown option '${field}'; allowed: ${known.length ? known.join(', ') : '(none)'}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(scenario.options)) {
    out[field] = field in raw && raw[field] !== undefined ? parseOne(where, field, spec, raw[field]) : spec.default;
  }
  return out;
}

/** `['--jobs', '1,2,4', '--mode', 'task']` -> `{ jobs: '1,2,4', mode: 'task' }` (values parsed later). */
export function parseOptionWords(where: string, words: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('--') || w.length < 3) throw new KwqError(where, `expected --option, got '${w}'`);
    const eq = w.indexOf('=');
    if (eq > 0) {
      out[w.slice(2, eq)] = w.slice(eq + 1);
    } else if (i + 1 < words.length && !words[i + 1]!.startsWith('--')) {
      out[w.slice(2)] = words[++i];
    } else {
      out[w.slice(2)] = 'true';
    }
  }
  return out;
}

/**
 * A scenario is a runnable script over the public API: it imports only
 * '../src/index.js', the package's explicit export list, as a user imports 'kwq'.
 * It boots kernels, drives them, and returns both what to print and the
 * structured outcome that tests assert on. `kwq scenario NAME [--opt value ...]`
 * runs one; `kwq tour` (what `npm start` runs) runs the tour list in order.
 */

/**
 * One option a scenario accepts: its type, range and unit. src/cli/scenario-options.ts
 * turns a scenario's table into a JSON Schema (ajv) that validates `--name value` words
 * and parameter files alike; a value out of range names the option, the value and the
 * range, and nothing runs. Bounds hold for each item of a list type.
 */
export interface ScenarioOption {
  type: 'integer' | 'number' | 'string' | 'boolean' | 'integer[]' | 'number[]';
  default: number | string | boolean | number[];
  /** for 'string': the allowed values */
  choices?: readonly string[];
  /** inclusive lower bound */
  min?: number;
  /** the value must be greater than this (a duration or a rate that must not be 0) */
  exclusiveMin?: number;
  /** inclusive upper bound */
  max?: number;
  /** the value must be a multiple of this (a block size) */
  multipleOf?: number;
  /** what the number counts: 'ms', 'µs', 's', 'bytes', 'bytes/s', 'MiB'; 'bytes' options also take K/M/G words on the command line */
  unit?: string;
  help: string;
}

export interface ScenarioResult {
  /** what the tour prints: a few lines (design, setting, outcome), tables pre-formatted */
  lines: string[];
  /** the measured outcome, for tests and `--json`; numbers measured, never hard-coded */
  data: Record<string, unknown>;
}

export interface Scenario {
  /** e.g. 'loop-oom' */
  name: string;
  /** one line: what it shows */
  title: string;
  options: Record<string, ScenarioOption>;
  /** `opts` has every option, already validated and defaulted (see validateScenarioOptions) */
  run(opts: Record<string, unknown>): Promise<ScenarioResult>;
}

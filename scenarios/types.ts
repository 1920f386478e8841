/**
 * A scenario is a runnable script over the public API: it imports only
 * '../src/index.js', the package's explicit export list, as a user imports 'kwq'.
 * It boots kernels, drives them, and returns both what to print and the
 * structured outcome that tests assert on. `kwq scenario NAME [--opt value ...]`
 * runs one; `kwq tour` (what `npm start` runs) runs the tour list in order.
 */

/** One option a scenario accepts, for the CLI and for validation. */
export interface ScenarioOption {
  type: 'number' | 'string' | 'boolean' | 'number[]';
  default: number | string | boolean | number[];
  /** for 'string': the allowed values */
  choices?: readonly string[];
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

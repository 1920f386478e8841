/**
 * The scenario registry and the tour that `npm start` runs. Scenarios live in
 * scenarios/<name>.ts (compiled to dist/scenarios/<name>.js) and export
 * `scenario: Scenario`; they are loaded on demand so that the CLI starts fast and a
 * library user never pays for them.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KwqError } from '../kernel/error.js';
import type { Scenario, ScenarioResult } from '../../scenarios/types.js';
import { validateScenarioOptions } from './scenario-options.js';

/** Every scenario kwq ships, in tour order: what `kwq tour` runs. */
export const SCENARIOS = [
  'nproc',
  'emulatorpin',
  'multiqueue',
  'loop-oom',
  'loop-inversion',
  'loop-reap',
  'kvm-lifetime',
  'ioprio',
  'iowq',
  'iowq-nproc',
  'vm-cpu-max',
  'vm-freeze',
] as const;

function scenarioUrl(name: string): URL {
  // src/cli -> ../../scenarios, and dist/src/cli -> dist/scenarios alike.
  return new URL(`../../scenarios/${name}.js`, import.meta.url);
}

/** True when the scenario's module is present (built, or as TypeScript under vitest). */
export function scenarioAvailable(name: string): boolean {
  const js = fileURLToPath(scenarioUrl(name));
  return existsSync(js) || existsSync(js.replace(/\.js$/, '.ts'));
}

export async function loadScenario(name: string): Promise<Scenario> {
  if (!(SCENARIOS as readonly string[]).includes(name)) {
    throw new KwqError('kwq scenario', `unknown scenario '${name}'; available: ${SCENARIOS.join(', ')}`);
  }
  if (!scenarioAvailable(name)) {
    throw new KwqError('kwq scenario', `scenario '${name}' is not built; run \`npm run build\``);
  }
  const mod = (await import(scenarioUrl(name).href)) as { scenario?: Scenario };
  if (!mod.scenario || mod.scenario.name !== name) {
    throw new KwqError('kwq scenario', `scenarios/${name} does not export a scenario named '${name}'`);
  }
  return mod.scenario;
}

/** Run one scenario with raw options (validated here: a typo names the field). */
export async function runScenario(name: string, raw: Record<string, unknown> = {}): Promise<ScenarioResult> {
  const scenario = await loadScenario(name);
  return scenario.run(validateScenarioOptions(scenario, raw));
}

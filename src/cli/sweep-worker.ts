/**
 * One sweep point, in a worker of kwq sweep's pool (tinypool): run the scenario, or the
 * compare workload, with the point's options and hand back its data as JSON text (the
 * line is built from it as it is: no re-serialisation, so a rerun gives the same bytes).
 */
import { runScenario } from './tour.js';
import { runCompare } from './compare.js';
import { validateScenarioOptions } from './scenario-options.js';
import { workload } from './workloads.js';
import type { Scenario } from '../../scenarios/types.js';

export interface PointTask {
  kind: 'scenario' | 'compare';
  name: string;
  /** the point's full options, defaults filled */
  options: Record<string, unknown>;
  designs?: string[];
  releases?: string[];
}

export type PointResult = { data: string } | { error: string };

export default async function runPoint(t: PointTask): Promise<PointResult> {
  try {
    if (t.kind === 'scenario') return { data: JSON.stringify((await runScenario(t.name, t.options)).data) };
    const opts = validateScenarioOptions(workload(t.name) as unknown as Scenario, t.options);
    return { data: JSON.stringify({ runs: (await runCompare(t, opts)).runs }) };
  } catch (e) {
    return { error: ((e as Error).message ?? String(e)).split('\n')[0]! };
  }
}

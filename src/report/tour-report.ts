/**
 * The data behind `kwq report`: the tour run once (the threaded engine, then every
 * scenario through runScenario, the code `kwq tour` runs) and the oracle's agreement
 * per release (corpusAgreement, what `kwq run --all` prints). The page (html.ts) is
 * built from this object alone and embeds it, so what the page shows can be checked
 * against it (test/browser).
 */
import { cpus } from 'node:os';
import { engineTour, type EngineTourResult } from '../cli/engine-tour.js';
import { SCENARIOS, loadScenario, runScenario, scenarioAvailable } from '../cli/tour.js';
import { corpusAgreement } from '../oracle/agreement.js';
import { kwqVersion } from '../cli/version.js';
import type { AgreementRow } from './charts.js';

export interface ReportScenario {
  name: string;
  title: string;
  /** what the tour prints for it (its tables) */
  lines: string[];
  /** what `kwq scenario NAME --json` prints */
  data: Record<string, unknown>;
}

export interface ReportAgreement extends AgreementRow {
  /** the Debian package the real answers were recorded from */
  provenance: string;
}

export interface TourReportData {
  kwq: string;
  node: string;
  /** ISO time the run started */
  generated: string;
  host: { cpus: number; cpuModel: string };
  engine: (EngineTourResult & { durationMs: number }) | null;
  scenarios: ReportScenario[];
  agreement: ReportAgreement[];
}

export interface CollectOptions {
  /** the engine run's length, ms (default 1000); 0 skips it */
  engineMs?: number;
  /** an engine run already made (the tour's): not run again */
  engine?: EngineTourResult;
  /** only these scenarios (default: the tour's list) */
  only?: readonly string[];
  /** called before each step, for progress */
  onStep?: (what: string, i: number, n: number) => void;
}

export async function collectTourReport(o: CollectOptions = {}): Promise<TourReportData> {
  const generated = new Date().toISOString();
  const engineMs = o.engineMs ?? 1000;
  const names = (o.only ?? SCENARIOS).filter((n) => scenarioAvailable(n));
  const steps = names.length + 2;
  let engine: TourReportData['engine'] = null;
  if (o.engine !== undefined) engine = { ...o.engine, durationMs: engineMs };
  else if (engineMs > 0) {
    o.onStep?.('engine', 0, steps);
    engine = { ...(await engineTour({ durationMs: engineMs, print: () => {} })), durationMs: engineMs };
  }
  const scenarios: ReportScenario[] = [];
  for (const [i, name] of names.entries()) {
    o.onStep?.(name, i + 1, steps);
    const sc = await loadScenario(name);
    const res = await runScenario(name);
    scenarios.push({ name, title: sc.title, lines: res.lines, data: res.data });
  }
  o.onStep?.('oracle agreement', steps - 1, steps);
  const agreement = await corpusAgreement();
  const c = cpus();
  return {
    kwq: kwqVersion(),
    node: process.version,
    generated,
    host: { cpus: c.length, cpuModel: c[0]?.model.trim() ?? 'unknown' },
    engine,
    scenarios,
    agreement,
  };
}

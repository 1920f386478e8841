/**
 * The whole-kernel fuzzer: fast-check generates lists of commands (commands.ts), each
 * list runs against a freshly booted kernel (world.ts) with the invariants checked after
 * every step and the teardown check at the end. A failure is shrunk by fast-check to a
 * short list and reported with what replays it: the seed, the path and the runtime
 * (`npm run fuzz -- --seed S --path P --runtime R`), and the list itself.
 *
 * Used by test/fuzz/fuzz.test.ts (a bounded slice in `npm test`) and bench/fuzz.ts
 * (`npm run fuzz -- --calls N --seed S`, as long as asked).
 */
import fc from 'fast-check';
import { cmdArb, type Cmd } from './commands.js';
import { World, type RuntimeKind } from './world.js';

export interface FuzzOptions {
  runtime: RuntimeKind;
  /** fast-check's seed: the same seed (and path) runs the same command lists */
  seed: number;
  /** stop after about this many calls (fuzzed steps) */
  calls: number;
  /** the longest command list one kernel runs (default 200) */
  steps?: number;
  /** replay one counterexample (from a report) instead of searching */
  path?: string;
  /** fail on the KNOWN_OPEN defects too */
  strict?: boolean;
  /** called after every run with the calls so far */
  progress?: (calls: number) => void;
}

export interface FuzzReport {
  runtime: RuntimeKind;
  seed: number;
  runs: number;
  calls: number;
  rejected: number;
  kwqErrors: number;
  ooms: number;
  /** KNOWN_OPEN defects met (by id) */
  known: Record<string, number>;
  /** per op / ioctl request: [succeeded, rejected] */
  coverage: Record<string, [number, number]>;
  ms: number;
  callsPerSec: number;
  /** null when every invariant held */
  failure: null | { message: string; path: string; counterexample: Cmd[]; replay: string; shrinks: number };
}

/** The JSON of a command list with the numbers JSON has no words for (NaN, Infinity, bigints). */
export function printCmds(cmds: Cmd[]): string {
  return cmds.map((c) => JSON.stringify(c, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (v === undefined) return 'undefined';
    return v;
  })).join('\n');
}

/** One command list against one kernel: throws what the first broken invariant throws. */
export interface Totals {
  calls: number;
  rejected: number;
  kwqErrors: number;
  ooms: number;
  known: Record<string, number>;
  coverage: Record<string, [number, number]>;
}

export async function runProgram(runtime: RuntimeKind, cmds: Cmd[], totals?: Totals, strict = false): Promise<void> {
  if (process.env['KWQ_FUZZ_TRACE'] === '1') process.stderr.write(`--- boot ${runtime}\n`);
  const w = await World.boot(runtime, 1);
  w.strict = strict;
  try {
    for (const c of cmds) await w.step(c);
  } catch (e) {
    w.k.shutdown();
    throw e;
  } finally {
    if (totals !== undefined) {
      totals.calls += w.stats.calls;
      totals.rejected += w.stats.rejected;
      totals.kwqErrors += w.stats.kwqErrors;
      totals.ooms += w.stats.ooms;
      for (const [id, n] of w.known) totals.known[id] = (totals.known[id] ?? 0) + n;
      for (const [key, [ok, bad]] of w.coverage) {
        const c = (totals.coverage[key] ??= [0, 0]);
        c[0] += ok;
        c[1] += bad;
      }
    }
  }
  await w.teardown();
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const steps = o.steps ?? 200;
  const totals: Totals = { calls: 0, rejected: 0, kwqErrors: 0, ooms: 0, known: {}, coverage: {} };
  let runs = 0;
  let searching = true;
  const t0 = performance.now();
  const prop = fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: steps, size: 'max' }), async (cmds) => {
    runs++;
    // count the search, not the shrinking that follows the first failure
    try {
      await runProgram(o.runtime, cmds, searching ? totals : undefined, o.strict ?? false);
    } catch (e) {
      searching = false;
      throw e;
    }
    if (searching) o.progress?.(totals.calls);
  });
  // numRuns: lists average steps/2 commands
  const numRuns = o.path !== undefined ? 1 : Math.max(1, Math.ceil(o.calls / Math.max(1, steps / 2)));
  const details = await fc.check(prop, {
    seed: o.seed,
    numRuns,
    ...(o.path !== undefined ? { path: o.path } : {}),
  });
  const ms = performance.now() - t0;
  let failure: FuzzReport['failure'] = null;
  if (details.failed) {
    const counterexample = details.counterexample![0];
    const err = details.errorInstance;
    failure = {
      message: err instanceof Error ? (process.env["KWQ_FUZZ_STACK"] === "1" && !(err.name === "Violation") ? String(err.stack) : `${err.name}: ${err.message}`) : String(err),
      path: details.counterexamplePath ?? '',
      counterexample,
      shrinks: details.numShrinks,
      replay: `npm run fuzz -- --runtime ${o.runtime} --seed ${o.seed} --path ${details.counterexamplePath} --steps ${steps}${o.strict ? ' --strict' : ''}`,
    };
  }
  return {
    runtime: o.runtime, seed: o.seed, runs, ...totals, ms, callsPerSec: totals.calls / (ms / 1000), failure,
  };
}

/** A human report of a failure: the message, the replay command and the shrunk list. */
export function formatFailure(r: FuzzReport): string {
  if (r.failure === null) return '';
  const f = r.failure;
  return [
    `invariant violated (${r.runtime}, seed ${r.seed}, after ${f.shrinks} shrinks):`,
    `  ${f.message.split('\n').join('\n  ')}`,
    `replay: ${f.replay}`,
    `minimal command list (${f.counterexample.length} commands):`,
    printCmds(f.counterexample).split('\n').map((l) => `  ${l}`).join('\n'),
  ].join('\n');
}

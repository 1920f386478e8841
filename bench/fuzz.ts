/**
 * `npm run fuzz -- --calls N --seed S [--runtime sim|threads|both] [--steps L] [--path P]`:
 * the whole-kernel fuzzer of test/fuzz/ for as long as asked. Prints calls/s per runtime
 * and, when an invariant breaks, the minimal command list fast-check shrank it to and
 * the command that replays it. Exit code 1 on a violation, 2 on bad options.
 */
import { parseArgs } from 'node:util';
import { formatFailure, runFuzz, type FuzzReport } from '../test/fuzz/fuzz.js';
import { KNOWN_OPEN, type RuntimeKind } from '../test/fuzz/world.js';

function fail(msg: string): never {
  process.stderr.write(`kwq fuzz: ${msg}\n`);
  process.exit(2);
}

function int(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) fail(`--${name} must be an integer >= ${min}, got '${v}'`);
  return Number(v);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        calls: { type: 'string' }, seed: { type: 'string' }, runtime: { type: 'string' }, steps: { type: 'string' },
        path: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' }, strict: { type: 'boolean' }, coverage: { type: 'boolean' },
      },
      allowPositionals: false,
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write('usage: npm run fuzz -- [--calls N (10000)] [--seed S (random)] [--runtime sim|threads|both (both)] [--steps L (200)] [--path P] [--strict] [--coverage] [--json]\n');
    return;
  }
  const calls = int('calls', v.calls, 10_000, 1);
  const seed = int('seed', v.seed, Math.floor(Math.random() * 2 ** 31), 0);
  const steps = int('steps', v.steps, 200, 1);
  const rt = v.runtime ?? 'both';
  if (!['sim', 'threads', 'both'].includes(rt)) fail(`--runtime must be sim, threads or both, got '${rt}'`);
  if (v.path !== undefined && rt === 'both') fail('--path replays one runtime\'s counterexample: give --runtime sim or threads');
  if (v.path !== undefined && !/^\d+(:\d+)*$/.test(v.path)) fail(`--path must look like 12:0:3, got '${v.path}'`);
  const runtimes: RuntimeKind[] = rt === 'both' ? ['sim', 'threads'] : [rt as RuntimeKind];
  const reports: FuzzReport[] = [];
  for (const runtime of runtimes) {
    // the threads runtime boots real worker threads per kernel: a tenth of the calls
    const n = rt === 'both' && runtime === 'threads' ? Math.max(1, Math.floor(calls / 10)) : calls;
    let last = 0;
    const r = await runFuzz({
      runtime, seed, calls: n, steps, strict: v.strict ?? false, ...(v.path !== undefined ? { path: v.path } : {}),
      progress: (c) => {
        if (c - last >= 100_000) {
          last = c;
          process.stderr.write(`  ${runtime}: ${c} calls\n`);
        }
      },
    });
    reports.push(r);
    const line = `${runtime.padEnd(7)} seed ${seed}: ${r.calls} calls in ${r.runs} kernels, ${(r.ms / 1000).toFixed(1)} s, ` +
      `${Math.round(r.callsPerSec)} calls/s; ${r.rejected} rejected with -errno, ${r.kwqErrors} KwqErrors for misuse, ${r.ooms} calls with an OOM kill` +
      (r.failure === null ? ': every invariant held' : '');
    process.stdout.write(`${line}\n`);
    for (const [id, count] of Object.entries(r.known)) {
      const k = KNOWN_OPEN.find((x) => x.id === id)!;
      process.stdout.write(`  known open defect ${id} met ${count} times (--strict fails on it): ${k.where}\n`);
    }
    if (v.coverage) {
      for (const [key, [ok, bad]] of Object.entries(r.coverage).sort()) process.stdout.write(`  ${key.padEnd(36)} ${String(ok).padStart(7)} ok ${String(bad).padStart(7)} -errno\n`);
    }
    if (r.failure !== null) process.stdout.write(`${formatFailure(r)}\n`);
  }
  if (v.json) process.stdout.write(`${JSON.stringify(reports.map((r) => ({ ...r, failure: r.failure && { ...r.failure, counterexample: undefined } })))}\n`);
  process.exitCode = reports.some((r) => r.failure !== null) ? 1 : 0;
}

await main();

// Regression test for the Node 20 (V8 11.3) Liftoff bug (shared/wasm-notes.md):
// under the baseline compiler a Wasm local that is live across
// memory.atomic.wait32 can come back wrong; the probe kwq_selftest_wait_sum
// returned 0 instead of 500500, in every fresh process. It broke the consumer's
// count in producer/consumer runs. src/wasm/module.ts and src/wasm/thread.js set
// --no-liftoff before anything is compiled; this test fails if that goes away.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/wasm/engine.js';
import { wasmPath } from '../../src/wasm/module.js';

const N = 1000;
const SUM = (N * (N + 1)) / 2;
const threadJs = fileURLToPath(new URL('../../src/wasm/thread.js', import.meta.url));

/** A fresh process that compiles kwq.wasm and runs the probe (optionally after importing thread.js). */
function probeInFreshProcess(importThreadJs: boolean): number {
  const code = `${importThreadJs ? `await import(${JSON.stringify(threadJs)});` : ''}
const { readFileSync } = await import('node:fs');
const m = new WebAssembly.Module(readFileSync(${JSON.stringify(wasmPath('release'))}));
const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
const x = new WebAssembly.Instance(m, { env: { memory } }).exports;
process.stdout.write(String(x.kwq_selftest_wait_sum(128, ${N})));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }));
}

describe('Node 20 Liftoff bug (locals across memory.atomic.wait32)', () => {
  it('the probe sums correctly on the main thread (module.ts set --no-liftoff)', () => {
    const engine = Engine.create({ works: 1, workers: 0 });
    expect(engine.exports.kwq_selftest_wait_sum(engine.scratch.offset, N)).toBe(SUM);
  });

  it('the probe sums correctly in worker threads, many rounds', async () => {
    const engine = Engine.create({ works: 1, workers: 0 });
    const workerUrl = new URL('../../src/runtime/worker.js', import.meta.url);
    const reports = await Promise.all([1, 2].map((slot) => new Promise<{ report: { results: number[] } }>((resolve, reject) => {
      const th = new Worker(workerUrl, { workerData: { role: 'selftest', engine: engine.transferable(), slot, rounds: 50, n: N } });
      th.on('message', (m: { type: string; report: { results: number[] } }) => { if (m.type === 'done') resolve(m); else if (m.type === 'error') reject(new Error(String((m as { message?: string }).message))); });
      th.on('error', reject);
    })));
    for (const r of reports) expect(new Set(r.report.results)).toEqual(new Set([SUM]));
  });

  it('fresh processes that import src/wasm/thread.js first compute the right sum', () => {
    for (let i = 0; i < 3; i++) expect(probeInFreshProcess(true)).toBe(SUM);
  });

  it.runIf(process.versions.node.startsWith('20.'))('without the flag, Node 20 still shows the bug (the probe can fail)', () => {
    // if V8 ever fixes this on Node 20 the assertion flips: then this test can go,
    // but the three above must stay
    expect(probeInFreshProcess(false)).not.toBe(SUM);
  });
});

// Stress on real threads (issue 2): 2 producer threads x 1,000,000 works and one
// consumer thread running the Wasm worker loop. Nothing lost or run twice, QUEUED
// never violated, per-producer order kept. Bounded: a few seconds on 2 cores.
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type WorkRef } from '../../src/wasm/engine.js';
import { VHOST_FN_COUNT, VHOST_FN_HOST } from '../../src/wasm/layout.js';
import { ThreadRuntime } from '../../src/runtime/threads.js';

const N = 1_000_000;
let rt: ThreadRuntime | undefined;
afterEach(async () => {
  if (rt && rt.threadCount > 0) await rt.stop();
  rt = undefined;
});

describe('vhost worker on real threads', () => {
  it('2 producers x 1M sequenced HOST works: each seq exactly once, in per-producer order, QUEUED never violated', async () => {
    const W = 512;
    const engine = Engine.create({ works: 2 * W + 8, workers: 1 });
    const pools: WorkRef[][] = [[], []];
    for (const pool of pools) {
      for (let i = 0; i < W; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_HOST); pool.push(w); }
    }
    rt = await ThreadRuntime.start(engine, {
      workers: [{ worker: 0, spin: 1000, handler: new URL('./fixtures/seq-handler.js', import.meta.url).href, handlerOptions: { producers: 2 } }],
    });
    const t0 = performance.now();
    const prod = await rt.produce(pools.map((works, owner) => ({ worker: 0, works, mode: 'sequence' as const, count: N, owner })));
    expect(await rt.drain(20_000)).toBe(true);
    const ms = performance.now() - t0;
    const [report] = await rt.stop();
    expect(rt.threadCount).toBe(0);
    for (const p of prod) {
      expect(p).toMatchObject({ added: N, violations: 0, canaryOk: true });
    }
    const h = report!.handler as { runs: number; errors: number; expected: number[]; firstError?: unknown };
    expect(h.firstError).toBeUndefined();
    expect(h).toMatchObject({ runs: 2 * N, errors: 0, expected: [N, N] });
    const st = engine.worker(0).stats();
    expect(st.violations).toBe(0);
    expect(st.hostItems).toBe(2 * N);
    expect(st.items).toBe(2 * N + 1); // + the drain's COMPLETE work
    expect(engine.checkCanary()).toBe(true);
    console.log(`sequence stress: ${(2 * N / ms * 1000 / 1e6).toFixed(2)} M works/s, ${st.batches} batches, ${st.sleeps} sleeps, ${st.wakeups} wake-ups`);
  }, 60_000);

  it('2 producers x 1M built-in COUNT works through vhost_work_queue_batch: every added work ran exactly once', async () => {
    const W = 1024;
    const engine = Engine.create({ works: 2 * W + 8, workers: 1, counters: 2 });
    const pools: WorkRef[][] = [[], []];
    pools.forEach((pool, p) => {
      for (let i = 0; i < W; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_COUNT, p); pool.push(w); }
    });
    rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0, spin: 1000 }] });
    const prod = await rt.produce(pools.map((works) => ({ worker: 0, works, mode: 'batch' as const, batch: 128, count: N })));
    expect(await rt.drain(20_000)).toBe(true);
    await rt.stop();
    expect(rt.threadCount).toBe(0);
    const st = engine.worker(0).stats();
    expect(st.violations).toBe(0);
    expect(st.badFn).toBe(0);
    for (const [p, r] of prod.entries()) {
      expect(r.added).toBeGreaterThanOrEqual(N);
      // each added work ran exactly once: the producer's adds == its counter slot
      expect(engine.counters.get(p)).toBe(r.added);
    }
    expect(st.items).toBe(prod[0]!.added + prod[1]!.added + 1);
    // nothing is left queued
    for (const pool of pools) for (const w of pool) expect(engine.works.queued(w)).toBe(false);
  }, 60_000);
});

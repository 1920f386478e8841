import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Engine, ThreadRuntime, VHOST_FN_COUNT, type WorkRef } from 'kwq';
import { VHOST_WORKER } from '../../src/wasm/layout.js';
import { SPIN_FLOOR_OVERSUBSCRIBED } from '../../src/runtime/threads.js';

// A worker's idle spin may shrink only while more threads are busy than there are
// CPUs (a spinner may hold the CPU a producer needs); otherwise it stays fixed, so a
// producer on another CPU that is merely slow does not cost a wake-up every time.
describe('the vhost worker spin floor', () => {
  it('ThreadRuntime.produce sets it while workers + producers outnumber the CPUs, and clears it after', async () => {
    const e = Engine.create({ works: 160, workers: 1, counters: 2 });
    const floorWord = (e.worker(0).offset + VHOST_WORKER.SPIN_FLOOR) >> 2;
    const u32 = new Uint32Array(e.memory.buffer);
    expect(u32[floorWord]).toBe(0);
    const pools: WorkRef[][] = [0, 1].map((p) => Array.from({ length: 64 }, () => {
      const w = e.works.alloc();
      e.works.init(w, VHOST_FN_COUNT, p);
      return w;
    }));
    const rt = await ThreadRuntime.start(e, { workers: [{ worker: 0 }] });
    let during = -1;
    const probe = setTimeout(() => { during = u32[floorWord]!; }, 30);
    const reports = await rt.produce(pools.map((works) => ({ worker: 0, works, mode: 'ring-each' as const, wait: { resume: 32 } })), { durationMs: 150 });
    clearTimeout(probe);
    expect(during).toBe(1 + 2 > availableParallelism() ? SPIN_FLOOR_OVERSUBSCRIBED : 0);
    expect(u32[floorWord]).toBe(0);
    expect(await rt.drain(10_000)).toBe(true);
    await rt.stop();
    expect(reports.every((r, p) => e.counters.get(p) === r.added)).toBe(true); // exactly once either way
  });
});

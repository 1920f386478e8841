// Ring producers (assembly/vhost.ts): queue in order, stop at the first work still
// QUEUED without touching it, wait for it read-only; the worker's idle spin; and the
// threads runtime's 'ring-batch' / 'ring-each' producers on real threads.
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type WorkRef } from '../../src/wasm/engine.js';
import { VHOST_FN_COUNT, VHOST_FN_HOST, VHOST_FN_NOOP, VHOST_WORK, VHOST_WORKER } from '../../src/wasm/layout.js';
import { ThreadRuntime } from '../../src/runtime/threads.js';
import { KwqError } from '../../src/kernel/error.js';

function setup(n = 8) {
  const engine = Engine.create({ works: n + 8, workers: 1, counters: 4 });
  const worker = engine.worker(0);
  const refs: WorkRef[] = [];
  for (let i = 0; i < n; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_HOST, i); refs.push(w); }
  return { engine, x: engine.exports, worker, arena: engine.works, refs };
}

describe('ring producers (Wasm)', () => {
  for (const fn of ['vhost_work_queue_batch_ordered', 'vhost_worker_queue_each_ordered'] as const) {
    it(`${fn} queues in order and stops before the first work still QUEUED, leaving it untouched`, () => {
      const { engine, x, worker, arena, refs } = setup();
      expect(worker.queue(refs[3]!)).toBe(1); // still queued: the ring must stop there
      const nodeBefore = engine.u32[(refs[3]! + VHOST_WORK.NODE) >> 2];
      const at = engine.stageInput(refs, 0, refs.length);
      expect(x[fn](worker.offset, at, refs.length)).toBe(3); // refs 0, 1, 2
      expect(engine.u32[(refs[3]! + VHOST_WORK.NODE) >> 2]).toBe(nodeBefore);
      expect(refs.map((w) => arena.queued(w))).toEqual([true, true, true, true, false, false, false, false]);
      const args: number[] = [];
      worker.run((_w, _fn, arg) => args.push(arg));
      expect(args).toEqual([3, 0, 1, 2]); // the earlier queue first, then the ring in order
      // all idle now: the whole ring goes in one call, in order
      expect(x[fn](worker.offset, engine.stageInput(refs, 0, refs.length), refs.length)).toBe(8);
      args.length = 0;
      worker.run((_w, _fn, arg) => args.push(arg));
      expect(args).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(worker.stats().violations).toBe(0);
    });
  }

  it('vhost_work_queue_batch_ordered wakes a sleeping worker once per call; n = 0 and a queued first work add nothing', () => {
    const { engine, x, worker, refs } = setup();
    const at = engine.stageInput(refs, 0, refs.length);
    Atomics.store(engine.u32, (worker.offset + VHOST_WORKER.STATE) >> 2, 1); // "asleep"
    expect(x.vhost_work_queue_batch_ordered(worker.offset, at, 0)).toBe(0);
    expect(worker.stats().wakeups).toBe(0);
    expect(x.vhost_work_queue_batch_ordered(worker.offset, at, 4)).toBe(4);
    expect(worker.stats().wakeups).toBe(1);
    expect(x.vhost_work_queue_batch_ordered(worker.offset, at, 4)).toBe(0); // refs[0] still queued
    expect(worker.run(() => undefined)).toBe(4);
  });

  it('vhost_work_wait_idle: 1 for an idle work, 0 when the spin runs out, 2 after a sleep that did not help', () => {
    const { x, worker, refs } = setup();
    const w = refs[0]!;
    expect(x.vhost_work_wait_idle(w, 10, 0)).toBe(1);
    worker.queue(w);
    expect(x.vhost_work_wait_idle(w, 1000, 0)).toBe(0);
    const t0 = performance.now();
    expect(x.vhost_work_wait_idle(w, 10, 50)).toBe(2); // a 50 us timed yield on this thread
    expect(performance.now() - t0).toBeGreaterThanOrEqual(0.04);
    worker.run(() => undefined);
    expect(x.vhost_work_wait_idle(w, 0, 50)).toBe(1); // idle: no sleep
  });

  it('vhost_worker_spin: 0 on an empty running worker, 1 once a work is queued or stop is set', () => {
    const { x, worker, refs } = setup();
    expect(x.vhost_worker_spin(worker.offset, 1000)).toBe(0);
    worker.queue(refs[0]!);
    expect(x.vhost_worker_spin(worker.offset, 1000)).toBe(1);
    worker.run(() => undefined);
    worker.stop();
    expect(x.vhost_worker_spin(worker.offset, 1000)).toBe(1);
    worker.clearStop();
    expect(x.vhost_worker_spin(worker.offset, 1000)).toBe(0);
  });

  it('the run loop counts built-ins run out of line (COUNT, SPIN) and NOOPs alike, in FIFO with HOST works', () => {
    const engine = Engine.create({ works: 16, workers: 1, counters: 2 });
    const worker = engine.worker(0);
    const kinds = [VHOST_FN_NOOP, VHOST_FN_COUNT, VHOST_FN_HOST, VHOST_FN_NOOP, VHOST_FN_COUNT, VHOST_FN_HOST, VHOST_FN_COUNT];
    const refs = kinds.map((fn) => { const w = engine.works.alloc(); engine.works.init(w, fn, fn === VHOST_FN_COUNT ? 1 : 0, 10); return w; });
    expect(worker.queueBatch(refs)).toBe(7);
    const countAtHost: number[] = [];
    expect(worker.run(() => countAtHost.push(engine.counters.get(1)))).toBe(7);
    expect(countAtHost).toEqual([1, 2]);
    expect(engine.counters.get(1)).toBe(3);
    expect(worker.stats()).toMatchObject({ items: 7, hostItems: 2, vcost: 70, violations: 0, badFn: 0 });
  });
});

describe('ring producer threads', () => {
  let rt: ThreadRuntime | undefined;
  afterEach(async () => {
    if (rt && rt.threadCount > 0) await rt.stop();
    rt = undefined;
  });

  it("'ring-batch' and 'ring-each' producers: every work added runs exactly once and no queued work is re-tested", async () => {
    const W = 256;
    const N = 200_000;
    const engine = Engine.create({ works: 4 * W + 8, workers: 1, counters: 4 });
    const pools: WorkRef[][] = [[], [], [], []];
    pools.forEach((pool, p) => {
      for (let i = 0; i < W; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_COUNT, p); pool.push(w); }
    });
    rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0 }] });
    // two rounds of two producers each (the CI machine has 2 cores)
    const specs = pools.map((works, p) => ({
      worker: 0, works, count: N, mode: p % 2 ? 'ring-each' as const : 'ring-batch' as const, batch: 64,
      wait: p < 2 ? undefined : { spin: 1000, minSpin: 10, sleepUs: 5, resume: 32 },
    }));
    const reports = [...(await rt.produce(specs.slice(0, 2))), ...(await rt.produce(specs.slice(2)))];
    expect(await rt.drain(20_000)).toBe(true);
    await rt.stop();
    expect(rt.threadCount).toBe(0);
    for (const [p, r] of reports.entries()) {
      expect(r).toMatchObject({ added: N, attempted: N, canaryOk: true }); // attempted == added: nothing re-tested
      expect(engine.counters.get(p)).toBe(N);
    }
    const st = engine.worker(0).stats();
    expect(st.violations).toBe(0);
    expect(st.items).toBe(4 * N + 1); // + the drain's COMPLETE work
    for (const pool of pools) for (const w of pool) expect(engine.works.queued(w)).toBe(false);
  }, 60_000);

  it('refuses an unknown mode and bad wait options, starting nothing', async () => {
    const engine = Engine.create({ works: 8, workers: 1 });
    const w = engine.works.alloc();
    engine.works.init(w, VHOST_FN_NOOP);
    rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0, spin: 10 }] });
    const before = rt.threadCount;
    await expect(rt.produce([{ worker: 0, works: [w], mode: 'ring' as never, count: 1 }])).rejects.toThrow(/specs\[0\]\.mode.*unknown mode "ring"/);
    await expect(rt.produce([{ worker: 0, works: [w], mode: 'ring-each', count: 1, wait: { spin: -1 } }])).rejects.toThrow(KwqError);
    await expect(rt.produce([{ worker: 0, works: [w], mode: 'ring-each', count: 1, wait: { resume: 1.5 } }])).rejects.toThrow(/wait\.resume/);
    await expect(rt.produce([{ worker: 0, works: [w], mode: 'ring-batch', count: 1, batch: 0 }])).rejects.toThrow(/batch/);
    expect(rt.threadCount).toBe(before);
    await rt.stop();
  });
});

describe('VhostWorkerHandle.queueOrdered', () => {
  it('stops at the first work still queued across scratch chunks, per batch or per work', () => {
    const engine = Engine.create({ works: 300, workers: 1, slotBytes: 1024 });
    const worker = engine.worker(0);
    const cap = engine.scratch.inputCap;
    const refs: WorkRef[] = [];
    for (let i = 0; i < 2 * cap + 10; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_NOOP); refs.push(w); }
    worker.queue(refs[cap + 5]!); // in the second chunk
    expect(worker.queueOrdered(refs)).toBe(cap + 5);
    expect(worker.run()).toBe(cap + 6);
    expect(worker.queueOrdered(refs, 0, refs.length, true)).toBe(refs.length);
    expect(worker.queueOrdered(refs, 3, 4, true)).toBe(0); // refs[3] is queued
    expect(worker.run()).toBe(refs.length);
    expect(worker.stats().violations).toBe(0);
  });
});

// The canary word: the host writes it after creating the memory; every
// instantiation (main thread and worker threads) checks it afterwards. This proves
// no instantiation re-applied data or zeroed shared state.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/wasm/engine.js';
import { CTRL_CANARY, VHOST_FN_NOOP } from '../../src/wasm/layout.js';
import { KwqError } from '../../src/kernel/error.js';
import { tinyModule } from './wasm-bytes.js';

describe('canary', () => {
  it('survives many instantiations over the same memory, in this thread and in worker threads, with state intact', async () => {
    const engine = Engine.create({ works: 4, workers: 1, counters: 2 });
    const w = engine.works.alloc();
    engine.works.init(w, VHOST_FN_NOOP);
    engine.worker(0).queue(w);
    engine.counters.add(1, 41);
    const t = engine.transferable();
    for (let i = 1; i < 6; i++) expect(Engine.attach(t, i % 8).checkCanary()).toBe(true);
    // worker threads instantiate through src/wasm/thread.js, which checks the canary itself
    const workerUrl = new URL('../../src/runtime/worker.js', import.meta.url);
    const results = await Promise.all([1, 2].map((slot) => new Promise<unknown>((resolve, reject) => {
      const th = new Worker(workerUrl, { workerData: { role: 'selftest', engine: t, slot, rounds: 1, n: 10 } });
      th.on('message', (m: { type: string }) => { if (m.type !== 'ready') resolve(m); });
      th.on('error', reject);
    })));
    for (const r of results) expect(r).toMatchObject({ type: 'done' });
    expect(engine.checkCanary()).toBe(true);
    expect(engine.works.queued(w)).toBe(true); // nothing re-zeroed the flags word
    expect(engine.counters.get(1)).toBe(41);
    expect(engine.worker(0).run()).toBe(1);
  });

  it('catches an instantiation that rewrites shared memory (a module with a data segment over the canary)', () => {
    const engine = Engine.create({ works: 2, workers: 1 });
    const t = engine.transferable();
    const rogue = new WebAssembly.Module(tinyModule('data', 32768, CTRL_CANARY, 0x1234));
    expect(() => Engine.attach({ ...t, module: rogue }, 1)).toThrow(KwqError);
    expect(() => Engine.attach({ ...t, module: rogue }, 1)).toThrow(/canary changed/);
    expect(engine.checkCanary()).toBe(false);
  });
});

// The threads runtime: clean stop (no leaked threads), sleeping workers woken by
// producers and by stop, HOST handlers in the worker thread, and the plain-JS
// thread layer agreeing with layout.ts.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Engine, type WorkRef } from '../../src/wasm/engine.js';
import { VHOST_FN_COUNT, VHOST_FN_HOST, VHOST_WORK } from '../../src/wasm/layout.js';
import * as threadLayer from '../../src/wasm/thread.js';
import { ThreadRuntime } from '../../src/runtime/threads.js';
import { KwqError } from '../../src/kernel/error.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ThreadRuntime', () => {
  it('starts worker threads, wakes sleeping workers from the main thread, drains, and stops with no thread left', async () => {
    const engine = Engine.create({ works: 64, workers: 2, counters: 2 });
    const rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0, spin: 10 }, { worker: 1, spin: 10 }] });
    expect(rt.threadCount).toBe(2);
    // let both fall asleep (spin 10 is short)
    for (let i = 0; i < 200 && !(engine.worker(0).sleeping && engine.worker(1).sleeping); i++) await sleep(5);
    expect(engine.worker(0).sleeping && engine.worker(1).sleeping).toBe(true);
    const refs: WorkRef[] = [];
    for (let i = 0; i < 20; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_COUNT, i % 2); refs.push(w); }
    let woke = 0;
    for (const [i, w] of refs.entries()) woke += engine.worker(i % 2).queue(w) >> 1;
    expect(woke).toBeGreaterThanOrEqual(2); // at least the first queue to each sleeping worker woke it
    expect(await rt.drain(5000)).toBe(true);
    expect(Array.from(engine.counters.snapshot())).toEqual([10, 10]);
    // both asleep again: stop must wake them
    for (let i = 0; i < 200 && !(engine.worker(0).sleeping && engine.worker(1).sleeping); i++) await sleep(5);
    const reports = await rt.stop();
    expect(rt.threadCount).toBe(0);
    expect(reports.map((r) => r.canaryOk)).toEqual([true, true]);
    const s = engine.worker(0).stats();
    expect(s.sleeps).toBeGreaterThanOrEqual(1);
    expect(s.wakeups).toBeGreaterThanOrEqual(1);
    expect(s.violations).toBe(0);
  });

  it('refuses two threads for one worker and unknown workers, starting nothing', async () => {
    const engine = Engine.create({ works: 4, workers: 1 });
    await expect(ThreadRuntime.start(engine, { workers: [{ worker: 0 }, { worker: 0 }] })).rejects.toThrow(/given twice/);
    await expect(ThreadRuntime.start(engine, { workers: [{ worker: 3 }] })).rejects.toThrow(KwqError);
  });

  it('runs HOST works through the handler module in the worker thread', async () => {
    const engine = Engine.create({ works: 300, workers: 1 });
    const rt = await ThreadRuntime.start(engine, {
      workers: [{ worker: 0, handler: new URL('./fixtures/seq-handler.js', import.meta.url).href, handlerOptions: { producers: 1 } }],
    });
    const refs: WorkRef[] = [];
    for (let i = 0; i < 256; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_HOST); engine.works.setTag(w, 0, i); refs.push(w); }
    expect(engine.worker(0).queueBatch(refs)).toBe(256);
    expect(await rt.drain(5000)).toBe(true);
    const [r] = await rt.stop();
    expect(r!.handler).toMatchObject({ runs: 256, errors: 0, expected: [256] });
    expect(r!.hostRuns).toBe(256);
  });

  it('a process that starts and stops the runtime exits on its own (dist build)', () => {
    const dist = fileURLToPath(new URL('../../dist/src/runtime/threads.js', import.meta.url));
    expect(existsSync(dist), 'run `npm run build` first: this test runs the compiled package in a fresh process').toBe(true);
    const code = `
      const { Engine } = await import(${JSON.stringify(fileURLToPath(new URL('../../dist/src/wasm/engine.js', import.meta.url)))});
      const { ThreadRuntime } = await import(${JSON.stringify(dist)});
      const e = Engine.create({ works: 8, workers: 2 });
      const rt = await ThreadRuntime.start(e, { workers: [{ worker: 0 }, { worker: 1 }] });
      await rt.stop();
      console.log('stopped', rt.threadCount);
      // no process.exit(): a leaked thread or handle would keep the process alive`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 15_000 });
    expect(out.trim()).toBe('stopped 0');
  });
});

describe('src/wasm/thread.js', () => {
  it('mirrors the layout constants of src/wasm/layout.ts', () => {
    expect(threadLayer.VHOST_WORK).toEqual(VHOST_WORK);
    expect(threadLayer.VHOST_FN_HOST).toBe(VHOST_FN_HOST);
    const engine = Engine.create({ works: 4, workers: 3, threadSlots: 4 });
    const ctx = threadLayer.attachKwq(engine.transferable(), 2);
    const slot = engine.slot(2);
    expect([ctx.out, ctx.outCap, ctx.input, ctx.inputCap]).toEqual([slot.out, slot.outCap, slot.input, slot.inputCap]);
    expect(ctx.workerOffset(2)).toBe(engine.worker(2).offset);
    expect(ctx.syncIndex(3)).toBe(engine.sync.index(3));
  });
});

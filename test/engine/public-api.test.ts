import { describe, expect, it } from 'vitest';
import { Engine, VHOST_FN_COUNT, VHOST_FN_HOST, type WorkRef } from 'kwq';

// A simulator that imports kwq as a library drives the Wasm structures directly.
describe('the engine through the public export list', () => {
  it('queues works to a worker, dedups a queued work, runs built-in and JS works in FIFO order', () => {
    const engine = Engine.create({ works: 16, workers: 1, counters: 2 });
    const w = engine.worker(0);
    const count = engine.works.alloc();
    engine.works.init(count, VHOST_FN_COUNT, 1);
    const host = engine.works.alloc();
    engine.works.init(host, VHOST_FN_HOST + 1, 7);
    expect(w.queue(count) & 1).toBe(1);
    expect(w.queue(count)).toBe(0); // already QUEUED: nothing added, no wake-up
    expect(w.queue(host) & 1).toBe(1);
    const seen: [WorkRef, number, number][] = [];
    const ran = w.run((work, fn, arg) => {
      expect(engine.works.queued(work)).toBe(false); // QUEUED cleared before fn runs
      seen.push([work, fn, arg]);
    });
    expect(ran).toBe(2);
    expect(engine.counters.get(1)).toBe(1);
    expect(seen).toEqual([[host, VHOST_FN_HOST + 1, 7]]);
    expect(w.stats().violations).toBe(0);
  });
});

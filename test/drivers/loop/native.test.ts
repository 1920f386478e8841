/**
 * The native C reference of loop's dispatch (bench/native/loop.c, the figures bench/loop.ts
 * prints beside the Wasm ones): built with the machine's cc by bench/native/native.ts, it
 * must report every request taken exactly once (FIFO per worker, by its own cgroup's
 * worker, one "queued" per worker per round; `loop scale`, bench/scale.ts's loop curve: the
 * same in loopPoint's order and tags) and every worker_tree lookup found. Skipped
 * with a note on a machine without a C compiler.
 */
import { describe, expect, test } from 'vitest';
import { hasNative, nativeRef } from '../../../bench/native/native.js';

const c = nativeRef();
if (!hasNative(c)) console.warn(`test/drivers/loop/native.test.ts: ${c.note}`);

interface Dispatch { ncg: number; n: number; workers: number; iterations: number; medianNsPerRequest: number; exactlyOnce: boolean; rescuedPerIteration: number }
interface Threads {
  ok: boolean; exactlyOnce: boolean; missing: number; twice: number; dupes: number; fifoBroken: number; reentered: number; handled: number; executions: number; requestsPerSec: number;
  dispatch: { queued: number; rootQueued: number; workersCreated: number }; workqueue: { queued: number; executed: number };
}
interface Lookup { ncg: number; iterations: number; medianNsPerLookup: number; exactlyOnce: boolean; missed: number }
interface Scale { nsPerItem: number; spread: [number, number]; items: number; exactlyOnce: boolean }

describe.skipIf(!hasNative(c))('loop native C reference (kwq-native loop)', () => {
  const run = <T>(args: (string | number)[]): T => (hasNative(c) ? c.run<T>(args) : (undefined as T));

  test.each([
    [0, 'batch'], [1, 'batch'], [4, 'one'], [16, 'batch'], [64, 'one'],
  ] as const)('loop dispatch NCG %i (%s): every request taken exactly once', (ncg, mode) => {
    const r = run<Dispatch>(['loop', 'dispatch', ncg, 1024, 20, mode]);
    expect(r.exactlyOnce).toBe(true);
    expect(r.workers).toBe(ncg); // the root worker is not in worker_tree
    expect(r.iterations).toBeGreaterThanOrEqual(5);
    expect(r.medianNsPerRequest).toBeGreaterThan(0);
    // each round ends with every cgroup worker idle, so the next round rescues each once
    expect(r.rescuedPerIteration).toBe(ncg);
  });

  // the dispatch on pthreads (bench/loop.ts section 3's C figure): 2 submitters + 2 kworkers
  // of the C workqueue; few tags (INFLIGHT 96, BATCH 16) so that submitters wait for tags too
  test.each([
    ['per-cgroup', 1], ['per-cgroup', 16], ['kworker', 1],
  ] as const)('loop threads %s, %i cgroup(s): every command handled exactly once, FIFO, never re-entered', (design, ncg) => {
    const count = 20_000;
    const r = run<Threads>(['loop', 'threads', 2, 2, ncg, count, design, 16, 96]);
    expect(r.ok).toBe(true);
    expect(r.exactlyOnce).toBe(true);
    expect([r.missing, r.twice, r.dupes, r.fifoBroken, r.reentered]).toEqual([0, 0, 0, 0, 0]);
    expect(r.handled).toBe(count);
    expect(r.dispatch.queued).toBe(count);
    expect(r.dispatch.rootQueued).toBe(design === 'kworker' ? count : 0);
    expect(r.dispatch.workersCreated).toBe(design === 'kworker' ? 0 : ncg);
    expect(r.workqueue.executed).toBe(r.workqueue.queued);
    expect(r.executions).toBe(r.workqueue.executed);
    expect(r.requestsPerSec).toBeGreaterThan(0);
  });

  // bench/scale.ts's loop curve C (loop scale): loopPoint's dispatch in kwq's order, 128 tags
  const scaleOk = (r: Scale, ncg: number, qd: number): void => {
    expect(r.exactlyOnce).toBe(true);
    expect(r.items % (ncg * qd)).toBe(0); // whole rounds only
    expect(r.items).toBeGreaterThanOrEqual(4 * ncg * qd); // the warm-up's 3 rounds and at least one a block
    expect(r.nsPerItem).toBeGreaterThan(0);
    expect(r.spread[0]).toBeLessThanOrEqual(r.nsPerItem);
    expect(r.spread[1]).toBeGreaterThanOrEqual(r.nsPerItem);
  };

  test.each([1, 7, 3000])('loop scale NCG %i QD 4: every request taken exactly once a round, in order, by its own worker', (ncg) => {
    scaleOk(run<Scale>(['loop', 'scale', ncg, 4, 2000, 10]), ncg, 4);
  });

  test.each([
    [100, 4, 1000, 'walk'], // every request held at once (queue all, then drain all), the kernel's walk
    [3, 200, 128, 'hint'], // more requests from one cgroup than tags: its work pending again while it runs
  ] as const)('loop scale NCG %i QD %i TAGS %i %s: exactly once', (ncg, qd, tags, mode) => {
    scaleOk(run<Scale>(['loop', 'scale', ncg, qd, 2000, 10, tags, mode]), ncg, qd);
  });

  test.each([
    [[0, 4], /NCG must be/], [[1, 0], /QD must be/], [[-1, 4], /NCG must be/], [[2_000_000, 4], /NCG must be/],
  ] as const)('loop scale refuses NCG/QD %j', (args, msg) => {
    expect(() => run<Scale>(['loop', 'scale', ...args, 2000, 10])).toThrow(msg);
  });

  test.each([1, 4, 16, 64])('loop lookup NCG %i: every key found, in its own worker', (ncg) => {
    const r = run<Lookup>(['loop', 'lookup', ncg, 1000, 20]);
    expect(r.exactlyOnce).toBe(true);
    expect(r.missed).toBe(0);
    expect(r.medianNsPerLookup).toBeGreaterThan(0);
  });
});

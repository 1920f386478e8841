/**
 * The native C reference of loop's dispatch (bench/native/loop.c, the figures bench/loop.ts
 * prints beside the Wasm ones): built with the machine's cc by bench/native/native.ts, it
 * must report every request taken exactly once (FIFO per worker, by its own cgroup's
 * worker, one "queued" per worker per round) and every worker_tree lookup found. Skipped
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

  test.each([1, 4, 16, 64])('loop lookup NCG %i: every key found, in its own worker', (ncg) => {
    const r = run<Lookup>(['loop', 'lookup', ncg, 1000, 20]);
    expect(r.exactlyOnce).toBe(true);
    expect(r.missed).toBe(0);
    expect(r.medianNsPerLookup).toBeGreaterThan(0);
  });
});

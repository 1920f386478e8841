/**
 * loop's dispatch on real worker_threads (src/runtime/loop-threads.ts): submitter
 * threads of different cgroups queue through Wasm loop_queue_work at once, kworker
 * threads of one unbound workqueue drain the per-worker FIFOs, the main thread reaps
 * idle workers meanwhile. Pinned: every command handled exactly once, FIFO per worker
 * list, no work executed on two kworkers at once, each queued work executed once;
 * allocation failures (arena full, injected) fall back to the root list and lose
 * nothing. Bounded: a few seconds in all.
 */
import { describe, expect, test } from 'vitest';
import { runLoopThreads } from '../../../src/runtime/loop-threads.js';
import { LC, LO, LW, WORK } from '../../../src/wasm/loop.js';
import * as js from '../../../src/runtime/loop-kworker-layout.js';

describe('loop dispatch on real threads', () => {
  test('the worker file mirrors src/wasm/loop.ts', () => {
    expect(js.LC).toEqual(LC);
    expect(js.LW).toEqual({ WORK: LW.WORK, SIZE: LW.SIZE });
    expect(js.LO).toEqual({ ROOT_WORK: LO.ROOT_WORK });
    expect(js.WORK).toEqual({ LO: WORK.LO });
  });

  test('2 submitters x 16 cgroups, 2 kworkers, reaper running: exactly once, FIFO per worker, never re-entered', async () => {
    const r = await runLoopThreads({ submitters: 2, kworkers: 2, cgroups: 16, count: 200_000, batch: 32, inflight: 512, reap: { everyMs: 1, timeoutMs: 0.05 } });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.kworkers.reduce((a, k) => a + k.handled, 0)).toBe(200_000);
    expect(r.dispatch.queued).toBe(200_000);
    // the dispatch did dedupe (queue_work on a pending work is a no-op) and made workers
    expect(r.dispatch.queueNoop).toBeGreaterThan(0);
    expect(r.dispatch.workersCreated).toBeGreaterThanOrEqual(16);
    expect(r.dispatch.rootQueued).toBe(0);
    expect(r.workqueue.executed).toBe(r.workqueue.queued);
    // works queued while they ran were handed to the kworker running them (non-reentrancy)
    expect(r.workqueue.collisions).toBeGreaterThan(0);
    // the reaper freed idle workers and submitters rescued others from the idle list meanwhile
    expect(r.reaperRuns).toBeGreaterThan(0);
    expect(r.dispatch.workersFreed).toBeGreaterThan(0);
    expect(r.dispatch.rescued).toBeGreaterThan(0);
    expect(r.dispatch.workersCreated - r.dispatch.workersFreed).toBe(r.dispatch.nrWorkers);
    // both kworkers executed works (different works run in parallel on an unbound queue)
    for (const k of r.kworkers) expect(k.executions).toBeGreaterThan(0);
    // a submitter that slept for a free loop_cmd was woken by a kworker's free (the tag wait)
    if (r.submitters.some((s) => s.tagWaits > 0)) expect(r.kworkers.reduce((a, k) => a + k.tagWakes, 0)).toBeGreaterThan(0);
  }, 60_000);

  test('allocation failures (arena of 3 workers, 30 % injected) go to the root list and lose nothing', async () => {
    const r = await runLoopThreads({ submitters: 3, kworkers: 2, cgroups: 12, count: 60_000, workerCapacity: 3, failPct: 30, batch: 16, inflight: 256, reap: { everyMs: 2, timeoutMs: 0.1 } });
    expect(r.problems).toEqual([]);
    expect(r.dispatch.allocFailures).toBeGreaterThan(0);
    expect(r.dispatch.rootQueued).toBe(r.dispatch.allocFailures);
    expect(r.dispatch.workersCreated - r.dispatch.workersFreed).toBe(r.dispatch.nrWorkers);
    expect(r.dispatch.nrWorkers).toBeLessThanOrEqual(3);
  }, 60_000);

  test('a warm-up and timed rounds on the same threads: every command of every phase once, one report per round', async () => {
    const seen: number[] = [];
    const r = await runLoopThreads({
      submitters: 2, kworkers: 2, cgroups: 4, count: 20_000, warmup: 10_000, rounds: 3, batch: 32, inflight: 256,
      betweenRounds: (i) => { seen.push(i); },
    });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.rounds).toHaveLength(3);
    expect(seen).toEqual([0, 1, 2]);
    // every phase's commands, the warm-up's included, were handled once
    expect(r.kworkers.reduce((a, k) => a + k.handled, 0)).toBe(10_000 + 3 * 20_000);
    expect(r.dispatch.queued).toBe(10_000 + 3 * 20_000);
    for (const round of r.rounds) {
      expect(round.ms).toBeGreaterThan(0);
      expect(round.requestsPerSec).toBeCloseTo((20_000 * 1000) / round.ms, 0);
    }
    // the report's figure is the median round's
    const ms = r.rounds.map((x) => x.ms).sort((a, b) => a - b);
    expect(r.ms).toBe(ms[1]);
  }, 60_000);

  test('names the option that is out of range', async () => {
    await expect(runLoopThreads({ submitters: 1, kworkers: 1, cgroups: 1, count: 100, rounds: 0 })).rejects.toThrow(/rounds/);
    await expect(runLoopThreads({ submitters: 1, kworkers: 1, cgroups: 1, count: 100, warmup: -1 })).rejects.toThrow(/warmup/);
  });
});

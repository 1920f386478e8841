// io-wq on real worker_threads (src/runtime/io-wq-threads.ts): producers queue with
// io_wq_enqueue while workers run io_wq_worker_loop in Wasm over the shared memory.
// Pinned: every work runs exactly once; works of one hash key never run at once and
// run in their queueing order (IO_WQ_FN_CHECK counts overlaps and reorders in Wasm);
// after io_wq_exit_start every worker leaves (io_wq_worker_exit) and every thread exits.
import { describe, expect, it } from 'vitest';
import { runIoWqThreads } from '../../../src/runtime/io-wq-threads.js';

describe('io-wq on real threads', () => {
  it('hashed: 2 producers, 3 workers, 8 files: exactly once, one worker per hash at a time, FIFO per file, clean shutdown', async () => {
    const r = await runIoWqThreads({ producers: 2, workers: 3, count: 40_000, keys: 8, batch: 32, costSpins: 50 });
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checks).toEqual({ overlaps: 0, reorders: 0 });
    expect(r.threadsLeft).toBe(0);
    expect(r.acct.nrWorkers).toBe(0);
    expect(r.workers.reduce((a, w) => a + w.runs, 0)).toBe(40_000);
    expect(r.acct.stalls).toBeGreaterThanOrEqual(0);
    // the round's regime, read by bench/io-wq.ts: chains taken and works done when each producer finished
    for (const p of r.producers) {
      expect(p.startLagMs).toBeGreaterThanOrEqual(0);
      expect(p.takenAtEnd).toBeLessThanOrEqual(r.acct.taken);
      expect(p.doneAtEnd).toBeLessThanOrEqual(40_000);
    }
  }, 60_000);

  it('one file: every work on one chain at a time however many workers', async () => {
    const r = await runIoWqThreads({ producers: 1, workers: 3, count: 10_000, keys: 1, batch: 16, costSpins: 20 });
    expect(r.problems).toEqual([]);
    expect(r.checks.overlaps).toBe(0);
    expect(r.threadsLeft).toBe(0);
  }, 60_000);

  it('unhashed: 2 producers, 2 workers: exactly once, clean shutdown', async () => {
    const r = await runIoWqThreads({ producers: 2, workers: 2, count: 40_000, keys: 0 });
    expect(r.problems).toEqual([]);
    expect(r.threadsLeft).toBe(0);
  }, 60_000);

  it('regression: io_wq_exit_start racing a worker going idle (lost wake-up): every worker exits, run after run', async () => {
    // the bug: exit_start notified the slot word without changing it, so a worker that
    // stored FREE after its last look at EXIT slept on through the notify
    for (let i = 0; i < 15; i++) {
      const r = await runIoWqThreads({ producers: 1, workers: 3, count: 3000, keys: 4, batch: 8, timeoutMs: 5000 });
      expect(r.problems).toEqual([]);
      expect(r.threadsLeft).toBe(0);
    }
  }, 120_000);

  it('bad options are a KwqError naming the option', async () => {
    await expect(runIoWqThreads({ producers: 0, workers: 1, count: 1, keys: 0 })).rejects.toThrow(/option producers/);
    await expect(runIoWqThreads({ producers: 1, workers: 65, count: 1, keys: 0 })).rejects.toThrow(/option workers/);
  });
});

import { describe, expect, it } from 'vitest';
import { scenario, type MultiqueueRow } from '../../scenarios/multiqueue.js';

describe('scenario multiqueue', () => {
  it('reproduces the shape of the published table: 1 worker flat after 2 jobs, a worker per vq near-linear', async () => {
    const r = await scenario.run({ jobs: [1, 2, 4, 8, 12, 16], hostCpus: 18, warmupMs: 2, measureMs: 10, seed: 1 });
    const rows = r.data.rows as MultiqueueRow[];
    const at = (j: number): MultiqueueRow => rows.find((x) => x.jobs === j)!;
    // 1 job: both designs are the same configuration
    expect(Math.abs(at(1).oneWorkerK - at(1).perVqK) / at(1).perVqK).toBeLessThan(0.05);
    // 1 worker: saturated from about 2 jobs on (within +-25 % of its 2-job value)
    for (const j of [4, 8, 12, 16]) {
      expect(at(j).oneWorkerK / at(2).oneWorkerK).toBeGreaterThan(0.75);
      expect(at(j).oneWorkerK / at(2).oneWorkerK).toBeLessThan(1.25);
    }
    expect(at(16).oneWorkerK).toBeLessThan(2 * at(2).oneWorkerK);
    // the batching anomaly: 1 worker beats a worker per vq at 2 jobs
    expect(at(2).oneWorkerK).toBeGreaterThan(at(2).perVqK * 1.2);
    expect(at(2).oneKicksPerIo).toBeLessThan(at(2).perVqKicksPerIo);
    // worker per vq: near-linear to 8 jobs, >= 10x at 16
    const base = at(1).perVqK;
    expect(at(2).perVqK / base).toBeGreaterThan(1.8);
    expect(at(4).perVqK / base).toBeGreaterThan(3.6);
    expect(at(8).perVqK / base).toBeGreaterThan(7);
    expect(at(16).perVqK / base).toBeGreaterThanOrEqual(10);
    expect(at(16).perVqK).toBeGreaterThan(at(12).perVqK);
    expect(r.lines.some((l) => l.includes('published'))).toBe(true);
  });

  it('--runtime threads: real worker threads, one per vhost worker; every command completes exactly once', async () => {
    const r = await scenario.run({ jobs: [1, 3], runtime: 'threads', count: 3000 });
    const rows = r.data.rows as (MultiqueueRow & { oneExact: boolean; perVqExact: boolean; perVqThreads: number })[];
    expect(r.data.runtime).toBe('threads');
    expect(rows.map((x) => x.jobs)).toEqual([1, 3]);
    for (const row of rows) {
      expect(row.oneExact).toBe(true);
      expect(row.perVqExact).toBe(true);
      expect(row.perVqThreads).toBe(row.jobs); // a thread per worker, a worker per job's vq
      expect(row.oneWorkerK).toBeGreaterThan(0);
      expect(row.perVqK).toBeGreaterThan(0);
    }
    expect(r.lines.some((l) => l.includes('wall clock'))).toBe(true);
  });

  it('rejects a runtime that does not exist, naming the option', async () => {
    await expect(scenario.run({ jobs: [1], runtime: 'fibers' })).rejects.toThrow(/runtime/);
  });
});

// The iowq scenarios run and show what they claim (numbers measured in the run).
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../../src/cli/tour.js';

describe('scenarios iowq and iowq-nproc', () => {
  it('iowq: one file stays on one chain, many files get more workers and more throughput', async () => {
    const r = await runScenario('iowq', { writes: 128, inflight: [1, 16], files: [1, 16], charge: false });
    console.log(r.lines.join('\n'));
    const rows = r.data['rows'] as { files: number; inflight: number; workers: number; mbps: number; cpuUsec: number }[];
    const one16 = rows.find((x) => x.files === 1 && x.inflight === 16)!;
    const many16 = rows.find((x) => x.files === 16 && x.inflight === 16)!;
    const one1 = rows.find((x) => x.files === 1 && x.inflight === 1)!;
    // one file: one hash chain at a time. IOSQE_ASYNC work is IO_WQ_WORK_CONCURRENT, so
    // every enqueue that finds no free worker makes one (Linux 6.1.192 made 4 for 8 async
    // writes to one file: the oracle's iouring-workers), but they stall on the hash: no more throughput
    expect(one16.workers).toBeGreaterThanOrEqual(1);
    expect(one16.mbps).toBeLessThanOrEqual(one1.mbps * 1.2);
    expect(many16.workers).toBeGreaterThan(2);
    expect(many16.mbps).toBeGreaterThan(one16.mbps);
    for (const x of rows) expect(x.cpuUsec).toBeGreaterThan(0);
  });

  it('iowq-nproc: 5.14 retries until the limit is raised; 6.1.y (the 0453aad676ff backport, measured on 6.1.192) and 6.12 cancel after 4 attempts', async () => {
    const r = await runScenario('iowq-nproc', {});
    console.log(r.lines.join('\n'));
    type Run = { release: string; cqe: number | null; attempts: number; retries: number; created: number; afterRaise: number | null };
    const [old, y61, v612] = r.data['runs'] as Run[];
    expect([old!.release, y61!.release, v612!.release]).toEqual(['5.14', '6.1', '6.12']);
    // 5.14: no CQE while the limit holds, more attempts than WORKER_INIT_LIMIT allows, and
    // the retry after the limit is raised makes the worker: the write completes
    expect(old!.cqe).toBeNull();
    expect(old!.created).toBe(0);
    expect(old!.attempts).toBeGreaterThan(4);
    expect(old!.afterRaise).toBe(4096);
    for (const x of [y61!, v612!]) {
      expect(x.cqe).toBe(-125); // -ECANCELED
      expect(x.attempts).toBe(4);
      expect(x.retries).toBe(3);
      expect(x.afterRaise).toBeNull();
    }
    expect(r.lines.some((l) => l.startsWith('  5.14') && /CQE none; after raising the limit by one: CQE 4096/.test(l))).toBe(true);
  });

  it('iowq side-by-side: who is charged per design, deterministic (sim)', async () => {
    const opts = { writes: 8, inflight: [1], files: [1], charge: true, 'charge-writes': 8 };
    const r = await runScenario('iowq', opts);
    console.log(r.lines.slice(-13).join('\n'));
    type Run = { design: string; worker: { cgroupAfter: string }; phases: { by: Record<string, { fileBytes: number; ioWbytes: number; cpuUsec: number }> }[] };
    const runs = r.data['charging'] as Run[];
    expect(runs.map((x) => x.design)).toEqual(['io-wq', 'loop-per-cgroup', 'loop-kworker', 'vhost-task', 'vhost-kthread']);
    const moved = (d: string) => runs.find((x) => x.design === d)!.phases[1]!.by;
    const bytes = 8 * 65536;
    expect(moved('io-wq')['/b.slice']!.fileBytes).toBe(bytes);
    expect(moved('io-wq')['/b.slice']!.cpuUsec).toBeGreaterThan(0);
    expect(moved('loop-kworker')['/']!.fileBytes).toBe(bytes);
    expect(moved('loop-per-cgroup')['/b.slice']!.ioWbytes).toBe(bytes);
    expect(moved('loop-per-cgroup')['/']!.cpuUsec).toBeGreaterThan(0);
    expect(moved('vhost-kthread')['/a.slice']!.cpuUsec).toBeGreaterThan(0);
    expect(moved('vhost-kthread')['/b.slice']!.fileBytes).toBe(bytes);
    const again = await runScenario('iowq', opts);
    expect(again.lines).toEqual(r.lines);
    expect(again.data).toEqual(r.data);
  });
});

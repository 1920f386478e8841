/**
 * kwq compare: one workload, two designs or two releases, one run of each; the table
 * shows who was charged what. The facts checked are the kernel rules the workloads
 * model (scenarios/iowq-charge.ts's header): a vhost_task worker is a thread of QEMU and
 * follows it to b.slice, a vhost kthread stays where SET_OWNER attached it.
 */
import { describe, expect, it, vi } from 'vitest';
import { compareLines, runCompare } from '../../src/cli/compare.js';
import { main } from '../../src/cli/kwq.js';
import { validateScenarioOptions } from '../../src/cli/scenario-options.js';
import { workload } from '../../src/cli/workloads.js';
import type { Scenario } from '../../scenarios/types.js';

const opts = (name: string, o: Record<string, unknown>) => validateScenarioOptions(workload(name) as unknown as Scenario, o);

describe('kwq compare', () => {
  it('two designs: task-mode vs kthread vhost workers, who is charged after the move', async () => {
    const r = await runCompare({ name: 'charge', designs: ['vhost-task', 'vhost-kthread'], releases: [] }, opts('charge', { writes: 8 }));
    const [task, kth] = r.runs;
    expect(task.outcome['worker flags']).toBe('PF_USER_WORKER');
    expect(kth.outcome['worker flags']).toBe('PF_KTHREAD');
    expect(task.outcome['worker cgroup after the move']).toBe('/b.slice');
    expect(kth.outcome['worker cgroup after the move']).toBe('/a.slice');
    const cpu = (run: typeof task, cg: string) => run.charged.find((c) => c.phase === 'after the move to b.slice' && c.cgroup === cg)!.cpuUsec;
    expect(cpu(task, '/b.slice')).toBeGreaterThan(0);
    expect(cpu(kth, '/b.slice')).toBe(0);
    expect(cpu(kth, '/a.slice')).toBeGreaterThan(0);
    // pids: the task-mode worker counts in its cgroup's pids, the kthread does not
    const pids = (run: typeof task) => run.charged.find((c) => c.cgroup === '/b.slice')!.pidsPeak!;
    expect(pids(task)).toBe(pids(kth) + 1);
    const lines = compareLines(r).join('\n');
    expect(lines).toMatch(/vhost-task vs vhost-kthread/);
    expect(lines).toMatch(/\* worker cgroup after the move/);
  }, 60_000);

  it('two releases: the same design at 6.1 (a kthread) and 6.12 (a vhost_task)', async () => {
    const r = await runCompare({ name: 'charge', designs: ['vhost-task'], releases: ['6.1', '6.12'] }, opts('charge', { writes: 4 }));
    expect(r.runs.map((x) => x.release)).toEqual(['6.1', '6.12']);
    expect(r.runs.map((x) => x.outcome['worker flags'])).toEqual(['PF_KTHREAD', 'PF_USER_WORKER']);
  }, 60_000);

  it('kwq compare loop-oom --json: the kworker charges the backing shmem to root, per-cgroup to test.slice', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await main(['compare', 'loop-oom', '--json'])).toBe(0);
      const out = JSON.parse(log.mock.calls.map((c) => c.join(' ')).join('\n')) as { runs: { design: string; charged: { cgroup: string; memoryBytes: number }[] }[] };
      const mem = (d: string, cg: string) => out.runs.find((x) => x.design === d)!.charged.find((c) => c.cgroup === cg)!.memoryBytes;
      expect(mem('kworker', '/test.slice')).toBe(0);
      expect(mem('kworker', '/ (own)')).toBeGreaterThan(0);
      expect(mem('per-cgroup', '/test.slice')).toBeGreaterThan(0);
    } finally {
      log.mockRestore();
    }
  }, 60_000);
});

/**
 * cpu.weight, cpu.weight.nice and cpu.idle in the sim runtime (src/kernel/cgroup/cpu-weight.ts):
 * sibling cgroups share contended CPUs by their weights, hierarchically, as CFS/EEVDF do
 * over the long run (kernel/sched/fair.c: calc_delta_fair, pick_next_entity,
 * place_entity); the FIFO run queue stays while every weight is the default.
 */
import { describe, expect, test } from 'vitest';
import { Kernel, type Task } from 'kwq';
import type { SimThread } from '../../src/runtime/sim-thread.js';
import type { SimRuntime } from '../../src/runtime/sim.js';
import { burner } from './burner.js';

const CG = '/sys/fs/cgroup';


/** `n` burners in a process spawned into `cgroup` */
function group(k: Kernel, cgroup: string, n: number): () => number {
  const p = k.spawn({ comm: 'busy', cgroup });
  const bs = Array.from({ length: n }, () => burner(k, p));
  return () => bs.reduce((s, b) => s + b.usedNs(), 0);
}

function usageUs(k: Kernel, path: string): number {
  const s = k.readFile(k.init, `${CG}${path}/cpu.stat`) as string;
  return Number(/usage_usec (\d+)/.exec(s)![1]);
}

async function boot(ncpus = 2): Promise<Kernel> {
  return Kernel.boot({ release: '6.12', cgroup: 'v2', runtime: 'sim', ncpus });
}

describe('weights share contended CPUs between siblings', () => {
  test('cpu.weight 100 against 300: a quarter and three quarters of two CPUs', async () => {
    const k = await boot();
    k.mkdir(k.init, `${CG}/a`);
    k.mkdir(k.init, `${CG}/b`);
    expect(k.writeFile(k.init, `${CG}/a/cpu.weight`, '100')).toBe(3);
    expect(k.writeFile(k.init, `${CG}/b/cpu.weight`, '300')).toBe(3);
    const a = group(k, '/a', 3);
    const b = group(k, '/b', 3);
    k.advance(2000);
    expect(a() / 4e9).toBeCloseTo(0.25, 2);
    expect(b() / 4e9).toBeCloseTo(0.75, 2);
    // cpu.stat is charged by the same slices
    expect(usageUs(k, '/a') / usageUs(k, '/b')).toBeCloseTo(1 / 3, 2);
  });

  test('the share does not depend on how many threads a group runs', async () => {
    const k = await boot();
    k.writeFile(k.init, `${CG}/cgroup.subtree_control`, '+cpu');
    k.mkdir(k.init, `${CG}/a`);
    k.mkdir(k.init, `${CG}/b`);
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '200');
    k.writeFile(k.init, `${CG}/b/cpu.weight`, '200');
    const a = group(k, '/a', 2);
    const b = group(k, '/b', 8);
    k.advance(1000);
    expect(a() / 2e9).toBeCloseTo(0.5, 2);
    expect(b() / 2e9).toBeCloseTo(0.5, 2);
  });

  test('threads of one group share its part equally', async () => {
    const k = await boot(1);
    k.mkdir(k.init, `${CG}/a`);
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '300');
    const p = k.spawn({ comm: 'busy', cgroup: '/a' });
    const bs = [burner(k, p), burner(k, p), burner(k, p)];
    k.advance(900);
    for (const b of bs) expect(b.usedNs() / 9e8).toBeCloseTo(1 / 3, 2);
  });

  test('hierarchy: a group\'s share is split among its children by their weights', async () => {
    const k = await boot();
    k.mkdir(k.init, `${CG}/p`);
    k.mkdir(k.init, `${CG}/q`);
    k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+cpu');
    k.mkdir(k.init, `${CG}/p/c1`);
    k.mkdir(k.init, `${CG}/p/c2`);
    k.writeFile(k.init, `${CG}/p/c1/cpu.weight`, '100');
    k.writeFile(k.init, `${CG}/p/c2/cpu.weight`, '300');
    const c1 = group(k, '/p/c1', 2);
    const c2 = group(k, '/p/c2', 2);
    const q = group(k, '/q', 2);
    k.advance(2000);
    // p and q: 100 each, half the CPUs each; inside p 1:3
    expect(q() / 4e9).toBeCloseTo(0.5, 2);
    expect(c1() / 4e9).toBeCloseTo(0.125, 2);
    expect(c2() / 4e9).toBeCloseTo(0.375, 2);
    expect(usageUs(k, '/p')).toBeCloseTo(usageUs(k, '/q'), -4);
  });

  test('cpu.weight.nice -5 against 5: 3121 to 335', async () => {
    const k = await boot();
    k.mkdir(k.init, `${CG}/a`);
    k.mkdir(k.init, `${CG}/b`);
    k.writeFile(k.init, `${CG}/a/cpu.weight.nice`, '-5');
    k.writeFile(k.init, `${CG}/b/cpu.weight.nice`, '5');
    const a = group(k, '/a', 2);
    const b = group(k, '/b', 2);
    k.advance(2000);
    expect(a() / (a() + b())).toBeCloseTo(3121 / (3121 + 335), 2);
  });

  test('cpu.idle 1 has the SCHED_IDLE weight (3) against a default sibling', async () => {
    const k = await boot();
    k.mkdir(k.init, `${CG}/idle`);
    k.mkdir(k.init, `${CG}/normal`);
    expect(k.writeFile(k.init, `${CG}/idle/cpu.idle`, '1')).toBe(1);
    const i = group(k, '/idle', 2);
    const n = group(k, '/normal', 2);
    k.advance(5000);
    expect(i() / (i() + n())).toBeCloseTo(3 / 1027, 3);
    // an idle group is not starved: it still runs
    expect(i()).toBeGreaterThan(0);
  });

  test('a group alone uses every CPU whatever its weight (work-conserving)', async () => {
    const k = await boot();
    k.mkdir(k.init, `${CG}/a`);
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '1');
    const a = group(k, '/a', 2);
    k.advance(500);
    // both CPUs all along (plus the slices that start as advance() reaches 500 ms)
    expect(a()).toBe(1e9 + 2e6);
  });
});

describe('placement: a sleeper banks no credit', () => {
  test('a group that wakes after a long sleep gets its share, not the CPU', async () => {
    const k = await boot(1);
    k.mkdir(k.init, `${CG}/a`);
    k.mkdir(k.init, `${CG}/b`);
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '100');
    k.writeFile(k.init, `${CG}/b/cpu.weight`, '100');
    k.mkdir(k.init, `${CG}/other`);
    k.writeFile(k.init, `${CG}/other/cpu.weight`, '50'); // the fair class is installed
    const b = group(k, '/b', 1);
    k.advance(1000);
    expect(b()).toBe(1e9 + 1e6);
    const a = group(k, '/a', 1);
    const b0 = b();
    k.advance(100);
    // place_entity: a starts at b's min_vruntime, so the next 100 ms are shared 1:1
    expect(a() / 1e8).toBeCloseTo(0.5, 1);
    expect((b() - b0) / 1e8).toBeCloseTo(0.5, 1);
  });
});

describe('the FIFO fast path', () => {
  test('the fair class is installed while a weight differs from the default, dropped after', async () => {
    const k = await boot();
    const rt = k.rt as SimRuntime;
    k.mkdir(k.init, `${CG}/a`);
    const a = group(k, '/a', 1);
    k.advance(1);
    expect(rt.fair).toBeNull();
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '50');
    k.advance(1);
    expect(rt.fair).not.toBeNull();
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '100');
    k.advance(1);
    expect(rt.fair).toBeNull();
    // the queued thread was handed back: it still runs
    k.advance(10);
    expect(a()).toBeGreaterThanOrEqual(13e6); // one thread: one CPU all along
    k.writeFile(k.init, `${CG}/a/cpu.idle`, '1');
    k.advance(1);
    expect(rt.fair).not.toBeNull();
  });

  test('with default weights threads are served first come, first served (a group with more threads gets more)', async () => {
    const k = await boot(1);
    k.mkdir(k.init, `${CG}/a`);
    k.mkdir(k.init, `${CG}/b`);
    const a = group(k, '/a', 1);
    const b = group(k, '/b', 3);
    k.advance(1000);
    expect(a() / 1e9).toBeCloseTo(0.25, 2);
    expect(b() / 1e9).toBeCloseTo(0.75, 2);
  });
});

describe('with CFS bandwidth and moves', () => {
  test('a throttled group is off the queue: its sibling takes the CPU, the quota still holds', async () => {
    const k = await boot(1);
    k.mkdir(k.init, `${CG}/a`);
    k.mkdir(k.init, `${CG}/b`);
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '900');
    k.writeFile(k.init, `${CG}/b/cpu.weight`, '100');
    k.writeFile(k.init, `${CG}/a/cpu.max`, '20000 100000');
    const a = group(k, '/a', 2);
    const b = group(k, '/b', 2);
    k.advance(1000);
    expect(a() / 1e9).toBeCloseTo(0.2, 2);
    expect(b() / 1e9).toBeCloseTo(0.8, 2);
  });

  test('a user worker runs in its task\'s group: a process that moves takes its threads to the new weight', async () => {
    const k = await boot(1);
    k.mkdir(k.init, `${CG}/a`);
    k.mkdir(k.init, `${CG}/b`);
    k.mkdir(k.init, `${CG}/c`);
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '100');
    k.writeFile(k.init, `${CG}/b/cpu.weight`, '300');
    k.writeFile(k.init, `${CG}/c/cpu.weight`, '100');
    const p = k.spawn({ comm: 'mover', cgroup: '/a' });
    const m = burner(k, p);
    const b = group(k, '/b', 1);
    k.advance(400);
    expect(m.usedNs() / 4e8).toBeCloseTo(0.25, 2);
    expect(k.writeFile(k.init, `${CG}/c/cgroup.procs`, String(p.pid))).toBeGreaterThan(0);
    const m0 = m.usedNs();
    const b0 = b();
    k.advance(400);
    expect((m.usedNs() - m0) / 4e8).toBeCloseTo(0.25, 1);
    expect((b() - b0) / 4e8).toBeCloseTo(0.75, 1);
    expect(usageUs(k, '/c')).toBeGreaterThan(0);
  });

  test('a thread that sleeps leaves the queue; woken, it runs again', async () => {
    const k = await boot(1);
    k.mkdir(k.init, `${CG}/a`);
    k.writeFile(k.init, `${CG}/a/cpu.weight`, '500');
    const p = k.spawn({ comm: 'busy', cgroup: '/a' });
    let stop = false;
    let used = 0;
    const t = k.userWorkerCreate(p, 'sleepy', { run(th: SimThread, budget: number) { if (stop) return false; th.costNs += budget; used += budget; return true; } }, null) as Task;
    k.wakeUpProcess(t);
    const b = burner(k, p);
    k.advance(10);
    stop = true;
    k.advance(1);
    const u = used;
    const b0 = b.usedNs();
    k.advance(100);
    expect(used).toBe(u);
    expect(b.usedNs() - b0).toBe(100e6);
    stop = false;
    k.wakeUpProcess(t);
    k.advance(100);
    expect((used - u) / 1e8).toBeCloseTo(0.5, 1);
  });
});

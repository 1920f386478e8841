/**
 * CFS bandwidth in the sim runtime (kernel/sched/fair.c: __account_cfs_rq_runtime,
 * throttle_cfs_rq, do_sched_cfs_period_timer, __refill_cfs_bandwidth_runtime): cpu.max
 * caps every task of the cgroup per period, a vhost worker included, and a child's
 * runtime is within its parent's; cpu.stat counts periods, throttled periods, the
 * throttled time and bursts.
 */
import { describe, expect, test } from 'vitest';
import { Kernel, O_RDWR, VHOST_SET_OWNER, type Task } from 'kwq';
import '../../src/drivers/vhost/index.js';
import { VhostDev } from '../../src/drivers/vhost/dev.js';
import { vhostWorkerQueue } from '../../src/drivers/vhost/worker.js';
import { burner } from './burner.js';

const CG = '/sys/fs/cgroup';


function stat(k: Kernel, path: string, file = 'cpu.stat'): Record<string, number> {
  const s = k.readFile(k.init, `${path}/${file}`);
  if (typeof s === 'number') throw new Error(`${path}/${file}: ${s}`);
  return Object.fromEntries(s.trim().split('\n').map((l) => { const [a, b] = l.split(' '); return [a!, Number(b)]; }));
}

describe('cpu.max throttles a busy task', () => {
  test.each([['25000 100000', 0.25], ['50000 100000', 0.5], ['10000 20000', 0.5], ['150000 100000', 1]])('%s: share %d of a CPU', async (max, share) => {
    const k = await Kernel.boot({ release: '6.12', cgroup: 'v2', runtime: 'sim', ncpus: 2 });
    const p = k.spawn({ comm: 'busy', cgroup: '/vm' });
    expect(k.writeFile(k.init, `${CG}/vm/cpu.max`, max)).toBeGreaterThan(0);
    const b = burner(k, p);
    k.advance(2000);
    // one thread uses at most one CPU, so a quota of 1.5 CPUs does not throttle it
    expect(b.usedNs() / 2e9).toBeCloseTo(share, 2);
    const s = stat(k, `${CG}/vm`);
    const period = Number(max.split(' ')[1]);
    expect(s.nr_periods).toBe(Math.round(2e6 / period));
    if (share < 1) {
      expect(s.nr_throttled).toBe(s.nr_periods);
      // throttled the rest of every period
      expect(s.throttled_usec).toBeCloseTo(2e6 * (1 - share), -4);
      expect(stat(k, `${CG}/vm`, 'cpu.stat.local').throttled_usec).toBe(s.throttled_usec);
      expect(s.usage_usec).toBeCloseTo(2e6 * share, -4);
    } else {
      expect(s.nr_throttled).toBe(0);
      expect(s.throttled_usec).toBe(0);
    }
  });

  test('cpu.pressure counts the throttled time as some and full stall', async () => {
    const k = await Kernel.boot({ release: '6.1', cgroup: 'v2', runtime: 'sim' });
    const p = k.spawn({ comm: 'busy', cgroup: '/vm' });
    k.writeFile(k.init, `${CG}/vm/cpu.max`, '25000 100000');
    burner(k, p);
    k.advance(1000);
    const psi = k.readFile(k.init, `${CG}/vm/cpu.pressure`) as string;
    const thr = stat(k, `${CG}/vm`).throttled_usec;
    expect(thr).toBeGreaterThan(700_000);
    expect(psi).toBe(`some avg10=0.00 avg60=0.00 avg300=0.00 total=${thr}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=${thr}\n`);
  });

  test('max lifts the limit at once (tg_set_cfs_bandwidth unthrottles)', async () => {
    const k = await Kernel.boot({ release: '6.12', cgroup: 'v2', runtime: 'sim' });
    const p = k.spawn({ comm: 'busy', cgroup: '/vm' });
    k.writeFile(k.init, `${CG}/vm/cpu.max`, '25000 100000');
    const b = burner(k, p);
    k.advance(50);
    expect(b.usedNs()).toBe(25e6);
    k.writeFile(k.init, `${CG}/vm/cpu.max`, 'max');
    k.advance(100);
    // 100 ms unthrottled, plus the slice that starts as advance() reaches 150 ms
    expect(b.usedNs()).toBe(126e6);
  });

  test('an idle group stops its period timer after an idle period (runUntilIdle returns)', async () => {
    const k = await Kernel.boot({ release: '6.12', cgroup: 'v2', runtime: 'sim' });
    k.mkdir(k.init, `${CG}/idle`);
    k.writeFile(k.init, `${CG}/idle/cpu.max`, '25000 100000');
    k.runUntilIdle();
    // the first expiry marks the period idle, the second stops the timer: both count
    expect(stat(k, `${CG}/idle`).nr_periods).toBe(2);
  });

  test('burst: unused quota carries over up to cpu.max.burst, and the periods that use it count', async () => {
    const k = await Kernel.boot({ release: '6.12', cgroup: 'v2', runtime: 'sim' });
    const p = k.spawn({ comm: 'busy', cgroup: '/vm' });
    k.writeFile(k.init, `${CG}/vm/cpu.max`, '20000 100000');
    k.writeFile(k.init, `${CG}/vm/cpu.max.burst`, '20000');
    // three idle periods fill the pool to quota + burst (40 ms)
    k.advance(300);
    const b = burner(k, p);
    k.advance(99);
    expect(b.usedNs()).toBe(40e6);
    // the refill at 400 ms sees 20 ms used past the quota
    k.advance(1);
    const s = stat(k, `${CG}/vm`);
    expect(s.nr_bursts).toBe(1);
    expect(s.burst_usec).toBe(20000);
  });
});

describe('hierarchy: a child runs within its parent', () => {
  test('two busy children of a 50% parent share it; the child with 10% is held to 10%', async () => {
    const k = await Kernel.boot({ release: '6.12', cgroup: 'v2', runtime: 'sim', ncpus: 2 });
    k.mkdir(k.init, `${CG}/vm`);
    k.writeFile(k.init, `${CG}/cgroup.subtree_control`, '+cpu');
    k.writeFile(k.init, `${CG}/vm/cgroup.subtree_control`, '+cpu');
    const a = k.spawn({ comm: 'a', cgroup: '/vm/a' });
    const c = k.spawn({ comm: 'c', cgroup: '/vm/c' });
    k.writeFile(k.init, `${CG}/vm/cpu.max`, '50000 100000');
    k.writeFile(k.init, `${CG}/vm/c/cpu.max`, '10000 100000');
    const ba = burner(k, a);
    const bc = burner(k, c);
    k.advance(1000);
    expect((ba.usedNs() + bc.usedNs()) / 1e9).toBeCloseTo(0.5, 2);
    expect(bc.usedNs() / 1e9).toBeCloseTo(0.1, 2);
    // cpu.stat.local: c was throttled by itself or by vm; vm's own throttled time is in both
    const vmThr = stat(k, `${CG}/vm`).throttled_usec;
    expect(stat(k, `${CG}/vm/a`, 'cpu.stat.local').throttled_usec).toBe(vmThr);
    expect(stat(k, `${CG}/vm/c`, 'cpu.stat.local').throttled_usec).toBeGreaterThan(vmThr);
  });
});

async function vhostVm(release: '6.1' | '6.12'): Promise<{ k: Kernel; qemu: Task; dev: VhostDev; runs: () => number }> {
  const k = await Kernel.boot({ release, cgroup: 'v2', runtime: 'sim', ncpus: 2 });
  k.mkdir(k.init, `${CG}/machine.slice`);
  k.writeFile(k.init, `${CG}/cgroup.subtree_control`, '+cpu');
  k.writeFile(k.init, `${CG}/machine.slice/cgroup.subtree_control`, '+cpu');
  const qemu = k.spawn({ comm: 'qemu-system-x86', cgroup: '/machine.slice/vm1' });
  const fd = k.open(qemu, '/dev/vhost-net', O_RDWR);
  expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
  const f = k.fileOf(qemu, fd);
  if (f === null || !(f.privateData instanceof VhostDev)) throw new Error('not a vhost fd');
  const dev = f.privateData;
  let n = 0;
  // a work that queues itself again: the worker always has traffic to drain
  const w = dev.ve.workAlloc(() => { n++; vhostWorkerQueue(dev.workers[0]!, w as never); }, null);
  if (typeof w === 'number') throw new Error('alloc');
  vhostWorkerQueue(dev.workers[0]!, w);
  return { k, qemu, dev, runs: () => n };
}

const VM1 = `${CG}/machine.slice/vm1`;

describe('the vhost worker is throttled with its VM', () => {
  test.each(['6.1', '6.12'] as const)('%s: the VM at 25%: the worker drains a quarter of what it drains unlimited', async (release) => {
    const free = await vhostVm(release);
    free.k.advance(1000);
    const lim = await vhostVm(release);
    lim.k.writeFile(lim.k.init, `${VM1}/cpu.max`, '25000 100000');
    lim.k.advance(1000);
    expect(lim.runs() / free.runs()).toBeCloseTo(0.25, 2);
    expect(stat(lim.k, VM1).nr_throttled).toBe(10);
  });

  test.each([['6.1', 1, 0.25], ['6.12', 0, 0.1]] as const)(
    '%s: QEMU moves into vm1/emulator at 10%: the worker stays in vm1 (%i) or follows; it runs at %d',
    async (release, staysInVm1, share) => {
      const free = await vhostVm(release);
      free.k.advance(1000);
      const { k, qemu, runs } = await vhostVm(release);
      k.writeFile(k.init, `${VM1}/cpu.max`, '25000 100000');
      k.mkdir(k.init, `${VM1}/emulator`);
      expect(k.writeFile(k.init, `${VM1}/emulator/cgroup.procs`, String(qemu.pid))).toBeGreaterThan(0);
      expect(k.writeFile(k.init, `${VM1}/cgroup.subtree_control`, '+cpu')).toBe(staysInVm1 ? -16 : 4);
      k.writeFile(k.init, `${VM1}/emulator/cpu.max`, '10000 100000');
      const worker = k.tasks().find((t) => t.comm === `vhost-${qemu.pid}`)!;
      expect(worker.cgroup).toBe(staysInVm1 ? '/machine.slice/vm1' : '/machine.slice/vm1/emulator');
      k.advance(1000);
      expect(runs() / free.runs()).toBeCloseTo(share, 1);
      // who throttles: vm1 (6.1's worker left there) or vm1/emulator (6.12's, with QEMU)
      expect(stat(k, staysInVm1 ? VM1 : `${VM1}/emulator`).nr_throttled).toBeGreaterThan(0);
    },
  );
});

/**
 * The cgroup v2 freezer and cgroup.kill (kernel/cgroup/freezer.c, cgroup.c
 * cgroup_freeze_write / cgroup_kill_write), as the oracle's cgroup-freeze and
 * cgroup-kill scripts showed Linux 6.1 and 6.12 answer; and what a frozen vhost worker
 * does with queued work (nothing until the thaw).
 */
import { describe, expect, test } from 'vitest';
import { EINVAL, EOPNOTSUPP, ERANGE, Kernel, O_RDWR, SIGKILL, VHOST_SET_OWNER, type Task } from 'kwq';
import '../../src/drivers/vhost/index.js';
import { VhostDev } from '../../src/drivers/vhost/dev.js';
import { vhostWorkerQueue } from '../../src/drivers/vhost/worker.js';
import { taskFrozen } from '../../src/kernel/cgroup/freezer.js';

const CG = '/sys/fs/cgroup';
const VM = `${CG}/machine.slice/vm1`;

async function vm(release: '6.1' | '6.12'): Promise<{ k: Kernel; qemu: Task; fd: number; dev: VhostDev }> {
  const k = await Kernel.boot({ release, cgroup: 'v2', runtime: 'sim' });
  const qemu = k.spawn({ comm: 'qemu-system-x86', cgroup: '/machine.slice/vm1' });
  const fd = k.open(qemu, '/dev/vhost-net', O_RDWR);
  expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
  const f = k.fileOf(qemu, fd);
  if (f === null || !(f.privateData instanceof VhostDev)) throw new Error('not a vhost fd');
  return { k, qemu, fd, dev: f.privateData };
}

const events = (k: Kernel, path: string): string => k.readFile(k.init, `${path}/cgroup.events`) as string;

describe('cgroup.freeze parsing (kstrtoint(strstrip(buf), 0), then 0..1)', () => {
  test.each([
    ['2', -ERANGE], ['-1', -ERANGE], ['yes', -EINVAL], ['4294967297', -ERANGE], [' 1\n', 3], ['0x0', 3], ['01', 2], ['-+1', -ERANGE],
  ])('%j -> %i', async (text, want) => {
    const k = await Kernel.boot({ cgroup: 'v2' });
    k.mkdir(k.init, `${CG}/f`);
    expect(k.writeFile(k.init, `${CG}/f/cgroup.freeze`, text)).toBe(want);
  });

  test('the root has neither cgroup.freeze nor cgroup.kill', async () => {
    const k = await Kernel.boot({ cgroup: 'v2' });
    expect(k.readdir(k.init, CG)).not.toContain('cgroup.freeze');
    expect(k.readdir(k.init, CG)).not.toContain('cgroup.kill');
  });
});

describe('which tasks freeze: kthreads never (the 6.1 vhost worker), vhost_tasks do (6.12)', () => {
  test('6.1: a cgroup holding a kthread vhost worker never reports frozen 1', async () => {
    const { k } = await vm('6.1');
    expect(k.writeFile(k.init, `${VM}/cgroup.freeze`, '1')).toBe(1);
    expect(k.readFile(k.init, `${VM}/cgroup.freeze`)).toBe('1\n');
    expect(events(k, VM)).toBe('populated 1\nfrozen 0\n');
  });

  test('6.12: the vhost_task freezes with its owner; the parent is not freezing', async () => {
    const { k, qemu } = await vm('6.12');
    expect(k.writeFile(k.init, `${VM}/cgroup.freeze`, '1')).toBe(1);
    expect(events(k, VM)).toBe('populated 1\nfrozen 1\n');
    expect(events(k, `${CG}/machine.slice`)).toBe('populated 1\nfrozen 0\n');
    expect(taskFrozen(qemu)).toBe(true);
    expect(k.writeFile(k.init, `${VM}/cgroup.freeze`, '0')).toBe(1);
    expect(events(k, VM)).toBe('populated 1\nfrozen 0\n');
    expect(taskFrozen(qemu)).toBe(false);
  });

  test('a new child inherits e_freeze (frozen, cgroup.freeze 0); an ancestor freezes a subtree', async () => {
    const { k } = await vm('6.12');
    k.writeFile(k.init, `${VM}/cgroup.freeze`, '1');
    expect(k.mkdir(k.init, `${VM}/sub`)).toBe(0);
    expect(k.readFile(k.init, `${VM}/sub/cgroup.freeze`)).toBe('0\n');
    expect(events(k, `${VM}/sub`)).toBe('populated 0\nfrozen 1\n');
    k.writeFile(k.init, `${VM}/sub/cgroup.freeze`, '0');
    expect(events(k, `${VM}/sub`)).toBe('populated 0\nfrozen 1\n');
    expect(k.rmdir(k.init, `${VM}/sub`)).toBe(0);
    k.writeFile(k.init, `${VM}/cgroup.freeze`, '0');
    k.writeFile(k.init, `${CG}/machine.slice/cgroup.freeze`, '1');
    expect(events(k, `${CG}/machine.slice`)).toBe('populated 1\nfrozen 1\n');
    expect(events(k, VM)).toBe('populated 1\nfrozen 1\n');
    expect(k.readFile(k.init, `${VM}/cgroup.freeze`)).toBe('0\n');
  });

  test('a frozen vhost_task drains nothing until the thaw; then it runs what was queued', async () => {
    const { k, dev } = await vm('6.12');
    let runs = 0;
    const w = dev.ve.workAlloc(() => { runs++; }, null);
    if (typeof w === 'number') throw new Error('alloc');
    k.writeFile(k.init, `${VM}/cgroup.freeze`, '1');
    vhostWorkerQueue(dev.workers[0]!, w);
    k.advance(100);
    expect(runs).toBe(0);
    expect(dev.ve.engine.works.queued(w.ref)).toBe(true);
    k.writeFile(k.init, `${VM}/cgroup.freeze`, '0');
    k.advance(1);
    expect(runs).toBe(1);
  });

  test('6.1: the kthread worker keeps draining in a freezing cgroup', async () => {
    const { k, dev } = await vm('6.1');
    let runs = 0;
    const w = dev.ve.workAlloc(() => { runs++; }, null);
    if (typeof w === 'number') throw new Error('alloc');
    k.writeFile(k.init, `${VM}/cgroup.freeze`, '1');
    vhostWorkerQueue(dev.workers[0]!, w);
    k.advance(1);
    expect(runs).toBe(1);
  });
});

describe('cgroup.kill', () => {
  test.each([['0', -ERANGE], ['2', -ERANGE], ['kill', -EINVAL], ['', 0]])('%j -> %i', async (text, want) => {
    const k = await Kernel.boot({ cgroup: 'v2' });
    k.mkdir(k.init, `${CG}/x`);
    expect(k.writeFile(k.init, `${CG}/x/cgroup.kill`, text)).toBe(want);
    expect(k.readFile(k.init, `${CG}/x/cgroup.kill`)).toBe(-EINVAL);
  });

  test('-EOPNOTSUPP in a threaded cgroup', async () => {
    const k = await Kernel.boot({ cgroup: 'v2' });
    k.mkdir(k.init, `${CG}/d`);
    k.mkdir(k.init, `${CG}/d/t`);
    expect(k.writeFile(k.init, `${CG}/d/t/cgroup.type`, 'threaded')).toBe(8);
    expect(k.writeFile(k.init, `${CG}/d/t/cgroup.kill`, '1')).toBe(-EOPNOTSUPP);
  });

  test.each(['6.1', '6.12'] as const)('%s: every process of the subtree dies, kthreads skipped; the device is released, rmdir succeeds', async (release) => {
    const { k, qemu } = await vm(release);
    const other = k.spawn({ comm: 'other', cgroup: '/machine.slice/vm2' });
    const worker = k.tasks().find((t) => t.comm === `vhost-${qemu.pid}`)!;
    expect(worker.cgroup).toBe('/machine.slice/vm1');
    expect(k.writeFile(k.init, `${VM}/cgroup.kill`, '1\n')).toBe(2);
    expect(qemu.alive).toBe(false);
    expect(qemu.exitCode).toBe(128 + SIGKILL);
    expect(worker.alive).toBe(false);
    expect(other.alive).toBe(true);
    expect(events(k, VM)).toBe('populated 0\nfrozen 0\n');
    expect(k.rmdir(k.init, VM)).toBe(0);
  });

  test('a frozen cgroup is killed alike', async () => {
    const { k, qemu } = await vm('6.12');
    k.writeFile(k.init, `${VM}/cgroup.freeze`, '1');
    expect(k.writeFile(k.init, `${VM}/cgroup.kill`, '1')).toBe(1);
    expect(qemu.alive).toBe(false);
    expect(events(k, VM)).toBe('populated 0\nfrozen 1\n');
  });
});

describe('cgroup.stat per release (cgroup_stat_nr_subsys, 6.11)', () => {
  test('6.12: nr_subsys_<ss> counts the live csses of the subtree, this cgroup included; dying ones apart', async () => {
    const k = await Kernel.boot({ release: '6.12', cgroup: 'v2' });
    k.mkdir(k.init, `${CG}/s`);
    k.mkdir(k.init, `${CG}/s/t`);
    expect(k.writeFile(k.init, `${CG}/s/cgroup.subtree_control`, '+memory +pids')).toBe(13);
    const stat = k.readFile(k.init, `${CG}/s/cgroup.stat`) as string;
    expect(stat.split('\n').slice(0, 11)).toEqual([
      'nr_descendants 1', 'nr_subsys_cpuset 0', 'nr_subsys_cpu 1', 'nr_subsys_io 1', 'nr_subsys_memory 2',
      'nr_subsys_perf_event 2', 'nr_subsys_hugetlb 0', 'nr_subsys_pids 2', 'nr_subsys_rdma 0', 'nr_subsys_misc 0',
      'nr_dying_descendants 0',
    ]);
    const k61 = await Kernel.boot({ release: '6.1', cgroup: 'v2' });
    k61.mkdir(k61.init, `${CG}/s`);
    expect(k61.readFile(k61.init, `${CG}/s/cgroup.stat`)).toBe('nr_descendants 0\nnr_dying_descendants 0\n');
  });
});

// Kernel.chargeCpu caches a task's effective cpu cgroup's stats (Task.acct, issue 10), and
// the sim runtime's slice accounting on the thread (SimThread.acct): the charge
// must still land where cgroupOf(task, 'cpu') says after anything that moves it: a
// migration (cgroup.procs), and a subtree_control write that enables or disables cpu
// above the task (its effective css moves to the nearest ancestor with cpu).
import { describe, expect, it } from 'vitest';
import { Kernel, O_RDWR, VHOST_SET_OWNER } from '../../src/index.js';
import type { VhostDev } from '../../src/drivers/vhost/dev.js';
import { vhostWorkerQueue, type VhostWorker } from '../../src/drivers/vhost/worker.js';

const CG = '/sys/fs/cgroup';

describe('chargeCpu after the task\'s cpu cgroup changes', () => {
  it('follows migrations and subtree_control writes', async () => {
    const k = await Kernel.boot({ seed: 1 });
    try {
      const t = k.spawn({ comm: 'w', cgroup: '/p/a' });
      const at = (path: string) => k.cgroupByPath(path, 'cpu')!;
      const charge = (): void => k.chargeCpu(t, 1000, true);
      const expectCharged = (): void => {
        const before = new Map(['/', '/p', '/p/a', '/p/b'].filter((p) => k.cgroupByPath(p, 'cpu')).map((p) => [p, at(p).cpu.userNs]));
        const where = k.cgroupOf(t, 'cpu');
        charge();
        for (const [p, ns] of before) expect(at(p).cpu.userNs - ns, p).toBe(at(p) === where ? 1000 : 0);
      };
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+cpu')).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'cpu')).toBe(at('/p/a'));
      expectCharged();
      expectCharged(); // cached
      expect(k.mkdir(k.init, `${CG}/p/b`)).toBe(0);
      expect(k.writeFile(k.init, `${CG}/p/b/cgroup.procs`, String(t.pid))).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'cpu')).toBe(at('/p/b'));
      expectCharged();
      // cpu off below /p: the task's effective cpu css is /p's now
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '-cpu')).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'cpu')).toBe(at('/p'));
      expectCharged();
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+cpu')).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'cpu')).toBe(at('/p/b'));
      expectCharged();
    } finally {
      k.shutdown();
    }
  });

  it('a worker thread\'s slices follow the same moves (the thread\'s cache)', async () => {
    const k = await Kernel.boot({ seed: 1 });
    try {
      const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/p/a' });
      const at = (path: string) => k.cgroupByPath(path, 'cpu')!;
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+cpu')).toBeGreaterThan(0);
      const fd = k.open(qemu, '/dev/vhost-net', O_RDWR);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      const dev = k.fileOf(qemu, fd)!.privateData as VhostDev;
      const worker = dev.workers[0] as VhostWorker;
      let runs = 0;
      const work = dev.ve.workAlloc(() => { runs++; }, null);
      if (typeof work === 'number') throw new Error(`workAlloc: ${work}`);
      // one slice of the worker's thread; the cgroup whose system time grew
      const slice = (): string[] => {
        const paths = ['/', '/p', '/p/a', '/p/b'].filter((p) => k.cgroupByPath(p, 'cpu'));
        const before = paths.map((p) => at(p).cpu.systemNs);
        vhostWorkerQueue(worker, work);
        k.runUntilIdle();
        return paths.filter((p, i) => at(p).cpu.systemNs > before[i]!);
      };
      expect(slice()).toEqual(['/p/a']);
      expect(slice()).toEqual(['/p/a']); // cached
      expect(k.mkdir(k.init, `${CG}/p/b`)).toBe(0);
      expect(k.writeFile(k.init, `${CG}/p/b/cgroup.procs`, String(qemu.pid))).toBeGreaterThan(0);
      expect(k.cgroupOf(worker.task!, 'cpu')).toBe(at('/p/b'));
      expect(slice()).toEqual(['/p/b']);
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '-cpu')).toBeGreaterThan(0);
      expect(slice()).toEqual(['/p']);
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+cpu')).toBeGreaterThan(0);
      expect(slice()).toEqual(['/p/b']);
      expect(runs).toBe(5);
    } finally {
      k.shutdown();
    }
  });
});

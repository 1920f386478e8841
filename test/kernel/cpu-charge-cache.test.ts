// Kernel.chargeCpu caches a task's effective cpu cgroup (Task.cpuCg, issue 10): the
// charge must still land where cgroupOf(task, 'cpu') says after anything that moves it:
// a migration (cgroup.procs), and a subtree_control write that enables or disables cpu
// above the task (its effective css moves to the nearest ancestor with cpu).
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/index.js';

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
});

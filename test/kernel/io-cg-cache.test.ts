// blkcgOf caches a task's effective io cgroup (Task.ioCg, issue 10), as chargeCpu caches
// the cpu one: a bio must still be counted where cgroupOf(task, 'io') says after a
// migration and after subtree_control writes that move the effective io css.
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/index.js';
import { blkcgOf, kthreadAssociateBlkcg } from '../../src/kernel/blk-cgroup.js';

const CG = '/sys/fs/cgroup';

describe('blkcgOf after the task\'s io cgroup changes', () => {
  it('follows migrations, subtree_control writes and kthread_associate_blkcg', async () => {
    const k = await Kernel.boot({ seed: 1 });
    try {
      const t = k.spawn({ comm: 'fio', cgroup: '/p/a' });
      const at = (path: string) => k.cgroupByPath(path, 'io')!;
      const check = (): void => {
        expect(blkcgOf(k, t)).toBe(k.cgroupOf(t, 'io'));
        expect(blkcgOf(k, t)).toBe(k.cgroupOf(t, 'io')); // cached
      };
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+io')).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'io')).toBe(at('/p/a'));
      check();
      expect(k.mkdir(k.init, `${CG}/p/b`)).toBe(0);
      expect(k.writeFile(k.init, `${CG}/p/b/cgroup.procs`, String(t.pid))).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'io')).toBe(at('/p/b'));
      check();
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '-io')).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'io')).toBe(at('/p'));
      check();
      expect(k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+io')).toBeGreaterThan(0);
      expect(k.cgroupOf(t, 'io')).toBe(at('/p/b'));
      check();
      kthreadAssociateBlkcg(t, at('/p'));
      expect(blkcgOf(k, t)).toBe(at('/p'));
      kthreadAssociateBlkcg(t, null);
      check();
    } finally {
      k.shutdown();
    }
  });
});

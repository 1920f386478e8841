import { describe, expect, it } from 'vitest';
import { scenario, type VmFreezeRun } from '../../scenarios/vm-freeze.js';

describe('scenario vm-freeze', () => {
  it('6.1\'s kthread worker runs while the VM is frozen and the cgroup never reports frozen; 6.12\'s worker freezes', async () => {
    const r = await scenario.run({ ms: 50, iodepth: 32 });
    const [k61, k612] = (r.data as { runs: VmFreezeRun[] }).runs;
    expect(k61!.workerIsKthread).toBe(true);
    expect(k612!.workerIsKthread).toBe(false);
    expect(k61!.frozenWhileFrozen).toBe(0);
    expect(k612!.frozenWhileFrozen).toBe(1);
    expect(k61!.frozenAfterThaw).toBe(0);
    expect(k612!.frozenAfterThaw).toBe(0);
    // the kthread drains what was queued; the vhost_task runs nothing until the thaw
    expect(k61!.workerUsFrozen).toBeGreaterThan(0);
    expect(k612!.workerUsFrozen).toBe(0);
    // the frozen vCPU reaps nothing in either; I/O resumes after the thaw
    // the burst queued at the freeze: 6.1's kthread completes all of it while frozen,
    // 6.12's vhost_task none (one completion already under way may land)
    expect(k61!.deviceFrozen).toBeGreaterThanOrEqual(64);
    expect(k612!.deviceFrozen).toBeLessThanOrEqual(1);
    expect(k61!.iosFrozen).toBe(0);
    expect(k612!.iosFrozen).toBe(0);
    expect(k61!.iosAfter).toBeGreaterThan(0);
    expect(k612!.iosAfter).toBeGreaterThan(0);
  });
});

import { describe, expect, it } from 'vitest';
import { EAGAIN, EFAULT, ENOMEM } from 'kwq';
import { scenario } from '../../scenarios/nproc.js';

describe('scenario nproc', () => {
  it('refuses task-mode workers at RLIMIT_NPROC with -ENOMEM and lets kthread-mode workers past it', async () => {
    const r = await scenario.run({ vcpus: 4 });
    const d = r.data as Record<string, any>;
    expect(d.forkAtLimit).toBe(-EAGAIN); // the limit is really reached
    expect(d.taskSetOwner).toBe(-ENOMEM); // copy_process -EAGAIN collapsed to -ENOMEM
    expect(d.taskOwned).toBe(false); // and the device stays ownerless
    expect(d.roomSetOwner).toBe(0);
    expect(d.roomWorkerIsThread).toBe(true);
    expect(d.roomNewWorker).toBe(-ENOMEM);
    expect(d.setFork).toBe(0);
    expect(d.kthreadSetOwner).toBe(0);
    expect(d.kthreadWorker).toMatchObject({ ppid: 2, uid: 0, kthread: true });
    expect(d.uidTasksAfter).toBe(d.uidTasksBefore); // not counted against uid 107
    expect(d.kthreadNewWorker).toBe(-EFAULT);
    expect(d.cmdlineSetOwner).toBe(0);
    expect(d.param).toBe('N');
    expect(r.lines.join('\n')).toMatch(/task mode at the limit: VHOST_SET_OWNER on vhost-net = -ENOMEM/);
    expect(r.lines.join('\n')).toMatch(/VHOST_NEW_WORKER = -EFAULT/);
  });
});

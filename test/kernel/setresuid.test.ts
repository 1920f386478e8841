/** setresuid / setresgid (kernel/sys.c): permission rules, RLIMIT_NPROC accounting, capabilities. */
import { describe, it, expect } from 'vitest';
import { Kernel, EPERM, EAGAIN, CAP_SYS_ADMIN, RLIMIT_NPROC } from 'kwq';

describe('setresuid', () => {
  it('lets an unprivileged task pick only among its real, effective and saved ids', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ uid: 1000, euid: 1001 });
    expect(k.setresuid(t, 5, -1, -1)).toBe(-EPERM);
    expect(k.setresuid(t, 1001, 1000, -1)).toBe(0);
    expect([t.cred.uid, t.cred.euid, t.cred.suid]).toEqual([1001, 1000, 1001]);
    expect(k.setresuid(t, -1, -1, -1)).toBe(0);
  });

  it('moves the RLIMIT_NPROC count to the new real uid, so a fork over the limit fails', async () => {
    const k = await Kernel.boot({ seed: 1 });
    k.spawn({ uid: 1000 });
    const t = k.spawn({ uid: 0, rlimits: { RLIMIT_NPROC: [1, 1] } });
    expect(typeof k.fork(t)).not.toBe('number');
    expect(k.setresuid(t, 1000, 1000, 1000)).toBe(0);
    // user 1000 now has two processes against a limit of 1, and no capability to pass it
    expect(k.getrlimit(t, RLIMIT_NPROC)).toEqual([1, 1]);
    expect(k.fork(t)).toBe(-EAGAIN);
  });

  it('drops root capabilities when no id is 0 any more, and cannot regain them', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ uid: 0 });
    expect(t.cred.capable(CAP_SYS_ADMIN)).toBe(true);
    expect(k.setresuid(t, 0, 1000, 0)).toBe(0);
    expect(t.cred.capable(CAP_SYS_ADMIN)).toBe(false); // euid left 0
    expect(k.setresuid(t, -1, 0, -1)).toBe(0); // euid 0 again: the permitted set comes back
    expect(t.cred.capable(CAP_SYS_ADMIN)).toBe(true);
    expect(k.setresuid(t, 1000, 1000, 1000)).toBe(0);
    expect(k.setresuid(t, 0, 0, 0)).toBe(-EPERM);
    expect(t.cred.capable(CAP_SYS_ADMIN)).toBe(false);
  });

  it('setresgid follows the same rule', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ uid: 1000, gid: 1000 });
    expect(k.setresgid(t, 7, -1, -1)).toBe(-EPERM);
    expect(k.setresgid(t, -1, 1000, -1)).toBe(0);
  });
});

import { describe, expect, test } from 'vitest';
import {
  CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, EAGAIN, EINVAL, EPERM, Kernel, KwqError, O_RDWR,
  PF_KTHREAD, PF_USER_WORKER, RLIMIT_NPROC, SIGKILL, SIGSTOP, SIGCONT, SIGTERM, SIGUSR1, sigmask,
} from 'kwq';
import { copyProcess } from '../../src/kernel/fork.js';
import { ERESTARTNOINTR } from '../../src/kernel/errno.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;

describe('init and kthreadd', () => {
  test('pid 1 and pid 2 with root creds and root cgroups', async () => {
    const k = await Kernel.boot();
    expect(k.init.pid).toBe(1);
    expect(k.kthreadd.pid).toBe(2);
    expect(k.kthreadd.flags & PF_KTHREAD).toBeTruthy();
    expect(k.kthreadd.ppid).toBe(0);
    expect(k.init.uid).toBe(0);
    expect(k.init.cgroup).toBe('/');
    expect(k.task(1)).toBe(k.init);
    expect(k.tasks().map((t) => t.pid).slice(0, 2)).toEqual([1, 2]);
  });
});

describe('copy_process', () => {
  test('comm is truncated to 15 characters (TASK_COMM_LEN)', async () => {
    const k = await Kernel.boot();
    expect(k.spawn({ comm: 'qemu-system-x86_64' }).comm).toBe('qemu-system-x86');
  });

  test('fork copies, threads share: mm, files, signal, cred', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ comm: 'p', uid: 1000 });
    const child = k.fork(p) as InstanceType<typeof import('kwq').Task>;
    expect(child.mm).not.toBe(p.mm);
    expect(child.files).not.toBe(p.files);
    expect(child.signal).not.toBe(p.signal);
    expect(child.ppid).toBe(p.pid);
    expect(child.tgid).toBe(child.pid);
    const th = k.clone(p, THREAD) as typeof child;
    expect(th.mm).toBe(p.mm);
    expect(p.mm!.mmUsers).toBe(2);
    expect(th.files).toBe(p.files);
    expect(th.signal).toBe(p.signal);
    expect(th.cred).toBe(p.cred);
    expect(th.tgid).toBe(p.pid);
    expect(th.ppid).toBe(p.ppid);
    expect(k.clone(p, CLONE_THREAD)).toBe(-EINVAL); // CLONE_THREAD needs CLONE_SIGHAND
    expect(k.clone(p, CLONE_SIGHAND)).toBe(-EINVAL); // CLONE_SIGHAND needs CLONE_VM
  });

  test('RLIMIT_NPROC counts every task of the real uid, threads included, after the increment', async () => {
    const k = await Kernel.boot();
    const q = k.spawn({ comm: 'qemu', uid: 107, rlimits: { RLIMIT_NPROC: [3, 3] } });
    expect(typeof k.clone(q, THREAD)).toBe('object'); // 2 tasks
    expect(typeof k.fork(q)).toBe('object'); // 3 tasks
    expect(k.fork(q)).toBe(-EAGAIN); // 4 > 3
    expect(k.clone(q, THREAD)).toBe(-EAGAIN);
    // a rejected creation changes nothing
    expect(k.tasks().filter((t) => t.uid === 107)).toHaveLength(3);
    // another uid is not affected; root is exempt
    const other = k.spawn({ uid: 108, rlimits: { RLIMIT_NPROC: [1, 1] } });
    expect(k.fork(other)).toBe(-EAGAIN);
    const r = k.spawn({ uid: 0, rlimits: { RLIMIT_NPROC: [1, 1] } });
    expect(typeof k.fork(r)).toBe('object');
    // CAP_SYS_RESOURCE exempts too
    const c = k.spawn({ uid: 109, caps: ['CAP_SYS_RESOURCE'], rlimits: { RLIMIT_NPROC: [1, 1] } });
    expect(typeof k.fork(c)).toBe('object');
    // exits give the count back
    const qt = k.tasks().find((t) => t.uid === 107 && t !== q && t.isGroupLeader)!;
    k.exit(qt, 0);
    expect(typeof k.fork(q)).toBe('object');
  });

  test('a user worker (vhost_task) is counted against the owner and fails with -EAGAIN', async () => {
    const k = await Kernel.boot();
    const q = k.spawn({ comm: 'qemu', uid: 107, rlimits: { RLIMIT_NPROC: [2, 2] } });
    const w = k.userWorkerCreate(q, `vhost-${q.pid}`, { run: () => false }, null);
    if (typeof w === 'number') throw new Error(String(w));
    expect(w.flags & PF_USER_WORKER).toBeTruthy();
    expect(w.tgid).toBe(q.pid);
    expect(w.mm).toBe(q.mm);
    expect(w.files).toBeNull();
    expect(w.blocked).toBe(~(sigmask(SIGKILL) | sigmask(SIGSTOP)) >>> 0);
    expect(k.userWorkerCreate(q, 'vhost-x', { run: () => false }, null)).toBe(-EAGAIN);
    // kthreads are children of kthreadd: the owner's limit does not apply
    const kt = k.kthreadCreate(`vhost-${q.pid}`, { run: () => false });
    if (typeof kt === 'number') throw new Error();
    expect(kt.ppid).toBe(2);
    expect(kt.uid).toBe(0);
    expect(kt.mm).toBeNull();
    expect(kt.cgroup).toBe('/');
  });

  test('a caught signal pending in the creator: copy_process -ERESTARTNOINTR, fork restarts', async () => {
    const k = await Kernel.boot();
    const q = k.spawn({ comm: 'qemu', uid: 107 });
    expect(k.sigaction(q, SIGUSR1, 'catch')).toBe(0);
    expect(k.kill(q, SIGUSR1)).toBe(0);
    expect(copyProcess(k, q, { flags: 0 })).toBe(-ERESTARTNOINTR);
    expect(q.alive).toBe(true);
    // user space never sees it: fork handles the signal and restarts
    expect(typeof k.fork(q)).toBe('object');
    expect(q.signal.sharedPending).toBe(0);
  });
});

describe('exit and signals', () => {
  test('group leader exit kills every thread, closes fds, gives back pids', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ comm: 'p', cgroup: '/a' });
    const t1 = k.clone(p, THREAD) as typeof p;
    const t2 = k.clone(p, THREAD) as typeof p;
    expect(k.readFile(k.init, '/sys/fs/cgroup/a/pids.current')).toBe('3\n');
    expect(k.readFile(k.init, '/sys/fs/cgroup/a/cgroup.procs')).toBe(`${p.pid}\n`);
    expect(k.readFile(k.init, '/sys/fs/cgroup/a/cgroup.threads')).toBe(`${p.pid}\n${t1.pid}\n${t2.pid}\n`);
    k.exit(t1, 0); // a thread exits alone
    expect(t1.alive).toBe(false);
    expect(p.alive && t2.alive).toBe(true);
    k.exit(p, 3);
    expect(t2.alive).toBe(false);
    expect(k.readFile(k.init, '/sys/fs/cgroup/a/pids.current')).toBe('0\n');
    expect(k.task(p.pid)?.alive).toBe(false); // still inspectable, no longer listed
    expect(k.tasks().includes(p)).toBe(false);
  });

  test('SIGKILL runs the user worker kill hook; kthreads ignore signals; a stop stops user workers', async () => {
    const k = await Kernel.boot();
    const q = k.spawn({ comm: 'qemu' });
    const killed: number[] = [];
    let runs = 0;
    const w = k.userWorkerCreate(q, 'vhost', { run: (th) => { runs++; th.costNs += 1000; return false; } }, (t) => killed.push(t.pid)) as typeof q;
    const kt = k.kthreadCreate('kt', { run: () => false }) as typeof q;
    expect(k.kill(kt, SIGKILL)).toBe(0);
    expect(kt.alive).toBe(true);
    expect(k.kill(q, SIGSTOP)).toBe(0);
    k.wakeUpProcess(w);
    k.advance(1);
    expect(runs).toBe(0);
    expect(k.kill(q, SIGCONT)).toBe(0);
    k.advance(1);
    expect(runs).toBe(1);
    expect(k.kill(w, SIGKILL)).toBe(0); // SIGKILL is process-wide
    expect(killed).toEqual([w.pid]);
    expect(q.alive || w.alive).toBe(false);
  });

  test('userWorkerStop wins over a later kill: no kill hook', async () => {
    const k = await Kernel.boot();
    const q = k.spawn({ comm: 'qemu' });
    let hook = 0;
    const w = k.userWorkerCreate(q, 'vhost', { run: () => false }, () => hook++) as typeof q;
    k.userWorkerStop(w);
    k.kill(q, SIGKILL);
    expect(hook).toBe(0);
  });

  test('default SIGTERM kills the process; a blocked one waits until unblocked', async () => {
    const k = await Kernel.boot();
    const p = k.spawn();
    k.sigprocmask(p, 0, sigmask(SIGTERM));
    k.kill(p, SIGTERM);
    expect(p.alive).toBe(true);
    k.sigprocmask(p, 1, sigmask(SIGTERM));
    expect(p.alive).toBe(false);
  });

  test('a call returns past its signal check only while no process has a signal pending (Kernel.nrSharedPending)', async () => {
    const k = await Kernel.boot();
    const p = k.spawn();
    const q = k.spawn();
    expect(k.sigaction(p, SIGUSR1, 'catch')).toBe(0);
    expect(k.sigaction(q, SIGUSR1, 'catch')).toBe(0);
    // blocked in q: pending until q exits
    k.sigprocmask(q, 0, sigmask(SIGUSR1));
    k.kill(p, SIGUSR1);
    k.kill(p, SIGUSR1); // already pending: counted once
    k.kill(q, SIGUSR1);
    expect(k.nrSharedPending).toBe(2);
    // p's next call handles its caught signal; q's stays (blocked)
    expect(k.setrlimit(p, RLIMIT_NPROC, k.getrlimit(p, RLIMIT_NPROC))).toBe(0); // a call: its return handles signals
    expect(p.signal.sharedPending).toBe(0);
    expect(k.setrlimit(q, RLIMIT_NPROC, k.getrlimit(q, RLIMIT_NPROC))).toBe(0);
    expect(q.signal.sharedPending).toBe(sigmask(SIGUSR1));
    expect(k.nrSharedPending).toBe(1);
    // the pending signal dies with the process
    k.kill(q, SIGKILL);
    expect(q.alive).toBe(false);
    expect(k.nrSharedPending).toBe(0);
    // and a new one is handled again (the fast path did not stick)
    k.kill(p, SIGUSR1);
    expect(k.nrSharedPending).toBe(1);
    expect(k.setrlimit(p, RLIMIT_NPROC, k.getrlimit(p, RLIMIT_NPROC))).toBe(0); // a call: its return handles signals
    expect(p.signal.sharedPending).toBe(0);
    expect(k.nrSharedPending).toBe(0);
  });

  test('a thread run reads its signal_struct only while some group is stopped (Kernel.nrGroupsStopped)', async () => {
    const k = await Kernel.boot();
    const q = k.spawn({ comm: 'qemu' });
    let runs = 0;
    const w = k.userWorkerCreate(q, 'w', { run: () => { runs++; return false; } }, null) as typeof q;
    k.rt.wakeUpProcess(w.thread!);
    k.runUntilIdle();
    expect(runs).toBe(1);
    k.kill(q, SIGSTOP);
    k.kill(q, SIGSTOP); // already stopped: counted once
    expect(k.nrGroupsStopped).toBe(1);
    k.rt.wakeUpProcess(w.thread!);
    k.runUntilIdle();
    expect(runs).toBe(1); // parked by the stop
    k.kill(q, SIGCONT);
    expect(k.nrGroupsStopped).toBe(0);
    k.runUntilIdle();
    expect(runs).toBe(2); // SIGCONT woke it
    // a stopped process that dies is no longer counted, by SIGKILL or by a default action
    const p = k.spawn();
    k.kill(p, SIGSTOP);
    k.kill(q, SIGSTOP);
    expect(k.nrGroupsStopped).toBe(2);
    k.kill(p, SIGTERM);
    expect(p.alive).toBe(false);
    expect(k.nrGroupsStopped).toBe(1);
    k.kill(q, SIGKILL);
    expect(k.nrGroupsStopped).toBe(0);
  });

  test('setrlimit: -EINVAL soft > hard, -EPERM raising hard without CAP_SYS_RESOURCE', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ uid: 1000, rlimits: { RLIMIT_NPROC: [10, 20] } });
    expect(k.setrlimit(p, RLIMIT_NPROC, [30, 20])).toBe(-EINVAL);
    expect(k.setrlimit(p, RLIMIT_NPROC, [10, 40])).toBe(-EPERM);
    expect(k.setrlimit(p, 'RLIMIT_NPROC', [5, 15])).toBe(0);
    expect(k.getrlimit(p, RLIMIT_NPROC)).toEqual([5, 15]);
    const th = k.clone(p, THREAD) as typeof p;
    expect(k.getrlimit(th, RLIMIT_NPROC)).toEqual([5, 15]); // shared signal_struct
    expect(() => k.setrlimit(p, 'RLIMIT_BOGUS', [1, 1])).toThrow(KwqError);
    expect(() => k.setrlimit(p, RLIMIT_NPROC, [-1, 1])).toThrow(/bad rlimit/);
  });

  test('calls with a task of another kernel or a dead task throw KwqError', async () => {
    const k1 = await Kernel.boot();
    const k2 = await Kernel.boot();
    const p = k1.spawn();
    expect(() => k2.open(p, '/dev/zero', O_RDWR)).toThrow(/not a task of this kernel/);
    k1.exit(p, 0);
    expect(() => k1.open(p, '/dev/zero', O_RDWR)).toThrow(/dead/);
  });
});

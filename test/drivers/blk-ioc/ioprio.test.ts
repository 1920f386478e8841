/**
 * ioprio_set / ioprio_get conformance (block/ioprio.c, current mainline) and the
 * io_context lifecycle of blk-ioc (5.17+ design): kernel-reference.md section 9.
 */
import { describe, expect, test } from 'vitest';
import {
  CLONE_FILES, CLONE_FS, CLONE_IO, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, EINVAL, EPERM, ESRCH, Kernel, O_RDWR, PF_EXITING,
  type Task,
} from 'kwq';
import '../../../src/drivers/block/blk-ioc-index.js';
import {
  blkAllocQueue, blkIocState, blkQueueExit, elevatorSwitch, getpgid, ioContextForIssue, ioContextRequestDone, IOPRIO_CLASS_BE,
  IOPRIO_CLASS_IDLE, IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_PRIO_VALUE, IOPRIO_WHO_PGRP, IOPRIO_WHO_PROCESS,
  IOPRIO_WHO_USER, iocLookupIcq, ioprioValue, setpgid, taskIoContext,
} from '../../../src/drivers/block/blk-ioc-index.js';
import { registerChrdev } from '../../../src/kernel/vfs/chrdev.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
const BE = (l: number): number => IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, l);
const RT0 = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_RT, 0);
const IDLE = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0);
const BE4 = 0x4004;

async function boot(): Promise<{ k: Kernel; a: Task; b: Task }> {
  const k = await Kernel.boot({ seed: 1 });
  const a = k.spawn({ comm: 'a', uid: 1000 });
  const b = k.spawn({ comm: 'b', uid: 1001 });
  return { k, a, b };
}

describe('ioprio_get before anything is set', () => {
  test('PROCESS returns the raw 0 (no io_context); PGRP and USER return the nice-derived BE/4', async () => {
    const { k, a } = await boot();
    expect(taskIoContext(a)).toBeNull();
    expect(k.ioprio_get(a, IOPRIO_WHO_PROCESS, 0)).toBe(0);
    expect(k.ioprio_get(a, IOPRIO_WHO_USER, 0)).toBe(BE4);
    expect(setpgid(k, a, 0, 0)).toBe(0);
    expect(k.ioprio_get(a, IOPRIO_WHO_PGRP, 0)).toBe(BE4);
    expect(taskIoContext(a)).toBeNull(); // asking creates nothing
  });
});

describe('ioprio_set', () => {
  test('creates the io_context on first use (refcount 1, active 1) and ioprio_get reads it back', async () => {
    const { k, a } = await boot();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, BE(2))).toBe(0);
    const ioc = taskIoContext(a)!;
    expect(ioc).not.toBeNull();
    expect([ioc.refcount, ioc.activeRef, ioc.ioprio]).toEqual([1, 1, BE(2)]);
    expect(k.ioprio_get(a, IOPRIO_WHO_PROCESS, a.pid)).toBe(BE(2));
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, a.pid, IDLE)).toBe(0);
    expect(taskIoContext(a)).toBe(ioc); // at most one per task
    expect(ioc.ioprio).toBe(IDLE);
  });

  test('invalid classes and levels: the kernel errno, nothing created', async () => {
    const { k, a } = await boot();
    const bad: [number, number][] = [
      [IOPRIO_PRIO_VALUE(IOPRIO_CLASS_NONE, 1), -EINVAL],
      [4 << 13, -EINVAL],
      [5 << 13, -EINVAL],
      [7 << 13, -EINVAL],
      [ioprioValue(IOPRIO_CLASS_BE, 8, 0), -EINVAL], // out of range: ioprio_value gives IOPRIO_CLASS_INVALID
      [-1, -EINVAL],
      [RT0, -EPERM], // uid 1000 has neither CAP_SYS_ADMIN nor CAP_SYS_NICE
    ];
    for (const [v, e] of bad) expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, v), `ioprio ${v}`).toBe(e);
    expect(taskIoContext(a)).toBeNull();
    expect(k.ioprio_get(a, IOPRIO_WHO_PROCESS, 0)).toBe(0);
  });

  test('6.5+ hints: (BE << 13) | 8 is BE/0 with hint 1 and is accepted; NONE with a hint but level 0 too', async () => {
    const { k, a } = await boot();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, (IOPRIO_CLASS_BE << 13) | 8)).toBe(0);
    expect(k.ioprio_get(a, IOPRIO_WHO_PROCESS, 0)).toBe((IOPRIO_CLASS_BE << 13) | 8);
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, 8)).toBe(0);
  });

  test('RT needs CAP_SYS_ADMIN or CAP_SYS_NICE', async () => {
    const { k } = await boot();
    const nice = k.spawn({ uid: 1000, caps: ['CAP_SYS_NICE'] });
    const admin = k.spawn({ uid: 1000, caps: ['CAP_SYS_ADMIN'] });
    expect(k.ioprio_set(nice, IOPRIO_WHO_PROCESS, 0, RT0)).toBe(0);
    expect(k.ioprio_set(admin, IOPRIO_WHO_PROCESS, 0, RT0)).toBe(0);
  });

  test('a bad which is -EINVAL, but a bad ioprio is reported first', async () => {
    const { k, a } = await boot();
    expect(k.ioprio_set(a, 9, 0, BE(1))).toBe(-EINVAL);
    expect(k.ioprio_set(a, 9, 0, RT0)).toBe(-EPERM);
    expect(k.ioprio_get(a, 0, 0)).toBe(-EINVAL);
    expect(taskIoContext(a)).toBeNull();
  });

  test('a who that names nothing is -ESRCH for each which', async () => {
    const { k, a } = await boot();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 99999, BE(1))).toBe(-ESRCH);
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, -5, BE(1))).toBe(-ESRCH);
    expect(k.ioprio_set(a, IOPRIO_WHO_PGRP, 99999, BE(1))).toBe(-ESRCH);
    expect(k.ioprio_set(a, IOPRIO_WHO_USER, 4242, BE(1))).toBe(-ESRCH);
    expect(k.ioprio_set(a, IOPRIO_WHO_USER, -1, BE(1))).toBe(-ESRCH); // INVALID_UID
    expect(k.ioprio_get(a, IOPRIO_WHO_PROCESS, 99999)).toBe(-ESRCH);
    expect(k.ioprio_get(a, IOPRIO_WHO_PGRP, 99999)).toBe(-ESRCH);
    expect(k.ioprio_get(a, IOPRIO_WHO_USER, 4242)).toBe(-ESRCH);
    expect(blkIocState(k).live.size).toBe(0);
  });

  test('permission: the target real uid must match the caller euid or uid, or the caller has CAP_SYS_NICE', async () => {
    const { k, a, b } = await boot();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, b.pid, BE(1))).toBe(-EPERM);
    expect(taskIoContext(b)).toBeNull();
    const setuidish = k.spawn({ uid: 1000, euid: 1001 });
    expect(k.ioprio_set(setuidish, IOPRIO_WHO_PROCESS, b.pid, BE(1))).toBe(0); // euid matches b's uid
    expect(k.ioprio_set(setuidish, IOPRIO_WHO_PROCESS, a.pid, BE(1))).toBe(0); // uid matches a's uid
    const nice = k.spawn({ uid: 5, caps: ['CAP_SYS_NICE'] });
    expect(k.ioprio_set(nice, IOPRIO_WHO_PROCESS, b.pid, BE(3))).toBe(0);
    expect(k.ioprio_get(a, IOPRIO_WHO_PROCESS, b.pid)).toBe(BE(3)); // reading needs no permission
  });

  test('PROCESS acts on one thread (a thread id works); USER on every thread of the uid', async () => {
    const { k, a } = await boot();
    const t = k.clone(a, THREAD) as Task;
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, t.pid, BE(1))).toBe(0);
    expect(taskIoContext(t)!.ioprio).toBe(BE(1));
    expect(taskIoContext(a)).toBeNull();
    const a2 = k.spawn({ uid: 1000 });
    expect(k.ioprio_set(a, IOPRIO_WHO_USER, 1000, BE(6))).toBe(0);
    for (const x of [a, t, a2]) expect(taskIoContext(x)!.ioprio).toBe(BE(6));
  });

  test('USER with who 0: ioprio_set means uid 0 (a quirk of the code), ioprio_get the caller uid', async () => {
    const { k, a } = await boot();
    expect(k.ioprio_set(a, IOPRIO_WHO_USER, 0, BE(1))).toBe(-EPERM); // the first uid-0 task (init) is not a's
    expect(taskIoContext(a)).toBeNull();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, BE(1))).toBe(0);
    expect(k.ioprio_get(a, IOPRIO_WHO_USER, 0)).toBe(BE(1));
  });

  test('PGRP: every thread of the group; the first error ends the walk; get combines with min()', async () => {
    const { k, a } = await boot();
    expect(setpgid(k, a, 0, 0)).toBe(0);
    const child = k.fork(a) as Task;
    const thread = k.clone(a, THREAD) as Task;
    expect(getpgid(k, child, 0)).toBe(a.pid);
    expect(k.ioprio_set(a, IOPRIO_WHO_PGRP, 0, BE(5))).toBe(0);
    for (const x of [a, child, thread]) expect(taskIoContext(x)!.ioprio).toBe(BE(5));
    expect(k.ioprio_set(child, IOPRIO_WHO_PROCESS, 0, BE(2))).toBe(0);
    expect(k.ioprio_get(a, IOPRIO_WHO_PGRP, a.pid)).toBe(BE(2)); // min of BE/5, BE/2, BE/5
    expect(k.ioprio_set(child, IOPRIO_WHO_PROCESS, 0, IDLE)).toBe(0);
    expect(k.ioprio_get(a, IOPRIO_WHO_PGRP, a.pid)).toBe(BE(5));
  });

  test('PGRP: the first member the caller may not change ends the walk with -EPERM', async () => {
    const { k } = await boot();
    const x = k.spawn({ uid: 1000 });
    expect(setpgid(k, x, 0, 0)).toBe(0);
    const y = k.spawn({ uid: 0, parent: x }); // forked from x: x's group
    const z = k.spawn({ uid: 1000, parent: x });
    expect([getpgid(k, y, 0), getpgid(k, z, 0)]).toEqual([x.pid, x.pid]);
    expect(k.ioprio_set(x, IOPRIO_WHO_PGRP, x.pid, BE(1))).toBe(-EPERM);
    expect(taskIoContext(x)!.ioprio).toBe(BE(1)); // before the failing member
    expect(taskIoContext(y)).toBeNull();
    expect(taskIoContext(z)).toBeNull(); // after it: not reached
  });

  test('setpgid: own process or a child, a group leader, an existing group or its own pid', async () => {
    const { k, a, b } = await boot();
    expect(setpgid(k, a, b.pid, 0)).toBe(-ESRCH); // not a's child
    expect(setpgid(k, a, 99999, 0)).toBe(-ESRCH);
    const t = k.clone(a, THREAD) as Task;
    expect(setpgid(k, a, t.pid, 0)).toBe(-EINVAL); // not a thread-group leader
    expect(setpgid(k, a, 0, -1)).toBe(-EINVAL);
    const c = k.fork(a) as Task;
    expect(setpgid(k, a, c.pid, 424242)).toBe(-EPERM); // no such group
    expect(setpgid(k, a, c.pid, 0)).toBe(0);
    expect(getpgid(k, a, c.pid)).toBe(c.pid);
    expect(getpgid(k, a, 0)).toBe(0); // spawned from init: init's group, 0 (pid 1 never called setsid: oracle/scripts/ioprio-syscalls.json)
  });
});

describe('io_context across fork, clone and exit', () => {
  test('fork copies a valid ioprio into a fresh io_context; NONE or no io_context gives none', async () => {
    const { k, a } = await boot();
    const c0 = k.fork(a) as Task;
    expect(taskIoContext(c0)).toBeNull();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, BE(1))).toBe(0);
    const c1 = k.fork(a) as Task;
    const pi = taskIoContext(a)!;
    const ci = taskIoContext(c1)!;
    expect(ci).not.toBe(pi);
    expect([ci.ioprio, ci.refcount, ci.activeRef]).toEqual([BE(1), 1, 1]);
    expect([pi.refcount, pi.activeRef]).toEqual([1, 1]);
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_NONE, 0))).toBe(0);
    expect(taskIoContext(k.fork(a) as Task)).toBeNull();
  });

  test('CLONE_IO shares it: active_ref counts the sharers, refcount stays 1; the last exit frees it', async () => {
    const { k, a } = await boot();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, BE(1))).toBe(0);
    const ioc = taskIoContext(a)!;
    const c = k.clone(a, CLONE_IO) as Task;
    const t = k.clone(a, (THREAD | CLONE_IO) >>> 0) as Task;
    expect(taskIoContext(c)).toBe(ioc);
    expect(taskIoContext(t)).toBe(ioc);
    expect([ioc.refcount, ioc.activeRef]).toEqual([1, 3]);
    k.exit(t);
    expect([ioc.refcount, ioc.activeRef]).toEqual([1, 2]);
    k.exit(a);
    expect(ioc.freed).toBe(false);
    k.exit(c);
    expect(ioc.freed).toBe(true);
    expect(blkIocState(k).live.has(ioc)).toBe(false);
  });

  test('CLONE_IO from a task without an io_context shares nothing', async () => {
    const { k, a } = await boot();
    const c = k.clone(a, CLONE_IO) as Task;
    expect(taskIoContext(c)).toBeNull();
  });

  test('a user worker (vhost_task) gets a fresh copy of its creator ioprio; a kthread gets kthreadd defaults', async () => {
    const { k, a } = await boot();
    const t = k.clone(a, THREAD) as Task;
    expect(k.ioprio_set(t, IOPRIO_WHO_PROCESS, 0, IDLE)).toBe(0);
    // the calling thread t is the creator, not the group leader a
    const w = k.userWorkerCreate(t, 'vhost-1', { run: () => false }, null) as Task;
    expect(taskIoContext(w)).not.toBe(taskIoContext(t));
    expect(taskIoContext(w)!.ioprio).toBe(IDLE);
    const w2 = k.userWorkerCreate(a, 'vhost-2', { run: () => false }, null) as Task;
    expect(taskIoContext(w2)).toBeNull();
    const kt = k.kthreadCreate('kworker/u:7', { run: () => false }) as Task;
    expect(taskIoContext(kt)).toBeNull();
    expect(k.ioprio_get(k.init, IOPRIO_WHO_PROCESS, kt.pid)).toBe(0);
  });
});

describe('io_cq objects and the issue path', () => {
  test('BFQ: the first I/O creates the io_context and its icq; the request holds a reference; lookups hit the hint', async () => {
    const { k, a } = await boot();
    const q = blkAllocQueue(k, 'sda', 'bfq');
    const rq = ioContextForIssue(k, a, q);
    const ioc = taskIoContext(a)!;
    expect(rq.ioc).toBe(ioc);
    expect(rq.icq!.ioc).toBe(ioc);
    expect(rq.ioprio).toBe(BE4); // class NONE: the nice-derived priority
    expect([ioc.refcount, ioc.activeRef, ioc.ioprio]).toEqual([2, 1, 0]);
    expect(ioc.icqHint).toBeNull(); // created, not looked up
    const rq2 = ioContextForIssue(k, a, q);
    expect(rq2.icq).toBe(rq.icq);
    expect(ioc.icqHint).toBe(rq.icq); // found in the tree, hint set
    expect(ioc.refcount).toBe(3);
    ioContextRequestDone(k, rq);
    ioContextRequestDone(k, rq2);
    expect(ioc.refcount).toBe(1);
    expect(() => ioContextRequestDone(k, rq)).toThrow();
  });

  test('two queues: the tree has both, the hint follows the last lookup, destroying an icq clears the hint', async () => {
    const { k, a } = await boot();
    const q1 = blkAllocQueue(k, 'sda', 'bfq');
    const q2 = blkAllocQueue(k, 'sdb', 'bfq');
    ioContextRequestDone(k, ioContextForIssue(k, a, q1));
    ioContextRequestDone(k, ioContextForIssue(k, a, q2));
    const ioc = taskIoContext(a)!;
    expect(ioc.icqTree.size).toBe(2);
    const i1 = iocLookupIcq(a, q1)!;
    expect(ioc.icqHint).toBe(i1);
    blkQueueExit(k, q1);
    expect(i1.destroyed).toBe(true);
    expect(i1.exited).toBe(true);
    expect(ioc.icqHint).toBeNull();
    expect(ioc.icqTree.size).toBe(1);
    expect(iocLookupIcq(a, q2)!.q).toBe(q2);
    // an elevator switch away from BFQ clears the queue's icqs too
    elevatorSwitch(k, q2, 'mq-deadline');
    expect(ioc.icqList.size).toBe(0);
    expect(q2.icqList.size).toBe(0);
  });

  test('queue ids are reused after the queue goes, and a stale icq is never found for the new queue', async () => {
    const { k, a } = await boot();
    const q1 = blkAllocQueue(k, 'sda', 'bfq');
    ioContextRequestDone(k, ioContextForIssue(k, a, q1));
    blkQueueExit(k, q1);
    const q3 = blkAllocQueue(k, 'sdc', 'bfq');
    expect(q3.id).toBe(q1.id);
    expect(iocLookupIcq(a, q3)).toBeNull();
  });

  test('other elevators keep no per-task state: no io_context is created; the priority is still the issuer', async () => {
    const { k, a } = await boot();
    for (const e of ['none', 'mq-deadline', 'kyber'] as const) {
      const q = blkAllocQueue(k, `q-${e}`, e);
      const rq = ioContextForIssue(k, a, q);
      expect(rq.icq).toBeNull();
      expect(rq.ioc).toBeNull();
      expect(rq.ioprio).toBe(BE4);
      ioContextRequestDone(k, rq);
    }
    expect(taskIoContext(a)).toBeNull();
    expect(k.ioprio_set(a, IOPRIO_WHO_PROCESS, 0, IDLE)).toBe(0);
    const q = blkAllocQueue(k, 'x', 'none');
    expect(ioContextForIssue(k, a, q).ioprio).toBe(IDLE);
    expect(ioContextForIssue(k, a, q, BE(0)).ioprio).toBe(BE(0)); // a priority set on the bio wins
  });

  test('the last exit exits the icqs and drops the base reference; requests in flight keep the io_context', async () => {
    const { k, a } = await boot();
    const q = blkAllocQueue(k, 'sda', 'bfq');
    const rq = ioContextForIssue(k, a, q);
    const ioc = taskIoContext(a)!;
    const icq = rq.icq!;
    k.exit(a);
    expect(icq.exited).toBe(true);
    expect(icq.destroyed).toBe(false);
    expect(ioc.freed).toBe(false);
    expect(ioc.refcount).toBe(1); // the request's
    ioContextRequestDone(k, rq);
    expect(ioc.freed).toBe(true);
    expect(icq.destroyed).toBe(true); // ioc_release_fn destroyed it
    expect(q.icqList.size).toBe(0);
  });

  test('creating an io_context for another, exiting task fails (ioprio_set returns 0 and sets nothing); for current it works', async () => {
    const { k, a, b } = await boot();
    const q = blkAllocQueue(k, 'sda', 'bfq');
    const root = k.spawn({ uid: 0 });
    const dying = k.spawn({ uid: 1000 });
    const dying2 = k.spawn({ uid: 1000 });
    expect(k.ioprio_set(dying2, IOPRIO_WHO_PROCESS, 0, BE(3))).toBe(0);
    const seen: Record<string, unknown> = {};
    // a device whose release runs in the exiting task's exit_files
    registerChrdev(k, {
      name: 'exit-probe', major: 240, minor: 0,
      fops: {
        release: () => {
          const who = [dying, dying2].find((t) => t.alive && (t.flags & PF_EXITING) !== 0)!;
          seen[`exiting-${who.comm}`] = (who.flags & PF_EXITING) !== 0;
          seen[`set-${who.comm}`] = k.ioprio_set(root, IOPRIO_WHO_PROCESS, who.pid, BE(1));
          seen[`ioc-after-set-${who.comm}`] = taskIoContext(who)?.ioprio ?? null;
          const rq = ioContextForIssue(k, who, q); // current is allowed to get one while exiting
          seen[`ioc-after-io-${who.comm}`] = taskIoContext(who) !== null;
          ioContextRequestDone(k, rq);
        },
      },
    });
    dying.comm = 'dying';
    dying2.comm = 'dying2';
    expect(k.open(dying, '/dev/exit-probe', O_RDWR)).toBeGreaterThanOrEqual(0);
    k.exit(dying);
    expect(seen).toMatchObject({ 'exiting-dying': true, 'set-dying': 0, 'ioc-after-set-dying': null, 'ioc-after-io-dying': true });
    // an exiting task that already has one still gets the priority set
    expect(k.open(dying2, '/dev/exit-probe', O_RDWR)).toBeGreaterThanOrEqual(0);
    k.exit(dying2);
    expect(seen).toMatchObject({ 'set-dying2': 0, 'ioc-after-set-dying2': BE(1) });
    // and every io_context of the dead went at exit
    expect([...blkIocState(k).live]).toHaveLength(0);
    void a;
    void b;
  });
});

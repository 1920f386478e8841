/**
 * The drivers' fork/exit hooks (src/kernel/task-hooks.ts): where copy_process and
 * do_exit call them, what the child looks like then, and that a fork failing after or
 * inside a hook changes nothing.
 */
import { afterEach, describe, expect, test } from 'vitest';
import {
  CLONE_FILES, CLONE_FS, CLONE_IO, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, EAGAIN, ENOMEM, Kernel, KwqError, O_CREAT, O_RDWR,
  PF_EXITING, type Task,
} from 'kwq';
import { registerTaskHooks, unregisterTaskHooks } from '../../src/kernel/task-hooks.js';
import { blkIocState, IOPRIO_WHO_PROCESS, taskIoContext } from '../../src/drivers/block/blk-ioc-index.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;

afterEach(() => {
  unregisterTaskHooks('test_a');
  unregisterTaskHooks('test_b');
});

/** everything a rejected fork must leave as it was */
function snapshot(k: Kernel, t: Task): unknown {
  return {
    tasks: k.tasks().map((x) => x.pid),
    nextPid: k.peekPid(),
    nrThreads: k.nrThreads,
    ucounts: [...k.ucounts],
    pids: k.readFile(k.init, `/sys/fs/cgroup${t.cgroup}/pids.current`),
    fsUsers: t.fs.users,
    filesCount: t.files?.count,
    fileRefs: t.files?.fds.map((f) => f?.fCount),
    mmUsers: t.mm?.mmUsers,
  };
}

describe('task hooks', () => {
  test('copyProcess runs at copy_io time for every creation path, with the half-made child', async () => {
    const k = await Kernel.boot();
    const seen: { current: number; child: number; flags: number; inTable: boolean; inCgroup: boolean; hasMm: boolean }[] = [];
    registerTaskHooks({
      name: 'test_a',
      copyProcess(kk, current, child, flags) {
        seen.push({
          current: current.pid, child: child.pid, flags, inTable: kk.task(child.pid) !== undefined,
          inCgroup: child.cgroups[0]!.tasks.has(child), hasMm: child.mm !== null,
        });
        return 0;
      },
    });
    const p = k.spawn({ comm: 'p' });
    const c = k.fork(p) as Task;
    const th = k.clone(p, THREAD) as Task;
    const kt = k.kthreadCreate('kt', { run: () => false }) as Task;
    const uw = k.userWorkerCreate(p, 'vhost-1', { run: () => false }, null) as Task;
    expect(seen.map((s) => [s.current, s.child])).toEqual([
      [1, p.pid], [p.pid, c.pid], [p.pid, th.pid], [k.kthreadd.pid, kt.pid], [p.pid, uw.pid],
    ]);
    expect(seen.map((s) => s.flags)).toEqual([0, 0, THREAD, CLONE_FS | CLONE_FILES, CLONE_THREAD | CLONE_VM | CLONE_FS | CLONE_SIGHAND | 0x00800000]);
    // not yet visible: copy_io runs before alloc_pid/cgroup_can_fork and the linking
    expect(seen.every((s) => !s.inTable && !s.inCgroup)).toBe(true);
    // copy_mm already ran: a fork has its new mm, a kthread none
    expect(seen.map((s) => s.hasMm)).toEqual([true, true, true, false, true]);
  });

  test('exit runs where exit_io_context does (task dead, PF_EXITING), in reverse registration order, once', async () => {
    const k = await Kernel.boot();
    const log: string[] = [];
    registerTaskHooks({ name: 'test_a', exit: (_k, t) => void log.push(`a:${t.pid}:${t.alive}:${(t.flags & PF_EXITING) !== 0}:${t.mm === null}`) });
    registerTaskHooks({ name: 'test_b', exit: (_k, t) => void log.push(`b:${t.pid}`) });
    const p = k.spawn();
    const th = k.clone(p, THREAD) as Task;
    k.exit(p); // group exit: the thread first, then the leader
    expect(log).toEqual([`b:${th.pid}`, `a:${th.pid}:false:true:true`, `b:${p.pid}`, `a:${p.pid}:false:true:true`]);
    const q = k.spawn();
    k.kill(q, 9);
    expect(log.slice(4)).toEqual([`b:${q.pid}`, `a:${q.pid}:false:true:true`]);
  });

  test('a hook failing with -errno fails the fork with it; the hooks before it are undone; nothing changes', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ cgroup: '/a' });
    const fd = k.open(p, '/tmp/f', O_RDWR | O_CREAT);
    expect(fd).toBeGreaterThanOrEqual(0);
    const held = new Set<number>();
    registerTaskHooks({
      name: 'test_a',
      copyProcess: (_k, _c, child) => (held.add(child.pid), 0),
      exit: (_k, t) => void held.delete(t.pid),
    });
    let fail = true;
    registerTaskHooks({ name: 'test_b', copyProcess: () => (fail ? -ENOMEM : 0) });
    for (const flags of [0, THREAD, CLONE_FILES | CLONE_VM]) {
      const before = snapshot(k, p);
      expect(k.clone(p, flags)).toBe(-ENOMEM);
      expect(snapshot(k, p)).toEqual(before);
      expect(held.size).toBe(0);
    }
    fail = false;
    const c = k.fork(p) as Task;
    expect(held).toEqual(new Set([c.pid]));
  });

  test('pids.max failing after the hooks runs their exit for the half-made child; a hook error comes first (kernel order)', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ cgroup: '/lim' });
    expect(k.writeFile(k.init, '/sys/fs/cgroup/lim/pids.max', '1')).toBeGreaterThan(0);
    const held = new Set<number>();
    let err = 0;
    registerTaskHooks({
      name: 'test_a',
      copyProcess: (_k, _c, child) => (err === 0 && held.add(child.pid), err),
      exit: (_k, t) => void held.delete(t.pid),
    });
    const before = snapshot(k, p);
    expect(k.fork(p)).toBe(-EAGAIN);
    expect(held.size).toBe(0);
    expect(snapshot(k, p)).toEqual(before);
    expect(k.readFile(k.init, '/sys/fs/cgroup/lim/pids.events')).toBe('max 1\n');
    // copy_io comes before cgroup_can_fork: its -ENOMEM wins, and pids.events is not bumped
    err = -ENOMEM;
    expect(k.fork(p)).toBe(-ENOMEM);
    expect(k.readFile(k.init, '/sys/fs/cgroup/lim/pids.events')).toBe('max 1\n');
  });

  test('registration is checked', () => {
    expect(() => registerTaskHooks({ name: 'Bad Name' })).toThrow(KwqError);
    expect(() => registerTaskHooks({ name: 'test_a', exit: 3 as never })).toThrow(/exit must be a function/);
    registerTaskHooks({ name: 'test_a' });
    expect(() => registerTaskHooks({ name: 'test_a' })).toThrow(/already registered/);
    expect(() => registerTaskHooks({ name: 'blk_ioc' })).toThrow(/already registered/);
  });

  test('a hook returning a positive number is a KwqError naming it', async () => {
    const k = await Kernel.boot();
    registerTaskHooks({ name: 'test_a', copyProcess: () => 1 });
    expect(() => k.spawn()).toThrow(/task hooks 'test_a'.*returned 1/);
  });
});

describe('blk-ioc on the task hooks', () => {
  test('booting with blk-ioc leaves every tracepoint off (no always-on sched_process_exit listener)', async () => {
    const k = await Kernel.boot();
    for (const tp of k.trace.points.values()) expect(tp.enabled, tp.name).toBe(false);
    const p = k.spawn();
    k.ioprio_set(p, IOPRIO_WHO_PROCESS, 0, (2 << 13) | 3);
    k.exit(p);
    for (const tp of k.trace.points.values()) expect(tp.enabled, tp.name).toBe(false);
  });

  test('a CLONE_IO clone rejected by pids.max gives back the active_ref copy_io took', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ cgroup: '/lim' });
    expect(k.ioprio_set(p, IOPRIO_WHO_PROCESS, 0, (2 << 13) | 3)).toBe(0);
    const ioc = taskIoContext(p)!;
    expect(ioc.activeRef).toBe(1);
    expect(k.writeFile(k.init, '/sys/fs/cgroup/lim/pids.max', '1')).toBeGreaterThan(0);
    const live = blkIocState(k).live.size;
    expect(k.clone(p, CLONE_IO)).toBe(-EAGAIN);
    expect(ioc.activeRef).toBe(1);
    expect(ioc.refcount).toBe(1);
    // without CLONE_IO copy_io made a fresh io_context (valid ioprio): it is freed again
    expect(k.fork(p)).toBe(-EAGAIN);
    expect(blkIocState(k).live.size).toBe(live);
    expect(k.writeFile(k.init, '/sys/fs/cgroup/lim/pids.max', 'max')).toBeGreaterThan(0);
    const c = k.clone(p, CLONE_IO) as Task;
    expect(taskIoContext(c)).toBe(ioc);
    expect(ioc.activeRef).toBe(2);
    k.exit(c);
    expect(ioc.activeRef).toBe(1);
    k.exit(p);
    expect(ioc.freed).toBe(true);
  });
});

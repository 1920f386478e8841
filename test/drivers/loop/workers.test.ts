/**
 * Sections 6.3-6.7 step by step, in virtual time: which queue a command goes to, the
 * css and memcg it carries, charging, the idle list, reaping times (timer_reduce),
 * rescue from the idle list, teardown as 5.19+, and the <= 5.13 kworker design.
 */
import { describe, expect, test } from 'vitest';
import { O_DIRECT, O_RDWR, PF_KTHREAD, type Kernel, type Task } from 'kwq';
import { LOOP_CLR_FD, LOOP_CTL_REMOVE, LO_FLAGS_DIRECT_IO, loopInfo } from '../../../src/drivers/loop/index.js';
import { backingFile, boot, dev, losetup } from './helpers.js';

const MiB = 1 << 20;

/** an O_DIRECT write of `len` bytes at `pos` to /dev/loop<n> by `t` (runs the simulation until it completes) */
function dio(k: Kernel, t: Task, n: number, pos: number, len = 64 * 1024): number {
  const fd = k.open(t, `/dev/loop${n}`, O_RDWR | O_DIRECT);
  const r = k.pwrite(t, fd, len, pos);
  k.close(t, fd);
  return r;
}

function stat(k: Kernel, cg: string, key: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${cg}/memory.stat`) as string;
  return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)![1]);
}

async function setup(cmdline = ''): Promise<{ k: Kernel; a: Task; b: Task; c: Task; lfd: number }> {
  const k = await boot(cmdline);
  const a = k.spawn({ comm: 'a', cgroup: '/a' });
  const b = k.spawn({ comm: 'b', cgroup: '/b' });
  const c = k.spawn({ comm: 'c', cgroup: '/c' });
  const root = k.init;
  backingFile(k, root, '/tmp/backing', 64 * MiB);
  const { lfd } = losetup(k, root, 0, '/tmp/backing');
  return { k, a, b, c, lfd };
}

describe('6.3/6.4 submission and worker selection (per-cgroup)', () => {
  test('root-cgroup I/O goes to the root queue; each other blkcg gets one worker, found again by its cgroup id', async () => {
    const { k, a, b } = await setup();
    const lo = dev(k, 0);
    expect(dio(k, k.init, 0, 0)).toBe(65536);
    expect(lo.nrWorkers).toBe(0);
    expect(lo.stats.rootQueued).toBe(1);
    expect(dio(k, a, 0, 0)).toBe(65536);
    expect(dio(k, a, 0, MiB)).toBe(65536);
    expect(dio(k, b, 0, 2 * MiB)).toBe(65536);
    const info = loopInfo(k, 0);
    expect(info.workers.map((w) => w.cgroup)).toEqual(['/a', '/b']); // tree order: by cgroup id
    expect(info.workers.map((w) => w.cmds)).toEqual([2, 1]);
    expect(info.stats).toMatchObject({ workersCreated: 2, rootQueued: 1, queued: 4, completed: 4, allocFailures: 0 });
    expect(lo.tree!.validate().count).toBe(2);
    // the worker holds a css reference on its blkcg: a removed cgroup stays (offline) until the worker is freed
    const acg = k.cgroupByPath('/a')!;
    const refsWithWorker = acg.refcnt;
    expect(refsWithWorker).toBe(2); // the directory's + the worker's (every command's memcg ref was dropped)
  });

  test('the worker charges the backing file\'s shmem to the issuer and its blkcg is used for backing I/O; kworker charges root', async () => {
    for (const design of ['per-cgroup', 'kworker'] as const) {
      const k = await boot(`kwq.loop_workers=${design} null_blk.nr_devices=1`);
      const a = k.spawn({ comm: 'a', cgroup: '/a' });
      backingFile(k, k.init, '/tmp/backing', 64 * MiB);
      losetup(k, k.init, 0, '/tmp/backing');
      // loop1 on the null_blk disk with direct I/O: the worker's bios go to 251:0
      const l1 = k.open(k.init, '/dev/loop1', O_RDWR);
      const nb = k.open(k.init, '/dev/nullb0', O_RDWR);
      expect(k.ioctl(k.init, l1, 0x4c0a, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO } })).toBe(0);
      expect(dio(k, a, 0, 0, 4 * MiB)).toBe(4 * MiB);
      expect(dio(k, a, 1, 0, MiB)).toBe(MiB);
      const shmemA = stat(k, '/a', 'shmem');
      const ioA = k.readFile(k.init, '/sys/fs/cgroup/a/io.stat') as string;
      if (design === 'per-cgroup') {
        expect(shmemA).toBe(4 * MiB);
        expect(ioA).toMatch(/^251:0 rbytes=0 wbytes=1048576 /m);
      } else {
        expect(shmemA).toBe(0);
        // <= 5.13 associated the blkcg of direct-I/O commands only: loop1's bios are a's, loop0's pages root's
        expect(ioA).toMatch(/^251:0 rbytes=0 wbytes=1048576 /m);
      }
      // the upper device's io.stat counts the issuer in both designs (submit_bio)
      expect(ioA).toMatch(/^7:0 rbytes=0 wbytes=4194304 /m);
      k.shutdown();
    }
  });

  test('the worker associates with the blkcg and sets the active memcg only while a command runs', async () => {
    const { k, a } = await setup();
    const seen: { memcg: string | null; blkcg: string | null; flags: number }[] = [];
    const lo = dev(k, 0);
    // watch the backing file's writes: wrap its write op for this test
    const f = lo.backingFile!;
    const orig = f.fop.write!;
    (f as { fop: unknown }).fop = { ...f.fop, write: (kk: Kernel, file: never, task: Task, len: number, pos: number) => {
      seen.push({ memcg: task.activeMemcg?.path ?? null, blkcg: task.blkcgCss?.path ?? null, flags: task.flags });
      return orig(kk, file, task, len, pos);
    } };
    dio(k, a, 0, 0);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ memcg: '/a', blkcg: '/a' });
    expect(seen[0]!.flags & 0x00080000).not.toBe(0); // PF_MEMALLOC_NOIO while processing
    const kw = lo.workqueue!.kworkers[0]!.task;
    expect(kw.flags & PF_KTHREAD).not.toBe(0);
    expect(kw.activeMemcg).toBeNull();
    expect(kw.blkcgCss).toBeNull();
    expect(kw.flags & 0x00080000).toBe(0);
    expect(kw.comm).toMatch(/^kworker\/u4:\d+$/);
  });
});

describe('6.5/6.6 idle list and reaping', () => {
  test('a worker idle at t=0 is freed at 60 s; one idle at 30 s is freed at about 120 s, not 90 s', async () => {
    const { k, a, b } = await setup();
    const frees: { id: number; ms: number }[] = [];
    k.trace.on('loop_worker_free', (e) => frees.push({ id: e['id'] as number, ms: Math.round(k.now / 1e6) }));
    const lo = dev(k, 0);
    dio(k, a, 0, 0);
    expect(lo.idleList().map((w) => w.blkcgCss.path)).toEqual(['/a']);
    expect(lo.idleList()[0]!.lastRanAt).toBe(0);
    expect(lo.timer.expires).toBe(60_000); // jiffies, HZ=1000
    k.advance(30_000);
    dio(k, b, 0, MiB);
    expect(lo.timer.expires).toBe(60_000); // timer_reduce does not push a pending timer back
    k.advance(30_000 - Math.round(k.now / 1e6 - 30_000) - 1); // just before 60 s
    expect(lo.nrWorkers).toBe(2);
    k.advance(2);
    expect(loopInfo(k, 0).workers.map((w) => w.cgroup)).toEqual(['/b']);
    expect(lo.timer.expires).toBe(120_000); // re-armed at now + 60 s, not at b's 90 s
    k.advance(31_000); // t = 91 s: b's 60 s have passed, but the timer has not fired
    expect(lo.nrWorkers).toBe(1);
    k.advance(29_000);
    expect(lo.nrWorkers).toBe(0);
    expect(lo.timer.pending).toBe(false);
    const acg = k.cgroupByPath('/a')!;
    expect(frees).toEqual([{ id: acg.id, ms: 60_000 }, { id: k.cgroupByPath('/b')!.id, ms: 120_000 }]);
    expect(acg.refcnt).toBe(1); // the worker's css reference is gone
  });

  test('a worker given new work while idle leaves the idle list and is not reaped on the old schedule', async () => {
    const { k, a } = await setup();
    const lo = dev(k, 0);
    dio(k, a, 0, 0);
    k.advance(50_000);
    dio(k, a, 0, MiB); // rescued: list_del_init at queue time, idle again at ~50 s
    expect(lo.stats.rescued).toBe(1);
    expect(lo.idleList()[0]!.lastRanAt).toBe(50_000);
    k.advance(10_500); // the timer fires at 60 s: not expired, re-armed at 120 s
    expect(lo.nrWorkers).toBe(1);
    expect(lo.timer.expires).toBe(120_000);
    k.advance(60_000);
    expect(lo.nrWorkers).toBe(0);
  });

  test('the reaper is deferrable: runUntilIdle does not wait for it; the root queue is never reaped', async () => {
    const { k, a } = await setup();
    const lo = dev(k, 0);
    dio(k, k.init, 0, 0);
    dio(k, a, 0, 0);
    k.runUntilIdle(); // the kworkers finish their slices
    const t = k.now;
    expect(t).toBeLessThan(1e9);
    k.runUntilIdle();
    expect(k.now).toBe(t); // only the deferrable reaper is left: idle
    expect(lo.timer.pending).toBe(true);
    k.advance(61_000);
    expect(lo.nrWorkers).toBe(0);
    expect(lo.rootQueue.work.pending).toBe(false);
    expect(dio(k, k.init, 0, 0)).toBe(65536);
    expect(lo.stats.rootQueued).toBe(2);
  });

  test('a pending work is not queued twice: several commands queued before the worker runs make one queue_work', async () => {
    const { k, a } = await setup();
    const lo = dev(k, 0);
    const { ioSetup, ioSubmit, ioGetevents, IOCB_CMD_PWRITE } = await import('../../../src/drivers/loop/index.js');
    const ctx = ioSetup(k, a, 16);
    if (typeof ctx === 'number') throw new Error(String(ctx));
    const fd = k.open(a, '/dev/loop0', O_RDWR | O_DIRECT);
    const iocbs = Array.from({ length: 8 }, (_, i) => ({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 65536, aio_offset: i * 65536 }));
    expect(ioSubmit(k, a, ctx, iocbs)).toBe(8);
    expect(lo.stats.queueNoop).toBe(7);
    const ev = ioGetevents(k, a, ctx, 8, 8);
    expect(Array.isArray(ev) && ev.every((e) => e.res === 65536)).toBe(true);
    expect(lo.liveWorkers()[0]!.work.nrRuns).toBe(1);
  });
});

describe('6.7 teardown (5.19+) and css lifetime', () => {
  test('LOOP_CLR_FD leaves the workqueue and workers; the timer still reaps them; LOOP_CTL_REMOVE frees the rest at once', async () => {
    const { k, a, b, lfd: setupFd } = await setup();
    const root = k.init;
    const lo = dev(k, 0);
    dio(k, a, 0, 0);
    dio(k, b, 0, 0);
    const wq = lo.workqueue;
    const lfd = k.open(root, '/dev/loop0', O_RDWR);
    expect(k.ioctl(root, lfd, LOOP_CLR_FD)).toBe(0);
    k.close(root, setupFd);
    expect(loopInfo(k, 0).state).toBe('Lo_bound'); // another opener: AUTOCLEAR only
    k.close(root, lfd); // the last close tears down
    expect(loopInfo(k, 0).state).toBe('Lo_unbound');
    expect(lo.workqueue).toBe(wq);
    expect(lo.nrWorkers).toBe(2);
    // rmdir of /b while its worker lives: offline, not released
    expect(k.rmdir(k.init, '/sys/fs/cgroup/b')).toBe(-16); // b still has a task
    k.exit(b);
    expect(k.rmdir(k.init, '/sys/fs/cgroup/b')).toBe(0);
    const bcg = lo.liveWorkers()[1]!.blkcgCss;
    expect(bcg.online).toBe(false);
    expect(bcg.released).toBe(false);
    const ctl = k.open(root, '/dev/loop-control', O_RDWR);
    expect(k.ioctl(root, ctl, LOOP_CTL_REMOVE, 0)).toBe(0);
    expect(lo.nrWorkers).toBe(0);
    expect(lo.timer.pending).toBe(false);
    expect(bcg.released).toBe(true);
    expect(wq!.destroyed).toBe(true);
    expect(wq!.kworkers).toHaveLength(0);
    expect(lo.stats.workersFreed).toBe(2);
  });

  test('a command in flight keeps its memcg css reference until it completes', async () => {
    const { k, a } = await setup('null_blk.nr_devices=1 null_blk.completion_nsec=1000000');
    const root = k.init;
    const l1 = k.open(root, '/dev/loop1', O_RDWR);
    const nb = k.open(root, '/dev/nullb0', O_RDWR);
    expect(k.ioctl(root, l1, 0x4c0a, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO } })).toBe(0);
    const { ioSetup, ioSubmit, ioGetevents, IOCB_CMD_PWRITE } = await import('../../../src/drivers/loop/index.js');
    const ctx = ioSetup(k, a, 4) as import('../../../src/drivers/loop/index.js').AioContext;
    const fd = k.open(a, '/dev/loop1', O_RDWR | O_DIRECT);
    ioSubmit(k, a, ctx, [{ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 4096, aio_offset: 0 }]);
    const acg = k.cgroupByPath('/a')!;
    expect(acg.refcnt).toBe(3); // directory + worker + the command's memcg css
    k.advance(0.5);
    expect(dev(k, 1).inflight).toBe(1); // the worker waits for null_blk
    expect(acg.refcnt).toBe(3);
    expect(ioGetevents(k, a, ctx, 1, 1)).toHaveLength(1);
    expect(acg.refcnt).toBe(2);
  });
});

describe('the kworker design (<= 5.13)', () => {
  test('one kthread "loopN" runs every command FIFO, charged to root; it is stopped at the last close after LOOP_CLR_FD', async () => {
    const { k, a, b, lfd: setupFd } = await setup('kwq.loop_workers=kworker');
    const lo = dev(k, 0);
    dio(k, a, 0, 0);
    dio(k, b, 0, MiB);
    const info = loopInfo(k, 0);
    expect(info.design).toBe('kworker');
    expect(info.workers).toEqual([]);
    expect(info.stats).toMatchObject({ rootQueued: 2, workersCreated: 0 });
    const kt = lo.workqueue!.kworkers.map((w) => w.task);
    expect(kt.map((t) => t.comm)).toEqual(['loop0']);
    expect(stat(k, '/a', 'shmem')).toBe(0);
    expect(Number(/^shmem (\d+)$/m.exec(k.readFile(k.init, '/sys/fs/cgroup/memory.stat') as string)?.[1] ?? -1)).toBeGreaterThanOrEqual(0);
    const lfd = k.open(k.init, '/dev/loop0', O_RDWR);
    k.ioctl(k.init, lfd, LOOP_CLR_FD);
    k.close(k.init, lfd);
    k.close(k.init, setupFd);
    expect(lo.workqueue).toBeNull();
    expect(kt[0]!.alive).toBe(false);
  });

  test('the design is chosen per device while unbound (-EBUSY when bound)', async () => {
    const { loopSetWorkers } = await import('../../../src/drivers/loop/index.js');
    const { k, a } = await setup();
    expect(loopSetWorkers(k, 0, 'kworker')).toBe(-16);
    expect(loopSetWorkers(k, 1, 'kworker')).toBe(0);
    backingFile(k, k.init, '/tmp/b2', MiB);
    losetup(k, k.init, 1, '/tmp/b2');
    dio(k, a, 1, 0);
    expect(loopInfo(k, 1)).toMatchObject({ design: 'kworker', workers: [] });
    expect(() => loopSetWorkers(k, 2, 'bogus' as never)).toThrow(/allowed: per-cgroup, kworker/);
  });
});

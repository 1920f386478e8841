/**
 * The loop device's kworkers on real worker_threads (runtime 'threads',
 * src/drivers/loop/loop-kthreads.ts): several cgroups issue I/O at once through aio
 * from the main thread; the kworker threads pick works from the Wasm workqueue and
 * drain the per-worker FIFOs; the kernel-model part of each command runs on the main
 * thread as the kworker's Task. Checked: every request completes exactly once, in
 * FIFO order per issuer, no work on two threads at once (the threads' shared
 * counter), charging (memory, io.stat, cpu.stat) as each design does, reaping on
 * wall-clock time, teardown and k.shutdown() ending every thread.
 * Deadlines are seconds of wall time: the machine is shared and slow at times.
 */
import { existsSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { O_DIRECT, O_RDWR, type Kernel, type Task } from 'kwq';
import {
  IOCB_CMD_PWRITE, LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_REMOVE, LO_FLAGS_DIRECT_IO, ioGetevents, ioSetup, ioSubmit,
  loopInfo, loopThreadCount, loopThreadErrors, loopThreadsIdle, type AioContext, type IoEvent,
} from '../../../src/drivers/loop/index.js';
import { kernelKthreadsIfAny } from '../../../src/drivers/loop/loop-kthreads.js';
import { activeBase } from '../../../src/runtime/loop-kthread-ring.js';
import { backingFile, boot, dev, losetup } from './helpers.js';

const MiB = 1 << 20;
const BS = 4096;
const HAS_SCHEDSTAT = existsSync('/proc/thread-self/schedstat');

interface Job {
  task: Task;
  ctx: AioContext;
  fd: number;
  /** where this job's writes go (its own range: pages charged to it alone) */
  base: number;
  submitted: number;
  events: IoEvent[];
}

function job(k: Kernel, cgroup: string, n: number, dev = 0): Job {
  const task = k.spawn({ comm: cgroup.slice(1), cgroup });
  const ctx = ioSetup(k, task, 64) as AioContext;
  const fd = k.open(task, `/dev/loop${dev}`, O_RDWR | O_DIRECT);
  expect(fd).toBeGreaterThanOrEqual(0);
  return { task, ctx, fd, base: n * 4 * MiB, submitted: 0, events: [] };
}

/** Keep `qd` writes in flight per job until each has `count` completions; fails the test after `ms` of wall time. */
async function run(k: Kernel, jobs: Job[], count: number, qd: number, ms = 20_000): Promise<void> {
  const submit = (j: Job, n: number): void => {
    const iocbs = [];
    for (let i = 0; i < n && j.submitted < count; i++, j.submitted++) {
      iocbs.push({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: j.fd, aio_nbytes: BS, aio_offset: j.base + j.submitted * BS, aio_data: j.submitted });
    }
    if (iocbs.length > 0) expect(ioSubmit(k, j.task, j.ctx, iocbs)).toBe(iocbs.length);
  };
  for (const j of jobs) submit(j, qd);
  const deadline = Date.now() + ms;
  while (jobs.some((j) => j.events.length < count)) {
    if (Date.now() > deadline) {
      throw new Error(`only ${jobs.map((j) => j.events.length).join('/')} of ${count} completions per job within ${ms} ms; ${JSON.stringify(loopInfo(k, 0).kthreads)}`);
    }
    await new Promise((r) => setTimeout(r, 1));
    for (const j of jobs) {
      const ev = ioGetevents(k, j.task, j.ctx, 0, 64) as IoEvent[];
      j.events.push(...ev);
      submit(j, ev.length);
    }
  }
}

/** every write completed once, successfully, in the order it was issued (one worker FIFO per issuer) */
function expectExactlyOnceInOrder(j: Job, count: number): void {
  expect(j.events.map((e) => e.data)).toEqual(Array.from({ length: count }, (_, i) => i));
  expect(j.events.every((e) => e.res === BS)).toBe(true);
}

function memStat(k: Kernel, cg: string, key: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${cg}/memory.stat`) as string;
  return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)![1]);
}

function ioWbytes(k: Kernel, cg: string, devno: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${cg}/io.stat`) as string;
  const m = new RegExp(`^${devno} .*wbytes=(\\d+)`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

function cpuUsec(k: Kernel, cg: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${cg}/cpu.stat`) as string;
  return Number(/^usage_usec (\d+)$/m.exec(text)![1]);
}

/** wait (polling, wall clock) until `pred` holds; false after `ms` */
async function until(pred: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

async function shutdown(k: Kernel): Promise<void> {
  k.shutdown();
  expect(await loopThreadsIdle(k)).toBe(true);
  expect(loopThreadCount(k)).toBe(0);
  expect(loopThreadErrors(k)).toEqual([]);
}

const CGROUPS = ['/a', '/b', '/c'];

describe('loop kworkers on worker_threads (runtime threads)', () => {
  test.each(['per-cgroup', 'kworker'] as const)('%s, tmpfs backing file: three cgroups at once, exactly once, FIFO per issuer, charged as the design does', async (design) => {
    const k = await boot(`kwq.loop_workers=${design}`, { runtime: 'threads' });
    try {
      backingFile(k, k.init, '/tmp/backing', 64 * MiB);
      losetup(k, k.init, 0, '/tmp/backing');
      const info0 = loopInfo(k, 0);
      expect(info0.kthreads.map((t) => t.comm)).toEqual(design === 'per-cgroup' ? ['kworker/u4:0', 'kworker/u4:1'] : ['loop0']);
      expect(loopThreadCount(k)).toBe(design === 'per-cgroup' ? 2 : 1);
      const jobs = CGROUPS.map((cg, i) => job(k, cg, i));
      const COUNT = 150;
      await run(k, jobs, COUNT, 8);
      for (const j of jobs) expectExactlyOnceInOrder(j, COUNT);
      await new Promise((r) => setTimeout(r, 20)); // nothing more may complete
      for (const j of jobs) expect(ioGetevents(k, j.task, j.ctx, 0, 64)).toEqual([]);
      const lo = dev(k, 0);
      expect(lo.inflight).toBe(0);
      const info = loopInfo(k, 0);
      expect(info.stats).toMatchObject({ queued: 3 * COUNT, completed: 3 * COUNT });
      // the threads did the dispatch: every command went through a kworker thread's request
      expect(info.kthreads.reduce((a, t) => a + t.handled, 0)).toBe(3 * COUNT);
      expect(info.kthreads.reduce((a, t) => a + t.reentered, 0)).toBe(0); // a work never on two threads at once
      for (const t of info.kthreads) expect(t.dropped).toBe(0);
      // and the threads' shared counter of kworkers inside each work is back to 0 everywhere
      // (once every thread left its execution: they are idle in loop_wq_pick)
      const kt = lo.kthreads!;
      expect(await until(() => loopInfo(k, 0).kthreads.every((t) => t.state === 0))).toBe(true);
      const from = activeBase(kt.threads.length);
      expect(kt.ring.subarray(from).every((v) => v === 0)).toBe(true);
      expect(kt.ring.length - from).toBe(lo.kl.le.workerCapacity + 1);
      const bytes = COUNT * BS;
      for (const cg of CGROUPS) {
        // the upper device counts the issuer in both designs (submit_bio)
        expect(ioWbytes(k, cg, '7:0')).toBe(bytes);
        // the backing file's shmem: the issuer's (per-cgroup: set_active_memcg), root's (kworker)
        expect(memStat(k, cg, 'shmem')).toBe(design === 'per-cgroup' ? bytes : 0);
      }
      if (design === 'per-cgroup') {
        expect(info.workers.map((w) => w.cgroup)).toEqual(CGROUPS);
        expect(info.workers.map((w) => w.cmds)).toEqual([COUNT, COUNT, COUNT]);
      } else {
        expect(info.workers).toEqual([]);
        expect(info.stats.rootQueued).toBe(3 * COUNT);
      }
      // CPU of the kworkers, charged to their Tasks' cgroup (root): the main-thread part
      // always, the threads' own time where schedstat exists (after the next accounting tick)
      await new Promise((r) => setTimeout(r, 30));
      const kts = loopInfo(k, 0).kthreads;
      const mainNs = kts.reduce((a, t) => a + t.cpuNs.main, 0);
      const threadNs = kts.reduce((a, t) => a + t.cpuNs.thread, 0);
      expect(mainNs).toBeGreaterThan(0);
      if (HAS_SCHEDSTAT) expect(threadNs).toBeGreaterThan(0);
      expect(cpuUsec(k, '')).toBeGreaterThanOrEqual(Math.floor((mainNs + threadNs) / 1000) - 1);
      for (const cg of CGROUPS) expect(cpuUsec(k, cg)).toBe(0); // the issuers ran nothing of it
    } finally {
      await shutdown(k);
    }
  });

  test.each(['per-cgroup', 'kworker'] as const)('%s, null_blk backing: backing bios charged to the issuer (per-cgroup) or root (kworker); workers wait for I/O in parallel only per-cgroup', async (design) => {
    // 3 ms per backing bio: a kworker waits for it, as do_req_filebacked does
    const k = await boot(`kwq.loop_workers=${design} null_blk.nr_devices=1 null_blk.completion_nsec=3000000`, { runtime: 'threads' });
    try {
      const nb = k.open(k.init, '/dev/nullb0', O_RDWR | O_DIRECT);
      const lfd = k.open(k.init, '/dev/loop0', O_RDWR);
      expect(k.ioctl(k.init, lfd, LOOP_CONFIGURE, { fd: nb, info: {} })).toBe(0);
      k.close(k.init, nb);
      const jobs = CGROUPS.map((cg, i) => job(k, cg, i));
      const COUNT = 20;
      await run(k, jobs, COUNT, 4);
      for (const j of jobs) expectExactlyOnceInOrder(j, COUNT);
      const bytes = COUNT * BS;
      for (const cg of CGROUPS) {
        expect(ioWbytes(k, cg, '7:0')).toBe(bytes);
        // kthread_associate_blkcg: the worker's bios to 251:0 are the issuer's; the
        // <= 5.13 kthread associates only LO_FLAGS_DIRECT_IO commands: root's here
        expect(ioWbytes(k, cg, '251:0')).toBe(design === 'per-cgroup' ? bytes : 0);
      }
      expect(ioWbytes(k, '', '251:0')).toBeGreaterThanOrEqual(design === 'per-cgroup' ? 3 * bytes : 3 * bytes);
      const reg = kernelKthreadsIfAny(k)!;
      // different works ran on different kworker threads at once (both waiting for their
      // backing bios); the single "loopN" kthread never overlaps with itself
      if (design === 'per-cgroup') expect(reg.maxBusy).toBeGreaterThanOrEqual(2);
      else expect(reg.maxBusy).toBe(1);
      expect(loopInfo(k, 0).kthreads.reduce((a, t) => a + t.reentered, 0)).toBe(0);
    } finally {
      await shutdown(k);
    }
  });

  test('worker allocations failing (kwq.loop_worker_fail=50): those commands run on the root work, as root; nothing is lost or run twice', async () => {
    const k = await boot('kwq.loop_worker_fail=50', { runtime: 'threads' });
    try {
      backingFile(k, k.init, '/tmp/backing', 64 * MiB);
      losetup(k, k.init, 0, '/tmp/backing');
      const cgs = ['/a', '/b', '/c', '/d', '/e', '/f'];
      const jobs = cgs.map((cg, i) => job(k, cg, i));
      const COUNT = 40;
      await run(k, jobs, COUNT, 4);
      // a cgroup whose commands went partly to the root work may see them overtake each
      // other (two lists, two works): exactly once, not FIFO, is the rule here
      for (const j of jobs) {
        expect(j.events.map((e) => e.data).sort((a, b) => a - b)).toEqual(Array.from({ length: COUNT }, (_, i) => i));
        expect(j.events.every((e) => e.res === BS)).toBe(true);
      }
      const info = loopInfo(k, 0);
      expect(info.stats.allocFailures).toBeGreaterThan(0);
      expect(info.stats.rootQueued).toBe(info.stats.allocFailures);
      expect(info.stats.completed).toBe(cgs.length * COUNT);
      expect(info.kthreads.reduce((a, t) => a + t.reentered, 0)).toBe(0);
      // shmem: the worker's commands charged the issuer, the fallback's root (issued as root)
      const charged = cgs.reduce((a, cg) => a + memStat(k, cg, 'shmem'), 0);
      expect(charged).toBe((cgs.length * COUNT - info.stats.allocFailures) * BS);
    } finally {
      await shutdown(k);
    }
  });

  test('idle workers go on the idle list and are reaped by the wall-clock timer; new I/O makes a new worker', async () => {
    const k = await boot('kwq.loop_idle_timeout_ms=150', { runtime: 'threads' });
    try {
      backingFile(k, k.init, '/tmp/backing', 64 * MiB);
      losetup(k, k.init, 0, '/tmp/backing');
      const frees: { lastRanAt: number; at: number }[] = [];
      k.trace.on('loop_worker_free', (e) => frees.push({ lastRanAt: e['lastRanAt'] as number, at: k.jiffies }));
      const jobs = ['/a', '/b'].map((cg, i) => job(k, cg, i));
      await run(k, jobs, 10, 4);
      const acg = k.cgroupByPath('/a', 'io')!;
      // every worker went idle (the threads' idle step, last_ran_at in the kernel's
      // jiffies) and the reaper was armed (main thread), for no later than the last
      // idle + the timeout (timer_reduce keeps an earlier expiry)
      // (on a slow machine the reaper may have run already: then there is nothing to look at)
      const armed = (): boolean => {
        const i = loopInfo(k, 0);
        return i.workers.length === 2 && i.workers.every((w) => w.idle) && i.timerExpires !== null;
      };
      expect(await until(() => frees.length > 0 || armed())).toBe(true);
      const before = loopInfo(k, 0);
      if (frees.length === 0 && before.timerExpires !== null && before.workers.length === 2) {
        const lastIdle = Math.max(...before.workers.map((w) => w.lastRanAt));
        expect(lastIdle).toBeLessThanOrEqual(k.jiffies);
        expect(before.timerExpires).toBeLessThanOrEqual(lastIdle + 150);
        expect(acg.refcnt).toBeGreaterThanOrEqual(2); // the directory's + the worker's (unless reaped this instant)
      }
      expect(await until(() => dev(k, 0).nrWorkers === 0)).toBe(true);
      // each worker was freed by the timer once its 150 ms had passed, not before
      expect(frees).toHaveLength(2);
      for (const f of frees) expect(f.at).toBeGreaterThanOrEqual(f.lastRanAt + 150);
      const info = loopInfo(k, 0);
      expect(info.stats.workersFreed).toBe(2);
      expect(acg.refcnt).toBe(1); // css_put by the reaper
      const j2 = job(k, '/a', 3);
      await run(k, [j2], 5, 2);
      expectExactlyOnceInOrder(j2, 5);
      expect(loopInfo(k, 0).stats.workersCreated).toBe(3);
    } finally {
      await shutdown(k);
    }
  });

  test('teardown: LOOP_CLR_FD + LOOP_CTL_REMOVE end the per-cgroup kworker threads and free the workers; kworker design: the last close ends "loopN"', async () => {
    const k = await boot('', { runtime: 'threads' });
    try {
      backingFile(k, k.init, '/tmp/backing', 64 * MiB);
      const { lfd } = losetup(k, k.init, 0, '/tmp/backing');
      const j = job(k, '/a', 0);
      await run(k, [j], 20, 4);
      const tasks = dev(k, 0).kthreads!.threads.map((t) => t.task);
      k.exit(j.task, 0); // its fds: the device's, and init's /dev/loop0 that spawn copied
      expect(k.ioctl(k.init, lfd, LOOP_CLR_FD)).toBe(0);
      k.close(k.init, lfd);
      // the last close's flush goes through the kworkers: __loop_clr_fd finishes when it completed
      expect(await until(() => loopInfo(k, 0).state === 'Lo_unbound')).toBe(true);
      // 5.19+: the workqueue outlives LOOP_CLR_FD
      expect(loopThreadCount(k)).toBe(2);
      const ctl = k.open(k.init, '/dev/loop-control', O_RDWR);
      expect(k.ioctl(k.init, ctl, LOOP_CTL_REMOVE, 0)).toBe(0);
      expect(await loopThreadsIdle(k)).toBe(true);
      expect(loopThreadCount(k)).toBe(0);
      expect(tasks.every((t) => !t.alive)).toBe(true);
      expect(k.cgroupByPath('/a', 'io')!.refcnt).toBe(1); // the worker's css reference was dropped

      // the <= 5.13 design on loop1: the "loop1" kthread stops at the last close after LOOP_CLR_FD
      const l1 = k.open(k.init, '/dev/loop1', O_RDWR);
      const { loopSetWorkers } = await import('../../../src/drivers/loop/index.js');
      expect(loopSetWorkers(k, 1, 'kworker')).toBe(0);
      const bfd = k.open(k.init, '/tmp/backing', O_RDWR);
      expect(k.ioctl(k.init, l1, LOOP_CONFIGURE, { fd: bfd, info: {} })).toBe(0);
      k.close(k.init, bfd);
      expect(loopInfo(k, 1).kthreads.map((t) => t.comm)).toEqual(['loop1']);
      const j1 = job(k, '/b', 1, 1);
      await run(k, [j1], 10, 4);
      expectExactlyOnceInOrder(j1, 10);
      k.exit(j1.task, 0);
      expect(k.ioctl(k.init, l1, LOOP_CLR_FD)).toBe(0);
      k.close(k.init, l1);
      expect(await until(() => loopInfo(k, 1).state === 'Lo_unbound')).toBe(true);
      expect(await loopThreadsIdle(k)).toBe(true);
      expect(loopThreadCount(k)).toBe(0);
      // bound again: a new "loop1" thread
      const l1b = k.open(k.init, '/dev/loop1', O_RDWR);
      const bfd2 = k.open(k.init, '/tmp/backing', O_RDWR);
      expect(k.ioctl(k.init, l1b, LOOP_CONFIGURE, { fd: bfd2, info: {} })).toBe(0);
      expect(loopThreadCount(k)).toBe(1);
      const j2 = job(k, '/b', 2, 1);
      await run(k, [j2], 10, 4);
      expectExactlyOnceInOrder(j2, 10);
    } finally {
      await shutdown(k);
    }
  });

  test('k.shutdown() with backing bios in flight ends every thread (their commands are dropped)', async () => {
    const k = await boot('null_blk.nr_devices=1 null_blk.completion_nsec=200000000', { runtime: 'threads' });
    const nb = k.open(k.init, '/dev/nullb0', O_RDWR | O_DIRECT);
    const lfd = k.open(k.init, '/dev/loop0', O_RDWR);
    expect(k.ioctl(k.init, lfd, LOOP_CONFIGURE, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO } })).toBe(0);
    const jobs = CGROUPS.map((cg, i) => job(k, cg, i));
    for (const j of jobs) {
      expect(ioSubmit(k, j.task, j.ctx, [0, 1, 2].map((i) => ({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: j.fd, aio_nbytes: BS, aio_offset: i * BS })))).toBe(3);
    }
    // both kworker threads are waiting for the main thread (their backing bios take 200 ms)
    expect(await until(() => loopInfo(k, 0).kthreads.filter((t) => t.state === 2).length === 2)).toBe(true);
    k.shutdown();
    expect(await loopThreadsIdle(k, 5000)).toBe(true);
    expect(loopThreadCount(k)).toBe(0);
    expect(loopThreadErrors(k)).toEqual([]);
  });

  test('LOOP_CONFIGURE fails with -ENOMEM when no more kworker threads can be started, and changes nothing', async () => {
    // 20 kworker threads per device; 32 per kernel: the second device does not fit
    const k = await boot('kwq.loop_kthreads=20 loop.max_loop=2', { runtime: 'threads' });
    try {
      backingFile(k, k.init, '/tmp/backing', 64 * MiB);
      losetup(k, k.init, 0, '/tmp/backing');
      expect(loopThreadCount(k)).toBe(20);
      const l1 = k.open(k.init, '/dev/loop1', O_RDWR);
      const bfd = k.open(k.init, '/tmp/backing', O_RDWR);
      const tasks = k.tasks().length;
      expect(k.ioctl(k.init, l1, LOOP_CONFIGURE, { fd: bfd, info: {} })).toBe(-12);
      expect(loopInfo(k, 1).state).toBe('Lo_unbound');
      expect(dev(k, 1).tree).toBeNull();
      expect(k.tasks().length).toBe(tasks);
      expect(loopThreadCount(k)).toBe(20);
      // the first device still works with its 20 threads
      const j = job(k, '/a', 0);
      await run(k, [j], 40, 8);
      expectExactlyOnceInOrder(j, 40);
    } finally {
      await shutdown(k);
    }
  });
});

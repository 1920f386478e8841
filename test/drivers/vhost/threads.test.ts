/**
 * vhost on real worker_threads (Kernel.boot({ runtime: 'threads' })): every vhost
 * worker is a thread running the Wasm worker loop; handle_kick and the completion
 * work run there over the vq's shared state; completions come back to the main
 * thread through Atomics.waitAsync as call-eventfd signals.
 */
import { describe, expect, test } from 'vitest';
import {
  Kernel, O_RDWR, SIGKILL, ThreadsFioJob, VHOST_ATTACH_VRING_WORKER, VHOST_FREE_WORKER, VHOST_NEW_WORKER,
  VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_VQ_IO, VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, VirtioQueue, vhostFlush, vhostThreadCount, vhostThreadsIdle,
  type Task, type ThreadsFioJobReport,
} from 'kwq';
import { VHOST_VQ, VHOST_FN_VQ_COMPLETE, VHOST_FN_VQ_HANDLE, vqExports } from '../../../src/drivers/vhost/vq-shared.js';
import { devOf, info, NO_MEM, SCSI_TARGET, workerTasks } from './helpers.js';

const CG = '/machine.slice/vm1';

async function boot(ioVqs: number, cmdline = ''): Promise<{ k: Kernel; qemu: Task; fd: number }> {
  const k = await Kernel.boot({ runtime: 'threads', cmdline: `vhost_scsi.max_io_vqs=${ioVqs} ${cmdline}`.trim() });
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: CG });
  const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
  expect(fd).toBeGreaterThanOrEqual(0);
  expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
  expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
  expect(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, SCSI_TARGET)).toBe(0);
  return { k, qemu, fd };
}

function usageUsec(k: Kernel, path: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${path}/cpu.stat`);
  if (typeof text !== 'string') throw new Error(`cpu.stat: ${text}`);
  return Number(/usage_usec (\d+)/.exec(text)![1]);
}

function expectExactlyOnce(r: ThreadsFioJobReport, count: number): void {
  expect(r.timedOut).toBe(false);
  expect(r).toMatchObject({ count, submitted: count, completed: count, duplicates: 0, unknown: 0, missing: 0, outOfOrder: 0 });
}

describe('vhost in the threads runtime', () => {
  test('the shared vq layout matches kwq.wasm, and fn 4/5 are built-ins the engine accepts', async () => {
    const { k, qemu, fd } = await boot(1);
    try {
      const dev = devOf(k, qemu, fd);
      const e = dev.ve.engine;
      const x = vqExports(e);
      expect(x.vhost_vq_size()).toBe(VHOST_VQ.SIZE);
      const vq = dev.vqs[VHOST_SCSI_VQ_IO]!;
      const sh = vq.shared!;
      // the poll and completion works are the vq's built-ins, with the vq as argument
      expect(e.works.fn(vq.poll!.work.ref)).toBe(VHOST_FN_VQ_HANDLE);
      expect(e.works.arg(vq.poll!.work.ref)).toBe(sh.vq);
      expect(e.works.fn(vq.aux!.ref)).toBe(VHOST_FN_VQ_COMPLETE);
      expect(e.u32[(sh.vq + VHOST_VQ.POLL_WORK) >> 2]).toBe(vq.poll!.work.ref);
      expect(e.u32[(sh.vq + VHOST_VQ.AUX_WORK) >> 2]).toBe(vq.aux!.ref);
      expect(e.u32[(sh.vq + VHOST_VQ.WORKER) >> 2]).toBe(vq.worker!.handle.offset);
      expect(e.u32[(sh.vq + VHOST_VQ.BACKEND) >> 2]).toBe(1);
      expect(vq.ring.kickArmed).toBe(true);
      expect(vq.ring.irqArmed).toBe(true);
    } finally {
      k.shutdown();
      expect(await vhostThreadsIdle(k)).toBe(true);
    }
  });

  test('a worker per vq: every descriptor completes exactly once, on the worker threads; cpu.stat charged; no thread left after close', async () => {
    const VQS = 4;
    const COUNT = 20_000;
    const { k, qemu, fd } = await boot(VQS);
    try {
      for (let i = 1; i < VQS; i++) {
        const st = { worker_id: 0 };
        expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
        expect(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: VHOST_SCSI_VQ_IO + i, worker_id: st.worker_id })).toBe(0);
      }
      expect(vhostThreadCount(k)).toBe(VQS);
      const usage0 = usageUsec(k, CG);
      const jobs = [];
      for (let i = 0; i < VQS; i++) {
        const q = VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO + i);
        if (typeof q === 'number') throw new Error(`attach: ${q}`);
        jobs.push(ThreadsFioJob.start(q, { iodepth: 64, count: COUNT }));
      }
      const reports = await Promise.all(jobs.map((j) => j.done));
      for (const r of reports) {
        expectExactlyOnce(r, COUNT);
        expect(r.interrupts).toBeGreaterThan(0);
        expect(r.kicks).toBeGreaterThan(0);
      }
      // the works ran on 4 distinct real threads, none of them this one
      const i1 = info(k, qemu, fd);
      const tids = i1.workers.map((w) => w.tid);
      expect(tids.every((t) => typeof t === 'number' && t !== process.pid)).toBe(true);
      expect(new Set(tids).size).toBe(VQS);
      // per-thread counters: each worker's struct counted the works its thread took
      for (const w of i1.workers) expect(w.items).toBeGreaterThan(0);
      const dev = devOf(k, qemu, fd);
      for (const w of dev.liveWorkers()) expect(w.handle.stats().violations).toBe(0);
      for (let i = 0; i < VQS; i++) {
        const vq = i1.vqs[VHOST_SCSI_VQ_IO + i]!;
        expect(vq.handled).toBe(COUNT); // descriptors taken by handle_kick on the thread
        expect(vq.worker).toBe(i1.workers.find((w) => w.id === vq.worker)!.id);
      }
      // the model's worker Tasks (task mode: threads of QEMU) still exist for accounting
      expect(workerTasks(k, qemu.pid).length).toBe(VQS);
      expect(await vhostFlush(k, qemu, fd)).toBe(0);
      expect(k.close(qemu, fd)).toBe(0);
      expect(await vhostThreadsIdle(k)).toBe(true);
      expect(vhostThreadCount(k)).toBe(0);
      // CPU time of the worker threads, charged to the VM's cgroup (task mode): at least
      // a good part of what the descriptors cost (descNs 1600 + usedNs 350 each)
      const spent = usageUsec(k, CG) - usage0;
      expect(spent).toBeGreaterThan(0.5 * (VQS * COUNT * 1950) / 1000);
      expect(dev.ve.threads!.errors).toEqual([]);
    } finally {
      k.shutdown();
    }
  });

  test('one worker for every vq (the default) runs them all on one thread; kthread mode charges the snapshot cgroup', async () => {
    const { k, qemu, fd } = await boot(2, 'vhost.fork_from_owner_default=0');
    try {
      const usage0 = usageUsec(k, CG);
      const jobs = [0, 1].map((i) => ThreadsFioJob.start(VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO + i) as VirtioQueue, { iodepth: 32, count: 5000 }));
      for (const r of await Promise.all(jobs.map((j) => j.done))) expectExactlyOnce(r, 5000);
      const i1 = info(k, qemu, fd);
      expect(i1.workers.length).toBe(1);
      expect(i1.workers[0]!.mode).toBe('kthread');
      expect(i1.workers[0]!.tid).not.toBeNull();
      expect(vhostThreadCount(k)).toBe(1);
      k.exit(qemu);
      expect(await vhostThreadsIdle(k)).toBe(true);
      expect(vhostThreadCount(k)).toBe(0);
      expect(usageUsec(k, CG) - usage0).toBeGreaterThan(0);
    } finally {
      k.shutdown();
    }
  });

  test('SIGKILL of the owner: the killed path ends the threads; FREE_WORKER and shutdown end theirs; nothing leaks', async () => {
    const { k, qemu, fd } = await boot(2);
    const st = { worker_id: 0 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
    const st2 = { worker_id: 0 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st2)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: VHOST_SCSI_VQ_IO + 1, worker_id: st.worker_id })).toBe(0);
    expect(vhostThreadCount(k)).toBe(3);
    // an unattached worker: FREE_WORKER ends its thread
    expect(k.ioctl(qemu, fd, VHOST_FREE_WORKER, st2)).toBe(0);
    expect(await vhostThreadsIdle(k)).toBe(true);
    expect(vhostThreadCount(k)).toBe(2);
    const q = VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO + 1) as VirtioQueue;
    const job = ThreadsFioJob.start(q, { iodepth: 16, count: 1000 });
    expectExactlyOnce(await job.done, 1000);
    expect(k.kill(qemu, SIGKILL)).toBe(0);
    expect(await vhostThreadsIdle(k)).toBe(true);
    expect(vhostThreadCount(k)).toBe(0);
    // a second kernel shut down with its threads running
    const b = await boot(1);
    expect(vhostThreadCount(b.k)).toBe(1);
    b.k.shutdown();
    expect(await vhostThreadsIdle(b.k)).toBe(true);
    expect(vhostThreadCount(b.k)).toBe(0);
    k.shutdown();
  });
});

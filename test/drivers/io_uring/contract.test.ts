// The io_uring contract through the public API: setup/enter/register return what the
// syscalls return, io-wq workers are threads iou-wrk-<pid> of the submitter, hashed
// writes to one file are serialised, idle workers leave after WORKER_IDLE_TIMEOUT, and
// what RLIMIT_NPROC does to worker creation on 6.1 and 6.12.
import { describe, expect, it } from 'vitest';
import {
  Kernel, IoUring, ioUringTaskWq, O_RDWR, O_CREAT, EINVAL, EBADF, ECANCELED, IOSQE_ASYNC, IORING_SETUP_CLAMP,
  IORING_REGISTER_IOWQ_MAX_WORKERS, PF_IO_WORKER, PF_USER_WORKER, RLIMIT_NPROC, type IoUringParams,
} from '../../../src/index.js';

async function boot(release?: '6.1' | '6.12'): Promise<Kernel> {
  return Kernel.boot(release ? { release } : {});
}

describe('io_uring_setup', () => {
  it('rounds entries up, sizes the CQ at twice the SQ and fills io_uring_params', async () => {
    const k = await boot();
    const t = k.spawn({ comm: 'app', uid: 1000, cgroup: '/app.slice' });
    const p: IoUringParams = {};
    const fd = k.io_uring_setup(t, 100, p);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(p.sq_entries).toBe(128);
    expect(p.cq_entries).toBe(256);
    expect(p.sq_off?.array).toBeGreaterThan(0);
    expect(k.io_uring_setup(t, 0, {})).toBe(-EINVAL);
    expect(k.io_uring_setup(t, 40000, {})).toBe(-EINVAL);
    expect(k.io_uring_setup(t, 40000, { flags: IORING_SETUP_CLAMP })).not.toBe(-EINVAL); // clamped to 32768 (the model's rings: -ENOMEM)
    expect(k.io_uring_enter(t, 99, 0, 0, 0)).toBe(-EBADF);
  });

  it('a NOP completes inline with res 0 and its user_data; an unknown opcode gets -EINVAL in its CQE', async () => {
    const k = await boot();
    const t = k.spawn({ comm: 'app' });
    const ring = IoUring.queueInit(k, t, 8);
    ring.prepNop(42n);
    ring.prep(200, -1, 0, 0, 7n);
    expect(ring.submitAndWait(2)).toBe(2);
    expect(ring.reap()).toEqual([{ user_data: 42n, res: 0, flags: 0 }, { user_data: 7n, res: -EINVAL, flags: 0 }]);
    expect(ioUringTaskWq(k, t)!.info.created).toBe(0); // nothing went to io-wq
  });
});

describe('io-wq workers', () => {
  it('IOSQE_ASYNC work runs on iou-wrk-<pid>: PF_IO_WORKER, same tgid and cgroup, charged to the submitter', async () => {
    const k = await boot('6.12');
    const t = k.spawn({ comm: 'app', uid: 1000, cgroup: '/app.slice' });
    const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
    const ring = IoUring.queueInit(k, t, 8);
    ring.prepWrite(fd, 8192, 0, 1n, IOSQE_ASYNC);
    expect(ring.submitAndWait(1)).toBe(1);
    expect(ring.reap()).toEqual([{ user_data: 1n, res: 8192, flags: 0 }]);
    const wq = ioUringTaskWq(k, t)!;
    expect(wq.info.created).toBe(1);
    const w = wq.info.workers[0]!;
    expect(w.comm).toBe(`iou-wrk-${t.pid}`);
    expect(w.flags & PF_IO_WORKER).toBe(PF_IO_WORKER);
    expect(w.flags & PF_USER_WORKER).toBe(PF_USER_WORKER); // create_io_thread sets user_worker from 6.4
    expect(w.tgid).toBe(t.tgid);
    expect(w.cgroup).toBe('/app.slice');
    const cpu = k.readFile(k.init, '/sys/fs/cgroup/app.slice/cpu.stat') as string;
    expect(Number(/usage_usec (\d+)/.exec(cpu)![1])).toBeGreaterThan(0);
  });

  it('6.1: the worker is PF_IO_WORKER without PF_USER_WORKER', async () => {
    const k = await boot('6.1');
    const t = k.spawn({ comm: 'app' });
    const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
    const ring = IoUring.queueInit(k, t, 8);
    ring.prepWrite(fd, 4096, 0, 1n, IOSQE_ASYNC);
    ring.submitAndWait(1);
    const w = ioUringTaskWq(k, t)!.info.workers[0]!;
    expect(w.flags & (PF_IO_WORKER | PF_USER_WORKER)).toBe(PF_IO_WORKER);
  });

  it('an idle worker exits after WORKER_IDLE_TIMEOUT unless it is the last one', async () => {
    const k = await boot();
    const t = k.spawn({ comm: 'app' });
    const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
    const ring = IoUring.queueInit(k, t, 8);
    ring.prepFsync(fd, 1n, IOSQE_ASYNC);
    ring.prepFsync(fd, 2n, IOSQE_ASYNC); // fsync blocks: the blocked worker makes another
    ring.submitAndWait(2);
    const wq = ioUringTaskWq(k, t)!;
    expect(wq.info.created).toBe(2);
    k.advance(6000);
    expect(wq.liveWorkers().length).toBe(1);
    expect(wq.info.exited).toBe(1);
  });

  it('IORING_REGISTER_IOWQ_MAX_WORKERS clamps to RLIMIT_NPROC and returns the previous values', async () => {
    const k = await boot();
    const t = k.spawn({ comm: 'app', uid: 1000, rlimits: { RLIMIT_NPROC: [50, 50] } });
    const fd = k.io_uring_setup(t, 16, {});
    const a = [0, 0];
    expect(k.io_uring_register(t, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, a, 2)).toBe(0);
    expect(a).toEqual([Math.min(16, 4 * 2), 50]); // bounded = min(sq_entries, 4 * ncpus), unbounded = RLIMIT_NPROC
    const b = [2, 1000];
    expect(k.io_uring_register(t, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, b, 2)).toBe(0);
    expect(b).toEqual([8, 50]);
    const c = [0, 0];
    k.io_uring_register(t, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, c, 2);
    expect(c).toEqual([2, 50]); // 1000 was clamped to 50
    expect(k.io_uring_register(t, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, [0, 0], 1)).toBe(-EINVAL);
    expect(k.io_uring_register(t, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, [2 ** 31, 0], 2)).toBe(-EINVAL);
  });
});

describe('RLIMIT_NPROC and worker creation', () => {
  async function atLimit(release: '5.14' | '6.1' | '6.12') {
    const k = await boot(release);
    const t = k.spawn({ comm: 'app', uid: 1000 });
    const n = k.tasks().filter((x) => x.uid === 1000 && x.alive).length;
    k.setrlimit(t, RLIMIT_NPROC, [n, n]);
    const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
    const ring = IoUring.queueInit(k, t, 8);
    ring.prepWrite(fd, 4096, 0, 1n, IOSQE_ASYNC);
    ring.submit();
    k.advance(200);
    return { k, t, ring, wq: ioUringTaskWq(k, t)! };
  }

  it('6.12: create_io_thread gets -EAGAIN, is retried WORKER_INIT_LIMIT times, then the work is cancelled (-ECANCELED)', async () => {
    const { ring, wq } = await atLimit('6.12');
    expect(wq.info.created).toBe(0);
    expect(wq.info.createFailures).toBe(4);
    expect(wq.info.retries).toBe(3);
    expect(ring.reap()).toEqual([{ user_data: 1n, res: -ECANCELED, flags: 0 }]);
  });

  it('6.1.y has the limit too (the backport; the oracle: Debian 6.1.192, iouring-nproc): -ECANCELED after 4 attempts', async () => {
    const { ring, wq } = await atLimit('6.1');
    expect(wq.info.created).toBe(0);
    expect(wq.info.createFailures).toBe(4);
    expect(ring.reap()).toEqual([{ user_data: 1n, res: -ECANCELED, flags: 0 }]);
  });

  it('5.14 (before 0453aad676ff): retried without limit; the request never completes while the limit holds', async () => {
    const { ring, wq } = await atLimit('5.14');
    expect(wq.info.created).toBe(0);
    expect(wq.info.retries).toBeGreaterThan(100);
    expect(ring.reap()).toEqual([]);
  });
});

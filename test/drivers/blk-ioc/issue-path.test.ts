/**
 * The block layer's issue path carries the issuing task's io_context and ioprio:
 * /sys/block/<disk>/queue/scheduler, bio_set_ioprio, BFQ's ioc_find_get_icq for
 * current, the block_rq_issue tracepoint, aio's IOCB_FLAG_IOPRIO, and the loop
 * worker issuing its backing request as itself (src/drivers/block/blk-mq.ts,
 * null-blk.ts, aio.ts, src/drivers/loop/loop-device.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  EACCES, EINVAL, EPERM, IOCB_CMD_PWRITE, IOCB_FLAG_IOPRIO, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_RT,
  IOPRIO_PRIO_VALUE, IOPRIO_WHO_PROCESS, Kernel, LOOP_CONFIGURE, LOOP_CTL_REMOVE, LO_FLAGS_DIRECT_IO, O_DIRECT, O_RDWR,
  ioGetevents, ioSetup, ioSubmit, loopSetWorkers, taskIoContext, type AioContext, type Task, type TraceEvent,
} from '../../../src/index.js';

const BE = (l: number): number => IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, l);
const IDLE = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0);

async function boot(cmdline = 'null_blk.nr_devices=2'): Promise<Kernel> {
  return Kernel.boot({ cmdline, seed: 1 });
}

function issued(k: Kernel): TraceEvent[] {
  const evs: TraceEvent[] = [];
  k.trace.on('block_rq_issue', (e) => evs.push(e));
  return evs;
}

describe('/sys/block/<disk>/queue/scheduler', () => {
  it('lists none first and the current elevator in brackets: mq-deadline for null_blk, none for loop', async () => {
    const k = await boot();
    expect(k.readFile(k.init, '/sys/block/nullb0/queue/scheduler')).toBe('none [mq-deadline] kyber bfq \n');
    expect(k.readFile(k.init, '/sys/block/loop0/queue/scheduler')).toBe('[none] mq-deadline kyber bfq \n');
    k.shutdown();
  });

  it('switches on a known name (same name: no-op), rejects an unknown one with -EINVAL and a non-root writer with -EACCES, changing nothing', async () => {
    const k = await boot();
    const p = '/sys/block/nullb0/queue/scheduler';
    expect(k.writeFile(k.init, p, 'bfq\n')).toBe(4);
    expect(k.readFile(k.init, p)).toBe('none mq-deadline kyber [bfq] \n');
    expect(k.writeFile(k.init, p, 'bfq')).toBe(3);
    expect(k.writeFile(k.init, p, 'cfq')).toBe(-EINVAL);
    const user = k.spawn({ comm: 'user', uid: 1000 });
    expect(k.writeFile(user, p, 'none')).toBe(-EACCES);
    expect(k.readFile(k.init, p)).toBe('none mq-deadline kyber [bfq] \n');
    expect(k.writeFile(k.init, p, 'none')).toBe(4);
    expect(k.readFile(k.init, p)).toBe('[none] mq-deadline kyber bfq \n');
    k.shutdown();
  });

  it('goes away with LOOP_CTL_REMOVE', async () => {
    const k = await boot();
    const ctl = k.open(k.init, '/dev/loop-control', O_RDWR);
    expect(k.ioctl(k.init, ctl, LOOP_CTL_REMOVE, 3)).toBe(0);
    expect(k.readFile(k.init, '/sys/block/loop3/queue/scheduler')).toBeLessThan(0);
    expect(typeof k.readFile(k.init, '/sys/block/loop2/queue/scheduler')).toBe('string');
    k.shutdown();
  });
});

describe('the issue path: bio_set_ioprio and the elevator', () => {
  function writeDirect(k: Kernel, t: Task, dev: string): void {
    const fd = k.open(t, dev, O_RDWR | O_DIRECT);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(k.pwrite(t, fd, 4096, 0)).toBe(4096);
    k.close(t, fd);
  }

  it('mq-deadline creates no io_context; the request carries the nice-derived be/4', async () => {
    const k = await boot();
    const evs = issued(k);
    const t = k.spawn({ comm: 'dd' });
    writeDirect(k, t, '/dev/nullb0');
    expect(taskIoContext(t)).toBeNull();
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ disk: 'nullb0', pid: t.pid, comm: 'dd', ioc: 0, ioprio: BE(4), elevator: 'mq-deadline', icq: false });
    k.shutdown();
  });

  it('bfq creates the issuer\'s io_context on its first request: refcount 2 while in flight (task + request), 1 after; a switch away destroys its icq', async () => {
    const k = await boot();
    expect(k.writeFile(k.init, '/sys/block/nullb0/queue/scheduler', 'bfq')).toBe(3);
    const evs = issued(k);
    const t = k.spawn({ comm: 'dd' });
    writeDirect(k, t, '/dev/nullb0');
    const ioc = taskIoContext(t)!;
    expect(ioc).not.toBeNull();
    expect(evs[0]).toMatchObject({ pid: t.pid, ioc: ioc.id, iocRefcount: 2, iocActiveRef: 1, iocTasks: [t.pid], icq: true, ioprio: BE(4) });
    expect(ioc.refcount).toBe(1);
    expect(ioc.icqList.size).toBe(1);
    expect(k.writeFile(k.init, '/sys/block/nullb0/queue/scheduler', 'kyber')).toBe(5);
    expect(ioc.icqList.size).toBe(0);
    k.shutdown();
  });

  it('a priority set with ioprio_set is what the request carries (the io_context\'s raw value is the class, not NONE)', async () => {
    const k = await boot();
    const evs = issued(k);
    const t = k.spawn({ comm: 'dd' });
    expect(k.ioprio_set(t, IOPRIO_WHO_PROCESS, 0, IDLE)).toBe(0);
    writeDirect(k, t, '/dev/nullb0');
    expect(evs[0]).toMatchObject({ pid: t.pid, ioprio: IDLE, iocIoprio: IDLE });
    k.shutdown();
  });
});

describe('aio: IOCB_FLAG_IOPRIO', () => {
  function setup(k: Kernel, uid: number): { t: Task; ctx: AioContext; fd: number } {
    const t = k.spawn({ comm: 'fio', uid });
    const ctx = ioSetup(k, t, 8) as AioContext;
    const fd = k.open(t, '/dev/nullb0', O_RDWR | O_DIRECT);
    return { t, ctx, fd };
  }

  it('aio_reqprio is the request priority; without the flag the submitter\'s own', async () => {
    const k = await boot();
    const evs = issued(k);
    const { t, ctx, fd } = setup(k, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(ioSubmit(k, t, ctx, [{ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 4096, aio_offset: 0, aio_flags: IOCB_FLAG_IOPRIO, aio_reqprio: BE(1) }])).toBe(1);
    expect(ioSubmit(k, t, ctx, [{ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 4096, aio_offset: 4096 }])).toBe(1);
    expect((ioGetevents(k, t, ctx, 2, 2) as unknown[]).length).toBe(2);
    expect(evs.map((e) => e['ioprio'])).toEqual([BE(1), BE(4)]);
    k.shutdown();
  });

  it('ioprio_check_cap fails the iocb: RT without CAP_SYS_NICE/ADMIN -EPERM, class 5 -EINVAL; nothing is submitted', async () => {
    const k = await boot();
    const evs = issued(k);
    const { t, ctx, fd } = setup(k, 1000);
    expect(fd).toBeGreaterThanOrEqual(0);
    const submit = (prio: number): number =>
      ioSubmit(k, t, ctx, [{ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 4096, aio_offset: 0, aio_flags: IOCB_FLAG_IOPRIO, aio_reqprio: prio }]);
    expect(submit(IOPRIO_PRIO_VALUE(IOPRIO_CLASS_RT, 0))).toBe(-EPERM);
    expect(submit(5 << 13)).toBe(-EINVAL);
    expect(evs).toHaveLength(0);
    expect(ioGetevents(k, t, ctx, 0, 8)).toEqual([]);
    // with CAP_SYS_NICE the RT request goes through
    const nice = k.spawn({ comm: 'fio-rt', uid: 1000, caps: ['CAP_SYS_NICE'] });
    const ctx2 = ioSetup(k, nice, 4) as AioContext;
    const fd2 = k.open(nice, '/dev/nullb0', O_RDWR | O_DIRECT);
    expect(ioSubmit(k, nice, ctx2, [{ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd2, aio_nbytes: 4096, aio_offset: 0, aio_flags: IOCB_FLAG_IOPRIO, aio_reqprio: IOPRIO_PRIO_VALUE(IOPRIO_CLASS_RT, 3) }])).toBe(1);
    expect(evs.map((e) => e['ioprio'])).toEqual([IOPRIO_PRIO_VALUE(IOPRIO_CLASS_RT, 3)]);
    k.shutdown();
  });
});

describe('loop: the worker issues the backing request as itself', () => {
  for (const design of ['kworker', 'per-cgroup'] as const) {
    it(`${design}: the backing request's current is the worker, with the worker's io_context; its priority is ${design === 'per-cgroup' ? "the issuer's (req_get_ioprio, 1fdb8188c3d5)" : "the worker's (NONE kiocb, <= 5.13)"}`, async () => {
      const k = await boot();
      expect(loopSetWorkers(k, 0, design)).toBe(0);
      expect(k.writeFile(k.init, '/sys/block/nullb0/queue/scheduler', 'bfq')).toBe(3);
      const lfd = k.open(k.init, '/dev/loop0', O_RDWR);
      const nb = k.open(k.init, '/dev/nullb0', O_RDWR);
      expect(k.ioctl(k.init, lfd, LOOP_CONFIGURE, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO } })).toBe(0);
      const evs = issued(k);
      const t = k.spawn({ comm: 'dd', cgroup: '/a' });
      expect(k.ioprio_set(t, IOPRIO_WHO_PROCESS, 0, BE(2))).toBe(0);
      const fd = k.open(t, '/dev/loop0', O_RDWR | O_DIRECT);
      expect(k.pwrite(t, fd, 8192, 0)).toBe(8192);
      const upper = evs.find((e) => e['disk'] === 'loop0')!;
      const lower = evs.find((e) => e['disk'] === 'nullb0')!;
      expect(upper).toMatchObject({ pid: t.pid, ioprio: BE(2), ioc: taskIoContext(t)!.id, icq: false });
      const worker = k.task(lower['pid'] as number)!;
      expect(worker.pid).not.toBe(t.pid);
      expect(worker.comm).toMatch(design === 'kworker' ? /^loop0$/ : /^kworker\/u\d+:\d+$/);
      const wioc = taskIoContext(worker)!;
      expect(lower).toMatchObject({ ioc: wioc.id, iocTasks: [worker.pid], iocRefcount: 2, blkcg: '/a' });
      expect(wioc).not.toBe(taskIoContext(t));
      expect(wioc.refcount).toBe(1);
      expect(lower['ioprio']).toBe(design === 'per-cgroup' ? BE(2) : BE(4));
      k.shutdown();
    });
  }
});

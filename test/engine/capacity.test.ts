import { describe, expect, test } from 'vitest';
import { ENOMEM, Engine, Kernel, O_RDWR, VHOST_SET_OWNER, VHOST_FN_NOOP } from 'kwq';

// Issue 10: default capacities fit a large host without flags, and a full arena is an
// errno where the kernel returns one, never a throw from a syscall.
describe('capacities', () => {
  test('regression: the 64th /dev/vhost-scsi open returned -ENOMEM with the default work arena', async () => {
    const k = await Kernel.boot({ runtime: 'sim' });
    const qemu = k.spawn({ comm: 'qemu-system-x86' });
    const fds: number[] = [];
    for (let i = 0; i < 200; i++) fds.push(k.open(qemu, '/dev/vhost-scsi', O_RDWR));
    expect(fds.filter((fd) => fd < 0)).toEqual([]); // 200 devices of 130 vqs: 52k works
    for (const fd of fds.slice(0, 4)) expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    for (const fd of fds) expect(k.close(qemu, fd)).toBe(0);
    k.shutdown();
  });

  test('regression: a vhost-vsock ioctl with the work arena full threw a KwqError from vhostDevFlush', async () => {
    const k = await Kernel.boot({ runtime: 'sim', cmdline: 'kwq.vhost_works=64' });
    const qemu = k.spawn({ comm: 'qemu-system-x86' });
    const first = k.open(qemu, '/dev/vhost-vsock', O_RDWR);
    expect(first).toBeGreaterThanOrEqual(0);
    // fill the work arena: each vsock device takes 2 works (its vqs' poll works)
    let last = 0;
    for (let i = 0; i < 64 && last >= 0; i++) last = k.open(qemu, '/dev/vhost-vsock', O_RDWR);
    expect(last).toBe(-ENOMEM); // the open that finds the arena full: -ENOMEM, as kzalloc's
    // SET_OWNER creates the worker, then vhost_vsock_flush: no work left for the flush
    expect(() => k.ioctl(qemu, first, VHOST_SET_OWNER)).not.toThrow();
    // a flush with no free work still runs what was queued before it (the worker is idle here)
    expect(k.close(qemu, first)).toBe(0);
    k.shutdown();
  });

  test('a large arena backs no object until it is used, and hands objects out in address order', () => {
    const e = Engine.create({ works: 1 << 20, workers: 65536, counters: 1 });
    expect(e.works.highWater()).toBe(0);
    expect(e.works.countFree()).toBe(1 << 20);
    const a = e.works.alloc();
    const b = e.works.alloc();
    expect(b - a).toBe(32);
    e.works.free(a);
    expect(e.works.alloc()).toBe(a); // a freed object comes back before a never-used one
    const c = e.works.alloc();
    expect(c - b).toBe(32);
    expect(e.works.highWater()).toBe(3);
    expect(e.works.countFree()).toBe((1 << 20) - 3);
    e.works.init(c, VHOST_FN_NOOP);
    const w = e.worker(65535); // the last worker struct: zero memory is vhost_worker_init's state
    expect(w.queue(c) & 1).toBe(1);
    expect(w.run()).toBe(1);
    expect(w.stats().violations).toBe(0);
  });

  test('a full arena is -ENOMEM from tryAlloc after the bump pointer and the free list run out', () => {
    const e = Engine.create({ works: 3, workers: 1, counters: 1 });
    const got = [e.works.tryAlloc(), e.works.tryAlloc(), e.works.tryAlloc()];
    expect(got.every((p) => p > 0)).toBe(true);
    expect(e.works.tryAlloc()).toBe(-ENOMEM);
    e.works.free(got[1]!);
    expect(e.works.tryAlloc()).toBe(got[1]);
    expect(e.works.tryAlloc()).toBe(-ENOMEM);
  });
});

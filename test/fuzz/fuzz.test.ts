/**
 * The whole-kernel fuzzer (test/fuzz/fuzz.ts) in `npm test`: a bounded slice in each
 * runtime with every invariant of world.ts held, proof that the slice reaches the deep
 * paths (successful ioctls past SET_OWNER, bound loop devices, vCPUs), proof that the
 * fuzzer finds and shrinks a planted defect and replays it from its seed and path, and
 * the defects it found in files owned by others, pinned with test.fails until fixed.
 * `npm run fuzz -- --calls N --seed S` runs it for as long as asked.
 */
import { describe, expect, test } from 'vitest';
import {
  EFAULT, EMFILE, Kernel, KVM_CHECK_EXTENSION, IoUring, IORING_OP_READ, LOOP_SET_FD, loopInfo, O_CREAT, O_RDWR, SIGKILL,
} from 'kwq';
import { formatFailure, runFuzz } from './fuzz.js';

describe('whole-kernel fuzzer', () => {
  test('sim: 3000 calls from a fixed seed, every invariant held after every step and at teardown', async () => {
    const r = await runFuzz({ runtime: 'sim', seed: 13, calls: 3000, steps: 120 });
    expect(formatFailure(r)).toBe('');
    expect(r.calls).toBeGreaterThan(1500);
    // the slice is worth something only if it got past the front doors
    const ok = (key: string): number => r.coverage[key]?.[0] ?? 0;
    expect(ok('ioctl VHOST_SET_OWNER') + ok('ioctl VHOST_GET_FEATURES')).toBeGreaterThan(0);
    expect(ok('ioctl LOOP_GET_STATUS64') + ok('ioctl LOOP_CLR_FD')).toBeGreaterThan(0);
    expect(ok('ioctl KVM_CREATE_VCPU')).toBeGreaterThan(0);
    expect(ok('fork') + ok('thread')).toBeGreaterThan(0);
    expect(r.coverage['cgwrite']?.[1]).toBeGreaterThan(0); // garbage was refused
    expect(r.rejected).toBeGreaterThan(100);
    expect(r.kwqErrors).toBeGreaterThan(0); // misuse was tried (and was a KwqError)
    console.log(`fuzz slice (sim): ${r.calls} calls, ${Math.round(r.callsPerSec)} calls/s, ${r.rejected} rejected, ${r.ooms} with an OOM kill`);
  }, 60_000);

  test('threads: 300 calls on real worker threads, every invariant held, every thread gone after teardown', async () => {
    const r = await runFuzz({ runtime: 'threads', seed: 13, calls: 300, steps: 60 });
    expect(formatFailure(r)).toBe('');
    expect(r.calls).toBeGreaterThan(100);
    console.log(`fuzz slice (threads): ${r.calls} calls, ${Math.round(r.callsPerSec)} calls/s`);
  }, 120_000);

  test('finds a planted defect, shrinks it to the calls that matter, and replays it from seed and path', async () => {
    // the plant: KVM_CHECK_EXTENSION(KVM_CAP_SET_TSS_ADDR) throws a TypeError
    const real = Kernel.prototype.ioctl;
    Kernel.prototype.ioctl = function (this: Kernel, task, fd, request, arg) {
      if (request === KVM_CHECK_EXTENSION && arg === 4) throw new TypeError('planted');
      return real.call(this, task, fd, request, arg);
    };
    try {
      const r = await runFuzz({ runtime: 'sim', seed: 7, calls: 20_000, steps: 120 });
      expect(r.failure).not.toBeNull();
      expect(r.failure!.message).toMatch(/ioctl threw TypeError: planted/);
      expect(r.failure!.counterexample.length).toBeLessThanOrEqual(3);
      expect(formatFailure(r)).toMatch(/replay: npm run fuzz -- --runtime sim --seed 7 --path \d+(:\d+)*/);
      const again = await runFuzz({ runtime: 'sim', seed: 7, calls: 1, steps: 120, path: r.failure!.path });
      expect(again.failure?.message).toBe(r.failure!.message);
    } finally {
      Kernel.prototype.ioctl = real;
    }
  }, 120_000);
});

describe('defects the fuzzer found in io_uring (regression tests)', () => {
  test('io_uring_setup with a frozen io_uring_params returns -EFAULT (was a TypeError)', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ comm: 'app' });
    expect(k.io_uring_setup(t, 8, Object.freeze({}))).toBe(-EFAULT);
  });

  test('io_uring_setup with a bigint flags field returns -EFAULT (was a "Cannot mix BigInt" TypeError)', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ comm: 'app' });
    expect(k.io_uring_setup(t, 8, { flags: 0n as unknown as number })).toBe(-EFAULT);
  });

  test('IORING_REGISTER_IOWQ_MAX_WORKERS into a frozen array returns -EFAULT (was a TypeError)', async () => {
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ comm: 'app' });
    const fd = k.io_uring_setup(t, 8, {});
    expect(k.io_uring_register(t, fd, 19, Object.freeze([0, 0]), 2)).toBe(-EFAULT);
  });
});

describe('defects of the fuzzer itself that long runs found (regression tests)', () => {
  test('io_uring_setup at RLIMIT_NOFILE 0: -EMFILE after writing the params, as io_uring_create does, is no violation (seed 7)', async () => {
    const r = await runFuzz({ runtime: 'sim', seed: 7, calls: 1, steps: 200, path: '23:1:1:2:2:6:7:7:7:10:10:10:10:10:4:4:4:4' });
    expect(formatFailure(r)).toBe('');
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ comm: 'app' });
    expect(k.setrlimit(t, 'RLIMIT_NOFILE', [0, 0])).toBe(0);
    const p: Record<string, unknown> = {};
    expect(k.io_uring_setup(t, 1, p)).toBe(-EMFILE);
    expect(p['sq_entries']).toBe(1); // copied out before io_uring_install_fd failed
  });

  test('a revoked Proxy in a char[] field reaches the kernel instead of throwing inside the fuzzer (seed 20261207)', async () => {
    const r = await runFuzz({
      runtime: 'sim', seed: 20261207, calls: 1, steps: 200, path: '1090:3:0:2:6:7:7:13:13:15:14:15:20:26:27:27:17:17:19:19:12:12:12:12',
    });
    expect(formatFailure(r)).toBe('');
  });

  test('a process killed while its io-wq worker waits for a loop-device read: the request completes and the device is released (seed 20261207 at 3.6M calls)', async () => {
    const r = await runFuzz({
      runtime: 'sim', seed: 20261207, calls: 1, steps: 200, path: '54916:6:0:4:10:13:15:23:24:25:27:30:29:41:42:7:40:41:41:45:49:49:20:20:20:20:20:20',
    });
    expect(formatFailure(r)).toBe('');
    // the same, through the API: the read is punted (a block device read would block),
    // the worker issues it and sleeps in its blocking part; SIGKILL comes before it ends
    const k = await Kernel.boot({ seed: 1 });
    const t = k.spawn({ comm: 'app' });
    const bfd = k.open(t, '/tmp/backing', O_RDWR | O_CREAT);
    expect(k.ftruncate(t, bfd, 1 << 20)).toBe(0);
    const lfd = k.open(t, '/dev/loop0', O_RDWR);
    expect(k.ioctl(t, lfd, LOOP_SET_FD, bfd)).toBe(0);
    const ring = IoUring.attach(k, t, k.io_uring_setup(t, 4, {}));
    expect(ring.prep(IORING_OP_READ, lfd, 4096, 4096, 1n, 0)).toBe(true);
    expect(ring.submit()).toBe(1);
    k.advance(0); // the worker runs the read and sleeps in it
    expect(loopInfo(k, 0).openers).toBe(1);
    k.kill(t, SIGKILL);
    k.advance(1);
    expect(t.alive).toBe(false);
    expect(loopInfo(k, 0).openers).toBe(0);
  });
});

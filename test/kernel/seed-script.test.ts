/**
 * The seed script of the loop series' cover letter, up to the loop device part:
 * a cgroup v2 test.slice with memory.swap.max=0 and memory.max=64M; dd of 256M to a
 * file on a 512M tmpfs gets OOM-killed, as memory.events shows.
 */
import { describe, expect, test } from 'vitest';
import { CLONE_NEWNS, EINTR, Kernel, O_CREAT, O_WRONLY } from 'kwq';

describe('seed script (tmpfs part)', () => {
  test('dd of 256M into a 512M tmpfs under memory.max=64M, swap.max=0 is OOM-killed', async () => {
    const k = await Kernel.boot({ cgroup: 'v2', seed: 1 });
    const root = k.init;
    // mkdir /sys/fs/cgroup/test.slice
    expect(k.mkdir(root, '/sys/fs/cgroup/test.slice')).toBe(0);
    // echo 0 > memory.swap.max ; echo 64M > memory.max
    expect(k.writeFile(root, '/sys/fs/cgroup/test.slice/memory.swap.max', '0')).toBe(1);
    expect(k.writeFile(root, '/sys/fs/cgroup/test.slice/memory.max', '64M')).toBe(3);
    expect(k.readFile(root, '/sys/fs/cgroup/test.slice/memory.max')).toBe('67108864\n');
    // a shell in test.slice: echo $$ > cgroup.procs
    const sh = k.spawn({ comm: 'bash' });
    expect(k.writeFile(root, '/sys/fs/cgroup/test.slice/cgroup.procs', `${sh.pid}\n`)).toBe(`${sh.pid}\n`.length);
    expect(sh.cgroup).toBe('/test.slice');
    // unshare -m; mount -t tmpfs -o size=512M tmpfs /tmp
    expect(k.unshare(sh, CLONE_NEWNS)).toBe(0);
    expect(k.mount(sh, 'tmpfs', '/tmp', 'tmpfs', 'size=512M')).toBe(0);
    // dd if=/dev/zero of=/tmp/file bs=1M count=256
    const dd = k.fork(sh);
    if (typeof dd === 'number') throw new Error(`fork: ${dd}`);
    dd.comm = 'dd';
    const zero = k.open(dd, '/dev/zero', 0);
    const out = k.open(dd, '/tmp/file', O_WRONLY | O_CREAT);
    expect(zero).toBeGreaterThanOrEqual(0);
    expect(out).toBeGreaterThanOrEqual(0);
    let written = 0;
    let last = 0;
    for (let i = 0; i < 256; i++) {
      expect(k.pread(dd, zero, 1 << 20, 0)).toBe(1 << 20);
      last = k.pwrite(dd, out, 1 << 20, written);
      if (last < 0) break;
      written += last;
    }
    expect(last).toBe(-EINTR);
    expect(dd.alive).toBe(false);
    expect(sh.alive).toBe(true); // the shell had less memory: dd was the victim
    expect(written).toBeLessThanOrEqual(64 << 20);
    expect(written).toBeGreaterThan(60 << 20);
    const events = k.readFile(root, '/sys/fs/cgroup/test.slice/memory.events') as string;
    expect(events).toMatch(/^oom 1$/m);
    expect(events).toMatch(/^oom_kill 1$/m);
    expect(Number(/^max (\d+)$/m.exec(events)![1])).toBeGreaterThan(0);
    // the tmpfs pages stay charged after dd died (shmem is not freed by the kill)
    expect(k.readFile(root, '/sys/fs/cgroup/test.slice/memory.current')).toBe(`${64 << 20}\n`);
    expect(k.readFile(root, '/sys/fs/cgroup/test.slice/memory.stat')).toMatch(/^shmem 67108864$/m);
    // the mount was private to the shell's namespace: init's /tmp has no file
    expect(k.stat(root, '/tmp/file')).toBe(-2);
    expect(k.stat(sh, '/tmp/file')).toMatchObject({ size: written });
    // a call by the dead task is misuse
    expect(() => k.pwrite(dd, out, 1, 0)).toThrow(/dead/);
  });

  test('the same dd fits when memory.swap.max allows swapping the shmem pages', async () => {
    const k = await Kernel.boot({ swap: '1G' });
    const root = k.init;
    k.mkdir(root, '/sys/fs/cgroup/test.slice');
    k.writeFile(root, '/sys/fs/cgroup/test.slice/memory.max', '64M');
    const dd = k.spawn({ comm: 'dd', cgroup: '/test.slice' });
    const out = k.open(dd, '/tmp/file', O_WRONLY | O_CREAT);
    for (let i = 0; i < 256; i++) expect(k.pwrite(dd, out, 1 << 20, i << 20)).toBe(1 << 20);
    expect(dd.alive).toBe(true);
    const cur = Number(k.readFile(root, '/sys/fs/cgroup/test.slice/memory.current'));
    const swap = Number(k.readFile(root, '/sys/fs/cgroup/test.slice/memory.swap.current'));
    expect(cur).toBeLessThanOrEqual(64 << 20);
    expect(cur + swap).toBe(256 << 20);
    expect(k.readFile(root, '/sys/fs/cgroup/test.slice/memory.events')).toMatch(/^oom_kill 0$/m);
  });

  test('tmpfs size= is enforced with -ENOSPC', async () => {
    const k = await Kernel.boot({ tmpfsSize: '1M' });
    const t = k.spawn({ comm: 'dd' });
    const fd = k.open(t, '/tmp/f', O_WRONLY | O_CREAT);
    expect(k.pwrite(t, fd, 2 << 20, 0)).toBe(1 << 20);
    expect(k.pwrite(t, fd, 4096, 1 << 20)).toBe(-28);
  });
});

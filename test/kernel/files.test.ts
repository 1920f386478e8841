import { describe, expect, test } from 'vitest';
import {
  CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, EBADF, EEXIST, EFAULT, EISDIR, EMFILE, ENAMETOOLONG,
  ENOENT, ENOTDIR, ENOTTY, Kernel, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY, _IO, _IOR, _IOW, _IOC_DIR, _IOC_READ,
  registerModule,
} from 'kwq';
import { registerChrdev } from '../../src/kernel/vfs/chrdev.js';
import { ENOIOCTLCMD } from '../../src/kernel/errno.js';
import { unregisterModule } from '../../src/kernel/module.js';

const TEST_SET = _IOW(0xee, 1, 8);
const TEST_GET = _IOR(0xee, 2, 4);
const TEST_RAW = _IO(0xee, 3);

describe('fd table', () => {
  test("fdget's one-entry cache: a closed fd is gone, a reused fd is the new File, a forked copy and an exit start afresh", async () => {
    const k = await Kernel.boot();
    const t = k.spawn();
    const a = k.open(t, '/tmp/a', O_RDWR | O_CREAT);
    const b = k.open(t, '/tmp/b', O_RDWR | O_CREAT);
    expect(k.fileOf(t, a)!.path).toBe('/tmp/a'); // cached now
    expect(k.close(t, a)).toBe(0);
    expect(k.fileOf(t, a)).toBeNull();
    const c = k.open(t, '/tmp/c', O_RDWR | O_CREAT);
    expect(c).toBe(a); // the lowest free fd again
    expect(k.fileOf(t, c)!.path).toBe('/tmp/c');
    expect(k.fileOf(t, b)!.path).toBe('/tmp/b');
    expect(k.fileOf(t, -1)).toBeNull();
    expect(k.fileOf(t, 99)).toBeNull();
    const child = k.fork(t);
    if (typeof child === 'number') throw new Error(`fork ${child}`);
    expect(k.close(child, b)).toBe(0);
    expect(k.fileOf(child, b)).toBeNull();
    expect(k.fileOf(t, b)!.path).toBe('/tmp/b'); // the parent's table is its own
    k.kill(t, 9);
    expect(t.files).toBeNull();
  });

  test('open/dup/close share one File; release runs on the last close, after fork and exit too', async () => {
    const released: string[] = [];
    const opened: number[] = [];
    registerModule({
      name: 'testdev_files',
      init(k) {
        registerChrdev(k, {
          name: 'testdev', major: 240, minor: 0,
          fops: {
            open: (_k, _i, f, t) => { f.privateData = { owner: t.pid }; opened.push(t.pid); return 0; },
            release: (_k, _i, f) => { released.push(`owner ${(f.privateData as { owner: number }).owner}`); },
          },
        });
      },
    });
    try {
      const k = await Kernel.boot();
      const p = k.spawn({ comm: 'p' });
      const fd = k.open(p, '/dev/testdev', O_RDWR);
      expect(fd).toBe(0);
      const fd2 = k.dup(p, fd);
      expect(fd2).toBe(1);
      expect(k.close(p, fd)).toBe(0);
      expect(released).toEqual([]);
      const child = k.fork(p) as typeof p;
      expect(k.close(p, fd2)).toBe(0);
      expect(released).toEqual([]); // the child still holds it
      k.exit(child, 0); // exit closes fds
      expect(released).toEqual([`owner ${p.pid}`]);
      expect(opened).toEqual([p.pid]);
      expect(k.close(p, fd2)).toBe(-EBADF);
      expect(k.dup(p, 99)).toBe(-EBADF);
      // CLONE_FILES threads share the table: a close in one is seen by the other
      const fd3 = k.open(p, '/dev/testdev', O_RDWR);
      const th = k.clone(p, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD) as typeof p;
      expect(k.close(th, fd3)).toBe(0);
      expect(k.close(p, fd3)).toBe(-EBADF);
    } finally {
      unregisterModule('testdev_files');
    }
  });

  test('RLIMIT_NOFILE bounds the fd numbers (-EMFILE)', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ rlimits: { RLIMIT_NOFILE: [2, 2] } });
    expect(k.open(p, '/dev/zero', O_RDONLY)).toBe(0);
    expect(k.open(p, '/dev/zero', O_RDONLY)).toBe(1);
    expect(k.open(p, '/dev/zero', O_RDONLY)).toBe(-EMFILE);
    expect(k.eventfd(p)).toBe(-EMFILE);
  });

  test('paths: -ENOENT, -ENOTDIR, -ENAMETOOLONG, -EEXIST, -EISDIR; . and .. resolve', async () => {
    const k = await Kernel.boot();
    const p = k.spawn();
    expect(k.open(p, '/nope', O_RDONLY)).toBe(-ENOENT);
    expect(k.open(p, '', O_RDONLY)).toBe(-ENOENT);
    expect(k.open(p, '/dev/zero/x', O_RDONLY)).toBe(-ENOTDIR);
    expect(k.open(p, `/tmp/${'a'.repeat(256)}`, O_CREAT | O_WRONLY)).toBe(-ENAMETOOLONG);
    expect(k.open(p, `/${'a/'.repeat(2100)}`, O_RDONLY)).toBe(-ENAMETOOLONG);
    expect(k.open(p, '/tmp/f', O_CREAT | O_WRONLY)).toBeGreaterThanOrEqual(0);
    expect(k.open(p, '/tmp/f', O_CREAT | O_EXCL | O_WRONLY)).toBe(-EEXIST);
    expect(k.open(p, '/tmp', O_WRONLY)).toBe(-EISDIR);
    expect(k.open(p, '//dev/./../dev//zero', O_RDONLY)).toBeGreaterThanOrEqual(0);
    expect(k.readFile(p, '/sys/fs/cgroup/nope/memory.max')).toBe(-ENOENT);
  });

  test('pwrite/pread/ftruncate on tmpfs track pages; O_RDONLY fds cannot write', async () => {
    const k = await Kernel.boot();
    const p = k.spawn({ cgroup: '/w' });
    const fd = k.open(p, '/tmp/f', O_CREAT | O_RDWR);
    expect(k.pwrite(p, fd, 10_000, 0)).toBe(10_000);
    expect(k.readFile(k.init, '/sys/fs/cgroup/w/memory.current')).toBe(`${3 * 4096}\n`);
    expect(k.pread(p, fd, 100_000, 0)).toBe(10_000);
    expect(k.ftruncate(p, fd, 4096)).toBe(0);
    expect(k.readFile(k.init, '/sys/fs/cgroup/w/memory.current')).toBe(`${4096}\n`);
    const ro = k.open(p, '/tmp/f', O_RDONLY);
    expect(k.pwrite(p, ro, 1, 0)).toBe(-EBADF);
    expect(k.ftruncate(p, ro, 0)).toBe(-22);
    // unlink + last close frees the pages
    expect(k.unlink(p, '/tmp/f')).toBe(0);
    expect(k.readFile(k.init, '/sys/fs/cgroup/w/memory.current')).toBe(`${4096}\n`);
    k.close(p, fd);
    k.close(p, ro);
    expect(k.readFile(k.init, '/sys/fs/cgroup/w/memory.current')).toBe('0\n');
  });

  test('eventfd counts writes; read resets', async () => {
    const k = await Kernel.boot();
    const p = k.spawn();
    const e = k.eventfd(p);
    expect(k.pread(p, e, 8, 0)).toBe(-11);
    expect(k.pwrite(p, e, 8, 0)).toBe(8);
    expect(k.pread(p, e, 8, 0)).toBe(8);
    expect(k.pwrite(p, e, 4, 0)).toBe(-22);
  });
});

describe('ioctl dispatch', () => {
  test('real encodings reach the driver; -ENOIOCTLCMD and fileless ioctls give -ENOTTY; -EBADF', async () => {
    const seen: number[] = [];
    registerModule({
      name: 'testdev_ioctl',
      init(k) {
        registerChrdev(k, {
          name: 'testioctl', major: 241, minor: 0,
          fops: {
            unlockedIoctl(_k, _f, _t, req, arg) {
              seen.push(req);
              if (req === TEST_GET) {
                if (typeof arg !== 'object' || arg === null || !('value' in arg)) return -EFAULT;
                (arg as { value: number }).value = 42;
                return 0;
              }
              if (req === TEST_SET) return typeof arg === 'number' ? 0 : -EFAULT;
              return -ENOIOCTLCMD;
            },
          },
        });
      },
    });
    try {
      const k = await Kernel.boot();
      const p = k.spawn();
      const fd = k.open(p, '/dev/testioctl', O_RDWR);
      const box = { value: 0 };
      expect(_IOC_DIR(TEST_GET)).toBe(_IOC_READ);
      expect(k.ioctl(p, fd, TEST_GET, box)).toBe(0);
      expect(box.value).toBe(42);
      expect(k.ioctl(p, fd, TEST_GET)).toBe(-EFAULT);
      expect(k.ioctl(p, fd, TEST_SET, 7)).toBe(0);
      expect(k.ioctl(p, fd, TEST_RAW)).toBe(-ENOTTY);
      expect(seen).toEqual([TEST_GET, TEST_GET, TEST_SET, TEST_RAW]);
      expect(k.ioctl(p, 77, TEST_RAW)).toBe(-EBADF);
      const z = k.open(p, '/dev/zero', O_RDWR);
      expect(k.ioctl(p, z, TEST_RAW)).toBe(-ENOTTY);
      expect(() => k.ioctl(p, fd, -1)).toThrow(/bad request/);
      // module params show in sysfs; a device registered twice is misuse
      expect(k.readdir(p, '/sys/module')).toContain('testdev_ioctl');
      expect(() => registerChrdev(k, { name: 'testioctl', major: 1, minor: 1, fops: {} })).toThrow(/already registered/);
    } finally {
      unregisterModule('testdev_ioctl');
    }
  });
});

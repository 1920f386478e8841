/**
 * Conformance of /dev/loop-control and /dev/loopN: uapi numbers, the state machine and
 * the errnos of section 6.7 and notes Q6, and "a rejected ioctl changes nothing".
 */
import { describe, expect, test } from 'vitest';
import { EBADF, EBUSY, EEXIST, EFAULT, EINVAL, ENODEV, ENOENT, ENOSPC, ENOSYS, ENXIO, EOVERFLOW, EPERM, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY } from 'kwq';
import {
  LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_ADD, LOOP_CTL_GET_FREE, LOOP_CTL_REMOVE, LOOP_GET_STATUS64, LOOP_SET_FD,
  LOOP_SET_STATUS64, LOOP_SET_DIRECT_IO, LO_FLAGS_AUTOCLEAR, LO_FLAGS_DIRECT_IO, LO_FLAGS_PARTSCAN, LO_FLAGS_READ_ONLY,
  LOOP_CONFIGURE_SETTABLE_FLAGS, LOOP_SET_STATUS_SETTABLE_FLAGS, LOOP_SET_STATUS_CLEARABLE_FLAGS, loopInfo,
  LOOP_SET_CAPACITY, LOOP_SET_BLOCK_SIZE, LOOP_CHANGE_FD,
} from '../../../src/drivers/loop/index.js';
import { backingFile, boot, dev, losetup } from './helpers.js';

describe('uapi', () => {
  test('request numbers and flags are the include/uapi/linux/loop.h values', () => {
    expect([LOOP_SET_FD, LOOP_CLR_FD, LOOP_SET_STATUS64, LOOP_GET_STATUS64, LOOP_SET_DIRECT_IO, LOOP_CONFIGURE]).toEqual([0x4c00, 0x4c01, 0x4c04, 0x4c05, 0x4c08, 0x4c0a]);
    expect([LOOP_CTL_ADD, LOOP_CTL_REMOVE, LOOP_CTL_GET_FREE]).toEqual([0x4c80, 0x4c81, 0x4c82]);
    expect([LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR, LO_FLAGS_PARTSCAN, LO_FLAGS_DIRECT_IO]).toEqual([1, 4, 8, 16]);
    expect([LOOP_SET_STATUS_SETTABLE_FLAGS, LOOP_SET_STATUS_CLEARABLE_FLAGS, LOOP_CONFIGURE_SETTABLE_FLAGS]).toEqual([0x0c, 0x04, 0x1d]);
  });
});

describe('/dev/loop-control', () => {
  test('max_loop devices at boot; GET_FREE, ADD, REMOVE and their errnos', async () => {
    const k = await boot();
    const root = k.init;
    expect(k.readFile(root, '/sys/module/loop/parameters/max_loop')).toBe('8\n');
    const ctl = k.open(root, '/dev/loop-control', O_RDWR);
    expect(k.stat(root, '/dev/loop-control')).toMatchObject({ rdev: '10:237' });
    expect(k.stat(root, '/dev/loop7')).toMatchObject({ rdev: '7:7', size: 0 });
    expect(k.ioctl(root, ctl, LOOP_CTL_GET_FREE)).toBe(0);
    expect(k.ioctl(root, ctl, LOOP_CTL_ADD, 3)).toBe(-EEXIST);
    expect(k.ioctl(root, ctl, LOOP_CTL_ADD, 20)).toBe(20);
    expect(k.ioctl(root, ctl, LOOP_CTL_ADD, -1)).toBe(8); // the lowest free number
    expect(k.ioctl(root, ctl, LOOP_CTL_ADD, 1 << 20)).toBe(-EINVAL); // beyond MINORMASK
    expect(k.ioctl(root, ctl, LOOP_CTL_REMOVE, -1)).toBe(-EINVAL);
    expect(k.ioctl(root, ctl, LOOP_CTL_REMOVE, 99)).toBe(-ENODEV);
    expect(k.ioctl(root, ctl, 0x4c8f)).toBe(-ENOSYS);
    // an unbound but open device is busy for REMOVE, and free for GET_FREE
    const fd0 = k.open(root, '/dev/loop0', O_RDWR);
    expect(k.ioctl(root, ctl, LOOP_CTL_REMOVE, 0)).toBe(-EBUSY);
    expect(k.ioctl(root, ctl, LOOP_CTL_GET_FREE)).toBe(0);
    k.close(root, fd0);
    expect(k.ioctl(root, ctl, LOOP_CTL_REMOVE, 0)).toBe(0);
    expect(k.stat(root, '/dev/loop0')).toBe(-ENOENT);
    expect(k.open(root, '/dev/loop0', O_RDWR)).toBe(-ENOENT);
    expect(k.ioctl(root, ctl, LOOP_CTL_REMOVE, 0)).toBe(-ENODEV);
    expect(k.ioctl(root, ctl, LOOP_CTL_GET_FREE)).toBe(1);
    // a bound device is busy
    const path = backingFile(k, root);
    const { lfd } = losetup(k, root, 1, path);
    expect(k.ioctl(root, ctl, LOOP_CTL_REMOVE, 1)).toBe(-EBUSY);
    expect(loopInfo(k, 1).state).toBe('Lo_bound');
    expect(k.ioctl(root, ctl, LOOP_CTL_GET_FREE)).toBe(2);
    k.close(root, lfd);
  });

  test('GET_FREE makes a device when every one is bound', async () => {
    const k = await boot('loop.max_loop=1');
    const root = k.init;
    const ctl = k.open(root, '/dev/loop-control', O_RDWR);
    const { lfd } = losetup(k, root, 0, backingFile(k, root));
    expect(k.stat(root, '/dev/loop1')).toBe(-ENOENT);
    expect(k.ioctl(root, ctl, LOOP_CTL_GET_FREE)).toBe(1);
    expect(k.stat(root, '/dev/loop1')).toMatchObject({ rdev: '7:1' });
    k.close(root, lfd);
  });
});

describe('/dev/loopN', () => {
  test('LOOP_CONFIGURE binds; GET_STATUS64 reads the kernel copy back', async () => {
    const k = await boot();
    const root = k.init;
    const path = backingFile(k, root, '/tmp/img', 10 << 20);
    const lfd = k.open(root, '/dev/loop2', O_RDWR);
    const st = {};
    expect(k.ioctl(root, lfd, LOOP_GET_STATUS64, st)).toBe(-ENXIO); // unbound
    expect(k.ioctl(root, lfd, LOOP_GET_STATUS64)).toBe(-EINVAL); // NULL
    const bfd = k.open(root, path, O_RDWR);
    expect(k.ioctl(root, lfd, LOOP_CONFIGURE, { fd: bfd, block_size: 4096, info: { lo_offset: 1 << 20, lo_sizelimit: 4 << 20, lo_flags: LO_FLAGS_AUTOCLEAR, lo_file_name: path } })).toBe(0);
    expect(k.stat(root, '/dev/loop2')).toMatchObject({ size: 4 << 20 });
    const info: Record<string, unknown> = {};
    expect(k.ioctl(root, lfd, LOOP_GET_STATUS64, info)).toBe(0);
    const ino = (k.stat(root, path) as { ino: number }).ino;
    expect(info).toMatchObject({ lo_number: 2, lo_offset: 1 << 20, lo_sizelimit: 4 << 20, lo_flags: LO_FLAGS_AUTOCLEAR, lo_file_name: path, lo_inode: ino, lo_encrypt_type: 0 });
    expect(k.ioctl(root, lfd, LOOP_GET_STATUS64, 'not a struct')).toBe(-EFAULT);
    // a read-only backing file (or a read-only opened loop device) makes the device read-only
    const ro = k.open(root, path, O_RDONLY);
    const l3 = k.open(root, '/dev/loop3', O_RDWR);
    expect(k.ioctl(root, l3, LOOP_SET_FD, ro)).toBe(0);
    const i3: Record<string, unknown> = {};
    k.ioctl(root, l3, LOOP_GET_STATUS64, i3);
    expect(i3['lo_flags']).toBe(LO_FLAGS_READ_ONLY);
    expect(i3['lo_file_name']).toBe(''); // LOOP_SET_FD carries no name
    expect(k.pwrite(root, l3, 4096, 0)).toBe(-EPERM);
    expect(k.ioctl(root, lfd, 0x1234)).toBe(-EINVAL); // lo_simple_ioctl's default
  });

  test('LOOP_SET_FD / LOOP_CONFIGURE errnos, in the kernel order, and a rejected call changes nothing', async () => {
    const k = await boot();
    const root = k.init;
    const path = backingFile(k, root);
    const l0 = k.open(root, '/dev/loop0', O_RDWR);
    const bfd = k.open(root, path, O_RDWR);
    const snapshot = (): unknown => ({ info: loopInfo(k, 0), size: k.stat(root, '/dev/loop0') });
    const before = snapshot();
    const rejected: [unknown, number][] = [
      [{ fd: 999 }, -EBADF],
      [{ fd: k.open(root, '/tmp', O_RDONLY) }, -EINVAL], // a directory has no read op
      [{ fd: k.open(root, '/dev/zero', O_RDWR) }, -EINVAL], // neither regular nor a block device
      [{ fd: l0 }, -EBADF], // the device itself
      [{ fd: bfd, info: { lo_flags: 2 } }, -EINVAL], // not in LOOP_CONFIGURE_SETTABLE_FLAGS
      [{ fd: bfd, info: { lo_encrypt_type: 1 } }, -EINVAL], // XOR was removed
      [{ fd: bfd, info: { lo_encrypt_key_size: 33 } }, -EINVAL],
      [{ fd: bfd, info: { lo_offset: 1n << 63n } }, -EOVERFLOW],
      [{ fd: bfd, block_size: 1000 }, -EINVAL],
      [{ fd: bfd, bogus: 1 }, -EFAULT],
      [{}, -EFAULT], // no fd: not a loop_config (it would have bound fd 0)
      [{ block_size: 512 }, -EFAULT],
      ['x', -EFAULT],
      [undefined, -EFAULT],
    ];
    for (const [arg, err] of rejected) {
      expect(k.ioctl(root, l0, LOOP_CONFIGURE, arg), JSON.stringify(arg, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).toBe(err);
      expect(snapshot()).toEqual(before);
    }
    // LOOP_SET_FD takes the fd itself, not a pointer: a missing argument is 0, as the
    // register would be in C and as KVM's value ioctls take it (fd 0 is not open here);
    // a value that is no integer is a misuse of the library, the same in every driver
    expect(k.ioctl(root, l0, LOOP_SET_FD)).toBe(-EBADF);
    expect(() => k.ioctl(root, l0, LOOP_SET_FD, 'x')).toThrow(/the argument must be an integer \(an unsigned long\), got string/);
    expect(() => k.ioctl(root, l0, LOOP_SET_FD, 1.5)).toThrow(/got 1.5/);
    expect(snapshot()).toEqual(before);
    // a chain: loop1 on loop0 while loop0 is unbound is -EINVAL
    const l1 = k.open(root, '/dev/loop1', O_RDWR);
    expect(k.ioctl(root, l1, LOOP_SET_FD, l0)).toBe(-EINVAL);
    expect(k.ioctl(root, l0, LOOP_SET_FD, bfd)).toBe(0);
    // loop0 bound: LOOP_SET_FD again is -EBUSY, and loop0 on loop1 on loop0 is -EBADF
    const bound = snapshot();
    expect(k.ioctl(root, l0, LOOP_SET_FD, bfd)).toBe(-EBUSY);
    expect(k.ioctl(root, l1, LOOP_SET_FD, l0)).toBe(0);
    expect(snapshot()).toEqual({ ...(bound as object), info: { ...loopInfo(k, 0) } });
    expect(loopInfo(k, 1).state).toBe('Lo_bound');
  });

  test('LOOP_SET_STATUS64: -EPERM without write access, AUTOCLEAR follows info, PARTSCAN only sets, others ignored', async () => {
    const k = await boot();
    const root = k.init;
    const path = backingFile(k, root, '/tmp/b', 8 << 20);
    const { lfd } = losetup(k, root, 0, path);
    const user = k.spawn({ comm: 'user', uid: 1000 });
    const st = (): Record<string, unknown> => {
      const o = {};
      k.ioctl(root, lfd, LOOP_GET_STATUS64, o);
      return o;
    };
    // opened read-only by an unprivileged user: -EPERM (root has CAP_SYS_ADMIN and passes)
    const k2 = k.open(user, '/dev/loop0', O_RDONLY);
    expect(k2).toBeGreaterThanOrEqual(0);
    expect(k.ioctl(user, k2, LOOP_SET_STATUS64, { lo_flags: LO_FLAGS_AUTOCLEAR })).toBe(-EPERM);
    expect(st()['lo_flags']).toBe(0);
    expect(k.ioctl(root, lfd, LOOP_SET_STATUS64, { lo_flags: LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY | LO_FLAGS_DIRECT_IO })).toBe(0);
    expect(st()['lo_flags']).toBe(LO_FLAGS_AUTOCLEAR);
    expect(k.ioctl(root, lfd, LOOP_SET_STATUS64, { lo_flags: LO_FLAGS_PARTSCAN })).toBe(0);
    expect(st()['lo_flags']).toBe(LO_FLAGS_PARTSCAN);
    expect(k.ioctl(root, lfd, LOOP_SET_STATUS64, { lo_flags: 0 })).toBe(0);
    expect(st()['lo_flags']).toBe(LO_FLAGS_PARTSCAN); // not clearable
    expect(k.ioctl(root, lfd, LOOP_SET_STATUS64, { lo_sizelimit: 1 << 20, lo_file_name: 'renamed' })).toBe(0);
    expect(k.stat(root, '/dev/loop0')).toMatchObject({ size: 1 << 20 });
    expect(st()['lo_file_name']).toBe('renamed');
    const before = loopInfo(k, 0);
    expect(k.ioctl(root, lfd, LOOP_SET_STATUS64, { lo_encrypt_type: 18 })).toBe(-EINVAL);
    expect(k.ioctl(root, lfd, LOOP_SET_STATUS64, [1])).toBe(-EFAULT);
    expect(loopInfo(k, 0)).toEqual(before);
    const l5 = k.open(root, '/dev/loop5', O_RDWR);
    expect(k.ioctl(root, l5, LOOP_SET_STATUS64, {})).toBe(-ENXIO);
  });

  test('LOOP_CLR_FD: -ENXIO unbound; sole opener -> Lo_rundown, opens -ENXIO, unbound at the last close', async () => {
    const k = await boot();
    const root = k.init;
    const path = backingFile(k, root);
    const l0 = k.open(root, '/dev/loop0', O_RDWR);
    expect(k.ioctl(root, l0, LOOP_CLR_FD)).toBe(-ENXIO);
    const bfd = k.open(root, path, O_RDWR);
    expect(k.ioctl(root, l0, LOOP_SET_FD, bfd)).toBe(0);
    k.close(root, bfd);
    expect(k.ioctl(root, l0, LOOP_CLR_FD)).toBe(0);
    expect(loopInfo(k, 0)).toMatchObject({ state: 'Lo_rundown', flags: LO_FLAGS_AUTOCLEAR });
    expect(k.ioctl(root, l0, LOOP_CLR_FD)).toBe(-ENXIO);
    expect(k.open(root, '/dev/loop0', O_RDWR)).toBe(-ENXIO);
    k.close(root, l0);
    expect(loopInfo(k, 0)).toMatchObject({ state: 'Lo_unbound', flags: 0, openers: 0 });
    expect(k.stat(root, '/dev/loop0')).toMatchObject({ size: 0 });
    // writes to an unbound device find no room
    const again = k.open(root, '/dev/loop0', O_WRONLY);
    expect(k.pwrite(root, again, 4096, 0)).toBe(-ENOSPC);
  });

  test('LOOP_CLR_FD with other openers only sets AUTOCLEAR; clearing AUTOCLEAR cancels the detach', async () => {
    const k = await boot();
    const root = k.init;
    const { lfd } = losetup(k, root, 0, backingFile(k, root));
    const other = k.open(root, '/dev/loop0', O_RDONLY);
    expect(k.ioctl(root, lfd, LOOP_CLR_FD)).toBe(0);
    expect(loopInfo(k, 0)).toMatchObject({ state: 'Lo_bound', flags: LO_FLAGS_AUTOCLEAR, openers: 2 });
    k.close(root, lfd);
    expect(loopInfo(k, 0).state).toBe('Lo_bound');
    k.close(root, other); // the last close tears down
    expect(loopInfo(k, 0).state).toBe('Lo_unbound');
    // again, but AUTOCLEAR is cleared with SET_STATUS64 before the last close
    const b = losetup(k, root, 0, '/tmp/backing');
    const o2 = k.open(root, '/dev/loop0', O_RDONLY);
    expect(k.ioctl(root, b.lfd, LOOP_CLR_FD)).toBe(0);
    expect(k.ioctl(root, b.lfd, LOOP_SET_STATUS64, { lo_flags: 0 })).toBe(0);
    k.close(root, o2);
    k.close(root, b.lfd);
    expect(loopInfo(k, 0).state).toBe('Lo_bound');
    expect(dev(k, 0).backingFile).not.toBeNull();
  });

  test('a bad kwq.loop_workers value is a KwqError naming the allowed values', async () => {
    await expect(boot('kwq.loop_workers=percgroup')).rejects.toThrow(/per-cgroup.*kworker|kworker.*per-cgroup/);
  });
});

describe('the lo_simple_ioctl requests, LOOP_CHANGE_FD and /sys/block/loopN (oracle/scripts/loop-state.json)', () => {
  test('SET_CAPACITY, SET_BLOCK_SIZE, SET_DIRECT_IO: ENXIO unbound; then what drivers/block/loop.c does', async () => {
    const k = await boot();
    const root = k.init;
    const lfd = k.open(root, '/dev/loop2', O_RDWR);
    for (const [req, arg] of [[LOOP_SET_CAPACITY, 0], [LOOP_SET_BLOCK_SIZE, 4096], [LOOP_SET_DIRECT_IO, 1], [LOOP_CHANGE_FD, 0]] as const) {
      expect(k.ioctl(root, lfd, req, arg)).toBe(-ENXIO);
    }
    expect(k.readFile(root, '/sys/block/loop2/size')).toBe('0\n');
    expect(k.readFile(root, '/sys/block/loop2/loop/backing_file')).toBe(-ENOENT); // the group exists only while bound
    const path = backingFile(k, root, '/tmp/b2', 4 << 20);
    const bfd = k.open(root, path, O_RDWR);
    expect(k.ioctl(root, lfd, LOOP_SET_FD, bfd)).toBe(0);
    expect(k.readFile(root, '/sys/block/loop2/size')).toBe('8192\n');
    expect(k.readFile(root, '/sys/block/loop2/loop/backing_file')).toBe('/tmp/b2\n');
    expect(k.readFile(root, '/sys/block/loop2/loop/dio')).toBe('0\n');
    // a grown file: the size follows only on SET_CAPACITY
    expect(k.ftruncate(root, bfd, 8 << 20)).toBe(0);
    expect(k.readFile(root, '/sys/block/loop2/size')).toBe('8192\n');
    expect(k.ioctl(root, lfd, LOOP_SET_CAPACITY)).toBe(0);
    expect(k.readFile(root, '/sys/block/loop2/size')).toBe('16384\n');
    // blk_validate_block_size: a power of two in 512..PAGE_SIZE
    expect(k.ioctl(root, lfd, LOOP_SET_BLOCK_SIZE, 1000)).toBe(-EINVAL);
    expect(k.ioctl(root, lfd, LOOP_SET_BLOCK_SIZE, 8192)).toBe(-EINVAL);
    expect(k.ioctl(root, lfd, LOOP_SET_BLOCK_SIZE, 2 ** 32 + 512)).toBe(-EINVAL); // the whole unsigned long is compared: not 512
    expect(k.ioctl(root, lfd, LOOP_SET_BLOCK_SIZE, 2n ** 64n + 4096n)).toBe(0); // a bigint is taken modulo 2^64
    expect(k.ioctl(root, lfd, LOOP_SET_BLOCK_SIZE, 4096)).toBe(0);
    expect(k.readFile(root, '/sys/block/loop2/queue/logical_block_size')).toBe('4096\n');
    // direct I/O on a tmpfs file (FMODE_CAN_ODIRECT, 6.6+): the flag follows
    expect(k.ioctl(root, lfd, LOOP_SET_DIRECT_IO, 1)).toBe(0);
    expect(k.readFile(root, '/sys/block/loop2/loop/dio')).toBe('1\n');
    expect(k.ioctl(root, lfd, LOOP_SET_DIRECT_IO, 0)).toBe(0);
    expect(dev(k, 2).flags & LO_FLAGS_DIRECT_IO).toBe(0);
    // CHANGE_FD: only a read-only device, only a file of the same size
    expect(k.ioctl(root, lfd, LOOP_CHANGE_FD, 999)).toBe(-EBADF);
    expect(k.ioctl(root, lfd, LOOP_CHANGE_FD, bfd)).toBe(-EINVAL);
    // a read-only open as root may still use the lo_simple_ioctl requests (CAP_SYS_ADMIN)
    const ro = k.open(root, '/dev/loop2', O_RDONLY);
    expect(k.ioctl(root, ro, LOOP_SET_CAPACITY)).toBe(0);
    k.close(root, ro);
    expect(k.ioctl(root, lfd, LOOP_CLR_FD)).toBe(0);
    k.close(root, lfd);
    expect(k.readFile(root, '/sys/block/loop2/loop/backing_file')).toBe(-ENOENT);
    expect(k.readFile(root, '/sys/block/loop2/queue/logical_block_size')).toBe('512\n'); // __loop_clr_fd resets it
    // a read-only binding can change its file for one of the same size
    const lro = k.open(root, '/dev/loop2', O_RDONLY);
    expect(k.ioctl(root, lro, LOOP_CONFIGURE, { fd: bfd })).toBe(0);
    expect(dev(k, 2).flags & LO_FLAGS_READ_ONLY).toBe(LO_FLAGS_READ_ONLY);
    const other = k.open(root, '/tmp/b3', O_RDWR | O_CREAT);
    expect(k.ioctl(root, lro, LOOP_CHANGE_FD, other)).toBe(-EINVAL);
    expect(k.ftruncate(root, other, 8 << 20)).toBe(0);
    expect(k.ioctl(root, lro, LOOP_CHANGE_FD, other)).toBe(0);
    expect(k.readFile(root, '/sys/block/loop2/loop/backing_file')).toBe('/tmp/b3\n');
    expect(k.ioctl(root, lro, LOOP_CLR_FD)).toBe(0);
    k.close(root, lro);
  });

  test('an unprivileged opener without write access gets EPERM from SET_CAPACITY / BLOCK_SIZE / DIRECT_IO', async () => {
    const k = await boot();
    const root = k.init;
    const path = backingFile(k, root, '/tmp/b4', 1 << 20);
    const { lfd } = losetup(k, root, 3, path);
    const u = k.spawn({ uid: 1000, gid: 1000 });
    const ufd = k.open(u, '/dev/loop3', O_RDONLY);
    expect(ufd).toBeGreaterThanOrEqual(0);
    expect(k.ioctl(u, ufd, LOOP_SET_CAPACITY)).toBe(-EPERM);
    expect(k.ioctl(u, ufd, LOOP_SET_BLOCK_SIZE, 4096)).toBe(-EPERM);
    expect(k.ioctl(u, ufd, LOOP_SET_DIRECT_IO, 0)).toBe(-EPERM);
    k.close(u, ufd);
    k.close(root, lfd);
  });
});

import { describe, expect, test } from 'vitest';
import {
  EACCES, CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, EAGAIN, EBUSY, EEXIST, EINVAL, ENODEV, ENOENT,
  EOPNOTSUPP, ESRCH, Kernel, O_CREAT, O_DIRECT, O_WRONLY,
} from 'kwq';
import { registerBlkdev, bioEndio } from '../../src/kernel/vfs/blkdev.js';
import { blkThrottleBio } from '../../src/kernel/blk-cgroup.js';
import { cssGet, cssPut } from '../../src/kernel/cgroup/cgroup-core.js';
import { chargePages, getMemcgForCharge, kmallocAccount, kfreeAccount, setActiveMemcg } from '../../src/kernel/memcontrol.js';

const CG = '/sys/fs/cgroup';
const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;

describe('cgroup v2 subtree_control (cgroup_vet_subtree_control_enable)', () => {
  test('threaded controllers may be enabled beside tasks; domain controllers may not', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    const qemu = k.spawn({ comm: 'qemu', cgroup: '/machine.slice/vm1' });
    const vm1 = `${CG}/machine.slice/vm1`;
    expect(k.writeFile(r, `${vm1}/cgroup.subtree_control`, '+memory')).toBe(-EBUSY); // no internal processes
    expect(k.writeFile(r, `${vm1}/memory.nope`, '1')).toBe(-EACCES); // kernfs has no ->create
    expect(k.writeFile(r, `${vm1}/cgroup.subtree_control`, '+cpu +pids')).toBeGreaterThan(0); // a prospective thread root
    expect(k.readFile(r, `${vm1}/cgroup.subtree_control`)).toBe('cpu pids\n');
    // the libvirt layout: threaded children, QEMU's threads moved by tid
    expect(k.mkdir(r, `${vm1}/emulator`)).toBe(0);
    expect(k.writeFile(r, `${vm1}/emulator/cgroup.type`, 'threaded')).toBeGreaterThan(0);
    expect(k.readFile(r, `${vm1}/cgroup.type`)).toBe('domain threaded\n');
    expect(k.writeFile(r, `${vm1}/emulator/cgroup.threads`, String(qemu.pid))).toBeGreaterThan(0);
    expect(k.task(qemu.pid)!.cgroup).toBe('/machine.slice/vm1/emulator');
    // a thread root cannot enable domain controllers, tasks or not
    expect(k.writeFile(r, `${vm1}/cgroup.subtree_control`, '+memory')).toBe(-EOPNOTSUPP);
    // a domain with a populated domain child cannot become a thread root: +cpu there needs no tasks
    expect(k.mkdir(r, `${CG}/d`)).toBe(0);
    expect(k.mkdir(r, `${CG}/d/a`)).toBe(0);
    const svc = k.spawn({ comm: 'svc', cgroup: '/d/a' });
    const t = k.spawn({ comm: 'inner', cgroup: '/d' });
    expect(k.writeFile(r, `${CG}/d/cgroup.subtree_control`, '+cpu')).toBe(-EBUSY);
    k.exit(t, 0);
    expect(k.writeFile(r, `${CG}/d/cgroup.subtree_control`, '+cpu')).toBeGreaterThan(0);
    expect(svc.alive).toBe(true);
  });
});

describe('cgroup v2 directories', () => {
  test('mkdir/rmdir errnos as the kernel', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    expect(k.mkdir(r, `${CG}/a`)).toBe(0);
    expect(k.mkdir(r, `${CG}/a`)).toBe(-EEXIST);
    expect(k.mkdir(r, `${CG}/cgroup.procs`)).toBe(-EEXIST);
    expect(k.mkdir(r, `${CG}/x/y`)).toBe(-ENOENT);
    expect(k.mkdir(r, `${CG}/a/b`)).toBe(0);
    expect(k.rmdir(r, `${CG}/a`)).toBe(-EBUSY); // a child
    const t = k.spawn({ cgroup: '/a/b' });
    expect(k.rmdir(r, `${CG}/a/b`)).toBe(-EBUSY); // populated
    k.exit(t, 0);
    expect(k.rmdir(r, `${CG}/a/b`)).toBe(0);
    expect(k.rmdir(r, `${CG}/a/b`)).toBe(-ENOENT);
    expect(k.rmdir(r, CG)).toBe(-EBUSY);
  });

  test('ids are stable and never reused; a removed cgroup lives while referenced', async () => {
    // 6.1's cgroup.stat (6.11+ adds the nr_subsys lines: cgroup-freezer.test.ts)
    const k = await Kernel.boot({ release: '6.1' });
    k.mkdir(k.init, `${CG}/a`);
    const a = k.cgroupByPath('/a')!;
    const id = a.id;
    cssGet(a);
    expect(k.rmdir(k.init, `${CG}/a`)).toBe(0);
    expect(a.online).toBe(false);
    expect(a.released).toBe(false);
    expect(k.readFile(k.init, `${CG}/cgroup.stat`)).toBe('nr_descendants 0\nnr_dying_descendants 1\n');
    k.mkdir(k.init, `${CG}/a`);
    expect(k.cgroupByPath('/a')!.id).not.toBe(id);
    cssPut(k, a);
    expect(a.released).toBe(true);
  });

  test('charges are reparented at rmdir: nothing stays on a removed cgroup', async () => {
    const k = await Kernel.boot();
    k.mkdir(k.init, `${CG}/p`);
    k.writeFile(k.init, `${CG}/p/cgroup.subtree_control`, '+memory');
    const t = k.spawn({ cgroup: '/p/c' });
    const fd = k.open(t, '/tmp/f', O_CREAT | O_WRONLY);
    expect(k.pwrite(t, fd, 8 * 4096, 0)).toBe(8 * 4096);
    const obj = kmallocAccount(k, t, 100);
    if (typeof obj === 'number') throw new Error();
    // p has controllers in subtree_control: no internal processes (-EBUSY); move t to the root
    expect(k.writeFile(k.init, `${CG}/p/cgroup.procs`, String(t.pid))).toBe(-EBUSY);
    k.writeFile(k.init, `${CG}/cgroup.procs`, String(t.pid));
    expect(k.readFile(k.init, `${CG}/p/c/memory.current`)).toBe(`${9 * 4096}\n`); // charges do not move with tasks
    expect(k.rmdir(k.init, `${CG}/p/c`)).toBe(0);
    const p = k.cgroupByPath('/p')!;
    expect(p.memcg.usage).toBe(9);
    expect(k.readFile(k.init, `${CG}/p/memory.stat`)).toMatch(/^shmem 32768$/m);
    kfreeAccount(k, obj); // uncharged from the parent now
    k.close(t, fd);
    k.unlink(t, '/tmp/f');
    expect(p.memcg.usage).toBe(0);
  });

  test('cgroup.procs moves the whole process; errors change nothing', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/a`);
    k.mkdir(r, `${CG}/b`);
    const p = k.spawn({ cgroup: '/a' });
    const th = k.clone(p, THREAD) as typeof p;
    const w = k.userWorkerCreate(p, 'vhost', { run: () => false }, null) as typeof p;
    expect(k.writeFile(r, `${CG}/b/cgroup.procs`, String(th.pid))).toBeGreaterThan(0);
    expect([p.cgroup, th.cgroup, w.cgroup]).toEqual(['/b', '/b', '/b']);
    expect(k.readFile(r, `${CG}/b/pids.current`)).toBe('3\n');
    expect(k.readFile(r, `${CG}/a/pids.current`)).toBe('0\n');
    expect(k.writeFile(r, `${CG}/a/cgroup.procs`, '99999')).toBe(-ESRCH);
    expect(k.writeFile(r, `${CG}/a/cgroup.procs`, 'abc')).toBe(-EINVAL);
    expect(k.writeFile(r, `${CG}/a/cgroup.procs`, '-5')).toBe(-EINVAL);
    // cgroup.threads across domains is -EOPNOTSUPP
    expect(k.writeFile(r, `${CG}/a/cgroup.threads`, String(th.pid))).toBe(-EOPNOTSUPP);
    // no internal processes: b has tasks, so it cannot enable controllers for children
    expect(k.writeFile(r, `${CG}/b/cgroup.subtree_control`, '+memory')).toBe(-EBUSY);
    // a kworker cannot be moved
    expect(k.writeFile(r, `${CG}/a/cgroup.procs`, String(k.kthreadd.pid))).toBe(-EINVAL);
    expect(p.cgroup).toBe('/b');
  });

  test('threaded subtrees: threads move inside one domain; processes cannot enter a threaded cgroup', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/d`);
    k.mkdir(r, `${CG}/d/t1`);
    k.mkdir(r, `${CG}/d/t2`);
    expect(k.writeFile(r, `${CG}/d/t1/cgroup.type`, 'domain')).toBe(-EINVAL);
    expect(k.writeFile(r, `${CG}/d/t1/cgroup.type`, 'threaded')).toBe(8);
    expect(k.readFile(r, `${CG}/d/cgroup.type`)).toBe('domain threaded\n');
    expect(k.readFile(r, `${CG}/d/t1/cgroup.type`)).toBe('threaded\n');
    k.writeFile(r, `${CG}/d/t2/cgroup.type`, 'threaded');
    const p = k.spawn({ cgroup: '/d' });
    const th = k.clone(p, THREAD) as typeof p;
    // a whole process may enter a threaded cgroup (the oracle: cgroup-moves#44; cgroup_migrate_vet_dst)
    expect(k.writeFile(r, `${CG}/d/t1/cgroup.procs`, String(p.pid))).toBeGreaterThan(0);
    expect(k.writeFile(r, `${CG}/d/cgroup.procs`, String(p.pid))).toBeGreaterThan(0);
    expect(k.writeFile(r, `${CG}/d/t1/cgroup.threads`, String(th.pid))).toBeGreaterThan(0);
    expect(th.cgroup).toBe('/d/t1');
    expect(p.cgroup).toBe('/d');
    expect(k.writeFile(r, `${CG}/d/t2/cgroup.threads`, String(th.pid))).toBeGreaterThan(0);
    // cgroup_print_ss_mask prints no newline for an empty mask (oracle: cgroup-files)
    expect(k.readFile(r, `${CG}/d/t1/cgroup.controllers`)).toBe('');
    // a threaded cgroup's cgroup.procs cannot be read (cgroup_procs_start)
    expect(k.readFile(r, `${CG}/d/t1/cgroup.procs`)).toBe(-EOPNOTSUPP);
    expect(k.readFile(r, `${CG}/d/cgroup.procs`)).toBe(`${p.pid}\n`);
  });

  test('subtree_control: -EINVAL unknown, -ENOENT unavailable, -EBUSY while a child uses it', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/a`);
    k.mkdir(r, `${CG}/a/b`);
    expect(k.writeFile(r, `${CG}/a/cgroup.subtree_control`, '+bogus')).toBe(-EINVAL);
    expect(k.writeFile(r, `${CG}/a/cgroup.subtree_control`, 'memory')).toBe(-EINVAL);
    expect(k.readFile(r, `${CG}/a/b/memory.max`)).toBe(-ENOENT);
    expect(k.writeFile(r, `${CG}/a/cgroup.subtree_control`, '+memory +pids')).toBeGreaterThan(0);
    expect(k.readFile(r, `${CG}/a/b/cgroup.controllers`)).toBe('memory pids\n');
    expect(k.readFile(r, `${CG}/a/b/memory.max`)).toBe('max\n');
    expect(k.writeFile(r, `${CG}/a/b/cgroup.subtree_control`, '+io')).toBe(-ENOENT);
    k.writeFile(r, `${CG}/a/b/cgroup.subtree_control`, '+memory');
    expect(k.writeFile(r, `${CG}/a/cgroup.subtree_control`, '-memory')).toBe(-EBUSY);
    expect(k.readFile(r, `${CG}/cgroup.subtree_control`)).toBe('cpu io memory pids\n');
  });

  test('pids.max refuses forks with -EAGAIN and counts pids.events', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    const p = k.spawn({ cgroup: '/s' });
    expect(k.writeFile(r, `${CG}/s/pids.max`, '2')).toBe(1);
    expect(typeof k.fork(p)).toBe('object');
    expect(k.fork(p)).toBe(-EAGAIN);
    expect(k.readFile(r, `${CG}/s/pids.events`)).toBe('max 1\n');
    expect(k.writeFile(r, `${CG}/s/pids.max`, '-1')).toBe(-EINVAL);
    expect(k.writeFile(r, `${CG}/s/pids.max`, 'lots')).toBe(-EINVAL);
    expect(k.readFile(r, `${CG}/s/pids.max`)).toBe('2\n');
    expect(k.writeFile(r, `${CG}/s/pids.max`, 'max')).toBe(3);
    expect(typeof k.fork(p)).toBe('object');
  });
});

describe('memory files', () => {
  test('bad values get -EINVAL and change nothing; memparse suffixes and max', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    k.mkdir(r, `${CG}/m`);
    k.writeFile(r, `${CG}/m/memory.max`, '1G');
    for (const bad of ['64Q', '-1', '12 34', 'maxx', '0x', '64MB', '1.5G']) {
      expect(k.writeFile(r, `${CG}/m/memory.max`, bad), bad).toBe(-EINVAL);
      expect(k.readFile(r, `${CG}/m/memory.max`)).toBe(`${2 ** 30}\n`);
    }
    // memparse takes a suffix with no digits before it: 'M' is 0 bytes (lib/cmdline.c)
    expect(k.writeFile(r, `${CG}/m/memory.max`, 'M')).toBe(1);
    expect(k.readFile(r, `${CG}/m/memory.max`)).toBe('0\n');
    // u64 arithmetic: exact above 2^53, clamped to PAGE_COUNTER_MAX ("max"), wrapping at 2^64
    expect(k.writeFile(r, `${CG}/m/memory.max`, '4E')).toBe(2);
    expect(k.readFile(r, `${CG}/m/memory.max`)).toBe('4611686018427387904\n');
    expect(k.writeFile(r, `${CG}/m/memory.max`, '9223372036854775807')).toBe(19);
    expect(k.readFile(r, `${CG}/m/memory.max`)).toBe('max\n');
    expect(k.writeFile(r, `${CG}/m/memory.max`, '16E')).toBe(3);
    expect(k.readFile(r, `${CG}/m/memory.max`)).toBe('0\n');
    expect(k.writeFile(r, `${CG}/m/memory.max`, '64k\n')).toBe(4);
    expect(k.readFile(r, `${CG}/m/memory.max`)).toBe('65536\n');
    expect(k.writeFile(r, `${CG}/m/memory.max`, '4097')).toBe(4);
    expect(k.readFile(r, `${CG}/m/memory.max`)).toBe('4096\n'); // rounded down to pages
    expect(k.writeFile(r, `${CG}/m/memory.high`, 'max')).toBe(3);
    expect(k.readFile(r, `${CG}/m/memory.high`)).toBe('max\n');
    expect(k.writeFile(r, `${CG}/m/memory.oom.group`, '2')).toBe(-EINVAL);
    expect(k.writeFile(r, `${CG}/m/memory.current`, '0')).toBe(-EINVAL); // no write method: cgroup_file_write's -EINVAL
    expect(k.readFile(r, `${CG}/memory.current`)).toBe(-ENOENT); // not on the root
    expect(k.writeFile(r, `${CG}/nope/memory.max`, '1M')).toBe(-ENOENT);
  });

  test('active memcg wins over the mm for page cache / kmem; lowering memory.max reclaims or OOM-kills', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    const kw = k.kthreadCreate('kworker', { run: () => false }) as typeof r;
    k.mkdir(r, `${CG}/issuer`);
    const issuer = k.cgroupByPath('/issuer')!;
    expect(getMemcgForCharge(k, kw)).toBe(k.rootMemcg);
    const old = setActiveMemcg(kw, issuer);
    expect(getMemcgForCharge(k, kw)).toBe(issuer.memcg);
    expect(chargePages(k, getMemcgForCharge(k, kw), 10, 'shmem', kw)).toBe(0);
    setActiveMemcg(kw, old);
    expect(k.readFile(r, `${CG}/issuer/memory.current`)).toBe(`${10 * 4096}\n`);
    // anon memory of a process: reclaimable only to swap, so a low memory.max OOM-kills it
    const p = k.spawn({ cgroup: '/issuer' });
    expect(k.faultAnon(p, 1 << 20)).toBe(0);
    k.writeFile(r, `${CG}/issuer/memory.swap.max`, '0');
    expect(k.writeFile(r, `${CG}/issuer/memory.max`, '100K')).toBe(4);
    expect(p.alive).toBe(false);
    expect(k.readFile(r, `${CG}/issuer/memory.events`)).toMatch(/^oom_kill 1$/m);
  });
});

describe('io', () => {
  test('io.stat per device, io.max parsing and throttling in virtual time', async () => {
    const k = await Kernel.boot();
    const r = k.init;
    const bdev = registerBlkdev(k, {
      name: 'testblk0', major: 7, minor: 0, sizeBytes: 64 << 20,
      ops: { submitBio: (kk, _b, bio) => bioEndio(kk, bio, 0) },
    });
    const p = k.spawn({ cgroup: '/io' });
    const fd = k.open(p, '/dev/testblk0', O_WRONLY | O_DIRECT);
    expect(k.pwrite(p, fd, 1 << 20, 0)).toBe(1 << 20);
    expect(k.readFile(r, `${CG}/io/io.stat`)).toBe('7:0 rbytes=0 wbytes=1048576 rios=0 wios=1 dbytes=0 dios=0\n');
    expect(k.readFile(r, `${CG}/io.stat`)).toBe('7:0 rbytes=0 wbytes=1048576 rios=0 wios=1 dbytes=0 dios=0\n');
    // buffered writes: dirty page cache charged to the writer, written back by fsync
    const fd2 = k.open(p, '/dev/testblk0', O_WRONLY);
    expect(k.pwrite(p, fd2, 8192, 0)).toBe(8192);
    expect(k.readFile(r, `${CG}/io/memory.stat`)).toMatch(/^file_dirty 8192$/m);
    expect(k.fsync(p, fd2)).toBe(0);
    expect(k.readFile(r, `${CG}/io/memory.stat`)).toMatch(/^file_dirty 0$/m);
    expect(k.readFile(r, `${CG}/io/io.stat`)).toMatch(/wbytes=1056768 rios=0 wios=2/);
    expect(k.pwrite(p, fd2, 1, 64 << 20)).toBe(-28);
    // the periodic flusher (5 s, deferrable) writes back what nobody fsyncs
    expect(k.pwrite(p, fd2, 4096, 8192)).toBe(4096);
    expect(k.readFile(r, `${CG}/io/memory.stat`)).toMatch(/^file_dirty 4096$/m);
    k.advance(5000);
    expect(k.readFile(r, `${CG}/io/memory.stat`)).toMatch(/^file_dirty 0$/m);
    expect(k.readFile(r, `${CG}/io/io.stat`)).toMatch(/wbytes=1060864 rios=0 wios=3/);
    // io.max
    for (const bad of ['7:0 wbps=1', '7:0 wbps=-5', '7:0 bogus=3', 'x:y wbps=5', '7:0 wbps=5M']) {
      expect(k.writeFile(r, `${CG}/io/io.max`, bad), bad).toBe(-EINVAL);
    }
    expect(k.writeFile(r, `${CG}/io/io.max`, '8:0 wbps=1000')).toBe(-ENODEV);
    expect(k.readFile(r, `${CG}/io/io.max`)).toBe('');
    expect(k.writeFile(r, `${CG}/io/io.max`, '7:0 wbps=1048576')).toBeGreaterThan(0);
    expect(k.readFile(r, `${CG}/io/io.max`)).toBe('7:0 rbps=max wbps=1048576 riops=max wiops=max\n');
    const cg = k.cgroupByPath('/io', 'io')!;
    const t0 = k.now;
    expect(blkThrottleBio(k, cg, bdev.dev, 'write', 1 << 20)).toBe(t0);
    expect(blkThrottleBio(k, cg, bdev.dev, 'write', 1 << 20)).toBe(t0 + 1e9);
    expect(blkThrottleBio(k, cg, bdev.dev, 'read', 1 << 20)).toBe(t0);
    k.advance(5000);
    expect(blkThrottleBio(k, cg, bdev.dev, 'write', 1 << 20)).toBe(k.now);
  });
});

describe('cgroup v1', () => {
  test('one hierarchy per controller with v1 files', async () => {
    const k = await Kernel.boot({ cgroup: 'v1' });
    const r = k.init;
    expect(k.readdir(r, '/sys/fs/cgroup')).toEqual(['memory', 'cpu,cpuacct', 'blkio', 'pids']);
    expect(k.mkdir(r, '/sys/fs/cgroup/memory/vm')).toBe(0);
    expect(k.writeFile(r, '/sys/fs/cgroup/memory/vm/memory.limit_in_bytes', '64M')).toBe(3);
    expect(k.readFile(r, '/sys/fs/cgroup/memory/vm/memory.limit_in_bytes')).toBe(`${64 << 20}\n`);
    expect(k.writeFile(r, '/sys/fs/cgroup/memory/vm/memory.limit_in_bytes', '-1')).toBe(2);
    expect(k.readFile(r, '/sys/fs/cgroup/memory/vm/memory.limit_in_bytes')).toBe('9223372036854771712\n');
    const p = k.spawn({});
    expect(k.writeFile(r, '/sys/fs/cgroup/memory/vm/tasks', String(p.pid))).toBeGreaterThan(0);
    expect(p.cgroup).toBe('/vm');
    expect(k.cgroupOf(p, 'pids').path).toBe('/');
    expect(k.readFile(r, '/sys/fs/cgroup/pids/pids.current')).toBe(-ENOENT);
  });
});

describe('reclaim', () => {
  test('dirty page cache is reclaimed after writeback (no OOM); shmem without swap is not', async () => {
    const k = await Kernel.boot({ swap: '0' });
    const r = k.init;
    let pendingBios: import('../../src/kernel/vfs/blkdev.js').Bio[] = [];
    registerBlkdev(k, {
      name: 'slowblk0', major: 7, minor: 1, sizeBytes: 64 << 20,
      // completes bios 1 ms later, from a timer: reclaim must wait for writeback
      ops: { submitBio: (kk, _b, bio) => { pendingBios.push(bio); kk.rt.callAt(kk.now + 1e6, () => { bioEndio(kk, bio, 0); pendingBios = pendingBios.filter((b) => b !== bio); }); } },
    });
    k.mkdir(r, `${CG}/w`);
    k.writeFile(r, `${CG}/w/memory.max`, '1M');
    const p = k.spawn({ cgroup: '/w' });
    const fd = k.open(p, '/dev/slowblk0', O_WRONLY);
    for (let i = 0; i < 16; i++) expect(k.pwrite(p, fd, 256 << 10, i * (256 << 10))).toBe(256 << 10);
    expect(p.alive).toBe(true);
    expect(Number(k.readFile(r, `${CG}/w/memory.current`))).toBeLessThanOrEqual(1 << 20);
    expect(k.readFile(r, `${CG}/w/memory.events`)).toMatch(/^oom_kill 0$/m);
    expect(k.readFile(r, `${CG}/w/io.stat`)).toMatch(/7:1 rbytes=0 wbytes=\d+/);
    // the same amount into tmpfs: shmem cannot go anywhere, the writer is OOM-killed
    const q = k.spawn({ cgroup: '/w' });
    const f2 = k.open(q, '/tmp/big', O_CREAT | O_WRONLY);
    expect(k.pwrite(q, f2, 4 << 20, 0)).toBe(-4);
    expect(q.alive).toBe(false);
  });
});

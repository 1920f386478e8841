/**
 * The page cache is sparse (issue 13): a pwrite far past the start of a file costs
 * memory for the pages written, not for every index below them, so writes at 2^40 and
 * 2^62 (tmpfs; a loop device's backing file and the loop device's own page cache), the
 * reclaim after them and the truncate that frees them take milliseconds, and leave the
 * memcg counters as a dense file would.
 */
import { describe, expect, test } from 'vitest';
import { EINVAL, Kernel, KwqError, LOOP_CLR_FD, LOOP_CONFIGURE, O_CREAT, O_RDWR, type Task } from 'kwq';
import { AddressSpace, addPages, endWriteback, startWriteback } from '../../src/kernel/vfs/filemap.js';
import { NR_FILE_WRITEBACK } from '../../src/kernel/memcontrol.js';
import type { TmpfsInfo } from '../../src/kernel/vfs/tmpfs.js';

const CG = '/sys/fs/cgroup/w';
const PAGE = 4096;
const MiB = 1 << 20;

function statOf(k: Kernel, key: string): number {
  const s = k.readFile(k.init, `${CG}/memory.stat`) as string;
  return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(s)![1]);
}

function num(k: Kernel, file: string): number {
  return Number(k.readFile(k.init, `${CG}/${file}`));
}

function mappingOf(t: Task, fd: number): AddressSpace {
  return t.files!.get(fd)!.inode.mapping!;
}

/** a memcg /w (memory.max 64M, swap allowed) with one writer in it */
async function setup(): Promise<{ k: Kernel; t: Task }> {
  const k = await Kernel.boot({ swap: '1G', tmpfsSize: '8G' });
  expect(k.mkdir(k.init, CG)).toBe(0);
  const t = k.spawn({ comm: 'writer', cgroup: '/w' });
  expect(k.writeFile(k.init, `${CG}/memory.max`, '64M')).toBeGreaterThan(0);
  return { k, t };
}

/** every page charged to /w is counted once, as memory or as swap, and the mapping agrees */
function expectConsistent(k: Kernel, m: AddressSpace): void {
  let resident = 0;
  let swapped = 0;
  m.forEachPage((_i, _id, flags) => (flags & 4 ? swapped++ : resident++));
  expect(resident).toBe(m.nrpages);
  expect(swapped).toBe(m.nrSwap);
  expect(num(k, 'memory.current')).toBe(statOf(k, 'file') + statOf(k, 'anon') + statOf(k, 'kernel')); // file includes shmem
}

describe('sparse page cache: far offsets (issue 13)', () => {
  for (const [name, off] of [['2^40', 2 ** 40], ['2^62', 2 ** 62]] as const) {
    test(`tmpfs: pwrite at ${name}, reclaim under memory.high and memory.reclaim, truncate`, async () => {
      const { k, t } = await setup();
      const t0 = performance.now();
      const fd = k.open(t, '/tmp/f', O_CREAT | O_RDWR);
      expect(k.pwrite(t, fd, 16 * PAGE, 0)).toBe(16 * PAGE);
      expect(k.pwrite(t, fd, 2 * PAGE, off)).toBe(2 * PAGE);
      const m = mappingOf(t, fd);
      expect(m.nrpages).toBe(18);
      expect(m.nrChunks).toBe(2); // index 0..15 and off/4096: nothing in between
      expect(m.ownerOf(off / PAGE)).not.toBe(0);
      expect(m.ownerOf(off / PAGE - 1)).toBe(0);
      expect((k.stat(t, '/tmp/f') as { size: number }).size).toBe(off + 2 * PAGE);
      expect(num(k, 'memory.current')).toBe(18 * PAGE);
      expect(statOf(k, 'shmem')).toBe(18 * PAGE);
      // a read of the hole below: the zero page, nothing charged
      expect(k.pread(t, fd, MiB, off - MiB)).toBe(MiB);
      expect(m.nrpages).toBe(18);
      // memory.high far below: every further page is charged after reclaiming to swap
      expect(k.writeFile(k.init, `${CG}/memory.high`, '16K')).toBeGreaterThan(0);
      expect(k.pwrite(t, fd, 16 * PAGE, off + MiB)).toBe(16 * PAGE);
      expect(num(k, 'memory.swap.current')).toBeGreaterThan(0);
      expect(k.writeFile(k.init, `${CG}/memory.high`, 'max')).toBeGreaterThan(0);
      expect(k.writeFile(k.init, `${CG}/memory.reclaim`, String(num(k, 'memory.current')))).toBeGreaterThanOrEqual(0);
      expect(num(k, 'memory.current')).toBe(0);
      expect(num(k, 'memory.swap.current')).toBe(34 * PAGE);
      expect(m.nrSwap).toBe(34);
      expectConsistent(k, m);
      // swap-in by reading back the far pages
      expect(k.pread(t, fd, 2 * PAGE, off)).toBe(2 * PAGE);
      expect(num(k, 'memory.current')).toBe(2 * PAGE);
      expect(num(k, 'memory.swap.current')).toBe(32 * PAGE);
      expectConsistent(k, m);
      // truncate: first past the far pages, then all of it
      expect(k.ftruncate(t, fd, off + PAGE)).toBe(0);
      expect(m.nrpages + m.nrSwap).toBe(17); // pages 0..15 and the first far one
      expect(k.ftruncate(t, fd, 0)).toBe(0);
      expect(m.nrpages + m.nrSwap + m.nrChunks).toBe(0);
      expect(num(k, 'memory.current')).toBe(0);
      expect(num(k, 'memory.swap.current')).toBe(0);
      expect(statOf(k, 'shmem')).toBe(0);
      expect((t.files!.get(fd)!.inode.sb.fsInfo as TmpfsInfo).usedBlocks).toBe(0);
      expect(performance.now() - t0).toBeLessThan(1000);
    });

    test(`loop: backing file written at ${name}, the loop device's page cache there, reclaim, truncate`, async () => {
      const { k, t } = await setup();
      const t0 = performance.now();
      const b = k.open(t, '/tmp/backing', O_CREAT | O_RDWR);
      expect(k.pwrite(t, b, PAGE, off)).toBe(PAGE);
      const backing = mappingOf(t, b);
      expect(backing.nrChunks).toBe(1);
      const ctl = k.open(t, '/dev/loop-control', O_RDWR);
      expect(ctl).toBeGreaterThanOrEqual(0);
      const lfd = k.open(t, '/dev/loop0', O_RDWR);
      expect(k.ioctl(t, lfd, LOOP_CONFIGURE, { fd: b, info: { lo_file_name: '/tmp/backing' } })).toBe(0);
      expect((k.stat(t, '/dev/loop0') as { size: number }).size).toBe(off + PAGE);
      // buffered writes through /dev/loop0 at the far end: dirty pages of the device's
      // mapping, written back by fsync through the loop worker into the backing file
      expect(k.pwrite(t, lfd, PAGE, off)).toBe(PAGE);
      expect(k.pwrite(t, lfd, 4 * PAGE, 0)).toBe(4 * PAGE);
      const bdev = mappingOf(t, lfd);
      expect(bdev.nrChunks).toBe(2);
      expect(bdev.nrDirty).toBe(5);
      expect(k.fsync(t, lfd)).toBe(0);
      expect(bdev.nrDirty + bdev.nrWriteback).toBe(0);
      expect(backing.nrpages + backing.nrSwap).toBe(5); // the far page and four at 0
      expect(k.pread(t, lfd, 2 * PAGE, off - PAGE)).toBe(2 * PAGE); // a miss below: read in
      expect(bdev.nrpages).toBe(6);
      expectConsistent(k, bdev);
      // reclaim: the clean device cache goes first
      expect(k.writeFile(k.init, `${CG}/memory.reclaim`, `${6 * PAGE}`)).toBeGreaterThanOrEqual(0);
      expect(bdev.nrpages + bdev.nrChunks).toBe(0);
      expectConsistent(k, backing);
      // detach, truncate the backing file: nothing left charged anywhere
      expect(k.ioctl(t, lfd, LOOP_CLR_FD)).toBe(0);
      k.close(t, lfd);
      expect(k.ftruncate(t, b, 0)).toBe(0);
      expect(backing.nrpages + backing.nrSwap + backing.nrChunks).toBe(0);
      expect(num(k, 'memory.current')).toBe(0);
      expect(num(k, 'memory.swap.current')).toBe(0);
      expect(statOf(k, 'shmem') + statOf(k, 'file') + statOf(k, 'file_dirty') + statOf(k, 'file_writeback')).toBe(0);
      expect(performance.now() - t0).toBeLessThan(1000);
    });
  }
});

describe('file positions up to LLONG_MAX', () => {
  test('rw_verify_area: pos + count past LLONG_MAX is -EINVAL; up to it a write lands on the last page index', async () => {
    const { k, t } = await setup();
    const fd = k.open(t, '/tmp/f', O_CREAT | O_RDWR);
    const last = 2 ** 63 - 1024; // the largest double below 2^63
    expect(k.pwrite(t, fd, 1024, last)).toBe(-EINVAL); // ends at 2^63 = LLONG_MAX + 1
    expect(k.pread(t, fd, 1024, last)).toBe(-EINVAL);
    expect((k.stat(t, '/tmp/f') as { size: number }).size).toBe(0);
    expect(k.pwrite(t, fd, 512, last)).toBe(512); // ends at 2^63 - 512 <= LLONG_MAX
    expect((k.stat(t, '/tmp/f') as { size: number }).size).toBe(last); // 2^63 - 512 is no double: kept below 2^63
    const m = mappingOf(t, fd);
    expect(m.ownerOf(2 ** 51 - 1)).not.toBe(0); // MAX_LFS_FILESIZE >> PAGE_SHIFT
    expect(m.nrpages).toBe(1);
    expect(k.ftruncate(t, fd, 0)).toBe(0);
    expect(num(k, 'memory.current')).toBe(0);
    // not a loff_t at all: a caller's error, as a negative or fractional offset is
    expect(() => k.pwrite(t, fd, 1, 2 ** 63)).toThrow(KwqError);
    expect(() => k.ftruncate(t, fd, 2 ** 64)).toThrow(KwqError);
  });

  test('a dense file keeps one chunk per 512 pages and frees each with its last page', async () => {
    const { k, t } = await setup();
    const fd = k.open(t, '/tmp/f', O_CREAT | O_RDWR);
    expect(k.pwrite(t, fd, 4 * MiB, 0)).toBe(4 * MiB); // 1024 pages
    const m = mappingOf(t, fd);
    expect(m.nrChunks).toBe(2);
    expect(k.ftruncate(t, fd, 2 * MiB + 1)).toBe(0); // keeps pages 0..512
    expect(m.nrpages).toBe(513);
    expect(m.nrChunks).toBe(2);
    expect(k.ftruncate(t, fd, 2 * MiB)).toBe(0);
    expect(m.nrChunks).toBe(1);
    expect(k.ftruncate(t, fd, 0)).toBe(0);
    expect(m.nrChunks).toBe(0);
    expect(k.pwrite(t, fd, PAGE, 3 * MiB)).toBe(PAGE); // a chunk again (revived or new)
    expect(m.nrChunks).toBe(1);
    expect(num(k, 'memory.current')).toBe(PAGE);
  });
});

describe('writeback', () => {
  test('a page dirtied again while under writeback is not started twice (nrWriteback and file_writeback leaked one page)', async () => {
    const k = await Kernel.boot({});
    const bios: number[] = [];
    const m = new AddressSpace('file', { writeback: (_k, _m, first, count) => void bios.push(first, count) }, 'test');
    expect(addPages(k, m, k.init, 0, 2, true)).toBe(2);
    expect(startWriteback(k, m, () => true, Infinity, null)).toBe(2);
    expect(addPages(k, m, k.init, 1, 1, true)).toBe(1); // page 1: dirty and under writeback
    // write_cache_pages (WB_SYNC_NONE) passes over it
    expect(startWriteback(k, m, () => true, Infinity, null)).toBe(0);
    expect(m.wbSkipped).toBe(1);
    expect(m.nrWriteback).toBe(2);
    endWriteback(k, m, 0, 2);
    expect(m.nrWriteback).toBe(0);
    expect(k.rootMemcg.stat[NR_FILE_WRITEBACK]).toBe(0);
    // once its writeback ended it goes out again
    expect(startWriteback(k, m, () => true, Infinity, null)).toBe(1);
    expect(bios).toEqual([0, 2, 1, 1]);
    endWriteback(k, m, 1, 1);
    expect(m.nrDirty + m.nrWriteback).toBe(0);
  });
});

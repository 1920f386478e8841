/**
 * Block devices (block/bdev.c, block/blk-core.c, reduced). A driver registers a
 * device with a submit_bio hook; the kernel gives it:
 *
 *   /dev/<name>        buffered read/write through the device's page cache: pages
 *                      charged (file kind) to the writer's memcg, dirty until written
 *                      back; O_DIRECT writes go straight to submit_bio.
 *   writeback          dirty pages go out as write bios attributed to the cgroup that
 *                      dirtied them (cgroup writeback), when: fsync, memcg reclaim,
 *                      the dirty background threshold, the periodic flusher.
 *   io.stat, io.max    every submitted bio is counted in its blkcg (blk-cgroup.ts);
 *                      drivers ask blkThrottleBio() when a bio may be dispatched.
 *
 * The driver completes a bio with bioEndio(k, bio, status), now or later.
 */
import { memcgDirtyLimits } from '../memcontrol.js';
import { EINTR, EIO, ENOSPC, EPERM } from '../errno.js';
import { KwqError } from '../error.js';
import type { Kernel } from '../kernel.js';
import { blkcgAccountIo, blkcgOf, type BioOp } from '../blk-cgroup.js';
import type { Cgroup } from '../cgroup/cgroup.js';
import { getMemcgForCharge, PAGE_SIZE, type ObjCgroup } from '../memcontrol.js';
import type { Task } from '../task.js';
import { addPages, AddressSpace, endWriteback, readPages, startWriteback, type AddressSpaceOps } from './filemap.js';
import { O_DIRECT, type File, type FileOperations } from './file.js';
import { Inode, S_IFBLK } from './inode.js';

export interface Bio {
  op: BioOp;
  /** byte offset on the device */
  offset: number;
  /** bytes */
  len: number;
  /** the blkcg it is charged to (bio_blkcg_css) */
  blkcg: Cgroup;
  /** the task that issued it (the flusher kthread for writeback); null from timers */
  task: Task | null;
  /** set when done: 0 or -errno */
  status: number;
  done: boolean;
  /** called once by bioEndio */
  endIo: ((k: Kernel, bio: Bio) => void) | null;
  /** bi_private: the submitter's data for endIo (lets a submitter pass one shared function instead of a closure per bio) */
  endIoData: unknown;
  /** for the driver */
  private: unknown;
  /**
   * bio->__bi_remaining: requests of this bio still in flight (blk-mq's split), and the
   * first error one of them reported (bi_status before bio_endio). In the bio, as in
   * the kernel, so a split allocates no state of its own.
   */
  remaining: number;
  splitStatus: number;
  /** bi_ioprio: 0 (IOPRIO_CLASS_NONE) until someone sets it (src/drivers/block/bio-ioprio.ts) */
  ioprio: number;
}

export interface BlockDeviceOps {
  /** queue the bio; complete it with bioEndio() now or later */
  submitBio(k: Kernel, bdev: BlockDevice, bio: Bio): void;
  /** optional file operations merged over the generic block-device ones (ioctl, open, release) */
  fops?: FileOperations;
}

export interface BlkdevSpec {
  name: string;
  major: number;
  minor: number;
  /** capacity in bytes (set_capacity); 0 for an unbound device */
  sizeBytes: number;
  ops: BlockDeviceOps;
  data?: unknown;
}

export class BlockDevice {
  readonly dev: string;
  readonly mapping: AddressSpace;
  inode!: Inode;
  readOnly = false;
  /** write bios that failed in writeback (reported by the next fsync) */
  wbError = 0;
  /**
   * per-request structures of the direct-I/O path kept for reuse, newest on top
   * (block/fops.c: struct blkdev_dio, which embeds its bio, from blkdev_dio_pool; a slab
   * hands back the most recently freed object, still in cache). Their owner (aio.ts)
   * decides their type.
   */
  readonly dioCache: unknown[] = [];
  constructor(
    readonly name: string,
    readonly major: number,
    readonly minor: number,
    public sizeBytes: number,
    readonly ops: BlockDeviceOps,
    public data: unknown,
  ) {
    this.dev = `${major}:${minor}`;
    this.mapping = new AddressSpace('file', bdevAops(this), `/dev/${name}`);
  }
}

/** submit_bio: count it in its blkcg, trace it, hand it to the driver. */
export function submitBio(k: Kernel, bdev: BlockDevice, bio: Bio): void {
  blkcgAccountIo(bio.blkcg, bdev.dev, bio.op, bio.len);
  const tp = k.tp.blockBioQueue;
  if (tp.enabled) {
    tp.emit({ name: tp.name, ts: tp.now, dev: bdev.dev, op: bio.op, offset: bio.offset, len: bio.len, blkcg: bio.blkcg.path, pid: bio.task?.pid ?? 0 });
  }
  bdev.ops.submitBio(k, bdev, bio);
}

/** bio_endio */
export function bioEndio(k: Kernel, bio: Bio, status: number): void {
  if (bio.done) throw new KwqError('bio_endio', 'bio completed twice');
  bio.done = true;
  bio.status = status;
  bio.endIo?.(k, bio);
}

export function newBio(op: BioOp, offset: number, len: number, blkcg: Cgroup, task: Task | null): Bio {
  return { op, offset, len, blkcg, task, status: 0, done: false, endIo: null, endIoData: null, private: null, remaining: 0, splitStatus: 0, ioprio: 0 };
}

/**
 * bio_reset + bio_init of a bio its owner keeps for reuse (a bio embedded in the
 * owner's per-request structure, as block/fops.c's struct blkdev_dio embeds its bio):
 * the bio must have completed.
 */
export function bioReinit(bio: Bio, op: BioOp, offset: number, len: number, blkcg: Cgroup, task: Task | null): Bio {
  if (!bio.done) throw new KwqError('bio_reset', 'bio reused before it completed');
  bio.op = op;
  bio.offset = offset;
  bio.len = len;
  bio.blkcg = blkcg;
  bio.task = task;
  bio.status = 0;
  bio.done = false;
  bio.endIo = null;
  bio.endIoData = null;
  bio.private = null;
  bio.remaining = 0;
  bio.splitStatus = 0;
  bio.ioprio = 0;
  return bio;
}

function bdevAops(bdev: BlockDevice): AddressSpaceOps {
  return {
    writeback(k: Kernel, mapping: AddressSpace, first: number, count: number, objcg: ObjCgroup, current: Task | null): void {
      // cgroup writeback: the bio belongs to the cgroup whose memcg owns the pages (v2);
      // v1 has no cgroup writeback, so the writer of the bio (the flusher) is charged.
      const blkcg = k.cgroupV2 ? objcg.memcg.cgroup.ecss('io') : blkcgOf(k, current);
      const bio = newBio('write', first * PAGE_SIZE, count * PAGE_SIZE, blkcg, current);
      bio.endIo = (kk, b) => {
        if (b.status < 0) bdev.wbError = b.status;
        endWriteback(kk, mapping, first, count);
      };
      submitBio(k, bdev, bio);
    },
    readpages(k: Kernel, _mapping: AddressSpace, first: number, count: number, _objcg: ObjCgroup, current: Task | null): void {
      const bio = newBio('read', first * PAGE_SIZE, count * PAGE_SIZE, blkcgOf(k, current), current);
      submitBio(k, bdev, bio);
    },
  };
}

/** dirty background threshold for a memcg (vm.dirty_background_ratio = 10% of what it may use) */
function dirtyBackgroundPages(k: Kernel, task: Task): number {
  let avail = k.totalRamPages;
  for (let m: ReturnType<typeof getMemcgForCharge> | null = getMemcgForCharge(k, task); m !== null; m = m.parent) avail = Math.min(avail, m.max);
  return Math.max(1, Math.floor(avail / 10));
}

function blkdevWrite(k: Kernel, file: File, task: Task, len: number, pos: number): number {
  const bdev = file.inode.iPrivate as BlockDevice;
  if (bdev.readOnly) return -EPERM;
  if (len === 0) return 0;
  if (pos >= bdev.sizeBytes) return -ENOSPC;
  const n = Math.min(len, bdev.sizeBytes - pos);
  if (file.flags & O_DIRECT) {
    const bio = newBio('write', pos, n, blkcgOf(k, task), task);
    submitBio(k, bdev, bio);
    k.waitFor(() => bio.done || !task.alive);
    if (!task.alive) return -EINTR;
    if (!bio.done) return n; // cannot wait here (called from inside the simulation): queued
    return bio.status < 0 ? bio.status : n;
  }
  // page arithmetic from the offset in the page: past 2^53 `pos + n` would round
  const first = Math.floor(pos / PAGE_SIZE);
  const inPage = pos - first * PAGE_SIZE;
  const last = first + Math.ceil((inPage + n) / PAGE_SIZE);
  const m = bdev.mapping;
  const done = addPages(k, m, task, first, last - first, true);
  if (m.nrDirty > 0) k.wakeFlusher();
  if (!task.alive) return -EINTR;
  // balance_dirty_pages, reduced: over the background threshold, start writeback of this memcg's pages
  const memcg = getMemcgForCharge(k, task);
  if (memcg.stat[4]! > dirtyBackgroundPages(k, task)) startWriteback(k, m, (x) => x === memcg, Infinity, k.flusher);
  // and over the memcg domain's dirty threshold the dirtier waits for writeback
  // (balance_dirty_pages with cgroup writeback; the root's global domain is not modelled)
  if (!memcg.isRoot) {
    const over = (): boolean => {
      const l = memcgDirtyLimits(k, memcg);
      return l.dirty > l.thresh;
    };
    if (over()) {
      startWriteback(k, m, (x) => x === memcg, Infinity, k.flusher);
      k.waitFor(() => !task.alive || !over());
      if (!task.alive) return -EINTR;
    }
  }
  if (done < last - first) {
    const bytes = Math.max(0, done * PAGE_SIZE - inPage);
    return bytes > 0 ? bytes : m.lastError;
  }
  return n;
}

function blkdevRead(k: Kernel, file: File, task: Task, len: number, pos: number): number {
  const bdev = file.inode.iPrivate as BlockDevice;
  if (pos >= bdev.sizeBytes || len === 0) return 0;
  const n = Math.min(len, bdev.sizeBytes - pos);
  if (file.flags & O_DIRECT) {
    const bio = newBio('read', pos, n, blkcgOf(k, task), task);
    submitBio(k, bdev, bio);
    k.waitFor(() => bio.done || !task.alive);
    if (!task.alive) return -EINTR;
    return bio.done && bio.status < 0 ? bio.status : n;
  }
  const first = Math.floor(pos / PAGE_SIZE);
  const last = first + Math.ceil((pos - first * PAGE_SIZE + n) / PAGE_SIZE);
  const done = readPages(k, bdev.mapping, task, first, last - first);
  if (!task.alive) return -EINTR;
  if (done < last - first) return done > 0 ? done * PAGE_SIZE : bdev.mapping.lastError;
  return n;
}

/** blkdev_fsync: write back every dirty page, wait, then a flush bio. */
export function blkdevFsync(k: Kernel, bdev: BlockDevice, task: Task | null): number {
  // WB_SYNC_ALL: a page dirty again while under writeback is written once that ends
  // (write_cache_pages waits for it; startWriteback skips it): then a second round
  for (let round = 0; round < 2; round++) {
    startWriteback(k, bdev.mapping, () => true, Infinity, task);
    const skipped = bdev.mapping.wbSkipped;
    k.waitFor(() => bdev.mapping.nrWriteback === 0 || (task !== null && !task.alive));
    if (task !== null && !task.alive) return -EINTR;
    if (skipped === 0) break;
  }
  const err = bdev.wbError;
  bdev.wbError = 0;
  return err < 0 ? -EIO : 0;
}

export function registerBlkdev(k: Kernel, spec: BlkdevSpec): BlockDevice {
  const dev = k.devDir;
  if (dev.children!.has(spec.name)) throw new KwqError('register_blkdev', `/dev/${spec.name} is already registered`);
  const bdev = new BlockDevice(spec.name, spec.major, spec.minor, spec.sizeBytes, spec.ops, spec.data ?? null);
  const extra = spec.ops.fops ?? {};
  const fops: FileOperations = {
    read: blkdevRead,
    write: blkdevWrite,
    fsync: (kk, file, task) => blkdevFsync(kk, file.inode.iPrivate as BlockDevice, task),
    ...extra,
  };
  const ino = new Inode(dev.sb, k.nextIno(), S_IFBLK | 0o660, fops);
  ino.rdev = bdev.dev;
  ino.iPrivate = bdev;
  ino.mapping = bdev.mapping;
  bdev.inode = ino;
  dev.children!.set(spec.name, ino);
  k.blockDevices.set(bdev.dev, bdev);
  return bdev;
}

export function unregisterBlkdev(k: Kernel, bdev: BlockDevice): void {
  k.devDir.children!.delete(bdev.name);
  k.blockDevices.delete(bdev.dev);
}

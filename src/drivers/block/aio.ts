/**
 * Linux native AIO (fs/aio.c), the part fio's libaio engine uses on a block device:
 * io_setup, io_submit, io_getevents. It lets one task keep several requests in flight,
 * which the synchronous pread/pwrite of the public API cannot: what the loop scenarios
 * need to put two cgroups' I/O on one loop device at the same time.
 *
 *   ioSubmit(iocb) ── O_DIRECT on a block device ──► bio (the submitter's blkcg)
 *        │                                             │ bio_endio
 *        └─ anything else: done at once, as the       ▼
 *           kernel's buffered AIO is synchronous     ring of completed events
 *                                                      │
 *   ioGetevents(min, max) ◄────────────────────────────┘ (sim: runs until min are there)
 *
 * The request's priority (kiocb->ki_ioprio, aio_prep_rw): aio_reqprio when aio_flags
 * has IOCB_FLAG_IOPRIO (checked by ioprio_check_cap: its errno fails the iocb), else
 * the submitter's effective priority (get_current_ioprio); a direct-I/O bio carries it
 * as bi_ioprio (bio-ioprio.ts). FSYNC ignores it (aio_fsync has no aio_prep_rw).
 *
 * Model addition: each event carries `completedNs`, the time of its completion, so a
 * caller reaping in batches still measures each request's latency exactly.
 */
import { EAGAIN, EBADF, EFAULT, EINTR, EINVAL, ENOSPC, EPERM } from '../../kernel/errno.js';
import { FAULT, getUser, userArrayAt, userArrayLength } from '../../kernel/uaccess.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { blkcgOf } from '../../kernel/blk-cgroup.js';
import { bioReinit, newBio, submitBio, type Bio, type BlockDevice } from '../../kernel/vfs/blkdev.js';
import { O_DIRECT } from '../../kernel/vfs/file.js';
import { isBlk } from '../../kernel/vfs/inode.js';
import { bioSetIoprio } from './bio-ioprio.js';
import { ioprioCheckCap } from './ioprio.js';

export const IOCB_CMD_PREAD = 0;
export const IOCB_CMD_PWRITE = 1;
export const IOCB_CMD_FSYNC = 2;
/** iocb->aio_flags: aio_resfd is valid (not modelled) / aio_reqprio is valid */
export const IOCB_FLAG_RESFD = 1 << 0;
export const IOCB_FLAG_IOPRIO = 1 << 1;

/** struct iocb, the fields kwq reads */
export interface Iocb {
  aio_lio_opcode: number;
  aio_fildes: number;
  aio_nbytes: number;
  aio_offset: number;
  /** returned in the event's `data` */
  aio_data?: number;
  /** IOCB_FLAG_IOPRIO: aio_reqprio is the request's I/O priority */
  aio_flags?: number;
  aio_reqprio?: number;
}

/** struct io_event (+ completedNs, a model addition) */
export interface IoEvent {
  data: number;
  obj: Iocb;
  /** bytes, or -errno */
  res: number;
  res2: number;
  submittedNs: number;
  completedNs: number;
}

/**
 * struct kioctx. The completion ring (aio_ring's io_event array) holds each event as
 * numbers (data, res, submittedNs, completedNs) and the caller's iocb until
 * io_getevents copies it out (aio_read_events_ring), where its IoEvent object is made:
 * an object per completed event lived until the reap, a whole round of a caller with
 * many contexts, and V8 then allocated every one in old space (bench/scale's loop
 * curve: complete() 21 -> 126 ns at 10,000 contexts; issue 10).
 */
export class AioContext {
  inflight = 0;
  /** completed events not yet reaped (the ring's tail - head) */
  private nr = 0;
  private head = 0;
  /** slots: 4 numbers each (data, res, submittedNs, completedNs), and the caller's iocb */
  private cap = 0;
  private nums: number[] = [];
  private objs: (Iocb | null)[] = [];
  constructor(
    readonly owner: Task,
    readonly maxEvents: number,
  ) {}

  /** completed events waiting in the ring */
  get nrEvents(): number {
    return this.nr;
  }

  /** the events waiting in the ring, oldest first (copies: reaping them is io_getevents) */
  get ring(): IoEvent[] {
    const out: IoEvent[] = [];
    for (let j = 0; j < this.nr; j++) out.push(this.event((this.head + j) % this.cap));
    return out;
  }

  /** aio_complete: an event at the ring's tail */
  post(data: number, obj: Iocb, res: number, submittedNs: number, completedNs: number): void {
    if (this.nr === this.cap) this.grow();
    let i = this.head + this.nr;
    if (i >= this.cap) i -= this.cap;
    const b = i * 4;
    const n = this.nums;
    n[b] = data;
    n[b + 1] = res;
    n[b + 2] = submittedNs;
    n[b + 3] = completedNs;
    this.objs[i] = obj;
    this.nr++;
  }

  /** aio_read_events_ring: the oldest `max` events out of the ring */
  take(max: number): IoEvent[] {
    const out: IoEvent[] = [];
    const m = Math.min(max, this.nr);
    for (let j = 0; j < m; j++) {
      out.push(this.event(this.head));
      this.objs[this.head] = null;
      if (++this.head === this.cap) this.head = 0;
    }
    this.nr -= m;
    if (this.nr === 0) this.head = 0;
    return out;
  }

  private event(i: number): IoEvent {
    const b = i * 4;
    const n = this.nums;
    return { data: n[b]!, obj: this.objs[i]!, res: n[b + 1]!, res2: 0, submittedNs: n[b + 2]!, completedNs: n[b + 3]! };
  }

  /** twice the slots, the waiting events first (submit's -EAGAIN keeps them <= maxEvents) */
  private grow(): void {
    const cap = Math.max(4, this.cap * 2);
    const nums: number[] = new Array<number>(cap * 4).fill(0);
    const objs: (Iocb | null)[] = new Array<Iocb | null>(cap).fill(null);
    for (let j = 0; j < this.nr; j++) {
      const from = (this.head + j) % this.cap;
      for (let f = 0; f < 4; f++) nums[j * 4 + f] = this.nums[from * 4 + f]!;
      objs[j] = this.objs[from]!;
    }
    this.nums = nums;
    this.objs = objs;
    this.cap = cap;
    this.head = 0;
  }
}

/** io_setup(nr_events): a context or -errno. */
export function ioSetup(k: Kernel, task: Task, nrEvents: number): AioContext | number {
  if (!Number.isInteger(nrEvents)) throw new KwqError('io_setup', `bad nr_events ${nrEvents}`);
  const r = k.syscall('io_setup', task, () => (nrEvents <= 0 ? -EINVAL : new AioContext(task, nrEvents)));
  return r;
}

function complete(k: Kernel, ctx: AioContext, data: number, obj: Iocb, res: number, submittedNs: number): void {
  ctx.inflight--;
  ctx.post(data, obj, res, submittedNs, k.now);
}

/**
 * struct aio_kiocb of a direct-I/O request in flight: what its completion needs, the
 * bio's bi_private. One object with one shared end_io instead of a closure over the
 * kernel's iocb copy (a closure, its context and the copy lived until completion;
 * at 10,000 contexts V8 sometimes allocated them all in old space; issue 10). Kept on
 * its device's cache after completion with its bio, so a request in steady state
 * allocates neither (the kernel takes both from slabs: kiocb_cachep, blkdev_dio_pool).
 * Per device and LIFO, not per context: the next request reuses the one freed last,
 * whose memory is warm (per context, 10,000 contexts cycled through 40,000 cold ones).
 */
class AioKiocb {
  ctx: AioContext | null = null;
  data = 0;
  obj: Iocb | null = null;
  len = 0;
  submittedNs = 0;
  /**
   * its bio, made with the first request and reused (block/fops.c embeds the bio in
   * struct blkdev_dio; the kernel takes both from slabs, the model keeps them on the device's dioCache)
   */
  bio: Bio | null = null;
  constructor(readonly bdev: BlockDevice) {}
}

/** the direct-I/O bio's bi_end_io (aio_complete_rw): the kiocb goes back to its context */
function aioBioEndIo(k: Kernel, b: Bio): void {
  const r = b.endIoData as AioKiocb;
  const obj = r.obj!;
  const ctx = r.ctx!;
  r.obj = null;
  r.ctx = null;
  r.bdev.dioCache.push(r);
  complete(k, ctx, r.data, obj, b.status < 0 ? b.status : r.len, r.submittedNs);
}

const IOCB_FIELDS = ['aio_lio_opcode', 'aio_fildes', 'aio_nbytes', 'aio_offset', 'aio_data', 'aio_flags', 'aio_reqprio'] as const;

/**
 * copy_from_user(&iocb, user_iocb) into `into` (the kernel's copy): true, or false
 * (-EFAULT) for an object that cannot be read (src/kernel/uaccess.ts) or a field that
 * is no number (a C struct holds integers; absent optional fields read as undefined).
 * Ranges are checked later, as the kernel does. `into` may be partly written on a fault.
 */
function copyIocb(user: unknown, into: Iocb): boolean {
  const opcode = iocbField(user, 'aio_lio_opcode', false);
  if (opcode === FAULT) return false;
  const fildes = iocbField(user, 'aio_fildes', false);
  if (fildes === FAULT) return false;
  const nbytes = iocbField(user, 'aio_nbytes', false);
  if (nbytes === FAULT) return false;
  const offset = iocbField(user, 'aio_offset', false);
  if (offset === FAULT) return false;
  const data = iocbField(user, 'aio_data', true);
  if (data === FAULT) return false;
  const flags = iocbField(user, 'aio_flags', true);
  if (flags === FAULT) return false;
  const reqprio = iocbField(user, 'aio_reqprio', true);
  if (reqprio === FAULT) return false;
  into.aio_lio_opcode = opcode!;
  into.aio_fildes = fildes!;
  into.aio_nbytes = nbytes!;
  into.aio_offset = offset!;
  into.aio_data = data;
  into.aio_flags = flags;
  into.aio_reqprio = reqprio;
  return true;
}

/**
 * The kernel's copy of an iocb (io_submit_one's struct iocb on the stack), one object
 * for the kernel's life instead of one per iocb: with 10,000 submitting tasks the
 * allocation stream (about 1 KB a request; every new line a cache miss once the heap
 * outgrows the cache) is most of what a request costs beyond the 1-task case (issue
 * 10; cachegrind, a 32 MB cache: 21.7 -> 18.1 misses a request with the closures).
 * One is enough: copyIocb writes it only after reading every user field (a Proxy's
 * trap may submit meanwhile), and submitOne reads it into locals before anything can
 * block (a submission nested in its wait reuses it).
 */
const kiocbCopy: Iocb = { aio_lio_opcode: 0, aio_fildes: 0, aio_nbytes: 0, aio_offset: 0, aio_data: undefined, aio_flags: undefined, aio_reqprio: undefined };

/** one iocb field: a number, undefined (an absent optional field), or FAULT */
function iocbField(user: unknown, key: (typeof IOCB_FIELDS)[number], optional: boolean): number | undefined | typeof FAULT {
  const v = getUser(user, key);
  if (v === FAULT) return FAULT;
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number') return FAULT;
  return v;
}

/** io_submit(ctx, iocbs): how many were submitted, or -errno if none was. */
export function ioSubmit(k: Kernel, task: Task, ctx: AioContext, iocbs: Iocb[]): number {
  if (!(ctx instanceof AioContext)) throw new KwqError('io_submit', 'ctx is not an AioContext from ioSetup()');
  // the call without a closure per call (Kernel.syscallEnter's doc)
  k.syscallEnter('io_submit', task);
  if (ctx.owner.groupLeader !== task.groupLeader) return k.syscallExit(task, -EINVAL);
  return k.syscallExit(task, submitAll(k, task, ctx, iocbs, kiocbCopy));
}

function submitAll(k: Kernel, task: Task, ctx: AioContext, iocbs: Iocb[], kiocb: Iocb): number {
  const len = userArrayLength(iocbs);
  if (len === FAULT) return -EFAULT;
  let n = 0;
  for (let i = 0; i < len; i++) {
    // get_user(user_iocb, iocbpp + i), then io_submit_one: copy_from_user (-EFAULT) and the checks below
    const user = userArrayAt(iocbs, i);
    const r = user !== FAULT && copyIocb(user, kiocb) ? submitOne(k, task, ctx, kiocb, user as Iocb) : -EFAULT;
    if (r < 0) return n > 0 ? n : r;
    n++;
    if (!task.alive) break;
  }
  return n;
}

/** io_submit_one after copy_from_user: `iocb` is the kernel's copy, `obj` the caller's (returned in the event). */
function submitOne(k: Kernel, task: Task, ctx: AioContext, iocb: Iocb, obj: Iocb): number {
  // the copy's fields, read before anything can block: `iocb` is the one kernel copy
  // (kiocbCopy), which a submission nested in this one's wait (a tag, the backing
  // device) reuses
  const nbytes = iocb.aio_nbytes;
  const offset = iocb.aio_offset;
  const fildes = iocb.aio_fildes;
  const op = iocb.aio_lio_opcode;
  const data = iocb.aio_data ?? 0;
  const aioFlags = iocb.aio_flags ?? 0;
  const reqprio = iocb.aio_reqprio ?? 0;
  // "prevent overflows" before aio_get_req's -EAGAIN
  if (!Number.isSafeInteger(nbytes) || nbytes < 0 || !Number.isSafeInteger(offset) || offset < 0) return -EINVAL;
  if (ctx.inflight + ctx.nrEvents >= ctx.maxEvents) return -EAGAIN;
  // fdget of an fd that is no int is no file
  const file = Number.isInteger(fildes) ? k.fileOf(task, fildes) : null;
  if (file === null) return -EBADF;
  if (op !== IOCB_CMD_PREAD && op !== IOCB_CMD_PWRITE && op !== IOCB_CMD_FSYNC) return -EINVAL;
  let kiIoprio = 0;
  if (op !== IOCB_CMD_FSYNC) {
    // aio_prep_rw, before aio_read/aio_write check the file mode
    if (aioFlags & IOCB_FLAG_IOPRIO) {
      const prio = reqprio;
      if (!Number.isInteger(prio)) return -EINVAL; // a __u16 field holds no fraction: ioprio_check_cap's -EINVAL
      const cap = ioprioCheckCap(task, prio);
      if (cap < 0) return cap;
      kiIoprio = prio & 0xffff;
    }
    // else ki_ioprio = get_current_ioprio(): left NONE here, which the device's
    // bio_set_ioprio turns into the same value (the bio is submitted now, by this task)
  }
  if (op === IOCB_CMD_PWRITE ? !file.writable : op === IOCB_CMD_PREAD && !file.readable) return -EBADF;
  const t0 = k.now;
  ctx.inflight++;
  if (op !== IOCB_CMD_FSYNC && file.flags & O_DIRECT && isBlk(file.inode.mode)) {
    const bdev = file.inode.iPrivate as BlockDevice;
    const len = Math.max(0, Math.min(nbytes, bdev.sizeBytes - offset));
    if (len === 0) {
      complete(k, ctx, data, obj, op === IOCB_CMD_PWRITE && nbytes > 0 ? -ENOSPC : 0, t0);
      return 0;
    }
    if (op === IOCB_CMD_PWRITE && bdev.readOnly) {
      ctx.inflight--;
      return -EPERM;
    }
    const req = (bdev.dioCache.pop() as AioKiocb | undefined) ?? new AioKiocb(bdev);
    req.ctx = ctx;
    const bop = op === IOCB_CMD_PWRITE ? 'write' : 'read';
    const bio = req.bio === null ? (req.bio = newBio(bop, offset, len, blkcgOf(k, task), task)) : bioReinit(req.bio, bop, offset, len, blkcgOf(k, task), task);
    if (kiIoprio !== 0) bioSetIoprio(bio, kiIoprio); // __blkdev_direct_IO: bio->bi_ioprio = iocb->ki_ioprio
    req.data = data;
    req.obj = obj;
    req.len = len;
    req.submittedNs = t0;
    bio.endIo = aioBioEndIo;
    bio.endIoData = req;
    submitBio(k, bdev, bio);
    return 0;
  }
  // the kernel's buffered AIO (and fsync) run synchronously in io_submit
  const r = op === IOCB_CMD_FSYNC ? k.vfsFsync(file, task) : op === IOCB_CMD_PWRITE ? k.vfsWrite(file, task, nbytes, offset) : k.vfsRead(file, task, nbytes, offset);
  complete(k, ctx, data, obj, r, t0);
  return 0;
}

/**
 * io_getevents(ctx, min_nr, nr): up to `maxNr` completed events, oldest first. In sim
 * from top-level code it runs the simulation until `minNr` are there (or nothing can
 * complete any more); elsewhere it returns what is there. -EINTR if the task died.
 */
export function ioGetevents(k: Kernel, task: Task, ctx: AioContext, minNr: number, maxNr: number): IoEvent[] | number {
  if (!(ctx instanceof AioContext)) throw new KwqError('io_getevents', 'ctx is not an AioContext from ioSetup()');
  if (!Number.isInteger(minNr) || !Number.isInteger(maxNr)) throw new KwqError('io_getevents', `bad min_nr ${minNr} / nr ${maxNr}`);
  k.syscallEnter('io_getevents', task);
  if (minNr < 0 || maxNr < minNr) return k.syscallExit(task, -EINVAL);
  if (ctx.nrEvents < minNr) k.waitFor(() => ctx.nrEvents >= minNr || !task.alive || ctx.inflight === 0);
  if (!task.alive) return k.syscallExit(task, -EINTR);
  return k.syscallExit(task, ctx.take(maxNr));
}

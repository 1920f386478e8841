/**
 * struct vhost_virtqueue and vhost_vring_ioctl (drivers/vhost/vhost.c @ f3f64c2e;
 * kernel-reference.md sections 1.8, 1.10; research notes Q7).
 *
 *   vq.worker   the vhost_worker its works go to (RCU pointer in the kernel): null
 *               before SET_OWNER, after the worker was killed, after cleanup
 *   vq.kick     the kick eventfd (a File reference); vq.poll waits on it
 *   vq.callCtx  the call eventfd's ctx: completions signal it (vhost_signal)
 *   vq.backend  private_data: the driver's backend (a tap socket, a SCSI target, ...)
 *   vq.ring     the guest-visible ring state (vring.ts)
 */
import { getUser } from '../../kernel/uaccess.js';
import { EBADF, EBUSY, EFAULT, EINVAL, ENOBUFS, ENODEV, ENOIOCTLCMD, EOPNOTSUPP } from '../../kernel/errno.js';
import type { Task } from '../../kernel/task.js';
import { eventfdCtxFileget, eventfdSignal, type EventfdCtx } from '../../kernel/vfs/eventfd.js';
import { fput, getFile, type File } from '../../kernel/vfs/file.js';
import type { VhostDev } from './dev.js';
import { VhostPoll } from './poll.js';
import {
  FAULT, firstU32, readI32, readU32, toU64, VHOST_FILE_UNBIND, VHOST_GET_VRING_BASE, VHOST_SET_VRING_ADDR,
  VHOST_SET_VRING_BASE, VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR, VHOST_SET_VRING_KICK, VHOST_SET_VRING_NUM, writeFields,
} from './uapi.js';
import type { VhostWork } from './vhost-engine.js';
import { Vring, type VringState } from './vring.js';
import { VHOST_VQ, type SharedVring } from './vq-shared.js';
import { vhostDevFlush, vhostWorkerFlush, vhostWorkerLookup, vhostWorkerQueue, type VhostWorker } from './worker.js';

export type VqHandler = (vq: VhostVirtqueue) => void;

export class VhostVirtqueue {
  private _worker: VhostWorker | null = null;
  kick: File | null = null;
  callCtx: EventfdCtx | null = null;
  errCtx: EventfdCtx | null = null;
  private _backend: unknown = null;
  /** VHOST_SET_VRING_ADDR's addresses (desc, used, avail, log) and flags */
  addr: { flags: number; desc: bigint; used: bigint; avail: bigint; log: bigint } | null = null;
  readonly ring: VringState;
  /** the vq's kick work and its wait on vq.kick; null for vqs without a kick handler */
  poll: VhostPoll | null = null;
  /** a driver's second per-vq work (vhost-scsi's completion work), if any */
  aux: VhostWork | null = null;
  /** completions handed to the used ring at the time they were written (handle.ts) */
  completing = 0;
  /** the bound callback that publishes them (made once: no allocation per batch) */
  pushUsed: (() => void) | null = null;

  constructor(
    readonly dev: VhostDev,
    readonly index: number,
    /** vq->handle_kick: the driver's handler run by the poll work, or null */
    readonly handleKick: VqHandler | null,
    /** threads runtime: the vq's state in shared memory (vq-shared.ts); sim: a plain Vring */
    ring?: SharedVring,
  ) {
    this.ring = ring ?? new Vring();
    this.shared = ring ?? null;
  }

  /** threads runtime: the ring in shared memory, whose config line mirrors worker and backend */
  readonly shared: SharedVring | null;

  /** vq->worker (RCU pointer in the kernel); threads runtime: mirrored to the vq's shared config line */
  get worker(): VhostWorker | null {
    return this._worker;
  }

  set worker(w: VhostWorker | null) {
    this._worker = w;
    this.shared?.config(VHOST_VQ.WORKER, w === null ? 0 : w.handle.offset);
  }

  /** vq->private_data; threads runtime: "a backend is set" mirrored to the shared config line */
  get backend(): unknown {
    return this._backend;
  }

  set backend(b: unknown) {
    this._backend = b;
    this.shared?.config(VHOST_VQ.BACKEND, b === null ? 0 : 1);
  }

  /** vhost_vq_is_active-ish: a backend or a kick is set (__vhost_vq_attach_worker's test) */
  get active(): boolean {
    return this.backend !== null || this.kick !== null;
  }

  /** vhost_vq_has_work: a worker and a non-empty list. May be stale. */
  hasWork(): boolean {
    return this.worker !== null && this.worker.handle.hasWork();
  }

  /** vhost_vq_reset (the fields the model has); drops the kick/call references */
  reset(): void {
    this.poll?.stop();
    if (this.kick !== null) fput(this.dev.k, this.kick);
    this.kick = null;
    this.callCtx = null;
    this.errCtx = null;
    this.backend = null;
    this.addr = null;
    this.worker = null;
    this.completing = 0;
    this.ring.reset();
  }
}

/**
 * vhost_vq_work_queue: true whenever the vq has a worker (also when the work was
 * already queued and nothing was added), false only when it has none.
 */
export function vhostVqWorkQueue(vq: VhostVirtqueue, work: VhostWork): boolean {
  const worker = vq.worker;
  if (worker === null) return false;
  vhostWorkerQueue(worker, work);
  return true;
}

/** vhost_signal: interrupt the guest through the call eventfd if it asked for one (used_event). */
export function vhostSignal(vq: VhostVirtqueue): void {
  const r = vq.ring;
  if (!r.irqArmed || vq.callCtx === null) return;
  r.irqArmed = false;
  r.signals++;
  eventfdSignal(vq.dev.k, vq.callCtx);
}

/**
 * vhost_vq_access_ok ("can we start vq?"): vq_log_access_ok, whose vq_memory_access_ok
 * is false while vq->umem is NULL (from vhost_dev_init until VHOST_SET_MEM_TABLE; and
 * again after vhost_dev_cleanup; VHOST_RESET_OWNER leaves an empty table, not NULL),
 * then vq_access_ok (the ring addresses: always accessible in the model). The
 * regions themselves were checked by vhost_set_memory. Callers answer -EFAULT.
 * Measured: SET/CLEAR_ENDPOINT before SET_MEM_TABLE is EFAULT on 6.1 and 6.12
 * (oracle/scripts/vhost-scsi-workers.json).
 */
export function vhostVqAccessOk(vq: VhostVirtqueue): boolean {
  return vq.dev.umem !== null;
}

/**
 * vhost_get_vq_from_user: get_user(idx) -EFAULT; idx >= nvqs -ENOBUFS. `field` names
 * the struct's first field when the caller knows the struct (see firstU32).
 */
export function vhostGetVqFromUser(dev: VhostDev, arg: unknown, field?: string): VhostVirtqueue | number {
  const idx = firstU32(arg, field);
  if (idx === FAULT) return -EFAULT;
  if (idx >= dev.vqs.length) return -ENOBUFS;
  return dev.vqs[idx]!;
}

/** vhost_vq_attach_worker: -EINVAL without workers; -ENODEV unknown id; else 0 (also when nothing changes). */
export function vhostVqAttachWorker(vq: VhostVirtqueue, id: number): number {
  const dev = vq.dev;
  if (!dev.useWorker) return -EINVAL;
  const worker = vhostWorkerLookup(dev, id);
  if (worker === null) return -ENODEV;
  vhostVqAttachWorkerLocked(vq, worker);
  return 0;
}

/**
 * __vhost_vq_attach_worker: a killed worker is refused silently; the new worker
 * counts the vq at once; an active vq's old worker is flushed (synchronize_rcu, then
 * __vhost_worker_flush) before it loses the vq.
 */
export function vhostVqAttachWorkerLocked(vq: VhostVirtqueue, worker: VhostWorker): void {
  if (worker.killed) return;
  const old = vq.worker;
  vq.worker = worker;
  worker.attachmentCnt++;
  if (old === null) return;
  if (old.killed) return;
  if (!vq.active) {
    old.attachmentCnt--;
    return;
  }
  // synchronize_rcu(): new queuers see the new worker; then drain the old one
  vhostWorkerFlush(old);
  old.attachmentCnt--;
}

/**
 * vhost_vring_ioctl (owner already checked by vhost_dev_ioctl). The vq index is
 * read first for every request (-EFAULT / -ENOBUFS), then the request's struct.
 */
export function vhostVringIoctl(dev: VhostDev, task: Task, request: number, arg: unknown): number {
  const vq = vhostGetVqFromUser(dev, arg);
  if (typeof vq === 'number') return vq;
  const k = dev.k;
  if (request === VHOST_SET_VRING_NUM || request === VHOST_SET_VRING_ADDR) {
    // vhost_vring_set_num_addr: not while a backend is set
    if (vq.backend !== null) return -EBUSY;
    if (request === VHOST_SET_VRING_NUM) {
      const num = readU32(arg, 'num');
      if (num === FAULT) return -EFAULT;
      if (!num || num > 0xffff || (num & (num - 1)) !== 0) return -EINVAL;
      vq.ring.num = num;
      return 0;
    }
    const flags = readU32(arg, 'flags');
    const desc = toU64(getUser(arg, 'desc_user_addr'));
    const used = toU64(getUser(arg, 'used_user_addr'));
    const avail = toU64(getUser(arg, 'avail_user_addr'));
    const log = toU64(getUser(arg, 'log_guest_addr'));
    if (flags === FAULT || desc === FAULT || used === FAULT || avail === FAULT || log === FAULT) return -EFAULT;
    if (flags & ~1) return -EOPNOTSUPP; // only VHOST_VRING_F_LOG
    // alignment (vring_desc 16, used 4, avail 2 bytes)
    if ((desc & 15n) !== 0n || (used & 3n) !== 0n || (avail & 1n) !== 0n) return -EINVAL;
    vq.addr = { flags, desc, used, avail, log };
    return 0;
  }
  let r = 0;
  let pollstop = false;
  let pollstart = false;
  let oldKick: File | null = null;
  switch (request) {
    case VHOST_SET_VRING_BASE: {
      if (vq.backend !== null) return -EBUSY;
      const num = readU32(arg, 'num');
      if (num === FAULT) return -EFAULT;
      if (num > 0xffff) return -EINVAL;
      // the model's counters restart at the given index
      vq.ring.setBase(num);
      return 0;
    }
    case VHOST_GET_VRING_BASE:
      return writeFields(arg, { index: vq.index, num: vq.ring.lastAvailIdx & 0xffff }) ? 0 : -EFAULT;
    case VHOST_SET_VRING_KICK: {
      const fd = readI32(arg, 'fd');
      if (fd === FAULT) return -EFAULT;
      let eventfp: File | null = null;
      if (fd !== VHOST_FILE_UNBIND) {
        // eventfd_fget: -EBADF not open, -EINVAL not an eventfd
        const f = k.fileOf(task, fd);
        if (f === null) return -EBADF;
        if (eventfdCtxFileget(f) === null) return -EINVAL;
        eventfp = getFile(f);
      }
      if (eventfp !== vq.kick) {
        oldKick = vq.kick;
        pollstop = oldKick !== null;
        vq.kick = eventfp;
        pollstart = eventfp !== null;
      } else if (eventfp !== null) {
        oldKick = eventfp; // the same file again: drop the extra reference
      }
      break;
    }
    case VHOST_SET_VRING_CALL:
    case VHOST_SET_VRING_ERR: {
      const fd = readI32(arg, 'fd');
      if (fd === FAULT) return -EFAULT;
      let ctx: EventfdCtx | null = null;
      if (fd !== VHOST_FILE_UNBIND) {
        // eventfd_ctx_fdget: -EBADF not open, -EINVAL not an eventfd
        const f = k.fileOf(task, fd);
        if (f === null) return -EBADF;
        ctx = eventfdCtxFileget(f);
        if (ctx === null) return -EINVAL;
      }
      if (request === VHOST_SET_VRING_CALL) vq.callCtx = ctx;
      else vq.errCtx = ctx;
      break;
    }
    default:
      return -ENOIOCTLCMD;
  }
  if (pollstop && vq.handleKick !== null) vq.poll?.stop();
  if (oldKick !== null) fput(k, oldKick);
  if (pollstart && vq.handleKick !== null && vq.poll !== null) r = vq.poll.start(vq.kick!);
  if (pollstop && vq.handleKick !== null) vhostDevFlush(dev);
  return r;
}

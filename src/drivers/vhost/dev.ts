/**
 * struct vhost_dev and the device-wide paths of drivers/vhost/vhost.c @ f3f64c2e
 * (kernel-reference.md sections 1.1, 1.2, 1.5, 1.6, 1.11):
 *
 *   vhost_dev_init       vqs, poll works, fork_owner = vhost.fork_from_owner_default
 *   vhost_dev_ioctl      SET_OWNER (anyone), SET/GET_FORK_FROM_OWNER (anyone; SET
 *                        -EBUSY once owned), then the owner check (-EPERM: dev.mm is
 *                        not the caller's mm, or no owner), SET_MEM_TABLE, SET_LOG_*,
 *                        else -ENOIOCTLCMD
 *   vhost_dev_set_owner  -EBUSY owned; mm = get_task_mm(current); default worker (id
 *                        0) attached to every vq; any worker failure -> -ENOMEM with
 *                        the device left ownerless
 *   vhost_dev_cleanup    every vq reset, every worker destroyed (user-created and
 *                        killed ones too), mm dropped: "no owner" again
 *
 * CONFIG_VHOST_ENABLE_FORK_OWNER_CONTROL is modelled as enabled (its merged default
 * is most likely y, reference section 1.2 / open point 1): the module parameter and
 * the two fork-owner ioctls exist in releases with vhost_fork_from_owner (6.17+).
 *
 * By release (release.ts; the worker's mode is the device's forkOwner):
 *   no vhost_task_worker (<= 6.3)    kthread workers only; SET_OWNER returns the
 *                                    kthread_create / cgroup attach error itself
 *   vhost_task_worker (6.4-6.16)     vhost_task workers only; any failure -ENOMEM
 *   + vhost_fork_from_owner (6.17+)  either, per device (SET_FORK_FROM_OWNER, the
 *                                    module parameter); any failure -ENOMEM
 */
import { getUser, isUserObject, userArray } from '../../kernel/uaccess.js';
import { E2BIG, EBADF, EBUSY, EFAULT, EINVAL, ENOIOCTLCMD, ENOMEM, EOPNOTSUPP, EPERM } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { MmStruct } from '../../kernel/mm.js';
import type { Task } from '../../kernel/task.js';
import { eventfdCtxFileget, type EventfdCtx } from '../../kernel/vfs/eventfd.js';
import { DEFAULT_VHOST_COSTS, type VhostCosts } from './costs.js';
import { VhostPoll } from './poll.js';
import {
  FAULT, readU8, readU32, toU64, VHOST_GET_FORK_FROM_OWNER, VHOST_SET_FORK_FROM_OWNER,
  VHOST_SET_LOG_BASE, VHOST_SET_LOG_FD, VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, writeFields,
} from './uapi.js';
import { VhostEngine, type VhostWork } from './vhost-engine.js';
import { SharedVring, VHOST_FN_VQ_COMPLETE, VHOST_FN_VQ_HANDLE, VHOST_VQ } from './vq-shared.js';
import { VhostVirtqueue, vhostVqAttachWorkerLocked, type VqHandler } from './vq.js';
import { vhostDevFlush, vhostWorkerCreate, vhostWorkerDestroy, type VhostWorker } from './worker.js';

export interface VhostMemRegion {
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
}

export class VhostDev {
  /** the owner's mm (get_task_mm at SET_OWNER); "has owner" == (mm !== null) */
  mm: MmStruct | null = null;
  /** worker_xa: ids allocated lowest-free-first from 0 */
  readonly workers: (VhostWorker | undefined)[] = [];
  readonly vqs: VhostVirtqueue[] = [];
  /** false for vhost-vdpa (not modelled): every device here uses workers */
  readonly useWorker = true;
  /** true: vhost_task workers; false: kthread workers */
  forkOwner: boolean;
  /** the acked feature bits (VHOST_SET_FEATURES) */
  features = 0n;
  /** VHOST_SET_MEM_TABLE's regions (the iotlb/umem), or null */
  umem: VhostMemRegion[] | null = null;
  logBase = 0n;
  logCtx: EventfdCtx | null = null;
  /** the model's cost of this device's work (sim time) */
  costs: VhostCosts = { ...DEFAULT_VHOST_COSTS };
  /** set once the file's last reference is gone */
  released = false;
  /** which driver opened it, and that driver's own state */
  kind: 'net' | 'scsi' | 'vsock' = 'net';
  priv: unknown = null;
  readonly ve: VhostEngine;

  /**
   * vhost_dev_init: `handlers[i]` is vq i's handle_kick (null: no kick handler). The
   * poll works are allocated here; -ENOMEM (as a number) when the work arena is full.
   */
  static create(k: Kernel, handlers: (VqHandler | null)[]): VhostDev | number {
    const dev = new VhostDev(k);
    const ve = dev.ve;
    for (const [i, h] of handlers.entries()) {
      let shared: SharedVring | undefined;
      if (ve.threads !== null) {
        // threads runtime: the vq's state lives in shared memory (a vhost_vq struct)
        const at = ve.vqStructAlloc();
        if (at < 0) {
          dev.freeWorks();
          return at;
        }
        shared = new SharedVring(ve.engine, at);
      }
      const vq = new VhostVirtqueue(dev, i, h, shared);
      dev.vqs.push(vq);
      if (h !== null) {
        const w = ve.workAllocData(pollWorkFn, vq);
        if (typeof w === 'number') {
          dev.freeWorks();
          return w;
        }
        vq.poll = new VhostPoll(vq, w);
        if (shared !== undefined) {
          // MODEL: every vhost driver's handle_kick here is vhostHandleVq (handle.ts); on a
          // real thread it is its Wasm twin, vhost_vq_handle (built-in 4, arg = the vq)
          ve.engine.works.init(w.ref, VHOST_FN_VQ_HANDLE, shared.vq);
          shared.config(VHOST_VQ.POLL_WORK, w.ref);
        }
      }
    }
    dev.applyCosts();
    if (ve.threads !== null) for (const vq of dev.vqs) ve.threads.watchCalls(vq);
    return dev;
  }

  /**
   * Threads runtime: a vq's completion work (vhost-scsi's) is vhost_vq_complete
   * (built-in 5, arg = the vq) on the vq's worker thread. Sim: nothing to do.
   */
  setAuxWork(vq: VhostVirtqueue, w: VhostWork): void {
    vq.aux = w;
    if (vq.shared === null) return;
    this.ve.engine.works.init(w.ref, VHOST_FN_VQ_COMPLETE, vq.shared.vq);
    vq.shared.config(VHOST_VQ.AUX_WORK, w.ref);
  }

  /** The costs to the workers' copies; threads runtime: as cost-loop iterations in every vq's shared config. */
  applyCosts(): void {
    // the workers' copies (VhostWorker.wakeNs / workNs: read per run)
    for (const w of this.workers) {
      if (w === undefined) continue;
      w.wakeNs = this.costs.wakeNs;
      w.workNs = this.costs.workNs;
    }
    const perNs = this.ve.spinPerNs;
    for (const vq of this.vqs) {
      const sh = vq.shared;
      if (sh === null) continue;
      sh.config(VHOST_VQ.DESC_SPIN, Math.round(this.costs.descNs * perNs));
      sh.config(VHOST_VQ.USED_SPIN, Math.round(this.costs.usedNs * perNs));
      sh.config(VHOST_VQ.WEIGHT, this.costs.weight);
    }
  }

  private constructor(readonly k: Kernel) {
    this.ve = VhostEngine.of(k);
    this.forkOwner = vhostForkFromOwnerDefault(k);
  }

  /** vhost_dev_has_owner */
  hasOwner(): boolean {
    return this.mm !== null;
  }

  /** vhost_dev_check_owner: 0 if the caller shares the owner's mm, else -EPERM (also with no owner). */
  checkOwner(task: Task): number {
    return this.mm !== null && this.mm === task.mm ? 0 : -EPERM;
  }

  /** Works of this device's vqs go back to the arena (after cleanup, at release); threads runtime: the vq structs too. */
  freeWorks(): void {
    for (const vq of this.vqs) {
      if (vq.poll !== null) this.ve.workFree(vq.poll.work);
      if (vq.aux !== null) this.ve.workFree(vq.aux);
      vq.poll = null;
      vq.aux = null;
      if (vq.shared !== null && !this.vqStructsFreed) {
        this.ve.threads?.unwatchCalls(vq);
        this.ve.vqStructFree(vq.shared.vq);
      }
    }
    this.vqStructsFreed = true;
  }

  private vqStructsFreed = false;
  /** threads runtime: worker threads of this device being stopped (vhostWorkerDestroy) */
  readonly stopping: Promise<void>[] = [];

  /** Live workers (worker_xa entries). */
  liveWorkers(): VhostWorker[] {
    return this.workers.filter((w): w is VhostWorker => w !== undefined);
  }
}

/** vhost_poll_func's work: the vq's handle_kick (the work's data is its vq) */
function pollWorkFn(vq: VhostVirtqueue): void {
  vq.handleKick?.(vq);
}

/**
 * A new device's fork_owner: the module parameter vhost.fork_from_owner_default (bool,
 * 0444, default Y) where it exists (vhost_fork_from_owner); before that, the one
 * worker kind the release has: a vhost_task from 6.4 (vhost_task_worker), a kthread
 * before.
 */
export function vhostForkFromOwnerDefault(k: Kernel): boolean {
  if (!k.has('vhost_fork_from_owner')) return k.has('vhost_task_worker');
  return k.moduleParams('vhost').fork_from_owner_default === true;
}

/**
 * vhost_dev_set_owner: -EBUSY if owned; mm = get_task_mm(current); the default
 * worker attached to every vq. Any worker-creation failure: -ENOMEM (since
 * vhost_task_worker; before it, <= 6.3, the kthread_create or cgroup-attach error
 * itself), nothing kept.
 */
export function vhostDevSetOwner(dev: VhostDev, task: Task): number {
  if (dev.hasOwner()) return -EBUSY;
  const mm = dev.k.getTaskMm(task); // vhost_attach_mm: mmget (use_worker)
  if (mm === null) return -EINVAL; // a task without an mm cannot own a device (kthreads do not call ioctls)
  dev.mm = mm;
  // vhost_dev_alloc_iovecs cannot fail in the model
  if (dev.useWorker) {
    const worker = vhostWorkerCreate(dev, task);
    if (typeof worker === 'number') {
      vhostDetachMm(dev);
      return dev.k.has('vhost_task_worker') ? -ENOMEM : worker;
    }
    for (const vq of dev.vqs) vhostVqAttachWorkerLocked(vq, worker);
  }
  return 0;
}

function vhostDetachMm(dev: VhostDev): void {
  const mm = dev.mm;
  if (mm === null) return;
  dev.mm = null;
  dev.k.mmput(mm);
}

/** vhost_dev_ioctl, in the kernel's order (section 1.5). */
export function vhostDevIoctl(dev: VhostDev, task: Task, request: number, arg: unknown): number {
  if (request === VHOST_SET_OWNER) return vhostDevSetOwner(dev, task);
  // the fork-owner ioctls exist from vhost_fork_from_owner (6.17) on; before it their
  // numbers take the owner check and fall to -ENOIOCTLCMD like any unknown request
  const forkOwnerIoctls = dev.k.has('vhost_fork_from_owner');
  if (forkOwnerIoctls && request === VHOST_SET_FORK_FROM_OWNER) {
    if (dev.hasOwner()) return -EBUSY; // before reading the argument
    const v = readU8(arg);
    if (v === FAULT) return -EFAULT;
    if (v !== 0 && v !== 1) return -EINVAL;
    dev.forkOwner = v === 1;
    return 0;
  }
  if (forkOwnerIoctls && request === VHOST_GET_FORK_FROM_OWNER) {
    return writeFields(arg, { value: dev.forkOwner ? 1 : 0 }) ? 0 : -EFAULT;
  }
  const r = dev.checkOwner(task);
  if (r !== 0) return r;
  switch (request) {
    case VHOST_SET_MEM_TABLE:
      return vhostSetMemory(dev, arg);
    case VHOST_SET_LOG_BASE: {
      const v = toU64(isUserObject(arg) ? getUser(arg, 'value') : arg);
      if (v === FAULT) return -EFAULT;
      dev.logBase = v;
      return 0;
    }
    case VHOST_SET_LOG_FD: {
      if (typeof arg !== 'number' || !Number.isInteger(arg)) return -EFAULT;
      if (arg === -1) {
        dev.logCtx = null;
        return 0;
      }
      const f = dev.k.fileOf(task, arg);
      if (f === null) return -EBADF;
      const ctx = eventfdCtxFileget(f);
      if (ctx === null) return -EINVAL;
      dev.logCtx = ctx;
      return 0;
    }
    default:
      return -ENOIOCTLCMD;
  }
}

/**
 * vhost_set_memory: header -EFAULT; padding -EOPNOTSUPP; nregions > max_mem_regions
 * -E2BIG; a region that cannot be read, or of size 0, -EFAULT. Replaces the table.
 */
function vhostSetMemory(dev: VhostDev, arg: unknown): number {
  const nregions = readU32(arg, 'nregions');
  const padding = readU32(arg, 'padding');
  if (nregions === FAULT || padding === FAULT) return -EFAULT;
  if (padding !== 0) return -EOPNOTSUPP;
  if (nregions > (dev.k.moduleParams('vhost').max_mem_regions as number)) return -E2BIG; // max_mem_regions (default VHOST_MAX_MEM_REGIONS)
  const regs = nregions > 0 ? userArray(getUser(arg, 'regions'), nregions) : [];
  if (regs === FAULT || regs.length < nregions) return -EFAULT;
  const out: VhostMemRegion[] = [];
  for (let i = 0; i < nregions; i++) {
    const r = regs[i];
    const gpa = toU64(getUser(r, 'guest_phys_addr'));
    const size = toU64(getUser(r, 'memory_size'));
    const uaddr = toU64(getUser(r, 'userspace_addr'));
    if (gpa === FAULT || size === FAULT || uaddr === FAULT) return -EFAULT;
    // vhost_iotlb_add_range: last < start for a zero size, or a range past 2^64
    if (size === 0n || gpa + size - 1n >= 1n << 64n || uaddr + size - 1n >= 1n << 64n) return -EFAULT;
    out.push({ guestPhysAddr: gpa, memorySize: size, userspaceAddr: uaddr });
  }
  dev.umem = out;
  return 0;
}

/** vhost_dev_stop: stop polling the kicks, then vhost_dev_flush. */
export function vhostDevStop(dev: VhostDev): void {
  for (const vq of dev.vqs) if (vq.kick !== null && vq.handleKick !== null) vq.poll?.stop();
  vhostDevFlush(dev);
}

/**
 * vhost_dev_cleanup: reset every vq (kick/call dropped, vq.worker = NULL), free every
 * worker (vhost_workers_free: attached, user-created and killed ones), drop the mm.
 */
export function vhostDevCleanup(dev: VhostDev): void {
  for (const vq of dev.vqs) vq.reset();
  dev.logCtx = null;
  dev.umem = null;
  // vhost_workers_free: every vq->worker = NULL (done by reset), then every worker
  for (const w of dev.liveWorkers()) vhostWorkerDestroy(w);
  dev.workers.length = 0; // xa_destroy
  vhostDetachMm(dev);
}

/** vhost_dev_reset_owner: cleanup, then fork_owner back to the module default. */
export function vhostDevResetOwner(dev: VhostDev): void {
  vhostDevCleanup(dev);
  // dev->umem = the empty iotlb vhost_dev_reset_owner_prepare() allocated (not NULL)
  dev.umem = [];
  dev.forkOwner = vhostForkFromOwnerDefault(dev.k);
  dev.features = 0n;
}

/**
 * The release of a vhost fd (last reference): vhost_dev_stop + vhost_dev_cleanup, works
 * freed. Threads runtime: the works and vq structs are freed once the device's worker
 * threads have run their last works and exited (the release itself returns at once).
 */
export function vhostDevRelease(dev: VhostDev): void {
  if (dev.released) return;
  vhostDevStop(dev);
  vhostDevCleanup(dev);
  dev.released = true;
  const threads = dev.ve.threads;
  if (threads === null) {
    dev.freeWorks();
    return;
  }
  for (const vq of dev.vqs) threads.unwatchCalls(vq);
  threads.track(Promise.all(dev.stopping).then(() => dev.freeWorks()));
}

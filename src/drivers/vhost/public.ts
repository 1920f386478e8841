/**
 * The vhost driver's public names (re-exported by src/index.ts): the uapi numbers
 * and structs, the guest-side model, and the model's inspection and cost knobs.
 */
import { KwqError } from '../../kernel/error.js';
import { EBADF, ENOTTY, ETIMEDOUT } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { checkVhostCosts, type VhostCosts } from './costs.js';
import { VhostDev } from './dev.js';
import { VhostEngine } from './vhost-engine.js';
import { vhostDevFlush } from './worker.js';

export {
  VHOST_VIRTIO, VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER, VHOST_RESET_OWNER, VHOST_SET_MEM_TABLE,
  VHOST_SET_LOG_BASE, VHOST_SET_LOG_FD, VHOST_NEW_WORKER, VHOST_FREE_WORKER, VHOST_SET_VRING_NUM, VHOST_SET_VRING_ADDR,
  VHOST_SET_VRING_BASE, VHOST_GET_VRING_BASE, VHOST_ATTACH_VRING_WORKER, VHOST_GET_VRING_WORKER, VHOST_SET_VRING_KICK,
  VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR, VHOST_SET_FORK_FROM_OWNER, VHOST_GET_FORK_FROM_OWNER, VHOST_NET_SET_BACKEND,
  VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_CLEAR_ENDPOINT, VHOST_SCSI_GET_ABI_VERSION, VHOST_VSOCK_SET_GUEST_CID,
  VHOST_VSOCK_SET_RUNNING, VHOST_FORK_OWNER_KTHREAD, VHOST_FORK_OWNER_TASK, VHOST_FILE_UNBIND, VHOST_FEATURES,
  VHOST_NET_FEATURES, VHOST_SCSI_FEATURES, VHOST_VSOCK_FEATURES, VHOST_SCSI_ABI_VERSION,
  vhostWorkerState, vhostVringWorker, vhostVringFile, vhostVringState,
} from './uapi.js';
export type {
  VhostWorkerState, VhostVringWorker, VhostVringFile, VhostVringState, VhostMemory, VhostMemoryRegion,
} from './uapi.js';
export type { VhostScsiTarget } from './scsi.js';
export { VHOST_SCSI_VQ_CTL, VHOST_SCSI_VQ_EVT, VHOST_SCSI_VQ_IO } from './scsi.js';
export { VHOST_NET_VQ_RX, VHOST_NET_VQ_TX } from './net.js';
export { EADDRINUSE } from './vsock.js';
export { VirtioQueue, FioJob, DEFAULT_GUEST_COSTS } from './guest.js';
export type { GuestCosts, FioJobOptions } from './guest.js';
export { ThreadsFioJob } from './guest-threads.js';
export type { ThreadsFioJobOptions, ThreadsFioJobReport } from './guest-threads.js';
export { DEFAULT_VHOST_COSTS } from './costs.js';
export type { VhostCosts } from './costs.js';

/** One worker of a vhost device, as the inspection call reports it. */
export interface VhostWorkerInfo {
  id: number;
  mode: 'task' | 'kthread';
  /** the worker thread's pid (a thread of the owner in task mode; a kthread otherwise) */
  pid: number;
  attachmentCnt: number;
  killed: boolean;
  /** works it took off its list so far */
  items: number;
  /** times it was woken from sleep */
  wakeups: number;
  /** runtime 'threads': the Linux thread id of the worker's real thread (null in sim, or once it exited) */
  tid: number | null;
}

/** A vhost device's state (what /sys/kernel/debug would show): for tests and scenarios. */
export interface VhostDevInfo {
  kind: 'net' | 'scsi' | 'vsock';
  hasOwner: boolean;
  forkOwner: boolean;
  features: bigint;
  workers: VhostWorkerInfo[];
  vqs: { index: number; worker: number | null; kick: boolean; call: boolean; backend: boolean; handled: number; kicks: number; signals: number }[];
}

function devOf(k: Kernel, task: Task, fd: number): VhostDev | number {
  const f = k.fileOf(task, fd);
  if (f === null) return -EBADF;
  return f.privateData instanceof VhostDev ? f.privateData : -ENOTTY;
}

/** Inspect the vhost device open as `fd` in `task`: its state, or -EBADF / -ENOTTY (not a vhost device). */
export function vhostDevInfo(k: Kernel, task: Task, fd: number): VhostDevInfo | number {
  const dev = devOf(k, task, fd);
  if (typeof dev === 'number') return dev;
  return {
    kind: dev.kind,
    hasOwner: dev.hasOwner(),
    forkOwner: dev.forkOwner,
    features: dev.features,
    workers: dev.liveWorkers().map((w) => ({
      id: w.id, mode: w.mode, pid: w.task?.pid ?? -1, attachmentCnt: w.attachmentCnt, killed: w.killed, items: w.items, wakeups: w.wakeups, tid: w.tid,
    })),
    vqs: dev.vqs.map((vq) => ({
      index: vq.index, worker: vq.worker?.id ?? null, kick: vq.kick !== null, call: vq.callCtx !== null, backend: vq.backend !== null,
      handled: vq.ring.taken, kicks: vq.ring.kicks, signals: vq.ring.signals,
    })),
  };
}

/**
 * Set the model's per-device costs (virtual ns) for the vhost device open as `fd`:
 * 0, or -EBADF / -ENOTTY. A malformed cost object is a KwqError naming the field.
 */
export function vhostSetCosts(k: Kernel, task: Task, fd: number, costs: Partial<VhostCosts>): number {
  const bad = checkVhostCosts(costs);
  if (bad !== null) throw new KwqError('vhostSetCosts', bad);
  const dev = devOf(k, task, fd);
  if (typeof dev === 'number') return dev;
  Object.assign(dev.costs, costs);
  dev.applyCosts();
  return 0;
}

/**
 * vhost_dev_flush, awaitable: in runtime 'threads' an ioctl that flushes returns
 * before the worker threads ran the flush (the main thread never blocks; see
 * worker.ts); this flushes every worker of the device open as `fd` and resolves
 * with 0 once each ran everything queued before it (and every flush started
 * earlier by an ioctl completed), or -EBADF / -ENOTTY, or -ETIMEDOUT. In sim the
 * flush runs at once, as the ioctls' do.
 */
export async function vhostFlush(k: Kernel, task: Task, fd: number, timeoutMs = 10_000): Promise<number> {
  const dev = devOf(k, task, fd);
  if (typeof dev === 'number') return dev;
  const threads = dev.ve.threads;
  if (threads === null) {
    vhostDevFlush(dev);
    return 0;
  }
  const waits = dev.liveWorkers().filter((w) => w.attachmentCnt > 0 && !w.killed && !w.dead).map((w) => threads.flushHandle(w.handle, timeoutMs));
  const ok = (await Promise.all(waits)).every(Boolean) && (await threads.flushesDone());
  return ok ? 0 : -ETIMEDOUT;
}

/**
 * Runtime 'threads': vhost worker threads alive in `k` now (0 in sim). Stopping a
 * worker (FREE_WORKER, RESET_OWNER, close, exit, SIGKILL, k.shutdown) ends its
 * thread a little later, after it ran what was queued: await vhostThreadsIdle(k).
 */
export function vhostThreadCount(k: Kernel): number {
  return VhostEngine.peek(k)?.threads?.threadCount ?? 0;
}

/**
 * Resolve true once every vhost worker thread being stopped in `k` has exited and
 * its structs were given back, and every flush work queued so far (by an ioctl, by
 * vhostFlush, by a stop) has run and was given back: every vhost work done and
 * returned (threads runtime; at once in sim), false on timeout.
 */
export async function vhostThreadsIdle(k: Kernel, timeoutMs = 10_000): Promise<boolean> {
  const threads = VhostEngine.peek(k)?.threads;
  return threads ? threads.idle(timeoutMs) : true;
}

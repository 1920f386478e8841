/**
 * The vhost driver's public names (re-exported by src/index.ts): the uapi numbers
 * and structs, the guest-side model, and the model's inspection and cost knobs.
 */
import { KwqError } from '../../kernel/error.js';
import { EBADF, ENOTTY } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { checkVhostCosts, type VhostCosts } from './costs.js';
import { VhostDev } from './dev.js';

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
      id: w.id, mode: w.mode, pid: w.task?.pid ?? -1, attachmentCnt: w.attachmentCnt, killed: w.killed, items: w.items, wakeups: w.wakeups,
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

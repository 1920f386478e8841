/**
 * /dev/vhost-vsock (drivers/vhost/vsock.c; research notes Q7): two vqs (RX 0, TX 1).
 *
 * vhost_vsock_dev_ioctl routes:
 *   VHOST_VSOCK_SET_GUEST_CID   copy_from_user -EFAULT; cid <= 2, == U32_MAX or > U32_MAX
 *                               -EINVAL; used by another vhost-vsock device -EADDRINUSE
 *                               (no owner check)
 *   VHOST_VSOCK_SET_RUNNING     copy_from_user -EFAULT; start/stop check the owner (-EPERM);
 *                               start: -EFAULT until VHOST_SET_MEM_TABLE (vhost_vq_access_ok)
 *   VHOST_GET/SET_FEATURES      no owner check; unknown bits -EOPNOTSUPP
 *   default                     vhost_dev_ioctl, then (-ENOIOCTLCMD) vhost_vring_ioctl,
 *                               else vhost_vsock_flush. Neither the worker ioctls nor
 *                               VHOST_RESET_OWNER are routed (the vhost-scsi path of
 *                               section 1.4: -EFAULT for the owner with no argument).
 */
import { EFAULT, EINVAL, ENOIOCTLCMD, EOPNOTSUPP } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import type { File, FileOperations } from '../../kernel/vfs/file.js';
import { vhostDevIoctl, vhostDevRelease, VhostDev } from './dev.js';
import { vhostHandleVq } from './handle.js';
import {
  FAULT, toU64, VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_VSOCK_FEATURES, VHOST_VSOCK_SET_GUEST_CID,
  VHOST_VSOCK_SET_RUNNING, writeFields,
} from './uapi.js';
import { vhostVqAccessOk, vhostVringIoctl, type VhostVirtqueue } from './vq.js';
import { vhostDevFlush } from './worker.js';

/** Linux EADDRINUSE (not in src/kernel/errno.ts yet) */
export const EADDRINUSE = 98;
const VMADDR_CID_HOST = 2n;
const U32_MAX = 0xffff_ffffn;

interface VsockState {
  cid: bigint;
}

/** vhost_vsock_hash: guest CID -> device, per kernel */
const cids = new WeakMap<Kernel, Map<bigint, VhostDev>>();

function cidTable(k: Kernel): Map<bigint, VhostDev> {
  let m = cids.get(k);
  if (m === undefined) {
    m = new Map();
    cids.set(k, m);
  }
  return m;
}

const handle = (vq: VhostVirtqueue): void => vhostHandleVq(vq, 'inline');

function vsockSetCid(dev: VhostDev, cid: bigint): number {
  if (cid <= VMADDR_CID_HOST || cid === U32_MAX) return -EINVAL;
  if (cid > U32_MAX) return -EINVAL;
  const t = cidTable(dev.k);
  const other = t.get(cid);
  if (other !== undefined && other !== dev) return -EADDRINUSE;
  const st = dev.priv as VsockState;
  if (st.cid !== 0n) t.delete(st.cid);
  st.cid = cid;
  t.set(cid, dev);
  return 0;
}

function vsockStart(dev: VhostDev, task: Task): number {
  const r = dev.checkOwner(task);
  if (r !== 0) return r;
  // vhost_vsock_start: every vq must pass vhost_vq_access_ok, which fails while
  // vq->umem is NULL (vq_memory_access_ok: no VHOST_SET_MEM_TABLE yet): -EFAULT,
  // nothing started (measured: oracle/scripts/vhost-vsock.json on 6.1 and 6.12)
  if (!dev.vqs.every(vhostVqAccessOk)) return -EFAULT;
  for (const vq of dev.vqs) if (vq.backend === null) vq.backend = dev.priv;
  return 0;
}

function vsockStop(dev: VhostDev, task: Task | null): number {
  if (task !== null) {
    const r = dev.checkOwner(task);
    if (r !== 0) return r;
  }
  for (const vq of dev.vqs) vq.backend = null;
  return 0;
}

export function vhostVsockIoctl(k: Kernel, file: File, task: Task, request: number, arg: unknown): number {
  void k;
  const dev = file.privateData as VhostDev;
  switch (request) {
    case VHOST_VSOCK_SET_GUEST_CID: {
      const cid = toU64(arg);
      if (cid === FAULT) return -EFAULT;
      return vsockSetCid(dev, cid);
    }
    case VHOST_VSOCK_SET_RUNNING: {
      if (typeof arg !== 'number' || !Number.isInteger(arg) || arg < -0x8000_0000 || arg > 0xffff_ffff) return -EFAULT;
      return arg !== 0 ? vsockStart(dev, task) : vsockStop(dev, task);
    }
    case VHOST_GET_FEATURES:
      return writeFields(arg, { value: VHOST_VSOCK_FEATURES }) ? 0 : -EFAULT;
    case VHOST_SET_FEATURES: {
      const f = toU64(arg);
      if (f === FAULT) return -EFAULT;
      if (f & ~VHOST_VSOCK_FEATURES) return -EOPNOTSUPP;
      dev.features = f;
      return 0;
    }
    default: {
      let r = vhostDevIoctl(dev, task, request, arg);
      if (r === -ENOIOCTLCMD) r = vhostVringIoctl(dev, task, request, arg);
      else vhostDevFlush(dev); // vhost_vsock_flush
      return r;
    }
  }
}

export const vhostVsockFops: FileOperations = {
  open(k, _inode, file) {
    const dev = VhostDev.create(k, [handle, handle]);
    if (typeof dev === 'number') return dev;
    dev.kind = 'vsock';
    dev.priv = { cid: 0n } satisfies VsockState;
    file.privateData = dev;
    return 0;
  },
  release(k, _inode, file) {
    const dev = file.privateData as VhostDev;
    const st = dev.priv as VsockState;
    if (st.cid !== 0n && cidTable(k).get(st.cid) === dev) cidTable(k).delete(st.cid);
    vsockStop(dev, null);
    vhostDevFlush(dev);
    vhostDevRelease(dev);
  },
  unlockedIoctl: vhostVsockIoctl,
};

/**
 * /dev/vhost-net (drivers/vhost/net.c; kernel-reference.md section 1.4, 1.6, 1.11):
 * two vqs (RX 0, TX 1), handle_rx/handle_tx with per-packet cost.
 *
 * vhost_net_ioctl routes:
 *   VHOST_NET_SET_BACKEND   copy_from_user -EFAULT; then owner -EPERM, index -ENOBUFS,
 *                           vhost_vq_access_ok -EFAULT (no VHOST_SET_MEM_TABLE yet),
 *                           the socket fd (-1 unbinds; not open -EBADF)
 *   VHOST_GET/SET_FEATURES  no owner check; unknown bits -EOPNOTSUPP (RING_RESET is
 *                           known from 6.3: vhost_net_ring_reset)
 *   VHOST_RESET_OWNER       vhost_net_reset_owner: -EPERM unless owner; full cleanup;
 *                           fork_owner back to the module default
 *   VHOST_SET_OWNER         vhost_net_set_owner: -EBUSY, then vhost_dev_set_owner, flush
 *   default                 vhost_dev_ioctl, then (-ENOIOCTLCMD) vhost_vring_ioctl,
 *                           else vhost_net_flush. The four worker ioctls are NOT routed
 *                           to vhost_worker_ioctl: they reach vhost_vring_ioctl, whose
 *                           get_user(idx) gives -EFAULT (no struct), -ENOBUFS (first
 *                           u32 >= 2) or -ENOIOCTLCMD (ENOTTY).
 *
 * MODEL: the backend is any open file standing for the tap/packet socket
 * (the kernel's get_socket() would refuse a non-socket with -ENOTSOCK).
 */
import { EBADF, EBUSY, EFAULT, ENOBUFS, ENOIOCTLCMD, EOPNOTSUPP } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { fput, getFile, type File, type FileOperations } from '../../kernel/vfs/file.js';
import {
  vhostDevIoctl, vhostDevRelease, vhostDevResetOwner, vhostDevSetOwner, vhostDevStop, VhostDev,
} from './dev.js';
import { vhostHandleVq } from './handle.js';
import {
  FAULT, readI32, readU32, toU64, VHOST_FILE_UNBIND, VHOST_GET_FEATURES, vhostNetFeatures, VHOST_NET_SET_BACKEND,
  VHOST_RESET_OWNER, VHOST_SET_FEATURES, VHOST_SET_OWNER, writeFields,
} from './uapi.js';
import { vhostVqAccessOk, vhostVringIoctl } from './vq.js';
import { vhostDevFlush } from './worker.js';

export const VHOST_NET_VQ_RX = 0;
export const VHOST_NET_VQ_TX = 1;
export const VHOST_NET_VQ_MAX = 2;

const handleRx = (vq: import('./vq.js').VhostVirtqueue): void => vhostHandleVq(vq, 'inline');
const handleTx = (vq: import('./vq.js').VhostVirtqueue): void => vhostHandleVq(vq, 'inline');

function netOf(file: File): VhostDev {
  return file.privateData as VhostDev;
}

/** vhost_net_stop: clear both backends (the sockets), dropping their references. */
function vhostNetStop(dev: VhostDev): void {
  for (const vq of dev.vqs) {
    const sock = vq.backend as File | null;
    vq.backend = null;
    if (sock !== null) fput(dev.k, sock);
  }
}

function vhostNetSetBackend(dev: VhostDev, task: Task, index: number, fd: number): number {
  const r = dev.checkOwner(task);
  if (r !== 0) return r;
  if (index >= VHOST_NET_VQ_MAX) return -ENOBUFS;
  const vq = dev.vqs[index]!;
  // "Verify that ring has been setup correctly": vhost_vq_access_ok fails while
  // vq->umem is NULL (no VHOST_SET_MEM_TABLE yet), before the fd is looked up
  if (!vhostVqAccessOk(vq)) return -EFAULT;
  let sock: File | null = null;
  if (fd !== VHOST_FILE_UNBIND) {
    const f = dev.k.fileOf(task, fd);
    if (f === null) return -EBADF;
    sock = getFile(f);
  }
  const old = vq.backend as File | null;
  if (sock !== old) {
    vq.backend = sock;
    if (old !== null) {
      vhostDevFlush(dev); // vhost_net_flush_vq
      fput(dev.k, old);
    }
  } else if (sock !== null) fput(dev.k, sock);
  return 0;
}

function vhostNetResetOwner(dev: VhostDev, task: Task): number {
  const err = dev.checkOwner(task);
  if (err !== 0) return err;
  // vhost_dev_reset_owner_prepare (an iotlb allocation) cannot fail in the model
  vhostNetStop(dev);
  vhostDevFlush(dev);
  vhostDevStop(dev);
  vhostDevResetOwner(dev);
  return 0;
}

export function vhostNetIoctl(k: Kernel, file: File, task: Task, request: number, arg: unknown): number {
  void k;
  const dev = netOf(file);
  switch (request) {
    case VHOST_NET_SET_BACKEND: {
      const index = readU32(arg, 'index');
      const fd = readI32(arg, 'fd');
      if (index === FAULT || fd === FAULT) return -EFAULT;
      return vhostNetSetBackend(dev, task, index, fd);
    }
    case VHOST_GET_FEATURES:
      return writeFields(arg, { value: vhostNetFeatures(dev.k) }) ? 0 : -EFAULT;
    case VHOST_SET_FEATURES: {
      const f = toU64(arg);
      if (f === FAULT) return -EFAULT;
      if (f & ~vhostNetFeatures(dev.k)) return -EOPNOTSUPP;
      dev.features = f;
      return 0;
    }
    case VHOST_RESET_OWNER:
      return vhostNetResetOwner(dev, task);
    case VHOST_SET_OWNER: {
      // vhost_net_set_owner: -EBUSY first (goto out: no flush), the ubuf allocation
      // (cannot fail in the model), the core, then vhost_net_flush whatever it returned
      if (dev.hasOwner()) return -EBUSY;
      const r = vhostDevSetOwner(dev, task);
      vhostDevFlush(dev);
      return r;
    }
    default: {
      let r = vhostDevIoctl(dev, task, request, arg);
      if (r === -ENOIOCTLCMD) r = vhostVringIoctl(dev, task, request, arg);
      else vhostDevFlush(dev);
      return r;
    }
  }
}

export const vhostNetFops: FileOperations = {
  open(k, _inode, file) {
    const dev = VhostDev.create(k, [handleRx, handleTx]);
    if (typeof dev === 'number') return dev;
    dev.kind = 'net';
    file.privateData = dev;
    return 0;
  },
  release(_k, _inode, file) {
    const dev = netOf(file);
    vhostNetStop(dev);
    vhostDevRelease(dev);
  },
  unlockedIoctl: vhostNetIoctl,
};


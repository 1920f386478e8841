/**
 * /dev/vhost-scsi (drivers/vhost/scsi.c; kernel-reference.md section 1.4): a control
 * vq (0), an event vq (1) and N io vqs (2..N+1), N = the module parameter
 * vhost_scsi.max_io_vqs (default 128, 1..1024). Each io vq's kick runs
 * vhost_scsi_handle_vq (costs.descNs per command); the commands complete through the
 * vq's completion work (vhost_scsi_complete_cmd_work: costs.usedNs per command, then
 * the used entries and the interrupt), a second vhost_work on the same worker.
 *
 * vhost_scsi_ioctl routes:
 *   VHOST_SCSI_SET_ENDPOINT / CLEAR_ENDPOINT   copy_from_user -EFAULT; reserved -EOPNOTSUPP;
 *                                              then (no owner check) every vq's
 *                                              vhost_vq_access_ok: -EFAULT until
 *                                              VHOST_SET_MEM_TABLE
 *   VHOST_SCSI_GET_ABI_VERSION                 copy_to_user -EFAULT
 *   VHOST_GET/SET_FEATURES                     no owner check; unknown bits -EOPNOTSUPP
 *   VHOST_NEW_WORKER, VHOST_FREE_WORKER,
 *   VHOST_ATTACH_VRING_WORKER,
 *   VHOST_GET_VRING_WORKER                     vhost_worker_ioctl (release with
 *                                              vhost_worker_ioctls, 6.5+; before it
 *                                              the default branch: ENOTTY for the owner)
 *   default                                    vhost_dev_ioctl, then (-ENOIOCTLCMD)
 *                                              vhost_vring_ioctl. There is no RESET_OWNER
 *                                              handler: the owner gets -EFAULT (NULL
 *                                              argument, from get_user), others -EPERM.
 *
 * MODEL: LIO targets are not modelled. SET_ENDPOINT succeeds for any non-empty
 * vhost_wwpn (as if a tcm_vhost target with that WWPN and TPG existed) and fails
 * with -ENODEV (what Linux 6.1 and 6.12 answer when no tcm_vhost target matches,
 * measured by oracle/scripts/vhost-scsi-workers.json) for an empty one; it sets the backend
 * of every io vq. CLEAR_ENDPOINT with another WWPN than the one set is -EINVAL.
 */
import { getUser } from '../../kernel/uaccess.js';
import { ENODEV, EFAULT, EINVAL, ENOIOCTLCMD, EOPNOTSUPP } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import type { File, FileOperations } from '../../kernel/vfs/file.js';
import { vhostDevIoctl, vhostDevRelease, VhostDev } from './dev.js';
import { vhostComplete, vhostHandleVq } from './handle.js';
import {
  FAULT, readU32, toU64, VHOST_ATTACH_VRING_WORKER, VHOST_FREE_WORKER, VHOST_GET_FEATURES, VHOST_GET_VRING_WORKER,
  VHOST_NEW_WORKER, VHOST_SCSI_ABI_VERSION, VHOST_SCSI_CLEAR_ENDPOINT, VHOST_SCSI_FEATURES, VHOST_SCSI_GET_ABI_VERSION,
  VHOST_SCSI_SET_ENDPOINT, VHOST_SET_FEATURES, writeFields,
} from './uapi.js';
import { vhostVqAccessOk, vhostVringIoctl, type VhostVirtqueue } from './vq.js';
import { vhostDevFlush, vhostWorkerIoctl } from './worker.js';

export const VHOST_SCSI_VQ_CTL = 0;
export const VHOST_SCSI_VQ_EVT = 1;
export const VHOST_SCSI_VQ_IO = 2;
export const VHOST_SCSI_MAX_IO_VQ = 1024;

/** struct vhost_scsi_target, as passed by user space */
export interface VhostScsiTarget {
  abi_version: number;
  vhost_wwpn: string;
  vhost_tpgt: number;
  reserved: number;
}

interface ScsiState {
  wwpn: string | null;
  tpgt: number;
}

const handleIo = (vq: VhostVirtqueue): void => vhostHandleVq(vq, 'work');
// ctl (TMF/AN requests) and evt vqs: the same loop, completed inline
const handleCtl = (vq: VhostVirtqueue): void => vhostHandleVq(vq, 'inline');
const completionWork = (vq: VhostVirtqueue): void => vhostComplete(vq);

function readTarget(arg: unknown): VhostScsiTarget | typeof FAULT {
  const abi = readU32(arg, 'abi_version');
  const tpgt = readU32(arg, 'vhost_tpgt');
  const reserved = readU32(arg, 'reserved');
  const wwpn = getUser(arg, 'vhost_wwpn');
  if (abi === FAULT || tpgt === FAULT || reserved === FAULT || typeof wwpn !== 'string' || wwpn.length >= 224) return FAULT;
  return { abi_version: abi, vhost_wwpn: wwpn, vhost_tpgt: tpgt & 0xffff, reserved: reserved & 0xffff };
}

/** "Verify that ring has been setup correctly": every vq passes vhost_vq_access_ok, else -EFAULT. */
function scsiRingsOk(dev: VhostDev): boolean {
  return dev.vqs.every(vhostVqAccessOk);
}

function scsiSetEndpoint(dev: VhostDev, t: VhostScsiTarget): number {
  const st = dev.priv as ScsiState;
  // before any target is looked up (and with no owner check): EFAULT until
  // VHOST_SET_MEM_TABLE (measured on 6.1 and 6.12)
  if (!scsiRingsOk(dev)) return -EFAULT;
  if (t.vhost_wwpn === '') return -ENODEV; // no tcm_vhost target matched (measured on 6.1/6.12)
  st.wwpn = t.vhost_wwpn;
  st.tpgt = t.vhost_tpgt;
  for (let i = VHOST_SCSI_VQ_IO; i < dev.vqs.length; i++) dev.vqs[i]!.backend = st;
  // ctl and evt vqs get the backend too (vhost_scsi_set_endpoint sets every vq)
  dev.vqs[VHOST_SCSI_VQ_CTL]!.backend = st;
  dev.vqs[VHOST_SCSI_VQ_EVT]!.backend = st;
  return 0;
}

function scsiClearEndpoint(dev: VhostDev, t: VhostScsiTarget | null): number {
  const st = dev.priv as ScsiState;
  if (!scsiRingsOk(dev)) return -EFAULT; // also at release: nothing was set then
  if (st.wwpn === null) return 0;
  if (t !== null && t.vhost_wwpn !== st.wwpn) return -EINVAL;
  for (const vq of dev.vqs) vq.backend = null;
  st.wwpn = null;
  vhostDevFlush(dev);
  return 0;
}

export function vhostScsiIoctl(k: Kernel, file: File, task: Task, request: number, arg: unknown): number {
  const dev = file.privateData as VhostDev;
  switch (request) {
    case VHOST_SCSI_SET_ENDPOINT:
    case VHOST_SCSI_CLEAR_ENDPOINT: {
      const t = readTarget(arg);
      if (t === FAULT) return -EFAULT;
      if (t.reserved !== 0) return -EOPNOTSUPP;
      return request === VHOST_SCSI_SET_ENDPOINT ? scsiSetEndpoint(dev, t) : scsiClearEndpoint(dev, t);
    }
    case VHOST_SCSI_GET_ABI_VERSION:
      return writeFields(arg, { value: VHOST_SCSI_ABI_VERSION }) ? 0 : -EFAULT;
    case VHOST_GET_FEATURES:
      return writeFields(arg, { value: VHOST_SCSI_FEATURES }) ? 0 : -EFAULT;
    case VHOST_SET_FEATURES: {
      const f = toU64(arg);
      if (f === FAULT) return -EFAULT;
      if (f & ~VHOST_SCSI_FEATURES) return -EOPNOTSUPP;
      dev.features = f;
      return 0;
    }
    case VHOST_NEW_WORKER:
    case VHOST_FREE_WORKER:
    case VHOST_ATTACH_VRING_WORKER:
    case VHOST_GET_VRING_WORKER:
      // routed since d74b55e65502 (vhost_worker_ioctls, 6.5); before it these numbers
      // take the default path, as unknown requests
      if (k.has('vhost_worker_ioctls')) return vhostWorkerIoctl(dev, task, request, arg);
      return vhostScsiDefaultIoctl(dev, task, request, arg);
    default:
      return vhostScsiDefaultIoctl(dev, task, request, arg);
  }
}

/** vhost_scsi_ioctl's default branch: vhost_dev_ioctl, then (-ENOIOCTLCMD) vhost_vring_ioctl. */
function vhostScsiDefaultIoctl(dev: VhostDev, task: Task, request: number, arg: unknown): number {
  const r = vhostDevIoctl(dev, task, request, arg);
  return r === -ENOIOCTLCMD ? vhostVringIoctl(dev, task, request, arg) : r;
}

export const vhostScsiFops: FileOperations = {
  open(k, _inode, file) {
    const n = k.moduleParams('vhost_scsi').max_io_vqs as number;
    const handlers = [handleCtl, handleCtl];
    for (let i = 0; i < n; i++) handlers.push(handleIo);
    const dev = VhostDev.create(k, handlers);
    if (typeof dev === 'number') return dev;
    for (let i = VHOST_SCSI_VQ_IO; i < dev.vqs.length; i++) {
      const vq = dev.vqs[i]!;
      const w = dev.ve.workAllocData(completionWork, vq);
      if (typeof w === 'number') {
        dev.freeWorks();
        return w;
      }
      dev.setAuxWork(vq, w);
    }
    dev.kind = 'scsi';
    dev.priv = { wwpn: null, tpgt: 0 } satisfies ScsiState;
    file.privateData = dev;
    return 0;
  },
  release(_k, _inode, file) {
    const dev = file.privateData as VhostDev;
    scsiClearEndpoint(dev, null);
    vhostDevRelease(dev);
  },
  unlockedIoctl: vhostScsiIoctl,
};

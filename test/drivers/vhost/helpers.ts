/** Shared set-up for the vhost tests. */
import { Kernel, O_RDWR, type Task, vhostDevInfo, type VhostDevInfo } from 'kwq';
import { VhostDev } from '../../../src/drivers/vhost/dev.js';

export const SCSI_TARGET = { abi_version: 1, vhost_wwpn: 'naa.5001405000000001', vhost_tpgt: 1, reserved: 0 };
/** An empty VHOST_SET_MEM_TABLE: vq->umem is no longer NULL, so vhost_vq_access_ok passes (SET_ENDPOINT, SET_BACKEND). */
export const NO_MEM = { nregions: 0, padding: 0 };

export interface Setup {
  k: Kernel;
  qemu: Task;
  fd: number;
}

/** Boot, spawn a QEMU (uid 107, /machine.slice/vm1), open `dev`. */
export async function setup(dev: 'net' | 'scsi' | 'vsock', opts: { cmdline?: string; cgroup?: 'v1' | 'v2'; nproc?: number; ioVqs?: number } = {}): Promise<Setup> {
  const cmdline = [opts.cmdline ?? '', `vhost_scsi.max_io_vqs=${opts.ioVqs ?? 2}`].join(' ').trim();
  const k = await Kernel.boot({ cmdline, cgroup: opts.cgroup ?? 'v2', ncpus: 4 });
  const qemu = k.spawn({
    comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1',
    ...(opts.nproc !== undefined ? { rlimits: { RLIMIT_NPROC: [opts.nproc, 64] } } : {}),
  });
  const fd = k.open(qemu, `/dev/vhost-${dev}`, O_RDWR);
  if (fd < 0) throw new Error(`open /dev/vhost-${dev}: ${fd}`);
  return { k, qemu, fd };
}

export function info(k: Kernel, t: Task, fd: number): VhostDevInfo {
  const i = vhostDevInfo(k, t, fd);
  if (typeof i === 'number') throw new Error(`vhostDevInfo: ${i}`);
  return i;
}

/** The internal device (white-box tests). */
export function devOf(k: Kernel, t: Task, fd: number): VhostDev {
  const f = k.fileOf(t, fd);
  if (f === null || !(f.privateData instanceof VhostDev)) throw new Error('not a vhost fd');
  return f.privateData;
}

/** Everything a rejected ioctl must leave alone: the device and the task list (not the workers' statistics). */
export function snapshot(k: Kernel, t: Task, fd: number): string {
  const i = { ...info(k, t, fd) };
  i.workers = i.workers.map((w) => ({ ...w, items: 0, wakeups: 0 }));
  const tasks = k.tasks().map((x) => `${x.pid}:${x.comm}:${x.cgroup}:${x.alive}`);
  return JSON.stringify({ i, tasks }, (_key, v) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** The worker threads of a device's owner (vhost-<pid>). */
export function workerTasks(k: Kernel, ownerPid: number): Task[] {
  return k.tasks().filter((t) => t.comm === `vhost-${ownerPid}`);
}

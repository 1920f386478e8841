/**
 * The VM both vm-cpu-max and vm-freeze run: QEMU (uid 107) in /machine.slice/vm1 owns a
 * vhost-scsi device (a memory table, an endpoint) and a vCPU thread runs fio on its
 * first io vq. Not a scenario itself (src/cli/tour.ts lists those).
 */
import {
  Kernel, O_RDWR, VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_VQ_IO, VHOST_SET_MEM_TABLE, VHOST_SET_OWNER,
  VirtioQueue, FioJob, errnoName, KwqError, type Task,
} from '../src/index.js';

export interface VmGuest {
  qemu: Task;
  /** the device's vhost worker (vhost-<pid>: a thread of QEMU, or a kthread on 6.1) */
  worker: Task;
  q: VirtioQueue;
  job: FioJob;
}

export function startVmGuest(k: Kernel, scenario: string, iodepth: number): VmGuest {
  const must = (r: number | string, what: string): void => {
    if (typeof r === 'number' && r < 0) throw new KwqError(`scenario ${scenario}`, `${what} returned -${errnoName(-r)}`);
  };
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
  const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
  must(fd, 'open /dev/vhost-scsi');
  must(k.ioctl(qemu, fd, VHOST_SET_OWNER), 'VHOST_SET_OWNER');
  must(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 0, padding: 0 }), 'VHOST_SET_MEM_TABLE');
  must(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, { abi_version: 1, vhost_wwpn: 'naa.5001405000000002', vhost_tpgt: 1, reserved: 0 }), 'SET_ENDPOINT');
  const worker = k.tasks().find((t) => t.comm === `vhost-${qemu.pid}`);
  if (worker === undefined) throw new KwqError(`scenario ${scenario}`, 'no vhost worker task');
  const q = VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO);
  if (typeof q === 'number') throw new KwqError(`scenario ${scenario}`, `VirtioQueue.attach returned ${q}`);
  const job = FioJob.start(k, qemu, q, { iodepth, comm: 'CPU 0/KVM' });
  if (typeof job === 'number') throw new KwqError(`scenario ${scenario}`, `FioJob.start returned ${job}`);
  return { qemu, worker, q, job };
}

/** Shared set-up for the loop tests: a kernel, a backing file, a bound loop device. */
import { Kernel, O_CREAT, O_RDWR, type Task } from 'kwq';
import '../../../src/drivers/loop/index.js';
import { LOOP_CONFIGURE } from '../../../src/drivers/loop/index.js';
import { loopDevice } from '../../../src/drivers/loop/loop-control.js';
import type { LoopDevice } from '../../../src/drivers/loop/loop-device.js';

export async function boot(cmdline = '', extra: Record<string, unknown> = {}): Promise<Kernel> {
  return Kernel.boot({ cmdline, ...extra });
}

/** A regular file of `size` bytes on /tmp, created by `task`; returns its path. */
export function backingFile(k: Kernel, task: Task, path = '/tmp/backing', size = 64 << 20): string {
  const fd = k.open(task, path, O_RDWR | O_CREAT);
  if (fd < 0) throw new Error(`open ${path}: ${fd}`);
  if (k.ftruncate(task, fd, size) !== 0) throw new Error('ftruncate');
  k.close(task, fd);
  return path;
}

/** losetup: bind /dev/loop<n> to `path` with LOOP_CONFIGURE (flags as given); the device fd stays open. */
export function losetup(k: Kernel, task: Task, n: number, path: string, loFlags = 0): { lfd: number; lo: LoopDevice } {
  const lfd = k.open(task, `/dev/loop${n}`, O_RDWR);
  if (lfd < 0) throw new Error(`open /dev/loop${n}: ${lfd}`);
  const bfd = k.open(task, path, O_RDWR);
  const r = k.ioctl(task, lfd, LOOP_CONFIGURE, { fd: bfd, info: { lo_flags: loFlags, lo_file_name: path } });
  if (r !== 0) throw new Error(`LOOP_CONFIGURE: ${r}`);
  k.close(task, bfd);
  return { lfd, lo: loopDevice(k, n)! };
}

export function dev(k: Kernel, n: number): LoopDevice {
  return loopDevice(k, n)!;
}

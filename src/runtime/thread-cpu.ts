/**
 * CPU time of a real worker thread, for charging it to the kernel-model Task that
 * stands for it (cpu.stat): read from the kernel's schedstat of that thread and
 * charged in deltas by whoever owns the thread (vhost workers, loop kworkers).
 */
import { readFileSync } from 'node:fs';

/** CPU ns a thread of this process has used, from /proc/self/task/<tid>/schedstat; -1 if unavailable (not Linux). */
export function threadCpuNs(tid: number | undefined): number {
  if (tid === undefined) return -1;
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return -1;
  }
}

/**
 * The ns used since the last call, moving `meter.lastNs` to `nowNs`: 0 on the first
 * reading (lastNs < 0), when nothing can be read (nowNs < 0), or when no time passed.
 */
export function takeCpuDelta(meter: { lastNs: number }, nowNs: number): number {
  if (nowNs < 0) return 0;
  if (meter.lastNs < 0) {
    meter.lastNs = nowNs;
    return 0;
  }
  const d = nowNs - meter.lastNs;
  if (d <= 0) return 0;
  meter.lastNs = nowNs;
  return d;
}

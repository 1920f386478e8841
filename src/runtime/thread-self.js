/**
 * The calling thread as Linux sees it, for worker entry files (plain JavaScript, as
 * Node 20 needs) and the benchmark harness: its tid, and its CPU time from
 * /proc/thread-self/schedstat. Elsewhere than Linux both are undefined.
 */
import { readFileSync, readlinkSync } from 'node:fs';

/**
 * This thread's CPU time and time spent runnable but waiting for a CPU, in ms.
 * @returns {{ ms: number, queueMs: number } | undefined}
 */
export function schedstat() {
  try {
    const [run, queue] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return { ms: Number(run) / 1e6, queueMs: Number(queue) / 1e6 };
  } catch {
    return undefined;
  }
}

/**
 * CPU and run-queue ms between two schedstat() readings.
 * @param {{ ms: number, queueMs: number } | undefined} a
 * @param {{ ms: number, queueMs: number } | undefined} b
 * @returns {{ ms: number, queueMs: number } | undefined}
 */
export function cpuSince(a, b) {
  return a && b ? { ms: b.ms - a.ms, queueMs: b.queueMs - a.queueMs } : undefined;
}

/**
 * This thread's Linux thread id (/proc/thread-self -> "<pid>/task/<tid>"), so that
 * the main thread can read /proc/self/task/<tid>/schedstat while it runs.
 * @returns {number | undefined}
 */
export function threadId() {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

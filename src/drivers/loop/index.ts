/**
 * The loop driver's public surface: importing this file registers the loop and
 * null_blk modules (src/index.ts does it once). Names exported from 'kwq' are listed in
 * src/index.ts; the rest is for tests, scenarios and benchmarks inside the repository.
 */
import '../block/null-blk.js';
import './loop-control.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import { loopDevice, loopDriver } from './loop-control.js';
import { loopSetDesign, LO_STATE_NAMES, type LoopDesign, type LoopDevice } from './loop-device.js';
import { kernelKthreadsIfAny } from './loop-kthreads.js';

export * from './uapi.js';
export type { LoopDesign } from './loop-device.js';
export { IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO, ioSetup, ioSubmit, ioGetevents, AioContext } from '../block/aio.js';
export type { Iocb, IoEvent } from '../block/aio.js';

/** One kworker thread of a loop device (threads runtime). */
export interface LoopKthreadInfo {
  comm: string;
  pid: number;
  /** Linux thread id (null before the thread reported it, or off Linux) */
  tid: number | null;
  /** work executions started, commands handled, requests to the main thread, executions that ended idle */
  executions: number;
  handled: number;
  batches: number;
  idled: number;
  /** times the thread found its work already running on another kworker (must stay 0) */
  reentered: number;
  /** commands taken after k.shutdown() (never completed) */
  dropped: number;
  /** 0 idle in loop_wq_pick, 1 executing, 2 waiting for the main thread */
  state: number;
  /** CPU ns charged to the kworker Task's cgroup: the thread's own (schedstat) and the main thread's part */
  cpuNs: { thread: number; main: number };
}

/** What a loop device looks like from outside, for scenarios and tests (a snapshot). */
export interface LoopInfo {
  name: string;
  state: string;
  design: LoopDesign;
  flags: number;
  openers: number;
  /** live loop_workers, by the issuing cgroup's path (per-cgroup design) */
  workers: { cgroup: string; id: number; idle: boolean; lastRanAt: number; cmds: number }[];
  /** kworker threads the device's workqueue has (sim: TypeScript kworkers; threads runtime: worker_threads) */
  kworkers: number;
  /**
   * threads runtime: the device's kworker threads (their Task, Linux tid, and what each
   * did, from counters the thread writes: may be stale); [] in sim
   */
  kthreads: LoopKthreadInfo[];
  stats: {
    queued: number; completed: number; rootQueued: number; allocFailures: number; workersCreated: number;
    workersFreed: number; queueNoop: number; rescued: number;
  };
  /** the reaper timer's expiry in jiffies, or null when it is not pending */
  timerExpires: number | null;
  /** the tag set: queue depth (loop.hw_queue_depth), tags held, requests waiting for one now and in all */
  tags: { depth: number; inUse: number; waiting: number; waited: number };
}

function device(k: Kernel, n: number, where: string): LoopDevice {
  if (!Number.isInteger(n) || n < 0) throw new KwqError(where, `bad loop device number ${n}`);
  const lo = loopDevice(k, n);
  if (lo === null) throw new KwqError(where, `no /dev/loop${n} in this kernel`);
  return lo;
}

/** A snapshot of /dev/loop<n>'s state and workers (model inspection, like debugfs). */
export function loopInfo(k: Kernel, n: number): LoopInfo {
  const lo = device(k, n, 'loopInfo');
  return {
    name: lo.name,
    state: LO_STATE_NAMES[lo.state]!,
    design: lo.design,
    flags: lo.flags,
    openers: lo.openers,
    workers: lo.liveWorkers().map((w) => ({ cgroup: w.blkcgCss.path, id: w.blkcgCss.id, idle: w.onIdle, lastRanAt: w.lastRanAt, cmds: w.nrCmds })),
    kworkers: lo.workqueue?.kworkers.length ?? lo.kthreads?.threads.length ?? 0,
    kthreads: lo.kthreads === null ? [] : lo.kthreads.threads.map((t) => ({
      comm: t.task.comm, pid: t.task.pid, tid: t.tid ?? null, ...t.counters(),
      cpuNs: { thread: t.threadNs, main: t.mainNs },
    })),
    stats: { ...lo.stats },
    timerExpires: lo.timer.pending ? lo.timer.expires : null,
    tags: { depth: lo.tags.depth, inUse: lo.tags.nrInUse, waiting: lo.tags.nrWaiting, waited: lo.tags.nrWaited },
  };
}

/**
 * Choose the worker design of /dev/loop<n> (a model-only control; `kwq.loop_workers`
 * sets the default at boot). 0, or -EBUSY unless the device is unbound.
 */
export function loopSetWorkers(k: Kernel, n: number, design: LoopDesign): number {
  return loopSetDesign(device(k, n, 'loopSetWorkers'), design);
}

/** The design new loop devices get (LOOP_CTL_ADD, GET_FREE) from now on. */
export function loopDefaultWorkers(k: Kernel, design?: LoopDesign): LoopDesign {
  const d = loopDriver(k);
  if (design !== undefined) {
    if (design !== 'kworker' && design !== 'per-cgroup') throw new KwqError('loopDefaultWorkers', `bad design ${JSON.stringify(design)}; allowed: per-cgroup, kworker`);
    d.defaultDesign = design;
  }
  return d.defaultDesign;
}

/** Loop kworker threads alive now (threads runtime; 0 in sim). */
export function loopThreadCount(k: Kernel): number {
  return kernelKthreadsIfAny(k)?.threadCount ?? 0;
}

/**
 * Resolve true once every loop kworker thread being stopped (LOOP_CTL_REMOVE, the
 * kworker design's last close after LOOP_CLR_FD, k.shutdown()) has exited and its
 * device's teardown finished; false on timeout or when a teardown failed (the
 * failures are in loopThreadErrors).
 */
export async function loopThreadsIdle(k: Kernel, timeoutMs = 10_000): Promise<boolean> {
  const r = kernelKthreadsIfAny(k);
  if (r === null) return true;
  return (await r.idle(timeoutMs)) && r.errors.length === 0;
}

/** Failures seen on the kworker threads' unawaited paths (thread errors, teardown problems); [] when all is well. */
export function loopThreadErrors(k: Kernel): readonly string[] {
  return kernelKthreadsIfAny(k)?.errors ?? [];
}

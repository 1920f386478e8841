/**
 * struct signal_struct: what the threads of one process share: rlimits, the live
 * thread list, group exit state, oom_score_adj. (struct sighand_struct, the handler
 * table, is not modelled beyond being shared: the model has default actions only.)
 */
import type { Rlimit } from './rlimit.js';
import type { Task } from './task.js';
import type { Kernel } from './kernel.js';

export class SignalStruct {
  /** live threads of the group, the leader first */
  readonly threads = new Set<Task>();
  /** SIGNAL_GROUP_EXIT: a group exit is under way */
  groupExit = false;
  groupExitCode = 0;
  /** signals pending for the whole group (shared_pending), a mask of 1..31 */
  sharedPending = 0;
  /** SIGNAL_STOP_STOPPED (set through setGroupStopped, which counts it) */
  stopped = false;
  /** -1000..1000; OOM_SCORE_ADJ_MIN (-1000) exempts the process from the OOM killer */
  oomScoreAdj = 0;
  constructor(readonly rlimits: Rlimit[]) {}
  get nrThreads(): number {
    return this.threads.size;
  }
}

/**
 * sigaddset(&signal->shared_pending, ...): `mask` pending for the process. The kernel
 * counts the processes with any (Kernel.nrSharedPending) so that a call's return to
 * user space, which asks on every syscall, reads one warm number instead of the
 * process's signal_struct (the kernel's exit_to_user_mode_loop tests the thread's own
 * TIF_SIGPENDING first for the same reason; with 10,000 processes taking turns the
 * signal_struct was a cache miss per call; issue 10).
 */
export function sharedPendingAdd(k: Kernel, sigs: SignalStruct, mask: number): void {
  if (mask === 0) return;
  if (sigs.sharedPending === 0) k.nrSharedPending++;
  sigs.sharedPending |= mask;
}

/** sigdelset of `mask` from the process's shared_pending (see sharedPendingAdd) */
export function sharedPendingDel(k: Kernel, sigs: SignalStruct, mask: number): void {
  if (sigs.sharedPending === 0) return;
  sigs.sharedPending &= ~mask;
  if (sigs.sharedPending === 0) k.nrSharedPending--;
}

/**
 * SIGNAL_STOP_STOPPED on or off for the process. The kernel counts the stopped
 * processes (Kernel.nrGroupsStopped) so that a thread's run, which asks every time,
 * reads one warm number while none is stopped instead of its process's signal_struct
 * (with a thousand processes a cache miss a run; issue 10).
 */
export function setGroupStopped(k: Kernel, sigs: SignalStruct, stopped: boolean): void {
  if (sigs.stopped === stopped) return;
  sigs.stopped = stopped;
  if (stopped) k.nrGroupsStopped++;
  else k.nrGroupsStopped--;
}

export const OOM_SCORE_ADJ_MIN = -1000;

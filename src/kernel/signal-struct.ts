/**
 * struct signal_struct: what the threads of one process share: rlimits, the live
 * thread list, group exit state, oom_score_adj. (struct sighand_struct, the handler
 * table, is not modelled beyond being shared: the model has default actions only.)
 */
import type { Rlimit } from './rlimit.js';
import type { Task } from './task.js';

export class SignalStruct {
  /** live threads of the group, the leader first */
  readonly threads = new Set<Task>();
  /** SIGNAL_GROUP_EXIT: a group exit is under way */
  groupExit = false;
  groupExitCode = 0;
  /** signals pending for the whole group (shared_pending), a mask of 1..31 */
  sharedPending = 0;
  /** SIGNAL_STOP_STOPPED */
  stopped = false;
  /** -1000..1000; OOM_SCORE_ADJ_MIN (-1000) exempts the process from the OOM killer */
  oomScoreAdj = 0;
  constructor(readonly rlimits: Rlimit[]) {}
  get nrThreads(): number {
    return this.threads.size;
  }
}

export const OOM_SCORE_ADJ_MIN = -1000;

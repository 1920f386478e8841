/**
 * struct loop_worker (5.14+): one per (loop device, issuing blkcg). Its rb_node and key
 * live in the shared memory (worker-tree.ts); this is the TypeScript half: the work
 * item, the FIFO of commands, the idle-list links, the css reference and last_ran_at.
 *
 *   lo->worker_tree (Wasm rbtree, by cgroup id) ──► node.slot ──► LoopWorker
 *   lo->idle_worker_list:  head ⇄ w1 ⇄ w2 ⇄ ... (oldest last_ran_at first)
 *
 * The root queue (lo->rootcg_work + rootcg_cmd_list) is not a loop_worker: it is the
 * RootQueue below, never on the idle list, never freed by the timer.
 */
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';
import { CmdList, type LoopCmd } from './loop-cmd.js';
import type { WorkStruct } from './workqueue.js';

/** What one work execution is doing: the command it waits for (blocked on backing I/O). */
export class ExecState {
  /** a command whose backing I/O was submitted and not yet completed */
  waiting: LoopCmd | null = null;
  /** the kworker's flags before loop_process_work set PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO */
  origFlags = -1;
}

export class LoopWorker {
  /** the rb_node in the shared memory (0 once freed) */
  node = 0;
  work!: WorkStruct;
  readonly cmdList = new CmdList();
  /** list_empty(&worker->idle_list) is !onIdle */
  onIdle = false;
  idlePrev: LoopWorker | null = null;
  idleNext: LoopWorker | null = null;
  /** jiffies at which it last went idle */
  lastRanAt = 0;
  readonly exec = new ExecState();
  /** commands handled by this worker */
  nrCmds = 0;
  constructor(
    /** css_get'd at creation, css_put when freed */
    readonly blkcgCss: Cgroup,
    /** index in the device's worker table (the node's slot word) */
    readonly slot: number,
    /** worker->lo */
    readonly lo: unknown,
  ) {}
}

/** lo->rootcg_work and lo->rootcg_cmd_list */
export class RootQueue {
  work!: WorkStruct;
  readonly cmdList = new CmdList();
  readonly exec = new ExecState();
  nrCmds = 0;
}

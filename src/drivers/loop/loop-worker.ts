/**
 * struct loop_worker (5.14+): one per (loop device, issuing blkcg). Its rb_node, key,
 * command FIFO, idle-list links, PENDING bit and last_ran_at live in the shared
 * memory (assembly/loop.ts); this is the TypeScript half: the css reference, the sim
 * workqueue's view of its work item, and what one execution is waiting for.
 *
 *   lo->worker_tree (Wasm rbtree, by cgroup id) ──► worker ──► KernelLoop.workers[index]
 *   lo->idle_worker_list (Wasm):  head ⇄ w1 ⇄ w2 ⇄ ... (oldest last_ran_at first)
 *
 * The root queue (lo->rootcg_work + rootcg_cmd_list) is not a loop_worker: it is the
 * RootQueue below (its FIFO and work in the device's Wasm block), never on the idle
 * list, never freed by the timer.
 */
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';
import type { LoopEngine } from '../../wasm/loop.js';
import type { LoopCmd } from './loop-cmd.js';
import type { WorkStruct } from './workqueue.js';

/** What one work execution is doing: the command it waits for (blocked on backing I/O). */
export class ExecState {
  /** a command whose backing I/O was submitted and not yet completed */
  waiting: LoopCmd | null = null;
  /** the kworker's flags before loop_process_work set PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO */
  origFlags = -1;
}

/** list_empty(&worker->cmd_list), read from the shared memory (may be stale off the lock) */
export class CmdListView {
  constructor(private readonly le: LoopEngine, private readonly owner: { node: number }) {}
  get empty(): boolean {
    return this.owner.node === 0 || this.le.cmdListEmpty(this.owner.node);
  }
}

export class LoopWorker {
  /** the Wasm loop_worker (0 once freed) */
  node: number;
  /** its work_struct in the shared memory */
  readonly workOff: number;
  work!: WorkStruct;
  readonly cmdList: CmdListView;
  readonly exec = new ExecState();
  /** last_ran_at when it was freed (the Wasm object is gone then) */
  private freedLastRanAt = 0;
  constructor(
    private readonly le: LoopEngine,
    node: number,
    /** css_get'd at creation, css_put when freed */
    readonly blkcgCss: Cgroup,
    /** worker->lo */
    readonly lo: unknown,
  ) {
    this.node = node;
    this.workOff = le.workOf(node);
    this.cmdList = new CmdListView(le, this);
  }

  /** index of its Wasm object (the side table's key) */
  get slot(): number {
    return this.le.workerIndex(this.node);
  }

  /** !list_empty(&worker->idle_list) */
  get onIdle(): boolean {
    return this.node !== 0 && this.le.onIdle(this.node);
  }

  /** jiffies at which it last went idle */
  get lastRanAt(): number {
    return this.node === 0 ? this.freedLastRanAt : this.le.lastRanAt(this.node);
  }

  /** commands handled by this worker */
  get nrCmds(): number {
    return this.node === 0 ? 0 : this.le.nrCmds(this.node);
  }

  /** the reaper freed the Wasm object */
  freed(lastRanAt: number): void {
    this.freedLastRanAt = lastRanAt;
    this.node = 0;
  }
}

/** lo->rootcg_work and lo->rootcg_cmd_list (in the device's Wasm block) */
export class RootQueue {
  work!: WorkStruct;
  /** its work_struct in the shared memory (0 before the first configure) */
  workOff = 0;
  readonly exec = new ExecState();
  nrCmds = 0;
}

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
import { WorkStruct, type SharedPendingBit, type WorkFunc } from './workqueue.js';

/** What one work execution is doing: the command it waits for (blocked on backing I/O). */
export interface ExecState {
  /** a command whose backing I/O was submitted and not yet completed */
  waiting: LoopCmd | null;
  /** the kworker's flags before loop_process_work set PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO; -1 between executions */
  origFlags: number;
}

/** list_empty(&worker->cmd_list), read from the shared memory (may be stale off the lock) */
export class CmdListView {
  constructor(private readonly le: LoopEngine, private readonly owner: { node: number }) {}
  get empty(): boolean {
    return this.owner.node === 0 || this.le.cmdListEmpty(this.owner.node);
  }
}

/**
 * The worker IS its work_struct, as the kernel embeds `struct work_struct work` in
 * struct loop_worker (container_of in loop_workfn), and it holds its execution state
 * itself: queueing and running a worker read one object, not a worker, a WorkStruct
 * and an ExecState (with 10,000 cgroups each was a cache miss per worker and round;
 * issue 10). In the threads runtime kworker threads run the work in Wasm and the
 * WorkStruct part stays idle.
 */
export class LoopWorker extends WorkStruct implements ExecState {
  /** the Wasm loop_worker (0 once freed) */
  node: number;
  /** its work_struct in the shared memory */
  readonly workOff: number;
  waiting: LoopCmd | null = null;
  origFlags = -1;
  /** worker->lo */
  readonly lo: unknown;
  /** css_get'd at creation, css_put when freed */
  readonly blkcgCss: Cgroup;
  private readonly le: LoopEngine;
  /** last_ran_at when it was freed (the Wasm object is gone then) */
  private freedLastRanAt = 0;
  private view: CmdListView | null = null;
  constructor(le: LoopEngine, node: number, blkcgCss: Cgroup, lo: unknown, fn: WorkFunc, pending: (workOff: number) => SharedPendingBit) {
    const workOff = le.workOf(node);
    super(fn, null, pending(workOff));
    this.data = this;
    this.node = node;
    this.workOff = workOff;
    this.lo = lo;
    this.blkcgCss = blkcgCss;
    this.le = le;
  }

  /** &worker->work */
  get work(): WorkStruct {
    return this;
  }

  /** what its execution is doing */
  get exec(): ExecState {
    return this;
  }

  /** worker->cmd_list, for inspection */
  get cmdList(): CmdListView {
    return (this.view ??= new CmdListView(this.le, this));
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
  readonly exec: ExecState = { waiting: null, origFlags: -1 };
  nrCmds = 0;
}

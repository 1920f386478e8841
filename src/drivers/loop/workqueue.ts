/**
 * The workqueue semantics loop relies on (kernel-reference.md section 6.8), on the
 * sim runtime's virtual CPUs (the loop driver's kworkers in the threads runtime are
 * real threads over the Wasm workqueue instead: loop-kthreads.ts; this file still
 * runs there for any other user, on the host event loop):
 *
 *   queue_work(wq, work)      false and nothing done if the work is PENDING; else
 *                             PENDING is set and the work goes on the worklist
 *   work_pending(work)        true between queueing and the start of its execution
 *   non-reentrancy            a work never runs on two kworkers at once: queued while
 *                             it runs, it goes to the kworker running it and runs
 *                             again there afterwards (process_one_work's collision rule)
 *   WQ_UNBOUND                different works run in parallel, one kworker each,
 *                             created on demand up to max_active
 *
 *   Workqueue                         Kworker (a kthread, one SimThread)
 *   +--------------------+            +-----------------------------+
 *   | worklist (FIFO) ---+--> pick -->| current work  (runner = me) |
 *   | idle kworkers      |            | scheduled (collided works)  |
 *   | kworkers (<= max)  |            | blocked: sleeping until     |
 *   +--------------------+            |   workResume() (I/O wait)   |
 *                                     +-----------------------------+
 *
 * A work function runs a slice at a time: it adds the virtual CPU time it used to
 * the thread's costNs and returns WORK_DONE, WORK_YIELD (budget used up: call me again
 * in the same execution) or WORK_BLOCKED (the kworker sleeps in this execution until
 * workResume(): a synchronous wait for I/O, as loop's worker waits for its backing
 * file). The work stays "running" (not pending) while blocked.
 *
 * Divergence: the kernel's unbound workqueues share per-attribute worker pools and
 * kworkers idle for 5 minutes exit; here each workqueue has its own kworkers, kept
 * until destroy_workqueue. Names follow the kernel's: "kworker/uN:M" for unbound pools.
 * No allocation per queue_work: works are intrusive list nodes.
 *
 * loop's works keep their PENDING bit in the shared memory (WorkStruct.shared): the
 * test_and_set is part of loop_queue_work in Wasm, which tells the driver to call
 * __queueWork; the kworker clears the bit as execution starts. On real threads
 * the same rules run in Wasm (assembly/loop-wq.ts): the loop devices' kworkers of
 * the threads runtime (src/runtime/loop-kthread.js) and the dispatch harness
 * (src/runtime/loop-kworker.js).
 */
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import type { SimThread, ThreadBody } from '../../runtime/sim-thread.js';

export const WQ_UNBOUND = 1 << 1;
export const WQ_FREEZABLE = 1 << 2;
/** alloc_workqueue(..., max_active = 0) means WQ_DFL_ACTIVE (WQ_MAX_ACTIVE / 2) */
export const WQ_DFL_ACTIVE = 256;

export const WORK_DONE = 0;
export const WORK_YIELD = 1;
export const WORK_BLOCKED = 2;

/** A work function: run up to `budgetNs`, add the CPU used to kw.thread.costNs. */
export type WorkFunc = (work: WorkStruct, kw: Kworker, budgetNs: number) => number;

/** Where a work's PENDING bit lives when it is in the shared memory (loop's works, assembly/loop.ts). */
export interface SharedPendingBit {
  readonly i32: Int32Array;
  /** Int32Array index of the work_struct's data word (bit 0 = PENDING) */
  readonly index: number;
}

/** struct work_struct */
export class WorkStruct {
  private bit = false;
  /**
   * the shared PENDING word's array and index, copied out of `shared` (one object fewer
   * to read per queue and run: with 10,000 loop workers each is a cache miss; issue 10)
   */
  private readonly sharedI32: Int32Array | null;
  private readonly sharedIndex: number;
  /** the runner (kworker executing it, or blocked in it), null when not running */
  runner: Kworker | null = null;
  /** intrusive link on a worklist or a kworker's scheduled list */
  next: WorkStruct | null = null;
  /** executions started (for tests and figures) */
  nrRuns = 0;
  constructor(
    readonly fn: WorkFunc,
    /** what the function works for (a loop_worker, or the device for the root work) */
    public data: unknown,
    /**
     * the PENDING bit in the shared memory, for works whose queue_work test_and_set
     * happens in Wasm (loop_queue_work); null: a plain field
     */
    readonly shared: SharedPendingBit | null = null,
  ) {
    this.sharedI32 = shared === null ? null : shared.i32;
    this.sharedIndex = shared === null ? 0 : shared.index;
  }

  /** WORK_STRUCT_PENDING_BIT */
  get pending(): boolean {
    const a = this.sharedI32;
    // pairs with loop_queue_work's atomic.or (test_and_set_bit)
    return a === null ? this.bit : (Atomics.load(a, this.sharedIndex) & 1) !== 0;
  }

  set pending(v: boolean) {
    const a = this.sharedI32;
    if (a === null) this.bit = v;
    else if (v) Atomics.or(a, this.sharedIndex, 1); // pairs with loop_process_one's PENDING check under lo_work_lock
    else Atomics.and(a, this.sharedIndex, ~1); // set_work_pool_and_clear_pending; pairs with loop_queue_work's test_and_set
  }
}

/** A FIFO of works through their `next` links. */
class WorkList {
  head: WorkStruct | null = null;
  tail: WorkStruct | null = null;
  push(w: WorkStruct): void {
    w.next = null;
    if (this.tail === null) this.head = w;
    else this.tail.next = w;
    this.tail = w;
  }
  shift(): WorkStruct | null {
    const w = this.head;
    if (w === null) return null;
    this.head = w.next;
    if (this.head === null) this.tail = null;
    w.next = null;
    return w;
  }
  get empty(): boolean {
    return this.head === null;
  }
}

/** struct worker: a kthread executing works of one workqueue. */
export class Kworker implements ThreadBody {
  task!: Task;
  current: WorkStruct | null = null;
  readonly scheduled = new WorkList();
  /** asleep inside the current work until workResume() */
  blocked = false;
  idle = true;
  /** works completed */
  nrDone = 0;
  constructor(readonly wq: Workqueue) {}

  get thread(): SimThread {
    return this.task.thread!;
  }

  run(th: SimThread, budgetNs: number): boolean {
    const wq = this.wq;
    const k = wq.k;
    for (;;) {
      if (this.blocked) return false;
      let w = this.current;
      if (w === null) {
        w = this.scheduled.shift() ?? wq.worklist.shift();
        if (w === null) {
          this.idle = true;
          wq.idleWorkers.push(this);
          return false;
        }
        this.current = w;
        // process_one_work: PENDING is cleared as execution starts
        w.pending = false;
        w.runner = this;
        w.nrRuns++;
        wq.nrRunning++;
        if (k.tp.workExecuteStart.enabled) k.tp.workExecuteStart.emit({ wq: wq.name, worker: this.task.comm, pid: this.task.pid });
      }
      const left = budgetNs - th.costNs;
      const r = w.fn(w, this, left > 0 ? left : 0);
      if (r === WORK_BLOCKED) {
        this.blocked = true;
        return false;
      }
      if (r === WORK_YIELD) return true;
      // WORK_DONE
      if (k.tp.workExecuteEnd.enabled) k.tp.workExecuteEnd.emit({ wq: wq.name, worker: this.task.comm, pid: this.task.pid });
      w.runner = null;
      this.current = null;
      this.nrDone++;
      wq.nrRunning--;
      if (wq.draining && wq.idleNow()) wq.draining = false;
      if (th.costNs >= budgetNs) return true;
    }
  }
}

/** struct workqueue_struct */
export class Workqueue {
  readonly worklist = new WorkList();
  readonly kworkers: Kworker[] = [];
  readonly idleWorkers: Kworker[] = [];
  /** works being executed (including blocked ones) */
  nrRunning = 0;
  destroyed = false;
  draining = false;
  private nextId = 0;
  constructor(
    readonly k: Kernel,
    readonly name: string,
    readonly flags: number,
    readonly maxActive: number,
    /** the kthread name: null = "kworker/uN:M" (unbound pool), else a fixed name (a kthread_worker) */
    private readonly threadName: string | null,
  ) {}

  /** nothing queued, nothing running */
  idleNow(): boolean {
    if (!this.worklist.empty || this.nrRunning > 0) return false;
    for (const kw of this.kworkers) if (!kw.scheduled.empty) return false;
    return true;
  }

  /** a kworker for new work: an idle one, or a new one while below max_active; null if all are busy */
  getWorker(): Kworker | null {
    const kw = this.idleWorkers.pop();
    if (kw !== undefined) return kw;
    if (this.kworkers.length >= this.maxActive) return null;
    const nw = new Kworker(this);
    const name = this.threadName ?? `kworker/u${2 * this.k.rt.ncpus}:${this.nextId++}`;
    const t = this.k.kthreadCreate(name, nw);
    if (typeof t === 'number') return null; // no new kworker: a busy one picks the work up later
    nw.task = t;
    this.kworkers.push(nw);
    return nw;
  }

  wake(kw: Kworker): void {
    kw.idle = false;
    this.k.wakeUpProcess(kw.task);
  }
}

/** alloc_workqueue(fmt, flags, max_active): max_active 0 means WQ_DFL_ACTIVE. */
export function allocWorkqueue(k: Kernel, name: string, flags: number, maxActive: number, threadName: string | null = null): Workqueue {
  if (!Number.isInteger(maxActive) || maxActive < 0) throw new KwqError('alloc_workqueue', `bad max_active ${maxActive}`);
  if (!(flags & WQ_UNBOUND) && threadName === null) {
    throw new KwqError('alloc_workqueue', 'only unbound workqueues (WQ_UNBOUND) and single-kthread queues are modelled');
  }
  return new Workqueue(k, name, flags, maxActive === 0 ? WQ_DFL_ACTIVE : maxActive, threadName);
}

/**
 * queue_work: false (nothing done) if the work is already pending; true once queued.
 * A work queued while it runs goes to its kworker's scheduled list (it runs there
 * again after the current execution: never concurrently with itself).
 */
export function queueWork(wq: Workqueue, work: WorkStruct): boolean {
  if (wq.destroyed) throw new KwqError('queue_work', `workqueue ${wq.name} was destroyed`);
  if (work.pending) return false; // test_and_set_bit(WORK_STRUCT_PENDING_BIT) was already set
  work.pending = true;
  __queueWork(wq, work);
  return true;
}

/**
 * __queue_work: the caller set PENDING (its test_and_set_bit returned 0, in
 * TypeScript above or in Wasm: loop_queue_work's LOOP_QW_QUEUE); put the work on
 * the worklist, or on the scheduled list of the kworker running it, and wake a kworker.
 */
export function __queueWork(wq: Workqueue, work: WorkStruct): void {
  if (wq.destroyed) throw new KwqError('__queue_work', `workqueue ${wq.name} was destroyed`);
  const k = wq.k;
  if (k.tp.workQueue.enabled) k.tp.workQueue.emit({ wq: wq.name, running: work.runner !== null });
  const runner = work.runner;
  if (runner !== null) {
    runner.scheduled.push(work);
    return;
  }
  wq.worklist.push(work);
  const kw = wq.getWorker();
  if (kw !== null) wq.wake(kw);
}

/** work_pending */
export function workPending(work: WorkStruct): boolean {
  return work.pending;
}

/** The kworker blocked in `work` may go on (its I/O completed). */
export function workResume(kw: Kworker): void {
  if (!kw.blocked) return;
  kw.blocked = false;
  kw.wq.k.wakeUpProcess(kw.task);
}

/**
 * destroy_workqueue: drain (run everything queued to completion), then stop the
 * kworkers. In sim from top-level code the simulation runs until drained; elsewhere
 * (inside the simulation) whatever is still queued is left to finish first and the
 * kworkers stop when idle. Returns true if it was drained.
 */
export function destroyWorkqueue(wq: Workqueue): boolean {
  const k = wq.k;
  wq.draining = true;
  const drained = k.waitFor(() => wq.idleNow());
  if (!drained) return false;
  wq.destroyed = true;
  for (const kw of wq.kworkers) if (kw.task.alive) k.kthreadStop(kw.task);
  wq.kworkers.length = 0;
  wq.idleWorkers.length = 0;
  return true;
}

/**
 * A schedulable thread of the runtime: what a kernel thread, a vhost worker or a
 * kworker is to the virtual CPUs. Its body is called when the thread gets a CPU:
 *
 *   body.run(th, budgetNs) -> more
 *
 * The body does up to `budgetNs` of work, adds the virtual CPU time it used to
 * `th.costNs` (a driver running works in batches adds the cost of the batch), and
 * returns `true` if it may have more to do (stay runnable: the kernel's "did work",
 * as vhost_task_fn loops while fn() returns true) or `false` to sleep until
 * woken (set_current_state(TASK_INTERRUPTIBLE); schedule()). A wake-up that arrives
 * while the body runs is remembered (`wakePending`), so returning false then does not
 * lose it: the same ordering set_current_state/wake_up_process gives in the kernel.
 *
 * No allocation per run: the result is the return value and a field.
 */
export interface ThreadBody {
  run(th: SimThread, budgetNs: number): boolean;
}

export const THREAD_SLEEPING = 0;
export const THREAD_RUNNABLE = 1;
export const THREAD_RUNNING = 2;
export const THREAD_DEAD = 3;
/** runnable but held off the run queue by CFS bandwidth (throttle_cfs_rq) until the hook unthrottles it */
export const THREAD_THROTTLED = 4;

export class SimThread {
  state = THREAD_SLEEPING;
  /** virtual ns used in the current run; the body adds to it */
  costNs = 0;
  /** a wake-up arrived while running */
  wakePending = false;
  /** total virtual CPU ns this thread has used */
  totalNs = 0;
  /** number of times it got a CPU */
  nrRuns = 0;
  /** intrusive run-queue link */
  rqNext: SimThread | null = null;
  constructor(
    readonly body: ThreadBody,
    /** the kernel Task this thread is (opaque to the runtime) */
    readonly owner: unknown,
    readonly id: number,
  ) {}
  get alive(): boolean {
    return this.state !== THREAD_DEAD;
  }
}

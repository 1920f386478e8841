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

/**
 * What PSI counts a thread as (kernel/sched/psi.c task flags, the cpu part): nothing
 * (sleeping or dead), TSK_RUNNING without TSK_ONCPU (queued or bandwidth-throttled), or
 * TSK_RUNNING | TSK_ONCPU (on a CPU). The runtime reports each change (sim.ts StallHook).
 */
export const PSI_IDLE = 0;
export const PSI_WAITING = 1;
export const PSI_ONCPU = 2;

/**
 * What the fair class (src/kernel/cgroup/cpu-weight.ts) keys a run-queue entry by: a
 * thread or a group's sched_entity, ordered by (vruntime, seq) in its parent's heap.
 */
export interface SchedEntity {
  /** se->vruntime: ns of CPU scaled by NICE_0_LOAD / weight */
  vruntime: number;
  /** enqueue order: equal vruntimes run first come, first served */
  seq: number;
  /** index in the parent run queue's heap; -1 when not queued */
  heapIdx: number;
}

export class SimThread implements SchedEntity {
  // Field order is layout order (V8 puts the fields in the object in the order they are
  // defined): what a wake-up, a slice and a PSI change read comes first, within the
  // object's first cache line or two; the fair class's sched_entity, used only while a
  // cgroup has a non-default weight, last. Issue 10: with a thousand threads taking
  // turns every slice starts with this object out of cache.
  state = THREAD_SLEEPING;
  /** virtual ns used in the current run; the body adds to it */
  costNs = 0;
  /** a wake-up arrived while running */
  wakePending = false;
  /** intrusive run-queue link (the FIFO run queue) */
  rqNext: SimThread | null = null;
  readonly body: ThreadBody;
  /** PSI_IDLE / PSI_WAITING / PSI_ONCPU as PSI last counted it (psi.ts) */
  psiState = PSI_IDLE;
  /** the group PSI counts it against (opaque: the PsiGroup of the task's cgroup then); while PSI_IDLE the last one, or null */
  psiGroup: unknown = null;
  /** PSI's cache of the task's current group (opaque; null: look it up), reset when the task moves */
  psiHome: unknown = null;
  /** the record of psiGroup in PSI's pool (src/kernel/cgroup/psi-pool.ts): a change goes there without reading the group; -1: none */
  psiSlot = -1;
  /** total virtual CPU ns this thread has used */
  totalNs = 0;
  /** number of times it got a CPU */
  nrRuns = 0;
  /**
   * The kernel's cpu accounting cache (opaque: the cpu stats of the task's cpu cgroup),
   * valid while acctEpoch is the kernel's cgroup epoch: a slice's charge reads this
   * object instead of its Task (issue 10: with a thousand threads taking turns, the
   * Task's lines were 3-4 of a slice's 6 cache misses)
   */
  acct: unknown = null;
  acctEpoch = -1;
  /** the kernel Task this thread is (opaque to the runtime) */
  readonly owner: unknown;
  readonly id: number;
  // ---- the fair class's sched_entity (used only while a cgroup has a non-default weight) ----
  vruntime = 0.5; // a double from the start (see DOUBLE_FIELD in sim.ts)
  seq = 0;
  heapIdx = -1;
  /** the group run queue this thread is accounted in while runnable or running (opaque), else null */
  seGroup: unknown = null;
  /** the group run queue its vruntime belongs to (the last seGroup) */
  seLast: unknown = null;
  constructor(body: ThreadBody, owner: unknown, id: number) {
    this.body = body;
    this.owner = owner;
    this.id = id;
    this.vruntime = 0;
  }
  get alive(): boolean {
    return this.state !== THREAD_DEAD;
  }
}

/**
 * The `sim` runtime: virtual time, `ncpus` virtual CPUs, one host thread,
 * deterministic.
 *
 *   event heap (clock.ts)          run queue                          CPUs
 *   timers, CPU-done events,   ->  SimThreads woken by wake_up   ->  cpu[i]: thread running
 *   callbacks, by (time, seq)      process: FIFO, or the fair         until time + cost
 *                                  class while weights are set
 *
 * A thread that gets a CPU runs its body at the current time; the body reports the
 * virtual CPU time it used (`th.costNs`) and the CPU stays busy for that long (a
 * CpuDone event, one preallocated per CPU). While the body runs, `nowNs()` is the
 * start time plus the cost used so far, so events a batch emits carry increasing
 * times. Then the thread goes back to the run queue (it said "more", or was woken
 * meanwhile) or sleeps.
 *
 * The run queue. While every cgroup has the default weight it is one global FIFO (the
 * hot path: no group is looked up). When a cgroup's cpu.weight, cpu.weight.nice or
 * cpu.idle makes its weight differ, the kernel installs its fair class (FairSched,
 * src/kernel/cgroup/cpu-weight.ts): a hierarchical weighted-fair queue, CFS's
 * (6.1) and EEVDF's (6.12) long-run answer. Each group is a sched_entity in its
 * parent's queue with vruntime += ns * NICE_0_LOAD / shares; a free CPU takes the entity
 * with the least vruntime at each level from the root down; threads of one group share
 * it equally (nice is not modelled); an entity that wakes is placed at its queue's
 * min_vruntime (place_entity), so sleeping banks no credit. Back to FIFO when no
 * weight differs any more (checked when one is written).
 *
 * Granularity: a thread keeps its CPU for its whole slice (up to `sliceNs`, 1 ms by
 * default; a body may overrun it) and is charged for it when the slice starts, so
 * shares hold over many slices, not inside one; there is no wake-up preemption (a
 * woken thread of a heavier group waits for the next free CPU), one queue spans every
 * CPU (no per-CPU runqueues, no load balancing), and a SCHED_IDLE group is only a
 * weight of 3.
 *
 * Other simplifications (also in docs): a body's effects are visible from the start of
 * its slice; other CPUs' events inside that slice are processed after it (causality is
 * kept per event, not per nanosecond). Deferrable timers fire on time while time passes,
 * but never keep the system busy: runUntilIdle() returns when only deferrable timers
 * remain.
 *
 * PSI: each change of what a thread counts as (waiting: queued or held by CFS bandwidth;
 * on a CPU; neither) goes to the kernel's stall hook (src/kernel/cgroup/psi.ts), as
 * psi_task_change is called from enqueue, dequeue and the context switch; the hook
 * updates the counts of the thread's cgroup and its ancestors (O(depth)) and folds their
 * stall time. The groups' count changes of one virtual time are summed and applied before
 * time moves on (psiFlush): stall accrues only while time passes, so that is exact, and
 * a thread put to sleep and woken and dispatched again at once costs its three count
 * changes and no fold.
 *
 * Determinism: no host time, no Math.random; the PRNG is seeded; events at equal
 * times fire in queueing order. No allocation per event or per slice.
 */
import { KwqError } from '../kernel/error.js';
import { CallbackEvent, EventHeap, SimEvent, TimerList } from './clock.js';
import type { Runtime, RuntimeOptions, RunHook, SleepHook } from './index.js';
import {
  PSI_IDLE, PSI_ONCPU, PSI_WAITING, SimThread, THREAD_DEAD, THREAD_RUNNABLE, THREAD_RUNNING, THREAD_SLEEPING, THREAD_THROTTLED,
  type ThreadBody,
} from './sim-thread.js';

/**
 * CFS bandwidth (kernel/sched/fair.c), as the kernel's cpu controller plugs it in
 * (src/kernel/cgroup/cpu-bandwidth.ts): before a thread gets a CPU the runtime asks how
 * much runtime its groups have left (the slice is cut to it); 0 means throttled, and
 * the hook keeps the thread (state THROTTLED, off the run queue) until it calls
 * unthrottle(). After the slice the hook is told what the thread used.
 */
export interface BandwidthHook {
  /** ns `th` may run now (Infinity: no limit); <= 0: throttled, the hook parked it */
  runtimeFor(th: SimThread, nowNs: number): number;
  /** `th` ran `ns` from `startNs` */
  charge(th: SimThread, ns: number, startNs: number): void;
}

/**
 * The fair class (src/kernel/cgroup/cpu-weight.ts): the run queue while some cgroup has
 * a non-default weight. The runtime tells it every change of a thread's place:
 *
 *   enqueue     runnable: woken, unthrottled, or back after a slice (a thread the class
 *               does not account yet is placed: place_entity)
 *   pickNext    the thread a free CPU runs, off the queue (still accounted: running)
 *   charge      the slice it ran (update_curr)
 *   dequeue     it sleeps, is throttled or dies; `queued` if it was still in the queue
 */
export interface FairSched {
  enqueue(th: SimThread): void;
  pickNext(): SimThread | null;
  charge(th: SimThread, ns: number): void;
  dequeue(th: SimThread, queued: boolean): void;
}

/**
 * PSI (src/kernel/cgroup/psi.ts, psi_task_change): `th` counts as `state` (PSI_IDLE,
 * PSI_WAITING or PSI_ONCPU, sim-thread.ts) from the time of the event being processed.
 * Told at each change (it may be the state the hook has already: nothing to do unless
 * the task moved cgroups); the hook sums each group's count changes and applies their
 * net at settle, which the runtime calls before time moves on. No allocation.
 */
export interface StallHook {
  /** takes the thread's new state at once and defers its groups' count changes until settle */
  taskChange(th: SimThread, state: number): void;
  /** after the taskChange calls at `now` (psiFlush: all of one time): apply what they deferred */
  settle(now: number): void;
}

/**
 * The kernel's side of the scheduler, registered once at import time (the runtime
 * never imports the kernel): `attach` when a runtime makes its first thread (the
 * owner is a kernel Task: the way to its kernel), `refresh` after a cgroup's weight
 * changed anywhere (install or drop `rt.fair`).
 */
export interface SchedSupport {
  attach(rt: SimRuntime, owner: unknown): void;
  refresh(rt: SimRuntime, owner: unknown): void;
}

let schedSupport: SchedSupport | null = null;
/** bumped by every cpu.weight / cpu.weight.nice / cpu.idle change (each runtime compares it at dispatch) */
let schedEpoch = 0;

export function registerSchedSupport(s: SchedSupport): void {
  schedSupport = s;
}

/** a cgroup's weight changed: every sim runtime re-checks its run queue before it next dispatches */
export function schedTunablesChanged(): void {
  schedEpoch++;
}

/**
 * V8 field representation: virtual ns pass the small-integer range (2^30 ns, about
 * 1.07 s) early in a run. A field that holds small integers until then changes
 * representation at that moment, which deprecates the map of every object of its
 * class (each is migrated on its next access) and throws away optimized code built
 * on the old map: a stall of the whole event loop at about 1 s of virtual time.
 * Fields that hold virtual ns therefore start as doubles: a double is stored first,
 * then the real initial value (the field stays a double; the value is the same).
 */
export const DOUBLE_FIELD = 0.5;

class CpuDone extends SimEvent {
  thread: SimThread | null = null;
  more = false;
  constructor(
    private readonly rt: SimRuntime,
    readonly cpu: number,
  ) {
    super();
    this.time = DOUBLE_FIELD; // virtual ns (see DOUBLE_FIELD)
    this.time = 0;
  }
  fire(): void {
    this.rt.cpuDone(this);
  }
}

/** sfc32 seeded through splitmix32: small, fast, good enough for a model. */
function makePrng(seed: number): () => number {
  let s = seed >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

export class SimRuntime implements Runtime {
  readonly kind = 'sim' as const;
  readonly hz: number;
  readonly tickNs: number;
  readonly ncpus: number;
  readonly sliceNs: number;
  onRun: RunHook | null = null;
  onSleep: SleepHook | null = null;
  /** CFS bandwidth enforcement; null while no cgroup has a cpu.max quota */
  bandwidth: BandwidthHook | null = null;
  /** the fair class; null: the FIFO run queue (every weight is the default). Set with setFairSched. */
  private fairSched: FairSched | null = null;
  /** PSI's stall accounting (set by the kernel's SchedSupport.attach) */
  stallHook: StallHook | null = null;
  /** PSI changes were told at the current time and not yet settled */
  private psiDirty = false;

  /** virtual ns (a double from the start: see DOUBLE_FIELD) */
  private now = DOUBLE_FIELD;
  private seq = 0;
  private readonly heap = new EventHeap();
  /** queued events that are not deferrable timers: the system is idle when 0 */
  private nrBusyEvents = 0;
  private readonly done: CpuDone[] = [];
  private nrIdleCpus: number;
  private rqHead: SimThread | null = null;
  private rqTail: SimThread | null = null;
  /** threads in the run queue (FIFO or fair) */
  private nrQueued = 0;
  private running: SimThread | null = null;
  private nextThreadId = 1;
  /** the first thread's owner (the kernel's way in for SchedSupport), null before one */
  private firstOwner: unknown = null;
  private seenSchedEpoch = 0;
  private depth = 0;
  /** events fired since boot (the event-rate figure) */
  eventsFired = 0;
  readonly random: () => number;

  constructor(opts: RuntimeOptions) {
    this.hz = opts.hz;
    this.tickNs = 1e9 / opts.hz;
    this.ncpus = opts.ncpus;
    this.sliceNs = opts.sliceNs;
    this.nrIdleCpus = opts.ncpus;
    this.now = 0;
    for (let i = 0; i < opts.ncpus; i++) this.done.push(new CpuDone(this, i));
    this.random = makePrng(opts.seed);
  }

  nowNs(): number {
    const r = this.running;
    return r === null ? this.now : this.now + r.costNs;
  }

  /** the time of the event being processed (nowNs() without a running body's cost): what PSI's stall runs up to */
  eventNs(): number {
    return this.now;
  }

  /** `th` counts as `state` for PSI from now on: its groups' counts change at the next psiFlush */
  private psiChange(th: SimThread, state: number): void {
    this.stallHook!.taskChange(th, state);
    this.psiDirty = true;
  }

  /** apply the PSI changes made at the current time (before time moves on; before a read of PSI) */
  psiFlush(): void {
    const h = this.stallHook;
    if (!this.psiDirty || h === null) return;
    this.psiDirty = false;
    h.settle(this.now);
  }

  jiffies(): number {
    return Math.floor(this.nowNs() / this.tickNs);
  }

  // ---- events and timers -------------------------------------------------------

  private queue(ev: SimEvent, time: number): void {
    ev.time = time;
    ev.seq = this.seq++;
    if (!ev.deferrable) this.nrBusyEvents++;
    this.heap.push(ev);
  }

  private dequeue(ev: SimEvent): boolean {
    if (!this.heap.remove(ev)) return false;
    if (!ev.deferrable) this.nrBusyEvents--;
    return true;
  }

  private timerTime(expires: number): number {
    // A timer already due fires at the next event processing (the next tick).
    return Math.max(expires * this.tickNs, this.nowNs());
  }

  addTimer(t: TimerList, expires: number): void {
    if (t.pending) throw new KwqError('add_timer', 'timer is already pending (use mod_timer)');
    t.expires = expires;
    this.queue(t, this.timerTime(expires));
  }

  modTimer(t: TimerList, expires: number): number {
    const was = this.dequeue(t) ? 1 : 0;
    t.expires = expires;
    this.queue(t, this.timerTime(expires));
    return was;
  }

  timerReduce(t: TimerList, expires: number): number {
    // timer_reduce: a pending timer only moves earlier (kernel/time/timer.c, MOD_TIMER_REDUCE).
    if (t.pending && expires >= t.expires) return 1;
    return this.modTimer(t, expires);
  }

  delTimer(t: TimerList): number {
    return this.dequeue(t) ? 1 : 0;
  }

  callAt(ns: number, fn: () => void): void {
    this.queue(new CallbackEvent(fn), Math.max(ns, this.nowNs()));
  }

  // ---- threads -----------------------------------------------------------------

  createThread(body: ThreadBody, owner: unknown): SimThread {
    const th = new SimThread(body, owner, this.nextThreadId++);
    if (this.firstOwner === null) {
      this.firstOwner = owner;
      this.seenSchedEpoch = schedEpoch;
      if (schedSupport !== null) schedSupport.attach(this, owner);
    }
    return th;
  }

  wakeUpProcess(th: SimThread): boolean {
    if (th.state === THREAD_SLEEPING) {
      th.state = THREAD_RUNNABLE;
      this.enqueue(th);
      if (this.stallHook !== null) this.psiChange(th, PSI_WAITING);
      return true;
    }
    if (th.state === THREAD_RUNNING) th.wakePending = true;
    return false;
  }

  killThread(th: SimThread): void {
    if (th.state === THREAD_RUNNABLE) this.unlink(th);
    else if (th.state === THREAD_RUNNING) {
      if (this.fairSched !== null) this.fairSched.dequeue(th, false);
    }
    // a THROTTLED thread stays in its group's parked list: unthrottle() skips it
    th.state = THREAD_DEAD;
    if (this.stallHook !== null) this.psiChange(th, PSI_IDLE);
  }

  /** unthrottle_cfs_rq for one thread: a THROTTLED thread goes back on the run queue */
  unthrottle(th: SimThread): void {
    if (th.state !== THREAD_THROTTLED) return;
    th.state = THREAD_RUNNABLE;
    this.enqueue(th);
    // still runnable off-CPU for PSI: nothing to tell unless its task moved cgroups while throttled
    if (this.stallHook !== null) this.psiChange(th, PSI_WAITING);
  }

  /** queue an event the caller owns (bandwidth period timers: no allocation per period) */
  queueEvent(ev: SimEvent, ns: number): void {
    if (ev.pending) this.dequeue(ev);
    this.queue(ev, Math.max(ns, this.nowNs()));
  }

  /**
   * Install the fair class (or null: back to FIFO). Queued threads move over in the
   * order the old queue would have run them; running ones join at their next enqueue.
   */
  setFairSched(f: FairSched | null): void {
    if (f === this.fairSched) return;
    const moved: SimThread[] = [];
    const old = this.fairSched;
    if (old === null) {
      for (let th = this.rqHead; th !== null; th = th.rqNext) moved.push(th);
      for (const th of moved) th.rqNext = null;
    } else {
      for (let th = old.pickNext(); th !== null; th = old.pickNext()) moved.push(th);
    }
    this.rqHead = this.rqTail = null;
    this.nrQueued = 0;
    this.fairSched = f;
    for (const th of moved) this.enqueue(th);
  }

  get fair(): FairSched | null {
    return this.fairSched;
  }

  private enqueue(th: SimThread): void {
    this.nrQueued++;
    if (this.fairSched !== null) {
      this.fairSched.enqueue(th);
      return;
    }
    th.rqNext = null;
    if (this.rqTail === null) this.rqHead = th;
    else this.rqTail.rqNext = th;
    this.rqTail = th;
  }

  private unlink(th: SimThread): void {
    if (this.fairSched !== null) {
      this.fairSched.dequeue(th, true);
      this.nrQueued--;
      return;
    }
    let prev: SimThread | null = null;
    for (let cur = this.rqHead; cur !== null; prev = cur, cur = cur.rqNext) {
      if (cur !== th) continue;
      if (prev === null) this.rqHead = cur.rqNext;
      else prev.rqNext = cur.rqNext;
      if (this.rqTail === cur) this.rqTail = prev;
      cur.rqNext = null;
      this.nrQueued--;
      return;
    }
  }

  /** cpu.weight & co. changed since this runtime last looked: let the kernel re-decide the run queue */
  private schedRefresh(): void {
    this.seenSchedEpoch = schedEpoch;
    if (this.firstOwner !== null && schedSupport !== null) schedSupport.refresh(this, this.firstOwner);
  }

  /** Give every idle CPU a runnable thread, at the current time. */
  private dispatch(): void {
    if (this.seenSchedEpoch !== schedEpoch) this.schedRefresh();
    while (this.nrIdleCpus > 0 && this.nrQueued > 0) {
      const fair = this.fairSched;
      let th: SimThread;
      if (fair === null) {
        th = this.rqHead!;
        this.rqHead = th.rqNext;
        if (this.rqHead === null) this.rqTail = null;
        th.rqNext = null;
      } else {
        th = fair.pickNext()!;
      }
      this.nrQueued--;
      let budget = this.sliceNs;
      const bw = this.bandwidth;
      if (bw !== null) {
        const avail = bw.runtimeFor(th, this.now);
        if (avail <= 0) {
          // throttle_cfs_rq: the hook parked it; PSI still counts it waiting (TSK_RUNNING)
          th.state = THREAD_THROTTLED;
          if (fair !== null) fair.dequeue(th, false);
          continue;
        }
        if (avail < budget) budget = avail;
      }
      let cpu = 0;
      while (this.done[cpu]!.thread !== null) cpu++;
      const ev = this.done[cpu]!;
      this.nrIdleCpus--;
      th.state = THREAD_RUNNING;
      th.costNs = 0;
      th.wakePending = false;
      if (this.stallHook !== null) this.psiChange(th, PSI_ONCPU);
      this.running = th;
      let more: boolean;
      try {
        more = th.body.run(th, budget);
      } finally {
        this.running = null;
      }
      const cost = th.costNs > 0 ? th.costNs : 0;
      th.totalNs += cost;
      th.nrRuns++;
      ev.thread = th;
      ev.more = more;
      if (bw !== null && cost > 0) bw.charge(th, cost, this.now);
      if (fair !== null && cost > 0 && th.state === THREAD_RUNNING) fair.charge(th, cost);
      this.queue(ev, this.now + cost);
      if (this.onRun !== null) this.onRun(th, this.now, cost, cpu);
    }
  }

  /** A CPU finished a slice: requeue the thread or let it sleep. */
  cpuDone(ev: CpuDone): void {
    const th = ev.thread!;
    ev.thread = null;
    this.nrIdleCpus++;
    if (th.state !== THREAD_RUNNING) return; // killed meanwhile
    if (ev.more || th.wakePending) {
      th.state = THREAD_RUNNABLE;
      this.enqueue(th);
      if (this.stallHook !== null) this.psiChange(th, PSI_WAITING);
    } else {
      th.state = THREAD_SLEEPING;
      if (this.fairSched !== null) this.fairSched.dequeue(th, false);
      if (this.stallHook !== null) this.psiChange(th, PSI_IDLE);
      if (this.onSleep !== null) this.onSleep(th);
    }
    th.wakePending = false;
  }

  // ---- running time --------------------------------------------------------------

  private enter(where: string): void {
    if (this.running !== null || this.depth > 0) {
      throw new KwqError(where, 'called from inside the simulation (a timer or a running thread); call it from top-level code');
    }
    this.depth++;
  }

  private fireNext(): void {
    const ev = this.heap.pop()!;
    if (!ev.deferrable) this.nrBusyEvents--;
    if (ev.time > this.now) {
      if (this.psiDirty) this.psiFlush();
      this.now = ev.time;
    }
    this.eventsFired++;
    ev.fire();
  }

  canBlock(): boolean {
    return this.running === null && this.depth === 0;
  }

  get idle(): boolean {
    return this.nrQueued === 0 && this.nrIdleCpus === this.ncpus && this.nrBusyEvents === 0;
  }

  advance(ns: number): void {
    if (!(ns >= 0) || !Number.isFinite(ns)) throw new KwqError('advance', `bad duration ${ns} ns: need a finite number >= 0`);
    this.enter('advance');
    try {
      const target = this.now + ns;
      for (;;) {
        this.dispatch();
        const ev = this.heap.peek();
        if (ev === undefined || ev.time > target) break;
        this.fireNext();
      }
      if (target > this.now) {
        if (this.psiDirty) this.psiFlush();
        this.now = target;
      }
      this.dispatch();
    } finally {
      this.depth--;
    }
  }

  runUntilIdle(maxEvents = 50_000_000): void {
    this.enter('runUntilIdle');
    try {
      for (let n = 0; ; n++) {
        this.dispatch();
        if (this.nrQueued === 0 && this.nrIdleCpus === this.ncpus && this.nrBusyEvents === 0) return;
        if (n >= maxEvents) {
          throw new KwqError('runUntilIdle', `still busy after ${maxEvents} events (a thread that never sleeps, or a periodic non-deferrable timer?)`);
        }
        this.fireNext();
      }
    } finally {
      this.depth--;
    }
  }

  runUntil(done: () => boolean, maxEvents = 50_000_000): boolean {
    if (done()) return true;
    this.enter('runUntil');
    try {
      for (let n = 0; n < maxEvents; n++) {
        this.dispatch();
        if (done()) return true;
        if (this.heap.size === 0) return false;
        if (this.nrQueued === 0 && this.nrIdleCpus === this.ncpus && this.nrBusyEvents === 0) return false;
        this.fireNext();
        if (done()) return true;
      }
      return false;
    } finally {
      this.depth--;
    }
  }

  sleep(ns: number): Promise<void> {
    this.advance(ns);
    return Promise.resolve();
  }

  shutdown(): void {
    /* nothing to stop: no host resources */
  }
}

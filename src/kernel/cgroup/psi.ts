/**
 * Pressure stall information for cpu (kernel/sched/psi.c, 6.1 and 6.12 alike here):
 * the "some" and "full" stall totals of each cgroup and their running averages, as
 * cpu.pressure prints them (psi_show). kwq spends no time in reclaim or waiting for
 * I/O, so io.pressure and memory.pressure stay 0.
 *
 * What stalls. A task of the group (or of a descendant: psi_task_change walks the
 * ancestors) runnable but not on a CPU (TSK_RUNNING without TSK_ONCPU): waiting in the
 * run queue behind other threads, or held by CFS bandwidth (a throttled task stays
 * TSK_RUNNING). Per CPU the kernel counts SOME while tasks[NR_RUNNING] > oncpu and FULL
 * while tasks[NR_RUNNING] && !oncpu (test_states), then averages the CPUs weighted by
 * their non-idle time (collect_percpu_times). The sim has one run queue for all CPUs,
 * so the model spreads a group's r runnable threads, o of them running, over
 * m = min(r, ncpus) CPUs as the load balancer would and takes the same average:
 *
 *   some rate = min(r - o, m) / m       (CPUs with a waiting thread of the group)
 *   full rate = (m - o) / m             (CPUs with its threads and none running)
 *
 * "full" at the root is printed as zeros: CPU FULL is undefined at the system level
 * (psi_show, both releases).
 *
 * Counting (psi_task_change -> psi_group_change). The sim runtime tells what a thread
 * counts as (sim.ts StallHook: woken or requeued = waiting, throttled stays waiting,
 * dispatched = on a CPU, asleep or dead = nothing) at each change. PsiTracker sums the
 * count changes of one virtual time per group, and before time moves on (settle, from
 * the runtime's psiFlush) takes each group whose net is not 0: first folds the stall
 * since the group's last fold at its current rates (record_times up to now; skipped
 * where the change leaves the rates as they were, PsiTracker.count), then changes its
 * waiting/oncpu counts and hands the net to its parent (the record's `up`), which is
 * taken the same way. The counts, the fold's times and the totals of each group that
 * has counted a thread are a 64-byte record in its kernel's pool (psi-pool.ts), so a
 * change touches one cache line of the group. So a thread put to sleep, woken and
 * dispatched again at one time folds nothing; each changed group and ancestor is
 * taken once per flush, no allocation, nothing done while time passes (the pass over
 * every queued and running thread at each event that this replaced cost O(threads):
 * issue 10's 1,000 vhost devices spent 67% of host time there). A read first takes the runtime's pending
 * changes and folds up to the current event time (the kernel's get_recent_times adds
 * the live state's time). The numbers are those of a pass at each event: a group's
 * counts are constant between two folds (the sums of stall at fractional rates round
 * differently, by far less than 1 ns, which moves a printed total by 1 us only where
 * it falls on a whole microsecond).
 *
 * Simplifications: the thread records the group it was counted against (SimThread.
 * psiGroup). A task that moves to another cgroup while queued or running stays counted
 * in the old one until its thread's next change, when it is uncounted there and
 * counted in the new one, unless the move calls psiMoveTask (cgroup_move_task moves
 * the counts at once). cgroup.pressure holds for a group from one fold to the next: a
 * write through psiSetEnabled folds there (exact); without it the new setting applies
 * from the group's next change (see psiSetEnabled).
 *
 * Averages (update_averages, calc_avgs): the avgs work runs every psi_period
 * (PSI_FREQ = 2 s + 1 jiffy) while the group has activity and stops when it has none;
 * each run folds the stall since the last one (capped at the period) into avg10,
 * avg60 and avg300 with calc_load (EXP_10s 1677, EXP_60s 1981, EXP_300s 2034 of
 * FIXED_1 2048), the periods it slept through decaying with calc_load_n(.., 0, n); a
 * read does the same when a period is due (psi_show). No timer: the work's runs are
 * computed when stall is added and on read. Model: the work is scheduled by stall
 * (the kernel: by any task change of the group) and runs again at each avg_next_update
 * while stall came in since its last run, and the 2 s grid starts at boot (the
 * kernel's at the cgroup's creation).
 */
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import type { SimRuntime, StallHook } from '../../runtime/sim.js';
import { PSI_IDLE, PSI_ONCPU, PSI_WAITING, THREAD_DEAD, type SimThread } from '../../runtime/sim-thread.js';
import type { Cgroup } from './cgroup.js';
import { PsiFlag, PsiPool, R32, R64 } from './psi-pool.js';

const FSHIFT = 11;
const FIXED_1 = 1 << FSHIFT;
const EXP_10S = 1677;
const EXP_60S = 1981;
const EXP_300S = 2034;
const EXPS = [EXP_10S, EXP_60S, EXP_300S] as const;

/** calc_load (include/linux/sched/loadavg.h): a1 = a0 * e + a * (1 - e), fixed point */
export function calcLoad(load: number, exp: number, active: number): number {
  let newload = load * exp + active * (FIXED_1 - exp);
  if (active >= load) newload += FIXED_1 - 1;
  return Math.floor(newload / FIXED_1);
}

/** fixed_power_int (kernel/sched/loadavg.c): x^n in fixed point, rounding each step */
function fixedPowerInt(x: number, n: number): number {
  let result = FIXED_1;
  if (n > 0) {
    for (;;) {
      if (n & 1) result = Math.floor((result * x + (FIXED_1 >> 1)) / FIXED_1);
      n = Math.floor(n / 2);
      if (n === 0) break;
      x = Math.floor((x * x + (FIXED_1 >> 1)) / FIXED_1);
    }
  }
  return result;
}

/** calc_load_n: n periods of `active` at once */
export function calcLoadN(load: number, exp: number, active: number, n: number): number {
  return calcLoad(load, fixedPowerInt(exp, n), active);
}

/** "%lu.%02lu" of LOAD_INT and LOAD_FRAC */
function loadText(x: number): string {
  const frac = Math.floor(((x & (FIXED_1 - 1)) * 100) / FIXED_1);
  return `${Math.floor(x / FIXED_1)}.${frac < 10 ? '0' : ''}${frac}`;
}

/** PsiGroup's cold virtual-ns values (the averages' state, once a period), indices into PsiGroup.avgNs */
const AVG_TOTAL_SOME = 0;
const AVG_TOTAL_FULL = 1;
const AVG_LAST_UPDATE = 2;
const AVG_NEXT_UPDATE = 3;
const NR_AVG_NS = 4;

/**
 * struct psi_group, the cpu part: the stall totals, the averages and the avgs work's
 * schedule. What each count change and fold touches (the counts, the deferred changes,
 * the fold time, the totals, the work's time, cgroup.pressure) is the group's record in
 * its tracker's pool (psi-pool.ts), from the group's first count on; this object keeps
 * the averages and is what the cgroup, cpu.pressure and the slow paths hold.
 */
export class PsiGroup {
  /** the tracker whose pool holds the group's record; null until the group counts its first thread */
  private tracker: PsiTracker | null = null;
  /** the record's index in the tracker's pool (-1: none) */
  slot = -1;
  /**
   * avg_total, avg_last_update, avg_next_update in virtual ns, unboxed side by side (as
   * object fields each double would be a HeapNumber of its own)
   */
  private readonly avgNs = new Float64Array(NR_AVG_NS);
  /** avg[PSI_CPU_SOME][3], avg[PSI_CPU_FULL][3]: fixed-point percentages */
  readonly avgSome = [0, 0, 0];
  readonly avgFull = [0, 0, 0];
  /** the runtime this group's stall is timed by (set the first time it stalls) */
  private rt: SimRuntime | null = null;
  /** cgroup.pressure while the group has no record (then the record's PsiFlag.SETTING) */
  private settingEarly = true;

  /** cgroup.pressure as written (Cgroup.psiEnabled); a fold takes it (psiSetEnabled folds at the write) */
  get setting(): boolean {
    const t = this.tracker;
    return t === null ? this.settingEarly : (t.pool.i32[(this.slot << 4) + R32.FLAGS]! & PsiFlag.SETTING) !== 0;
  }
  set setting(on: boolean) {
    if (this.tracker === null) this.settingEarly = on;
    else this.setFlag(PsiFlag.SETTING, on);
  }

  /** threads of the subtree runnable off-CPU: queued, or held by CFS bandwidth (tasks[NR_RUNNING] without TSK_ONCPU) */
  get waiting(): number {
    return this.i32(R32.WAITING);
  }
  /** threads of the subtree on a CPU */
  get oncpu(): number {
    return this.i32(R32.ONCPU);
  }
  /** total[PSI_AVGS][PSI_CPU_SOME / PSI_CPU_FULL] in ns */
  get someNs(): number {
    return this.tracker === null ? 0 : this.tracker.pool.f64[(this.slot << 3) + R64.SOME_NS]!;
  }
  get fullNs(): number {
    return this.tracker === null ? 0 : this.tracker.pool.f64[(this.slot << 3) + R64.FULL_NS]!;
  }

  private i32(field: number): number {
    return this.tracker === null ? 0 : this.tracker.pool.i32[(this.slot << 4) + field]!;
  }
  /** a record's f64 (attached groups only: the averages' paths) */
  private f64(field: number): number {
    return this.tracker!.pool.f64[(this.slot << 3) + field]!;
  }
  private setF64(field: number, v: number): void {
    this.tracker!.pool.f64[(this.slot << 3) + field] = v;
  }
  /** stall came in since the work last ran (it reschedules itself) */
  private get active(): boolean {
    return (this.i32(R32.FLAGS) & PsiFlag.ACTIVE) !== 0;
  }
  private set active(on: boolean) {
    this.setFlag(PsiFlag.ACTIVE, on);
  }
  /** a bit of the record's flags (attached groups only) */
  private setFlag(bit: PsiFlag, on: boolean): void {
    const a = this.tracker!.pool.i32;
    const i = (this.slot << 4) + R32.FLAGS;
    a[i] = on ? a[i]! | bit : a[i]! & ~bit;
  }
  /** when the avgs work runs next (Infinity: not scheduled) */
  private get workAt(): number {
    return this.f64(R64.WORK_AT);
  }
  private set workAt(v: number) {
    this.setF64(R64.WORK_AT, v);
  }
  /** avg_total: what the averages have taken of the totals */
  private get avgTotalSome(): number { return this.avgNs[AVG_TOTAL_SOME]!; }
  private set avgTotalSome(v: number) { this.avgNs[AVG_TOTAL_SOME] = v; }
  private get avgTotalFull(): number { return this.avgNs[AVG_TOTAL_FULL]!; }
  private set avgTotalFull(v: number) { this.avgNs[AVG_TOTAL_FULL] = v; }
  private get avgLastUpdate(): number { return this.avgNs[AVG_LAST_UPDATE]!; }
  private set avgLastUpdate(v: number) { this.avgNs[AVG_LAST_UPDATE] = v; }
  private get avgNextUpdate(): number { return this.avgNs[AVG_NEXT_UPDATE]!; }
  private set avgNextUpdate(v: number) { this.avgNs[AVG_NEXT_UPDATE] = v; }
  /** psi_init's psi_period = jiffies_to_nsecs(PSI_FREQ) of the runtime it is bound to (0 before) */
  private get period(): number {
    const rt = this.rt;
    return rt === null ? 0 : (2 * rt.hz + 1) * rt.tickNs;
  }

  /** the group starts counting (PsiTracker.attach, after its parent): a record in `tracker`'s pool */
  attach(cg: Cgroup, tracker: PsiTracker): void {
    const up = cg.parent === null ? -1 : cg.parent.cpuTg.psi.slot;
    this.slot = tracker.pool.alloc(up, this.settingEarly);
    this.tracker = tracker;
    tracker.groups[this.slot] = this;
  }

  get attached(): boolean {
    return this.tracker !== null;
  }

  /**
   * The cgroup was released (its last css reference dropped after rmdir): the record
   * goes back to the pool (PsiTracker.release: at once, or after the settle its last
   * changes wait for). Nothing counts there any more (rmdir needs it unpopulated, and a
   * task's thread is told PSI_IDLE at its death), and nothing reads it (a removed
   * cgroup's files are gone).
   */
  release(): void {
    this.tracker?.release(this);
  }

  /** the record was freed (PsiTracker.free): the group has none from now on */
  detach(): void {
    this.settingEarly = this.setting;
    this.tracker = null;
    this.slot = -1;
  }

  /** the runtime's pending changes, then fold up to the current event time (a read; cgroup.pressure written) */
  flush(): void {
    const t = this.tracker;
    if (t === null) return;
    t.rt.psiFlush();
    t.fold(this.slot, t.rt.eventNs());
  }

  /** psi_init's psi_period = jiffies_to_nsecs(PSI_FREQ), the grid from boot */
  bind(rt: SimRuntime): void {
    if (this.rt !== null) return;
    this.rt = rt;
    this.avgNextUpdate = this.period;
  }

  /** the work's runs due by `t` */
  private catchUp(t: number): void {
    while (this.workAt <= t) this.runWork(this.workAt);
  }

  /** psi_avgs_work at `w`: fold the samples if a period is due; run again while there is activity */
  private runWork(w: number): void {
    if (w >= this.avgNextUpdate) this.avgNextUpdate = this.updateAverages(w);
    if (this.active) {
      this.active = false;
      // schedule_delayed_work(dwork, nsecs_to_jiffies(avg_next_update - now) + 1)
      const tick = this.rt!.tickNs;
      this.workAt = w + (Math.floor((this.avgNextUpdate - w) / tick) + 1) * tick;
    } else this.workAt = Infinity;
  }

  /** update_averages at `now`: returns the next avg_next_update */
  private updateAverages(now: number): number {
    const period = this.period;
    const expires = this.avgNextUpdate;
    const missed = now - expires >= period ? Math.floor((now - expires) / period) : 0;
    const next = expires + (1 + missed) * period;
    const elapsed = now - (this.avgLastUpdate + missed * period);
    this.avgLastUpdate = now;
    let sample = Math.min(Math.floor(this.someNs - this.avgTotalSome), elapsed);
    this.avgTotalSome += sample;
    calcAvgs(this.avgSome, missed, sample, elapsed);
    sample = Math.min(Math.floor(this.fullNs - this.avgTotalFull), elapsed);
    this.avgTotalFull += sample;
    calcAvgs(this.avgFull, missed, sample, elapsed);
    return next;
  }

  /** `t1 - t0` ns of stall at these rates (0..1 of the time); the work runs that fall inside come in order */
  accrue(t0: number, t1: number, some: number, full: number): void {
    this.catchUp(t0);
    // a task change schedules the work PSI_FREQ later when none is pending (psi_group_change)
    if (this.workAt === Infinity) this.workAt = t0 + this.period;
    let t = t0;
    while (this.workAt <= t1) {
      const w = this.workAt;
      this.addStall((w - t) * some, (w - t) * full);
      this.active = true;
      this.runWork(w);
      t = w;
    }
    this.addStall((t1 - t) * some, (t1 - t) * full);
    if (t1 > t) this.active = true;
  }

  private addStall(some: number, full: number): void {
    this.setF64(R64.SOME_NS, this.f64(R64.SOME_NS) + some);
    this.setF64(R64.FULL_NS, this.f64(R64.FULL_NS) + full);
  }

  /** psi_show's update: the stall so far, the work's runs due by now, then update_averages if a period is due */
  private sync(): void {
    this.flush();
    const rt = this.rt;
    if (rt === null) return;
    const now = rt.nowNs();
    this.catchUp(now);
    if (now >= this.avgNextUpdate) this.avgNextUpdate = this.updateAverages(now);
  }

  /** cpu.pressure's text; `system`: the root cgroup (psi_system) prints no cpu "full" */
  showCpu(system: boolean): string {
    this.sync();
    const line = (name: string, avg: readonly number[] | null, ns: number): string =>
      `${name} avg10=${loadText(avg?.[0] ?? 0)} avg60=${loadText(avg?.[1] ?? 0)} avg300=${loadText(avg?.[2] ?? 0)} total=${Math.floor(ns / 1000)}\n`;
    return line('some', this.avgSome, this.someNs) + (system ? line('full', null, 0) : line('full', this.avgFull, this.fullNs));
  }
}

/** calc_avgs: missed periods decay with 0, then the sample as a whole percentage of the period */
function calcAvgs(avg: number[], missed: number, time: number, period: number): void {
  if (missed > 0) for (let i = 0; i < 3; i++) avg[i] = calcLoadN(avg[i]!, EXPS[i]!, 0, missed);
  const pct = Math.floor((time * 100) / period) * FIXED_1;
  for (let i = 0; i < 3; i++) avg[i] = calcLoad(avg[i]!, EXPS[i]!, pct);
}

/**
 * What a thread in PSI state `state` adds to its groups' waiting and on-CPU counts:
 * PSI_WAITING is 1 and PSI_ONCPU 2 (sim-thread.ts, checked below), so bit 0 and bit 1
 * (comparisons measured 3-4 % slower at 1,000 vhost devices: they are on every change)
 */
const waits = (state: number): number => state & 1;
const onCpu = (state: number): number => state >> 1;
if (waits(PSI_WAITING) !== 1 || onCpu(PSI_WAITING) !== 0 || waits(PSI_ONCPU) !== 0 || onCpu(PSI_ONCPU) !== 1 || waits(PSI_IDLE) + onCpu(PSI_IDLE) !== 0) {
  throw new Error('psi.ts: the PSI_* states are no longer bit-coded as waits/onCpu read them');
}

/**
 * The stall hook of one kernel's sim runtime: psi_task_change for one thread, the
 * ancestors of its cgroup folded and recounted (psi_group_change per group). It owns
 * the pool of its groups' records (psi-pool.ts); the hot paths below work on records
 * (`s`: a record's index) and touch a PsiGroup object only for the averages' work.
 */
export class PsiTracker implements StallHook {
  /** the records of this kernel's groups that have counted a thread */
  readonly pool = new PsiPool();
  /** record -> its group (the averages' work, once a period) */
  readonly groups: (PsiGroup | null)[] = [];
  /** records with deferred count changes (the first nrDirty), applied by settle() */
  private readonly dirty: number[] = [];
  private nrDirty = 0;
  /** released records that were dirty: freed at the end of the next settle (release); the group keeps its record until then */
  private readonly freeAfterSettle: number[] = [];
  private readonly ncpus: number;

  constructor(
    readonly rt: SimRuntime,
    /** the index of the default (v2) hierarchy in task.cgroups */
    private readonly dfl: number,
  ) {
    this.ncpus = rt.ncpus;
  }

  taskChange(th: SimThread, state: number): void {
    // The common case: the thread is counted in (or, asleep, was last counted in) the
    // group of its task's cgroup, which has not moved since (psiHome is reset by a
    // move); a dead task's thread is only told PSI_IDLE (killThread, before exit marks
    // the task dead; the thread's state says the same as task.alive without touching
    // the Task). The objects are compared, not read: the change goes to the record
    // whose index the thread keeps (th.psiSlot). Kept this short on purpose: V8 inlines
    // it into dispatch, cpuDone and wakeUpProcess, and a longer one took the inlining
    // budget of what dispatch calls next (a slice's cpu charge, the worker's has-work
    // check; --trace-turbo-inlining).
    const home = th.psiHome;
    if (home === null || home !== th.psiGroup || (state !== PSI_IDLE && th.state === THREAD_DEAD)) {
      this.recount(th, state);
      return;
    }
    const from = th.psiState;
    if (state === from) return;
    th.psiState = state;
    this.defer(th.psiSlot, waits(state) - waits(from), onCpu(state) - onCpu(from));
  }

  /**
   * taskChange's other cases (a function of their own, so that taskChange is small
   * enough for V8 to inline into the runtime's call sites): a first count, a count after
   * the task moved (cgroup_move_task's part, late), or a dead task's thread (it counts
   * nowhere)
   */
  private recount(th: SimThread, state: number): void {
    const from = th.psiState;
    const old = th.psiGroup as PsiGroup | null;
    if (state !== PSI_IDLE && !th.alive) state = PSI_IDLE;
    let cur = th.psiHome as PsiGroup | null;
    if (state !== PSI_IDLE && cur === null) {
      // th.psiHome caches task_dfl_cgroup's group: the walk task -> css_set -> cgroup ->
      // group touched three objects per change (with a thousand processes, three cache
      // misses); a v2 move resets it (psiMoveTask, from cgroup_move_task)
      const cg = (th.owner as Task).cgroups[this.dfl]!;
      cur = cg.cpuTg.psi;
      if (!cur.attached) this.attach(cg);
      th.psiHome = cur;
    }
    if (old !== null && from !== PSI_IDLE) this.defer(th.psiSlot, -waits(from), -onCpu(from));
    if (cur !== null && state !== PSI_IDLE) this.defer(cur.slot, waits(state), onCpu(state));
    th.psiState = state;
    // asleep, the thread keeps its group as a hint for the next change: the common case
    // above when its task has not moved meanwhile (a dead task's: its last group, unused)
    if (cur !== null) {
      th.psiGroup = cur;
      th.psiSlot = cur.slot;
    }
  }

  /**
   * `g`'s cgroup was released: its record is freed at once, unless changes of the current time
   * wait in it for settle (a task of the cgroup died just before the rmdir): then after
   * that settle, which hands them up as if the cgroup were still there. A flush here
   * instead would add a settle point inside one time: the parents folded twice and
   * their stall summed as two products, a printed total 1 us off.
   */
  release(g: PsiGroup): void {
    if (this.pool.i32[(g.slot << 4) + R32.DIRTY] !== 0) this.freeAfterSettle.push(g.slot);
    else this.free(g);
  }

  /** `g`'s record back to the pool, `g` without one */
  private free(g: PsiGroup): void {
    this.groups[g.slot] = null;
    this.pool.free(g.slot);
    g.detach();
  }

  /** `cg`'s group starts counting, after its ancestors (a record's `up` is its parent's record) */
  private attach(cg: Cgroup): void {
    if (cg.parent !== null && !cg.parent.cpuTg.psi.attached) this.attach(cg.parent);
    cg.cpuTg.psi.attach(cg, this);
  }

  /** record `s`'s counts change by these at the next settle() (and its ancestors') */
  private defer(s: number, dw: number, don: number): void {
    const a = this.pool.i32;
    const i = s << 4;
    a[i + R32.D_WAITING] += dw;
    a[i + R32.D_ONCPU] += don;
    if (a[i + R32.DIRTY] === 0) {
      a[i + R32.DIRTY] = 1;
      this.dirty[this.nrDirty++] = s;
    }
  }

  /**
   * The deferred count changes (taskChange), each group's net: fold at `now` and count
   * (count), then hand the net to the parent (deferred there, so that a parent is
   * folded once a flush however many of its children changed: O(changed groups and
   * their ancestors), not O(changed groups x depth)). A group whose net is 0 is skipped.
   * A parent already settled in this flush is listed again; its second fold adds
   * nothing, as its first used the counts from before this time's changes (exact, as the
   * kernel's walks that fold it once per change). Where count skipped the first fold,
   * the first change left the rates as they were, so a second fold over the interval at
   * the counts after it adds the same stall.
   */
  settle(now: number): void {
    const q = this.dirty;
    const a = this.pool.i32; // no record is allocated while settling
    for (let k = 0; k < this.nrDirty; k++) {
      const s = q[k]!;
      const i = s << 4;
      a[i + R32.DIRTY] = 0;
      const dw = a[i + R32.D_WAITING]!;
      const don = a[i + R32.D_ONCPU]!;
      if (dw === 0 && don === 0) continue; // no net change: its rates hold, the fold can wait
      a[i + R32.D_WAITING] = 0;
      a[i + R32.D_ONCPU] = 0;
      this.count(s, now, dw, don);
      const up = a[i + R32.UP]!;
      if (up >= 0) this.defer(up, dw, don);
    }
    this.nrDirty = 0;
    if (this.freeAfterSettle.length !== 0) {
      for (const r of this.freeAfterSettle) this.free(this.groups[r]!);
      this.freeAfterSettle.length = 0;
    }
  }

  /**
   * Record `s`'s counts change by these at `now` (settle): fold first, unless the
   * stall rates hold across the change. They do when the count on CPUs holds and the
   * waiting threads fill every CPU before and after (some = 1, full = (ncpus - oncpu) /
   * ncpus): a thousand workers queued behind two CPUs, one dispatched in place of
   * another. The stall then runs on from the last fold at the same rates, and the next
   * fold adds it (the avgs work's runs inside come in order, as in accrue). Nor is
   * there anything to fold while no thread waits before and after (a worker alone in
   * its group goes to sleep): a fold adds stall only for time with a waiting thread, and
   * the change that makes one wait folds first. A new cgroup.pressure setting waits
   * for a fold (psiSetEnabled folds at once).
   */
  private count(s: number, now: number, dw: number, don: number): void {
    const a = this.pool.i32;
    const i = s << 4;
    const w = a[i + R32.WAITING]!;
    const n = this.ncpus;
    const flags = a[i + R32.FLAGS]!;
    // PsiFlag.ENABLED is PsiFlag.SETTING << 1 (checked at load): the two differ
    const newSetting = ((flags >> 1) ^ flags) & PsiFlag.SETTING;
    const rates = don !== 0 || w < n || w + dw < n || newSetting !== 0;
    if (rates && (w !== 0 || dw !== 0)) this.fold(s, now);
    a[i + R32.WAITING] = w + dw;
    a[i + R32.ONCPU] += don;
  }

  /**
   * record_times before a change: the stall from the last fold to `now` at the current
   * counts. With cgroup.pressure 0 the group records no stall time (psi_group_change,
   * !group->enabled): the setting is the one the interval started with (psiSetEnabled
   * folds at the write). No stall, no call: the avgs work is not scheduled by idle groups.
   */
  fold(s: number, now: number): void {
    const a = this.pool.i32;
    const f = this.pool.f64;
    const i = s << 4;
    const d = s << 3;
    const w = a[i + R32.WAITING]!;
    const t0 = f[d + R64.FOLDED_AT]!;
    if (w > 0 && now > t0 && (a[i + R32.FLAGS]! & PsiFlag.ENABLED) !== 0) {
      const o = a[i + R32.ONCPU]!;
      const m = Math.min(w + o, this.ncpus);
      const some = Math.min(w, m) / m;
      const full = (m - Math.min(o, m)) / m;
      const workAt = f[d + R64.WORK_AT]!;
      if (workAt > now && workAt !== Infinity) {
        // accrue's common case, inline: bound (a work is scheduled), no work run falls inside
        f[d + R64.SOME_NS] += (now - t0) * some;
        f[d + R64.FULL_NS] += (now - t0) * full;
        a[i + R32.FLAGS] |= PsiFlag.ACTIVE;
      } else {
        const g = this.groups[s]!;
        g.bind(this.rt);
        g.accrue(t0, now, some, full);
      }
    }
    f[d + R64.FOLDED_AT] = now;
    // enabled = setting: the interval from now runs at the setting of now
    const flags = a[i + R32.FLAGS]!;
    a[i + R32.FLAGS] = (flags & ~PsiFlag.ENABLED) | ((flags & PsiFlag.SETTING) << 1);
  }
}
if (PsiFlag.ENABLED !== PsiFlag.SETTING << 1) throw new Error('psi.ts: PsiFlag.ENABLED must be PsiFlag.SETTING << 1 (PsiTracker.count, fold)');

/**
 * cgroup_pressure_write's effect (psi_cgroup_restart): the stall so far is kept or
 * dropped by the old setting, the time from now by the new one. Without this call a
 * group applies a new setting from its next change: a disable keeps the time up to that
 * change, as psi_group_change concludes the state on its first call after it, and an
 * enable drops it (the kernel restarts the clock at the write).
 */
export function psiSetEnabled(cg: Cgroup, on: boolean): void {
  const p = cg.cpuTg.psi;
  p.flush();
  cg.psiEnabled = on; // p.setting
  p.flush(); // no time has passed: only takes the new setting
}

/**
 * cgroup_move_task's PSI part (psi.c, called from css_set_move_task): the counts of a
 * queued or running thread follow its task to `task.cgroups` at once. Without this
 * call they follow at the thread's next change (see the header).
 */
export function psiMoveTask(k: Kernel, task: Task): void {
  const th = task.thread;
  if (th === null || k.rt.kind !== 'sim') return;
  const rt = k.rt as SimRuntime;
  rt.psiFlush();
  th.psiHome = null; // the task's group changed
  const h = rt.stallHook;
  if (th.psiState !== PSI_IDLE && h !== null) {
    h.taskChange(th, th.psiState);
    h.settle(rt.eventNs());
  }
}

/** SchedSupport.attach: PSI for a kernel's sim runtime (cgroup v2: PSI lives on the default hierarchy) */
export function attachPsi(rt: SimRuntime, k: Kernel): void {
  const dfl = k.cgroupRoots.findIndex((r) => r.v2);
  if (dfl < 0 || rt.stallHook !== null) return;
  rt.stallHook = new PsiTracker(rt, dfl);
}

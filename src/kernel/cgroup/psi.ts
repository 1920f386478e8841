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
 * The sim calls stall(t0, t1) only when time passes with a thread waiting (sim.ts
 * passTime), so nothing is done per event otherwise. "full" at the root is printed as
 * zeros: CPU FULL is undefined at the system level (psi_show, both releases).
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
import type { SimRuntime, StallHook, ThreadVisitor } from '../../runtime/sim.js';
import type { SimThread } from '../../runtime/sim-thread.js';
import type { Cgroup } from './cgroup.js';

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

/** struct psi_group, the cpu part: the stall totals, the averages and the avgs work's schedule */
export class PsiGroup {
  /** total[PSI_AVGS][PSI_CPU_SOME / PSI_CPU_FULL] in ns */
  someNs = 0.5; // virtual ns: doubles from the start (sim.ts DOUBLE_FIELD)
  fullNs = 0.5;
  /** avg_total: what the averages have taken of the totals */
  private avgTotalSome = 0.5;
  private avgTotalFull = 0.5;
  /** avg[PSI_CPU_SOME][3], avg[PSI_CPU_FULL][3]: fixed-point percentages */
  readonly avgSome = [0, 0, 0];
  readonly avgFull = [0, 0, 0];
  private avgLastUpdate = 0.5;
  private avgNextUpdate = 0.5;
  /** when the avgs work runs next; Infinity: not scheduled */
  private workAt = Infinity;
  /** stall came in since the work last ran (it reschedules itself) */
  private active = false;
  /** the runtime this group's stall is timed by (set the first time it stalls) */
  private rt: SimRuntime | null = null;
  private period = 0.5;
  // ---- one stall pass (PsiTracker) ----
  pass = 0;
  waiting = 0;
  oncpu = 0;

  constructor() {
    this.someNs = this.fullNs = this.avgTotalSome = this.avgTotalFull = 0;
    this.avgLastUpdate = this.avgNextUpdate = this.period = 0;
  }

  /** psi_init's psi_period = jiffies_to_nsecs(PSI_FREQ), the grid from boot */
  bind(rt: SimRuntime): void {
    if (this.rt !== null) return;
    this.rt = rt;
    this.period = (2 * rt.hz + 1) * rt.tickNs;
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
      this.someNs += (w - t) * some;
      this.fullNs += (w - t) * full;
      this.active = true;
      this.runWork(w);
      t = w;
    }
    this.someNs += (t1 - t) * some;
    this.fullNs += (t1 - t) * full;
    if (t1 > t) this.active = true;
  }

  /** psi_show's update: the work's runs due by now, then update_averages if a period is due */
  private sync(): void {
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

/** The stall hook of one kernel's sim runtime: one pass over the waiting and running threads. */
class PsiTracker implements StallHook, ThreadVisitor {
  private pass = 0;
  private readonly touched: Cgroup[] = [];

  constructor(
    private readonly rt: SimRuntime,
    /** the index of the default (v2) hierarchy in task.cgroups */
    private readonly dfl: number,
  ) {}

  /** task_dfl_cgroup of the thread's task, or null (a dead task) */
  private cgroupOf(th: SimThread): Cgroup | null {
    const task = th.owner as Task;
    return task.alive ? task.cgroups[this.dfl]! : null;
  }

  waiting(th: SimThread): void {
    for (let c = this.cgroupOf(th); c !== null; c = c.parent) {
      const p = c.cpuTg.psi;
      if (p.pass !== this.pass) {
        p.pass = this.pass;
        p.waiting = 0;
        p.oncpu = 0;
        this.touched.push(c);
      }
      p.waiting++;
    }
  }

  running(th: SimThread): void {
    for (let c = this.cgroupOf(th); c !== null; c = c.parent) {
      const p = c.cpuTg.psi;
      if (p.pass === this.pass) p.oncpu++;
    }
  }

  stall(t0: number, t1: number): void {
    this.pass++;
    const touched = this.touched;
    touched.length = 0;
    this.rt.visitThreads(this);
    const ncpus = this.rt.ncpus;
    for (let i = 0; i < touched.length; i++) {
      const c = touched[i]!;
      // cgroup.pressure 0: the group records no stall time (psi_group_change, !group->enabled)
      if (!c.psiEnabled) continue;
      const p = c.cpuTg.psi;
      const m = Math.min(p.waiting + p.oncpu, ncpus);
      p.bind(this.rt);
      p.accrue(t0, t1, Math.min(p.waiting, m) / m, (m - Math.min(p.oncpu, m)) / m);
    }
  }
}

/** SchedSupport.attach: PSI for a kernel's sim runtime (cgroup v2: PSI lives on the default hierarchy) */
export function attachPsi(rt: SimRuntime, k: Kernel): void {
  const dfl = k.cgroupRoots.findIndex((r) => r.v2);
  if (dfl < 0 || rt.stallHook !== null) return;
  rt.stallHook = new PsiTracker(rt, dfl);
}

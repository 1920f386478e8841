/**
 * CFS bandwidth control in the sim runtime (kernel/sched/fair.c, 6.1 and 6.12 alike in
 * what is modelled): cpu.max's quota caps the CPU time every task of the cgroup gets
 * per period, kthreads and user workers included (a throttled vhost worker drains
 * nothing until the next period), and a child's runtime is within each ancestor's.
 *
 *   runtimeFor (before a slice)  account_cfs_rq_runtime/assign_cfs_rq_runtime: the
 *                                slice is cut to the smallest runtime left on the path
 *                                to the root; a throttled group on the path parks the
 *                                thread (throttle_cfs_rq); handing runtime out clears
 *                                cfs_b->idle and starts the period timer
 *   charge (after a slice)       __account_cfs_rq_runtime: the pool pays, the excess is
 *                                debt (a negative runtime_remaining); pool exhausted =>
 *                                the group is throttled from the end of the slice
 *   period timer                 do_sched_cfs_period_timer: nr_periods++, refill
 *                                (__refill_cfs_bandwidth_runtime: pool += quota, capped
 *                                at quota + burst; usage past the quota counts nr_bursts
 *                                and burst_usec), a throttled group counts nr_throttled
 *                                and is unthrottled once the refill pays its debt
 *                                (distribute_cfs_runtime); an idle period and no
 *                                throttling stop the timer (period_active = 0)
 *   unthrottle                   throttled_usec += now - throttled_clock; cpu.stat.local
 *                                throttled_usec of the group and its descendants (the
 *                                time they were throttled by it, tg_unthrottle_up); the
 *                                parked threads go back on the run queue (while parked
 *                                they are runnable off-CPU: PSI's cpu stall, psi.ts)
 *
 * The timer's expiries are multiples of the period from boot (hrtimer_forward_now on
 * a timer that starts at 0). Model: one cfs_rq per group (Linux has one per CPU, each
 * taking 5 ms slices from the pool, and sums throttled time over them: with N CPUs
 * throttled at once Linux's throttled_usec grows up to N times as fast); a thread
 * parked by a group stays parked until that group unthrottles, even if its task moved
 * meanwhile. The threads runtime runs real threads: it accounts usage but enforces
 * nothing (docs/divergences.md).
 */
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import { SimEvent } from '../../runtime/clock.js';
import { DOUBLE_FIELD, type SimRuntime, type BandwidthHook } from '../../runtime/sim.js';
import type { SimThread } from '../../runtime/sim-thread.js';
import type { Cgroup } from './cgroup.js';
import type { CpuCgroup } from './cpu.js';

class PeriodTimer extends SimEvent {
  constructor(
    private readonly bw: CfsBandwidth,
    readonly cg: Cgroup,
  ) {
    super();
    this.time = DOUBLE_FIELD; // expiries are virtual ns, past 2^30 after 1 s (see DOUBLE_FIELD)
    this.time = 0;
  }
  fire(): void {
    this.bw.periodTimerFire(this);
  }
}

/** The bandwidth hook of one kernel's sim runtime. */
class CfsBandwidth implements BandwidthHook {
  constructor(
    private readonly k: Kernel,
    private readonly rt: SimRuntime,
  ) {}

  /** the task's cpu cgroup, or null (dead task, no cpu controller) */
  private groupOf(th: SimThread): Cgroup | null {
    const task = th.owner as Task;
    if (!task.alive) return null;
    return this.k.cgroupOf(task, 'cpu');
  }

  runtimeFor(th: SimThread, now: number): number {
    let budget = Infinity;
    for (let c = this.groupOf(th); c !== null; c = c.parent) {
      const tg = c.cpuTg;
      if (tg.quotaNs === Infinity) continue;
      if (!tg.periodActive) this.startPeriod(c, now);
      // __assign_cfs_rq_runtime hands runtime out: the period is not idle
      tg.bwIdle = false;
      if (!tg.throttled && tg.pool - tg.debt <= 0) this.throttle(tg, now);
      if (tg.throttled) {
        tg.parked.push(th);
        return 0;
      }
      const avail = tg.pool - tg.debt;
      if (avail < budget) budget = avail;
    }
    return budget;
  }

  charge(th: SimThread, ns: number, start: number): void {
    for (let c = this.groupOf(th); c !== null; c = c.parent) {
      const tg = c.cpuTg;
      if (tg.quotaNs === Infinity) continue;
      if (tg.pool >= ns) tg.pool -= ns;
      else {
        tg.debt += ns - tg.pool;
        tg.pool = 0;
      }
      if (!tg.throttled && tg.pool - tg.debt <= 0) this.throttle(tg, start + ns);
    }
  }

  /** throttle_cfs_rq */
  private throttle(tg: CpuCgroup, at: number): void {
    tg.throttled = true;
    tg.throttledAt = at;
  }

  /** unthrottle_cfs_rq: the stall times, then the parked threads run again */
  unthrottle(c: Cgroup, now: number): void {
    const tg = c.cpuTg;
    if (!tg.throttled) return;
    tg.throttled = false;
    const d = Math.max(0, now - tg.throttledAt);
    tg.throttledNs += d;
    // tg_unthrottle_up: every cfs_rq below was throttled with it (cpu.stat.local)
    if (c.children.size === 0) tg.throttledSelfNs += d;
    else for (const x of c.subtree()) if (x.hasCss('cpu')) x.cpuTg.throttledSelfNs += d;
    const parked = tg.parked;
    for (let i = 0; i < parked.length; i++) this.rt.unthrottle(parked[i] as SimThread);
    parked.length = 0;
  }

  /** start_cfs_bandwidth: the timer's next expiry, a multiple of the period from boot */
  private startPeriod(c: Cgroup, now: number): void {
    const tg = c.cpuTg;
    tg.periodActive = true;
    let t = tg.periodTimer as PeriodTimer | null;
    if (t === null) tg.periodTimer = t = new PeriodTimer(this, c);
    const period = Number(tg.period);
    this.rt.queueEvent(t, (Math.floor(now / period) + 1) * period);
  }

  /** do_sched_cfs_period_timer for one period */
  periodTimerFire(t: PeriodTimer): void {
    const c = t.cg;
    const tg = c.cpuTg;
    const now = t.time;
    if (tg.quotaNs === Infinity) {
      tg.periodActive = false;
      this.unthrottle(c, now);
      return;
    }
    const throttled = tg.throttled;
    tg.nrPeriods++;
    refill(tg);
    if (tg.bwIdle && !throttled) {
      tg.periodActive = false;
      return;
    }
    if (!throttled) {
      tg.bwIdle = true;
    } else {
      tg.nrThrottled++;
      // distribute_cfs_runtime: the pool pays the debt; paid off => unthrottled
      const pay = Math.min(tg.pool, tg.debt);
      tg.pool -= pay;
      tg.debt -= pay;
      if (tg.pool > 0) this.unthrottle(c, now);
      tg.bwIdle = false;
    }
    this.rt.queueEvent(t, now + Number(tg.period));
  }

  /** tg_set_cfs_bandwidth's runtime part: refill, runtime_remaining = 0, unthrottle, restart the timer */
  changed(c: Cgroup): void {
    const tg = c.cpuTg;
    refill(tg);
    tg.debt = 0;
    const now = this.rt.nowNs();
    this.unthrottle(c, now);
    if (tg.quotaNs !== Infinity && !tg.periodActive) this.startPeriod(c, now);
  }
}

/** __refill_cfs_bandwidth_runtime */
function refill(tg: CpuCgroup): void {
  if (tg.quotaNs === Infinity) return;
  tg.pool += tg.quotaNs;
  const overrun = tg.poolSnap - tg.pool;
  if (overrun > 0) {
    tg.burstNs += overrun;
    tg.nrBursts++;
  }
  tg.pool = Math.min(tg.pool, tg.quotaNs + Number(tg.burst));
  tg.poolSnap = tg.pool;
}

const hooks = new WeakMap<Kernel, CfsBandwidth>();

/**
 * cpu.max or cpu.max.burst of `cg` was written: install the sim runtime's bandwidth
 * hook on first use and apply the new values (the threads runtime enforces nothing).
 */
export function cfsBandwidthChanged(k: Kernel, cg: Cgroup): void {
  if (k.rt.kind !== 'sim') return;
  let bw = hooks.get(k);
  if (bw === undefined) {
    const rt = k.rt as SimRuntime;
    bw = new CfsBandwidth(k, rt);
    hooks.set(k, bw);
    rt.bandwidth = bw;
  }
  bw.changed(cg);
}

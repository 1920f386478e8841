/**
 * The cpu controller's v2 interface files (kernel/sched/core.c cpu_files[]: cpu.weight,
 * cpu.weight.nice, cpu.idle, cpu.max, cpu.max.burst; cpu_extra_stat_show for cpu.stat,
 * cpu_local_stat_show for cpu.stat.local). Every number is kept as the kernel keeps it
 * (task_group shares, cfs_bandwidth quota/period/burst in ns, u64 arithmetic with
 * wrap-around in BigInt), so a read prints what Linux prints; the oracle's cpu-max
 * script pins the parsing (sscanf "%20s %llu" wrapping modulo 2^64 included).
 *
 *   cpu.max        "$MAX $PERIOD": cpu_period_quota_parse then tg_set_cfs_bandwidth;
 *                  one field keeps the period; a period that does not convert stays
 *                  ("max -5" is accepted); quota/period >= 1 ms, period <= 1 s,
 *                  quota <= max_cfs_runtime ((2^44 - 1) us), burst <= quota; -EINVAL
 *   cpu.max.burst  write_u64 (kstrtoull base 0), then tg_set_cfs_bandwidth with the
 *                  burst: > U64_MAX / 1000 or (with a quota) > quota: -EINVAL
 *   cpu.weight     write_u64: 1..10000 else -ERANGE; shares = round(w * 1024 / 100),
 *                  clamped to [MIN_SHARES, MAX_SHARES]; -EINVAL in an idle group;
 *                  read round(shares * 100 / 1024), clamped to 1..10000 since 6.12
 *                  (release feature cpu_weight_read_clamped: an idle group reads 0
 *                  on 6.1, 1 on 6.12)
 *   cpu.weight.nice write_s64: -20..19 else -ERANGE; shares = sched_prio_to_weight;
 *                  read the closest nice to the shares
 *   cpu.idle       write_s64: 0/1 else -EINVAL; idle sets shares to WEIGHT_IDLEPRIO
 *                  (3), leaving it NICE_0_LOAD (1024): the weight before is lost
 *
 * The stat counters (nr_periods, nr_throttled, throttled_usec, nr_bursts, burst_usec)
 * are kept here and moved by the sim runtime's bandwidth enforcement (cpu-bandwidth.ts:
 * the period timer, throttle and unthrottle). The weights are applied by the sim
 * runtime's fair class (cpu-weight.ts), told of every change (schedTunablesChanged).
 * Every cgroup's PSI group (psi.ts) hangs here too: it exists with or without the cpu
 * controller, as cgroup->psi does.
 */
import { EINVAL, ERANGE } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { schedTunablesChanged } from '../../runtime/sim.js';
import { kstrtoll, kstrtoull, scanString, scanU64, U64_MAX } from './kstrto.js';
import { PsiGroup } from './psi.js';
import './cpu-weight.js'; // registers the fair class and PSI with the sim runtime

const NSEC_PER_USEC = 1000n;
/** RUNTIME_INF: (u64)~0ULL */
const RUNTIME_INF = U64_MAX;
const MIN_CFS_QUOTA_PERIOD = 1_000_000n; // 1 ms
const MAX_CFS_QUOTA_PERIOD = 1_000_000_000n; // 1 s
/** max_cfs_runtime = MAX_BW * NSEC_PER_USEC, MAX_BW = 2^(64 - BW_SHIFT) - 1, BW_SHIFT 20 */
const MAX_CFS_RUNTIME = ((1n << 44n) - 1n) * NSEC_PER_USEC;
const DEFAULT_CFS_PERIOD = 100_000_000n; // 100 ms
const CGROUP_WEIGHT_MIN = 1n;
const CGROUP_WEIGHT_DFL = 100n;
const CGROUP_WEIGHT_MAX = 10_000n;
const MIN_SHARES = 2n;
const MAX_SHARES = 1n << 18n;
const NICE_0_LOAD = 1024n;
const WEIGHT_IDLEPRIO = 3n;

/** sched_prio_to_weight[40]: nice -20 .. 19 (kernel/sched/core.c) */
export const SCHED_PRIO_TO_WEIGHT: readonly number[] = [
  88761, 71755, 56483, 46273, 36291,
  29154, 23254, 18705, 14949, 11916,
  9548, 7620, 6100, 4904, 3906,
  3121, 2501, 1991, 1586, 1277,
  1024, 820, 655, 526, 423,
  335, 272, 215, 172, 137,
  110, 87, 70, 56, 45,
  36, 29, 23, 18, 15,
];

/** DIV_ROUND_CLOSEST_ULL */
function divRoundClosest(a: bigint, b: bigint): bigint {
  return (a + b / 2n) / b;
}

/** struct task_group's cpu part: shares, idle, cfs_bandwidth and its statistics */
export class CpuCgroup {
  /** scale_load_down(tg->shares) */
  shares = NICE_0_LOAD;
  idle = 0;
  /** cfs_bandwidth.quota in ns, RUNTIME_INF for none */
  quota = RUNTIME_INF;
  period = DEFAULT_CFS_PERIOD;
  burst = 0n;
  nrPeriods = 0;
  nrThrottled = 0;
  throttledNs = 0;
  /** time throttled at this level only (cpu.stat.local) */
  throttledSelfNs = 0;
  nrBursts = 0;
  burstNs = 0;

  // ---- enforcement state (cpu-bandwidth.ts): struct cfs_bandwidth folded with one cfs_rq ----
  /** quota in ns as a number (Infinity: RUNTIME_INF) for the hot path */
  quotaNs = Infinity;
  /** cfs_b->runtime: the period's pool, capped at quota + burst */
  pool = 0;
  /** cfs_b->runtime_snap: the pool right after the last refill (burst accounting) */
  poolSnap = 0;
  /** what the group ran past its pool (a negative cfs_rq->runtime_remaining), paid from the next refill */
  debt = 0;
  /** cfs_b->idle: no runtime was handed out since the last period */
  bwIdle = false;
  /** cfs_b->period_active */
  periodActive = false;
  throttled = false;
  /** cfs_rq->throttled_clock */
  throttledAt = 0;
  /** runtime threads held while throttled (the group's throttled list) */
  readonly parked: unknown[] = [];
  /** the period timer (a SimEvent owned by cpu-bandwidth.ts), made at first use */
  periodTimer: unknown = null;
  /** the cgroup's pressure stall information (cgroup->psi; the root's is psi_system) */
  readonly psi = new PsiGroup();

  get hasQuota(): boolean {
    return this.quota !== RUNTIME_INF;
  }

  /** quota and period in µs for enforcement: [quotaUs or Infinity, periodUs] */
  get bandwidthUs(): [number, number] {
    return [this.hasQuota ? Number(this.quota / NSEC_PER_USEC) : Infinity, Number(this.period / NSEC_PER_USEC)];
  }
}

/** tg_set_cfs_bandwidth's checks (the values are applied by the caller): 0 or -EINVAL */
function tgSetCfsBandwidth(tg: CpuCgroup, period: bigint, quota: bigint, burst: bigint): number {
  if (quota < MIN_CFS_QUOTA_PERIOD || period < MIN_CFS_QUOTA_PERIOD) return -EINVAL;
  if (period > MAX_CFS_QUOTA_PERIOD) return -EINVAL;
  if (quota !== RUNTIME_INF && quota > MAX_CFS_RUNTIME) return -EINVAL;
  if (quota !== RUNTIME_INF && (burst > quota || burst + quota > MAX_CFS_RUNTIME)) return -EINVAL;
  // __cfs_schedulable: on the default hierarchy a child's quota is never refused
  // (the hierarchical quota is the min of the non-infinite ones)
  tg.period = period;
  tg.quota = quota;
  tg.burst = burst;
  // the number the enforcement uses (quotas past 2^53 ns, 104 days, lose ns precision: they never throttle)
  tg.quotaNs = quota === RUNTIME_INF ? Infinity : Number(quota);
  return 0;
}

/** cpu.max show (cpu_period_quota_print) */
export function cpuMaxShow(tg: CpuCgroup): string {
  const q = tg.quota === RUNTIME_INF ? 'max' : String(tg.quota / NSEC_PER_USEC);
  return `${q} ${tg.period / NSEC_PER_USEC}\n`;
}

/** cpu.max write: cpu_period_quota_parse + tg_set_cfs_bandwidth. 0 or -errno. */
export function cpuMaxWrite(tg: CpuCgroup, buf: string): number {
  // sscanf(buf, "%20s %llu", tok, periodp) < 1: -EINVAL; periodp starts as the current period in µs
  const t = scanString(buf, 20);
  if (t === null) return -EINVAL;
  const [tok, rest] = t;
  let period = tg.period / NSEC_PER_USEC;
  const p = scanU64(rest);
  if (p !== null) period = p[0];
  period = (period * NSEC_PER_USEC) & U64_MAX;
  let quota: bigint;
  const q = scanU64(tok);
  if (q !== null) quota = (q[0] * NSEC_PER_USEC) & U64_MAX;
  else if (tok === 'max') quota = RUNTIME_INF;
  else return -EINVAL;
  return tgSetCfsBandwidth(tg, period, quota, tg.burst);
}

export function cpuMaxBurstShow(tg: CpuCgroup): string {
  return `${tg.burst / NSEC_PER_USEC}\n`;
}

/** cpu.max.burst write (write_u64 -> tg_set_cfs_burst) */
export function cpuMaxBurstWrite(tg: CpuCgroup, buf: string): number {
  const v = kstrtoull(buf);
  if (typeof v === 'number') return v;
  if (v > U64_MAX / NSEC_PER_USEC) return -EINVAL;
  return tgSetCfsBandwidth(tg, tg.period, tg.quota, v * NSEC_PER_USEC);
}

/** cpu.weight show: the shares as a cgroup weight (clamped to 1..10000 where `clamped`) */
export function cpuWeightShow(tg: CpuCgroup, clamped: boolean): string {
  let w = divRoundClosest(tg.shares * CGROUP_WEIGHT_DFL, 1024n);
  if (clamped) w = w < CGROUP_WEIGHT_MIN ? CGROUP_WEIGHT_MIN : w > CGROUP_WEIGHT_MAX ? CGROUP_WEIGHT_MAX : w;
  return `${w}\n`;
}

/** sched_group_set_shares: -EINVAL for an idle group; clamped to [MIN_SHARES, MAX_SHARES] */
function setShares(tg: CpuCgroup, shares: bigint): number {
  if (tg.idle) return -EINVAL;
  tg.shares = shares < MIN_SHARES ? MIN_SHARES : shares > MAX_SHARES ? MAX_SHARES : shares;
  schedTunablesChanged();
  return 0;
}

/** cpu.weight write (write_u64) */
export function cpuWeightWrite(tg: CpuCgroup, buf: string): number {
  const v = kstrtoull(buf);
  if (typeof v === 'number') return v;
  if (v < CGROUP_WEIGHT_MIN || v > CGROUP_WEIGHT_MAX) return -ERANGE;
  return setShares(tg, divRoundClosest(v * 1024n, CGROUP_WEIGHT_DFL));
}

/** cpu.weight.nice show: the nice value whose weight is closest to the shares */
export function cpuWeightNiceShow(tg: CpuCgroup): string {
  const weight = Number(tg.shares);
  let last = Infinity;
  let prio = 0;
  for (; prio < SCHED_PRIO_TO_WEIGHT.length; prio++) {
    const delta = Math.abs(SCHED_PRIO_TO_WEIGHT[prio]! - weight);
    if (delta >= last) break;
    last = delta;
  }
  return `${prio - 1 - 20}\n`;
}

/** cpu.weight.nice write (write_s64) */
export function cpuWeightNiceWrite(tg: CpuCgroup, buf: string): number {
  const v = kstrtoll(buf);
  if (typeof v === 'number') return v;
  if (v < -20n || v > 19n) return -ERANGE;
  return setShares(tg, BigInt(SCHED_PRIO_TO_WEIGHT[Number(v) + 20]!));
}

export function cpuIdleShow(tg: CpuCgroup): string {
  return `${tg.idle}\n`;
}

/** cpu.idle write (write_s64 -> sched_group_set_idle) */
export function cpuIdleWrite(tg: CpuCgroup, buf: string): number {
  const v = kstrtoll(buf);
  if (typeof v === 'number') return v;
  if (v < 0n || v > 1n) return -EINVAL;
  const idle = Number(v);
  if (tg.idle === idle) return 0;
  tg.idle = idle;
  // idle groups have the minimum weight; leaving idle restores NICE_0_LOAD
  tg.shares = idle ? WEIGHT_IDLEPRIO : NICE_0_LOAD;
  schedTunablesChanged();
  return 0;
}

/** cpu_extra_stat_show's lines (the cgroup's own cpu css) */
export function cpuExtraStat(tg: CpuCgroup): string {
  const us = (ns: number): number => Math.floor(ns / 1000);
  return `nr_periods ${tg.nrPeriods}\nnr_throttled ${tg.nrThrottled}\nthrottled_usec ${us(tg.throttledNs)}\n` +
    `nr_bursts ${tg.nrBursts}\nburst_usec ${us(tg.burstNs)}\n`;
}

/** cpu_local_stat_show */
export function cpuLocalStat(tg: CpuCgroup): string {
  return `throttled_usec ${Math.floor(tg.throttledSelfNs / 1000)}\n`;
}

/** the release's cpu.weight read rule */
export function cpuWeightClamped(k: Kernel): boolean {
  return k.has('cpu_weight_read_clamped');
}

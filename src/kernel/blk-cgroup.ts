/**
 * The io controller (block/blk-cgroup.c, blk-throttle.c), per cgroup and device:
 *
 *   io.stat   "MAJ:MIN rbytes= wbytes= rios= wios= dbytes= dios=" (hierarchical)
 *   io.max    "MAJ:MIN rbps= wbps= riops= wiops=" ("max" = no limit)
 *
 * Throttling in virtual time: blkThrottleBio() tells a block driver when a bio may be
 * dispatched. Each limited (cgroup, device, direction) is a leaky bucket that is
 * busy until `nextNs`: a bio of n bytes takes n / bps seconds and 1 / iops seconds of
 * it; the bio goes when every limited level from its blkcg to the root is free.
 * Divergence: the kernel's throtl uses 100 ms slices with carried-over budgets, so it
 * allows bursts this model does not.
 */
import type { Cgroup } from './cgroup/cgroup.js';
import type { Task } from './task.js';
import type { Kernel } from './kernel.js';

export class BlkgIostat {
  rbytes = 0;
  wbytes = 0;
  rios = 0;
  wios = 0;
  dbytes = 0;
  dios = 0;
}

export interface IoLimit {
  rbps: number;
  wbps: number;
  riops: number;
  wiops: number;
}

interface ThrotlState {
  rNextNs: number;
  wNextNs: number;
}

export type BioOp = 'read' | 'write' | 'discard' | 'flush';

export class BlkCgroup {
  /** local per-device counters, key 'MAJ:MIN' */
  /** read-only outside this class (clearStats() empties it) */
  readonly stats = new Map<string, BlkgIostat>();
  readonly limits = new Map<string, IoLimit>();
  private readonly throtl = new Map<string, ThrotlState>();
  /** io.weight's "default" (blk-iocost's dfl_weight / WEIGHT_ONE); kwq's block layer does not schedule by it */
  dflWeight = 100;
  /**
   * the device and counters of the last stat(): a cgroup's bios mostly go to one device,
   * and the Map's table is one more object to read per bio (with 10,000 cgroups a cache
   * miss each; issue 10). Entries are never removed from `stats`, so it stays valid.
   */
  private lastDev: string | null = null;
  private lastStat: BlkgIostat | null = null;
  /**
   * A block driver's cache for this cgroup, opaque here (the kernel's drivers hang
   * per-cgroup data off the blkg, blkcg_gq): loop keeps the loop_worker it last queued
   * this cgroup's commands to, so that the next command skips worker_tree's walk
   * (loop-device.ts loopQueueWork; with 10,000 cgroups the walk's lower nodes are out
   * of cache, and this object is read per bio anyway; issue 10).
   */
  driverHint: unknown = null;
  constructor(readonly cgroup: Cgroup) {}

  stat(dev: string): BlkgIostat {
    if (dev === this.lastDev) return this.lastStat!;
    let s = this.stats.get(dev);
    if (s === undefined) {
      s = new BlkgIostat();
      this.stats.set(dev, s);
    }
    this.lastDev = dev;
    this.lastStat = s;
    return s;
  }

  /** forget every device's counters (rmdir, once they are folded into the parent) */
  clearStats(): void {
    this.stats.clear();
    this.lastDev = null;
    this.lastStat = null;
  }

  throtlState(dev: string): ThrotlState {
    let s = this.throtl.get(dev);
    if (s === undefined) {
      s = { rNextNs: 0, wNextNs: 0 };
      this.throtl.set(dev, s);
    }
    return s;
  }
}

/**
 * The blkcg a bio issued now by `task` belongs to: the kthread's associated blkcg
 * (kthread_associate_blkcg) if set, else the task's effective io css.
 */
export function blkcgOf(k: Kernel, task: Task | null): Cgroup {
  if (task === null) return k.cgroupRootFor('io');
  if (task.blkcgCss !== null) return task.blkcgCss;
  // cgroupOf(task, 'io'), cached on the task as chargeCpu caches the cpu cgroup (the
  // css_set array and a Map lookup per bio: with 10,000 cgroups two cache misses; issue 10)
  let cg = task.ioCg;
  if (cg === null || task.ioCgEpoch !== k.cgroupEpoch) {
    cg = k.cgroupOf(task, 'io');
    task.ioCg = cg;
    task.ioCgEpoch = k.cgroupEpoch;
  }
  return cg;
}

/** kthread_associate_blkcg(css): NULL to drop. Returns nothing, as the kernel's. */
export function kthreadAssociateBlkcg(task: Task, css: Cgroup | null): void {
  task.blkcgCss = css === null ? null : css.ecss('io');
}

/** blk_cgroup_bio_start: count a bio of `bytes` for device `dev` in `blkcg` (hierarchical on read). */
export function blkcgAccountIo(blkcg: Cgroup, dev: string, op: BioOp, bytes: number): void {
  if (op === 'flush') return;
  const s = blkcg.ecss('io').blkcg.stat(dev);
  if (op === 'read') {
    s.rbytes += bytes;
    s.rios++;
  } else if (op === 'write') {
    s.wbytes += bytes;
    s.wios++;
  } else {
    s.dbytes += bytes;
    s.dios++;
  }
}

/** The hierarchical io.stat of one device for `cg` (the subtree's sum). */
export function blkcgStatTree(cg: Cgroup, dev: string): BlkgIostat {
  const out = new BlkgIostat();
  for (const c of cg.subtree()) {
    const s = c.blkcg.stats.get(dev);
    if (s === undefined) continue;
    out.rbytes += s.rbytes;
    out.wbytes += s.wbytes;
    out.rios += s.rios;
    out.wios += s.wios;
    out.dbytes += s.dbytes;
    out.dios += s.dios;
  }
  return out;
}

/**
 * The virtual time (ns) at which a bio of `bytes` in direction `op` for device `dev`,
 * issued now by `blkcg`, may be dispatched under io.max of every level up to the
 * root; books that time. Returns `nowNs` when nothing limits it.
 */
export function blkThrottleBio(k: Kernel, blkcg: Cgroup, dev: string, op: BioOp, bytes: number): number {
  const now = k.rt.nowNs();
  if (op !== 'read' && op !== 'write') return now;
  const read = op === 'read';
  // the bio goes when every limited level up to the root lets it go ...
  let at = now;
  for (let c: Cgroup | null = blkcg.ecss('io'); c !== null; c = c.parent) {
    if (!throttled(c, dev, read)) continue;
    const st = c.blkcg.throtlState(dev);
    const next = read ? st.rNextNs : st.wNextNs;
    if (next > at) at = next;
  }
  // ... and then holds each of those levels for its cost there
  for (let c: Cgroup | null = blkcg.ecss('io'); c !== null; c = c.parent) {
    const lim = throttled(c, dev, read);
    if (lim === null) continue;
    const bps = read ? lim.rbps : lim.wbps;
    const iops = read ? lim.riops : lim.wiops;
    const cost = Math.max(bps === Infinity ? 0 : (bytes * 1e9) / bps, iops === Infinity ? 0 : 1e9 / iops);
    const st = c.blkcg.throtlState(dev);
    if (read) st.rNextNs = at + cost; // at >= this level's next time (the first loop)
    else st.wNextNs = at + cost;
  }
  return at;
}

/** The io.max limits of `c` for `dev` if one applies to this direction, else null. */
function throttled(c: Cgroup, dev: string, read: boolean): IoLimit | null {
  const lim = c.blkcg.limits.get(dev);
  if (lim === undefined) return null;
  return (read ? lim.rbps === Infinity && lim.riops === Infinity : lim.wbps === Infinity && lim.wiops === Infinity) ? null : lim;
}

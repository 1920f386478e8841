/**
 * The memory controller (mm/memcontrol.c), page-granular.
 *
 *   memcg (one per cgroup)         charge owner (obj_cgroup)       pages
 *   +---------------------+        +----------------+              AddressSpace page owner = objcg id
 *   | usage  (hier. pages)| <----- | objcg.memcg    | <----------- MmStruct.anon / .swap (per objcg)
 *   | swapUsage (hier.)   |        +----------------+              KmemObj.objcg
 *   | max high swapMax    |
 *   | stat[] (local)      |   rmdir: objcg.memcg = parent, local stats and the
 *   | events[] (hier.)    |   mapping/mm indexes merge into the parent: nothing
 *   +---------------------+   stays charged to an offline memcg.
 *
 * usage is a page_counter: a charge of n pages is added at every level up to the
 * root, and fails at the first level whose max it would exceed. That level is
 * reclaimed (clean page cache, then dirty page cache after writeback, then anon and
 * shmem to swap if swap.max allows), and if nothing can be reclaimed the OOM killer
 * kills a process of that memcg (SIGKILL).
 *
 * Which memcg a new page is charged to (kernel-reference.md section 7):
 *   1. an explicit mm (anon fault): the mm owner's memcg;
 *   2. no mm (page cache, shmem, GFP_KERNEL_ACCOUNT): current->active_memcg if set,
 *      else current->mm's owner's memcg, else the root memcg.
 *
 * No allocation per charged page in steady state: counters are numbers, page owners
 * live in typed arrays (vfs/filemap.ts, one per 512 pages).
 */
import { EINTR, ENOMEM } from './errno.js';
import type { Cgroup } from './cgroup/cgroup.js';
import type { MmStruct } from './mm.js';
import type { Task } from './task.js';
import type { Kernel } from './kernel.js';
import type { AddressSpace } from './vfs/filemap.js';
import { evictClean, startWriteback, swapOutShmem } from './vfs/filemap.js';
import { OOM_SCORE_ADJ_MIN } from './signal-struct.js';
import { PF_KTHREAD } from './sched.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
/** try_charge gives up reclaiming after this many rounds (MAX_RECLAIM_RETRIES) */
export const MAX_RECLAIM_RETRIES = 16;
/** reclaim works in batches of at least this many pages */
export const SWAP_CLUSTER_MAX = 32;

/** PAGE_COUNTER_MAX: LONG_MAX / PAGE_SIZE on 64-bit (include/linux/page_counter.h); the model keeps it as Infinity */
export const PAGE_COUNTER_MAX = 2251799813685247;
const U64_MASK = (1n << 64n) - 1n;

/**
 * memparse (lib/cmdline.c): simple_strtoull(s, &end, 0) then one K/M/G/T/P/E suffix (either
 * case), all in u64 arithmetic that wraps as the kernel's does (_parse_integer_limit keeps
 * going past an overflow; the shifts drop the high bits). Returns [value, rest].
 */
export function memparseU64(s: string): [bigint, string] {
  let base = 10n;
  let i = 0;
  if (s[0] === '0') {
    if ((s[1] === 'x' || s[1] === 'X') && /^[0-9a-fA-F]$/.test(s[2] ?? '')) {
      base = 16n;
      i = 2;
    } else base = 8n;
  }
  let v = 0n;
  for (; i < s.length; i++) {
    const d = parseInt(s[i]!, 16);
    if (Number.isNaN(d) || BigInt(d) >= base) break;
    v = (v * base + BigInt(d)) & U64_MASK;
  }
  const shifts: Record<string, bigint> = { e: 60n, p: 50n, t: 40n, g: 30n, m: 20n, k: 10n };
  const sh = shifts[(s[i] ?? '').toLowerCase()];
  if (sh !== undefined) {
    v = (v << sh) & U64_MASK;
    i++;
  }
  return [v, s.slice(i)];
}

/**
 * page_counter_memparse(buf, "max") after the caller's strstrip (mm/page_counter.c): "max",
 * or memparse with nothing left over, in pages rounded down and clamped to
 * PAGE_COUNTER_MAX (which is "max": Infinity here). null where the kernel says -EINVAL.
 */
export function pageCounterMemparse(text: string): number | null {
  const s = text.trim();
  if (s === 'max') return Infinity;
  const [bytes, rest] = memparseU64(s);
  if (rest !== '') return null;
  const pages = bytes / BigInt(PAGE_SIZE);
  return pages >= BigInt(PAGE_COUNTER_MAX) ? Infinity : Number(pages);
}

/** seq_puts_memcg_tunable: "max" at PAGE_COUNTER_MAX, else the bytes as an exact u64 */
export function pageCounterShow(pages: number): string {
  return pages === Infinity ? 'max' : (BigInt(pages) * BigInt(PAGE_SIZE)).toString();
}

/** memory.stat items, local counters (pages) */
export const NR_ANON = 0;
export const NR_FILE = 1;
export const NR_SHMEM = 2;
export const NR_KERNEL = 3;
export const NR_FILE_DIRTY = 4;
export const NR_FILE_WRITEBACK = 5;
export const NR_SWAP = 6;
export const NR_STAT = 7;
/** page kinds a charge is made for */
export type MemKind = 'anon' | 'file' | 'shmem' | 'kernel';
export const KIND_STAT: Record<MemKind, number> = { anon: NR_ANON, file: NR_FILE, shmem: NR_SHMEM, kernel: NR_KERNEL };

/** memory.events items */
export const MEMCG_LOW = 0;
export const MEMCG_HIGH = 1;
export const MEMCG_MAX = 2;
export const MEMCG_OOM = 3;
export const MEMCG_OOM_KILL = 4;
export const MEMCG_OOM_GROUP_KILL = 5;
export const MEMCG_NR_EVENTS = 6;
export const MEMCG_EVENT_NAMES = ['low', 'high', 'max', 'oom', 'oom_kill', 'oom_group_kill'];

/** struct obj_cgroup: the charge owner pages point at; reparented at memcg offline. */
export class ObjCgroup {
  constructor(
    readonly id: number,
    public memcg: MemCgroup,
  ) {}
}

export class MemCgroup {
  /** page_counter memory: pages charged here and below */
  usage = 0;
  /** memory.peak */
  watermark = 0;
  max = Infinity;
  high = Infinity;
  low = 0;
  min = 0;
  /** page_counter swap */
  swapUsage = 0;
  swapMax = Infinity;
  /** memory.swap.high (page_counter_set_high on memcg->swap) */
  swapHigh = Infinity;
  /** the swap counter's watermark (memory.swap.peak) */
  swapWatermark = 0;
  /** memory.zswap.max (kwq has no zswap: nothing is charged to it) */
  zswapMax = Infinity;
  /** memory.zswap.writeback */
  zswapWriteback = 1;
  /** v1 memory.failcnt */
  failcnt = 0;
  /** local counters by NR_* */
  readonly stat = new Float64Array(NR_STAT);
  /** memory.events (hierarchical, as memcg_memory_event propagates) and memory.events.local */
  readonly events = new Float64Array(MEMCG_NR_EVENTS);
  readonly eventsLocal = new Float64Array(MEMCG_NR_EVENTS);
  /** memory.oom.group */
  oomGroup = false;
  /** this memcg's charge owner (null until the kernel assigns one) */
  objcg: ObjCgroup | null = null;
  /** address spaces holding pages (resident or swapped) charged here: page counts */
  readonly mappings = new Map<AddressSpace, number>();
  /** mms holding anon pages charged here: page counts (resident + swap) */
  readonly mms = new Map<MmStruct, number>();
  constructor(readonly cgroup: Cgroup) {}
  get parent(): MemCgroup | null {
    return this.cgroup.parent?.memcg ?? null;
  }
  get isRoot(): boolean {
    return this.cgroup.parent === null;
  }
}

/** A GFP_KERNEL_ACCOUNT allocation: kmalloc'd object charged to a memcg (kfree uncharges). */
export class KmemObj {
  freed = false;
  constructor(
    readonly objcg: ObjCgroup,
    readonly pages: number,
    readonly bytes: number,
  ) {}
}

// ---- which memcg ---------------------------------------------------------------

/** mem_cgroup_from_task: the task's effective memory css. */
export function memcgFromTask(k: Kernel, task: Task): MemCgroup {
  return k.cgroupOf(task, 'memory').memcg;
}

/** get_mem_cgroup_from_mm: the memcg of the mm's owner (root if none). */
export function memcgFromMm(k: Kernel, mm: MmStruct | null): MemCgroup {
  if (mm === null || mm.owner === null) return k.rootMemcg;
  return memcgFromTask(k, mm.owner);
}

/** The memcg a page allocated by `task` with no explicit mm is charged to (section 7). */
export function getMemcgForCharge(k: Kernel, task: Task | null): MemCgroup {
  if (task === null) return k.rootMemcg;
  if (task.activeMemcg !== null) return task.activeMemcg.ecss('memory').memcg;
  return memcgFromMm(k, task.mm);
}

/** set_active_memcg: returns the previous one (restore it afterwards, as the kernel does). */
export function setActiveMemcg(task: Task, memcg: Cgroup | null): Cgroup | null {
  const old = task.activeMemcg;
  task.activeMemcg = memcg;
  return old;
}

// ---- events ----------------------------------------------------------------------

/** memcg_memory_event: counted here and in every ancestor below the root. */
export function memcgMemoryEvent(memcg: MemCgroup, event: number): void {
  memcg.eventsLocal[event]!++;
  for (let m: MemCgroup | null = memcg; m !== null && !m.isRoot; m = m.parent) m.events[event]!++;
}

// ---- page counters ---------------------------------------------------------------

function overLimit(memcg: MemCgroup, nr: number): MemCgroup | null {
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) if (m.usage + nr > m.max) return m;
  return null;
}

function counterCharge(memcg: MemCgroup, nr: number): void {
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) {
    m.usage += nr;
    if (m.usage > m.watermark) m.watermark = m.usage;
  }
}

function counterUncharge(memcg: MemCgroup, nr: number): void {
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) m.usage -= nr;
}

/** swap room in pages: limited by swap.max at every level and by free swap space */
export function swapRoom(k: Kernel, memcg: MemCgroup): number {
  let room = k.swapTotalPages - k.swapUsedPages;
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) room = Math.min(room, m.swapMax - m.swapUsage);
  return Math.max(0, room);
}

/** move n charged pages of `memcg` from memory to swap (counters only; the caller moves the pages) */
export function chargeSwapOut(k: Kernel, memcg: MemCgroup, n: number, statIdx: number): void {
  counterUncharge(memcg, n);
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) {
    m.swapUsage += n;
    if (m.swapUsage > m.swapWatermark) m.swapWatermark = m.swapUsage;
  }
  k.swapUsedPages += n;
  memcg.stat[statIdx]! -= n;
  memcg.stat[NR_SWAP]! += n;
}

/** free n swapped pages of `memcg` */
export function unchargeSwap(k: Kernel, memcg: MemCgroup, n: number): void {
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) m.swapUsage -= n;
  k.swapUsedPages -= n;
  memcg.stat[NR_SWAP]! -= n;
}

// ---- charging ----------------------------------------------------------------------

/**
 * try_charge + commit: charge `nr` pages of `kind` to `memcg` on behalf of `current`.
 * Returns 0; -ENOMEM if nothing could be reclaimed and no process could be killed;
 * -EINTR if the OOM killer killed `current` itself (its call is interrupted).
 */
export function chargePages(k: Kernel, memcg: MemCgroup, nr: number, kind: MemKind, current: Task | null): number {
  const ret = tryCharge(k, memcg, nr, current);
  if (ret < 0) return ret;
  memcg.stat[KIND_STAT[kind]]! += nr;
  const tp = k.tp.memcgCharge;
  if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, memcg: memcg.cgroup.path, id: memcg.cgroup.id, pages: nr, kind });
  return 0;
}

/** Uncharge `nr` pages of `kind` from the charge owner. */
export function unchargePages(k: Kernel, objcg: ObjCgroup, nr: number, kind: MemKind): void {
  const memcg = objcg.memcg;
  counterUncharge(memcg, nr);
  memcg.stat[KIND_STAT[kind]]! -= nr;
  const tp = k.tp.memcgUncharge;
  if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, memcg: memcg.cgroup.path, id: memcg.cgroup.id, pages: nr, kind });
}

export function tryCharge(k: Kernel, memcg: MemCgroup, nr: number, current: Task | null): number {
  // try_charge_memcg's loop: every failed attempt counts MEMCG_MAX; reclaim progress
  // retries at once, no progress uses one of MAX_RECLAIM_RETRIES, then the OOM killer;
  // a kill restores the retries. Bounded: every kill removes a process.
  let nrRetries = MAX_RECLAIM_RETRIES;
  for (let round = 0; round < 100_000; round++) {
    const over = overLimit(memcg, nr);
    if (over === null) {
      counterCharge(memcg, nr);
      checkHigh(k, memcg, current);
      return 0;
    }
    over.failcnt++;
    memcgMemoryEvent(over, MEMCG_MAX);
    const need = over.usage + nr - over.max;
    if (tryToFreeMemCgroupPages(k, over, Math.max(need, SWAP_CLUSTER_MAX), current) > 0) continue;
    if (nrRetries-- > 0) continue;
    // mem_cgroup_oom
    memcgMemoryEvent(over, MEMCG_OOM);
    const victim = selectBadProcess(k, over);
    if (victim === null) return -ENOMEM;
    oomKillProcess(k, victim, over);
    if (current !== null && !current.alive) return -EINTR;
    nrRetries = MAX_RECLAIM_RETRIES;
  }
  return -ENOMEM;
}

/** memory.high: over it, count the event and reclaim back toward it (never OOM). */
function checkHigh(k: Kernel, memcg: MemCgroup, current: Task | null): void {
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) {
    if (m.usage > m.high) {
      memcgMemoryEvent(m, MEMCG_HIGH);
      tryToFreeMemCgroupPages(k, m, m.usage - m.high, current);
    }
  }
}

// ---- reclaim -------------------------------------------------------------------

function inSubtree(m: MemCgroup, top: MemCgroup): boolean {
  for (let c: MemCgroup | null = m; c !== null; c = c.parent) if (c === top) return true;
  return false;
}

/**
 * try_to_free_mem_cgroup_pages for `top` and its subtree: returns pages uncharged
 * from memory. Order (the model's LRU, simplified): clean page cache; dirty page cache
 * after writeback (waited for only when called from a top-level call in sim); anon,
 * then shmem, to swap as far as swap.max and free swap allow.
 */
export function tryToFreeMemCgroupPages(k: Kernel, top: MemCgroup, nrToReclaim: number, current: Task | null): number {
  let got = 0;
  const filter = (m: MemCgroup): boolean => inSubtree(m, top);
  const memcgs: MemCgroup[] = [];
  for (const c of top.cgroup.subtree()) memcgs.push(c.memcg);
  // 1. clean page cache
  for (const m of memcgs) {
    for (const mapping of m.mappings.keys()) {
      if (mapping.kind !== 'file') continue;
      got += evictClean(k, mapping, filter, nrToReclaim - got);
      if (got >= nrToReclaim) return got;
    }
  }
  // 2. dirty page cache: write back, then evict what became clean
  let started = 0;
  for (const m of memcgs) {
    for (const mapping of m.mappings.keys()) {
      if (mapping.kind !== 'file' || mapping.nrDirty === 0) continue;
      started += startWriteback(k, mapping, filter, nrToReclaim - got - started, current);
    }
  }
  // pages already under writeback (started by the flusher or the dirty threshold) count too:
  // reclaim waits for them (reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK))
  let inFlight = started > 0;
  for (const m of memcgs) for (const mapping of m.mappings.keys()) if (mapping.nrWriteback > 0) inFlight = true;
  if (inFlight) {
    k.waitWriteback(memcgs);
    for (const m of memcgs) {
      for (const mapping of m.mappings.keys()) {
        if (mapping.kind !== 'file') continue;
        got += evictClean(k, mapping, filter, nrToReclaim - got);
        if (got >= nrToReclaim) return got;
      }
    }
  }
  // 3. anon and shmem to swap
  for (const m of memcgs) {
    let room = swapRoom(k, m);
    if (room <= 0) continue;
    for (const mm of m.mms.keys()) {
      // pages of objcgs reparented into m are keyed by their own objcg
      for (const [objcg, res] of mm.anon) {
        if (objcg.memcg !== m) continue;
        const n = Math.min(res, room, nrToReclaim - got);
        if (n <= 0) continue;
        mm.anon.set(objcg, res - n);
        mm.swap.set(objcg, (mm.swap.get(objcg) ?? 0) + n);
        mm.nrAnon -= n;
        mm.nrSwap += n;
        chargeSwapOut(k, m, n, NR_ANON);
        got += n;
        room -= n;
        if (got >= nrToReclaim) return got;
      }
    }
    for (const mapping of m.mappings.keys()) {
      if (mapping.kind !== 'shmem' || room <= 0) continue;
      const n = swapOutShmem(k, mapping, m, Math.min(room, nrToReclaim - got));
      got += n;
      room -= n;
      if (got >= nrToReclaim) return got;
    }
  }
  return got;
}

// ---- OOM -----------------------------------------------------------------------

/** oom_badness: resident anon + swap of the process's mm, adjusted by oom_score_adj. */
function oomBadness(k: Kernel, leader: Task): number {
  const mm = leader.mm;
  if (mm === null) return -Infinity;
  if (leader.signal.oomScoreAdj === OOM_SCORE_ADJ_MIN) return -Infinity;
  const totalPages = k.totalRamPages;
  return mm.nrAnon + mm.nrSwap + 1 + (leader.signal.oomScoreAdj * totalPages) / 1000;
}

/**
 * select_bad_process for a memcg OOM: the process in `memcg`'s subtree with the
 * highest badness; kthreads, init and OOM_SCORE_ADJ_MIN processes are never chosen.
 * Equal scores: the one seen last wins (oom_evaluate_task replaces on `==`).
 */
export function selectBadProcess(k: Kernel, memcg: MemCgroup): Task | null {
  let chosen: Task | null = null;
  let best = -Infinity;
  const seen = new Set<Task>();
  for (const c of memcg.cgroup.subtree()) {
    for (const t of c.tasks) {
      const leader = t.groupLeader;
      if (seen.has(leader)) continue;
      seen.add(leader);
      if (!leader.alive && leader.signal.nrThreads === 0) continue;
      if (leader.flags & PF_KTHREAD) continue;
      if (leader.pid === 1) continue;
      if (leader.signal.groupExit) continue;
      const pts = oomBadness(k, leader);
      if (pts === -Infinity) continue;
      if (pts >= best) {
        best = pts;
        chosen = leader;
      }
    }
  }
  return chosen;
}

/** oom_kill_process: SIGKILL the victim's process; oom_kill counted in the victim mm's memcg. */
export function oomKillProcess(k: Kernel, victim: Task, oomMemcg: MemCgroup): void {
  const victimMemcg = memcgFromMm(k, victim.mm);
  memcgMemoryEvent(victimMemcg, MEMCG_OOM_KILL);
  const tp = k.tp.oomKill;
  if (tp.enabled) {
    tp.emit({ name: tp.name, ts: tp.now, pid: victim.pid, comm: victim.comm, memcg: oomMemcg.cgroup.path, anonPages: victim.mm?.nrAnon ?? 0 });
  }
  if (oomMemcg.oomGroup) memcgMemoryEvent(oomMemcg, MEMCG_OOM_GROUP_KILL);
  k.sigkillProcess(victim);
  if (oomMemcg.oomGroup) {
    // mem_cgroup_scan_tasks(oom_kill_memcg_member): every process of the group, the victim
    // again (its mm is still there while it exits), each counted by __oom_kill_process
    memcgMemoryEvent(victimMemcg, MEMCG_OOM_KILL);
    const seen = new Set<Task>([victim]);
    for (const c of oomMemcg.cgroup.subtree()) {
      for (const t of [...c.tasks]) {
        const leader = t.groupLeader;
        if (seen.has(leader) || leader.flags & PF_KTHREAD || leader.pid === 1 || leader.signal.oomScoreAdj === OOM_SCORE_ADJ_MIN) continue;
        seen.add(leader);
        if (!leader.alive) continue;
        memcgMemoryEvent(memcgFromTask(k, leader), MEMCG_OOM_KILL);
        k.sigkillProcess(leader);
      }
    }
  }
}

/**
 * Bring usage under a lowered memory.max (memory_max_write): reclaim, then OOM-kill
 * until it fits or nothing is left to kill.
 */
export function memcgShrinkToMax(k: Kernel, memcg: MemCgroup, current: Task | null): void {
  for (let round = 0; memcg.usage > memcg.max && round < MAX_RECLAIM_RETRIES + 64; round++) {
    if (round < MAX_RECLAIM_RETRIES && tryToFreeMemCgroupPages(k, memcg, memcg.usage - memcg.max, current) > 0) continue;
    memcgMemoryEvent(memcg, MEMCG_OOM);
    const victim = selectBadProcess(k, memcg);
    if (victim === null) return;
    oomKillProcess(k, victim, memcg);
  }
}

// ---- dirty throttling (the memcg domain of balance_dirty_pages) -------------------

/** vm.dirty_ratio and vm.dirty_background_ratio, their defaults (mm/page-writeback.c) */
export const VM_DIRTY_RATIO = 20;
export const VM_DIRTY_BACKGROUND_RATIO = 10;

export interface MemcgDirtyLimits {
  /** dirty + writeback pages of the memcg (mdtc->dirty) */
  dirty: number;
  /** mdtc->thresh: above it the dirtier is throttled until writeback brings it back */
  thresh: number;
  /** mdtc->bg_thresh: above it background writeback starts */
  bgThresh: number;
}

/**
 * The memcg domain of balance_dirty_pages (cgroup v2 writeback): mem_cgroup_wb_stats
 * (mm/memcontrol.c) gives the memcg's file pages and its headroom, the least of
 * min(memory.max, memory.high) - usage over the memcg and its ancestors below the root;
 * mdtc_calc_avail makes the dirtyable memory file pages + headroom (capped by the clean
 * page cache and free memory outside it, here the machine's free pages), and
 * domain_dirty_limits takes vm.dirty_ratio and vm.dirty_background_ratio of that
 * (bg_thresh at most thresh / 2). So a dirtier in a 64M memcg keeps at most ~20% of
 * what the memcg may use dirty or under writeback: without it, the page cache of a
 * block device fills the whole memcg with pages under writeback that reclaim cannot
 * free (a loop device's worker then finds nothing to reclaim for its backing file).
 */
export function memcgDirtyLimits(k: Kernel, memcg: MemCgroup): MemcgDirtyLimits {
  const filepages = memcg.stat[NR_FILE]!;
  let headroom = Infinity;
  for (let m: MemCgroup | null = memcg; m !== null && !m.isRoot; m = m.parent) {
    const ceiling = Math.min(m.max, m.high);
    headroom = Math.min(headroom, ceiling - Math.min(ceiling, m.usage));
  }
  const free = Math.max(0, k.totalRamPages - k.rootMemcg.usage);
  const avail = filepages + Math.min(headroom, free);
  const dirty = memcg.stat[NR_FILE_DIRTY]! + memcg.stat[NR_FILE_WRITEBACK]!;
  const thresh = Math.floor((avail * VM_DIRTY_RATIO) / 100);
  let bgThresh = Math.floor((avail * VM_DIRTY_BACKGROUND_RATIO) / 100);
  if (bgThresh >= thresh) bgThresh = Math.floor(thresh / 2);
  return { dirty, thresh, bgThresh };
}

// ---- anon and kmem ---------------------------------------------------------------

/** pages that can still be charged to `memcg` before some level hits its max */
function headroom(memcg: MemCgroup): number {
  let room = Infinity;
  for (let m: MemCgroup | null = memcg; m !== null; m = m.parent) room = Math.min(room, m.max - m.usage);
  return room;
}

/**
 * Page faults on `nr` anon pages in `mm` (the model's stand-in for touching memory).
 * do_anonymous_page charges one page per fault: the pages that fit are charged, and the
 * first one that does not reclaims or OOM-kills, so an OOM-killed toucher leaves the
 * memcg at its limit (memory.peak), as on Linux. Batched: all the pages that fit at once.
 */
export function chargeAnon(k: Kernel, mm: MmStruct, nr: number, current: Task | null): number {
  const memcg = memcgFromMm(k, mm);
  for (let left = nr; left > 0;) {
    const room = headroom(memcg);
    const n = room >= 1 ? Math.min(left, room) : 1;
    const ret = chargePages(k, memcg, n, 'anon', current);
    if (ret < 0) return ret;
    const objcg = memcg.objcg!;
    mm.anon.set(objcg, (mm.anon.get(objcg) ?? 0) + n);
    mm.nrAnon += n;
    memcg.mms.set(mm, (memcg.mms.get(mm) ?? 0) + n);
    left -= n;
  }
  return 0;
}

/** exit_mmap / munmap: uncharge every anon and swapped page of the mm. */
export function unchargeMm(k: Kernel, mm: MmStruct): void {
  for (const [objcg, n] of mm.anon) {
    if (n > 0) unchargePages(k, objcg, n, 'anon');
    dropMmIndex(objcg.memcg, mm, n);
  }
  for (const [objcg, n] of mm.swap) {
    if (n > 0) unchargeSwap(k, objcg.memcg, n);
    dropMmIndex(objcg.memcg, mm, n);
  }
  mm.anon.clear();
  mm.swap.clear();
  mm.nrAnon = 0;
  mm.nrSwap = 0;
}

function dropMmIndex(memcg: MemCgroup, mm: MmStruct, n: number): void {
  const left = (memcg.mms.get(mm) ?? 0) - n;
  if (left > 0) memcg.mms.set(mm, left);
  else memcg.mms.delete(mm);
}

/**
 * kmalloc(bytes, GFP_KERNEL_ACCOUNT) by `task`: charged to its active memcg or its
 * mm's memcg (section 7). Returns the object, or -ENOMEM / -EINTR.
 * Model: each object is charged whole pages (the kernel charges slab bytes via objcg stocks).
 */
export function kmallocAccount(k: Kernel, task: Task | null, bytes: number): KmemObj | number {
  const memcg = getMemcgForCharge(k, task);
  const pages = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
  const ret = chargePages(k, memcg, pages, 'kernel', task);
  if (ret < 0) return ret;
  return new KmemObj(memcg.objcg!, pages, bytes);
}

/** kfree of an accounted object: uncharges it (from the reparented owner if its memcg is gone). */
export function kfreeAccount(k: Kernel, obj: KmemObj): void {
  if (obj.freed) return;
  obj.freed = true;
  unchargePages(k, obj.objcg, obj.pages, 'kernel');
}

// ---- offline -------------------------------------------------------------------

/**
 * memcg_reparent_objcgs at rmdir: every charge of `memcg` moves to its parent. The
 * hierarchical counters of the ancestors already include them; the local stats and
 * the reclaim indexes move.
 */
export function memcgReparent(k: Kernel, memcg: MemCgroup): void {
  const parent = memcg.parent!;
  for (const o of k.objcgs) if (o !== null && o.memcg === memcg) o.memcg = parent;
  for (let i = 0; i < NR_STAT; i++) {
    parent.stat[i]! += memcg.stat[i]!;
    memcg.stat[i] = 0;
  }
  for (const [m, n] of memcg.mappings) parent.mappings.set(m, (parent.mappings.get(m) ?? 0) + n);
  memcg.mappings.clear();
  for (const [mm, n] of memcg.mms) parent.mms.set(mm, (parent.mms.get(mm) ?? 0) + n);
  memcg.mms.clear();
  // this memcg's own counters drop to zero; the parent's already contained them
  memcg.usage = 0;
  memcg.swapUsage = 0;
}

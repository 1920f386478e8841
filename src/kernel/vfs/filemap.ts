/**
 * struct address_space: the pages of one file (page cache) or one tmpfs file
 * (shmem), tracked by page index; contents are not kept.
 *
 *   index:   0     1     2     3  ...                    (grows by doubling)
 *   owner: [ oc7 | 0   | oc7 | oc9 | ... ]  Int32Array: obj_cgroup id, 0 = no page
 *   flags: [ D   | -   | WB  | S   | ... ]  Uint8Array: PG_DIRTY, PG_WRITEBACK, PG_SWAP
 *
 * A present page is charged to its owner objcg's memcg: as memory (resident) or as
 * swap (PG_SWAP, shmem only). Every change keeps the memcg counters, the memcg's
 * mapping index and the counts here in step; the property tests check that.
 * No allocation per page: typed arrays and counters.
 */
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import {
  chargePages, chargeSwapOut, getMemcgForCharge, unchargePages, unchargeSwap,
  NR_FILE_DIRTY, NR_FILE_WRITEBACK, NR_SHMEM, type MemCgroup, type ObjCgroup,
} from '../memcontrol.js';

export const PG_DIRTY = 1;
export const PG_WRITEBACK = 2;
export const PG_SWAP = 4;

/** How a mapping's dirty pages reach their backing store (a block device's submit path). */
export interface AddressSpaceOps {
  /**
   * Write back pages [first, first+count) of `mapping`, all charged to `objcg`
   * (the writeback's blkcg is that memcg's cgroup). Call endWriteback() when done,
   * now or later (from a driver's completion).
   */
  writeback(k: Kernel, mapping: AddressSpace, first: number, count: number, objcg: ObjCgroup, current: Task | null): void;
  /** Fill pages [first, first+count) from the backing store (a read bio); optional. */
  readpages?(k: Kernel, mapping: AddressSpace, first: number, count: number, objcg: ObjCgroup, current: Task | null): void;
}

export class AddressSpace {
  owner = new Int32Array(16);
  flags = new Uint8Array(16);
  /** resident pages */
  nrpages = 0;
  nrDirty = 0;
  nrWriteback = 0;
  /** shmem pages in swap */
  nrSwap = 0;
  /** reclaim scan position (a clock hand) */
  cursor = 0;
  /** 0 or -errno: how the last addPages/readPages stopped */
  lastError = 0;
  constructor(
    readonly kind: 'file' | 'shmem',
    readonly aops: AddressSpaceOps | null,
    /** for messages: the path or device */
    readonly name: string,
  ) {}

  ensure(nPages: number): void {
    if (nPages <= this.owner.length) return;
    let n = this.owner.length;
    while (n < nPages) n *= 2;
    const o = new Int32Array(n);
    o.set(this.owner);
    const f = new Uint8Array(n);
    f.set(this.flags);
    this.owner = o;
    this.flags = f;
  }
  /** highest index + 1 that may hold a page */
  get span(): number {
    return this.owner.length;
  }
}

function indexAdd(memcg: MemCgroup, mapping: AddressSpace, n: number): void {
  const left = (memcg.mappings.get(mapping) ?? 0) + n;
  if (left > 0) memcg.mappings.set(mapping, left);
  else memcg.mappings.delete(mapping);
}

/**
 * Bring pages [first, first+count) in, charged to `memcg` (the writer's, by section 7
 * unless given), marking them dirty if `dirty` (page cache only). Returns the number
 * of pages done; on a failed charge it stops there with mapping.lastError = -errno.
 */
export function addPages(k: Kernel, mapping: AddressSpace, task: Task | null, first: number, count: number, dirty: boolean, memcg?: MemCgroup): number {
  mapping.lastError = 0;
  mapping.ensure(first + count);
  const mc = memcg ?? getMemcgForCharge(k, task);
  const kind = mapping.kind;
  const owner = mapping.owner;
  const flags = mapping.flags;
  let added = 0;
  let done = 0;
  for (let i = first; i < first + count; i++, done++) {
    const id = owner[i]!;
    if (id === 0) {
      const ret = chargePages(k, mc, 1, kind, task);
      if (ret < 0) {
        mapping.lastError = ret;
        break;
      }
      // the charge may have reclaimed pages of this very mapping: owner[] is still the same array
      owner[i] = mc.objcg!.id;
      flags[i] = 0;
      mapping.nrpages++;
      added++;
    } else if (flags[i]! & PG_SWAP) {
      // swap-in: charged to the memcg recorded for the page (section 7, rule 1)
      const oc = k.objcgs[id]!;
      const ret = chargePages(k, oc.memcg, 1, kind, task);
      if (ret < 0) {
        mapping.lastError = ret;
        break;
      }
      unchargeSwap(k, oc.memcg, 1);
      flags[i] = flags[i]! & ~PG_SWAP;
      mapping.nrSwap--;
      mapping.nrpages++;
    }
    if (dirty && kind === 'file' && !(flags[i]! & PG_DIRTY)) {
      flags[i] = flags[i]! | PG_DIRTY;
      mapping.nrDirty++;
      k.objcgs[owner[i]!]!.memcg.stat[NR_FILE_DIRTY]!++;
    }
  }
  if (added > 0) indexAdd(mc, mapping, added);
  return done;
}

/** Drop pages [first, end) (truncate, unlink, last close of an unlinked file): uncharge them. */
export function removePages(k: Kernel, mapping: AddressSpace, first: number, end: number): number {
  const owner = mapping.owner;
  const flags = mapping.flags;
  const stop = Math.min(end, owner.length);
  let n = 0;
  for (let i = first; i < stop; i++) {
    const id = owner[i]!;
    if (id === 0) continue;
    const memcg = k.objcgs[id]!.memcg;
    const f = flags[i]!;
    if (f & PG_SWAP) {
      unchargeSwap(k, memcg, 1);
      mapping.nrSwap--;
    } else {
      unchargePages(k, k.objcgs[id]!, 1, mapping.kind);
      mapping.nrpages--;
    }
    if (f & PG_DIRTY) {
      mapping.nrDirty--;
      memcg.stat[NR_FILE_DIRTY]!--;
    }
    if (f & PG_WRITEBACK) {
      mapping.nrWriteback--;
      memcg.stat[NR_FILE_WRITEBACK]!--;
    }
    owner[i] = 0;
    flags[i] = 0;
    indexAdd(memcg, mapping, -1);
    n++;
  }
  return n;
}

/** Evict up to `max` clean, resident page-cache pages whose memcg passes `filter`. */
export function evictClean(k: Kernel, mapping: AddressSpace, filter: (m: MemCgroup) => boolean, max: number): number {
  if (max <= 0 || mapping.kind !== 'file') return 0;
  const owner = mapping.owner;
  const flags = mapping.flags;
  const span = owner.length;
  let n = 0;
  let i = mapping.cursor;
  for (let scanned = 0; scanned < span && n < max; scanned++, i = i + 1 === span ? 0 : i + 1) {
    const id = owner[i]!;
    if (id === 0 || flags[i] !== 0) continue;
    const oc = k.objcgs[id]!;
    if (!filter(oc.memcg)) continue;
    unchargePages(k, oc, 1, 'file');
    indexAdd(oc.memcg, mapping, -1);
    owner[i] = 0;
    mapping.nrpages--;
    n++;
  }
  mapping.cursor = i;
  return n;
}

/**
 * Start writeback of up to `max` dirty pages whose memcg passes `filter`, in runs of
 * contiguous pages with one owner. Returns pages started.
 */
export function startWriteback(k: Kernel, mapping: AddressSpace, filter: (m: MemCgroup) => boolean, max: number, current: Task | null): number {
  if (max <= 0 || mapping.nrDirty === 0) return 0;
  const owner = mapping.owner;
  const flags = mapping.flags;
  let started = 0;
  const runs: number[] = []; // [first, count, objcgId]*: collected first, submitted after (submission may complete synchronously)
  for (let i = 0; i < owner.length && started < max; i++) {
    if (!(flags[i]! & PG_DIRTY)) continue;
    const id = owner[i]!;
    const oc = k.objcgs[id]!;
    if (!filter(oc.memcg)) continue;
    let j = i;
    while (j < owner.length && started < max && owner[j] === id && flags[j]! & PG_DIRTY) {
      flags[j] = (flags[j]! & ~PG_DIRTY) | PG_WRITEBACK;
      oc.memcg.stat[NR_FILE_DIRTY]!--;
      oc.memcg.stat[NR_FILE_WRITEBACK]!++;
      j++;
      started++;
    }
    mapping.nrDirty -= j - i;
    mapping.nrWriteback += j - i;
    runs.push(i, j - i, id);
    i = j - 1;
  }
  for (let r = 0; r < runs.length; r += 3) {
    const oc = k.objcgs[runs[r + 2]!]!;
    if (mapping.aops !== null) mapping.aops.writeback(k, mapping, runs[r]!, runs[r + 1]!, oc, current);
    else endWriteback(k, mapping, runs[r]!, runs[r + 1]!);
  }
  return started;
}

/** end_page_writeback for pages [first, first+count): they are clean now. */
export function endWriteback(k: Kernel, mapping: AddressSpace, first: number, count: number): void {
  const owner = mapping.owner;
  const flags = mapping.flags;
  const stop = Math.min(first + count, owner.length);
  for (let i = first; i < stop; i++) {
    if (!(flags[i]! & PG_WRITEBACK)) continue; // truncated meanwhile
    flags[i] = flags[i]! & ~PG_WRITEBACK;
    mapping.nrWriteback--;
    k.objcgs[owner[i]!]!.memcg.stat[NR_FILE_WRITEBACK]!--;
  }
}

/** Move up to `max` resident shmem pages owned by `memcg` to swap. */
export function swapOutShmem(k: Kernel, mapping: AddressSpace, memcg: MemCgroup, max: number): number {
  if (max <= 0 || mapping.kind !== 'shmem') return 0;
  const owner = mapping.owner;
  const flags = mapping.flags;
  let n = 0;
  for (let i = 0; i < owner.length && n < max; i++) {
    const id = owner[i]!;
    if (id === 0 || flags[i]! & PG_SWAP) continue;
    if (k.objcgs[id]!.memcg !== memcg) continue;
    flags[i] = flags[i]! | PG_SWAP;
    n++;
  }
  if (n > 0) {
    mapping.nrpages -= n;
    mapping.nrSwap += n;
    chargeSwapOut(k, memcg, n, NR_SHMEM);
  }
  return n;
}

/**
 * Read pages [first, first+count): page-cache misses are filled (charged, clean,
 * read from the backing store if there is one); swapped shmem is swapped in; shmem
 * holes stay holes (reads of a hole see the zero page). Returns pages done; stops on
 * a failed charge with lastError set.
 */
export function readPages(k: Kernel, mapping: AddressSpace, task: Task | null, first: number, count: number): number {
  mapping.lastError = 0;
  mapping.ensure(first + count);
  if (mapping.kind === 'shmem') {
    let done = 0;
    for (let i = first; i < first + count; i++, done++) {
      if (mapping.flags[i]! & PG_SWAP) {
        if (addPages(k, mapping, task, i, 1, false) !== 1) break;
      }
    }
    return done;
  }
  const memcg = getMemcgForCharge(k, task);
  let done = 0;
  let runStart = -1;
  const flush = (end: number): void => {
    if (runStart >= 0 && mapping.aops?.readpages) mapping.aops.readpages(k, mapping, runStart, end - runStart, memcg.objcg!, task);
    runStart = -1;
  };
  for (let i = first; i < first + count; i++, done++) {
    if (mapping.owner[i] !== 0) {
      flush(i);
      continue;
    }
    if (addPages(k, mapping, task, i, 1, false, memcg) !== 1) break;
    if (runStart < 0) runStart = i;
  }
  flush(first + done);
  return done;
}

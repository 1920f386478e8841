/**
 * struct address_space: the pages of one file (page cache) or one tmpfs file
 * (shmem), tracked by page index; contents are not kept.
 *
 * Sparse, as the kernel's i_pages xarray is (lib/xarray.c; mm/filemap.c walks it with
 * xas_for_each / find_get_entries): memory is proportional to the present pages, not
 * to the highest index, so a pwrite at 2^62 costs one chunk. The xarray's 64-slot
 * nodes in a radix tree become one level of 512-page chunks:
 *
 *   byIndex: Map<chunk index, PageChunk>     lookups (+ `hint`, the last chunk used)
 *   chunks:  [ c0 | c1 | c7 | c2^41 ... ]    the same chunks by index, for ordered walks
 *              |
 *              v  PageChunk 1: pages 512..1023 (index = chunk * 512 + slot)
 *   owner:   [ oc7 | 0   | oc7 | oc9 | ... ]  Int32Array(512): obj_cgroup id, 0 = no page
 *   flags:   [ D   | -   | WB  | S   | ... ]  Uint8Array(512): PG_DIRTY, PG_WRITEBACK, PG_SWAP
 *   present 3, dirty 1, swapped 1            counts in the chunk (walks skip a chunk by them)
 *
 * A chunk is made by the first page added in its range and dropped from byIndex when
 * its last page goes; `chunks` keeps empty (dead) ones until they are over half of it,
 * then compacts (amortized O(1)), so memory stays at most twice the present chunks. A
 * chunk revived before compaction is reused; compacted ones go to a small shared pool
 * (spareChunks). Walks find the next chunk by binary search on its index (from a
 * cached position), so a walk survives chunks made or dropped under it. A charge may
 * reclaim this very mapping, or run other tasks (reclaim waits for writeback): code
 * holding a chunk across one checks `lookup(ci) === c` after it.
 *
 * A present page is charged to its owner objcg's memcg: as memory (resident) or as
 * swap (PG_SWAP, shmem only). Every change keeps the memcg counters, the memcg's
 * mapping index and the counts here in step; the property tests check that.
 * No allocation per page: typed arrays and counters (one chunk per 512 pages).
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

/** pages per chunk (the xarray's XA_CHUNK_SIZE is 64; one level of 512 keeps lookups flat) */
export const CHUNK_PAGES = 512;
const CHUNK_MASK = CHUNK_PAGES - 1;

/**
 * The chunk holding page `index`. Page indices go up to 2^51 (MAX_LFS_FILESIZE >>
 * PAGE_SHIFT), past int32: no `>>` here. (`index & CHUNK_MASK` is exact: ToInt32 keeps
 * the low bits of any integer below 2^53.)
 */
function chunkOf(index: number): number {
  return index < 0x80000000 ? index >> 9 : Math.floor(index / CHUNK_PAGES);
}

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

/** 512 consecutive page slots of a mapping (an xa_node's role). */
export class PageChunk {
  readonly owner = new Int32Array(CHUNK_PAGES);
  readonly flags = new Uint8Array(CHUNK_PAGES);
  /** slots with a page (owner !== 0) */
  present = 0;
  /** pages with PG_DIRTY */
  dirty = 0;
  /** pages with PG_SWAP */
  swapped = 0;
  /** dropped from byIndex (no pages); still in `chunks` until compaction */
  dead = false;
  constructor(
    /** pages [index * CHUNK_PAGES, (index + 1) * CHUNK_PAGES) (set again when reused from the pool) */
    public index: number,
  ) {}
}

/**
 * Empty chunks compacted away, kept for reuse by any mapping (zeroed: a chunk is dropped
 * only with every slot empty): a file cycling through a memcg's limit (read, evicted,
 * read again) would otherwise allocate a chunk per 512 pages. Bounded (1.3 MB).
 */
const spareChunks: PageChunk[] = [];
const MAX_SPARE_CHUNKS = 512;

export class AddressSpace {
  private readonly byIndex = new Map<number, PageChunk>();
  /** every chunk in byIndex, plus dead ones not yet compacted away, by index */
  private chunks: PageChunk[] = [];
  private nrDead = 0;
  /** lowerBound's last answer */
  private at = 0;
  /** the chunk last looked up (sequential access stays off the Map) */
  private hint: PageChunk | null = null;
  /** resident pages */
  nrpages = 0;
  nrDirty = 0;
  nrWriteback = 0;
  /** shmem pages in swap */
  nrSwap = 0;
  /** reclaim scan position (a clock hand): a page index */
  cursor = 0;
  /** 0 or -errno: how the last addPages/readPages stopped */
  lastError = 0;
  /** dirty pages the last startWriteback passed over because they were still under writeback */
  wbSkipped = 0;
  constructor(
    readonly kind: 'file' | 'shmem',
    readonly aops: AddressSpaceOps | null,
    /** for messages: the path or device */
    readonly name: string,
  ) {}

  /** objcg id of page `index`, 0 if there is none */
  ownerOf(index: number): number {
    const c = this.lookup(chunkOf(index));
    return c === null ? 0 : c.owner[index & CHUNK_MASK]!;
  }

  /** PG_* flags of page `index` (0 if there is none) */
  flagsOf(index: number): number {
    const c = this.lookup(chunkOf(index));
    return c === null ? 0 : c.flags[index & CHUNK_MASK]!;
  }

  /** every present page (resident or swapped), by index: for checks and reports (`fn` must not change the mapping) */
  forEachPage(fn: (index: number, objcgId: number, flags: number) => void): void {
    for (let c = this.nextChunk(0); c !== null; c = this.nextChunk(c.index + 1)) {
      const base = c.index * CHUNK_PAGES;
      for (let s = 0; s < CHUNK_PAGES; s++) if (c.owner[s] !== 0) fn(base + s, c.owner[s]!, c.flags[s]!);
    }
  }

  /** chunks holding pages: memory in use is proportional to this */
  get nrChunks(): number {
    return this.byIndex.size;
  }

  /** @internal the live chunk `ci`, or null */
  lookup(ci: number): PageChunk | null {
    const h = this.hint;
    if (h !== null && h.index === ci && !h.dead) return h;
    const c = this.byIndex.get(ci);
    if (c === undefined) return null;
    this.hint = c;
    return c;
  }

  /** @internal the chunk `ci`, made (or revived) if absent */
  chunk(ci: number): PageChunk {
    const h = this.hint;
    if (h !== null && h.index === ci && !h.dead) return h;
    return this.lookup(ci) ?? this.makeChunk(ci);
  }

  private makeChunk(ci: number): PageChunk {
    const arr = this.chunks;
    const at = this.lowerBound(ci);
    let c: PageChunk | undefined = arr[at];
    if (c !== undefined && c.index === ci) {
      // dead, not yet compacted: its slots are all zero again
      c.dead = false;
      this.nrDead--;
    } else {
      c = spareChunks.pop();
      if (c !== undefined) {
        c.index = ci;
        c.dead = false;
      } else c = new PageChunk(ci);
      if (at === arr.length) arr.push(c); // files mostly grow at the end
      else arr.splice(at, 0, c);
    }
    this.byIndex.set(ci, c);
    this.hint = c;
    return c;
  }

  /** @internal the first live chunk with index >= ci, or null */
  nextChunk(ci: number): PageChunk | null {
    const arr = this.chunks;
    for (let at = this.lowerBound(ci); at < arr.length; at++) if (!arr[at]!.dead) return arr[at]!;
    return null;
  }

  /** @internal chunk `c` has no pages left: drop it */
  release(c: PageChunk): void {
    if (c.dead || c.present !== 0) return;
    c.dead = true;
    this.byIndex.delete(c.index);
    if (this.hint === c) this.hint = null;
    if (++this.nrDead * 2 > this.chunks.length) {
      for (const x of this.chunks) if (x.dead && spareChunks.length < MAX_SPARE_CHUNKS) spareChunks.push(x);
      this.chunks = this.chunks.filter((x) => !x.dead);
      this.nrDead = 0;
    }
  }

  /** position of the first chunk (live or dead) with index >= ci */
  private lowerBound(ci: number): number {
    const arr = this.chunks;
    const n = arr.length;
    // appends go past the last chunk; walks and the clock hand ask for the one after the
    // last answer (`at`, a guess: checked, as chunks may have come or gone since)
    if (n === 0 || arr[n - 1]!.index < ci) return (this.at = n);
    const g = this.at;
    if (g < n && arr[g]!.index >= ci && (g === 0 || arr[g - 1]!.index < ci)) return g;
    if (g + 1 < n && arr[g + 1]!.index >= ci && arr[g]!.index < ci) return ++this.at;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (arr[mid]!.index < ci) lo = mid + 1;
      else hi = mid;
    }
    return (this.at = lo);
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
  // the memcg is looked up with the first page that needs a charge (a write over
  // pages already in the cache charges nothing: shmem_get_folio charges new folios
  // only), so such a write does not read the writer's memcg at all
  let mc: MemCgroup | null = memcg ?? null;
  const kind = mapping.kind;
  const setDirty = dirty && kind === 'file';
  const end = first + count;
  let added = 0;
  let i = first;
  let c: PageChunk | null = null;
  let ci = -1;
  chunks: while (i < end) {
    ci = chunkOf(i);
    c = mapping.chunk(ci);
    const base = ci * CHUNK_PAGES;
    const stop = Math.min(end - base, CHUNK_PAGES);
    for (let s = i - base; s < stop; s++, i++) {
      const id = c.owner[s]!;
      if (id === 0) {
        mc ??= getMemcgForCharge(k, task);
        const ret = chargePages(k, mc, 1, kind, task);
        if (ret < 0) {
          mapping.lastError = ret;
          break chunks;
        }
        // the charge may have reclaimed this very mapping (and with its last page this
        // chunk, maybe reused since by another mapping: see spareChunks)
        if (mapping.lookup(ci) !== c) c = mapping.chunk(ci);
        c.owner[s] = mc.objcg!.id;
        c.flags[s] = 0;
        c.present++;
        mapping.nrpages++;
        added++;
      } else if (c.flags[s]! & PG_SWAP) {
        // swap-in: charged to the memcg recorded for the page (section 7, rule 1)
        const oc = k.objcgs[id]!;
        const ret = chargePages(k, oc.memcg, 1, kind, task);
        if (ret < 0) {
          mapping.lastError = ret;
          break chunks;
        }
        if (mapping.lookup(ci) !== c) c = mapping.chunk(ci); // (reclaim does not drop shmem pages; an OOM kill's last close may)
        unchargeSwap(k, oc.memcg, 1);
        c.flags[s] = c.flags[s]! & ~PG_SWAP;
        c.swapped--;
        mapping.nrSwap--;
        mapping.nrpages++;
      }
      if (setDirty && !(c.flags[s]! & PG_DIRTY)) {
        c.flags[s] = c.flags[s]! | PG_DIRTY;
        c.dirty++;
        mapping.nrDirty++;
        k.objcgs[c.owner[s]!]!.memcg.stat[NR_FILE_DIRTY]!++;
      }
    }
  }
  // a chunk made for a page whose charge failed
  if (c !== null && c.present === 0 && mapping.lookup(ci) === c) mapping.release(c);
  if (added > 0) indexAdd(mc!, mapping, added);
  return i - first;
}

/**
 * Where the `nth` hole (a page not present, 1-based) of [first, last) is, or `last`
 * if there are fewer: shmem_inode_acct_blocks charges only new pages, so a tmpfs
 * write fits up to the hole its size= cannot hold. Absent chunks count whole.
 */
export function findHole(mapping: AddressSpace, first: number, last: number, nth: number): number {
  let need = Math.max(1, nth); // (size= below the blocks in use: the first hole does not fit)
  for (let i = first; i < last; ) {
    const ci = chunkOf(i);
    const base = ci * CHUNK_PAGES;
    const stop = Math.min(last, base + CHUNK_PAGES);
    const c = mapping.lookup(ci);
    if (c === null || c.present === 0) {
      if (stop - i >= need) return i + need - 1;
      need -= stop - i;
    } else if (c.present < CHUNK_PAGES) {
      const owner = c.owner;
      for (let s = i - base; s < stop - base; s++) if (owner[s] === 0 && --need <= 0) return base + s;
    }
    i = stop;
  }
  return last;
}

/** Drop pages [first, end) (truncate, unlink, last close of an unlinked file): uncharge them. */
export function removePages(k: Kernel, mapping: AddressSpace, first: number, end = Infinity): number {
  let n = 0;
  for (let c = mapping.nextChunk(chunkOf(first)); c !== null; c = mapping.nextChunk(c.index + 1)) {
    const base = c.index * CHUNK_PAGES;
    if (base >= end) break;
    const owner = c.owner;
    const flags = c.flags;
    const stop = Math.min(end - base, CHUNK_PAGES);
    for (let s = Math.max(first - base, 0); s < stop; s++) {
      const id = owner[s]!;
      if (id === 0) continue;
      const memcg = k.objcgs[id]!.memcg;
      const f = flags[s]!;
      if (f & PG_SWAP) {
        unchargeSwap(k, memcg, 1);
        mapping.nrSwap--;
        c.swapped--;
      } else {
        unchargePages(k, k.objcgs[id]!, 1, mapping.kind);
        mapping.nrpages--;
      }
      if (f & PG_DIRTY) {
        mapping.nrDirty--;
        c.dirty--;
        memcg.stat[NR_FILE_DIRTY]!--;
      }
      if (f & PG_WRITEBACK) {
        mapping.nrWriteback--;
        memcg.stat[NR_FILE_WRITEBACK]!--;
      }
      owner[s] = 0;
      flags[s] = 0;
      c.present--;
      indexAdd(memcg, mapping, -1);
      n++;
    }
    if (c.present === 0) mapping.release(c);
  }
  return n;
}

/** evictClean's work in slots [from, to) of one chunk; moves the clock hand past each page evicted */
function evictSlots(k: Kernel, mapping: AddressSpace, c: PageChunk, from: number, to: number, filter: (m: MemCgroup) => boolean, max: number): number {
  const owner = c.owner;
  const flags = c.flags;
  let n = 0;
  for (let s = from; s < to && n < max; s++) {
    const id = owner[s]!;
    if (id === 0 || flags[s] !== 0) continue;
    const oc = k.objcgs[id]!;
    if (!filter(oc.memcg)) continue;
    unchargePages(k, oc, 1, 'file');
    indexAdd(oc.memcg, mapping, -1);
    owner[s] = 0;
    c.present--;
    mapping.nrpages--;
    mapping.cursor = c.index * CHUNK_PAGES + s + 1;
    n++;
  }
  if (c.present === 0) mapping.release(c);
  return n;
}

/**
 * Evict up to `max` clean, resident page-cache pages whose memcg passes `filter`: a
 * clock hand from `cursor` to the last page, then from the first page back to it.
 * The hand stops after the last page evicted (stays put when the lap finds too few).
 */
export function evictClean(k: Kernel, mapping: AddressSpace, filter: (m: MemCgroup) => boolean, max: number): number {
  if (max <= 0 || mapping.kind !== 'file' || mapping.nrpages === 0) return 0;
  const start = mapping.cursor;
  const ci0 = chunkOf(start);
  const s0 = start - ci0 * CHUNK_PAGES;
  let n = 0;
  for (let c = mapping.nextChunk(ci0); c !== null && n < max; c = mapping.nextChunk(c.index + 1)) {
    if (c.present === c.dirty) continue; // nothing clean (writeback-only pages are scanned)
    n += evictSlots(k, mapping, c, c.index === ci0 ? s0 : 0, CHUNK_PAGES, filter, max - n);
  }
  for (let c = mapping.nextChunk(0); c !== null && c.index <= ci0 && n < max; c = mapping.nextChunk(c.index + 1)) {
    if (c.present === c.dirty) continue;
    n += evictSlots(k, mapping, c, 0, c.index === ci0 ? s0 : CHUNK_PAGES, filter, max - n);
  }
  return n;
}

/**
 * Start writeback of up to `max` dirty pages whose memcg passes `filter`, in runs of
 * contiguous pages with one owner (a run may cross chunks). Returns pages started.
 * A page redirtied while still under writeback is skipped, as write_cache_pages does
 * for WB_SYNC_NONE (6.1; folio_prepare_writeback in 6.12): it stays dirty for the next
 * round (an fsync waits and goes again: blkdevFsync). Starting it again counted it
 * twice in nrWriteback and file_writeback, and one end_page_writeback cleared it once.
 */
export function startWriteback(k: Kernel, mapping: AddressSpace, filter: (m: MemCgroup) => boolean, max: number, current: Task | null): number {
  mapping.wbSkipped = 0;
  if (max <= 0 || mapping.nrDirty === 0) return 0;
  let started = 0;
  const runs: number[] = []; // [first, count, objcgId]*: collected first, submitted after (submission may complete synchronously)
  // the open run: pages [runFirst, runEnd) of runId (runFirst < 0: none)
  let runFirst = -1;
  let runEnd = -1;
  let runId = 0;
  for (let c = mapping.nextChunk(0); c !== null && started < max; c = mapping.nextChunk(c.index + 1)) {
    if (c.dirty === 0) continue;
    const base = c.index * CHUNK_PAGES;
    const owner = c.owner;
    const flags = c.flags;
    for (let s = 0; s < CHUNK_PAGES && started < max; s++) {
      const f = flags[s]!;
      if (!(f & PG_DIRTY)) continue;
      if (f & PG_WRITEBACK) {
        mapping.wbSkipped++;
        continue;
      }
      const id = owner[s]!;
      const i = base + s;
      const oc = k.objcgs[id]!;
      if (runFirst < 0 || i !== runEnd || id !== runId) {
        if (runFirst >= 0) runs.push(runFirst, runEnd - runFirst, runId);
        runFirst = -1;
        if (!filter(oc.memcg)) continue;
        runFirst = i;
        runEnd = i;
        runId = id;
      }
      flags[s] = (f & ~PG_DIRTY) | PG_WRITEBACK;
      c.dirty--;
      oc.memcg.stat[NR_FILE_DIRTY]!--;
      oc.memcg.stat[NR_FILE_WRITEBACK]!++;
      runEnd++;
      started++;
    }
  }
  if (runFirst >= 0) runs.push(runFirst, runEnd - runFirst, runId);
  mapping.nrDirty -= started;
  mapping.nrWriteback += started;
  for (let r = 0; r < runs.length; r += 3) {
    const oc = k.objcgs[runs[r + 2]!]!;
    if (mapping.aops !== null) mapping.aops.writeback(k, mapping, runs[r]!, runs[r + 1]!, oc, current);
    else endWriteback(k, mapping, runs[r]!, runs[r + 1]!);
  }
  return started;
}

/** end_page_writeback for pages [first, first+count): they are clean now. */
export function endWriteback(k: Kernel, mapping: AddressSpace, first: number, count: number): void {
  const end = first + count;
  for (let c = mapping.nextChunk(chunkOf(first)); c !== null; c = mapping.nextChunk(c.index + 1)) {
    const base = c.index * CHUNK_PAGES;
    if (base >= end) break;
    const flags = c.flags;
    const stop = Math.min(end - base, CHUNK_PAGES);
    for (let s = Math.max(first - base, 0); s < stop; s++) {
      if (!(flags[s]! & PG_WRITEBACK)) continue; // truncated meanwhile
      flags[s] = flags[s]! & ~PG_WRITEBACK;
      mapping.nrWriteback--;
      k.objcgs[c.owner[s]!]!.memcg.stat[NR_FILE_WRITEBACK]!--;
    }
  }
}

/** Move up to `max` resident shmem pages owned by `memcg` to swap, from the first page. */
export function swapOutShmem(k: Kernel, mapping: AddressSpace, memcg: MemCgroup, max: number): number {
  if (max <= 0 || mapping.kind !== 'shmem' || mapping.nrpages === 0) return 0;
  let n = 0;
  for (let c = mapping.nextChunk(0); c !== null && n < max; c = mapping.nextChunk(c.index + 1)) {
    if (c.present === c.swapped) continue;
    const owner = c.owner;
    const flags = c.flags;
    for (let s = 0; s < CHUNK_PAGES && n < max; s++) {
      const id = owner[s]!;
      if (id === 0 || flags[s]! & PG_SWAP) continue;
      if (k.objcgs[id]!.memcg !== memcg) continue;
      flags[s] = flags[s]! | PG_SWAP;
      c.swapped++;
      n++;
    }
  }
  if (n > 0) {
    mapping.nrpages -= n;
    mapping.nrSwap += n;
    chargeSwapOut(k, memcg, n, NR_SHMEM);
  }
  return n;
}

/** addPages(k, mapping, task, i, 1, false, mc) for a page-cache page known absent (readPages' hot path): 0 or -errno */
function readMiss(k: Kernel, mapping: AddressSpace, task: Task | null, i: number, mc: MemCgroup): number {
  mapping.lastError = 0;
  const ci = chunkOf(i);
  let c = mapping.chunk(ci);
  const s = i & CHUNK_MASK;
  const ret = chargePages(k, mc, 1, 'file', task);
  if (ret < 0) {
    mapping.lastError = ret;
    if (c.present === 0 && mapping.lookup(ci) === c) mapping.release(c);
    return ret;
  }
  if (mapping.lookup(ci) !== c) c = mapping.chunk(ci); // as in addPages
  c.owner[s] = mc.objcg!.id;
  c.flags[s] = 0;
  c.present++;
  mapping.nrpages++;
  indexAdd(mc, mapping, 1);
  return 0;
}

/**
 * Read pages [first, first+count): page-cache misses are filled (charged, clean,
 * read from the backing store if there is one); swapped shmem is swapped in; shmem
 * holes stay holes (reads of a hole see the zero page). Returns pages done; stops on
 * a failed charge with lastError set.
 */
export function readPages(k: Kernel, mapping: AddressSpace, task: Task | null, first: number, count: number): number {
  mapping.lastError = 0;
  const end = first + count;
  if (mapping.kind === 'shmem') {
    if (mapping.nrSwap === 0) return count;
    // only present chunks can hold swapped pages: a read over holes costs nothing per page
    for (let c = mapping.nextChunk(chunkOf(first)); c !== null; ) {
      const ci = c.index;
      const base = ci * CHUNK_PAGES;
      if (base >= end) break;
      const stop = Math.min(end - base, CHUNK_PAGES);
      for (let s = Math.max(first - base, 0); s < stop && c !== null && c.swapped > 0; s++) {
        if (!(c.flags[s]! & PG_SWAP)) continue;
        if (addPages(k, mapping, task, base + s, 1, false) !== 1) return base + s - first;
        c = mapping.lookup(ci); // (the swap-in's charge may have run other tasks: see addPages)
      }
      c = mapping.nextChunk(ci + 1);
    }
    return count;
  }
  const memcg = getMemcgForCharge(k, task);
  let done = 0;
  let runStart = -1;
  const flush = (stop: number): void => {
    if (runStart >= 0 && mapping.aops?.readpages) mapping.aops.readpages(k, mapping, runStart, stop - runStart, memcg.objcg!, task);
    runStart = -1;
  };
  for (let i = first; i < end; i++, done++) {
    if (mapping.ownerOf(i) !== 0) {
      flush(i);
      continue;
    }
    if (readMiss(k, mapping, task, i, memcg) < 0) break;
    if (runStart < 0) runStart = i;
  }
  flush(first + done);
  return done;
}

/**
 * The PSI groups' hot state (psi.ts): one 64-byte record a group, side by side in one
 * buffer per kernel (its PsiTracker's), so that a count change and a fold of a group
 * touch one cache line and no JS object of the group's.
 *
 * Why (issue 10, the processes curve: a thousand qemu processes with a cgroup each,
 * their workers woken, dispatched and put to sleep once a round): each change of a
 * worker reaches its group, and with a thousand groups taking turns every group is out
 * of cache at the wake-up and again at the dispatch. As JS objects a group was its
 * PsiGroup (two lines), its Float64Array of virtual ns (the typed array object and its
 * data: one or two more) and the pointer chase between them; cachegrind counted 13 line
 * misses a device-round for PSI (0.83 of the 3.08 a work), about 7 ns a work of the
 * curve's growth.
 *
 *   buffer: a WebAssembly.Memory's, used as a plain page-aligned ArrayBuffer (V8 maps
 *   Wasm memory in whole pages; an ArrayBuffer from malloc starts 16 bytes into a
 *   line, and every record would straddle two)
 *
 *   record s, at byte s * 64 (one cache line)
 *   +0   i32  d_waiting  deferred change of `waiting` (PsiTracker.defer), applied at settle
 *   +4   i32  d_oncpu    deferred change of `oncpu`
 *   +8   i32  dirty      1 while on the tracker's dirty list
 *   +12  i32  up         the parent group's record (psi_group->parent); -1 for the root
 *   +16  i32  waiting    threads of the subtree runnable off-CPU (queued, or held by CFS bandwidth)
 *   +20  i32  oncpu      threads of the subtree on a CPU
 *   +24  i32  flags      PsiFlag.SETTING  cgroup.pressure as written
 *                        PsiFlag.ENABLED  cgroup.pressure as of the last fold (it holds until the next)
 *                        PsiFlag.ACTIVE   stall came in since the avgs work last ran
 *   +28  i32  (unused)
 *   +32  f64  folded_at  the event time the stall is folded up to (psi_group_cpu.state_start)
 *   +40  f64  work_at    when the avgs work runs next; Infinity: not scheduled
 *   +48  f64  some_ns    total[PSI_AVGS][PSI_CPU_SOME]
 *   +56  f64  full_ns    total[PSI_AVGS][PSI_CPU_FULL]
 *
 * The averages' state (avg_total, avg_last_update, avg_next_update, avg[]) is touched
 * once per 2 s period and stays on the PsiGroup object. One thread (the kernel's) reads
 * and writes the records: no atomics.
 */

/**
 * A record's fields: R32 indexes its 16 i32, R64 its 8 f64 (two enums, so that an index
 * reads as the view it belongs to). Const enums: tsc writes the numbers into the code
 * that uses them (an imported `const` is a module-variable load and a hole check in
 * V8's bytecode, which made PsiTracker's small hot functions too large for V8 to inline)
 */
export const enum R32 {
  D_WAITING = 0,
  D_ONCPU = 1,
  DIRTY = 2,
  UP = 3,
  WAITING = 4,
  ONCPU = 5,
  FLAGS = 6,
}
export const enum R64 {
  FOLDED_AT = 4,
  WORK_AT = 5,
  SOME_NS = 6,
  FULL_NS = 7,
}

/** R32.FLAGS bits (ENABLED is SETTING << 1: PsiTracker.count and fold rely on it) */
export const enum PsiFlag {
  SETTING = 1,
  ENABLED = 2,
  ACTIVE = 4,
}

/** record size: 64 bytes = 16 i32 = 8 f64 (i32 index s << 4, f64 index s << 3) */
const RECORD_BYTES = 64;
const PAGE_BYTES = 65536;

export class PsiPool {
  /** the pages the records live in (a larger one replaces it when it is full) */
  private memory = new WebAssembly.Memory({ initial: 1 });
  /** views of the memory; replaced when it grows (readers take them from here each call) */
  i32 = new Int32Array(this.memory.buffer);
  f64 = new Float64Array(this.memory.buffer);
  /** records given back (a released cgroup's), reused first */
  private readonly freeList: number[] = [];
  /** records ever handed out */
  private used = 0;

  /** records in use */
  get inUse(): number {
    return this.used - this.freeList.length;
  }

  /** a record for a group that starts counting: no counts, not dirty, never folded, no work scheduled */
  alloc(up: number, setting: boolean): number {
    let s = this.freeList.pop();
    if (s === undefined) {
      s = this.used++;
      if ((s + 1) * RECORD_BYTES > this.memory.buffer.byteLength) {
        // Half as large again (amortized O(1) a record), into a new memory with the records
        // copied: Memory.grow would detach the old buffer, and the first detached
        // ArrayBuffer of a process makes V8's optimized code check for detachment on every
        // typed-array access from then on (its ArrayBufferDetaching protector), the
        // engine's hot paths included. Fails only past 4 GiB (67 M records), far beyond
        // what the cgroups' own objects leave of the JS heap.
        const pages = this.memory.buffer.byteLength / PAGE_BYTES;
        const bigger = new WebAssembly.Memory({ initial: pages + Math.max(1, pages >>> 1) });
        new Int32Array(bigger.buffer).set(this.i32);
        this.memory = bigger;
        this.i32 = new Int32Array(bigger.buffer);
        this.f64 = new Float64Array(bigger.buffer);
      }
    }
    const i = s << 4;
    this.i32.fill(0, i, i + 16);
    this.i32[i + R32.UP] = up;
    // the interval from attach starts at the setting of then
    this.i32[i + R32.FLAGS] = setting ? PsiFlag.SETTING | PsiFlag.ENABLED : 0;
    this.f64[(s << 3) + R64.WORK_AT] = Infinity;
    return s;
  }

  /** give record `s` back (its group's cgroup was released; its counts are 0) */
  free(s: number): void {
    this.freeList.push(s);
  }
}

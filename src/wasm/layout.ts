/**
 * The shared-memory layout: the host assigns every offset once, at boot, and the
 * memory is created with initial == maximum from the total (DESIGN.md rule 5).
 * assembly/layout.ts mirrors the fixed part (the control block) and
 * assembly/{arena,vhost}.ts the struct layouts; Engine.create checks the struct
 * sizes against the module's own (vhost_work_size, ...) so a stale build fails loudly.
 *
 * ```
 *   0        64              128   (every region 64-byte aligned, in this order)
 *   +--------+---------------+------------------+---------------------+
 *   | NULL   | control block | arena headers    | arena objects        |
 *   | never  | magic abi     | 128 B each:      | works: 32 B each     |
 *   | valid  | canary total  | head u64 on its  | (+ extra arenas the  |
 *   |        | counters n    | own line         |  caller asks for)    |
 *   +--------+---------------+------------------+---------------------+
 *   | vhost workers 256 B each | counters u64 each | sync words (u32,   |
 *   | (list head, state, stop, |                   |  each on its own   |
 *   |  stats on separate lines)|                   |  64-byte line)     |
 *   +--------------------------+-------------------+--------------------+
 *   | per-thread scratch slots (slotBytes each): batch arrays, HOST-work |
 *   | output buffers, stats snapshots; one slot per thread, never shared |
 *   +--------------------------------------------------------------------+ total
 * ```
 *
 * The control block (offset 64, one line, read-only after boot):
 * `+0 magic 'KWQ1'  +4 abi  +8 canary  +12 total  +16 counters  +20 ncounters`.
 */
export const NULL_END = 64;
export const CACHELINE = 64;

export const CTRL = 64;
export const CTRL_MAGIC = CTRL + 0;
export const CTRL_ABI = CTRL + 4;
export const CTRL_CANARY = CTRL + 8;
export const CTRL_TOTAL = CTRL + 12;
export const CTRL_COUNTERS = CTRL + 16;
export const CTRL_NCOUNTERS = CTRL + 20;
export const CTRL_END = CTRL + 64;

export const KWQ_MAGIC = 0x3151574b; // 'KWQ1'
export const KWQ_ABI_VERSION = 3; // assembly/layout.ts says what changed

/** assembly/arena.ts */
export const ARENA_HEADER_SIZE = 128;

/** assembly/vhost.ts: struct vhost_work (32 bytes). */
export const VHOST_WORK_QUEUED = 1; // bit number, mask 0x2
export const VHOST_WORK = {
  NODE: 0, FLAGS: 4, FN: 8, ARG: 12, COST: 16, OWNER: 20, SEQ: 24, RESULT: 28, SIZE: 32,
} as const;

/**
 * assembly/vhost.ts: struct vhost_worker (256 bytes). ITEMS and BATCHES are u64
 * statistics written by the thread running the worker (vhost_worker_run): the sim
 * runtime reads them from memory after each run instead of a vhost_worker_stats call.
 */
export const VHOST_WORKER = {
  LIST: 0, STATE: 64, STOP: 68, WAKEUPS: 72, SPIN_FLOOR: 80, PENDING: 128, ITEMS: 136, BATCHES: 144, SIZE: 256,
} as const;
export const VHOST_WORKER_RUNNING = 0;
export const VHOST_WORKER_SLEEPING = 1;

/** Built-in work functions (assembly/vhost.ts); ids >= VHOST_FN_HOST are JS handlers. */
export const VHOST_FN_NOOP = 0;
export const VHOST_FN_SPIN = 1;
export const VHOST_FN_COUNT = 2;
export const VHOST_FN_COMPLETE = 3;
export const VHOST_FN_HOST = 16;

/** One named region of the layout. */
export interface Region {
  readonly name: string;
  readonly offset: number;
  readonly bytes: number;
}

/** An arena: header (128 B) + `capacity` objects of `objSize` bytes. */
export interface ArenaLayout {
  readonly name: string;
  readonly header: number;
  readonly base: number;
  readonly objSize: number;
  readonly capacity: number;
}

/** The whole layout; plain data, so it crosses postMessage as is. */
export interface EngineLayout {
  readonly totalBytes: number;
  readonly regions: readonly Region[];
  readonly works: ArenaLayout;
  readonly arenas: readonly ArenaLayout[];
  readonly workers: { readonly base: number; readonly count: number; readonly stride: number };
  readonly counters: { readonly base: number; readonly count: number };
  readonly sync: { readonly base: number; readonly count: number; readonly stride: number };
  readonly slots: { readonly base: number; readonly count: number; readonly bytes: number };
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Assigns offsets: regions in call order, each aligned (64 bytes unless asked),
 * starting after the control block. Offsets are u32: the total must stay below 4 GiB.
 */
export class LayoutBuilder {
  private next = CTRL_END;
  private readonly list: Region[] = [];

  /** Reserve `bytes` bytes, aligned to `align`; returns the offset. */
  region(name: string, bytes: number, align = CACHELINE): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`layout: region ${name}: bad size ${bytes}`);
    const offset = alignUp(this.next, align);
    this.next = offset + bytes;
    if (this.next > 0xffff_0000) throw new RangeError(`layout: region ${name} ends at ${this.next}, beyond the u32 offset space`);
    this.list.push({ name, offset, bytes });
    return offset;
  }

  /** Bytes used so far, rounded up to a cache line. */
  get totalBytes(): number {
    return alignUp(this.next, CACHELINE);
  }

  get regions(): readonly Region[] {
    return this.list;
  }
}

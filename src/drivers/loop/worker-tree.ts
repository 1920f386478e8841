/**
 * loop_device.worker_tree in the engine's Wasm red-black tree (assembly/rbtree.ts):
 * one tree per device, keyed by the issuing blkcg's cgroup id, nodes allocated from a
 * fixed arena in the shared memory (one engine per kernel, made on first use).
 *
 *   shared memory (Engine arenas)
 *   arena "loop_root"   8 B each:  +0 u32 rb_root.rb_node   +4 pad
 *   arena "loop_worker" 32 B each: the Wasm half of a struct loop_worker
 *     +0  u32 __rb_parent_color ┐
 *     +4  u32 rb_right          │ struct rb_node
 *     +8  u32 rb_left           ┘
 *     +12 u32 slot              index of the TypeScript half (cmd list, work, css)
 *     +16 u64 key               blkcg cgroup id (LOOP_WORKER_KEY)
 *     +24 u32 device number     +28 pad
 *
 * Divergence (docs/divergences.md, "rbtree key and order"): the kernel keys the tree by
 * the css pointer compared as a signed long with the comparison inverted; kwq keys by
 * the never-reused 64-bit cgroup id, smaller ids on the left. Lookups give the same
 * worker for the same cgroup; only the in-order walk differs.
 *
 * Locking: every call runs under the device's lo_work_lock, which in this model is the
 * JavaScript thread itself (the sim and the threads runtime's host loop are one thread;
 * no worker_thread touches these trees). No allocation per lookup: keys are passed as two
 * u32 halves, never as BigInt.
 *
 * The arena is sized once per kernel by `kwq.loop_worker_max` (default 4096): when it is
 * full, allocating a worker fails and the command goes to the root queue, as the
 * kernel's GFP_NOWAIT kzalloc failure does (section 6.4).
 */
import { Engine } from '../../wasm/engine.js';
import { rbTreeExports, rbValidate, type RbShape, type RbTreeExports } from '../../wasm/rbtree.js';
import { ENOMEM } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';

export const LOOP_WORKER_NODE_SIZE = 32;
export const LOOP_WORKER_SLOT = 12;
export const LOOP_WORKER_KEY = 16;
export const LOOP_WORKER_DEV = 24;
/** loop devices that may have a worker tree at once (one rb_root each) */
export const LOOP_MAX_TREES = 4096;

const TWO32 = 2 ** 32;

/** The engine a kernel's loop devices share. */
export class LoopEngine {
  readonly engine: Engine;
  readonly x: RbTreeExports;
  readonly u32: Uint32Array;
  readonly nodeBase: number;
  readonly capacity: number;
  /** nodes in use */
  live = 0;
  constructor(workerCapacity: number) {
    this.engine = Engine.create({
      works: 1, workers: 0, counters: 0, threadSlots: 1, slotBytes: 4096, syncWords: 0,
      arenas: [
        { name: 'loop_worker', objSize: LOOP_WORKER_NODE_SIZE, capacity: workerCapacity },
        { name: 'loop_root', objSize: 8, capacity: LOOP_MAX_TREES },
      ],
    });
    this.x = rbTreeExports(this.engine.exports as unknown as Record<string, unknown>);
    this.u32 = this.engine.u32;
    this.nodeBase = this.engine.arena('loop_worker').layout.base;
    this.capacity = workerCapacity;
  }
  /** the index of a node in its arena (the key of the TS side table) */
  index(node: number): number {
    return (node - this.nodeBase) / LOOP_WORKER_NODE_SIZE;
  }
}

const engines = new WeakMap<Kernel, LoopEngine>();

/** The kernel's loop engine, made on first use with `kwq.loop_worker_max` worker nodes. */
export function loopEngine(k: Kernel): LoopEngine {
  let e = engines.get(k);
  if (e === undefined) {
    e = new LoopEngine(k.kwqSwitch('loop_worker_max') as number);
    engines.set(k, e);
  }
  return e;
}

/** One device's worker_tree: cgroup id -> worker slot. */
export class WorkerTree {
  readonly root: number;
  private readonly e: LoopEngine;
  constructor(e: LoopEngine) {
    this.e = e;
    const r = e.engine.arena('loop_root').tryAlloc();
    if (r < 0) throw new Error('loop: no free rb_root (LOOP_MAX_TREES)');
    this.root = r;
    e.x.rb_root_init(r);
  }

  /** rb_find by cgroup id: the node, or 0 */
  find(id: number): number {
    return this.e.x.rb_find_u64(this.root, id % TWO32 >>> 0, Math.floor(id / TWO32) >>> 0, LOOP_WORKER_KEY) >>> 0;
  }

  /**
   * A new node for cgroup `id`, linked into the tree (rb_link_node + rb_insert_color);
   * -ENOMEM when the arena is full. The caller has checked that `id` is absent.
   */
  insert(id: number, slot: number, devNumber: number): number {
    const e = this.e;
    const node = e.engine.arena('loop_worker').tryAlloc();
    if (node < 0) return -ENOMEM;
    const u = e.u32;
    u[(node + LOOP_WORKER_SLOT) >>> 2] = slot;
    u[(node + LOOP_WORKER_KEY) >>> 2] = id % TWO32 >>> 0;
    u[(node + LOOP_WORKER_KEY + 4) >>> 2] = Math.floor(id / TWO32) >>> 0;
    u[(node + LOOP_WORKER_DEV) >>> 2] = devNumber;
    const clash = e.x.rb_find_add_u64(this.root, node, LOOP_WORKER_KEY) >>> 0;
    if (clash !== 0) {
      e.engine.arena('loop_worker').free(node);
      throw new Error(`loop: worker_tree already holds cgroup id ${id}`);
    }
    e.live++;
    return node;
  }

  /** rb_erase + free the node (kfree(worker)) */
  erase(node: number): void {
    const e = this.e;
    e.x.rb_erase(node, this.root);
    e.engine.arena('loop_worker').free(node);
    e.live--;
  }

  slot(node: number): number {
    return this.e.u32[(node + LOOP_WORKER_SLOT) >>> 2]!;
  }

  key(node: number): number {
    const u = this.e.u32;
    return u[(node + LOOP_WORKER_KEY + 4) >>> 2]! * TWO32 + u[(node + LOOP_WORKER_KEY) >>> 2]!;
  }

  /** every node, in key order */
  nodes(): number[] {
    const out: number[] = [];
    for (let n = this.e.x.rb_first(this.root) >>> 0; n !== 0; n = this.e.x.rb_next(n) >>> 0) out.push(n);
    return out;
  }

  get empty(): boolean {
    return this.e.x.rb_empty_root(this.root) === 1;
  }

  /** check the red-black invariants (tests) */
  validate(): RbShape {
    const u = this.e.u32;
    const root = this.root;
    return rbValidate({
      rootNode: () => u[root >>> 2]!,
      parentColor: (n) => u[n >>> 2]!,
      right: (n) => u[(n + 4) >>> 2]!,
      left: (n) => u[(n + 8) >>> 2]!,
      keyLo: (n) => u[(n + LOOP_WORKER_KEY) >>> 2]!,
      keyHi: (n) => u[(n + LOOP_WORKER_KEY + 4) >>> 2]!,
    }, this.e.capacity + 1, 'loop worker_tree');
  }

  /** give the rb_root back (lo_free_disk); the tree must be empty */
  release(): void {
    this.e.engine.arena('loop_root').free(this.root);
  }
}


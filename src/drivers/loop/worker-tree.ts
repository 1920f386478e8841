/**
 * The loop driver's view of its Wasm dispatch (src/wasm/loop.ts over assembly/loop.ts):
 * one LoopEngine per kernel holding every device's dispatch state, the loop_workers
 * and the loop_cmds in the shared memory, and the side tables that map a Wasm object
 * back to its TypeScript half (the css references, the sim workqueue's work item,
 * the request a command belongs to).
 *
 *   shared memory (one LoopEngine per kernel)          TypeScript side tables
 *   loop_device  lock, worker_tree, idle list, root  ◄─ LoopDevice.tree (WorkerTree)
 *   loop_worker  rb_node, key, cmd FIFO, PENDING ... ─► workers[index]: LoopWorker (css, WorkStruct)
 *   loop_cmd     next, key, worker, result         ─► cmds[index]:    LoopCmd (bio, memcg css)
 *
 * Sizes are fixed per kernel: `kwq.loop_worker_max` workers (default 4096: a full
 * arena makes the allocation fail and the command go to the root queue, as the
 * kernel's GFP_NOWAIT kzalloc failure does, section 6.4) and `kwq.loop_cmd_max`
 * commands (default 1M): each loop_add reserves its tag set's depth of them
 * (loop.hw_queue_depth), so a request holding a tag always finds its command.
 *
 * Divergence (docs/divergences.md, "rbtree key and order"): the kernel keys the tree by
 * the css pointer compared as a signed long with the comparison inverted; kwq keys by
 * the never-reused 64-bit cgroup id, smaller ids on the left.
 */
import type { Kernel } from '../../kernel/kernel.js';
import { LoopEngine, type LoopDispatch } from '../../wasm/loop.js';
import type { RbShape } from '../../wasm/rbtree.js';
import type { LoopCmd } from './loop-cmd.js';
import type { LoopWorker } from './loop-worker.js';
import { LOOP_KTHREADS_MAX, LOOP_KTHREAD_WQS } from './loop-kthreads.js';

/** loop devices that may have dispatch state at once */
export const LOOP_MAX_TREES = 4096;

/** A kernel's loop engine and its side tables. */
export class KernelLoop {
  readonly le: LoopEngine;
  /** TypeScript halves of the live workers, by arena index */
  readonly workers: (LoopWorker | null)[] = [];
  /** TypeScript halves of the commands, by arena index */
  readonly cmds: (LoopCmd | null)[] = [];
  /**
   * `threads`: the kernel runs the threads runtime, where each bound device's kworkers
   * are worker_threads (loop-kthreads.ts): the engine then also holds the Wasm
   * workqueues and a scratch slot per kworker thread.
   */
  constructor(workerMax: number, cmdMax: number, threads = false) {
    this.le = new LoopEngine(threads
      ? { workers: workerMax, cmds: cmdMax, devices: LOOP_MAX_TREES, workqueues: LOOP_KTHREAD_WQS, threadSlots: 1 + LOOP_KTHREADS_MAX }
      : { workers: workerMax, cmds: cmdMax, devices: LOOP_MAX_TREES });
  }
  /** the TypeScript half of a Wasm loop_worker */
  worker(w: number): LoopWorker {
    return this.workers[this.le.workerIndex(w)]!;
  }
  /** the TypeScript half of a Wasm loop_cmd */
  cmd(c: number): LoopCmd {
    return this.cmds[this.le.cmdIndex(c)]!;
  }
}

const engines = new WeakMap<Kernel, KernelLoop>();

/** The kernel's loop engine, made on first use with `kwq.loop_worker_max` workers and `kwq.loop_cmd_max` commands. */
export function loopEngine(k: Kernel): KernelLoop {
  let e = engines.get(k);
  if (e === undefined) {
    e = new KernelLoop(k.kwqSwitch('loop_worker_max') as number, k.kwqSwitch('loop_cmd_max') as number, k.rt.kind === 'threads');
    engines.set(k, e);
  }
  return e;
}

/** One device's dispatch state (worker_tree, idle list, root queue), as the driver and tests see it. */
export class WorkerTree {
  constructor(readonly kl: KernelLoop, readonly d: LoopDispatch) {}

  /** every worker (its Wasm offset), in key order */
  nodes(): number[] {
    return this.d.workers();
  }

  /** the index of a worker's TypeScript half */
  slot(node: number): number {
    return this.kl.le.workerIndex(node);
  }

  /** a worker's key: the blkcg cgroup id */
  key(node: number): number {
    return this.kl.le.key(node);
  }

  find(id: number): number {
    return this.d.find(id);
  }

  get empty(): boolean {
    return this.d.nrWorkers === 0;
  }

  /** check the red-black invariants (tests) */
  validate(): RbShape {
    return this.d.validate();
  }

  /** give the dispatch block back (lo_free_disk); the tree must be empty */
  release(): void {
    this.d.release();
  }
}

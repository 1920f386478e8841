// @ts-check
/**
 * Attaching a worker thread to an Engine, in plain JavaScript: worker_threads entry
 * files must be .js on Node 20, and under vitest the TypeScript sources are not
 * compiled, so src/runtime/worker.js imports this file rather than engine.ts.
 * Everything here mirrors engine.ts / layout.ts; test/engine/thread-layer.test.ts
 * checks the constants against layout.ts.
 *
 * A thread attaches with `attachKwq(t, slot)`: it instantiates the module
 * synchronously over the shared memory (about 0.1 ms), then checks the canary
 * word the main thread wrote after creating the memory, proving that this
 * instantiation rewrote nothing.
 */
import { setFlagsFromString } from 'node:v8';

// Node 20: the baseline compiler loses locals live across memory.atomic.wait32
// (shared/wasm-notes.md); flags are per process, set again in case this thread
// compiles anything before module.ts ran in it.
setFlagsFromString('--no-liftoff');

export const CTRL_MAGIC = 64;
export const CTRL_CANARY = 72;
export const KWQ_MAGIC = 0x3151574b;
export const STATS_BYTES = 64;
export const VHOST_WORK = Object.freeze({ NODE: 0, FLAGS: 4, FN: 8, ARG: 12, COST: 16, OWNER: 20, SEQ: 24, RESULT: 28, SIZE: 32 });
export const VHOST_FN_HOST = 16;

/**
 * @typedef {{ module: WebAssembly.Module, memory: WebAssembly.Memory, layout: any, canary: number }} EngineTransferable
 * @typedef {(work: number, fn: number, arg: number) => void} HostHandler
 */

/** A thread's view of the engine: exports, typed views, its scratch slot, offsets from the layout. */
export class ThreadContext {
  /**
   * @param {EngineTransferable} t
   * @param {number} slot
   */
  constructor(t, slot) {
    const { layout } = t;
    if (!Number.isInteger(slot) || slot < 0 || slot >= layout.slots.count) {
      throw new RangeError(`kwq thread: scratch slot ${slot} does not exist (the engine has ${layout.slots.count}; option threadSlots)`);
    }
    this.layout = layout;
    this.canary = t.canary;
    const instance = new WebAssembly.Instance(t.module, { env: { memory: t.memory } });
    /** @type {any} */
    this.x = instance.exports;
    const buf = t.memory.buffer;
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    if (!this.checkCanary()) {
      throw new Error('kwq thread: the control block canary changed during instantiation: the module rewrote shared memory');
    }
    const bytes = layout.slots.bytes;
    this.slot = slot;
    this.slotOffset = layout.slots.base + slot * bytes;
    const half = ((bytes - STATS_BYTES) >> 3) << 2;
    this.out = this.slotOffset + STATS_BYTES;
    this.outCap = half >> 2;
    this.input = this.out + half;
    this.inputCap = half >> 2;
  }

  checkCanary() {
    return Atomics.load(this.u32, CTRL_CANARY >> 2) === this.canary && this.u32[CTRL_MAGIC >> 2] === KWQ_MAGIC;
  }

  /** @param {number} i */
  workerOffset(i) {
    const w = this.layout.workers;
    if (!Number.isInteger(i) || i < 0 || i >= w.count) throw new RangeError(`kwq thread: vhost worker ${i} does not exist`);
    return w.base + i * w.stride;
  }

  /** Int32Array index of sync word i. @param {number} i */
  syncIndex(i) {
    const s = this.layout.sync;
    if (!Number.isInteger(i) || i < 0 || i >= s.count) throw new RangeError(`kwq thread: sync word ${i} does not exist`);
    return (s.base + i * s.stride) >> 2;
  }

  /** Copy refs into this thread's input array (at `at` entries in); returns its byte offset. @param {ArrayLike<number>} refs */
  stage(refs, at = 0) {
    if (at + refs.length > this.inputCap) throw new RangeError(`kwq thread: ${refs.length} refs do not fit the scratch input array (${this.inputCap}; option slotBytes)`);
    const base = (this.input >> 2) + at;
    for (let i = 0; i < refs.length; i++) this.u32[base + i] = refs[i];
    return this.input + at * 4;
  }

  /** @param {number} w */ workFn(w) { return this.u32[(w + VHOST_WORK.FN) >> 2]; }
  /** @param {number} w */ workArg(w) { return this.u32[(w + VHOST_WORK.ARG) >> 2]; }
  /** @param {number} w */ workOwner(w) { return this.u32[(w + VHOST_WORK.OWNER) >> 2]; }
  /** @param {number} w */ workSeq(w) { return this.u32[(w + VHOST_WORK.SEQ) >> 2]; }
  /** @param {number} w @param {number} owner @param {number} seq */
  setWorkTag(w, owner, seq) { this.u32[(w + VHOST_WORK.OWNER) >> 2] = owner; this.u32[(w + VHOST_WORK.SEQ) >> 2] = seq; }
  /** The result word's Int32Array index (handlers use it as a done flag). @param {number} w */
  workResultIndex(w) { return (w + VHOST_WORK.RESULT) >> 2; }

  /**
   * The blocking vhost worker loop (vhost_task_fn): Wasm runs built-ins inline and
   * sleeps when idle; HOST works come back here in FIFO order for `handler`.
   * Returns when the stop flag is seen. Never call on the main thread.
   * @param {number} worker index
   * @param {number} spin empty-list re-checks before sleeping
   * @param {HostHandler | undefined} handler
   */
  runVhostWorker(worker, spin, handler) {
    const off = this.workerOffset(worker);
    const { x, u32, out, outCap } = this;
    const outIdx = out >> 2;
    let hostRuns = 0;
    for (;;) {
      const n = x.vhost_worker_loop(off, out, outCap, spin >>> 0);
      if (n < 0) break;
      if (!handler) throw new Error(`kwq thread: vhost worker ${worker} handed out ${n} HOST work(s) but the thread has no handler`);
      for (let i = 0; i < n; i++) {
        const w = u32[outIdx + i];
        handler(w, u32[(w + VHOST_WORK.FN) >> 2], u32[(w + VHOST_WORK.ARG) >> 2]);
      }
      hostRuns += n;
    }
    return hostRuns;
  }
}

/**
 * @param {EngineTransferable} t
 * @param {number} slot
 */
export function attachKwq(t, slot) {
  return new ThreadContext(t, slot);
}

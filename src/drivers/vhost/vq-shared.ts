/**
 * A virtqueue's state in shared memory for the `threads` runtime: the host side of
 * assembly/vhost_vq.ts (its layout picture is the reference; the constants below
 * mirror it, and test/drivers/vhost/threads.test.ts checks them against the module).
 *
 *   main thread (this file, the driver)       worker thread (Wasm)          guest (any thread)
 *   config line: worker, poll/aux works,  ->  vhost_vq_handle (fn 4):   <-  vhost_vq_post:
 *   backend, cost loops, weight               take avail, desc_spin each     avail ring + avail_idx,
 *   SharedVring: the same fields as Vring     vhost_vq_complete (fn 5):      kick iff kick_armed
 *   over the struct (ioctls, inspection)      used ring + used_idx, then     vhost_vq_reap: used ring,
 *   call waiter: Atomics.waitAsync on     <-  call_seq++ iff irq_armed       re-arm irq_armed
 *   call_seq -> eventfd_signal(call)
 *
 * A descriptor's cost is given in ns (VhostCosts.descNs / usedNs) and turned into
 * iterations of the Wasm cost loop with a calibration made once per process
 * (spinPerNs), so a worker thread really spends that CPU time per descriptor.
 */
import type { Engine } from '../../wasm/engine.js';
import type { VringState } from './vring.js';

/** assembly/vhost_vq.ts field offsets (bytes). */
export const VHOST_VQ = Object.freeze({
  AVAIL_IDX: 0, LAST_USED_IDX: 4, IRQ_ARMED: 8, POSTED: 12,
  LAST_AVAIL_IDX: 64, USED_IDX: 68, KICK_ARMED: 72, PENDING: 76, CALL_SEQ: 80, HANDLE_RUNS: 84, TAKEN: 88, SINK: 92,
  WORKER: 128, POLL_WORK: 132, AUX_WORK: 136, BACKEND: 140, DESC_SPIN: 144, USED_SPIN: 148, WEIGHT: 152, CLOSED: 156,
  AVAIL_RING: 192, USED_RING: 192 + 256 * 4, RING: 256, SIZE: 192 + 2 * 256 * 4,
});

/** Built-in work functions of assembly/vhost_vq.ts (arg: the vhost_vq's offset). */
export const VHOST_FN_VQ_HANDLE = 4;
export const VHOST_FN_VQ_COMPLETE = 5;

/** The vhost_vq entry points of kwq.wasm (src/wasm/exports.ts does not list them). */
export interface VhostVqExports {
  vhost_vq_size(): number;
  vhost_vq_init(vq: number): void;
  vhost_vq_set_base(vq: number, base: number): void;
  vhost_vq_handle(vq: number): void;
  vhost_vq_complete(vq: number): void;
  vhost_vq_post(vq: number, ids: number, n: number): number;
  vhost_vq_kick(vq: number): number;
  vhost_vq_reap(vq: number, out: number, cap: number): number;
}

export function vqExports(engine: Engine): VhostVqExports {
  return engine.exports as unknown as VhostVqExports;
}

let spinPerNsCache = 0;

/**
 * Cost-loop iterations per ns on this machine (measured once per process: the
 * fastest of 5 runs of 200k iterations through vhost_vq_complete on a scratch vq).
 */
export function spinPerNs(engine: Engine, scratchVq: number): number {
  if (spinPerNsCache > 0) return spinPerNsCache;
  const x = vqExports(engine);
  const u32 = engine.u32;
  const iters = 200_000;
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    x.vhost_vq_init(scratchVq);
    u32[(scratchVq + VHOST_VQ.PENDING) >> 2] = 1;
    u32[(scratchVq + VHOST_VQ.USED_SPIN) >> 2] = iters;
    const t0 = process.hrtime.bigint();
    x.vhost_vq_complete(scratchVq);
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns < best) best = ns;
  }
  x.vhost_vq_init(scratchVq);
  spinPerNsCache = iters / Math.max(1, best);
  return spinPerNsCache;
}

/**
 * VringState over a vhost_vq struct. Reads are Atomics loads (may be stale while a
 * worker runs the vq's works); the setters are for the paths that run when no
 * worker touches the vq (set-up, VHOST_SET_VRING_BASE, reset), as the kernel's
 * run under vq->mutex with the vq's works flushed.
 */
export class SharedVring implements VringState {
  /** VHOST_SET_VRING_NUM's value (the shared ring holds VHOST_VQ.RING entries whatever it is) */
  num = 256;
  /** kicks the guest sent (a statistic, counted by the guest model) */
  kicks = 0;
  private readonly at: number;

  constructor(
    private readonly engine: Engine,
    /** the vhost_vq struct's offset */
    readonly vq: number,
  ) {
    this.at = vq >> 2;
  }

  private get(field: number): number {
    return Atomics.load(this.engine.u32, this.at + (field >> 2)); // may be stale; pairs with the Wasm side's stores
  }

  private set(field: number, v: number): void {
    Atomics.store(this.engine.u32, this.at + (field >> 2), v >>> 0); // pairs with the Wasm side's loads
  }

  get availIdx(): number { return this.get(VHOST_VQ.AVAIL_IDX); }
  set availIdx(v: number) { this.set(VHOST_VQ.AVAIL_IDX, v); }
  get lastAvailIdx(): number { return this.get(VHOST_VQ.LAST_AVAIL_IDX); }
  set lastAvailIdx(v: number) { this.set(VHOST_VQ.LAST_AVAIL_IDX, v); }
  get pending(): number { return this.get(VHOST_VQ.PENDING); }
  set pending(v: number) { this.set(VHOST_VQ.PENDING, v); }
  get usedIdx(): number { return this.get(VHOST_VQ.USED_IDX); }
  set usedIdx(v: number) { this.set(VHOST_VQ.USED_IDX, v); }
  get lastUsedIdx(): number { return this.get(VHOST_VQ.LAST_USED_IDX); }
  set lastUsedIdx(v: number) { this.set(VHOST_VQ.LAST_USED_IDX, v); }
  get kickArmed(): boolean { return this.get(VHOST_VQ.KICK_ARMED) === 1; }
  set kickArmed(v: boolean) { this.set(VHOST_VQ.KICK_ARMED, v ? 1 : 0); }
  get irqArmed(): boolean { return this.get(VHOST_VQ.IRQ_ARMED) === 1; }
  set irqArmed(v: boolean) { this.set(VHOST_VQ.IRQ_ARMED, v ? 1 : 0); }
  /** vhost_signal calls (call_seq) */
  get signals(): number { return this.get(VHOST_VQ.CALL_SEQ); }
  set signals(_v: number) { /* counted by the worker (call_seq) */ }
  get handleRuns(): number { return this.get(VHOST_VQ.HANDLE_RUNS); }
  set handleRuns(_v: number) { /* counted by the worker */ }
  get taken(): number { return this.get(VHOST_VQ.TAKEN); }
  set taken(_v: number) { /* counted by the worker */ }
  get availPending(): number { return (this.availIdx - this.lastAvailIdx) >>> 0; }
  get usedPending(): number { return (this.usedIdx - this.lastUsedIdx) >>> 0; }

  setBase(base: number): void {
    vqExports(this.engine).vhost_vq_set_base(this.vq, base >>> 0);
  }

  reset(): void {
    this.num = 256;
    this.setBase(0);
    this.kickArmed = true;
    this.irqArmed = true;
  }

  /** Write a config word (worker, works, backend, costs). */
  config(field: number, v: number): void {
    this.set(field, v);
  }

  /** Int32Array index of a field (for Atomics.waitAsync on call_seq). */
  index(field: number): number {
    return this.at + (field >> 2);
  }
}

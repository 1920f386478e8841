/**
 * The pure-TypeScript reference of loop's worker dispatch: the same algorithm as
 * assembly/loop.ts (sections 6.4-6.6: lookup, allocate-or-fallback, rescue, FIFO
 * append, test_and_set PENDING; take in FIFO order, go idle when not pending; the
 * reaper's walk) over Int32Arrays on SharedArrayBuffers, with the same spinlock
 * (Atomics.compareExchange) and PENDING RMW (Atomics.or), and the TS red-black tree
 * of bench/ref/rbtree.ts, so that bench/loop.ts can quote the Wasm dispatch as a
 * ratio to it. Not part of the package API.
 *
 *   lock (Int32Array word 0 of its own buffer)
 *   workers: Int32Array, 16 words per worker i (1-based; 0 is NULL), at 16*i
 *     +0 flags (ON_IDLE)  +1 cmd head  +2 cmd tail  +3 idle prev  +4 idle next
 *     +5 PENDING word     +6 nr_cmds   +7 in use
 *     last_ran_at: Float64Array[i]
 *     tree node i of the RefRbTree carries the key
 *   cmds: Int32Array, 8 words per command c (1-based), at 8*c
 *     +0 next  +1 key lo  +2 key hi  +3 worker  +4 result
 *
 * Differences from the Wasm one, all in its favour or neutral: the worker free
 * stack is a plain array popped under the device lock (the Wasm arena is a
 * lock-free tagged stack); the fault-injection PRNG is the same xorshift32.
 *
 * `atomics: false` makes a single-thread variant: no lock, plain PENDING words.
 * That is not safe across threads; it is what a JavaScript simulator on one thread
 * could do, and the benchmark shows it beside the others so that the cost of V8's
 * Atomics builtins (about 10-20 ns each here, shared/wasm-notes.md) is visible.
 */
import { RefRbTree } from './rbtree.js';

export const REF_QW_QUEUE = 1;
export const REF_QW_ROOT = 2;
export const REF_QW_NEW = 4;
export const REF_QW_FAILED = 8;
export const REF_QW_RESCUED = 16;
/** processOne: the worker went idle (commands are >= 1, so the Wasm value 1 would be ambiguous here) */
export const REF_PW_IDLE = -1;

const W = 16;
const FLAGS = 0;
const HEAD = 1;
const TAIL = 2;
const PREV = 3;
const NEXT = 4;
const PEND = 5;
const NCMDS = 6;
const C = 8;
const CNEXT = 0;
const CKLO = 1;
const CKHI = 2;
const CWORKER = 3;
const CRESULT = 4;

export class RefLoopDispatch {
  readonly lock = new Int32Array(new SharedArrayBuffer(64));
  readonly w: Int32Array;
  readonly ran: Float64Array;
  readonly c: Int32Array;
  readonly tree: RefRbTree;
  private readonly free: Int32Array;
  private nfree: number;
  rootHead = 0;
  rootTail = 0;
  rootPending = new Int32Array(new SharedArrayBuffer(4));
  idleHead = 0;
  idleTail = 0;
  nrWorkers = 0;
  private prng: number;
  queued = 0;
  queueNoop = 0;

  constructor(readonly workerCapacity: number, readonly cmdCapacity: number, public failPct = 0, seed = 0x1234_5678, readonly atomics = true) {
    this.w = new Int32Array(new SharedArrayBuffer((workerCapacity + 1) * W * 4));
    this.ran = new Float64Array(new SharedArrayBuffer((workerCapacity + 1) * 8));
    this.c = new Int32Array(new SharedArrayBuffer((cmdCapacity + 1) * C * 4));
    this.tree = new RefRbTree(workerCapacity);
    this.free = new Int32Array(workerCapacity);
    for (let i = 0; i < workerCapacity; i++) this.free[i] = workerCapacity - i;
    this.nfree = workerCapacity;
    this.prng = seed >>> 0 || 0x9e3779b9;
  }

  /** command number i's handle (1-based) */
  cmd(i: number): number {
    return i;
  }

  setCmdKey(cmd: number, lo: number, hi: number): void {
    this.c[cmd * C + CKLO] = lo | 0;
    this.c[cmd * C + CKHI] = hi | 0;
  }

  cmdWorker(cmd: number): number {
    return this.c[cmd * C + CWORKER]!;
  }

  private spinLock(): void {
    if (!this.atomics) return;
    const l = this.lock;
    for (;;) if (Atomics.load(l, 0) === 0 && Atomics.compareExchange(l, 0, 0, 1) === 0) return; // pairs with spinUnlock
  }

  private spinUnlock(): void {
    if (!this.atomics) return;
    Atomics.store(this.lock, 0, 0); // pairs with spinLock's compareExchange
  }

  private allocWorker(): number {
    if (this.failPct !== 0) {
      let x = this.prng;
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      this.prng = x;
      if (x % 100 < this.failPct) return 0;
    }
    return this.nfree === 0 ? 0 : this.free[--this.nfree]!;
  }

  private idleDel(i: number): void {
    const w = this.w;
    const b = i * W;
    const prev = w[b + PREV]!;
    const next = w[b + NEXT]!;
    if (prev === 0) this.idleHead = next; else w[prev * W + NEXT] = next;
    if (next === 0) this.idleTail = prev; else w[next * W + PREV] = prev;
    w[b + PREV] = 0;
    w[b + NEXT] = 0;
    w[b + FLAGS] = 0;
  }

  /** loop_queue_work (section 6.4 whole, under the lock): flags; cmdWorker(cmd) says where it went. */
  queueWork(cmd: number): number {
    const c = this.c;
    const w = this.w;
    const cb = cmd * C;
    const lo = c[cb + CKLO]! >>> 0;
    const hi = c[cb + CKHI]! >>> 0;
    this.spinLock();
    this.queued++;
    let flags = 0;
    let worker = 0;
    if (lo !== 0 || hi !== 0) {
      const node = this.tree.find(lo, hi);
      if (node !== 0) worker = node / 8;
      else {
        worker = this.allocWorker();
        if (worker === 0) flags |= REF_QW_FAILED;
        else {
          const b = worker * W;
          w.fill(0, b, b + W);
          const n = this.tree.node(worker);
          this.tree.setKey(n, lo, hi);
          this.tree.findAdd(n);
          this.nrWorkers++;
          flags |= REF_QW_NEW;
        }
      }
    }
    c[cb + CNEXT] = 0;
    let pend: Int32Array;
    let pidx: number;
    if (worker !== 0) {
      const b = worker * W;
      if (w[b + FLAGS]! & 1) {
        this.idleDel(worker);
        flags |= REF_QW_RESCUED;
      }
      const tail = w[b + TAIL]!;
      if (tail === 0) w[b + HEAD] = cmd; else c[tail * C + CNEXT] = cmd;
      w[b + TAIL] = cmd;
      pend = w;
      pidx = b + PEND;
    } else {
      if (this.rootTail === 0) this.rootHead = cmd; else c[this.rootTail * C + CNEXT] = cmd;
      this.rootTail = cmd;
      flags |= REF_QW_ROOT;
      pend = this.rootPending;
      pidx = 0;
    }
    c[cb + CWORKER] = worker;
    const old = this.atomics ? Atomics.or(pend, pidx, 1) : pend[pidx]!; // test_and_set PENDING
    if (!this.atomics) pend[pidx] = old | 1;
    if ((old & 1) === 0) flags |= REF_QW_QUEUE;
    else this.queueNoop++;
    c[cb + CRESULT] = flags;
    this.spinUnlock();
    return flags;
  }

  /** the kworker starts executing the work of `worker` (0: the root work): clear PENDING */
  startWork(worker: number): void {
    const [a, i] = worker === 0 ? [this.rootPending, 0] : [this.w, worker * W + PEND];
    if (this.atomics) Atomics.and(a, i, ~1);
    else a[i] = a[i]! & ~1;
  }

  /** one step of loop_process_work: a command (>= 1), 0, or REF_PW_IDLE (went idle) */
  processOne(worker: number, now: number): number {
    const c = this.c;
    const w = this.w;
    this.spinLock();
    let r = 0;
    if (worker === 0) {
      const cmd = this.rootHead;
      if (cmd !== 0) {
        this.rootHead = c[cmd * C + CNEXT]!;
        if (this.rootHead === 0) this.rootTail = 0;
        r = cmd;
      }
    } else {
      const b = worker * W;
      const cmd = w[b + HEAD]!;
      if (cmd !== 0) {
        const next = c[cmd * C + CNEXT]!;
        w[b + HEAD] = next;
        if (next === 0) w[b + TAIL] = 0;
        w[b + NCMDS]!++;
        r = cmd;
      } else if (((this.atomics ? Atomics.load(w, b + PEND) : w[b + PEND]!) & 1) === 0 && (w[b + FLAGS]! & 1) === 0) {
        this.ran[worker] = now;
        const tail = this.idleTail;
        w[b + PREV] = tail;
        w[b + NEXT] = 0;
        if (tail === 0) this.idleHead = worker; else w[tail * W + NEXT] = worker;
        this.idleTail = worker;
        w[b + FLAGS] = 1;
        r = REF_PW_IDLE;
      }
    }
    this.spinUnlock();
    return r;
  }

  /** loop_free_idle_workers: freed worker numbers into out; returns how many */
  freeIdleWorkers(now: number, timeout: number, deleteAll: boolean, out: Int32Array): number {
    this.spinLock();
    let n = 0;
    while (n < out.length) {
      const i = this.idleHead;
      if (i === 0) break;
      if (!deleteAll && this.ran[i]! + timeout > now) break;
      this.idleDel(i);
      this.tree.erase(this.tree.node(i));
      out[n++] = i;
      this.nrWorkers--;
      this.free[this.nfree++] = i;
    }
    this.spinUnlock();
    return n;
  }
}

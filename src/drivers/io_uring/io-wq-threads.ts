/**
 * io-wq's workers as real worker_threads (Kernel.boot({ runtime: 'threads' })): each
 * io_worker (iou-wrk-<pid>, a Task made by copy_process as in sim) is a thread running
 * src/runtime/io-wq-thread.js over the io_wq in the io_uring engine's shared memory.
 * The sim runtime does not use this file (its workers are IoWorker bodies on virtual
 * CPUs, io-wq.ts).
 *
 *   main thread (kernel model)                     iou-wrk thread (one per io_worker)
 *   ---------------------------------------------  -----------------------------------------
 *   io_uring_enter -> io_queue_iowq: Wasm          io_wq_worker_loop: io_get_next_work (the
 *     io_wq_enqueue (claims a FREE worker:           chain, the hash bit, STALLED), the free
 *     FREE -> BUSY + notify wakes its thread)        list, wait32 on the slot word for at most
 *   CREATE: copy_process (RLIMIT_NPROC, retries)     WORKER_IDLE_TIMEOUT
 *     -> io_wq_worker_attach -> a new thread
 *   serve(): Atomics.waitAsync(REQ)         <----  request(RUN, work); Atomics.wait(RESP)
 *     io_wq_submit_work as the worker's Task:
 *     vfs_write / vfs_read / vfs_fsync (memcg,
 *     io.stat), the main-thread time to its cpu
 *     no blocking part: io_wq_work_done (hash
 *       released, a FREE worker claimed), CQE
 *     blocking part: io_wq_dec_running (maybe
 *       create_worker_cb), answer BLOCK_NS  ---->  sleeps BLOCK_NS; io_wq_inc_running
 *   COMPLETE: io_wq_work_done, CQE          <----  request(COMPLETE, work)
 *   accounting every 10 ms: /proc/self/task/
 *     <tid>/schedstat delta -> the worker Task's
 *     cpu cgroup (a thread of the submitter: it
 *     moves with the process)
 *   the thread's exit message: idle timeout    <---  TIMEOUT (slot NONE, nr_workers--)
 *     -> the Task exits; io_wq exit (task exit)       EXIT: io_wq_worker_exit
 *     -> io_wq_exit_start wakes every sleeper
 *
 * DIVERGENCE (threads runtime): the kernel runs io_wq_submit_work on the worker itself.
 * Here the kernel model is single-threaded JavaScript on the main thread, so that part
 * runs there, one request at a time, "as" the worker's Task; the blocking part (the
 * cost model's writeBlockNs, bdevReadBlockNs, fsyncBlockNs) is a real sleep of the
 * worker thread, so workers blocked at once overlap in wall time while their CPU parts
 * take turns on the main thread. CPU time is the thread's schedstat (spins included)
 * plus the main-thread time of its requests, charged every 10 ms and at exit; the sim's
 * model costs (workNs, pageNs, wakeNs) are not added. io_uring_enter does not block
 * (IoUring.waitCqes awaits the completions), and the threads keep the process alive
 * until their io_wq exits (the task exits) or k.shutdown().
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { PendingStops } from '../../runtime/pending-stops.js';
import { takeCpuDelta, threadCpuNs } from '../../runtime/thread-cpu.js';
import { threadHandshake } from '../../runtime/thread-handshake.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';
import {
  IOWQ_RING as R, IOWQ_RING_WORDS, IO_WQ_LOOP_TIMEOUT, RING_OP_COMPLETE, RING_OP_RUN,
} from '../../runtime/io-wq-ring.js';
import type { IoWqEngine } from '../../wasm/io-wq.js';
import type { IoWq } from './io-wq.js';

const ENTRY = new URL('../../runtime/io-wq-thread.js', import.meta.url);
/** io_wq_worker_loop's read-only checks of the work list before a worker sleeps (~10-20 us here) */
const LOOP_SPIN = 4096;
/** RESP checks before a worker sleeps on its answer */
const RING_SPIN = 2048;
const ACCOUNT_EVERY_MS = 10;
/** a thread that does not exit within this long of io_wq_exit_start / k.shutdown() is terminated (and said so) */
const STOP_TIMEOUT_MS = 10_000;

/** What a worker thread reported when it exited. */
export interface IoWorkerThreadReport {
  wslot: number; runs: number; blocked: number; dropped: number;
  /** IO_WQ_LOOP_TIMEOUT (idle exit), IO_WQ_LOOP_EXIT (io_wq exit), 4 (ABORT: k.shutdown) */
  exit: number;
  cpuMs?: number; canaryOk: boolean;
}

/** Checks the main thread makes on what the threads hand it (a test asserts them). */
export interface IoWqThreadChecks {
  /** works run (RING_OP_RUN requests answered) */
  runs: number;
  /** works completed (io_wq_work_done on the main thread) */
  done: number;
  /** times a work of a hash was handed over while another work of that hash was still between its RUN and its done (hashed works in parallel) */
  hashOverlaps: number;
  /** times a hashed work of one io_wq ran before a work of its hash queued earlier */
  hashReorders: number;
  /** the most works between RUN and done at once (parallelism seen: blocked workers overlap) */
  maxInflight: number;
  /** blocking parts answered */
  blocked: number;
}

/** One io_worker on a real thread. */
export class IoWorkerThread {
  tid: number | undefined = undefined;
  readonly ring: Int32Array;
  readonly exited: Promise<number>;
  readonly ready: Promise<void>;
  report: IoWorkerThreadReport | null = null;
  /** works run (a statistic, as IoWorker.runs) */
  runs = 0;
  /** schedstat ns at the last charge, -1 before the first read */
  lastNs = -1;
  threadNs = 0;
  mainNs = 0;
  /** the cpu cgroup charges go to once the Task is gone */
  cg: Cgroup;
  /** REQ value of the request being answered (or last answered) */
  seen = 0;
  closed = false;
  /** the hashes of the works this worker holds between RUN and done (for the checks) */
  readonly holding = new Map<number, number>();

  constructor(
    readonly set: IoWqThreads,
    readonly wq: IoWq,
    readonly task: Task,
    readonly acct: number,
    /** the io_wq worker slot */
    readonly slot: number,
    /** the engine scratch slot */
    readonly scratch: number,
    readonly w: Worker,
    sab: SharedArrayBuffer,
  ) {
    this.ring = new Int32Array(sab);
    this.cg = set.k.cgroupOf(task, 'cpu');
    const h = threadHandshake(w, this, (line) => set.errors.push(`${task.comm}: ${line}`));
    this.ready = h.ready;
    this.exited = h.exited;
  }

  /** (inspection) the ring's counters, written by the thread. May be stale. */
  counters(): { runs: number; blocked: number; dropped: number; state: number } {
    const r = this.ring;
    return { runs: Atomics.load(r, R.RUNS), blocked: Atomics.load(r, R.BLOCKED), dropped: Atomics.load(r, R.DROPPED), state: Atomics.load(r, R.STATE) };
  }
}

/** The io-wq worker threads of one kernel: scratch slots, the request rings' main side, accounting, stops. */
export class IoWqThreads {
  readonly freeSlots: number[] = [];
  readonly live = new Set<IoWorkerThread>();
  readonly stops = new PendingStops();
  readonly checks: IoWqThreadChecks = { runs: 0, done: 0, hashOverlaps: 0, hashReorders: 0, maxInflight: 0, blocked: 0 };
  /** worker threads started since boot; exited since boot */
  started = 0;
  exitedCount = 0;
  down = false;
  private timer: NodeJS.Timeout | null = null;
  private inflight = 0;
  /** per io_wq: hash -> works of it between RUN and done (all workers) */
  private readonly hashBusy = new Map<IoWq, Map<number, number>>();
  /** per io_wq: hash -> the last request id run (requests are numbered in submission order) */
  private readonly hashLast = new Map<IoWq, Map<number, number>>();

  constructor(
    readonly k: Kernel,
    readonly ie: IoWqEngine,
    /** how the main thread runs one work for a worker (io_uring.ts: IoUringState) */
    readonly ops: IoWqThreadOps,
    /** WORKER_IDLE_TIMEOUT, µs */
    readonly idleTimeoutUs: number,
  ) {
    for (let s = ie.engine.layout.slots.count - 1; s >= 1; s--) this.freeSlots.push(s);
  }

  /** failures on paths nobody awaits (thread errors, stops that timed out); a test asserts none */
  get errors(): string[] {
    return this.stops.errors;
  }

  get threadCount(): number {
    return this.live.size;
  }

  /** Resolve true once every thread being stopped has exited; false on timeout. */
  idle(timeoutMs = STOP_TIMEOUT_MS): Promise<boolean> {
    return this.stops.idle(timeoutMs);
  }

  /** A scratch slot is free for one more thread (checked before copy_process, so that a refusal changes nothing). */
  canStart(): boolean {
    return !this.down && this.freeSlots.length > 0;
  }

  /**
   * The thread of a new io_worker: `task` made by copy_process, `slot` from
   * io_wq_worker_attach (BUSY, counted by the caller's reservation). Null when no thread
   * could be started (the caller undoes the attach and the task).
   */
  start(wq: IoWq, task: Task, acct: number, slot: number): IoWorkerThread | null {
    const scratch = this.freeSlots.pop();
    if (scratch === undefined || this.down) {
      if (scratch !== undefined) this.freeSlots.push(scratch);
      return null;
    }
    const sab = new SharedArrayBuffer(4 * IOWQ_RING_WORDS);
    const execArgv = process.execArgv.some((a) => a.startsWith('--input-type')) ? [] : undefined;
    let w: Worker;
    try {
      w = new Worker(ENTRY, {
        execArgv,
        workerData: {
          engine: this.ie.engine.transferable(), slot: scratch, wq: wq.offset, wslot: slot, acct, ring: sab,
          spin: LOOP_SPIN, ringSpin: RING_SPIN, timeoutUs: this.idleTimeoutUs,
        },
      });
    } catch (e) {
      this.freeSlots.push(scratch);
      this.errors.push(`${task.comm}: no thread: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    }
    const t = new IoWorkerThread(this, wq, task, acct, slot, scratch, w, sab);
    this.live.add(t);
    this.started++;
    void this.serve(t);
    // the thread's end: charge what is left, give the scratch slot back, and (idle
    // timeout) let the Task exit; an io_wq exit or k.shutdown() made it exit already
    this.stops.track(t.exited.then(() => this.reap(t)));
    if (this.timer === null) {
      this.timer = setInterval(() => this.account(), ACCOUNT_EVERY_MS);
      this.timer.unref();
    }
    return t;
  }

  private reap(t: IoWorkerThread): void {
    this.charge(t, threadCpuNs(t.tid)); // (the thread is gone: usually -1, nothing)
    const rep = t.report;
    if (rep === null) this.errors.push(`${t.task.comm}: exited without a report`);
    else {
      if (rep.canaryOk !== true) this.errors.push(`${t.task.comm}: the thread's canary check failed`);
      if (rep.cpuMs !== undefined) {
        const rest = Math.round(rep.cpuMs * 1e6) - t.threadNs;
        if (rest > 0) {
          t.threadNs += rest;
          this.chargeCg(t, rest);
        }
      }
    }
    this.freeSlots.push(t.scratch);
    this.live.delete(t);
    this.exitedCount++;
    if (!this.down && rep?.exit === IO_WQ_LOOP_TIMEOUT) t.wq.threadGone(t);
    if (this.live.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** charge every live worker thread's CPU time since the last reading to its Task's cpu cgroup */
  account(): void {
    for (const t of this.live) this.charge(t, threadCpuNs(t.tid));
  }

  /** charge thread t's schedstat delta (a Task about to exit is charged first, in the cgroup it is in) */
  charge(t: IoWorkerThread, nowNs: number): void {
    if (t.task.alive) t.cg = this.k.cgroupOf(t.task, 'cpu');
    const d = takeCpuDelta(t, nowNs);
    if (d === 0) return;
    t.threadNs += d;
    this.chargeCg(t, d);
  }

  private chargeCg(t: IoWorkerThread, ns: number): void {
    if (this.down) return;
    if (t.task.alive) this.k.chargeCpu(t.task, ns, false);
    else t.cg.cpu.systemNs += ns;
  }

  /** The main thread's side of t's ring: wait for a request, run it, answer, go on. */
  private async serve(t: IoWorkerThread): Promise<void> {
    const r = t.ring;
    void t.exited.then(() => {
      t.closed = true;
      Atomics.notify(r, R.REQ); // pairs with the waitAsync below: let serve() return
    });
    while (!t.closed) {
      const w = Atomics.waitAsync(r, R.REQ, t.seen); // pairs with the thread's Atomics.add + notify
      if (w.async) await w.value;
      if (t.closed) break;
      const seq = Atomics.load(r, R.REQ); // pairs with the thread's Atomics.add: OP and WORK are visible
      if (seq === t.seen) continue; // woken for nothing (a close, or a spurious wake)
      t.seen = seq;
      if (this.down) continue; // the kernel model is gone: never answered (the thread sees ABORT)
      const t0 = performance.now();
      let blockNs = 0;
      try {
        blockNs = this.handle(t, r[R.OP]!, r[R.WORK]! >>> 0);
      } catch (e) {
        // a bug in the model: say so, and let the thread go on rather than hang it
        this.errors.push(`${t.task.comm}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        blockNs = 0;
      }
      const ns = Math.round((performance.now() - t0) * 1e6);
      if (ns > 0) {
        t.mainNs += ns;
        this.chargeCg(t, ns);
      }
      r[R.BLOCK_NS] = blockNs;
      Atomics.store(r, R.RESP, seq); // publishes BLOCK_NS; pairs with the thread's loads of RESP
      Atomics.notify(r, R.RESP, 1); // pairs with the thread's Atomics.wait
    }
  }

  /** One request: RUN (returns the blocking ns, 0 when the work is complete) or COMPLETE. */
  private handle(t: IoWorkerThread, op: number, w: number): number {
    const c = this.checks;
    if (op === RING_OP_RUN) {
      c.runs++;
      t.runs++;
      this.holdHash(t, w);
      const blockNs = this.ops.runWork(t.wq, w, t);
      if (blockNs > 0) {
        c.blocked++;
        return Math.min(Math.round(blockNs), 0x7fff_ffff);
      }
      this.finish(t, w);
      return 0;
    }
    if (op === RING_OP_COMPLETE) {
      this.finish(t, w);
      return 0;
    }
    this.errors.push(`${t.task.comm}: unknown ring op ${op}`);
    return 0;
  }

  private finish(t: IoWorkerThread, w: number): void {
    this.releaseHash(t, w);
    this.checks.done++;
    this.ops.completeWork(t.wq, w);
  }

  /** the checks: a hashed work handed over while its hash is held by another work (or one of its hash ran later) */
  private holdHash(t: IoWorkerThread, w: number): void {
    this.inflight++;
    if (this.inflight > this.checks.maxInflight) this.checks.maxInflight = this.inflight;
    const h = this.ops.workHash(w);
    if (h < 0) return;
    let busy = this.hashBusy.get(t.wq);
    if (busy === undefined) { busy = new Map(); this.hashBusy.set(t.wq, busy); }
    let last = this.hashLast.get(t.wq);
    if (last === undefined) { last = new Map(); this.hashLast.set(t.wq, last); }
    const n = busy.get(h) ?? 0;
    // another worker's work of this hash is between RUN and done: io_get_next_work gave
    // out a hash whose bit was set (the worker's own chain is RUN, done, RUN, done)
    if (n > 0) this.checks.hashOverlaps++;
    busy.set(h, n + 1);
    const id = this.ops.workId(w);
    if (id < (last.get(h) ?? 0)) this.checks.hashReorders++;
    last.set(h, id);
    t.holding.set(w, h);
  }

  private releaseHash(t: IoWorkerThread, w: number): void {
    this.inflight--;
    const h = t.holding.get(w);
    if (h === undefined) return;
    t.holding.delete(w);
    const busy = this.hashBusy.get(t.wq)!;
    busy.set(h, busy.get(h)! - 1);
  }

  /** io_wq exit (the task exits): forget its checks' maps once its threads are gone. */
  forget(wq: IoWq): void {
    this.hashBusy.delete(wq);
    this.hashLast.delete(wq);
  }

  /**
   * k.shutdown(): every ring aborted (a thread waiting for an answer gives up, one in a
   * blocking part wakes), every io_wq told to exit (sleepers woken); nothing more reaches
   * the kernel model. The threads exit on their own; idle() waits for them, and one that
   * does not exit within STOP_TIMEOUT_MS is terminated (an error).
   */
  shutdown(wqs: Iterable<IoWq>): void {
    if (this.down) return;
    this.down = true;
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    for (const t of this.live) {
      Atomics.store(t.ring, R.ABORT, 1); // pairs with the thread's loads of ABORT
      Atomics.notify(t.ring, R.RESP); // a thread waiting for an answer
      Atomics.notify(t.ring, R.SLEEP); // a thread in a blocking part
    }
    for (const wq of wqs) wq.h.exitStart(); // IO_WQ_BIT_EXIT; FREE workers claimed and woken
    for (const t of [...this.live]) {
      let timer: NodeJS.Timeout | undefined;
      this.stops.track(Promise.race([
        t.exited.then(() => false),
        new Promise<boolean>((res) => { timer = setTimeout(() => res(true), STOP_TIMEOUT_MS); }),
      ]).then(async (timedOut) => {
        if (timer) clearTimeout(timer);
        if (timedOut) {
          this.errors.push(`${t.task.comm}: did not exit within ${STOP_TIMEOUT_MS} ms of k.shutdown(); terminated`);
          await t.w.terminate();
        }
      }));
    }
  }
}

/** What the main thread runs for a worker thread (io_uring.ts provides it: no import cycle). */
export interface IoWqThreadOps {
  /** io_wq_submit_work's kernel-model part for work `w` as t's Task: its blocking ns (0: complete it now) */
  runWork(wq: IoWq, w: number, t: IoWorkerThread): number;
  /** io_wq_work_done (the hash released, a FREE worker claimed), then the CQE; the work is freed */
  completeWork(wq: IoWq, w: number): void;
  /** the work's hash bucket, -1 when not hashed */
  workHash(w: number): number;
  /** the request's id (submission order) */
  workId(w: number): number;
}

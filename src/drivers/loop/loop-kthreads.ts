/**
 * A loop device's kworkers as real worker_threads (Kernel.boot({ runtime: 'threads' })):
 * lo->workqueue is the Wasm unbound workqueue of assembly/loop-wq.ts, and each of its
 * kworkers is a thread running src/runtime/loop-kthread.js. The sim runtime does not
 * use this file (its kworkers are the TypeScript workqueue.ts on virtual CPUs).
 *
 *   main thread (kernel model)                    kworker thread i (one per kworker)
 *   --------------------------------------------  ---------------------------------------
 *   loop_queue_rq -> queueWork: Wasm              loop_wq_pick: its scheduled list, then
 *     loop_queue_work with __queue_work nested      the worklist; never a work another
 *     under lo_work_lock (wakes a kworker)          kworker runs; PENDING cleared
 *                                                 loop_process_batch: the work's FIFO
 *                                                   under lo_work_lock; the idle step
 *   serve(i): Atomics.waitAsync(REQ)       <----  request(CMDS, work, cmds[n]); Atomics.wait
 *     kthread_associate_blkcg, set_active_memcg,
 *     do_req_filebacked (charges, bios, io.stat),
 *     completion, for each command in order;
 *     a backing bio in flight: go on from its
 *     bi_end_io (the thread keeps waiting)
 *     Atomics.store(RESP) + notify            ---->  next batch, or (list empty)
 *   RING_OP_IDLE: loop_set_timer (timer_reduce) <---   request(IDLE) once the worker idled
 *   reaper timer (wall clock): Wasm                   loop_wq_done; sleeps in loop_wq_pick
 *     loop_free_idle_workers, css_put
 *   accounting every 10 ms: /proc/self/task/
 *     <tid>/schedstat delta -> cpu.stat of the
 *     kworker Task's cgroup (+ the main-thread
 *     time spent on its commands)
 *   teardown: loop_wq_stop (the threads drain    ---->  pick returns 0; the thread exits
 *     what is queued, then exit), await exits,
 *     kthread_stop the Tasks, free the blocks
 *
 * DIVERGENCE (threads runtime): the kernel runs loop_handle_cmd (do_req_filebacked
 * included) on the kworker itself. Here the kernel model is single-threaded JavaScript
 * on the main thread, so that part runs there, serialized, "as" the kworker's Task:
 * which command runs when, on which kworker, and in parallel with what, is decided on
 * the real threads (the Wasm workqueue and FIFOs); the effects on cgroups, page cache
 * and bios happen one at a time on the main thread. Two kworkers blocked on backing
 * I/O wait in parallel (each keeps waiting for its answer); two kworkers with CPU work
 * to do take turns on the main thread.
 * Further divergences: a kworker thread takes up to `batch` commands per lo_work_lock
 * hold and per request (loop_process_batch; the kernel takes one per hold); the
 * kworkers are made at alloc_workqueue (LOOP_CONFIGURE), kwq.loop_kthreads per
 * per-cgroup device (default: the boot's ncpus), not on demand from a shared pool;
 * workqueue_execute_start/end are not traced (the execution is on the thread);
 * CPU time is read from /proc/self/task/<tid>/schedstat (Linux; elsewhere only the
 * main-thread part is charged), every 10 ms and at the thread's exit, not per slice.
 * The threads keep the Node process alive until LOOP_CTL_REMOVE (per-cgroup), the
 * last close after LOOP_CLR_FD (kworker design) or k.shutdown().
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { PendingStops } from '../../runtime/pending-stops.js';
import { takeCpuDelta, threadCpuNs } from '../../runtime/thread-cpu.js';
import { threadHandshake } from '../../runtime/thread-handshake.js';
import { ENOMEM } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';
import { PF_LOCAL_THROTTLE, PF_MEMALLOC_NOIO } from '../../kernel/sched.js';
import { LO, WORK } from '../../wasm/loop.js';
import {
  RING, RING_ABORT, RING_NR, RING_OP_CMDS, RING_OP_IDLE, activeBase, ringBase, ringBytes,
} from '../../runtime/loop-kthread-ring.js';
import type { LoopCmd } from './loop-cmd.js';
import type { LoopDevice } from './loop-device.js';

/** kworker threads of all loop devices of one kernel at once (engine scratch slots 1..N) */
export const LOOP_KTHREADS_MAX = 32;
/** workqueues with threads at once per kernel (Wasm loop_wq blocks) */
export const LOOP_KTHREAD_WQS = 32;
/** commands a kworker takes per request to the main thread */
export const LOOP_KTHREAD_BATCH = 32;
/** loop_wq_pick's read-only checks before a kworker sleeps (~20-50 us on 2 shared cores) */
const PICK_SPIN = 4096;
/** RESP checks before a kworker sleeps on its answer */
const RING_SPIN = 2048;
const ACCOUNT_EVERY_MS = 10;
const STOP_TIMEOUT_MS = 10_000;

const ENTRY = new URL('../../runtime/loop-kthread.js', import.meta.url);

/** What the main thread runs for a kworker thread (loop-device.ts provides it: no import cycle). */
export interface KthreadOps {
  /** loop_handle_cmd as `task`: true when finished, false while a backing bio is in flight (then waiter.ioDone(cmd)) */
  handle(lo: LoopDevice, cmd: LoopCmd, task: Task, waiter: LoopKthread): boolean;
  /** the completion (blk_mq_complete_request) */
  complete(lo: LoopDevice, cmd: LoopCmd): void;
  /** loop_set_timer */
  setTimer(lo: LoopDevice): void;
}


/** What a kworker thread reported when it exited. */
export interface LoopKthreadReport {
  me: number; executions: number; handled: number; batches: number; idled: number; reentered: number; dropped: number;
  cpuMs?: number; canaryOk: boolean;
}

/** One kworker: its Task, its thread, its ring, and the request the main thread is running for it. */
export class LoopKthread {
  tid: number | undefined = undefined;
  readonly exited: Promise<number>;
  readonly ready: Promise<void>;
  report: LoopKthreadReport | null = null;
  /** schedstat ns at the last charge, -1 before the first read */
  lastNs = -1;
  /** ns charged from the thread's schedstat / from main-thread handling */
  threadNs = 0;
  mainNs = 0;
  /** the cpu cgroup once the Task is gone */
  cg: Cgroup;
  /** REQ value of the request being answered (or last answered) */
  seen = 0;
  /** the request in progress: its work, command array, count, next index */
  work = 0;
  ptr = 0;
  n = 0;
  i = 0;
  /** the command whose backing bio is in flight */
  waiting: LoopCmd | null = null;
  /** the Task's flags before PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO (-1: not set) */
  origFlags = -1;
  closed = false;
  readonly base: number;

  constructor(
    readonly set: LoopKthreads,
    readonly me: number,
    readonly task: Task,
    readonly slot: number,
    readonly w: Worker,
  ) {
    this.base = ringBase(me);
    this.cg = set.k.cgroupOf(task, 'cpu');
    const h = threadHandshake(w, this, (line) => set.reg.errors.push(`${task.comm}: ${line}`));
    this.ready = h.ready;
    this.exited = h.exited;
  }

  /** The backing bio of `cmd` completed (its bi_end_io, on the main thread): go on with the request. */
  ioDone(cmd: LoopCmd): void {
    if (this.waiting === cmd) this.set.run(this);
  }

  /** (inspection) the ring's counters, written by the thread. May be stale. */
  counters(): { executions: number; handled: number; batches: number; idled: number; reentered: number; dropped: number; state: number } {
    const r = this.set.ring;
    const b = this.base;
    return {
      executions: Atomics.load(r, b + RING.EXECUTIONS), handled: Atomics.load(r, b + RING.HANDLED),
      batches: Atomics.load(r, b + RING.BATCHES), idled: Atomics.load(r, b + RING.IDLED),
      reentered: Atomics.load(r, b + RING.REENTERED), dropped: Atomics.load(r, b + RING.DROPPED), state: Atomics.load(r, b + RING.STATE),
    };
  }
}

/** The loop kthreads of one kernel: scratch slots, accounting, stops in progress. */
export class KernelKthreads {
  readonly freeSlots: number[] = [];
  readonly live = new Set<LoopKthreads>();
  /** stops in progress, and failures on paths nobody awaits (thread errors, teardown problems) */
  readonly stops = new PendingStops();
  /** kworker threads started since boot */
  started = 0;
  /** the most kworkers of one device that were running requests on the main thread at once (parallelism seen) */
  maxBusy = 0;
  down = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly k: Kernel, slots: number) {
    for (let s = slots - 1; s >= 1; s--) this.freeSlots.push(s);
  }

  get threadCount(): number {
    let n = 0;
    for (const s of this.live) n += s.alive;
    return n;
  }

  /** charge every live kworker thread's CPU time since the last call to its Task's cpu cgroup */
  account(): void {
    for (const s of this.live) for (const t of s.threads) s.chargeThread(t, threadCpuNs(t.tid));
  }

  startAccounting(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.account(), ACCOUNT_EVERY_MS);
    this.timer.unref();
  }

  stopAccountingIfIdle(): void {
    if (this.live.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** failures on paths nobody awaits; a test asserts none */
  get errors(): string[] {
    return this.stops.errors;
  }

  track(p: Promise<void>): void {
    this.stops.track(p);
  }

  /** Resolve true once every stop started so far finished, false on timeout. */
  idle(timeoutMs = 10_000): Promise<boolean> {
    return this.stops.idle(timeoutMs);
  }

  /** k.shutdown(): abort every device's kworkers (their commands are dropped), stop them. */
  shutdown(): void {
    if (this.down) return;
    this.down = true;
    for (const s of [...this.live]) void s.stop(true);
  }
}

const registries = new WeakMap<Kernel, KernelKthreads>();

/** The kernel's loop kthread registry (made on first use). */
export function kernelKthreads(k: Kernel, slots: number): KernelKthreads {
  let r = registries.get(k);
  if (r === undefined) {
    r = new KernelKthreads(k, slots);
    registries.set(k, r);
  }
  return r;
}

/** The registry if the kernel ever started loop kthreads, else null. */
export function kernelKthreadsIfAny(k: Kernel): KernelKthreads | null {
  return registries.get(k) ?? null;
}

/** lo->workqueue with real-thread kworkers. */
export class LoopKthreads {
  readonly k: Kernel;
  readonly ring: Int32Array;
  readonly threads: LoopKthread[] = [];
  stopping: Promise<void> | null = null;
  private aborted = false;
  /** kworkers running a request on the main thread now */
  private busy = 0;

  private constructor(
    readonly lo: LoopDevice,
    readonly reg: KernelKthreads,
    readonly ops: KthreadOps,
    /** the Wasm workqueue block */
    readonly wq: number,
    readonly sab: SharedArrayBuffer,
  ) {
    this.k = lo.k;
    this.ring = new Int32Array(sab);
  }

  /**
   * alloc_workqueue for `lo` with `nr` kworker threads named by `name(i)`: the Wasm
   * workqueue, the kworker Tasks (kthreads, root cgroups) and their threads. -ENOMEM
   * when the kernel has no room for more (LOOP_KTHREADS_MAX threads, LOOP_KTHREAD_WQS
   * workqueues, or the Tasks cannot be made); nothing is left behind then.
   */
  static create(lo: LoopDevice, nr: number, name: (i: number) => string, ops: KthreadOps): LoopKthreads | number {
    const k = lo.k;
    const le = lo.kl.le;
    const reg = kernelKthreads(k, le.engine.layout.slots.count);
    if (reg.down || reg.freeSlots.length < nr) return -ENOMEM;
    const wq = le.tryWorkqueue(nr);
    if (wq < 0) return -ENOMEM;
    const tasks: Task[] = [];
    for (let i = 0; i < nr; i++) {
      const t = k.kthreadCreate(name(i), { run: () => false }); // the body never runs: the thread is the kworker
      if (typeof t === 'number') {
        for (const u of tasks) k.kthreadStop(u);
        le.freeWorkqueue(wq);
        return -ENOMEM;
      }
      tasks.push(t);
    }
    const rows = le.workerCapacity + 1;
    const sab = new SharedArrayBuffer(ringBytes(nr, rows));
    const set = new LoopKthreads(lo, reg, ops, wq, sab);
    Atomics.store(set.ring, RING_NR, nr); // (inspection) before any thread starts
    // the kernel's time 0 in absolute ms (performance.timeOrigin + now(): one time line
    // for every thread; the threads runtime's clock is this thread's performance.now())
    const epochMs = performance.timeOrigin + performance.now() - k.rt.nowNs() / 1e6;
    const engine = le.transferable();
    const execArgv = process.execArgv.some((a) => a.startsWith('--input-type')) ? [] : undefined;
    for (let i = 0; i < nr; i++) {
      const slot = reg.freeSlots.pop()!;
      let w: Worker;
      try {
        w = new Worker(ENTRY, {
          execArgv,
          workerData: {
            engine, slot, wq, me: i, nr, ring: sab, spin: PICK_SPIN, ringSpin: RING_SPIN, batch: LOOP_KTHREAD_BATCH,
            epochMs, tickNs: k.rt.tickNs,
          },
        });
      } catch (e) {
        // no thread (resource limits): undo what was made, as a failed alloc_workqueue
        reg.freeSlots.push(slot);
        reg.errors.push(`loop kthread ${name(i)}: ${e instanceof Error ? e.message : String(e)}`);
        le.x.loop_wq_stop(set.wq);
        for (const t of set.threads) reg.track(t.exited.then(() => { reg.freeSlots.push(t.slot); }));
        reg.track(Promise.all(set.threads.map((t) => t.exited)).then(() => le.freeWorkqueue(wq)));
        for (const u of tasks) k.kthreadStop(u);
        return -ENOMEM;
      }
      const t = new LoopKthread(set, i, tasks[i]!, slot, w);
      set.threads.push(t);
      void set.serve(t);
      reg.started++;
    }
    reg.live.add(set);
    reg.startAccounting();
    return set;
  }

  /** kworker threads not yet exited */
  alive = 0;

  /** loop_queue_work with queue_work onto this workqueue (a kworker thread is woken): LOOP_QW_* flags. */
  queueWork(cmd: number, id: number): number {
    return this.lo.tree!.d.queueWorkOn(cmd, id, this.wq);
  }

  /** The main thread's side of kworker t's ring: wait for a request, run it, go on. */
  async serve(t: LoopKthread): Promise<void> {
    this.alive++;
    const r = this.ring;
    const req = t.base + RING.REQ;
    void t.exited.then(() => {
      t.closed = true;
      Atomics.notify(r, req); // pairs with the waitAsync below: let serve() return
    });
    while (!t.closed) {
      const w = Atomics.waitAsync(r, req, t.seen); // pairs with the thread's Atomics.add + notify
      if (w.async) await w.value;
      if (t.closed) break;
      const seq = Atomics.load(r, req); // pairs with the thread's Atomics.add: OP..N are visible
      if (seq === t.seen) continue; // woken for nothing (a close, or a spurious wake)
      t.seen = seq;
      if (this.aborted) continue; // the kernel model is gone: never answered (the thread sees ABORT)
      this.begin(t);
    }
    this.alive--;
  }

  private begin(t: LoopKthread): void {
    const r = this.ring;
    const b = t.base;
    const op = r[b + RING.OP]!;
    if (op === RING_OP_IDLE) {
      // loop_set_timer, unless the device's queue is being torn down
      if (this.stopping === null && this.lo.kthreads === this) this.ops.setTimer(this.lo);
      this.respond(t);
      return;
    }
    if (op !== RING_OP_CMDS) {
      this.reg.errors.push(`${t.task.comm}: unknown ring op ${op}`);
      this.respond(t);
      return;
    }
    t.work = r[b + RING.WORK]! >>> 0;
    t.ptr = r[b + RING.PTR]! >>> 0;
    t.n = r[b + RING.N]!;
    t.i = 0;
    t.waiting = null;
    // loop_process_work: PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO while it runs commands
    const task = t.task;
    t.origFlags = task.flags;
    task.flags |= PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;
    this.busy++;
    if (this.busy > this.reg.maxBusy) this.reg.maxBusy = this.busy;
    this.run(t);
  }

  /**
   * Run kworker t's commands from t.i on, in order, until one waits for its backing
   * bio (t.waiting: its bi_end_io calls ioDone, which comes back here) or all are done
   * (then the answer). The main-thread time is charged to the kworker's Task.
   */
  run(t: LoopKthread): void {
    if (this.aborted) return;
    const lo = this.lo;
    const kl = lo.kl;
    const u32 = kl.le.u32;
    // the root work (lo + LO.ROOT_WORK); a work's device is in its struct, which stays
    // allocated while it has commands (a worker goes idle, and may be reaped, only empty)
    const root = t.work === u32[(t.work + WORK.LO) >>> 2]! + LO.ROOT_WORK;
    const t0 = performance.now();
    try {
      while (t.i < t.n) {
        const cmd = kl.cmd(u32[(t.ptr >>> 2) + t.i]!);
        if (t.waiting === cmd) {
          if (!cmd.ioDone) return;
          t.waiting = null;
        } else {
          if (root) lo.rootQueue.nrCmds++;
          if (!this.ops.handle(lo, cmd, t.task, t)) {
            t.waiting = cmd;
            return;
          }
        }
        t.i++;
        this.ops.complete(lo, cmd);
      }
    } catch (e) {
      // a bug in the model: say so, and let the thread go on rather than hang it
      this.reg.errors.push(`${t.task.comm}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      t.waiting = null;
      t.i = t.n;
    } finally {
      const ns = Math.round((performance.now() - t0) * 1e6);
      if (ns > 0) {
        t.mainNs += ns;
        this.chargeCg(t, ns);
      }
    }
    t.task.flags = t.origFlags;
    t.origFlags = -1;
    this.busy--;
    this.respond(t);
  }

  private respond(t: LoopKthread): void {
    const r = this.ring;
    Atomics.store(r, t.base + RING.RESP, t.seen); // pairs with the thread's loads of RESP
    Atomics.notify(r, t.base + RING.RESP, 1); // pairs with the thread's Atomics.wait
  }

  chargeThread(t: LoopKthread, nowNs: number): void {
    if (t.task.alive) t.cg = this.k.cgroupOf(t.task, 'cpu');
    const d = takeCpuDelta(t, nowNs);
    if (d === 0) return;
    t.threadNs += d;
    this.chargeCg(t, d);
  }

  private chargeCg(t: LoopKthread, ns: number): void {
    if (this.reg.down) return;
    if (t.task.alive) this.k.chargeCpu(t.task, ns, false);
    else t.cg.cpu.systemNs += ns;
  }

  /**
   * destroy_workqueue: the kworkers drain what is queued (loop_wq_stop), exit, their
   * Tasks exit (kthread_stop), the Wasm blocks are given back. With `abort` (the
   * kernel is going away) nothing more reaches the kernel model: requests in progress
   * are dropped and the threads discard what they still take. Idempotent; the
   * registry's idle() waits for it.
   */
  stop(abort: boolean): Promise<void> {
    if (abort && !this.aborted) {
      this.aborted = true;
      Atomics.store(this.ring, RING_ABORT, 1); // pairs with the threads' loads of ABORT
      for (const t of this.threads) Atomics.notify(this.ring, t.base + RING.RESP); // wake a thread waiting for an answer
    }
    if (this.stopping !== null) return this.stopping;
    const le = this.lo.kl.le;
    le.x.loop_wq_stop(this.wq);
    const run = async (): Promise<void> => {
      for (const t of this.threads) {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          t.exited.then(() => false),
          new Promise<boolean>((res) => { timer = setTimeout(() => res(true), STOP_TIMEOUT_MS); }),
        ]);
        if (timer) clearTimeout(timer);
        if (timedOut) {
          this.reg.errors.push(`${t.task.comm}: did not exit within ${STOP_TIMEOUT_MS} ms of loop_wq_stop; terminated`);
          await t.w.terminate();
        }
      }
      for (const t of this.threads) {
        const rep = t.report;
        if (rep === null) this.reg.errors.push(`${t.task.comm}: exited without a report`);
        else {
          if (rep.canaryOk !== true) this.reg.errors.push(`${t.task.comm}: the thread's canary check failed`);
          if (rep.cpuMs !== undefined) {
            const rest = Math.round(rep.cpuMs * 1e6) - t.threadNs;
            if (rest > 0) {
              t.threadNs += rest;
              this.chargeCg(t, rest);
            }
          }
        }
        this.reg.freeSlots.push(t.slot);
        if (!this.reg.down && t.task.alive) this.k.kthreadStop(t.task);
      }
      le.freeWorkqueue(this.wq);
      this.reg.live.delete(this);
      this.reg.stopAccountingIfIdle();
    };
    this.stopping = run();
    this.reg.track(this.stopping);
    return this.stopping;
  }
}

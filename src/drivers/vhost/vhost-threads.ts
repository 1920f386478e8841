/**
 * The vhost data path on real worker_threads (Kernel.boot({ runtime: 'threads' })):
 * one per vhost engine (so one per Kernel). Every vhost worker gets a thread running
 * the Wasm worker loop over its vhost_worker struct (ThreadRuntime.addWorker), and
 * every vq's works are the built-ins of assembly/vhost_vq.ts, so handle_kick and the
 * completion work run on that thread over the vq's shared state (vq-shared.ts).
 *
 *   main thread (kernel model)                     worker thread (one per vhost worker)
 *   ---------------------------------------------  ----------------------------------------
 *   VHOST_SET_OWNER / NEW_WORKER: Task + start()   vhost_worker_loop: llist_del_all, FIFO,
 *   kick eventfd -> vhost_poll_queue -> Wasm       QUEUED cleared, fn 4/5 run in Wasm;
 *     vhost_worker_queue (wakes the thread)        sleeps in memory.atomic.wait32
 *   call waiter: Atomics.waitAsync(call_seq)  <--  vhost_vq_complete: call_seq++, notify
 *     -> eventfd_signal(vq->call_ctx)
 *   accounting tick: /proc/self/task/<tid>/        (its CPU time, read by the main thread)
 *     schedstat delta -> cpu.stat of the worker
 *     Task's cgroup
 *   destroy / killed / cleanup: stopAfterFlush():  runs the COMPLETE work queued behind
 *     a COMPLETE work queued behind the others,    the others, then sees its stop flag
 *     awaited, then stop, exit, struct freed       and returns; the thread exits
 *
 * The main thread never blocks: flushes are awaited (vhostFlush in public.ts) or left
 * running; see the DIVERGENCE notes in worker.ts.
 *
 * DIVERGENCE (threads runtime), besides the flush (worker.ts) and the ring size
 * (assembly/vhost_vq.ts):
 * - VHOST_ATTACH_VRING_WORKER on a vq with commands in flight: the old worker's flush
 *   runs after the ioctl returned, so for a moment the vq's handle_kick and completion
 *   works may run on the old and the new worker thread at once (the kernel's flush
 *   under vq->mutex prevents that). Attach workers before traffic, as QEMU does.
 * - A worker thread does not kthread_use_mm: the Wasm works charge no memory.
 * - vhost_signal consumes the guest's used_event even when the vq has no call eventfd
 *   (the kernel checks call_ctx first); the guest model always installs one.
 * - CPU time is read from /proc/self/task/<tid>/schedstat (Linux); elsewhere nothing is
 *   charged. It is charged every 10 ms and at the thread's exit, not per slice.
 * - Worker threads keep the Node process alive until their device is released or
 *   k.shutdown() runs (a running machine).
 */
import { PendingStops } from '../../runtime/pending-stops.js';
import { takeCpuDelta, threadCpuNs } from '../../runtime/thread-cpu.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';
import { eventfdSignal } from '../../kernel/vfs/eventfd.js';
import { ThreadRuntime, type WorkerThread, type WorkerThreadReport } from '../../runtime/threads.js';
import type { Engine, VhostWorkerHandle } from '../../wasm/engine.js';
import { VHOST_FN_COMPLETE, VHOST_WORK } from '../../wasm/layout.js';
import type { VhostEngine, VhostWork } from './vhost-engine.js';
import { SharedVring, VHOST_VQ } from './vq-shared.js';
import type { VhostVirtqueue } from './vq.js';
import type { VhostWorker } from './worker.js';

/** Empty-list re-checks before a worker thread sleeps (~20 us here: 2 cores shared by everyone). */
export const VHOST_THREAD_SPIN = 20_000;
/** How often the main thread charges the worker threads' CPU time to cpu.stat. */
const ACCOUNT_EVERY_MS = 10;

interface Live {
  readonly worker: VhostWorker;
  readonly thread: WorkerThread;
  /** schedstat ns at the last charge (absolute), or -1 before the first read */
  lastNs: number;
  /** ns charged since the first read */
  chargedNs: number;
  /** the cpu cgroup charges go to once the Task is gone (refreshed while it lives) */
  cg: Cgroup;
  stopping: Promise<void> | null;
  /** free the vhost_worker struct once the thread exited (destroy: yes; the killed path: no, the device keeps it) */
  freeStruct: boolean;
  /** total CPU ms the thread reported at exit (its run loop) */
  reportCpuMs?: number;
}

export class VhostThreads {
  readonly rt: ThreadRuntime;
  private readonly live = new Map<VhostWorker, Live>();
  /** stops (flush + stop + exit + free) in progress, and failures nobody awaits */
  private readonly stops = new PendingStops();
  /** flushes in progress, as their callers see them (vhostFlush awaits them) */
  private readonly flushes = new Set<Promise<boolean>>();
  /** flush works queued and not yet given back: the struct index of their worker, and `returned` resolved when freed */
  private readonly flushWorks = new Map<VhostWork, { index: number; returned: Promise<void>; done: () => void }>();
  private readonly watchers = new Map<VhostVirtqueue, { closed: boolean; done: Promise<void> }>();
  private timer: NodeJS.Timeout | null = null;
  /** workers whose thread exited and whose struct the device still holds (killed, not yet destroyed) */
  private readonly stopped = new Set<VhostWorker>();
  private down = false;
  /** worker threads started since boot (a statistic) */
  started = 0;
  /** errors seen on stop paths nobody awaits (inspection; a test asserts none) */
  get errors(): string[] {
    return this.stops.errors;
  }

  constructor(
    readonly k: Kernel,
    readonly ve: VhostEngine,
    readonly engine: Engine,
  ) {
    this.rt = ThreadRuntime.create(engine);
  }

  /** Worker threads alive now (including ones being stopped). */
  get threadCount(): number {
    return this.rt.threadCount;
  }

  /** Start `worker`'s thread. False when no thread can be started (no scratch slot): the creation fails (-ENOMEM). */
  start(worker: VhostWorker): boolean {
    if (this.down || worker.task === null) return false;
    let thread: WorkerThread;
    try {
      thread = this.rt.addWorker({ worker: worker.handle.index, spin: VHOST_THREAD_SPIN });
    } catch (e) {
      if (e instanceof KwqError) return false;
      throw e;
    }
    this.started++;
    const l: Live = { worker, thread, lastNs: -1, chargedNs: 0, cg: this.k.cgroupOf(worker.task, 'cpu'), stopping: null, freeStruct: false };
    this.live.set(worker, l);
    thread.ready.then(() => { l.lastNs = threadCpuNs(thread.tid()); }, () => undefined);
    if (this.timer === null) {
      this.timer = setInterval(() => this.account(), ACCOUNT_EVERY_MS);
      this.timer.unref();
    }
    return true;
  }

  /** The Linux thread id running `worker`, or null. */
  tidOf(worker: VhostWorker): number | null {
    return this.live.get(worker)?.thread.tid() ?? null;
  }

  /** Charge every live thread's CPU time since the last call to its Task's cpu cgroup (cpu.stat). */
  account(): void {
    for (const l of this.live.values()) this.charge(l, threadCpuNs(l.thread.tid()));
  }

  private charge(l: Live, nowNs: number): void {
    const t = l.worker.task;
    if (t !== null && t.alive) l.cg = this.k.cgroupOf(t, 'cpu'); // task mode follows its process
    const d = takeCpuDelta(l, nowNs);
    if (d === 0) return;
    l.chargedNs += d;
    this.chargeCg(l, d);
  }

  private chargeCg(l: Live, ns: number): void {
    const t = l.worker.task;
    if (t !== null && t.alive) this.k.chargeCpu(t, ns, false);
    else l.cg.cpu.systemNs += ns; // the Task exited first (stop, kill): its last cgroup
  }

  /**
   * Queue a COMPLETE work behind everything queued to `h` and resolve true once the
   * worker thread ran it and the work was given back (Atomics.waitAsync: the main
   * thread never blocks), false on timeout, after k.shutdown(), or when no work could
   * be allocated (the arena is full).
   *
   * The kernel's flush work lives on the flusher's stack and wait_for_completion
   * cannot give up (__vhost_worker_flush, drivers/vhost/vhost.c), so a flush never
   * leaves its work behind. Here only the caller's wait is bounded: the work is given
   * back once it has run, by whichever sees that first: its waiter (reap), or the stop
   * of its worker (reapFlushes, after the thread exited). The stop must not rely on the
   * waiter: a waitAsync wake-up is a V8 task of its own, and Node may run it after the
   * thread's exit event, i.e. after the stop and idle() completed (issue 13: the
   * fuzzer's teardown found 2 works of ioctl flushes still allocated).
   */
  flushHandle(h: VhostWorkerHandle, timeoutMs = 10_000): Promise<boolean> {
    if (this.down) return Promise.resolve(false); // the threads are stopping without flushing: nobody would run it
    const f = this.ve.workAlloc(() => undefined, null);
    if (typeof f === 'number') return Promise.resolve(false);
    this.engine.works.init(f.ref, VHOST_FN_COMPLETE);
    let done!: () => void;
    const returned = new Promise<void>((res) => { done = res; });
    this.flushWorks.set(f, { index: h.index, returned, done });
    h.queue(f.ref);
    void this.reap(f);
    const p = within(returned, timeoutMs);
    this.flushes.add(p);
    void p.finally(() => this.flushes.delete(p));
    return p;
  }

  /** Wait (without a deadline) until flush work `f` has run, then give it back; returns at once if its worker's stop gave it back first. */
  private async reap(f: VhostWork): Promise<void> {
    const i32 = this.engine.i32;
    const idx = (f.ref + VHOST_WORK.RESULT) >> 2;
    while (this.flushWorks.has(f)) {
      if (Atomics.load(i32, idx) !== 0) { // pairs with the COMPLETE built-in's store
        this.flushDone(f);
        return;
      }
      const r = Atomics.waitAsync(i32, idx, 0); // pairs with the COMPLETE built-in's notify
      if (r.async) await r.value;
    }
  }

  /** Give flush work `f` back (once: the waiter and the stop may both get here). */
  private flushDone(f: VhostWork): void {
    const pf = this.flushWorks.get(f);
    if (pf === undefined) return;
    this.flushWorks.delete(f);
    this.ve.workFree(f);
    pf.done();
  }

  /**
   * The stop of the worker with struct `index`, after its thread exited and what was
   * left on its list ran here: every flush work queued to it has run, so give them all
   * back now, before the stop resolves (vhost_worker_killed / vhost_task_stop leave no
   * work behind). One that did not run (a thread terminated in the middle of a batch)
   * is reported and kept.
   */
  private reapFlushes(index: number): void {
    for (const [f, pf] of [...this.flushWorks]) {
      if (pf.index !== index) continue;
      if (this.engine.works.result(f.ref) !== 0 && !this.engine.works.queued(f.ref)) this.flushDone(f);
      else this.errors.push(`vhost worker ${index}: flush work ${f.ref} did not run before the thread exited`);
    }
  }

  /** Resolve once every flush started so far has completed (true) or given up (false). */
  async flushesDone(): Promise<boolean> {
    const all = await Promise.all([...this.flushes]);
    return all.every(Boolean);
  }

  /**
   * vhost_worker_destroy / the killed path / cleanup on a real thread: flush (the
   * thread runs everything queued before the flush work), stop the thread, wait for
   * its exit, run on this thread whatever was queued after the flush (the kernel
   * WARNs on a non-empty list), give back every flush work queued to it (all have run
   * by then), then free the vhost_worker struct and charge the thread's last CPU time.
   * `freeStruct`: also give the vhost_worker struct back (vhost_worker_destroy); the
   * killed path keeps it until cleanup destroys the worker. Idempotent: returns the
   * stop in progress (or a resolved promise).
   */
  stopAfterFlush(worker: VhostWorker, freeStruct: boolean): Promise<void> {
    const l = this.live.get(worker);
    if (l === undefined) {
      // stopped before (the killed path): only the struct is left to give back
      if (freeStruct && this.stopped.delete(worker)) this.ve.workerStructFree(worker.handle);
      return Promise.resolve();
    }
    l.freeStruct ||= freeStruct;
    if (l.stopping !== null) return l.stopping;
    const h = worker.handle;
    const run = async (): Promise<void> => {
      try {
        await l.thread.ready.catch(() => undefined);
        if (!this.down) await this.flushHandle(h);
        this.account();
        const report: WorkerThreadReport = await this.rt.stopWorker(h.index);
        if (report.cpu !== undefined) {
          l.reportCpuMs = report.cpu.ms;
          const rest = Math.round(report.cpu.ms * 1e6) - l.chargedNs;
          if (rest > 0) {
            l.chargedNs += rest;
            this.chargeCg(l, rest);
          }
        }
        if (report.canaryOk !== true) this.errors.push(`vhost worker ${h.index}: the thread's canary check failed`);
      } catch (e) {
        this.errors.push(`vhost worker ${h.index}: ${e instanceof Error ? e.message : String(e)}`);
      } finally {
        this.live.delete(worker);
        if (this.live.size === 0 && this.timer !== null) {
          clearInterval(this.timer);
          this.timer = null;
        }
        // works that slipped in after the flush work (a racing kick): run them here,
        // built-ins in Wasm on this thread, so that nothing is lost with the struct
        if (h.hasWork()) this.ve.runLeftovers(h);
        // the flush works queued to it have all run now: give them back before this stop
        // resolves, not when their waiters' wake-ups come (see flushHandle)
        this.reapFlushes(h.index);
        if (l.freeStruct) this.ve.workerStructFree(h);
        else this.stopped.add(worker);
      }
    };
    l.stopping = run();
    this.stops.track(l.stopping);
    return l.stopping;
  }

  /** Count `p` among the stops idle() waits for (a device's deferred release). */
  track(p: Promise<unknown>): void {
    this.stops.track(p);
  }

  /**
   * Resolve true once every worker thread stopped so far has exited (and none is left
   * running) and every flush work queued so far has run and was given back (every
   * vhost work done and returned), false on timeout.
   */
  async idle(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!(await this.stops.idle(Math.max(0, deadline - Date.now())))) return false;
      if (this.flushWorks.size === 0) break;
      // a flush on a live worker its thread has not run yet, or one whose waiter's
      // wake-up has not come yet (a stopped worker's are given back by its stop)
      const left = deadline - Date.now();
      if (left <= 0 || !(await within(Promise.all([...this.flushWorks.values()].map((x) => x.returned)), left, true))) return false;
    }
    return this.rt.threadCount === this.live.size; // every thread left belongs to a live worker
  }

  // ---- the call eventfd (irqfd) ----------------------------------------------------------

  /**
   * Watch vq's call_seq: every vhost_signal of its worker becomes an eventfd_signal
   * of vq->call_ctx on this thread (if the vq has one then). One Atomics.waitAsync
   * per interrupt, not per descriptor (EVENT_IDX suppresses the rest).
   */
  watchCalls(vq: VhostVirtqueue): void {
    const ring = vq.ring;
    if (!(ring instanceof SharedVring) || this.watchers.has(vq)) return;
    const i32 = this.engine.i32;
    const idx = ring.index(VHOST_VQ.CALL_SEQ);
    const state = { closed: false, done: Promise.resolve() };
    state.done = (async () => {
      let seen = Atomics.load(i32, idx);
      while (!state.closed) {
        const r = Atomics.waitAsync(i32, idx, seen); // pairs with vhost_vq_signal's add + notify
        if (r.async) await r.value;
        if (state.closed) break;
        const now = Atomics.load(i32, idx); // pairs with vhost_vq_signal's add
        let n = (now - seen) >>> 0;
        seen = now;
        const ctx = vq.callCtx;
        if (ctx === null || this.down) continue; // no call eventfd: the signal goes nowhere
        while (n-- > 0) eventfdSignal(this.k, ctx);
      }
    })();
    this.watchers.set(vq, state);
  }

  /** Stop watching vq's call_seq (release): wakes the waiter so that it returns. */
  unwatchCalls(vq: VhostVirtqueue): void {
    const st = this.watchers.get(vq);
    if (st === undefined) return;
    st.closed = true;
    this.watchers.delete(vq);
    const ring = vq.ring as SharedVring;
    const i32 = this.engine.i32;
    Atomics.store(i32, ring.index(VHOST_VQ.CLOSED), 1); // (inspection) the vq is closed
    Atomics.add(i32, ring.index(VHOST_VQ.CALL_SEQ), 0);
    Atomics.notify(i32, ring.index(VHOST_VQ.CALL_SEQ)); // pairs with the watcher's waitAsync
  }

  /**
   * k.shutdown(): stop every thread now, without flushing (the kernel is going away),
   * and every call waiter. idle() resolves once the threads have exited.
   */
  shutdown(): void {
    if (this.down) return;
    this.down = true;
    for (const vq of [...this.watchers.keys()]) this.unwatchCalls(vq);
    for (const w of [...this.live.keys()]) void this.stopAfterFlush(w, false);
  }
}

/**
 * True if `p` settles within `ms` (a caller's bounded wait), false otherwise. The timer
 * keeps the process alive only with `keepAlive` (idle(): its caller waits for it); a
 * flush's does not, as the Atomics.waitAsync timeout it replaces did not.
 */
function within(p: Promise<unknown>, ms: number, keepAlive = false): Promise<boolean> {
  if (!Number.isFinite(ms)) return p.then(() => true);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((res) => {
    timer = setTimeout(() => res(false), Math.max(0, ms));
    if (!keepAlive) timer.unref();
  });
  return Promise.race([p.then(() => true), expired]).finally(() => clearTimeout(timer));
}

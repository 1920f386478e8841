/**
 * The `threads` runtime's clock and host scheduler: wall-clock time from
 * performance.now(), timers as host timeouts (unref'd, so they never keep the
 * process alive), and kernel threads created through the Runtime interface run on
 * the host event loop (setImmediate), one slice at a time. Drivers that want real
 * parallelism run their Wasm worker loops on worker_threads (src/runtime/threads*)
 * and use this runtime for time and timers only.
 *
 * Choice (documented in docs/kernel-api.md): advance() and runUntilIdle() are a
 * KwqError here: wall time cannot be advanced. `await k.sleep(ms)` works in both.
 * A body's `costNs` is taken as reported (drivers measure it with the clock).
 */
import { performance } from 'node:perf_hooks';
import { KwqError } from '../kernel/error.js';
import type { TimerList } from './clock.js';
import type { Runtime, RuntimeOptions, RunHook, SleepHook } from './index.js';
import { SimThread, THREAD_DEAD, THREAD_RUNNABLE, THREAD_RUNNING, THREAD_SLEEPING, type ThreadBody } from './sim-thread.js';

export class WallRuntime implements Runtime {
  readonly kind = 'threads' as const;
  readonly hz: number;
  readonly tickNs: number;
  readonly ncpus: number;
  readonly sliceNs: number;
  onRun: RunHook | null = null;
  onSleep: SleepHook | null = null;
  private readonly t0 = performance.now();
  private nextThreadId = 1;
  private readonly pendingHost = new Set<ReturnType<typeof setTimeout>>();
  private down = false;
  readonly random: () => number;

  constructor(opts: RuntimeOptions) {
    this.hz = opts.hz;
    this.tickNs = 1e9 / opts.hz;
    this.ncpus = opts.ncpus;
    this.sliceNs = opts.sliceNs;
    // Wall-clock runs are not deterministic anyway; the PRNG is still seeded.
    let s = opts.seed >>> 0 || 1;
    this.random = () => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      return s / 4294967296;
    };
  }

  nowNs(): number {
    return Math.round((performance.now() - this.t0) * 1e6);
  }
  jiffies(): number {
    return Math.floor(this.nowNs() / this.tickNs);
  }

  private arm(t: TimerList, expires: number): void {
    t.expires = expires;
    const delayMs = Math.max(0, (expires * this.tickNs - this.nowNs()) / 1e6);
    const h = setTimeout(() => {
      this.pendingHost.delete(h);
      t.hostHandle = null;
      if (!this.down) t.fire();
    }, delayMs);
    h.unref();
    this.pendingHost.add(h);
    t.hostHandle = h;
  }

  addTimer(t: TimerList, expires: number): void {
    if (t.pending) throw new KwqError('add_timer', 'timer is already pending (use mod_timer)');
    this.arm(t, expires);
  }
  modTimer(t: TimerList, expires: number): number {
    const was = this.delTimer(t);
    this.arm(t, expires);
    return was;
  }
  timerReduce(t: TimerList, expires: number): number {
    if (t.pending && expires >= t.expires) return 1;
    return this.modTimer(t, expires);
  }
  delTimer(t: TimerList): number {
    const h = t.hostHandle as ReturnType<typeof setTimeout> | null;
    if (h === null) return 0;
    clearTimeout(h);
    this.pendingHost.delete(h);
    t.hostHandle = null;
    return 1;
  }
  callAt(ns: number, fn: () => void): void {
    const h = setTimeout(() => {
      this.pendingHost.delete(h);
      if (!this.down) fn();
    }, Math.max(0, (ns - this.nowNs()) / 1e6));
    h.unref();
    this.pendingHost.add(h);
  }

  createThread(body: ThreadBody, owner: unknown): SimThread {
    return new SimThread(body, owner, this.nextThreadId++);
  }

  wakeUpProcess(th: SimThread): boolean {
    if (th.state === THREAD_SLEEPING) {
      th.state = THREAD_RUNNABLE;
      setImmediate(() => this.runSlice(th));
      return true;
    }
    if (th.state === THREAD_RUNNING || th.state === THREAD_RUNNABLE) th.wakePending = true;
    return false;
  }

  private runSlice(th: SimThread): void {
    if (th.state !== THREAD_RUNNABLE || this.down) return;
    th.state = THREAD_RUNNING;
    th.costNs = 0;
    th.wakePending = false;
    const start = this.nowNs();
    let more = false;
    try {
      more = th.body.run(th, this.sliceNs);
    } finally {
      th.totalNs += th.costNs;
      th.nrRuns++;
      if (this.onRun !== null) this.onRun(th, start, th.costNs, 0);
      if (th.state === THREAD_RUNNING) {
        if (more || th.wakePending) {
          th.state = THREAD_RUNNABLE;
          th.wakePending = false;
          setImmediate(() => this.runSlice(th));
        } else {
          th.state = THREAD_SLEEPING;
          if (this.onSleep !== null) this.onSleep(th);
        }
      }
    }
  }

  killThread(th: SimThread): void {
    th.state = THREAD_DEAD;
  }

  advance(_ns: number): void {
    throw new KwqError('advance', "runtime 'threads' runs on wall-clock time, which cannot be advanced; use `await k.sleep(ms)` or boot with runtime: 'sim'");
  }
  runUntilIdle(): void {
    throw new KwqError('runUntilIdle', "runtime 'threads' runs on wall-clock time; use `await k.sleep(ms)` or boot with runtime: 'sim'");
  }
  canBlock(): boolean {
    return false;
  }
  runUntil(done: () => boolean): boolean {
    // Nothing can progress while the caller holds the host thread.
    return done();
  }
  sleep(ns: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ns / 1e6));
  }
  shutdown(): void {
    this.down = true;
    for (const h of this.pendingHost) clearTimeout(h);
    this.pendingHost.clear();
  }
}

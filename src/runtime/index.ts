/**
 * The CPUs and the clock the kernel model runs on. Two runtimes implement one
 * interface:
 *
 *   sim      virtual time in ns, an event heap, `ncpus` virtual CPUs that run
 *            runnable threads; deterministic (seeded PRNG, (time, seq) order).
 *   threads  wall-clock time; timers are host timeouts; kernel threads made through
 *            this interface run on the host event loop. Drivers that want real
 *            parallelism run their worker loops on worker_threads (src/runtime/threads*)
 *            and use this clock for time.
 *
 * The kernel (src/kernel) sees only `Runtime`; it never asks which one it has, except
 * where the model must say that virtual time cannot be advanced (advance() in threads).
 */
import { TimerList } from './clock.js';
import { SimRuntime } from './sim.js';
import { WallRuntime } from './clock-wall.js';
import type { SimThread, ThreadBody } from './sim-thread.js';

export { TimerList, TIMER_DEFERRABLE, SimEvent, CallbackEvent, EventHeap, timeAfter, timeAfterEq, timeIsAfterJiffies } from './clock.js';
export { SimThread, THREAD_SLEEPING, THREAD_RUNNABLE, THREAD_RUNNING, THREAD_DEAD } from './sim-thread.js';
export type { ThreadBody } from './sim-thread.js';
export { SimRuntime } from './sim.js';
export { WallRuntime } from './clock-wall.js';

export type RuntimeKind = 'sim' | 'threads';

export interface RuntimeOptions {
  hz: number;
  seed: number;
  ncpus: number;
  /** the longest a thread runs before the CPU is offered to the next runnable one */
  sliceNs: number;
}

/** Called after every slice a thread ran: the kernel charges cpu time and traces it. */
export type RunHook = (th: SimThread, startNs: number, costNs: number, cpu: number) => void;

/** Called when a thread goes to sleep at the end of a slice (it had nothing more to do and no wake-up came). */
export type SleepHook = (th: SimThread) => void;

export interface Runtime {
  readonly kind: RuntimeKind;
  readonly hz: number;
  /** ns per jiffy (TICK_NSEC) */
  readonly tickNs: number;
  readonly ncpus: number;
  /** Current time in ns. In sim, inside a running thread this includes the cost it has used so far. */
  nowNs(): number;
  jiffies(): number;

  /** add_timer: the timer must not be pending (a KwqError, as the kernel's BUG_ON). */
  addTimer(t: TimerList, expires: number): void;
  /** mod_timer: (re)arm; returns 1 if it was pending, else 0. */
  modTimer(t: TimerList, expires: number): number;
  /** timer_reduce: arm if idle, or move a pending timer EARLIER only; returns 1 if it was pending. */
  timerReduce(t: TimerList, expires: number): number;
  /** del_timer: returns 1 if it was pending. */
  delTimer(t: TimerList): number;
  /** Run `fn` at `ns` (allocates; for set-up paths). */
  callAt(ns: number, fn: () => void): void;

  /** A thread in state SLEEPING bound to `owner` (a kernel Task); wake it to run. */
  createThread(body: ThreadBody, owner: unknown): SimThread;
  /** wake_up_process: true if it was sleeping (now runnable). */
  wakeUpProcess(th: SimThread): boolean;
  /** The thread will never run again (its task exited). */
  killThread(th: SimThread): void;

  /** The kernel's hook for cpu accounting and traces. */
  onRun: RunHook | null;
  /** The kernel's hook for the sched_sleep tracepoint. */
  onSleep: SleepHook | null;

  /** sim: advance virtual time by ns, running everything due. threads: KwqError. */
  advance(ns: number): void;
  /** sim: run until nothing is runnable and no non-deferrable event is pending. threads: KwqError. */
  runUntilIdle(maxEvents?: number): void;
  /** Both: resolve after `ns` (sim: advance; threads: a host timeout). */
  sleep(ns: number): Promise<void>;
  /** true if runUntil() can run the simulation now (sim, called from top-level code, not from a timer or thread) */
  canBlock(): boolean;
  /** sim: process events until `done()` is true or nothing is left; false if it never became true. */
  runUntil(done: () => boolean, maxEvents?: number): boolean;

  /** Seeded PRNG: uniform in [0, 1). */
  random(): number;
  /** Stop host timers (threads runtime); the kernel is unusable afterwards. */
  shutdown(): void;
}

export function createRuntime(kind: RuntimeKind, opts: RuntimeOptions): Runtime {
  return kind === 'sim' ? new SimRuntime(opts) : new WallRuntime(opts);
}

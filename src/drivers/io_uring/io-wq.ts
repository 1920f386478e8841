/**
 * io-wq's workers (io_uring/io-wq.c, 6.1 and 6.12): the per-task io_wq whose queue
 * state is in Wasm (assembly/io-wq.ts, through src/wasm/io-wq.ts) and whose workers
 * are threads `iou-wrk-<tid>` of the submitting task, made by create_io_thread:
 *
 *   copy_process(CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_IO|CLONE_VM|
 *                CLONE_UNTRACED), io_thread = 1 (PF_IO_WORKER; every signal but
 *                SIGKILL/SIGSTOP blocked); from 6.4 also user_worker = 1 (PF_USER_WORKER,
 *                54e6842d0775 "fork: add USER_WORKER flag to ignore signals", the series
 *                that made vhost_task: the io_thread_user_worker feature)
 *
 * So a worker has the submitter's tgid, mm, files, creds and cgroups (a v2 process
 * moves with its threads), and copy_process counts it against the real uid's
 * RLIMIT_NPROC (-EAGAIN at the limit, unless uid 0 / CAP_SYS_RESOURCE / CAP_SYS_ADMIN).
 *
 * Creation, as create_io_worker / create_worker_cb / create_worker_cont do it:
 *   - io_wq_enqueue with no free worker and nothing running (or IO_WQ_WORK_CONCURRENT)
 *     reserves a worker (Wasm: nr_workers++, nr_running++) and calls create_io_thread
 *     at once, in the submitter's context;
 *   - a worker that blocks while it is the last one running with work runnable
 *     (io_wq_worker_sleeping -> io_wq_dec_running) queues create_worker_cb as task_work
 *     (TWA_SIGNAL) on the submitter, which creates the thread;
 *   - create_io_thread failing with -EAGAIN or -ERESTART* (io_should_retry_thread) is
 *     retried: schedule_work(io_workqueue_create) -> task_work create_worker_cont. Until
 *     0453aad676ff ("io_uring/io-wq: limit retrying worker initialisation", v6.11;
 *     backported to 6.1.y and 5.10.y in Aug 2024: Debian's 6.1.192 has it, the oracle's
 *     iouring-nproc shows -ECANCELED there) without a limit; since, at most
 *     WORKER_INIT_LIMIT (3) retries: 4 attempts in all;
 *   - a creation that fails for good undoes the reservation; if no worker of that acct
 *     is left, every pending work of the acct is cancelled: its CQE is -ECANCELED.
 * So at RLIMIT_NPROC an IOSQE_ASYNC request on a task with no worker yet completes with
 * -ECANCELED on 6.1.y (the backport) and 6.12; on a release without the limit (5.13,
 * 5.14) it waits forever (retried every time the task runs its task_work).
 *
 * Idle: a worker with nothing runnable goes on the free list and sleeps for
 * WORKER_IDLE_TIMEOUT (5 * HZ; kwq.io_wq_idle_ms changes it, a model switch for tests);
 * if that sleep times out and it is not the acct's last worker, it exits.
 *
 * Where the workers run: in sim, an IoWorker below is the worker Task's body on the
 * virtual CPUs; in the threads runtime the worker is a real thread running the Wasm
 * worker loop (io-wq-threads.ts, IoWorkerThread), and the Task's body never runs.
 *
 * Model costs (virtual time, IoUringCosts): a work's dispatch, its CPU part (page
 * copies) and its blocking part (the worker sleeps: io_wq_worker_sleeping). The CPU the
 * worker uses is charged by the runtime to the worker task's cpu cgroup: the submitter's.
 */
import { copyProcess } from '../../kernel/fork.js';
import { EAGAIN, ERESTARTNOINTR } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import {
  CLONE_FILES, CLONE_FS, CLONE_IO, CLONE_SIGHAND, CLONE_THREAD, CLONE_UNTRACED, CLONE_VM, PF_IO_WORKER, PF_USER_WORKER,
} from '../../kernel/sched.js';
import type { Task } from '../../kernel/task.js';
import { TimerList, TIMER_DEFERRABLE } from '../../runtime/clock.js';
import type { SimThread, ThreadBody } from '../../runtime/sim-thread.js';
import {
  IO_WQ_ACCT_BOUND, IO_WQ_ENQ_CANCEL, IO_WQ_ENQ_CREATE, IO_WQ_ENQ_WOKE, IO_WQ_WORK_CANCEL, type IoWqEngine, type IoWqHandle,
} from '../../wasm/io-wq.js';
import type { IoWorkerThread, IoWqThreads } from './io-wq-threads.js';

/** WORKER_IDLE_TIMEOUT (5 * HZ), in seconds (kwq.io_wq_idle_ms overrides it) */
export const WORKER_IDLE_TIMEOUT_S = 5;
/** WORKER_INIT_LIMIT (0453aad676ff) */
export const WORKER_INIT_LIMIT = 3;

/** What io-wq runs: the io_uring core's io_wq_submit_work for one request. */
export interface IoWqWorkFn {
  /** run work `w` (a request) on `worker`: returns its blocking time in ns (0: done) and charges CPU to th */
  run(w: number, worker: IoWorker, th: SimThread): number;
  /** the request's blocking part ended (or it ran with no blocking part): post its completion */
  complete(w: number, worker: IoWorker | null): void;
  /** io_run_cancel: the request is cancelled (-ECANCELED) */
  cancel(w: number): void;
}

export interface IoWqCosts {
  /** a sleeping worker woken to run again, ns */
  wakeNs: number;
  /** io_worker_handle_work + io_wq_submit_work for one work, ns */
  workNs: number;
}

/** Statistics of one io_wq (a model's view, for scenarios). */
export interface IoWqInfo {
  created: number;
  createFailures: number;
  retries: number;
  exited: number;
  cancelled: number;
  workers: Task[];
}

/** What IoWq keeps of a worker, in either runtime. */
export interface IoWqWorker {
  readonly task: Task | null;
  readonly slot: number;
  readonly acct: number;
  /** works it ran (a statistic) */
  readonly runs: number;
}

/** The body of a worker Task whose worker runs on a real thread (threads runtime): never run. */
const THREAD_BODY: ThreadBody = { run: () => false };

/** One io-wq worker in sim: a thread `iou-wrk-<tid>` of the submitter on the virtual CPUs. */
export class IoWorker implements ThreadBody, IoWqWorker {
  task: Task | null = null;
  slot = -1;
  /** asleep on the free list (FREE in Wasm) */
  free = false;
  /** the work blocked in do_work (its blocking part), 0 for none */
  private blocked = 0;
  /** the rest of the hashed chain after the current work */
  private next = 0;
  /** ran works (a statistic) */
  runs = 0;
  readonly idleTimer: TimerList;

  constructor(
    readonly wq: IoWq,
    readonly acct: number,
  ) {
    this.idleTimer = new TimerList(() => this.idleTimeout(), TIMER_DEFERRABLE);
  }

  /** io_wq_worker: one slice. */
  run(th: SimThread, budgetNs: number): boolean {
    const wq = this.wq;
    const h = wq.h;
    if (this.free) {
      // woken: claimed by an enqueue (slot BUSY already) or a spurious wake
      this.free = false;
      wq.k.rt.delTimer(this.idleTimer);
      h.busy(this.slot);
      h.incRunning(this.acct); // io_wq_worker_running
      th.costNs += wq.costs.wakeNs;
    }
    if (this.blocked !== 0) {
      // the blocking part of the current work ended: io_wq_worker_running, complete it
      const w = this.blocked;
      this.blocked = 0;
      h.incRunning(this.acct);
      this.finish(w);
    }
    for (;;) {
      if (wq.exiting) return false;
      let w = this.next;
      this.next = 0;
      if (w === 0) w = h.getNextWork(this.acct);
      if (w === 0) {
        // __io_worker_idle, then the re-check (assembly/io-wq.ts: going idle)
        h.idle(this.slot);
        if (h.runQueue(this.acct)) {
          h.busy(this.slot);
          continue;
        }
        this.free = true;
        wq.k.rt.modTimer(this.idleTimer, wq.k.jiffies + wq.idleJiffies);
        if (h.decRunning(this.acct)) wq.createViaTaskWork(this.acct); // io_wq_worker_sleeping
        return false;
      }
      th.costNs += wq.costs.workNs;
      const blockNs = wq.fn.run(w, this, th);
      this.runs++;
      if (blockNs > 0) {
        // do_work sleeps: io_wq_worker_sleeping -> io_wq_dec_running
        this.blocked = w;
        this.next = wq.ie.workNext(w);
        if (h.decRunning(this.acct)) wq.createViaTaskWork(this.acct);
        const task = this.task!;
        wq.k.rt.callAt(wq.k.rt.nowNs() + blockNs, () => { if (task.alive) wq.k.wakeUpProcess(task); });
        return false;
      }
      this.finish(w);
      if (th.costNs >= budgetNs) return true;
    }
  }

  /** complete the work, io_wq_work_done: the chain goes on with `next` */
  private finish(w: number): void {
    const wq = this.wq;
    // io_wq_work_done reads the chain's next and releases the hash; then the CQE is
    // posted and the work freed (the kernel's free_work), never touched again
    const next = wq.h.workDone(w);
    const woke = wq.h.lastSlot;
    wq.fn.complete(w, this);
    if (woke !== 0) wq.wakeSlot(woke - 1);
    this.next = next;
  }

  /**
   * io_wq_exit_start found this worker inside do_work. Linux's exiting task waits in
   * io_uring_cancel_generic until its inflight requests are done, so the op the worker
   * sleeps in (a bio it waits for) completes with its result and puts its file; the works
   * chained after it on the same hash then run with IO_WQ_WORK_CANCEL set
   * (io_worker_handle_work's do_kill), which io_wq_submit_work fails with -ECANCELED.
   * Without this a request in its blocking part at exit never completed: its file (a
   * block device stays open), its work and its io_kiocb leaked (the fuzzer, seed 20261207).
   */
  settleAtExit(): void {
    if (this.blocked !== 0) {
      const w = this.blocked;
      this.blocked = 0;
      this.finish(w);
    }
    const wq = this.wq;
    for (let w = this.next; w !== 0; ) {
      const next = wq.h.workDone(w);
      wq.info.cancelled++;
      wq.fn.cancel(w);
      w = next;
    }
    this.next = 0;
  }

  /** schedule_timeout(WORKER_IDLE_TIMEOUT) returned 0: exit unless the last worker */
  private idleTimeout(): void {
    if (!this.free || this.task === null || !this.task.alive) return;
    if (this.wq.h.timeout(this.slot)) {
      this.free = false;
      this.wq.workerGone(this, true);
    }
    // the last worker of its acct stays (it sleeps again, with no timer: nothing to observe)
  }
}

/** The TypeScript side of one task's io_wq. */
export class IoWq {
  readonly h: IoWqHandle;
  readonly workers: (IoWqWorker | null)[] = [];
  exiting = false;
  /** WORKER_IDLE_TIMEOUT in jiffies (sim) */
  readonly idleJiffies: number;
  readonly info: IoWqInfo = { created: 0, createFailures: 0, retries: 0, exited: 0, cancelled: 0, workers: [] };

  constructor(
    readonly k: Kernel,
    readonly ie: IoWqEngine,
    readonly offset: number,
    /** wq->task: the task whose thread group the workers join (io_uring_task's owner) */
    readonly task: Task,
    readonly fn: IoWqWorkFn,
    readonly costs: IoWqCosts,
    /** WORKER_INIT_LIMIT applies (0453aad676ff) */
    readonly initLimit: boolean,
    /** WORKER_IDLE_TIMEOUT, ms */
    idleMs: number,
    /** threads runtime: the kernel's io-wq worker threads (null in sim) */
    readonly threads: IoWqThreads | null,
  ) {
    this.h = ie.wq(offset);
    this.idleJiffies = Math.max(1, Math.ceil((idleMs * k.hz) / 1000));
  }

  /** io_wq_enqueue: queue, wake a free worker or create one. */
  enqueue(w: number): void {
    const r = this.h.enqueue(w);
    if (r & IO_WQ_ENQ_CANCEL) {
      this.ie.workSetFlags(w, IO_WQ_WORK_CANCEL);
      this.info.cancelled++;
      this.fn.cancel(w);
      return;
    }
    if (r & IO_WQ_ENQ_WOKE) this.wakeSlot(this.h.lastSlot - 1);
    // io_wq_create_worker -> create_io_worker, in the submitter's context
    if (r & IO_WQ_ENQ_CREATE) this.createIoWorker((this.ie.workFlags(w) & 4) !== 0 ? 1 : 0, 0);
  }

  wakeSlot(slot: number): void {
    // a thread worker was woken by the claim's notify in Wasm already
    const worker = this.workers[slot];
    if (worker instanceof IoWorker && worker.task) this.k.wakeUpProcess(worker.task);
  }

  /** create_worker_cb queued as task_work (TWA_SIGNAL) on wq->task: it runs when the task next enters the kernel or is interrupted. */
  createViaTaskWork(acct: number): void {
    const task = this.task;
    this.k.rt.callAt(this.k.rt.nowNs(), () => {
      if (!task.alive || this.exiting) {
        this.h.createFailed(acct);
        return;
      }
      this.createIoWorker(acct, 0);
    });
  }

  /** create_io_worker / create_worker_cont: one create_io_thread attempt (retries: earlier attempts). */
  createIoWorker(acct: number, retries: number): void {
    const k = this.k;
    const threads = this.threads;
    if (threads !== null && !threads.canStart()) {
      // DIVERGENCE (threads runtime): no room for another thread (kwq.io_wq_threads): as
      // create_io_thread failing with -ENOMEM, which is not retried
      this.info.createFailures++;
      this.failed(acct);
      return;
    }
    const worker = threads === null ? new IoWorker(this, acct) : null;
    const task = this.task;
    const r = copyProcess(k, task, {
      flags: CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_IO | CLONE_VM | CLONE_UNTRACED,
      name: `iou-wrk-${task.pid}`, userWorker: true, body: worker ?? THREAD_BODY,
    });
    if (typeof r !== 'number') {
      r.flags |= PF_IO_WORKER;
      if (!k.has('io_thread_user_worker')) r.flags &= ~PF_USER_WORKER; // create_io_thread sets user_worker from 6.4
      const slot = this.h.attach(acct);
      if (worker !== null) {
        worker.task = r;
        worker.slot = slot;
        this.workers[slot] = worker;
        k.wakeUpProcess(r); // io_init_new_worker: wake_up_new_task
      } else {
        const t = threads!.start(this, r, acct, slot);
        if (t === null) {
          // no thread after all (new Worker threw): undo the attach and the Task, as a failed creation
          this.info.createFailures++;
          k.exit(r, 0);
          if (this.h.undoAttach(slot, acct) === 0) this.cancelAcct(acct);
          return;
        }
        this.workers[slot] = t;
      }
      this.info.created++;
      this.info.workers.push(r);
      return;
    }
    this.info.createFailures++;
    // io_should_retry_thread: not with a fatal signal pending; from 0453aad676ff at most WORKER_INIT_LIMIT retries
    const retry = task.alive && (r === -EAGAIN || r === -ERESTARTNOINTR) && (!this.initLimit || retries < WORKER_INIT_LIMIT);
    if (retry && !this.exiting) {
      this.info.retries++;
      // schedule_work(io_workqueue_create) -> task_work create_worker_cont (TWA_SIGNAL: it wakes
      // the submitter waiting in io_cqring_wait): a jiffy later in the model. With the retry
      // limit the timer is not deferrable, so a submitter waiting for the CQE sees the retries
      // run out (the oracle's iouring-nproc); without it (endless retries) it is, so that
      // runUntilIdle can end
      const t = new TimerList(() => {
        if (!task.alive || this.exiting) { this.failed(acct); return; }
        this.createIoWorker(acct, retries + 1);
      }, this.initLimit ? 0 : TIMER_DEFERRABLE);
      k.rt.modTimer(t, k.jiffies + 1);
      return;
    }
    this.failed(acct);
  }

  /** the creation failed for good: undo the reservation; no worker left: cancel the acct's pending work */
  private failed(acct: number): void {
    if (this.h.createFailed(acct) !== 0) return;
    this.cancelAcct(acct);
  }

  private cancelAcct(acct: number): void {
    for (const w of this.h.cancelPending(acct)) {
      this.info.cancelled++;
      this.fn.cancel(w);
    }
  }

  /** a worker exits (idle timeout: its slot is NONE already; else io_worker_exit) */
  workerGone(worker: IoWqWorker, timedOut: boolean): void {
    if (!timedOut) this.h.exitWorker(worker.slot);
    // the slot may serve a new worker already (a thread's timeout is seen after its exit)
    if (this.workers[worker.slot] === worker) this.workers[worker.slot] = null;
    this.info.exited++;
    const t = worker.task;
    if (t === null || !t.alive) return;
    // a thread's CPU up to now goes to the cgroup its Task is in before it exits
    if (this.threads !== null && !(worker instanceof IoWorker)) this.threads.account();
    this.k.exit(t, 0);
  }

  /** threads runtime: a worker thread left after WORKER_IDLE_TIMEOUT (its slot is NONE already) */
  threadGone(t: IoWorkerThread): void {
    this.workerGone(t, true);
  }

  /** io_wq_exit_start + io_wq_put_and_exit: cancel what is pending, every worker exits. */
  exit(): void {
    if (this.exiting) return;
    this.exiting = true;
    this.h.exitStart();
    for (const acct of [IO_WQ_ACCT_BOUND, 1]) for (const w of this.h.cancelPending(acct)) { this.info.cancelled++; this.fn.cancel(w); }
    for (const worker of this.workers) {
      if (worker === null) continue;
      if (worker instanceof IoWorker) worker.settleAtExit(); // the threads runtime's workers settle in their thread
      this.workerGone(worker, false);
    }
  }

  /** Live workers (tasks alive). */
  liveWorkers(): IoWqWorker[] {
    return this.workers.filter((w): w is IoWqWorker => w !== null && w.task !== null && w.task.alive);
  }
}

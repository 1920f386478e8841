/**
 * struct vhost_worker and its two back ends (drivers/vhost/vhost.c @ f3f64c2e;
 * kernel-reference.md sections 1.7-1.12, 2, 3):
 *
 *   task mode (dev.forkOwner, vhost_task)        kthread mode (kthread_create)
 *   ------------------------------------------   ------------------------------------------
 *   a thread of the ioctl caller's group,        a child of kthreadd, PF_KTHREAD, init
 *   PF_USER_WORKER, CLONE_VM|FS|SIGHAND|THREAD   creds and namespaces, no mm of its own:
 *   |UNTRACED, no files: shares mm, creds,       borrows dev.mm (kthread_use_mm) while it
 *   rlimits, namespaces, cgroups; counted        runs works; attached once to the caller's
 *   against RLIMIT_NPROC and pids.max;           cgroups (cgroup_attach_task_all, a snapshot,
 *   moves with its process (cgroup.procs);       v2 included since 5.16); not counted against
 *   SIGKILL of the group runs vhost_worker_      the caller's RLIMIT_NPROC; ignores signals;
 *   killed; stopped by vhost_task_stop           stopped by kthread_stop at cleanup
 *
 * Both run the same loop: the worker's Wasm llist (vhost_worker struct in the
 * vhost engine) drained one llist_del_all batch per Wasm call, FIFO, QUEUED cleared
 * before each fn; the sim thread's virtual time is what the works cost, charged by
 * the runtime to the cgroup the worker task is in (cpu.stat).
 *
 * Locking: the kernel's dev->mutex / worker->mutex / vq->mutex serialise ioctls,
 * flushes and the killed path. The model runs on one JS thread, so each ioctl is
 * atomic; the one place where other code runs in the middle of an ioctl is a flush
 * waiting for its work (k.waitFor runs the simulation), as the kernel drops
 * worker->mutex there.
 */
import { KwqError } from '../../kernel/error.js';
import { EFAULT, EINVAL, ENODEV, ENOIOCTLCMD, ENOMEM, EBUSY } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { kfreeAccount, kmallocAccount, type KmemObj } from '../../kernel/memcontrol.js';
import type { Task } from '../../kernel/task.js';
import { THREAD_RUNNABLE, type SimThread, type ThreadBody } from '../../runtime/sim-thread.js';
import type { Tracepoint } from '../../kernel/trace.js';
import type { VhostWorkerHandle, WorkRef } from '../../wasm/engine.js';
import type { VhostDev } from './dev.js';
import { FAULT, readU32, VHOST_ATTACH_VRING_WORKER, VHOST_FREE_WORKER, VHOST_GET_VRING_WORKER, VHOST_NEW_WORKER, writeFields } from './uapi.js';
import { flushWorkFn, VhostFlush, type VhostEngine, type VhostWork } from './vhost-engine.js';
import { vhostGetVqFromUser, vhostVqAttachWorker } from './vq.js';

/** sizeof(struct vhost_worker) on x86_64, for the GFP_KERNEL_ACCOUNT charge (order of magnitude) */
const VHOST_WORKER_BYTES = 192;

export type VhostWorkerMode = 'task' | 'kthread';

export class VhostWorker implements ThreadBody {
  // Field order is layout order (V8 lays the fields out in definition order, 8 bytes
  // each after a 24-byte header): what a queue, a wake-up and a run read come first,
  // within the object's first two cache lines; what ioctls, flushes and teardown read,
  // after them. Issue 10: with a thousand workers taking turns each queue and each
  // run starts with this object out of cache, and the hot fields were spread over
  // four lines (the constructor's parameter properties came first).
  /**
   * The Wasm vhost_worker_queue and this worker's struct offset, read once:
   * vhostWorkerQueue runs per work, and handle.queue() is a chain of four dependent
   * loads (handle, engine, exports, the function) before the call. Once a second
   * kernel in the process queues works this call site sees one function per Wasm
   * instance, and V8 (Node 20) inlines a JS-to-Wasm call only for one known target:
   * ~4 ns more per work, left as is (measured: a call_indirect through a shared
   * trampoline instance costs as much, and a JS twin with Atomics ~30 ns more).
   */
  private readonly queueFn: (worker: number, work: number) => number;
  private readonly offset: number;
  /** workqueue_queue_work, read once (vhostWorkerQueue runs per work) */
  readonly tpQueue: Tracepoint;
  /** task.thread, read once (wake() runs per queued work) */
  thread: SimThread | null = null;
  /** sim runtime: the host wakes the worker's sim thread (threads runtime: Wasm wakes the real thread) */
  private readonly simWake: boolean;
  /** the vhost_task's thread or the kthread (wake() passes it with the thread) */
  task: Task | null = null;
  private readonly kernel: Kernel;
  /** the thread slept after its last run (a wake-up costs costs.wakeNs) */
  private sleeping = true;
  /** mode === 'kthread' (run() borrows the device's mm) */
  private readonly kthread: boolean;
  /**
   * What a run and a wake-up read, on this object: with a thousand workers taking
   * turns each run starts with cold caches, and the device, its costs object, the
   * handle and the engine's kernel were a cache line each (issue 10). The engine and
   * the kernel never change; the costs are copied by dev.applyCosts (vhostSetCosts)
   * and the pid with the task.
   */
  private readonly ve: VhostEngine;
  /** dev.costs.wakeNs / workNs (dev.applyCosts copies them) */
  wakeNs: number;
  workNs: number;
  /** task.pid (the workqueue_execute_* tracepoints' pid) */
  private pid = 0;
  /** wake-ups from sleep (a statistic) */
  wakeups = 0;
  // ---- read by ioctls, flushes, the killed path and teardown ----
  /** index in dev.workers (worker_xa); -1 until xa_alloc */
  id = -1;
  /** number of vqs whose vq.worker is this worker */
  attachmentCnt = 0;
  /** set by vhost_worker_killed (task mode only) */
  killed = false;
  /** destroyed: its Wasm struct is back in the pool */
  dead = false;
  kmem: KmemObj | null = null;
  readonly dev: VhostDev;
  readonly mode: VhostWorkerMode;
  readonly handle: VhostWorkerHandle;

  constructor(dev: VhostDev, mode: VhostWorkerMode, handle: VhostWorkerHandle) {
    this.simWake = dev.ve.threads === null;
    // sim: the host wakes the sim thread (wake()), no Wasm loop ever parks on the state
    // word, and vhost_worker_queue's check of it is skipped (a cache line a round)
    this.queueFn = this.simWake ? dev.ve.engine.exports.vhost_worker_queue_nowake : dev.ve.engine.exports.vhost_worker_queue;
    this.offset = handle.offset;
    this.tpQueue = dev.k.tp.workQueue;
    this.kernel = dev.k;
    this.kthread = mode === 'kthread';
    this.ve = dev.ve;
    this.wakeNs = dev.costs.wakeNs;
    this.workNs = dev.costs.workNs;
    this.dev = dev;
    this.mode = mode;
    this.handle = handle;
  }

  /** the vhost_task or kthread, set once at creation */
  setTask(t: Task): void {
    this.task = t;
    this.thread = t.thread;
    this.pid = t.pid;
  }

  /** vhost_worker_queue in Wasm (VhostWorkerHandle.queue) of the work at `ref`: 0 already queued, 1 added, 3 added and woke the thread */
  queueWork(ref: WorkRef): number {
    const queue = this.queueFn;
    return queue(this.offset, ref);
  }

  get k(): Kernel {
    return this.kernel;
  }

  /** vhost_task_fn + vhost_run_work_list / vhost_run_work_kthread_list: one slice. */
  run(th: SimThread, budgetNs: number): boolean {
    // threads runtime: the worker's real thread is the one consumer of its list; the
    // Task here is for accounting, flags, cgroups and signals only
    if (!this.simWake) return false;
    const ve = this.ve;
    // kthread_use_mm(dev->mm) for the works (the kernel holds it for the loop's lifetime)
    const useMm = this.kthread && this.dev.mm !== null && this.task!.mm === null;
    if (useMm) this.kernel.kthreadUseMm(this.task!, this.dev.mm!);
    if (this.sleeping) {
      this.sleeping = false;
      this.wakeups++;
      th.costNs += this.wakeNs;
    }
    let more: boolean;
    ve.workNs = this.workNs;
    for (;;) {
      // one llist_del_all batch per Wasm call; handlers charge th as they go
      const n = ve.runWorkerAt(this.offset, th, 1, this.pid);
      if (n === 0 || th.costNs >= budgetNs) {
        more = ve.hasWorkAt(this.offset); // may be stale: the next run re-checks with llist_del_all
        break;
      }
    }
    if (useMm) this.kernel.kthreadUnuseMm(this.task!);
    if (!more && !th.wakePending) this.sleeping = true;
    return more;
  }

  /**
   * ops->wakeup after an add (vhost_task_wake / wake_up_process). The threads runtime's
   * Wasm vhost_worker_queue already woke the real thread if it slept. A sim thread
   * already on the run queue is TASK_RUNNING: try_to_wake_up returns at its state
   * check, so the call is skipped (vhostWorkerQueue runs per work; the thread is
   * queued after the first add of a batch).
   */
  wake(): void {
    const th = this.thread;
    if (th !== null && th.state === THREAD_RUNNABLE) return;
    const task = this.task;
    if (task === null || th === null || !this.simWake) return;
    this.kernel.wakeUpThread(task, th); // wakeUpProcess(task) without touching the Task
  }

  /** Works this worker took off its list (built-ins and HOST works). May be stale. */
  get items(): number {
    return this.handle.itemsTaken();
  }

  /** threads runtime: the Linux thread id of the worker's real thread; null in sim or before it started. */
  get tid(): number | null {
    return this.dev.ve.threads?.tidOf(this) ?? null;
  }
}

// ---- creation and destruction -----------------------------------------------------

/**
 * vhost_worker_create(dev): ops->create by dev.forkOwner, then xa_alloc (lowest free
 * id). Every failure (kzalloc charge, no free Wasm worker struct, copy_process
 * -EAGAIN for RLIMIT_NPROC / pids.max / max_threads, -ERESTARTNOINTR for a pending
 * signal, kthread_create failure, cgroup attach failure) returns its -errno (-ENOMEM
 * for the allocations); the callers report -ENOMEM (section 1.6, "error collapse")
 * except SET_OWNER in releases without vhost_task_worker (<= 6.3), which returned the
 * kthread's error. Nothing is left behind on failure.
 */
export function vhostWorkerCreate(dev: VhostDev, current: Task): VhostWorker | number {
  const k = dev.k;
  const mode: VhostWorkerMode = dev.forkOwner ? 'task' : 'kthread';
  // kzalloc(sizeof(*worker), GFP_KERNEL_ACCOUNT): charged to the caller's memcg
  const kmem = kmallocAccount(k, current, VHOST_WORKER_BYTES);
  if (typeof kmem === 'number') return -ENOMEM;
  const h = dev.ve.workerStructAlloc();
  if (typeof h === 'number') {
    kfreeAccount(k, kmem);
    return -ENOMEM;
  }
  const worker = new VhostWorker(dev, mode, h);
  worker.kmem = kmem;
  const name = `vhost-${current.pid}`; // snprintf(name, TASK_COMM_LEN, "vhost-%d", current->pid)
  const fail = (err: number): number => {
    dev.ve.workerStructFree(h);
    kfreeAccount(k, kmem);
    worker.dead = true;
    return err;
  };
  if (mode === 'task') {
    // vhost_task_create + vhost_task_start, then xa_alloc
    const t = k.userWorkerCreate(current, name, worker, () => vhostWorkerKilled(worker));
    if (typeof t === 'number') return fail(t);
    worker.setTask(t);
    if (!startThread(worker)) {
      k.userWorkerStop(t);
      return fail(-ENOMEM);
    }
    k.wakeUpProcess(t);
    worker.id = xaAlloc(dev, worker);
  } else {
    // kthread_create + wake_up_process, xa_alloc, then vhost_attach_task_to_cgroups
    const t = k.kthreadCreate(name, worker);
    if (typeof t === 'number') return fail(t);
    worker.setTask(t);
    if (!startThread(worker)) {
      k.kthreadStop(t);
      return fail(-ENOMEM);
    }
    k.wakeUpProcess(t);
    const id = xaAlloc(dev, worker);
    // DIVERGENCE: the kernel runs cgroup_attach_task_all(owner, current) as a work on
    // the new kthread and flushes it (attachment_cnt = INT_MAX meanwhile); kwq attaches
    // from the ioctl caller directly, so that the ioctl never waits on a thread (the
    // threads runtime cannot block the caller). Same resulting cgroups, same errors.
    const ret = k.cgroupAttachTaskAll(current, t);
    if (ret !== 0) {
      dev.workers[id] = undefined; // xa_erase (the "free_id" step of f3f64c2e)
      k.kthreadStop(t);
      if (dev.ve.threads !== null) {
        // the thread has run nothing: stop it; the struct is freed when it has exited
        worker.dead = true;
        kfreeAccount(k, kmem);
        void dev.ve.threads.stopAfterFlush(worker, true);
        return ret;
      }
      return fail(ret);
    }
    worker.id = id;
  }
  return worker;
}

/**
 * threads runtime: start the worker's real thread (vhost_task_start / wake_up_process
 * of the kthread). False when it cannot be started (kwq.vhost_threads reached): the
 * creation fails like any other (-ENOMEM). Sim: nothing to start.
 */
function startThread(worker: VhostWorker): boolean {
  const threads = worker.dev.ve.threads;
  return threads === null || threads.start(worker);
}

/** xa_alloc(&dev->worker_xa, ..., xa_limit_32b): the lowest free index. */
function xaAlloc(dev: VhostDev, worker: VhostWorker): number {
  let id = 0;
  while (dev.workers[id] !== undefined) id++;
  dev.workers[id] = worker;
  return id;
}

/** vhost_worker_destroy: WARN_ON(!llist_empty), xa_erase, ops->stop, kfree. */
export function vhostWorkerDestroy(worker: VhostWorker): void {
  const dev = worker.dev;
  const k = dev.k;
  const threads = dev.ve.threads;
  if (threads !== null) {
    // threads runtime: the thread runs what is queued (a flush work queued behind it),
    // then stops and exits; its struct is freed after that (vhost-threads.ts)
    if (dev.workers[worker.id] === worker) dev.workers[worker.id] = undefined;
    const t = worker.task;
    if (t !== null && t.alive) {
      if (worker.mode === 'task') k.userWorkerStop(t);
      else k.kthreadStop(t);
    }
    worker.dead = true;
    dev.stopping.push(threads.stopAfterFlush(worker, true));
    if (worker.kmem !== null) kfreeAccount(k, worker.kmem);
    worker.kmem = null;
    return;
  }
  if (worker.handle.hasWork()) {
    // the kernel WARNs; kwq runs what is left so that no work is lost with the struct
    drainInline(worker);
  }
  if (dev.workers[worker.id] === worker) dev.workers[worker.id] = undefined;
  const t = worker.task;
  if (t !== null && t.alive) {
    if (worker.mode === 'task') k.userWorkerStop(t); // vhost_task_stop
    else k.kthreadStop(t); // kthread_stop
  }
  worker.dead = true;
  dev.ve.workerStructFree(worker.handle);
  if (worker.kmem !== null) kfreeAccount(k, worker.kmem);
  worker.kmem = null;
}

// ---- queueing and flushing -----------------------------------------------------------

/** vhost_worker_queue: test_and_set QUEUED + llist_add in Wasm; ops->wakeup on success. */
export function vhostWorkerQueue(worker: VhostWorker, work: VhostWork): void {
  vhostWorkerQueueRef(worker, work.ref);
}

/**
 * vhostWorkerQueue by the work's Wasm node (VhostWork.ref, a driver work's): what the
 * kernel's vhost_worker_queue is given, a pointer to the vhost_work, and all it
 * touches of the work is that struct. A caller that keeps the refs of its works
 * queues them without reading their JS objects, which the run reads (issue 10: with
 * 16,000 works queued a round, each VhostWork read at queue time was another line
 * that L2 had lost again by the time the run read it).
 */
export function vhostWorkerQueueRef(worker: VhostWorker, ref: WorkRef): void {
  const added = (worker.queueWork(ref) & 1) !== 0;
  const tp = worker.tpQueue;
  if (tp.enabled) tp.fire({ name: tp.name, ts: tp.now, pid: worker.task?.pid ?? 0, worker: worker.id, work: ref, added });
  if (added) worker.wake();
}

/**
 * __vhost_worker_flush: no-op for an unattached or killed worker; else queue a
 * flush work and wait for it (everything queued before it has run). Returns false
 * if the wait could not complete (see the divergence below).
 */
export function vhostWorkerFlush(worker: VhostWorker): boolean {
  if (worker.attachmentCnt === 0 || worker.killed || worker.dead) return true;
  const dev = worker.dev;
  const threads = dev.ve.threads;
  if (threads !== null) {
    // DIVERGENCE (threads runtime): wait_for_completion would block the ioctl; the main
    // thread never blocks, so the flush (a COMPLETE work queued behind the others) runs
    // on the worker thread after the ioctl has returned. `await vhostFlush(k, task, fd)`
    // (public.ts) waits for every flush started so far.
    void threads.flushHandle(worker.handle);
    return false;
  }
  const flush = new VhostFlush();
  const f = dev.ve.workAllocData(flushWorkFn, flush);
  if (typeof f === 'number') {
    // The kernel's flush work is on the stack: a flush cannot fail. With no work to
    // queue (the arena is full), wait until the worker's list and pending chain are
    // empty instead: every work queued before this call has then run, which is what
    // the flush promises (it may also wait for works queued meanwhile).
    dev.k.waitFor(() => !worker.handle.hasWork() || worker.killed || worker.dead);
    return !worker.handle.hasWork();
  }
  vhostWorkerQueue(worker, f);
  // DIVERGENCE: wait_for_completion blocks the ioctl until the worker ran the flush
  // work. In sim from top-level code k.waitFor runs the simulation until then. When
  // it cannot (threads runtime, a call from inside the simulation, or a worker that
  // can never run: its process is stopped), kwq returns without waiting; the flush
  // work stays queued and frees itself when it runs.
  dev.k.waitFor(() => flush.done || worker.killed || worker.dead);
  if (flush.done) {
    dev.ve.workFree(f);
    return true;
  }
  flush.freeOnRun = true;
  return false;
}

/** vhost_dev_flush: flush every worker of the device (xa_for_each). */
export function vhostDevFlush(dev: VhostDev): void {
  for (const w of [...dev.workers]) if (w !== undefined) vhostWorkerFlush(w);
}

// ---- the killed path (task mode) ---------------------------------------------------

/**
 * vhost_worker_killed (the vhost_task's handle_sigkill): mark killed, take the worker
 * off every vq that uses it, then run what is queued (flush works and anything that
 * slipped in) before the thread exits.
 */
export function vhostWorkerKilled(worker: VhostWorker): void {
  worker.killed = true;
  let attachCnt = 0;
  for (const vq of worker.dev.vqs) {
    if (vq.worker === worker) {
      vq.worker = null;
      attachCnt++;
    }
  }
  worker.attachmentCnt -= attachCnt;
  // (synchronize_rcu: no reader can still be queueing on it in the model)
  const threads = worker.dev.ve.threads;
  if (threads !== null) {
    // threads runtime: the vhost_task runs vhost_run_work_list itself: its thread
    // runs what is queued (behind a flush work), then stops and exits. The struct
    // stays the device's (xa) until cleanup, as in the kernel.
    void threads.stopAfterFlush(worker, false);
    return;
  }
  drainInline(worker);
}

/** vhost_run_work_list until empty, on the calling thread; CPU time charged to the worker task. */
function drainInline(worker: VhostWorker): void {
  const dev = worker.dev;
  const ve = dev.ve;
  if (ve.running) {
    // a worker batch is running on this thread (a handler's charge OOM-killed the
    // owner, say): Engine.run is not re-entrant, so drain right after, at this time
    dev.k.rt.callAt(dev.k.now, () => drainInline(worker));
    return;
  }
  ve.workNs = dev.costs.workNs;
  if (!worker.handle.hasWork()) return;
  ve.runWorker(worker.handle, null, 0xffff_ffff, worker.task?.pid ?? 0);
  const ns = ve.takeSink();
  const t = worker.task;
  if (ns > 0 && t !== null) dev.k.chargeCpu(t, ns, false);
}

// ---- vhost_worker_ioctl -----------------------------------------------------------------

/**
 * vhost_worker_ioctl (section 1.10), called with dev.mutex held by the driver:
 * !use_worker -EINVAL; no owner -EINVAL; another mm -EPERM; then the four ioctls.
 */
export function vhostWorkerIoctl(dev: VhostDev, task: Task, request: number, arg: unknown): number {
  if (!dev.useWorker) return -EINVAL;
  if (!dev.hasOwner()) return -EINVAL;
  const r = dev.checkOwner(task);
  if (r !== 0) return r;
  switch (request) {
    case VHOST_NEW_WORKER: {
      // "vhost_tasks will account for worker threads under the parent's NPROC value
      // but kthreads do not. To avoid userspace overflowing the system with worker
      // threads fork_owner must be true."
      if (!dev.forkOwner) return -EFAULT;
      const worker = vhostWorkerCreate(dev, task);
      if (typeof worker === 'number') return -ENOMEM;
      // copy_to_user after creation: on -EFAULT the worker stays created (the kernel's behaviour)
      return writeFields(arg, { worker_id: worker.id }) ? 0 : -EFAULT;
    }
    case VHOST_FREE_WORKER: {
      const id = readU32(arg, 'worker_id');
      if (id === FAULT) return -EFAULT;
      return vhostFreeWorker(dev, id);
    }
    case VHOST_ATTACH_VRING_WORKER:
    case VHOST_GET_VRING_WORKER:
      break;
    default:
      return -ENOIOCTLCMD;
  }
  const vq = vhostGetVqFromUser(dev, arg, 'index'); // struct vhost_vring_worker { index, worker_id }
  if (typeof vq === 'number') return vq;
  if (request === VHOST_ATTACH_VRING_WORKER) {
    const index = readU32(arg, 'index');
    const id = readU32(arg, 'worker_id');
    if (index === FAULT || id === FAULT) return -EFAULT;
    return vhostVqAttachWorker(vq, id);
  }
  const worker = vq.worker;
  if (worker === null) return -EINVAL;
  return writeFields(arg, { index: vq.index, worker_id: worker.id }) ? 0 : -EFAULT;
}

/** xa_find(index >= id) and the id check: the worker, or null (-ENODEV). */
export function vhostWorkerLookup(dev: VhostDev, id: number): VhostWorker | null {
  return dev.workers[id] ?? null;
}

/** vhost_free_worker: -ENODEV unknown id; -EBUSY attached or killed; else destroy. */
function vhostFreeWorker(dev: VhostDev, id: number): number {
  const worker = vhostWorkerLookup(dev, id);
  if (worker === null) return -ENODEV;
  if (worker.attachmentCnt !== 0 || worker.killed) return -EBUSY;
  vhostWorkerFlush(worker); // a no-op: attachment_cnt is 0
  vhostWorkerDestroy(worker);
  return 0;
}

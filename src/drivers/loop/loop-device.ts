/**
 * struct loop_device and its I/O path (drivers/block/loop.c), in the two designs:
 *
 *   kworker (<= 5.13)     one kthread "loopN" per bound device runs every command in
 *                         FIFO order; no active memcg, so every backing-file page is
 *                         charged to the root memcg (section 6.1). Only direct-I/O
 *                         commands carry the bio's blkcg into the kthread
 *                         (kthread_associate_blkcg, since 4.14's "make loop cgroup aware").
 *   per-cgroup (5.14+)    sections 6.2-6.7: lo->workqueue (WQ_UNBOUND), a loop_worker per
 *                         issuing blkcg found in worker_tree, the root queue for
 *                         root-cgroup I/O and allocation
 *                         failures, idle workers reaped by a deferrable timer with
 *                         timer_reduce, teardown as 5.19+ (the workqueue outlives
 *                         LOOP_CLR_FD; lo_free_disk frees it).
 *
 *   submit_bio(/dev/loopN) ─► blkMqSubmitBio: requests of <= LOOP_MAX_REQUEST_BYTES
 *     └─► blkMqGetTag: one of lo->tag_set's hw_queue_depth tags (a submitter without
 *         one waits for a completion to free it; blk-mq.ts)
 *     └─► loopQueueRq: Lo_bound? use_aio? blkcg_css / memcg_css (css_get)
 *           └─► loopQueueWork ══► Wasm loop_queue_work (assembly/loop.ts), one call,
 *               under lo_work_lock: root queue, or the cgroup's worker (rbtree lookup,
 *               else allocate, else root queue), rescue from the idle list, FIFO
 *               append, test_and_set PENDING
 *                 └─► TS: css_get / css_put as the flags say; __queue_work if it
 *                     became pending (the sim workqueue, workqueue.ts)
 *   kworker: loopProcessWork ══► Wasm loop_process_one: the next command under the
 *            lock, or (list empty, not pending) go idle ─► TS: loop_set_timer
 *            └─► loopHandleCmd: associate blkcg, set active memcg, do_req_filebacked
 *                on the backing file, restore, complete the request.
 *
 * What runs where: the dispatch (sections 6.4-6.6: tree, lists, idle list, PENDING,
 * the reaper's list walk) is Wasm over the shared memory; the kernel model around it
 * (css references, charging, bios, timers) is TypeScript on the kernel's thread.
 *   sim runtime      the kworkers are the TypeScript workqueue (workqueue.ts) on
 *                    virtual CPUs, one thread, deterministic.
 *   threads runtime  the kworkers are real worker_threads (loop-kthreads.ts,
 *                    src/runtime/loop-kthread.js) running the Wasm workqueue
 *                    (assembly/loop-wq.ts) and loop_process_work's FIFO step; the
 *                    kernel-model part of loop_handle_cmd (associate blkcg, active
 *                    memcg, do_req_filebacked, completion) runs on the main thread,
 *                    serialized, as the kworker's Task, requested through a ring
 *                    (Divergence: the kernel runs it on the kworker; see loop-kthreads.ts).
 *
 * The model's worker waits for its backing-file I/O before the next command, direct
 * I/O included (Divergence: the kernel submits LO_FLAGS_DIRECT_IO commands with aio,
 * lo_rw_aio, and moves on; buffered commands are synchronous in the kernel too).
 * That wait is what "synchronously blocked" means in 87579e9b's rationale: a worker
 * blocked for one cgroup holds up every command queued behind it on that worker.
 */
import { EBADF, EBUSY, EINVAL, EIO, ENOMEM, ENXIO, EOPNOTSUPP, EOVERFLOW, EPERM, EFAULT } from '../../kernel/errno.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';
import { cssGet, cssPut } from '../../kernel/cgroup/cgroup-core.js';
import { blkcgOf, kthreadAssociateBlkcg } from '../../kernel/blk-cgroup.js';
import { setActiveMemcg } from '../../kernel/memcontrol.js';
import { PF_LOCAL_THROTTLE, PF_MEMALLOC_NOIO } from '../../kernel/sched.js';
import { CAP_SYS_ADMIN } from '../../kernel/cred.js';
import { TimerList, TIMER_DEFERRABLE } from '../../runtime/clock.js';
import { blkdevFsync, newBio, submitBio, type Bio, type BlockDevice } from '../../kernel/vfs/blkdev.js';
import { evictClean } from '../../kernel/vfs/filemap.js';
import { fput, getFile, O_DIRECT, type File } from '../../kernel/vfs/file.js';
import { shmemCanDirectIo } from '../../kernel/vfs/tmpfs.js';
import { isBlk, isReg } from '../../kernel/vfs/inode.js';
import { BlkMqTags, blkMqEndRequest, blkMqGetTag, blkMqPutTag, blkMqRqDone, blkMqRqInit, blkMqSubmitBio } from '../block/blk-mq.js';
import { blkAllocQueue, type RequestQueue } from '../block/blk-ioc-queue.js';
import { bioSetIoprio } from '../block/bio-ioprio.js';
import { blkSysfsGroup } from '../block/blk-sysfs.js';
import { getTaskIoprio } from '../block/ioprio.js';
import { CmdPool, type LoopCmd } from './loop-cmd.js';
import { LoopWorker, RootQueue, type ExecState } from './loop-worker.js';
import { LOOP_KTHREADS_MAX, LoopKthreads, type KthreadOps, type LoopKthread } from './loop-kthreads.js';
import { loopEngine, WorkerTree, type KernelLoop } from './worker-tree.js';
import {
  __queueWork, allocWorkqueue, destroyWorkqueue, Kworker, workResume, WorkStruct, WORK_BLOCKED, WORK_DONE, WORK_YIELD,
  WQ_FREEZABLE, WQ_UNBOUND, type Workqueue,
} from './workqueue.js';
import {
  LOOP_PW_IDLE, LOOP_QW_FAILED, LOOP_QW_NEW, LOOP_QW_QUEUE, LOOP_QW_RESCUED, LOOP_QW_ROOT, WQ,
} from '../../wasm/loop.js';
import {
  encodeDev, LLONG_MAX, LOOP_CONFIGURE_SETTABLE_FLAGS, LOOP_SET_STATUS_CLEARABLE_FLAGS, LOOP_SET_STATUS_SETTABLE_FLAGS,
  LO_CRYPT_NONE, LO_FLAGS_AUTOCLEAR, LO_FLAGS_DIRECT_IO, LO_FLAGS_PARTSCAN, LO_FLAGS_READ_ONLY, LO_KEY_SIZE, readInfo64, writeInfo64,
  type KConfig, type KInfo64,
} from './uapi.js';

export type LoopDesign = 'kworker' | 'per-cgroup';
export const LOOP_DESIGNS: readonly LoopDesign[] = ['per-cgroup', 'kworker'];

/** enum lo_state */
export const Lo_unbound = 0;
export const Lo_bound = 1;
export const Lo_rundown = 2;
export const Lo_deleting = 3;
export const LO_STATE_NAMES = ['Lo_unbound', 'Lo_bound', 'Lo_rundown', 'Lo_deleting'];

/** LOOP_IDLE_WORKER_TIMEOUT = 60 * HZ */
export const LOOP_IDLE_WORKER_TIMEOUT_S = 60;
/** a request's largest size: max_hw_sectors of a loop queue (BLK_DEF_MAX_SECTORS_CAP, 2560 sectors) */
export const LOOP_MAX_REQUEST_BYTES = 1280 * 1024;
/** virtual CPU a worker spends per command (dispatch, iov setup) and per 4 KiB copied */
export const LOOP_CMD_COST_NS = 1500;
export const LOOP_PAGE_COST_NS = 400;

/** What a device has done, for tests and figures (measured, never set by hand). */
export class LoopStats {
  /** commands queued / completed */
  queued = 0;
  completed = 0;
  /** commands that went to the root queue, and why */
  rootQueued = 0;
  allocFailures = 0;
  /** loop_worker structs made / freed (the timer, or teardown) */
  workersCreated = 0;
  workersFreed = 0;
  /** queue_work calls that found the work pending already */
  queueNoop = 0;
  /** idle workers taken back off the idle list by new work */
  rescued = 0;
}

export class LoopDevice {
  state = Lo_unbound;
  /** lo_flags */
  flags = 0;
  backingFile: File | null = null;
  offset = 0;
  sizelimit = 0;
  fileName = '';
  blockSize = 512;
  /** disk_openers */
  openers = 0;
  /** idr_visible: false while LOOP_CTL_REMOVE checks it */
  visible = true;
  /** lo->use_dio */
  useDio = false;
  design: LoopDesign;
  /** lo->workqueue in the sim runtime (TypeScript kworkers on virtual CPUs) */
  workqueue: Workqueue | null = null;
  /** lo->workqueue in the threads runtime (kworkers on worker_threads) */
  kthreads: LoopKthreads | null = null;
  /** per-cgroup: lo->rootcg_work / rootcg_cmd_list; kworker: the one FIFO */
  readonly rootQueue = new RootQueue();
  /** the dispatch state in Wasm: worker_tree, idle list, root FIFO (made on the first configure) */
  tree: WorkerTree | null = null;
  private klCache: KernelLoop | null = null;
  private poolCache: CmdPool | null = null;
  readonly timer: TimerList;
  /** commands queued and not completed */
  inflight = 0;
  /** __loop_clr_fd could not wait for the queue to drain: finish it when it has */
  clrPending = false;
  readonly stats = new LoopStats();

  /** blk_mq_get_tag + loop_queue_rq bound to this device, made once (no closure per bio) */
  readonly queueRqFn: (bio: Bio, pos: number, len: number) => void;
  /** loop_queue_rq bound to this device (what a request does once it has its tag) */
  private readonly issueFn: (bio: Bio, pos: number, len: number) => void;
  /**
   * lo->tag_set's tags: queue_depth = the hw_queue_depth module parameter, one hardware
   * queue. Each tag has its loop_cmd (the pdu) once used, so the device never holds
   * more than `depth` commands.
   */
  readonly tags: BlkMqTags;
  /**
   * lo->lo_queue: no elevator by default (loop's tag set has BLK_MQ_F_NO_SCHED_BY_DEFAULT),
   * switchable through /sys/block/loopN/queue/scheduler
   */
  readonly q: RequestQueue;

  constructor(
    readonly k: Kernel,
    readonly number: number,
    readonly bdev: BlockDevice,
    design: LoopDesign,
    queueDepth: number,
  ) {
    this.design = design;
    this.q = blkAllocQueue(k, `loop${number}`, 'none');
    this.tags = new BlkMqTags(queueDepth);
    this.issueFn = (bio, pos, len) => loopQueueRq(this, bio, pos, len);
    this.queueRqFn = (bio, pos, len) => blkMqGetTag(k, this.tags, this.issueFn, bio, pos, len);
    this.timer = new TimerList(() => loopFreeIdleWorkers(this, false), TIMER_DEFERRABLE);
  }

  /** the kernel's loop engine and side tables (made on first use: a kernel that never binds a loop device has none) */
  get kl(): KernelLoop {
    return (this.klCache ??= loopEngine(this.k));
  }

  /** the device's command pool */
  get pool(): CmdPool {
    return (this.poolCache ??= new CmdPool(this.kl));
  }

  /** loop_remove's blk_mq_free_tag_set: the commands go back to the kernel's arena (nothing may be in flight) */
  freeTagSet(): void {
    if (this.inflight > 0 || this.tags.nrInUse > 0) throw new KwqError('blk_mq_free_tag_set', `${this.name}: ${this.inflight} command(s) still in flight`);
    this.poolCache?.release();
    this.poolCache = null;
  }

  get name(): string {
    return `loop${this.number}`;
  }

  /** live loop_workers (in the tree) */
  get nrWorkers(): number {
    return this.tree === null ? 0 : this.tree.d.nrWorkers;
  }

  /** the TypeScript halves of the kernel's workers, by arena index (tree.slot(node)) */
  get workers(): readonly (LoopWorker | null)[] {
    return this.kl.workers;
  }

  /** the live workers, in tree (cgroup id) order */
  liveWorkers(): LoopWorker[] {
    if (this.tree === null) return [];
    return this.tree.nodes().map((n) => this.kl.worker(n));
  }

  /** idle_worker_list, oldest first */
  idleList(): LoopWorker[] {
    if (this.tree === null) return [];
    return this.tree.d.idleList().map((n) => this.kl.worker(n));
  }
}

// ---- the workqueue and the worker tree ----------------------------------------------

/** lo->workqueue for the device's design (5.19+: made on the first configure) */
function loopPrepareQueue(lo: LoopDevice): number {
  if (lo.workqueue !== null || lo.kthreads !== null) return 0;
  const k = lo.k;
  const made = lo.tree === null;
  if (lo.tree === null) {
    // loop_add's worker_tree / idle list / root queue, in the shared memory; the
    // fault-injection PRNG is seeded from the kernel's (deterministic per seed)
    const d = lo.kl.le.device(k.kwqSwitch('loop_worker_fail') as number, Math.floor(k.random() * 2 ** 32));
    if (d === null) return -ENOMEM;
    lo.tree = new WorkerTree(lo.kl, d);
    lo.rootQueue.workOff = d.rootWork;
    lo.rootQueue.work = new WorkStruct(loopRootcgWorkfn, lo, sharedPending(lo.kl, d.rootWork));
  }
  if (k.rt.kind === 'threads') {
    // kworkers on real threads: an unbound pool of kwq.loop_kthreads kworkers, or
    // (<= 5.13) the one kthread "loopN"
    const nr = lo.design === 'per-cgroup' ? loopKthreadCount(k) : 1;
    const kt = LoopKthreads.create(lo, nr, (i) => (lo.design === 'per-cgroup' ? `kworker/u${2 * k.rt.ncpus}:${i}` : lo.name), kthreadOps);
    if (typeof kt === 'number') {
      if (made) {
        lo.tree!.release(); // alloc_workqueue failed: nothing changes
        lo.tree = null;
        lo.rootQueue.workOff = 0;
      }
      return kt;
    }
    lo.kthreads = kt;
    return 0;
  }
  lo.workqueue = lo.design === 'per-cgroup'
    ? allocWorkqueue(k, lo.name, WQ_UNBOUND | WQ_FREEZABLE, 0)
    : allocWorkqueue(k, lo.name, 0, 1, lo.name); // <= 5.13: kthread_worker "loop%d" (one kthread, FIFO)
  return 0;
}

/** the PENDING bit of a Wasm work_struct, for the sim workqueue */
function sharedPending(kl: KernelLoop, work: number): { i32: Int32Array; index: number } {
  return { i32: kl.le.engine.i32, index: kl.le.workDataIndex(work) };
}

/** queue_on_root_worker(): no css, or the root blkcg */
function queueOnRootWorker(css: Cgroup | null): boolean {
  return css === null || css.parent === null;
}


/** LOOP_IDLE_WORKER_TIMEOUT in jiffies: 60 * HZ (kwq.loop_idle_timeout_ms, default 60000) */
function loopIdleTimeoutJiffies(k: Kernel): number {
  return Math.max(1, Math.round(((k.kwqSwitch('loop_idle_timeout_ms') as number) * k.hz) / 1000));
}

/** kworker threads of a per-cgroup device in the threads runtime: kwq.loop_kthreads, 0 = the boot's ncpus (1..32) */
function loopKthreadCount(k: Kernel): number {
  const n = k.kwqSwitch('loop_kthreads') as number;
  return Math.min(LOOP_KTHREADS_MAX, WQ.MAX_KWORKERS, Math.max(1, n === 0 ? k.rt.ncpus : n));
}

/** loop_set_timer: timer_reduce(&lo->timer, jiffies + LOOP_IDLE_WORKER_TIMEOUT) */
function loopSetTimer(lo: LoopDevice): void {
  const k = lo.k;
  k.rt.timerReduce(lo.timer, k.jiffies + loopIdleTimeoutJiffies(k));
}

/**
 * loop_free_idle_workers(lo, delete_all): free the idle workers whose 60 s have passed
 * (all of them with delete_all), oldest first, stopping at the first that has not;
 * re-arm for now + 60 s while any stay idle (section 6.6).
 */
export function loopFreeIdleWorkers(lo: LoopDevice, deleteAll: boolean): void {
  const tree = lo.tree;
  if (tree === null) return;
  if (freeIdleWorkersOf(lo, tree, deleteAll)) loopSetTimer(lo);
}

/** loop_free_idle_workers on `tree` (the device's, or one a threads-runtime teardown holds); true when workers stay idle */
function freeIdleWorkersOf(lo: LoopDevice, tree: WorkerTree, deleteAll: boolean): boolean {
  const k = lo.k;
  const kl = lo.kl;
  // the list walk, rb_erase and kfree run in Wasm under lo_work_lock
  // (loop_free_idle_workers, the time_is_after_jiffies test included); the css_put
  // of each freed worker is the kernel model's, here
  return tree.d.freeIdleWorkers(k.jiffies, loopIdleTimeoutJiffies(k), deleteAll, (node, lastRanAt) => {
    const idx = kl.le.workerIndex(node);
    const w = kl.workers[idx]!;
    kl.workers[idx] = null;
    w.freed(lastRanAt);
    const tp = k.trace.define('loop_worker_free');
    if (tp.enabled) tp.emit({ dev: lo.name, cgroup: w.blkcgCss.path, id: w.blkcgCss.id, lastRanAt });
    cssPut(k, w.blkcgCss);
    lo.stats.workersFreed++;
  });
}

// ---- submission ---------------------------------------------------------------------

/** The block device's submit_bio: split into requests, each to loop_queue_rq. */
export function loopSubmitBio(_k: Kernel, bdev: BlockDevice, bio: Bio): void {
  const lo = bdev.data as LoopDevice;
  blkMqSubmitBio(bio, LOOP_MAX_REQUEST_BYTES, lo.queueRqFn);
}

/** loop_queue_rq (section 6.3) */
function loopQueueRq(lo: LoopDevice, bio: Bio, pos: number, len: number): void {
  const k = lo.k;
  if (lo.state !== Lo_bound) {
    blkMqEndRequest(k, bio, -EIO); // BLK_STS_IOERR
    blkMqPutTag(lo.tags);
    return;
  }
  const cmd = lo.pool.get();
  // blk_mq_submit_bio's request: bio_set_ioprio and the elevator's io_context for the
  // submitter (bio.task), recorded in cmd.rq (req_get_ioprio(rq) is cmd.rq.ioprio)
  blkMqRqInit(k, lo.q, lo.bdev, bio, pos, len, cmd.rq);
  cmd.bio = bio;
  cmd.op = bio.op;
  cmd.pos = pos;
  cmd.len = len;
  cmd.ret = 0;
  cmd.handled = 0;
  cmd.ioDone = false;
  cmd.queuedNs = k.now;
  cmd.useAio = bio.op === 'flush' || bio.op === 'discard' ? false : lo.useDio;
  cmd.blkcgCss = null;
  cmd.memcgCss = null;
  const css = bio.blkcg.ecss('io');
  if (lo.design === 'per-cgroup') {
    // c74d40e8: every request with a bio carries its blkcg, and the effective memcg of
    // that cgroup (cgroup_get_e_css takes a reference)
    cmd.blkcgCss = css;
    cmd.memcgCss = memcgCssOf(k, css);
    cssGet(cmd.memcgCss);
  } else if (cmd.useAio) {
    // 4.14-5.13: only aio (direct I/O) commands carried the css, for the blkcg only
    cmd.blkcgCss = css;
  }
  lo.inflight++;
  lo.stats.queued++;
  loopQueueWork(lo, cmd);
}

/** cgroup_get_e_css(blkcg_css->cgroup, &memory_cgrp_subsys): the root memcg when the io hierarchy has no memory controller (v1) */
function memcgCssOf(k: Kernel, blkcg: Cgroup): Cgroup {
  if (blkcg.root.controllers.has('memory')) return blkcg.ecss('memory');
  return k.cgroupRootFor('memory');
}

/**
 * loop_queue_work (section 6.4): the whole body is one Wasm call under lo_work_lock
 * (assembly/loop.ts); what it reports back is the kernel model's part: the new
 * worker's css_get, the fallback's css_put, and queue_work's __queue_work when the
 * work became pending.
 */
function loopQueueWork(lo: LoopDevice, cmd: LoopCmd): void {
  const k = lo.k;
  const kl = lo.kl;
  const css = cmd.blkcgCss;
  // queue_on_root_worker(): key 0; the <= 5.13 design has only the one FIFO
  const id = lo.design === 'per-cgroup' && !queueOnRootWorker(css) ? css!.id : 0;
  const kt = lo.kthreads;
  // the worker this cgroup's last command went to, if it is still live (LoopWorker.node
  // is 0 once the reaper freed it): Wasm checks under the lock that it is still the
  // tree's node for `id` and then skips the walk (sim runtime; the threads runtime's
  // call walks, and its kworker threads own the work)
  const bg = id !== 0 && kt === null ? css!.blkcg : null;
  const hw = bg !== null ? (bg.driverHint as LoopWorker | null) : null;
  const hint = hw !== null && hw.lo === lo && hw.node !== 0 ? hw.node : 0;
  // threads runtime: queue_work's __queue_work runs in the same Wasm call, under
  // lo_work_lock, and wakes a kworker thread
  const f = kt !== null ? kt.queueWork(cmd.wasm, id) : lo.tree!.d.queueWork(cmd.wasm, id, hint);
  let work: WorkStruct | null;
  if (f & LOOP_QW_ROOT) {
    lo.stats.rootQueued++;
    work = lo.rootQueue.work;
    if (f & LOOP_QW_FAILED) {
      // GFP_NOWAIT allocation failed: the root worker issues it as the root cgroup
      lo.stats.allocFailures++;
      cmd.blkcgCss = null;
      if (cmd.memcgCss !== null) cssPut(k, cmd.memcgCss);
      cmd.memcgCss = null;
    }
  } else {
    const node = kl.le.cmdWorker(cmd.wasm);
    let w: LoopWorker;
    if (hint !== 0 && node === hint) {
      w = hw!; // the cached worker took it (never a new one: a hint is a live worker)
    } else {
      if (f & LOOP_QW_NEW) {
        const nw = new LoopWorker(kl.le, node, css!, lo, loopWorkfn, (off) => sharedPending(kl, off));
        kl.workers[kl.le.workerIndex(node)] = nw;
        cssGet(css!);
        lo.stats.workersCreated++;
        const tp = k.trace.define('loop_worker_alloc');
        if (tp.enabled) tp.emit({ dev: lo.name, cgroup: css!.path, id: css!.id });
      }
      w = kl.worker(node);
      if (bg !== null) bg.driverHint = w;
    }
    if (f & LOOP_QW_RESCUED) lo.stats.rescued++; // list_del_init: rescued from the reaper
    work = kt === null ? w : null;
  }
  if (!(f & LOOP_QW_QUEUE)) lo.stats.queueNoop++;
  else if (kt === null) __queueWork(lo.workqueue!, work!);
  else if (k.tp.workQueue.enabled) k.tp.workQueue.emit({ wq: lo.name, running: null }); // queued in Wasm; who runs it is not known here
}

// ---- processing -----------------------------------------------------------------------

function loopWorkfn(work: WorkStruct, kw: Kworker, budgetNs: number): number {
  const w = work as LoopWorker; // container_of(work, struct loop_worker, work)
  return loopProcessWork(w.lo as LoopDevice, w, w.workOff, w, kw, budgetNs);
}

function loopRootcgWorkfn(work: WorkStruct, kw: Kworker, budgetNs: number): number {
  const lo = work.data as LoopDevice;
  return loopProcessWork(lo, null, lo.rootQueue.workOff, lo.rootQueue.exec, kw, budgetNs);
}

/**
 * loop_process_work (section 6.5), one slice at a time: commands in FIFO order, each
 * taken under lo_work_lock by loop_process_one (Wasm); when the list is empty and
 * the work was not queued again meanwhile, Wasm puts a cgroup worker on the idle
 * list and the reaper timer is (re)armed here with timer_reduce.
 */
function loopProcessWork(lo: LoopDevice, worker: LoopWorker | null, workOff: number, ex: ExecState, kw: Kworker, budgetNs: number): number {
  const k = lo.k;
  const task = kw.task;
  const th = kw.thread;
  if (ex.origFlags < 0) {
    ex.origFlags = task.flags;
    task.flags |= PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO;
  }
  if (ex.waiting !== null) {
    const c = ex.waiting;
    if (!c.ioDone) return WORK_BLOCKED;
    ex.waiting = null;
    loopCompleteCmd(lo, c);
  }
  const start = th.costNs;
  const d = lo.tree!.d;
  for (;;) {
    // cond_resched(): a slice ends before the next command (the list is a racy read
    // here, but the sim runs one thread: it is exact)
    if (th.costNs - start >= budgetNs && !d.workListEmpty(workOff)) return WORK_YIELD;
    const c = d.processOne(workOff, k.jiffies);
    if (c < 64) {
      if (c === LOOP_PW_IDLE) loopSetTimer(lo); // the worker went idle (Wasm, under the lock)
      break;
    }
    const cmd = lo.kl.cmd(c);
    th.costNs += LOOP_CMD_COST_NS + Math.ceil(cmd.len / 4096) * LOOP_PAGE_COST_NS;
    if (worker === null) lo.rootQueue.nrCmds++;
    if (!loopHandleCmd(lo, cmd, task, kw)) {
      ex.waiting = cmd;
      return WORK_BLOCKED;
    }
    loopCompleteCmd(lo, cmd);
  }
  task.flags = ex.origFlags;
  ex.origFlags = -1;
  return WORK_DONE;
}

/**
 * loop_handle_cmd: associate the kworker with the command's blkcg, make its memcg the
 * active one, run the I/O on the backing file, restore both. Returns true when the
 * command is finished (cmd.ret set), false when it waits for backing I/O (then the
 * bio's completion resumes `waiter`: the sim kworker, or a kworker thread's request).
 */
function loopHandleCmd(lo: LoopDevice, cmd: LoopCmd, task: Task, waiter: Kworker | LoopKthread): boolean {
  cmd.handled++;
  const write = cmd.op !== 'read';
  if (write && lo.flags & LO_FLAGS_READ_ONLY) {
    cmd.ret = -EIO;
    return true;
  }
  // copies first: the command may complete (and be reused) during the I/O ("loop: Fix use-after-free issues")
  const blkcg = cmd.blkcgCss;
  const memcg = cmd.memcgCss;
  if (blkcg !== null) kthreadAssociateBlkcg(task, blkcg);
  const old = memcg !== null ? setActiveMemcg(task, memcg) : null;
  const r = doReqFilebacked(lo, cmd, task, waiter);
  if (blkcg !== null) kthreadAssociateBlkcg(task, null);
  if (memcg !== null) setActiveMemcg(task, old);
  if (r === WAIT_IO) return false;
  cmd.ret = r === -EOPNOTSUPP ? r : r < 0 ? -EIO : 0;
  return true;
}

const WAIT_IO = 1;

/** do_req_filebacked: 0, -errno, or WAIT_IO when a bio to the backing device is in flight */
function doReqFilebacked(lo: LoopDevice, cmd: LoopCmd, task: Task, waiter: Kworker | LoopKthread): number {
  const k = lo.k;
  const file = lo.backingFile!;
  const pos = cmd.pos + lo.offset;
  switch (cmd.op) {
    case 'flush':
      return k.vfsFsync(file, task);
    case 'discard':
      return -EOPNOTSUPP; // no fallocate(PUNCH_HOLE) in the model's filesystems
    default: {
      const lower = isBlk(file.inode.mode) ? (file.inode.iPrivate as BlockDevice) : null;
      if (lower !== null && (cmd.useAio || file.flags & O_DIRECT)) {
        // direct I/O to the backing block device: a bio of the associated blkcg; the
        // worker waits for it (see the header: a divergence for use_aio)
        const bio = newBio(cmd.op, pos, cmd.len, blkcgOf(k, task), task);
        // the backing kiocb's ki_ioprio, which the block device's direct I/O copies into
        // bi_ioprio: since 1fdb8188c3d5 (6.15; 6.6.y and 6.14.y stable) lo_rw_aio sets
        // req_get_ioprio(rq), the original request's priority; before it,
        // IOPRIO_PRIO_VALUE(IOPRIO_CLASS_NONE, 0), which the backing queue's
        // bio_set_ioprio turns into the WORKER's priority. The kworker design models the
        // <= 5.13 driver, so it passes NONE; the per-cgroup design copies the request's
        // priority in releases with loop_aio_ioprio (release.ts), NONE before.
        // (Stored only when it differs from what bio_set_ioprio would give the worker:
        // the same result without a side-table write per bio.)
        if (lo.design === 'per-cgroup' && k.has('loop_aio_ioprio') && cmd.rq.ioprio !== getTaskIoprio(task)) bioSetIoprio(bio, cmd.rq.ioprio);
        bio.endIo = (kk, b) => {
          cmd.ret = b.status < 0 ? -EIO : 0;
          cmd.ioDone = true;
          if (waiter instanceof Kworker) workResume(waiter);
          else waiter.ioDone(cmd);
          void kk;
        };
        submitBio(k, lower, bio);
        if (cmd.ioDone) return cmd.ret; // completed synchronously
        return WAIT_IO;
      }
      if (cmd.op === 'write') {
        const r = k.vfsWrite(file, task, cmd.len, pos);
        return r < 0 ? r : r === cmd.len ? 0 : -EIO;
      }
      const r = k.vfsRead(file, task, cmd.len, pos);
      return r < 0 ? r : 0; // a short read is zero-filled (lo_read_simple)
    }
  }
}

/** The main-thread part of a kworker thread's commands (loop-kthreads.ts). */
const kthreadOps: KthreadOps = {
  handle: (lo, cmd, task, waiter) => loopHandleCmd(lo, cmd, task, waiter),
  complete: (lo, cmd) => loopCompleteCmd(lo, cmd),
  setTimer: (lo) => loopSetTimer(lo),
};

/** blk_mq_complete_request for a handled command */
function loopCompleteCmd(lo: LoopDevice, cmd: LoopCmd): void {
  const k = lo.k;
  // the kernel skips this css_put on the read-only -EIO path (section 6.5 as read);
  // the model always drops the reference (Divergence: no leak modelled)
  if (cmd.memcgCss !== null) cssPut(k, cmd.memcgCss);
  cmd.memcgCss = null;
  const bio = cmd.bio!;
  const ret = cmd.ret;
  lo.inflight--;
  lo.stats.completed++;
  blkMqRqDone(k, lo.q, cmd.rq);
  lo.pool.put(cmd);
  blkMqEndRequest(k, bio, ret);
  // blk_mq_free_request: the tag goes to the oldest submitter waiting for one
  blkMqPutTag(lo.tags);
  if (lo.clrPending && lo.inflight === 0) finishClrFd(lo);
}

// ---- configure / status / teardown ---------------------------------------------------

/** loop_validate_file + the checks before it; returns 0 or -errno (nothing changed) */
function capacityOf(file: File, offset: number, sizelimit: number): number {
  const size = isBlk(file.inode.mode) ? (file.inode.iPrivate as BlockDevice).sizeBytes : file.inode.size;
  let n = Math.max(0, size - offset);
  if (sizelimit > 0 && sizelimit < n) n = sizelimit;
  return Math.floor(n / 512) * 512;
}

/** loop_set_status_from_info's checks: 0 or -errno */
function checkInfo(info: KInfo64): number {
  if (info.lo_encrypt_key_size > LO_KEY_SIZE) return -EINVAL;
  if (info.lo_encrypt_type !== LO_CRYPT_NONE) return -EINVAL; // XOR / CRYPTOAPI were removed
  if (info.lo_offset > LLONG_MAX || info.lo_sizelimit > LLONG_MAX) return -EOVERFLOW;
  // kwq: offsets beyond 2^53 cannot be modelled (JS numbers)
  if (info.lo_offset > BigInt(Number.MAX_SAFE_INTEGER) || info.lo_sizelimit > BigInt(Number.MAX_SAFE_INTEGER)) return -EOVERFLOW;
  return 0;
}

/** is `file` this device, or a loop device stacked (through any chain) on it? */
function isLoopChainOf(file: File, lo: LoopDevice): number {
  let f: File | null = file;
  for (let depth = 0; f !== null && depth < 64; depth++) {
    if (!isBlk(f.inode.mode)) return 0;
    const bdev = f.inode.iPrivate as BlockDevice;
    const other = bdev.data instanceof LoopDevice ? bdev.data : null;
    if (other === null) return 0;
    if (other === lo) return -EBADF;
    if (other.state !== Lo_bound) return -EINVAL;
    f = other.backingFile;
  }
  return 0;
}

/**
 * loop_configure (LOOP_SET_FD and LOOP_CONFIGURE), in the kernel's order: bad fd
 * (-EBADF), backing file without read/write ops (-EINVAL), not Lo_unbound (-EBUSY),
 * loop_validate_file (-EBADF for a chain back to this device, -EINVAL for an unbound
 * chain or a file that is neither regular nor a block device), flags outside
 * LOOP_CONFIGURE_SETTABLE_FLAGS (-EINVAL), loop_set_status_from_info (-EINVAL,
 * -EOVERFLOW), block_size (-EINVAL), the workqueue (-ENOMEM). Nothing changes before
 * every check passed.
 */
export function loopConfigure(lo: LoopDevice, task: Task, file: File, config: KConfig): number {
  const k = lo.k;
  const backing = k.fileOf(task, config.fd);
  if (backing === null) return -EBADF;
  if (backing.fop.read === undefined || (backing.writable && backing.fop.write === undefined)) return -EINVAL;
  if (lo.state !== Lo_unbound) return -EBUSY;
  const chain = isLoopChainOf(backing, lo);
  if (chain < 0) return chain;
  if (!isReg(backing.inode.mode) && !isBlk(backing.inode.mode)) return -EINVAL;
  if ((config.info.lo_flags & ~LOOP_CONFIGURE_SETTABLE_FLAGS) !== 0) return -EINVAL;
  const ie = checkInfo(config.info);
  if (ie < 0) return ie;
  const bs = config.block_size;
  if (bs !== 0 && (bs < 512 || bs > 4096 || (bs & (bs - 1)) !== 0)) return -EINVAL; // blk_validate_block_size
  const q = loopPrepareQueue(lo);
  if (q < 0) return q;
  // ---- commit ----
  lo.backingFile = getFile(backing);
  lo.flags = config.info.lo_flags;
  if (!backing.writable || !file.writable || backing.fop.write === undefined) lo.flags |= LO_FLAGS_READ_ONLY;
  lo.offset = Number(config.info.lo_offset);
  lo.sizelimit = Number(config.info.lo_sizelimit);
  lo.fileName = config.info.lo_file_name;
  lo.blockSize = bs === 0 ? 512 : bs;
  lo.useDio = (lo.flags & LO_FLAGS_DIRECT_IO) !== 0;
  loopUpdateDio(lo, lo.useDio); // loop_update_dio: a backing file without direct I/O clears the flag
  lo.bdev.readOnly = (lo.flags & LO_FLAGS_READ_ONLY) !== 0;
  lo.bdev.sizeBytes = capacityOf(backing, lo.offset, lo.sizelimit);
  loopSysfsInit(lo);
  lo.state = Lo_bound;
  return 0;
}

/**
 * loop_sysfs_init: /sys/block/loopN/loop/ while bound (loop_attribute_group). Each file
 * is "%llu\n" or "1\n"/"0\n"; backing_file is file_path() of the backing file.
 */
function loopSysfsInit(lo: LoopDevice): void {
  const flag = (f: number) => (): string => ((lo.flags & f) !== 0 ? '1\n' : '0\n');
  blkSysfsGroup(lo.k, lo.name, 'loop', {
    backing_file: () => `${lo.backingFile?.path ?? ''}\n`,
    offset: () => `${lo.offset}\n`,
    sizelimit: () => `${lo.sizelimit}\n`,
    autoclear: flag(LO_FLAGS_AUTOCLEAR),
    partscan: flag(LO_FLAGS_PARTSCAN),
    dio: flag(LO_FLAGS_DIRECT_IO),
  });
}

/**
 * Can the backing file do direct I/O? (6.1 __loop_update_dio: the queue's logical block
 * size >= the backing sb's block size, lo_offset aligned to it, FMODE_CAN_ODIRECT (since
 * 5.19's "fs: add a FMODE_CAN_ODIRECT file flag"); 6.12 lo_can_use_dio: FMODE_CAN_ODIRECT
 * and the same alignment against the backing bdev.) A block device can; a regular file
 * can if it has FMODE_CAN_ODIRECT: the model's regular files with data are tmpfs's, which
 * have it from 6.6 (tmpfs_direct_io, "tmpfs: trivial support for direct IO"); sysfs-like
 * files never. Measured: LOOP_SET_DIRECT_IO 1 on a /tmp file is EINVAL on 6.1.192, 0 on
 * 6.12.118 (oracle/scripts/loop-state.json).
 */
function backingCanDio(lo: LoopDevice): boolean {
  const f = lo.backingFile;
  if (f === null) return false;
  if (isBlk(f.inode.mode)) {
    const lower = f.inode.iPrivate as BlockDevice;
    const lbs = lower.data instanceof LoopDevice ? lower.data.blockSize : 512;
    return lo.blockSize >= lbs && lo.offset % lbs === 0;
  }
  return isReg(f.inode.mode) && shmemCanDirectIo(lo.k, f);
}

/** __loop_update_dio(lo, dio): use_dio and LO_FLAGS_DIRECT_IO follow what the backing file allows */
function loopUpdateDio(lo: LoopDevice, dio: boolean): void {
  const use = dio && backingCanDio(lo);
  lo.useDio = use;
  if (use) lo.flags |= LO_FLAGS_DIRECT_IO;
  else lo.flags &= ~LO_FLAGS_DIRECT_IO;
}

/** LOOP_SET_CAPACITY (loop_set_capacity): the size again from the backing file. */
export function loopSetCapacity(lo: LoopDevice): number {
  if (lo.state !== Lo_bound) return -ENXIO;
  lo.bdev.sizeBytes = capacityOf(lo.backingFile!, lo.offset, lo.sizelimit);
  return 0;
}

/** LOOP_SET_DIRECT_IO (loop_set_dio): 0, -ENXIO unbound, -EINVAL when direct I/O was asked for and cannot be had. */
export function loopSetDio(lo: LoopDevice, arg: number): number {
  if (lo.state !== Lo_bound) return -ENXIO;
  const want = arg !== 0;
  loopUpdateDio(lo, want);
  return lo.useDio === want ? 0 : -EINVAL;
}

/**
 * LOOP_SET_BLOCK_SIZE (loop_set_block_size): -ENXIO unbound; blk_validate_block_size
 * (a power of two in 512..PAGE_SIZE) -EINVAL; the same size: 0; else sync and drop the
 * device's page cache, set the logical/physical block size and io_min, update dio.
 */
export function loopSetBlockSize(lo: LoopDevice, task: Task, arg: number): number {
  if (lo.state !== Lo_bound) return -ENXIO;
  if (arg < 512 || arg > 4096 || (arg & (arg - 1)) !== 0) return -EINVAL;
  if (lo.blockSize === arg) return 0;
  const k = lo.k;
  blkdevFsync(k, lo.bdev, task);
  evictClean(k, lo.bdev.mapping, () => true, Infinity);
  lo.blockSize = arg;
  loopUpdateDio(lo, lo.useDio);
  return 0;
}

/**
 * LOOP_CHANGE_FD (loop_change_fd): swap the backing file of a read-only device for
 * another of the same size. -EBADF bad fd; -ENXIO unbound; -EINVAL not read-only,
 * loop_validate_file's refusals, or another size.
 */
export function loopChangeFd(lo: LoopDevice, task: Task, fd: number): number {
  const k = lo.k;
  const file = k.fileOf(task, fd);
  if (file === null) return -EBADF;
  if (lo.state !== Lo_bound) return -ENXIO;
  if ((lo.flags & LO_FLAGS_READ_ONLY) === 0) return -EINVAL;
  const chain = isLoopChainOf(file, lo);
  if (chain < 0) return chain;
  if (!isReg(file.inode.mode) && !isBlk(file.inode.mode)) return -EINVAL;
  const old = lo.backingFile!;
  if (capacityOf(file, lo.offset, lo.sizelimit) !== capacityOf(old, lo.offset, lo.sizelimit)) return -EINVAL;
  lo.backingFile = getFile(file);
  loopUpdateDio(lo, lo.useDio);
  fput(k, old);
  return 0;
}

/**
 * LOOP_CLR_FD. With loop_clr_fd_autoclear (the merged 6.11 form, notes Q6): mark for
 * teardown at the last close. Before it (section 6.7, up to 6.10): with more than one
 * opener set LO_FLAGS_AUTOCLEAR and return 0; the sole opener gets Lo_rundown and
 * __loop_clr_fd at once.
 */
export function loopClrFd(lo: LoopDevice): number {
  if (lo.state !== Lo_bound) return -ENXIO;
  if (!lo.k.has('loop_clr_fd_autoclear')) {
    if (lo.openers > 1) {
      lo.flags |= LO_FLAGS_AUTOCLEAR;
      return 0;
    }
    lo.state = Lo_rundown;
    loopClrFdNow(lo);
    return 0;
  }
  lo.flags |= LO_FLAGS_AUTOCLEAR;
  if (lo.openers === 1) lo.state = Lo_rundown;
  return 0;
}

/**
 * __loop_clr_fd: freeze the queue (wait for in-flight commands), drop the backing
 * file, back to Lo_unbound. With loop_wq_outlives_clr_fd (5.19+) the per-cgroup
 * workqueue and its workers stay (lo_free_disk frees them); before it (5.14-5.18)
 * they go here, as lo_free_disk does it. The <= 5.13 kthread is stopped here
 * (loop_unprepare_queue).
 */
function loopClrFdNow(lo: LoopDevice): void {
  const k = lo.k;
  // blk_mq_freeze_queue: wait for in-flight requests (only possible from top-level code in sim)
  if (lo.inflight > 0 && !k.waitFor(() => lo.inflight === 0)) {
    lo.clrPending = true;
    return;
  }
  finishClrFd(lo);
}

function finishClrFd(lo: LoopDevice): void {
  const k = lo.k;
  lo.clrPending = false;
  const f = lo.backingFile;
  lo.backingFile = null;
  lo.offset = 0;
  lo.sizelimit = 0;
  lo.fileName = '';
  lo.flags = 0;
  lo.useDio = false;
  lo.bdev.sizeBytes = 0;
  lo.bdev.readOnly = false;
  lo.blockSize = 512; // __loop_clr_fd: logical/physical block size and io_min back to 512
  blkSysfsGroup(k, lo.name, 'loop', null); // loop_sysfs_exit
  lo.state = Lo_unbound;
  if (lo.design === 'kworker' && lo.workqueue !== null) {
    destroyWorkqueue(lo.workqueue);
    lo.workqueue = null;
  }
  if (lo.design === 'kworker' && lo.kthreads !== null) {
    // loop_unprepare_queue: the "loopN" thread drains (nothing is in flight) and exits;
    // the dispatch block goes with it (a new LOOP_CONFIGURE makes another, so that the
    // exiting thread never shares a FIFO with the next one)
    loopRetireKthreads(lo);
  }
  if (lo.design === 'per-cgroup' && !k.has('loop_wq_outlives_clr_fd')) {
    // 5.14-5.18: destroy_workqueue, free every idle worker, del_timer_sync; the next
    // loop_configure makes a new workqueue
    loopFreeDisk(lo);
  }
  if (f !== null) fput(k, f);
}

/** lo_open */
export function loopOpen(lo: LoopDevice): number {
  if (lo.state === Lo_deleting || lo.state === Lo_rundown) return -ENXIO;
  lo.openers++;
  return 0;
}

/**
 * lo_release, after the block layer's last-close flush (blkdev_put ->
 * sync_blockdev + kill_bdev: write back the page cache, drop the clean pages).
 */
export function loopRelease(lo: LoopDevice): void {
  const k = lo.k;
  lo.openers--;
  if (lo.openers > 0) return;
  if (lo.bdev.mapping.nrDirty > 0 || lo.bdev.mapping.nrWriteback > 0) blkdevFsync(k, lo.bdev, null);
  evictClean(k, lo.bdev.mapping, () => true, Infinity);
  if (lo.state === Lo_bound && lo.flags & LO_FLAGS_AUTOCLEAR) lo.state = Lo_rundown;
  if (lo.state === Lo_rundown) loopClrFdNow(lo);
}

/** LOOP_SET_STATUS64 (loop_set_status): AUTOCLEAR follows info, PARTSCAN can only be set; the rest ignored. */
export function loopSetStatus(lo: LoopDevice, task: Task, file: File, arg: unknown): number {
  if (!file.writable && !task.cred.capable(CAP_SYS_ADMIN)) return -EPERM;
  const info = readInfo64(arg);
  if (info === null) return -EFAULT;
  if (lo.state !== Lo_bound) return -ENXIO;
  const ie = checkInfo(info);
  if (ie < 0) return ie;
  const k = lo.k;
  const off = Number(info.lo_offset);
  const lim = Number(info.lo_sizelimit);
  if (off !== lo.offset || lim !== lo.sizelimit) {
    // sync_blockdev + invalidate_bdev: the cached pages described the old mapping
    blkdevFsync(k, lo.bdev, task);
    evictClean(k, lo.bdev.mapping, () => true, Infinity);
    lo.offset = off;
    lo.sizelimit = lim;
    lo.bdev.sizeBytes = capacityOf(lo.backingFile!, off, lim);
  }
  lo.fileName = info.lo_file_name;
  lo.flags &= ~LOOP_SET_STATUS_CLEARABLE_FLAGS;
  lo.flags |= info.lo_flags & LOOP_SET_STATUS_SETTABLE_FLAGS;
  return 0;
}

/** LOOP_GET_STATUS64 (loop_get_status) */
export function loopGetStatus(lo: LoopDevice, arg: unknown): number {
  if (arg === undefined || arg === null) return -EINVAL;
  if (lo.state !== Lo_bound) return -ENXIO;
  const f = lo.backingFile!;
  const ok = writeInfo64(arg, {
    lo_device: encodeDev(`0:${f.inode.sb.id}`),
    lo_inode: f.inode.ino,
    lo_rdevice: encodeDev(f.inode.rdev),
    lo_offset: lo.offset,
    lo_sizelimit: lo.sizelimit,
    lo_number: lo.number,
    lo_flags: lo.flags,
    lo_file_name: lo.fileName,
  });
  return ok ? 0 : -EFAULT;
}

/**
 * lo_free_disk (5.19+), after LOOP_CTL_REMOVE: destroy the workqueue (drains it), free
 * every idle worker (delete_all), shut the timer down, give the tree back.
 */
export function loopFreeDisk(lo: LoopDevice): void {
  const k = lo.k;
  if (lo.kthreads !== null) {
    k.rt.delTimer(lo.timer); // timer_shutdown_sync
    loopRetireKthreads(lo);
    return;
  }
  if (lo.workqueue !== null) {
    destroyWorkqueue(lo.workqueue);
    lo.workqueue = null;
  }
  if (lo.tree !== null) {
    loopFreeIdleWorkers(lo, true);
    k.rt.delTimer(lo.timer); // timer_shutdown_sync
    if (!lo.tree.empty) throw new KwqError('lo_free_disk', `${lo.name}: ${lo.nrWorkers} worker(s) still busy after the workqueue was drained`);
    lo.tree.release();
    lo.tree = null;
    lo.rootQueue.workOff = 0;
  } else {
    k.rt.delTimer(lo.timer);
  }
}

/**
 * Threads runtime: destroy_workqueue cannot block the main thread. The device lets go
 * of its kworker threads and its dispatch block now (a new LOOP_CONFIGURE makes new
 * ones); the threads drain what is queued and exit, then the rest of lo_free_disk runs
 * on the old block: every idle worker freed (css_put), the block given back.
 * loopThreadsIdle(k) waits for it; a failure is recorded in the registry's errors.
 */
function loopRetireKthreads(lo: LoopDevice): void {
  const kt = lo.kthreads!;
  const tree = lo.tree;
  lo.kthreads = null;
  lo.tree = null;
  lo.rootQueue.workOff = 0;
  kt.reg.track(kt.stop(false).then(() => {
    if (tree === null || kt.reg.down) return;
    freeIdleWorkersOf(lo, tree, true);
    if (!tree.empty) throw new KwqError('lo_free_disk', `${lo.name}: ${tree.d.nrWorkers} worker(s) still busy after the kworker threads exited`);
    tree.release();
  }));
}

/**
 * Choose the design of one device (a model-only control; `kwq.loop_workers` sets the
 * default at boot). Only while unbound: -EBUSY otherwise. A per-cgroup workqueue left
 * from an earlier binding is torn down first, as lo_free_disk would.
 */
export function loopSetDesign(lo: LoopDevice, design: LoopDesign): number {
  if (!LOOP_DESIGNS.includes(design)) throw new KwqError('loopSetDesign', `bad design ${JSON.stringify(design)}; allowed: ${LOOP_DESIGNS.join(', ')}`);
  if (lo.state !== Lo_unbound) return -EBUSY;
  if (design === lo.design) return 0;
  loopFreeDisk(lo);
  lo.design = design;
  return 0;
}


/**
 * io_uring_setup / io_uring_enter / io_uring_register (io_uring/io_uring.c,
 * io_uring/register.c, io_uring/tctx.c of 6.1 and 6.12), the part kwq models:
 *
 *   setup     entries: 0 or > IORING_MAX_ENTRIES (32768) -EINVAL unless IORING_SETUP_CLAMP;
 *             rounded up to a power of 2; cq_entries = 2 * sq_entries (IORING_SETUP_CQSIZE:
 *             params.cq_entries, >= sq_entries); the rings live in the io_uring engine's
 *             shared memory (one ring object per instance: kwq.io_uring_entries is the
 *             most sq_entries one holds; more -ENOMEM, a DIVERGENCE: the kernel's limit
 *             is 32768); the fd is installed (io_uring_install_fd), which creates the
 *             caller's io_uring_task and its io_wq (io_uring_alloc_task_context ->
 *             io_init_wq_offload: bounded max_workers = min(sq_entries, 4 * ncpus),
 *             unbounded = task_rlimit(current, RLIMIT_NPROC)). SQPOLL: -EINVAL here
 *             (not modelled: DIVERGENCE, docs/divergences.md).
 *   enter     submit up to to_submit SQEs from the SQ ring (io_submit_sqes), then with
 *             IORING_ENTER_GETEVENTS wait for min_complete CQEs. Returns the number
 *             submitted (or the first SQE's error if none was).
 *   register  IORING_REGISTER_IOWQ_MAX_WORKERS (19): arg u32[2] {bounded, unbounded},
 *             nr_args 2 (else -EINVAL); a value > INT_MAX -EINVAL; 0 keeps the value;
 *             the new values are clamped to RLIMIT_NPROC (io_wq_max_workers); the
 *             previous values are written back (0, 0 when the caller has no io_wq).
 *
 * A request (io_kiocb) is issued inline (issue_flags NONBLOCK) unless IOSQE_ASYNC is set
 * or it would block: then io_queue_iowq -> io_prep_async_work -> io_wq_enqueue. In
 * io_prep_async_work, a write (WRITE, WRITEV: hash_reg_file) to a regular file is hashed
 * by its inode (io_wq_hash_work), a request on a file that is neither regular nor a
 * block device is IO_WQ_WORK_UNBOUND (unbound_nonreg_file); everything else is bound.
 * FSYNC always goes to io-wq (io_fsync returns -EAGAIN under IO_URING_F_NONBLOCK).
 * DIVERGENCE (punt): the kernel punts a read/write when the file system returns -EAGAIN
 * under IOCB_NOWAIT (FMODE_NOWAIT, FMODE_BUF_WASYNC differ by release and fs); the model
 * punts the ones with a blocking part in its cost model (IoUringCosts).
 */
import { copyToUser, FAULT, getUser, isUserStruct, userArray } from '../../kernel/uaccess.js';
import { EBADF, EFAULT, EINVAL, EINTR, ENOMEM, EOPNOTSUPP } from '../../kernel/errno.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Feature } from '../../kernel/release.js';
import { RLIMIT_NOFILE, RLIMIT_NPROC } from '../../kernel/rlimit.js';
import type { Task } from '../../kernel/task.js';
import { File, fput, type FileOperations } from '../../kernel/vfs/file.js';
import { Inode, isBlk, isReg, S_IFREG } from '../../kernel/vfs/inode.js';
import type { SimThread } from '../../runtime/sim-thread.js';
import {
  IoWqEngine, IO_WQ_ACCT_BOUND, IO_WQ_ACCT_UNBOUND, IO_WQ_FN_HOST, IO_WQ_WORK_CONCURRENT, IO_WQ_WORK_HASHED, IO_WQ_WORK_UNBOUND,
  RING, SQE, CQE,
} from '../../wasm/io-wq.js';
import { IoWq, type IoWorker, type IoWqWorkFn } from './io-wq.js';
import { IoWqThreads, type IoWorkerThread, type IoWqThreadOps } from './io-wq-threads.js';
import {
  ECANCELED, IORING_ENTER_GETEVENTS, IORING_FEAT_CQE_SKIP, IORING_FEAT_CUR_PERSONALITY, IORING_FEAT_EXT_ARG,
  IORING_FEAT_FAST_POLL, IORING_FEAT_LINKED_FILE, IORING_FEAT_MIN_TIMEOUT, IORING_FEAT_NATIVE_WORKERS, IORING_FEAT_NODROP,
  IORING_FEAT_NO_IOWAIT, IORING_FEAT_POLL_32BITS, IORING_FEAT_RECVSEND_BUNDLE, IORING_FEAT_REG_REG_RING, IORING_FEAT_RSRC_TAGS,
  IORING_FEAT_RW_ATTR, IORING_FEAT_RW_CUR_POS, IORING_FEAT_SINGLE_MMAP, IORING_FEAT_SQPOLL_NONFIXED,
  IORING_FEAT_SUBMIT_STABLE, IORING_MAX_CQ_ENTRIES, IORING_MAX_ENTRIES, IORING_OP_FSYNC,
  IORING_OP_NOP, IORING_OP_READ, IORING_OP_READV, IORING_OP_WRITE, IORING_OP_WRITEV, IORING_REGISTER_IOWQ_MAX_WORKERS,
  IORING_SETUP_CLAMP, IORING_SETUP_CQSIZE, IORING_SETUP_SQPOLL, IOSQE_ASYNC, IOSQE_FIXED_FILE, IOSQE_IO_DRAIN,
  IOSQE_IO_HARDLINK, IOSQE_IO_LINK, type IoUringParams,
} from './uapi.js';

/** The model's costs of io_uring work (virtual ns; model knobs, not kernel fields). */
export interface IoUringCosts {
  /** io_submit_sqe: one SQE read and prepared by the submitter (system time), ns */
  sqeNs: number;
  /** a sleeping io-wq worker woken, ns */
  wakeNs: number;
  /** io_worker_handle_work + io_wq_submit_work for one work, ns */
  workNs: number;
  /** one 4 KiB page copied by a read or write, ns */
  pageNs: number;
  /** the blocking part of a buffered write (balance_dirty_pages, i_rwsem, journal), ns; 0: none */
  writeBlockNs: number;
  /** the blocking part of a read from a block device (the device's latency), ns */
  bdevReadBlockNs: number;
  /** the blocking part of an fsync, ns */
  fsyncBlockNs: number;
}

export const DEFAULT_IO_URING_COSTS: Readonly<IoUringCosts> = Object.freeze({
  sqeNs: 300, wakeNs: 2500, workNs: 1500, pageNs: 600, writeBlockNs: 0, bdevReadBlockNs: 100_000, fsyncBlockNs: 200_000,
});

const OPS = new Set([IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_READ, IORING_OP_WRITE]);
const PAGE = 4096;

/** struct io_kiocb, the fields the model uses */
interface IoKiocb {
  ctx: IoRingCtx;
  opcode: number;
  flags: number;
  file: File | null;
  off: number;
  len: number;
  udLo: number;
  udHi: number;
  /** the io_wq_work, or 0 when issued inline */
  work: number;
  res: number;
  submitter: Task;
}

/** The io_uring engine of a kernel: the io_wq / work / ring arenas (kwq.io_uring_* switches). */
const engines = new WeakMap<Kernel, IoUringState>();

/** Per-kernel io_uring state. */
export class IoUringState implements IoWqWorkFn, IoWqThreadOps {
  readonly ie: IoWqEngine;
  readonly tctx = new Map<Task, IoWq>();
  readonly reqs = new Map<number, IoKiocb>();
  costs: IoUringCosts = { ...DEFAULT_IO_URING_COSTS };
  /** WORKER_IDLE_TIMEOUT in ms (kwq.io_wq_idle_ms) */
  readonly idleMs: number;
  /** threads runtime: the io-wq worker threads (null in sim) */
  readonly threads: IoWqThreads | null;
  /** every io_wq made since boot (k.shutdown() tells each to exit) */
  private readonly allWqs = new Set<IoWq>();

  constructor(readonly k: Kernel) {
    const onThreads = k.rt.kind === 'threads';
    this.ie = new IoWqEngine({
      wqs: k.kwqSwitch('io_uring_tasks') as number,
      works: k.kwqSwitch('io_wq_works') as number,
      rings: k.kwqSwitch('io_uring_rings') as number,
      ringEntries: k.kwqSwitch('io_uring_entries') as number,
      // threads: one scratch slot per worker thread (slot 0 is the main thread's)
      ...(onThreads ? { threadSlots: 1 + (k.kwqSwitch('io_wq_threads') as number) } : {}),
    });
    this.idleMs = k.kwqSwitch('io_wq_idle_ms') as number;
    this.threads = onThreads ? new IoWqThreads(k, this.ie, this, Math.min(this.idleMs * 1000, 0x7fff_ffff)) : null;
    if (this.threads !== null) {
      // k.shutdown() stops the threads (io_uring is no module: nothing under /sys/module)
      const threads = this.threads;
      k.onShutdown(() => threads.shutdown(this.allWqs));
    }
  }

  static of(k: Kernel): IoUringState {
    let s = engines.get(k);
    if (s === undefined) {
      s = new IoUringState(k);
      engines.set(k, s);
    }
    return s;
  }

  static peek(k: Kernel): IoUringState | undefined {
    return engines.get(k);
  }

  /**
   * __io_uring_add_tctx_node(ctx) by `task`: the task's io_uring_task and io_wq, created once
   * (io_uring_alloc_task_context + io_init_wq_offload) with the ring's registered limits
   * (ctx->iowq_limits, when set: io_wq_max_workers by the new task); the task joins the
   * ring's tctx_list, which a later IORING_REGISTER_IOWQ_MAX_WORKERS walks.
   */
  addTctxNode(task: Task, ctx: IoRingCtx): IoWq | number {
    const had = this.tctx.get(task);
    const wq = this.tctxOf(task, ctx.sqEntries);
    if (typeof wq === 'number') return wq;
    if (had === undefined && ctx.iowqLimitsSet) ioWqMaxWorkers(task, wq, [...ctx.iowqLimits]);
    ctx.tctxList.add(task);
    return wq;
  }

  /** io_uring_alloc_task_context + io_init_wq_offload: the task's io_wq, created once. */
  tctxOf(task: Task, sqEntries: number): IoWq | number {
    let wq = this.tctx.get(task);
    if (wq !== undefined) return wq;
    const off = this.ie.wqAlloc();
    if (off < 0) return -ENOMEM;
    const k = this.k;
    const bounded = Math.min(sqEntries, 4 * k.rt.ncpus);
    const nproc = task.signal.rlimits[RLIMIT_NPROC]![0];
    this.ie.wq(off).init(bounded, Math.min(nproc, 0xffff_ffff));
    wq = new IoWq(k, this.ie, off, task, this, { wakeNs: this.costs.wakeNs, workNs: this.costs.workNs }, ioWqInitLimit(k), this.idleMs, this.threads);
    this.tctx.set(task, wq);
    this.allWqs.add(wq);
    return wq;
  }

  // ---- IoWqThreadOps: the main thread's part of a work run by a worker thread ----

  runWork(wq: IoWq, w: number, t: IoWorkerThread): number {
    const req = this.reqs.get(this.ie.workArg(w))!;
    if (wq.exiting || !t.task.alive) {
      // io_wq_exit_start's cancellation reached a work a worker had taken already
      req.res = -ECANCELED;
      return 0;
    }
    const [res, , block] = this.issue(req, t.task);
    req.res = res;
    // do_work sleeps: io_wq_worker_sleeping -> io_wq_dec_running, maybe create_worker_cb
    if (block > 0 && wq.h.decRunning(t.acct)) wq.createViaTaskWork(t.acct);
    return block;
  }

  completeWork(wq: IoWq, w: number): void {
    // io_wq_work_done reads the chain's next and releases the hash (a FREE worker is
    // claimed and notified in Wasm); then the CQE, and the work is freed
    wq.h.workDone(w);
    this.complete(w, null);
  }

  workHash(w: number): number {
    return (this.ie.workFlags(w) & IO_WQ_WORK_HASHED) !== 0 ? this.ie.workHash(w) : -1;
  }

  workId(w: number): number {
    return this.ie.workArg(w);
  }

  // ---- IoWqWorkFn: io_wq_submit_work ----

  run(w: number, worker: IoWorker, th: SimThread): number {
    const req = this.reqs.get(this.ie.workArg(w))!;
    const [res, cpu, block] = this.issue(req, worker.task!);
    req.res = res;
    th.costNs += cpu;
    return block;
  }

  complete(w: number, _worker: IoWorker | null): void {
    const id = this.ie.workArg(w);
    const req = this.reqs.get(id)!;
    this.reqs.delete(id);
    req.ctx.postCqe(req.udLo, req.udHi, req.res);
    this.ie.workFree(w);
    if (req.file !== null) fput(this.k, req.file);
  }

  cancel(w: number): void {
    const id = this.ie.workArg(w);
    const req = this.reqs.get(id);
    if (req === undefined) return;
    req.res = -ECANCELED;
    this.complete(w, null);
  }

  /** The op itself, by `task` (the submitter inline, a worker in io-wq): [res, cpu ns, blocking ns]. */
  issue(req: IoKiocb, task: Task): [number, number, number] {
    const k = this.k;
    const c = this.costs;
    const f = req.file;
    switch (req.opcode) {
      case IORING_OP_NOP:
        return [0, 0, 0];
      case IORING_OP_READ:
      case IORING_OP_READV: {
        if (f === null) return [-EBADF, 0, 0];
        if (!f.readable) return [-EBADF, 0, 0];
        const pos = req.off < 0 ? f.pos : req.off;
        const r = k.vfsRead(f, task, req.len, pos);
        if (req.off < 0 && r > 0) f.pos += r;
        const pages = Math.ceil(Math.max(r, 0) / PAGE);
        return [r, pages * c.pageNs, isBlk(f.inode.mode) ? c.bdevReadBlockNs : 0];
      }
      case IORING_OP_WRITE:
      case IORING_OP_WRITEV: {
        if (f === null) return [-EBADF, 0, 0];
        if (!f.writable) return [-EBADF, 0, 0];
        const pos = req.off < 0 ? f.pos : req.off;
        const r = k.vfsWrite(f, task, req.len, pos);
        if (req.off < 0 && r > 0) f.pos += r;
        const pages = Math.ceil(Math.max(r, 0) / PAGE);
        return [r, pages * c.pageNs, c.writeBlockNs];
      }
      case IORING_OP_FSYNC:
        if (f === null) return [-EBADF, 0, 0];
        return [k.vfsFsync(f, task), 0, c.fsyncBlockNs];
      default:
        return [-EINVAL, 0, 0];
    }
  }

  /** would this request block (the model's -EAGAIN under IOCB_NOWAIT)? */
  wouldBlock(req: IoKiocb): boolean {
    const c = this.costs;
    const f = req.file;
    switch (req.opcode) {
      case IORING_OP_FSYNC:
        return true;
      case IORING_OP_READ:
      case IORING_OP_READV:
        return f !== null && isBlk(f.inode.mode) && c.bdevReadBlockNs > 0;
      case IORING_OP_WRITE:
      case IORING_OP_WRITEV:
        return c.writeBlockNs > 0;
      default:
        return false;
    }
  }
}

/** 0453aad676ff "io_uring/io-wq: limit retrying worker initialisation" (v6.11; in 6.1.y: the oracle, 6.1.192): in 6.1, 6.12 and 6.17. */
export function ioWqInitLimit(k: Kernel): boolean {
  return k.has('io_wq_worker_init_limit');
}

/** IORING_FEAT_SINGLE_MMAP .. NATIVE_WORKERS (5.4 .. 5.12): every modelled release reports them */
const IORING_FEAT_BASE = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_RW_CUR_POS |
  IORING_FEAT_CUR_PERSONALITY | IORING_FEAT_FAST_POLL | IORING_FEAT_POLL_32BITS | IORING_FEAT_SQPOLL_NONFIXED |
  IORING_FEAT_EXT_ARG | IORING_FEAT_NATIVE_WORKERS;

/** each later IORING_FEAT_* bit and the release-table row of the commit that added it to io_uring_create */
const IORING_FEAT_ROWS = [
  [IORING_FEAT_RSRC_TAGS, 'io_uring_feat_rsrc_tags'],
  [IORING_FEAT_CQE_SKIP, 'io_uring_feat_cqe_skip'],
  [IORING_FEAT_LINKED_FILE, 'io_uring_feat_linked_file'],
  [IORING_FEAT_REG_REG_RING, 'io_uring_feat_reg_reg_ring'],
  [IORING_FEAT_RECVSEND_BUNDLE, 'io_uring_feat_recvsend_bundle'],
  [IORING_FEAT_MIN_TIMEOUT, 'io_uring_feat_min_timeout'],
  [IORING_FEAT_RW_ATTR, 'io_uring_feat_rw_attr'],
  [IORING_FEAT_NO_IOWAIT, 'io_uring_feat_no_iowait'],
] as const satisfies readonly (readonly [number, Feature])[];

/**
 * io_uring_create's p->features for `k`'s release: the flag word the kernel reports,
 * whatever of it the model implements (kwq has no registered buffers, bundles or
 * min-wait: the bits say what the release's kernel answers). Debian 6.1.192: 0x1fff,
 * 6.12.118: 0xffff (the oracle's uring_setup steps).
 */
export function ioUringFeatures(k: Kernel): number {
  let f = IORING_FEAT_BASE;
  for (const [bit, feature] of IORING_FEAT_ROWS) if (k.has(feature)) f |= bit;
  return f >>> 0;
}

let nextReqId = 1;

/** struct io_ring_ctx, the fields the model uses. */
export class IoRingCtx {
  /** CQEs that did not fit (IORING_FEAT_NODROP keeps them: the overflow list) */
  private readonly overflow: number[] = [];
  /** requests submitted, completed (statistics) */
  submitted = 0;
  completed = 0;
  inline = 0;
  punted = 0;
  dead = false;
  /** ctx->iowq_limits / iowq_limits_set: what IORING_REGISTER_IOWQ_MAX_WORKERS asked (0: not asked) */
  readonly iowqLimits: [number, number] = [0, 0];
  iowqLimitsSet = false;
  /** ctx->tctx_list: the tasks that use this ring (its creator, every task that submitted) */
  readonly tctxList = new Set<Task>();
  /** run after every CQE posted or kept (IoUring.waitCqes in the threads runtime) */
  readonly cqWaiters = new Set<() => void>();

  constructor(
    readonly s: IoUringState,
    readonly ring: number,
    readonly sqEntries: number,
    readonly cqEntries: number,
    readonly flags: number,
    /** the task that created it (ctx->submitter_task is the 6.x SINGLE_ISSUER owner) */
    readonly creator: Task,
  ) {}

  private get u32(): Uint32Array {
    return this.s.ie.u32;
  }

  /** io_cqring_events: CQEs ready for the application */
  cqReady(): number {
    const u = this.u32;
    const r = this.ring;
    return (Atomics.load(u, (r + RING.CQ_TAIL) >> 2) - Atomics.load(u, (r + RING.CQ_HEAD) >> 2)) >>> 0;
  }

  /** io_fill_cqe / io_cqring_event_overflow */
  postCqe(udLo: number, udHi: number, res: number): void {
    this.completed++;
    if (this.dead) return;
    const u = this.u32;
    const r = this.ring;
    const tail = Atomics.load(u, (r + RING.CQ_TAIL) >> 2);
    const head = Atomics.load(u, (r + RING.CQ_HEAD) >> 2);
    if (((tail - head) >>> 0) >= this.cqEntries) {
      this.overflow.push(udLo, udHi, res);
      Atomics.add(u, (r + RING.CQ_OVERFLOW) >> 2, 1);
      if (this.cqWaiters.size > 0) for (const f of [...this.cqWaiters]) f();
      return;
    }
    const c = this.s.ie.cqe(r, tail & (this.cqEntries - 1));
    u[(c + CQE.USER_DATA) >> 2] = udLo;
    u[(c + CQE.USER_DATA + 4) >> 2] = udHi;
    this.s.ie.i32[(c + CQE.RES) >> 2] = res;
    u[(c + CQE.FLAGS) >> 2] = 0;
    Atomics.store(u, (r + RING.CQ_TAIL) >> 2, (tail + 1) >>> 0); // publishes the CQE (smp_store_release)
    if (this.cqWaiters.size > 0) for (const f of [...this.cqWaiters]) f();
  }

  /** __io_cqring_overflow_flush: move kept CQEs in as space allows */
  flushOverflow(): void {
    while (this.overflow.length > 0) {
      const u = this.u32;
      const r = this.ring;
      const tail = Atomics.load(u, (r + RING.CQ_TAIL) >> 2);
      if (((tail - Atomics.load(u, (r + RING.CQ_HEAD) >> 2)) >>> 0) >= this.cqEntries) return;
      const [lo, hi, res] = this.overflow.splice(0, 3) as [number, number, number];
      this.completed--; // postCqe counts it again
      this.postCqe(lo, hi, res);
    }
  }

  /** io_submit_sqe for the SQE at `sqe`, by `task`: 0, or -errno (the SQE's own error goes to its CQE). */
  submitSqe(task: Task, sqe: number): number {
    const s = this.s;
    const k = s.k;
    const u8 = new Uint8Array(s.ie.u32.buffer, sqe, SQE.SIZE);
    const u = s.ie.u32;
    const opcode = u8[SQE.OPCODE]!;
    const flags = u8[SQE.FLAGS]!;
    const fd = s.ie.i32[(sqe + SQE.FD) >> 2]!;
    const offLo = u[(sqe + SQE.OFF) >> 2]!;
    const offHi = u[(sqe + SQE.OFF + 4) >> 2]!;
    const off = offHi === 0xffff_ffff && offLo === 0xffff_ffff ? -1 : offHi * 2 ** 32 + offLo;
    const len = u[(sqe + SQE.LEN) >> 2]!;
    const udLo = u[(sqe + SQE.USER_DATA) >> 2]!;
    const udHi = u[(sqe + SQE.USER_DATA + 4) >> 2]!;
    k.chargeCpu(task, s.costs.sqeNs, false);
    this.submitted++;
    const req: IoKiocb = { ctx: this, opcode, flags, file: null, off, len, udLo, udHi, work: 0, res: 0, submitter: task };
    // io_init_req
    if (!OPS.has(opcode)) return this.failReq(req, -EINVAL);
    if (flags & (IOSQE_FIXED_FILE | IOSQE_IO_DRAIN | IOSQE_IO_LINK | IOSQE_IO_HARDLINK)) return this.failReq(req, -EOPNOTSUPP);
    if (opcode !== IORING_OP_NOP) {
      const f = k.fileOf(task, fd);
      if (f === null) return this.failReq(req, -EBADF);
      f.fCount++; // io_file_get_normal: fget
      req.file = f;
    }
    if (!(flags & IOSQE_ASYNC) && !s.wouldBlock(req)) {
      // inline: issue_flags IO_URING_F_NONBLOCK, completed in the submitter's context
      this.inline++;
      const [res, cpu] = s.issue(req, task);
      k.chargeCpu(task, cpu, false);
      req.res = res;
      this.postCqe(udLo, udHi, res);
      if (req.file !== null) fput(k, req.file);
      return 0;
    }
    // io_queue_iowq: the submitting task's io_wq (tctx), created at io_uring_install_fd or
    // by io_uring_enter's io_uring_add_tctx_node
    const wq = s.addTctxNode(task, this);
    if (typeof wq === 'number') return this.failReq(req, wq);
    const w = s.ie.workTryAlloc();
    if (w < 0) return this.failReq(req, -ENOMEM);
    const id = nextReqId++ >>> 0;
    s.ie.workInit(w, IO_WQ_FN_HOST, id, 0);
    req.work = w;
    s.reqs.set(id, req);
    // io_prep_async_work: IOSQE_ASYNC (REQ_F_FORCE_ASYNC) work is IO_WQ_WORK_CONCURRENT, so
    // io_wq_enqueue makes a worker for it whenever none is free, even with one running
    if (flags & IOSQE_ASYNC) s.ie.workSetFlags(w, IO_WQ_WORK_CONCURRENT);
    const f = req.file;
    if (f !== null && isReg(f.inode.mode)) {
      if (opcode === IORING_OP_WRITE || opcode === IORING_OP_WRITEV) s.ie.hashWork(w, f.inode.ino);
    } else if (f !== null && !isBlk(f.inode.mode)) {
      if (opcode !== IORING_OP_FSYNC) s.ie.workSetFlags(w, IO_WQ_WORK_UNBOUND);
    }
    this.punted++;
    wq.enqueue(w);
    return 0;
  }

  private failReq(req: IoKiocb, err: number): number {
    if (req.file !== null) fput(this.s.k, req.file);
    this.postCqe(req.udLo, req.udHi, err);
    return 0;
  }
}

/** the io_uring fd's file operations */
export const ioUringFops: FileOperations = {
  release(k, _inode, file) {
    const ctx = file.privateData as IoRingCtx | null;
    if (ctx === null) return;
    ctx.dead = true; // io_ring_ctx_wait_and_kill: later completions have nowhere to go
    IoUringState.of(k).ie.ringFree(ctx.ring);
  },
};

function ctxOf(k: Kernel, task: Task, fd: number): IoRingCtx | number {
  const f = k.fileOf(task, fd);
  if (f === null) return -EBADF;
  if (f.fop !== ioUringFops) return -EOPNOTSUPP; // io_uring_enter on a file that is not an io_uring
  return f.privateData as IoRingCtx;
}

const roundPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/** io_uring_setup(entries, params): the fd or -errno; fills params. */
export function ioUringSetup(k: Kernel, task: Task, entries: number, params: IoUringParams | undefined): number {
  return k.syscall('io_uring_setup', task, () => {
    if (!isUserStruct(params)) return -EFAULT;
    if (!Number.isInteger(entries) || entries < 0) return -EINVAL;
    // copy_from_user of struct io_uring_params: u32 fields, a field that is none is a bad pointer
    const u32 = (key: string): number | typeof FAULT => {
      const v = getUser(params, key);
      if (v === FAULT) return FAULT;
      if (v === undefined) return 0;
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff ? v : FAULT;
    };
    const flagsIn = u32('flags');
    const cqIn = u32('cq_entries');
    if (flagsIn === FAULT || cqIn === FAULT) return -EFAULT;
    const flags = flagsIn >>> 0;
    if (flags & IORING_SETUP_SQPOLL) return -EINVAL; // not modelled (docs/divergences.md)
    if (flags & ~(IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | 0x3f00)) return -EINVAL;
    if (entries === 0) return -EINVAL;
    if (entries > IORING_MAX_ENTRIES) {
      if (!(flags & IORING_SETUP_CLAMP)) return -EINVAL;
      entries = IORING_MAX_ENTRIES;
    }
    const sq = roundPow2(entries);
    let cq = 2 * sq;
    if (flags & IORING_SETUP_CQSIZE) {
      const want = cqIn;
      if (want === 0) return -EINVAL;
      let c = want;
      if (c > IORING_MAX_CQ_ENTRIES) {
        if (!(flags & IORING_SETUP_CLAMP)) return -EINVAL;
        c = IORING_MAX_CQ_ENTRIES;
      }
      cq = roundPow2(c);
      if (cq < sq) return -EINVAL;
    }
    const s = IoUringState.of(k);
    if (sq > s.ie.ringEntries || cq > 2 * s.ie.ringEntries) return -ENOMEM; // the model's ring objects (kwq.io_uring_entries)
    if (task.files === null) return -EINVAL;
    const ring = s.ie.ringAlloc(sq);
    if (ring < 0) return -ENOMEM;
    const u = s.ie.u32;
    u[(ring + RING.CQ_MASK) >> 2] = cq - 1;
    u[(ring + RING.CQ_ENTRIES) >> 2] = cq;
    // io_uring_create copies the params out before the file and fd exist: a fault undoes the ring
    const out = {
      sq_entries: sq, cq_entries: cq, features: ioUringFeatures(k),
      sq_off: { head: RING.SQ_HEAD, tail: RING.SQ_TAIL, ring_mask: RING.SQ_MASK, ring_entries: RING.SQ_ENTRIES, flags: RING.SQ_FLAGS, dropped: RING.SQ_DROPPED, array: RING.SQ_ARRAY },
      cq_off: { head: RING.CQ_HEAD, tail: RING.CQ_TAIL, ring_mask: RING.CQ_MASK, ring_entries: RING.CQ_ENTRIES, overflow: RING.CQ_OVERFLOW, cqes: s.ie.cqe(ring, 0) - ring, flags: RING.CQ_FLAGS },
    };
    if (!copyToUser(params, out)) {
      s.ie.ringFree(ring);
      return -EFAULT;
    }
    const ctx = new IoRingCtx(s, ring, sq, cq, flags, task);
    // io_uring_install_fd -> io_uring_add_tctx_node: the caller's io_uring_task and io_wq
    const wq = s.addTctxNode(task, ctx);
    if (typeof wq === 'number') {
      s.ie.ringFree(ring);
      return wq;
    }
    const inode = new Inode(k.devDir.sb, k.nextIno(), S_IFREG | 0o600, ioUringFops);
    const file = new File(inode, ioUringFops, 2, 'anon_inode:[io_uring]');
    file.privateData = ctx;
    inode.openCount++;
    const fd = task.files.install(file, task.signal.rlimits[RLIMIT_NOFILE]![0], true);
    if (fd < 0) {
      fput(k, file);
      return fd;
    }
    return fd;
  });
}

/** io_uring_enter(fd, to_submit, min_complete, flags): SQEs submitted, or -errno. */
export function ioUringEnter(k: Kernel, task: Task, fd: number, toSubmit: number, minComplete: number, flags: number): number {
  return k.syscall('io_uring_enter', task, () => {
    if (!Number.isInteger(toSubmit) || toSubmit < 0 || !Number.isInteger(minComplete) || minComplete < 0) return -EINVAL;
    if (flags & ~0x1f) return -EINVAL;
    const ctx = ctxOf(k, task, fd);
    if (typeof ctx === 'number') return ctx;
    const s = ctx.s;
    const u = s.ie.u32;
    const r = ctx.ring;
    if (toSubmit > 0) {
      // io_uring_add_tctx_node: the submitter's io_uring_task (and its io_wq) before io_submit_sqes
      const wq = s.addTctxNode(task, ctx);
      if (typeof wq === 'number') return wq;
    }
    let submitted = 0;
    const mask = ctx.sqEntries - 1;
    for (; submitted < toSubmit; submitted++) {
      const head = Atomics.load(u, (r + RING.SQ_HEAD) >> 2);
      const tail = Atomics.load(u, (r + RING.SQ_TAIL) >> 2); // pairs with the application's store of sq_tail
      if (head === tail) break;
      const idx = u[(r + RING.SQ_ARRAY + 4 * (head & mask)) >> 2]!;
      Atomics.store(u, (r + RING.SQ_HEAD) >> 2, (head + 1) >>> 0);
      if (idx >= ctx.sqEntries) {
        Atomics.add(u, (r + RING.SQ_DROPPED) >> 2, 1);
        continue;
      }
      ctx.submitSqe(task, s.ie.sqe(r, idx));
      if (!task.alive) return -EINTR;
    }
    ctx.flushOverflow();
    if (flags & IORING_ENTER_GETEVENTS && minComplete > 0) {
      // io_cqring_wait: sleep until min_complete CQEs (sim: the simulation runs meanwhile)
      k.waitFor(() => {
        ctx.flushOverflow();
        return ctx.cqReady() >= minComplete || !task.alive;
      });
    }
    return submitted;
  });
}

/** io_uring_register(fd, opcode, arg, nr_args): IORING_REGISTER_IOWQ_MAX_WORKERS. */
export function ioUringRegister(k: Kernel, task: Task, fd: number, opcode: number, arg: unknown, nrArgs: number): number {
  return k.syscall('io_uring_register', task, () => {
    const ctx = ctxOf(k, task, fd);
    if (typeof ctx === 'number') return ctx;
    if (opcode !== IORING_REGISTER_IOWQ_MAX_WORKERS) return -EINVAL;
    if (nrArgs !== 2) return -EINVAL;
    // copy_from_user of the u32[2]
    const got = arg instanceof Uint32Array ? [...arg] : userArray(arg, 2);
    if (got === FAULT || got.length < 2) return -EFAULT;
    const want = [got[0] as number, got[1] as number];
    for (const v of want) if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) return -EFAULT;
    for (const v of want) if (v > 0x7fff_ffff) return -EINVAL;
    // io_register_iowq_max_workers: the ring remembers what was asked (0 keeps a value)
    for (let i = 0; i < 2; i++) if (want[i] !== 0) ctx.iowqLimits[i] = want[i]!;
    ctx.iowqLimitsSet = true;
    const wq = ctx.s.tctx.get(task);
    const prev = wq === undefined ? [0, 0] : ioWqMaxWorkers(task, wq, want);
    // copy_to_user of the previous values (after the limits are set, as the kernel orders it)
    if (!copyToUser(arg, { 0: prev[0]!, 1: prev[1]! })) return -EFAULT;
    // then every task of the ring's tctx_list gets the ring's limits (clamped by the caller's RLIMIT_NPROC)
    for (const user of ctx.tctxList) {
      const w = ctx.s.tctx.get(user);
      if (w !== undefined) ioWqMaxWorkers(task, w, [...ctx.iowqLimits]);
    }
    return 0;
  });
}

/**
 * io_wq_max_workers(wq, new_count) run by `current`: each count clamped to current's
 * RLIMIT_NPROC, 0 keeps the acct's value; returns the previous values as the kernel writes
 * them back, max_t(int, acct->max_workers, 0): a value above INT_MAX (an unbounded acct
 * made under RLIMIT_NPROC = unlimited, ~0U) reads as 0.
 */
function ioWqMaxWorkers(current: Task, wq: IoWq, counts: number[]): number[] {
  const nproc = current.signal.rlimits[RLIMIT_NPROC]![0];
  return [IO_WQ_ACCT_BOUND, IO_WQ_ACCT_UNBOUND].map((acct, i) => {
    const prev = wq.h.maxWorkers(acct, Math.min(counts[i]!, nproc));
    return prev > 0x7fff_ffff ? 0 : prev;
  });
}

/** A task exits: its io_wq goes (io_uring_cancel_generic -> io_wq_exit_start / io_wq_put_and_exit). */
export function ioUringTaskExit(k: Kernel, task: Task): void {
  const s = IoUringState.peek(k);
  const wq = s?.tctx.get(task);
  if (s === undefined || wq === undefined) return;
  s.tctx.delete(task);
  wq.exit();
}

/** Inspection for scenarios and tests: the task's io_wq (null if it has none). */
export function ioUringTaskWq(k: Kernel, task: Task): IoWq | null {
  return IoUringState.peek(k)?.tctx.get(task) ?? null;
}

/** The ctx behind an io_uring fd, for the liburing-style helper and tests. */
export function ioUringCtx(k: Kernel, task: Task, fd: number): IoRingCtx {
  const c = ctxOf(k, task, fd);
  if (typeof c === 'number') throw new KwqError('io_uring', `fd ${fd} of ${task} is not an io_uring (${c})`);
  return c;
}

/** Set the model's io_uring costs for kernel `k` (scenarios, benchmarks); returns the costs in force. */
export function ioUringSetCosts(k: Kernel, costs: Partial<IoUringCosts>): IoUringCosts {
  const s = IoUringState.of(k);
  for (const [key, v] of Object.entries(costs)) {
    if (!(key in DEFAULT_IO_URING_COSTS)) throw new KwqError('ioUringSetCosts', `unknown cost '${key}'; known: ${Object.keys(DEFAULT_IO_URING_COSTS).join(', ')}`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new KwqError('ioUringSetCosts', `cost '${key}' must be a finite number >= 0, got ${String(v)}`);
  }
  Object.assign(s.costs, costs);
  return { ...s.costs };
}

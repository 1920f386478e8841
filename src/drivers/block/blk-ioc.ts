/**
 * struct io_context: a task's I/O context (block/blk-ioc.c, the 5.17+ design,
 * current mainline; kernel-reference.md section 9.2 and /tmp/research/notes.md Q1,
 * read in torvalds/linux block/blk-ioc.c @ f39b6c46):
 *
 *   task->io_context ──► io_context { refcount, active_ref, ioprio,
 *   (at most one;          icq_tree (radix, q->id), icq_hint, icq_list }
 *    CLONE_IO shares it)       │ icq_list
 *                              ▼
 *                            io_cq (ioc, q) ◄── q->icq_list ── request_queue
 *
 *   active_ref  tasks using it: 1 at allocation, +1 per CLONE_IO child; exit_io_context
 *               drops it, and the last one exits the icqs and drops the base reference
 *   refcount    1 base reference (held by the active users together: CLONE_IO does NOT
 *               take one) + 1 per request in flight that carries an icq of it
 *               (ioc_find_get_icq takes it, bfq_finish_request puts it). At 0 the
 *               io_context is freed; icqs still linked are destroyed first (the kernel
 *               does that in ioc_release_fn on a workqueue, for lock ordering; the
 *               model has no locks and does it at once).
 *
 * When one is created (always with ioprio IOPRIO_DEFAULT = class NONE):
 *   - ioprio_set on a task without one (set_task_ioprio): for another task that is
 *     exiting (PF_EXITING) the new io_context is freed and the call returns 0 without
 *     setting anything (Jiri Slaby's fix of 5fc11eeb/a957b612); for current it is
 *     installed;
 *   - an I/O through an elevator with per-task state (BFQ: bfq_prepare_request ->
 *     ioc_find_get_icq), always for current, exiting or not ("the exit path may issue
 *     IOs");
 *   - fork (copy_io): with CLONE_IO the child shares the parent's (active_ref + 1);
 *     without, a parent whose ioprio is valid (RT/BE/IDLE) gives the child a FRESH
 *     io_context with a copy of that ioprio, and nothing else; a parent without one, or
 *     with class NONE, gives none.
 *
 * What a request carries when a worker issues I/O for someone else: whatever
 * `current` (the worker) has. The API for block drivers:
 *
 *   const rq = ioContextForIssue(k, task, q, bioIoprio);   // at request allocation
 *   // (or ioContextPrepare(k, task, q, bioIoprio, slot) to refill a driver's own slot)
 *   // rq.ioc / rq.icq: the issuing task's io_context and its icq for q (BFQ only; null
 *   //                  otherwise, and no io_context is created)
 *   // rq.ioprio:       bioIoprio if its class is not NONE (the path set one: loop since
 *   //                  6.15 copies the original request's into the backing kiocb,
 *   //                  1fdb8188c3d5), else the issuing task's effective ioprio
 *   //                  (bio_set_ioprio -> get_current_ioprio)
 *   ioContextRequestDone(k, rq);                            // at completion (puts the ioc)
 *
 *   loop kworker (kwq.loop_workers=kworker)  a kthread: no io_context unless BFQ made one;
 *                                            ioprio BE/4 (nice 0), not the issuer's
 *   per-cgroup loop worker                   its blkcg is the issuer's, its io_context the
 *                                            worker's own (a kworker: same as above)
 *   vhost_task worker (task mode)            copy_process without CLONE_IO from the
 *                                            VHOST_SET_OWNER caller: a fresh io_context with
 *                                            the owner's ioprio if the owner had set a valid
 *                                            one, else none
 *   vhost kthread worker                     kthreadd's defaults: none, BE/4
 *
 * Who calls it: null_blk (null-blk.ts) and loop (loop-device.ts) for every request
 * they receive, with bio.task as current; a loop worker's backing bio therefore gets
 * the worker's io_context. fork/exit: blk-ioc-hooks.ts (the kernel's task hooks).
 */
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import { CLONE_IO, PF_EXITING } from '../../kernel/sched.js';
import type { Task } from '../../kernel/task.js';
import { ICQ_DESTROYED, ICQ_EXITED, IoCq } from './blk-ioc-icq.js';
import { elevatorHasIcq, type RequestQueue } from './blk-ioc-queue.js';
import { RadixTree } from './blk-ioc-radix-tree.js';
import { IOPRIO_CLASS_NONE, IOPRIO_DEFAULT, IOPRIO_PRIO_CLASS, ioprioValid } from './ioprio-uapi.js';
import { getTaskIoprio } from './ioprio.js';

export class IoContext {
  constructor(
    /** for inspection: a number, 1, 2, ... in allocation order per kernel (deterministic) */
    readonly id: number,
  ) {}
  /** atomic_long_t refcount */
  refcount = 1;
  /** atomic_t active_ref */
  activeRef = 1;
  /** unsigned short ioprio */
  ioprio = IOPRIO_DEFAULT;
  /** ioc->icq_tree, keyed by q->id */
  readonly icqTree = new RadixTree<IoCq>();
  /** ioc->icq_hint: the last icq found by a lookup, or null */
  icqHint: IoCq | null = null;
  /** ioc->icq_list */
  readonly icqList = new Set<IoCq>();
  /** kmem_cache_free'd (the model keeps the object for inspection) */
  freed = false;
}

/** Per kernel: the live io_contexts, and every task holding one (do_exit finds it by pid). */
interface BlkIocState {
  readonly live: Set<IoContext>;
  readonly holders: Map<number, Task>;
  /** the id the next io_context gets */
  nextId: number;
}
const stateOf = new WeakMap<Kernel, BlkIocState>();

export function blkIocState(k: Kernel): BlkIocState {
  let s = stateOf.get(k);
  if (s === undefined) {
    s = { live: new Set(), holders: new Map(), nextId: 1 };
    stateOf.set(k, s);
  }
  return s;
}

/** task->io_context */
export function taskIoContext(task: Task): IoContext | null {
  return (task.ioContext as IoContext | null) ?? null;
}

function setTaskIoContext(k: Kernel, task: Task, ioc: IoContext | null): void {
  task.ioContext = ioc;
  if (ioc === null) blkIocState(k).holders.delete(task.pid);
  else blkIocState(k).holders.set(task.pid, task);
}

/** alloc_io_context: refcount 1, active_ref 1, ioprio IOPRIO_DEFAULT. (The cache is not memcg-accounted.) */
export function allocIoContext(k: Kernel): IoContext {
  const st = blkIocState(k);
  const ioc = new IoContext(st.nextId++);
  st.live.add(ioc);
  return ioc;
}

/** kmem_cache_free of an io_context that was never installed, or the last put. */
function freeIoContext(k: Kernel, ioc: IoContext): void {
  ioc.freed = true;
  blkIocState(k).live.delete(ioc);
}

/** get_io_context */
export function getIoContext(ioc: IoContext): void {
  if (ioc.refcount <= 0 || ioc.freed) throw new KwqError('get_io_context', `io_context ${ioc.id}: refcount ${ioc.refcount} (BUG_ON)`);
  ioc.refcount++;
}

/** put_io_context: the last reference frees it, destroying the icqs still linked (ioc_release_fn). */
export function putIoContext(k: Kernel, ioc: IoContext): void {
  if (ioc.refcount <= 0 || ioc.freed) throw new KwqError('put_io_context', `io_context ${ioc.id}: refcount ${ioc.refcount} (BUG_ON)`);
  if (--ioc.refcount > 0) return;
  // ioc_delay_free + ioc_release_fn, run at once (no lock ordering to respect here)
  for (const icq of [...ioc.icqList]) iocDestroyIcq(icq);
  freeIoContext(k, ioc);
}

/** exit_io_context (do_exit): detach; the last active user exits the icqs and drops the base reference. */
export function exitIoContext(k: Kernel, task: Task): void {
  const ioc = taskIoContext(task);
  if (ioc === null) return; // do_exit calls it only when task->io_context is set
  setTaskIoContext(k, task, null);
  if (--ioc.activeRef === 0) {
    iocExitIcqs(ioc);
    putIoContext(k, ioc);
  }
}

/** copy_io / __copy_io (copy_process, after RLIMIT_NPROC and before cgroup_can_fork). */
export function copyIo(k: Kernel, current: Task, tsk: Task, cloneFlags: number): void {
  const ioc = taskIoContext(current);
  if (ioc === null) return;
  if (cloneFlags & CLONE_IO) {
    ioc.activeRef++; // refcount is NOT taken: the sharers hold the base reference together
    setTaskIoContext(k, tsk, ioc);
  } else if (ioprioValid(ioc.ioprio)) {
    const n = allocIoContext(k);
    n.ioprio = ioc.ioprio;
    setTaskIoContext(k, tsk, n);
  }
}

/**
 * The io_context part of set_task_ioprio (the permission check is the caller's):
 * returns 0 whether or not it set the priority (an exiting task without an
 * io_context is left alone).
 */
export function setTaskIoprioLocked(k: Kernel, task: Task, ioprio: number): number {
  if (taskIoContext(task) === null) {
    const ioc = allocIoContext(k);
    if (task.flags & PF_EXITING) {
      freeIoContext(k, ioc);
      return 0;
    }
    setTaskIoContext(k, task, ioc);
  }
  taskIoContext(task)!.ioprio = ioprio & 0xffff;
  return 0;
}

// ---- io_cq -------------------------------------------------------------------------------

/** ioc_exit_icq: the elevator's exit_icq (BFQ: bfq_exit_icq) once. */
function iocExitIcq(icq: IoCq): void {
  if (icq.flags & ICQ_EXITED) return;
  icq.flags |= ICQ_EXITED;
}

/** ioc_exit_icqs: the last task using the io_context is gone. */
function iocExitIcqs(ioc: IoContext): void {
  for (const icq of ioc.icqList) iocExitIcq(icq);
}

/** ioc_destroy_icq: unlink from the tree and both lists, clear the hint if it points here, exit, mark destroyed. */
export function iocDestroyIcq(icq: IoCq): void {
  if (icq.flags & ICQ_DESTROYED) return;
  const ioc = icq.ioc;
  ioc.icqTree.delete(icq.q.id);
  ioc.icqList.delete(icq);
  icq.q.icqList.delete(icq);
  if (ioc.icqHint === icq) ioc.icqHint = null;
  iocExitIcq(icq);
  icq.flags |= ICQ_DESTROYED;
}

/** ioc_clear_queue: destroy every icq of the queue (elevator exit, queue release). */
export function iocClearQueue(_k: Kernel, q: RequestQueue): void {
  for (const icq of [...q.icqList]) iocDestroyIcq(icq);
}

/**
 * ioc_lookup_icq(q) for `current`: the hint if it is for q, else the tree (and the
 * hint is set to what it found); null on current's first I/O to q.
 */
export function iocLookupIcq(current: Task, q: RequestQueue): IoCq | null {
  const ioc = taskIoContext(current);
  if (ioc === null) throw new KwqError('ioc_lookup_icq', `${current} has no io_context`);
  const hint = ioc.icqHint; // rcu_dereference: may be stale in the kernel, never in the model
  if (hint !== null && hint.q === q) return hint;
  const icq = ioc.icqTree.lookup(q.id) ?? null;
  if (icq !== null && icq.q === q) {
    ioc.icqHint = icq; // "allowed to race" in the kernel
    return icq;
  }
  return null;
}

/** ioc_create_icq: link a new icq for (current->io_context, q), or return the one already there. */
function iocCreateIcq(current: Task, q: RequestQueue): IoCq {
  const ioc = taskIoContext(current)!;
  const icq = new IoCq(ioc, q);
  if (ioc.icqTree.insert(q.id, icq) === 0) {
    ioc.icqList.add(icq);
    q.icqList.add(icq);
    return icq; // the elevator's init_icq would run here
  }
  // lost a race with another insert (cannot happen in the model): use the existing one
  return iocLookupIcq(current, q)!;
}

/**
 * ioc_find_get_icq(q) for `current`: creates current's io_context if it has none
 * (whether or not current is exiting), takes a reference on it for the request, and
 * finds or creates its icq for q.
 */
export function iocFindGetIcq(k: Kernel, current: Task, q: RequestQueue): IoCq {
  if (q.dead) throw new KwqError('ioc_find_get_icq', `queue ${q.name} (id ${q.id}) is gone`);
  let ioc = taskIoContext(current);
  let icq: IoCq | null = null;
  if (ioc === null) {
    ioc = allocIoContext(k);
    setTaskIoContext(k, current, ioc);
    getIoContext(ioc);
  } else {
    getIoContext(ioc);
    icq = iocLookupIcq(current, q);
  }
  return icq ?? iocCreateIcq(current, q);
}

// ---- the issue API for drivers ---------------------------------------------------------

/**
 * What a request carries (the relevant fields of struct request and its bio). A block
 * driver keeps one per request slot and refills it with ioContextPrepare (no allocation
 * per request); ioContextForIssue allocates a fresh one.
 */
export class IoIssue {
  /** pid and comm of the task that issued it (current at blk_mq_submit_bio) */
  pid = 0;
  comm = '';
  /** current's io_context when the request was allocated (null if it had none) */
  ioc: IoContext | null = null;
  /** rq->elv.icq: BFQ only; holds a reference on icq.ioc until ioContextRequestDone */
  icq: IoCq | null = null;
  /** rq->ioprio: bio->bi_ioprio after bio_set_ioprio */
  ioprio = IOPRIO_DEFAULT;
  /** completed (or never issued) */
  done = true;
}

/**
 * Fill `rq` for a request issued by `task` (current) to `q` with the bio priority
 * `bioIoprio` (IOPRIO_DEFAULT when the issuing path set none): bio_set_ioprio (class
 * NONE -> get_current_ioprio(), the issuer's effective priority) and, when the
 * elevator keeps per-task state (BFQ's bfq_prepare_request), ioc_find_get_icq, which
 * creates current's io_context on first need and takes a reference for the request.
 * Returns `rq`. The kernel's blkcg_set_ioprio (the io.prio.class policy) is not modelled.
 */
export function ioContextPrepare(k: Kernel, task: Task, q: RequestQueue, bioIoprio: number, rq: IoIssue): IoIssue {
  if (!task.alive) throw new KwqError('ioContextForIssue', `${task} is dead`);
  if (!rq.done) throw new KwqError('ioContextForIssue', `request of pid ${rq.pid} reused before ioContextRequestDone`);
  // bio_set_ioprio runs first in blk_mq_submit_bio, before the request (and BFQ's icq)
  // exists: a task's first request under BFQ is priced without the io_context it is
  // about to get (IOPRIO_DEFAULT in releases with ioprio_default_without_ioc)
  rq.ioprio = IOPRIO_PRIO_CLASS(bioIoprio) === IOPRIO_CLASS_NONE ? getTaskIoprio(task) : bioIoprio & 0xffff;
  rq.icq = elevatorHasIcq(q.elevator) ? iocFindGetIcq(k, task, q) : null;
  rq.pid = task.pid;
  rq.comm = task.comm;
  rq.ioc = taskIoContext(task);
  rq.done = false;
  return rq;
}

/** A request issued by `task` (current) to `q`: ioContextPrepare into a new IoIssue. See the header. */
export function ioContextForIssue(k: Kernel, task: Task, q: RequestQueue, bioIoprio: number = IOPRIO_DEFAULT): IoIssue {
  return ioContextPrepare(k, task, q, bioIoprio, new IoIssue());
}

/** The request completed (bfq_finish_request): drop its io_context reference. */
export function ioContextRequestDone(k: Kernel, rq: IoIssue): void {
  if (rq.done) throw new KwqError('ioContextRequestDone', 'request completed twice');
  rq.done = true;
  const icq = rq.icq;
  rq.icq = null;
  if (icq !== null) putIoContext(k, icq.ioc);
}

/** The tasks whose task->io_context is `ioc` (one, or the CLONE_IO sharers), for inspection. */
export function ioContextHolders(k: Kernel, ioc: IoContext): Task[] {
  const out: Task[] = [];
  for (const t of blkIocState(k).holders.values()) if (t.ioContext === ioc) out.push(t);
  return out;
}

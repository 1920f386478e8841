/**
 * copy_process (kernel/fork.c), the one path that creates tasks: spawn/fork/clone,
 * kthread_create (a child of kthreadd) and vhost_task_create (a user worker thread
 * of the caller). Checks, in the kernel's order (kernel-reference.md section 3):
 *
 *   1. clone flag combinations                      -EINVAL; CLONE_NEW* without CAP_SYS_ADMIN -EPERM
 *   2. a signal pending in the creating thread      -ERESTARTNOINTR
 *   3. RLIMIT_NPROC of the real uid, counting every task and thread, after the
 *      increment (k + 1 > limit), unless the uid is 0 (INIT_USER) or the creator has
 *      CAP_SYS_RESOURCE or CAP_SYS_ADMIN         -EAGAIN
 *   4. nr_threads >= max_threads                    -EAGAIN
 *   5. copy_files, copy_fs, copy_signal, copy_mm, copy_namespaces (cannot fail here)
 *   6. the drivers' copyProcess hooks (task-hooks.ts), at copy_io's place: their -errno
 *   7. alloc_pid (the model's never fails), then cgroup_can_fork: pids.max at every
 *      level                                       -EAGAIN
 *   8. a fatal signal for the creator meanwhile     -EINTR
 *   --- point of no return: the child is linked into the task table and its cgroups
 *
 * A rejected creation changes nothing: a failure at 6 or 7 undoes 5 and runs the hooks'
 * exit for the half-made child (bad_fork_cleanup_*); so does 8. The ids of a new mm or namespace
 * made at 5 are not given back (cosmetic: ids only grow). On success the child shares
 * or copies each piece of state as the clone flags say (task.ts has the table).
 */
import { EAGAIN, EINTR, EINVAL, EPERM, ERESTARTNOINTR } from './errno.js';
import { KwqError } from './error.js';
import type { Kernel } from './kernel.js';
import { CAP_SYS_ADMIN, CAP_SYS_RESOURCE, INIT_UID } from './cred.js';
import { MmStruct, mmget, mmput } from './mm.js';
import { unchargeMm } from './memcontrol.js';
import { RLIMIT_NPROC } from './rlimit.js';
import {
  CLONE_FILES, CLONE_FS, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
  CLONE_NEWUTS, CLONE_PARENT, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, PF_KTHREAD, PF_USER_WORKER,
} from './sched.js';
import { BLOCK_ALL_BUT_KILL_STOP } from './signal-numbers.js';
import { SignalStruct } from './signal-struct.js';
import { commOf, Task, type SigkillHandler } from './task.js';
import { pidsTryCharge, pidsUncharge } from './cgroup/cgroup-core.js';
import { taskHooksCopyProcess, taskHooksExit } from './task-hooks.js';
import type { MntNamespace } from './vfs/mount.js';
import type { ThreadBody } from '../runtime/sim-thread.js';

/** struct kernel_clone_args, the fields the model uses. */
export interface KernelCloneArgs {
  flags: number;
  /** the new task's comm (default: the creator's) */
  name?: string;
  /** PF_KTHREAD (kthread_create sets it; the creator must be kthreadd) */
  kthread?: boolean;
  /** PF_USER_WORKER: all signals but SIGKILL/SIGSTOP blocked (vhost_task) */
  userWorker?: boolean;
  /** no fd table (vhost_task) */
  noFiles?: boolean;
  /** a thread body: the task gets a runtime thread, created sleeping (start it with wakeUpNewTask) */
  body?: ThreadBody;
  /** PF_USER_WORKER: run when a fatal signal kills it (vhost_worker_killed) */
  handleSigkill?: SigkillHandler;
}

const NS_FLAGS = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWUSER;

/** task_sigpending(current): an unblocked signal is pending for the thread's group (the model queues none per thread). */
export function taskSigpending(t: Task): boolean {
  return (t.signal.sharedPending & ~t.blocked) !== 0;
}

export function copyProcess(k: Kernel, current: Task, args: KernelCloneArgs): Task | number {
  const f = args.flags >>> 0;
  // 1. flag sanity (copy_process's first checks)
  if ((f & (CLONE_NEWNS | CLONE_FS)) === (CLONE_NEWNS | CLONE_FS)) return -EINVAL;
  if ((f & (CLONE_NEWUSER | CLONE_FS)) === (CLONE_NEWUSER | CLONE_FS)) return -EINVAL;
  if (f & CLONE_THREAD && !(f & CLONE_SIGHAND)) return -EINVAL;
  if (f & CLONE_SIGHAND && !(f & CLONE_VM)) return -EINVAL;
  if (f & CLONE_THREAD && f & (CLONE_NEWUSER | CLONE_NEWPID)) return -EINVAL;
  if (f & CLONE_NEWUSER) return -EINVAL; // the model has one user namespace
  if (f & NS_FLAGS && !current.cred.capable(CAP_SYS_ADMIN)) return -EPERM;
  if (args.kthread && current !== k.kthreadd) return -EINVAL;
  // 2. a signal pending in the creator
  if (taskSigpending(current)) return -ERESTARTNOINTR;
  // 3. RLIMIT_NPROC (copy_creds increments first, then is_rlimit_overlimit)
  const cred = f & CLONE_THREAD ? current.cred : current.cred.copy();
  const uid = cred.uid;
  const count = (k.ucounts.get(uid) ?? 0) + 1;
  if (count > current.signal.rlimits[RLIMIT_NPROC]![0]) {
    if (uid !== INIT_UID && !current.cred.capable(CAP_SYS_RESOURCE) && !current.cred.capable(CAP_SYS_ADMIN)) return -EAGAIN;
  }
  // 4. max_threads
  if (k.nrThreads >= k.maxThreads) return -EAGAIN;
  // 5. the state the child shares or copies (copy_files .. copy_namespaces)
  const pid = k.peekPid(); // alloc_pid comes after copy_io; the model's cannot fail, so take the number now
  const isThread = (f & CLONE_THREAD) !== 0;
  let nsproxy = current.nsproxy;
  if (f & NS_FLAGS) {
    nsproxy = nsproxy.clone();
    if (f & CLONE_NEWNS) nsproxy.mnt = (current.nsproxy.mnt as MntNamespace).copy(k.nextNsId());
    if (f & CLONE_NEWUTS) nsproxy.uts = k.newNamespace('uts');
    if (f & CLONE_NEWIPC) nsproxy.ipc = k.newNamespace('ipc');
    if (f & CLONE_NEWPID) nsproxy.pid = k.newNamespace('pid');
    if (f & CLONE_NEWNET) nsproxy.net = k.newNamespace('net');
    if (f & CLONE_NEWCGROUP) nsproxy.cgroup = k.newNamespace('cgroup');
  }
  let fs = current.fs;
  if (f & CLONE_FS) fs.users++;
  else fs = fs.copy();
  let files = null;
  if (!args.noFiles && !args.kthread && current.files !== null) {
    if (f & CLONE_FILES) {
      files = current.files;
      files.count++;
    } else files = current.files.copy();
  }
  const signal = isThread ? current.signal : new SignalStruct(current.signal.rlimits.map((r) => [r[0], r[1]] as [number, number]));
  if (!isThread) signal.oomScoreAdj = current.signal.oomScoreAdj;
  const parent = isThread || f & CLONE_PARENT ? current.groupLeader.parent : current;
  let flags = 0;
  if (args.kthread) flags |= PF_KTHREAD;
  if (args.userWorker) flags |= PF_USER_WORKER;
  const p = new Task(pid, {
    comm: commOf(args.name ?? current.comm),
    flags,
    parent,
    groupLeader: isThread ? current.groupLeader : null,
    signal,
    cred,
    mm: null,
    nsproxy,
    fs,
    files,
    cgroups: current.cgroups.slice(),
    kernel: k,
  });
  // copy_mm: CLONE_VM shares the address space; fork makes a new one (copy-on-write:
  // no page is charged until written); kthreads have none
  if (!args.kthread && current.mm !== null && !current.isKthread) {
    if (f & CLONE_VM) {
      p.mm = current.mm;
      mmget(p.mm);
    } else p.mm = new MmStruct(k.nextMmId(), p);
  }
  p.blocked = args.userWorker ? BLOCK_ALL_BUT_KILL_STOP : current.blocked;
  p.activeMemcg = null;
  // 6. the drivers' part of copy_process (copy_io's place)
  let err = taskHooksCopyProcess(k, current, p, f);
  // 7. cgroup_can_fork: the pids controller, in every hierarchy that has it
  const charged: number[] = [];
  if (err === 0) {
    for (const cg of current.cgroups) {
      if (!cg.root.controllers.has('pids')) continue;
      if (pidsTryCharge(cg) < 0) {
        for (const h of charged) pidsUncharge(current.cgroups[h]!, 1);
        err = -EAGAIN;
        break;
      }
      charged.push(cg.root.hierarchyId);
    }
    // 8. fatal_signal_pending(current) -> -EINTR ("let kill terminate clone/fork in the
    //    middle"). A fatal signal kills a model task at once, so: current died meanwhile
    //    (a hook's allocation OOM-killed it, say)
    if (err === 0 && !current.alive) {
      for (const h of charged) pidsUncharge(current.cgroups[h]!, 1);
      err = -EINTR;
    }
    if (err !== 0) taskHooksExit(k, p); // bad_fork_cleanup_io and the like
  }
  if (err !== 0) {
    badForkCleanup(k, p);
    return err;
  }
  // --- from here on nothing fails ---
  if (k.allocPid() !== pid) throw new KwqError('copy_process', `pid ${pid} was taken while ${p} was being made (a task hook created a task?)`);
  k.ucounts.set(uid, count);
  k.nrThreads++;
  if (args.handleSigkill) p.handleSigkill = args.handleSigkill;
  if (args.body) p.thread = k.rt.createThread(k.wrapBody(p, args.body), p);
  signal.threads.add(p);
  parent?.children.add(p);
  for (const cg of p.cgroups) cg.tasks.add(p);
  k.taskTable.set(pid, p);
  const tp = k.tp.newtask;
  if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, pid, tgid: p.tgid, ppid: p.ppid, comm: p.comm, cloneFlags: f, uid });
  return p;
}

/** Undo step 5 for a child that will never run (the bad_fork_cleanup_* labels). */
function badForkCleanup(k: Kernel, p: Task): void {
  p.alive = false;
  const mm = p.mm;
  p.mm = null;
  // bad_fork_cleanup_mm: a new mm has nothing charged and goes; a shared one stays (current holds it)
  if (mm !== null) mmput(mm, (m) => unchargeMm(k, m));
  if (p.files !== null) {
    const files = p.files;
    p.files = null;
    files.put(k); // a copy closes its duplicates (the originals stay open); a share drops the count
  }
  p.fs.users--;
}

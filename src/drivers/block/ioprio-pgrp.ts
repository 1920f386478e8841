/**
 * Process groups, as far as ioprio_set/ioprio_get(IOPRIO_WHO_PGRP) need them. The
 * kernel model has none yet (no setpgid, no sessions), so blk-ioc keeps them:
 *
 *   - a process's group is a property of its thread group (signal->pids[PIDTYPE_PGID]);
 *   - init, kthreadd and every kthread are in group 0: pid 1 inherits the pgrp of the
 *     swapper (init_struct_pid, nr 0) in copy_process and keeps it until it calls
 *     setsid(); the oracle's guest init never does (ioprio_get(IOPRIO_WHO_PGRP, 1) is
 *     -ESRCH there: oracle/scripts/ioprio-syscalls.json). A systemd machine's pid 1
 *     calls setsid and leads group 1: kwq models the kernel before that call;
 *   - fork puts the child in its parent's group (so a k.spawn()ed process is in init's
 *     group 0 until it calls setpgid);
 *   - setpgid(pid, pgid) (kernel/sys.c), without sessions: pid 0 is the caller, pgid 0
 *     is pid; the target must be the caller's process or a child process of it (-ESRCH),
 *     a thread-group leader (-EINVAL for another thread), and pgid must be its own pid
 *     or an existing group (-EPERM). The model has no exec, so the "child has execed"
 *     -EACCES case cannot arise.
 */
import { EINVAL, EPERM, ESRCH } from '../../kernel/errno.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { SignalStruct } from '../../kernel/signal-struct.js';
import type { Task } from '../../kernel/task.js';

const pgidOf = new WeakMap<SignalStruct, number>();

/** task_pgrp_vnr(task) */
export function taskPgrp(k: Kernel, task: Task): number {
  const v = pgidOf.get(task.signal);
  if (v !== undefined) return v;
  return 0; // init (no setsid), kthreadd, and anything created before blk-ioc's hooks were installed
}

/** fork: the child process joins the creator's group (threads share the signal struct: nothing to do). */
export function pgrpFork(k: Kernel, creator: Task, child: Task): void {
  if (child.signal === creator.signal) return;
  pgidOf.set(child.signal, taskPgrp(k, creator));
}

/** every live thread in process group `pgid`, by pid */
export function pgrpThreads(k: Kernel, pgid: number): Task[] {
  return k.tasks().filter((t) => taskPgrp(k, t) === pgid);
}

function intArg(where: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new KwqError(where, `${name} must be an int (pid_t), got ${v}`);
}

/** setpgid(pid, pgid) by `task`: 0 or -errno. */
export function setpgid(k: Kernel, task: Task, pid: number, pgid: number): number {
  intArg('setpgid', 'pid', pid);
  intArg('setpgid', 'pgid', pgid);
  return k.syscall('setpgid', task, () => {
    if (pgid < 0) return -EINVAL;
    const p = pid === 0 ? task.groupLeader : k.taskByPid(pid) ?? undefined;
    if (p === undefined) return -ESRCH;
    if (!p.isGroupLeader) return -EINVAL;
    const isChild = p.groupLeader.parent?.groupLeader === task.groupLeader;
    if (p.signal !== task.signal && !isChild) return -ESRCH;
    const target = pgid === 0 ? p.pid : pgid;
    if (target !== p.pid && pgrpThreads(k, target).length === 0) return -EPERM;
    pgidOf.set(p.signal, target);
    return 0;
  }) as number;
}

/** getpgid(pid) by `task`: the group id or -ESRCH. */
export function getpgid(k: Kernel, task: Task, pid: number): number {
  intArg('getpgid', 'pid', pid);
  return k.syscall('getpgid', task, () => {
    const p = pid === 0 ? task : k.taskByPid(pid) ?? undefined;
    return p === undefined ? -ESRCH : taskPgrp(k, p);
  }) as number;
}

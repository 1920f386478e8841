/**
 * The cgroup v2 freezer and cgroup.kill (kernel/cgroup/freezer.c, cgroup.c
 * cgroup_freeze_write / cgroup_kill_write / __cgroup_kill; read at torvalds/linux
 * 175502747b6c and 0008454e8fd3, unchanged in what is modelled since 5.14; the oracle's
 * cgroup-freeze and cgroup-kill scripts agree on Debian's 6.1.192 and 6.12.118).
 *
 *   cgroup.freeze 1   freezer.freeze = 1; e_freeze++ over the live subtree; a cgroup
 *                     whose e_freeze became 1 sets CGRP_FREEZE and sets
 *                     JOBCTL_TRAP_FREEZE on each of its tasks EXCEPT kthreads
 *                     ("freezing cgroups containing kthreads isn't supported")
 *   a task            enters the freezer trap from get_signal(): user threads,
 *                     PF_USER_WORKER (vhost_task_fn polls signal_pending) and
 *                     PF_IO_WORKER threads; a kthread never does
 *   CGRP_FROZEN       CGRP_FREEZE and every task of the cgroup frozen (nr_frozen_tasks ==
 *                     __cgroup_task_count: a kthread counts and never freezes) and every
 *                     descendant frozen (nr_frozen_descendants == nr_descendants)
 *   mkdir             the child inherits e_freeze (not freeze): an empty child of a
 *                     freezing cgroup is frozen at once
 *   cgroup.freeze 0   e_freeze--; where it reaches 0 the trap bit is cleared and each
 *                     task woken (wake_up_process)
 *   cgroup.kill 1     every live cgroup of the subtree, pre-order: SIGKILL to each task
 *                     (CSS_TASK_ITER_PROCS | THREADED) that is not a kthread and has no
 *                     fatal signal pending; -EOPNOTSUPP in a threaded cgroup
 *
 * Model: a task freezes at once (every task the model has is idle between calls: the
 * trap is entered "when it next runs", which the oracle's 300 ms sleep covers on Linux),
 * so CGRP_FROZEN is computed, not counted. What a frozen task does not do: a frozen
 * vhost worker drains nothing (drivers/vhost/worker.ts asks taskFrozen) until the thaw
 * wakes it. Calls a frozen user task makes through the API still run (Linux's task
 * would not make them); the threads runtime's real worker threads are not frozen.
 */
import { EOPNOTSUPP, ERANGE } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { PF_KTHREAD } from '../sched.js';
import { sendSigProcess } from '../signal.js';
import { SIGKILL } from '../signal-numbers.js';
import type { Task } from '../task.js';
import type { Cgroup } from './cgroup.js';
import { kstrtoint, strstrip } from './kstrto.js';

/** the v2 cgroup of `task`, or null when no v2 hierarchy is mounted */
function dfl(task: Task): Cgroup | null {
  for (const cg of task.cgroups) if (cg.root.v2) return cg;
  return null;
}

/** Can `task` enter the freezer trap? Everything but a kthread (cgroup_do_freeze skips PF_KTHREAD). */
export function taskFreezable(task: Task): boolean {
  return (task.flags & PF_KTHREAD) === 0;
}

/** Is `task` frozen (in the freezer trap) now? */
export function taskFrozen(task: Task): boolean {
  if (!task.alive || !taskFreezable(task)) return false;
  const cg = dfl(task);
  return cg !== null && cg.freezer.eFreeze > 0;
}

/** CGRP_FROZEN (cgroup.events "frozen") */
export function cgroupFrozen(cg: Cgroup): boolean {
  if (cg.freezer.eFreeze === 0) return false;
  for (const t of cg.tasks) if (t.alive && !taskFreezable(t)) return false;
  for (const c of cg.children.values()) if (c.online && !cgroupFrozen(c)) return false;
  return true;
}

/** cgroup_freeze(cgrp, freeze) */
export function cgroupFreeze(k: Kernel, cg: Cgroup, freeze: boolean): void {
  if (cg.freezer.freeze === freeze) return;
  cg.freezer.freeze = freeze;
  k.nrCgroupFreeze += freeze ? 1 : -1;
  for (const d of cg.subtree()) {
    if (!d.online) continue;
    if (freeze) {
      // already frozen because of an ancestor's setting? nothing changes for its tasks
      if (++d.freezer.eFreeze > 1) continue;
    } else {
      if (--d.freezer.eFreeze > 0) continue;
      // cgroup_do_freeze(false): clear JOBCTL_TRAP_FREEZE and wake_up_process each task
      for (const t of d.tasks) if (t.alive && taskFreezable(t)) k.wakeUpProcess(t);
    }
  }
}

/** cgroup.freeze write: 0 or -errno */
export function cgroupFreezeWrite(k: Kernel, cg: Cgroup, text: string): number {
  const r = kstrtoint(strstrip(text));
  if ('err' in r) return r.err;
  if (r.value < 0 || r.value > 1) return -ERANGE;
  cgroupFreeze(k, cg, r.value === 1);
  return 0;
}

/** cgroup_kill: SIGKILL every task of every live cgroup of the subtree, kthreads skipped */
export function cgroupKill(k: Kernel, cg: Cgroup): void {
  for (const d of [...cg.subtree()]) {
    if (!d.online) continue;
    for (const t of [...d.tasks]) {
      if (t.flags & PF_KTHREAD) continue;
      // skip tasks that are already dying (__fatal_signal_pending): in the model they are gone
      if (!t.alive || t.signal.groupExit) continue;
      sendSigProcess(k, t, SIGKILL);
    }
  }
}

/** cgroup.kill write: 0 or -errno */
export function cgroupKillWrite(k: Kernel, cg: Cgroup, text: string): number {
  const r = kstrtoint(strstrip(text));
  if ('err' in r) return r.err;
  if (r.value !== 1) return -ERANGE;
  // killing is process directed: only in non-threaded cgroups (like cgroup.procs)
  if (cg.threaded) return -EOPNOTSUPP;
  cgroupKill(k, cg);
  return 0;
}

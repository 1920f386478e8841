/**
 * ioprio_set / ioprio_get (block/ioprio.c and include/linux/ioprio.h, current
 * mainline: /tmp/research/notes.md Q1-Q2, read in the block tree's block/ioprio.c @
 * 8bd42265 and torvalds block/blk-ioc.c @ f39b6c46). Exposed as
 * `k.ioprio_set(task, which, who, ioprio)` and `k.ioprio_get(task, which, who)`, and
 * as the functions ioprioSet/ioprioGet(k, ...).
 *
 * ioprio_set, in the kernel's order:
 *   1. ioprio_check_cap (6.15+, after c0d0a9ff6d5b): class RT needs CAP_SYS_ADMIN or
 *      CAP_SYS_NICE (-EPERM); BE and IDLE take any level and hint; NONE only level 0
 *      (-EINVAL otherwise; hint bits are not checked); classes 4..7 -EINVAL. This comes
 *      before `which`, so a bad ioprio with a bad `which` is the ioprio's error.
 *   2. which: PROCESS (who 0 = the caller; a thread id works), PGRP (who 0 = the
 *      caller's group; every thread of the group, stopping at the first error), USER
 *      (who = a real uid; every thread whose real uid matches; who 0 means uid 0, not
 *      the caller's uid: a quirk of the code, kept); anything else -EINVAL. Nothing
 *      found: -ESRCH (also for uid 4294967295, and a uid no task has: find_user).
 *   3. per task, set_task_ioprio: the target's real uid must equal the caller's euid
 *      or real uid, or the caller has CAP_SYS_NICE (-EPERM); then blk-ioc.ts installs
 *      the priority (an exiting target without an io_context: 0, nothing set).
 *
 * ioprio_get: PROCESS returns the RAW value (ioc->ioprio, or IOPRIO_DEFAULT = 0 with
 * no io_context: "historical behavior", so user space can tell "unset" from a set
 * priority); PGRP and USER return the EFFECTIVE value of each thread (__get_task_ioprio:
 * class NONE or no io_context gives the nice-derived class/level) combined with min()
 * over the raw 16-bit values (RT beats BE beats IDLE; a lower level wins), and USER with
 * who 0 matches the caller's uid there (unlike ioprio_set).
 *
 * The model has no nice values or scheduling policies: every task is SCHED_NORMAL at
 * nice 0, so the nice-derived priority is always BE/4 (task_nice_ioclass ->
 * IOPRIO_CLASS_BE, task_nice_ioprio = (0 + 20) / 5 = 4). Which kernel: the no-io_context
 * case is nice-derived, except in releases with ioprio_default_without_ioc (release.ts:
 * 53889bcaf536 in 6.8 until e2ba58ccc909 in 6.17, so 6.12 here), where it is
 * IOPRIO_DEFAULT.
 */
import { EINVAL, EPERM, ESRCH } from '../../kernel/errno.js';
import { KwqError } from '../../kernel/error.js';
import { CAP_SYS_ADMIN, CAP_SYS_NICE } from '../../kernel/cred.js';
import { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { setTaskIoprioLocked, taskIoContext } from './blk-ioc.js';
import {
  IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_NONE, IOPRIO_CLASS_SHIFT, IOPRIO_CLASS_RT, IOPRIO_DEFAULT, IOPRIO_PRIO_CLASS,
  IOPRIO_PRIO_LEVEL, IOPRIO_PRIO_VALUE, IOPRIO_WHO_PGRP, IOPRIO_WHO_PROCESS, IOPRIO_WHO_USER,
} from './ioprio-uapi.js';
import { pgrpThreads, taskPgrp } from './ioprio-pgrp.js';

/** INVALID_UID as user space passes it: (uid_t)-1 */
const INVALID_UID = 4294967295;

/** task_nice_ioprio: (nice + 20) / 5; the model's tasks all run at nice 0. */
export function taskNiceIoprio(_task: Task): number {
  return (0 + 20) / 5; // integer division in C: exact for nice 0
}

/** task_nice_ioclass: SCHED_IDLE -> IDLE, RT/DL -> RT, else BE; the model's tasks are all SCHED_NORMAL. */
export function taskNiceIoclass(_task: Task): number {
  return IOPRIO_CLASS_BE;
}

/**
 * __get_task_ioprio: the effective priority: the nice-derived one for class NONE or no
 * io_context; IOPRIO_DEFAULT for no io_context in releases with ioprio_default_without_ioc.
 */
export function getTaskIoprio(task: Task): number {
  const ioc = taskIoContext(task);
  if (ioc === null && (task.kernel as Kernel).has('ioprio_default_without_ioc')) return IOPRIO_DEFAULT;
  if (ioc === null || IOPRIO_PRIO_CLASS(ioc.ioprio) === IOPRIO_CLASS_NONE) {
    // IOPRIO_PRIO_VALUE without its range checks: both values are in range by construction
    return (taskNiceIoclass(task) << IOPRIO_CLASS_SHIFT) | taskNiceIoprio(task);
  }
  return ioc.ioprio;
}

/** get_task_raw_ioprio: ioc->ioprio, or IOPRIO_DEFAULT without an io_context. */
export function getTaskRawIoprio(task: Task): number {
  return taskIoContext(task)?.ioprio ?? IOPRIO_DEFAULT;
}

/** ioprio_check_cap (6.15+): 0 or -errno. */
export function ioprioCheckCap(current: Task, ioprio: number): number {
  const level = IOPRIO_PRIO_LEVEL(ioprio);
  switch (IOPRIO_PRIO_CLASS(ioprio)) {
    case IOPRIO_CLASS_RT:
      // CAP_SYS_ADMIN first, "to avoid a denial/avc for possibly missing CAP_SYS_NICE"
      if (!current.cred.capable(CAP_SYS_ADMIN) && !current.cred.capable(CAP_SYS_NICE)) return -EPERM;
      return 0;
    case IOPRIO_CLASS_BE:
    case IOPRIO_CLASS_IDLE:
      return 0;
    case IOPRIO_CLASS_NONE:
      return level ? -EINVAL : 0;
    default:
      return -EINVAL;
  }
}

/** set_task_ioprio: the permission check, then blk-ioc. */
export function setTaskIoprio(k: Kernel, current: Task, task: Task, ioprio: number): number {
  const cred = current.cred;
  const tuid = task.cred.uid;
  if (tuid !== cred.euid && tuid !== cred.uid && !cred.capable(CAP_SYS_NICE)) return -EPERM;
  // security_task_setioprio: no LSM in the model
  return setTaskIoprioLocked(k, task, ioprio);
}

function intArg(where: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new KwqError(where, `${name} must be an int, got ${v}`);
}

/** find_user(uid): some live task has this real uid */
function userExists(k: Kernel, uid: number): boolean {
  for (const t of k.tasks()) if (t.cred.uid === uid) return true;
  return false;
}

/** ioprio_set(which, who, ioprio) by `current`: 0 or -errno. */
export function ioprioSet(k: Kernel, current: Task, which: number, who: number, ioprio: number): number {
  intArg('ioprio_set', 'which', which);
  intArg('ioprio_set', 'who', who);
  intArg('ioprio_set', 'ioprio', ioprio);
  return k.syscall('ioprio_set', current, () => {
    const cap = ioprioCheckCap(current, ioprio);
    if (cap) return cap;
    let ret = -ESRCH;
    switch (which) {
      case IOPRIO_WHO_PROCESS: {
        const p = who ? k.taskByPid(who) ?? undefined : current;
        if (p !== undefined) ret = setTaskIoprio(k, current, p, ioprio);
        break;
      }
      case IOPRIO_WHO_PGRP: {
        const pgid = who ? who : taskPgrp(k, current);
        if (who < 0) break; // find_vpid(negative): no such pid
        for (const p of pgrpThreads(k, pgid)) {
          ret = setTaskIoprio(k, current, p, ioprio);
          if (ret) break; // goto out: the first error ends the walk
        }
        break;
      }
      case IOPRIO_WHO_USER: {
        const uid = who >>> 0; // make_kuid(current_user_ns(), who): the model has one user namespace
        if (uid === INVALID_UID) break;
        if (who && !userExists(k, uid)) break;
        for (const p of k.tasks()) {
          if (p.cred.uid !== uid) continue;
          ret = setTaskIoprio(k, current, p, ioprio);
          if (ret) break;
        }
        break;
      }
      default:
        ret = -EINVAL;
    }
    return ret;
  }) as number;
}

/** ioprio_get(which, who) by `current`: the priority (>= 0) or -errno. */
export function ioprioGet(k: Kernel, current: Task, which: number, who: number): number {
  intArg('ioprio_get', 'which', which);
  intArg('ioprio_get', 'who', who);
  return k.syscall('ioprio_get', current, () => {
    let ret = -ESRCH;
    const combine = (p: Task): void => {
      const tmpio = getTaskIoprio(p);
      ret = ret === -ESRCH ? tmpio : Math.min(ret, tmpio); // ioprio_best: min() of the raw values
    };
    switch (which) {
      case IOPRIO_WHO_PROCESS: {
        const p = who ? k.taskByPid(who) ?? undefined : current;
        if (p !== undefined) ret = getTaskRawIoprio(p);
        break;
      }
      case IOPRIO_WHO_PGRP: {
        if (who < 0) break;
        for (const p of pgrpThreads(k, who ? who : taskPgrp(k, current))) combine(p);
        break;
      }
      case IOPRIO_WHO_USER: {
        const uid = who ? who >>> 0 : current.cred.uid; // user->uid: the caller's uid for who 0
        if (who && !userExists(k, uid)) break;
        for (const p of k.tasks()) if (p.cred.uid === uid) combine(p);
        break;
      }
      default:
        ret = -EINVAL;
    }
    return ret;
  }) as number;
}

// k.ioprio_set / k.ioprio_get: the Kernel class gets the two syscalls as methods.
declare module '../../kernel/kernel.js' {
  interface Kernel {
    /** ioprio_set(which, who, ioprio) by `task` (blk-ioc driver): 0 or -errno */
    ioprio_set(task: Task, which: number, who: number, ioprio: number): number;
    /** ioprio_get(which, who) by `task` (blk-ioc driver): the priority or -errno */
    ioprio_get(task: Task, which: number, who: number): number;
  }
}
Kernel.prototype.ioprio_set = function ioprio_set(this: Kernel, task: Task, which: number, who: number, ioprio: number): number {
  return ioprioSet(this, task, which, who, ioprio);
};
Kernel.prototype.ioprio_get = function ioprio_get(this: Kernel, task: Task, which: number, who: number): number {
  return ioprioGet(this, task, which, who);
};

/**
 * do_exit / do_group_exit / release_task (kernel/exit.c), reduced: exiting tasks are
 * reaped at once (the model keeps no zombies and has no wait()). A task's exit
 * drops its mm (the last mm_users reference tears the address space down and
 * uncharges its anon pages), its fd table (the last sharer closes every fd; the last
 * close of a file runs its release), its fs, its cgroup membership and pids charge,
 * and its RLIMIT_NPROC count; then the drivers' exit hooks run (task-hooks.ts, where
 * do_exit calls exit_io_context) and sched_process_exit fires.
 *
 * Divergence: the kernel fires trace_sched_process_exit early in do_exit (after exit_mm
 * and before exit_files up to 6.15; before exit_mm since 6.16); the model fires it last,
 * once the task is gone, so a listener sees the final state (cgroup counters dropped).
 */
import type { Kernel } from './kernel.js';
import { mmdrop, mmput } from './mm.js';
import { PF_EXITING } from './sched.js';
import type { Task } from './task.js';
import { pidsUncharge } from './cgroup/cgroup-core.js';
import { unchargeMm } from './memcontrol.js';
import { taskHooksExit } from './task-hooks.js';
import { setGroupStopped, sharedPendingDel } from './signal-struct.js';

/** do_exit(code): one thread. */
export function doExit(k: Kernel, t: Task, code: number): void {
  if (!t.alive) return;
  t.flags |= PF_EXITING;
  t.exitCode = code;
  if (t.thread !== null) k.rt.killThread(t.thread);
  // exit_mm: a kthread that borrowed an mm (kthread_use_mm) only holds mm_count
  const mm = t.mm;
  t.mm = null;
  if (mm !== null) {
    if (t.isKthread) mmdrop(mm);
    else {
      if (mm.owner === t) {
        // mm_update_next_owner: another live user of the mm becomes its owner
        mm.owner = null;
        for (const o of k.taskTable.values()) {
          if (o !== t && o.alive && o.mm === mm) {
            mm.owner = o;
            break;
          }
        }
      }
      mmput(mm, (m) => unchargeMm(k, m));
    }
  }
  // exit_files, exit_fs
  if (t.files !== null) {
    const files = t.files;
    t.files = null;
    files.put(k);
  }
  t.fs.users--;
  t.activeMemcg = null;
  t.blkcgCss = null;
  // exit_notify + release_task
  t.alive = false;
  t.signal.threads.delete(t);
  // the group's pending signals die with its last thread (__exit_signal frees signal_struct's queue)
  if (t.signal.threads.size === 0) {
    sharedPendingDel(k, t.signal, ~0);
    setGroupStopped(k, t.signal, false);
  }
  for (const cg of t.cgroups) {
    cg.tasks.delete(t);
    if (cg.root.controllers.has('pids')) pidsUncharge(cg, 1);
  }
  const uid = t.cred.uid;
  const left = (k.ucounts.get(uid) ?? 0) - 1;
  if (left > 0) k.ucounts.set(uid, left);
  else k.ucounts.delete(uid);
  k.nrThreads--;
  k.taskTable.delete(t.pid);
  k.rememberExited(t);
  t.parent?.children.delete(t);
  // forget_original_parent: children go to init
  for (const c of t.children) {
    c.parent = k.init.alive ? k.init : null;
    if (c.parent !== null) c.parent.children.add(c);
  }
  t.children.clear();
  // the drivers' part of do_exit, where exit_io_context runs: after exit_notify
  taskHooksExit(k, t);
  const tp = k.tp.processExit;
  if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, pid: t.pid, tgid: t.tgid, comm: t.comm, code });
}

/**
 * A fatal signal reaches a thread: a PF_USER_WORKER thread runs its SIGKILL handler
 * first (vhost_task_fn: get_signal() returned true and STOP is not set), then exits.
 */
export function exitOnFatalSignal(k: Kernel, t: Task, code: number): void {
  if (!t.alive) return;
  if (t.handleSigkill !== null && !t.workerStopping) {
    const h = t.handleSigkill;
    t.handleSigkill = null;
    h(t);
  }
  doExit(k, t, code);
}

/** do_group_exit: every thread of the process exits (user workers through their kill path). */
export function doGroupExit(k: Kernel, t: Task, code: number): void {
  const sig = t.signal;
  if (!sig.groupExit) {
    sig.groupExit = true;
    sig.groupExitCode = code;
  }
  // other threads first, the caller last (zap_other_threads, then do_exit)
  for (const th of [...sig.threads]) if (th !== t) exitOnFatalSignal(k, th, code);
  if (t.alive) doExit(k, t, code);
}

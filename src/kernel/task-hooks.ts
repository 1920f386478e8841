/**
 * Task hooks: where a driver's per-task state joins fork and exit.
 *
 * In the kernel, subsystems that keep state in task_struct are called by name from
 * copy_process and do_exit (copy_io / exit_io_context for the block layer's
 * io_context, copy_semundo / exit_sem, ...). The model keeps drivers out of
 * src/kernel, so a driver registers the pair instead, once, at import time:
 *
 *   registerTaskHooks({
 *     name: 'blk_ioc',
 *     copyProcess(k, current, child, cloneFlags) { return copyIo(...); },  // 0 | -errno
 *     exit(k, task) { exitIoContext(k, task); },
 *   });
 *
 * Where they run (kernel/fork.c, kernel/exit.c):
 *
 *   copy_process   flag checks -> signal pending -> RLIMIT_NPROC -> max_threads
 *                  -> copy_files/fs/sighand/signal/mm/namespaces
 *                  -> copyProcess hooks, in registration order        (copy_io's place)
 *                  -> alloc_pid -> cgroup_can_fork (pids.max)
 *                  -> point of no return: the child is linked and visible
 *   do_exit        PF_EXITING -> exit_mm -> exit_files -> exit_fs -> cgroup_exit
 *                  -> exit_notify (reaped at once in the model)
 *                  -> exit hooks, in reverse registration order        (exit_io_context's place)
 *                  -> sched_process_exit tracepoint (model: last)
 *
 * Rules:
 * - `copyProcess` returns 0 or -errno. A -errno fails the fork with that errno; the
 *   hooks that already succeeded get `exit(k, child)` in reverse order, as
 *   copy_process's bad_fork_cleanup_io calls exit_io_context. The same happens when a
 *   later step fails (pids.max): every hook's `exit` runs for the half-made child. So
 *   `exit` must undo exactly what `copyProcess` did; a rejected fork changes nothing.
 * - `child` during copyProcess: its pid is the one alloc_pid will give it, its mm, fs,
 *   files, signal, cred, nsproxy and cgroups are set; it is not yet in the task table,
 *   not in its cgroups and has no runtime thread. Do not create tasks from a hook.
 * - `task` during exit: `alive` is already false and PF_EXITING is set; its mm and
 *   files are gone. `exit` runs once for every task that exits (and for the half-made
 *   child of a failed fork), so it must do nothing for a task it holds nothing for.
 * - Hooks never throw for conditions the kernel reports; a hook that throws is a bug
 *   (the KwqError reaches the caller of fork/exit).
 *
 * Cost: fork and exit each walk the (short) hook array; nothing is allocated and no
 * tracepoint is enabled by a hook.
 */
import { KwqError } from './error.js';
import type { Kernel } from './kernel.js';
import type { Task } from './task.js';

export interface TaskHooks {
  /** a name for error messages and unregisterTaskHooks ([a-z_][a-z0-9_]*) */
  readonly name: string;
  /** copy_process, at copy_io's place: 0 or -errno (the fork fails with it) */
  copyProcess?(k: Kernel, current: Task, child: Task, cloneFlags: number): number;
  /** do_exit at exit_io_context's place, and the undo of copyProcess for a failed fork */
  exit?(k: Kernel, task: Task): void;
}

const hooks: TaskHooks[] = [];

export function registerTaskHooks(h: TaskHooks): void {
  if (h === null || typeof h !== 'object') throw new KwqError('registerTaskHooks', 'expected an object { name, copyProcess?, exit? }');
  if (typeof h.name !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(h.name)) {
    throw new KwqError('registerTaskHooks', `bad name ${JSON.stringify(h.name)}: use [a-z_][a-z0-9_]*`);
  }
  if (h.copyProcess !== undefined && typeof h.copyProcess !== 'function') throw new KwqError('registerTaskHooks', `${h.name}: copyProcess must be a function`);
  if (h.exit !== undefined && typeof h.exit !== 'function') throw new KwqError('registerTaskHooks', `${h.name}: exit must be a function`);
  if (hooks.some((o) => o.name === h.name)) throw new KwqError('registerTaskHooks', `task hooks '${h.name}' are already registered`);
  hooks.push(h);
}

/** For tests: remove the hooks registered under `name` (true if there were some). */
export function unregisterTaskHooks(name: string): boolean {
  const i = hooks.findIndex((o) => o.name === name);
  if (i < 0) return false;
  hooks.splice(i, 1);
  return true;
}

/**
 * copy_process's call: run every copyProcess hook; on the first -errno, undo the
 * ones that succeeded (their exit, in reverse) and return it. 0 when all passed.
 */
export function taskHooksCopyProcess(k: Kernel, current: Task, child: Task, cloneFlags: number): number {
  for (let i = 0; i < hooks.length; i++) {
    const h = hooks[i]!;
    if (h.copyProcess === undefined) continue;
    const r = h.copyProcess(k, current, child, cloneFlags);
    if (r === 0) continue;
    if (!Number.isInteger(r) || r > 0) throw new KwqError(`task hooks '${h.name}': copyProcess`, `returned ${String(r)}: expected 0 or -errno`);
    taskHooksExit(k, child, i);
    return r;
  }
  return 0;
}

/** do_exit's call (and bad_fork_cleanup_io's): the exit hooks of hooks[0 .. upTo) in reverse order. */
export function taskHooksExit(k: Kernel, task: Task, upTo: number = hooks.length): void {
  for (let i = Math.min(upTo, hooks.length) - 1; i >= 0; i--) hooks[i]!.exit?.(k, task);
}

/**
 * blk-ioc's part of fork and exit, and its registration.
 *
 * The kernel model offers drivers no copy_process/do_exit hook yet (docs/kernel-api.md
 * lists none), so this file attaches to the two tracepoints that fire synchronously
 * in those paths, at boot (module init), before any user listener:
 *
 *   task_newtask        (end of copy_process)  pgrp inheritance, copy_io
 *   sched_process_exit  (end of do_exit)       exit_io_context
 *
 * The order matches the kernel where it matters: copy_io runs before the child can
 * issue anything, and exit_io_context runs after exit_files (the kernel calls it late
 * in do_exit), so I/O issued while closing files on exit still finds the context.
 *
 * task_newtask does not name the creating thread. For a new process it is the
 * parent; for a new thread (CLONE_THREAD: k.clone, vhost_task_create) the parent is
 * the group leader's parent, so the thread that called is recorded around
 * Kernel.prototype.clone and .userWorkerCreate. A copy_process hook in the kernel
 * would replace both (see the report).
 */
import { Kernel } from '../../kernel/kernel.js';
import { registerModule } from '../../kernel/module.js';
import { CLONE_THREAD } from '../../kernel/sched.js';
import type { Task } from '../../kernel/task.js';
import { blkIocState, copyIo, exitIoContext } from './blk-ioc.js';
import { pgrpFork } from './ioprio-pgrp.js';

/** threads inside k.clone / k.userWorkerCreate, innermost last */
const creating: Task[] = [];

type Creator = (this: Kernel, task: Task, ...rest: unknown[]) => unknown;
const proto = Kernel.prototype as unknown as Record<'clone' | 'userWorkerCreate', Creator>;
for (const name of ['clone', 'userWorkerCreate'] as const) {
  const orig = proto[name];
  proto[name] = function (this: Kernel, task: Task, ...rest: unknown[]): unknown {
    creating.push(task);
    try {
      return orig.call(this, task, ...rest);
    } finally {
      creating.pop();
    }
  };
}

function installHooks(k: Kernel): void {
  k.trace.on('task_newtask', (ev) => {
    const p = k.task(ev['pid'] as number);
    if (p === undefined) return;
    const flags = (ev['cloneFlags'] as number) >>> 0;
    const top = creating[creating.length - 1];
    // the creating thread: recorded by the wrappers; else the parent (fork, spawn, kthread_create)
    const current = top !== undefined && top.kernel === k && (!(flags & CLONE_THREAD) || top.signal === p.signal) ? top : p.parent;
    if (current === null) return;
    pgrpFork(k, current, p);
    copyIo(k, current, p, flags);
  });
  k.trace.on('sched_process_exit', (ev) => {
    const t = blkIocState(k).holders.get(ev['pid'] as number);
    if (t !== undefined) exitIoContext(k, t);
  });
}

// blk-ioc is part of the block core, not a loadable module; the module entry is the
// model's way to run code at boot.
registerModule({ name: 'blk_ioc', init: installHooks });

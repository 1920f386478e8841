/**
 * blk-ioc's part of fork and exit, and its registration.
 *
 * The kernel model offers drivers no copy_process/do_exit hook yet (docs/kernel-api.md
 * lists none), so:
 *
 *   fork  the four Kernel methods that call copy_process (spawn, clone (fork goes
 *         through it), kthreadCreate, userWorkerCreate) are wrapped once, at import:
 *         when the original returns a new task, copy_io and the pgrp inheritance run
 *         for (creating thread, child, clone flags). The child cannot issue I/O in
 *         between, so this is copy_io's effect at copy_io's time. The task_newtask
 *         tracepoint is NOT used: it would stay enabled for everyone.
 *   exit  do_exit has no method to wrap (k.exit, kill, OOM kill, kthread/user-worker
 *         stop all end in exit.ts's doExit), so exit_io_context runs from a
 *         sched_process_exit listener, attached at boot. It fires at the end of
 *         do_exit, after exit_files: where the kernel calls exit_io_context too (late
 *         in do_exit), so I/O issued while closing files on exit still finds it.
 *
 * A copy_process/do_exit hook in the kernel would replace both (see the report).
 */
import { Kernel, type SpawnOptions } from '../../kernel/kernel.js';
import { registerModule } from '../../kernel/module.js';
import { CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_UNTRACED, CLONE_VM } from '../../kernel/sched.js';
import { Task } from '../../kernel/task.js';
import { blkIocState, copyIo, exitIoContext } from './blk-ioc.js';
import { pgrpFork } from './ioprio-pgrp.js';

/** after copy_process made `child` for `current` with `flags` */
function forkHook(k: Kernel, current: Task, child: unknown, flags: number): void {
  if (!(child instanceof Task)) return;
  pgrpFork(k, current, child);
  copyIo(k, current, child, flags >>> 0);
}

type Method = (this: Kernel, ...args: unknown[]) => unknown;
const proto = Kernel.prototype as unknown as Record<'spawn' | 'clone' | 'kthreadCreate' | 'userWorkerCreate', Method>;

const origSpawn = proto.spawn;
proto.spawn = function (this: Kernel, ...args: unknown[]): unknown {
  const child = origSpawn.apply(this, args);
  forkHook(this, (args[0] as SpawnOptions | undefined)?.parent ?? this.init, child, 0);
  return child;
};
const origClone = proto.clone;
proto.clone = function (this: Kernel, ...args: unknown[]): unknown {
  const child = origClone.apply(this, args);
  forkHook(this, args[0] as Task, child, args[1] as number);
  return child;
};
const origKthreadCreate = proto.kthreadCreate;
proto.kthreadCreate = function (this: Kernel, ...args: unknown[]): unknown {
  const child = origKthreadCreate.apply(this, args);
  forkHook(this, this.kthreadd, child, CLONE_FS | CLONE_FILES);
  return child;
};
const origUserWorkerCreate = proto.userWorkerCreate;
proto.userWorkerCreate = function (this: Kernel, ...args: unknown[]): unknown {
  const child = origUserWorkerCreate.apply(this, args);
  // vhost_task_create's flags: no CLONE_IO
  forkHook(this, args[0] as Task, child, CLONE_THREAD | CLONE_VM | CLONE_FS | CLONE_SIGHAND | CLONE_UNTRACED);
  return child;
};

function installExitHook(k: Kernel): void {
  k.trace.on('sched_process_exit', (ev) => {
    const t = blkIocState(k).holders.get(ev['pid'] as number);
    if (t !== undefined) exitIoContext(k, t);
  });
}

// blk-ioc is part of the block core, not a loadable module; the module entry is the
// model's way to run code at boot.
registerModule({ name: 'blk_ioc', init: installExitHook });

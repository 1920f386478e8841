/**
 * The io_uring driver, registered at import (src/index.ts imports this file once):
 * the syscalls io_uring_setup / io_uring_enter / io_uring_register as Kernel methods,
 * the io-wq teardown at task exit (a task hook at exit_io_context's place: the kernel's
 * io_uring_files_cancel / io_uring_task_cancel run from do_exit), and the model
 * switches sizing the io_uring engine (src/wasm/io-wq.ts):
 *
 *   kwq.io_uring_tasks    io_wq structs (tasks that use io_uring at once), default 256
 *   kwq.io_wq_works       io_wq_work arena (requests in io-wq at once), default 16384
 *   kwq.io_uring_rings    ring objects (io_uring instances at once), default 64
 *   kwq.io_uring_entries  the most sq_entries a ring holds, default 1024 (kernel: 32768)
 *   kwq.io_wq_idle_ms     WORKER_IDLE_TIMEOUT in ms, default 5000 (the kernel's 5 * HZ):
 *                         for tests that watch idle workers leave on the wall clock
 *   kwq.io_wq_threads     runtime 'threads': the most io-wq worker threads at once, default 64
 *
 * In the threads runtime io-wq's workers are real worker_threads (io-wq-threads.ts);
 * ioWqThreadCount / ioWqThreadsIdle / ioWqThreadErrors / ioWqThreadChecks inspect them.
 */
import { registerKwqSwitch } from '../../kernel/module.js';
import { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { registerTaskHooks } from '../../kernel/task-hooks.js';
import { IoUringState, ioUringEnter, ioUringRegister, ioUringSetup, ioUringTaskExit } from './io_uring.js';
import type { IoWqThreadChecks } from './io-wq-threads.js';
import type { IoUringParams } from './uapi.js';

registerKwqSwitch('io_uring_tasks', { type: 'uint', default: 256, min: 1, max: 65536, description: 'io_wq structs in the io_uring Wasm engine (tasks using io_uring at once; more: -ENOMEM)' });
registerKwqSwitch('io_wq_works', { type: 'uint', default: 16384, min: 64, max: 1 << 20, description: 'io_wq_work arena capacity (requests in io-wq at once; more: the CQE is -ENOMEM)' });
registerKwqSwitch('io_uring_rings', { type: 'uint', default: 64, min: 1, max: 4096, description: 'io_uring ring objects (instances at once; more: io_uring_setup -ENOMEM)' });
registerKwqSwitch('io_uring_entries', { type: 'uint', default: 1024, min: 8, max: 32768, description: 'the most sq_entries one io_uring ring holds (a power of 2; more: io_uring_setup -ENOMEM)' });
registerKwqSwitch('io_wq_idle_ms', { type: 'uint', default: 5000, min: 1, max: 3_600_000, description: 'WORKER_IDLE_TIMEOUT of io-wq workers in ms (the kernel: 5 * HZ, 5000)' });
registerKwqSwitch('io_wq_threads', { type: 'uint', default: 64, min: 1, max: 1024, description: "most io-wq worker threads at once (runtime 'threads' only; more: worker creation fails as with -ENOMEM, not retried)" });

registerTaskHooks({
  name: 'io_uring',
  exit(k, task) {
    ioUringTaskExit(k, task);
  },
});

declare module '../../kernel/kernel.js' {
  interface Kernel {
    /** io_uring_setup(entries, params) by `task`: an fd or -errno; fills params (sq_entries, cq_entries, features, sq_off, cq_off) */
    io_uring_setup(task: Task, entries: number, params?: IoUringParams): number;
    /** io_uring_enter(fd, to_submit, min_complete, flags): SQEs submitted or -errno */
    io_uring_enter(task: Task, fd: number, toSubmit: number, minComplete: number, flags: number): number;
    /** io_uring_register(fd, opcode, arg, nr_args): 0 or -errno (IORING_REGISTER_IOWQ_MAX_WORKERS: arg is u32[2], written back) */
    io_uring_register(task: Task, fd: number, opcode: number, arg: unknown, nrArgs: number): number;
  }
}
Kernel.prototype.io_uring_setup = function io_uring_setup(this: Kernel, task: Task, entries: number, params: IoUringParams = {}): number {
  return ioUringSetup(this, task, entries, params);
};
Kernel.prototype.io_uring_enter = function io_uring_enter(this: Kernel, task: Task, fd: number, toSubmit: number, minComplete: number, flags: number): number {
  return ioUringEnter(this, task, fd, toSubmit, minComplete, flags);
};
Kernel.prototype.io_uring_register = function io_uring_register(this: Kernel, task: Task, fd: number, opcode: number, arg: unknown, nrArgs: number): number {
  return ioUringRegister(this, task, fd, opcode, arg, nrArgs);
};

export * from './uapi.js';
export { IoUring, type IoUringCqe } from './liburing.js';
export { ioUringTaskWq, ioUringSetCosts, IoUringState, DEFAULT_IO_URING_COSTS, type IoUringCosts } from './io_uring.js';
export { WORKER_IDLE_TIMEOUT_S, WORKER_INIT_LIMIT, type IoWqInfo } from './io-wq.js';
export type { IoWqWorker } from './io-wq.js';
export type { IoWqThreadChecks } from './io-wq-threads.js';

/** io-wq worker threads alive now (runtime 'threads'; 0 in sim). */
export function ioWqThreadCount(k: Kernel): number {
  return IoUringState.peek(k)?.threads?.threadCount ?? 0;
}

/**
 * Resolve true once every io-wq worker thread that is leaving (io_wq exit, k.shutdown(),
 * idle timeout) has exited, with no failure recorded; false on timeout or failure
 * (ioWqThreadErrors says which).
 */
export async function ioWqThreadsIdle(k: Kernel, timeoutMs = 10_000): Promise<boolean> {
  const t = IoUringState.peek(k)?.threads;
  if (t === undefined || t === null) return true;
  return (await t.idle(timeoutMs)) && t.errors.length === 0;
}

/** Failures on the io-wq threads' unawaited paths (thread errors, stops that timed out); [] when all is well. */
export function ioWqThreadErrors(k: Kernel): readonly string[] {
  return IoUringState.peek(k)?.threads?.errors ?? [];
}

/** What the main thread checked on the works the io-wq threads handed it (runtime 'threads'; null in sim). */
export function ioWqThreadChecks(k: Kernel): Readonly<IoWqThreadChecks & { started: number; exited: number }> | null {
  const t = IoUringState.peek(k)?.threads;
  return t ? { ...t.checks, started: t.started, exited: t.exitedCount } : null;
}

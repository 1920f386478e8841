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
 */
import { registerKwqSwitch } from '../../kernel/module.js';
import { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { registerTaskHooks } from '../../kernel/task-hooks.js';
import { ioUringEnter, ioUringRegister, ioUringSetup, ioUringTaskExit } from './io_uring.js';
import type { IoUringParams } from './uapi.js';

registerKwqSwitch('io_uring_tasks', { type: 'uint', default: 256, min: 1, max: 65536, description: 'io_wq structs in the io_uring Wasm engine (tasks using io_uring at once; more: -ENOMEM)' });
registerKwqSwitch('io_wq_works', { type: 'uint', default: 16384, min: 64, max: 1 << 20, description: 'io_wq_work arena capacity (requests in io-wq at once; more: the CQE is -ENOMEM)' });
registerKwqSwitch('io_uring_rings', { type: 'uint', default: 64, min: 1, max: 4096, description: 'io_uring ring objects (instances at once; more: io_uring_setup -ENOMEM)' });
registerKwqSwitch('io_uring_entries', { type: 'uint', default: 1024, min: 8, max: 32768, description: 'the most sq_entries one io_uring ring holds (a power of 2; more: io_uring_setup -ENOMEM)' });

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

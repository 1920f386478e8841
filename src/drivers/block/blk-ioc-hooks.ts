/**
 * blk-ioc's part of fork and exit, through the kernel's task hooks
 * (src/kernel/task-hooks.ts):
 *
 *   copy_process  at copy_io's place (after RLIMIT_NPROC and max_threads, before
 *                 cgroup_can_fork): the process group is inherited (the child of a
 *                 fork joins the creator's pgrp) and copy_io runs for (creating thread,
 *                 child, clone flags). kthread_create passes kthreadd as the creator,
 *                 vhost_task_create the owner with its flags (no CLONE_IO).
 *   exit          where do_exit calls exit_io_context (after exit_notify); also
 *                 bad_fork_cleanup_io: a fork that fails later (pids.max) drops the
 *                 io_context copy_io gave the half-made child.
 *
 * No tracepoint is enabled by blk-ioc: task_newtask and sched_process_exit stay off
 * until someone listens.
 */
import { registerTaskHooks } from '../../kernel/task-hooks.js';
import { copyIo, exitIoContext } from './blk-ioc.js';
import { pgrpFork } from './ioprio-pgrp.js';

registerTaskHooks({
  name: 'blk_ioc',
  copyProcess(k, current, child, cloneFlags) {
    pgrpFork(k, current, child);
    // __copy_io's only failure is -ENOMEM from alloc_io_context; the model's allocation cannot fail
    copyIo(k, current, child, cloneFlags >>> 0);
    return 0;
  },
  exit(k, task) {
    exitIoContext(k, task);
  },
});

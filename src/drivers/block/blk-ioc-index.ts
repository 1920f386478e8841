/**
 * blk-ioc and ioprio: importing this file registers copy_io / exit_io_context as
 * the kernel's task hooks (src/kernel/task-hooks.ts, via blk-ioc-hooks.ts), adds
 * k.ioprio_set / k.ioprio_get, and gives the names src/index.ts exports.
 */
import './blk-ioc-hooks.js';

export * from './ioprio-uapi.js';
export { ioprioSet, ioprioGet, getTaskIoprio, getTaskRawIoprio, ioprioCheckCap } from './ioprio.js';
export { setpgid, getpgid } from './ioprio-pgrp.js';
export {
  IoContext, allocIoContext, getIoContext, putIoContext, exitIoContext, copyIo, taskIoContext, iocLookupIcq,
  iocFindGetIcq, iocDestroyIcq, iocClearQueue, ioContextForIssue, ioContextPrepare, ioContextRequestDone, ioContextHolders,
  blkIocState,
} from './blk-ioc.js';
export type { IoIssue } from './blk-ioc.js';
export { IoCq, ICQ_EXITED, ICQ_DESTROYED } from './blk-ioc-icq.js';
export { RequestQueue, blkAllocQueue, blkQueueExit, elevatorSwitch, elevatorHasIcq, ELEVATORS } from './blk-ioc-queue.js';
export type { ElevatorName } from './blk-ioc-queue.js';

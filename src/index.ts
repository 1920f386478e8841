/**
 * kwq's public API: this explicit list is everything that is public.
 * (DESIGN.md, "The public API contract".)
 */

// Drivers register their modules for their side effect (src/kernel never imports a
// driver). The list is wired here as the drivers land, e.g.:
//   import './drivers/vhost/index.js';
//   import './drivers/loop/index.js';

export { Kernel } from './kernel/kernel.js';
export type { BootOptions, SpawnOptions, Stat } from './kernel/kernel.js';
export { Task } from './kernel/task.js';
// the release table (issue 9): Kernel.boot({ release }) and what each release has
export {
  RELEASES, DEFAULT_RELEASE, FEATURES, UNGATED_CHANGES, releaseHas, parseRelease, releaseNames, listFeatures, featureInfo,
} from './kernel/release.js';
export type { Release, Feature, FeatureInfo, ReleaseCommit } from './kernel/release.js';
export { KwqError } from './kernel/error.js';
export * from './kernel/errno.js';
export { _IOC, _IO, _IOR, _IOW, _IOWR, _IOC_DIR, _IOC_TYPE, _IOC_NR, _IOC_SIZE, _IOC_NONE, _IOC_READ, _IOC_WRITE } from './kernel/ioctl.js';
export {
  CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT, CLONE_THREAD,
  CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS, CLONE_UNTRACED, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
  CLONE_NEWPID, CLONE_NEWNET, CLONE_IO,
  PF_EXITING, PF_IO_WORKER, PF_USER_WORKER, PF_KTHREAD, PF_NOFREEZE, PF_NO_SETAFFINITY, PF_MEMALLOC_NOIO, PF_LOCAL_THROTTLE, PF_NPROC_EXCEEDED,
  TASK_COMM_LEN, pfNames,
} from './kernel/sched.js';
export {
  SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE,
  SIGALRM, SIGTERM, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, sigmask,
} from './kernel/signal-numbers.js';
export {
  RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_RSS, RLIMIT_NPROC, RLIMIT_NOFILE,
  RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_LOCKS, RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_RTPRIO,
  RLIMIT_RTTIME, RLIM_INFINITY,
} from './kernel/rlimit.js';
export type { Rlimit } from './kernel/rlimit.js';
export { CAP_SYS_ADMIN, CAP_SYS_RESOURCE, CAP_NET_ADMIN, CAP_KILL, CAP_SYS_NICE } from './kernel/cred.js';
export {
  O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NONBLOCK, O_DIRECT, O_DIRECTORY, O_CLOEXEC,
} from './kernel/vfs/file.js';
export { S_IFMT, S_IFDIR, S_IFCHR, S_IFBLK, S_IFREG } from './kernel/vfs/inode.js';
export type { TraceEvent, TraceListener } from './kernel/trace.js';
export { registerModule, registerKwqSwitch } from './kernel/module.js';
export type { ModuleSpec, ParamSpec, ParamValue } from './kernel/module.js';

// vhost (issue 4): the modules register at import; the public names live in public.ts
import './drivers/vhost/index.js';
export * from './drivers/vhost/public.js';

// loop (issue 5): the loop and null_blk modules register at import
export {
  LOOP_SET_FD, LOOP_CLR_FD, LOOP_SET_STATUS, LOOP_GET_STATUS, LOOP_SET_STATUS64, LOOP_GET_STATUS64, LOOP_CHANGE_FD,
  LOOP_SET_CAPACITY, LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE, LOOP_CONFIGURE, LOOP_CTL_ADD, LOOP_CTL_REMOVE, LOOP_CTL_GET_FREE,
  LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR, LO_FLAGS_PARTSCAN, LO_FLAGS_DIRECT_IO, LO_NAME_SIZE, LO_KEY_SIZE,
  LOOP_SET_STATUS_SETTABLE_FLAGS, LOOP_SET_STATUS_CLEARABLE_FLAGS, LOOP_CONFIGURE_SETTABLE_FLAGS, LO_CRYPT_NONE,
  LOOP_MAJOR, LOOP_CTRL_MINOR, loopInfo, loopSetWorkers, loopDefaultWorkers, loopThreadCount, loopThreadsIdle, loopThreadErrors,
  IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_FSYNC, IOCB_FLAG_RESFD, IOCB_FLAG_IOPRIO, ioSetup, ioSubmit, ioGetevents, AioContext,
} from './drivers/loop/index.js';
export type { LoopInfo64, LoopConfig, LoopInfo, LoopKthreadInfo, LoopDesign, Iocb, IoEvent } from './drivers/loop/index.js';

// kvm and blk-ioc (issue 6): /dev/kvm registers at import; blk-ioc installs its fork/exit
// hooks at boot and adds k.ioprio_set / k.ioprio_get
import './drivers/kvm/index.js';
import './drivers/block/blk-ioc-index.js';
export {
  KVMIO, KVM_API_VERSION, KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE, KVM_CREATE_VCPU,
  KVM_SET_USER_MEMORY_REGION, KVM_RUN, KVM_CREATE_DEVICE, KVM_SET_DEVICE_ATTR, KVM_GET_DEVICE_ATTR, KVM_HAS_DEVICE_ATTR,
  KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_CREATE_DEVICE_TEST, KVM_DEV_TYPE_VFIO, KVM_DEV_VFIO_FILE,
  KVM_DEV_VFIO_FILE_ADD, KVM_DEV_VFIO_FILE_DEL, KVM_CAP_USER_MEMORY, KVM_CAP_NR_VCPUS, KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_MAX_VCPUS, KVM_CAP_MAX_VCPU_ID, KVM_CAP_CHECK_EXTENSION_VM, KVM_CAP_DEVICE_CTRL, KVM_CAP_READONLY_MEM,
  KVM_CAP_SYNC_MMU, KVM_CAP_IMMEDIATE_EXIT, KVM_EXIT_UNKNOWN, KVM_EXIT_HLT, KVM_X86_DEFAULT_VM, kvmVms, kvmVcpuExitReason,
} from './drivers/kvm/index.js';
export type { KvmInfo, KvmUserspaceMemoryRegion, KvmCreateDevice, KvmDeviceAttr } from './drivers/kvm/index.js';
export {
  IOPRIO_CLASS_SHIFT, IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_INVALID,
  IOPRIO_NR_LEVELS, IOPRIO_BE_NR, IOPRIO_NORM, IOPRIO_BE_NORM, IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER,
  IOPRIO_DEFAULT, IOPRIO_PRIO_CLASS, IOPRIO_PRIO_DATA, IOPRIO_PRIO_LEVEL, IOPRIO_PRIO_HINT, IOPRIO_PRIO_VALUE, ioprioValue,
  ioprioValid, ioprioName, ioprioSet, ioprioGet, getTaskIoprio, getTaskRawIoprio, setpgid, getpgid,
  IoContext, IoCq, RequestQueue, taskIoContext, blkAllocQueue, blkQueueExit, elevatorSwitch, ioContextForIssue,
  ioContextRequestDone, ioContextHolders,
} from './drivers/block/blk-ioc-index.js';
export type { IoIssue, ElevatorName } from './drivers/block/blk-ioc-index.js';

// The engine (issue 2): the Wasm structures over one shared memory, for simulators and
// benchmarks that drive them directly (the drivers above use the same ones).
export { Engine, ObjectArena, WorkArena, VhostWorkerHandle, CounterSet, SyncWords } from './wasm/engine.js';
export type {
  WorkRef, HostHandler, EngineOptions, ArenaSpec, EngineTransferable, VhostWorkerStats,
} from './wasm/engine.js';
export {
  VHOST_WORK_QUEUED, VHOST_FN_NOOP, VHOST_FN_SPIN, VHOST_FN_COUNT, VHOST_FN_COMPLETE, VHOST_FN_HOST,
} from './wasm/layout.js';
export { ThreadRuntime, DEFAULT_WORKER_SPIN } from './runtime/threads.js';
export type {
  VhostWorkerThreadSpec, ProducerMode, RingWait, ProducerThreadSpec, ProducerReport, ThreadCpu, WorkerThreadReport,
} from './runtime/threads.js';
export { RbTree, rbValidate } from './wasm/rbtree.js';
export { LoopEngine, LoopDispatch } from './wasm/loop.js';
export { runLoopThreads } from './runtime/loop-threads.js';
export type { LoopThreadsOptions, LoopThreadsReport } from './runtime/loop-threads.js';

// io_uring and io-wq (issue 12): k.io_uring_setup / io_uring_enter / io_uring_register,
// a liburing-style helper, the uapi names
import './drivers/io_uring/index.js';
export {
  IoUring, ioUringTaskWq, ioUringSetCosts, DEFAULT_IO_URING_COSTS, WORKER_IDLE_TIMEOUT_S, WORKER_INIT_LIMIT, ECANCELED,
  IORING_SETUP_IOPOLL, IORING_SETUP_SQPOLL, IORING_SETUP_SQ_AFF, IORING_SETUP_CQSIZE, IORING_SETUP_CLAMP, IORING_SETUP_ATTACH_WQ,
  IORING_SETUP_R_DISABLED, IORING_SETUP_SUBMIT_ALL, IORING_SETUP_COOP_TASKRUN, IORING_SETUP_TASKRUN_FLAG, IORING_SETUP_SQE128,
  IORING_SETUP_CQE32, IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_DEFER_TASKRUN, IORING_MAX_ENTRIES, IORING_MAX_CQ_ENTRIES,
  IOSQE_FIXED_FILE, IOSQE_IO_DRAIN, IOSQE_IO_LINK, IOSQE_IO_HARDLINK, IOSQE_ASYNC, IOSQE_BUFFER_SELECT, IOSQE_CQE_SKIP_SUCCESS,
  IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_READ, IORING_OP_WRITE, IORING_FSYNC_DATASYNC,
  IORING_ENTER_GETEVENTS, IORING_ENTER_SQ_WAKEUP, IORING_ENTER_SQ_WAIT, IORING_FEAT_SINGLE_MMAP, IORING_FEAT_NODROP,
  IORING_FEAT_NATIVE_WORKERS, IORING_REGISTER_IOWQ_MAX_WORKERS,
} from './drivers/io_uring/index.js';
export type { IoUringParams, IoSqringOffsets, IoCqringOffsets, IoUringCqe, IoUringCosts, IoWqInfo } from './drivers/io_uring/index.js';
export { ioWqThreadCount, ioWqThreadsIdle, ioWqThreadErrors, ioWqThreadChecks, type IoWqThreadChecks } from './drivers/io_uring/index.js';
export { runIoWqThreads } from './runtime/io-wq-threads.js';
export type { IoWqThreadsOptions, IoWqThreadsReport } from './runtime/io-wq-threads.js';

// The real-kernel oracle (issue 9): step scripts, kwq's executor, the comparison, and the
// recorded real answers, for users who check their own scripts (docs/oracle.md)
export { parseScript, loadScriptFile, STEP_SCRIPT_SCHEMA, ORACLE_KERNELS } from './oracle/script.js';
export type { StepScript, Step, Check, Rule, OracleKernel } from './oracle/script.js';
export { runOnModel, ORACLE_MACHINE } from './oracle/model.js';
export { compareScript, compareRecords } from './oracle/compare.js';
export type { StepVerdict } from './oracle/compare.js';
export { readRecorded } from './oracle/recorded.js';
export type { StepRecord, TaskObs } from './oracle/record.js';

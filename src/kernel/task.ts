/**
 * struct task_struct, the fields the model uses. Tasks are created only by
 * copyProcess (fork.ts) and die only through do_exit (exit.ts).
 *
 * Inspection (public): pid, tgid, ppid, comm, flags, uid, cgroup, alive.
 * Everything else is the kernel's internal state, shared between tasks exactly where
 * the kernel shares it:
 *
 *   field      shared by                       (copy_process flag)
 *   cred       the thread group                 CLONE_THREAD
 *   signal     the thread group (rlimits)       CLONE_THREAD
 *   mm         CLONE_VM users (mm_users)        CLONE_VM
 *   fs         CLONE_FS users                   CLONE_FS
 *   files      CLONE_FILES users                CLONE_FILES
 *   nsproxy    everyone until unshare/CLONE_NEW*
 *   cgroups    nobody (css_set copied at fork; a v2 process moves as a whole)
 */
import type { Cred } from './cred.js';
import type { FsStruct } from './fs-struct.js';
import type { MmStruct } from './mm.js';
import type { Nsproxy } from './nsproxy.js';
import { PF_KTHREAD } from './sched.js';
import type { SignalStruct } from './signal-struct.js';
import type { FilesStruct } from './vfs/fdtable.js';
import type { Cgroup, CpuStat } from './cgroup/cgroup.js';
import type { SimThread } from '../runtime/sim-thread.js';

/** What a driver passes to run code when a PF_USER_WORKER thread is killed (vhost_task's handle_sigkill). */
export type SigkillHandler = (task: Task) => void;

export class Task {
  // The fields a call and a thread's wake-up and slice read come first, side by side
  // (V8 lays the fields out in definition order, 8 bytes each after a 24-byte header):
  // with thousands of tasks taking turns each call or slice starts with its task out of
  // cache, and the syscall path (enter, fdget, blkcgOf, the io_context, a request's
  // pid and comm) then reads the first two or three cache lines of it, not four (issue 10)
  alive = true;
  /** the runtime thread when this task runs a body (kthreads, user workers) */
  thread: SimThread | null = null;
  flags: number;
  /** the kernel this task belongs to (calls with another kernel's task throw) */
  readonly kernel: object;
  groupLeader: Task;
  /** null for kthreads and user workers (no_files) */
  files: FilesStruct | null;
  /** Kernel.chargeCpu's cache: the cpu stats of the task's effective cpu cgroup, valid while Kernel.cgroupEpoch is acctEpoch (Kernel.cpuStatOf) */
  acct: CpuStat | null = null;
  acctEpoch = -1;
  /** blkcgOf's cache: the task's effective io cgroup, valid while Kernel.cgroupEpoch is ioCgEpoch */
  ioCg: Cgroup | null = null;
  ioCgEpoch = -1;
  /** kthread_associate_blkcg(): the blkcg this kthread's bios are charged to */
  blkcgCss: Cgroup | null = null;
  /** current->active_memcg (set_active_memcg) */
  activeMemcg: Cgroup | null = null;
  /** block/blk-ioc: task->io_context, owned by the blk-ioc driver */
  ioContext: unknown = null;
  /** (a request records its issuer's pid and comm: blk-ioc.ts ioContextPrepare) */
  comm: string;
  signal: SignalStruct;
  /** this task's cgroup in each mounted hierarchy (index = hierarchy id); its css_set */
  cgroups: Cgroup[];
  /** blocked signals (mask of 1..31); signals pending are the process's (SignalStruct.sharedPending) */
  blocked = 0;
  /** real_parent */
  parent: Task | null;
  readonly children = new Set<Task>();
  cred: Cred;
  /** the address space; null for kthreads (kthread_use_mm sets it while borrowing) */
  mm: MmStruct | null;
  nsproxy: Nsproxy;
  fs: FsStruct;
  exitCode = 0;
  /** PF_USER_WORKER: run when a fatal signal kills the worker (vhost_worker_killed) */
  handleSigkill: SigkillHandler | null = null;
  /** vhost_task's STOP bit: a stop won the race against SIGKILL, the killed handler is skipped */
  workerStopping = false;

  constructor(
    readonly pid: number,
    init: {
      comm: string;
      flags: number;
      parent: Task | null;
      groupLeader: Task | null;
      signal: SignalStruct;
      cred: Cred;
      mm: MmStruct | null;
      nsproxy: Nsproxy;
      fs: FsStruct;
      files: FilesStruct | null;
      cgroups: Cgroup[];
      kernel: object;
    },
  ) {
    this.comm = init.comm;
    this.flags = init.flags;
    this.parent = init.parent;
    this.groupLeader = init.groupLeader ?? this;
    this.signal = init.signal;
    this.cred = init.cred;
    this.mm = init.mm;
    this.nsproxy = init.nsproxy;
    this.fs = init.fs;
    this.files = init.files;
    this.cgroups = init.cgroups;
    this.kernel = init.kernel;
  }

  get tgid(): number {
    return this.groupLeader.pid;
  }
  get ppid(): number {
    return this.groupLeader.parent?.tgid ?? 0;
  }
  get uid(): number {
    return this.cred.uid;
  }
  get isKthread(): boolean {
    return (this.flags & PF_KTHREAD) !== 0;
  }
  get isGroupLeader(): boolean {
    return this.groupLeader === this;
  }
  /** the cgroup path in the first hierarchy (v2: the unified one; v1: the memory hierarchy) */
  get cgroup(): string {
    return this.cgroups[0]?.path ?? '/';
  }
  toString(): string {
    return `${this.comm}[${this.pid}]`;
  }
  /** The inspection fields of the public contract, for JSON and logs (getters are not own properties). */
  toJSON(): { pid: number; tgid: number; ppid: number; comm: string; flags: number; uid: number; cgroup: string; alive: boolean } {
    return { pid: this.pid, tgid: this.tgid, ppid: this.ppid, comm: this.comm, flags: this.flags, uid: this.uid, cgroup: this.cgroup, alive: this.alive };
  }
}

/** set_task_comm: truncate to TASK_COMM_LEN - 1 characters. */
export function commOf(name: string): string {
  return name.slice(0, 15);
}

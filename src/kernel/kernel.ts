/**
 * The kernel: boot, the syscall-shaped public API, and the internal API drivers use
 * (docs/kernel-api.md). Every public call that models a syscall returns what the
 * syscall returns (>= 0 or -errno) and never throws for a condition the kernel
 * reports; misuse of the library (a task of another kernel, a dead task, a malformed
 * option) throws a KwqError naming the call and the problem.
 *
 * A call by task T:  enter (T must be alive and ours) -> the operation -> leave:
 * if T was killed meanwhile (an OOM kill, say) the call returns -EINTR; caught signals
 * pending for T are handled (cleared) as on the return to user space.
 */
import { KwqError } from './error.js';
import {
  EACCES, EBADF, EBUSY, EEXIST, EINTR, EINVAL, EISDIR, ENODEV, ENOENT, ENOIOCTLCMD, ENOTDIR, ENOTTY, EPERM, ERESTARTNOINTR,
} from './errno.js';
import { createRuntime, type Runtime, type RuntimeKind } from '../runtime/index.js';
import { TimerList, TIMER_DEFERRABLE } from '../runtime/clock.js';
import type { SimThread, ThreadBody } from '../runtime/sim-thread.js';
import { Cred, CAP_NAMES, CAP_FULL_SET, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN, CAP_SYS_RESOURCE, rootCred } from './cred.js';
import { FsStruct } from './fs-struct.js';
import { MmStruct, mmget, mmgetNotZero, mmgrab, mmdrop, mmput } from './mm.js';
import { Namespace, Nsproxy, type NsKind } from './nsproxy.js';
import {
  checkRlimitValue, doPrlimit, initRlimits, resolveResource, RLIMIT_NOFILE, RLIMIT_NPROC, type Rlimit,
} from './rlimit.js';
import {
  CLONE_FILES, CLONE_FS, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUTS, CLONE_SIGHAND,
  CLONE_THREAD, CLONE_UNTRACED, CLONE_VM, PF_KTHREAD, PF_NO_SETAFFINITY, PF_NOFREEZE, PF_NPROC_EXCEEDED, PF_USER_WORKER,
} from './sched.js';
import { SIGKILL, sigmask } from './signal-numbers.js';
import { SignalStruct, OOM_SCORE_ADJ_MIN, sharedPendingDel } from './signal-struct.js';
import { commOf, Task, type SigkillHandler } from './task.js';
import { copyProcess, type KernelCloneArgs } from './fork.js';
import { doExit, doGroupExit } from './exit.js';
import { handleCaughtSignals, sendSigProcess, type SigDisposition } from './signal.js';
import { formatParam, moduleParamsIn, parseCmdline, registeredModules, type ParamValue } from './module.js';
import { DEFAULT_RELEASE, parseFeature, parseRelease, RELEASES, type Feature, type Release } from './release.js';
import { Tracer, type Tracepoint } from './trace.js';
import { Cgroup, CgroupRoot, CONTROLLERS, DFL_CONTROLLERS, type Controller, type CpuStat } from './cgroup/cgroup.js';
import { cgroupAttach, cgroupAttachTaskAll, cgroupMkdir, newCgroup } from './cgroup/cgroup-core.js';
import { cgroupFiles, cgroupfsFill } from './cgroup/cgroupfs.js';
import { taskFrozen } from './cgroup/freezer.js';
import { chargeAnon, PAGE_SIZE, type MemCgroup, type ObjCgroup, unchargeMm } from './memcontrol.js';
import { memparse } from './parse.js';
import { FilesStruct } from './vfs/fdtable.js';
import { File, fput, getFile, LOFF_END, O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_TRUNC, O_WRONLY, rwVerifyArea, type FileOperations } from './vfs/file.js';
import { Inode, isBlk, isDir, isReg, S_IFREG, SuperBlock } from './vfs/inode.js';
import { dirFileOps, newDir, simpleDirOps } from './vfs/libfs.js';
import { MntNamespace } from './vfs/mount.js';
import { pathParent, pathWalk } from './vfs/namei.js';
import { parseTmpfsSize, shmemEvictInode, shmemSetSize, tmpfsFill } from './vfs/tmpfs.js';
import { nullFops, registerChrdev, zeroFops } from './vfs/chrdev.js';
import { EventfdCtx, eventfdFops } from './vfs/eventfd.js';
import { startWriteback } from './vfs/filemap.js';
import type { BlockDevice } from './vfs/blkdev.js';

export interface BootOptions {
  /**
   * the kernel release modelled (release.ts): '5.13', '5.14', '6.1', '6.4', '6.5',
   * '6.12' or '6.17' (default). It decides which features drivers see (`k.has`), which
   * module parameters exist and the defaults of release-dependent `kwq.*` switches.
   */
  release?: Release;
  /** kernel command line: `module.param=value` and `kwq.switch=value` words */
  cmdline?: string;
  /** cgroup hierarchy: 'v2' (default) or 'v1' */
  cgroup?: 'v2' | 'v1';
  /** CONFIG_HZ: 100, 250, 300 or 1000 (default) */
  hz?: number;
  /** PRNG seed (default 1) */
  seed?: number;
  /** 'sim' (default) or 'threads' */
  runtime?: RuntimeKind;
  /** virtual CPUs (default 2) */
  ncpus?: number;
  /** size of the /tmp tmpfs, bytes or memparse text (default '512M') */
  tmpfsSize?: number | string;
  /** total RAM (default '16G') */
  memory?: number | string;
  /** swap space (default '4G'; memory.swap.max limits each cgroup's share) */
  swap?: number | string;
  /** max_threads (default: RAM pages / 32, as fork_init's order of magnitude) */
  maxThreads?: number;
  /** the longest slice a thread runs before another runnable one gets the CPU, µs (default 1000) */
  sliceUs?: number;
}

const BOOT_KEYS = ['release', 'cmdline', 'cgroup', 'hz', 'seed', 'runtime', 'ncpus', 'tmpfsSize', 'memory', 'swap', 'maxThreads', 'sliceUs'];

export interface SpawnOptions {
  comm?: string;
  uid?: number;
  /** effective uid (default: uid) */
  euid?: number;
  gid?: number;
  /** capabilities for a non-root process, by name ('CAP_SYS_RESOURCE'); root has all */
  caps?: string[];
  /** cgroup path (created, like systemd, if missing); default: the parent's */
  cgroup?: string;
  /** rlimits by name: { RLIMIT_NPROC: [64, 64] } */
  rlimits?: Record<string, Rlimit>;
  /** the forking parent (default init) */
  parent?: Task;
  oomScoreAdj?: number;
}

export interface Stat {
  mode: number;
  size: number;
  rdev: string;
  ino: number;
}

const HZ_CHOICES = [100, 250, 300, 1000];

function sizeOpt(where: string, v: number | string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const b = memparse(v);
    if (b !== null && v.trim() !== '') return b;
  }
  throw new KwqError(`Kernel.boot: ${where}`, `bad size ${JSON.stringify(v)}: expected bytes (a non-negative integer) or text like '512M'`);
}

/**
 * A kthread or user worker body, wrapped so a group stop parks it (get_signal's job
 * control) and so does the cgroup freezer (a user worker's get_signal enters the freezer's
 * trap; kthreads are never frozen by cgroup v2): the thaw wakes it again.
 */
class TaskBody implements ThreadBody {
  constructor(
    readonly task: Task,
    readonly inner: ThreadBody,
    private readonly k: Kernel,
  ) {}
  run(th: SimThread, budgetNs: number): boolean {
    if (!th.alive) return false; // the thread's copy of task.alive: the Task is not read
    // no group stopped anywhere: the task's signal_struct is not read (signal-struct.ts)
    if (this.k.nrGroupsStopped !== 0 && this.task.signal.stopped && !this.task.isKthread) return false;
    // no cgroup.freeze set anywhere: no task is frozen, and the walk to the task's
    // cgroup (three objects a run, cache misses with a thousand processes) is skipped
    if (this.k.nrCgroupFreeze !== 0 && taskFrozen(this.task)) return false;
    return this.inner.run(th, budgetNs);
  }
}

/** Kernel.onBoot observers. */
const bootObservers = new Set<(k: Kernel) => void>();

/** How many exited tasks k.task(pid) keeps answering for. */
const EXITED_KEPT = 4096;

export class Kernel {
  // ---- boot ----------------------------------------------------------------------
  readonly rt: Runtime;
  readonly trace: Tracer;
  /** the built-in tracepoints, for zero-cost `if (tp.enabled)` checks */
  readonly tp: {
    newtask: Tracepoint; processExit: Tracepoint; signalGenerate: Tracepoint; cgroupAttachTask: Tracepoint;
    cgroupMkdir: Tracepoint; cgroupRmdir: Tracepoint; memcgCharge: Tracepoint; memcgUncharge: Tracepoint;
    oomKill: Tracepoint; blockBioQueue: Tracepoint; workQueue: Tracepoint; workExecuteStart: Tracepoint;
    workExecuteEnd: Tracepoint; schedWakeup: Tracepoint; schedSleep: Tracepoint; schedSlice: Tracepoint;
  };
  readonly cmdline: string;
  /** the release booted (BootOptions.release) */
  readonly release: Release;
  private readonly features: ReadonlySet<Feature>;
  private readonly modParams: Map<string, Record<string, ParamValue>>;
  private readonly kwqSwitches: Record<string, ParamValue>;

  // ---- processes -----------------------------------------------------------------
  readonly taskTable = new Map<number, Task>();
  /** exited tasks k.task(pid) still answers for (rememberExited) */
  private readonly exitedTasks = new Map<number, Task>();
  /** per real uid: tasks counted for RLIMIT_NPROC (ucounts UCOUNT_RLIMIT_NPROC) */
  readonly ucounts = new Map<number, number>();
  nrThreads = 0;
  readonly maxThreads: number;
  private nextPid = 1;
  private nsIds = 0;
  private mmIds = 0;
  private readonly sigDisp = new WeakMap<SignalStruct, Map<number, SigDisposition>>();
  private initTask!: Task;
  private kthreaddTask!: Task;
  /** the writeback flusher kworker (current for periodic writeback) */
  flusher!: Task;

  // ---- cgroups and memory --------------------------------------------------------
  readonly cgroupV2: boolean;
  readonly cgroupRoots: CgroupRoot[] = [];
  private readonly ssHierarchy = new Map<Controller, number>();
  nextCgroupId = 1;
  /** online and offline-but-referenced cgroups by id */
  readonly cgroupsById = new Map<number, Cgroup>();
  /** removed cgroups still referenced (dying) */
  readonly deadCgroups = new Set<Cgroup>();
  /**
   * cgroups whose cgroup.freeze is 1 (freezer.ts cgroupFreeze; a removed one stays
   * counted): 0 means no e_freeze is set, so no task is frozen
   */
  nrCgroupFreeze = 0;
  /**
   * Bumped by every change that can change a task's effective cpu cgroup (a migration,
   * a subtree_control write, a hierarchy mounted): cpuStatOf's caches (Task.acct,
   * SimThread.acct) hold cgroupOf(task, 'cpu')'s stats while this is unchanged (cgroupsChanged).
   */
  cgroupEpoch = 0;
  /** obj_cgroups by id; id 0 means "no page" in page owner arrays */
  readonly objcgs: (ObjCgroup | null)[] = [null];
  readonly totalRamPages: number;
  readonly swapTotalPages: number;
  swapUsedPages = 0;

  // ---- vfs -----------------------------------------------------------------------
  private inoNext = 1;
  private sbNext = 1;
  readonly blockDevices = new Map<string, BlockDevice>();
  devDir!: Inode;
  private sysModuleDir!: Inode;
  private readonly flushTimer: TimerList;
  private down = false;
  /** processes with a signal in shared_pending (signal.ts sharedPendingAdd): 0 lets a call's return skip the signal check */
  nrSharedPending = 0;
  /** processes in a group stop (signal-struct.ts setGroupStopped): 0 lets a thread's run skip the check */
  nrGroupsStopped = 0;

  private constructor(opts: Required<Omit<BootOptions, 'maxThreads'>> & { maxThreads: number | undefined }, parsed: ReturnType<typeof parseCmdline>) {
    this.cmdline = opts.cmdline;
    this.release = opts.release;
    this.features = RELEASES[opts.release];
    this.modParams = parsed.params;
    this.kwqSwitches = parsed.kwq;
    this.rt = createRuntime(opts.runtime, { hz: opts.hz, seed: opts.seed, ncpus: opts.ncpus, sliceNs: opts.sliceUs * 1000 });
    this.trace = new Tracer(this.rt);
    const p = (n: string): Tracepoint => this.trace.point(n);
    this.tp = {
      newtask: p('task_newtask'), processExit: p('sched_process_exit'), signalGenerate: p('signal_generate'),
      cgroupAttachTask: p('cgroup_attach_task'), cgroupMkdir: p('cgroup_mkdir'), cgroupRmdir: p('cgroup_rmdir'),
      memcgCharge: p('memcg_charge'), memcgUncharge: p('memcg_uncharge'), oomKill: p('mark_victim'),
      blockBioQueue: p('block_bio_queue'), workQueue: p('workqueue_queue_work'), workExecuteStart: p('workqueue_execute_start'),
      workExecuteEnd: p('workqueue_execute_end'), schedWakeup: p('sched_wakeup'), schedSleep: p('sched_sleep'), schedSlice: p('sched_slice'),
    };
    this.totalRamPages = Math.floor(sizeOpt('memory', opts.memory, 16 * 2 ** 30) / PAGE_SIZE);
    this.swapTotalPages = Math.floor(sizeOpt('swap', opts.swap, 4 * 2 ** 30) / PAGE_SIZE);
    this.maxThreads = opts.maxThreads ?? Math.max(64, Math.floor(this.totalRamPages / 32));
    this.cgroupV2 = opts.cgroup === 'v2';
    this.rt.onRun = (th, start, cost, cpu) => this.accountRun(th, start, cost, cpu);
    this.rt.onSleep = (th) => {
      const tp = this.tp.schedSleep;
      if (tp.enabled) {
        const task = th.owner as Task;
        tp.emit({ name: tp.name, ts: tp.now, pid: task.pid, comm: task.comm });
      }
    };
    this.flushTimer = new TimerList(() => this.periodicWriteback(), TIMER_DEFERRABLE);
    this.setup(opts);
  }

  /** Boot a kernel. Throws a KwqError for any malformed option or command-line word. */
  static async boot(opts: BootOptions = {}): Promise<Kernel> {
    if (opts === null || typeof opts !== 'object') throw new KwqError('Kernel.boot', 'options must be an object');
    for (const key of Object.keys(opts)) {
      if (!BOOT_KEYS.includes(key)) throw new KwqError('Kernel.boot', `unknown option '${key}'; allowed: ${BOOT_KEYS.join(', ')}`);
    }
    const hz = opts.hz ?? 1000;
    if (!HZ_CHOICES.includes(hz)) throw new KwqError('Kernel.boot: hz', `bad HZ ${JSON.stringify(opts.hz)}; allowed: ${HZ_CHOICES.join(', ')}`);
    const seed = opts.seed ?? 1;
    if (!Number.isSafeInteger(seed) || seed < 0) throw new KwqError('Kernel.boot: seed', `bad seed ${JSON.stringify(opts.seed)}: expected an integer >= 0`);
    const runtime = opts.runtime ?? 'sim';
    if (runtime !== 'sim' && runtime !== 'threads') throw new KwqError('Kernel.boot: runtime', `bad runtime ${JSON.stringify(opts.runtime)}; allowed: sim, threads`);
    const cgroup = opts.cgroup ?? 'v2';
    if (cgroup !== 'v2' && cgroup !== 'v1') throw new KwqError('Kernel.boot: cgroup', `bad cgroup ${JSON.stringify(opts.cgroup)}; allowed: v2, v1`);
    const ncpus = opts.ncpus ?? 2;
    if (!Number.isInteger(ncpus) || ncpus < 1 || ncpus > 1024) throw new KwqError('Kernel.boot: ncpus', `bad ncpus ${JSON.stringify(opts.ncpus)}: expected an integer in 1..1024`);
    const sliceUs = opts.sliceUs ?? 1000;
    if (!Number.isFinite(sliceUs) || sliceUs <= 0) throw new KwqError('Kernel.boot: sliceUs', `bad sliceUs ${JSON.stringify(opts.sliceUs)}: expected a number > 0`);
    if (opts.maxThreads !== undefined && (!Number.isInteger(opts.maxThreads) || opts.maxThreads < 4)) {
      throw new KwqError('Kernel.boot: maxThreads', `bad maxThreads ${JSON.stringify(opts.maxThreads)}: expected an integer >= 4`);
    }
    const tmpfsSize = sizeOpt('tmpfsSize', opts.tmpfsSize, 512 * 2 ** 20);
    sizeOpt('memory', opts.memory, 0);
    sizeOpt('swap', opts.swap, 0);
    const release = opts.release === undefined ? DEFAULT_RELEASE : parseRelease(opts.release, 'Kernel.boot: release');
    const parsed = parseCmdline(opts.cmdline ?? '', release);
    const k = new Kernel(
      {
        release, cmdline: opts.cmdline ?? '', cgroup, hz, seed, runtime, ncpus, tmpfsSize, sliceUs,
        memory: opts.memory ?? '16G', swap: opts.swap ?? '4G', maxThreads: opts.maxThreads,
      },
      parsed,
    );
    for (const m of registeredModules()) {
      try {
        await m.init?.(k, k.modParams.get(m.name) ?? {});
      } catch (e) {
        k.shutdown();
        throw e;
      }
    }
    for (const fn of bootObservers) fn(k);
    return k;
  }

  /**
   * Call `fn` with every kernel booted from now on, until the returned function is
   * called: how a tool that did not boot the kernels itself (`kwq scenario --trace`)
   * records them.
   */
  static onBoot(fn: (k: Kernel) => void): () => void {
    bootObservers.add(fn);
    return () => {
      bootObservers.delete(fn);
    };
  }

  private setup(opts: { cgroup: string; tmpfsSize: number | string }): void {
    // namespaces
    const mntNs = new MntNamespace(this.nextNsId());
    const initNs = new Nsproxy({
      mnt: mntNs, uts: this.newNamespace('uts'), ipc: this.newNamespace('ipc'), pid: this.newNamespace('pid'),
      net: this.newNamespace('net'), cgroup: this.newNamespace('cgroup'),
    });
    // cgroup hierarchies
    if (this.cgroupV2) {
      this.addHierarchy(true, CONTROLLERS, '/sys/fs/cgroup');
    } else {
      this.addHierarchy(false, ['memory'], '/sys/fs/cgroup/memory');
      this.addHierarchy(false, ['cpu'], '/sys/fs/cgroup/cpu,cpuacct');
      this.addHierarchy(false, ['io'], '/sys/fs/cgroup/blkio');
      this.addHierarchy(false, ['pids'], '/sys/fs/cgroup/pids');
    }
    // root filesystem: /, /dev, /sys/fs/cgroup, /sys/module, /tmp, /proc
    const rootSb = new SuperBlock('rootfs', this.nextSbId());
    const rootOps = simpleDirOps({ mkdir: true });
    rootSb.root = newDir(this, rootSb, rootOps);
    const mk = (dir: Inode, name: string): Inode => {
      const d = newDir(this, rootSb, rootOps);
      dir.children!.set(name, d);
      return d;
    };
    mntNs.mounts.push({ mountpoint: '/', sb: rootSb });
    this.devDir = mk(rootSb.root, 'dev');
    const sys = mk(rootSb.root, 'sys');
    const sysfs = mk(sys, 'fs');
    const cgdir = mk(sysfs, 'cgroup');
    this.sysModuleDir = mk(sys, 'module');
    mk(rootSb.root, 'tmp');
    mk(rootSb.root, 'proc');
    for (const r of this.cgroupRoots) {
      if (!this.cgroupV2) mk(cgdir, r.mountPoint.slice('/sys/fs/cgroup/'.length));
      mntNs.mounts.push({ mountpoint: r.mountPoint, sb: cgroupfsFill(this, r) });
    }
    mntNs.mounts.push({ mountpoint: '/tmp', sb: tmpfsFill(this, sizeOpt('tmpfsSize', opts.tmpfsSize, 0)) });
    registerChrdev(this, { name: 'zero', major: 1, minor: 5, fops: zeroFops });
    registerChrdev(this, { name: 'null', major: 1, minor: 3, fops: nullFops });
    this.buildSysModule();
    // init (pid 1) and kthreadd (pid 2)
    const rootCgroups = this.cgroupRoots.map((r) => r.root);
    const init = new Task(this.allocPid(), {
      comm: 'init', flags: 0, parent: null, groupLeader: null,
      signal: new SignalStruct(initRlimits(this.maxThreads)), cred: rootCred(), mm: null, nsproxy: initNs,
      fs: new FsStruct('/', '/'), files: new FilesStruct(), cgroups: rootCgroups.slice(), kernel: this,
    });
    init.mm = new MmStruct(this.nextMmId(), init);
    this.addTask(init);
    this.initTask = init;
    const kthreadd = new Task(this.allocPid(), {
      comm: 'kthreadd', flags: PF_KTHREAD | PF_NOFREEZE | PF_NO_SETAFFINITY, parent: null, groupLeader: null,
      signal: new SignalStruct(initRlimits(this.maxThreads)), cred: rootCred(), mm: null, nsproxy: initNs,
      fs: new FsStruct('/', '/'), files: null, cgroups: rootCgroups.slice(), kernel: this,
    });
    this.addTask(kthreadd);
    this.kthreaddTask = kthreadd;
    const fl = this.kthreadCreate('kworker/u:0-flush', { run: () => false });
    if (typeof fl === 'number') throw new KwqError('Kernel.boot', 'cannot create the flusher kworker');
    fl.flags |= PF_NO_SETAFFINITY;
    this.flusher = fl;
  }

  private addTask(t: Task): void {
    this.taskTable.set(t.pid, t);
    t.signal.threads.add(t);
    for (const cg of t.cgroups) {
      cg.tasks.add(t);
      if (cg.root.controllers.has('pids')) cg.pids.counter++;
    }
    this.ucounts.set(t.cred.uid, (this.ucounts.get(t.cred.uid) ?? 0) + 1);
    this.nrThreads++;
  }

  private addHierarchy(v2: boolean, controllers: readonly Controller[], mountPoint: string): void {
    const r = new CgroupRoot(this.cgroupRoots.length, v2, new Set(controllers), mountPoint);
    r.root = newCgroup(this, '', null, r);
    // systemd enables every controller at the root of the unified hierarchy
    if (v2) for (const c of controllers) r.root.subtreeEnable(c);
    for (const c of controllers) this.ssHierarchy.set(c, r.hierarchyId);
    this.cgroupRoots.push(r);
    this.cgroupsChanged();
  }

  private buildSysModule(): void {
    const sb = this.sysModuleDir.sb;
    const ops = simpleDirOps({ mkdir: false });
    for (const m of registeredModules()) {
      const md = newDir(this, sb, ops);
      this.sysModuleDir.children!.set(m.name, md);
      const pd = newDir(this, sb, ops);
      md.children!.set('parameters', pd);
      for (const [name, spec] of moduleParamsIn(m, this.release)) {
        const value = this.modParams.get(m.name)![name]!;
        const fops: FileOperations = { show: () => formatParam(spec, value) + '\n' };
        pd.children!.set(name, new Inode(sb, this.nextIno(), S_IFREG | 0o444, fops));
      }
    }
  }

  // ---- ids -----------------------------------------------------------------------
  allocPid(): number {
    return this.nextPid++;
  }
  /** the pid the next allocPid() returns (copy_process names the child before alloc_pid) */
  peekPid(): number {
    return this.nextPid;
  }
  nextNsId(): number {
    return ++this.nsIds;
  }
  newNamespace(kind: NsKind): Namespace {
    return new Namespace(kind, this.nextNsId());
  }
  nextMmId(): number {
    return ++this.mmIds;
  }
  nextIno(): number {
    return this.inoNext++;
  }
  nextSbId(): number {
    return this.sbNext++;
  }

  // ---- inspection (public) ---------------------------------------------------------
  /** pid 1: root, root cgroups, init namespaces */
  get init(): Task {
    return this.initTask;
  }
  /** pid 2: the parent of every kthread */
  get kthreadd(): Task {
    return this.kthreaddTask;
  }
  /**
   * A task by pid: a live one, or one of the last EXITED_KEPT that exited (alive ===
   * false), so that an inspection after a kill or an OOM kill still finds it. pids
   * are never reused in the model, so a pid names one task for the kernel's life.
   */
  task(pid: number): Task | undefined {
    return this.taskTable.get(pid) ?? this.exitedTasks.get(pid);
  }

  /** do_exit: keep the task for k.task(pid), the oldest forgotten first (bounded, deterministic). */
  rememberExited(t: Task): void {
    this.exitedTasks.set(t.pid, t);
    if (this.exitedTasks.size > EXITED_KEPT) {
      const oldest = this.exitedTasks.keys().next().value as number;
      this.exitedTasks.delete(oldest);
    }
  }
  /** every live task, by pid */
  tasks(): Task[] {
    return [...this.taskTable.values()].sort((a, b) => a.pid - b.pid);
  }
  taskByPid(pid: number): Task | null {
    return this.taskTable.get(pid) ?? null;
  }
  /** virtual (sim) or wall (threads) time in ns since boot */
  get now(): number {
    return this.rt.nowNs();
  }
  get jiffies(): number {
    return this.rt.jiffies();
  }
  get hz(): number {
    return this.rt.hz;
  }
  /** the seeded PRNG, uniform in [0, 1) */
  random(): number {
    return this.rt.random();
  }
  /** a module's parameters as booted */
  moduleParams(name: string): Record<string, ParamValue> {
    const p = this.modParams.get(name);
    if (p === undefined) throw new KwqError('moduleParams', `no module '${name}'`);
    return { ...p };
  }
  /**
   * Does the booted release have `feature` (release.ts)? Drivers ask this by name and
   * never compare versions. An unknown name is a KwqError.
   */
  has(feature: Feature): boolean {
    if (this.features.has(feature)) return true;
    parseFeature(feature, 'k.has'); // a typo throws rather than reading as "absent"
    return false;
  }
  /** a model switch (kwq.<name>) as booted */
  kwqSwitch(name: string): ParamValue {
    const v = this.kwqSwitches[name];
    if (v === undefined) throw new KwqError('kwqSwitch', `no model switch 'kwq.${name}'`);
    return v;
  }

  // ---- call discipline -------------------------------------------------------------
  private enter(where: string, task: Task): void {
    if (!(task instanceof Task) || task.kernel !== this) {
      throw new KwqError(where, `${task instanceof Task ? `task ${task}` : `${typeof task} ${String(task)}`} is not a task of this kernel`);
    }
    if (!task.alive) throw new KwqError(where, `task ${task} is dead (exited or killed); a dead task makes no calls`);
    if (this.down) throw new KwqError(where, 'the kernel was shut down');
  }

  private leave(task: Task, ret: number): number {
    if (!task.alive) return -EINTR;
    handleCaughtSignals(this, task);
    return ret;
  }

  /** run `fn` as a call by `task` (drivers use it for syscall-shaped internal entry points) */
  syscall<T>(where: string, task: Task, fn: () => T): T | number {
    this.enter(where, task);
    return this.syscallExit(task, fn());
  }

  /**
   * syscall() in two halves, for a driver's hot entry point that should not allocate a
   * closure per call (io_submit, io_getevents: two per task and round of a loop
   * benchmark): syscallEnter, the body, then `return k.syscallExit(task, r)`.
   */
  syscallEnter(where: string, task: Task): void {
    this.enter(where, task);
  }

  /** the end of a call by `task`: -EINTR if it died meanwhile, else `r` after its caught signals are handled */
  syscallExit<T>(task: Task, r: T): T | number {
    if (!task.alive) return -EINTR;
    handleCaughtSignals(this, task);
    return r;
  }

  // ---- processes (public) ------------------------------------------------------------

  /**
   * A new process: forked from `parent` (init by default), then given its uid, caps,
   * rlimits and cgroup, as a service manager does. Throws a KwqError if the options are
   * malformed or the fork fails (spawn is a convenience; fork() returns -errno).
   */
  spawn(opts: SpawnOptions = {}): Task {
    const allowed = ['comm', 'uid', 'euid', 'gid', 'caps', 'cgroup', 'rlimits', 'parent', 'oomScoreAdj'];
    for (const key of Object.keys(opts)) if (!allowed.includes(key)) throw new KwqError('spawn', `unknown option '${key}'; allowed: ${allowed.join(', ')}`);
    const parent = opts.parent ?? this.init;
    this.enter('spawn', parent);
    const idOk = (v: unknown): boolean => v === undefined || (Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32 - 1);
    for (const f of ['uid', 'euid', 'gid'] as const) if (!idOk(opts[f])) throw new KwqError(`spawn: ${f}`, `bad id ${JSON.stringify(opts[f])}: expected an integer in 0..4294967294`);
    if (opts.comm !== undefined && typeof opts.comm !== 'string') throw new KwqError('spawn: comm', 'expected a string');
    let caps = 0n;
    for (const c of opts.caps ?? []) {
      const n = CAP_NAMES[c];
      if (n === undefined) throw new KwqError('spawn: caps', `unknown capability '${c}'; known: ${Object.keys(CAP_NAMES).join(', ')}`);
      caps |= 1n << BigInt(n);
    }
    const rl: [number, Rlimit][] = [];
    for (const [name, v] of Object.entries(opts.rlimits ?? {})) {
      const lim = checkRlimitValue(`spawn: rlimits.${name}`, v);
      // a state no process can be in (do_prlimit refuses it with -EINVAL)
      if (lim[0] > lim[1]) throw new KwqError(`spawn: rlimits.${name}`, `soft limit ${lim[0]} is above the hard limit ${lim[1]}`);
      rl.push([resolveResource('spawn: rlimits', name), lim]);
    }
    if (opts.oomScoreAdj !== undefined && (!Number.isInteger(opts.oomScoreAdj) || opts.oomScoreAdj < -1000 || opts.oomScoreAdj > 1000)) {
      throw new KwqError('spawn: oomScoreAdj', `bad value ${opts.oomScoreAdj}: expected an integer in -1000..1000`);
    }
    let cgs: Cgroup[] | null = null;
    if (opts.cgroup !== undefined) cgs = this.cgroupsForPath('spawn: cgroup', opts.cgroup, true);
    let child = copyProcess(this, parent, { flags: 0, name: opts.comm ?? parent.comm });
    if (child === -ERESTARTNOINTR) {
      handleCaughtSignals(this, parent);
      child = copyProcess(this, parent, { flags: 0, name: opts.comm ?? parent.comm });
    }
    if (typeof child === 'number') throw new KwqError('spawn', `fork from ${parent} failed with ${child} (use fork() to get the errno)`);
    const uid = opts.uid ?? parent.cred.uid;
    if (uid !== child.cred.uid) {
      this.ucounts.set(child.cred.uid, (this.ucounts.get(child.cred.uid) ?? 1) - 1);
      if (this.ucounts.get(child.cred.uid) === 0) this.ucounts.delete(child.cred.uid);
      this.ucounts.set(uid, (this.ucounts.get(uid) ?? 0) + 1);
    }
    child.cred = new Cred(uid, opts.euid ?? uid, opts.gid ?? uid, uid === 0 ? CAP_FULL_SET : caps);
    for (const [r, v] of rl) child.signal.rlimits[r] = v;
    if (opts.oomScoreAdj !== undefined) child.signal.oomScoreAdj = opts.oomScoreAdj;
    if (cgs !== null) {
      for (const cg of cgs) {
        const r = cgroupAttach(this, child, cg, true);
        if (r < 0) {
          doExit(this, child, 0);
          throw new KwqError('spawn: cgroup', `cannot move the new process into ${cg.root.mountPoint}${cg.path}: ${r}`);
        }
      }
    }
    return child;
  }

  /** fork(): the child task, or -errno (-EAGAIN for RLIMIT_NPROC / pids.max). */
  fork(task: Task): Task | number {
    return this.doClone('fork', task, 0, {});
  }

  /** clone(flags): the child task or -errno. CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD makes a thread. */
  clone(task: Task, flags: number, opts: { comm?: string } = {}): Task | number {
    return this.doClone('clone', task, flags, opts);
  }

  private doClone(where: string, task: Task, flags: number, opts: { comm?: string }): Task | number {
    this.enter(where, task);
    if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) throw new KwqError(where, `bad flags ${flags}`);
    let r = copyProcess(this, task, { flags, ...(opts.comm !== undefined ? { name: opts.comm } : {}) });
    // -ERESTARTNOINTR never reaches user space: the handler runs and fork restarts
    if (r === -ERESTARTNOINTR) {
      handleCaughtSignals(this, task);
      r = copyProcess(this, task, { flags, ...(opts.comm !== undefined ? { name: opts.comm } : {}) });
    }
    if (typeof r === 'number') return this.leave(task, r);
    this.leave(task, 0);
    return r;
  }

  /** exit(code): a thread exits; the group leader's exit ends the whole process. */
  exit(task: Task, code = 0): void {
    this.enter('exit', task);
    if (task.isGroupLeader) doGroupExit(this, task, code);
    else doExit(this, task, code);
  }

  /** kill(pid of task, sig) as root: 0 or -errno. */
  kill(task: Task, sig: number): number {
    if (!(task instanceof Task) || task.kernel !== this) throw new KwqError('kill', `${String(task)} is not a task of this kernel`);
    if (!task.alive) return -3; // -ESRCH
    return sendSigProcess(this, task, sig);
  }

  /** the model's sigaction: 'default', 'ignore', or 'catch' (a handler exists). Returns 0 or -EINVAL. */
  sigaction(task: Task, sig: number, disposition: SigDisposition): number {
    this.enter('sigaction', task);
    if (!['default', 'ignore', 'catch'].includes(disposition)) throw new KwqError('sigaction', `bad disposition '${disposition}'; allowed: default, ignore, catch`);
    if (!Number.isInteger(sig) || sig < 1 || sig > 31 || sig === SIGKILL || sig === 19) return -EINVAL;
    let m = this.sigDisp.get(task.signal);
    if (m === undefined) {
      m = new Map();
      this.sigDisp.set(task.signal, m);
    }
    m.set(sig, disposition);
    return 0;
  }

  sigDisposition(sigs: SignalStruct, sig: number): SigDisposition {
    return this.sigDisp.get(sigs)?.get(sig) ?? 'default';
  }

  /** sigprocmask(SIG_BLOCK=0 | SIG_UNBLOCK=1 | SIG_SETMASK=2, mask of sigmask() bits): the old mask. */
  sigprocmask(task: Task, how: number, mask: number): number {
    this.enter('sigprocmask', task);
    const old = task.blocked;
    const keep = ~(sigmask(SIGKILL) | sigmask(19)) >>> 0; // SIGKILL and SIGSTOP cannot be blocked
    if (how === 0) task.blocked = (task.blocked | mask) & keep;
    else if (how === 1) task.blocked = task.blocked & ~mask;
    else if (how === 2) task.blocked = mask & keep;
    else return -EINVAL;
    task.blocked >>>= 0;
    // newly deliverable pending signals with the default action take effect now
    const deliver = task.signal.sharedPending & ~task.blocked;
    for (let s = 1; s <= 31; s++) {
      if (deliver & sigmask(s) && this.sigDisposition(task.signal, s) === 'default') {
        sharedPendingDel(this, task.signal, sigmask(s));
        sendSigProcess(this, task, s);
      }
    }
    return this.leave(task, old);
  }

  /**
   * setresuid(ruid, euid, suid) (kernel/sys.c __sys_setresuid): -1 keeps an id. Without
   * CAP_SETUID each new id must be one of the current real, effective or saved ids
   * (-EPERM). A new real uid moves the task's RLIMIT_NPROC count to that user and sets
   * PF_NPROC_EXCEEDED when the user is over the limit (flag_nproc_exceeded); fork checks
   * it later. Capabilities follow cap_task_fix_setuid: leaving euid 0 clears the
   * effective set, leaving uid 0 in all three ids clears the permitted one, and an
   * euid of 0 again restores the effective set from the permitted one. The model's
   * threads share one cred, so this acts on the whole thread group, as glibc's wrapper does.
   */
  setresuid(task: Task, ruid: number, euid: number, suid: number): number {
    this.enter('setresuid', task);
    for (const [n, v] of [['ruid', ruid], ['euid', euid], ['suid', suid]] as const) {
      if (!Number.isInteger(v) || v < -1 || v > 0xfffffffe) throw new KwqError(`setresuid: ${n}`, `bad id ${v}: expected -1 or 0..4294967294`);
    }
    const old = task.cred;
    const r = ruid === -1 ? old.uid : ruid;
    const e = euid === -1 ? old.euid : euid;
    const sv = suid === -1 ? old.suid : suid;
    if (r === old.uid && e === old.euid && sv === old.suid) return this.leave(task, 0);
    if (!old.capable(CAP_SETUID)) {
      const ok = (v: number): boolean => v === -1 || v === old.uid || v === old.euid || v === old.suid;
      if (!ok(ruid) || !ok(euid) || !ok(suid)) return this.leave(task, -EPERM);
    }
    const c = old.copy();
    if (r !== old.uid) {
      const n = (this.ucounts.get(old.uid) ?? 1) - 1;
      if (n > 0) this.ucounts.set(old.uid, n);
      else this.ucounts.delete(old.uid);
      const count = (this.ucounts.get(r) ?? 0) + 1;
      this.ucounts.set(r, count);
      // flag_nproc_exceeded: fork will refuse (or the check is cleared at the next execve)
      if (count > task.signal.rlimits[RLIMIT_NPROC]![0] && r !== 0) task.flags |= PF_NPROC_EXCEEDED;
      else task.flags &= ~PF_NPROC_EXCEEDED;
    }
    c.uid = r;
    c.euid = e;
    c.suid = sv;
    const wasRoot = old.uid === 0 || old.euid === 0 || old.suid === 0;
    if (wasRoot && c.uid !== 0 && c.euid !== 0 && c.suid !== 0) c.capPermitted = 0n;
    if (old.euid === 0 && c.euid !== 0) c.capEffective = 0n;
    if (old.euid !== 0 && c.euid === 0) c.capEffective = c.capPermitted;
    for (const t of this.tasks()) if (t.cred === old) t.cred = c;
    return this.leave(task, 0);
  }

  /** setresgid(rgid, egid, sgid): the same rules for group ids (CAP_SETGID is CAP_SETUID's twin here). */
  setresgid(task: Task, rgid: number, egid: number, sgid: number): number {
    this.enter('setresgid', task);
    for (const [n, v] of [['rgid', rgid], ['egid', egid], ['sgid', sgid]] as const) {
      if (!Number.isInteger(v) || v < -1 || v > 0xfffffffe) throw new KwqError(`setresgid: ${n}`, `bad id ${v}: expected -1 or 0..4294967294`);
    }
    const old = task.cred;
    if (!old.capable(CAP_SETGID)) {
      const ok = (v: number): boolean => v === -1 || v === old.gid || v === old.egid || v === old.sgid;
      if (!ok(rgid) || !ok(egid) || !ok(sgid)) return this.leave(task, -EPERM);
    }
    const c = old.copy();
    if (rgid !== -1) c.gid = rgid;
    if (egid !== -1) c.egid = egid;
    if (sgid !== -1) c.sgid = sgid;
    for (const t of this.tasks()) if (t.cred === old) t.cred = c;
    return this.leave(task, 0);
  }

  /** setrlimit/prlimit: 0 or -errno (-EINVAL soft > hard, -EPERM raising hard without CAP_SYS_RESOURCE). */
  setrlimit(task: Task, resource: number | string, value: Rlimit): number {
    this.enter('setrlimit', task);
    const r = resolveResource('setrlimit', resource);
    const v = checkRlimitValue('setrlimit', value);
    return this.leave(task, doPrlimit(task.signal.rlimits, r, v, task.cred.capable(CAP_SYS_RESOURCE)));
  }

  getrlimit(task: Task, resource: number | string): Rlimit {
    this.enter('getrlimit', task);
    const r = task.signal.rlimits[resolveResource('getrlimit', resource)]!;
    return [r[0], r[1]];
  }

  /** oom_score_adj of the task's process */
  setOomScoreAdj(task: Task, value: number): number {
    this.enter('setOomScoreAdj', task);
    if (!Number.isInteger(value) || value < OOM_SCORE_ADJ_MIN || value > 1000) return -EINVAL;
    task.signal.oomScoreAdj = value;
    return 0;
  }

  /** unshare(flags): CLONE_NEWNS (and the other CLONE_NEW* but USER/PID), CLONE_FILES, CLONE_FS. */
  unshare(task: Task, flags: number): number {
    this.enter('unshare', task);
    const nsFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
    const known = nsFlags | CLONE_FILES | CLONE_FS | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
    if ((flags & ~known) !== 0) return this.leave(task, -EINVAL);
    if (flags & nsFlags && !task.cred.capable(CAP_SYS_ADMIN)) return this.leave(task, -EPERM);
    if (flags & nsFlags) {
      const ns = task.nsproxy.clone();
      if (flags & CLONE_NEWNS) ns.mnt = (task.nsproxy.mnt as MntNamespace).copy(this.nextNsId());
      if (flags & CLONE_NEWUTS) ns.uts = this.newNamespace('uts');
      if (flags & CLONE_NEWIPC) ns.ipc = this.newNamespace('ipc');
      if (flags & CLONE_NEWNET) ns.net = this.newNamespace('net');
      if (flags & CLONE_NEWCGROUP) ns.cgroup = this.newNamespace('cgroup');
      task.nsproxy = ns;
    }
    if (flags & (CLONE_NEWNS | CLONE_FS) && task.fs.users > 1) {
      task.fs.users--;
      task.fs = task.fs.copy();
    }
    if (flags & CLONE_FILES && task.files !== null && task.files.count > 1) {
      const n = task.files.copy();
      task.files.count--;
      task.files = n;
    }
    return this.leave(task, 0);
  }

  /** A page fault on `bytes` of anonymous memory (the model's "touch memory"): 0, -ENOMEM, or -EINTR if OOM-killed. */
  faultAnon(task: Task, bytes: number): number {
    this.enter('faultAnon', task);
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new KwqError('faultAnon', `bad size ${bytes}`);
    if (task.mm === null) return -EINVAL;
    return this.leave(task, chargeAnon(this, task.mm, Math.ceil(bytes / PAGE_SIZE), task));
  }

  // ---- files (public) ------------------------------------------------------------------

  private fdget(where: string, task: Task, fd: number): File | null {
    if (typeof fd !== 'number') throw new KwqError(where, `fd must be a number, got ${typeof fd}`);
    return task.files?.get(fd) ?? null;
  }

  /** open(path, flags): fd or -errno. */
  open(task: Task, path: string, flags: number = O_RDONLY): number {
    this.enter('open', task);
    if (!Number.isInteger(flags) || flags < 0) throw new KwqError('open', `bad flags ${flags}`);
    if (task.files === null) return -EINVAL;
    let inode: Inode;
    let w = pathWalk(this, task, path);
    if (typeof w === 'number') {
      if (w !== -ENOENT || !(flags & O_CREAT)) return this.leave(task, w);
      const pp = pathParent(this, task, path);
      if (typeof pp === 'number') return this.leave(task, pp);
      const c = pp.dir.iop?.create?.(this, pp.dir, pp.name, task) ?? -EACCES; // lookup_open: no ->create
      if (typeof c === 'number') return this.leave(task, c);
      inode = c;
      w = { inode, path: pp.path };
    } else {
      if (flags & O_CREAT && flags & O_EXCL) return this.leave(task, -EEXIST);
      inode = w.inode;
    }
    if (flags & O_DIRECTORY && !isDir(inode.mode)) return this.leave(task, -ENOTDIR);
    if (isDir(inode.mode) && (flags & O_ACCMODE) !== O_RDONLY) return this.leave(task, -EISDIR);
    const file = new File(inode, inode.fop, flags, w.path);
    inode.openCount++;
    const r = inode.fop.open?.(this, inode, file, task) ?? 0;
    if (r < 0) {
      inode.openCount--;
      return this.leave(task, r);
    }
    // do_open: handle_truncate runs after vfs_open succeeded (an open the file refuses truncates nothing)
    if (flags & O_TRUNC && isReg(inode.mode) && (flags & O_ACCMODE) !== O_RDONLY && inode.mapping !== null) shmemSetSize(this, inode, 0);
    const fd = task.files.install(file, task.signal.rlimits[RLIMIT_NOFILE]![0], (flags & O_CLOEXEC) !== 0);
    if (fd < 0) fput(this, file);
    return this.leave(task, fd);
  }

  close(task: Task, fd: number): number {
    this.enter('close', task);
    if (this.fdget('close', task, fd) === null) return this.leave(task, -EBADF);
    fput(this, task.files!.detach(fd)!);
    return this.leave(task, 0);
  }

  dup(task: Task, fd: number): number {
    this.enter('dup', task);
    const f = this.fdget('dup', task, fd);
    if (f === null) return this.leave(task, -EBADF);
    const nfd = task.files!.install(getFile(f), task.signal.rlimits[RLIMIT_NOFILE]![0]);
    if (nfd < 0) f.fCount--;
    return this.leave(task, nfd);
  }

  pread(task: Task, fd: number, length: number, offset: number): number {
    return this.rw('pread', task, fd, length, offset, false);
  }

  pwrite(task: Task, fd: number, length: number, offset: number): number {
    return this.rw('pwrite', task, fd, length, offset, true);
  }

  /** write(fd, length) at the file position */
  write(task: Task, fd: number, length: number): number {
    return this.rw('write', task, fd, length, -1, true);
  }

  /** read(fd, length) at the file position */
  read(task: Task, fd: number, length: number): number {
    return this.rw('read', task, fd, length, -1, false);
  }

  private rw(where: string, task: Task, fd: number, length: number, offset: number, write: boolean): number {
    this.enter(where, task);
    if (!Number.isSafeInteger(length) || length < 0) throw new KwqError(where, `bad length ${length}: expected an integer >= 0`);
    // any loff_t >= 0 (past 2^53 a double: see LOFF_END)
    if (!Number.isInteger(offset) || offset < -1 || offset >= LOFF_END) throw new KwqError(where, `bad offset ${offset}: expected an integer in [0, 2^63)`);
    const f = this.fdget(where, task, fd);
    if (f === null) return this.leave(task, -EBADF);
    if (write ? !f.writable : !f.readable) return this.leave(task, -EBADF);
    const pos = offset < 0 ? f.pos : offset;
    const bad = rwVerifyArea(pos, length); // vfs_read/vfs_write: before f_op (generic_read_dir's -EISDIR)
    if (bad < 0) return this.leave(task, bad);
    if (isDir(f.inode.mode)) return this.leave(task, -EISDIR);
    const r = write ? this.vfsWrite(f, task, length, pos) : this.vfsRead(f, task, length, pos);
    if (offset < 0 && r > 0) f.pos += r;
    return this.leave(task, r);
  }

  /** kernel_write: a write by `task` (a loop worker writing its backing file, say). Bytes or -errno. */
  vfsWrite(file: File, task: Task, length: number, pos: number): number {
    if (file.fop.write === undefined) return -EINVAL;
    return file.fop.write(this, file, task, length, pos);
  }

  /** kernel_read */
  vfsRead(file: File, task: Task, length: number, pos: number): number {
    if (file.fop.read === undefined) return -EINVAL;
    return file.fop.read(this, file, task, length, pos);
  }

  /** vfs_fsync */
  vfsFsync(file: File, task: Task): number {
    return file.fop.fsync?.(this, file, task) ?? -EINVAL;
  }

  fsync(task: Task, fd: number): number {
    this.enter('fsync', task);
    const f = this.fdget('fsync', task, fd);
    if (f === null) return this.leave(task, -EBADF);
    return this.leave(task, this.vfsFsync(f, task));
  }

  ftruncate(task: Task, fd: number, size: number): number {
    this.enter('ftruncate', task);
    if (!Number.isInteger(size) || size >= LOFF_END) throw new KwqError('ftruncate', `bad size ${size}: expected an integer below 2^63`);
    const f = this.fdget('ftruncate', task, fd);
    if (f === null) return this.leave(task, -EBADF);
    if (size < 0) return this.leave(task, -EINVAL);
    if (!isReg(f.inode.mode) || !f.writable || f.inode.mapping === null) return this.leave(task, -EINVAL);
    return this.leave(task, shmemSetSize(this, f.inode, size));
  }

  /** eventfd(initval, flags): fd or -errno. */
  eventfd(task: Task, initval = 0, flags = 0): number {
    this.enter('eventfd', task);
    if (task.files === null) return -EINVAL;
    const sb = this.devDir.sb;
    const inode = new Inode(sb, this.nextIno(), S_IFREG | 0o600, eventfdFops);
    const file = new File(inode, eventfdFops, 2 | flags, 'anon_inode:[eventfd]');
    const ctx = new EventfdCtx();
    ctx.count = initval;
    file.privateData = ctx;
    inode.openCount++;
    const fd = task.files.install(file, task.signal.rlimits[RLIMIT_NOFILE]![0], (flags & O_CLOEXEC) !== 0);
    if (fd < 0) fput(this, file);
    return this.leave(task, fd);
  }

  /** The File behind `fd` of `task` (fdget), or null. For drivers (an eventfd or backing file passed by fd). */
  fileOf(task: Task, fd: number): File | null {
    return this.fdget('fileOf', task, fd);
  }

  /**
   * ioctl(fd, request, arg): the driver's unlocked_ioctl; -EBADF for a bad fd, -ENOTTY
   * for a file without ioctls and for -ENOIOCTLCMD. `arg` is a number (scalar _IOW), a
   * box `{ value }` (scalar _IOR) or an object with the uapi field names (structs).
   */
  ioctl(task: Task, fd: number, request: number, arg?: unknown): number {
    this.enter('ioctl', task);
    if (!Number.isInteger(request) || request < 0 || request > 0xffffffff) {
      throw new KwqError('ioctl', `bad request ${request}: expected an _IO/_IOR/_IOW/_IOWR number in 0..0xffffffff`);
    }
    const f = this.fdget('ioctl', task, fd);
    if (f === null) return this.leave(task, -EBADF);
    // FIOCLEX / FIONCLEX are handled by the VFS for every file (do_vfs_ioctl)
    if (request === 0x5451 || request === 0x5450) {
      if (request === 0x5451) task.files!.cloexec.add(fd);
      else task.files!.cloexec.delete(fd);
      return this.leave(task, 0);
    }
    if (f.fop.unlockedIoctl === undefined) return this.leave(task, -ENOTTY);
    let r = f.fop.unlockedIoctl(this, f, task, request >>> 0, arg);
    if (r === -ENOIOCTLCMD) r = -ENOTTY;
    return this.leave(task, r);
  }

  /** Read a sysfs/cgroupfs-style file: its text, or -errno. */
  readFile(task: Task, path: string): string | number {
    this.enter('readFile', task);
    const w = pathWalk(this, task, path);
    if (typeof w === 'number') return this.leave(task, w);
    if (isDir(w.inode.mode)) return this.leave(task, -EISDIR);
    const show = w.inode.fop.show;
    if (show === undefined) return this.leave(task, -EINVAL);
    const file = new File(w.inode, w.inode.fop, O_RDONLY, w.path);
    const r = show(this, file, task);
    if (typeof r === 'number') return this.leave(task, r);
    if (!task.alive) return -EINTR;
    handleCaughtSignals(this, task);
    return r;
  }

  /** Write text to a sysfs/cgroupfs-style file (or a regular file: created/truncated): bytes written or -errno. */
  writeFile(task: Task, path: string, text: string): number {
    this.enter('writeFile', task);
    if (typeof text !== 'string') throw new KwqError('writeFile', `text must be a string, got ${typeof text}`);
    const w = pathWalk(this, task, path);
    if (typeof w === 'number') {
      if (w !== -ENOENT) return this.leave(task, w);
    } else if (isDir(w.inode.mode)) return this.leave(task, -EISDIR);
    if (typeof w !== 'number' && w.inode.fop.store !== undefined) {
      const file = new File(w.inode, w.inode.fop, O_WRONLY, w.path);
      return this.leave(task, w.inode.fop.store(this, file, task, text));
    }
    if (typeof w !== 'number' && w.inode.fop.show !== undefined) return this.leave(task, -EACCES);
    // like `echo text > path` on a regular file
    const fd = this.open(task, path, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0) return fd;
    const r = this.pwrite(task, fd, text.length, 0);
    if (task.alive) this.close(task, fd);
    return r;
  }

  /** mkdir: 0 or -errno (cgroupfs: a new cgroup; tmpfs and / directories). */
  mkdir(task: Task, path: string): number {
    this.enter('mkdir', task);
    const pp = pathParent(this, task, path);
    if (typeof pp === 'number') return this.leave(task, pp);
    if (pp.dir.iop?.lookup(this, pp.dir, pp.name)) return this.leave(task, -EEXIST);
    const r = pp.dir.iop?.mkdir?.(this, pp.dir, pp.name, task) ?? -EPERM;
    return this.leave(task, typeof r === 'number' ? r : 0);
  }

  /** rmdir: 0 or -errno (cgroupfs: -EBUSY while populated or with children). */
  rmdir(task: Task, path: string): number {
    this.enter('rmdir', task);
    const pp = pathParent(this, task, path);
    if (typeof pp === 'number') return this.leave(task, pp);
    // a mountpoint (or the root of a mount) is busy
    if ((task.nsproxy.mnt as MntNamespace).mountedAt(pp.path) !== null) return this.leave(task, -EBUSY);
    const r = pp.dir.iop?.rmdir?.(this, pp.dir, pp.name, task) ?? -EPERM;
    return this.leave(task, r);
  }

  unlink(task: Task, path: string): number {
    this.enter('unlink', task);
    const pp = pathParent(this, task, path);
    if (typeof pp === 'number') return this.leave(task, pp);
    const r = pp.dir.iop?.unlink?.(this, pp.dir, pp.name, task) ?? -EPERM;
    return this.leave(task, r);
  }

  /** directory listing: names or -errno */
  readdir(task: Task, path: string): string[] | number {
    this.enter('readdir', task);
    const w = pathWalk(this, task, path);
    if (typeof w === 'number') return this.leave(task, w);
    if (!isDir(w.inode.mode)) return this.leave(task, -ENOTDIR);
    return w.inode.iop?.list?.(this, w.inode) ?? [];
  }

  stat(task: Task, path: string): Stat | number {
    this.enter('stat', task);
    const w = pathWalk(this, task, path);
    if (typeof w === 'number') return this.leave(task, w);
    const i = w.inode;
    const size = isBlk(i.mode) ? (i.iPrivate as BlockDevice).sizeBytes : i.size;
    return { mode: i.mode, size, rdev: i.rdev, ino: i.ino };
  }

  /** mount(source, target, fstype, data): tmpfs only ("size=512M"); needs CAP_SYS_ADMIN. */
  mount(task: Task, source: string, target: string, fstype: string, data = ''): number {
    this.enter('mount', task);
    if (!task.cred.capable(CAP_SYS_ADMIN)) return this.leave(task, -EPERM);
    if (fstype !== 'tmpfs') return this.leave(task, -ENODEV);
    const w = pathWalk(this, task, target);
    if (typeof w === 'number') return this.leave(task, w);
    if (!isDir(w.inode.mode)) return this.leave(task, -ENOTDIR);
    const size = parseTmpfsSize(data, this.totalRamPages * PAGE_SIZE, memparse);
    if (size === null) return this.leave(task, -EINVAL);
    void source;
    (task.nsproxy.mnt as MntNamespace).mounts.push({ mountpoint: w.path, sb: tmpfsFill(this, size) });
    return this.leave(task, 0);
  }

  umount(task: Task, target: string): number {
    this.enter('umount', task);
    if (!task.cred.capable(CAP_SYS_ADMIN)) return this.leave(task, -EPERM);
    const w = pathWalk(this, task, target);
    if (typeof w === 'number') return this.leave(task, w);
    const ns = task.nsproxy.mnt as MntNamespace;
    for (let i = ns.mounts.length - 1; i > 0; i--) {
      if (ns.mounts[i]!.mountpoint === w.path) {
        ns.mounts.splice(i, 1);
        return this.leave(task, 0);
      }
    }
    return this.leave(task, -EINVAL);
  }

  // ---- time (public) -------------------------------------------------------------------
  /** sim: advance virtual time by `ms`, running every timer and thread due. threads: a KwqError. */
  advance(ms: number): void {
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) throw new KwqError('advance', `bad duration ${ms} ms: expected a finite number >= 0`);
    this.rt.advance(Math.round(ms * 1e6));
  }
  /** sim: run until nothing is runnable and only deferrable timers remain. */
  runUntilIdle(): void {
    this.rt.runUntilIdle();
  }
  /** both runtimes: let `ms` pass */
  sleep(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !(ms >= 0)) throw new KwqError('sleep', `bad duration ${ms} ms`);
    return this.rt.sleep(ms * 1e6);
  }
  /** Stop host timers (threads runtime) and run module exits. */
  shutdown(): void {
    if (this.down) return;
    for (const fn of [...this.shutdownHooks].reverse()) fn();
    for (const m of registeredModules().reverse()) m.exit?.(this);
    this.down = true;
    this.rt.shutdown();
  }

  private readonly shutdownHooks: (() => void)[] = [];
  /**
   * Run `fn` at k.shutdown(), before the modules' exits (newest first): for a driver
   * that is no module (io_uring has nothing under /sys/module) but owns host threads.
   */
  onShutdown(fn: () => void): void {
    this.shutdownHooks.push(fn);
  }

  // ---- internal API for drivers -------------------------------------------------------

  /** In sim from top-level code: run the simulation until `pred()` holds (or nothing is left). Else just test it. */
  waitFor(pred: () => boolean): boolean {
    if (pred()) return true;
    if (!this.rt.canBlock()) return false;
    return this.rt.runUntil(pred);
  }

  /** reclaim's wait for writeback of these memcgs' page cache */
  waitWriteback(memcgs: MemCgroup[]): void {
    this.waitFor(() => {
      for (const m of memcgs) for (const mapping of m.mappings.keys()) if (mapping.nrWriteback > 0) return false;
      return true;
    });
  }

  private periodicWriteback(): void {
    for (const bdev of this.blockDevices.values()) {
      if (bdev.mapping.nrDirty > 0) startWriteback(this, bdev.mapping, () => true, Infinity, this.flusher);
    }
    if (this.anyDirty()) this.rt.modTimer(this.flushTimer, this.rt.jiffies() + 5 * this.rt.hz);
  }

  private anyDirty(): boolean {
    for (const bdev of this.blockDevices.values()) if (bdev.mapping.nrDirty > 0) return true;
    return false;
  }

  /** Arm the periodic flusher (dirty_writeback_interval, 5 s); block devices call this when they dirty pages. */
  wakeFlusher(): void {
    if (!this.flushTimer.pending) this.rt.modTimer(this.flushTimer, this.rt.jiffies() + 5 * this.rt.hz);
  }

  /**
   * kthread_create(fn, name) + the kthread: a child of kthreadd (PF_KTHREAD, root
   * creds, root cgroups, init namespaces, no mm, no files). Created sleeping: start it
   * with wakeUpProcess(). Returns the task or -errno.
   */
  kthreadCreate(name: string, body: ThreadBody): Task | number {
    const r = copyProcess(this, this.kthreadd, { flags: CLONE_FS | CLONE_FILES, name, kthread: true, body });
    if (typeof r !== 'number') r.flags |= PF_NOFREEZE;
    return r;
  }

  /** kthread_stop: the kthread exits (its body is not run again). */
  kthreadStop(task: Task): void {
    if (!task.isKthread) throw new KwqError('kthread_stop', `${task} is not a kthread`);
    doExit(this, task, 0);
  }

  /**
   * vhost_task_create: a PF_USER_WORKER thread in `owner`'s thread group
   * (CLONE_THREAD|CLONE_VM|CLONE_FS|CLONE_SIGHAND|CLONE_UNTRACED, no files), counted
   * against owner's RLIMIT_NPROC; `handleSigkill` runs if a fatal signal kills it.
   * Created sleeping (vhost_task_start = wakeUpProcess). Returns the task or -errno
   * (-EAGAIN, -ERESTARTNOINTR, ...).
   */
  userWorkerCreate(owner: Task, name: string, body: ThreadBody, handleSigkill: SigkillHandler | null): Task | number {
    this.enter('vhost_task_create', owner);
    const args: KernelCloneArgs = {
      flags: CLONE_THREAD | CLONE_VM | CLONE_FS | CLONE_SIGHAND | CLONE_UNTRACED,
      name, userWorker: true, noFiles: true, body,
    };
    if (handleSigkill !== null) args.handleSigkill = handleSigkill;
    return copyProcess(this, owner, args);
  }

  /** vhost_task_stop: STOP wins over a later SIGKILL (the kill handler is not run); the thread exits. */
  userWorkerStop(task: Task): void {
    if (!(task.flags & PF_USER_WORKER)) throw new KwqError('vhost_task_stop', `${task} is not a user worker`);
    task.workerStopping = true;
    doExit(this, task, 0);
  }

  /** wake_up_process(task): true if it was sleeping. */
  wakeUpProcess(task: Task): boolean {
    if (task.thread === null || !task.alive) return false;
    const woke = this.rt.wakeUpProcess(task.thread);
    const tp = this.tp.schedWakeup;
    if (woke && tp.enabled) tp.fire({ name: tp.name, ts: tp.now, pid: task.pid, comm: task.comm });
    return woke;
  }

  /**
   * wakeUpProcess(task) for a caller that holds the task's thread (`th` === task.thread):
   * the Task is read only for the sched_wakeup event. A dead task's thread is DEAD
   * (do_exit kills it before the task is marked dead), which the runtime does not wake:
   * the same answer as wakeUpProcess's alive check. vhost_worker_queue's wake-up runs
   * per queued batch, and with a thousand workers the Task was a cache miss each (issue 10).
   */
  wakeUpThread(task: Task, th: SimThread): boolean {
    const woke = this.rt.wakeUpProcess(th);
    const tp = this.tp.schedWakeup;
    if (woke && tp.enabled) tp.fire({ name: tp.name, ts: tp.now, pid: task.pid, comm: task.comm });
    return woke;
  }

  /** kthread_use_mm: a kthread borrows `mm` (mmgrab); its allocations then charge mm's owner. */
  kthreadUseMm(task: Task, mm: MmStruct): void {
    if (!task.isKthread) throw new KwqError('kthread_use_mm', `${task} is not a kthread`);
    if (task.mm !== null) throw new KwqError('kthread_use_mm', `${task} already uses mm ${task.mm.id}`);
    mmgrab(mm);
    task.mm = mm;
  }

  kthreadUnuseMm(task: Task): void {
    const mm = task.mm;
    if (!task.isKthread || mm === null) throw new KwqError('kthread_unuse_mm', `${task} uses no mm`);
    task.mm = null;
    mmdrop(mm);
  }

  /** get_task_mm: the mm with an mm_users reference (put it with mmput), or null (kthreads, exited). */
  getTaskMm(task: Task): MmStruct | null {
    if (task.mm === null || task.isKthread) return null;
    return mmgetNotZero(task.mm) ? task.mm : null;
  }

  /** mmput with the kernel's exit_mmap (uncharges anon memory) */
  mmput(mm: MmStruct): void {
    mmput(mm, (m) => unchargeMm(this, m));
  }

  mmget(mm: MmStruct): void {
    mmget(mm);
  }

  /** cgroup_attach_task_all(from, to) */
  cgroupAttachTaskAll(from: Task, to: Task): number {
    return cgroupAttachTaskAll(this, from, to);
  }

  /** the effective css of `ss` for `task` (task_css) */
  cgroupOf(task: Task, ss: Controller): Cgroup {
    const h = this.ssHierarchy.get(ss);
    if (h === undefined) throw new KwqError('task_css', `controller ${ss} is not mounted`);
    return task.cgroups[h]!.ecss(ss);
  }

  /** the root cgroup of the hierarchy bound to `ss` */
  cgroupRootFor(ss: Controller): Cgroup {
    return this.cgroupRoots[this.ssHierarchy.get(ss)!]!.root;
  }

  get rootMemcg(): MemCgroup {
    return this.cgroupRootFor('memory').memcg;
  }

  /** a cgroup by path in the hierarchy of `ss` (default: memory), or null */
  cgroupByPath(path: string, ss: Controller = 'memory'): Cgroup | null {
    let cg = this.cgroupRootFor(ss);
    for (const c of path.split('/').filter((s) => s !== '')) {
      const n = cg.children.get(c);
      if (n === undefined) return null;
      cg = n;
    }
    return cg;
  }

  cgroupfsHasFile(cg: Cgroup, name: string): boolean {
    return cgroupFiles(cg).has(name);
  }

  /** SIGKILL a process (the OOM killer's do_send_sig_info) */
  sigkillProcess(task: Task): void {
    sendSigProcess(this, task, SIGKILL);
  }

  /** an inode lost a reference: free an unlinked tmpfs file's pages when nothing holds it */
  vfsInodeReleased(inode: Inode): void {
    if (inode.nlink === 0 && inode.openCount === 0 && inode.mapping !== null && inode.mapping.kind === 'shmem') shmemEvictInode(this, inode);
  }

  /**
   * cpu accounting for a slice a thread ran (kernel threads and user workers: system
   * time): chargeCpu without reading the Task. th.alive and task.alive agree here
   * (do_exit kills the thread and marks the task dead in one call, never across a
   * slice's end), and the stats are cached on the thread (cpuStatOf).
   */
  private accountRun(th: SimThread, start: number, cost: number, cpu: number): void {
    if (cost > 0 && th.alive) this.cpuStatOf(th, th.owner as Task).systemNs += cost;
    const tp = this.tp.schedSlice;
    if (tp.enabled) {
      const task = th.owner as Task;
      tp.fire({ name: tp.name, ts: tp.now, pid: task.pid, comm: task.comm, cpu, startNs: start, costNs: cost });
    }
  }

  /** a task's cgroups or a cgroup's effective controllers may have changed: drop the cpuStatOf and blkcgOf caches */
  cgroupsChanged(): void {
    this.cgroupEpoch++;
  }

  /** charge `ns` of CPU time to the task's cpu cgroup (cpu.stat usage_usec) */
  chargeCpu(task: Task, ns: number, user: boolean): void {
    const stat = this.cpuStatOf(task, task);
    if (user) stat.userNs += ns;
    else stat.systemNs += ns;
  }

  /**
   * The cpu stats of cgroupOf(task, 'cpu'), cached in `cache` (the task, or its sim
   * thread, whose slice charge must not read the Task) while the cgroup epoch holds:
   * the lookup is a Map and two Set lookups and the task's css_set array, a cache miss
   * per charge with a thousand tasks (issue 10).
   */
  private cpuStatOf(cache: { acct: unknown; acctEpoch: number }, task: Task): CpuStat {
    let stat = cache.acct as CpuStat | null;
    if (stat === null || cache.acctEpoch !== this.cgroupEpoch) {
      stat = this.cgroupOf(task, 'cpu').cpu;
      cache.acct = stat;
      cache.acctEpoch = this.cgroupEpoch;
    }
    return stat;
  }

  /** wrap a thread body so a stopped group parks it */
  wrapBody(task: Task, body: ThreadBody): ThreadBody {
    return new TaskBody(task, body, this);
  }

  /** The cgroups (one per hierarchy) for a path; created when missing if `create` (intermediate ones delegate every controller). */
  private cgroupsForPath(where: string, path: string, create: boolean): Cgroup[] {
    if (typeof path !== 'string' || !path.startsWith('/')) throw new KwqError(where, `bad cgroup path ${JSON.stringify(path)}: expected an absolute path like '/machine.slice/vm1'`);
    const parts = path.split('/').filter((s) => s !== '');
    const out: Cgroup[] = [];
    for (const r of this.cgroupRoots) {
      let cg = r.root;
      for (let i = 0; i < parts.length; i++) {
        let n = cg.children.get(parts[i]!);
        if (n === undefined) {
          if (!create) throw new KwqError(where, `no cgroup ${path}`);
          const made = cgroupMkdir(this, cg, parts[i]!);
          if (typeof made === 'number') throw new KwqError(where, `cannot create cgroup ${parts.slice(0, i + 1).join('/')}: ${made}`);
          n = made;
          if (r.v2 && i < parts.length - 1) for (const c of DFL_CONTROLLERS) if (cg.subtreeControl.has(c)) n.subtreeEnable(c);
          this.cgroupsChanged();
        }
        cg = n;
      }
      out.push(cg);
    }
    return out;
  }
}

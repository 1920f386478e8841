/**
 * One fuzzed kernel: boot, the commands of commands.ts run against it, the invariants
 * checked after every step, and the teardown check. Everything goes through the public
 * API (src/index.ts) except the few white-box counters the teardown check reads
 * (vhost works in use, loop and vhost threads): what a user could do, judged by what
 * the kernel model promises (DESIGN.md):
 *
 *   I1 no call throws, except a KwqError for library misuse (a dead task's call, a
 *      non-integer where the API takes an integer); never a TypeError or the like
 *   I2 every syscall returns an integer: >= 0 or -errno with a known errno (readFile:
 *      text or -errno; fork: a Task or -errno)
 *   I3 a rejected call (-errno) changes nothing: the device, the caller's fds, the task
 *      list, the user's argument, the cgroup file written (see `unchanged` for the
 *      kernel's own exceptions)
 *   I4 cgroup counters are non-negative and hierarchical: a parent's memory.current and
 *      pids.current are >= the sum of its children's
 *   I5 no file read shows NaN, undefined, Infinity, null or [object Object]
 *   I6 after teardown (every process killed): no user task, vhost worker, io-wq worker,
 *      VM, open loop device or queued vhost work is left; every pids.current is 0; in
 *      the threads runtime every worker thread has exited
 *   I7 (sim) PSI's counts are the threads': each v2 cgroup's waiting and on-CPU counts
 *      equal the live threads of its subtree's tasks that are queued or throttled, and
 *      running (psi.ts counts a thread in its task's cgroup, moves included)
 */
import {
  EINTR, EFAULT, EMFILE, ENFILE, KwqError, Kernel, kvmVms, loopInfo, loopThreadCount, loopThreadsIdle, O_CREAT, O_RDWR, PF_KTHREAD,
  SIGKILL, type Task, IoUring, vhostDevInfo, vhostThreadCount, vhostThreadsIdle, KVM_CREATE_DEVICE, VHOST_NEW_WORKER,
  IORING_OP_NOP, IORING_OP_READ, IORING_OP_WRITE, IOSQE_ASYNC, VHOST_SET_OWNER, VHOST_SET_MEM_TABLE, LOOP_CONFIGURE, KVM_CREATE_VM,
} from '../../src/index.js';
import { VhostEngine } from '../../src/drivers/vhost/vhost-engine.js';
import { loopDevice } from '../../src/drivers/loop/loop-control.js';
import type { Cgroup } from '../../src/kernel/cgroup/cgroup.js';
import type { SimRuntime } from '../../src/runtime/sim.js';
import { THREAD_RUNNABLE, THREAD_RUNNING, THREAD_THROTTLED } from '../../src/runtime/sim-thread.js';
import { errnoName as kernelErrnoName } from '../../src/kernel/errno.js';
import { look, materialize, type ArgSpec } from './args.js';
import {
  ALL_REQUESTS, CG_FILES, CGROUPS, IO_URING_PARAMS, OPEN_PATHS, REQUESTS, requestKind, type Cmd, type FdRef, type RequestInfo,
} from './commands.js';

export type RuntimeKind = 'sim' | 'threads';

/** An invariant that did not hold: the fuzzer's failure (fast-check shrinks the command list that led to it). */
export class Violation extends Error {
  override readonly name = 'Violation';
}

/**
 * Defects the fuzzer found in files another person owns right now (issue 13's report
 * names them): counted, not failed, so that a run goes on to find the next one.
 * `npm run fuzz -- --strict` fails on them too; test/fuzz/fuzz.test.ts pins each with a
 * test.fails that turns red once the defect is fixed (then delete the entry).
 */
export const KNOWN_OPEN: { id: string; where: string; match: (c: Cmd, msg: string) => boolean }[] = [
  // none open: the io_uring params and register defects were fixed (test/fuzz/fuzz.test.ts pins them)
];

/** KWQ_FUZZ_TRACE=1: print each command before it runs (finds the call that hangs) */
const TRACE = process.env['KWQ_FUZZ_TRACE'] === '1';

const BAD_TEXT = /NaN|undefined|Infinity|\bnull\b|\[object Object\]/;

export interface StepStats {
  calls: number;
  rejected: number;
  kwqErrors: number;
  ooms: number;
}

export class World {
  readonly procs: Task[] = [];
  readonly files: string[] = [];
  readonly stats: StepStats = { calls: 0, rejected: 0, kwqErrors: 0, ooms: 0 };
  /** per op (ioctls by request name): [calls that returned >= 0, calls rejected with -errno] */
  readonly coverage = new Map<string, [number, number]>();
  /** KNOWN_OPEN hits by id */
  readonly known = new Map<string, number>();
  /** fail on KNOWN_OPEN defects too */
  strict = false;
  private oomKills = 0;

  private constructor(
    readonly k: Kernel,
    readonly runtime: RuntimeKind,
  ) {
    k.trace.on('mark_victim', () => {
      this.oomKills++;
    });
  }

  static async boot(runtime: RuntimeKind, seed: number): Promise<World> {
    const k = await Kernel.boot({ runtime, seed, ncpus: 2, memory: '2G', cmdline: 'vhost_scsi.max_io_vqs=2' });
    const w = new World(k, runtime);
    const root = k.init;
    for (const cg of ['/fuzz', '/fuzz/a', '/fuzz/b']) w.must(k.mkdir(root, `/sys/fs/cgroup${cg}`), `mkdir ${cg}`);
    w.must(k.writeFile(root, '/sys/fs/cgroup/cgroup.subtree_control', '+memory +pids +io +cpu'), 'subtree_control');
    w.must(k.writeFile(root, '/sys/fs/cgroup/fuzz/cgroup.subtree_control', '+memory +pids +io +cpu'), 'subtree_control');
    w.must(k.writeFile(root, '/sys/fs/cgroup/fuzz/a/memory.max', '256M'), 'memory.max');
    w.procs.push(k.spawn({ comm: 'qemu', uid: 107, cgroup: '/fuzz/a', rlimits: { RLIMIT_NPROC: [8, 8] } }));
    w.procs.push(k.spawn({ comm: 'rootd', uid: 0, cgroup: '/fuzz/b' }));
    for (const f of ['/tmp/f0', '/tmp/f1']) {
      const fd = k.open(root, f, O_RDWR | O_CREAT);
      w.must(fd, `open ${f}`);
      w.must(k.ftruncate(root, fd, 4 << 20), 'ftruncate');
      k.close(root, fd);
    }
    // every device open from the start (fds 0..), so that most ioctls meet a device
    const [qemu, rootd] = w.procs as [Task, Task];
    for (const path of ['/dev/vhost-net', '/dev/vhost-scsi', '/dev/vhost-vsock', '/dev/kvm', '/dev/loop-control', '/dev/loop0', '/tmp/f0']) w.must(k.open(qemu, path, O_RDWR), `open ${path}`);
    w.must(k.eventfd(qemu), 'eventfd');
    for (const path of ['/dev/loop-control', '/dev/loop1', '/tmp/f1', '/dev/vhost-scsi']) w.must(k.open(rootd, path, O_RDWR), `open ${path}`);
    // and some of them set up as QEMU would, so that the deeper paths are reachable: the
    // vhost-scsi device owned with an empty memory table, loop0 bound to /tmp/f0, a VM
    w.must(k.ioctl(qemu, 1, VHOST_SET_OWNER), 'VHOST_SET_OWNER');
    w.must(k.ioctl(qemu, 1, VHOST_SET_MEM_TABLE, { nregions: 0, padding: 0 }), 'VHOST_SET_MEM_TABLE');
    w.must(k.ioctl(qemu, 5, LOOP_CONFIGURE, { fd: 6 }), 'LOOP_CONFIGURE');
    w.must(k.ioctl(qemu, 3, KVM_CREATE_VM, 0), 'KVM_CREATE_VM');
    w.collectFiles('/');
    return w;
  }

  private must(r: number, what: string): void {
    if (r < 0) throw new Error(`fuzz set-up: ${what} returned ${r}`);
  }

  /** every regular file below `dir` (cgroup directories are added as they appear: `read` resolves lazily) */
  private collectFiles(dir: string): void {
    const l = this.k.readdir(this.k.init, dir);
    if (typeof l === 'number') return;
    for (const n of l) {
      const p = `${dir === '/' ? '' : dir}/${n}`;
      const st = this.k.stat(this.k.init, p);
      if (typeof st === 'number') continue;
      if ((st.mode & 0o170000) === 0o040000) {
        if (!p.startsWith('/proc')) this.collectFiles(p);
      } else if (!p.startsWith('/dev/')) this.files.push(p);
    }
  }

  task(i: number): Task {
    return this.procs[i % this.procs.length]!;
  }

  private openFds(t: Task): number[] {
    const out: number[] = [];
    const fds = t.files?.fds ?? [];
    for (let i = 0; i < fds.length; i++) if (fds[i] !== null && fds[i] !== undefined) out.push(i);
    return out;
  }

  /** An fd of `t`: `raw` as given, else the i-th open one (for an ioctl: the i-th that has ioctls, if any). */
  private fd(t: Task, ref: FdRef, forIoctl = false): number {
    if ('raw' in ref) return ref.raw;
    let open = this.openFds(t);
    if (forIoctl) {
      const dev = open.filter((fd) => REQUESTS[requestKind(t.files!.fds[fd]!.path)] !== undefined);
      if (dev.length > 0) open = dev;
    }
    return open.length === 0 ? ref.i : open[ref.i % open.length]!;
  }

  private request(t: Task, fd: number, req: Extract<Cmd, { op: 'ioctl' }>['req']): RequestInfo {
    if ('raw' in req) return ALL_REQUESTS.find((x) => x.req === req.raw) ?? { req: req.raw, name: `0x${req.raw.toString(16)}`, shape: 'scalar' };
    if ('any' in req) return ALL_REQUESTS[req.any % ALL_REQUESTS.length]!;
    const f = this.k.fileOf(t, fd);
    const list = (f !== null ? REQUESTS[requestKind(f.path)] : undefined) ?? ALL_REQUESTS;
    return list[req.pick % list.length]!;
  }

  // ---- snapshots for I3 -----------------------------------------------------------------

  /** The state a rejected ioctl on `fd` must leave alone: its device, the caller's fds, the task list. */
  private ioctlScope(t: Task, fd: number): string {
    const k = this.k;
    const f = k.fileOf(t, fd);
    let dev: unknown = null;
    if (f !== null) {
      const kind = requestKind(f.path);
      if (kind.startsWith('/dev/vhost-')) {
        const i = vhostDevInfo(k, t, fd);
        dev = typeof i === 'number' ? i : { ...i, workers: i.workers.map((x) => ({ id: x.id, mode: x.mode, pid: x.pid, attachmentCnt: x.attachmentCnt, killed: x.killed })), vqs: i.vqs };
      } else if (kind === 'loop' || kind === '/dev/loop-control') {
        dev = this.loopDevices();
      } else if (kind.includes('kvm')) {
        dev = kvmVms(k).map((v) => ({ id: v.id, usersCount: v.usersCount, vcpus: v.vcpus, memslots: v.memslots, devices: v.devices }));
      }
    }
    return stringify({ dev, fds: this.fdTable(t), tasks: this.taskList() });
  }

  private loopDevices(): unknown {
    const out: unknown[] = [];
    const l = this.k.readdir(this.k.init, '/dev');
    if (typeof l === 'number') return l;
    for (const n of l) {
      const m = /^loop(\d+)$/.exec(n);
      if (m === null) continue;
      try {
        const i = loopInfo(this.k, Number(m[1]));
        out.push({ name: i.name, state: i.state, flags: i.flags, openers: i.openers, design: i.design });
      } catch (e) {
        if (!(e instanceof KwqError)) throw e;
      }
    }
    return out;
  }

  private fdTable(t: Task): string[] {
    return t.alive ? this.openFds(t).map((fd) => `${fd}:${t.files!.fds[fd]!.path}`) : [];
  }

  private taskList(): string[] {
    return this.k.tasks().map((x) => `${x.pid}:${x.comm}:${x.cgroup}:${x.alive}`);
  }

  // ---- one step -------------------------------------------------------------------------

  /**
   * Run `c`; check I1-I3 for it, then I4-I5 for the whole kernel. Throws a Violation
   * (or the unexpected exception itself, wrapped) when an invariant does not hold.
   */
  async step(c: Cmd): Promise<void> {
    if (TRACE) process.stderr.write(`${JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}\n`);
    try {
      await this.stepInner(c);
    } catch (e) {
      if (!(e instanceof Violation) || this.strict) throw e;
      const known = KNOWN_OPEN.find((x) => x.match(c, e.message));
      if (known === undefined) throw e;
      this.known.set(known.id, (this.known.get(known.id) ?? 0) + 1);
    }
  }

  private async stepInner(c: Cmd): Promise<void> {
    const k = this.k;
    if (c.op === 'time') {
      if (this.runtime === 'sim') k.advance(c.ms);
      else await k.sleep(Math.min(c.ms, 5)); // wall time: a few ms, the threads run meanwhile
      this.checkCounters();
      return;
    }
    if (c.op === 'spawn') {
      const cg = CGROUPS[c.cg % CGROUPS.length]!;
      const parent = this.procs.find((x) => x.alive) ?? k.init;
      try {
        this.procs.push(k.spawn({ parent, comm: `p${this.procs.length}`, uid: c.uid, cgroup: cg === '' ? '/' : cg, rlimits: { RLIMIT_NPROC: [c.nproc, c.nproc], RLIMIT_NOFILE: [c.nofile, c.nofile] } }));
      } catch (e) {
        // spawn is a convenience that throws when the fork fails (its docs): a KwqError only
        if (!(e instanceof KwqError)) throw new Violation(`spawn threw ${describe(e)}`);
        this.stats.kwqErrors++;
      }
      this.stats.calls++;
      this.cgDirs = null; // spawn creates the cgroup it names
      this.checkCounters();
      return;
    }
    const t = this.task(c.p);
    if (!t.alive) {
      // I1: a call by a dead task is library misuse, a KwqError (DESIGN.md)
      try {
        k.close(t, 0);
      } catch (e) {
        if (e instanceof KwqError) return;
        throw new Violation(`a dead task's call threw ${describe(e)} instead of a KwqError`);
      }
      throw new Violation(`a dead task's close() returned instead of throwing a KwqError`);
    }
    this.stats.calls++;
    const oomBefore = this.oomKills;
    let scope: (() => string) | null = null;
    let argBefore = '';
    let arg: unknown;
    let misuse: RegExp | null = null;
    let call: () => unknown;
    let kernelKeeps: (r: number) => boolean = () => false;
    /** errnos the kernel returns after it has already written the caller's struct */
    let argWritten: (r: number) => boolean = () => false;
    let name: string = c.op;
    switch (c.op) {
      case 'fork':
        scope = () => stringify(this.taskList());
        call = () => {
          const r = k.fork(t);
          if (typeof r !== 'number') this.procs.push(r);
          return typeof r === 'number' ? r : 0;
        };
        break;
      case 'thread':
        scope = () => stringify(this.taskList());
        call = () => {
          const r = k.clone(t, 0x00010f00); // CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
          if (typeof r !== 'number') this.procs.push(r);
          return typeof r === 'number' ? r : 0;
        };
        break;
      case 'exit':
        call = () => {
          k.exit(t, 0);
          return 0;
        };
        break;
      case 'kill': {
        const victim = this.task(c.p);
        if (!victim.alive) return;
        misuse = /signal|sig/;
        call = () => k.kill(victim, c.sig);
        break;
      }
      case 'setrlimit':
        scope = () => stringify(k.getrlimit(t, c.res));
        call = () => k.setrlimit(t, c.res, [c.soft, c.hard]);
        break;
      case 'setresuid':
        scope = () => stringify([t.cred.uid, t.cred.euid]);
        call = () => k.setresuid(t, c.ruid, c.euid, -1);
        break;
      case 'open': {
        const path = OPEN_PATHS[c.path % OPEN_PATHS.length]!;
        scope = () => stringify({ fds: this.fdTable(t), dir: k.readdir(k.init, '/tmp') });
        call = () => k.open(t, path, c.flags);
        break;
      }
      case 'close':
      case 'dup': {
        const fd = this.fd(t, c.fd);
        scope = () => stringify(this.fdTable(t));
        call = () => (c.op === 'close' ? k.close(t, fd) : k.dup(t, fd));
        break;
      }
      case 'ioctl': {
        const fd = this.fd(t, c.fd, true);
        const info = this.request(t, fd, c.req);
        name = `ioctl ${info.name.startsWith('0x') ? '(other request)' : info.name}`;
        // a small number in an fd field or fd argument picks one of the caller's open fds
        arg = materialize(c.arg, info.shape, (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 16 ? this.fd(t, { i: v }) : v));
        argBefore = look(arg);
        scope = () => this.ioctlScope(t, fd);
        // loop and KVM take a scalar argument as an integer (loop: a number, missing is misuse;
        // KVM: a number or bigint, missing is 0); anything else may be a KwqError
        if ((info.shape === 'scalar' || info.shape === 'fd') && !(typeof arg === 'number' && Number.isSafeInteger(arg))) misuse = /must be an integer/;
        // the kernel copies the struct out after creating the worker / device fd: on -EFAULT they stay
        kernelKeeps = (r) => r === -EFAULT && (info.req === VHOST_NEW_WORKER || info.req === KVM_CREATE_DEVICE);
        call = () => k.ioctl(t, fd, info.req, arg);
        break;
      }
      case 'rw': {
        const fd = this.fd(t, c.fd);
        scope = () => stringify(this.fileSize(t, fd));
        call = () => (c.write ? k.pwrite(t, fd, c.len, c.off < 0 ? 0 : c.off) : k.pread(t, fd, c.len, c.off < 0 ? 0 : c.off));
        break;
      }
      case 'ftruncate': {
        const fd = this.fd(t, c.fd);
        scope = () => stringify(this.fileSize(t, fd));
        call = () => k.ftruncate(t, fd, c.size);
        break;
      }
      case 'fsync': {
        const fd = this.fd(t, c.fd);
        call = () => k.fsync(t, fd);
        break;
      }
      case 'eventfd':
        scope = () => stringify(this.fdTable(t));
        call = () => k.eventfd(t);
        break;
      case 'cgwrite': {
        const path = `/sys/fs/cgroup${CGROUPS[c.cg % CGROUPS.length]}/${CG_FILES[c.file % CG_FILES.length]}`;
        const text = c.text.replace(/\$pid/g, () => String(this.task(c.p + 1).pid));
        // the file written and the cgroup's processes; reading may fail (write-only files): compare the errno then
        scope = () => stringify({ v: k.readFile(k.init, path), procs: k.readFile(k.init, path.replace(/[^/]+$/, 'cgroup.procs')) });
        call = () => k.writeFile(t, path, text);
        // memory.reclaim's -EAGAIN comes after reclaiming what it could (writeback, kworkers): a partial success
        kernelKeeps = (r) => path.endsWith('/memory.reclaim') && r === -11;
        break;
      }
      case 'read': {
        const path = this.readTarget(c.file);
        call = () => k.readFile(t, path);
        break;
      }
      case 'mkdir':
      case 'rmdir': {
        const cg = CGROUPS[c.cg % CGROUPS.length]!;
        const path = `/sys/fs/cgroup${cg}`;
        scope = () => stringify(k.readdir(k.init, path.replace(/\/[^/]*$/, '') || '/sys/fs/cgroup'));
        call = () => (c.op === 'mkdir' ? k.mkdir(t, path) : k.rmdir(t, path));
        break;
      }
      case 'fault':
        call = () => k.faultAnon(t, c.bytes);
        break;
      case 'uring_setup': {
        arg = materialize(c.params, IO_URING_PARAMS);
        argBefore = look(arg);
        scope = () => stringify(this.fdTable(t));
        if (!Number.isInteger(c.entries)) misuse = /./; // entries is a C unsigned: an integer
        // io_uring_create copies the params out before io_uring_install_fd, so a full fd
        // table (-EMFILE) or file table (-ENFILE) fails after the caller's struct changed
        // (io_uring/io_uring.c, 6.1 and 6.12)
        argWritten = (r) => r === -EMFILE || r === -ENFILE;
        call = () => k.io_uring_setup(t, c.entries, arg as never);
        break;
      }
      case 'uring_enter': {
        const fd = this.fd(t, c.fd);
        call = () => k.io_uring_enter(t, fd, c.submit, c.min, c.flags);
        break;
      }
      case 'uring_register': {
        const fd = this.fd(t, c.fd);
        arg = materialize(c.arg, 'scalar');
        if (c.arg.t === 'tmpl') arg = c.arg.wrap === 'plain' ? [arg, materialize({ ...c.arg, pool: c.arg.pool.slice(1).concat(c.arg.pool) }, 'scalar')] : arg;
        argBefore = look(arg);
        call = () => k.io_uring_register(t, fd, c.opcode, arg, c.nr);
        break;
      }
      case 'uring_io': {
        const fd = this.fd(t, c.fd);
        const f = k.fileOf(t, fd);
        if (f === null || f.path !== 'anon_inode:[io_uring]') return;
        const target = this.fd(t, c.target);
        call = () => {
          const ring = IoUring.attach(k, t, fd);
          for (let i = 0; i < c.n; i++) {
            if (!ring.prep(c.write ? IORING_OP_WRITE : i === 0 ? IORING_OP_NOP : IORING_OP_READ, target, 4096, 4096 * i, BigInt(i), c.async ? IOSQE_ASYNC : 0)) break;
          }
          const r = ring.submit();
          if (t.alive) ring.reap();
          return r;
        };
        break;
      }
      case 'ioprio':
        call = () => k.ioprio_set(t, c.which, c.who, c.prio);
        break;
    }
    if (c.op === 'mkdir' || c.op === 'rmdir') this.cgDirs = null;
    const before = scope?.() ?? '';
    let r: unknown;
    try {
      r = call();
    } catch (e) {
      if (e instanceof KwqError && misuse !== null && misuse.test(e.message)) {
        this.stats.kwqErrors++;
        return this.after(c, oomBefore);
      }
      throw new Violation(`${c.op} threw ${describe(e)}`);
    }
    // I2
    if (c.op === 'read') {
      if (typeof r === 'string') {
        if (BAD_TEXT.test(r)) throw new Violation(`${this.readTarget((c as { file: number }).file)} reads ${JSON.stringify(r.slice(0, 200))}`);
      } else checkErrno(c.op, r);
    } else checkErrno(c.op, r);
    const ret = typeof r === 'number' ? r : 0;
    if (ret < 0 && process.env.KWQ_FUZZ_ERRNOS) name += ` ${errnoName(ret)}`;
    const cov = this.coverage.get(name) ?? [0, 0];
    cov[ret < 0 ? 1 : 0]++;
    this.coverage.set(name, cov);
    // I3
    if (ret < 0) {
      this.stats.rejected++;
      const killed = this.oomKills !== oomBefore || ret === -EINTR || !t.alive;
      if (!killed && !kernelKeeps(ret)) {
        if (arg !== undefined && !argWritten(ret) && look(arg) !== argBefore) throw new Violation(`${c.op} returned ${errnoName(ret)} and changed the caller's argument: ${argBefore} -> ${look(arg)}`);
        if (scope !== null) {
          const after = scope();
          if (after !== before) throw new Violation(`${c.op} returned ${errnoName(ret)} and changed the state:\n  before ${before}\n  after  ${after}`);
        }
      }
    }
    this.after(c, oomBefore);
  }

  private after(_c: Cmd, oomBefore: number): void {
    if (this.oomKills !== oomBefore) this.stats.ooms++;
    this.checkCounters();
  }

  private readTarget(i: number): string {
    // the collected files, then the files of every cgroup that may exist now
    const all = this.files.length + CGROUPS.length * CG_FILES.length;
    const j = i % all;
    if (j < this.files.length) return this.files[j]!;
    const n = j - this.files.length;
    return `/sys/fs/cgroup${CGROUPS[Math.floor(n / CG_FILES.length)]}/${CG_FILES[n % CG_FILES.length]}`;
  }

  private fileSize(t: Task, fd: number): number | string {
    const f = this.k.fileOf(t, fd);
    return f === null ? 'none' : f.inode.size;
  }

  // ---- I4 / I5: the cgroup tree ------------------------------------------------------------

  /** the cgroup directories (readdir + stat), re-read after a call that may add or remove one */
  private cgDirs: { path: string; parent: number }[] | null = null;

  private cgroupDirs(): { path: string; parent: number }[] {
    if (this.cgDirs !== null) return this.cgDirs;
    const k = this.k;
    const out: { path: string; parent: number }[] = [];
    const walk = (dir: string, parent: number): void => {
      const me = out.length;
      out.push({ path: dir, parent });
      const names = k.readdir(k.init, dir);
      if (typeof names === 'number') throw new Violation(`readdir ${dir}: ${names}`);
      for (const n of names) {
        if (n.includes('.')) continue; // interface files (controller.name); cgroup names here have no dot
        const st = k.stat(k.init, `${dir}/${n}`);
        if (typeof st !== 'number' && (st.mode & 0o170000) === 0o040000) walk(`${dir}/${n}`, me);
      }
    };
    walk('/sys/fs/cgroup', -1);
    this.cgDirs = out;
    return out;
  }

  private steps = 0;

  /**
   * I4 after every step over the counters the files print (memcg usage, pids counter: a
   * walk of the cgroup tree, ~10 us), and every 16 steps through the files themselves
   * (readFile of cgroupfs costs ~50 us each; the teardown reads every file too).
   */
  checkCounters(): void {
    if (++this.steps % 16 === 0) {
      this.checkTree();
      return;
    }
    const walk = (cg: Cgroup): { mem: number; pids: number } => {
      let mem = 0;
      let pids = 0;
      for (const c of cg.children.values()) {
        const s = walk(c);
        mem += s.mem;
        pids += s.pids;
      }
      const my = { mem: cg.memcg.usage, pids: cg.pids.counter };
      if (!Number.isSafeInteger(my.mem) || my.mem < 0 || !Number.isSafeInteger(my.pids) || my.pids < 0) {
        throw new Violation(`cgroup ${cg.path}: memory usage ${my.mem} pages, pids ${my.pids}: not counts >= 0`);
      }
      if (cg.parent !== null && (my.mem < mem || my.pids < pids)) {
        throw new Violation(`cgroup ${cg.path}: memory usage ${my.mem} pages / pids ${my.pids} < its children's sums ${mem} / ${pids}`);
      }
      return my;
    };
    for (const r of this.k.cgroupRoots) walk(r.root);
    if (this.runtime === 'sim') this.checkPsiCounts();
  }

  /** I7: after the runtime's pending changes are settled (what a read of cpu.pressure does first) */
  private checkPsiCounts(): void {
    const k = this.k;
    const rt = k.rt as SimRuntime;
    if (rt.stallHook === null) return; // no thread has run yet
    const dfl = k.cgroupRoots.findIndex((r) => r.v2);
    if (dfl < 0) return;
    rt.psiFlush();
    const want = new Map<Cgroup, { waiting: number; oncpu: number }>();
    for (const t of k.tasks()) {
      const th = t.thread;
      if (th === null || !th.alive) continue;
      const waiting = th.state === THREAD_RUNNABLE || th.state === THREAD_THROTTLED ? 1 : 0;
      const oncpu = th.state === THREAD_RUNNING ? 1 : 0;
      if (waiting + oncpu === 0) continue;
      for (let c: Cgroup | null = t.cgroups[dfl]!; c !== null; c = c.parent) {
        const w = want.get(c) ?? { waiting: 0, oncpu: 0 };
        w.waiting += waiting;
        w.oncpu += oncpu;
        want.set(c, w);
      }
    }
    const walk = (cg: Cgroup): void => {
      const g = cg.cpuTg.psi;
      const w = want.get(cg) ?? { waiting: 0, oncpu: 0 };
      if (g.waiting !== w.waiting || g.oncpu !== w.oncpu) {
        throw new Violation(`cgroup ${cg.path}: PSI counts ${g.waiting} waiting / ${g.oncpu} on a CPU, its threads ${w.waiting} / ${w.oncpu}`);
      }
      for (const c of cg.children.values()) walk(c);
    };
    walk(k.cgroupRoots[dfl]!.root);
  }

  /** Every cgroup: memory.current and pids.current are counts >= 0 and >= the sum of the children's. */
  checkTree(): void {
    const k = this.k;
    const dirs = this.cgroupDirs();
    const num = (path: string): number => {
      const v = k.readFile(k.init, path);
      if (typeof v === 'number') return -1; // not there (the root has no memory.current; a removed cgroup)
      if (BAD_TEXT.test(v)) throw new Violation(`${path} reads ${JSON.stringify(v)}`);
      const n = Number(v.trim());
      if (!Number.isSafeInteger(n) || n < 0) throw new Violation(`${path} is ${JSON.stringify(v)}: not a count >= 0`);
      return n;
    };
    const mem = dirs.map((d) => (d.parent < 0 ? -1 : num(`${d.path}/memory.current`)));
    const pids = dirs.map((d) => (d.parent < 0 ? -1 : num(`${d.path}/pids.current`)));
    const sumMem = new Array<number>(dirs.length).fill(0);
    const sumPids = new Array<number>(dirs.length).fill(0);
    dirs.forEach((d, i) => {
      if (d.parent < 0) return;
      sumMem[d.parent]! += Math.max(0, mem[i]!);
      sumPids[d.parent]! += Math.max(0, pids[i]!);
    });
    dirs.forEach((d, i) => {
      if (d.parent < 0) return;
      if (mem[i]! >= 0 && mem[i]! < sumMem[i]!) throw new Violation(`${d.path}/memory.current ${mem[i]} < the sum of its children's ${sumMem[i]}`);
      if (pids[i]! >= 0 && pids[i]! < sumPids[i]!) throw new Violation(`${d.path}/pids.current ${pids[i]} < the sum of its children's ${sumPids[i]}`);
    });
  }

  /** I5 over every file there is: the collected ones and every cgroup's. */
  checkAllFiles(): void {
    const k = this.k;
    const sweep = (dir: string): void => {
      const names = k.readdir(k.init, dir);
      if (typeof names === 'number') return;
      for (const n of names) {
        const p = `${dir}/${n}`;
        const st = k.stat(k.init, p);
        if (typeof st === 'number') continue;
        if ((st.mode & 0o170000) === 0o040000) sweep(p);
        else {
          const v = k.readFile(k.init, p);
          if (typeof v === 'string' && BAD_TEXT.test(v)) throw new Violation(`${p} reads ${JSON.stringify(v.slice(0, 200))}`);
        }
      }
    };
    sweep('/sys');
  }

  // ---- I6: teardown ----------------------------------------------------------------------

  /** Kill every process, let the kernel settle, check nothing is left; shuts the kernel down. */
  async teardown(): Promise<void> {
    const k = this.k;
    this.checkAllFiles();
    try {
      for (const t of k.tasks()) {
        if (t.alive && t !== k.init && !(t.flags & PF_KTHREAD) && t.tgid === t.pid && t.mm !== null) k.kill(t, SIGKILL);
      }
      if (this.runtime === 'sim') k.advance(1);
      else {
        await k.sleep(2);
        if (!(await vhostThreadsIdle(k, 10_000))) throw new Violation('teardown: vhost threads did not stop within 10 s');
      }
      const left = k.tasks().filter((t) => t.alive && t !== k.init && !(t.flags & PF_KTHREAD));
      if (left.length > 0) throw new Violation(`teardown: tasks left alive after SIGKILL to every process: ${left.map((t) => `${t.pid}:${t.comm}`).join(', ')}`);
      if (kvmVms(k).length > 0) throw new Violation(`teardown: ${kvmVms(k).length} VMs left with no process`);
      const ve = VhostEngine.peek(k);
      if (ve !== undefined && ve.worksInUse() !== 0) throw new Violation(`teardown: ${ve.worksInUse()} vhost works still allocated`);
      // no process holds a loop device open; a bound loop device may hold another as its backing file (as Linux's does)
      const devs = this.loopDevices() as { name: string; state: string; openers: number }[];
      const asBacking = (name: string): number => devs.filter((d) => {
        const lo = loopDevice(k, Number(d.name.slice(4)));
        return lo !== null && lo.backingFile?.path === `/dev/${name}`;
      }).length;
      const open = devs.filter((d) => d.openers > asBacking(d.name));
      if (open.length > 0) throw new Violation(`teardown: loop devices still open with no process: ${open.map((d) => `${d.name} (${d.openers})`).join(', ')}`);
      // what is left (init, which a write to cgroup.procs may have moved, and kernel threads) is all pids.current counts
      for (const cg of CGROUPS.slice(1)) {
        const v = k.readFile(k.init, `/sys/fs/cgroup${cg}/pids.current`);
        const want = k.tasks().filter((t) => t.alive && (t.cgroup === cg || t.cgroup.startsWith(`${cg}/`))).length;
        if (typeof v === 'string' && Number(v) !== want) throw new Violation(`teardown: ${cg}/pids.current is ${v.trim()} with ${want} tasks left in it`);
      }
      this.checkTree();
    } finally {
      k.shutdown();
    }
    if (this.runtime === 'threads') {
      if (!(await loopThreadsIdle(k, 10_000))) throw new Violation('teardown: loop threads did not stop');
      if (!(await vhostThreadsIdle(k, 10_000))) throw new Violation('teardown: vhost threads did not stop after shutdown');
      if (vhostThreadCount(k) !== 0 || loopThreadCount(k) !== 0) throw new Violation(`teardown: threads left: vhost ${vhostThreadCount(k)}, loop ${loopThreadCount(k)}`);
    }
  }
}

function checkErrno(op: string, r: unknown): void {
  if (typeof r !== 'number' || !Number.isInteger(r)) throw new Violation(`${op} returned ${describe(r)}, not an integer`);
  // kernel-internal errnos (ERESTARTNOINTR 513, ENOIOCTLCMD 515, ...) never reach user space
  if (r < 0 && (-r > 511 || kernelErrnoName(r).startsWith('E?'))) throw new Violation(`${op} returned ${r} (${kernelErrnoName(r)}): not an errno user space sees`);
}

function errnoName(r: number): string {
  return r < 0 ? `-${kernelErrnoName(r)}` : String(r);
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}${e.stack ? `\n${e.stack.split('\n').slice(1, 6).join('\n')}` : ''}`;
  return typeof e === 'bigint' ? `${e}n` : JSON.stringify(e) ?? String(e);
}

function stringify(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
}

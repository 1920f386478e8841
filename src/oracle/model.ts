/**
 * kwq's executor of a step script: every step through the public API (what src/index.ts
 * exports and the Kernel's methods), so a script tests what users see. It boots kwq as
 * the oracle's guest machine is booted (ORACLE_MACHINE: QEMU -m 1024 -smp 2, no swap,
 * cgroup v2, a 512M tmpfs on /tmp) at the release of the kernel it is compared with.
 */
import { Kernel } from '../kernel/kernel.js';
import type { Release } from '../kernel/release.js';
import { Task } from '../kernel/task.js';
import { KwqError } from '../kernel/error.js';
import { EINTR } from '../kernel/errno.js';
import { CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_THREAD, CLONE_SYSVSEM } from '../kernel/sched.js';
import type { Rlimit } from '../kernel/rlimit.js';
import type { Step, StepScript } from './script.js';
import { sizeValue } from './script.js';
import { ioctlInfo, ioctlFills } from './uapi.js';
import {
  openFlags, rlimitResource, rlimitValue, signalNumber, signalName, IOPRIO_WHICH, ioprioNumber, normaliseField,
} from './wire.js';
import { PidNames, sortTasks, isPidListFile, retFields, type StepRecord, type FieldValue } from './record.js';
import '../drivers/vhost/index.js';
import '../drivers/loop/index.js';
import '../drivers/kvm/index.js';
import '../drivers/block/blk-ioc-index.js';
import {
  IoUring, IORING_ENTER_GETEVENTS, IORING_REGISTER_IOWQ_MAX_WORKERS, type IoUringParams,
} from '../drivers/io_uring/index.js';
import { ioUringFlags, ioUringOpcode, cqeText } from './wire.js';

/** the guest machine both executors model (src/oracle/linux/qemu.ts boots the same) */
export const ORACLE_MACHINE = { memory: '1024M', swap: 0, ncpus: 2, tmpfsSize: '512M' } as const;

/** the mmap addresses handed out (the model has no address space layout) */
const MMAP_BASE = 0x7f0000000000;

interface Ctx {
  k: Kernel;
  tasks: Map<string, Task>;
  values: Map<string, number>;
  threads: Set<string>;
  pids: PidNames;
  nextMmap: number;
  /** io_uring rings by "tgid:fd" (the guest keeps them per process, found by fd) */
  rings: Map<string, IoUring>;
}

function task(c: Ctx, name: string | undefined): Task {
  const t = c.tasks.get(name ?? 'init');
  if (t === undefined) throw new KwqError('oracle', `no task '${name}'`);
  return t;
}

/** an integer or "$name" */
function int(c: Ctx, v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.startsWith('$')) {
    const n = v.slice(1);
    const x = c.values.get(n) ?? c.tasks.get(n)?.pid;
    if (x === undefined) throw new KwqError('oracle', `${v} is not bound`);
    return x;
  }
  throw new KwqError('oracle', `expected an integer or "$name", got ${JSON.stringify(v)}`);
}

/** a struct argument with its "$name" fields resolved (nested structs and arrays too) */
function resolve(c: Ctx, v: unknown): unknown {
  if (typeof v === 'string' && /^\$[A-Za-z_]\w*$/.test(v)) return int(c, v);
  if (Array.isArray(v)) return v.map((x) => resolve(c, x));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(c, x)]));
  return v;
}

/** a call's return into the record; a task killed during the call (-EINTR, dead) is `killed` */
function ret(c: Ctx, rec: StepRecord, t: Task, r: number): StepRecord {
  if (r === -EINTR && !t.alive) return { ...rec, killed: true };
  return { ...rec, ...retFields(r) };
}

function repeat(c: Ctx, rec: StepRecord, t: Task, count: number, len: number, call: (i: number) => number): StepRecord {
  let total = 0;
  let r = 0;
  for (let i = 0; i < count; i++) {
    r = call(i);
    if (r > 0) total += r;
    if (r !== len) break;
  }
  const out = ret(c, rec, t, r);
  return out.killed ? out : { ...out, total };
}

function runStep(c: Ctx, s: Step, i: number): StepRecord {
  const { k } = c;
  const g = s as Record<string, unknown>;
  const rec: StepRecord = { step: i, op: s.op };
  const t = s.op === 'spawn' ? k.init : task(c, s.task);
  switch (s.op) {
    case 'spawn': {
      const rlimits: Record<string, Rlimit> = {};
      for (const [res, [soft, hard]] of Object.entries((g.rlimits ?? {}) as Record<string, [number | string, number | string]>)) {
        rlimits[res] = [rlimitValue(soft), rlimitValue(hard)];
      }
      const child = k.spawn({
        ...(g.comm !== undefined ? { comm: g.comm as string } : {}),
        ...(g.uid !== undefined ? { uid: g.uid as number } : {}),
        ...(g.gid !== undefined || g.uid !== undefined ? { gid: (g.gid ?? g.uid) as number } : {}),
        ...(g.cgroup !== undefined ? { cgroup: g.cgroup as string } : {}),
        rlimits,
      });
      c.tasks.set(s.as!, child);
      c.pids.set(child.pid, s.as!);
      return { ...rec, ret: `$${s.as}` };
    }
    case 'fork': case 'thread': {
      const r = s.op === 'fork'
        ? k.fork(t)
        : k.clone(t, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, g.comm !== undefined ? { comm: g.comm as string } : {});
      if (typeof r === 'number') return ret(c, rec, t, r);
      c.tasks.set(s.as!, r);
      c.pids.set(r.pid, s.as!);
      if (s.op === 'thread') c.threads.add(s.as!);
      return { ...rec, ret: `$${s.as}` };
    }
    case 'busy': {
      // threads spinning in user space until their process dies: kwq runs no user code,
      // so each is a thread of the process that uses every slice it gets (its CPU time is
      // system time in kwq, user time on Linux)
      const n = g.threads as number;
      for (let i = 0; i < n; i++) {
        const w = k.userWorkerCreate(t, t.comm, { run(th, budget) { th.costNs += budget; return true; } }, null);
        if (typeof w === 'number') return ret(c, rec, t, w);
        k.wakeUpProcess(w);
      }
      return { ...rec, ret: n };
    }
    case 'exit':
      k.exit(t, (g.code as number | undefined) ?? 0);
      return { ...rec, ret: 0 };
    case 'kill':
      return ret(c, rec, t, k.kill(task(c, g.target as string), signalNumber(g.sig as number | string)));
    case 'wait': {
      // the model keeps no zombies: a dead child is reaped at once, so wait reads its code
      const target = task(c, g.target as string);
      if (target.alive) return { ...rec, error: 'wait for a live task would block (the model has no blocking wait)' };
      const code = target.exitCode;
      return { ...rec, ret: `$${g.target as string}`, status: code >= 128 ? `killed ${signalName(code - 128)}` : `exited ${code}` };
    }
    case 'setresuid': case 'setresgid': {
      const [r, e, sv] = g.ids as number[];
      return ret(c, rec, t, s.op === 'setresuid' ? k.setresuid(t, r!, e!, sv!) : k.setresgid(t, r!, e!, sv!));
    }
    case 'alive':
      return { ...rec, ret: task(c, g.target as string).alive ? 1 : 0 };
    case 'setrlimit': {
      const [soft, hard] = g.limit as (number | string)[];
      return ret(c, rec, t, k.setrlimit(t, g.resource as string, [rlimitValue(soft!), rlimitValue(hard!)]));
    }
    case 'getrlimit': {
      // RLIM_INFINITY is Infinity in kwq and ~0UL in the kernel's struct rlimit
      const u64 = (v: number): FieldValue => normaliseField(v === Infinity ? (1n << 64n) - 1n : BigInt.asUintN(64, BigInt(v)));
      const [cur, max] = k.getrlimit(t, rlimitResource(g.resource as string));
      return { ...rec, ret: 0, struct: { rlim_cur: u64(cur), rlim_max: u64(max) } };
    }
    case 'open': {
      const r = k.open(t, g.path as string, openFlags(g.flags as string[]));
      if (r >= 0 && s.as !== undefined) c.values.set(s.as, r);
      return ret(c, rec, t, r);
    }
    case 'close':
      return ret(c, rec, t, k.close(t, int(c, g.fd)));
    case 'dup': {
      const r = k.dup(t, int(c, g.fd));
      if (r >= 0 && s.as !== undefined) c.values.set(s.as, r);
      return ret(c, rec, t, r);
    }
    case 'read': case 'write': {
      const fd = int(c, g.fd);
      const len = sizeValue(g.len as number | string);
      return repeat(c, rec, t, (g.count as number | undefined) ?? 1, len, () => (s.op === 'read' ? k.read(t, fd, len) : k.write(t, fd, len)));
    }
    case 'pread': case 'pwrite': {
      const fd = int(c, g.fd);
      const len = sizeValue(g.len as number | string);
      const off = sizeValue(g.offset as number | string);
      return repeat(c, rec, t, (g.count as number | undefined) ?? 1, len, (n) => (s.op === 'pread' ? k.pread(t, fd, len, off + n * len) : k.pwrite(t, fd, len, off + n * len)));
    }
    case 'fsync':
      return ret(c, rec, t, k.fsync(t, int(c, g.fd)));
    case 'ftruncate':
      return ret(c, rec, t, k.ftruncate(t, int(c, g.fd), sizeValue(g.size as number | string)));
    case 'unlink':
      return ret(c, rec, t, k.unlink(t, g.path as string));
    case 'mkdir':
      return ret(c, rec, t, k.mkdir(t, g.path as string));
    case 'rmdir':
      return ret(c, rec, t, k.rmdir(t, g.path as string));
    case 'mount':
      return ret(c, rec, t, k.mount(t, g.fstype as string, g.target as string, g.fstype as string, (g.data as string | undefined) ?? ''));
    case 'umount':
      return ret(c, rec, t, k.umount(t, g.target as string));
    case 'readfile': {
      const r = k.readFile(t, g.path as string);
      if (typeof r === 'number') return ret(c, rec, t, r);
      // a pid list's length is the length of its symbolic text (pids have other digits there)
      const text = isPidListFile(g.path as string) ? c.pids.pidList(r) : r;
      return { ...rec, ret: Buffer.byteLength(text), text };
    }
    case 'writefile': {
      // the guest opens O_WRONLY without O_CREAT: a missing file is ENOENT, not created
      const st = k.stat(t, g.path as string);
      if (typeof st === 'number') return ret(c, rec, t, st);
      return ret(c, rec, t, k.writeFile(t, g.path as string, g.text as string));
    }
    case 'ls': {
      const r = k.readdir(t, g.path as string);
      if (typeof r === 'number') return ret(c, rec, t, r);
      const names = r.filter((n) => n !== '.' && n !== '..').sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
      return { ...rec, ret: names.length, text: names.join('\n') };
    }
    case 'ioctl': {
      const info = ioctlInfo(g.request as string)!;
      const fd = int(c, g.fd);
      let arg: unknown;
      let box: Record<string, unknown> | null = null;
      if (info.arg === 'int') arg = int(c, g.arg ?? 0);
      else if (info.arg === 'in') arg = int(c, typeof g.arg === 'object' && g.arg !== null ? (g.arg as { value: unknown }).value : g.arg ?? 0);
      else if (info.arg === 'out') arg = box = { value: 0 };
      else if (info.arg === 'struct') arg = box = filled(info, resolve(c, g.arg ?? {}) as Record<string, unknown>);
      const r = arg === undefined ? k.ioctl(t, fd, info.request) : k.ioctl(t, fd, info.request, arg);
      let out = ret(c, rec, t, r);
      if (r >= 0 && s.as !== undefined) c.values.set(s.as, r);
      if (r >= 0 && box !== null && ioctlFills(info)) {
        if (info.arg === 'out') out = { ...out, value: normaliseField(box.value) as number | string };
        else out = { ...out, struct: structOf(info.struct!, box) };
      }
      return out;
    }
    case 'ioprio_get': {
      const r = k.ioprio_get(t, IOPRIO_WHICH[g.which as string]!, int(c, g.who));
      if (r >= 0 && s.as !== undefined) c.values.set(s.as, r);
      return ret(c, rec, t, r);
    }
    case 'ioprio_set':
      return ret(c, rec, t, k.ioprio_set(t, IOPRIO_WHICH[g.which as string]!, int(c, g.who), ioprioNumber(g.ioprio)));
    case 'threads': case 'ps': {
      const target = s.op === 'threads' ? task(c, g.target as string) : null;
      const list = k.tasks().filter((x) => (target === null ? true : x.tgid === target.tgid));
      let tasks = list.map((x) => c.pids.task({ tid: x.pid, tgid: x.tgid, ppid: x.ppid, comm: x.comm, flags: x.flags, cgroup: x.cgroup }));
      if (s.op === 'ps') tasks = tasks.filter((o) => o.comm === g.comm);
      return { ...rec, ret: tasks.length, tasks: sortTasks(tasks) };
    }
    case 'sleep':
      k.advance(g.ms as number);
      return { ...rec, ret: 0 };
    case 'mmap': {
      const len = sizeValue(g.length as number | string);
      const addr = c.nextMmap;
      c.nextMmap += Math.ceil(len / 0x200000 + 1) * 0x200000;
      c.values.set(s.as!, addr);
      return { ...rec, ret: 'addr' };
    }
    case 'touch':
      return ret(c, rec, t, k.faultAnon(t, sizeValue(g.length as number | string)));
    case 'eventfd': {
      const r = k.eventfd(t, (g.initval as number | undefined) ?? 0);
      if (r >= 0 && s.as !== undefined) c.values.set(s.as, r);
      return ret(c, rec, t, r);
    }
    case 'uring_setup': {
      const params: IoUringParams = { flags: ioUringFlags(g.flags as string[] | undefined) };
      const fd = k.io_uring_setup(t, g.entries as number, params);
      if (fd < 0) return ret(c, rec, t, fd);
      c.values.set(s.as!, fd);
      c.rings.set(`${t.tgid}:${fd}`, IoUring.attach(k, t, fd, params));
      return { ...rec, ret: fd, struct: { sq_entries: params.sq_entries!, cq_entries: params.cq_entries!, features: params.features! } };
    }
    case 'uring_submit': {
      const fd = int(c, g.ring);
      const ring = c.rings.get(`${t.tgid}:${fd}`);
      if (ring === undefined) return { ...rec, error: 'bad-arg:ring' };
      const count = g.count as number;
      if (count > ring.sqSpace()) return { ...rec, error: 'bad-arg:count' };
      const opcode = ioUringOpcode(g.opcode as string);
      const file = g.fd === undefined ? -1 : int(c, g.fd);
      const len = sizeValue((g.len ?? 0) as number | string);
      const off = sizeValue((g.offset ?? 0) as number | string);
      const flags = ioUringFlags(g.flags as string[] | undefined);
      for (let n = 0; n < count; n++) ring.prep(opcode, file, len, off + n * len, BigInt(n + 1), flags);
      const wait = g.wait === true;
      // io_uring_enter by the step's task (its io_wq, not the ring creator's, takes the work)
      const r = k.io_uring_enter(t, fd, ring.flush(), wait ? count : 0, wait ? IORING_ENTER_GETEVENTS : 0);
      const out = ret(c, rec, t, r);
      if (!wait || out.killed) return out;
      const counts = new Map<number, number>();
      const cqes = ring.reap();
      for (const cqe of cqes) counts.set(cqe.res, (counts.get(cqe.res) ?? 0) + 1);
      return { ...out, total: cqes.length, text: cqeText(counts) };
    }
    case 'uring_register_max_workers': {
      const arg = [g.bounded as number, g.unbounded as number];
      const r = k.io_uring_register(t, int(c, g.ring), IORING_REGISTER_IOWQ_MAX_WORKERS, arg, 2);
      const out = ret(c, rec, t, r);
      return r === 0 ? { ...out, struct: { bounded: arg[0]!, unbounded: arg[1]! } } : out;
    }
    default:
      return { ...rec, error: `op '${s.op}' is not run by the model` };
  }
}

/**
 * The struct as C code passes it: every field of the layout, zero where the script says
 * nothing (the guest's buffer is zero-filled), and the trailing array's entries likewise.
 */
function filled(info: import('./uapi.js').IoctlInfo, obj: Record<string, unknown>): Record<string, unknown> {
  const fill = (layout: import('./uapi.js').StructLayout, o: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const f of layout.fields) {
      const v = o[f.name];
      if (typeof f.type === 'object' && 'struct' in f.type) out[f.name] = fill(f.type.struct, (v ?? {}) as Record<string, unknown>);
      else out[f.name] = v ?? (typeof f.type === 'object' ? '' : 0);
    }
    return out;
  };
  const out = fill(info.struct!, obj);
  if (info.tail) out[info.tail.field] = ((obj[info.tail.field] as Record<string, unknown>[] | undefined) ?? []).map((e) => fill(info.tail!.layout, e));
  return out;
}

function structOf(layout: import('./uapi.js').StructLayout, obj: Record<string, unknown>): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  for (const f of layout.fields) {
    const v = obj[f.name];
    if (typeof f.type === 'object' && 'struct' in f.type) out[f.name] = structOf(f.type.struct, (v ?? {}) as Record<string, unknown>);
    else if (typeof f.type === 'object') out[f.name] = typeof v === 'string' ? v : '';
    else out[f.name] = v === undefined ? 0 : normaliseField(v);
  }
  return out;
}

/** run a script on kwq booted at `release`; a step the model refuses to run records its error */
export async function runOnModel(script: StepScript, release: Release, cmdline = ''): Promise<StepRecord[]> {
  const k = await Kernel.boot({ release, cmdline, cgroup: 'v2', seed: 1, runtime: 'sim', ...ORACLE_MACHINE });
  try {
    const c: Ctx = {
      k, tasks: new Map([['init', k.init]]), values: new Map(), threads: new Set(),
      pids: new PidNames(k.init.pid, k.kthreadd.pid), nextMmap: MMAP_BASE, rings: new Map(),
    };
    const out: StepRecord[] = [];
    script.steps.forEach((s, i) => {
      try {
        // a dead task makes no calls in kwq (a KwqError); Linux's executor reports the same
        const who = s.op === 'spawn' ? k.init : c.tasks.get(s.task ?? 'init');
        if (who !== undefined && !who.alive) {
          out.push({ step: i, op: s.op, error: 'gone' }); // the guest executor's word for it
          return;
        }
        out.push(runStep(c, s, i));
      } catch (e) {
        if (!(e instanceof KwqError)) throw e;
        out.push({ step: i, op: s.op, error: e.message });
      }
    });
    return out;
  } finally {
    k.shutdown();
  }
}

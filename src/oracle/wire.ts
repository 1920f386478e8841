/**
 * Step scripts to the guest executor's program text, and its printed records back to
 * StepRecords (docs/oracle-wire.md is the format). Names become numbers here (flags,
 * rlimits, signals, ioctl requests) and structs become byte buffers with patches for
 * "$name" fields, so that oracle/guest/kwq-oracle.c needs no uapi knowledge.
 */
import { createHash } from 'node:crypto';
import { KwqError } from '../kernel/error.js';
import { errnoName } from '../kernel/errno.js';
import * as rlimit from '../kernel/rlimit.js';
import * as signals from '../kernel/signal-numbers.js';
import * as vfsFile from '../kernel/vfs/file.js';
import {
  IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER, IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE,
  IOPRIO_CLASS_IDLE, IOPRIO_PRIO_VALUE,
} from '../drivers/block/blk-ioc-index.js';
import * as ioUringUapi from '../drivers/io_uring/uapi.js';
import type { Step, StepScript } from './script.js';
import { sizeValue } from './script.js';
import { ioctlInfo, ioctlFills, type IoctlInfo, type StructLayout, type FieldLayout } from './uapi.js';
import {
  PidNames, sortTasks, isPidListFile, retFields, type StepRecord, type FieldValue, type TaskObs,
} from './record.js';

// ---- names to numbers (shared with the kwq executor) ---------------------------------

export function openFlags(names: readonly string[]): number {
  let v = 0;
  for (const n of names) {
    const x = (vfsFile as unknown as Record<string, unknown>)[n];
    if (typeof x !== 'number') throw new KwqError('open: flags', `unknown flag '${n}'`);
    v |= x;
  }
  return v;
}

export function rlimitResource(name: string): number {
  const v = (rlimit as unknown as Record<string, unknown>)[name];
  if (typeof v !== 'number') throw new KwqError('rlimit', `unknown resource '${name}'`);
  return v;
}

/** "unlimited" -> RLIM_INFINITY (as kwq's Rlimit holds it) */
export function rlimitValue(v: number | string): number {
  return v === 'unlimited' ? rlimit.RLIM_INFINITY : (v as number);
}

export function signalNumber(v: number | string): number {
  if (typeof v === 'number') return v;
  const n = (signals as unknown as Record<string, unknown>)[v];
  if (typeof n !== 'number') throw new KwqError('kill: sig', `unknown signal '${v}'`);
  return n;
}

export function signalName(n: number): string {
  for (const [k, v] of Object.entries(signals)) if (v === n && k.startsWith('SIG')) return k;
  return `SIG${n}`;
}

export const IOPRIO_WHICH: Record<string, number> = {
  IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER,
};

export function ioprioNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  const o = v as { class: string; level?: number };
  const cls = { NONE: IOPRIO_CLASS_NONE, RT: IOPRIO_CLASS_RT, BE: IOPRIO_CLASS_BE, IDLE: IOPRIO_CLASS_IDLE }[o.class]!;
  return IOPRIO_PRIO_VALUE(cls, o.level ?? 0);
}

/** io_uring flag names (IORING_SETUP_*, IOSQE_*) or an opcode (IORING_OP_<name>) to their number */
export function ioUringFlags(names: readonly string[] | undefined): number {
  let v = 0;
  for (const n of names ?? []) {
    const x = (ioUringUapi as unknown as Record<string, unknown>)[n];
    if (typeof x !== 'number') throw new KwqError('io_uring: flags', `unknown flag '${n}'`);
    v |= x;
  }
  return v;
}

export function ioUringOpcode(name: string): number {
  const x = (ioUringUapi as unknown as Record<string, unknown>)[`IORING_OP_${name}`];
  if (typeof x !== 'number') throw new KwqError('io_uring: opcode', `unknown opcode '${name}'`);
  return x;
}

/**
 * uring_submit's record of the CQEs it reaped: one line per distinct res, "RES xN", in
 * ascending order of res; a negative res is its errno's name ("ECANCELED x2").
 */
export function cqeText(counts: ReadonlyMap<number, number>): string {
  return [...counts.entries()].sort((a, b) => a[0] - b[0])
    .map(([res, n]) => `${res < 0 ? errnoName(-res) : String(res)} x${n}`).join('\n');
}

// ---- percent-encoding ----------------------------------------------------------------

const SAFE = /[A-Za-z0-9._/:,+-]/;

export function pctEncode(s: string | Buffer): string {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let out = '';
  for (const byte of b) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function pctDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && i + 2 < s.length + 0 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

// ---- structs ---------------------------------------------------------------------------

interface Patch { offset: number; size: number; ref: string }

function isRef(v: unknown): v is string {
  return typeof v === 'string' && /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(v);
}

function fieldSize(t: FieldLayout['type']): number {
  if (typeof t === 'string') return { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 }[t];
  return 'char' in t ? t.char : t.struct.size;
}

/** write `obj` into `buf` at `base` by `layout`; "$name" values become patches */
function encodeStruct(where: string, layout: StructLayout, obj: Record<string, unknown>, buf: Buffer, base: number, patches: Patch[]): void {
  for (const key of Object.keys(obj)) {
    if (!layout.fields.some((f) => f.name === key)) {
      throw new KwqError(where, `struct ${layout.name} has no field '${key}' (fields: ${layout.fields.map((f) => f.name).join(', ')})`);
    }
  }
  for (const fl of layout.fields) {
    const v = obj[fl.name];
    if (v === undefined) continue;
    const off = base + fl.offset;
    if (typeof fl.type === 'object' && 'struct' in fl.type) {
      if (typeof v !== 'object' || v === null) throw new KwqError(where, `${fl.name}: expected an object (struct ${fl.type.struct.name})`);
      encodeStruct(`${where}.${fl.name}`, fl.type.struct, v as Record<string, unknown>, buf, off, patches);
      continue;
    }
    if (typeof fl.type === 'object') {
      if (typeof v !== 'string') throw new KwqError(where, `${fl.name}: expected a string`);
      Buffer.from(v, 'utf8').copy(buf, off, 0, fl.type.char);
      continue;
    }
    if (isRef(v)) {
      patches.push({ offset: off, size: fieldSize(fl.type), ref: v });
      continue;
    }
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new KwqError(where, `${fl.name}: expected an integer or "$name"`);
    writeScalar(buf, off, fl.type, v);
  }
}

function writeScalar(buf: Buffer, off: number, t: 'u8' | 'u16' | 'u32' | 'i32' | 'u64', v: number): void {
  switch (t) {
    case 'u8': buf.writeUInt8(v & 0xff, off); break;
    case 'u16': buf.writeUInt16LE(v & 0xffff, off); break;
    case 'u32': buf.writeUInt32LE(v >>> 0, off); break;
    case 'i32': buf.writeInt32LE(v | 0, off); break;
    case 'u64': buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), off); break;
  }
}

function readScalar(buf: Buffer, off: number, t: 'u8' | 'u16' | 'u32' | 'i32' | 'u64'): number | string {
  switch (t) {
    case 'u8': return buf.readUInt8(off);
    case 'u16': return buf.readUInt16LE(off);
    case 'u32': return buf.readUInt32LE(off);
    case 'i32': return buf.readInt32LE(off);
    case 'u64': {
      const b = buf.readBigUInt64LE(off);
      return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
    }
  }
}

/** a filled struct as a record: every field of the layout */
export function decodeStruct(layout: StructLayout, buf: Buffer, base = 0): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  for (const fl of layout.fields) {
    const off = base + fl.offset;
    if (typeof fl.type === 'object' && 'struct' in fl.type) out[fl.name] = decodeStruct(fl.type.struct, buf, off);
    else if (typeof fl.type === 'object') {
      const raw = buf.subarray(off, off + fl.type.char);
      const nul = raw.indexOf(0);
      out[fl.name] = raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
    } else out[fl.name] = readScalar(buf, off, fl.type);
  }
  return out;
}

/** a value kwq's ioctl filled in, normalised as decodeStruct would give it */
export function normaliseField(v: unknown): FieldValue {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return String(v);
}

/** the bytes and patches of an ioctl's argument */
export function encodeIoctlArg(where: string, info: IoctlInfo, arg: unknown): { buf: Buffer; patches: Patch[] } {
  const patches: Patch[] = [];
  if (info.arg === 'in' || info.arg === 'out') {
    const buf = Buffer.alloc(info.size!);
    const v = typeof arg === 'object' && arg !== null ? (arg as { value?: unknown }).value : arg;
    if (isRef(v)) patches.push({ offset: 0, size: info.size!, ref: v });
    else if (typeof v === 'number') writeScalar(buf, 0, ({ 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' } as const)[info.size as 1 | 2 | 4 | 8], v);
    else if (v !== undefined) throw new KwqError(where, `arg: expected an integer or "$name" for ${info.name}`);
    return { buf, patches };
  }
  const obj = (arg ?? {}) as Record<string, unknown>;
  if (typeof obj !== 'object') throw new KwqError(where, `arg: ${info.name} takes a struct ${info.struct!.name} (an object)`);
  const head: Record<string, unknown> = { ...obj };
  let tail: unknown[] = [];
  if (info.tail) {
    tail = (obj[info.tail.field] as unknown[] | undefined) ?? [];
    delete head[info.tail.field];
  }
  const buf = Buffer.alloc(info.struct!.size + (info.tail ? info.tail.layout.size * tail.length : 0));
  encodeStruct(where, info.struct!, head, buf, 0, patches);
  tail.forEach((t, i) => encodeStruct(`${where}.${info.tail!.field}[${i}]`, info.tail!.layout, t as Record<string, unknown>, buf, info.struct!.size + i * info.tail!.layout.size, patches));
  return { buf, patches };
}

// ---- the program -------------------------------------------------------------------------

function intTok(v: unknown): string {
  if (isRef(v)) return pctEncode(v);
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  throw new KwqError('wire', `expected an integer or "$name", got ${JSON.stringify(v)}`);
}

/** one step as a program line */
export function compileStep(script: StepScript, i: number, s: Step): string {
  const where = `${script.name}: steps[${i}] (${s.op})`;
  const t: string[] = [String(i), s.op];
  const kv = (k: string, v: string): void => {
    t.push(`${k}=${v}`);
  };
  if (s.task !== undefined) kv('task', pctEncode(s.task));
  if (s.as !== undefined) kv('as', pctEncode(s.as));
  const g = s as Record<string, unknown>;
  switch (s.op) {
    case 'spawn': {
      if (g.uid !== undefined) kv('uid', String(g.uid));
      if (g.gid !== undefined || g.uid !== undefined) kv('gid', String(g.gid ?? g.uid));
      if (g.cgroup !== undefined) kv('cgroup', pctEncode(g.cgroup as string));
      if (g.comm !== undefined) kv('comm', pctEncode(g.comm as string));
      for (const [res, [soft, hard]] of Object.entries((g.rlimits ?? {}) as Record<string, [number | string, number | string]>)) {
        const lim = (x: number | string): string => (x === 'unlimited' ? 'inf' : String(x));
        kv('rlimit', `${rlimitResource(res)}:${lim(soft)}:${lim(hard)}`);
      }
      break;
    }
    case 'fork': case 'alive': case 'wait': case 'threads':
      if (g.target !== undefined) kv('pid', pctEncode(`$${g.target as string}`));
      break;
    case 'thread':
      if (g.comm !== undefined) kv('comm', pctEncode(g.comm as string));
      break;
    case 'busy':
      kv('threads', String(g.threads));
      break;
    case 'exit':
      kv('code', String(g.code ?? 0));
      break;
    case 'kill':
      kv('pid', pctEncode(`$${g.target as string}`));
      kv('sig', String(signalNumber(g.sig as number | string)));
      break;
    case 'setresuid': case 'setresgid': {
      const [r, e, su] = g.ids as number[];
      kv('r', String(r)); kv('e', String(e)); kv('s', String(su));
      break;
    }
    case 'setrlimit': {
      const [soft, hard] = g.limit as (number | string)[];
      const lim = (x: number | string): string => (x === 'unlimited' ? 'inf' : String(x));
      kv('res', String(rlimitResource(g.resource as string))); kv('soft', lim(soft!)); kv('hard', lim(hard!));
      break;
    }
    case 'getrlimit':
      kv('res', String(rlimitResource(g.resource as string)));
      break;
    case 'open':
      kv('path', pctEncode(g.path as string));
      kv('flags', String(openFlags(g.flags as string[])));
      kv('mode', String(g.mode ?? 0o644));
      break;
    case 'close': case 'dup': case 'fsync':
      kv('fd', intTok(g.fd));
      break;
    case 'read': case 'write': case 'pread': case 'pwrite':
      kv('fd', intTok(g.fd));
      kv('len', String(sizeValue(g.len as number | string)));
      if (g.offset !== undefined) kv('off', String(sizeValue(g.offset as number | string)));
      kv('count', String(g.count ?? 1));
      break;
    case 'ftruncate':
      kv('fd', intTok(g.fd));
      kv('size', String(sizeValue(g.size as number | string)));
      break;
    case 'unlink': case 'mkdir': case 'rmdir': case 'readfile': case 'ls':
      kv('path', pctEncode(g.path as string));
      break;
    case 'writefile':
      kv('path', pctEncode(g.path as string));
      kv('text', pctEncode(g.text as string));
      break;
    case 'mount':
      kv('source', pctEncode(g.fstype as string));
      kv('target', pctEncode(g.target as string));
      kv('fstype', pctEncode(g.fstype as string));
      kv('data', pctEncode((g.data as string | undefined) ?? ''));
      break;
    case 'umount':
      kv('target', pctEncode(g.target as string));
      break;
    case 'ioctl': {
      const info = ioctlInfo(g.request as string)!;
      kv('fd', intTok(g.fd));
      kv('req', `0x${(info.request >>> 0).toString(16)}`);
      if (info.arg === 'none') kv('arg', 'none');
      else if (info.arg === 'int') kv('arg', `int:${intTok(g.arg ?? 0)}`);
      else {
        const { buf, patches } = encodeIoctlArg(where, info, g.arg);
        kv('arg', `buf:${buf.toString('hex')}`);
        for (const p of patches) kv('patch', `${p.offset}:${p.size}:${pctEncode(p.ref)}`);
      }
      break;
    }
    case 'ioprio_get': case 'ioprio_set':
      kv('which', String(IOPRIO_WHICH[g.which as string]));
      kv('who', intTok(typeof g.who === 'string' && !g.who.startsWith('$') ? `$${g.who}` : g.who));
      if (s.op === 'ioprio_set') kv('prio', String(ioprioNumber(g.ioprio)));
      break;
    case 'ps':
      break; // every task: the host filters by the normalised comm
    case 'sleep':
      kv('ms', String(g.ms));
      break;
    case 'mmap':
      kv('len', String(sizeValue(g.length as number | string)));
      break;
    case 'touch':
      kv('addr', intTok(g.addr));
      kv('len', String(sizeValue(g.length as number | string)));
      break;
    case 'eventfd':
      kv('init', String(g.initval ?? 0));
      break;
    case 'uring_setup':
      kv('entries', String(g.entries));
      kv('flags', String(ioUringFlags(g.flags as string[] | undefined)));
      break;
    case 'uring_submit':
      kv('ring', intTok(g.ring));
      kv('opc', String(ioUringOpcode(g.opcode as string)));
      kv('fd', g.fd === undefined ? '-1' : intTok(g.fd));
      kv('len', String(sizeValue((g.len ?? 0) as number | string)));
      kv('off', String(sizeValue((g.offset ?? 0) as number | string)));
      kv('count', String(g.count));
      kv('flags', String(ioUringFlags(g.flags as string[] | undefined)));
      kv('wait', g.wait === true ? '1' : '0');
      break;
    case 'uring_register_max_workers':
      kv('ring', intTok(g.ring));
      kv('bounded', String(g.bounded));
      kv('unbounded', String(g.unbounded));
      break;
    default:
      throw new KwqError(where, `op '${s.op}' has no wire form`);
  }
  return t.join(' ');
}

/** one script's block of the program */
export function compileScript(script: StepScript): string {
  return [`script ${script.name}`, ...script.steps.map((s, i) => compileStep(script, i, s)), 'end'].join('\n') + '\n';
}

/** the whole program for a kernel: the scripts recorded on it */
export function compileProgram(scripts: readonly StepScript[]): string {
  return `kwq-oracle 1\n${scripts.map(compileScript).join('')}`;
}

/** what identifies a recording: the compiled block (a note or a check does not change it) */
export function scriptHash(script: StepScript): string {
  return createHash('sha256').update(compileScript(script)).digest('hex').slice(0, 16);
}

// ---- the guest's records back -------------------------------------------------------------

export interface GuestStep {
  fields: Record<string, string>;
  thr: Record<string, string>[];
}

/** one script's raw guest answers, as src/oracle/linux/guest-output.ts parses them */
export interface GuestScript {
  name: string;
  steps: Map<number, GuestStep>;
}

/** the executor's pid and kthreadd's, for symbolic pids */
export interface GuestIds {
  initPid: number;
  kthreaddPid: number;
}

/** ops whose return value is a pid */
const PID_RET = new Set(['spawn', 'fork', 'thread', 'wait']);

/** a script's StepRecords from the guest's answers */
export function decodeGuest(script: StepScript, guest: GuestScript, ids: GuestIds): StepRecord[] {
  const pids = new PidNames(ids.initPid, ids.kthreaddPid);
  return script.steps.map((s, i) => {
    const rec: StepRecord = { step: i, op: s.op };
    const g = guest.steps.get(i);
    if (g === undefined) return { ...rec, error: 'no answer from the guest' };
    const f = g.fields;
    if (f.error !== undefined) return { ...rec, error: pctDecode(f.error) };
    if (f.killed === '1') return { ...rec, killed: true };
    const raw = Number(f.ret);
    if (f.errno !== undefined && Number(f.errno) > 0 && raw < 0) Object.assign(rec, { errno: errnoName(Number(f.errno)) });
    else if (raw < 0) Object.assign(rec, retFields(raw));
    else if ((s.op === 'spawn' || s.op === 'fork' || s.op === 'thread') && s.as !== undefined) {
      pids.set(raw, s.as);
      rec.ret = `$${s.as}`;
    } else if (PID_RET.has(s.op)) rec.ret = pids.name(raw);
    else if (s.op === 'mmap') rec.ret = 'addr';
    else rec.ret = raw;
    if (rec.errno !== undefined) return rec;
    const gs = s as Record<string, unknown>;
    if (f.buf !== undefined) {
      const buf = Buffer.from(f.buf, 'hex');
      if (s.op === 'getrlimit') rec.struct = { rlim_cur: readScalar(buf, 0, 'u64'), rlim_max: readScalar(buf, 8, 'u64') };
      else if (s.op === 'uring_setup') {
        rec.struct = { sq_entries: readScalar(buf, 0, 'u32'), cq_entries: readScalar(buf, 4, 'u32'), features: readScalar(buf, 8, 'u32') };
      } else if (s.op === 'uring_register_max_workers') {
        rec.struct = { bounded: readScalar(buf, 0, 'u32'), unbounded: readScalar(buf, 4, 'u32') };
      } else if (s.op === 'ioctl') {
        const info = ioctlInfo(gs.request as string)!;
        if (ioctlFills(info)) {
          if (info.arg === 'out') rec.value = readScalar(buf, 0, ({ 1: 'u8', 2: 'u16', 4: 'u32', 8: 'u64' } as const)[info.size as 1 | 2 | 4 | 8]);
          else rec.struct = decodeStruct(info.struct!, buf);
        }
      }
    }
    if (f.text !== undefined) {
      const text = pctDecode(f.text);
      if (s.op === 'readfile' && isPidListFile(gs.path as string)) {
        rec.text = pids.pidList(text);
        rec.ret = Buffer.byteLength(rec.text); // the symbolic text's length, as the model gives it
      } else rec.text = text;
    }
    if (f.total !== undefined) rec.total = Number(f.total);
    if (f.cqe !== undefined) {
      const counts = new Map<number, number>();
      for (const p of f.cqe.split(',').filter((x) => x !== '')) {
        const [res, n] = p.split(':').map(Number) as [number, number];
        counts.set(res, (counts.get(res) ?? 0) + n);
      }
      rec.text = cqeText(counts);
    }
    if (f.status !== undefined) {
      const [kind, n] = f.status.split(':');
      rec.status = kind === 'signaled' ? `killed ${signalName(Number(n))}` : `exited ${n}`;
    }
    if (s.op === 'threads' || s.op === 'ps') {
      let tasks: TaskObs[] = g.thr.map((t) => pids.task({
        tid: Number(t.tid), tgid: Number(t.tgid), ppid: Number(t.ppid), comm: pctDecode(t.comm ?? ''),
        flags: Number(t.flags), cgroup: pctDecode(t.cgroup ?? ''),
      }));
      if (s.op === 'ps') tasks = tasks.filter((t) => t.comm === gs.comm);
      rec.tasks = sortTasks(tasks);
      rec.ret = tasks.length;
    }
    return rec;
  });
}

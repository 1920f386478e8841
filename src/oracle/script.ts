/**
 * Step scripts: what a test or a user asks a kernel, as data. The same script runs on
 * kwq (src/oracle/model.ts, through the public API only) and on a real Linux booted
 * under QEMU (src/oracle/wire.ts compiles it for oracle/guest/kwq-oracle.c); the two
 * answers are compared step by step (src/oracle/compare.ts). docs/oracle.md is the
 * user's description; the JSON Schema below is the definition, validated by ajv so a
 * malformed file names the step, the field and what is allowed.
 *
 * A value written "$name" is one an earlier step bound with `as` (an fd, a pid, an
 * address, a number a call returned). Every step runs as `task` (default "init": pid 1,
 * uid 0, the root cgroup).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import { KwqError } from '../kernel/error.js';
import { ioctlNames } from './uapi.js';
import * as ioUringUapi from '../drivers/io_uring/uapi.js';

/** the io_uring names a script may use (src/drivers/io_uring/uapi.ts) */
const uapiNames = (prefix: string): string[] => Object.keys(ioUringUapi).filter((k) => k.startsWith(prefix));
export const IORING_SETUP_NAMES = uapiNames('IORING_SETUP_');
export const IOSQE_NAMES = uapiNames('IOSQE_');
/** uring_submit's opcodes: IORING_OP_<name> */
export const URING_OPCODE_NAMES = ['NOP', 'READ', 'WRITE', 'FSYNC'];

/** the real kernels the oracle boots, each compared with kwq booted at the same release */
export const ORACLE_KERNELS = ['6.1', '6.12'] as const;
export type OracleKernel = (typeof ORACLE_KERNELS)[number];

/** an integer, or "$name" bound by an earlier step */
export type IntRef = number | string;
/** a byte count: an integer, or a string with a K/M/G suffix ("64M") */
export type Size = number | string;

/** how one value is compared (docs/oracle.md, "Checks") */
export type Rule =
  | 'exact'
  | 'nonzero'
  | 'zero'
  | 'positive'
  | { rel?: number; abs?: number; why: string }
  | { range: [number, number]; why: string };

export interface Check {
  /** how text is compared: as it is, as a set of lines, as a set of words, or as a keyed file */
  text?: 'exact' | 'lines' | 'words' | 'keyed';
  /** per key of a keyed file, per struct field, or `ret` / `total` */
  fields?: Record<string, Rule>;
  /** the rule for keys that `fields` does not name (default exact) */
  otherFields?: Rule;
}

interface StepBase {
  op: string;
  task?: string;
  as?: string;
  note?: string;
  check?: Check;
  /** kernel -> reason: kwq knowingly answers differently there ("*": on every kernel) */
  divergent?: Partial<Record<OracleKernel | '*', string>>;
}

export type Step = StepBase & Record<string, unknown>;

export interface StepScript {
  name: string;
  description: string;
  /** the kernels it is recorded on (default: all) */
  kernels?: OracleKernel[];
  steps: Step[];
  /** where it was read from */
  file?: string;
}

const intRef = { oneOf: [{ type: 'integer' }, { type: 'string', pattern: '^\\$[A-Za-z_][A-Za-z0-9_]*$' }] };
const size = { oneOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^[0-9]+[KMG]?$' }] };
const name = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' };
const path = { type: 'string', pattern: '^/' };
const rlimitValue = { oneOf: [{ type: 'integer', minimum: 0 }, { const: 'unlimited' }] };
const rule = {
  oneOf: [
    { enum: ['exact', 'nonzero', 'zero', 'positive'] },
    {
      type: 'object', additionalProperties: false, required: ['why'],
      properties: { rel: { type: 'number', minimum: 0 }, abs: { type: 'number', minimum: 0 }, why: { type: 'string', minLength: 3 } },
    },
    {
      type: 'object', additionalProperties: false, required: ['range', 'why'],
      properties: { range: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 }, why: { type: 'string', minLength: 3 } },
    },
  ],
};
const common = {
  op: {},
  task: name,
  note: { type: 'string' },
  check: {
    type: 'object', additionalProperties: false,
    properties: {
      text: { enum: ['exact', 'lines', 'words', 'keyed'] },
      fields: { type: 'object', additionalProperties: rule },
      otherFields: rule,
    },
  },
  divergent: {
    type: 'object', additionalProperties: false, minProperties: 1,
    properties: { '6.1': { type: 'string', minLength: 10 }, '6.12': { type: 'string', minLength: 10 }, '*': { type: 'string', minLength: 10 } },
  },
};

/** op -> [its own properties, the required ones] */
const OPS: Record<string, [Record<string, unknown>, string[]]> = {
  spawn: [{
    as: name, uid: { type: 'integer', minimum: 0 }, gid: { type: 'integer', minimum: 0 }, cgroup: path,
    comm: { type: 'string', minLength: 1, maxLength: 15 },
    rlimits: { type: 'object', propertyNames: { pattern: '^RLIMIT_[A-Z]+$' }, additionalProperties: { type: 'array', items: rlimitValue, minItems: 2, maxItems: 2 } },
  }, ['as']],
  fork: [{ as: name }, ['task', 'as']],
  thread: [{ as: name, comm: { type: 'string', minLength: 1, maxLength: 15 } }, ['task', 'as']],
  busy: [{ threads: { type: 'integer', minimum: 1, maximum: 64 } }, ['task', 'threads']],
  exit: [{ code: { type: 'integer', minimum: 0, maximum: 255 } }, ['task']],
  kill: [{ target: name, sig: { oneOf: [{ type: 'integer', minimum: 0, maximum: 64 }, { type: 'string', pattern: '^SIG[A-Z0-9]+$' }] } }, ['target', 'sig']],
  wait: [{ target: name }, ['target']],
  alive: [{ target: name }, ['target']],
  setresuid: [{ ids: { type: 'array', items: { type: 'integer', minimum: -1 }, minItems: 3, maxItems: 3 } }, ['task', 'ids']],
  setresgid: [{ ids: { type: 'array', items: { type: 'integer', minimum: -1 }, minItems: 3, maxItems: 3 } }, ['task', 'ids']],
  setrlimit: [{ resource: { type: 'string', pattern: '^RLIMIT_[A-Z]+$' }, limit: { type: 'array', items: rlimitValue, minItems: 2, maxItems: 2 } }, ['resource', 'limit']],
  getrlimit: [{ resource: { type: 'string', pattern: '^RLIMIT_[A-Z]+$' } }, ['resource']],
  open: [{ as: name, path, flags: { type: 'array', items: { type: 'string', pattern: '^O_[A-Z]+$' } }, mode: { type: 'integer', minimum: 0 } }, ['path', 'flags']],
  close: [{ fd: intRef }, ['fd']],
  dup: [{ as: name, fd: intRef }, ['fd']],
  read: [{ fd: intRef, len: size, count: { type: 'integer', minimum: 1 } }, ['fd', 'len']],
  write: [{ fd: intRef, len: size, count: { type: 'integer', minimum: 1 } }, ['fd', 'len']],
  pread: [{ fd: intRef, len: size, offset: size, count: { type: 'integer', minimum: 1 } }, ['fd', 'len', 'offset']],
  pwrite: [{ fd: intRef, len: size, offset: size, count: { type: 'integer', minimum: 1 } }, ['fd', 'len', 'offset']],
  fsync: [{ fd: intRef }, ['fd']],
  ftruncate: [{ fd: intRef, size }, ['fd', 'size']],
  unlink: [{ path }, ['path']],
  mkdir: [{ path }, ['path']],
  rmdir: [{ path }, ['path']],
  mount: [{ target: path, fstype: { enum: ['tmpfs'] }, data: { type: 'string' } }, ['target', 'fstype']],
  umount: [{ target: path }, ['target']],
  readfile: [{ path }, ['path']],
  writefile: [{ path, text: { type: 'string' } }, ['path', 'text']],
  ls: [{ path }, ['path']],
  ioctl: [{
    as: name, fd: intRef, request: { enum: ioctlNames() },
    arg: { oneOf: [intRef, { type: 'object' }] },
  }, ['fd', 'request']],
  ioprio_get: [{ as: name, which: { enum: ['IOPRIO_WHO_PROCESS', 'IOPRIO_WHO_PGRP', 'IOPRIO_WHO_USER'] }, who: intRef }, ['which', 'who']],
  ioprio_set: [{
    which: { enum: ['IOPRIO_WHO_PROCESS', 'IOPRIO_WHO_PGRP', 'IOPRIO_WHO_USER'] }, who: intRef,
    ioprio: {
      oneOf: [
        { type: 'integer', minimum: 0, maximum: 65535 },
        { type: 'object', additionalProperties: false, required: ['class'], properties: { class: { enum: ['NONE', 'RT', 'BE', 'IDLE'] }, level: { type: 'integer', minimum: 0, maximum: 7 } } },
      ],
    },
  }, ['which', 'who', 'ioprio']],
  threads: [{ target: name }, ['target']],
  ps: [{ comm: { type: 'string', minLength: 1 } }, ['comm']],
  sleep: [{ ms: { type: 'integer', minimum: 0, maximum: 60000 } }, ['ms']],
  mmap: [{ as: name, length: size }, ['length', 'as']],
  touch: [{ addr: intRef, length: size }, ['addr', 'length']],
  eventfd: [{ as: name, initval: { type: 'integer', minimum: 0 } }, []],
  // io_uring (docs/oracle-wire.md): a ring per io_uring fd of the task's process
  uring_setup: [{
    as: name, entries: { type: 'integer', minimum: 0, maximum: 65536 },
    flags: { type: 'array', items: { enum: IORING_SETUP_NAMES }, uniqueItems: true },
  }, ['task', 'entries', 'as']],
  uring_submit: [{
    ring: intRef, opcode: { enum: URING_OPCODE_NAMES }, fd: intRef, len: size, offset: size,
    count: { type: 'integer', minimum: 1, maximum: 4096 },
    flags: { type: 'array', items: { enum: IOSQE_NAMES }, uniqueItems: true }, wait: { type: 'boolean' },
  }, ['task', 'ring', 'opcode', 'count']],
  uring_register_max_workers: [{
    ring: intRef, bounded: { type: 'integer', minimum: 0, maximum: 0xffffffff }, unbounded: { type: 'integer', minimum: 0, maximum: 0xffffffff },
  }, ['task', 'ring', 'bounded', 'unbounded']],
};

export const OP_NAMES = Object.keys(OPS);

/** the JSON Schema (draft 2020-12) of a step script */
export const STEP_SCRIPT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://kwq.invalid/step-script.schema.json',
  title: 'kwq step script',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'description', 'steps'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' },
    description: { type: 'string', minLength: 10 },
    kernels: { type: 'array', items: { enum: [...ORACLE_KERNELS] }, minItems: 1, uniqueItems: true },
    steps: {
      type: 'array', minItems: 1,
      items: {
        type: 'object',
        required: ['op'],
        properties: { op: { enum: Object.keys(OPS) } },
        discriminator: { propertyName: 'op' },
        oneOf: Object.entries(OPS).map(([op, [props, required]]) => ({
          type: 'object',
          additionalProperties: false,
          required: ['op', ...required],
          properties: { ...common, ...props, op: { const: op } },
        })),
      },
    },
  },
} as const;

type AjvCtor = typeof Ajv2020Module.default;
const Ajv2020 = ((Ajv2020Module as unknown as { default?: AjvCtor }).default ?? Ajv2020Module) as AjvCtor;
let validateFn: ReturnType<InstanceType<AjvCtor>['compile']> | null = null;

function validator(): ReturnType<InstanceType<AjvCtor>['compile']> {
  if (validateFn === null) {
    const ajv = new Ajv2020({ allErrors: false, discriminator: true, strict: true, allowUnionTypes: true });
    validateFn = ajv.compile(STEP_SCRIPT_SCHEMA);
  }
  return validateFn;
}

/** one line per error: where (steps[3].flags) and what is allowed */
function describe(errors: ErrorObject[] | null | undefined, where: string, doc: unknown): string {
  const e = errors?.[0];
  if (!e) return `${where}: invalid`;
  const at = e.instancePath.replace(/^\//, '').split('/').map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  let what = e.message ?? 'invalid';
  if (e.keyword === 'additionalProperties') what = `unknown field '${(e.params as { additionalProperty: string }).additionalProperty}'`;
  if (e.keyword === 'enum') what = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (e.keyword === 'discriminator') what = `'op' must be one of ${OP_NAMES.join(', ')}`;
  let value = '';
  try {
    const v = e.instancePath.split('/').slice(1).reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], doc);
    if (v !== undefined && typeof v !== 'object') value = ` (got ${JSON.stringify(v)})`;
  } catch { /* no value to show */ }
  return `${where}: ${at || 'the script'}: ${what}${value}`;
}

/** validate a parsed script: a KwqError naming the field when it is malformed */
export function parseScript(doc: unknown, where = 'step script'): StepScript {
  const v = validator();
  if (!v(doc)) throw new KwqError(where, describe(v.errors, '', doc).replace(/^: /, ''));
  const s = doc as StepScript;
  // names bound before use, and bound once (so a record's $name means one thing)
  const bound = new Set<string>(['init']);
  s.steps.forEach((step, i) => {
    for (const [k, val] of Object.entries(step)) {
      for (const ref of refsIn(val)) {
        if (k === 'divergent' || k === 'note' || k === 'check') continue;
        if (!bound.has(ref)) throw new KwqError(where, `steps[${i}].${k}: $${ref} is not bound by an earlier step's 'as'`);
      }
    }
    for (const k of ['task', 'target'] as const) {
      const t = step[k];
      if (typeof t === 'string' && !bound.has(t)) throw new KwqError(where, `steps[${i}].${k}: no task '${t}' was made by an earlier step`);
    }
    if (step.as !== undefined) {
      if (bound.has(step.as)) throw new KwqError(where, `steps[${i}].as: '${step.as}' is bound already`);
      bound.add(step.as);
    }
  });
  return s;
}

/** every $name inside a value (strings, arrays, objects) */
export function refsIn(v: unknown): string[] {
  if (typeof v === 'string') return [...v.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
  if (Array.isArray(v)) return v.flatMap(refsIn);
  if (typeof v === 'object' && v !== null) return Object.values(v).flatMap(refsIn);
  return [];
}

export function loadScriptFile(file: string): StepScript {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KwqError(file, `not a JSON step script: ${(e as Error).message}`);
  }
  const s = parseScript(doc, file);
  if (basename(file, '.json') !== s.name) throw new KwqError(file, `name '${s.name}' must match the file name`);
  return { ...s, file };
}

/** oracle/scripts of this checkout (or of the installed package) */
export function scriptsDir(): string {
  // from dist/src/oracle/ (built) or src/oracle/ (vitest): the repo's oracle/scripts
  const here = fileURLToPath(import.meta.url);
  const root = here.includes('/dist/src/') ? here.slice(0, here.indexOf('/dist/src/')) : here.slice(0, here.indexOf('/src/oracle/'));
  return join(root, 'oracle', 'scripts');
}

/** every script of the corpus, sorted by name; `names` picks some */
export function loadScripts(names?: readonly string[]): StepScript[] {
  const dir = scriptsDir();
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const all = files.map((f) => loadScriptFile(join(dir, f)));
  if (names === undefined || names.length === 0) return all;
  for (const n of names) if (!all.some((s) => s.name === n)) throw new KwqError('scripts', `no script '${n}' in ${dir}`);
  return all.filter((s) => names.includes(s.name));
}

/** "64M" -> 67108864 */
export function sizeValue(v: Size): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+)([KMG]?)$/.exec(v)!;
  return Number(m[1]) * ({ '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!]!;
}

/** the kernels a script is recorded on */
export function scriptKernels(s: StepScript): readonly OracleKernel[] {
  return s.kernels ?? ORACLE_KERNELS;
}

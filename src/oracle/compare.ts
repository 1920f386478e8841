/**
 * One step's answers compared, Linux's against kwq's (or a fresh Linux run against the
 * recorded one), by the step's `check` rules (docs/oracle.md, "Checks"). What differs
 * by nature was made symbolic when the records were made (record.ts); what the kernel
 * computes from things kwq does not model is compared with a tolerance the script names
 * per field, with its reason. Nothing is skipped: a value with no rule is compared exactly.
 */
import type { Check, Rule, Step, OracleKernel } from './script.js';
import type { StepRecord, FieldValue } from './record.js';
import { ioctlInfo } from './uapi.js';

export interface StepVerdict {
  step: number;
  op: string;
  agree: boolean;
  /** what differs, one line each ("ret: linux 0, kwq ENOMEM") */
  diffs: string[];
  /** the step is marked divergent on this kernel: the reason */
  divergent?: string;
}

function show(v: unknown): string {
  return v === undefined ? '(none)' : typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
}

function num(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return null;
}

/** does `b` (kwq) pass `rule` against `a` (Linux)? */
export function ruleHolds(rule: Rule, a: unknown, b: unknown): boolean {
  if (rule === 'exact') return JSON.stringify(a) === JSON.stringify(b);
  const x = num(a);
  const y = num(b);
  if (x === null || y === null) return JSON.stringify(a) === JSON.stringify(b);
  if (rule === 'nonzero') return x !== 0 && y !== 0;
  if (rule === 'zero') return x === 0 && y === 0;
  if (rule === 'positive') return x > 0 && y > 0;
  if ('range' in rule) return x >= rule.range[0] && x <= rule.range[1] && y >= rule.range[0] && y <= rule.range[1];
  const tol = Math.max(rule.abs ?? 0, (rule.rel ?? 0) * Math.abs(x));
  return Math.abs(x - y) <= tol;
}

function ruleFor(check: Check | undefined, key: string): Rule {
  return check?.fields?.[key] ?? check?.otherFields ?? 'exact';
}

/**
 * A new fd's number is compared as "an fd" (>= 0 on both): the guest's tasks hold 0, 1
 * and 2 and kwq's spawned processes none, so the numbers differ by construction.
 */
function retRule(step: Step): Rule {
  const fdOp = step.op === 'open' || step.op === 'dup' || step.op === 'eventfd'
    || (step.op === 'ioctl' && ioctlInfo((step as { request?: string }).request ?? '')?.returnsFd === true);
  return step.check?.fields?.ret ?? (fdOp ? { range: [0, 1 << 20], why: 'fd numbers: see retRule' } : 'exact');
}

/**
 * A readfile's ret is the number of bytes it read, which both executors return with the
 * text: when both have the text, its comparison rules (ranges for values that vary
 * between boots) decide, and a value one digit longer must not fail the step on ret.
 * A step's explicit ret rule still wins.
 */
function readCount(step: Step, a: StepRecord, b: StepRecord): boolean {
  return step.op === 'readfile' && step.check?.fields?.ret === undefined && a.text !== undefined && b.text !== undefined;
}

/** a keyed file: "key value" lines, and "dev k=v k=v" / "some avg10=.." lines as dev.k */
export function parseKeyed(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/).filter((x) => x !== '');
    if (w.length === 0) continue;
    if (w.length >= 2 && w.slice(1).every((x) => x.includes('='))) {
      for (const kv of w.slice(1)) {
        const [k, v] = kv.split('=');
        m.set(`${w[0]}.${k}`, v ?? '');
      }
    } else m.set(w[0]!, w.slice(1).join(' '));
  }
  return m;
}

function compareText(check: Check | undefined, a: string, b: string, diffs: string[], names: [string, string]): void {
  const mode = check?.text ?? 'exact';
  if (mode === 'exact') {
    // a one-value file (memory.current) passes the rule of `fields.text` (or `otherFields`), if any
    const rule = check?.fields?.text ?? check?.otherFields;
    const one = (t: string): boolean => /^\S+\n?$/.test(t);
    if (rule !== undefined && one(a) && one(b)) {
      if (!ruleHolds(rule, a.trim(), b.trim())) diffs.push(`text: ${names[0]} ${show(a)}, ${names[1]} ${show(b)}`);
    } else if (a !== b) diffs.push(`text: ${names[0]} ${show(a)}, ${names[1]} ${show(b)}`);
    return;
  }
  if (mode === 'lines' || mode === 'words') {
    const split = (s: string): string[] => (mode === 'lines' ? s.split('\n') : s.split(/\s+/)).filter((x) => x !== '').sort();
    const x = split(a);
    const y = split(b);
    const onlyA = x.filter((l) => !y.includes(l));
    const onlyB = y.filter((l) => !x.includes(l));
    if (onlyA.length > 0 || onlyB.length > 0 || x.length !== y.length) {
      diffs.push(`${mode}: only ${names[0]} ${show(onlyA)}, only ${names[1]} ${show(onlyB)}`);
    }
    return;
  }
  // a one-value file read as keyed (memory.current): its value passes the value rule
  const one = (t: string): boolean => /^\S+\n?$/.test(t);
  if (one(a) && one(b)) {
    const rule = check?.fields?.text ?? check?.otherFields ?? 'exact';
    if (!ruleHolds(rule, a.trim(), b.trim())) diffs.push(`text: ${names[0]} ${show(a)}, ${names[1]} ${show(b)}`);
    return;
  }
  const x = parseKeyed(a);
  const y = parseKeyed(b);
  const onlyA = [...x.keys()].filter((k) => !y.has(k));
  const onlyB = [...y.keys()].filter((k) => !x.has(k));
  if (onlyA.length > 0) diffs.push(`keys only ${names[0]} has: ${onlyA.join(' ')}`);
  if (onlyB.length > 0) diffs.push(`keys only ${names[1]} has: ${onlyB.join(' ')}`);
  for (const [k, v] of x) {
    if (!y.has(k)) continue;
    const w = y.get(k)!;
    if (!ruleHolds(ruleFor(check, k), v, w)) diffs.push(`${k}: ${names[0]} ${v}, ${names[1]} ${w}`);
  }
}

function compareStruct(check: Check | undefined, prefix: string, a: Record<string, FieldValue>, b: Record<string, FieldValue>, diffs: string[], names: [string, string]): void {
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k];
    const y = b[k];
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (typeof x === 'object' && typeof y === 'object') compareStruct(check, key, x, y, diffs, names);
    else if (!ruleHolds(ruleFor(check, key), x, y)) diffs.push(`${key}: ${names[0]} ${show(x)}, ${names[1]} ${show(y)}`);
  }
}

/** compare two records of the same step; names say whose is which ("linux", "kwq") */
export function compareRecords(step: Step, a: StepRecord, b: StepRecord, names: [string, string] = ['linux', 'kwq']): string[] {
  const diffs: string[] = [];
  const check = step.check;
  if (a.error !== undefined || b.error !== undefined) {
    if (a.error !== b.error) diffs.push(`could not run: ${names[0]} ${show(a.error)}, ${names[1]} ${show(b.error)}`);
    return diffs;
  }
  if (a.killed !== b.killed) {
    diffs.push(`killed during the call: ${names[0]} ${a.killed ? 'yes' : 'no'}, ${names[1]} ${b.killed ? 'yes' : 'no'}`);
    return diffs;
  }
  if (a.errno !== b.errno) diffs.push(`errno: ${names[0]} ${a.errno ?? `none (ret ${show(a.ret)})`}, ${names[1]} ${b.errno ?? `none (ret ${show(b.ret)})`}`);
  else if (a.errno === undefined && readCount(step, a, b)) {
    // a read's ret is its text's byte count: the text's own rules decide, ret must only be that count
    for (const [name, r] of [[names[0], a], [names[1], b]] as const) {
      if (r.ret !== Buffer.byteLength(r.text!)) diffs.push(`ret: ${name} ${show(r.ret)} is not the length of its text (${Buffer.byteLength(r.text!)})`);
    }
  } else if (a.errno === undefined && !ruleHolds(retRule(step), a.ret, b.ret)) diffs.push(`ret: ${names[0]} ${show(a.ret)}, ${names[1]} ${show(b.ret)}`);
  if (a.errno !== undefined || b.errno !== undefined) return diffs;
  if (a.value !== undefined || b.value !== undefined) {
    if (!ruleHolds(ruleFor(check, 'value'), a.value, b.value)) diffs.push(`value: ${names[0]} ${show(a.value)}, ${names[1]} ${show(b.value)}`);
  }
  if (a.struct !== undefined || b.struct !== undefined) compareStruct(check, '', a.struct ?? {}, b.struct ?? {}, diffs, names);
  if (a.text !== undefined || b.text !== undefined) compareText(check, a.text ?? '', b.text ?? '', diffs, names);
  if ((a.total !== undefined || b.total !== undefined) && !ruleHolds(ruleFor(check, 'total'), a.total, b.total)) {
    diffs.push(`total: ${names[0]} ${show(a.total)}, ${names[1]} ${show(b.total)}`);
  }
  if (a.status !== b.status) diffs.push(`status: ${names[0]} ${show(a.status)}, ${names[1]} ${show(b.status)}`);
  if (a.tasks !== undefined || b.tasks !== undefined) {
    const fmt = (t: NonNullable<StepRecord['tasks']>[number]): string => `${t.comm} tid=${t.tid} tgid=${t.tgid} ppid=${t.ppid} [${t.flags.join(',')}] ${t.cgroup}`;
    const x = (a.tasks ?? []).map(fmt);
    const y = (b.tasks ?? []).map(fmt);
    const onlyA = x.filter((l) => !y.includes(l));
    const onlyB = y.filter((l) => !x.includes(l));
    if (onlyA.length > 0 || onlyB.length > 0 || x.length !== y.length) diffs.push(`tasks: only ${names[0]} ${show(onlyA)}, only ${names[1]} ${show(onlyB)}`);
  }
  return diffs;
}

export function divergenceOf(step: Step, kernel: OracleKernel): string | undefined {
  return step.divergent?.[kernel] ?? step.divergent?.['*'];
}

/** every step of a script: Linux's record against kwq's */
export function compareScript(steps: readonly Step[], kernel: OracleKernel, linux: readonly StepRecord[], kwq: readonly StepRecord[]): StepVerdict[] {
  return steps.map((s, i) => {
    const a = linux[i];
    const b = kwq[i];
    const diffs = a === undefined || b === undefined ? [`missing record: linux ${a ? 'yes' : 'no'}, kwq ${b ? 'yes' : 'no'}`] : compareRecords(s, a, b);
    const divergent = divergenceOf(s, kernel);
    return { step: i, op: s.op, agree: diffs.length === 0, diffs, ...(divergent !== undefined ? { divergent } : {}) };
  });
}

/**
 * Tracepoints. Each is an object with an `enabled` flag; an emit site is
 *
 *   if (tp.enabled) tp.emit({ ...fields });
 *
 * so a tracepoint nobody listens to costs one property load (no allocation, no call).
 * `k.trace.on(name, fn)` attaches a listener (returns the detach function);
 * `k.trace.record()` keeps every event (all tracepoints enabled) for
 * `k.trace.events()` and `k.trace.exportChrome()` (the Chrome trace-event JSON that
 * Perfetto and chrome://tracing open: CPU slices as complete events per CPU, the rest
 * as instant events on the task's thread).
 *
 * Every event carries `name`, `ts` (virtual ns in sim) and `cpuPid` (the pid the
 * kernel was running for, 0 if none) besides its own fields.
 */
import { KwqError } from './error.js';

export interface TraceEvent {
  name: string;
  ts: number;
  [field: string]: unknown;
}

export type TraceListener = (ev: TraceEvent) => void;

export class Tracepoint {
  enabled = false;
  readonly listeners: TraceListener[] = [];
  constructor(
    readonly name: string,
    private readonly tracer: Tracer,
  ) {}
  /** Call only when `enabled` (the check is the caller's, so a disabled point costs nothing). */
  emit(fields: Record<string, unknown>): void {
    const ev = { name: this.name, ts: this.tracer.now(), ...fields } as TraceEvent;
    for (const fn of this.listeners) fn(ev);
    if (this.tracer.recording) this.tracer.buffer.push(ev);
  }
  refresh(): void {
    this.enabled = this.listeners.length > 0 || this.tracer.recording;
  }
}

/** The built-in tracepoints (drivers define theirs with `k.trace.define`). */
export const BUILTIN_TRACEPOINTS = [
  'task_newtask', 'sched_process_exit', 'signal_generate', 'cgroup_attach_task', 'cgroup_mkdir', 'cgroup_rmdir',
  'memcg_charge', 'memcg_uncharge', 'mark_victim', 'block_bio_queue',
  'workqueue_queue_work', 'workqueue_execute_start', 'workqueue_execute_end', 'sched_wakeup', 'sched_sleep', 'sched_slice',
] as const;

export class Tracer {
  readonly points = new Map<string, Tracepoint>();
  recording = false;
  readonly buffer: TraceEvent[] = [];
  constructor(readonly now: () => number) {
    for (const n of BUILTIN_TRACEPOINTS) this.define(n);
  }

  /** Define (or get) a tracepoint; drivers call this at module init. */
  define(name: string): Tracepoint {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new KwqError('trace.define', `bad tracepoint name '${name}'`);
    let tp = this.points.get(name);
    if (tp === undefined) {
      tp = new Tracepoint(name, this);
      tp.refresh();
      this.points.set(name, tp);
    }
    return tp;
  }

  /** The tracepoint named `name` (KwqError if none). */
  point(name: string): Tracepoint {
    const tp = this.points.get(name);
    if (tp === undefined) throw new KwqError('trace', `no tracepoint '${name}'; known: ${[...this.points.keys()].join(', ')}`);
    return tp;
  }

  /** Listen to one tracepoint ('*' for all); returns the function that detaches it. */
  on(name: string, fn: TraceListener): () => void {
    if (typeof fn !== 'function') throw new KwqError('trace.on', 'listener must be a function');
    const tps = name === '*' ? [...this.points.values()] : [this.point(name)];
    for (const tp of tps) {
      tp.listeners.push(fn);
      tp.refresh();
    }
    return () => {
      for (const tp of tps) {
        const i = tp.listeners.indexOf(fn);
        if (i >= 0) tp.listeners.splice(i, 1);
        tp.refresh();
      }
    };
  }

  /** Start (or stop) keeping every event. */
  record(on = true): void {
    this.recording = on;
    for (const tp of this.points.values()) tp.refresh();
  }

  events(): TraceEvent[] {
    return this.buffer.slice();
  }

  clear(): void {
    this.buffer.length = 0;
  }

  /**
   * Chrome trace-event JSON: `sched_slice` events become complete ('X') events on a
   * per-CPU track, everything else instant ('i') events on the emitting task's track.
   */
  exportChrome(): { traceEvents: Record<string, unknown>[]; displayTimeUnit: string } {
    const out: Record<string, unknown>[] = [];
    const cpus = new Set<number>();
    for (const ev of this.buffer) {
      const { name, ts, ...args } = ev;
      if (name === 'sched_slice') {
        const cpu = Number(args['cpu'] ?? 0);
        cpus.add(cpu);
        out.push({ name: String(args['comm'] ?? 'thread'), cat: 'sched', ph: 'X', ts: ts / 1000, dur: Number(args['costNs'] ?? 0) / 1000, pid: 0, tid: cpu, args });
      } else {
        const pid = Number(args['pid'] ?? 0);
        out.push({ name, cat: 'kwq', ph: 'i', s: 't', ts: ts / 1000, pid: 1, tid: pid, args });
      }
    }
    out.push({ name: 'process_name', ph: 'M', pid: 0, tid: 0, args: { name: 'CPUs' } });
    for (const c of cpus) out.push({ name: 'thread_name', ph: 'M', pid: 0, tid: c, args: { name: `cpu${c}` } });
    out.push({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'tasks (tid = pid)' } });
    return { traceEvents: out, displayTimeUnit: 'ns' };
  }
}

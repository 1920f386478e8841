/**
 * Tracepoints. Each is an object with an `enabled` flag; an emit site is
 *
 *   if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, pid: task.pid, work: ref });
 *
 * so a tracepoint nobody listens to costs one property load (no allocation, no call).
 * The literal IS the event (one allocation per event): emit() hands the same object
 * to every listener and to the recording buffer. `name` and `ts` (virtual ns in sim)
 * are written at the site; a literal without them (`tp.emit({ pid })`) gets them
 * added by emit(): the same event, about twice the cost.
 *
 * What an event costs, and why the site writes name and ts (V8, Node 20; measured with
 * a counting '*' listener on the vhost driver path, 3 events per work, and in a
 * micro-benchmark of 6 event shapes from 20 tracepoints):
 *   - `{ name, ts, ...fields }` in emit (the first version): a second allocation and a
 *     generic property copy: ~60 ns per event.
 *   - adding name/ts to the caller's literal in emit: V8 gives a literal exactly as many
 *     slots as it has keys, so two more keys grow it, in a megamorphic transitioning
 *     store: ~25 ns.
 *   - placeholders `{ name: '', ts: 0, ... }` filled in by emit: fast until `ts` first
 *     holds a non-Smi number (> 2^30 ns, about a second of virtual time); then every
 *     object made from the literal has a deprecated map and each store migrates it:
 *     ~150 ns per event. Do not write placeholders.
 *   - name and ts written at the site: ~20 ns per event, most of it the allocation, the
 *     two calls (emit, the listener) and the scavenges; with no listener, nothing.
 *     Past 2^30 ns of virtual time (~1.07 s) `ts` is no longer a small integer and V8
 *     boxes it: one more small allocation per event, which a number `ts` cannot avoid.
 * The clock is the runtime object itself (`clock.nowNs()`), not a closure per kernel:
 * with several kernels in one process a per-kernel closure made that call megamorphic.
 *
 * `k.trace.on(name, fn)` attaches a listener (returns the detach function);
 * `k.trace.record()` keeps every event (all tracepoints enabled) for
 * `k.trace.events()` and `k.trace.exportChrome()` (the Chrome trace-event JSON that
 * Perfetto and chrome://tracing open: CPU slices as complete events per CPU, the rest
 * as instant events on the task's thread).
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

  /** The time an event made now carries: write `ts: tp.now` in the literal. */
  get now(): number {
    return this.tracer.clock.nowNs();
  }

  /**
   * Call only when `enabled` (the check is the caller's, so a disabled point costs nothing).
   * `ev` must be a fresh object literal, `{ name: tp.name, ts: tp.now, ...its fields }`:
   * it BECOMES the event. Without `ts`, name and ts are added here (slower, see above).
   */
  emit(ev: Record<string, unknown>): void {
    if (ev['ts'] === undefined) {
      ev['name'] = this.name;
      ev['ts'] = this.tracer.clock.nowNs();
    }
    this.fire(ev as TraceEvent);
  }

  /**
   * emit() for a literal that has `name` and `ts` (the kernel's and drivers' hot sites):
   * no check. Where V8 does not inline emit() into the site, its `ev['ts']` load sees
   * every event shape and goes megamorphic (a stub-cache probe per event); on the vhost
   * path that, with the call, took the '*' listener's rate from ~21 to ~15 M works/s.
   */
  fire(ev: TraceEvent): void {
    const ls = this.listeners;
    for (let i = 0; i < ls.length; i++) ls[i]!(ev);
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
  /**
   * `clock` is the runtime (its nowNs()): a method call on one of two runtime classes,
   * not a closure per kernel, so the call stays monomorphic when many kernels run in one
   * process (a closure per kernel made it megamorphic after four boots).
   */
  constructor(readonly clock: { nowNs(): number }) {
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
   * per-CPU track, everything else instant ('i') events on the emitting task's track,
   * in time order. test/cli/trace-format.test.ts checks the result against the format.
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
    // The buffer is in emission order, not time order: a thread's events inside a sim
    // slice carry its start plus the cost used so far, ahead of events other code emits
    // later at the slice's start. The format wants ts to rise along each track (B/E
    // pairing and slice nesting follow it), so sort, stably (same-ts events keep their order).
    out.sort((a, b) => (a['ts'] as number) - (b['ts'] as number));
    out.push({ name: 'process_name', ph: 'M', pid: 0, tid: 0, args: { name: 'CPUs' } });
    for (const c of cpus) out.push({ name: 'thread_name', ph: 'M', pid: 0, tid: c, args: { name: `cpu${c}` } });
    out.push({ name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'tasks (tid = pid)' } });
    return { traceEvents: out, displayTimeUnit: 'ns' };
  }
}

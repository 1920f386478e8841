/**
 * V8's .cpuprofile (what `node --cpu-prof` writes, one file per thread), read once into
 * what the readable outputs need: a frame per distinct function, the stack of every
 * sample (root first) and its weight in µs. speedscope.ts and flamegraph.ts build on it.
 *
 * Frames are named for a person: a Wasm function by its name from the profile build
 * (`assembly/vhost/vhost_worker_loop [wasm]`, not the module hash), a JS function with
 * its file and line (`produce worker.js:41`), V8's pseudo-frames as they are
 * ('(garbage collector)', '(idle)', '(program)').
 */
import { basename } from 'node:path';

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number; scriptId?: string };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas?: number[];
}

export type FrameKind = 'wasm' | 'js' | 'node' | 'v8';

export interface Frame {
  name: string;
  file?: string;
  line?: number;
  col?: number;
  kind: FrameKind;
}

export interface ThreadSamples {
  /** indices into `frames`, root first, one per sample */
  stacks: number[][];
  /** µs each sample stands for */
  weights: number[];
  startUs: number;
  endUs: number;
}

/** Frames shared by several threads: the same function is one frame. */
export class FrameTable {
  readonly frames: Frame[] = [];
  private readonly index = new Map<string, number>();

  intern(cf: CpuProfileNode['callFrame']): number {
    const f = frameOf(cf);
    const key = `${f.name}\0${f.file ?? ''}\0${f.line ?? ''}\0${f.col ?? ''}`;
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.frames.length;
      this.frames.push(f);
      this.index.set(key, i);
    }
    return i;
  }
}

export function frameOf(cf: CpuProfileNode['callFrame']): Frame {
  const fn = cf.functionName || '(anonymous)';
  if (cf.url.startsWith('wasm://')) return { name: `${fn} [wasm]`, file: cf.url, kind: 'wasm' };
  if (cf.url === '') return { name: fn, kind: 'v8' };
  const line = cf.lineNumber >= 0 ? cf.lineNumber + 1 : undefined;
  const col = cf.columnNumber >= 0 ? cf.columnNumber + 1 : undefined;
  const kind: FrameKind = cf.url.startsWith('node:') ? 'node' : 'js';
  return { name: `${fn} ${basename(cf.url)}${line !== undefined ? `:${line}` : ''}`, file: cf.url, line, col, kind };
}

/**
 * Every sample's stack (root first, V8's '(root)' left out) and weight. The weight of
 * sample i is the time to the next sample (V8 records the delta before each sample;
 * the last one gets the mean), as speedscope's own importer does.
 */
export function threadSamples(profile: CpuProfile, frames: FrameTable): ThreadSamples {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = new Map<number, number[]>();
  const stack = (id: number): number[] => {
    const hit = stackOf.get(id);
    if (hit) return hit;
    const node = byId.get(id)!;
    const p = parent.get(id);
    const up = p === undefined ? [] : stack(p);
    const s = p === undefined && node.callFrame.functionName === '(root)' ? [] : [...up, frames.intern(node.callFrame)];
    stackOf.set(id, s);
    return s;
  };
  const deltas = profile.timeDeltas ?? [];
  const n = profile.samples.length;
  const mean = n > 0 ? (profile.endTime - profile.startTime) / n : 0;
  const stacks: number[][] = [];
  const weights: number[] = [];
  for (let i = 0; i < n; i++) {
    stacks.push(stack(profile.samples[i]!));
    const w = i + 1 < deltas.length ? deltas[i + 1]! : mean;
    weights.push(Math.max(0, w));
  }
  return { stacks, weights, startUs: profile.startTime, endUs: profile.endTime };
}

/**
 * The thread a .cpuprofile file is from, by node's file name
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread.
 */
export function threadLabel(file: string): string {
  const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(basename(file));
  if (!m) return basename(file, '.cpuprofile');
  return m[2] === '0' ? `main thread (pid ${m[1]})` : `worker thread ${m[2]} (pid ${m[1]})`;
}

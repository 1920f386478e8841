/**
 * `kwq profile`: CPU-profile the queue design. It re-runs a kwq command in a child
 * node with `--cpu-prof` (one .cpuprofile per thread, worker_threads included) and
 * KWQ_WASM=profile (the Wasm build that keeps function names), then prints each
 * thread's top functions by self time and writes, beside the .cpuprofile files,
 *   kwq.speedscope.json   every thread in one speedscope file (speedscope.app, `npx speedscope`)
 *   flame-<thread>.svg    a flame graph per thread (Wasm frames by name)
 * (src/report/cpuprofile.ts, speedscope.ts, flamegraph.ts).
 *
 *   kwq profile                       the threaded engine (kwq engine --ms 2000)
 *   kwq profile scenario multiqueue   any other kwq command line
 *   kwq profile --out DIR --top N --ms N   (--ms: the engine run's length)
 */
import { mkdtempSync, readFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { KwqError } from '../kernel/error.js';
import { runNodeScript } from './child.js';
import { kwqVersion } from './version.js';
import { FrameTable, threadLabel, threadSamples, type CpuProfile as V8CpuProfile } from '../report/cpuprofile.js';
import { toSpeedscope } from '../report/speedscope.js';
import { flameGraphSpec, flameRows } from '../report/flamegraph.js';
import { renderVega } from '../report/render.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  name: string;
  selfMs: number;
  share: number;
}

/** Self time per function of one .cpuprofile, largest first. */
export function summarizeProfile(profile: CpuProfile): { totalMs: number; functions: FunctionTime[] } {
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const samples = profile.samples.length || 1;
  const perSample = totalMs / samples;
  const byName = new Map<string, number>();
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const fn = n.callFrame.functionName || '(anonymous)';
    // a Wasm frame's url is the module's hash: say [wasm] instead
    const where = n.callFrame.url.startsWith('wasm://') ? ' [wasm]' : n.callFrame.url ? ` ${basename(n.callFrame.url)}` : '';
    const key = `${fn}${where}`;
    byName.set(key, (byName.get(key) ?? 0) + hits);
  }
  const functions = [...byName.entries()]
    .map(([name, hits]) => ({ name, selfMs: hits * perSample, share: hits / samples }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs, functions };
}

export async function profileCommand(argsIn: string[]): Promise<number> {
  const args = [...argsIn];
  let out: string | undefined;
  let top = 12;
  let ms = '2000';
  for (;;) {
    if (args[0] === '--out') {
      out = args[1];
      if (!out) throw new KwqError('kwq profile', '--out needs a directory');
      args.splice(0, 2);
    } else if (args[0] === '--ms') {
      ms = args[1] ?? '';
      if (!(Number(ms) > 0)) throw new KwqError('kwq profile', `--ms needs a positive number of milliseconds, got ${args[1]}`);
      args.splice(0, 2);
    } else if (args[0] === '--top') {
      top = Number(args[1]);
      if (!Number.isInteger(top) || top <= 0) throw new KwqError('kwq profile', `--top needs a positive integer, got ${args[1]}`);
      args.splice(0, 2);
    } else break;
  }
  const what = args.length ? args : ['engine', '--ms', ms];
  const dir = out ? resolve(out) : mkdtempSync(join(tmpdir(), 'kwq-profile-'));
  mkdirSync(dir, { recursive: true });
  const code = await runNodeScript(
    new URL('./kwq.js', import.meta.url),
    what,
    ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    { ...process.env, KWQ_WASM: 'profile' },
  );
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  const threads = files.map((f) => ({ file: f, label: threadLabel(f), profile: JSON.parse(readFileSync(join(dir, f), 'utf8')) as V8CpuProfile }));
  const command = `kwq ${what.join(' ')}`;
  console.log(`\n# CPU profile of \`${command}\` (Wasm built with names): ${files.length} thread(s), in ${dir}`);
  for (const t of threads) {
    const { totalMs, functions } = summarizeProfile(t.profile as unknown as CpuProfile);
    console.log(`\n${t.label}: ${t.file} (${totalMs.toFixed(0)} ms)`);
    for (const fn of functions.slice(0, top)) {
      console.log(`  ${(fn.share * 100).toFixed(1).padStart(5)} %  ${fn.selfMs.toFixed(1).padStart(8)} ms  ${fn.name}`);
    }
  }
  if (threads.length > 0) {
    const ss = join(dir, 'kwq.speedscope.json');
    writeFileSync(ss, JSON.stringify(toSpeedscope(threads, { name: command, exporter: `kwq ${kwqVersion()}` })));
    const flames: string[] = [];
    for (const [i, t] of threads.entries()) {
      const frames = new FrameTable();
      const rows = flameRows(threadSamples(t.profile, frames), frames.frames, { rootName: t.label });
      const worker = /^worker thread (\d+)/.exec(t.label)?.[1];
      const svg = join(dir, `flame-${worker !== undefined ? `worker${worker}` : t.label.startsWith('main') ? 'main' : i}.svg`);
      writeFileSync(svg, await renderVega(flameGraphSpec(rows, { title: `${command}: ${t.label}` })));
      flames.push(svg);
    }
    console.log(`\nspeedscope: ${ss} (drop it on https://www.speedscope.app or run \`npx speedscope ${ss}\`)`);
    console.log(`flame graphs: ${flames.join(' ')}`);
  }
  return code;
}

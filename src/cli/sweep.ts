/**
 * `kwq sweep FILE`: every point of a parameter file's grid (params.ts), run on a pool of
 * worker threads (tinypool; --jobs, default all cores), one JSON line per point in point
 * order: the experiment's id, the point's index, its swept values, its full options, the
 * seed, kwq's version and the measured data (or the error).
 *
 *   --out FILE      append the lines to FILE; points already there are skipped, so a
 *                   sweep that stopped resumes where it stopped (a torn last line is
 *                   dropped and its point run again)
 *   --shard i/n     run only the points p with p % n == i - 1 (i in 1..n); without it,
 *                   a Slurm array job's SLURM_ARRAY_TASK_ID (- SLURM_ARRAY_TASK_MIN) and
 *                   SLURM_ARRAY_TASK_COUNT, or a Kubernetes indexed Job's
 *                   JOB_COMPLETION_INDEX with --shards N (its completions), choose it
 *   kwq merge       joins the shards' files in point order (merge.ts)
 *
 * Sim points are deterministic (seeded, virtual time), so a shard run twice writes the
 * same bytes, and merged shards equal the unsharded run.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import Tinypool from 'tinypool';
import { EXIT_FAILED, EXIT_OK, numberOption, parseCommand, UsageError, writableFile, type CommandSpec } from './args.js';
import { gridSize, loadParams, pointAt, type Experiment } from './params.js';
import { validateScenarioOptions } from './scenario-options.js';
import { Progress } from './progress.js';
import { kwqVersion, packageRoot } from './version.js';
import type { PointResult, PointTask } from './sweep-worker.js';
import type { Scenario } from '../../scenarios/types.js';

export const SWEEP_SPEC: CommandSpec = {
  name: 'kwq sweep',
  usage: 'kwq sweep FILE [--out FILE] [--jobs N] [--shard i/n | --shards N]',
  help: [
    'Run every point of a parameter file\'s grid on a pool of worker threads; one JSON line per point, in point order',
    '(experiment id, point, swept params, full options, seed, kwq version, data). The file: see README "Your own experiment".',
    '  --out FILE    append to FILE instead of stdout; points already in FILE are skipped (resume)',
    '  --jobs N      worker threads (default: all cores)',
    '  --shard i/n   only the points p with p % n == i-1; also from SLURM_ARRAY_TASK_ID/_MIN/_COUNT',
    '  --shards N    the shard count for a Kubernetes indexed Job (JOB_COMPLETION_INDEX is the index)',
    'kwq merge joins shard files. Exit 1 when a point failed (its line has "error").',
  ],
  options: { out: { type: 'string' }, jobs: { type: 'string' }, shard: { type: 'string' }, shards: { type: 'string' } },
  positionals: [1, 1],
};

export interface Shard {
  /** 1-based */
  index: number;
  count: number;
  /** where it came from: '--shard', 'SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX', or 'none' */
  source: string;
}

const intIn = (where: string, what: string, word: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  const n = /^\s*\d+\s*$/.test(word) ? Number(word) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(where, `${what} has value ${JSON.stringify(word)}; expected an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? 'inf' : max}`);
  return n;
};

/** The shard this run does: --shard i/n, else the scheduler's variables, else all. */
export function resolveShard(shard: string | undefined, shards: string | undefined, env: NodeJS.ProcessEnv): Shard {
  const where = 'kwq sweep';
  if (shard !== undefined) {
    if (shards !== undefined) throw new UsageError(where, 'give --shard i/n or --shards N, not both');
    const m = /^(\d+)\/(\d+)$/.exec(shard.trim());
    if (!m) throw new UsageError(where, `option '--shard' has value ${JSON.stringify(shard)}; expected i/n with 1 <= i <= n, e.g. 1/4`);
    const count = intIn(where, "option '--shard' n", m[2]!, 1);
    return { index: intIn(where, "option '--shard' i", m[1]!, 1, count), count, source: '--shard' };
  }
  const slurm = env['SLURM_ARRAY_TASK_ID'];
  if (slurm !== undefined && slurm !== '') {
    const countWord = env['SLURM_ARRAY_TASK_COUNT'];
    if (countWord === undefined) throw new UsageError(where, 'SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not');
    const count = intIn(where, 'SLURM_ARRAY_TASK_COUNT', countWord, 1);
    if (shards !== undefined && intIn(where, "option '--shards'", shards, 1) !== count) throw new UsageError(where, `--shards ${shards} disagrees with SLURM_ARRAY_TASK_COUNT=${count}`);
    // an array of --array=1-4 numbers its tasks from 1: SLURM_ARRAY_TASK_MIN says where
    const min = intIn(where, 'SLURM_ARRAY_TASK_MIN', env['SLURM_ARRAY_TASK_MIN'] ?? '0', 0);
    const id = intIn(where, 'SLURM_ARRAY_TASK_ID', slurm, min, min + count - 1);
    return { index: id - min + 1, count, source: 'SLURM_ARRAY_TASK_ID' };
  }
  const k8s = env['JOB_COMPLETION_INDEX'];
  if (k8s !== undefined && k8s !== '') {
    if (shards === undefined) throw new UsageError(where, 'JOB_COMPLETION_INDEX is set: give the shard count (the Job\'s completions) with --shards N');
    const count = intIn(where, "option '--shards'", shards, 1);
    return { index: intIn(where, 'JOB_COMPLETION_INDEX', k8s, 0, count - 1) + 1, count, source: 'JOB_COMPLETION_INDEX' };
  }
  if (shards !== undefined) throw new UsageError(where, '--shards N needs an index: JOB_COMPLETION_INDEX (or use --shard i/n)');
  return { index: 1, count: 1, source: 'none' };
}

/** One sweep line's fields besides the data. */
export interface SweepLineHead {
  experiment: string;
  point: number;
  of: number;
  kind: 'scenario' | 'compare';
  name: string;
  designs?: string[];
  releases?: string[];
  params: Record<string, unknown>;
  options: Record<string, unknown>;
  /** the seed the point's kernels booted with: its seed option, or Kernel.boot's default 1 for scenarios without one */
  seed: number;
  kwq: string;
}

export function sweepLine(head: SweepLineHead, r: PointResult): string {
  const h = JSON.stringify(head);
  return 'data' in r ? `${h.slice(0, -1)},"data":${r.data}}` : `${h.slice(0, -1)},"error":${JSON.stringify(r.error)}}`;
}

/** The points already in an output file; a torn last line (a killed run) is cut off. */
export function donePoints(file: string, exp: Experiment): Set<number> {
  const done = new Set<number>();
  if (!existsSync(file)) return done;
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) {
    const fd = openSync(file, 'r+');
    try {
      ftruncateSync(fd, end);
    } finally {
      closeSync(fd);
    }
  }
  text.slice(0, end).split('\n').forEach((line, i) => {
    if (line === '') return;
    let rec: { experiment?: unknown; point?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      throw new UsageError('kwq sweep: --out', `${file} line ${i + 1} is not a sweep line (not JSON)`);
    }
    if (rec.experiment !== exp.id) {
      throw new UsageError('kwq sweep: --out', `${file} holds points of another experiment (${String(rec.experiment)}, this one is ${exp.id}): give another --out`);
    }
    if (typeof rec.point === 'number') done.add(rec.point);
  });
  return done;
}

/** the worker module: beside this one when built; dist's when running from src/ (vitest) */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const file = here.includes('/dist/src/') ? here.replace(/sweep\.js$/, 'sweep-worker.js') : `${packageRoot()}/dist/src/cli/sweep-worker.js`;
  if (!existsSync(file)) throw new UsageError('kwq sweep', `${file} is not built; run \`npm run build\``);
  return file;
}

export interface SweepSummary {
  points: number;
  shard: Shard;
  inShard: number;
  skipped: number;
  ran: number;
  failed: number;
  ms: number;
  jobs: number;
}

/** Run a sweep; lines go to `write` in point order. */
export async function runSweep(exp: Experiment, o: { jobs: number; shard: Shard; done?: Set<number>; write: (line: string) => void; progressLabel?: string }): Promise<SweepSummary> {
  const n = gridSize(exp);
  const mine: number[] = [];
  for (let p = o.shard.index - 1; p < n; p += o.shard.count) mine.push(p);
  const todo = mine.filter((p) => !o.done?.has(p));
  const version = kwqVersion();
  const heads = (p: number): { head: SweepLineHead; task: PointTask } => {
    const params = pointAt(exp, p);
    // checked here, before the pool: a bad combination fails at once with its point named
    const options = validateScenarioOptions(exp.table as Scenario, { ...exp.options, ...params });
    const compare = exp.kind === 'compare' ? { designs: exp.designs!, releases: exp.releases! } : {};
    return {
      head: {
        experiment: exp.id, point: p, of: n, kind: exp.kind, name: exp.name, ...compare, params, options,
        seed: typeof options['seed'] === 'number' ? options['seed'] : 1, kwq: version,
      },
      task: { kind: exp.kind, name: exp.name, options, ...compare },
    };
  };
  const t0 = Date.now();
  let failed = 0;
  const progress = o.progressLabel === undefined ? undefined : new Progress(o.progressLabel, todo.length);
  if (todo.length > 0) {
    const pool = new Tinypool({ filename: workerFile(), minThreads: o.jobs, maxThreads: o.jobs, idleTimeout: 1000 });
    try {
      // a window of tasks in flight; results written in point order as the front completes
      const window = o.jobs * 4;
      const ready = new Map<number, string>();
      let next = 0; // next todo index to submit
      let front = 0; // next todo index to write
      await new Promise<void>((resolve, reject) => {
        const pump = (): void => {
          while (ready.has(front)) {
            o.write(ready.get(front)!);
            ready.delete(front);
            front++;
            progress?.update(front, `point ${todo[front - 1]}`);
          }
          if (front === todo.length) {
            resolve();
            return;
          }
          while (next < todo.length && next - front < window) {
            const i = next++;
            const { head, task } = heads(todo[i]!);
            (pool.run(task) as Promise<PointResult>).then((r) => {
              if ('error' in r) failed++;
              ready.set(i, `${sweepLine(head, r)}\n`);
              pump();
            }, reject);
          }
        };
        try {
          pump();
        } catch (e) {
          reject(e);
        }
      });
    } finally {
      progress?.clear();
      await pool.destroy();
    }
  }
  return { points: n, shard: o.shard, inShard: mine.length, skipped: mine.length - todo.length, ran: todo.length, failed, ms: Date.now() - t0, jobs: o.jobs };
}

export async function sweepCommand(argv: string[]): Promise<number> {
  const p = parseCommand(SWEEP_SPEC, argv);
  if (p === null) return EXIT_OK;
  const exp = await loadParams(p.positionals[0]!);
  const jobs = numberOption('kwq sweep', 'jobs', p.values.jobs as string | undefined, { integer: true, min: 1, max: 1024, dflt: availableParallelism() });
  const shard = resolveShard(p.values.shard as string | undefined, p.values.shards as string | undefined, process.env);
  const out = p.values.out === undefined ? undefined : writableFile('kwq sweep: --out', p.values.out as string);
  const done = out === undefined ? new Set<number>() : donePoints(out, exp);
  const fd = out === undefined ? 1 : openSync(out, 'a');
  let s: SweepSummary;
  try {
    s = await runSweep(exp, {
      jobs, shard, done,
      write: (line) => writeSync(fd, line),
      progressLabel: `kwq sweep ${exp.file}:`,
    });
  } finally {
    if (fd !== 1) closeSync(fd);
  }
  const shardText = shard.count > 1 ? ` shard ${shard.index}/${shard.count} (${shard.source}): ${s.inShard} points;` : '';
  console.error(
    `kwq sweep: ${exp.name}, ${s.points} points;${shardText} ${s.skipped} already in ${out ?? 'the output'}, ran ${s.ran} in ${(s.ms / 1000).toFixed(1)} s ` +
      `on ${s.jobs} worker thread(s)${s.ran > 0 ? ` (${((s.ran / s.ms) * 1000).toFixed(1)} points/s)` : ''}${s.failed ? `; ${s.failed} failed (their lines have "error")` : ''}`,
  );
  return s.failed > 0 ? EXIT_FAILED : EXIT_OK;
}

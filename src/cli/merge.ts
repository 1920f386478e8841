/**
 * `kwq merge FILE... [--out FILE]`: sweep shards (kwq sweep --shard i/n, or a Slurm /
 * Kubernetes array's outputs) joined into one file in point order. Every line must be
 * of the same experiment; a point found twice must be the same bytes (a deterministic
 * rerun), else the merge stops and names both places. The result is the unsharded
 * sweep's output, byte for byte. Exit 1 when points are missing (the lines there are
 * written), so a pipeline notices a shard that did not finish.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { EXIT_FAILED, EXIT_OK, parseCommand, UsageError, writableFile, type CommandSpec } from './args.js';

export const MERGE_SPEC: CommandSpec = {
  name: 'kwq merge',
  usage: 'kwq merge FILE... [--out FILE]',
  help: [
    'Join sweep outputs (shards, or a resumed run) into one, in point order, each point once.',
    '  --out FILE    write there instead of stdout',
    'A point found twice with different lines is an error (exit 2); exit 1 when points of the grid are missing.',
  ],
  options: { out: { type: 'string' } },
  positionals: [1, Infinity],
};

export interface MergeResult {
  text: string;
  points: number;
  of: number;
  missing: number[];
}

/** Merge sweep files' text; `files` for the messages. */
export function mergeSweeps(inputs: { file: string; text: string }[]): MergeResult {
  const where = 'kwq merge';
  const byPoint = new Map<number, { line: string; at: string }>();
  let experiment: string | undefined;
  let of = 0;
  for (const { file, text } of inputs) {
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const at = `${file} line ${i + 1}`;
      let rec: { experiment?: unknown; point?: unknown; of?: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        throw new UsageError(where, `${at} is not JSON (a torn line? resume that shard with kwq sweep --out)`);
      }
      if (typeof rec.experiment !== 'string' || typeof rec.point !== 'number' || typeof rec.of !== 'number') throw new UsageError(where, `${at} is not a kwq sweep line`);
      experiment ??= rec.experiment;
      if (rec.experiment !== experiment) throw new UsageError(where, `${at} is of experiment ${rec.experiment}, the first line of experiment ${experiment}: not the same sweep`);
      of = rec.of;
      const prev = byPoint.get(rec.point);
      if (prev !== undefined && prev.line !== line) throw new UsageError(where, `point ${rec.point} differs between ${prev.at} and ${at}`);
      if (prev === undefined) byPoint.set(rec.point, { line, at });
    });
  }
  const points = [...byPoint.keys()].sort((a, b) => a - b);
  const missing: number[] = [];
  for (let p = 0, j = 0; p < of; p++) {
    if (points[j] === p) j++;
    else missing.push(p);
  }
  return { text: points.map((p) => `${byPoint.get(p)!.line}\n`).join(''), points: points.length, of, missing };
}

export async function mergeCommand(argv: string[]): Promise<number> {
  const p = parseCommand(MERGE_SPEC, argv);
  if (p === null) return EXIT_OK;
  const out = p.values.out === undefined ? undefined : writableFile('kwq merge: --out', p.values.out as string);
  const inputs = p.positionals.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (e) {
      throw new UsageError('kwq merge', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
  const r = mergeSweeps(inputs);
  if (out === undefined) process.stdout.write(r.text);
  else writeFileSync(out, r.text);
  if (r.missing.length > 0) {
    const list = r.missing.length > 10 ? `${r.missing.slice(0, 10).join(', ')}, ...` : r.missing.join(', ');
    console.error(`kwq merge: ${r.points} of ${r.of} points; missing ${r.missing.length}: ${list}`);
    return EXIT_FAILED;
  }
  console.error(`kwq merge: ${r.points} of ${r.of} points from ${inputs.length} file(s)`);
  return EXIT_OK;
}

/**
 * A scale point's memory traffic per item, counted instead of timed (issue 10). The
 * shared 2-vCPU machine's speed drifts by 10-50 % over minutes, more than most changes
 * to the scale path move the time; valgrind's cachegrind counts the same run the
 * same way every time. It runs one point of bench/scale-points.ts with exactly A and
 * then B rounds (KWQ_SCALE_ROUNDS) under cachegrind, with node --single-threaded (no
 * concurrent compiler or GC threads), and prints per item of the extra rounds:
 * instructions, data references, and misses of one simulated data cache (default
 * 32 MB, 16-way, 64-byte lines: about this machine's L3; 1 MB: about its L2).
 *
 *   npm run build && node dist/bench/cachegrind.js --curve loop --x 10000
 *   node dist/bench/cachegrind.js --curve vhost16 --x 1000 --rounds 20,40 --cache 1048576
 *
 * Needs valgrind on PATH (Debian: apt-get install valgrind). Each run takes about a
 * minute at 10,000 cgroups (setup included); the two run side by side. Not part of
 * `npm run bench` or `npm test`. Read misses per item beside the time: with 10,000
 * loop cgroups a request missed the 32 MB cache 21 times (most of it the allocation
 * stream: every new line is a miss once the heap outgrows the cache) and at 1 cgroup
 * none.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CURVES, type Curve, type PointReport } from './scale-points.js';

interface Counts {
  instructions: number;
  dataRefs: number;
  misses: number;
  items: number;
}

/** cachegrind's summary lines, e.g. "==1== D1  misses:  18,982,646  ( ...": the first number */
function field(text: string, label: string): number {
  const m = new RegExp(`==\\d+== ${label}:\\s+([\\d,]+)`).exec(text);
  if (m === null) throw new Error(`cachegrind: no '${label}' line in valgrind's output:\n${text.slice(-2000)}`);
  return Number(m[1]!.replaceAll(',', ''));
}

function run(curve: Curve, x: number, rounds: number, cache: string): Promise<Counts> {
  const script = fileURLToPath(new URL('./scale-points.js', import.meta.url));
  const args = [
    '--tool=cachegrind', '--cache-sim=yes', `--D1=${cache}`, '--cachegrind-out-file=/dev/null',
    process.execPath, '--single-threaded', script, curve, String(x), '1', '1',
  ];
  return new Promise((resolve, reject) => {
    execFile('valgrind', args, { env: { ...process.env, KWQ_SCALE_ROUNDS: String(rounds) }, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err !== null) {
        const e = err as NodeJS.ErrnoException;
        reject(new Error(e.code === 'ENOENT' ? 'cachegrind: valgrind is not on PATH (Debian: apt-get install valgrind)' : `cachegrind: valgrind failed: ${err.message}\n${stderr.slice(-2000)}`));
        return;
      }
      try {
        const report = JSON.parse(stdout) as PointReport;
        if (!report.first.exactlyOnce) throw new Error('cachegrind: the point failed its exactly-once check');
        resolve({ instructions: field(stderr, 'I   refs'), dataRefs: field(stderr, 'D   refs'), misses: field(stderr, 'D1  misses'), items: report.first.items });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      curve: { type: 'string', default: 'loop' },
      x: { type: 'string', default: '10000' },
      rounds: { type: 'string' },
      cache: { type: 'string', default: String(32 << 20) },
      assoc: { type: 'string', default: '16' },
    },
    strict: true,
  });
  const curve = values.curve as Curve;
  if (!CURVES.includes(curve)) throw new Error(`cachegrind: --curve must be one of ${CURVES.join(', ')}, got '${values.curve}'`);
  const x = Number(values.x);
  if (!Number.isInteger(x) || x < 1) throw new Error(`cachegrind: --x must be a positive integer, got '${values.x}'`);
  // a loop round is one request per cgroup and QD 4; a vhost round 1-16 works per device
  const [a, b] = (values.rounds ?? (curve === 'loop' ? (x >= 1000 ? '10,20' : '20000,40000') : x >= 100 ? '20,40' : '2000,4000')).split(',').map(Number);
  if (!Number.isInteger(a) || !Number.isInteger(b) || a! < 1 || b! <= a!) throw new Error(`cachegrind: --rounds must be A,B with 1 <= A < B, got '${values.rounds}'`);
  const size = Number(values.cache);
  const assoc = Number(values.assoc);
  if (!Number.isInteger(size) || size < 1024 || (size & (size - 1)) !== 0) throw new Error(`cachegrind: --cache must be a power of two of bytes, got '${values.cache}'`);
  if (!Number.isInteger(assoc) || assoc < 1) throw new Error(`cachegrind: --assoc must be a positive integer, got '${values.assoc}'`);
  const cache = `${size},${assoc},64`;
  const [ra, rb] = await Promise.all([run(curve, x, a!, cache), run(curve, x, b!, cache)]);
  const items = rb.items - ra.items;
  const per = (k: keyof Counts): string => ((rb[k] - ra[k]) / items).toFixed(2);
  process.stdout.write(
    `${curve} x=${x}, rounds ${a}..${b} (${items} items), a ${size}-byte ${assoc}-way data cache:\n` +
      `  instructions/item ${per('instructions')}\n  data refs/item ${per('dataRefs')}\n  misses/item ${per('misses')}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

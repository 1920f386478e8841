/**
 * The native C reference (bench/native/*.c: kwq-native.c's main and commands, io-wq.c's
 * `io-wq` command): every .c source of this directory compiled into one binary, once,
 * with the machine's C compiler ($CC, else cc) into build/native/<hash of every source
 * and header + compiler>/ (build/ is not in git), then run as a child process that
 * prints one JSON object. A machine
 * without a compiler gets a one-line note instead of the C figures, and every ratio
 * to C is left out of that run (never made up).
 *
 *   const c = nativeRef();                // { run(args) } or { note }
 *   if ('run' in c) c.run(['llist', '1024', '300']);
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs from dist/bench/native/ or bench/native/. */
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  throw new Error('bench/native: cannot find the repository root (package.json) above ' + fileURLToPath(import.meta.url));
}

export interface NativeRef {
  /** run the binary with `args`; the JSON it printed */
  run<T = unknown>(args: (string | number)[], timeoutMs?: number): T;
  /** the compiler and flags, for the figure notes */
  readonly compiler: string;
}

let cached: NativeRef | { note: string } | undefined;

/** The built native reference, or a one-line note saying why there is none. */
export function nativeRef(): NativeRef | { note: string } {
  if (cached) return cached;
  cached = build();
  return cached;
}

function build(): NativeRef | { note: string } {
  const root = repoRoot();
  const dir0 = resolve(root, 'bench/native');
  const main = join(dir0, 'kwq-native.c');
  if (!existsSync(main)) return { note: `native C reference skipped: ${main} is missing` };
  // every .c is compiled (sorted: the same command line, hence the same binary, each time);
  // the headers they include are hashed too
  const names = readdirSync(dir0).filter((f) => f.endsWith('.c') || f.endsWith('.h')).sort();
  const srcs = names.filter((f) => f.endsWith('.c')).map((f) => join(dir0, f));
  const cc = process.env.CC || 'cc';
  let version: string;
  try {
    version = execFileSync(cc, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
  } catch {
    return { note: `native C reference skipped: no C compiler (${cc}) on this machine; set CC to build it` };
  }
  const flags = ['-O2', '-pthread', '-std=gnu11'];
  const h = createHash('sha256');
  for (const f of names) h.update(f).update('\0').update(readFileSync(join(dir0, f))).update('\0');
  const hash = h.update(version).update(flags.join(' ')).digest('hex').slice(0, 16);
  const dir = resolve(root, 'build/native', hash);
  const bin = join(dir, 'kwq-native');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    try {
      execFileSync(cc, [...flags, '-o', tmp, ...srcs], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const msg = (e as { stderr?: Buffer }).stderr?.toString().split('\n')[0] ?? String(e);
      return { note: `native C reference skipped: ${cc} failed on bench/native/{${names.filter((f) => f.endsWith('.c')).join(',')}}: ${msg}` };
    }
    renameSync(tmp, bin); // atomic: two bench runs at once never run a half-written binary
  }
  return {
    compiler: `${version} ${flags.join(' ')}`,
    run<T>(args: (string | number)[], timeoutMs = 120_000): T {
      const out = execFileSync(bin, args.map(String), { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 });
      try {
        return JSON.parse(out) as T;
      } catch {
        throw new Error(`bench/native: kwq-native ${args.join(' ')} printed no JSON: ${out.slice(0, 200)}`);
      }
    },
  };
}

/** Is `c` a usable reference (not a note)? */
export function hasNative(c: NativeRef | { note: string }): c is NativeRef {
  return 'run' in c;
}

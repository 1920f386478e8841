/**
 * Running host commands for the oracle runner: synchronous helpers that return stdout
 * and turn any failure into one clear line (the command, its exit status and the last
 * line it printed on stderr).
 */
import { spawnSync } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  input?: string | Buffer;
  /** Where stderr goes: 'pipe' (kept for the error message, the default) or 'inherit'. */
  stderr?: 'pipe' | 'inherit';
  /** Added to the environment. */
  env?: Record<string, string>;
}

/** Runs `cmd args...`; returns its stdout as a Buffer, throws a one-line Error on failure. */
export function runBuffer(cmd: string, args: readonly string[], opts: RunOptions = {}): Buffer {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    input: opts.input,
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    stdio: ['pipe', 'pipe', opts.stderr ?? 'pipe'],
    maxBuffer: 1 << 30,
  });
  const shown = [cmd, ...args].join(' ');
  if (r.error) throw new Error(`${shown}: ${r.error.message}`);
  if (r.status !== 0) {
    const err = r.stderr ? lastLine(r.stderr.toString('utf8')) : '';
    const how = r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
    throw new Error(`${shown}: ${how}${err ? `: ${err}` : ''}`);
  }
  return r.stdout;
}

/** Like runBuffer, as UTF-8 text. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): string {
  return runBuffer(cmd, args, opts).toString('utf8');
}

/** Runs a command and reports only whether it exited 0 (never throws). */
export function succeeds(cmd: string, args: readonly string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** The absolute path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' });
  const out = r.status === 0 ? r.stdout.trim() : '';
  return out.startsWith('/') ? out : undefined;
}

/** The last non-empty line of a text, trimmed. */
export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines.length ? lines[lines.length - 1]! : '';
}

/** True when this process runs as root (so apt-get may install what is missing). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** One progress line on stderr, prefixed so it stands out from the tools' own output. */
export function say(line: string): void {
  process.stderr.write(`oracle: ${line}\n`);
}

/**
 * The oracle's cache directory, outside the repository:
 * `${KWQ_ORACLE_CACHE:-$HOME/.cache/kwq-oracle}`. It holds the downloaded kernel
 * packages (debs/), their extracted trees (kernels/), the compiled guest executor
 * (guest/) and the last console and record logs of each kernel (logs/).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function cacheRoot(): string {
  const env = process.env.KWQ_ORACLE_CACHE;
  return resolve(env && env.length > 0 ? env : join(homedir(), '.cache', 'kwq-oracle'));
}

/** A subdirectory of the cache, made (mode 0755) when missing. */
export function cacheDir(sub: 'debs' | 'kernels' | 'guest' | 'logs' | 'work'): string {
  const dir = join(cacheRoot(), sub);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

/**
 * The guest executor: oracle/guest/kwq-oracle.c compiled with `cc -static -O2 -Wall
 * -Wextra` into the cache, named by the source's sha256 so that a changed source is
 * rebuilt (older builds are removed) and an unchanged one is not. KWQ_ORACLE_GUEST_SRC
 * names another source (for trying the runner with a stand-in executor).
 */
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheDir, sha256 } from './cache.js';
import { isStaticElf } from './elf.js';
import { run, say } from './exec.js';

export interface GuestBinary {
  path: string;
  source: string;
  sourceSha256: string;
}

export function guestSource(repoRoot: string): string {
  const env = process.env.KWQ_ORACLE_GUEST_SRC;
  return env && env.length > 0 ? resolve(env) : join(repoRoot, 'oracle', 'guest', 'kwq-oracle.c');
}

export function buildGuest(repoRoot: string): GuestBinary {
  const source = guestSource(repoRoot);
  if (!existsSync(source)) throw new Error(`the guest executor's source ${source} is missing`);
  const sourceSha256 = sha256(readFileSync(source));
  const path = join(cacheDir('guest'), `kwq-oracle-${sourceSha256.slice(0, 16)}`);
  if (!existsSync(path)) {
    say(`compiling ${source}`);
    const tmp = `${path}.tmp`;
    run('cc', ['-static', '-O2', '-Wall', '-Wextra', '-o', tmp, source], { stderr: 'inherit' });
    if (!isStaticElf(tmp)) throw new Error(`${tmp}: cc -static made a dynamically linked binary`);
    renameSync(tmp, path);
    // Older builds of other sources are of no more use.
    for (const f of readdirSync(cacheDir('guest'))) {
      if (f.startsWith('kwq-oracle-') && join(cacheDir('guest'), f) !== path) rmSync(join(cacheDir('guest'), f), { force: true });
    }
  }
  return { path, source, sourceSha256 };
}

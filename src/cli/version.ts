/** kwq's version, from the package.json beside dist/ (built) or src/ (vitest). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** the repository (or installed package) root: the directory holding dist/ and src/ */
export function packageRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const cut = here.includes('/dist/src/') ? here.indexOf('/dist/src/') : here.indexOf('/src/cli/');
  return here.slice(0, cut);
}

export function kwqVersion(): string {
  cached ??= (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string }).version;
  return cached;
}

/** Running a compiled kwq script in a child node process (for flags that must be set at start). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KwqError } from '../kernel/error.js';

export function runNodeScript(
  script: URL,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const path = fileURLToPath(script);
  if (!existsSync(path)) throw new KwqError('kwq', `${path} is not built; run \`npm run build\``);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, path, ...args], { stdio: 'inherit', env });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

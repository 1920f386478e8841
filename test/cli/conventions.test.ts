/**
 * The CLI conventions of issue 11: every command and subcommand answers --help (exit 0,
 * usage on stdout), --version, exit codes 0 / 1 / 2, one-line errors; checked on the
 * built binary too, as a user runs it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { commands, main } from '../../src/cli/kwq.js';
import { SCENARIOS } from '../../src/cli/tour.js';
import { WORKLOAD_NAMES } from '../../src/cli/workloads.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli/kwq.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function helpOf(words: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    const code = await main(words);
    return { code, stdout: log.mock.calls.map((c) => c.join(' ')).join('\n'), stderr: err.mock.calls.map((c) => c.join(' ')).join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('kwq --help, COMMAND --help, subcommands', () => {
  it('kwq --help and kwq -h list every command', async () => {
    for (const h of ['--help', '-h']) {
      const r = await helpOf([h]);
      expect(r.code).toBe(0);
      for (const name of Object.keys(commands)) expect(r.stdout).toContain(`  ${name} `);
    }
  });

  it('every command answers --help and -h with its usage, exit 0, and runs nothing', async () => {
    for (const name of Object.keys(commands)) {
      for (const h of ['--help', '-h']) {
        const r = await helpOf([name, h]);
        expect(r.code, `kwq ${name} ${h}`).toBe(0);
        expect(r.stdout, `kwq ${name} ${h}`).toMatch(/usage: kwq/);
        expect(r.stderr).toBe('');
      }
    }
  });

  it('every scenario and compare workload answers --help with its options, ranges and units', async () => {
    for (const name of SCENARIOS) {
      const r = await helpOf(['scenario', name, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: kwq scenario ${name}`);
    }
    expect((await helpOf(['scenario', 'loop-inversion', '--help'])).stdout).toMatch(/--pollUs N .*a number in 1\.\.1000000 µs; default 20/);
    for (const w of WORKLOAD_NAMES) {
      const r = await helpOf(['compare', w, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${w}: `);
    }
  });
});

describe('the built binary', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });

  it('--version prints the package version; exit codes 0 and 2 with one-line errors', () => {
    const v = run('--version');
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe(VERSION);
    const bad = run('scenario', 'loop-inversion', '--pollUs', '0');
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stdout).toBe('');
    const unknown = run('bogus');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "bogus"/);
  });

  it('--json on a measuring command prints JSON only; no progress on a stderr that is not a TTY', () => {
    const r = run('scenario', 'loop-reap', '--endS', '20', '--json');
    expect(r.status).toBe(0);
    const data = JSON.parse(r.stdout) as { samples: [number, number][] };
    expect(data.samples[0]).toEqual([0, 0]);
    expect(r.stderr).toBe('');
  });
});

/**
 * Issue 13's bad CLI input, one regression test per defect, named after it. Each runs
 * the real command line in-process (kwq.ts main) and checks the conventions: exit 2,
 * one line on stderr naming the option, the value and the allowed range, no stack
 * trace, nothing run. The two that never finished are bounded by the test timeout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { main } from '../../src/cli/kwq.js';

let out: MockInstance;
let err: MockInstance;
beforeEach(() => {
  out = vi.spyOn(console, 'log').mockImplementation(() => {});
  err = vi.spyOn(console, 'error').mockImplementation(() => {});
});
afterEach(() => {
  out.mockRestore();
  err.mockRestore();
});

/** run `kwq ...words`; its exit code and stderr as one string */
async function kwq(...words: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  out.mockClear();
  err.mockClear();
  const code = await main(words);
  return { code, stderr: err.mock.calls.map((c) => c.join(' ')).join('\n'), stdout: out.mock.calls.map((c) => c.join(' ')).join('\n') };
}

/** exit 2, one line on stderr matching `re`, no stack trace, nothing printed on stdout */
async function usageError(words: string[], re: RegExp): Promise<void> {
  const r = await kwq(...words);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(re);
  expect(r.stderr.split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at |Error:/);
  expect(r.stdout).toBe('');
}

describe('issue 13: scenario options take any number (regression tests)', () => {
  it('loop-inversion --pollUs 0 never finishes', async () => {
    await usageError(['scenario', 'loop-inversion', '--pollUs', '0'], /option 'pollUs' has value 0; expected a number in 1\.\.1000000 µs/);
  }, 5000);

  it('loop-reap --sampleS 0 never finishes', async () => {
    await usageError(['scenario', 'loop-reap', '--sampleS', '0'], /option 'sampleS' has value 0; expected a number in 1\.\.86400 s/);
  }, 5000);

  it('--iodepth 0 prints a stack trace', async () => {
    await usageError(['scenario', 'loop-inversion', '--iodepth', '0'], /option 'iodepth' has value 0; expected an integer in 1\.\.128/);
  });

  it('--slowWbps 0 or -1 prints a stack trace', async () => {
    await usageError(['scenario', 'loop-inversion', '--slowWbps', '0'], /option 'slowWbps' has value 0; expected an integer in 4096\.\.\d+ bytes\/s/);
    await usageError(['scenario', 'loop-inversion', '--slowWbps', '-1'], /option 'slowWbps' has value -1; expected an integer in 4096\.\./);
  });

  it('--bs 0 runs and exits 0', async () => {
    await usageError(['scenario', 'loop-inversion', '--bs', '0'], /option 'bs' has value 0; expected an integer multiple of 4096 in 4096\.\.1048576 bytes/);
    await usageError(['scenario', 'ioprio', '--bs', '0'], /option 'bs' has value 0; expected an integer multiple of 512/);
  });

  it('--durationMs -1 runs and exits 0', async () => {
    await usageError(['scenario', 'loop-inversion', '--durationMs', '-1'], /option 'durationMs' has value -1; expected a number > 0 and <= 60000 ms/);
  });

  it('loop-reap --endS -1 runs and exits 0', async () => {
    await usageError(['scenario', 'loop-reap', '--endS', '-1'], /option 'endS' has value -1; expected a number in 0\.\.86400 s/);
  });

  it('nproc --vcpus 0 runs and exits 0', async () => {
    await usageError(['scenario', 'nproc', '--vcpus', '0'], /option 'vcpus' has value 0; expected an integer in 1\.\.256/);
  });

  it('--hostCpus 5000 fails inside Kernel.boot with a message that does not name the option', async () => {
    await usageError(['scenario', 'multiqueue', '--hostCpus', '5000'], /scenario multiqueue: option 'hostCpus' has value 5000; expected an integer in 1\.\.1024/);
  });

  it('--trace /dev/null/x prints a stack trace (unwritable --trace and --out paths are one-line errors)', async () => {
    await usageError(['scenario', 'kvm-lifetime', '--trace', '/dev/null/x'], /--trace: cannot write to directory \/dev\/null\/x: ENOTDIR/);
    const dir = mkdtempSync(join(tmpdir(), 'kwq-defects-'));
    try {
      const params = join(dir, 'p.json');
      writeFileSync(params, JSON.stringify({ scenario: 'loop-reap', sweep: { endS: [0, 1] } }));
      await usageError(['sweep', params, '--out', '/dev/null/x.jsonl'], /--out: cannot write to \/dev\/null\/x\.jsonl: ENOTDIR/);
      await usageError(['sweep', params, '--out', dir], /--out: cannot write to .*: EISDIR/);
      await usageError(['merge', params, '--out', '/nonexistent-dir/m.jsonl'], /--out: cannot write to \/nonexistent-dir\/m\.jsonl: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kwq engine extra and kwq list extra ignore the extra words', async () => {
    await usageError(['engine', 'extra'], /kwq engine: unexpected word 'extra'/);
    await usageError(['list', 'extra'], /kwq list: unexpected word 'extra'/);
    await usageError(['scenario', 'loop-oom', 'extra'], /unexpected word 'extra'/);
    await usageError(['tour', 'extra'], /kwq tour: unexpected word 'extra'/);
    await usageError(['scenario', 'loop-oom', '--sed', '1'], /unknown option '--sed'; allowed: --seed/);
  });
});

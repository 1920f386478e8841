import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { commands } from '../../src/cli/kwq.js';

describe('kwq scenario --trace DIR', () => {
  it('writes one Chrome trace-event file per kernel the scenario booted, with its events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kwq-trace-'));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await commands.scenario!.run(['kvm-lifetime', '--trace', dir])).toBe(0);
      const files = readdirSync(dir);
      expect(files).toEqual(['kvm-lifetime-1.json']);
      const trace = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8')) as { traceEvents: { name: string; ph: string }[] };
      const names = new Set(trace.traceEvents.map((e) => e.name));
      expect(names.has('task_newtask')).toBe(true); // the fork of the helper
      expect(names.has('sched_process_exit')).toBe(true); // QEMU's exit
      expect(trace.traceEvents.some((e) => e.ph === 'M')).toBe(true); // track names for Perfetto
    } finally {
      log.mockRestore();
      err.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

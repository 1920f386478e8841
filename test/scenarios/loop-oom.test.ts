/** loop-oom: the cover letter's script; kworker: no OOM kill through /dev/loop0, per-cgroup: OOM kill(s). */
import { expect, test } from 'vitest';
import { runScenario } from '../../src/cli/tour.js';
import type { LoopOomRun } from '../../scenarios/loop-oom.js';

test('loop-oom: the tmpfs dd is OOM-killed in both designs; through the loop device only per-cgroup OOM-kills', async () => {
  const r = await runScenario('loop-oom', {});
  const kw = r.data['kworker'] as LoopOomRun;
  const pc = r.data['perCgroup'] as LoopOomRun;
  for (const run of [kw, pc]) {
    expect(run.steps.map((s) => s.step)).toEqual(['grep oom_kill (start)', 'dd 256M to /tmp/file (tmpfs)', 'dd 256M to /dev/loop0 (loop on tmpfs)']);
    expect(run.steps[0]!.oomKill).toBe(0);
    expect(run.steps[1]!.oomKill).toBe(1);
  }
  // <= 5.13: the kworker writes the backing file as root: dd finishes, nothing is killed
  expect(kw.steps[2]!.oomKill).toBe(1);
  expect(kw.ddLoopBytes).toBe(256 << 20);
  expect(kw.ddLoopKilled).toBe(false);
  expect(kw.shmemTestSlice).toBe(0);
  expect(kw.shmemRoot).toBe(256 << 20);
  expect(kw.loopWorkers).toBe(0);
  // 5.14+: the worker charges test.slice, which is at its limit with no swap: OOM kill
  expect(pc.steps[2]!.oomKill).toBeGreaterThan(1);
  expect(pc.ddLoopKilled).toBe(true);
  expect(pc.ddLoopBytes).toBeLessThan(64 << 20);
  expect(pc.shmemTestSlice).toBeGreaterThan(0);
  expect(pc.shmemTestSlice).toBeLessThanOrEqual(64 << 20);
  expect(pc.shmemRoot).toBe(0);
  expect(pc.loopWorkers).toBe(1);
  expect(r.lines.join('\n')).toMatch(/kworker 0 OOM kill\(s\), per-cgroup [1-9]/);
});

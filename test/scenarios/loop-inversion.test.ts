/** loop-inversion: with the kworker /fast waits behind throttled /slow; with per-cgroup workers it does not. */
import { expect, test } from 'vitest';
import { runScenario } from '../../src/cli/tour.js';
import type { InversionRow } from '../../scenarios/loop-inversion.js';

test('loop-inversion: /fast is held up behind /slow by the single kworker, not by per-cgroup workers', async () => {
  const r = await runScenario('loop-inversion', { durationMs: 300 });
  const rows = r.data['rows'] as InversionRow[];
  const get = (d: string, c: string): InversionRow => rows.find((x) => x.design === d && x.cgroup === c)!;
  const slowTime = (65536 / (8 * 2 ** 20)) * 1e6; // µs a 64K write takes under wbps=8M
  // /slow is held to its io.max in both designs
  for (const d of ['kworker', 'per-cgroup']) expect(get(d, 'slow').mibPerS).toBeLessThanOrEqual(8.5);
  // kworker: /fast's commands wait behind /slow's (each takes slowTime)
  expect(get('kworker', 'fast').p50Us).toBeGreaterThan(slowTime);
  expect(get('kworker', 'fast').mibPerS).toBeLessThan(10);
  // per-cgroup: /fast never waits for /slow
  expect(get('per-cgroup', 'fast').p99Us).toBeLessThan(slowTime / 10);
  expect(get('per-cgroup', 'fast').mibPerS).toBeGreaterThan(50 * get('kworker', 'fast').mibPerS);
  expect(r.lines.some((l) => /per-cgroup\s+fast/.test(l))).toBe(true);
});

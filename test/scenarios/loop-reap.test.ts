/** loop-reap: workers come and go; every reaping instant is a timer expiry >= 60 s after the worker went idle. */
import { expect, test } from 'vitest';
import { runScenario } from '../../src/cli/tour.js';
import type { ReapEvent } from '../../scenarios/loop-reap.js';

test('loop-reap: reaping instants follow timer_reduce and the now + 60 s re-arm', async () => {
  const r = await runScenario('loop-reap', {});
  const reaps = r.data['reaps'] as ReapEvent[];
  const samples = r.data['samples'] as [number, number][];
  expect(r.data['created']).toBe(7);
  expect(r.data['freed']).toBe(7);
  expect(r.data['rescued']).toBe(1); // /a came back at 50 s while idle
  expect(r.data['offlineReleased']).toBe(true);
  for (const e of reaps) {
    expect(e.freedAtS - e.idleAtS).toBeGreaterThanOrEqual(60);
    expect(e.freedAtS - e.idleAtS).toBeLessThanOrEqual(120);
  }
  // the timer fired at 60 s (nothing expired: /a was rescued), re-armed at 120 s: four workers freed together
  expect(reaps.filter((e) => e.freedAtS === 120).map((e) => e.cgroup).sort()).toEqual(['/a', '/b', '/c', '/d']);
  expect(reaps.find((e) => e.cgroup === '/e')!.freedAtS).toBe(180);
  expect(samples.at(-1)![1]).toBe(0);
  expect(Math.max(...samples.map(([, n]) => n))).toBe(5);
});

import { describe, expect, it } from 'vitest';
import { runScenario } from '../../src/cli/tour.js';

// The sim runtime is deterministic (seeded, events ordered by (time, seq)): a scenario
// run twice in one process, with other kernels booted in between, gives the same data.
describe('scenarios are deterministic in the sim runtime', () => {
  for (const name of ['multiqueue', 'loop-oom', 'loop-reap', 'ioprio']) {
    it(`${name}: two runs, the same data and the same lines`, async () => {
      const a = await runScenario(name);
      const b = await runScenario(name);
      expect(JSON.stringify(b.data)).toBe(JSON.stringify(a.data));
      expect(b.lines).toEqual(a.lines);
    }, 60_000);
  }
});

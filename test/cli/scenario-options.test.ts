import { describe, expect, it } from 'vitest';
import { KwqError } from 'kwq';
import { parseOptionWords, validateScenarioOptions } from '../../src/cli/scenario-options.js';
import { summarizeProfile } from '../../src/cli/profile.js';
import { loadScenario } from '../../src/cli/tour.js';
import type { Scenario } from '../../scenarios/types.js';

const sc: Scenario = {
  name: 'demo',
  title: 'a scenario for the option tests',
  options: {
    jobs: { type: 'number[]', default: [1, 2], help: 'fio jobs' },
    design: { type: 'string', default: 'per-cgroup', choices: ['kworker', 'per-cgroup'], help: 'loop design' },
    ms: { type: 'number', default: 10, help: 'duration' },
    trace: { type: 'boolean', default: false, help: 'trace' },
  },
  run: async () => ({ lines: [], data: {} }),
};

describe('scenario options', () => {
  it('fills defaults and parses CLI words', () => {
    const raw = parseOptionWords('t', ['--jobs', '1,4,16', '--design=kworker', '--trace']);
    expect(validateScenarioOptions(sc, raw)).toEqual({ jobs: [1, 4, 16], design: 'kworker', ms: 10, trace: true });
    expect(validateScenarioOptions(sc)).toEqual({ jobs: [1, 2], design: 'per-cgroup', ms: 10, trace: false });
  });

  it('a typo in a field name names the field and the allowed ones', () => {
    expect(() => validateScenarioOptions(sc, { desing: 'kworker' })).toThrow(KwqError);
    expect(() => validateScenarioOptions(sc, { desing: 'kworker' })).toThrow(/unknown option 'desing'; allowed: jobs, design, ms, trace/);
  });

  it('a bad value names the field, the value and what is allowed', () => {
    expect(() => validateScenarioOptions(sc, { design: 'kthread' })).toThrow(/option 'design' has value "kthread"; expected one of kworker, per-cgroup/);
    expect(() => validateScenarioOptions(sc, { ms: '10ms' })).toThrow(/option 'ms' has value "10ms"; expected a finite number/);
    expect(() => validateScenarioOptions(sc, { jobs: '1,,2' })).toThrow(/option 'jobs'/);
    expect(() => validateScenarioOptions(sc, { trace: 'maybe' })).toThrow(/option 'trace'/);
    expect(() => parseOptionWords('t', ['jobs'])).toThrow(/expected --option, got 'jobs'/);
  });

  it('an unknown scenario lists the ones there are', async () => {
    await expect(loadScenario('nope')).rejects.toThrow(/unknown scenario 'nope'; available: nproc/);
  });
});

describe('kwq profile summary', () => {
  it('adds self time by function and sorts by it', () => {
    const frame = (functionName: string) => ({ functionName, url: 'file:///x/worker.js', lineNumber: 1 });
    const s = summarizeProfile({
      startTime: 0,
      endTime: 10_000, // 10 ms in us
      samples: [1, 2, 2, 3, 2, 3, 2, 2, 3, 2],
      nodes: [
        { id: 1, callFrame: frame('(root)'), hitCount: 1 },
        { id: 2, callFrame: frame('llist_del_all'), hitCount: 6 },
        { id: 3, callFrame: frame('produce'), hitCount: 3 },
      ],
    });
    expect(s.totalMs).toBe(10);
    expect(s.functions.map((f) => f.name)).toEqual(['llist_del_all worker.js', 'produce worker.js', '(root) worker.js']);
    expect(s.functions[0]!.selfMs).toBeCloseTo(6);
    expect(s.functions[0]!.share).toBeCloseTo(0.6);
  });
});

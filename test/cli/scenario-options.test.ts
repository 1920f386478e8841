import { describe, expect, it } from 'vitest';
import { KwqError } from 'kwq';
import { describeAllowed, optionsSchema, validateScenarioOptions } from '../../src/cli/scenario-options.js';
import { summarizeProfile } from '../../src/cli/profile.js';
import { SCENARIOS, loadScenario } from '../../src/cli/tour.js';
import type { Scenario } from '../../scenarios/types.js';

const sc: Scenario = {
  name: 'demo',
  title: 'a scenario for the option tests',
  options: {
    jobs: { type: 'integer[]', default: [1, 2], min: 1, max: 16, help: 'fio jobs' },
    design: { type: 'string', default: 'per-cgroup', choices: ['kworker', 'per-cgroup'], help: 'loop design' },
    ms: { type: 'number', default: 10, exclusiveMin: 0, max: 1000, unit: 'ms', help: 'duration' },
    bs: { type: 'integer', default: 4096, min: 512, max: 2 ** 20, multipleOf: 512, unit: 'bytes', help: 'block size' },
    trace: { type: 'boolean', default: false, help: 'trace' },
  },
  run: async () => ({ lines: [], data: {} }),
};

describe('scenario options (one JSON Schema, ajv)', () => {
  it('fills defaults and reads command-line words as the option types (K/M/G for bytes)', () => {
    expect(validateScenarioOptions(sc, { jobs: '1,4,16', design: 'kworker', trace: 'true', bs: '64K' }))
      .toEqual({ jobs: [1, 4, 16], design: 'kworker', ms: 10, bs: 65536, trace: true });
    expect(validateScenarioOptions(sc)).toEqual({ jobs: [1, 2], design: 'per-cgroup', ms: 10, bs: 4096, trace: false });
  });

  it('a typo in a field name names the field and the allowed ones', () => {
    expect(() => validateScenarioOptions(sc, { desing: 'kworker' })).toThrow(KwqError);
    expect(() => validateScenarioOptions(sc, { desing: 'kworker' })).toThrow(/unknown option 'desing'; allowed: jobs, design, ms, bs, trace/);
  });

  it('a bad value names the option, the value and the allowed range with its unit', () => {
    expect(() => validateScenarioOptions(sc, { design: 'kthread' })).toThrow(/option 'design' has value "kthread"; expected one of kworker, per-cgroup/);
    expect(() => validateScenarioOptions(sc, { ms: '10ms' })).toThrow(/option 'ms' has value "10ms"; expected a number > 0 and <= 1000 ms/);
    expect(() => validateScenarioOptions(sc, { ms: 0 })).toThrow(/option 'ms' has value 0; expected a number > 0 and <= 1000 ms/);
    expect(() => validateScenarioOptions(sc, { bs: '1000' })).toThrow(/option 'bs' has value 1000; expected an integer multiple of 512 in 512..1048576 bytes/);
    expect(() => validateScenarioOptions(sc, { jobs: '1,,2' })).toThrow(/option 'jobs' has value "1,,2"/);
    expect(() => validateScenarioOptions(sc, { jobs: [1, 17] })).toThrow(/option 'jobs' has value \[1,17\]; expected a list of integers .*each in 1..16/);
    expect(() => validateScenarioOptions(sc, { jobs: [] })).toThrow(/option 'jobs'/);
    expect(() => validateScenarioOptions(sc, { trace: 'maybe' })).toThrow(/option 'trace' has value "maybe"; expected true or false/);
  });

  it('every shipped scenario: its defaults pass its own schema, and each numeric option says its range', async () => {
    for (const name of SCENARIOS) {
      const s = await loadScenario(name);
      const schema = optionsSchema(s);
      expect(schema['additionalProperties']).toBe(false);
      const defaults = Object.fromEntries(Object.entries(s.options).map(([k, o]) => [k, o.default]));
      expect(validateScenarioOptions(s, defaults)).toEqual(defaults);
      for (const [opt, spec] of Object.entries(s.options)) {
        if (spec.type === 'string' || spec.type === 'boolean') continue;
        // no unbounded number: a 0, a negative or a huge value must be refused by the schema
        expect(spec.min ?? spec.exclusiveMin, `${name} --${opt} has no lower bound`).toBeDefined();
        expect(spec.max, `${name} --${opt} has no upper bound`).toBeDefined();
        expect(describeAllowed(spec)).toMatch(/(in|<=) /);
      }
    }
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

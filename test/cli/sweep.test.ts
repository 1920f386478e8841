/**
 * kwq sweep on the worker pool (tinypool, from dist: `npm test` builds first): a grid of
 * 210 cheap points (loop-reap, up to 20 virtual seconds each) on 2 worker threads, the
 * same grid in 2 shards merged, byte-identical; resume after a torn line; the shard
 * index from --shard, Slurm and Kubernetes variables; parameter-file errors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gridSize, parseParams, pointAt } from '../../src/cli/params.js';
import { donePoints, resolveShard, runSweep, type Shard } from '../../src/cli/sweep.js';
import { mergeSweeps } from '../../src/cli/merge.js';

const dir = mkdtempSync(join(tmpdir(), 'kwq-sweep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GRID = {
  description: 'loop-reap: live workers as the run length and the sampling change',
  scenario: 'loop-reap',
  options: { seed: 1 },
  sweep: { endS: { from: 0, to: 20 }, sampleS: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
};

async function sweepText(shard: Shard, done?: Set<number>): Promise<{ text: string; ran: number; failed: number }> {
  const exp = await parseParams(GRID, 'grid.json');
  let text = '';
  const s = await runSweep(exp, { jobs: 2, shard, done, write: (l) => { text += l; } });
  return { text, ran: s.ran, failed: s.failed };
}

describe('kwq sweep', () => {
  it('expands the grid: a range, a list, the last axis fastest', async () => {
    const exp = await parseParams(GRID, 'grid.json');
    expect(gridSize(exp)).toBe(210);
    expect(pointAt(exp, 0)).toEqual({ endS: 0, sampleS: 1 });
    expect(pointAt(exp, 1)).toEqual({ endS: 0, sampleS: 2 });
    expect(pointAt(exp, 209)).toEqual({ endS: 20, sampleS: 10 });
    const geo = await parseParams({ scenario: 'multiqueue', sweep: { hostCpus: { from: 1, to: 32, factor: 2 } } });
    expect(geo.axes[0]![1]).toEqual([1, 2, 4, 8, 16, 32]);
  });

  it('210 points on 2 worker threads, and in 2 shards whose merge is byte-identical; a rerun gives the same bytes', async () => {
    const all = await sweepText({ index: 1, count: 1, source: 'none' });
    expect(all.ran).toBe(210);
    expect(all.failed).toBe(0);
    const lines = all.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { point: number; of: number; params: Record<string, number>; options: Record<string, number>; seed: number; kwq: string; data: { samples: [number, number][] } });
    expect(lines.map((l) => l.point)).toEqual([...Array(210).keys()]);
    for (const l of lines) {
      expect(l.of).toBe(210);
      expect(l.seed).toBe(1);
      expect(l.kwq).toMatch(/^\d+\.\d+\.\d+/);
      expect(l.options).toEqual({ ...l.params, seed: 1 });
      // measured: one sample per sampleS up to endS
      expect(l.data.samples).toHaveLength(Math.floor(l.params['endS']! / l.params['sampleS']!) + 1);
    }
    const a = await sweepText({ index: 1, count: 2, source: '--shard' });
    const b = await sweepText({ index: 2, count: 2, source: '--shard' });
    expect(a.ran + b.ran).toBe(210);
    const merged = mergeSweeps([{ file: 'b', text: b.text }, { file: 'a', text: a.text }]);
    expect(merged.missing).toEqual([]);
    expect(merged.text).toBe(all.text);
    // a shard rerun: the same lines
    expect((await sweepText({ index: 2, count: 2, source: '--shard' })).text).toBe(b.text);
  }, 120_000);

  it('resumes: points already in --out are skipped, a torn last line is cut and its point run again', async () => {
    const small = { ...GRID, sweep: { endS: [0, 5, 10], sampleS: [5, 10] } };
    const exp = await parseParams(small, 'small.json');
    let full = '';
    await runSweep(exp, { jobs: 2, shard: { index: 1, count: 1, source: 'none' }, write: (l) => { full += l; } });
    const lines = full.split('\n');
    const out = join(dir, 'resume.jsonl');
    writeFileSync(out, `${lines.slice(0, 2).join('\n')}\n${lines[2]!.slice(0, 30)}`); // two points and a torn third
    const done = donePoints(out, exp);
    expect([...done]).toEqual([0, 1]);
    expect(readFileSync(out, 'utf8')).toBe(`${lines.slice(0, 2).join('\n')}\n`);
    let rest = '';
    const s = await runSweep(exp, { jobs: 2, shard: { index: 1, count: 1, source: 'none' }, done, write: (l) => { rest += l; } });
    expect(s.ran).toBe(4);
    expect(readFileSync(out, 'utf8') + rest).toBe(full);
    // another experiment's output is refused
    const other = await parseParams({ ...small, options: { seed: 2 } }, 'other.json');
    expect(() => donePoints(out, other)).toThrow(/holds points of another experiment/);
  }, 60_000);

  it('the shard comes from --shard i/n, SLURM_ARRAY_TASK_ID/_MIN/_COUNT, or JOB_COMPLETION_INDEX with --shards N', () => {
    expect(resolveShard('2/3', undefined, {})).toEqual({ index: 2, count: 3, source: '--shard' });
    expect(resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' })).toEqual({ index: 4, count: 4, source: 'SLURM_ARRAY_TASK_ID' });
    expect(resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_COUNT: '2' })).toEqual({ index: 1, count: 2, source: 'SLURM_ARRAY_TASK_ID' });
    expect(resolveShard(undefined, '3', { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 3, count: 3, source: 'JOB_COMPLETION_INDEX' });
    expect(resolveShard(undefined, undefined, {})).toEqual({ index: 1, count: 1, source: 'none' });
    expect(() => resolveShard('3/2', undefined, {})).toThrow(/'--shard' i has value "3"; expected an integer in 1..2/);
    expect(() => resolveShard('1-2', undefined, {})).toThrow(/expected i\/n/);
    expect(() => resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: '0' })).toThrow(/--shards N/);
    expect(() => resolveShard(undefined, '2', { JOB_COMPLETION_INDEX: '2' })).toThrow(/JOB_COMPLETION_INDEX has value "2"; expected an integer in 0..1/);
    expect(() => resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '4' })).toThrow(/SLURM_ARRAY_TASK_ID/);
  });

  it('merge refuses two different lines for one point, and lines of two experiments', () => {
    const l = (point: number, data: number, exp = 'e1') => JSON.stringify({ experiment: exp, point, of: 2, data });
    expect(mergeSweeps([{ file: 'a', text: `${l(1, 5)}\n` }, { file: 'b', text: `${l(0, 4)}\n${l(1, 5)}\n` }]).text).toBe(`${l(0, 4)}\n${l(1, 5)}\n`);
    expect(() => mergeSweeps([{ file: 'a', text: `${l(1, 5)}\n` }, { file: 'b', text: `${l(1, 6)}\n` }])).toThrow(/point 1 differs between a line 1 and b line 1/);
    expect(() => mergeSweeps([{ file: 'a', text: `${l(1, 5)}\n` }, { file: 'b', text: `${l(0, 5, 'e2')}\n` }])).toThrow(/b line 1 is of experiment e2/);
    expect(mergeSweeps([{ file: 'a', text: `${l(1, 5)}\n` }]).missing).toEqual([0]);
  });
});

describe('parameter files: a bad file names the field, the value and what is allowed', () => {
  const bad = async (doc: unknown) => parseParams(doc, 'p.json');
  it('values and ranges are checked against the scenario option schema', async () => {
    await expect(bad({ scenario: 'multiqueue', sweep: { hostCpus: [8, 16, 5000] } })).rejects.toThrow(/p.json: sweep.hostCpus\[2\] has value 5000; expected an integer in 1..1024/);
    await expect(bad({ scenario: 'multiqueue', options: { measureMs: 0 } })).rejects.toThrow(/options.measureMs has value 0; expected a number > 0 and <= 1000 ms/);
    await expect(bad({ scenario: 'multiqueue', options: { mesureMs: 1 } })).rejects.toThrow(/options: unknown field 'mesureMs'; allowed: jobs, hostCpus/);
    await expect(bad({ scenario: 'multiqueue', sweep: { hostCpus: { from: 1, to: 3, step: 0 } } })).rejects.toThrow(/sweep.hostCpus.step has value 0/);
    await expect(bad({ scenario: 'multiqueue', sweep: { jobs: [[1], [17]] } })).rejects.toThrow(/sweep.jobs\[1\]\[0\] has value 17/);
    await expect(bad({ scenario: 'loop-reap', sweep: { sampleS: { from: 0.5, to: 3 } } })).rejects.toThrow(/sweep.sampleS.from has value 0.5; expected a number in 1..86400 s/);
    await expect(bad({ scenario: 'loop-reap', sweep: { endS: { from: 5, to: 1 } } })).rejects.toThrow(/"to" \(1\) is below "from" \(5\)/);
    await expect(bad({ scenario: 'loop-reap', options: { endS: 3 }, sweep: { endS: [1] } })).rejects.toThrow(/both fixed \(options\) and swept/);
    await expect(bad({ scenario: 'multiqueu' })).rejects.toThrow(/scenario has value "multiqueu"; expected one of "nproc"/);
    await expect(bad({ scenaro: 'multiqueue' })).rejects.toThrow(/unknown field 'scenaro'/);
  });

  it('designs and releases: two of one, one of the other, from the workload\'s own', async () => {
    await expect(bad({ compare: 'charge', designs: ['io-wq', 'loop-kworker'], releases: ['6.1', '6.12'] })).rejects.toThrow(/two designs at one release or one design at two releases/);
    await expect(bad({ compare: 'charge', designs: ['io-wq', 'nope'] })).rejects.toThrow(/designs\[1\] has value "nope"; expected one of io-wq/);
    await expect(bad({ compare: 'charge', designs: ['io-wq'], releases: ['6.1', '7.0'] })).rejects.toThrow(/releases\[1\] has value "7.0"; expected one of/);
    await expect(bad({ compare: 'loop-oom', releases: ['6.1', '6.12'] })).rejects.toThrow(/default release only/);
    await expect(bad({ scenario: 'loop-oom', designs: ['kworker'] })).rejects.toThrow(/belong to a "compare" file/);
    const ok = await bad({ compare: 'charge', designs: ['vhost-task'], releases: ['6.1', '6.12'], sweep: { writes: [4, 8] } });
    expect(ok.kind).toBe('compare');
    expect(gridSize(ok)).toBe(2);
  });
});

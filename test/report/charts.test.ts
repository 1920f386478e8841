/**
 * The report's charts and the profile's readable outputs, without a browser: every chart
 * spec is valid Vega-Lite (vega-lite's own JSON schema), renders to an SVG with one mark
 * per datum, and refuses data without its fields; speedscope and flame-graph rows from a
 * small hand-made .cpuprofile. test/browser checks the rendered page in Chromium.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  agreementChart, iowqChart, loopInversionChart, loopReapChart, multiqueueChart, parseJsonLines, scaleChart, sweepChart, sweepValue,
  vmCpuMaxChart, vmFreezeChart, type BenchJson,
} from '../../src/report/charts.js';
import { renderVegaLite, type VegaLiteSpec } from '../../src/report/render.js';
import { FrameTable, threadLabel, threadSamples, type CpuProfile } from '../../src/report/cpuprofile.js';
import { toSpeedscope } from '../../src/report/speedscope.js';
import { flameRows } from '../../src/report/flamegraph.js';

const require = createRequire(import.meta.url);
const ajv = new Ajv({ strict: false, allErrors: true });
const validVegaLite = ajv.compile(require('vega-lite/vega-lite-schema.json') as object);

function points(svg: string): string[] {
  return [...svg.matchAll(/aria-roledescription="(?:point|bar)"[^>]*|aria-label="([^"]*)"[^>]*aria-roledescription="(?:point|bar)"/g)].map((m) => m[1] ?? m[0]);
}

const MQ = {
  rows: [
    { jobs: 1, oneWorkerK: 155.1, perVqK: 155.1 },
    { jobs: 2, oneWorkerK: 512, perVqK: 310.2 },
  ],
  hostCpus: 18,
  published: { 1: { one: 160, perVq: 160 }, 2: { one: 488, perVq: 310 }, 4: { one: null, perVq: 620 } },
};
const phase = (ios: number, nrThrottled: number, emulatorThrottled: number, workerCgroup: string) => ({ ios, nrThrottled, emulatorThrottled, workerCgroup });
const VM_CPU = {
  runs: [
    { release: '6.1', percent: 25, workerIsKthread: true, before: phase(2000, 10, 0, '/vm1'), after: phase(1500, 0, 10, '/vm1') },
    { release: '6.12', percent: 25, workerIsKthread: false, before: phase(2000, 10, 0, '/vm1'), after: phase(800, 0, 10, '/vm1/emulator') },
  ],
};
const VM_FREEZE = {
  runs: [
    { release: '6.1', workerIsKthread: true, iosBefore: 100, iosFrozen: 32, iosAfter: 90, workerUsFrozen: 5, frozenWhileFrozen: 0, frozenAfterThaw: 0 },
    { release: '6.12', workerIsKthread: false, iosBefore: 100, iosFrozen: 0, iosAfter: 120, workerUsFrozen: 0, frozenWhileFrozen: 1, frozenAfterThaw: 0 },
  ],
};
// a real `npm run bench -- --only scale --quick --json F` (4 curves of 3 points, the native C of every
// point, and the startup figures)
const BENCH = JSON.parse(readFileSync(new URL('./fixtures/bench-scale-quick.json', import.meta.url), 'utf8')) as BenchJson;

const CHARTS: [string, VegaLiteSpec, number][] = [
  ['multiqueue', multiqueueChart(MQ as never), 4 + 5],
  ['loop-reap', loopReapChart({ samples: [[0, 0], [10, 1], [20, 0]], reaps: [{ cgroup: '/a', idleAtS: 10, freedAtS: 20 }] }), 3],
  ['loop-inversion', loopInversionChart({ rows: [{ design: 'kworker', cgroup: 'fast', ios: 3, p50Us: 2, p99Us: 3, cdfUs: Array.from({ length: 101 }, (_, i) => 1 + i / 50) }] }), 101],
  ['iowq', iowqChart({ rows: [{ files: 1, inflight: 1, workers: 1, mbps: 75 }, { files: 1, inflight: 4, workers: 2, mbps: 79 }] }), 2],
  ['agreement', agreementChart([{ kernel: '6.1', scripts: 2, steps: 10, agree: 8, divergent: 1, differ: 1, unrecorded: [] }]), 3],
  // per run: an IOPS bar before and after; nr_throttled bars for vm1 before, vm1 after, vm1/emulator after
  ['vm-cpu-max', vmCpuMaxChart(VM_CPU), 2 * (2 + 3)],
  // 3 phases per design, and the worker's CPU while frozen per design
  ['vm-freeze', vmFreezeChart(VM_FREEZE), 2 * 3 + 2],
  ['scale', scaleChart(BENCH), 24], // 12 kwq points and the native C of each
  ['sweep', sweepChart([{ params: { vms: 1, design: 'a' }, data: { iops: 5 } }, { params: { vms: 2, design: 'a' }, data: { iops: 7 } }], { x: 'vms', y: 'iops', series: 'params.design' }), 2],
];

describe('the report charts', () => {
  it.each(CHARTS)('%s is valid Vega-Lite and renders one mark per datum', async (_name, spec, marks) => {
    expect(validVegaLite(spec), ajv.errorsText(validVegaLite.errors)).toBe(true);
    const svg = await renderVegaLite(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(points(svg)).toHaveLength(marks);
    expect(svg).not.toMatch(/(?:href|src)="(?:https?:)?\/\//);
  });

  it('multiqueue plots the measured and the published IOPS, labelled', async () => {
    const svg = await renderVegaLite(multiqueueChart(MQ as never));
    expect(svg).toContain('IOPS (thousands): 310.2; vhost-scsi workers: worker per vq');
    expect(svg).toContain('IOPS (thousands): 620; vhost-scsi workers: worker per vq; source: published (v9)');
  });

  it('vm-cpu-max: IOPS per release, cpu.max and phase with the worker\'s cgroup; nr_throttled per cgroup', async () => {
    const svg = await renderVegaLite(vmCpuMaxChart(VM_CPU));
    expect(svg).toContain("vm1's cpu.max (% of a CPU): 25; IOPS: 800; vhost worker: 6.12 (vhost_task); phase: after (QEMU in vm1/emulator); worker in: /vm1/emulator");
    expect(svg).toContain("vm1's cpu.max (% of a CPU): 25; periods throttled: 10; vhost worker: 6.1 (kthread); cgroup: vm1/emulator after");
    // IOPS are I/Os per second of the phase: 500 ms phases double them
    expect(await renderVegaLite(vmCpuMaxChart({ ...VM_CPU, ms: 500 }))).toContain('IOPS: 1600; vhost worker: 6.12 (vhost_task); phase: after (QEMU in vm1/emulator)');
  });

  it('vm-freeze: I/Os per phase and design, the worker CPU and cgroup.events while frozen', async () => {
    const svg = await renderVegaLite(vmFreezeChart(VM_FREEZE));
    expect(svg).toContain('phase: while frozen; I/Os completed: 32; vhost worker: 6.1 (kthread)');
    expect(svg).toContain('vhost worker: 6.12 (vhost_task); worker CPU while frozen (µs): 0; cgroup.events frozen while frozen: 1; after the thaw: 0');
  });

  it('scale: a point per curve figure at its ns/item, the startup figures left out; wrong JSON named', async () => {
    const svg = await renderVegaLite(scaleChart(BENCH));
    const curves = BENCH.sections[0]!.figures.filter((f) => f.notes?.['series'] !== undefined);
    expect(curves).toHaveLength(12);
    for (const f of curves) expect(svg).toContain(`series: ${String(f.notes!['series'])}; impl: kwq; of: ${f.name.split(', ').pop()!.split(' ')[0]}; unit: ${f.unit}; exactly-once: ok`);
    // the native C of every curve's points: a point each, at its ns/item, dashed
    const withC = curves.filter((f) => typeof f.notes!['C ns/item'] === 'number');
    expect(withC.length).toBeGreaterThan(0);
    for (const f of withC) {
      expect(svg).toContain(`host ns per item (log): ${String(f.notes!['C ns/item'])}; series: ${String(f.notes!['series'])}; impl: native C; of: ${f.name.split(', ').pop()!.split(' ')[0]}; unit: ${f.unit}; exactly-once: ok`);
    }
    expect(svg).toContain('dashed: native C of the same rounds');
    expect(svg).not.toContain('startup');
    expect(() => scaleChart({ sections: [{ section: 'llist', title: '', figures: [] }] })).toThrow(/no 'scale' section \(sections: llist\)/);
    expect(() => scaleChart({} as never)).toThrow(/chart scale: .*no 'sections'/);
    expect(() => scaleChart({ sections: [{ section: 'scale', title: '', figures: [{ name: 'startup', value: 1, unit: 'ms' }] }] })).toThrow(/no curve figures/);
  });

  it('data without the fields a chart reads is an error naming the field', () => {
    expect(() => multiqueueChart({ rows: [] } as never)).toThrow(/chart multiqueue: .*no 'published'/);
    expect(() => loopReapChart({} as never)).toThrow(/no 'samples'/);
    expect(() => loopInversionChart({ rows: [{ design: 'kworker', cgroup: 'fast' }] } as never)).toThrow(/no 'cdfUs'/);
    expect(() => vmCpuMaxChart({} as never)).toThrow(/chart vm-cpu-max: .*no 'runs'/);
    expect(() => vmCpuMaxChart({ runs: [{ release: '6.1', percent: 5, workerIsKthread: true }] } as never)).toThrow(/6.1 5% has no before\/after/);
    expect(() => vmFreezeChart({ rows: [] } as never)).toThrow(/chart vm-freeze: .*no 'runs'/);
  });

  it('sweep points: dotted paths, looked up under params and data; bad points named', () => {
    const p = { params: { vms: 4, host: { cpus: 8 } }, data: { rows: [{ iops: 9 }] }, seed: 1 };
    expect(sweepValue(p, 'vms')).toBe(4);
    expect(sweepValue(p, 'host.cpus')).toBe(8);
    expect(sweepValue(p, 'data.rows.0.iops')).toBe(9);
    expect(sweepValue(p, 'seed')).toBe(1);
    expect(() => sweepChart([p], { x: 'vms', y: 'nope' })).toThrow(/point 1 has no number at --y nope/);
    expect(() => parseJsonLines('{"a":1}\n{oops\n', 'f.jsonl')).toThrow(/f.jsonl.*line 2 is not JSON/);
    expect(parseJsonLines('{"a":1}\n\n{"a":2}\n', 'f')).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

describe("the profile's readable outputs", () => {
  const cf = (functionName: string, url = 'file:///k/dist/src/x.js', lineNumber = 4) => ({ functionName, url, lineNumber, columnNumber: 2 });
  // (root) -> main -> llist_del_all [wasm]; (root) -> main -> produce; (root) -> (idle)
  const profile: CpuProfile = {
    startTime: 1000, endTime: 1600,
    nodes: [
      { id: 1, callFrame: cf('(root)', '', -1), children: [2, 5] },
      { id: 2, callFrame: cf('main'), children: [3, 4] },
      { id: 3, callFrame: cf('assembly/llist/llist_del_all', 'wasm://wasm/00016eba', 0) },
      { id: 4, callFrame: cf('produce') },
      { id: 5, callFrame: cf('(idle)', '', -1) },
    ],
    samples: [3, 3, 4, 5, 3, 2],
    timeDeltas: [0, 100, 100, 100, 100, 100],
  };

  it('samples: stacks root first without (root), Wasm frames by name, weights = time to the next sample', () => {
    const frames = new FrameTable();
    const s = threadSamples(profile, frames);
    const names = s.stacks.map((st) => st.map((f) => frames.frames[f]!.name).join(' > '));
    expect(names).toEqual([
      'main x.js:5 > assembly/llist/llist_del_all [wasm]', 'main x.js:5 > assembly/llist/llist_del_all [wasm]', 'main x.js:5 > produce x.js:5',
      '(idle)', 'main x.js:5 > assembly/llist/llist_del_all [wasm]', 'main x.js:5',
    ]);
    expect(s.weights).toEqual([100, 100, 100, 100, 100, 100]); // the last: the mean (600 us / 6)
    expect(frames.frames.map((f) => f.kind)).toEqual(['js', 'wasm', 'js', 'v8']);
  });

  it('speedscope: one sampled profile per thread over shared frames', () => {
    const f = toSpeedscope([{ label: 'main thread', profile }, { label: 'worker thread 1', profile }], { name: 'kwq engine', exporter: 'kwq test' });
    expect(f.$schema).toBe('https://www.speedscope.app/file-format-schema.json');
    expect(f.shared.frames).toHaveLength(4);
    expect(f.profiles.map((p) => [p.type, p.name, p.unit, p.endValue, p.samples.length, p.weights.length])).toEqual([
      ['sampled', 'main thread', 'microseconds', 600, 6, 6], ['sampled', 'worker thread 1', 'microseconds', 600, 6, 6],
    ]);
    for (const p of f.profiles) for (const st of p.samples) for (const i of st) expect(f.shared.frames[i]).toBeDefined();
  });

  it('flame rows: totals add up the tree; narrow boxes fold into their parent', () => {
    const frames = new FrameTable();
    const s = threadSamples(profile, frames);
    const rows = flameRows(s, frames.frames, { minShare: 0 });
    const by = (n: string) => rows.find((r) => r.name === n)!;
    expect(by('all').total).toBe(600);
    expect(by('main x.js:5')).toMatchObject({ total: 500, self: 100, depth: 1 });
    expect(by('assembly/llist/llist_del_all [wasm]')).toMatchObject({ total: 300, self: 300, depth: 2, kind: 'wasm' });
    const folded = flameRows(s, frames.frames, { minShare: 0.2 }); // produce (100 of 600) folds into main
    expect(folded.find((r) => r.name === 'produce x.js:5')).toBeUndefined();
    expect(folded.find((r) => r.name === 'main x.js:5')).toMatchObject({ total: 500, self: 200 });
  });

  it("names a .cpuprofile's thread from node's file name", () => {
    expect(threadLabel('/d/CPU.20261207.131302.6496.0.001.cpuprofile')).toBe('main thread (pid 6496)');
    expect(threadLabel('CPU.20261207.131302.6496.3.004.cpuprofile')).toBe('worker thread 3 (pid 6496)');
  });
});

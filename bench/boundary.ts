/**
 * Question: what does one JS-to-Wasm call cost, with the plain instance kwq uses
 * and with @assemblyscript/loader (deprecated; kept here only as the measured
 * point that shows what the plain instance buys), beside a plain JS call?
 * One task = 1000 calls of a trivial export (llist_empty on an empty list).
 */
import { createRequire } from 'node:module';
import { Bench, type Task } from 'tinybench';
import { Engine } from '../src/wasm/engine.js';
import type { BenchScript, Figure, Ratio } from './types.js';

const CALLS = 1000;

interface Loader {
  instantiateSync(m: WebAssembly.Module, imports: Record<string, unknown>): { exports: Record<string, unknown> };
}

const boundaryBench: BenchScript = async ({ quick }) => {
  const engine = Engine.create({ works: 1, workers: 1 });
  const head = engine.worker(0).offset;
  const plain = engine.exports.llist_empty;
  const require = createRequire(import.meta.url);
  const loader = require('@assemblyscript/loader') as Loader;
  const viaLoader = loader.instantiateSync(engine.module, { env: { memory: engine.memory } }).exports.llist_empty as (h: number) => number;
  if (!engine.checkCanary()) throw new Error('boundary bench: the loader instantiation rewrote shared memory');
  const jsFn = (h: number): number => (h === -1 ? 1 : 0);
  let sink = 0;
  const bench = new Bench({ name: 'boundary', time: quick ? 100 : 800, warmupTime: quick ? 20 : 100 });
  bench.add('one JS-to-Wasm call (plain instance)', () => { for (let i = 0; i < CALLS; i++) sink += plain(head); });
  bench.add('one JS-to-Wasm call (@assemblyscript/loader)', () => { for (let i = 0; i < CALLS; i++) sink += viaLoader(head); });
  bench.add('one JS call (baseline)', () => { for (let i = 0; i < CALLS; i++) sink += jsFn(head); });
  await bench.run();
  if (sink !== 0 && sink % 2 === 3) console.log(sink); // keep sink live
  const figures: Figure[] = [];
  const ns: number[] = [];
  for (const task of bench.tasks as Task[]) {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`boundary bench: task "${task.name}" did not complete`);
    const v = (r.latency.mean * 1e6) / CALLS;
    ns.push(v);
    figures.push({ name: task.name, value: v, unit: 'ns/call', notes: { samples: r.latency.samplesCount, 'rme %': Number(r.latency.rme.toFixed(1)) } });
  }
  const ratios: Ratio[] = [{ name: 'boundary: loader call time / plain call time', value: ns[1]! / ns[0]! }];
  return { title: 'the JS-to-Wasm boundary', figures, ratios };
};

export default boundaryBench;

/**
 * The engine part of `kwq tour` (issue 2's `npm start`): a short run of the
 * threaded engine. Two producer threads queue works to one vhost worker thread
 * (Wasm over shared memory); it prints items/s for this design with the
 * exactly-once check (every added work ran once: the worker's count and the
 * per-producer COUNT slots agree with what the producers added).
 */
import { Engine, type WorkRef } from '../wasm/engine.js';
import { VHOST_FN_COUNT } from '../wasm/layout.js';
import { ThreadRuntime } from '../runtime/threads.js';

export interface EngineTourResult {
  itemsPerSec: number;
  added: number;
  run: number;
  exactlyOnce: boolean;
  wakeupsPer1000: number;
}

export async function engineTour(opts: { durationMs?: number; print?: (line: string) => void } = {}): Promise<EngineTourResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const durationMs = opts.durationMs ?? 1000;
  const PRODUCERS = 2;
  const POOL = 4096;
  const BATCH = 512;
  const engine = Engine.create({ works: PRODUCERS * POOL + 8, workers: 1, counters: PRODUCERS });
  const pools: WorkRef[][] = [];
  for (let p = 0; p < PRODUCERS; p++) {
    const pool: WorkRef[] = [];
    for (let i = 0; i < POOL; i++) { const w = engine.works.alloc(); engine.works.init(w, VHOST_FN_COUNT, p); pool.push(w); }
    pools.push(pool);
  }
  print(`kwq engine: ${PRODUCERS} producer threads -> 1 vhost worker thread (Wasm, shared memory), ${durationMs} ms, bursts of ${BATCH} works`);
  const rt = await ThreadRuntime.start(engine, { workers: [{ worker: 0 }] });
  let reports;
  try {
    // Ring producers (the benchmark's policy): queue a burst in order, then wait
    // read-only until the whole burst ran before re-queuing it.
    reports = await rt.produce(
      pools.map((works) => ({ worker: 0, works, mode: 'ring-batch' as const, batch: BATCH, wait: { resume: BATCH } })),
      { durationMs },
    );
    await rt.drain(10_000);
  } finally {
    await rt.stop();
  }
  const st = engine.worker(0).stats();
  const added = reports.reduce((a, r) => a + r.added, 0);
  const ms = Math.max(...reports.map((r) => r.ms));
  const run = st.items - 1; // minus the drain's COMPLETE work
  const perProducer = reports.every((r, p) => engine.counters.get(p) === r.added);
  const exactlyOnce = run === added && st.violations === 0 && perProducer;
  const itemsPerSec = (added / ms) * 1000;
  const wakeupsPer1000 = (st.wakeups / Math.max(1, added)) * 1000;
  print(`  ${(itemsPerSec / 1e6).toFixed(1)} M items/s (${(1e9 / itemsPerSec).toFixed(1)} ns/item), ${added} works, ${wakeupsPer1000.toFixed(3)} wake-ups per 1000 items`);
  print(`  exactly-once: ${exactlyOnce ? 'ok' : 'FAILED'} (run ${run}, added ${added}, QUEUED violations ${st.violations}, per-producer counters ${perProducer ? 'match' : 'differ'})`);
  return { itemsPerSec, added, run, exactlyOnce, wakeupsPer1000 };
}

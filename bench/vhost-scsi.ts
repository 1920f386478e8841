/**
 * Question: on real threads, how many commands per second does a vhost-scsi device
 * move with one worker for every vq (the default) vs a worker per vq
 * (VHOST_NEW_WORKER + VHOST_ATTACH_VRING_WORKER), and what does the same queue cost
 * with the pure-TypeScript implementation (bench/ref/vhost.ts) instead of the Wasm one?
 *
 * Three runs per design, each printed with its exactly-once check:
 *
 * - 'driver': Kernel.boot({ runtime: 'threads' }): the driver's own worker threads
 *   (one per vhost worker, src/drivers/vhost/vhost-threads.ts) run handle_kick and the
 *   completion work in Wasm over the vqs' shared rings; one ThreadsFioJob per io vq on
 *   the main thread posts numbered descriptors, kicks through the kick eventfd and reaps
 *   on the call eventfd (Atomics.waitAsync). Costs descNs = usedNs = 0: what the data
 *   path itself costs, per command (kick, poll work, used ring, interrupt, reap).
 * - 'wasm queue' / 'ts reference': the queue alone, as before: the same device set-up,
 *   booted in sim so that no driver thread consumes its vhost_worker structs; worker
 *   threads (src/runtime/threads.ts, or bench/ref's TS loop) drain them and one producer
 *   thread per fio job re-queues its IODEPTH works as a ring, one vhost_worker_queue
 *   each, waiting read-only for the next work to have run (bench/vhost-threads.ts's
 *   re-queue policy, spins calibrated in time for each implementation). With a worker
 *   per vq that is 4 spinning threads on this machine's 2 CPUs: both implementations
 *   collapse there, which is what oversubscription does, not a property of the queue.
 *
 * JOBS is 2: this machine has 2 cores, and a worker per vq means 2 workers + 2
 * producers (or the main thread's guests) on them.
 */
import {
  Kernel, O_RDWR, ThreadsFioJob, VHOST_ATTACH_VRING_WORKER, VHOST_NEW_WORKER, VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_VQ_IO,
  VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, VirtioQueue, vhostFlush, vhostSetCosts, vhostThreadsIdle,
} from '../src/index.js';
import { VhostDev } from '../src/drivers/vhost/dev.js';
import type { Engine, WorkRef } from '../src/wasm/engine.js';
import { VHOST_FN_COUNT, VHOST_WORKER } from '../src/wasm/layout.js';
import { ThreadRuntime } from '../src/runtime/threads.js';
import { vhostWorkerStop } from './ref/vhost.js';
import { itemsPerSecond, runRefThreads } from './harness.js';
import { calibrate, SLEEP_US, type Spins } from './vhost-threads.js';
import { availableParallelism } from 'node:os';
import { SPIN_FLOOR_OVERSUBSCRIBED } from '../src/runtime/threads.js';
import { hasNative, nativeRef, type NativeRef } from './native/native.js';
import type { BenchScript, Figure, Ratio } from './types.js';

const JOBS = 2;
const IODEPTH = 128;
const BATCH = 16;

type Design = 'one worker' | 'worker per vq';

interface Device {
  k: Kernel;
  engine: Engine;
  /** Wasm worker struct index per job's vq */
  workerOf: number[];
  pools: WorkRef[][];
}

async function device(design: Design, runtime: 'sim' | 'threads' = 'sim'): Promise<Device> {
  const k = await Kernel.boot({ runtime, cmdline: `vhost_scsi.max_io_vqs=${JOBS}` });
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
  const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
  const ok = (r: number, what: string): void => {
    if (r < 0) throw new Error(`vhost-scsi bench: ${what} returned ${r}`);
  };
  ok(fd, 'open');
  ok(k.ioctl(qemu, fd, VHOST_SET_OWNER), 'VHOST_SET_OWNER');
  if (design === 'worker per vq') {
    for (let j = 1; j < JOBS; j++) {
      const st = { worker_id: 0 };
      ok(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st), 'VHOST_NEW_WORKER');
      ok(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: VHOST_SCSI_VQ_IO + j, worker_id: st.worker_id }), 'VHOST_ATTACH_VRING_WORKER');
    }
  }
  const dev = k.fileOf(qemu, fd)!.privateData as VhostDev;
  const engine = dev.ve.engine;
  const workerOf: number[] = [];
  if (runtime === 'threads') return { k, engine, workerOf, pools: [], qemu, fd } as Device & { qemu: typeof qemu; fd: number };
  const pools: WorkRef[][] = [];
  for (let j = 0; j < JOBS; j++) {
    workerOf.push(dev.vqs[VHOST_SCSI_VQ_IO + j]!.worker!.handle.index);
    const pool: WorkRef[] = [];
    for (let i = 0; i < IODEPTH; i++) {
      const w = engine.works.alloc();
      engine.works.init(w, VHOST_FN_COUNT, j); // one completion in the vq's counter slot
      pool.push(w);
    }
    pools.push(pool);
  }
  engine.counters.reset();
  return { k, engine, workerOf, pools };
}

/** The driver's own data path in the threads runtime (see the header). */
async function runDriver(design: Design, durationMs: number): Promise<Run> {
  const d = (await device(design, 'threads')) as Device & { qemu: import('../src/index.js').Task; fd: number };
  const { k, qemu, fd } = d;
  try {
    const ok = (r: number, what: string): void => {
      if (r < 0) throw new Error(`vhost-scsi bench: ${what} returned ${r}`);
    };
    // the memory table first: SET_ENDPOINT is EFAULT before it (vhost_vq_access_ok)
    ok(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 0, padding: 0 }), 'VHOST_SET_MEM_TABLE');
    ok(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, { abi_version: 1, vhost_wwpn: 'naa.5001405000000001', vhost_tpgt: 1, reserved: 0 }), 'SET_ENDPOINT');
    ok(vhostSetCosts(k, qemu, fd, { descNs: 0, usedNs: 0 }), 'vhostSetCosts');
    ok(await vhostFlush(k, qemu, fd), 'vhostFlush'); // the worker threads are up
    // commands per job sized so that a run lasts about durationMs at ~3 M commands/s (measured here)
    const count = Math.max(2000, Math.round((durationMs / 1000) * 3_000_000 / JOBS));
    const t0 = performance.now();
    const jobs = [];
    for (let j = 0; j < JOBS; j++) {
      const q = VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO + j);
      if (typeof q === 'number') throw new Error(`vhost-scsi bench: VirtioQueue.attach returned ${q}`);
      jobs.push(ThreadsFioJob.start(q, { iodepth: IODEPTH, count, timeoutMs: 60_000 }));
    }
    const reports = await Promise.all(jobs.map((j) => j.done));
    const ms = performance.now() - t0;
    const added = reports.reduce((a, r) => a + r.submitted, 0);
    const counted = reports.reduce((a, r) => a + r.completed - r.duplicates - r.unknown, 0);
    const violations = reports.reduce((a, r) => a + r.duplicates + r.unknown + r.outOfOrder + (r.timedOut ? 1 : 0), 0);
    const dev = k.fileOf(qemu, fd)!.privateData as VhostDev;
    const stats = dev.liveWorkers().reduce((a, w) => a + w.handle.stats().violations, 0);
    k.exit(qemu);
    await vhostThreadsIdle(k);
    return { itemsPerSec: itemsPerSecond(counted, ms), added, counted, violations: violations + stats, leftQueued: reports.reduce((a, r) => a + r.missing, 0) };
  } finally {
    k.shutdown();
    await vhostThreadsIdle(k);
  }
}

interface Run {
  itemsPerSec: number;
  added: number;
  counted: number;
  violations: number;
  leftQueued: number;
}

function leftQueued(d: Device): number {
  let n = 0;
  for (const p of d.pools) for (const w of p) n += d.engine.works.queued(w) ? 1 : 0;
  return n;
}

function counted(d: Device): number {
  let n = 0;
  for (let j = 0; j < JOBS; j++) n += d.engine.counters.get(j);
  return n;
}

function ringWait(s: Spins): { spin: number; minSpin: number; sleepUs: number; resume: number } {
  return { spin: s.waitMax, minSpin: s.waitMin, sleepUs: SLEEP_US, resume: 1 };
}

async function runWasm(design: Design, durationMs: number, spins: Spins): Promise<Run> {
  const d = await device(design);
  const workers = [...new Set(d.workerOf)];
  const rt = await ThreadRuntime.start(d.engine, { workers: workers.map((worker) => ({ worker, spin: spins.worker })) });
  try {
    const wait = ringWait(spins);
    const reports = await rt.produce(d.pools.map((works, j) => ({ worker: d.workerOf[j]!, works, mode: 'ring-each' as const, batch: BATCH, wait })), { durationMs });
    if (!(await rt.drain(10_000))) throw new Error('vhost-scsi bench: the worker threads did not drain');
    await rt.stop();
    const added = reports.reduce((a, r) => a + r.added, 0);
    const ms = Math.max(...reports.map((r) => r.ms));
    const violations = workers.reduce((a, i) => a + d.engine.worker(i).stats().violations, 0);
    return { itemsPerSec: itemsPerSecond(added, ms), added, counted: counted(d), violations, leftQueued: leftQueued(d) };
  } finally {
    if (rt.threadCount) await rt.stop();
    d.k.shutdown();
  }
}

async function runRef(design: Design, durationMs: number, spins: Spins): Promise<Run> {
  const d = await device(design);
  const workers = [...new Set(d.workerOf)].map((i) => d.engine.worker(i).offset);
  const m = d.engine.i32;
  try {
    const res = await runRefThreads(d.engine.memory, [
      ...workers.map((worker) => ({ role: 'ts-worker' as const, worker, counters: d.engine.layout.counters.base, spin: spins.worker })),
      ...d.pools.map((works, j) => ({
        role: 'ts-producer' as const, worker: d.engine.worker(d.workerOf[j]!).offset, works: [...works],
        mode: 'ring-each' as const, batch: BATCH, wait: ringWait(spins),
      })),
    ], durationMs, () => {
      const deadline = Date.now() + 10_000;
      for (const w of workers) {
        while (Atomics.load(m, (w + VHOST_WORKER.LIST) >> 2) !== 0 && Date.now() < deadline) { /* the worker thread drains; may be stale */ }
        vhostWorkerStop(m, w);
      }
    });
    const prods = res.reports.filter((r) => r.role === 'ts-producer');
    const added = prods.reduce((a, r) => a + r.added!, 0);
    const ms = Math.max(...prods.map((r) => r.ms!));
    const violations = res.reports.filter((r) => r.role === 'ts-worker').reduce((a, r) => a + r.stats!.violations, 0);
    // the reference counts into the low word of each u64 slot
    let n = 0;
    for (let j = 0; j < JOBS; j++) n += m[(d.engine.layout.counters.base >> 2) + j * 2]! >>> 0;
    return { itemsPerSec: itemsPerSecond(added, ms), added, counted: n, violations, leftQueued: leftQueued(d) };
  } finally {
    d.k.shutdown();
  }
}

/** what `kwq-native threads` prints for a round */
interface NativeRound { itemsPerSec: number; added: number; counted: number; violations: number; leftQueued: number; exactlyOnce: boolean }

/**
 * The same queue in C (bench/native/kwq-native.c `threads`): JOBS producers, each
 * re-queuing its IODEPTH COUNT works (an atomic add to its counter slot) one
 * vhost_worker_queue each in batches of BATCH, waiting for the next work (resume 1)
 * with the same calibrated-in-time spins; one worker, or one per producer; the spin
 * floor as ThreadRuntime.produce sets it.
 */
function runNative(c: NativeRef, design: Design, durationMs: number, spinUs: { worker: number; waitMax: number; waitMin: number }): Run {
  const workers = design === 'one worker' ? 1 : JOBS;
  const floor = workers + JOBS > availableParallelism() ? SPIN_FLOOR_OVERSUBSCRIBED : 0;
  const out = c.run<{ rounds: NativeRound[] }>([
    'threads', 'ring-each', IODEPTH, BATCH, 1, JOBS, durationMs, 1, spinUs.worker, spinUs.waitMax, spinUs.waitMin, SLEEP_US, floor, workers, 'count',
  ]);
  const r = out.rounds[0]!;
  return { itemsPerSec: r.itemsPerSec, added: r.added, counted: r.counted, violations: r.violations, leftQueued: r.leftQueued };
}

function figure(name: string, r: Run): Figure {
  const exact = r.counted === r.added && r.violations === 0 && r.leftQueued === 0;
  return {
    name,
    value: r.itemsPerSec / 1e6,
    unit: 'M items/s',
    notes: {
      'ns/item': Number((1e9 / r.itemsPerSec).toFixed(2)),
      added: r.added,
      'exactly-once': exact ? 'ok' : `FAILED (counted ${r.counted}, added ${r.added}, violations ${r.violations}, left queued ${r.leftQueued})`,
    },
  };
}

const vhostScsiBench: BenchScript = async ({ quick }) => {
  const durationMs = quick ? 300 : 2000;
  const figures: Figure[] = [];
  const ratios: Ratio[] = [];
  const res: Record<string, Run> = {};
  const spins = calibrate();
  const c = nativeRef();
  const notes: string[] = hasNative(c) ? [] : [c.note];
  for (const design of ['one worker', 'worker per vq'] as const) {
    res[`driver ${design}`] = await runDriver(design, durationMs);
    figures.push(figure(`vhost-scsi ${JOBS} jobs, ${design} (driver, threads runtime: guests, kick/call eventfds, Wasm handle_kick)`, res[`driver ${design}`]!));
    res[`wasm ${design}`] = await runWasm(design, durationMs, spins.wasm);
    res[`ts ${design}`] = await runRef(design, durationMs, spins.ts);
    figures.push(figure(`vhost-scsi ${JOBS} jobs, ${design} (wasm)`, res[`wasm ${design}`]!));
    figures.push(figure(`vhost-scsi ${JOBS} jobs, ${design} (ts reference)`, res[`ts ${design}`]!));
    ratios.push({ name: `vhost-scsi ${design}: wasm vs ts reference`, value: res[`wasm ${design}`]!.itemsPerSec / res[`ts ${design}`]!.itemsPerSec });
    if (hasNative(c)) {
      res[`c ${design}`] = runNative(c, design, durationMs, spins.us);
      figures.push(figure(`vhost-scsi ${JOBS} jobs, ${design} (native C, the same queue)`, res[`c ${design}`]!));
      ratios.push({ name: `vhost-scsi ${design}: kwq wasm / native C (items/s, one round each)`, value: res[`wasm ${design}`]!.itemsPerSec / res[`c ${design}`]!.itemsPerSec });
    }
  }
  ratios.push({ name: 'vhost-scsi driver: worker per vq vs one worker', value: res['driver worker per vq']!.itemsPerSec / res['driver one worker']!.itemsPerSec });
  ratios.push({ name: 'vhost-scsi wasm: worker per vq vs one worker', value: res['wasm worker per vq']!.itemsPerSec / res['wasm one worker']!.itemsPerSec });
  ratios.push({ name: 'vhost-scsi ts: worker per vq vs one worker', value: res['ts worker per vq']!.itemsPerSec / res['ts one worker']!.itemsPerSec });
  return { title: `vhost-scsi on real threads: ${JOBS} fio jobs, one worker vs a worker per vq (the driver's data path; the Wasm queue vs the TS reference and native C)`, figures, ratios, notes };
};

export default vhostScsiBench;

// `node dist/bench/vhost-scsi.js [--quick]` runs this section alone
if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  vhostScsiBench({ quick }).then((s) => {
    console.log(s.title);
    for (const f of s.figures) console.log(`  ${f.name}: ${f.value.toFixed(2)} ${f.unit} ${JSON.stringify(f.notes)}`);
    for (const r of s.ratios) console.log(`  ${r.name}: ${r.value.toFixed(2)}`);
  }, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

/**
 * One point of bench/scale.ts's curves, in a process of its own: bench/scale.ts runs
 *
 *   node --expose-gc dist/bench/scale-points.js CURVE X MIN_ITEMS MIN_MS
 *
 * for every point and reads the JSON it prints. A point measured in the same process
 * after others read the JIT state those left behind: V8 optimises the shared driver
 * and runtime code for the first kernel's objects and Wasm instance, and a kernel
 * booted later in the process ran the vhost path 12-20 ns/work slower (42 vs 53-64
 * ns), which made the x = 1 point of the first curve cheaper than any later point
 * for reasons other than the host's size. Each point is therefore the first kernel
 * of its process; with `second` set, the same point is then measured again in a
 * second kernel of that process, and both are printed (the cost of a second kernel
 * in one process is a property of kwq as a library, reported beside the curve).
 *
 * CURVE: loop, vhost1, vhost4, vhost16, processes.
 */
import { pathToFileURL } from 'node:url';
import {
  IOCB_CMD_PWRITE, Kernel, LOOP_CONFIGURE, O_CREAT, O_DIRECT, O_RDWR, VHOST_SET_OWNER, ioGetevents, ioSetup, ioSubmit,
  type AioContext, type IoEvent, type Task,
} from '../src/index.js';
import type { VhostDev } from '../src/drivers/vhost/dev.js';
import type { WorkRef } from '../src/wasm/engine.js';
import { vhostWorkerQueueRef, type VhostWorker } from '../src/drivers/vhost/worker.js';
import { median } from './stats.js';

export const CURVES = ['loop', 'vhost1', 'vhost4', 'vhost16', 'processes'] as const;
export type Curve = (typeof CURVES)[number];

export interface Point {
  x: number;
  nsPerItem: number;
  items: number;
  exactlyOnce: boolean;
  /** the blocks' ns/item, min..max */
  spread: [number, number];
  /** the median block's process CPU time per item (user + system, ns): what preemption on a shared machine does not inflate */
  cpuNsPerItem: number;
  /** bench/scale.ts: ns/item of each process the point ran in, the median's first */
  processes?: number[];
}

/**
 * Before a point's timed blocks: `round` once (creates what a first round creates),
 * a full GC (bench/main.ts runs node with --expose-gc; without it none), rounds for
 * `ms`, a full GC again. So the blocks time the rounds' own cost, GC of what they
 * allocate included, not the setup's garbage or the JIT's first tiers.
 */
function warmUp(round: () => void, ms: number): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  round();
  gc?.();
  const t0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - t0 < ms; i++) round();
  gc?.();
}

/**
 * KWQ_SCALE_ROUNDS=N (bench/cachegrind.ts): the point runs exactly N rounds, untimed
 * (no warm-up, no blocks; the figures read 0), so that a run under valgrind does the
 * same work every time and two round counts differ by exactly the extra rounds.
 */
const FIXED_ROUNDS = Number(process.env.KWQ_SCALE_ROUNDS ?? 0);

/** the least warm-up, ms (bench/native/scale.h SCALE_WARM_MS: the C takes the same) */
const WARM_MS = 300;

/** warmUp then measure; with KWQ_SCALE_ROUNDS, just the rounds */
async function warmUpAndMeasure(round: () => number, minItems: number, minMs: number, between?: () => Promise<void>): Promise<{ nsPerItem: number; cpuNsPerItem: number; spread: [number, number] }> {
  if (FIXED_ROUNDS > 0) {
    for (let i = 0; i < FIXED_ROUNDS; i++) round();
    return { nsPerItem: 0, cpuNsPerItem: 0, spread: [0, 0] };
  }
  // at least WARM_MS however short the blocks (--quick's 60 ms): the loop path's JIT
  // tiers took longer than that, and quick runs read its x = 1 point at twice its
  // steady cost (1,936 vs 798 ns/request), the process CPU time above the wall time
  warmUp(() => void round(), Math.max(minMs, WARM_MS));
  await between?.();
  return measure(round, minItems, minMs);
}

/** process CPU time (user + system), ms */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Three blocks of rounds, each until `minItems / 3` items and `minMs / 3` ms: the median
 * wall and process-CPU ns per item and the blocks' wall spread. `round` returns the
 * items it completed. The clock is read after rounds 1, 2, ..., then every eighth of
 * the rounds so far (a block overshoots its time by at most that): read after every
 * round, as before, its ~40 ns went into the cost of a 16-work round (about 2.5 ns a
 * work at x = 1, nothing at x = 1,000), which flattened the curves.
 */
function measure(round: () => number, minItems: number, minMs: number): { nsPerItem: number; cpuNsPerItem: number; spread: [number, number] } {
  const blocks: number[] = [];
  const cpu: number[] = [];
  for (let b = 0; b < 3; b++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    let items = 0;
    for (let rounds = 1, check = 1; ; rounds++) {
      items += round();
      if (rounds < check) continue;
      if (items >= minItems / 3 && performance.now() - t0 >= minMs / 3) break;
      check = rounds + Math.max(1, rounds >> 3);
    }
    blocks.push(((performance.now() - t0) * 1e6) / items);
    cpu.push(((cpuMs() - c0) * 1e6) / items);
  }
  return { nsPerItem: median(blocks), cpuNsPerItem: median(cpu), spread: [Math.min(...blocks), Math.max(...blocks)] };
}

/** Devices (each with its own worker) queueing `perDev` works a round; ns per work. */
export async function vhostPoint(opts: { devices: number; perDev: number; processes: boolean; minItems: number; minMs: number }): Promise<Point> {
  const scsi = !opts.processes;
  const k = await Kernel.boot({ seed: 1, cmdline: scsi ? `vhost_scsi.max_io_vqs=${opts.perDev}` : '' });
  try {
    const runs: number[] = [];
    const workers: VhostWorker[] = [];
    // the works' Wasm nodes, device after device (a driver's vqs keep their works; the
    // queue is given the node, as the kernel's vhost_worker_queue is given the
    // vhost_work): the round reads the VhostWork objects once, when they run
    const refs: WorkRef[] = [];
    // given its data (workAllocData), as the drivers' poll works are: a run reads no VhostWork
    const fn = (i: number): void => { runs[i]!++; };
    const one = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm0' });
    for (let d = 0; d < opts.devices; d++) {
      const task = opts.processes && d > 0 ? k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: `/machine.slice/vm${d}` }) : one;
      const fd = k.open(task, scsi ? '/dev/vhost-scsi' : '/dev/vhost-net', O_RDWR);
      if (fd < 0) throw new Error(`bench scale: open of device ${d} returned ${fd} (default capacities)`);
      const r = k.ioctl(task, fd, VHOST_SET_OWNER);
      if (r !== 0) throw new Error(`bench scale: VHOST_SET_OWNER of device ${d} returned ${r}`);
      const dev = k.fileOf(task, fd)!.privateData as VhostDev;
      for (let v = 0; v < opts.perDev; v++) {
        const w = dev.ve.workAllocData(fn, runs.length);
        if (typeof w === 'number') throw new Error(`bench scale: work arena full at device ${d} (default capacities)`);
        runs.push(0);
        refs.push(w.ref);
      }
      workers.push(dev.workers[0] as VhostWorker);
    }
    const refsOf = Uint32Array.from(refs);
    const perDev = opts.perDev;
    let rounds = 0;
    // The queueing loop is a function of its own, with nothing after the loop: when it
    // sat in `round` before `rounds++`, V8 replaced `round` on the stack inside the loop
    // (OSR) and in one process in five that cached OSR code deopted at `rounds++` on
    // every round ("insufficient type feedback for unary operation", the same code 54
    // times in one run: --trace-deopt); those processes read 87-185 ns/work where the
    // others read 55-70 (processes x 1,000), a harness cost and not kwq's
    const queueAll = (): void => {
      for (let d = 0, i = 0; d < workers.length; d++) {
        const worker = workers[d]!;
        for (const end = i + perDev; i < end; i++) vhostWorkerQueueRef(worker, refsOf[i]! as WorkRef);
      }
    };
    const round = (): void => {
      queueAll();
      k.runUntilIdle();
      rounds++;
    };
    const perRound = runs.length;
    const m = await warmUpAndMeasure(() => {
      round();
      return perRound;
    }, opts.minItems, opts.minMs);
    return { x: opts.devices, ...m, items: rounds * perRound, exactlyOnce: runs.every((r) => r === rounds) };
  } finally {
    k.shutdown();
  }
}

/**
 * 4 KiB O_DIRECT writes to /dev/loop0 from `ncg` tasks, one per cgroup, QD each in
 * flight: a round submits to every task, runs the simulation until idle and reaps
 * every task (min 0), so the harness costs O(1) per request at any cgroup count.
 */
export async function loopPoint(ncg: number, minItems: number, minMs: number): Promise<Point> {
  const QD = 4;
  const k = await Kernel.boot({ seed: 1 });
  try {
    const root = k.init;
    const bfd = k.open(root, '/tmp/backing', O_RDWR | O_CREAT);
    k.ftruncate(root, bfd, 64 * 2 ** 20);
    const lfd = k.open(root, '/dev/loop0', O_RDWR);
    if (k.ioctl(root, lfd, LOOP_CONFIGURE, { fd: bfd }) !== 0) throw new Error('bench scale: LOOP_CONFIGURE');
    const jobs: { task: Task; ctx: AioContext; fd: number; next: number }[] = [];
    for (let i = 0; i < ncg; i++) {
      const task = k.spawn({ comm: `fio${i}`, cgroup: `/bench/c${i}` });
      const ctx = ioSetup(k, task, 2 * QD);
      if (typeof ctx === 'number') throw new Error(`bench scale: io_setup of task ${i} returned ${ctx}`);
      const fd = k.open(task, '/dev/loop0', O_RDWR | O_DIRECT);
      if (fd < 0) throw new Error(`bench scale: open of /dev/loop0 by task ${i} returned ${fd}`);
      jobs.push({ task, ctx, fd, next: i * 4096 });
    }
    let submitted = 0;
    let done = 0;
    const submit = (j: (typeof jobs)[number], n: number): void => {
      const iocbs = [];
      for (let i = 0; i < n; i++) iocbs.push({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: j.fd, aio_nbytes: 4096, aio_offset: (j.next++ % 16384) * 4096 });
      const r = ioSubmit(k, j.task, j.ctx, iocbs);
      if (r !== n) throw new Error(`bench scale: io_submit returned ${r} of ${n}`);
      submitted += n;
    };
    // profiling hook (not used by bench/scale.ts): KWQ_LOOP_ACTIVE=n keeps every cgroup's
    // task, context and worker but lets only the first n tasks issue after the first
    // round, to tell the cost of the objects a request touches from that of their number
    const nActive = Number(process.env.KWQ_LOOP_ACTIVE ?? 0);
    let active = jobs;
    const reap = (): number => {
      let got = 0;
      for (const j of active) {
        const ev = ioGetevents(k, j.task, j.ctx, 0, 2 * QD) as IoEvent[];
        got += ev.length;
        if (ev.length) submit(j, ev.length);
      }
      return got;
    };
    const round = (): number => {
      k.runUntilIdle();
      let got = reap();
      // runUntilIdle stops when only deferrable timers are left; a request that waits
      // on one (seen once in a few runs: the round then completed nothing) needs time
      // to pass: up to 1 s of virtual time, a ms at a time
      for (let ms = 0; got === 0 && ms < 1000; ms++) {
        k.advance(1);
        got = reap();
      }
      done += got;
      return got;
    };
    for (const j of jobs) submit(j, QD);
    if (nActive > 0) {
      round(); // creates every worker
      k.runUntilIdle();
      for (const j of jobs.slice(nActive)) {
        const ev = ioGetevents(k, j.task, j.ctx, 0, 2 * QD) as IoEvent[];
        done += ev.length;
      }
      active = jobs.slice(0, nActive);
    }
    // the first warm-up round creates every worker
    const heap: { stop: ((file: string) => Promise<void>) | null } = { stop: null };
    const m = await warmUpAndMeasure(() => {
      const got = round();
      if (got === 0) throw new Error('bench scale: a round completed no request');
      return got;
    }, minItems, minMs, async () => {
      if (process.env.KWQ_LOOP_HEAPPROF !== undefined) heap.stop = await startHeapSampling();
    });
    if (heap.stop !== null) await heap.stop(process.env.KWQ_LOOP_HEAPPROF!);
    k.runUntilIdle();
    for (const j of active) done += (ioGetevents(k, j.task, j.ctx, 0, 2 * QD) as IoEvent[]).length;
    // every request submitted completed once (its event reaped once); loopInfo's per-worker
    // snapshot does not fit a scratch slot past ~2000 workers, so it is not asked here
    return { x: ncg, ...m, items: done, exactlyOnce: done === submitted };
  } finally {
    k.shutdown();
  }
}

/**
 * Profiling hook (KWQ_LOOP_HEAPPROF=FILE): V8's sampling heap profiler over the timed
 * blocks, garbage included; the returned function writes the profile to FILE.
 */
async function startHeapSampling(): Promise<(file: string) => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const s = new Session();
  s.connect();
  await s.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.KWQ_LOOP_HEAPPROF_PROMOTED === undefined });
  return async (file) => {
    const r = await s.post('HeapProfiler.stopSampling');
    writeFileSync(file, JSON.stringify(r.profile));
    s.disconnect();
  };
}

/** The point `x` of `curve`. */
export function runPoint(curve: Curve, x: number, minItems: number, minMs: number): Promise<Point> {
  if (curve === 'loop') return loopPoint(x, minItems / 4, minMs);
  if (curve === 'processes') return vhostPoint({ devices: x, perDev: 16, processes: true, minItems, minMs });
  return vhostPoint({ devices: x, perDev: Number(curve.slice('vhost'.length)), processes: false, minItems, minMs });
}

/** what the child prints: the point, and with `second` the same point in the process's second kernel */
export interface PointReport {
  first: Point;
  second?: Point;
}

async function main(argv: string[]): Promise<void> {
  const [curve, xs, items, ms, second] = argv;
  if (!CURVES.includes(curve as Curve)) throw new Error(`scale-points: CURVE must be one of ${CURVES.join(', ')}, got '${curve}'`);
  const x = Number(xs);
  const minItems = Number(items);
  const minMs = Number(ms);
  if (!Number.isInteger(x) || x < 1) throw new Error(`scale-points: X must be a positive integer, got '${xs}'`);
  if (!(minItems > 0) || !(minMs > 0)) throw new Error(`scale-points: MIN_ITEMS and MIN_MS must be positive, got '${items}' '${ms}'`);
  const report: PointReport = { first: await runPoint(curve as Curve, x, minItems, minMs) };
  if (second === 'second') report.second = await runPoint(curve as Curve, x, minItems, minMs);
  process.stdout.write(JSON.stringify(report) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`scale-points: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}

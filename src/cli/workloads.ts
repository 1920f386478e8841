/**
 * The workloads `kwq compare` runs under two designs or at two releases: the runners
 * the scenarios already have, with one result shape (what each cgroup was charged,
 * per phase, and the named outcome values) so one table shows the difference.
 *
 *   charge    buffered writes by a worker thread (io-wq, loop per-cgroup, loop kworker,
 *             vhost task, vhost kthread), the process moved a.slice -> b.slice half way
 *             (scenarios/iowq-charge.ts)
 *   loop-oom  the loop series' OOM script: dd through /dev/loop0 from a 64M cgroup,
 *             kworker vs per-cgroup loop workers (scenarios/loop-oom.ts)
 *
 * pids come from the kernels the runner boots (Kernel.onBoot): pids.peak of each cgroup
 * after the run, the tasks it held at most (a worker thread of the process counts there,
 * a kthread does not).
 */
import { Kernel } from '../kernel/kernel.js';
import { KwqError } from '../kernel/error.js';
import { RELEASES, type Release } from '../kernel/release.js';
import type { ScenarioOption } from '../../scenarios/types.js';

/** What one cgroup was charged in one phase. */
export interface ChargeRow {
  phase: string;
  cgroup: string;
  /** page cache (memory.stat file) or shmem charged, bytes */
  memoryBytes: number;
  /** io.stat wbytes on the workload's disk, bytes */
  ioWbytes: number;
  /** cpu.stat usage_usec */
  cpuUsec: number;
  /** pids.peak after the run (null: the root cgroup has none) */
  pidsPeak: number | null;
}

export interface WorkloadRun {
  workload: string;
  design: string;
  release: string;
  charged: ChargeRow[];
  /** named outcome values, shown side by side */
  outcome: Record<string, string | number | boolean>;
}

export interface Workload {
  name: string;
  title: string;
  /** the workload's options, checked by the same schema as a scenario's */
  options: Record<string, ScenarioOption>;
  designs: readonly string[];
  /** true when the workload boots the release it is given; false: it sets its design on the command line at the default release */
  releases: boolean;
  run(design: string, release: Release | undefined, opts: Record<string, unknown>): Promise<WorkloadRun>;
}

const SEED: ScenarioOption = { type: 'integer', default: 1, min: 0, max: 4294967295, help: 'PRNG seed' };

/**
 * Run `fn` and read each kernel it boots just before that kernel shuts down (the
 * runners shut their kernels down before they return, and a shut-down kernel's files
 * cannot be read): `atShutdown(k)`'s results, in boot order.
 */
async function withKernels<T, S>(fn: () => Promise<T>, atShutdown: (k: Kernel) => S): Promise<{ result: T; snaps: S[] }> {
  const snaps: S[] = [];
  const stop = Kernel.onBoot((k) => {
    const shutdown = k.shutdown.bind(k);
    // an own property in front of Kernel.prototype.shutdown, for this kernel only
    k.shutdown = (): void => {
      snaps.push(atShutdown(k));
      shutdown();
    };
  });
  try {
    return { result: await fn(), snaps };
  } finally {
    stop();
  }
}

function readNumber(k: Kernel, path: string, re?: RegExp): number | null {
  const text = k.readFile(k.init, path);
  if (typeof text !== 'string') return null;
  if (re === undefined) return Number(text.trim());
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

const CG = '/sys/fs/cgroup';
const pidsPeak = (k: Kernel, cg: string): number | null => (cg === '/' ? null : readNumber(k, `${CG}${cg}/pids.peak`));

async function runChargeWorkload(design: string, release: Release | undefined, opts: Record<string, unknown>): Promise<WorkloadRun> {
  const { runCharge } = await import('../../scenarios/iowq-charge.js');
  const { result: r, snaps } = await withKernels(
    () => runCharge(design as never, { writes: opts['writes'] as number, bs: opts['bs'] as number, seed: opts['seed'] as number, ...(release ? { release } : {}) }),
    (k) => ({ release: k.release, pids: { '/a.slice': pidsPeak(k, '/a.slice'), '/b.slice': pidsPeak(k, '/b.slice'), '/': null } as Record<string, number | null> }),
  );
  const k = snaps[snaps.length - 1]!;
  const charged: ChargeRow[] = [];
  for (const p of r.phases) {
    for (const cg of ['/a.slice', '/b.slice', '/'] as const) {
      const c = p.by[cg];
      charged.push({ phase: p.phase, cgroup: cg === '/' ? '/ (own)' : cg, memoryBytes: c.fileBytes, ioWbytes: c.ioWbytes, cpuUsec: c.cpuUsec, pidsPeak: k.pids[cg]! });
    }
  }
  return {
    workload: 'charge', design, release: k.release,
    charged,
    outcome: {
      worker: r.worker.comm,
      'worker flags': r.worker.flags.join(',') || '-',
      'worker cgroup before the move': r.worker.cgroupBefore,
      'worker cgroup after the move': r.worker.cgroupAfter,
      'moving the process (cgroup.procs)': r.moveResult,
    },
  };
}

async function runLoopOomWorkload(design: string, _release: Release | undefined, opts: Record<string, unknown>): Promise<WorkloadRun> {
  const { runLoopOom } = await import('../../scenarios/loop-oom.js');
  const cpu = (k: Kernel, cg: string): number => readNumber(k, `${cg === '/' ? CG : CG + cg}/cpu.stat`, /^usage_usec (\d+)$/m) ?? 0;
  const io = (k: Kernel, cg: string): number => {
    const text = k.readFile(k.init, `${cg === '/' ? CG : CG + cg}/io.stat`);
    if (typeof text !== 'string') return 0;
    return [...text.matchAll(/wbytes=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  };
  const { result: r, snaps } = await withKernels(
    () => runLoopOom(design as 'kworker' | 'per-cgroup', opts['seed'] as number),
    (k) => ({
      release: k.release,
      test: { io: io(k, '/test.slice'), cpu: cpu(k, '/test.slice'), pids: pidsPeak(k, '/test.slice') },
      // the root's files count the whole tree: its own share is root minus test.slice
      root: { io: io(k, '/') - io(k, '/test.slice'), cpu: cpu(k, '/') - cpu(k, '/test.slice') },
    }),
  );
  const k = snaps[snaps.length - 1]!;
  const charged: ChargeRow[] = [
    { phase: 'the whole script', cgroup: '/test.slice', memoryBytes: r.shmemTestSlice, ioWbytes: k.test.io, cpuUsec: k.test.cpu, pidsPeak: k.test.pids },
    { phase: 'the whole script', cgroup: '/ (own)', memoryBytes: r.shmemRoot, ioWbytes: k.root.io, cpuUsec: k.root.cpu, pidsPeak: null },
  ];
  const outcome: Record<string, string | number | boolean> = {};
  for (const s of r.steps) outcome[`oom_kill after: ${s.step}`] = s.oomKill;
  outcome['dd to /dev/loop0 wrote (bytes)'] = r.ddLoopBytes;
  outcome['dd to /dev/loop0 killed'] = r.ddLoopKilled;
  outcome['loop commands'] = r.loopCommands;
  outcome['loop workers made'] = r.loopWorkers;
  return { workload: 'loop-oom', design, release: k.release, charged, outcome };
}

export const WORKLOADS: Record<string, Workload> = {
  charge: {
    name: 'charge',
    title: 'buffered writes by a kernel worker thread for a process that moves a.slice -> b.slice half way: who is charged',
    options: {
      writes: { type: 'integer', default: 64, min: 1, max: 4096, help: 'writes per phase' },
      bs: { type: 'integer', default: 65536, min: 4096, max: 2 ** 20, multipleOf: 4096, unit: 'bytes', help: 'bytes per write' },
      seed: SEED,
    },
    designs: ['io-wq', 'loop-per-cgroup', 'loop-kworker', 'vhost-task', 'vhost-kthread'],
    releases: true,
    run: runChargeWorkload,
  },
  'loop-oom': {
    name: 'loop-oom',
    title: "the loop series' OOM script: dd through /dev/loop0 from a cgroup with memory.max=64M",
    options: { seed: SEED },
    designs: ['kworker', 'per-cgroup'],
    releases: false,
    run: runLoopOomWorkload,
  },
};

export const WORKLOAD_NAMES = Object.keys(WORKLOADS);
export const RELEASE_NAMES = Object.keys(RELEASES) as Release[];

export function workload(name: string): Workload {
  const w = WORKLOADS[name];
  if (w === undefined) throw new KwqError('kwq compare', `unknown workload '${name}'; available: ${WORKLOAD_NAMES.join(', ')}`);
  return w;
}

/**
 * multiqueue: vhost-scsi with 16 io vqs, one worker for every vq (the default) vs a
 * worker per vq (VHOST_NEW_WORKER + VHOST_ATTACH_VRING_WORKER), fio-like jobs
 * 1..16 (one guest vCPU per job, one job per vq), in the sim runtime.
 *
 * ONE cost model, calibrated once against Mike Christie's published table (v9 cover
 * letter, kernel-perf-figures.md section 1.1), drives both designs:
 *
 *   guest vCPU (a QEMU thread)          vhost worker (a thread of QEMU, task mode)
 *   ioNs per I/O submitted               wakeNs per wake-up from sleep
 *   kickNs per kick (vmexit)             workNs per vhost_work run
 *   irqNs per interrupt taken            descNs per command taken (handle_kick)
 *   completionNs per completion          usedNs per completion written
 *
 * Notifications are suppressed while a vq's work is pending or running (EVENT_IDX:
 * one kick per vhost_enable_notify, one interrupt per virtqueue_enable_cb), so a
 * busy worker takes more commands per vhost_work and the guests pay fewer kicks and
 * interrupts per I/O: the author's explanation of why one worker beats a worker per
 * vq at 2 jobs. The host has `hostCpus` CPUs shared by vCPUs and workers, which bends
 * the worker-per-vq curve at 12-16 jobs. fio's iodepth follows the cover letter: 128,
 * cut to 1024 / jobs above 8 jobs (85 at 12, 64 at 16).
 *
 * `--runtime threads` runs the same device on real worker_threads instead (one
 * thread per vhost worker, wall-clock IOPS on this machine; see runThreads).
 */
import { availableParallelism } from 'node:os';
import {
  Kernel, O_RDWR, VHOST_ATTACH_VRING_WORKER, VHOST_NEW_WORKER, VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_VQ_IO,
  VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, VirtioQueue, FioJob, vhostSetCosts, vhostDevInfo, KwqError, ThreadsFioJob, vhostFlush,
  vhostThreadsIdle, type GuestCosts, type VhostCosts,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

/** kernel-perf-figures.md section 1.1 (v9, libaio, IOPS in thousands; null = not measured) */
export const PUBLISHED: Record<number, { one: number | null; perVq: number }> = {
  1: { one: 160, perVq: 160 },
  2: { one: 488, perVq: 310 },
  4: { one: null, perVq: 620 },
  8: { one: null, perVq: 1182 },
  12: { one: null, perVq: 1564 },
  16: { one: null, perVq: 2002 },
};

/** The calibration (virtual ns). */
export const HOST_COSTS: Partial<VhostCosts> = { wakeNs: 2500, workNs: 300, descNs: 1600, usedNs: 350, weight: 256 };
export const GUEST_COSTS: Partial<GuestCosts> = { ioNs: 2300, kickNs: 2100, irqNs: 1700, completionNs: 350, quantumNs: 4000 };

const IO_VQS = 16;

export interface MultiqueueRow {
  jobs: number;
  oneWorkerK: number;
  perVqK: number;
  /** per I/O: kicks and interrupts the guests took (notification suppression at work) */
  oneKicksPerIo: number;
  perVqKicksPerIo: number;
  oneIrqsPerIo: number;
  perVqIrqsPerIo: number;
}

async function runOne(jobs: number, perVq: boolean, o: { hostCpus: number; warmupMs: number; measureMs: number; seed: number }): Promise<{ iops: number; kicksPerIo: number; irqsPerIo: number }> {
  const k = await Kernel.boot({ cmdline: `vhost_scsi.max_io_vqs=${IO_VQS}`, ncpus: o.hostCpus, seed: o.seed });
  try {
    const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
    const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
    const must = (r: number, what: string): void => {
      if (r !== 0) throw new KwqError('scenario multiqueue', `${what} returned ${r}`);
    };
    if (fd < 0) must(fd, 'open /dev/vhost-scsi');
    must(k.ioctl(qemu, fd, VHOST_SET_OWNER), 'VHOST_SET_OWNER');
    // the memory table first: SET_ENDPOINT is EFAULT before it (vhost_vq_access_ok)
    must(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 0, padding: 0 }), 'VHOST_SET_MEM_TABLE');
    must(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, { abi_version: 1, vhost_wwpn: 'naa.5001405000000001', vhost_tpgt: 1, reserved: 0 }), 'VHOST_SCSI_SET_ENDPOINT');
    must(vhostSetCosts(k, qemu, fd, HOST_COSTS), 'vhostSetCosts');
    if (perVq) {
      // vq IO+0 keeps the default worker 0; every other io vq gets a worker of its own
      for (let i = 1; i < IO_VQS; i++) {
        const st = { worker_id: 0 };
        must(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st), 'VHOST_NEW_WORKER');
        must(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: VHOST_SCSI_VQ_IO + i, worker_id: st.worker_id }), 'VHOST_ATTACH_VRING_WORKER');
      }
    }
    const iodepth = jobs * 128 > 1024 ? Math.floor(1024 / jobs) : 128;
    const queues: VirtioQueue[] = [];
    const fio: FioJob[] = [];
    for (let j = 0; j < jobs; j++) {
      const q = VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO + j);
      if (typeof q === 'number') throw new KwqError('scenario multiqueue', `VirtioQueue.attach returned ${q}`);
      const job = FioJob.start(k, qemu, q, { iodepth, costs: GUEST_COSTS, comm: `CPU ${j}/KVM` });
      if (typeof job === 'number') throw new KwqError('scenario multiqueue', `FioJob.start returned ${job}`);
      queues.push(q);
      fio.push(job);
    }
    k.advance(o.warmupMs);
    const sum = (f: (i: number) => number): number => { let s = 0; for (let i = 0; i < jobs; i++) s += f(i); return s; };
    const c0 = sum((i) => fio[i]!.completed);
    const k0 = sum((i) => queues[i]!.kicks);
    const i0 = sum((i) => queues[i]!.interrupts);
    k.advance(o.measureMs);
    const done = sum((i) => fio[i]!.completed) - c0;
    const info = vhostDevInfo(k, qemu, fd);
    if (typeof info === 'number') throw new KwqError('scenario multiqueue', `vhostDevInfo returned ${info}`);
    for (const job of fio) job.stop();
    return {
      iops: done / (o.measureMs / 1000),
      kicksPerIo: (sum((i) => queues[i]!.kicks) - k0) / Math.max(1, done),
      irqsPerIo: (sum((i) => queues[i]!.interrupts) - i0) / Math.max(1, done),
    };
  } finally {
    k.shutdown();
  }
}

/**
 * The same set-up in the threads runtime: each vhost worker is a real thread (Wasm
 * handle_kick / completion with the calibrated descNs/usedNs as real CPU time), the
 * guests are ThreadsFioJobs on the main thread (kick eventfd, call eventfd through
 * Atomics.waitAsync). Wall-clock IOPS from the jobs' start to the last completion.
 */
async function runThreads(jobs: number, perVq: boolean, count: number): Promise<{ iops: number; kicksPerIo: number; irqsPerIo: number; threads: number; exact: boolean }> {
  const k = await Kernel.boot({ runtime: 'threads', cmdline: `vhost_scsi.max_io_vqs=${IO_VQS}` });
  try {
    const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
    const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
    const must = (r: number, what: string): void => {
      if (r !== 0) throw new KwqError('scenario multiqueue (threads)', `${what} returned ${r}`);
    };
    if (fd < 0) must(fd, 'open /dev/vhost-scsi');
    must(k.ioctl(qemu, fd, VHOST_SET_OWNER), 'VHOST_SET_OWNER');
    // the memory table first: SET_ENDPOINT is EFAULT before it (vhost_vq_access_ok)
    must(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 0, padding: 0 }), 'VHOST_SET_MEM_TABLE');
    must(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, { abi_version: 1, vhost_wwpn: 'naa.5001405000000001', vhost_tpgt: 1, reserved: 0 }), 'VHOST_SCSI_SET_ENDPOINT');
    must(vhostSetCosts(k, qemu, fd, HOST_COSTS), 'vhostSetCosts');
    if (perVq) {
      // only the vqs that carry a job get a worker of their own (vq IO+0 keeps worker 0)
      for (let i = 1; i < jobs; i++) {
        const st = { worker_id: 0 };
        must(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st), 'VHOST_NEW_WORKER');
        must(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: VHOST_SCSI_VQ_IO + i, worker_id: st.worker_id }), 'VHOST_ATTACH_VRING_WORKER');
      }
    }
    must(await vhostFlush(k, qemu, fd), 'vhostFlush'); // every worker thread is up and idle
    const iodepth = jobs * 128 > 1024 ? Math.floor(1024 / jobs) : 128;
    const t0 = performance.now();
    const fio = [];
    for (let j = 0; j < jobs; j++) {
      const q = VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO + j);
      if (typeof q === 'number') throw new KwqError('scenario multiqueue (threads)', `VirtioQueue.attach returned ${q}`);
      fio.push(ThreadsFioJob.start(q, { iodepth, count, timeoutMs: 60_000 }));
    }
    const reports = await Promise.all(fio.map((f) => f.done));
    const ms = performance.now() - t0;
    const info = vhostDevInfo(k, qemu, fd);
    const threads = typeof info === 'number' ? 0 : info.workers.filter((w) => w.tid !== null).length;
    const done = reports.reduce((a, r) => a + r.completed, 0);
    const exact = reports.every((r) => !r.timedOut && r.completed === count && r.duplicates === 0 && r.missing === 0 && r.unknown === 0 && r.outOfOrder === 0);
    k.exit(qemu);
    await vhostThreadsIdle(k);
    return {
      iops: done / (ms / 1000),
      kicksPerIo: reports.reduce((a, r) => a + r.kicks, 0) / Math.max(1, done),
      irqsPerIo: reports.reduce((a, r) => a + r.interrupts, 0) / Math.max(1, done),
      threads, exact,
    };
  } finally {
    k.shutdown();
    await vhostThreadsIdle(k);
  }
}

async function runThreadsTable(jobsList: number[], count: number): Promise<ScenarioResult> {
  const rows: (MultiqueueRow & { oneExact: boolean; perVqExact: boolean; perVqThreads: number })[] = [];
  await runThreads(1, false, Math.min(count, 5000)); // warm-up (JIT, cost calibration), not reported
  for (const jobs of jobsList) {
    const one = await runThreads(jobs, false, count);
    const per = await runThreads(jobs, true, count);
    rows.push({
      jobs, oneWorkerK: one.iops / 1000, perVqK: per.iops / 1000,
      oneKicksPerIo: one.kicksPerIo, perVqKicksPerIo: per.kicksPerIo, oneIrqsPerIo: one.irqsPerIo, perVqIrqsPerIo: per.irqsPerIo,
      oneExact: one.exact, perVqExact: per.exact, perVqThreads: per.threads,
    });
  }
  const cpus = availableParallelism();
  const k = (v: number): string => `${Math.round(v)}k`;
  const lines = [
    'design: vhost-scsi, 16 io vqs; 1 worker (default, id 0) vs a worker per vq (VHOST_NEW_WORKER + VHOST_ATTACH_VRING_WORKER)',
    `setting: threads runtime, wall clock: each vhost worker a worker_thread running the Wasm loop (descNs ${HOST_COSTS.descNs} + usedNs ${HOST_COSTS.usedNs} of real CPU per command), ` +
      `fio-like guests on the main thread, ${count} commands per job; this machine has ${cpus} CPU(s), shared by the main thread and every worker thread`,
    'IOPS (wall clock), exactly-once checked per command:',
    `${pad('jobs', 5)} | ${pad('1 worker', 9)} | ${pad('per vq', 9)} ${pad('threads', 7)} | ${pad('per vq/1w', 9)} | kicks/io 1w  per-vq | exact`,
  ];
  for (const r of rows) {
    lines.push(`${pad(String(r.jobs), 5)} | ${pad(k(r.oneWorkerK), 9)} | ${pad(k(r.perVqK), 9)} ${pad(String(r.perVqThreads), 7)} | ${pad(`x${(r.perVqK / r.oneWorkerK).toFixed(2)}`, 9)} | ` +
      `${pad(r.oneKicksPerIo.toFixed(3), 11)} ${pad(r.perVqKicksPerIo.toFixed(3), 7)} | ${r.oneExact && r.perVqExact ? 'ok' : 'FAILED'}`);
  }
  lines.push(`outcome: with ${cpus} CPU(s) a worker per vq can use at most ${cpus} CPUs at once (minus the guests' main thread): the published near-linear scaling needs as many host CPUs as workers (run the sim runtime for that)`);
  return { lines, data: { runtime: 'threads', rows, cpus, count } };
}

const pad = (s: string, n: number): string => s.padStart(n);

export const scenario: Scenario = {
  name: 'multiqueue',
  title: 'vhost-scsi, 16 io vqs: one worker vs a worker per vq, fio jobs 1..16 (sim, one calibrated cost model)',
  options: {
    jobs: { type: 'integer[]', default: [1, 2, 4, 8, 12, 16], min: 1, max: 16, help: 'fio job counts to run (one per io vq)' },
    hostCpus: { type: 'integer', default: 18, min: 1, max: 1024, help: 'host CPUs shared by the vCPUs and the vhost workers' },
    warmupMs: { type: 'number', default: 2, min: 0, max: 1000, unit: 'ms', help: 'virtual time before measuring' },
    measureMs: { type: 'number', default: 10, exclusiveMin: 0, max: 1000, unit: 'ms', help: 'virtual time measured' },
    seed: { type: 'integer', default: 1, min: 0, max: 4294967295, help: 'PRNG seed' },
    runtime: { type: 'string', default: 'sim', choices: ['sim', 'threads'], help: "'sim': the calibrated model vs the published table; 'threads': real worker threads, wall-clock IOPS on this machine" },
    count: { type: 'integer', default: 10_000, min: 1, max: 100_000_000, help: 'threads runtime: commands per fio job' },
  },
  async run(opts): Promise<ScenarioResult> {
    const jobsList = opts.jobs as number[];
    for (const j of jobsList) {
      if (!Number.isInteger(j) || j < 1 || j > IO_VQS) throw new KwqError('scenario multiqueue', `option 'jobs' has ${j}; expected integers in 1..${IO_VQS}`);
    }
    const runtime = opts.runtime ?? 'sim';
    if (runtime !== 'sim' && runtime !== 'threads') throw new KwqError('scenario multiqueue', `option 'runtime' has ${String(runtime)}; expected sim or threads`);
    if (runtime === 'threads') {
      const count = opts.count ?? 10_000;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) throw new KwqError('scenario multiqueue', `option 'count' has ${String(count)}; expected an integer >= 1`);
      return runThreadsTable(jobsList, count);
    }
    const o = { hostCpus: opts.hostCpus as number, warmupMs: opts.warmupMs as number, measureMs: opts.measureMs as number, seed: opts.seed as number };
    if (!Number.isInteger(o.hostCpus) || o.hostCpus < 1) throw new KwqError('scenario multiqueue', `option 'hostCpus' has ${o.hostCpus}; expected an integer >= 1`);
    if (!(o.measureMs > 0) || !(o.warmupMs >= 0)) throw new KwqError('scenario multiqueue', 'options warmupMs >= 0 and measureMs > 0');
    const rows: MultiqueueRow[] = [];
    for (const jobs of jobsList) {
      const one = await runOne(jobs, false, o);
      const per = await runOne(jobs, true, o);
      rows.push({
        jobs, oneWorkerK: one.iops / 1000, perVqK: per.iops / 1000,
        oneKicksPerIo: one.kicksPerIo, perVqKicksPerIo: per.kicksPerIo, oneIrqsPerIo: one.irqsPerIo, perVqIrqsPerIo: per.irqsPerIo,
      });
    }
    const k = (v: number | null): string => (v === null ? '-' : `${Math.round(v)}k`);
    const ratio = (m: number, p: number | null): string => (p === null ? '' : `x${(m / p).toFixed(2)}`);
    const lines = [
      'design: vhost-scsi, 16 io vqs; 1 worker (default, id 0) vs a worker per vq (VHOST_NEW_WORKER + VHOST_ATTACH_VRING_WORKER)',
      `setting: sim runtime, ${o.hostCpus} host CPUs, fio libaio iodepth 128 (1024/jobs above 8), one vCPU per job; ${o.measureMs} ms measured after ${o.warmupMs} ms`,
      'IOPS, model vs published (v9 cover letter), model/published:',
      `${pad('jobs', 5)} | ${pad('1 worker', 9)} ${pad('published', 9)} ${pad('ratio', 6)} | ${pad('per vq', 9)} ${pad('published', 9)} ${pad('ratio', 6)} | kicks/io 1w  per-vq`,
    ];
    for (const r of rows) {
      const p = PUBLISHED[r.jobs];
      lines.push(
        `${pad(String(r.jobs), 5)} | ${pad(k(r.oneWorkerK), 9)} ${pad(k(p?.one ?? null), 9)} ${pad(ratio(r.oneWorkerK, p?.one ?? null), 6)} | ` +
        `${pad(k(r.perVqK), 9)} ${pad(k(p?.perVq ?? null), 9)} ${pad(ratio(r.perVqK, p?.perVq ?? null), 6)} | ` +
        `${pad(r.oneKicksPerIo.toFixed(2), 11)} ${pad(r.perVqKicksPerIo.toFixed(2), 7)}`,
      );
    }
    const first = rows[0];
    const last = rows[rows.length - 1];
    if (first && last && rows.length > 1) {
      lines.push(`outcome: 1 worker ${k(first.oneWorkerK)} -> ${k(last.oneWorkerK)} (x${(last.oneWorkerK / first.oneWorkerK).toFixed(1)}); ` +
        `worker per vq ${k(first.perVqK)} -> ${k(last.perVqK)} (x${(last.perVqK / first.perVqK).toFixed(1)}) from ${first.jobs} to ${last.jobs} jobs`);
    }
    return { lines, data: { rows, hostCpus: o.hostCpus, published: PUBLISHED } };
  },
};

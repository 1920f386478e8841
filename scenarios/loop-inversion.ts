/**
 * loop-inversion: two cgroups share one loop device, one of them held back by io.max.
 *
 *   /dev/loop0 --LO_FLAGS_DIRECT_IO--> /dev/nullb0 (null_blk, completion_nsec)
 *   /slow: io.max "251:0 wbps=<slowWbps>"      /fast: no limit
 *   each: a fio-like job, 64 KiB O_DIRECT writes to /dev/loop0, `iodepth` in flight (libaio)
 *
 * The loop worker runs each command's backing write with the command's blkcg, so a slow
 * command waits for /slow's io.max budget on nullb0 while its worker is blocked. With
 * the kworker design one thread runs every command in order, so /fast's commands wait
 * behind /slow's ("priority inversion where one cgroup gets synchronously blocked,
 * holding up all other I/O to the loop device", 87579e9b); with per-cgroup workers
 * /fast has its own worker and does not wait. Per cgroup: latency p50/p99 (submission
 * to completion, exact), throughput. The job loop reaps every `pollUs` of virtual time.
 */
import {
  IOCB_CMD_PWRITE, Kernel, LOOP_CONFIGURE, LO_FLAGS_DIRECT_IO, O_DIRECT, O_RDWR, ioGetevents, ioSetup, ioSubmit,
  type AioContext, type IoEvent, type Task,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

export interface InversionRow {
  design: 'kworker' | 'per-cgroup';
  cgroup: 'fast' | 'slow';
  ios: number;
  p50Us: number;
  p99Us: number;
  mibPerS: number;
  iops: number;
  /** the latency distribution: cdfUs[i] is the i-th percentile (0 = min, 100 = max), µs; what the report's CDF chart plots */
  cdfUs: number[];
}

interface Job {
  name: 'fast' | 'slow';
  task: Task;
  ctx: AioContext;
  fd: number;
  lat: number[];
  bytes: number;
  next: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runInversion(design: 'kworker' | 'per-cgroup', o: { durationMs: number; iodepth: number; bs: number; slowWbps: number; pollUs: number; seed: number }): Promise<InversionRow[]> {
  const k = await Kernel.boot({ cmdline: `kwq.loop_workers=${design} null_blk.nr_devices=1`, seed: o.seed });
  try {
    const root = k.init;
    const lfd = k.open(root, '/dev/loop0', O_RDWR);
    const nb = k.open(root, '/dev/nullb0', O_RDWR);
    const r = k.ioctl(root, lfd, LOOP_CONFIGURE, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO, lo_file_name: '/dev/nullb0' } });
    if (r !== 0) throw new Error(`LOOP_CONFIGURE: ${r}`);
    k.close(root, nb);
    const nbDev = (k.stat(root, '/dev/nullb0') as { rdev: string }).rdev;
    const jobs: Job[] = [];
    for (const name of ['slow', 'fast'] as const) {
      const task = k.spawn({ comm: `fio-${name}`, cgroup: `/${name}` });
      const ctx = ioSetup(k, task, o.iodepth * 2);
      if (typeof ctx === 'number') throw new Error(`io_setup: ${ctx}`);
      jobs.push({ name, task, ctx, fd: k.open(task, '/dev/loop0', O_RDWR | O_DIRECT), lat: [], bytes: 0, next: 0 });
    }
    const w = k.writeFile(root, '/sys/fs/cgroup/slow/io.max', `${nbDev} wbps=${o.slowWbps}`);
    if (w < 0) throw new Error(`io.max: ${w}`);
    const span = 256 * 2 ** 20;
    const submit = (j: Job, n: number): void => {
      const iocbs = [];
      for (let i = 0; i < n; i++) {
        iocbs.push({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: j.fd, aio_nbytes: o.bs, aio_offset: (j.next * o.bs) % span });
        j.next++;
      }
      const s = ioSubmit(k, j.task, j.ctx, iocbs);
      if (s !== n) throw new Error(`io_submit: ${s}`);
    };
    const t0 = k.now;
    const end = t0 + o.durationMs * 1e6;
    for (const j of jobs) submit(j, o.iodepth);
    while (k.now < end) {
      k.advance(o.pollUs / 1000);
      for (const j of jobs) {
        const ev = ioGetevents(k, j.task, j.ctx, 0, o.iodepth) as IoEvent[];
        for (const e of ev) {
          if (e.res < 0) throw new Error(`${j.name}: I/O failed ${e.res}`);
          if (e.completedNs > end) continue;
          j.lat.push((e.completedNs - e.submittedNs) / 1e3);
          j.bytes += e.res;
        }
        if (ev.length > 0 && k.now < end) submit(j, ev.length);
      }
    }
    const secs = o.durationMs / 1000;
    return jobs.map((j) => {
      const s = j.lat.slice().sort((a, b) => a - b);
      const cdfUs = Array.from({ length: 101 }, (_, p) => pct(s, p));
      return { design, cgroup: j.name, ios: s.length, p50Us: pct(s, 50), p99Us: pct(s, 99), mibPerS: j.bytes / 2 ** 20 / secs, iops: s.length / secs, cdfUs };
    });
  } finally {
    k.shutdown();
  }
}

export const scenario: Scenario = {
  name: 'loop-inversion',
  title: 'two cgroups on one loop device, one throttled by io.max: the other waits behind it with the kworker, not per-cgroup',
  options: {
    durationMs: { type: 'number', default: 500, exclusiveMin: 0, max: 60_000, unit: 'ms', help: 'virtual run time per design' },
    iodepth: { type: 'integer', default: 4, min: 1, max: 128, help: 'requests in flight per cgroup' },
    bs: { type: 'integer', default: 65536, min: 4096, max: 2 ** 20, multipleOf: 4096, unit: 'bytes', help: 'bytes per request' },
    slowWbps: { type: 'integer', default: 8 * 2 ** 20, min: 4096, max: 2 ** 40, unit: 'bytes/s', help: 'io.max wbps of the slow cgroup on the backing disk' },
    pollUs: { type: 'number', default: 20, min: 1, max: 1_000_000, unit: 'µs', help: 'the job loop reaps completions every pollUs of virtual time' },
    seed: { type: 'integer', default: 1, min: 0, max: 4294967295, help: 'PRNG seed' },
  },
  async run(opts): Promise<ScenarioResult> {
    const o = opts as { durationMs: number; iodepth: number; bs: number; slowWbps: number; pollUs: number; seed: number };
    const rows = [...(await runInversion('kworker', o)), ...(await runInversion('per-cgroup', o))];
    const f = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(0)} µs`);
    const lines = [
      `loop-inversion: /dev/loop0 on null_blk (direct I/O); /slow io.max wbps=${(o.slowWbps / 2 ** 20).toFixed(0)}M, /fast unlimited; ${o.bs / 1024}K writes, iodepth ${o.iodepth}, ${o.durationMs} ms`,
      `  ${'design'.padEnd(11)} ${'cgroup'.padEnd(6)} ${'p50'.padStart(9)} ${'p99'.padStart(9)} ${'MiB/s'.padStart(8)} ${'IOPS'.padStart(8)}`,
    ];
    for (const r of rows) {
      lines.push(`  ${r.design.padEnd(11)} ${r.cgroup.padEnd(6)} ${f(r.p50Us).padStart(9)} ${f(r.p99Us).padStart(9)} ${r.mibPerS.toFixed(1).padStart(8)} ${r.iops.toFixed(0).padStart(8)}`);
    }
    const fastK = rows.find((r) => r.design === 'kworker' && r.cgroup === 'fast')!;
    const fastP = rows.find((r) => r.design === 'per-cgroup' && r.cgroup === 'fast')!;
    lines.push(`outcome: /fast p99 ${f(fastK.p99Us)} behind the kworker vs ${f(fastP.p99Us)} with its own worker (x${(fastK.p99Us / fastP.p99Us).toFixed(0)}); throughput x${(fastP.mibPerS / fastK.mibPerS).toFixed(0)}`);
    return { lines, data: { rows, options: o } };
  },
};

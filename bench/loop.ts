/**
 * loop: requests/s through one loop device for 1, 4, 16 and 64 issuing cgroups, in
 * both designs (kworker, per-cgroup), on the sim runtime and the threads runtime;
 * and the worker_tree lookup each per-cgroup request pays, Wasm tree vs the
 * pure-TypeScript reference (bench/ref/rbtree.ts), at the same cgroup counts.
 *
 * Requests: 4 KiB O_DIRECT writes to /dev/loop0 (a tmpfs backing file), submitted with
 * io_submit by one task per cgroup, `QD` in flight each, reaped with io_getevents.
 *   host req/s     requests completed per second of host time (the model's speed)
 *   virtual req/s  sim only: requests per second of virtual time (what the model predicts)
 * threads runtime: the kworkers run on the host event loop (src/runtime/clock-wall.ts),
 * so "threads" measures the same driver under wall-clock time and host scheduling.
 */
import { Bench, type Task as BenchTask } from 'tinybench';
import {
  IOCB_CMD_PWRITE, Kernel, LOOP_CONFIGURE, O_CREAT, O_DIRECT, O_RDWR, ioGetevents, ioSetup, ioSubmit, loopInfo,
  type AioContext, type IoEvent, type Task,
} from '../src/index.js';
import { LoopEngine, WorkerTree } from '../src/drivers/loop/worker-tree.js';
import { RefRbTree } from './ref/rbtree.js';
import type { BenchScript, Figure, Ratio } from './types.js';

const CGROUPS = [1, 4, 16, 64];
const QD = 4;
const BS = 4096;

interface Job {
  task: Task;
  ctx: AioContext;
  fd: number;
  next: number;
}

async function throughput(runtime: 'sim' | 'threads', design: 'kworker' | 'per-cgroup', ncg: number, total: number): Promise<{ hostRps: number; virtRps: number; workers: number }> {
  const k = await Kernel.boot({ cmdline: `kwq.loop_workers=${design}`, runtime });
  try {
    const root = k.init;
    const bfd = k.open(root, '/tmp/backing', O_RDWR | O_CREAT);
    k.ftruncate(root, bfd, 64 * 2 ** 20);
    const lfd = k.open(root, '/dev/loop0', O_RDWR);
    if (k.ioctl(root, lfd, LOOP_CONFIGURE, { fd: bfd }) !== 0) throw new Error('LOOP_CONFIGURE');
    const jobs: Job[] = [];
    for (let i = 0; i < ncg; i++) {
      const task = k.spawn({ comm: `fio${i}`, cgroup: `/bench/c${i}` });
      const ctx = ioSetup(k, task, 2 * QD) as AioContext;
      jobs.push({ task, ctx, fd: k.open(task, '/dev/loop0', O_RDWR | O_DIRECT), next: i * 4096 });
    }
    let submitted = 0;
    let done = 0;
    const submit = (j: Job, n: number): void => {
      const iocbs = [];
      for (let i = 0; i < n && submitted < total; i++, submitted++) {
        iocbs.push({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: j.fd, aio_nbytes: BS, aio_offset: (j.next++ % 16384) * BS });
      }
      if (iocbs.length > 0 && ioSubmit(k, j.task, j.ctx, iocbs) !== iocbs.length) throw new Error('io_submit');
    };
    const reap = (j: Job, min: number): void => {
      const ev = ioGetevents(k, j.task, j.ctx, min, 2 * QD) as IoEvent[];
      done += ev.length;
      submit(j, ev.length);
    };
    const v0 = k.now;
    const t0 = performance.now();
    for (const j of jobs) submit(j, QD);
    if (runtime === 'sim') {
      while (done < total) {
        for (const j of jobs) reap(j, j.ctx.inflight > 0 && j === jobs[done % jobs.length] ? 1 : 0);
      }
    } else {
      while (done < total) {
        await new Promise((r) => setImmediate(r));
        for (const j of jobs) reap(j, 0);
      }
    }
    const secs = (performance.now() - t0) / 1000;
    const vsecs = (k.now - v0) / 1e9;
    const workers = loopInfo(k, 0).stats.workersCreated;
    return { hostRps: total / secs, virtRps: runtime === 'sim' ? total / vsecs : NaN, workers };
  } finally {
    k.shutdown();
  }
}

const loopBench: BenchScript = async ({ quick }) => {
  const figures: Figure[] = [];
  const ratios: Ratio[] = [];
  const total = quick ? 10_000 : 100_000;
  const rps = new Map<string, number>();
  for (const runtime of ['sim', 'threads'] as const) {
    for (const design of ['kworker', 'per-cgroup'] as const) {
      for (const n of CGROUPS) {
        await throughput(runtime, design, n, Math.min(total, 2000)); // warm-up (JIT, the wasm compile)
        const r = await throughput(runtime, design, n, total);
        const name = `loop0 4K O_DIRECT writes, ${n} cgroup(s), ${design} (${runtime})`;
        rps.set(`${runtime} ${design} ${n}`, r.hostRps);
        figures.push({ name, value: r.hostRps / 1000, unit: 'k req/s', notes: { ...(runtime === 'sim' ? { 'virtual k req/s': Number((r.virtRps / 1000).toFixed(1)) } : {}), workers: r.workers, requests: total } });
      }
    }
  }
  for (const runtime of ['sim', 'threads'] as const) {
    for (const n of CGROUPS) {
      ratios.push({ name: `${runtime}, ${n} cgroup(s): per-cgroup vs kworker host req/s`, value: rps.get(`${runtime} per-cgroup ${n}`)! / rps.get(`${runtime} kworker ${n}`)! });
    }
  }

  // worker_tree lookups at the per-cgroup path's cost: one rb_find per request
  const e = new LoopEngine(1024);
  const bench = new Bench({ name: 'loop tree', time: quick ? 25 : 300, iterations: quick ? 3 : 10, warmupTime: quick ? 10 : 100 });
  const LOOKUPS = 4096;
  const meta = new Map<string, number>();
  for (const n of CGROUPS) {
    const ids = Array.from({ length: n }, (_, i) => 2 + i * 3);
    const tree = new WorkerTree(e);
    for (const [i, id] of ids.entries()) tree.insert(id, i, 0);
    const ref = new RefRbTree(n);
    for (let i = 0; i < n; i++) {
      ref.setKey(ref.node(i + 1), ids[i]!, 0);
      ref.findAdd(ref.node(i + 1));
    }
    const seq = Uint32Array.from({ length: LOOKUPS }, (_, i) => ids[(i * 7919) % n]!);
    let sink = 0;
    bench.add(`worker_tree lookup, ${n} cgroup(s) (wasm)`, () => {
      for (let i = 0; i < LOOKUPS; i++) sink += tree.find(seq[i]!);
      if (sink === 0) throw new Error('lookup missed');
    });
    bench.add(`worker_tree lookup, ${n} cgroup(s) (ts reference)`, () => {
      for (let i = 0; i < LOOKUPS; i++) sink += ref.find(seq[i]!, 0);
      if (sink === 0) throw new Error('lookup missed');
    });
    meta.set(`worker_tree lookup, ${n} cgroup(s) (wasm)`, n);
    meta.set(`worker_tree lookup, ${n} cgroup(s) (ts reference)`, n);
  }
  await bench.run();
  const ns = new Map<string, number>();
  for (const t of bench.tasks as BenchTask[]) {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`loop bench: ${t.name} did not complete`);
    const v = (r.latency.mean * 1e6) / LOOKUPS;
    ns.set(t.name, v);
    figures.push({ name: t.name, value: v, unit: 'ns/request', notes: { samples: r.latency.samplesCount, 'rme %': Number(r.latency.rme.toFixed(1)) } });
  }
  for (const n of CGROUPS) {
    ratios.push({ name: `worker_tree lookup ${n} cgroup(s): ts reference vs wasm (ns)`, value: ns.get(`worker_tree lookup, ${n} cgroup(s) (ts reference)`)! / ns.get(`worker_tree lookup, ${n} cgroup(s) (wasm)`)! });
  }
  return {
    title: 'loop: requests/s through one loop device (1/4/16/64 cgroups, kworker vs per-cgroup, sim and threads runtimes); worker_tree lookup per request, Wasm vs TS',
    figures,
    ratios,
  };
};

export default loopBench;

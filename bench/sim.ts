/**
 * Question (issue 3, Performance): how many simulated work items does the `sim`
 * runtime run per second of wall time, with tracing off and with a '*' listener on
 * every tracepoint, and what does tracing cost?
 * Floors (the vhost driver path): >= 2 M items/s with tracing off; tracing on costs at
 * most 2x (off/on items/s <= 2); issue 10: >= 25 M items/s at batch 1024, tracing off.
 * Also: bytes allocated per charged page (issue 3, "charging a page: no allocation per
 * page in steady state").
 *
 * Two paths, each at several batch sizes (items queued between two runUntilIdle()):
 *
 *   vhost   the real driver path: /dev/vhost-net, VHOST_SET_OWNER (a vhost_task
 *           worker of a qemu process), then driver works (VhostEngine.workAlloc)
 *           queued with vhostWorkerQueue (the driver's vhost_worker_queue: QUEUED
 *           bit + llist_add in Wasm, wake_up_process when the list was empty) and run
 *           by the worker's sim thread body (llist_del_all batches in Wasm, each work
 *           dispatched to its JS fn, its virtual cost charged, cpu.stat charged per
 *           slice).
 *   bare    a kthread (k.kthreadCreate) whose body runs items from a ring in JS, as
 *           a kworker does (workqueue_queue_work / workqueue_execute_start / _end
 *           per item when enabled), woken with k.wakeUpProcess: the runtime's and
 *           the tracing's own cost, with no Wasm and no driver.
 *
 * Events per item with the listener (printed): vhost emits workqueue_queue_work and
 * workqueue_execute_start/_end per work, plus sched_wakeup and sched_slice per round
 * (5 per item at batch 1, ~3 at large batches); the bare loop the same three per item.
 *
 * items/s = items run / wall seconds of the queue+run loop. Every item bumps its own
 * counter; after each figure every counter must equal the rounds run (exactly once).
 * Tracing off and on alternate in blocks on the same booted kernel (the '*' listener
 * attached and detached), and each figure is the median of its blocks: the CPUs are
 * shared, so single blocks are noisy. The listener counts events (events/item is
 * printed): it is the cheapest listener, so the ratio is the cost of emitting.
 */
import { Kernel, O_CREAT, O_RDWR, VHOST_SET_OWNER, type Task } from '../src/index.js';
import type { VhostDev } from '../src/drivers/vhost/dev.js';
import type { VhostWork } from '../src/drivers/vhost/vhost-engine.js';
import { vhostWorkerQueue, type VhostWorker } from '../src/drivers/vhost/worker.js';
import type { SimThread, ThreadBody } from '../src/runtime/sim-thread.js';
import type { Tracepoint } from '../src/kernel/trace.js';
import type { BenchScript, Figure, Ratio } from './types.js';
import { median } from './stats.js';

/** virtual cost of one bare item (ns): a slice of 1 ms holds 10 000 */
const BARE_COST_NS = 100;

interface Path {
  name: string;
  k: Kernel;
  batch: number;
  /** queue `batch` items and run the simulation until idle */
  round(): void;
  /** every item's run count equals `rounds` */
  check(rounds: number): boolean;
}

/** The vhost driver path. */
async function vhostPath(batch: number): Promise<Path> {
  const k = await Kernel.boot({ seed: 1 });
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
  const fd = k.open(qemu, '/dev/vhost-net', O_RDWR);
  if (fd < 0 || k.ioctl(qemu, fd, VHOST_SET_OWNER) !== 0) throw new Error('bench sim: /dev/vhost-net set-up failed');
  const dev = k.fileOf(qemu, fd)!.privateData as VhostDev;
  const worker = dev.workers[0] as VhostWorker;
  const runs = new Uint32Array(batch);
  const works: VhostWork[] = [];
  // given its data, as the drivers' poll and completion works are (workAllocData)
  const fn = (i: number): void => {
    runs[i]!++;
  };
  for (let i = 0; i < batch; i++) {
    const w = dev.ve.workAllocData(fn, i);
    if (typeof w === 'number') throw new Error(`bench sim: vhost work arena full at ${i}`);
    works.push(w);
  }
  return {
    name: 'vhost', k, batch,
    round() {
      for (let i = 0; i < batch; i++) vhostWorkerQueue(worker, works[i]!);
      k.runUntilIdle();
    },
    check: (rounds) => runs.every((r) => r === rounds),
  };
}

/** A kworker-like kthread running items from a ring, in JS. */
class BareLoop implements ThreadBody {
  readonly ring: Uint32Array;
  head = 0;
  tail = 0;
  task!: Task;
  private readonly start: Tracepoint;
  private readonly end: Tracepoint;
  constructor(
    readonly k: Kernel,
    readonly runs: Uint32Array,
  ) {
    this.ring = new Uint32Array(runs.length);
    this.start = k.tp.workExecuteStart;
    this.end = k.tp.workExecuteEnd;
  }
  run(th: SimThread, budgetNs: number): boolean {
    const mask = this.ring.length - 1;
    const pid = this.task.pid;
    while (this.head !== this.tail && th.costNs < budgetNs) {
      const item = this.ring[this.head++ & mask]!;
      if (this.start.enabled) this.start.emit({ name: this.start.name, ts: this.start.now, wq: 'bench', pid, work: item });
      this.runs[item]!++;
      th.costNs += BARE_COST_NS;
      if (this.end.enabled) this.end.emit({ name: this.end.name, ts: this.end.now, wq: 'bench', pid, work: item });
    }
    return this.head !== this.tail;
  }
  /** queue_work: into the ring, wake the kthread */
  queue(item: number): void {
    this.ring[this.tail++ & (this.ring.length - 1)] = item;
    const tp = this.k.tp.workQueue;
    if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, wq: 'bench', work: item });
    this.k.wakeUpProcess(this.task);
  }
}

async function barePath(batch: number): Promise<Path> {
  const k = await Kernel.boot({ seed: 1 });
  let size = 1;
  while (size < batch) size *= 2;
  const runs = new Uint32Array(size);
  const body = new BareLoop(k, runs);
  const t = k.kthreadCreate('kworker/0:1', body);
  if (typeof t === 'number') throw new Error(`bench sim: kthread_create ${t}`);
  body.task = t;
  return {
    name: 'bare', k, batch,
    round() {
      for (let i = 0; i < batch; i++) body.queue(i);
      k.runUntilIdle();
    },
    check: (rounds) => runs.subarray(0, batch).every((r) => r === rounds),
  };
}

interface Block {
  itemsPerSec: number;
  eventsPerItem: number;
}

/** the '*' listener: one function for the whole run, as a user attaches one */
let events = 0;
const countEvent = (): void => {
  events++;
};

/** Run rounds for at least `ms` of wall time; items/s and events per item. */
function block(p: Path, ms: number, tracing: boolean, rounds: { n: number }): Block {
  events = 0;
  const off = tracing ? p.k.trace.on('*', countEvent) : null;
  let n = 0;
  const t0 = performance.now();
  let t1 = t0;
  // check the clock every few rounds only (performance.now costs ~50 ns)
  const every = Math.max(1, Math.floor(4096 / p.batch));
  do {
    for (let i = 0; i < every; i++) p.round();
    n += every;
    t1 = performance.now();
  } while (t1 - t0 < ms);
  off?.();
  rounds.n += n;
  const items = n * p.batch;
  return { itemsPerSec: items / ((t1 - t0) / 1000), eventsPerItem: events / items };
}

/**
 * Issue 3: "charging a page: no allocation per page in steady state". A task in a
 * memcg writes `pages` pages of a tmpfs file and truncates it (charge + uncharge
 * through the page cache); heap bytes per call, median of 7 blocks, measured between
 * two forced GCs (needs --expose-gc). The same bytes per call at 1 and 256 pages means
 * nothing is allocated per page; what remains is per call (the syscall's objects).
 */
async function chargeAlloc(): Promise<{ one: number; many: number } | null> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return null;
  const k = await Kernel.boot({ seed: 1 });
  try {
    const t = k.spawn({ comm: 'writer', cgroup: '/bench' });
    const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
    const per = (pages: number): number => {
      const xs: number[] = [];
      for (let r = 0; r < 8; r++) {
        gc();
        const h0 = process.memoryUsage().heapUsed;
        for (let i = 0; i < 200; i++) {
          if (k.pwrite(t, fd, pages * 4096, 0) !== pages * 4096 || k.ftruncate(t, fd, 0) !== 0) throw new Error('bench sim: pwrite/ftruncate failed');
        }
        if (r > 0) xs.push((process.memoryUsage().heapUsed - h0) / 200); // block 0 warms up (arrays grow once)
      }
      return median(xs);
    };
    per(256);
    return { one: per(1), many: per(256) };
  } finally {
    k.shutdown();
  }
}

const sim: BenchScript = async ({ quick }) => {
  const blocks = quick ? 3 : 7;
  const ms = quick ? 60 : 300;
  const batches = quick ? [1, 64, 1024] : [1, 16, 64, 256, 1024];
  const figures: Figure[] = [];
  const ratios: Ratio[] = [];
  for (const make of [vhostPath, barePath]) {
    for (const batch of batches) {
      const p = await make(batch);
      try {
        const rounds = { n: 0 };
        block(p, ms / 2, false, rounds); // warm-up, both code paths
        block(p, ms / 2, true, rounds);
        const off: Block[] = [];
        const on: Block[] = [];
        for (let b = 0; b < blocks; b++) {
          off.push(block(p, ms, false, rounds));
          on.push(block(p, ms, true, rounds));
        }
        const once = p.check(rounds.n);
        const offRate = median(off.map((b) => b.itemsPerSec));
        const onRate = median(on.map((b) => b.itemsPerSec));
        const spread = (bs: Block[]): string => {
          const r = bs.map((b) => b.itemsPerSec / 1e6);
          return `${Math.min(...r).toFixed(2)}..${Math.max(...r).toFixed(2)}`;
        };
        figures.push({
          name: `${p.name} batch ${batch}, tracing off`, value: offRate / 1e6, unit: 'M items/s',
          notes: { exactlyOnce: once, items: rounds.n * batch, spread: spread(off), eventsPerItem: median(off.map((b) => b.eventsPerItem)) },
        });
        figures.push({
          name: `${p.name} batch ${batch}, '*' listener`, value: onRate / 1e6, unit: 'M items/s',
          notes: { exactlyOnce: once, spread: spread(on), eventsPerItem: Number(median(on.map((b) => b.eventsPerItem)).toFixed(3)) },
        });
        // The "at most 2x" is about simulated work items: the driver path. A bare
        // item is a counter increment (~11 ns of host time); its three events (three
        // allocations, six calls, ~5 ns each at best) cannot fit under it, so the bare
        // ratio is printed without a floor: it is the cost of an event, in items.
        if (p.name === 'vhost') ratios.push({ name: `${p.name} batch ${batch}: tracing on cost (off/on)`, value: offRate / onRate, floor: 2, pass: offRate / onRate <= 2 });
        else ratios.push({ name: `${p.name} batch ${batch}: tracing on cost (off/on)`, value: offRate / onRate });
        if (p.name === 'vhost') {
          ratios.push({ name: `${p.name} batch ${batch}: M items/s, tracing off`, value: offRate / 1e6, floor: 2, pass: offRate >= 2e6 });
          // issue 10's floor: >= 25 M vhost works/s at batch 1024
          if (batch === 1024) ratios.push({ name: `${p.name} batch ${batch}: M items/s, tracing off (issue 10)`, value: offRate / 1e6, floor: 25, pass: offRate >= 25e6 });
        }
        if (!once) throw new Error(`bench sim: ${p.name} batch ${batch}: an item did not run exactly once per round`);
      } finally {
        p.k.shutdown();
      }
    }
  }
  const ca = await chargeAlloc();
  if (ca !== null) {
    figures.push({ name: 'charge+uncharge 1 tmpfs page per call', value: ca.one, unit: 'B/call' });
    figures.push({ name: 'charge+uncharge 256 tmpfs pages per call', value: ca.many, unit: 'B/call', notes: { bytesPerPage: Number(((ca.many - ca.one) / 255).toFixed(2)) } });
  }
  return { title: 'sim runtime: simulated work items per second of wall time, tracing off vs a \'*\' listener (issue 3)', figures, ratios };
};

export default sim;

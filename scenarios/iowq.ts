/**
 * iowq: buffered IOSQE_ASYNC writes through io_uring's io-wq, to one file vs to many
 * files, from 1..64 requests in flight. Writes to a regular file are hashed by inode
 * (io_prep_async_work -> io_wq_hash_work): one file is one hash chain, run by one
 * worker at a time however many requests are in flight; many files are many chains,
 * and workers are created when the running ones block (io_wq_worker_sleeping), up to
 * the bounded max_workers = min(sq_entries, 4 * ncpus). Every worker is a thread of
 * the submitter (iou-wrk-<pid>): its CPU and page cache are charged to the
 * submitter's cgroup, unlike loop's kworker (charged to root before 5.14) and like a
 * vhost_task (6.4+) or loop's per-cgroup worker. The write's blocking part (dirty
 * throttling, journal) is a model knob: --block-us.
 *
 * The side-by-side (--charge, on by default; scenarios/iowq-charge.ts): the same
 * buffered-write load done by io-wq's worker, loop's per-cgroup worker and <= 5.13
 * kworker, and a vhost worker as a task and as a kthread, with the process moved to
 * another cgroup half way: who is charged the memory, the io and the cpu, per cgroup.
 */
import { Kernel, IoUring, ioUringTaskWq, ioUringSetCosts, IOSQE_ASYNC, O_RDWR, O_CREAT, KwqError } from '../src/index.js';
import { CHARGE_DESIGNS, chargeLines, runCharge, type ChargeRun } from './iowq-charge.js';
import type { Scenario, ScenarioResult } from './types.js';

interface Row { files: number; inflight: number; workers: number; stalls: number; ms: number; mbps: number; cpuUsec: number }

async function runOne(files: number, inflight: number, writes: number, blockUs: number): Promise<Row> {
  const k = await Kernel.boot({ ncpus: 4 });
  ioUringSetCosts(k, { writeBlockNs: blockUs * 1000 });
  const app = k.spawn({ comm: 'db', uid: 1000, cgroup: '/db.slice' });
  const fds: number[] = [];
  for (let i = 0; i < files; i++) fds.push(k.open(app, `/tmp/f${i}`, O_RDWR | O_CREAT));
  const ring = IoUring.queueInit(k, app, 64);
  const t0 = k.now;
  let queued = 0;
  let done = 0;
  const submitOne = (): void => {
    const fd = fds[queued % files]!;
    ring.prepWrite(fd, 4096, Math.floor(queued / files) * 4096, BigInt(queued), IOSQE_ASYNC);
    queued++;
  };
  while (queued < Math.min(inflight, writes)) submitOne();
  ring.submit();
  while (done < writes) {
    ring.submitAndWait(1);
    for (const c of ring.reap()) {
      if (c.res !== 4096) throw new KwqError('scenario iowq', `write ${c.user_data} returned ${c.res}`);
      done++;
      if (queued < writes) submitOne();
    }
  }
  const ms = (k.now - t0) / 1e6;
  const wq = ioUringTaskWq(k, app)!;
  const cpu = k.readFile(k.init, '/sys/fs/cgroup/db.slice/cpu.stat') as string;
  const row: Row = {
    files, inflight, workers: wq.info.created, stalls: wq.h.stats(0).stalls, ms: Math.round(ms * 1000) / 1000,
    mbps: Math.round((writes * 4096) / (ms / 1000) / 1e6), cpuUsec: Number(/usage_usec (\d+)/.exec(cpu)?.[1] ?? 0),
  };
  k.shutdown();
  return row;
}

export const scenario: Scenario = {
  name: 'iowq',
  title: "io-wq: hashed buffered writes to one file run one at a time; many files spread over workers created as others block; charged to the submitter",
  options: {
    writes: { type: 'integer', default: 256, min: 1, max: 100_000, help: '4 KiB writes per run' },
    inflight: { type: 'integer[]', default: [1, 4, 16, 64], min: 1, max: 64, help: 'requests in flight (the ring has 64 entries)' },
    files: { type: 'integer[]', default: [1, 16], min: 1, max: 256, help: 'files written round-robin' },
    'block-us': { type: 'number', default: 50, min: 0, max: 1_000_000, unit: 'µs', help: "each write's blocking part (dirty throttling, journal), microseconds" },
    charge: { type: 'boolean', default: true, help: 'also run the side-by-side: the same buffered writes through io-wq, loop and vhost workers, who is charged' },
    'charge-writes': { type: 'integer', default: 64, min: 1, max: 4096, help: 'side-by-side: 64 KiB writes per phase' },
  },
  async run(opts): Promise<ScenarioResult> {
    const writes = opts.writes as number;
    const blockUs = opts['block-us'] as number;
    if (!Number.isInteger(writes) || writes < 1 || writes > 100_000) throw new KwqError('scenario iowq', `option 'writes' has ${writes}; expected an integer in 1..100000`);
    const rows: Row[] = [];
    for (const f of opts.files as number[]) for (const q of opts.inflight as number[]) rows.push(await runOne(f, q, writes, blockUs));
    const lines = [
      `io-wq, ${writes} x 4 KiB IOSQE_ASYNC writes, ${blockUs} us blocking part each, 4 CPUs (bounded max_workers = min(64, 4*4) = 16)`,
      'files  inflight  workers  stalls  virtual ms   MB/s   db.slice cpu usec',
      ...rows.map((r) => `${String(r.files).padStart(5)}  ${String(r.inflight).padStart(8)}  ${String(r.workers).padStart(7)}  ${String(r.stalls).padStart(6)}  ${r.ms.toFixed(3).padStart(10)}  ${String(r.mbps).padStart(5)}  ${String(r.cpuUsec).padStart(17)}`),
      'one file: one hash chain at a time however deep the queue (a second worker is made while the first blocks, then stalls on the hash); the workers are iou-wrk-<pid> threads of db, charged to /db.slice',
    ];
    const charging: ChargeRun[] = [];
    if (opts.charge as boolean) {
      const cw = opts['charge-writes'] as number;
      if (!Number.isInteger(cw) || cw < 1 || cw > 4096) throw new KwqError('scenario iowq', `option 'charge-writes' has ${cw}; expected an integer in 1..4096`);
      for (const d of CHARGE_DESIGNS) charging.push(await runCharge(d, { writes: cw }));
      lines.push('', ...chargeLines(charging, cw, 65536));
      lines.push(
        'outcome: io-wq and vhost_task workers are threads of the process: everything follows it to b.slice; loop per-cgroup charges memory and io to the issuer ' +
          'but its kworker\'s cpu to root; loop <= 5.13 charges all to root; a vhost kthread keeps its cpu in a.slice (attached once) while memory and io follow the borrowed mm',
      );
    }
    return { lines, data: { rows, charging } };
  },
};

/**
 * iowq-nproc: a process at its RLIMIT_NPROC submits IOSQE_ASYNC work. The io-wq worker
 * is a thread made by copy_process, counted against the uid: creation fails with
 * -EAGAIN. create_io_worker retries (-EAGAIN is "retry": io_should_retry_thread) through
 * the system workqueue and task_work; 5.14 retries without end (the request never
 * completes while the limit holds: raising the limit lets the next retry succeed).
 * 0453aad676ff ("io_uring/io-wq: limit retrying worker initialisation", v6.11) stops
 * after WORKER_INIT_LIMIT retries and cancels the acct's pending work: the CQE is
 * -ECANCELED. 6.12 has it, and so does 6.1: the 6.1.y backport (the oracle measured it
 * on Debian 6.1.192: oracle/scripts/iouring-nproc.json).
 */
import { Kernel, IoUring, ioUringTaskWq, IOSQE_ASYNC, O_RDWR, O_CREAT, RLIMIT_NPROC, ECANCELED, errnoName } from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

type NprocRelease = '5.14' | '6.1' | '6.12';

async function run(release: NprocRelease, waitMs: number) {
  const k = await Kernel.boot({ release });
  const app = k.spawn({ comm: 'app', uid: 1000, cgroup: '/app.slice' });
  const n = k.tasks().filter((t) => t.uid === 1000 && t.alive).length;
  k.setrlimit(app, RLIMIT_NPROC, [n, n + 1]); // soft at the limit; the hard one leaves room to raise it
  const fd = k.open(app, '/tmp/data', O_RDWR | O_CREAT);
  const ring = IoUring.queueInit(k, app, 8);
  ring.prepWrite(fd, 4096, 0, 1n, IOSQE_ASYNC);
  ring.submit();
  k.advance(waitMs);
  const cqes = ring.reap();
  const wq = ioUringTaskWq(k, app)!;
  const before = { ...wq.info, workers: wq.info.workers.length };
  let afterRaise: number | null = null;
  if (cqes.length === 0) {
    k.setrlimit(app, RLIMIT_NPROC, [n + 1, n + 1]);
    k.advance(10);
    afterRaise = ring.reap()[0]?.res ?? null;
  }
  k.shutdown();
  return { release, cqe: cqes[0]?.res ?? null, attempts: before.createFailures, retries: before.retries, created: before.workers, afterRaise };
}

const show = (r: number | null): string => (r === null ? 'none' : r === -ECANCELED ? '-ECANCELED' : r < 0 ? `-${errnoName(-r)}` : String(r));

export const scenario: Scenario = {
  name: 'iowq-nproc',
  title: 'io-wq at RLIMIT_NPROC: 5.14 retries worker creation forever; 6.1.y and 6.12 give up after 3 retries and cancel (-ECANCELED)',
  options: { 'wait-ms': { type: 'number', default: 100, min: 0, max: 600_000, unit: 'ms', help: 'virtual ms to wait for the CQE' } },
  async run(opts): Promise<ScenarioResult> {
    const waitMs = opts['wait-ms'] as number;
    const r: Awaited<ReturnType<typeof run>>[] = [];
    for (const rel of ['5.14', '6.1', '6.12'] as const) r.push(await run(rel, waitMs));
    const lines = [
      `an IOSQE_ASYNC write by a process exactly at its RLIMIT_NPROC, ${waitMs} ms of virtual time`,
      `(5.14: unlimited retries; 6.1.y (0453aad676ff backported) and 6.12: WORKER_INIT_LIMIT, then -ECANCELED):`,
      ...r.map((x) => `  ${x.release.padEnd(5)} create_io_thread failures ${x.attempts}, retries ${x.retries}, workers ${x.created}, CQE ${show(x.cqe)}` +
        (x.afterRaise !== null || x.cqe === null ? `; after raising the limit by one: CQE ${show(x.afterRaise)}` : '')),
    ];
    return { lines, data: { runs: r } };
  },
};

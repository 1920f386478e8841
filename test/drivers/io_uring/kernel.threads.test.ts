/**
 * io_uring's io-wq through the kernel API on real worker_threads (runtime 'threads',
 * src/drivers/io_uring/io-wq-threads.ts): every iou-wrk worker is a thread running the
 * Wasm io_wq_worker_loop; the kernel-model part of each request runs on the main thread
 * as the worker's Task. Checked: every request completes exactly once; works of one
 * hash (writes to one file) are never between their hand-over and their
 * io_wq_work_done on two workers at once, and run in queueing order (the main thread
 * counts it, ioWqThreadChecks); workers blocked at once overlap; threads are created
 * and leave after WORKER_IDLE_TIMEOUT on the wall clock (kwq.io_wq_idle_ms); what
 * RLIMIT_NPROC does to creation is what sim answers; a task's exit and k.shutdown()
 * leave no thread; the charging scenario's attribution is sim's.
 * Deadlines are seconds of wall time: the machine is shared and slow at times.
 */
import { describe, expect, it } from 'vitest';
import {
  ECANCELED, IOSQE_ASYNC, IoUring, Kernel, O_CREAT, O_RDWR, RLIMIT_NPROC, ioUringSetCosts, ioUringTaskWq, ioWqThreadChecks,
  ioWqThreadCount, ioWqThreadErrors, ioWqThreadsIdle, type Release,
} from '../../../src/index.js';
import { runCharge } from '../../../scenarios/iowq-charge.js';

const CG = '/sys/fs/cgroup';

async function boot(opts: { cmdline?: string; release?: Release; ncpus?: number } = {}): Promise<Kernel> {
  return Kernel.boot({ runtime: 'threads', cgroup: 'v2', ncpus: opts.ncpus ?? 4, cmdline: opts.cmdline ?? '', ...(opts.release ? { release: opts.release } : {}) });
}

/** shut down and check that no thread is left and nothing failed on the way */
async function down(k: Kernel): Promise<void> {
  k.shutdown();
  expect(await ioWqThreadsIdle(k)).toBe(true);
  expect(ioWqThreadCount(k)).toBe(0);
  expect(ioWqThreadErrors(k)).toEqual([]);
}

describe('io-wq workers on real threads', () => {
  it('hashed writes to 4 files from a queue of 64: every CQE once, no hash on two workers at once, queue order per hash, blocked workers overlap', async () => {
    const k = await boot();
    try {
      const app = k.spawn({ comm: 'db', uid: 1000, cgroup: '/app.slice' });
      ioUringSetCosts(k, { writeBlockNs: 200_000 }); // each write sleeps 0.2 ms on its worker: chains hold their hash that long
      const files = 4;
      const fds = Array.from({ length: files }, (_, i) => k.open(app, `/tmp/f${i}`, O_RDWR | O_CREAT));
      for (const fd of fds) expect(fd).toBeGreaterThanOrEqual(0);
      const ring = IoUring.queueInit(k, app, 64);
      const N = 600;
      const seen = new Map<bigint, number>();
      let sent = 0;
      const deadline = Date.now() + 30_000;
      while (seen.size < N || sent < N) {
        // writes round-robin over the files; offsets grow per file (the file's queue order)
        while (sent < N && ring.prepWrite(fds[sent % files]!, 4096, Math.floor(sent / files) * 4096, BigInt(sent), sent % 3 === 0 ? IOSQE_ASYNC : 0)) sent++;
        expect(ring.submit()).toBeGreaterThanOrEqual(0);
        await ring.waitCqes(1, 5000);
        for (const c of ring.reap()) {
          expect(c.res).toBe(4096);
          seen.set(c.user_data, (seen.get(c.user_data) ?? 0) + 1);
        }
        if (Date.now() > deadline) throw new Error(`only ${seen.size} of ${N} completions; ${JSON.stringify(ioWqThreadChecks(k))}`);
      }
      expect(seen.size).toBe(N);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect([...seen.keys()].every((u) => u >= 0n && u < BigInt(N))).toBe(true);
      const c = ioWqThreadChecks(k)!;
      expect(c.runs).toBe(N); // every write went to io-wq (it would block), each run once
      expect(c.done).toBe(N);
      expect(c.hashOverlaps).toBe(0);
      expect(c.hashReorders).toBe(0);
      expect(c.blocked).toBe(N);
      expect(c.maxInflight).toBeGreaterThanOrEqual(2); // different files' chains ran on two threads at once
      const wq = ioUringTaskWq(k, app)!;
      expect(c.started).toBe(wq.info.created);
      expect(wq.info.created).toBeGreaterThanOrEqual(2);
      expect(ioWqThreadCount(k)).toBe(wq.liveWorkers().length);
      for (const w of wq.info.workers) {
        expect(w.comm).toBe(`iou-wrk-${app.pid}`);
        expect(w.tgid).toBe(app.tgid);
      }
      expect(k.readFile(k.init, `${CG}/app.slice/memory.stat`)).toMatch(new RegExp(`^file ${N * 4096}$`, 'm'));
    } finally {
      await down(k);
    }
  }, 60_000);

  it('unhashed blocking reads of a block device run on several threads at once, each completed once', async () => {
    const k = await boot({ cmdline: 'null_blk.nr_devices=1' });
    try {
      const app = k.spawn({ comm: 'app', cgroup: '/app.slice' });
      // 20 ms per read: long against a new thread's start (tens of ms on a loaded machine), so
      // that the worker made when the first one blocks still finds reads queued
      ioUringSetCosts(k, { bdevReadBlockNs: 20_000_000 });
      const fd = k.open(app, '/dev/nullb0', O_RDWR);
      const ring = IoUring.queueInit(k, app, 32);
      for (let i = 0; i < 16; i++) ring.prepRead(fd, 4096, i * 4096, BigInt(i));
      const t0 = performance.now();
      expect(await ring.submitAndWaitAsync(16, 20_000)).toBe(16);
      const ms = performance.now() - t0;
      const cqes = ring.reap();
      expect(cqes.map((c) => c.user_data).sort((a, b) => Number(a - b))).toEqual(Array.from({ length: 16 }, (_, i) => BigInt(i)));
      expect(cqes.every((c) => c.res === 4096)).toBe(true);
      const c = ioWqThreadChecks(k)!;
      expect(c.hashOverlaps).toBe(0);
      expect(c.maxInflight).toBeGreaterThanOrEqual(2);
      // a blocked worker makes another (io_wq_dec_running -> create_worker_cb) while it sleeps
      expect(ioUringTaskWq(k, app)!.info.created).toBeGreaterThanOrEqual(2);
      expect(ms).toBeGreaterThan(20); // the blocking part is a real sleep
    } finally {
      await down(k);
    }
  }, 60_000);

  it('workers leave after WORKER_IDLE_TIMEOUT on the wall clock (kwq.io_wq_idle_ms), all but the last; the task exits: no thread left', async () => {
    const k = await boot({ cmdline: 'kwq.io_wq_idle_ms=300' });
    try {
      const app = k.spawn({ comm: 'app' });
      const fd = k.open(app, '/tmp/f', O_RDWR | O_CREAT);
      const ring = IoUring.queueInit(k, app, 8);
      ring.prepFsync(fd, 1n, IOSQE_ASYNC);
      ring.prepFsync(fd, 2n, IOSQE_ASYNC); // no free worker: IO_WQ_WORK_CONCURRENT makes a second
      expect(await ring.submitAndWaitAsync(2)).toBe(2);
      expect(ring.reap().map((c) => c.res)).toEqual([0, 0]);
      const wq = ioUringTaskWq(k, app)!;
      expect(wq.info.created).toBe(2);
      expect(ioWqThreadCount(k)).toBe(2);
      await k.sleep(100);
      expect(wq.liveWorkers().length).toBe(2); // well inside the timeout
      const deadline = Date.now() + 10_000;
      while (wq.info.exited < 1 && Date.now() < deadline) await k.sleep(20);
      await k.sleep(700); // two more timeouts: the last worker stays
      expect(wq.info.exited).toBe(1);
      expect(wq.liveWorkers().length).toBe(1);
      expect(ioWqThreadCount(k)).toBe(1);
      expect(ioWqThreadChecks(k)).toMatchObject({ started: 2, exited: 1 });
      // the survivor still works: woken from its idle sleep by the next enqueue
      ring.prepFsync(fd, 3n, IOSQE_ASYNC);
      expect(await ring.submitAndWaitAsync(1)).toBe(1);
      expect(ring.reap()).toEqual([{ user_data: 3n, res: 0, flags: 0 }]);
      expect(wq.info.created).toBe(2);
      // the submitter exits: io_wq_exit_start, its worker thread leaves
      k.exit(app, 0);
      expect(await ioWqThreadsIdle(k)).toBe(true);
      expect(ioWqThreadCount(k)).toBe(0);
      expect(wq.info.workers.every((t) => !t.alive)).toBe(true);
    } finally {
      await down(k);
    }
  }, 60_000);

  it('k.shutdown() with works blocked on their threads: every thread exits, nothing fails', async () => {
    const k = await boot();
    const app = k.spawn({ comm: 'app' });
    ioUringSetCosts(k, { writeBlockNs: 50_000_000 }); // 50 ms: still blocked at the shutdown
    const fds = [0, 1, 2].map((i) => k.open(app, `/tmp/g${i}`, O_RDWR | O_CREAT));
    const ring = IoUring.queueInit(k, app, 16);
    for (let i = 0; i < 6; i++) ring.prepWrite(fds[i % 3]!, 4096, 0, BigInt(i), IOSQE_ASYNC);
    ring.submit();
    const deadline = Date.now() + 10_000;
    while (ioWqThreadChecks(k)!.runs < 2 && Date.now() < deadline) await k.sleep(5);
    expect(ioWqThreadChecks(k)!.runs).toBeGreaterThanOrEqual(2);
    expect(ioWqThreadCount(k)).toBeGreaterThanOrEqual(2);
    await down(k);
  }, 30_000);
});

describe('RLIMIT_NPROC and worker creation: the threads runtime answers as sim', () => {
  /** the submitter at its RLIMIT_NPROC: create_io_thread gets -EAGAIN */
  async function atLimit(runtime: 'sim' | 'threads', release: Release) {
    const k = await Kernel.boot({ runtime, release });
    const t = k.spawn({ comm: 'app', uid: 1000 });
    const n = k.tasks().filter((x) => x.uid === 1000 && x.alive).length;
    k.setrlimit(t, RLIMIT_NPROC, [n, n]);
    const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
    const ring = IoUring.queueInit(k, t, 8);
    ring.prepWrite(fd, 4096, 0, 1n, IOSQE_ASYNC);
    ring.submit();
    if (runtime === 'sim') k.advance(200);
    else await k.sleep(200);
    const wq = ioUringTaskWq(k, t)!;
    const r = { created: wq.info.created, createFailures: wq.info.createFailures, retries: wq.info.retries, cqes: ring.reap(), threads: ioWqThreadCount(k) };
    if (runtime === 'threads') await down(k);
    else k.shutdown();
    return r;
  }

  for (const release of ['6.1', '6.12'] as const) {
    it(`${release}: WORKER_INIT_LIMIT retries, then -ECANCELED, no thread started`, async () => {
      const sim = await atLimit('sim', release);
      const thr = await atLimit('threads', release);
      expect(sim).toMatchObject({ created: 0, createFailures: 4, retries: 3 });
      expect(sim.cqes).toEqual([{ user_data: 1n, res: -ECANCELED, flags: 0 }]);
      expect(thr).toEqual(sim);
    });
  }

  it('5.14 (before 0453aad676ff): retried without limit in both, the request never completes', async () => {
    const sim = await atLimit('sim', '5.14');
    const thr = await atLimit('threads', '5.14');
    expect(sim.retries).toBeGreaterThan(100);
    expect(thr.retries).toBeGreaterThan(20); // one a jiffy (1 ms) of wall time, host timers permitting
    for (const r of [sim, thr]) expect(r).toMatchObject({ created: 0, cqes: [], threads: 0 });
  });

  it('below the limit a worker thread is made; at the limit the next creation fails and its work waits for the first worker', async () => {
    const k = await boot({ release: '6.12' });
    try {
      const t = k.spawn({ comm: 'app', uid: 1000 });
      const n = k.tasks().filter((x) => x.uid === 1000 && x.alive).length;
      k.setrlimit(t, RLIMIT_NPROC, [n + 1, n + 1]); // room for one iou-wrk thread
      const fd = k.open(t, '/tmp/f', O_RDWR | O_CREAT);
      const ring = IoUring.queueInit(k, t, 8);
      ring.prepFsync(fd, 1n, IOSQE_ASYNC);
      ring.prepFsync(fd, 2n, IOSQE_ASYNC);
      expect(await ring.submitAndWaitAsync(2)).toBe(2);
      expect(ring.reap().map((c) => [c.user_data, c.res])).toEqual([[1n, 0], [2n, 0]]);
      const wq = ioUringTaskWq(k, t)!;
      expect(wq.info.created).toBe(1);
      expect(wq.info.createFailures).toBeGreaterThanOrEqual(1);
      expect(ioWqThreadCount(k)).toBe(1);
    } finally {
      await down(k);
    }
  });
});

describe('charging on real threads', () => {
  it("the charging scenario's io-wq design: per phase and cgroup the same page cache, writeback and cpu attribution as sim", async () => {
    const writes = 16;
    const bs = 65536;
    const sim = await runCharge('io-wq', { writes, bs });
    const k = await boot({ cmdline: 'null_blk.nr_devices=1' });
    try {
      const root = k.init;
      expect(k.mkdir(root, `${CG}/b.slice`)).toBe(0);
      const app = k.spawn({ comm: 'app', cgroup: '/a.slice' });
      const fd = k.open(app, '/dev/nullb0', O_RDWR);
      const ring = IoUring.queueInit(k, app, 64);
      const read = (cg: string): { fileBytes: number; ioWbytes: number; cpuUsec: number } => {
        const dir = cg === '/' ? CG : `${CG}${cg}`;
        const num = (f: string, re: RegExp): number => Number(re.exec(k.readFile(root, `${dir}/${f}`) as string)?.[1] ?? 0);
        return { fileBytes: num('memory.stat', /^file (\d+)$/m), ioWbytes: num('io.stat', /^251:0 .*wbytes=(\d+)/m), cpuUsec: num('cpu.stat', /^usage_usec (\d+)$/m) };
      };
      const snapshot = () => {
        const s = { '/a.slice': read('/a.slice'), '/b.slice': read('/b.slice'), '/': read('/') };
        for (const key of ['fileBytes', 'ioWbytes', 'cpuUsec'] as const) s['/'][key] -= s['/a.slice'][key] + s['/b.slice'][key];
        return s;
      };
      type Snap = ReturnType<typeof snapshot>;
      const delta = (a: Snap, b: Snap) => Object.fromEntries((['/a.slice', '/b.slice', '/'] as const).map((c) => [c, {
        fileBytes: b[c].fileBytes - a[c].fileBytes, ioWbytes: b[c].ioWbytes - a[c].ioWbytes, cpuUsec: b[c].cpuUsec - a[c].cpuUsec,
      }])) as Snap;
      // the scenario's phase: `writes` IOSQE_ASYNC writes, then an IOSQE_ASYNC fsync
      const phase = async (n: number): Promise<void> => {
        for (let i = 0; i < writes; i++) expect(ring.prepWrite(fd, bs, (n * writes + i) * bs, BigInt(i), IOSQE_ASYNC)).toBe(true);
        expect(await ring.submitAndWaitAsync(writes)).toBe(writes);
        ring.prepFsync(fd, 0xffffn, IOSQE_ASYNC);
        expect(await ring.submitAndWaitAsync(writes + 1)).toBe(1);
        const cqes = ring.reap();
        expect(cqes.length).toBe(writes + 1);
        expect(cqes.every((c) => c.res >= 0)).toBe(true);
        await k.sleep(30); // an accounting tick of the threads' own CPU time
      };
      const wq = () => ioUringTaskWq(k, app)!;
      let s0 = snapshot();
      await phase(0);
      const p0 = delta(s0, snapshot());
      const worker = [...wq().liveWorkers()].sort((a, b) => b.runs - a.runs)[0]!.task!;
      const cgroupBefore = worker.cgroup;
      expect(k.writeFile(root, `${CG}/b.slice/cgroup.procs`, String(app.pid))).toBeGreaterThan(0);
      s0 = snapshot();
      await phase(1);
      const p1 = delta(s0, snapshot());
      expect([cgroupBefore, worker.cgroup]).toEqual([sim.worker.cgroupBefore, sim.worker.cgroupAfter]);
      // charged: more than 1 us, since root's own share is root's usage_usec minus its
      // children's, three values each rounded down: wall-clock ns leave up to 1 us there
      const charged = (usec: number): boolean => usec > 1;
      for (const [mine, theirs] of [[p0, sim.phases[0]!.by], [p1, sim.phases[1]!.by]] as const) {
        for (const cg of ['/a.slice', '/b.slice', '/'] as const) {
          expect({ cg, fileBytes: mine[cg].fileBytes, ioWbytes: mine[cg].ioWbytes, charged: charged(mine[cg].cpuUsec) })
            .toEqual({ cg, fileBytes: theirs[cg].fileBytes, ioWbytes: theirs[cg].ioWbytes, charged: charged(theirs[cg].cpuUsec) });
        }
      }
    } finally {
      await down(k);
    }
  }, 60_000);
});

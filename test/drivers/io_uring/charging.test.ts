// A worker's I/O is the submitter's: buffered writes through io_uring's io-wq are
// charged (page cache in memory.current / memory.stat file, writeback in io.stat,
// the worker's CPU in cpu.stat) to the submitter's cgroup, and to its new cgroup
// after the process moves (iou-wrk workers are threads: cgroup.procs moves them).
// Beside it, the same load through loop's kworker (<= 5.13: everything to the root
// cgroup), loop's per-cgroup worker (memory and io to the issuer, CPU to root) and a
// vhost kthread (attached once: its CPU stays behind; memory and io follow the mm).
import { describe, expect, it } from 'vitest';
import { IoUring, IOSQE_ASYNC, Kernel, O_RDWR, ioUringTaskWq } from '../../../src/index.js';
import { runCharge, type ChargeRun } from '../../../scenarios/iowq-charge.js';

const CG = '/sys/fs/cgroup';
const num = (s: string | number, re: RegExp): number => Number(re.exec(String(s))?.[1] ?? 0);
const KB64 = 65536;

describe('io-wq charging through the public API', () => {
  it('buffered writes land in the submitter memcg (memory.current, memory.stat file), io.stat after fsync, cpu.stat; then in its new cgroup after the move', async () => {
    const k = await Kernel.boot({ cmdline: 'null_blk.nr_devices=1', cgroup: 'v2', ncpus: 4 });
    const root = k.init;
    expect(k.mkdir(root, `${CG}/b.slice`)).toBe(0);
    const app = k.spawn({ comm: 'db', cgroup: '/a.slice' });
    const fd = k.open(app, '/dev/nullb0', O_RDWR);
    const ring = IoUring.queueInit(k, app, 32);
    const read = (cg: string) => ({
      current: num(k.readFile(root, `${CG}/${cg}/memory.current`) as string, /^(\d+)/),
      file: num(k.readFile(root, `${CG}/${cg}/memory.stat`) as string, /^file (\d+)$/m),
      wbytes: num(k.readFile(root, `${CG}/${cg}/io.stat`) as string, /^251:0 .*wbytes=(\d+)/m),
      cpu: num(k.readFile(root, `${CG}/${cg}/cpu.stat`) as string, /^usage_usec (\d+)$/m),
    });
    for (let i = 0; i < 16; i++) ring.prepWrite(fd, KB64, i * KB64, BigInt(i), IOSQE_ASYNC);
    expect(ring.submitAndWait(16)).toBe(16);
    expect(ring.reap().every((c) => c.res === KB64)).toBe(true);
    const wq = ioUringTaskWq(k, app)!;
    const worker = wq.info.workers[0]!;
    expect(worker.cgroup).toBe('/a.slice');
    let a = read('a.slice');
    expect(a.file).toBe(16 * KB64); // the worker's page cache: the submitter's memcg
    expect(a.current).toBeGreaterThanOrEqual(16 * KB64);
    expect(a.wbytes).toBe(0); // dirty, not written back yet
    expect(a.cpu).toBeGreaterThan(0);
    ring.prepFsync(fd, 100n, IOSQE_ASYNC);
    ring.submitAndWait(1);
    expect(ring.reap()).toEqual([{ user_data: 100n, res: 0, flags: 0 }]);
    a = read('a.slice');
    expect(a.wbytes).toBe(16 * KB64); // writeback: the blkcg of the memcg that owns the pages
    // the process moves; its io-wq worker is one of its threads and moves with it
    expect(k.writeFile(root, `${CG}/b.slice/cgroup.procs`, String(app.pid))).toBeGreaterThan(0);
    expect(worker.alive).toBe(true);
    expect(worker.cgroup).toBe('/b.slice');
    const a0 = read('a.slice');
    for (let i = 0; i < 16; i++) ring.prepWrite(fd, KB64, (16 + i) * KB64, BigInt(i), IOSQE_ASYNC);
    ring.prepFsync(fd, 101n, IOSQE_ASYNC);
    expect(ring.submitAndWait(17)).toBe(17);
    expect(ring.reap().length).toBe(17);
    expect(wq.info.workers.filter((t) => t.alive).every((t) => t.cgroup === '/b.slice')).toBe(true);
    const b = read('b.slice');
    expect(b.file).toBe(16 * KB64);
    expect(b.current).toBeGreaterThanOrEqual(16 * KB64);
    expect(b.wbytes).toBe(16 * KB64);
    expect(b.cpu).toBeGreaterThan(0);
    const a1 = read('a.slice');
    expect(a1.cpu).toBe(a0.cpu); // nothing more in the old cgroup
    expect(a1.file).toBe(a0.file); // the pages written before the move stay charged there
    expect(a1.wbytes).toBe(a0.wbytes);
    k.shutdown();
  });
});

describe('the same buffered-write load through other worker designs', () => {
  const runs = new Map<string, ChargeRun>();
  const run = async (d: Parameters<typeof runCharge>[0]): Promise<ChargeRun> => {
    let r = runs.get(d);
    if (r === undefined) { r = await runCharge(d, { writes: 16 }); runs.set(d, r); }
    return r;
  };
  const bytes = 16 * KB64;

  it('io-wq: everything to the submitter, before and after the move', async () => {
    const r = await run('io-wq');
    expect(r.worker.comm).toMatch(/^iou-wrk-\d+$/);
    expect(r.worker.flags).toContain('PF_IO_WORKER');
    // the scenario's worker is the busiest of the workers alive at the move (IOSQE_ASYNC writes
    // make one per enqueue that finds none free, and all but the last idle one exit after 5 s):
    // a thread of the process, it moves with it
    expect(r.worker.cgroupBefore).toBe('/a.slice');
    expect(r.worker.cgroupAfter).toBe('/b.slice');
    const [p0, p1] = r.phases;
    expect(p0!.by['/a.slice']).toMatchObject({ fileBytes: bytes, ioWbytes: bytes });
    expect(p0!.by['/a.slice'].cpuUsec).toBeGreaterThan(0);
    expect(p0!.by['/']).toEqual({ fileBytes: 0, ioWbytes: 0, cpuUsec: 0 });
    expect(p1!.by['/b.slice']).toMatchObject({ fileBytes: bytes, ioWbytes: bytes });
    expect(p1!.by['/b.slice'].cpuUsec).toBeGreaterThan(0);
    expect(p1!.by['/a.slice']).toEqual({ fileBytes: 0, ioWbytes: 0, cpuUsec: 0 });
    expect(p1!.by['/']).toEqual({ fileBytes: 0, ioWbytes: 0, cpuUsec: 0 });
  });

  it("loop's kworker (<= 5.13): memory, io and cpu all go to the root cgroup", async () => {
    const r = await run('loop-kworker');
    expect(r.worker.flags).toEqual(['PF_KTHREAD']);
    expect(r.worker.cgroupAfter).toBe('/');
    for (const p of r.phases) {
      expect(p.by['/']).toMatchObject({ fileBytes: bytes, ioWbytes: bytes });
      expect(p.by['/'].cpuUsec).toBeGreaterThan(0);
      for (const c of ['/a.slice', '/b.slice'] as const) expect(p.by[c]).toEqual({ fileBytes: 0, ioWbytes: 0, cpuUsec: 0 });
    }
  });

  it("loop's per-cgroup worker: memory and io to the issuer (and to its new cgroup), cpu to the root kworker", async () => {
    const r = await run('loop-per-cgroup');
    const [p0, p1] = r.phases;
    expect(p0!.by['/a.slice']).toEqual({ fileBytes: bytes, ioWbytes: bytes, cpuUsec: 0 });
    expect(p1!.by['/b.slice']).toEqual({ fileBytes: bytes, ioWbytes: bytes, cpuUsec: 0 });
    expect(p0!.by['/'].cpuUsec).toBeGreaterThan(0);
    expect(p1!.by['/'].cpuUsec).toBeGreaterThan(0);
  });

  it('a vhost kthread (attached once): its cpu stays in the old cgroup after the move; memory and io follow the borrowed mm', async () => {
    const r = await run('vhost-kthread');
    expect(r.worker.flags).toEqual(['PF_KTHREAD']);
    expect([r.worker.cgroupBefore, r.worker.cgroupAfter]).toEqual(['/a.slice', '/a.slice']);
    const [p0, p1] = r.phases;
    expect(p0!.by['/a.slice'].fileBytes).toBe(bytes);
    expect(p0!.by['/a.slice'].cpuUsec).toBeGreaterThan(0);
    expect(p1!.by['/a.slice']).toMatchObject({ fileBytes: 0, ioWbytes: 0 });
    expect(p1!.by['/a.slice'].cpuUsec).toBeGreaterThan(0); // still charged to where it was attached
    expect(p1!.by['/b.slice']).toEqual({ fileBytes: bytes, ioWbytes: bytes, cpuUsec: 0 });
    // a vhost_task (6.4+) is a thread of the owner, like io-wq's workers: it moves
    const t = await run('vhost-task');
    expect([t.worker.cgroupBefore, t.worker.cgroupAfter]).toEqual(['/a.slice', '/b.slice']);
    expect(t.phases[1]!.by['/b.slice'].cpuUsec).toBeGreaterThan(0);
    expect(t.phases[1]!.by['/a.slice'].cpuUsec).toBe(0);
  });
});

/**
 * Who is charged when a kernel worker thread writes on a process's behalf: the same
 * buffered-write load (N x bs to the page cache of /dev/nullb0, then written back)
 * issued through five worker designs, with the process moved from /a.slice to
 * /b.slice half way. Used by the `iowq` scenario (its side-by-side table) and by
 * test/drivers/io_uring/charging.test.ts. Public API only.
 *
 *   design           the thread that does the buffered write     how the load gets to it
 *   ---------------  ------------------------------------------  ------------------------------
 *   io-wq            iou-wrk-<pid>: a thread of the submitter     IOSQE_ASYNC WRITEs + FSYNC
 *   loop-per-cgroup  a loop kworker (root cgroup) with the        O_DIRECT writes to /dev/loop0
 *                    command's memcg (set_active_memcg) and       (buffered backing nullb0), then
 *                    blkcg (kthread_associate_blkcg)              fsync (flush: vfs_fsync)
 *   loop-kworker     the <= 5.13 loop kworker: no memcg, no blkcg  the same
 *   vhost-task       vhost-<pid>: a thread of the owner (6.4+)     kernel_write by the worker
 *   vhost-kthread    vhost-<pid>: a kthread attached to the        kernel_write by the worker
 *                    owner's cgroups once (SET_OWNER), with the    inside kthread_use_mm
 *                    owner's mm borrowed (kthread_use_mm)
 *
 * MODEL (vhost): vhost-scsi's LIO target is not modelled; a fileio backstore runs its
 * vfs_iter_write in the context that submits the command (target_submit from
 * vhost_scsi_handle_vq: the worker), so the vhost rows issue the writes as the worker
 * task (k.vfsWrite, k.fsync's vfs_fsync) and charge the page copies' CPU to it at
 * DEFAULT_IO_URING_COSTS.pageNs per page, the same figure io-wq's workers are charged.
 *
 * What charges what (the kernel rules the model follows, shared/kernel-reference.md):
 *   memory  page cache: the memcg of current's mm owner (get_mem_cgroup_from_mm(NULL)),
 *           or the active memcg if one is set (loop per-cgroup); a kthread with no mm:
 *           the root memcg
 *   io      cgroup v2 writeback: the blkcg of the memcg that owns the dirty pages
 *   cpu     the cpu cgroup of the thread that runs (a thread moves with its process
 *           on cgroup.procs; a kthread stays where it was attached)
 */
import {
  DEFAULT_IO_URING_COSTS, IOSQE_ASYNC, IoUring, KwqError, Kernel, LOOP_CONFIGURE, O_DIRECT, O_RDWR, PF_IO_WORKER,
  PF_KTHREAD, PF_USER_WORKER, VHOST_FORK_OWNER_KTHREAD, VHOST_SET_FORK_FROM_OWNER, VHOST_SET_OWNER, errnoName,
  loopInfo, type Release, type Task,
} from '../src/index.js';

export type ChargeDesign = 'io-wq' | 'loop-per-cgroup' | 'loop-kworker' | 'vhost-task' | 'vhost-kthread';
export const CHARGE_DESIGNS: readonly ChargeDesign[] = ['io-wq', 'loop-per-cgroup', 'loop-kworker', 'vhost-task', 'vhost-kthread'];

/** What one cgroup was charged in one phase (deltas). */
export interface Charged {
  /** memory.stat `file` (page cache), bytes */
  fileBytes: number;
  /** io.stat wbytes on nullb0 (251:0), bytes */
  ioWbytes: number;
  /** cpu.stat usage_usec */
  cpuUsec: number;
}

export interface ChargePhase {
  phase: 'in a.slice' | 'after the move to b.slice';
  /** by cgroup: '/a.slice', '/b.slice', and '/' for the root cgroup's own share (root minus a and b) */
  by: Record<'/a.slice' | '/b.slice' | '/', Charged>;
}

export interface ChargeRun {
  design: ChargeDesign;
  /** the thread that did the writes (io-wq: the one that ran the most of those alive at the move) */
  worker: { comm: string; pid: number; flags: string[]; cgroupBefore: string; cgroupAfter: string };
  /** writing the process's pid to b.slice/cgroup.procs */
  moveResult: number;
  phases: ChargePhase[];
}

export interface ChargeOptions {
  /** writes per phase (default 64) */
  writes?: number;
  /** bytes per write (default 64 KiB) */
  bs?: number;
  seed?: number;
  /** the release booted (default: Kernel.boot's); `kwq compare` runs one design at two releases */
  release?: Release;
}

const CG = '/sys/fs/cgroup';
const CGS = ['/a.slice', '/b.slice', '/'] as const;

function fail(what: string, r: number): never {
  throw new KwqError('iowq charging', `${what} returned ${r < 0 ? `-${errnoName(-r)}` : r}`);
}

function readCharged(k: Kernel, path: string): Charged {
  const dir = path === '/' ? CG : `${CG}${path}`;
  const mem = k.readFile(k.init, `${dir}/memory.stat`);
  const io = k.readFile(k.init, `${dir}/io.stat`);
  const cpu = k.readFile(k.init, `${dir}/cpu.stat`);
  if (typeof mem !== 'string' || typeof io !== 'string' || typeof cpu !== 'string') throw new KwqError('iowq charging', `cannot read the stat files of ${path}`);
  return {
    fileBytes: Number(/^file (\d+)$/m.exec(mem)?.[1] ?? 0),
    ioWbytes: Number(/^251:0 .*wbytes=(\d+)/m.exec(io)?.[1] ?? 0),
    cpuUsec: Number(/^usage_usec (\d+)$/m.exec(cpu)?.[1] ?? 0),
  };
}

type Snapshot = Record<(typeof CGS)[number], Charged>;

function snapshot(k: Kernel): Snapshot {
  const s = {} as Snapshot;
  for (const c of CGS) s[c] = readCharged(k, c);
  // the root's files count the whole hierarchy: keep its own share
  for (const key of ['fileBytes', 'ioWbytes', 'cpuUsec'] as const) s['/'][key] -= s['/a.slice'][key] + s['/b.slice'][key];
  return s;
}

function delta(a: Snapshot, b: Snapshot): Snapshot {
  const d = {} as Snapshot;
  for (const c of CGS) d[c] = { fileBytes: b[c].fileBytes - a[c].fileBytes, ioWbytes: b[c].ioWbytes - a[c].ioWbytes, cpuUsec: b[c].cpuUsec - a[c].cpuUsec };
  return d;
}

function flagNames(t: Task): string[] {
  const out: string[] = [];
  if (t.flags & PF_IO_WORKER) out.push('PF_IO_WORKER');
  if (t.flags & PF_USER_WORKER) out.push('PF_USER_WORKER');
  if (t.flags & PF_KTHREAD) out.push('PF_KTHREAD');
  return out;
}

/** One design: the load in a.slice, the process moves to b.slice, the load again (new offsets). */
export async function runCharge(design: ChargeDesign, o: ChargeOptions = {}): Promise<ChargeRun> {
  const writes = o.writes ?? 64;
  const bs = o.bs ?? 65536;
  if (!Number.isInteger(writes) || writes < 1 || writes > 4096) throw new KwqError('iowq charging', `writes must be an integer in 1..4096, got ${writes}`);
  if (!Number.isInteger(bs) || bs < 4096 || bs % 4096 !== 0 || bs > 1 << 20) throw new KwqError('iowq charging', `bs must be a multiple of 4096 up to 1 MiB, got ${bs}`);
  const loop = design === 'loop-per-cgroup' || design === 'loop-kworker';
  const cmdline = `null_blk.nr_devices=1${loop ? ` kwq.loop_workers=${design === 'loop-kworker' ? 'kworker' : 'per-cgroup'}` : ''}`;
  const k = await Kernel.boot({ cmdline, cgroup: 'v2', ncpus: 4, seed: o.seed ?? 1, ...(o.release === undefined ? {} : { release: o.release }) });
  try {
    const root = k.init;
    const r = k.mkdir(root, `${CG}/b.slice`);
    if (r < 0) fail('mkdir b.slice', r);
    const app = k.spawn({ comm: design.startsWith('vhost') ? 'qemu-system-x86' : 'app', cgroup: '/a.slice' });
    let worker: Task | null = null;
    let phase: (n: number) => void;
    if (design === 'io-wq') {
      const fd = k.open(app, '/dev/nullb0', O_RDWR);
      if (fd < 0) fail('open /dev/nullb0', fd);
      const ring = IoUring.queueInit(k, app, 64);
      phase = (n) => {
        let sent = 0;
        let done = 0;
        const check = (): void => {
          for (const c of ring.reap()) {
            if (c.res < 0) fail(`io_uring request ${c.user_data}`, c.res);
            done++;
          }
        };
        while (sent < writes) {
          while (sent < writes && ring.prepWrite(fd, bs, (n * writes + sent) * bs, BigInt(sent), IOSQE_ASYNC)) sent++;
          ring.submitAndWait(1);
          check();
        }
        ring.prepFsync(fd, 0xffffn, IOSQE_ASYNC);
        ring.submit();
        while (done < writes + 1) { ring.submitAndWait(1); check(); }
      };
    } else if (loop) {
      const lfd = k.open(root, '/dev/loop0', O_RDWR);
      const nb = k.open(root, '/dev/nullb0', O_RDWR);
      const c = k.ioctl(root, lfd, LOOP_CONFIGURE, { fd: nb, info: { lo_file_name: '/dev/nullb0' } }); // buffered backing I/O
      if (c !== 0) fail('LOOP_CONFIGURE', c);
      k.close(root, nb);
      const fd = k.open(app, '/dev/loop0', O_RDWR | O_DIRECT);
      if (fd < 0) fail('open /dev/loop0', fd);
      phase = (n) => {
        for (let i = 0; i < writes; i++) {
          const w = k.pwrite(app, fd, bs, (n * writes + i) * bs);
          if (w !== bs) fail('pwrite /dev/loop0', w);
        }
        const f = k.fsync(app, fd);
        if (f < 0) fail('fsync /dev/loop0', f);
        if (loopInfo(k, 0).stats.completed < writes) throw new KwqError('iowq charging', 'the loop device did not run the commands');
      };
    } else {
      const vfd = k.open(app, '/dev/vhost-scsi', O_RDWR);
      if (vfd < 0) fail('open /dev/vhost-scsi', vfd);
      if (design === 'vhost-kthread') {
        const s = k.ioctl(app, vfd, VHOST_SET_FORK_FROM_OWNER, VHOST_FORK_OWNER_KTHREAD);
        if (s !== 0) fail('VHOST_SET_FORK_FROM_OWNER', s);
      }
      const so = k.ioctl(app, vfd, VHOST_SET_OWNER);
      if (so !== 0) fail('VHOST_SET_OWNER', so);
      const w = k.tasks().find((t) => t.alive && t.comm === `vhost-${app.pid}`);
      if (w === undefined) throw new KwqError('iowq charging', 'no vhost worker task after VHOST_SET_OWNER');
      worker = w;
      const fd = k.open(app, '/dev/nullb0', O_RDWR);
      if (fd < 0) fail('open /dev/nullb0', fd);
      const file = k.fileOf(app, fd)!;
      const pageNs = DEFAULT_IO_URING_COSTS.pageNs;
      phase = (n) => {
        // LIO fileio in the worker's context (see the header): kthread_use_mm(dev->mm) in kthread mode
        const useMm = (w.flags & PF_KTHREAD) !== 0;
        if (useMm) k.kthreadUseMm(w, app.mm!);
        try {
          for (let i = 0; i < writes; i++) {
            const r2 = k.vfsWrite(file, w, bs, (n * writes + i) * bs);
            if (r2 !== bs) fail('kernel_write by the vhost worker', r2);
            k.chargeCpu(w, (bs / 4096) * pageNs, false);
          }
          const f = k.vfsFsync(file, w);
          if (f < 0) fail('vfs_fsync by the vhost worker', f);
        } finally {
          if (useMm) k.kthreadUnuseMm(w);
        }
      };
    }
    // the worker, where it is not known already: the thread that ran the most (sched_slice)
    // of those alive at the move. io-wq makes a worker per IOSQE_ASYNC enqueue that finds
    // none free (IO_WQ_WORK_CONCURRENT) and all but the last idle one of each acct exit
    // after 5 s (the 35 s advance after the first phase), so the busiest may be gone by then:
    // a live one is what the move acts on. io-wq's candidates are the submitter's own
    // threads (iou-wrk-<pid>), not the flusher kworkers that ran beside them.
    const ranNs = new Map<number, number>();
    const off = k.trace.on('sched_slice', (e) => {
      const pid = e.pid as number;
      if (pid !== app.pid) ranNs.set(pid, (ranNs.get(pid) ?? 0) + (e.costNs as number));
    });
    const busiestAlive = (): Task | null => {
      let best: Task | null = null;
      let bestNs = 0;
      for (const [pid, ns] of ranNs) {
        const t = k.task(pid);
        if (t === undefined || !t.alive || (design === 'io-wq' && t.tgid !== app.tgid)) continue;
        if (ns > bestNs) [best, bestNs] = [t, ns];
      }
      return best;
    };
    const phases: ChargePhase[] = [];
    let s0 = snapshot(k);
    phase(0);
    k.advance(35_000); // the periodic flusher writes back whatever an fsync did not (loop: the backing device's pages)
    let s1 = snapshot(k);
    phases.push({ phase: 'in a.slice', by: delta(s0, s1) });
    worker ??= busiestAlive();
    const wk = worker as Task | null;
    const cgroupBefore = wk?.cgroup ?? '?';
    const moveResult = k.writeFile(root, `${CG}/b.slice/cgroup.procs`, String(app.pid));
    if (typeof moveResult === 'number' && moveResult < 0) fail('echo $pid > b.slice/cgroup.procs', moveResult);
    s0 = snapshot(k);
    phase(1);
    k.advance(35_000);
    s1 = snapshot(k);
    phases.push({ phase: 'after the move to b.slice', by: delta(s0, s1) });
    off();
    const wk2 = (worker as Task | null) ?? wk;
    return {
      design,
      worker: wk2 === null ? { comm: '?', pid: 0, flags: [], cgroupBefore, cgroupAfter: '?' } : { comm: wk2.comm, pid: wk2.pid, flags: flagNames(wk2), cgroupBefore, cgroupAfter: wk2.cgroup },
      moveResult: typeof moveResult === 'number' ? moveResult : 0,
      phases,
    };
  } finally {
    k.shutdown();
  }
}

/** The side-by-side table's lines for some runs. */
export function chargeLines(runs: ChargeRun[], writes: number, bs: number): string[] {
  const KiB = (b: number): string => `${Math.round(b / 1024)}K`;
  const cell = (c: Charged): string => `${KiB(c.fileBytes)}/${KiB(c.ioWbytes)}/${c.cpuUsec}us`;
  const lines = [
    `who is charged: ${writes} x ${bs / 1024} KiB buffered writes to nullb0's page cache by a worker thread, written back; the process then moves a.slice -> b.slice and does it again`,
    `  each cell: memory.stat file / io.stat wbytes on nullb0 / cpu.stat usage, as charged in that phase`,
    `  ${'design'.padEnd(16)} ${'worker'.padEnd(34)} ${'phase'.padEnd(6)} ${'a.slice'.padStart(20)} ${'b.slice'.padStart(20)} ${'root (own)'.padStart(20)}`,
  ];
  for (const r of runs) {
    const w = `${r.worker.comm} ${r.worker.cgroupBefore}->${r.worker.cgroupAfter}`;
    r.phases.forEach((p, i) => {
      lines.push(`  ${(i === 0 ? r.design : '').padEnd(16)} ${(i === 0 ? w : '').padEnd(34)} ${(i === 0 ? 'a' : 'moved').padEnd(6)} ${cell(p.by['/a.slice']).padStart(20)} ${cell(p.by['/b.slice']).padStart(20)} ${cell(p.by['/']).padStart(20)}`);
    });
  }
  return lines;
}

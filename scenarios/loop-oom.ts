/**
 * loop-oom: the script of the "Charge loop device i/o to issuing cgroup" cover letter
 * (v5..v14, kernel-reference.md section 7), step by step with its names and sizes, on
 * both loop designs:
 *
 *   mkdir /sys/fs/cgroup/test.slice; grep oom_kill memory.events
 *   sudo unshare -m bash -c "echo $$ > cgroup.procs; echo 0 > memory.swap.max;
 *       echo 64M > memory.max; mount -t tmpfs -o size=512m tmpfs /tmp;
 *       dd if=/dev/zero of=/tmp/file bs=1M count=256"                 -> OOM kill
 *   grep oom_kill memory.events
 *   sudo unshare -m bash -c "...same set-up...; truncate -s 512m /tmp/backing_file;
 *       losetup /dev/loop0 /tmp/backing_file; dd if=/dev/zero of=/dev/loop0 bs=1M
 *       count=256; losetup -D /dev/loop0"                  -> kworker: none, per-cgroup: OOM
 *   grep oom_kill memory.events
 *
 * Model notes: `dd` faults in its 1 MiB buffer (bs=1M), which is what makes it, not the
 * shell, the OOM killer's choice. When each `bash -c` ends, its private mount namespace
 * and the tmpfs in it go away; kwq does not free a tmpfs with its last mount, so the
 * shell unlinks its files before it exits (Divergence, listed in the report).
 */
import {
  CLONE_NEWNS, Kernel, LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_GET_FREE, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY, loopInfo,
  type Task,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

const CG = '/sys/fs/cgroup/test.slice';
const MiB = 1 << 20;

export interface LoopOomStep {
  step: string;
  /** oom_kill in test.slice/memory.events after the step (grep oom_kill) */
  oomKill: number;
}

export interface LoopOomRun {
  design: 'kworker' | 'per-cgroup';
  steps: LoopOomStep[];
  /** bytes dd wrote to /dev/loop0 before it finished or was killed */
  ddLoopBytes: number;
  ddLoopKilled: boolean;
  /** shmem of the backing file charged to test.slice, and to the root cgroup (bytes, after the loop dd) */
  shmemTestSlice: number;
  shmemRoot: number;
  /** commands the loop device ran, and the loop_workers it made */
  loopCommands: number;
  loopWorkers: number;
  virtualMs: number;
}

function oomKill(k: Kernel): number {
  const ev = k.readFile(k.init, `${CG}/memory.events`);
  if (typeof ev !== 'string') throw new Error(`read memory.events: ${ev}`);
  return Number(/^oom_kill (\d+)$/m.exec(ev)![1]);
}

function statBytes(k: Kernel, dir: string, key: string): number {
  const s = k.readFile(k.init, `${dir}/memory.stat`) as string;
  return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(s)?.[1] ?? 0);
}

/** `fork + exec`: a child of the shell running `comm` */
function run(k: Kernel, sh: Task, comm: string): Task {
  const t = k.fork(sh);
  if (typeof t === 'number') throw new Error(`fork ${comm}: ${t}`);
  t.comm = comm;
  return t;
}

/** sudo unshare -m bash -c "echo $$ > cgroup.procs; echo 0 > memory.swap.max; echo 64M > memory.max; mount tmpfs" */
function shell(k: Kernel): Task {
  const sh = k.spawn({ comm: 'bash' });
  const ok = (r: number | string, what: string): void => {
    if (typeof r === 'number' && r < 0) throw new Error(`${what}: ${r}`);
  };
  ok(k.unshare(sh, CLONE_NEWNS), 'unshare -m');
  ok(k.writeFile(sh, `${CG}/cgroup.procs`, `${sh.pid}\n`), 'echo $$ > cgroup.procs');
  ok(k.writeFile(sh, `${CG}/memory.swap.max`, '0'), 'memory.swap.max');
  ok(k.writeFile(sh, `${CG}/memory.max`, '64M'), 'memory.max');
  ok(k.mount(sh, 'tmpfs', '/tmp', 'tmpfs', 'size=512m'), 'mount -t tmpfs');
  return sh;
}

/** dd if=/dev/zero of=PATH bs=1M count=N: bytes written; stops at the first error */
function dd(k: Kernel, sh: Task, path: string, flags: number, count: number): { bytes: number; killed: boolean; task: Task } {
  const t = run(k, sh, 'dd');
  const zero = k.open(t, '/dev/zero', O_RDONLY);
  k.faultAnon(t, MiB); // the bs=1M buffer
  const out = k.open(t, path, flags);
  let bytes = 0;
  if (out >= 0) {
    for (let i = 0; i < count && t.alive; i++) {
      if (k.pread(t, zero, MiB, 0) < 0) break;
      const r = k.pwrite(t, out, MiB, i * MiB);
      if (r < 0) break;
      bytes += r;
    }
  }
  const killed = !t.alive;
  if (t.alive) k.exit(t, 0); // exit closes the files: the last close of /dev/loop0 writes its cache back
  return { bytes, killed, task: t };
}

/** the shell ends: its mount namespace's tmpfs goes with it (modelled by unlinking its files) */
function endShell(k: Kernel, sh: Task, files: string[]): void {
  if (!sh.alive) return;
  for (const f of files) k.unlink(sh, f);
  k.exit(sh, 0);
}

export async function runLoopOom(design: 'kworker' | 'per-cgroup', seed: number): Promise<LoopOomRun> {
  const k = await Kernel.boot({ cmdline: `kwq.loop_workers=${design}`, cgroup: 'v2', seed });
  try {
    const root = k.init;
    if (k.stat(root, CG) === -2) k.mkdir(root, CG);
    const steps: LoopOomStep[] = [{ step: 'grep oom_kill (start)', oomKill: oomKill(k) }];
    // Set a memory limit, write more than that limit to tmpfs -> OOM kill
    const sh1 = shell(k);
    dd(k, sh1, '/tmp/file', O_WRONLY | O_CREAT, 256);
    endShell(k, sh1, ['/tmp/file']);
    steps.push({ step: 'dd 256M to /tmp/file (tmpfs)', oomKill: oomKill(k) });
    // Set a memory limit, write more than that limit through loopback device
    const sh2 = shell(k);
    const tr = run(k, sh2, 'truncate');
    const tfd = k.open(tr, '/tmp/backing_file', O_WRONLY | O_CREAT);
    k.ftruncate(tr, tfd, 512 * MiB);
    k.exit(tr, 0);
    const ls = run(k, sh2, 'losetup');
    const ctl = k.open(ls, '/dev/loop-control', O_RDWR);
    const n = k.ioctl(ls, ctl, LOOP_CTL_GET_FREE);
    if (n !== 0) throw new Error(`LOOP_CTL_GET_FREE gave ${n}, the script names /dev/loop0`);
    const lfd = k.open(ls, '/dev/loop0', O_RDWR);
    const bfd = k.open(ls, '/tmp/backing_file', O_RDWR);
    const cr = k.ioctl(ls, lfd, LOOP_CONFIGURE, { fd: bfd, info: { lo_file_name: '/tmp/backing_file' } });
    if (cr !== 0) throw new Error(`LOOP_CONFIGURE: ${cr}`);
    k.exit(ls, 0);
    const d = dd(k, sh2, '/dev/loop0', O_WRONLY, 256);
    const shmemTestSlice = statBytes(k, CG, 'shmem');
    const shmemRoot = statBytes(k, '/sys/fs/cgroup', 'shmem') - shmemTestSlice;
    const info = loopInfo(k, 0);
    // losetup -D (runs only if the shell survived, as in the script)
    if (sh2.alive) {
      const lsd = run(k, sh2, 'losetup');
      const l = k.open(lsd, '/dev/loop0', O_RDWR);
      if (l >= 0) {
        k.ioctl(lsd, l, LOOP_CLR_FD);
        k.exit(lsd, 0);
      }
    }
    endShell(k, sh2, ['/tmp/backing_file']);
    steps.push({ step: 'dd 256M to /dev/loop0 (loop on tmpfs)', oomKill: oomKill(k) });
    return {
      design, steps, ddLoopBytes: d.bytes, ddLoopKilled: d.killed, shmemTestSlice, shmemRoot,
      loopCommands: info.stats.completed, loopWorkers: info.stats.workersCreated, virtualMs: k.now / 1e6,
    };
  } finally {
    k.shutdown();
  }
}

export const scenario: Scenario = {
  name: 'loop-oom',
  title: 'the loop series\' OOM script: writes through /dev/loop0 escape memory.max with the kworker, not per-cgroup',
  options: {
    seed: { type: 'integer', default: 1, min: 0, max: 4294967295, help: 'PRNG seed' },
  },
  async run(opts): Promise<ScenarioResult> {
    const seed = opts['seed'] as number;
    const kw = await runLoopOom('kworker', seed);
    const pc = await runLoopOom('per-cgroup', seed);
    const M = (b: number): string => `${(b / MiB).toFixed(0)}M`;
    const lines = [
      'loop-oom: test.slice memory.max=64M swap.max=0, 512M tmpfs; oom_kill read back from memory.events after each step',
      `  ${'step'.padEnd(40)} ${'kworker (<=5.13)'.padStart(17)} ${'per-cgroup (5.14+)'.padStart(19)}`,
    ];
    for (let i = 0; i < kw.steps.length; i++) {
      lines.push(`  ${kw.steps[i]!.step.padEnd(40)} ${`oom_kill ${kw.steps[i]!.oomKill}`.padStart(17)} ${`oom_kill ${pc.steps[i]!.oomKill}`.padStart(19)}`);
    }
    const loopKills = (r: LoopOomRun): number => r.steps[2]!.oomKill - r.steps[1]!.oomKill;
    lines.push(`  ${'dd to /dev/loop0 wrote'.padEnd(40)} ${M(kw.ddLoopBytes).padStart(17)} ${`${M(pc.ddLoopBytes)}${pc.ddLoopKilled ? ' (killed)' : ''}`.padStart(19)}`);
    lines.push(`  ${'backing shmem charged to test.slice/root'.padEnd(40)} ${`${M(kw.shmemTestSlice)}/${M(kw.shmemRoot)}`.padStart(17)} ${`${M(pc.shmemTestSlice)}/${M(pc.shmemRoot)}`.padStart(19)}`);
    lines.push(`outcome: through the loop device kworker ${loopKills(kw)} OOM kill(s), per-cgroup ${loopKills(pc)} (the cover letter: none before the series, OOM kills after)`);
    return { lines, data: { kworker: kw, perCgroup: pc, loopOomKills: { kworker: loopKills(kw), perCgroup: loopKills(pc) } } };
  },
};

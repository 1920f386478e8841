/**
 * vm-cpu-max: a VM's cgroup gets a CPU limit (cpu.max) while the guest drives I/O
 * through a vhost device. Who is throttled with the VM, what throughput is left, and
 * where the worker's CPU time lands: before, and after QEMU's process is moved into a
 * threaded sub-cgroup vm1/emulator (as libvirt places the emulator threads; cpu is a
 * threaded controller, so vm1 may enable it beside the tasks it still holds) that has
 * its own limit.
 *
 * 6.1: the vhost worker is a kthread attached to QEMU's cgroup at VHOST_SET_OWNER
 * (cgroup_attach_task_all). It is throttled with vm1, but it stays in vm1 when QEMU
 * moves: the emulator's limit does not reach it (it escapes into vm1's share).
 * 6.12: the worker is a vhost_task, a thread of QEMU: it moves with QEMU and is
 * throttled by vm1/emulator's limit as well as vm1's.
 *
 * The traffic is fio on a vCPU thread of QEMU over vhost-scsi (the public API's guest
 * driver); the worker design is the same vhost worker as vhost-net's. The sim runtime
 * enforces cpu.max per period (kernel/sched/fair.c's CFS bandwidth: cpu-bandwidth.ts).
 */
import {
  Kernel, PF_KTHREAD, FioJob, errnoName, KwqError, type Task,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';
import { startVmGuest } from './vm-guest.js';

const CG = '/sys/fs/cgroup';
const VM = `${CG}/machine.slice/vm1`;
const PERIOD_US = 100_000;

export interface VmCpuMaxPhase {
  /** I/Os completed in the phase */
  ios: number;
  /** vm1's cpu.stat nr_throttled / throttled_usec during the phase */
  nrThrottled: number;
  throttledUs: number;
  /** vm1/emulator's nr_throttled (after the move) */
  emulatorThrottled: number;
  /** the worker's cgroup and CPU time (sched_slice) in the phase */
  workerCgroup: string;
  workerUs: number;
  /** CPU time by cgroup (µs) */
  cpuByCgroup: Record<string, number>;
}

export interface VmCpuMaxRun {
  release: '6.1' | '6.12';
  percent: number;
  workerIsKthread: boolean;
  before: VmCpuMaxPhase;
  after: VmCpuMaxPhase;
}

function must(r: number | string, what: string): void {
  if (typeof r === 'number' && r < 0) throw new KwqError('scenario vm-cpu-max', `${what} returned -${errnoName(-r)}`);
}

function cpuStat(k: Kernel, path: string): Record<string, number> {
  const s = k.readFile(k.init, `${path}/cpu.stat`);
  if (typeof s === 'number') throw new KwqError('scenario vm-cpu-max', `cannot read ${path}/cpu.stat: -${errnoName(-s)}`);
  return Object.fromEntries(s.trim().split('\n').map((l) => { const [a, b] = l.split(' '); return [a!, Number(b)]; }));
}

function phase(k: Kernel, worker: Task, job: FioJob, ms: number): VmCpuMaxPhase {
  const cpuBy = new Map<string, number>();
  let workerNs = 0;
  const off = k.trace.on('sched_slice', (e) => {
    const t = k.task(e.pid as number);
    if (t === undefined) return;
    const ns = e.costNs as number;
    cpuBy.set(t.cgroup, (cpuBy.get(t.cgroup) ?? 0) + ns);
    if (t === worker) workerNs += ns;
  });
  const emu = (): number => (k.readdir(k.init, VM) as string[]).includes('emulator') ? cpuStat(k, `${VM}/emulator`).nr_throttled ?? 0 : 0;
  const s0 = cpuStat(k, VM);
  const e0 = emu();
  const ios0 = job.completed;
  k.advance(ms);
  off();
  const s1 = cpuStat(k, VM);
  return {
    ios: job.completed - ios0,
    nrThrottled: s1.nr_throttled! - s0.nr_throttled!,
    throttledUs: s1.throttled_usec! - s0.throttled_usec!,
    emulatorThrottled: emu() - e0,
    workerCgroup: worker.cgroup,
    workerUs: Math.round(workerNs / 1000),
    cpuByCgroup: Object.fromEntries([...cpuBy].map(([c, ns]) => [c, Math.round(ns / 1000)])),
  };
}

async function runOne(release: '6.1' | '6.12', percent: number, emulatorPercent: number, ms: number): Promise<VmCpuMaxRun> {
  const k = await Kernel.boot({ release, cgroup: 'v2', ncpus: 2, runtime: 'sim' });
  try {
    const root = k.init;
    must(k.mkdir(root, `${CG}/machine.slice`), 'mkdir machine.slice');
    must(k.writeFile(root, `${CG}/cgroup.subtree_control`, '+cpu'), '+cpu in the root');
    must(k.writeFile(root, `${CG}/machine.slice/cgroup.subtree_control`, '+cpu'), '+cpu in machine.slice');
    const { qemu, worker, job } = startVmGuest(k, 'vm-cpu-max', 32);
    must(k.writeFile(root, `${VM}/cpu.max`, `${Math.round((PERIOD_US * percent) / 100)} ${PERIOD_US}`), 'vm1/cpu.max');
    const before = phase(k, worker, job, ms);
    // libvirt places the emulator: +cpu below vm1 (a threaded controller: allowed beside the tasks in vm1),
    // a threaded child vm1/emulator, QEMU's process into it, and its own limit
    must(k.writeFile(root, `${VM}/cgroup.subtree_control`, '+cpu'), '+cpu in vm1');
    must(k.mkdir(root, `${VM}/emulator`), 'mkdir emulator');
    must(k.writeFile(root, `${VM}/emulator/cgroup.type`, 'threaded'), 'emulator/cgroup.type');
    must(k.writeFile(root, `${VM}/emulator/cgroup.procs`, String(qemu.pid)), 'emulator/cgroup.procs');
    must(k.writeFile(root, `${VM}/emulator/cpu.max`, `${Math.round((PERIOD_US * emulatorPercent) / 100)} ${PERIOD_US}`), 'emulator/cpu.max');
    const after = phase(k, worker, job, ms);
    job.stop();
    return { release, percent, workerIsKthread: (worker.flags & PF_KTHREAD) !== 0, before, after };
  } finally {
    k.shutdown();
  }
}

export const scenario: Scenario = {
  name: 'vm-cpu-max',
  title: 'cpu.max on a VM: the vhost worker is throttled with it; after QEMU moves to a sub-cgroup only 6.12\'s worker follows',
  options: {
    percents: { type: 'integer[]', default: [25, 50, 100], min: 1, max: 200, unit: '%', help: 'vm1\'s cpu.max as a percentage of one CPU (period 100 ms)' },
    emulator: { type: 'integer', default: 10, min: 1, max: 200, unit: '%', help: 'vm1/emulator\'s cpu.max after the move' },
    ms: { type: 'number', default: 1000, exclusiveMin: 0, max: 60_000, unit: 'ms', help: 'virtual ms of guest I/O per phase' },
  },
  async run(opts): Promise<ScenarioResult> {
    const percents = (opts.percents ?? [25, 50, 100]) as number[];
    const emulator = (opts.emulator ?? 10) as number;
    const ms = (opts.ms ?? 1000) as number;
    if (!(ms > 0)) throw new KwqError('scenario vm-cpu-max', `option 'ms' has ${ms}; expected a number > 0`);
    const runs: VmCpuMaxRun[] = [];
    for (const release of ['6.1', '6.12'] as const) for (const p of percents) runs.push(await runOne(release, p, emulator, ms));
    const iops = (n: number): string => `${Math.round(n / (ms / 1000))}/s`;
    const lines = [
      `design: 6.1's vhost worker is a kthread attached to QEMU's cgroup at VHOST_SET_OWNER; 6.12's is a thread of QEMU (vhost_task)`,
      `setting: vm1 at cpu.max ${percents.join('/')} % of a CPU, fio over vhost for ${ms} ms; then QEMU moves into vm1/emulator at ${emulator} % for ${ms} ms`,
      'release  vm1 %  worker   | before: IOPS      vm1 thr  worker cg             | after: IOPS      vm1 thr  emu thr  worker cg',
    ];
    for (const r of runs) {
      lines.push(
        `${r.release.padEnd(8)} ${String(r.percent).padStart(5)}  ${(r.workerIsKthread ? 'kthread' : 'thread').padEnd(8)} | ` +
        `${iops(r.before.ios).padStart(12)}  ${String(r.before.nrThrottled).padStart(7)}  ${r.before.workerCgroup.padEnd(20)} | ` +
        `${iops(r.after.ios).padStart(11)}  ${String(r.after.nrThrottled).padStart(7)}  ${String(r.after.emulatorThrottled).padStart(7)}  ${r.after.workerCgroup}`,
      );
    }
    lines.push(
      'outcome: before the move both workers are throttled with vm1 (its periods count nr_throttled); after it 6.12\'s worker ' +
        'is in vm1/emulator under the emulator\'s limit with QEMU, while 6.1\'s kthread stays in vm1 and runs on vm1\'s quota only',
    );
    return { lines, data: { runs } };
  },
};

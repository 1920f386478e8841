/**
 * vm-freeze: the VM's cgroup is frozen (cgroup.freeze 1) while the guest has I/O queued
 * on a vhost device. What runs while frozen, and what cgroup.events says, per design:
 *
 * 6.1: the vhost worker is a kthread in the VM's cgroup. Kthreads never enter the
 * freezer trap, so the worker keeps draining what was queued (then nothing more comes:
 * the vCPU thread that submits is frozen), and the cgroup never reports frozen 1.
 * 6.12: the worker is a vhost_task (PF_USER_WORKER), frozen with QEMU: the queue stays
 * as it was until the thaw, and cgroup.events says frozen 1.
 */
import {
  Kernel, PF_KTHREAD, errnoName, KwqError,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';
import { startVmGuest } from './vm-guest.js';

const VM = '/sys/fs/cgroup/machine.slice/vm1';

export interface VmFreezeRun {
  release: '6.1' | '6.12';
  workerIsKthread: boolean;
  /** I/Os completed before, while and after frozen */
  iosBefore: number;
  iosFrozen: number;
  iosAfter: number;
  /** I/Os the device (the worker) completed while frozen, reaped or not */
  deviceFrozen: number;
  /** the worker's CPU time (µs) while frozen */
  workerUsFrozen: number;
  /** cgroup.events' frozen line while frozen and after the thaw */
  frozenWhileFrozen: number;
  frozenAfterThaw: number;
}

/** descriptors the guest queues right before the freeze */
const BURST = 64;

function must(r: number | string, what: string): void {
  if (typeof r === 'number' && r < 0) throw new KwqError('scenario vm-freeze', `${what} returned -${errnoName(-r)}`);
}

function frozen(k: Kernel): number {
  const s = k.readFile(k.init, `${VM}/cgroup.events`);
  if (typeof s === 'number') throw new KwqError('scenario vm-freeze', `cgroup.events: -${errnoName(-s)}`);
  return Number(/frozen (\d)/.exec(s)?.[1] ?? -1);
}

async function runOne(release: '6.1' | '6.12', ms: number, iodepth: number): Promise<VmFreezeRun> {
  const k = await Kernel.boot({ release, cgroup: 'v2', ncpus: 2, runtime: 'sim' });
  try {
    const { worker, q, job } = startVmGuest(k, 'vm-freeze', iodepth);
    k.advance(ms);
    const iosBefore = job.completed;
    // freeze with works queued: the guest keeps iodepth requests in flight
    // the guest has just queued a burst and kicked (a vCPU's last act before it is
    // frozen): those works wait in the device when cgroup.freeze is written
    if (q.post(BURST)) q.notify();
    const deviceAtFreeze = q.deviceCompleted;
    must(k.writeFile(k.init, `${VM}/cgroup.freeze`, '1'), 'cgroup.freeze 1');
    let workerNs = 0;
    const off = k.trace.on('sched_slice', (e) => {
      if (e.pid === worker.pid) workerNs += e.costNs as number;
    });
    k.advance(ms);
    off();
    const iosFrozen = job.completed - iosBefore;
    const deviceFrozen = q.deviceCompleted - deviceAtFreeze;
    const frozenWhileFrozen = frozen(k);
    must(k.writeFile(k.init, `${VM}/cgroup.freeze`, '0'), 'cgroup.freeze 0');
    k.advance(ms);
    const iosAfter = job.completed - iosBefore - iosFrozen;
    const frozenAfterThaw = frozen(k);
    job.stop();
    return {
      release, workerIsKthread: (worker.flags & PF_KTHREAD) !== 0, iosBefore, iosFrozen, deviceFrozen, iosAfter,
      workerUsFrozen: Math.round(workerNs / 1000), frozenWhileFrozen, frozenAfterThaw,
    };
  } finally {
    k.shutdown();
  }
}

export const scenario: Scenario = {
  name: 'vm-freeze',
  title: 'freezing a VM\'s cgroup: 6.1\'s kthread worker keeps draining and the cgroup never reports frozen; 6.12\'s freezes with QEMU',
  options: {
    ms: { type: 'number', default: 100, exclusiveMin: 0, max: 60_000, unit: 'ms', help: 'virtual ms before, while and after frozen' },
    iodepth: { type: 'integer', default: 32, min: 1, max: 1024, help: 'requests the guest keeps queued' },
  },
  async run(opts): Promise<ScenarioResult> {
    const ms = (opts.ms ?? 100) as number;
    const iodepth = (opts.iodepth ?? 32) as number;
    if (!(ms > 0)) throw new KwqError('scenario vm-freeze', `option 'ms' has ${ms}; expected a number > 0`);
    const runs = [await runOne('6.1', ms, iodepth), await runOne('6.12', ms, iodepth)];
    const lines = [
      'design: the cgroup v2 freezer traps user threads (PF_USER_WORKER included) and never kthreads',
      `setting: fio (iodepth ${iodepth}) over vhost in ${VM}; ${ms} ms running, then a burst of ${BURST} queued and kicked, ` +
        `${ms} ms with cgroup.freeze 1, ${ms} ms thawed`,
      'release  worker   IOs before  IOs reaped frozen  completed by the device frozen  worker cpu frozen  frozen (while / after thaw)  IOs after',
      ...runs.map((r) =>
        `${r.release.padEnd(8)} ${(r.workerIsKthread ? 'kthread' : 'thread').padEnd(8)} ${String(r.iosBefore).padStart(10)}  ` +
        `${String(r.iosFrozen).padStart(17)}  ${String(r.deviceFrozen).padStart(30)}  ${`${(r.workerUsFrozen / 1000).toFixed(3)} ms`.padStart(17)}  ` +
        `${`${r.frozenWhileFrozen} / ${r.frozenAfterThaw}`.padStart(27)}  ${String(r.iosAfter).padStart(9)}`),
      'outcome: 6.1\'s kthread drains what the guest had queued while the cgroup is "frozen" (and cgroup.events never says ' +
        'frozen 1); 6.12\'s vhost_task drains nothing until the thaw, and the cgroup reports frozen 1',
    ];
    return { lines, data: { runs } };
  },
};

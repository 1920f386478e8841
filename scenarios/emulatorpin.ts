/**
 * emulatorpin: cgroup v2. QEMU starts in the VM's cgroup /machine.slice/vm1 and sets
 * its vhost-scsi device up there; then its emulator threads move to a child cgroup,
 * vm1/emulator: the whole QEMU process, by writing its pid to cgroup.procs (which
 * moves every thread of its group), and libvirt enables the memory controller below
 * vm1.
 *
 * Task mode: the vhost worker is one of QEMU's threads, so it moves with the process
 * and its CPU time lands in vm1/emulator, inside the VM's cgroup.
 * Kthread mode: the worker is a kthread, not a thread of QEMU; it stays where
 * cgroup_attach_task_all put it at VHOST_SET_OWNER (a snapshot of QEMU's cgroup then:
 * vm1 itself, since 5.16 also on cgroup v2), its CPU time lands in vm1's own share
 * outside `emulator`, and as a task left in vm1 it makes +memory there -EBUSY (no
 * internal processes).
 *
 * `--layout threaded` builds the libvirt-style thread layout instead: vm1 enables the
 * threaded cpu controller (allowed beside QEMU: cgroup_vet_subtree_control_enable),
 * gets threaded children `emulator` and `vcpu0`, and every thread of QEMU is written to
 * one of them by tid (cgroup.threads): the vCPU thread to vcpu0, the rest (as libvirt
 * lists /proc/<qemu>/task) to emulator. The task-mode worker is among QEMU's threads;
 * the kthread is not, and stays in vm1 itself. vm1 is then a thread root, so +memory
 * below it is -EOPNOTSUPP in both modes.
 */
import {
  Kernel, O_RDWR, VHOST_FORK_OWNER_KTHREAD, VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_VQ_IO, VHOST_SET_FORK_FROM_OWNER,
  VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, PF_KTHREAD, VirtioQueue, FioJob, errnoName, KwqError,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

const VM = '/sys/fs/cgroup/machine.slice/vm1';

export type EmulatorpinLayout = 'procs' | 'threaded';

export interface EmulatorpinRun {
  mode: 'task' | 'kthread';
  layout: EmulatorpinLayout;
  workerPid: number;
  workerIsKthread: boolean;
  /** the worker's cgroup when VHOST_SET_OWNER returned */
  workerCgroupAtSetOwner: string;
  /** procs: writing QEMU's pid to vm1/emulator/cgroup.procs; threaded: the worst of the cgroup.threads writes */
  moveResult: number;
  /** the worker's cgroup after QEMU's process moved */
  workerCgroup: string;
  /** enabling +memory in vm1 afterwards (a task left in vm1 blocks it: no internal processes) */
  enableMemoryResult: number;
  /** CPU time (sched_slice) of tasks by where they were: vm1/emulator, vm1 itself */
  emulatorUs: number;
  vmOwnUs: number;
  workerUs: number;
  /** cpu.stat usage_usec of vm1 (its whole subtree) */
  vmCpuStatUs: number;
  ioCompleted: number;
}

function usec(k: Kernel, path: string): number {
  const s = k.readFile(k.init, `${path}/cpu.stat`);
  if (typeof s === 'number') throw new KwqError('scenario emulatorpin', `cannot read ${path}/cpu.stat: ${s}`);
  const m = /usage_usec (\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

function must(r: number | string, what: string): void {
  if (typeof r === 'number' && r < 0) throw new KwqError('scenario emulatorpin', `${what} returned -${errnoName(-r)}`);
}

async function runMode(mode: 'task' | 'kthread', ms: number, layout: EmulatorpinLayout): Promise<EmulatorpinRun> {
  const k = await Kernel.boot({ cgroup: 'v2', ncpus: 4 });
  try {
    const root = k.init;
    // libvirt starts QEMU in the VM's cgroup; QEMU sets its devices up there
    const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
    const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
    must(fd, 'open /dev/vhost-scsi');
    if (mode === 'kthread') must(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, VHOST_FORK_OWNER_KTHREAD), 'VHOST_SET_FORK_FROM_OWNER');
    must(k.ioctl(qemu, fd, VHOST_SET_OWNER), 'VHOST_SET_OWNER');
    // QEMU gives the device its memory table before the endpoint (vhost_vq_access_ok: EFAULT before it)
    must(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 0, padding: 0 }), 'VHOST_SET_MEM_TABLE');
    must(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, { abi_version: 1, vhost_wwpn: 'naa.5001405000000002', vhost_tpgt: 1, reserved: 0 }), 'SET_ENDPOINT');
    const worker = k.tasks().find((t) => t.comm === `vhost-${qemu.pid}`);
    if (worker === undefined) throw new KwqError('scenario emulatorpin', 'no vhost worker task');
    const workerCgroupAtSetOwner = worker.cgroup;
    const q = VirtioQueue.attach(k, qemu, fd, VHOST_SCSI_VQ_IO);
    if (typeof q === 'number') throw new KwqError('scenario emulatorpin', `VirtioQueue.attach returned ${q}`);
    // a vCPU thread of QEMU runs fio on the first io vq (started now so that it exists
    // when libvirt places the threads; no time passes before the move)
    const job = FioJob.start(k, qemu, q, { iodepth: 32, comm: 'CPU 0/KVM' });
    if (typeof job === 'number') throw new KwqError('scenario emulatorpin', `FioJob.start returned ${job}`);
    let moveResult: number;
    if (layout === 'procs') {
      // the emulator threads (the QEMU process: every thread of its group) move to a child cgroup
      must(k.mkdir(root, `${VM}/emulator`), 'mkdir emulator');
      moveResult = k.writeFile(root, `${VM}/emulator/cgroup.procs`, String(qemu.pid));
      must(moveResult, 'emulator/cgroup.procs');
    } else {
      must(k.writeFile(root, `${VM}/cgroup.subtree_control`, '+cpu'), '+cpu in vm1');
      for (const sub of ['emulator', 'vcpu0']) {
        must(k.mkdir(root, `${VM}/${sub}`), `mkdir ${sub}`);
        must(k.writeFile(root, `${VM}/${sub}/cgroup.type`, 'threaded'), `${sub}/cgroup.type`);
      }
      moveResult = 0;
      for (const t of k.tasks().filter((x) => x.tgid === qemu.pid)) {
        const sub = t === job.task ? 'vcpu0' : 'emulator';
        moveResult = Math.min(moveResult, k.writeFile(root, `${VM}/${sub}/cgroup.threads`, String(t.pid)));
      }
      must(moveResult, 'cgroup.threads');
    }
    // and libvirt enables the memory controller below the VM's cgroup (a domain controller)
    const enableMemoryResult = k.writeFile(root, `${VM}/cgroup.subtree_control`, '+memory');
    const cpuBy = new Map<string, number>();
    let workerNs = 0;
    const off = k.trace.on('sched_slice', (e) => {
      const t = k.task(e.pid as number);
      const ns = e.costNs as number;
      if (t === undefined) return;
      cpuBy.set(t.cgroup, (cpuBy.get(t.cgroup) ?? 0) + ns);
      if (t === worker) workerNs += ns;
    });
    k.advance(ms);
    job.stop();
    off();
    return {
      mode, layout, workerPid: worker.pid, workerIsKthread: (worker.flags & PF_KTHREAD) !== 0, workerCgroupAtSetOwner,
      moveResult, workerCgroup: worker.cgroup, enableMemoryResult: enableMemoryResult < 0 ? enableMemoryResult : 0,
      emulatorUs: Math.round((cpuBy.get('/machine.slice/vm1/emulator') ?? 0) / 1000),
      vmOwnUs: Math.round((cpuBy.get('/machine.slice/vm1') ?? 0) / 1000),
      workerUs: Math.round(workerNs / 1000), vmCpuStatUs: usec(k, VM), ioCompleted: job.completed,
    };
  } finally {
    k.shutdown();
  }
}

export const scenario: Scenario = {
  name: 'emulatorpin',
  title: 'cgroup v2 emulator/vcpu split: a task-mode vhost worker moves with the emulator threads, a kthread cannot',
  options: {
    ms: { type: 'number', default: 20, exclusiveMin: 0, max: 60_000, unit: 'ms', help: 'virtual ms of guest I/O' },
    layout: { type: 'string', default: 'procs', choices: ['procs', 'threaded'], help: 'move the QEMU process (cgroup.procs) or its threads into threaded children (cgroup.threads)' },
  },
  async run(opts): Promise<ScenarioResult> {
    const ms = opts.ms as number;
    if (!(ms > 0)) throw new KwqError('scenario emulatorpin', `option 'ms' has ${ms}; expected a number > 0`);
    const layout = (opts.layout ?? 'procs') as EmulatorpinLayout; // callers of run() may skip validateScenarioOptions
    const task = await runMode('task', ms, layout);
    const kth = await runMode('kthread', ms, layout);
    const ms1 = (u: number): string => `${(u / 1000).toFixed(1)} ms`;
    const res = (r: number): string => (r < 0 ? `-${errnoName(-r)}` : String(r));
    const line = (r: EmulatorpinRun): string =>
      `${r.mode} mode: worker pid ${r.workerPid}${r.workerIsKthread ? ' (PF_KTHREAD)' : ' (a QEMU thread)'} ${r.workerCgroupAtSetOwner} -> ${r.workerCgroup}; ` +
      `cpu: emulator ${ms1(r.emulatorUs)}, vm1 itself ${ms1(r.vmOwnUs)} (worker ${ms1(r.workerUs)}); +memory in vm1: ${res(r.enableMemoryResult)}`;
    const memNote = layout === 'procs'
      ? 'where it also blocks enabling controllers below vm1 (no internal processes)'
      : 'outside the emulator thread group\'s pinning (vm1 is a thread root: +memory is refused in both modes)';
    const how = layout === 'procs'
      ? 'the VM\'s emulator threads (the QEMU process, cgroup.procs) move to vm1/emulator'
      : 'vm1 gets threaded children emulator and vcpu0 (+cpu); each QEMU thread is written to one by tid (cgroup.threads)';
    const lines = [
      `design: ${how}; the vhost worker goes along only if it is one of QEMU's threads`,
      `setting: cgroup v2, QEMU started in ${VM}, vhost-scsi set up there, then its threads moved below it (--layout ${layout}); fio on a vCPU for ${ms} ms`,
      line(task),
      line(kth),
      `outcome: task mode bills the worker to vm1/emulator with the emulator threads; the kthread stays in its snapshot cgroup ${kth.workerCgroup} (attached at VHOST_SET_OWNER), ` +
        memNote,
    ];
    return { lines, data: { task, kthread: kth } };
  },
};

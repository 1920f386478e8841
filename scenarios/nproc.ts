/**
 * nproc: a QEMU process at its RLIMIT_NPROC asks for vhost workers in both modes.
 *
 * Task mode (VHOST_FORK_OWNER_TASK, the default): the worker is a thread of QEMU made
 * by copy_process, counted against QEMU's uid; at the limit copy_process fails with
 * -EAGAIN and vhost collapses that to -ENOMEM (VHOST_SET_OWNER, VHOST_NEW_WORKER).
 * Kthread mode (VHOST_SET_FORK_FROM_OWNER 0, or vhost.fork_from_owner_default=0 on
 * the command line): kthreadd makes the worker (uid 0, exempt), so the limit is never
 * consulted; VHOST_NEW_WORKER is refused in that mode (-EFAULT) for that reason.
 */
import {
  Kernel, O_RDWR, PF_KTHREAD, PF_USER_WORKER, VHOST_FORK_OWNER_KTHREAD, VHOST_NEW_WORKER, VHOST_SET_FORK_FROM_OWNER,
  VHOST_SET_OWNER, CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, RLIMIT_NPROC, errnoName, vhostDevInfo,
  KwqError, type Task,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
const UID = 107;

const show = (r: number): string => (r < 0 ? `-${errnoName(-r)}` : String(r));

/** QEMU (uid 107) with `vcpus` vCPU threads; RLIMIT_NPROC = tasks of the uid + `headroom`. */
function startQemu(k: Kernel, vcpus: number, headroom: number): { qemu: Task; limit: number } {
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: UID, cgroup: '/machine.slice/vm1' });
  for (let i = 0; i < vcpus; i++) {
    const t = k.clone(qemu, THREAD, { comm: `CPU ${i}/KVM` });
    if (typeof t === 'number') throw new KwqError('scenario nproc', `clone of a vCPU thread failed: ${t}`);
  }
  const limit = k.tasks().filter((t) => t.uid === UID).length + headroom;
  const r = k.setrlimit(qemu, RLIMIT_NPROC, [limit, limit]);
  if (r !== 0) throw new KwqError('scenario nproc', `setrlimit returned ${r}`);
  return { qemu, limit };
}

const uidTasks = (k: Kernel): number => k.tasks().filter((t) => t.uid === UID).length;

export const scenario: Scenario = {
  name: 'nproc',
  title: 'QEMU at its RLIMIT_NPROC: task-mode vhost workers are refused (-ENOMEM), kthread-mode ones get past the limit',
  options: {
    vcpus: { type: 'integer', default: 4, min: 1, max: 256, help: 'vCPU threads of the QEMU process' },
  },
  async run(opts): Promise<ScenarioResult> {
    const vcpus = opts.vcpus as number;
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 256) throw new KwqError('scenario nproc', `option 'vcpus' has ${vcpus}; expected an integer in 1..256`);

    // 1. task mode, exactly at the limit
    const k1 = await Kernel.boot({});
    const a = startQemu(k1, vcpus, 0);
    const forkAtLimit = k1.fork(a.qemu);
    const fdNet = k1.open(a.qemu, '/dev/vhost-net', O_RDWR);
    const taskSetOwner = k1.ioctl(a.qemu, fdNet, VHOST_SET_OWNER);
    const taskInfo = vhostDevInfo(k1, a.qemu, fdNet);
    const taskOwned = typeof taskInfo !== 'number' && taskInfo.hasOwner;

    // 2. task mode with room for one thread: SET_OWNER's worker fits, NEW_WORKER does not
    const k2 = await Kernel.boot({});
    const b = startQemu(k2, vcpus, 1);
    const fdScsi = k2.open(b.qemu, '/dev/vhost-scsi', O_RDWR);
    const roomSetOwner = k2.ioctl(b.qemu, fdScsi, VHOST_SET_OWNER);
    const st = { worker_id: -1 };
    const roomNewWorker = k2.ioctl(b.qemu, fdScsi, VHOST_NEW_WORKER, st);
    const worker2 = k2.tasks().find((t) => t.comm === `vhost-${b.qemu.pid}`);

    // 3. kthread mode, chosen per device, at the limit
    const k3 = await Kernel.boot({});
    const c = startQemu(k3, vcpus, 0);
    const before = uidTasks(k3);
    const fd3 = k3.open(c.qemu, '/dev/vhost-scsi', O_RDWR);
    const setFork = k3.ioctl(c.qemu, fd3, VHOST_SET_FORK_FROM_OWNER, VHOST_FORK_OWNER_KTHREAD);
    const kthreadSetOwner = k3.ioctl(c.qemu, fd3, VHOST_SET_OWNER);
    const kthreadNewWorker = k3.ioctl(c.qemu, fd3, VHOST_NEW_WORKER, { worker_id: -1 });
    const kw = k3.tasks().find((t) => t.comm === `vhost-${c.qemu.pid}`);
    const after = uidTasks(k3);

    // 4. kthread mode as the boot default
    const k4 = await Kernel.boot({ cmdline: 'vhost.fork_from_owner_default=0' });
    const d = startQemu(k4, vcpus, 0);
    const fd4 = k4.open(d.qemu, '/dev/vhost-net', O_RDWR);
    const cmdlineSetOwner = k4.ioctl(d.qemu, fd4, VHOST_SET_OWNER);
    const param = k4.readFile(k4.init, '/sys/module/vhost/parameters/fork_from_owner_default');

    for (const k of [k1, k2, k3, k4]) k.shutdown();
    const kthreadWorker = kw === undefined ? null : {
      pid: kw.pid, ppid: kw.ppid, uid: kw.uid, tgid: kw.tgid, kthread: (kw.flags & PF_KTHREAD) !== 0, cgroup: kw.cgroup,
    };
    const lines = [
      `design: vhost workers are threads of QEMU (task mode, counted against its RLIMIT_NPROC) or kthreads (kthread mode, not counted)`,
      `setting: QEMU uid ${UID} with ${vcpus} vCPU threads, RLIMIT_NPROC = its uid's task count (${a.limit}); fork() there: ${show(typeof forkAtLimit === 'number' ? forkAtLimit : 0)}`,
      `task mode at the limit: VHOST_SET_OWNER on vhost-net = ${show(taskSetOwner)} (copy_process -EAGAIN, collapsed), device ${taskOwned ? 'owned' : 'still ownerless'}`,
      `task mode, room for 1: VHOST_SET_OWNER = ${show(roomSetOwner)} (worker ${worker2 ? `${worker2.comm} pid ${worker2.pid}, a thread of ${worker2.tgid}, ${worker2.flags & PF_USER_WORKER ? 'PF_USER_WORKER' : ''}` : 'none'}), VHOST_NEW_WORKER = ${show(roomNewWorker)}`,
      `kthread mode at the limit: SET_FORK_FROM_OWNER 0 = ${show(setFork)}, VHOST_SET_OWNER = ${show(kthreadSetOwner)}` +
        (kthreadWorker ? ` (worker pid ${kthreadWorker.pid}, ppid ${kthreadWorker.ppid} kthreadd, uid ${kthreadWorker.uid}, PF_KTHREAD)` : '') +
        `; uid ${UID} tasks ${before} -> ${after}; VHOST_NEW_WORKER = ${show(kthreadNewWorker)}`,
      `outcome: vhost.fork_from_owner_default=0 (param reads ${typeof param === 'string' ? param.trim() : show(param)}): VHOST_SET_OWNER at the limit = ${show(cmdlineSetOwner)}`,
    ];
    return {
      lines,
      data: {
        limit: a.limit, forkAtLimit: typeof forkAtLimit === 'number' ? forkAtLimit : 0, taskSetOwner, taskOwned,
        roomSetOwner, roomNewWorker, roomWorkerIsThread: worker2 !== undefined && worker2.tgid === b.qemu.pid && (worker2.flags & PF_USER_WORKER) !== 0,
        setFork, kthreadSetOwner, kthreadNewWorker, kthreadWorker, uidTasksBefore: before, uidTasksAfter: after,
        cmdlineSetOwner, param: typeof param === 'string' ? param.trim() : param,
      },
    };
  },
};

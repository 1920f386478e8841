/**
 * kvm-lifetime: a VM outlives its creator while any fd refers to it, and so do its
 * memory charges (kernel-reference.md section 8; Documentation/virt/kvm/api.rst:
 * "the VM and its resources ... are not freed until the last reference to the VM's
 * file descriptor has been released").
 *
 * QEMU runs in /machine.slice/vm1: it creates a VM, registers guest RAM, creates
 * vCPUs and runs each on its own thread. It forks a helper that inherits the VM fd
 * (and the vCPU fds); the helper is moved to /system.slice/helper (charges do not move
 * with a task). QEMU exits. vm1 then has no task at all, yet its memory.current keeps
 * the VM's kernel memory (struct kvm, vCPUs, memslots), charged there when QEMU
 * allocated it. The guest RAM went with QEMU's address space, and KVM's page tables
 * with it (the mmu_notifier release). The helper cannot use the VM (-EIO: another
 * mm) but keeps it alive; it can still create a VM of its own on /dev/kvm. Closing
 * its vCPU fds frees nothing (vCPUs live with the VM); closing the VM fd does.
 */
import {
  Kernel, KVM_CREATE_VCPU, KVM_CREATE_VM, KVM_RUN, KVM_SET_USER_MEMORY_REGION, O_RDWR, CLONE_VM, CLONE_FS, CLONE_FILES,
  CLONE_SIGHAND, CLONE_THREAD, KwqError, errnoName, kvmVms, type Task,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
const MiB = 2 ** 20;

interface Step {
  tMs: number;
  event: string;
  /** vm1's memory.current, bytes */
  memoryCurrent: number;
  /** vm1's memory.stat kernel and anon, bytes */
  kernel: number;
  anon: number;
  /** live VMs created by QEMU */
  vms: number;
  /** tasks in vm1 */
  tasks: number;
}

function stat(k: Kernel, cg: string, key: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${cg}/memory.stat`);
  if (typeof text !== 'string') throw new KwqError('kvm-lifetime', `cannot read ${cg}/memory.stat: ${text}`);
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return Number(line?.split(' ')[1] ?? 0);
}

function must(where: string, r: number | Task): number {
  if (typeof r === 'number' && r < 0) throw new KwqError('kvm-lifetime', `${where} failed: ${errnoName(r)}`);
  return typeof r === 'number' ? r : r.pid;
}

export const scenario: Scenario = {
  name: 'kvm-lifetime',
  title: 'a VM outlives QEMU while a forked child holds its fd: its memory stays charged to vm1',
  options: {
    guestMiB: { type: 'integer', default: 256, min: 1, max: 65536, unit: 'MiB', help: 'guest RAM registered with KVM_SET_USER_MEMORY_REGION, MiB' },
    vcpus: { type: 'integer', default: 2, min: 1, max: 64, help: 'vCPUs, each run once on its own QEMU thread' },
    holdMs: { type: 'number', default: 30_000, min: 0, max: 86_400_000, unit: 'ms', help: 'how long the helper keeps the VM fd after QEMU exits, ms' },
    seed: { type: 'integer', default: 1, min: 0, max: 4294967295, help: 'PRNG seed' },
  },
  async run(opts): Promise<ScenarioResult> {
    const guestMiB = opts['guestMiB'] as number;
    const vcpus = opts['vcpus'] as number;
    const holdMs = opts['holdMs'] as number;
    if (!Number.isInteger(guestMiB) || guestMiB < 1 || guestMiB > 65536) throw new KwqError('kvm-lifetime: guestMiB', `bad value ${guestMiB}: expected an integer in 1..65536`);
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 64) throw new KwqError('kvm-lifetime: vcpus', `bad value ${vcpus}: expected an integer in 1..64`);
    if (!(holdMs >= 0)) throw new KwqError('kvm-lifetime: holdMs', `bad value ${holdMs}: expected a number >= 0`);
    const k = await Kernel.boot({ seed: opts['seed'] as number, memory: '16G' });
    try {
      const cg = '/machine.slice/vm1';
      const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: cg });
      const steps: Step[] = [];
      const t0 = k.now;
      const snap = (event: string): Step => {
        const s: Step = {
          tMs: Math.round((k.now - t0) / 1e6),
          event,
          memoryCurrent: Number(k.readFile(k.init, `/sys/fs/cgroup${cg}/memory.current`)),
          kernel: stat(k, cg, 'kernel'),
          anon: stat(k, cg, 'anon'),
          vms: kvmVms(k).filter((v) => v.creatorPid === qemu.pid).length,
          tasks: k.tasks().filter((t) => t.cgroup === cg).length,
        };
        steps.push(s);
        return s;
      };
      snap('QEMU started in vm1');
      const kvmFd = must('open /dev/kvm', k.open(qemu, '/dev/kvm', O_RDWR));
      const vm = must('KVM_CREATE_VM', k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0));
      snap('KVM_CREATE_VM');
      must('KVM_SET_USER_MEMORY_REGION', k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, {
        slot: 0, flags: 0, guest_phys_addr: 0, memory_size: guestMiB * MiB, userspace_addr: 0x7f0000000000,
      }));
      const vcpuFds: number[] = [];
      for (let i = 0; i < vcpus; i++) vcpuFds.push(must('KVM_CREATE_VCPU', k.ioctl(qemu, vm, KVM_CREATE_VCPU, i)));
      snap(`memslot (${guestMiB} MiB) + ${vcpus} KVM_CREATE_VCPU`);
      // one QEMU thread per vCPU runs it (the guest touches its RAM)
      for (const fd of vcpuFds) {
        const th = k.clone(qemu, THREAD, { comm: 'CPU 0/KVM' });
        if (typeof th === 'number') throw new KwqError('kvm-lifetime', `vCPU thread: ${errnoName(th)}`);
        must('KVM_RUN', k.ioctl(th, fd, KVM_RUN));
      }
      k.advance(1000);
      const running = snap('guest ran on the vCPU threads');
      const ranInfo = kvmVms(k)[0]!;
      // the helper: a fork that keeps the fds, moved out of vm1
      const helper = k.fork(qemu);
      if (typeof helper === 'number') throw new KwqError('kvm-lifetime', `fork: ${errnoName(helper)}`);
      helper.comm = 'helper';
      must('mkdir /system.slice', k.mkdir(k.init, '/sys/fs/cgroup/system.slice'));
      must('mkdir helper', k.mkdir(k.init, '/sys/fs/cgroup/system.slice/helper'));
      must('move helper', k.writeFile(k.init, '/sys/fs/cgroup/system.slice/helper/cgroup.procs', String(helper.pid)));
      snap('fork(): helper holds the VM fd, moved to /system.slice/helper');
      k.advance(1000);
      k.exit(qemu, 0);
      const afterExit = snap('QEMU exited');
      const childIoctl = {
        KVM_CREATE_VCPU: k.ioctl(helper, vm, KVM_CREATE_VCPU, vcpus),
        KVM_SET_USER_MEMORY_REGION: k.ioctl(helper, vm, KVM_SET_USER_MEMORY_REGION, { slot: 1, flags: 0, guest_phys_addr: 0, memory_size: 0, userspace_addr: 0 }),
        KVM_RUN: k.ioctl(helper, vcpuFds[0]!, KVM_RUN),
      };
      // /dev/kvm has no mm check: the helper may create (and drop) a VM of its own
      const ownVm = k.ioctl(helper, kvmFd, KVM_CREATE_VM, 0);
      // its own VM has the helper's mm: its VM ioctls pass the mm check
      const ownVcpu = ownVm >= 0 ? k.ioctl(helper, ownVm, KVM_CREATE_VCPU, 0) : ownVm;
      if (ownVcpu >= 0) k.close(helper, ownVcpu);
      if (ownVm >= 0) k.close(helper, ownVm);
      for (const fd of vcpuFds) must('close vCPU fd', k.close(helper, fd));
      k.advance(holdMs / 2);
      const held = snap('helper closed its vCPU fds (vCPUs live with the VM)');
      k.advance(holdMs / 2);
      snap(`${holdMs / 1000} s later, still held`);
      must('close VM fd', k.close(helper, vm));
      const freed = snap('helper closed the VM fd: kvm_destroy_vm');
      const fmt = (b: number): string => `${(b / MiB).toFixed(2).padStart(8)} MiB`;
      const lines = [
        `kvm-lifetime: QEMU in ${cg}, ${guestMiB} MiB guest RAM, ${vcpus} vCPUs; a forked helper keeps the VM fd after QEMU exits`,
        '',
        `   t (ms)  ${'vm1 memory.current'.padStart(18)}  ${'kernel'.padStart(12)}  ${'anon'.padStart(12)}  VM  tasks  event`,
        ...steps.map((s) =>
          `${String(s.tMs).padStart(9)}  ${fmt(s.memoryCurrent).padStart(18)}  ${fmt(s.kernel)}  ${fmt(s.anon)}  ${String(s.vms).padStart(2)}  ${String(s.tasks).padStart(5)}  ${s.event}`),
        '',
        `after QEMU exited, vm1 (no task left) still holds ${fmt(afterExit.memoryCurrent).trim()}: the VM's kernel memory; guest RAM and page tables went with QEMU's mm`,
        `the helper's VM ioctls: KVM_CREATE_VCPU ${errnoName(childIoctl.KVM_CREATE_VCPU)}, KVM_SET_USER_MEMORY_REGION ${errnoName(childIoctl.KVM_SET_USER_MEMORY_REGION)}, KVM_RUN ${errnoName(childIoctl.KVM_RUN)}; its own KVM_CREATE_VM on /dev/kvm: ${ownVm >= 0 ? 'fd ' + ownVm : errnoName(ownVm)}, KVM_CREATE_VCPU there: ${ownVcpu >= 0 ? 'fd ' + ownVcpu : errnoName(ownVcpu)}`,
        `closing the VM fd freed ${fmt(held.memoryCurrent - freed.memoryCurrent).trim()}`,
      ];
      return {
        lines,
        data: {
          steps,
          guestBytes: guestMiB * MiB,
          vcpus,
          runningMemoryCurrent: running.memoryCurrent,
          vmKernelBytesRunning: ranInfo.kernelBytes,
          vmPageTableBytesRunning: ranInfo.pageTableBytes,
          afterExitMemoryCurrent: afterExit.memoryCurrent,
          afterExitKernel: afterExit.kernel,
          afterExitAnon: afterExit.anon,
          afterExitTasks: afterExit.tasks,
          heldMemoryCurrent: held.memoryCurrent,
          freedMemoryCurrent: freed.memoryCurrent,
          childIoctl,
          childOwnVm: ownVm,
          childOwnVcpu: ownVcpu,
        },
      };
    } finally {
      k.shutdown();
    }
  },
};

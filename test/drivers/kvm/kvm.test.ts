/**
 * /dev/kvm conformance: the uapi numbers, the three ioctl entry points and their
 * checks (kernel-reference.md section 8), the VM's lifetime (any fd keeps it) and
 * who is charged for what.
 */
import { describe, expect, test } from 'vitest';
import { EEXIST, EFAULT, EINVAL, EIO, EMFILE, ENODEV, ENOTTY, Kernel, O_RDWR, RLIMIT_NOFILE, type Task } from 'kwq';
import '../../../src/drivers/kvm/index.js';
import {
  KVM_API_VERSION, KVM_CAP_CHECK_EXTENSION_VM, KVM_CAP_MAX_VCPUS, KVM_CAP_NR_MEMSLOTS, KVM_CAP_NR_VCPUS, KVM_CAP_USER_MEMORY,
  KVM_CHECK_EXTENSION, KVM_CREATE_DEVICE, KVM_CREATE_DEVICE_TEST, KVM_CREATE_VCPU, KVM_CREATE_VM, KVM_DEV_TYPE_VFIO,
  KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, KVM_EXIT_HLT, KVM_GET_API_VERSION, KVM_GET_VCPU_MMAP_SIZE, KVM_HAS_DEVICE_ATTR,
  KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_RUN, KVM_SET_USER_MEMORY_REGION, kvmVcpuExitReason, kvmVms,
} from '../../../src/drivers/kvm/index.js';

const MiB = 1 << 20;

async function boot(): Promise<{ k: Kernel; qemu: Task; kvmFd: number }> {
  const k = await Kernel.boot({ seed: 1 });
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
  const kvmFd = k.open(qemu, '/dev/kvm', O_RDWR);
  expect(kvmFd).toBeGreaterThanOrEqual(0);
  return { k, qemu, kvmFd };
}

function memCurrent(k: Kernel, path: string): number {
  return Number(k.readFile(k.init, `/sys/fs/cgroup${path}/memory.current`));
}

function statOf(k: Kernel, path: string, key: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${path}/memory.stat`) as string;
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

function region(slot: number, gpa: number, size: number, hva: number, flags = 0): Record<string, number> {
  return { slot, flags, guest_phys_addr: gpa, memory_size: size, userspace_addr: hva };
}

describe('uapi numbers', () => {
  test('the request numbers are the _IO/_IOW/_IOWR encodings of <linux/kvm.h>', () => {
    expect(KVM_GET_API_VERSION).toBe(0xae00);
    expect(KVM_CREATE_VM).toBe(0xae01);
    expect(KVM_CHECK_EXTENSION).toBe(0xae03);
    expect(KVM_GET_VCPU_MMAP_SIZE).toBe(0xae04);
    expect(KVM_CREATE_VCPU).toBe(0xae41);
    expect(KVM_SET_USER_MEMORY_REGION).toBe(0x4020ae46);
    expect(KVM_RUN).toBe(0xae80);
    expect(KVM_CREATE_DEVICE).toBe(0xc00caee0);
    expect(KVM_API_VERSION).toBe(12);
  });
});

describe('/dev/kvm system ioctls', () => {
  test('KVM_GET_API_VERSION is 12; a nonzero argument is -EINVAL', async () => {
    const { k, qemu, kvmFd } = await boot();
    expect(k.ioctl(qemu, kvmFd, KVM_GET_API_VERSION)).toBe(12);
    expect(k.ioctl(qemu, kvmFd, KVM_GET_API_VERSION, 1)).toBe(-EINVAL);
    expect(k.ioctl(qemu, kvmFd, KVM_GET_VCPU_MMAP_SIZE)).toBe(3 * 4096);
  });

  test('KVM_CHECK_EXTENSION answers on /dev/kvm and on the VM fd; unknown capabilities are 0', async () => {
    const { k, qemu, kvmFd } = await boot();
    expect(k.ioctl(qemu, kvmFd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY)).toBe(1);
    expect(k.ioctl(qemu, kvmFd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS)).toBe(32764);
    expect(k.ioctl(qemu, kvmFd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS)).toBe(2); // min(online CPUs, KVM_MAX_VCPUS)
    // 6.17 (the default release): CONFIG_KVM_MAX_NR_VCPUS as Debian builds it (6.1: 1024; release.test.ts)
    expect(k.ioctl(qemu, kvmFd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS)).toBe(4096);
    expect(k.ioctl(qemu, kvmFd, KVM_CHECK_EXTENSION, 99999)).toBe(0);
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    expect(k.ioctl(qemu, vm, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM)).toBe(1);
  });

  test('an unknown system ioctl is -EINVAL; an unsupported VM type is -EINVAL and creates nothing', async () => {
    const { k, qemu, kvmFd } = await boot();
    const before = memCurrent(k, '/machine.slice/vm1');
    expect(k.ioctl(qemu, kvmFd, 0xae7f)).toBe(-EINVAL);
    expect(k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 1)).toBe(-EINVAL);
    expect(kvmVms(k)).toHaveLength(0);
    expect(memCurrent(k, '/machine.slice/vm1')).toBe(before);
  });

  test('KVM_CREATE_VM with the fd table full is -EMFILE and charges nothing', async () => {
    const { k, qemu, kvmFd } = await boot();
    expect(k.setrlimit(qemu, RLIMIT_NOFILE, [kvmFd + 1, 1024])).toBe(0);
    const before = memCurrent(k, '/machine.slice/vm1');
    expect(k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0)).toBe(-EMFILE);
    expect(kvmVms(k)).toHaveLength(0);
    expect(memCurrent(k, '/machine.slice/vm1')).toBe(before);
  });
});

describe('VM and vCPU ioctls', () => {
  test('KVM_CREATE_VM and KVM_CREATE_VCPU charge kernel memory to the creator at allocation time', async () => {
    const { k, qemu, kvmFd } = await boot();
    const cg = '/machine.slice/vm1';
    const m0 = memCurrent(k, cg);
    const k0 = statOf(k, cg, 'kernel');
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    expect(vm).toBeGreaterThanOrEqual(0);
    const m1 = memCurrent(k, cg);
    expect(m1).toBeGreaterThan(m0);
    expect(statOf(k, cg, 'kernel') - k0).toBe(m1 - m0);
    const v0 = k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0);
    expect(v0).toBeGreaterThanOrEqual(0);
    const m2 = memCurrent(k, cg);
    expect(m2).toBeGreaterThan(m1);
    expect(kvmVms(k)[0]!.kernelBytes).toBe(m2 - m0);
    expect(memCurrent(k, '/machine.slice')).toBeGreaterThanOrEqual(m2); // hierarchical: the parent sees it too
  });

  test('duplicate vCPU id is -EEXIST, an id >= KVM_MAX_VCPU_IDS is -EINVAL; nothing is charged', async () => {
    const { k, qemu, kvmFd } = await boot();
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    expect(k.ioctl(qemu, vm, KVM_CREATE_VCPU, 3)).toBeGreaterThanOrEqual(0);
    const before = memCurrent(k, '/machine.slice/vm1');
    expect(k.ioctl(qemu, vm, KVM_CREATE_VCPU, 3)).toBe(-EEXIST);
    expect(k.ioctl(qemu, vm, KVM_CREATE_VCPU, 16384)).toBe(-EINVAL); // 4 * CONFIG_KVM_MAX_NR_VCPUS (4096)
    expect(memCurrent(k, '/machine.slice/vm1')).toBe(before);
    expect(kvmVms(k)[0]!.vcpus).toBe(1);
    expect(k.ioctl(qemu, vm, KVM_CREATE_VCPU, 16383)).toBeGreaterThanOrEqual(0);
  });

  test('KVM_SET_USER_MEMORY_REGION: missing struct -EFAULT, bad values -EINVAL, overlap -EEXIST, nothing changed', async () => {
    const { k, qemu, kvmFd } = await boot();
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const cg = '/machine.slice/vm1';
    const m0 = memCurrent(k, cg);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION)).toBe(-EFAULT);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, { slot: 0, flags: 0 })).toBe(-EFAULT);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 0x7f0000000000, 4))).toBe(-EINVAL); // unknown flag
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB + 1, 0x7f0000000000))).toBe(-EINVAL); // size not aligned
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0x800, 4 * MiB, 0x7f0000000000))).toBe(-EINVAL); // gpa not aligned
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 0x7f0000000010))).toBe(-EINVAL); // hva not aligned
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 2 ** 47))).toBe(-EINVAL); // beyond TASK_SIZE
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(32764, 0, 4 * MiB, 0x7f0000000000))).toBe(-EINVAL); // slot id
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(2 << 16, 0, 4 * MiB, 0x7f0000000000))).toBe(-EINVAL); // as_id
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(5, 0, 0, 0))).toBe(-EINVAL); // delete a slot that does not exist
    expect(memCurrent(k, cg)).toBe(m0);
    expect(kvmVms(k)[0]!.memslots).toBe(0);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 0x7f0000000000))).toBe(0);
    const m1 = memCurrent(k, cg);
    expect(m1).toBeGreaterThan(m0); // the memslot struct, not the guest RAM
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(1, 2 * MiB, 4 * MiB, 0x7f1000000000))).toBe(-EEXIST);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 8 * MiB, 0x7f0000000000))).toBe(-EINVAL); // resize
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 0x7f0000000000, KVM_MEM_READONLY))).toBe(-EINVAL);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 0x7f0000000000))).toBe(0); // no change
    expect(memCurrent(k, cg)).toBe(m1);
    // dirty logging allocates the bitmap; turning it off frees it
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 0x7f0000000000, KVM_MEM_LOG_DIRTY_PAGES))).toBe(0);
    expect(memCurrent(k, cg)).toBeGreaterThan(m1);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 4 * MiB, 0x7f0000000000))).toBe(0);
    expect(memCurrent(k, cg)).toBe(m1);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 0, 0x7f0000000000))).toBe(0); // delete
    expect(memCurrent(k, cg)).toBe(m0);
  });

  test('KVM_RUN maps guest RAM as the creator anon memory, charges guest time as user time, exits with HLT', async () => {
    const { k, qemu, kvmFd } = await boot();
    const cg = '/machine.slice/vm1';
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const vcpu = k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 64 * MiB, 0x7f0000000000))).toBe(0);
    const anon0 = statOf(k, cg, 'anon');
    const cpu0 = k.readFile(k.init, `/sys/fs/cgroup${cg}/cpu.stat`) as string;
    expect(k.ioctl(qemu, vcpu, KVM_RUN, 1)).toBe(-EINVAL);
    expect(k.ioctl(qemu, vcpu, KVM_RUN)).toBe(0);
    expect(kvmVcpuExitReason(k, qemu, vcpu)).toBe(KVM_EXIT_HLT);
    expect(statOf(k, cg, 'anon') - anon0).toBe(64 * MiB);
    const info = kvmVms(k)[0]!;
    expect(info.guestBytesFaulted).toBe(64 * MiB);
    expect(info.pageTableBytes).toBe((32 + 1 + 1) * 4096); // 16384 pages: 32 PT + 1 PD + 1 root
    const userUsec = (t: string): number => Number(/user_usec (\d+)/.exec(t)![1]);
    const cpu1 = k.readFile(k.init, `/sys/fs/cgroup${cg}/cpu.stat`) as string;
    expect(userUsec(cpu1) - userUsec(cpu0)).toBe(1000);
    // a second run maps nothing new
    expect(k.ioctl(qemu, vcpu, KVM_RUN)).toBe(0);
    expect(statOf(k, cg, 'anon') - anon0).toBe(64 * MiB);
  });

  test('a vCPU ioctl of another _IOC_TYPE is -EINVAL; an unknown VM ioctl is -ENOTTY', async () => {
    const { k, qemu, kvmFd } = await boot();
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const vcpu = k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0);
    expect(k.ioctl(qemu, vcpu, 0xaf01)).toBe(-EINVAL);
    expect(k.ioctl(qemu, vm, 0xae7e)).toBe(-ENOTTY);
  });

  test('KVM_CREATE_DEVICE: missing struct -EFAULT, unknown type -ENODEV, TEST creates nothing, the fd is filled', async () => {
    const { k, qemu, kvmFd } = await boot();
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    expect(k.ioctl(qemu, vm, KVM_CREATE_DEVICE)).toBe(-EFAULT);
    expect(k.ioctl(qemu, vm, KVM_CREATE_DEVICE, { type: 99, fd: 0, flags: 0 })).toBe(-ENODEV);
    const test = { type: KVM_DEV_TYPE_VFIO, fd: 0, flags: KVM_CREATE_DEVICE_TEST };
    expect(k.ioctl(qemu, vm, KVM_CREATE_DEVICE, test)).toBe(0);
    expect(kvmVms(k)[0]!.devices).toBe(0);
    const cd = { type: KVM_DEV_TYPE_VFIO, fd: -1, flags: 0 };
    expect(k.ioctl(qemu, vm, KVM_CREATE_DEVICE, cd)).toBe(0);
    expect(cd.fd).toBeGreaterThan(vm);
    expect(kvmVms(k)[0]!.usersCount).toBe(2);
    const attr = { flags: 0, group: KVM_DEV_VFIO_FILE, attr: KVM_DEV_VFIO_FILE_ADD, addr: 0 };
    expect(k.ioctl(qemu, cd.fd, KVM_HAS_DEVICE_ATTR, attr)).toBe(0);
    expect(k.ioctl(qemu, cd.fd, KVM_HAS_DEVICE_ATTR)).toBe(-EFAULT);
  });
});

describe('the creator mm check', () => {
  test('a forked child gets -EIO from every VM, vCPU and device ioctl, before any other check', async () => {
    const { k, qemu, kvmFd } = await boot();
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const vcpu = k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0);
    const cd = { type: KVM_DEV_TYPE_VFIO, fd: -1, flags: 0 };
    expect(k.ioctl(qemu, vm, KVM_CREATE_DEVICE, cd)).toBe(0);
    const child = k.fork(qemu) as Task;
    expect(k.ioctl(child, vm, KVM_CREATE_VCPU, 1)).toBe(-EIO);
    expect(k.ioctl(child, vm, KVM_SET_USER_MEMORY_REGION)).toBe(-EIO); // not -EFAULT: the mm check comes first
    expect(k.ioctl(child, vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY)).toBe(-EIO);
    expect(k.ioctl(child, vcpu, KVM_RUN)).toBe(-EIO);
    expect(k.ioctl(child, vcpu, 0xaf01)).toBe(-EIO); // not -EINVAL: the mm check comes before the type check
    expect(k.ioctl(child, cd.fd, KVM_HAS_DEVICE_ATTR)).toBe(-EIO);
    expect(kvmVms(k)[0]!.vcpus).toBe(1);
  });

  test('a thread of the creator passes the check; /dev/kvm has no check, so a child can create its own VM', async () => {
    const { k, qemu, kvmFd } = await boot();
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const thread = k.clone(qemu, 0x100 | 0x200 | 0x400 | 0x800 | 0x10000) as Task;
    expect(k.ioctl(thread, vm, KVM_CREATE_VCPU, 0)).toBeGreaterThanOrEqual(0);
    const child = k.fork(qemu) as Task;
    const vm2 = k.ioctl(child, kvmFd, KVM_CREATE_VM, 0);
    expect(vm2).toBeGreaterThanOrEqual(0);
    expect(k.ioctl(child, vm2, KVM_CREATE_VCPU, 0)).toBeGreaterThanOrEqual(0);
    expect(kvmVms(k)).toHaveLength(2);
  });
});

describe('VM lifetime', () => {
  test('the VM lives while any fd refers to it: dups, forked copies and vCPU fds; the last close frees every charge', async () => {
    const { k, qemu, kvmFd } = await boot();
    const cg = '/machine.slice/vm1';
    const m0 = memCurrent(k, cg);
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const vcpu = k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0);
    const dupFd = k.dup(qemu, vm);
    expect(kvmVms(k)[0]!.usersCount).toBe(2); // one file (shared by the dup) + one vCPU file
    expect(k.close(qemu, vm)).toBe(0);
    expect(k.close(qemu, dupFd)).toBe(0);
    expect(kvmVms(k)).toHaveLength(1); // the vCPU fd keeps it
    expect(kvmVms(k)[0]!.vcpus).toBe(1); // and the vCPU is not freed with the VM fd
    expect(k.close(qemu, vcpu)).toBe(0);
    expect(kvmVms(k)).toHaveLength(0);
    expect(memCurrent(k, cg)).toBe(m0);
  });

  test('closing a vCPU fd frees nothing: vCPUs go with the VM', async () => {
    const { k, qemu, kvmFd } = await boot();
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const vcpu = k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0);
    const m = memCurrent(k, '/machine.slice/vm1');
    expect(k.close(qemu, vcpu)).toBe(0);
    expect(memCurrent(k, '/machine.slice/vm1')).toBe(m);
    expect(kvmVms(k)[0]!.usersCount).toBe(1);
    expect(k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0)).toBe(-EEXIST); // the id is still taken
  });

  test('the creator exits, a child keeps the VM fd: kernel charges stay, guest RAM and page tables go, the child gets -EIO', async () => {
    const { k, qemu, kvmFd } = await boot();
    const cg = '/machine.slice/vm1';
    const m0 = memCurrent(k, cg);
    const vm = k.ioctl(qemu, kvmFd, KVM_CREATE_VM, 0);
    const vcpu = k.ioctl(qemu, vm, KVM_CREATE_VCPU, 0);
    expect(k.ioctl(qemu, vm, KVM_SET_USER_MEMORY_REGION, region(0, 0, 16 * MiB, 0x7f0000000000))).toBe(0);
    expect(k.ioctl(qemu, vcpu, KVM_RUN)).toBe(0);
    const child = k.fork(qemu) as Task;
    expect(k.close(child, vcpu)).toBe(0);
    const running = kvmVms(k)[0]!;
    k.exit(qemu, 0);
    expect(qemu.alive).toBe(false);
    const after = kvmVms(k);
    expect(after).toHaveLength(1);
    expect(after[0]!.pageTableBytes).toBe(0);
    expect(after[0]!.kernelBytes).toBe(running.kernelBytes - running.pageTableBytes);
    expect(memCurrent(k, cg) - m0).toBe(after[0]!.kernelBytes);
    expect(statOf(k, cg, 'anon')).toBe(0);
    expect(k.ioctl(child, vm, KVM_CREATE_VCPU, 1)).toBe(-EIO);
    expect(k.close(child, vm)).toBe(0);
    expect(kvmVms(k)).toHaveLength(0);
    expect(memCurrent(k, cg)).toBe(m0);
  });
});

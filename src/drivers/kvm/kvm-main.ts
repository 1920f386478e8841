/**
 * /dev/kvm and the files it hands out (virt/kvm/kvm_main.c, x86 answers where the
 * architecture decides). Three kinds of fd, three ioctl entry points:
 *
 *   /dev/kvm   kvm_dev_ioctl    system ioctls; NO mm check: any process, a forked
 *                               child included, may create its own VM
 *   VM fd      kvm_vm_ioctl     -EIO if current->mm != kvm->mm || kvm->vm_dead,
 *                               before anything else (even after the creator exited)
 *   vCPU fd    kvm_vcpu_ioctl   the same -EIO check, then -EINVAL if _IOC_TYPE(ioctl)
 *                               != KVMIO, then the vCPU ioctl
 *   device fd  kvm_device_ioctl the same -EIO check
 *
 * (kernel-reference.md section 8; /tmp/research/notes.md Q5, read in gregkh/linux
 * virt/kvm/kvm_main.c @ 1a77ffcf.) Each VM, vCPU and device fd is an anon-inode file
 * opened O_RDWR | O_CLOEXEC; the VM fd's file is shared by dup() and fork() like any
 * file, and its release (the last fput) drops the VM fd's reference on struct kvm.
 *
 * Check order of KVM_SET_USER_MEMORY_REGION (kvm_vm_ioctl + __kvm_set_memory_region):
 *   copy_from_user -EFAULT; flags beyond LOG_DIRTY_PAGES|READONLY -EINVAL; (u16)slot >=
 *   KVM_USER_MEM_SLOTS -EINVAL; memory_size, guest_phys_addr, userspace_addr not page
 *   aligned, or the range not below TASK_SIZE -EINVAL; as_id >= 2 -EINVAL; gpa range
 *   wraps -EINVAL; more than KVM_MEM_MAX_NR_PAGES -EINVAL; then delete (size 0; no such
 *   slot -EINVAL), create, or change (another size, userspace_addr or READONLY
 *   -EINVAL; a move or a flags-only change; identical: 0); create and move -EEXIST on
 *   overlap with another slot of the address space.
 *
 * Where the model differs (also in the report's Divergences):
 *   - KVM_RUN runs the guest for kwq.kvm_run_us of guest time (default 1000 µs),
 *     charged to the calling thread's cpu cgroup as user time (guest time is user
 *     time in cpu.stat); virtual time does not move during the call. The guest then
 *     halts (exit_reason KVM_EXIT_HLT) and KVM_RUN returns 0.
 *   - The model's guest touches all of its RAM on its first run (each KVM_RUN maps
 *     whatever is not yet mapped), as a guest that zeroes memory at boot does; real
 *     guests fault pages in as they use them. Faulting charges the VMM's anon memory
 *     (kvm->mm's owner's memcg) and the page tables (the vCPU thread's memcg). A
 *     failed charge ends the run with -EFAULT, as a failed gup does.
 *   - The sizes of KVM's kernel objects are round figures (kvm.ts, kvm-vcpu.ts).
 *   - Only x86's default VM type (0) exists; only the kvm-vfio device exists.
 */
import { copyToUser, getUser, isUserStruct } from '../../kernel/uaccess.js';
import { EBADF, EBUSY, EEXIST, EFAULT, EINVAL, EIO, EMFILE, ENODEV, ENOMEM, ENOSPC, ENOTTY, ENXIO, EPERM } from '../../kernel/errno.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import { _IOC_TYPE, ioctlArg } from '../../kernel/ioctl.js';
import { chargeAnon, kfreeAccount, kmallocAccount, PAGE_SIZE, type KmemObj } from '../../kernel/memcontrol.js';
import { registerKwqSwitch, registerModule } from '../../kernel/module.js';
import { RLIMIT_NOFILE } from '../../kernel/rlimit.js';
import type { Task } from '../../kernel/task.js';
import { registerChrdev } from '../../kernel/vfs/chrdev.js';
import { File, O_CLOEXEC, O_RDWR, type FileOperations } from '../../kernel/vfs/file.js';
import { Inode } from '../../kernel/vfs/inode.js';
import {
  Kvm, KVM_ADDRESS_SPACE_NUM, KVM_MEM_MAX_NR_PAGES, KVM_USER_MEM_SLOTS, kmallocAccountAll, kvmCreateVm, kvmDestroyVm,
  kvmFreeMemslot, kvmGetKvm, kvmList, kvmMaxVcpuIds, kvmMaxVcpus, kvmMmuMap, kvmMmuUnmap, kvmNxRecoveryStart, kvmPutKvm,
  kvmUpdateMaxMmuPages,
} from './kvm.js';
import { KvmDevice, KVM_DEVICE_STRUCT_BYTES } from './kvm-device.js';
import { dirtyBitmapBytes, KvmMemorySlot, KVM_MEMSLOT_STRUCT_BYTES, lpageInfoBytes } from './kvm-memslot.js';
import { KvmVcpu, KVM_VCPU_ARCH_BYTES, KVM_VCPU_RUN_PAGE_BYTES, KVM_VCPU_STRUCT_BYTES } from './kvm-vcpu.js';
import {
  KVMIO, KVM_API_VERSION, KVM_CAP_CHECK_EXTENSION_VM, KVM_CAP_DESTROY_MEMORY_REGION_WORKS, KVM_CAP_DEVICE_CTRL,
  KVM_CAP_EXT_CPUID, KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, KVM_CAP_MAX_VCPU_ID, KVM_CAP_MAX_VCPUS,
  KVM_CAP_MP_STATE, KVM_CAP_MULTI_ADDRESS_SPACE, KVM_CAP_NR_MEMSLOTS, KVM_CAP_NR_VCPUS, KVM_CAP_READONLY_MEM,
  KVM_CAP_SET_TSS_ADDR, KVM_CAP_SYNC_MMU, KVM_CAP_USER_MEMORY, KVM_CHECK_EXTENSION, KVM_CREATE_DEVICE,
  KVM_CREATE_DEVICE_TEST, KVM_CREATE_VCPU, KVM_CREATE_VM, KVM_DEV_TYPE_VFIO, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD,
  KVM_DEV_VFIO_FILE_DEL, KVM_EXIT_HLT, KVM_GET_API_VERSION, KVM_GET_DEVICE_ATTR, KVM_GET_VCPU_MMAP_SIZE,
  KVM_HAS_DEVICE_ATTR, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KVM_RUN, KVM_SET_DEVICE_ATTR,
  KVM_SET_USER_MEMORY_REGION, KVM_X86_DEFAULT_VM,
} from './uapi.js';

/** x86-64 TASK_SIZE_MAX with 4-level paging: (1 << 47) - PAGE_SIZE */
const TASK_SIZE = (1n << 47n) - 4096n;
/** guest pages faulted per charge (2 MiB), so that a charge can fail part way as real faults do */
const FAULT_CHUNK = 512;

// ---- argument decoding --------------------------------------------------------------

/** `if (arg) -EINVAL`: any argument that is not zero (a pointer too) is refused. */
function argNonZero(arg: unknown): boolean {
  return !(arg === undefined || arg === 0 || arg === 0n);
}

/** A __u32/__u64 struct field, or null if missing or not an integer (a bad user pointer: -EFAULT). */
function u64Field(o: Record<string, unknown>, name: string): bigint | null {
  const v = getUser(o, name); // FAULT (an accessor, a throwing Proxy) is no integer: null
  if (typeof v === 'bigint') return v >= 0n && v < 1n << 64n ? v : null;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return null;
}
function u32Field(o: Record<string, unknown>, name: string): number | null {
  const v = u64Field(o, name);
  return v !== null && v < 1n << 32n ? Number(v) : null;
}
const isStruct = isUserStruct;

// ---- anon-inode files -----------------------------------------------------------------

/** get_unused_fd_flags: -EMFILE when no descriptor below RLIMIT_NOFILE is free, else 0 (the model reserves nothing). */
function unusedFdCheck(task: Task): number {
  const files = task.files;
  if (files === null) return -EINVAL;
  let fd = 0;
  while (fd < files.fds.length && files.fds[fd] !== null) fd++;
  return fd >= task.signal.rlimits[RLIMIT_NOFILE]![0] ? -EMFILE : 0;
}

/**
 * anon_inode_getfd(name, fops, priv, O_RDWR | O_CLOEXEC): the fd. The caller has run
 * unusedFdCheck() first, so the install cannot fail (nothing to undo afterwards).
 */
function anonInodeGetfd(k: Kernel, task: Task, name: string, fops: FileOperations, priv: unknown): number {
  const inode = new Inode(k.devDir.sb, k.nextIno(), 0o600, fops);
  const file = new File(inode, fops, O_RDWR | O_CLOEXEC, `anon_inode:${name}`);
  file.privateData = priv;
  inode.openCount++;
  const fd = task.files!.install(file, task.signal.rlimits[RLIMIT_NOFILE]![0], true);
  if (fd < 0) throw new KwqError('anon_inode_getfd', `fd install failed after unusedFdCheck (${fd})`);
  return fd;
}

// ---- /dev/kvm -----------------------------------------------------------------------------

/** kvm_vm_ioctl_check_extension_generic + the x86 kvm_vm_ioctl_check_extension answers the model knows. */
function kvmCheckExtension(k: Kernel, _kvm: Kvm | null, cap: bigint): number {
  switch (cap) {
    case BigInt(KVM_CAP_USER_MEMORY):
    case BigInt(KVM_CAP_DESTROY_MEMORY_REGION_WORKS):
    case BigInt(KVM_CAP_JOIN_MEMORY_REGIONS_WORKS):
    case BigInt(KVM_CAP_CHECK_EXTENSION_VM):
    case BigInt(KVM_CAP_SET_TSS_ADDR):
    case BigInt(KVM_CAP_EXT_CPUID):
    case BigInt(KVM_CAP_MP_STATE):
    case BigInt(KVM_CAP_SYNC_MMU):
    case BigInt(KVM_CAP_READONLY_MEM):
    case BigInt(KVM_CAP_IMMEDIATE_EXIT):
    case BigInt(KVM_CAP_DEVICE_CTRL):
      return 1;
    case BigInt(KVM_CAP_NR_MEMSLOTS):
      return KVM_USER_MEM_SLOTS;
    case BigInt(KVM_CAP_MULTI_ADDRESS_SPACE):
      return KVM_ADDRESS_SPACE_NUM;
    case BigInt(KVM_CAP_NR_VCPUS):
      return Math.min(k.rt.ncpus, kvmMaxVcpus(k)); // "recommended": min(num_online_cpus(), KVM_MAX_VCPUS)
    case BigInt(KVM_CAP_MAX_VCPUS):
      return kvmMaxVcpus(k); // 1024 before 6.7; CONFIG_KVM_MAX_NR_VCPUS (Debian: 4096) after
    case BigInt(KVM_CAP_MAX_VCPU_ID):
      return kvmMaxVcpuIds(k);
    default:
      return 0;
  }
}

function kvmDevIoctl(k: Kernel, _file: File, task: Task, request: number, arg: unknown): number {
  switch (request) {
    case KVM_GET_API_VERSION:
      return argNonZero(arg) ? -EINVAL : KVM_API_VERSION;
    case KVM_CREATE_VM:
      return kvmDevIoctlCreateVm(k, task, ioctlArg('ioctl(KVM_CREATE_VM)', arg));
    case KVM_CHECK_EXTENSION:
      return kvmCheckExtension(k, null, ioctlArg('ioctl(KVM_CHECK_EXTENSION)', arg));
    case KVM_GET_VCPU_MMAP_SIZE:
      // the kvm_run page, x86's pio data page, the coalesced MMIO ring
      return argNonZero(arg) ? -EINVAL : 3 * PAGE_SIZE;
    default:
      return -EINVAL; // kvm_arch_dev_ioctl (x86 default; from memory, arm64/s390 read)
  }
}

/** kvm_dev_ioctl_create_vm: the VM fd or -errno; a failure leaves nothing charged. */
function kvmDevIoctlCreateVm(k: Kernel, task: Task, type: bigint): number {
  // get_unused_fd_flags comes first in kvm_dev_ioctl_create_vm
  const e = unusedFdCheck(task);
  if (e < 0) return e;
  // kvm_arch_init_vm: x86 refuses VM types it does not support (the model checks before allocating)
  if (type !== BigInt(KVM_X86_DEFAULT_VM)) return -EINVAL;
  const kvm = kvmCreateVm(k, task);
  if (typeof kvm === 'number') return kvm;
  // kvm_arch_post_init_vm -> kvm_mmu_post_init_vm: the NX huge page recovery worker
  // comes with the VM, unless the first KVM_RUN makes it (kvm_nx_recovery_at_first_run)
  if (!k.has('kvm_nx_recovery_at_first_run')) {
    const r = kvmNxRecoveryStart(kvm, task);
    if (r < 0) {
      kvmDestroyVm(kvm);
      return r;
    }
  }
  return anonInodeGetfd(k, task, 'kvm-vm', kvmVmFops, kvm);
}

export const kvmChardevFops: FileOperations = {
  unlockedIoctl: kvmDevIoctl,
};

// ---- VM fd --------------------------------------------------------------------------------

function kvmVmIoctl(k: Kernel, file: File, task: Task, request: number, arg: unknown): number {
  const kvm = file.privateData as Kvm;
  // "VM ioctls must be issued from the same process (address space) that was used to create the VM"
  if (task.mm !== kvm.mm || kvm.vmDead) return -EIO;
  switch (request) {
    case KVM_CREATE_VCPU:
      return kvmVmIoctlCreateVcpu(k, kvm, task, ioctlArg('ioctl(KVM_CREATE_VCPU)', arg));
    case KVM_SET_USER_MEMORY_REGION:
      return kvmVmIoctlSetMemoryRegion(k, kvm, task, arg);
    case KVM_CHECK_EXTENSION:
      return kvmCheckExtension(k, kvm, ioctlArg('ioctl(KVM_CHECK_EXTENSION)', arg));
    case KVM_CREATE_DEVICE:
      return kvmIoctlCreateDevice(k, kvm, task, arg);
    default:
      return -ENOTTY; // kvm_arch_vm_ioctl (x86 default; from memory)
  }
}

const kvmVmFops: FileOperations = {
  unlockedIoctl: kvmVmIoctl,
  // kvm_vm_release: kvm_irqfd_release (no irqfds in the model) + kvm_put_kvm
  release: (_k, _inode, file) => kvmPutKvm(file.privateData as Kvm),
};

/** kvm_vm_ioctl_create_vcpu: the vCPU fd or -errno; a failure undoes everything. */
function kvmVmIoctlCreateVcpu(k: Kernel, kvm: Kvm, task: Task, id: bigint): number {
  if (id >= BigInt(kvmMaxVcpuIds(k))) return -EINVAL;
  if (kvm.createdVcpus >= kvmMaxVcpus(k)) return -EINVAL;
  kvm.createdVcpus++;
  const kmem = kmallocAccountAll(k, task, [KVM_VCPU_STRUCT_BYTES, KVM_VCPU_RUN_PAGE_BYTES, KVM_VCPU_ARCH_BYTES]);
  if (typeof kmem === 'number') {
    kvm.createdVcpus--;
    return kmem;
  }
  const vcpuId = Number(id);
  // the duplicate-id check comes after the allocations, under kvm->lock
  if (kvm.vcpus.some((v) => v.vcpuId === vcpuId)) {
    for (const o of kmem) kfreeAccount(k, o);
    kvm.createdVcpus--;
    return -EEXIST;
  }
  // create_vcpu_fd; its failure destroys the new vCPU
  const e = unusedFdCheck(task);
  if (e < 0) {
    for (const o of kmem) kfreeAccount(k, o);
    kvm.createdVcpus--;
    return e;
  }
  const vcpu = new KvmVcpu(vcpuId, kvm.vcpus.length, kmem);
  kvmGetKvm(kvm); // the vCPU fd's reference
  kvm.vcpus.push(vcpu);
  return anonInodeGetfd(k, task, `kvm-vcpu:${vcpuId}`, kvmVcpuFops, { kvm, vcpu });
}

/** KVM_SET_USER_MEMORY_REGION: 0 or -errno, checks in the kernel's order (header). */
function kvmVmIoctlSetMemoryRegion(k: Kernel, kvm: Kvm, task: Task, arg: unknown): number {
  if (!isStruct(arg)) return -EFAULT;
  const slot = u32Field(arg, 'slot');
  const flags = u32Field(arg, 'flags');
  const gpa = u64Field(arg, 'guest_phys_addr');
  const size = u64Field(arg, 'memory_size');
  const hva = u64Field(arg, 'userspace_addr');
  if (slot === null || flags === null || gpa === null || size === null || hva === null) return -EFAULT;
  if (flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) return -EINVAL;
  const asId = slot >>> 16;
  const id = slot & 0xffff;
  if (id >= KVM_USER_MEM_SLOTS) return -EINVAL; // kvm_vm_ioctl_set_memory_region
  const pageMask = BigInt(PAGE_SIZE - 1);
  if (size & pageMask) return -EINVAL;
  if (gpa & pageMask) return -EINVAL;
  if (hva & pageMask || hva + size > TASK_SIZE) return -EINVAL; // aligned, untagged, access_ok
  if (asId >= KVM_ADDRESS_SPACE_NUM) return -EINVAL;
  if (gpa + size >= 1n << 64n) return -EINVAL; // the gpa range wraps
  const npagesBig = size / BigInt(PAGE_SIZE);
  if (npagesBig > BigInt(KVM_MEM_MAX_NR_PAGES)) return -EINVAL;
  const npages = Number(npagesBig);
  const key = (asId << 16) | id;
  const old = kvm.memslots.get(key) ?? null;
  const baseGfn = gpa / BigInt(PAGE_SIZE);
  if (npages === 0) {
    // KVM_MR_DELETE
    if (old === null) return -EINVAL;
    kvmMmuUnmap(kvm, old.mappedPages); // kvm_arch_flush_shadow_memslot
    kvmFreeMemslot(k, old);
    kvm.memslots.delete(key);
    kvmUpdateMaxMmuPages(kvm); // kvm_arch_commit_memory_region (KVM_MR_DELETE)
    return 0;
  }
  let change: 'create' | 'move' | 'flags';
  if (old === null) change = 'create';
  else {
    if (hva !== old.userspaceAddr || npages !== old.npages || (flags ^ old.flags) & KVM_MEM_READONLY) return -EINVAL;
    if (baseGfn !== old.baseGfn) change = 'move';
    else if (flags !== old.flags) change = 'flags';
    else return 0;
  }
  if (change === 'create' || change === 'move') {
    for (const s of kvm.memslots.values()) {
      if (s === old || s.asId !== asId) continue;
      if (baseGfn < s.baseGfn + BigInt(s.npages) && s.baseGfn < baseGfn + npagesBig) return -EEXIST;
    }
  }
  // allocations, all or nothing
  let kmem: KmemObj[] | null = null;
  if (change === 'create') {
    const r = kmallocAccountAll(k, task, [KVM_MEMSLOT_STRUCT_BYTES, lpageInfoBytes(baseGfn, npages)]);
    if (typeof r === 'number') return r;
    kmem = r;
  }
  let bitmap: KmemObj | null = old?.dirtyBitmap ?? null;
  const wantBitmap = (flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0;
  if (wantBitmap && bitmap === null) {
    const b = kmallocAccount(k, task, dirtyBitmapBytes(npages));
    if (typeof b === 'number') {
      if (kmem !== null) for (const o of kmem) kfreeAccount(k, o);
      return b;
    }
    bitmap = b;
  }
  if (change === 'create') {
    const s = new KvmMemorySlot(asId, id, flags, baseGfn, npages, hva, kmem!);
    s.dirtyBitmap = bitmap;
    kvm.memslots.set(key, s);
    kvmUpdateMaxMmuPages(kvm); // kvm_arch_commit_memory_region (KVM_MR_CREATE)
    return 0;
  }
  const s = old!;
  if (!wantBitmap && s.dirtyBitmap !== null) kfreeAccount(k, s.dirtyBitmap);
  s.dirtyBitmap = wantBitmap ? bitmap : null;
  s.flags = flags;
  if (change === 'move') {
    kvmMmuUnmap(kvm, s.mappedPages); // a moved slot is unmapped and faulted in again
    s.mappedPages = 0;
    s.baseGfn = baseGfn;
  }
  return 0;
}

/** kvm_ioctl_create_device: 0 (cd.fd filled) or -errno. */
function kvmIoctlCreateDevice(k: Kernel, kvm: Kvm, task: Task, arg: unknown): number {
  if (!isStruct(arg)) return -EFAULT;
  const type = u32Field(arg, 'type');
  const flags = u32Field(arg, 'flags');
  if (type === null || flags === null) return -EFAULT;
  if (type !== KVM_DEV_TYPE_VFIO) return -ENODEV;
  if (flags & KVM_CREATE_DEVICE_TEST) return 0;
  const o = kmallocAccount(k, task, KVM_DEVICE_STRUCT_BYTES);
  if (typeof o === 'number') return o;
  // kvm_vfio_create: "Only one VFIO "device" per VM" (from memory)
  if (kvm.devices.some((d) => d.type === KVM_DEV_TYPE_VFIO)) {
    kfreeAccount(k, o);
    return -EBUSY;
  }
  const e = unusedFdCheck(task);
  if (e < 0) {
    kfreeAccount(k, o);
    return e;
  }
  const dev = new KvmDevice(type, o);
  kvmGetKvm(kvm);
  kvm.devices.push(dev);
  const fd = anonInodeGetfd(k, task, 'kvm-vfio', kvmDeviceFops, { kvm, dev });
  // kvm_vm_ioctl: copy_to_user(argp, &cd) after the device and its fd exist; when it
  // faults (a frozen or read-only struct) the call is -EFAULT and the fd stays
  // installed, as in the kernel
  return copyToUser(arg, { fd }) ? 0 : -EFAULT;
}

// ---- device fd ----------------------------------------------------------------------------

function kvmDeviceIoctl(k: Kernel, file: File, task: Task, request: number, arg: unknown): number {
  const { kvm } = file.privateData as { kvm: Kvm; dev: KvmDevice };
  if (task.mm !== kvm.mm || kvm.vmDead) return -EIO;
  switch (request) {
    case KVM_SET_DEVICE_ATTR:
    case KVM_GET_DEVICE_ATTR:
    case KVM_HAS_DEVICE_ATTR: {
      if (!isStruct(arg)) return -EFAULT;
      const group = u32Field(arg, 'group');
      const attr = u64Field(arg, 'attr');
      const addr = u64Field(arg, 'addr');
      if (u32Field(arg, 'flags') === null || group === null || attr === null || addr === null) return -EFAULT;
      if (request === KVM_GET_DEVICE_ATTR) return -EPERM; // kvm-vfio has no get_attr
      const known = group === KVM_DEV_VFIO_FILE && (attr === BigInt(KVM_DEV_VFIO_FILE_ADD) || attr === BigInt(KVM_DEV_VFIO_FILE_DEL));
      if (!known) return -ENXIO;
      if (request === KVM_HAS_DEVICE_ATTR) return 0;
      // kvm_vfio_file_add/del read an fd at `addr`; the model takes `addr` as that fd.
      // There are no VFIO files in the model: an open fd is not one (-EINVAL).
      return k.fileOf(task, Number(addr)) === null ? -EBADF : -EINVAL;
    }
    default:
      return -ENOTTY; // kvm-vfio has no ->ioctl
  }
}

const kvmDeviceFops: FileOperations = {
  unlockedIoctl: kvmDeviceIoctl,
  release: (_k, _inode, file) => kvmPutKvm((file.privateData as { kvm: Kvm }).kvm),
};

// ---- vCPU fd ------------------------------------------------------------------------------

function kvmVcpuIoctl(k: Kernel, file: File, task: Task, request: number, arg: unknown): number {
  const { kvm, vcpu } = file.privateData as { kvm: Kvm; vcpu: KvmVcpu };
  if (task.mm !== kvm.mm || kvm.vmDead) return -EIO;
  if (_IOC_TYPE(request) !== KVMIO) return -EINVAL;
  switch (request) {
    case KVM_RUN:
      if (argNonZero(arg)) return -EINVAL;
      return kvmArchVcpuIoctlRun(k, kvm, vcpu, task);
    default:
      return -EINVAL; // kvm_arch_vcpu_ioctl (x86 default; from memory)
  }
}

const kvmVcpuFops: FileOperations = {
  unlockedIoctl: kvmVcpuIoctl,
  // kvm_vcpu_release: only the reference on struct kvm; the vCPU lives with the VM
  release: (_k, _inode, file) => kvmPutKvm((file.privateData as { kvm: Kvm }).kvm),
};

/**
 * KVM_RUN on the calling thread: map the guest RAM not mapped yet (the model's guest
 * touches all of it), then run kwq.kvm_run_us of guest time. 0 or -errno.
 *
 * Before that, by release:
 *   kvm_nx_recovery_at_first_run (6.14, 6.12.y)  kvm_mmu_post_init_vm: the first KVM_RUN
 *     of the VM makes the NX recovery worker (call_once), as this thread; if that
 *     failed, every KVM_RUN is -ENOMEM
 *   no kvm_tdp_root_without_quota (< 6.9)  kvm_mmu_load -> mmu_alloc_direct_roots ->
 *     make_mmu_pages_available: -ENOSPC while n_max_mmu_pages is 0 (no memslot was
 *     ever created or deleted); the vCPU's root stays unloaded, so every run fails
 *     until then (measured on 6.1.192: ENOSPC for both vCPUs of a VM without memslots)
 */
function kvmArchVcpuIoctlRun(k: Kernel, kvm: Kvm, vcpu: KvmVcpu, task: Task): number {
  vcpu.lastRunPid = task.pid;
  if (k.has('kvm_nx_recovery_at_first_run')) {
    if (!kvm.nxOnce) {
      kvm.nxOnce = true;
      kvmNxRecoveryStart(kvm, task);
    }
    if (kvm.nxThread === null) return -ENOMEM;
  }
  if (!k.has('kvm_tdp_root_without_quota') && kvm.nMaxMmuPages === 0) return -ENOSPC;
  for (const s of [...kvm.memslots.values()].sort((a, b) => a.asId - b.asId || a.id - b.id)) {
    while (s.mappedPages < s.npages) {
      const n = Math.min(FAULT_CHUNK, s.npages - s.mappedPages);
      // guest RAM is the VMM's anonymous memory: resident already, or charged now to kvm->mm's owner
      const resident = kvm.residentByHva.get(s.userspaceAddr) ?? 0;
      const fresh = Math.max(0, s.mappedPages + n - resident);
      if (fresh > 0) {
        const r = chargeAnon(k, kvm.mm, fresh, task);
        if (r < 0) return task.alive ? -EFAULT : r;
        kvm.residentByHva.set(s.userspaceAddr, resident + fresh);
        kvm.guestPagesFaulted += fresh;
      }
      const m = kvmMmuMap(kvm, task, n);
      if (m < 0) return task.alive ? -EFAULT : m;
      s.mappedPages += n;
    }
  }
  const ns = Number(k.kwqSwitch('kvm_run_us')) * 1000;
  k.chargeCpu(task, ns, true); // guest time is accounted as user time (account_guest_time)
  vcpu.guestNs += ns;
  vcpu.runs++;
  vcpu.exitReason = KVM_EXIT_HLT;
  return 0;
}

// ---- inspection -----------------------------------------------------------------------------

/** One VM as `kvmVms(k)` shows it. */
export interface KvmInfo {
  id: number;
  creatorPid: number;
  creatorCgroup: string;
  /** references: the VM file + each vCPU file + each device file */
  usersCount: number;
  vcpus: number;
  memslots: number;
  devices: number;
  /** kernel memory charged for the VM (struct kvm, vCPUs, memslots, devices, page tables) */
  kernelBytes: number;
  pageTableBytes: number;
  /** guest RAM the model's guest faulted in (the VMM's anon memory) */
  guestBytesFaulted: number;
  /** guest time run by all vCPUs, ns */
  guestNs: number;
}

/** The live (not yet destroyed) VMs of `k`. */
export function kvmVms(k: Kernel): KvmInfo[] {
  return kvmList(k).map((kvm) => ({
    id: kvm.id,
    creatorPid: kvm.creatorPid,
    creatorCgroup: kvm.creatorCgroup,
    usersCount: kvm.usersCount,
    vcpus: kvm.vcpus.length,
    memslots: kvm.memslots.size,
    devices: kvm.devices.length,
    kernelBytes: kvm.kernelBytes,
    pageTableBytes: kvm.pageTables.length * PAGE_SIZE,
    guestBytesFaulted: kvm.guestPagesFaulted * PAGE_SIZE,
    guestNs: kvm.vcpus.reduce((a, v) => a + v.guestNs, 0),
  }));
}

/** kvm_run.exit_reason of the vCPU behind `fd` of `task` (the model's stand-in for the mmap'd struct kvm_run), or -EBADF. */
export function kvmVcpuExitReason(k: Kernel, task: Task, fd: number): number {
  const f = k.fileOf(task, fd);
  if (f === null || f.fop.unlockedIoctl !== kvmVcpuIoctl) return -EBADF;
  return (f.privateData as { vcpu: KvmVcpu }).vcpu.exitReason;
}

// ---- module -------------------------------------------------------------------------------

registerKwqSwitch('kvm_run_us', {
  type: 'uint', default: 1000, min: 0, max: 60_000_000,
  description: 'guest time one KVM_RUN runs before the model guest halts, µs',
});

registerModule({
  name: 'kvm',
  init(k) {
    // misc device "kvm": major 10, minor KVM_MINOR (232)
    registerChrdev(k, { name: 'kvm', major: 10, minor: 232, fops: kvmChardevFops });
  },
  exit(k) {
    // a kernel shut down with VMs still open: nothing is left to charge
    for (const kvm of kvmList(k)) if (!kvm.destroyed) kvmDestroyVm(kvm);
  },
});

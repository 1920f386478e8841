/**
 * struct kvm: one virtual machine. Its lifetime is the lifetime of the files that
 * refer to it, not of its creator (Documentation/virt/kvm/api.rst section 2; kernel-
 * reference.md section 8):
 *
 *   users_count  1 for the VM fd's struct file (shared by every dup and every fork's
 *                copy of the fd table: the file is released once, on the last fput),
 *                +1 per vCPU fd, +1 per device fd. kvm_put_kvm at 0 -> kvm_destroy_vm.
 *   mm           the creator's mm_struct, pinned with mmgrab (mm_count, not mm_users:
 *                the address space can still be torn down when the creator exits).
 *                kvm_vm_ioctl / kvm_vcpu_ioctl / kvm_device_ioctl return -EIO when
 *                current->mm != kvm->mm, before any other check.
 *
 * Who pays (memory.current of the creator's cgroup, kind 'kernel' in memory.stat):
 *
 *   at KVM_CREATE_VM        struct kvm (x86: kvm_arch_alloc_vm, __vmalloc
 *                           GFP_KERNEL_ACCOUNT), its memslot arrays and I/O buses
 *   at KVM_CREATE_VCPU      the vCPU (kvm-vcpu.ts)
 *   at KVM_SET_USER_MEMORY_REGION   the memslot (kvm-memslot.ts)
 *   at KVM_RUN              the page tables that map guest RAM (TDP MMU pages from the
 *                           vCPU's mmu caches, __GFP_ACCOUNT), and the guest RAM
 *                           itself, which is anonymous memory of kvm->mm
 *
 * Everything but the guest RAM stays charged until kvm_destroy_vm, whoever holds the
 * last fd: a forked child that kept the VM fd keeps the charges in the creator's
 * cgroup after the creator exited. Two things go earlier, with the creator's address
 * space (exit_mmap): the guest RAM (it is the mm's anon memory) and the page tables
 * (KVM's mmu_notifier release callback zaps every mapping: kvm_mmu_notifier_release ->
 * kvm_arch_flush_shadow_all -> kvm_mmu_zap_all; read in an older virt/kvm/kvm_main.c
 * copy, find_string id 18031102695).
 *
 * The model runs every ioctl to completion, so there are no locks (kvm->lock,
 * slots_lock, vcpu->mutex) to model.
 */
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import { kfreeAccount, kmallocAccount, PAGE_SIZE, type KmemObj } from '../../kernel/memcontrol.js';
import { mmdrop, mmgrab, type MmStruct } from '../../kernel/mm.js';
import type { Task } from '../../kernel/task.js';
import { ENOMEM } from '../../kernel/errno.js';
import type { ThreadBody } from '../../runtime/sim-thread.js';
import type { KvmDevice } from './kvm-device.js';
import type { KvmMemorySlot } from './kvm-memslot.js';
import type { KvmVcpu } from './kvm-vcpu.js';

/**
 * What KVM_CREATE_VM allocates with GFP_KERNEL_ACCOUNT (bytes; the model's round
 * figures): struct kvm_vmx, the kvm_memslots sets (2 per address space, 2 address
 * spaces on x86 with SMM) and the kvm_io_bus array.
 */
export const KVM_VM_STRUCT_BYTES = 32768;
export const KVM_VM_MEMSLOTS_BYTES = 4 * 4096;
export const KVM_VM_BUSES_BYTES = 4096;

/**
 * x86 before CONFIG_KVM_MAX_NR_VCPUS (6.7): KVM_MAX_VCPUS 1024 whatever the config, and
 * KVM_MAX_VCPU_IDS = KVM_VCPU_ID_RATIO (4) * KVM_MAX_VCPUS (measured on 6.1.192: 1024 and
 * 4096). A kernel's own limits are kvmMaxVcpus(k) and kvmMaxVcpuIds(k).
 */
export const KVM_MAX_VCPUS = 1024;
export const KVM_MAX_VCPU_IDS = 4096;
export const KVM_VCPU_ID_RATIO = 4;
/**
 * CONFIG_KVM_MAX_NR_VCPUS as Debian builds it (MAXSMP=y: the Kconfig default 4096; read
 * in the 6.12.118 package's config, measured KVM_CAP_MAX_VCPUS 4096 and _ID 16384).
 */
export const KVM_MAX_NR_VCPUS_CONFIG = 4096;

/** KVM_MAX_VCPUS of `k`'s release (kvm_max_nr_vcpus_config, 6.7+: the config's value). */
export function kvmMaxVcpus(k: Kernel): number {
  return k.has('kvm_max_nr_vcpus_config') ? KVM_MAX_NR_VCPUS_CONFIG : KVM_MAX_VCPUS;
}

/** KVM_MAX_VCPU_IDS: KVM_VCPU_ID_RATIO * KVM_MAX_VCPUS */
export function kvmMaxVcpuIds(k: Kernel): number {
  return KVM_VCPU_ID_RATIO * kvmMaxVcpus(k);
}

/** KVM_PERMILLE_MMU_PAGES and KVM_MIN_ALLOC_MMU_PAGES (kvm_mmu_calculate_default_mmu_pages) */
const KVM_PERMILLE_MMU_PAGES = 20;
const KVM_MIN_ALLOC_MMU_PAGES = 64;
/** x86: KVM_USER_MEM_SLOTS = KVM_MEM_SLOTS_NUM (32767) - KVM_INTERNAL_MEM_SLOTS (3) */
export const KVM_USER_MEM_SLOTS = 32764;
/** x86 with SMM: two memslot address spaces */
export const KVM_ADDRESS_SPACE_NUM = 2;
/** KVM_MEM_MAX_NR_PAGES: (1 << 31) - 1 */
export const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;

/** 512 entries per page-table page (x86-64, 4 KiB pages) */
const PTES_PER_PAGE = 512;

let nextVmId = 1;

export class Kvm {
  readonly id = nextVmId++;
  /** refcount_t users_count */
  usersCount = 1;
  /** kvm->vm_dead (KVM_BUG_ON); the model never sets it, the -EIO check reads it */
  vmDead = false;
  destroyed = false;
  /** kvm->created_vcpus */
  createdVcpus = 0;
  readonly vcpus: KvmVcpu[] = [];
  /** memslots by (asId << 16 | id) */
  readonly memslots = new Map<number, KvmMemorySlot>();
  readonly devices: KvmDevice[] = [];
  /** guest RAM resident in kvm->mm, by userspace_addr of the range it was faulted for */
  readonly residentByHva = new Map<bigint, number>();
  /** TDP page-table pages (one KmemObj per page) and the guest pages they map */
  readonly pageTables: KmemObj[] = [];
  mappedPages = 0;
  /** guest RAM faulted in by KVM_RUN, pages (all slots, all time; the mm owns them) */
  guestPagesFaulted = 0;
  /**
   * kvm->arch.n_max_mmu_pages: 0 until a memslot is created or deleted
   * (kvm_arch_commit_memory_region: kvm_mmu_calculate_default_mmu_pages)
   */
  nMaxMmuPages = 0;
  /** the NX huge page recovery worker (kthread or vhost_task), once made */
  nxThread: Task | null = null;
  /** kvm->arch.nx_once: the first KVM_RUN tried to make the worker (kvm_nx_recovery_at_first_run) */
  nxOnce = false;
  /** pid of the creator (inspection) */
  readonly creatorPid: number;
  /** the memcg path the creator was charged in (inspection) */
  readonly creatorCgroup: string;
  /** the mmu_notifier release hook registered on mm */
  readonly release: (mm: MmStruct) => void;

  constructor(
    readonly k: Kernel,
    readonly mm: MmStruct,
    creator: Task,
    /** the accounted allocations of KVM_CREATE_VM */
    readonly kmem: KmemObj[],
  ) {
    this.creatorPid = creator.pid;
    this.creatorCgroup = creator.cgroup;
    this.release = () => kvmMmuNotifierRelease(this);
  }

  /** bytes of kernel memory this VM holds charged (vm, vCPUs, memslots, devices, page tables) */
  get kernelBytes(): number {
    let pages = 0;
    for (const o of this.kmem) if (!o.freed) pages += o.pages;
    for (const v of this.vcpus) for (const o of v.kmem) if (!o.freed) pages += o.pages;
    for (const s of this.memslots.values()) {
      for (const o of s.kmem) if (!o.freed) pages += o.pages;
      if (s.dirtyBitmap !== null && !s.dirtyBitmap.freed) pages += s.dirtyBitmap.pages;
    }
    for (const d of this.devices) if (!d.kmem.freed) pages += d.kmem.pages;
    pages += this.pageTables.length;
    return pages * PAGE_SIZE;
  }
}

/** The VMs of each kernel (live ones; destroyed VMs are removed). */
const vmsOf = new WeakMap<Kernel, Set<Kvm>>();

export function kvmList(k: Kernel): Kvm[] {
  return [...(vmsOf.get(k) ?? [])];
}

/**
 * Allocate `sizes` bytes each with GFP_KERNEL_ACCOUNT as `current`; all or nothing.
 * Returns the objects or -errno (-ENOMEM, -EINTR if current was the OOM victim).
 */
export function kmallocAccountAll(k: Kernel, current: Task, sizes: readonly number[]): KmemObj[] | number {
  const out: KmemObj[] = [];
  for (const b of sizes) {
    const o = kmallocAccount(k, current, b);
    if (typeof o === 'number') {
      for (const x of out) kfreeAccount(k, x);
      return o;
    }
    out.push(o);
  }
  return out;
}

/**
 * kvm_create_vm: struct kvm for `current` (the KVM_CREATE_VM caller), charged to its
 * memcg, kvm->mm = current->mm with mmgrab. Returns the VM or -errno.
 */
export function kvmCreateVm(k: Kernel, current: Task): Kvm | number {
  const mm = current.mm;
  if (mm === null) throw new KwqError('KVM_CREATE_VM', `${current} has no mm (a kthread cannot create a VM in the model)`);
  const kmem = kmallocAccountAll(k, current, [KVM_VM_STRUCT_BYTES, KVM_VM_MEMSLOTS_BYTES, KVM_VM_BUSES_BYTES]);
  if (typeof kmem === 'number') return kmem;
  mmgrab(mm);
  const kvm = new Kvm(k, mm, current, kmem);
  // mmu_notifier_register: the VM hears when the address space is torn down
  mm.releaseHooks.push(kvm.release);
  let set = vmsOf.get(k);
  if (set === undefined) {
    set = new Set();
    vmsOf.set(k, set);
  }
  set.add(kvm);
  return kvm;
}

/** kvm_get_kvm */
export function kvmGetKvm(kvm: Kvm): void {
  if (kvm.usersCount <= 0) throw new KwqError('kvm_get_kvm', `VM ${kvm.id} has no users left`);
  kvm.usersCount++;
}

/** kvm_put_kvm: the last reference destroys the VM. */
export function kvmPutKvm(kvm: Kvm): void {
  if (kvm.usersCount <= 0) throw new KwqError('kvm_put_kvm', `VM ${kvm.id}: users_count underflow`);
  if (--kvm.usersCount === 0) kvmDestroyVm(kvm);
}

/**
 * kvm_destroy_vm: mmu_notifier_unregister, free the vCPUs, devices, memslots, page
 * tables and struct kvm (every kernel charge goes), then mmdrop(kvm->mm).
 */
export function kvmDestroyVm(kvm: Kvm): void {
  const k = kvm.k;
  kvmNxRecoveryStop(kvm); // kvm_arch_pre_destroy_vm -> kvm_mmu_pre_destroy_vm
  const i = kvm.mm.releaseHooks.indexOf(kvm.release);
  if (i >= 0) kvm.mm.releaseHooks.splice(i, 1);
  kvmMmuZapAll(kvm);
  for (const v of kvm.vcpus) for (const o of v.kmem) kfreeAccount(k, o);
  for (const d of kvm.devices) kfreeAccount(k, d.kmem);
  for (const s of kvm.memslots.values()) kvmFreeMemslot(k, s);
  kvm.memslots.clear();
  for (const o of kvm.kmem) kfreeAccount(k, o);
  kvm.destroyed = true;
  vmsOf.get(k)?.delete(kvm);
  mmdrop(kvm.mm);
}

/**
 * kvm_mmu_calculate_default_mmu_pages + kvm_mmu_change_mmu_pages, run when a memslot is
 * created or deleted (no KVM_SET_NR_MMU_PAGES in the model): 20 per mille of the guest
 * pages of every address space, at least 64. A VM that never had a memslot keeps 0.
 */
export function kvmUpdateMaxMmuPages(kvm: Kvm): void {
  let pages = 0;
  for (const s of kvm.memslots.values()) pages += s.npages;
  kvm.nMaxMmuPages = Math.max(Math.floor((pages * KVM_PERMILLE_MMU_PAGES) / 1000), KVM_MIN_ALLOC_MMU_PAGES);
}

// ---- the NX huge page recovery worker -------------------------------------------------

/** Its body: the model has no NX huge pages to recover, so it only sleeps between passes. */
const nxRecoveryBody: ThreadBody = { run: () => false };

/**
 * Make the VM's NX huge page recovery worker as `current` (kvm_mmu_post_init_vm /
 * kvm_mmu_start_lpage_recovery; nx_huge_pages is never "never" in the model). 0 or -errno.
 *
 *   kvm_nx_recovery_vhost_task (6.13+, 6.12.y): vhost_task_create(..., "kvm-nx-lpage-
 *     recovery") + vhost_task_start: a PF_USER_WORKER thread of current's group (comm
 *     cut to "kvm-nx-lpage-re"); its SIGKILL handler does nothing (it dies with the
 *     VMM); any failure is -ENOMEM.
 *   before: kvm_vm_create_worker_thread: kthread "kvm-nx-lpage-recovery-<current's pid>",
 *     kthreadd's child, which attaches itself to current's cgroups first
 *     (cgroup_attach_task_all) and whose error fails the creation.
 */
export function kvmNxRecoveryStart(kvm: Kvm, current: Task): number {
  const k = kvm.k;
  if (k.has('kvm_nx_recovery_vhost_task')) {
    const t = k.userWorkerCreate(current, 'kvm-nx-lpage-recovery', nxRecoveryBody, () => {
      // kvm_nx_huge_page_recovery_worker_kill: nothing to do
    });
    if (typeof t === 'number') return -ENOMEM;
    kvm.nxThread = t;
    k.wakeUpProcess(t); // vhost_task_start
    return 0;
  }
  const name = `kvm-nx-lpage-recovery-${current.pid}`;
  const t = k.kthreadCreate(name, nxRecoveryBody);
  if (typeof t === 'number') return t;
  const r = k.cgroupAttachTaskAll(current, t);
  if (r !== 0) {
    k.kthreadStop(t);
    return r;
  }
  // /proc/<pid>/comm shows a kthread's full name (get_kthread_comm, 6.0+), which is
  // what the oracle reads: measured "kvm-nx-lpage-recovery-<pid>" on 6.1.192
  t.comm = name;
  kvm.nxThread = t;
  // kthread_unpark: it runs, finds nothing to recover and sleeps; the model leaves it asleep
  return 0;
}

/** kvm_mmu_pre_destroy_vm: kthread_stop or vhost_task_stop (a vhost_task killed with its VMM is gone already). */
export function kvmNxRecoveryStop(kvm: Kvm): void {
  const t = kvm.nxThread;
  kvm.nxThread = null;
  if (t === null || !t.alive) return;
  if (t.isKthread) kvm.k.kthreadStop(t);
  else kvm.k.userWorkerStop(t);
}

/** Free a memslot's kernel memory (the guest RAM belongs to the mm and stays). */
export function kvmFreeMemslot(k: Kernel, s: KvmMemorySlot): void {
  for (const o of s.kmem) kfreeAccount(k, o);
  if (s.dirtyBitmap !== null) kfreeAccount(k, s.dirtyBitmap);
  s.dirtyBitmap = null;
}

/** Page-table pages needed to map `n` guest pages with 4 KiB mappings (PT + PD + PDPT levels, plus the root). */
export function tdpPagesFor(n: number): number {
  if (n <= 0) return 0;
  let pages = 1; // the PML4 root
  for (let span = PTES_PER_PAGE; ; span *= PTES_PER_PAGE) {
    const level = Math.ceil(n / span);
    pages += level;
    if (level <= 1) break;
  }
  return pages;
}

/**
 * Map `n` more guest pages (a fault path): allocate the page-table pages that takes,
 * charged to `current` (the vCPU thread). 0 or -errno; on failure nothing was mapped.
 */
export function kvmMmuMap(kvm: Kvm, current: Task, n: number): number {
  const need = tdpPagesFor(kvm.mappedPages + n) - kvm.pageTables.length;
  const got: KmemObj[] = [];
  for (let i = 0; i < need; i++) {
    const o = kmallocAccount(kvm.k, current, PAGE_SIZE);
    if (typeof o === 'number') {
      for (const x of got) kfreeAccount(kvm.k, x);
      return o;
    }
    got.push(o);
  }
  for (const o of got) kvm.pageTables.push(o);
  kvm.mappedPages += n;
  return 0;
}

/** Unmap `n` guest pages (a deleted memslot: kvm_arch_flush_shadow_memslot) and free the page tables no longer needed. */
export function kvmMmuUnmap(kvm: Kvm, n: number): void {
  kvm.mappedPages = Math.max(0, kvm.mappedPages - n);
  const keep = tdpPagesFor(kvm.mappedPages);
  while (kvm.pageTables.length > keep) kfreeAccount(kvm.k, kvm.pageTables.pop()!);
}

/** kvm_mmu_zap_all: every mapping and page-table page goes. */
export function kvmMmuZapAll(kvm: Kvm): void {
  while (kvm.pageTables.length > 0) kfreeAccount(kvm.k, kvm.pageTables.pop()!);
  kvm.mappedPages = 0;
  for (const s of kvm.memslots.values()) s.mappedPages = 0;
}

/**
 * kvm_mmu_notifier_release: the creator's address space is being torn down (its last
 * user exited). KVM drops every mapping of guest RAM; the RAM itself is uncharged by
 * exit_mmap with the rest of the mm's anon memory.
 */
function kvmMmuNotifierRelease(kvm: Kvm): void {
  kvmMmuZapAll(kvm);
  kvm.residentByHva.clear();
}

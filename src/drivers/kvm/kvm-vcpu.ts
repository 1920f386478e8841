/**
 * struct kvm_vcpu, reduced to what the model accounts: its id, the kernel memory it
 * was allocated with (charged at KVM_CREATE_VCPU time to the caller's memcg), and
 * what its last KVM_RUN did.
 *
 * A vCPU is NOT freed when its fd is closed: kvm_vcpu_release() only drops the fd's
 * reference on struct kvm (kvm_put_kvm); the vCPUs go with the VM
 * (kvm_destroy_vm -> kvm_arch_destroy_vm -> kvm_destroy_vcpus). /tmp/research/notes.md Q5,
 * read in gregkh/linux virt/kvm/kvm_main.c @ 1a77ffcf.
 */
import type { KmemObj } from '../../kernel/memcontrol.js';
import { KVM_EXIT_UNKNOWN } from './uapi.js';

/**
 * What KVM_CREATE_VCPU allocates with GFP_KERNEL_ACCOUNT, in bytes. The split follows
 * kvm_vm_ioctl_create_vcpu (kmem_cache_zalloc(kvm_vcpu_cache) + alloc_page for the
 * kvm_run page) and VMX's vcpu_create (VMCS, MSR bitmap, ...); the sizes are the
 * model's round figures, not measured on a kernel.
 */
export const KVM_VCPU_STRUCT_BYTES = 16384; // struct vcpu_vmx from kvm_vcpu_cache (SLAB_ACCOUNT)
export const KVM_VCPU_RUN_PAGE_BYTES = 4096; // the mmap-able struct kvm_run page
export const KVM_VCPU_ARCH_BYTES = 16384; // VMCS, MSR bitmap, pio data page, APIC register page

export class KvmVcpu {
  /** kvm_run.exit_reason after the last KVM_RUN */
  exitReason = KVM_EXIT_UNKNOWN;
  /** KVM_RUN calls that entered the guest */
  runs = 0;
  /** guest time run by this vCPU, ns */
  guestNs = 0;
  /** pid of the thread of the last KVM_RUN (vCPU ioctls "should" come from one thread; only a performance matter) */
  lastRunPid = 0;
  constructor(
    /** vcpu_id, as passed to KVM_CREATE_VCPU */
    readonly vcpuId: number,
    /** vcpu_idx: creation order */
    readonly vcpuIdx: number,
    /** the accounted allocations: vcpu struct, run page, arch pages */
    readonly kmem: KmemObj[],
  ) {}
}

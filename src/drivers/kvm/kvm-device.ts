/**
 * struct kvm_device: a device created with KVM_CREATE_DEVICE on a VM fd (the model
 * has KVM_DEV_TYPE_VFIO, the kvm-vfio pseudo device every x86 VMM with passthrough
 * creates). Its fd holds a reference on struct kvm (kvm_ioctl_create_device does
 * kvm_get_kvm; kvm_device_release does kvm_put_kvm); the device itself lives until
 * the VM is destroyed (kvm_destroy_devices). Its struct is kzalloc'd with
 * GFP_KERNEL_ACCOUNT, so it is charged to the caller's memcg.
 */
import type { KmemObj } from '../../kernel/memcontrol.js';

export const KVM_DEVICE_STRUCT_BYTES = 128;

export class KvmDevice {
  constructor(
    readonly type: number,
    readonly kmem: KmemObj,
  ) {}
}

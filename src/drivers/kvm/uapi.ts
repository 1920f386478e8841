/**
 * KVM's user-space ABI (include/uapi/linux/kvm.h), the part kwq models. The request
 * numbers are the real _IO/_IOW/_IOWR encodings; each was printed by a C program
 * compiled against linux-libc-dev 6.1's <linux/kvm.h> on x86_64 (the values are ABI
 * and the same in every 6.x; /tmp/research/notes.md Q5 did the same check):
 *
 *   KVM_GET_API_VERSION         _IO(KVMIO, 0x00)                          0x0000AE00
 *   KVM_CREATE_VM               _IO(KVMIO, 0x01)                          0x0000AE01
 *   KVM_CHECK_EXTENSION         _IO(KVMIO, 0x03)   (/dev/kvm and VM fd)   0x0000AE03
 *   KVM_GET_VCPU_MMAP_SIZE      _IO(KVMIO, 0x04)                          0x0000AE04
 *   KVM_CREATE_VCPU             _IO(KVMIO, 0x41)                          0x0000AE41
 *   KVM_SET_USER_MEMORY_REGION  _IOW(KVMIO, 0x46, kvm_userspace_memory_region)  0x4020AE46
 *   KVM_RUN                     _IO(KVMIO, 0x80)                          0x0000AE80
 *   KVM_CREATE_DEVICE           _IOWR(KVMIO, 0xe0, kvm_create_device)    0xC00CAEE0
 *   KVM_SET/GET/HAS_DEVICE_ATTR _IOW(KVMIO, 0xe1/0xe2/0xe3, kvm_device_attr) 0x4018AEE1..E3
 *
 * Struct arguments are plain objects with the uapi field names (DESIGN.md):
 *
 *   struct kvm_userspace_memory_region {       32 bytes
 *     __u32 slot;             bits 16-31 address space id, bits 0-15 slot id
 *     __u32 flags;            KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY
 *     __u64 guest_phys_addr;
 *     __u64 memory_size;      bytes; 0 deletes the slot
 *     __u64 userspace_addr;   start of the VMM's anonymous memory backing the slot
 *   };
 *   struct kvm_create_device { __u32 type; __u32 fd; __u32 flags; }   (fd is filled)
 *   struct kvm_device_attr { __u32 flags; __u32 group; __u64 attr; __u64 addr; }
 */
import { _IO, _IOW, _IOWR } from '../../kernel/ioctl.js';

export const KVMIO = 0xae;
/** What KVM_GET_API_VERSION returns ("Applications should refuse to run if it returns a value other than 12"). */
export const KVM_API_VERSION = 12;

export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
export const KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03);
export const KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04);
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
/** sizeof(struct kvm_userspace_memory_region) */
export const KVM_USERSPACE_MEMORY_REGION_SIZE = 32;
export const KVM_SET_USER_MEMORY_REGION = _IOW(KVMIO, 0x46, KVM_USERSPACE_MEMORY_REGION_SIZE);
export const KVM_RUN = _IO(KVMIO, 0x80);
export const KVM_CREATE_DEVICE = _IOWR(KVMIO, 0xe0, 12);
export const KVM_SET_DEVICE_ATTR = _IOW(KVMIO, 0xe1, 24);
export const KVM_GET_DEVICE_ATTR = _IOW(KVMIO, 0xe2, 24);
export const KVM_HAS_DEVICE_ATTR = _IOW(KVMIO, 0xe3, 24);

/** kvm_userspace_memory_region.flags */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;

/** KVM_CREATE_DEVICE: kvm_create_device.flags */
export const KVM_CREATE_DEVICE_TEST = 1;
/** enum kvm_device_type: the one x86 device type the model has */
export const KVM_DEV_TYPE_VFIO = 4;
/** KVM_DEV_VFIO_FILE (formerly KVM_DEV_VFIO_GROUP) and its attributes */
export const KVM_DEV_VFIO_FILE = 1;
export const KVM_DEV_VFIO_FILE_ADD = 1;
export const KVM_DEV_VFIO_FILE_DEL = 2;

/** Capabilities (KVM_CAP_*) that KVM_CHECK_EXTENSION answers in the model. */
export const KVM_CAP_USER_MEMORY = 3;
export const KVM_CAP_SET_TSS_ADDR = 4;
export const KVM_CAP_EXT_CPUID = 7;
export const KVM_CAP_NR_VCPUS = 9;
export const KVM_CAP_NR_MEMSLOTS = 10;
export const KVM_CAP_MP_STATE = 14;
export const KVM_CAP_SYNC_MMU = 16;
export const KVM_CAP_DESTROY_MEMORY_REGION_WORKS = 21;
export const KVM_CAP_JOIN_MEMORY_REGIONS_WORKS = 30;
export const KVM_CAP_MAX_VCPUS = 66;
export const KVM_CAP_READONLY_MEM = 81;
export const KVM_CAP_DEVICE_CTRL = 89;
export const KVM_CAP_CHECK_EXTENSION_VM = 105;
export const KVM_CAP_MULTI_ADDRESS_SPACE = 118;
export const KVM_CAP_MAX_VCPU_ID = 128;
export const KVM_CAP_IMMEDIATE_EXIT = 136;

/** kvm_run.exit_reason values the model produces */
export const KVM_EXIT_UNKNOWN = 0;
export const KVM_EXIT_HLT = 5;

/** x86 kvm_x86_default VM type (KVM_X86_DEFAULT_VM); the only type KVM_CREATE_VM accepts in the model */
export const KVM_X86_DEFAULT_VM = 0;

/** struct kvm_userspace_memory_region, as user space passes it */
export interface KvmUserspaceMemoryRegion {
  slot: number;
  flags: number;
  guest_phys_addr: number | bigint;
  memory_size: number | bigint;
  userspace_addr: number | bigint;
}

/** struct kvm_create_device (fd is filled on success) */
export interface KvmCreateDevice {
  type: number;
  fd: number;
  flags: number;
}

/** struct kvm_device_attr */
export interface KvmDeviceAttr {
  flags: number;
  group: number;
  attr: number | bigint;
  addr: number | bigint;
}

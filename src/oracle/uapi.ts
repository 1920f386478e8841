/**
 * The ioctls a step script may name, with what the oracle needs to run them on both
 * executors: the request number (from kwq's exports, which carry the uapi encodings),
 * how the argument travels, and the C layout of its struct.
 *
 *   arg kind   Linux side (oracle/guest/kwq-oracle.c)        kwq side (k.ioctl)
 *   ---------  ---------------------------------------------  ---------------------------
 *   none       ioctl(fd, req, 0)                              k.ioctl(t, fd, req)
 *   int        ioctl(fd, req, V): the value itself            k.ioctl(t, fd, req, V)
 *   in         a pointer to a scalar the kernel reads          a plain number (DESIGN.md)
 *   out        a pointer to a scalar the kernel fills          a box { value }
 *   struct     a pointer to the struct below                   a plain object, uapi names
 *
 * Layouts are x86_64's (include/uapi/linux/vhost_types.h, loop.h, kvm.h). A struct field
 * the kernel fills is recorded after the call for `_IOR`/`_IOWR` requests and for `out`.
 */
import {
  VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER, VHOST_RESET_OWNER, VHOST_SET_MEM_TABLE,
  VHOST_NEW_WORKER, VHOST_FREE_WORKER, VHOST_SET_VRING_NUM, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_BASE,
  VHOST_GET_VRING_BASE, VHOST_ATTACH_VRING_WORKER, VHOST_GET_VRING_WORKER, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL,
  VHOST_SET_VRING_ERR, VHOST_SET_FORK_FROM_OWNER, VHOST_GET_FORK_FROM_OWNER, VHOST_NET_SET_BACKEND,
  VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_CLEAR_ENDPOINT, VHOST_SCSI_GET_ABI_VERSION, VHOST_VSOCK_SET_GUEST_CID,
  VHOST_VSOCK_SET_RUNNING, VHOST_SET_LOG_FD,
} from '../drivers/vhost/public.js';
import {
  LOOP_SET_FD, LOOP_CLR_FD, LOOP_SET_STATUS64, LOOP_GET_STATUS64, LOOP_CHANGE_FD, LOOP_SET_CAPACITY,
  LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE, LOOP_CONFIGURE, LOOP_CTL_ADD, LOOP_CTL_REMOVE, LOOP_CTL_GET_FREE,
} from '../drivers/loop/index.js';
import {
  KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE, KVM_CREATE_VCPU,
  KVM_SET_USER_MEMORY_REGION, KVM_RUN,
} from '../drivers/kvm/index.js';
import { _IOC_DIR, _IOC_READ } from '../kernel/ioctl.js';

export type FieldType = 'u8' | 'u16' | 'u32' | 'i32' | 'u64' | { char: number } | { struct: StructLayout };

export interface FieldLayout {
  name: string;
  offset: number;
  type: FieldType;
}

export interface StructLayout {
  name: string;
  size: number;
  fields: readonly FieldLayout[];
}

export type ArgKind = 'none' | 'int' | 'in' | 'out' | 'struct';

export interface IoctlInfo {
  name: string;
  request: number;
  arg: ArgKind;
  /** the scalar's size for `in`/`out` */
  size?: number;
  struct?: StructLayout;
  /** the struct's trailing array (vhost_memory.regions) */
  tail?: { field: string; count: string; layout: StructLayout };
  /** the return value is a new fd (compared as one) */
  returnsFd?: boolean;
}

const f = (name: string, offset: number, type: FieldType): FieldLayout => ({ name, offset, type });

const vhostVringState: StructLayout = { name: 'vhost_vring_state', size: 8, fields: [f('index', 0, 'u32'), f('num', 4, 'u32')] };
const vhostVringFile: StructLayout = { name: 'vhost_vring_file', size: 8, fields: [f('index', 0, 'u32'), f('fd', 4, 'i32')] };
const vhostVringAddr: StructLayout = {
  name: 'vhost_vring_addr', size: 40,
  fields: [
    f('index', 0, 'u32'), f('flags', 4, 'u32'), f('desc_user_addr', 8, 'u64'), f('used_user_addr', 16, 'u64'),
    f('avail_user_addr', 24, 'u64'), f('log_guest_addr', 32, 'u64'),
  ],
};
const vhostWorkerState: StructLayout = { name: 'vhost_worker_state', size: 4, fields: [f('worker_id', 0, 'u32')] };
const vhostVringWorker: StructLayout = { name: 'vhost_vring_worker', size: 8, fields: [f('index', 0, 'u32'), f('worker_id', 4, 'u32')] };
const vhostMemory: StructLayout = { name: 'vhost_memory', size: 8, fields: [f('nregions', 0, 'u32'), f('padding', 4, 'u32')] };
const vhostMemoryRegion: StructLayout = {
  name: 'vhost_memory_region', size: 32,
  fields: [f('guest_phys_addr', 0, 'u64'), f('memory_size', 8, 'u64'), f('userspace_addr', 16, 'u64'), f('flags_padding', 24, 'u64')],
};
const vhostScsiTarget: StructLayout = {
  name: 'vhost_scsi_target', size: 232,
  fields: [f('abi_version', 0, 'i32'), f('vhost_wwpn', 4, { char: 224 }), f('vhost_tpgt', 228, 'u16'), f('reserved', 230, 'u16')],
};
const loopInfo64: StructLayout = {
  name: 'loop_info64', size: 232,
  fields: [
    f('lo_device', 0, 'u64'), f('lo_inode', 8, 'u64'), f('lo_rdevice', 16, 'u64'), f('lo_offset', 24, 'u64'),
    f('lo_sizelimit', 32, 'u64'), f('lo_number', 40, 'u32'), f('lo_encrypt_type', 44, 'u32'),
    f('lo_encrypt_key_size', 48, 'u32'), f('lo_flags', 52, 'u32'), f('lo_file_name', 56, { char: 64 }),
    f('lo_crypt_name', 120, { char: 64 }),
    // lo_encrypt_key[32] at 184 and lo_init[2] at 216 are not modelled as inputs; they stay zero
  ],
};
const loopConfig: StructLayout = {
  name: 'loop_config', size: 304,
  fields: [f('fd', 0, 'u32'), f('block_size', 4, 'u32'), f('info', 8, { struct: loopInfo64 })],
};
const kvmUserspaceMemoryRegion: StructLayout = {
  name: 'kvm_userspace_memory_region', size: 32,
  fields: [f('slot', 0, 'u32'), f('flags', 4, 'u32'), f('guest_phys_addr', 8, 'u64'), f('memory_size', 16, 'u64'), f('userspace_addr', 24, 'u64')],
};

const TABLE: IoctlInfo[] = [
  // vhost core (drivers/vhost/vhost.c vhost_dev_ioctl / vhost_vring_ioctl) and the devices
  { name: 'VHOST_GET_FEATURES', request: VHOST_GET_FEATURES, arg: 'out', size: 8 },
  { name: 'VHOST_SET_FEATURES', request: VHOST_SET_FEATURES, arg: 'in', size: 8 },
  { name: 'VHOST_SET_OWNER', request: VHOST_SET_OWNER, arg: 'none' },
  { name: 'VHOST_RESET_OWNER', request: VHOST_RESET_OWNER, arg: 'none' },
  { name: 'VHOST_SET_MEM_TABLE', request: VHOST_SET_MEM_TABLE, arg: 'struct', struct: vhostMemory, tail: { field: 'regions', count: 'nregions', layout: vhostMemoryRegion } },
  { name: 'VHOST_SET_LOG_FD', request: VHOST_SET_LOG_FD, arg: 'in', size: 4 },
  { name: 'VHOST_NEW_WORKER', request: VHOST_NEW_WORKER, arg: 'struct', struct: vhostWorkerState },
  { name: 'VHOST_FREE_WORKER', request: VHOST_FREE_WORKER, arg: 'struct', struct: vhostWorkerState },
  { name: 'VHOST_SET_VRING_NUM', request: VHOST_SET_VRING_NUM, arg: 'struct', struct: vhostVringState },
  { name: 'VHOST_SET_VRING_ADDR', request: VHOST_SET_VRING_ADDR, arg: 'struct', struct: vhostVringAddr },
  { name: 'VHOST_SET_VRING_BASE', request: VHOST_SET_VRING_BASE, arg: 'struct', struct: vhostVringState },
  { name: 'VHOST_GET_VRING_BASE', request: VHOST_GET_VRING_BASE, arg: 'struct', struct: vhostVringState },
  { name: 'VHOST_ATTACH_VRING_WORKER', request: VHOST_ATTACH_VRING_WORKER, arg: 'struct', struct: vhostVringWorker },
  { name: 'VHOST_GET_VRING_WORKER', request: VHOST_GET_VRING_WORKER, arg: 'struct', struct: vhostVringWorker },
  { name: 'VHOST_SET_VRING_KICK', request: VHOST_SET_VRING_KICK, arg: 'struct', struct: vhostVringFile },
  { name: 'VHOST_SET_VRING_CALL', request: VHOST_SET_VRING_CALL, arg: 'struct', struct: vhostVringFile },
  { name: 'VHOST_SET_VRING_ERR', request: VHOST_SET_VRING_ERR, arg: 'struct', struct: vhostVringFile },
  { name: 'VHOST_SET_FORK_FROM_OWNER', request: VHOST_SET_FORK_FROM_OWNER, arg: 'in', size: 1 },
  { name: 'VHOST_GET_FORK_FROM_OWNER', request: VHOST_GET_FORK_FROM_OWNER, arg: 'out', size: 1 },
  { name: 'VHOST_NET_SET_BACKEND', request: VHOST_NET_SET_BACKEND, arg: 'struct', struct: vhostVringFile },
  { name: 'VHOST_SCSI_SET_ENDPOINT', request: VHOST_SCSI_SET_ENDPOINT, arg: 'struct', struct: vhostScsiTarget },
  { name: 'VHOST_SCSI_CLEAR_ENDPOINT', request: VHOST_SCSI_CLEAR_ENDPOINT, arg: 'struct', struct: vhostScsiTarget },
  // _IOW in the header, but vhost_scsi_ioctl copy_to_user()s the version into it
  { name: 'VHOST_SCSI_GET_ABI_VERSION', request: VHOST_SCSI_GET_ABI_VERSION, arg: 'out', size: 4 },
  { name: 'VHOST_VSOCK_SET_GUEST_CID', request: VHOST_VSOCK_SET_GUEST_CID, arg: 'in', size: 8 },
  { name: 'VHOST_VSOCK_SET_RUNNING', request: VHOST_VSOCK_SET_RUNNING, arg: 'in', size: 4 },
  // loop (drivers/block/loop.c lo_ioctl, loop_control_ioctl)
  { name: 'LOOP_SET_FD', request: LOOP_SET_FD, arg: 'int' },
  { name: 'LOOP_CLR_FD', request: LOOP_CLR_FD, arg: 'none' },
  { name: 'LOOP_SET_STATUS64', request: LOOP_SET_STATUS64, arg: 'struct', struct: loopInfo64 },
  { name: 'LOOP_GET_STATUS64', request: LOOP_GET_STATUS64, arg: 'struct', struct: loopInfo64 },
  { name: 'LOOP_CHANGE_FD', request: LOOP_CHANGE_FD, arg: 'int' },
  { name: 'LOOP_SET_CAPACITY', request: LOOP_SET_CAPACITY, arg: 'none' },
  { name: 'LOOP_SET_DIRECT_IO', request: LOOP_SET_DIRECT_IO, arg: 'int' },
  { name: 'LOOP_SET_BLOCK_SIZE', request: LOOP_SET_BLOCK_SIZE, arg: 'int' },
  { name: 'LOOP_CONFIGURE', request: LOOP_CONFIGURE, arg: 'struct', struct: loopConfig },
  { name: 'LOOP_CTL_ADD', request: LOOP_CTL_ADD, arg: 'int' },
  { name: 'LOOP_CTL_REMOVE', request: LOOP_CTL_REMOVE, arg: 'int' },
  { name: 'LOOP_CTL_GET_FREE', request: LOOP_CTL_GET_FREE, arg: 'none' },
  // kvm (virt/kvm/kvm_main.c)
  { name: 'KVM_GET_API_VERSION', request: KVM_GET_API_VERSION, arg: 'none' },
  { name: 'KVM_CREATE_VM', request: KVM_CREATE_VM, arg: 'int', returnsFd: true },
  { name: 'KVM_CHECK_EXTENSION', request: KVM_CHECK_EXTENSION, arg: 'int' },
  { name: 'KVM_GET_VCPU_MMAP_SIZE', request: KVM_GET_VCPU_MMAP_SIZE, arg: 'none' },
  { name: 'KVM_CREATE_VCPU', request: KVM_CREATE_VCPU, arg: 'int', returnsFd: true },
  { name: 'KVM_SET_USER_MEMORY_REGION', request: KVM_SET_USER_MEMORY_REGION, arg: 'struct', struct: kvmUserspaceMemoryRegion },
  { name: 'KVM_RUN', request: KVM_RUN, arg: 'none' },
];

const BY_NAME = new Map(TABLE.map((i) => [i.name, i]));

export function ioctlInfo(name: string): IoctlInfo | undefined {
  return BY_NAME.get(name);
}

export function ioctlNames(): string[] {
  return TABLE.map((i) => i.name);
}

/** the kernel writes the argument back: an `out` scalar or a `_IOR`/`_IOWR` struct */
export function ioctlFills(info: IoctlInfo): boolean {
  if (info.arg === 'out') return true;
  return info.arg === 'struct' && (_IOC_DIR(info.request) & _IOC_READ) !== 0;
}

/** the size of a struct with its trailing array filled to `count` entries */
export function structBytes(info: IoctlInfo, count: number): number {
  return (info.struct?.size ?? info.size ?? 0) + (info.tail ? info.tail.layout.size * count : 0);
}

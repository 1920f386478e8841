/**
 * include/uapi/linux/vhost.h and vhost_types.h: request numbers and structs.
 *
 * Numbers use the generic _IOC encoding (x86, arm64, riscv; src/kernel/ioctl.ts).
 * Sources: kernel-reference.md section 1.3 (worker and fork-owner ioctls, after fix
 * 24fc631539cc that moved VHOST_[GS]ET_FORK_FROM_OWNER to 0x84/0x85) and the research
 * notes Q7 (every other number, compiled against a 6.1 uapi header on x86_64).
 *
 * Structs are plain objects with the uapi field names (DESIGN.md):
 *
 *   struct vhost_worker_state  { unsigned int worker_id; }                 4 bytes
 *   struct vhost_vring_worker  { unsigned int index; unsigned int worker_id; }  8
 *   struct vhost_vring_file    { unsigned int index; int fd; }             8  (fd -1: unbind)
 *   struct vhost_vring_state   { unsigned int index; unsigned int num; }   8
 *   struct vhost_memory        { __u32 nregions; __u32 padding;
 *                                struct vhost_memory_region regions[]; }   8 + 32 * n
 *   struct vhost_memory_region { __u64 guest_phys_addr, memory_size,
 *                                      userspace_addr, flags_padding; }    32
 *
 * How a JS argument maps to "user memory" (the model's copy_from_user/copy_to_user):
 * - a struct argument is an object; reading a field needs an integer that fits the C
 *   type's 32 bits (signed or unsigned spelling; C keeps the bits, so -1 read as an
 *   unsigned int is 0xffffffff). Anything else (no object, a missing field, a string,
 *   a fraction) is a bad user pointer: -EFAULT.
 * - writing a struct (_IOR) needs an object that accepts the fields (not frozen).
 * - a scalar _IOW argument is the value itself (a number; u64 values may be bigint);
 *   a scalar _IOR argument is a box `{ value }` that the ioctl fills.
 * - get_user(idx, argp) on "the first u32 of the buffer" (vhost_get_vq_from_user) reads
 *   the struct's first field (`index`, or `worker_id` for vhost_worker_state), a box's
 *   `value`, or a scalar's value.
 */
import { _IO, _IOR, _IOW, _IOWR } from '../../kernel/ioctl.js';
import type { Kernel } from '../../kernel/kernel.js';
import { copyToUser, FAULT, getUser, isUserObject, userHas } from '../../kernel/uaccess.js';

export const VHOST_VIRTIO = 0xaf;

export const VHOST_GET_FEATURES = _IOR(VHOST_VIRTIO, 0x00, 8); // 0x8008AF00
export const VHOST_SET_FEATURES = _IOW(VHOST_VIRTIO, 0x00, 8); // 0x4008AF00
export const VHOST_SET_OWNER = _IO(VHOST_VIRTIO, 0x01); // 0xAF01
export const VHOST_RESET_OWNER = _IO(VHOST_VIRTIO, 0x02); // 0xAF02
export const VHOST_SET_MEM_TABLE = _IOW(VHOST_VIRTIO, 0x03, 8); // 0x4008AF03
export const VHOST_SET_LOG_BASE = _IOW(VHOST_VIRTIO, 0x04, 8); // 0x4008AF04
export const VHOST_SET_LOG_FD = _IOW(VHOST_VIRTIO, 0x07, 4); // 0x4004AF07
export const VHOST_NEW_WORKER = _IOR(VHOST_VIRTIO, 0x08, 4); // 0x8004AF08
export const VHOST_FREE_WORKER = _IOW(VHOST_VIRTIO, 0x09, 4); // 0x4004AF09
export const VHOST_SET_VRING_NUM = _IOW(VHOST_VIRTIO, 0x10, 8); // 0x4008AF10
export const VHOST_SET_VRING_ADDR = _IOW(VHOST_VIRTIO, 0x11, 40); // 0x4028AF11
export const VHOST_SET_VRING_BASE = _IOW(VHOST_VIRTIO, 0x12, 8); // 0x4008AF12
export const VHOST_GET_VRING_BASE = _IOWR(VHOST_VIRTIO, 0x12, 8); // 0xC008AF12
export const VHOST_ATTACH_VRING_WORKER = _IOW(VHOST_VIRTIO, 0x15, 8); // 0x4008AF15
export const VHOST_GET_VRING_WORKER = _IOWR(VHOST_VIRTIO, 0x16, 8); // 0xC008AF16
export const VHOST_SET_VRING_KICK = _IOW(VHOST_VIRTIO, 0x20, 8); // 0x4008AF20
export const VHOST_SET_VRING_CALL = _IOW(VHOST_VIRTIO, 0x21, 8); // 0x4008AF21
export const VHOST_SET_VRING_ERR = _IOW(VHOST_VIRTIO, 0x22, 8); // 0x4008AF22
export const VHOST_SET_FORK_FROM_OWNER = _IOW(VHOST_VIRTIO, 0x84, 1); // 0x4001AF84
export const VHOST_GET_FORK_FROM_OWNER = _IOR(VHOST_VIRTIO, 0x85, 1); // 0x8001AF85
export const VHOST_NET_SET_BACKEND = _IOW(VHOST_VIRTIO, 0x30, 8); // 0x4008AF30
export const VHOST_SCSI_SET_ENDPOINT = _IOW(VHOST_VIRTIO, 0x40, 232); // 0x40E8AF40
export const VHOST_SCSI_CLEAR_ENDPOINT = _IOW(VHOST_VIRTIO, 0x41, 232); // 0x40E8AF41
export const VHOST_SCSI_GET_ABI_VERSION = _IOW(VHOST_VIRTIO, 0x42, 4); // 0x4004AF42 (sic: _IOW)
export const VHOST_VSOCK_SET_GUEST_CID = _IOW(VHOST_VIRTIO, 0x60, 8); // 0x4008AF60
export const VHOST_VSOCK_SET_RUNNING = _IOW(VHOST_VIRTIO, 0x61, 4); // 0x4004AF61

export const VHOST_FORK_OWNER_KTHREAD = 0;
export const VHOST_FORK_OWNER_TASK = 1;
/** drivers/vhost/vhost.h (kernel-internal): vhost_vring_file.fd that unbinds */
export const VHOST_FILE_UNBIND = -1;
/** vhost.c: module_param max_mem_regions, default 64 */
export const VHOST_MAX_MEM_REGIONS = 64;
/** vhost_scsi: VHOST_SCSI_ABI_VERSION */
export const VHOST_SCSI_ABI_VERSION = 1;

// feature bits (u64; from the 6.x headers, from memory: not re-read for this model)
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24;
export const VHOST_F_LOG_ALL = 26;
export const VIRTIO_F_ANY_LAYOUT = 27;
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_ACCESS_PLATFORM = 33;
/** VIRTIO_F_RING_RESET: a vq can be reset on its own (vhost-net offers it from 6.3) */
export const VIRTIO_F_RING_RESET = 40;
const bit = (n: number): bigint => 1n << BigInt(n);
/** vhost.h VHOST_FEATURES */
export const VHOST_FEATURES = bit(VIRTIO_F_NOTIFY_ON_EMPTY) | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_RING_F_EVENT_IDX) |
  bit(VHOST_F_LOG_ALL) | bit(VIRTIO_F_ANY_LAYOUT) | bit(VIRTIO_F_VERSION_1);
/**
 * net.c VHOST_NET_FEATURES of the newest release: + VHOST_NET_F_VIRTIO_NET_HDR (27),
 * VIRTIO_NET_F_MRG_RXBUF (15), ACCESS_PLATFORM, RING_RESET (40; from 6.3, 313389be06ff).
 * A kernel's own set is vhostNetFeatures(k).
 */
export const VHOST_NET_FEATURES = VHOST_FEATURES | bit(27) | bit(15) | bit(VIRTIO_F_ACCESS_PLATFORM) | bit(VIRTIO_F_RING_RESET);

/**
 * The VHOST_NET_FEATURES of `k`'s release: without vhost_net_ring_reset (before 6.3)
 * no RING_RESET (measured: 0x33d008000 on 6.1.192, 0x1033d008000 on 6.12.118).
 */
export function vhostNetFeatures(k: Kernel): bigint {
  return k.has('vhost_net_ring_reset') ? VHOST_NET_FEATURES : VHOST_NET_FEATURES & ~bit(VIRTIO_F_RING_RESET);
}
/** scsi.c VHOST_SCSI_FEATURES: + VIRTIO_SCSI_F_HOTPLUG (1), VIRTIO_SCSI_F_T10_PI (3) */
export const VHOST_SCSI_FEATURES = VHOST_FEATURES | bit(1) | bit(3);
/** vsock.c VHOST_VSOCK_FEATURES: + ACCESS_PLATFORM, VIRTIO_VSOCK_F_SEQPACKET (1) */
export const VHOST_VSOCK_FEATURES = VHOST_FEATURES | bit(VIRTIO_F_ACCESS_PLATFORM) | bit(1);

export interface VhostWorkerState {
  worker_id: number;
}
export interface VhostVringWorker {
  index: number;
  worker_id: number;
}
export interface VhostVringFile {
  index: number;
  fd: number;
}
export interface VhostVringState {
  index: number;
  num: number;
}
export interface VhostMemoryRegion {
  guest_phys_addr: number | bigint;
  memory_size: number | bigint;
  userspace_addr: number | bigint;
  flags_padding?: number | bigint;
}
export interface VhostMemory {
  nregions: number;
  padding: number;
  regions: VhostMemoryRegion[];
}

/** Struct helpers: the uapi structs with their fields, as a C caller would declare them. */
export const vhostWorkerState = (worker_id = 0): VhostWorkerState => ({ worker_id });
export const vhostVringWorker = (index: number, worker_id = 0): VhostVringWorker => ({ index, worker_id });
export const vhostVringFile = (index: number, fd: number): VhostVringFile => ({ index, fd });
export const vhostVringState = (index: number, num = 0): VhostVringState => ({ index, num });

/** The "user buffer" failed: what the kernel reports as -EFAULT (src/kernel/uaccess.ts). */
export { FAULT };

/** copy_from_user of one 32-bit field: its bits as an unsigned number, or FAULT. */
export function readU32(arg: unknown, field: string): number | typeof FAULT {
  const v = getUser(arg, field);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x8000_0000 || v > 0xffff_ffff) return FAULT;
  return v >>> 0;
}

/** copy_from_user of one 32-bit signed field (an `int fd`), or FAULT. */
export function readI32(arg: unknown, field: string): number | typeof FAULT {
  const u = readU32(arg, field);
  return u === FAULT ? FAULT : u | 0;
}

/** A u64 field or scalar (number or bigint), or FAULT. */
export function toU64(v: unknown): bigint | typeof FAULT {
  if (typeof v === 'bigint') return v >= 0n && v < 1n << 64n ? v : v < 0n && v >= -(1n << 63n) ? BigInt.asUintN(64, v) : FAULT;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt.asUintN(64, BigInt(v));
  return FAULT;
}

/**
 * get_user(idx, (u32 __user *)argp): the first u32 of the user buffer, or FAULT. With
 * `field`, the caller knows the struct (vhost_vring_worker: `index`) and an object
 * without that field is the wrong shape: FAULT.
 */
export function firstU32(arg: unknown, field?: string): number | typeof FAULT {
  if (field !== undefined && isUserObject(arg)) return userHas(arg, field) === true ? readU32(arg, field) : FAULT;
  if (typeof arg === 'number') return Number.isInteger(arg) && arg >= -0x8000_0000 && arg <= 0xffff_ffff ? arg >>> 0 : FAULT;
  if (typeof arg === 'bigint') return Number(BigInt.asUintN(32, arg));
  if (!isUserObject(arg)) return FAULT;
  for (const f of ['index', 'worker_id', 'value', 'nregions']) {
    const has = userHas(arg, f);
    if (has === FAULT) return FAULT;
    if (!has) continue;
    if (f !== 'value') return readU32(arg, f);
    const v = getUser(arg, f);
    return v === FAULT ? FAULT : firstU32(v);
  }
  return FAULT;
}

/** A scalar _IOR box `{ value }` (or a scalar _IOW that may come boxed): its value, or FAULT. */
export function boxValue(arg: unknown): unknown {
  return getUser(arg, 'value');
}

/**
 * copy_to_user of fields into `arg` (src/kernel/uaccess.ts copyToUser): false (-EFAULT)
 * if arg is no writable object; writes all or nothing.
 */
export function writeFields(arg: unknown, fields: Record<string, number | bigint>): boolean {
  return copyToUser(arg, fields);
}

/** A scalar _IOW __u8 (get_user of one byte): 0..255, or FAULT. */
export function readU8(arg: unknown): number | typeof FAULT {
  return typeof arg === 'number' && Number.isInteger(arg) && arg >= 0 && arg <= 255 ? arg : FAULT;
}

/**
 * include/uapi/linux/loop.h: the request numbers, flags and structs of /dev/loopN and
 * /dev/loop-control, with the readers/writers that turn the plain objects user code
 * passes into the kernel's view (copy_from_user / copy_to_user).
 *
 * Numbers and layouts as verified in /tmp/research/notes.md Q6 (the 6.1 uapi header,
 * compiled): the LOOP_* requests are plain numbers, not _IO() encodings.
 *
 *   struct loop_info64 (232 bytes)                 struct loop_config (304 bytes)
 *   +0   __u64 lo_device      r/o                  +0   __u32 fd
 *   +8   __u64 lo_inode       r/o                  +4   __u32 block_size (0: default)
 *   +16  __u64 lo_rdevice     r/o                  +8   struct loop_info64 info
 *   +24  __u64 lo_offset                           +240 __u64 __reserved[8]
 *   +32  __u64 lo_sizelimit   (0: all of it)
 *   +40  __u32 lo_number      r/o
 *   +44  __u32 lo_encrypt_type      (obsolete: must be 0)
 *   +48  __u32 lo_encrypt_key_size  w/o
 *   +52  __u32 lo_flags
 *   +56  __u8  lo_file_name[64]
 *   +120 __u8  lo_crypt_name[64]
 *   +184 __u8  lo_encrypt_key[32]   w/o
 *   +216 __u64 lo_init[2]
 *
 * kwq passes these as plain objects with the uapi field names (DESIGN.md): u64 fields
 * are numbers (or bigints), the byte arrays are strings. A field left out reads as 0,
 * as in a zero-initialised C struct, except loop_config's `fd`, without which the
 * object is not a loop_config; that, an unknown field or a field of the wrong type is
 * a bad user pointer (-EFAULT).
 */

import { copyToUser, FAULT, getUser, isUserStruct, userArray, userHas, userKeys } from '../../kernel/uaccess.js';

export const LO_NAME_SIZE = 64;
export const LO_KEY_SIZE = 32;

export const LO_FLAGS_READ_ONLY = 1;
export const LO_FLAGS_AUTOCLEAR = 4;
export const LO_FLAGS_PARTSCAN = 8;
export const LO_FLAGS_DIRECT_IO = 16;

export const LOOP_SET_STATUS_SETTABLE_FLAGS = LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN; // 0x0C
export const LOOP_SET_STATUS_CLEARABLE_FLAGS = LO_FLAGS_AUTOCLEAR; // 0x04
export const LOOP_CONFIGURE_SETTABLE_FLAGS = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN | LO_FLAGS_DIRECT_IO; // 0x1D

export const LO_CRYPT_NONE = 0;
export const LO_CRYPT_XOR = 1;
export const LO_CRYPT_CRYPTOAPI = 18;

export const LOOP_SET_FD = 0x4c00;
export const LOOP_CLR_FD = 0x4c01;
export const LOOP_SET_STATUS = 0x4c02;
export const LOOP_GET_STATUS = 0x4c03;
export const LOOP_SET_STATUS64 = 0x4c04;
export const LOOP_GET_STATUS64 = 0x4c05;
export const LOOP_CHANGE_FD = 0x4c06;
export const LOOP_SET_CAPACITY = 0x4c07;
export const LOOP_SET_DIRECT_IO = 0x4c08;
export const LOOP_SET_BLOCK_SIZE = 0x4c09;
export const LOOP_CONFIGURE = 0x4c0a;

export const LOOP_CTL_ADD = 0x4c80;
export const LOOP_CTL_REMOVE = 0x4c81;
export const LOOP_CTL_GET_FREE = 0x4c82;

/** include/linux/major.h LOOP_MAJOR; /dev/loop-control is misc minor LOOP_CTRL_MINOR */
export const LOOP_MAJOR = 7;
export const MISC_MAJOR = 10;
export const LOOP_CTRL_MINOR = 237;

/** struct loop_info64 as user code passes it (every field optional on input). */
export interface LoopInfo64 {
  lo_device?: number | bigint;
  lo_inode?: number | bigint;
  lo_rdevice?: number | bigint;
  lo_offset?: number | bigint;
  lo_sizelimit?: number | bigint;
  lo_number?: number;
  lo_encrypt_type?: number;
  lo_encrypt_key_size?: number;
  lo_flags?: number;
  lo_file_name?: string;
  lo_crypt_name?: string;
  lo_encrypt_key?: string;
  lo_init?: [number | bigint, number | bigint];
}

/** struct loop_config */
export interface LoopConfig {
  fd?: number;
  block_size?: number;
  info?: LoopInfo64;
  __reserved?: (number | bigint)[];
}

/** The kernel's copy of a loop_info64 (copy_from_user done): u64s as bigint so > LLONG_MAX is visible. */
export interface KInfo64 {
  lo_offset: bigint;
  lo_sizelimit: bigint;
  lo_encrypt_type: number;
  lo_encrypt_key_size: number;
  lo_flags: number;
  lo_file_name: string;
}

export interface KConfig {
  fd: number;
  block_size: number;
  info: KInfo64;
}

const U64_MAX = (1n << 64n) - 1n;
export const LLONG_MAX = (1n << 63n) - 1n;

const INFO_KEYS = new Set([
  'lo_device', 'lo_inode', 'lo_rdevice', 'lo_offset', 'lo_sizelimit', 'lo_number', 'lo_encrypt_type',
  'lo_encrypt_key_size', 'lo_flags', 'lo_file_name', 'lo_crypt_name', 'lo_encrypt_key', 'lo_init',
]);
const U64_KEYS = ['lo_device', 'lo_inode', 'lo_rdevice', 'lo_offset', 'lo_sizelimit'] as const;
const U32_KEYS = ['lo_number', 'lo_encrypt_type', 'lo_encrypt_key_size', 'lo_flags'] as const;
const STR_KEYS: [string, number][] = [['lo_file_name', LO_NAME_SIZE], ['lo_crypt_name', LO_NAME_SIZE], ['lo_encrypt_key', LO_KEY_SIZE]];

function u64(v: unknown): bigint | null {
  if (v === undefined) return 0n;
  if (typeof v === 'bigint') return v >= 0n && v <= U64_MAX ? v : null;
  // a whole number beyond 2^53 is still exact as a double (2^63 is): the value C would get
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 64) return BigInt(v);
  return null;
}

function u32(v: unknown): number | null {
  if (v === undefined) return 0;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : null;
}

/** A user struct (not an array: a C struct is no list): its own field names, or null (-EFAULT). */
function structKeys(arg: unknown): string[] | null {
  if (!isUserStruct(arg)) return null;
  const keys = userKeys(arg);
  return keys === FAULT ? null : keys;
}

/** copy_from_user of a struct loop_info64: the kernel's copy, or null for a bad "pointer" (-EFAULT). */
export function readInfo64(arg: unknown): KInfo64 | null {
  const keys = structKeys(arg);
  if (keys === null) return null;
  for (const key of keys) if (!INFO_KEYS.has(key)) return null;
  // one read of each field (getUser: no accessor, no throwing Proxy), then checks on the copies
  const f: Record<string, unknown> = {};
  for (const key of INFO_KEYS) {
    const v = getUser(arg, key);
    if (v === FAULT) return null;
    f[key] = v;
  }
  for (const key of U64_KEYS) if (u64(f[key]) === null) return null;
  for (const key of U32_KEYS) if (u32(f[key]) === null) return null;
  for (const [key, size] of STR_KEYS) {
    const v = f[key];
    // a C char[N]: at most N bytes; the kernel NUL-terminates lo_file_name itself
    if (v !== undefined && (typeof v !== 'string' || Buffer.byteLength(v) > size)) return null;
  }
  if (f['lo_init'] !== undefined) {
    const init = userArray(f['lo_init'], 3);
    if (init === FAULT || !Array.isArray(f['lo_init']) || init.length !== 2 || u64(init[0]) === null || u64(init[1]) === null) return null;
  }
  return {
    lo_offset: u64(f['lo_offset'])!,
    lo_sizelimit: u64(f['lo_sizelimit'])!,
    lo_encrypt_type: u32(f['lo_encrypt_type'])!,
    lo_encrypt_key_size: u32(f['lo_encrypt_key_size'])!,
    lo_flags: u32(f['lo_flags'])!,
    // memcpy(lo->lo_file_name, info->lo_file_name, LO_NAME_SIZE); lo_file_name[LO_NAME_SIZE-1] = 0
    lo_file_name: ((f['lo_file_name'] as string | undefined) ?? '').slice(0, LO_NAME_SIZE - 1),
  };
}

/** copy_from_user of a struct loop_config, or null (-EFAULT). */
export function readConfig(arg: unknown): KConfig | null {
  const keys = structKeys(arg);
  if (keys === null) return null;
  for (const key of keys) if (!['fd', 'block_size', 'info', '__reserved'].includes(key)) return null;
  if (userHas(arg, 'fd') !== true) return null; // {} is no loop_config
  const fd = u32(getUser(arg, 'fd'));
  const bs = u32(getUser(arg, 'block_size'));
  if (fd === null || bs === null) return null;
  const infoArg = getUser(arg, 'info');
  const info = infoArg === undefined ? readInfo64({}) : readInfo64(infoArg);
  if (info === null) return null;
  const resArg = getUser(arg, '__reserved');
  if (resArg !== undefined) {
    const res = userArray(resArg, 9);
    if (res === FAULT || !Array.isArray(resArg) || res.length > 8 || res.some((r) => u64(r) === null)) return null;
  }
  return { fd, block_size: bs, info };
}

/** What LOOP_GET_STATUS64 writes back (copy_to_user). */
export interface OutInfo64 {
  lo_device: number;
  lo_inode: number;
  lo_rdevice: number;
  lo_offset: number;
  lo_sizelimit: number;
  lo_number: number;
  lo_flags: number;
  lo_file_name: string;
}

/** copy_to_user into the caller's object: false if it is not one (-EFAULT). The rest is zeroed (memset). */
export function writeInfo64(arg: unknown, v: OutInfo64): boolean {
  if (!isUserStruct(arg)) return false;
  // all or nothing (src/kernel/uaccess.ts): a frozen, sealed or read-only struct is -EFAULT, untouched
  return copyToUser(arg, {
    ...v,
    lo_encrypt_type: 0, lo_encrypt_key_size: 0, lo_crypt_name: '', lo_encrypt_key: '', lo_init: [0, 0],
  });
}

/** new_encode_dev / huge_encode_dev of "MAJ:MIN" (what stat's st_dev/st_rdev hold). */
export function encodeDev(dev: string): number {
  const m = /^(\d+):(\d+)$/.exec(dev);
  if (m === null) return 0;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

/**
 * The generic _IOC encoding of include/uapi/asm-generic/ioctl.h (x86, arm64, riscv):
 *
 *   31 30 29            16 15      8 7       0
 *  +-----+----------------+---------+---------+
 *  | dir |      size      |  type   |   nr    |
 *  +-----+----------------+---------+---------+
 *
 * dir: _IOC_NONE 0, _IOC_WRITE 1 (user -> kernel), _IOC_READ 2 (kernel -> user).
 * Values are returned as unsigned 32-bit numbers (0x8004AF08, not a negative int).
 */
import { KwqError } from './error.js';

export const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;

export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
export const _IO = (type: number, nr: number): number => _IOC(_IOC_NONE, type, nr, 0);
export const _IOR = (type: number, nr: number, size: number): number => _IOC(_IOC_READ, type, nr, size);
export const _IOW = (type: number, nr: number, size: number): number => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: number, nr: number, size: number): number =>
  _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);

export const _IOC_DIR = (req: number): number => (req >>> 30) & 3;
export const _IOC_TYPE = (req: number): number => (req >>> 8) & 0xff;
export const _IOC_NR = (req: number): number => req & 0xff;
export const _IOC_SIZE = (req: number): number => (req >>> 16) & 0x3fff;

/**
 * The `unsigned long arg` of a request that takes a value, not a pointer (LOOP_SET_FD's
 * fd, LOOP_SET_BLOCK_SIZE's size, KVM_CREATE_VM's type): C always passes one, so a
 * missing argument is 0; a safe-integer number is the C long it would be (two's
 * complement), a bigint is taken modulo 2^64. Anything else cannot sit in a register:
 * a misuse of the library (KwqError), the same in every driver.
 */
export function ioctlArg(where: string, arg: unknown): bigint {
  if (arg === undefined) return 0n;
  if (typeof arg === 'bigint') return BigInt.asUintN(64, arg);
  if (typeof arg === 'number' && Number.isSafeInteger(arg)) return BigInt.asUintN(64, BigInt(arg));
  const got = typeof arg === 'number' ? String(arg) : arg === null ? 'null' : typeof arg === 'object' ? 'an object' : typeof arg;
  throw new KwqError(where, `the argument must be an integer (an unsigned long), got ${got}`);
}

/** `(int)arg`: the low 32 bits of ioctlArg as a signed int (an fd or an index). */
export function ioctlIntArg(where: string, arg: unknown): number {
  return Number(BigInt.asIntN(32, ioctlArg(where, arg)));
}

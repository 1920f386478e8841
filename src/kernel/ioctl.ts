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

/**
 * struct file and struct file_operations. A File is shared by every fd that refers to
 * it (dup, fork, CLONE_FILES): `fCount` counts those references, and `release` runs
 * once, on the last fput, as in the kernel (that is where drivers tear devices down).
 *
 * Driver contract (docs/kernel-api.md):
 *   open(k, inode, file, task)            0 or -errno; may set file.privateData
 *   release(k, inode, file)               last close; the opener may be gone
 *   unlockedIoctl(k, file, task, req, arg) >= 0 or -errno; -ENOIOCTLCMD becomes -ENOTTY
 *   read/write(k, file, task, len, pos)   bytes or -errno (the model moves no bytes)
 *   fsync(k, file, task)                  0 or -errno
 *   show(k, file, task)                   text of a sysfs/cgroupfs-style file, or -errno
 *   store(k, file, task, text)            bytes consumed or -errno
 */
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import { EINVAL } from '../errno.js';
import type { Inode } from './inode.js';

export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const O_DIRECT = 0o40000;
export const O_LARGEFILE = 0o100000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_CLOEXEC = 0o2000000;

/**
 * File positions are loff_t (signed 64-bit). On 64-bit every filesystem kwq models has
 * s_maxbytes = MAX_LFS_FILESIZE = LLONG_MAX (include/linux/fs.h; shmem_fill_super, the
 * bdev superblock). kwq's positions are JS numbers: the syscalls take integers below
 * LOFF_END, and past 2^53 those are doubles, exact only in multiples of their ulp (1024
 * at 2^62), so a size there is the nearest double; page indices (< 2^51) stay exact.
 */
export const LOFF_END = 2 ** 63; // LLONG_MAX + 1: the first integer past loff_t (LLONG_MAX itself is no double)
/** the largest double <= LLONG_MAX: a size that would round up to LOFF_END stays here */
export const LOFF_MAX = 2 ** 63 - 1024;
const LLONG_MAX = (1n << 63n) - 1n;

/**
 * rw_verify_area's range check (fs/read_write.c, 6.1 and 6.12): pos + count past
 * LLONG_MAX is -EINVAL (nothing here sets FMODE_UNSIGNED_OFFSET). On 64-bit this is
 * the limit a write meets: generic_write_check_limits (fs/read_write.c) returns -EFBIG
 * for pos >= s_maxbytes, and inode_newsize_ok (fs/attr.c) for a truncate past it, but
 * with s_maxbytes = LLONG_MAX neither can be reached once pos + count <= LLONG_MAX
 * (shmem_get_folio_gfp's index > MAX_LFS_FILESIZE >> PAGE_SHIFT likewise). RLIMIT_FSIZE,
 * their reachable -EFBIG (with SIGXFSZ), is not modelled.
 */
export function rwVerifyArea(pos: number, count: number): number {
  if (pos + count <= Number.MAX_SAFE_INTEGER) return 0;
  return BigInt(pos) + BigInt(count) > LLONG_MAX ? -EINVAL : 0;
}

export interface FileOperations {
  open?(k: Kernel, inode: Inode, file: File, task: Task): number;
  release?(k: Kernel, inode: Inode, file: File): void;
  unlockedIoctl?(k: Kernel, file: File, task: Task, request: number, arg: unknown): number;
  read?(k: Kernel, file: File, task: Task, len: number, pos: number): number;
  write?(k: Kernel, file: File, task: Task, len: number, pos: number): number;
  fsync?(k: Kernel, file: File, task: Task): number;
  show?(k: Kernel, file: File, task: Task): string | number;
  store?(k: Kernel, file: File, task: Task, text: string): number;
}

export class File {
  fCount = 1;
  pos = 0;
  /** the driver's per-open state (struct file's private_data) */
  privateData: unknown = null;
  constructor(
    readonly inode: Inode,
    readonly fop: FileOperations,
    readonly flags: number,
    /** the path it was opened by, for messages */
    readonly path: string,
  ) {}
  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }
  get writable(): boolean {
    return (this.flags & O_ACCMODE) !== O_RDONLY;
  }
}

/** get_file */
export function getFile(file: File): File {
  file.fCount++;
  return file;
}

/** fput: the last reference runs release (and lets the inode drop an unlinked file's pages). */
export function fput(k: Kernel, file: File): void {
  if (--file.fCount > 0) return;
  file.inode.openCount--;
  file.fop.release?.(k, file.inode, file);
  k.vfsInodeReleased(file.inode);
}

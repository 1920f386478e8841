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

/**
 * struct inode and struct super_block, reduced: a mode, a size, file operations for
 * opens, directory operations for path walks, the page mapping of regular files and
 * block devices, and `iPrivate` for the filesystem or driver.
 */
import type { AddressSpace } from './filemap.js';
import type { FileOperations } from './file.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;
export const S_IFIFO = 0o010000;

export const isDir = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR;
export const isReg = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;
export const isBlk = (mode: number): boolean => (mode & S_IFMT) === S_IFBLK;
export const isChr = (mode: number): boolean => (mode & S_IFMT) === S_IFCHR;

/** Directory operations a filesystem gives its directory inodes. Results: inode, or -errno. */
export interface InodeOperations {
  lookup(k: Kernel, dir: Inode, name: string): Inode | null;
  /** names in the directory (for listings) */
  list?(k: Kernel, dir: Inode): string[];
  create?(k: Kernel, dir: Inode, name: string, task: Task): Inode | number;
  mkdir?(k: Kernel, dir: Inode, name: string, task: Task): Inode | number;
  rmdir?(k: Kernel, dir: Inode, name: string, task: Task): number;
  unlink?(k: Kernel, dir: Inode, name: string, task: Task): number;
}

export class SuperBlock {
  constructor(
    readonly fsType: string,
    readonly id: number,
  ) {}
  root!: Inode;
  /** filesystem-specific state (tmpfs: its size accounting) */
  fsInfo: unknown = null;
}

export class Inode {
  size = 0;
  nlink = 1;
  /** open files referring to it (an unlinked tmpfs file keeps its pages while open) */
  openCount = 0;
  /** page cache (regular files, block devices) */
  mapping: AddressSpace | null = null;
  /** directory children for in-memory directories (ramfs-style filesystems) */
  children: Map<string, Inode> | null = null;
  iop: InodeOperations | null = null;
  /** device number 'MAJ:MIN' for device nodes */
  rdev = '';
  iPrivate: unknown = null;
  constructor(
    readonly sb: SuperBlock,
    readonly ino: number,
    readonly mode: number,
    public fop: FileOperations,
  ) {}
}

/**
 * In-memory directories (fs/libfs.c's simple_* and ramfs): children in a Map.
 * Used by the root filesystem, /dev, /sys and tmpfs directories.
 */
import { EACCES, EEXIST, ENOENT, ENOTDIR, ENOTEMPTY, EISDIR, EPERM } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import type { FileOperations } from './file.js';
import { Inode, isDir, S_IFDIR, type InodeOperations, type SuperBlock } from './inode.js';

export const dirFileOps: FileOperations = {};

export interface SimpleDirOptions {
  /** make a regular file (tmpfs); absent: create is -EPERM */
  createFile?: (k: Kernel, sb: SuperBlock, task: Task) => Inode;
  /** mkdir allowed (true for rootfs and tmpfs) */
  mkdir: boolean;
}

export function simpleDirOps(opts: SimpleDirOptions): InodeOperations {
  const ops: InodeOperations = {
    lookup: (_k, dir, name) => dir.children!.get(name) ?? null,
    list: (_k, dir) => [...dir.children!.keys()],
    create(k, dir, name, task) {
      // lookup_open: a directory without ->create (sysfs, cgroupfs, /dev) is -EACCES
      if (!opts.createFile) return -EACCES;
      if (dir.children!.has(name)) return -EEXIST;
      const ino = opts.createFile(k, dir.sb, task);
      dir.children!.set(name, ino);
      return ino;
    },
    mkdir(k, dir, name) {
      if (!opts.mkdir) return -EPERM;
      if (dir.children!.has(name)) return -EEXIST;
      const d = newDir(k, dir.sb, ops);
      dir.children!.set(name, d);
      return d;
    },
    rmdir(_k, dir, name) {
      const c = dir.children!.get(name);
      if (c === undefined) return -ENOENT;
      if (!isDir(c.mode)) return -ENOTDIR;
      if (c.children!.size > 0) return -ENOTEMPTY;
      dir.children!.delete(name);
      c.nlink = 0;
      return 0;
    },
    unlink(k, dir, name) {
      const c = dir.children!.get(name);
      if (c === undefined) return -ENOENT;
      if (isDir(c.mode)) return -EISDIR;
      if (!opts.createFile) return -EPERM;
      dir.children!.delete(name);
      c.nlink = 0;
      k.vfsInodeReleased(c);
      return 0;
    },
  };
  return ops;
}

export function newDir(k: Kernel, sb: SuperBlock, iop: InodeOperations): Inode {
  const d = new Inode(sb, k.nextIno(), S_IFDIR | 0o755, dirFileOps);
  d.children = new Map();
  d.iop = iop;
  return d;
}

/**
 * tmpfs (mm/shmem.c): regular files whose pages are shmem, charged to the writer's
 * memcg (section 7: the active memcg if set, else current->mm's), swappable only to
 * swap, limited by the mount's size= (-ENOSPC beyond it).
 */
import { EINTR, EINVAL, ENOSPC } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { PAGE_SIZE } from '../memcontrol.js';
import type { Task } from '../task.js';
import { addPages, AddressSpace, findHole, readPages, removePages } from './filemap.js';
import { LOFF_MAX, O_DIRECT, type File, type FileOperations } from './file.js';
import { Inode, S_IFREG, SuperBlock } from './inode.js';
import { newDir, simpleDirOps } from './libfs.js';

export class TmpfsInfo {
  constructor(public maxBlocks: number) {}
  /** pages allocated in files of this mount (resident or in swap) */
  usedBlocks = 0;
}

function info(inode: Inode): TmpfsInfo {
  return inode.sb.fsInfo as TmpfsInfo;
}

function blocksOf(m: AddressSpace): number {
  return m.nrpages + m.nrSwap;
}

/**
 * FMODE_CAN_ODIRECT of an open tmpfs file: shmem_file_open sets it from 6.6 ("tmpfs:
 * trivial support for direct IO", e88e0d366f9c; release feature tmpfs_direct_io).
 * Before it shmem's a_ops have no direct_IO, so O_DIRECT opens fail and a loop device
 * backed by the file cannot use direct I/O.
 */
export function shmemCanDirectIo(k: Kernel, file: File): boolean {
  return file.fop === shmemFileOps && k.has('tmpfs_direct_io');
}

export const shmemFileOps: FileOperations = {
  /**
   * shmem_file_open (6.6+) or generic_file_open, then do_dentry_open's check: O_DIRECT
   * without FMODE_CAN_ODIRECT is -EINVAL (an O_CREAT has made the file by then).
   * Measured on 6.1.192 and 6.12.118: oracle/scripts/loop-state.json.
   */
  open(k: Kernel, _inode: Inode, file: File): number {
    if (file.flags & O_DIRECT && !shmemCanDirectIo(k, file)) return -EINVAL;
    return 0;
  },
  write(k: Kernel, file: File, task: Task, len: number, pos: number): number {
    if (len === 0) return 0;
    const inode = file.inode;
    const m = inode.mapping!;
    const inf = info(inode);
    // page arithmetic from the offset in the page: past 2^53 `pos + len` would round
    const first = Math.floor(pos / PAGE_SIZE);
    const inPage = pos - first * PAGE_SIZE;
    let last = first + Math.ceil((inPage + len) / PAGE_SIZE);
    // shmem_inode_acct_blocks: only new pages need blocks; the write stops at the first that does not fit
    const fit = findHole(m, first, last, inf.maxBlocks - inf.usedBlocks + 1);
    const noSpace = fit < last;
    last = fit;
    const before = blocksOf(m);
    const done = last > first ? addPages(k, m, task, first, last - first, false) : 0;
    inf.usedBlocks += blocksOf(m) - before;
    const bytes = Math.max(0, Math.min(len, done * PAGE_SIZE - inPage));
    // (past 2^53 the size is the nearest double, kept a loff_t: kwq's positions are JS numbers)
    if (bytes > 0 && pos + bytes > inode.size) inode.size = Math.min(pos + bytes, LOFF_MAX);
    if (!task.alive) return -EINTR;
    if (done < last - first) return bytes > 0 ? bytes : m.lastError;
    if (noSpace) return bytes > 0 ? bytes : -ENOSPC;
    return bytes;
  },
  read(k: Kernel, file: File, task: Task, len: number, pos: number): number {
    const inode = file.inode;
    if (pos >= inode.size || len === 0) return 0;
    const n = Math.min(len, inode.size - pos);
    const first = Math.floor(pos / PAGE_SIZE);
    const inPage = pos - first * PAGE_SIZE;
    const last = first + Math.ceil((inPage + n) / PAGE_SIZE);
    const done = readPages(k, inode.mapping!, task, first, last - first);
    if (!task.alive) return -EINTR;
    if (done < last - first) return done > 0 ? Math.max(0, Math.min(n, done * PAGE_SIZE - inPage)) : inode.mapping!.lastError;
    return n;
  },
  fsync: () => 0,
};

/** truncate_setsize for a tmpfs file: pages wholly past the new size are freed. */
export function shmemSetSize(k: Kernel, inode: Inode, size: number): number {
  const m = inode.mapping!;
  if (size < inode.size) {
    const before = blocksOf(m);
    removePages(k, m, Math.ceil(size / PAGE_SIZE));
    info(inode).usedBlocks -= before - blocksOf(m);
  }
  inode.size = size;
  return 0;
}

/** The last reference of an unlinked file is gone: free its pages. */
export function shmemEvictInode(k: Kernel, inode: Inode): void {
  const m = inode.mapping!;
  const before = blocksOf(m);
  removePages(k, m, 0);
  info(inode).usedBlocks -= before - blocksOf(m);
}

export function tmpfsFill(k: Kernel, sizeBytes: number): SuperBlock {
  const sb = new SuperBlock('tmpfs', k.nextSbId());
  sb.fsInfo = new TmpfsInfo(Math.floor(sizeBytes / PAGE_SIZE));
  const ops = simpleDirOps({
    mkdir: true,
    createFile: (kk, s) => {
      const ino = new Inode(s, kk.nextIno(), S_IFREG | 0o644, shmemFileOps);
      ino.mapping = new AddressSpace('shmem', null, `tmpfs:${ino.ino}`);
      return ino;
    },
  });
  sb.root = newDir(k, sb, ops);
  return sb;
}

/** Parse tmpfs mount data: "size=512M" or "size=50%" (of RAM) or "nr_blocks=N". Bytes, or -EINVAL. */
export function parseTmpfsSize(data: string, totalRamBytes: number, memparse: (s: string) => number | null): number | null {
  let size = totalRamBytes / 2; // tmpfs default: half of RAM
  if (data.trim() === '') return size;
  for (const opt of data.split(',')) {
    const [key, val] = opt.split('=', 2) as [string, string | undefined];
    if (key === 'size' && val !== undefined) {
      if (val.endsWith('%')) {
        const p = Number(val.slice(0, -1));
        if (!Number.isInteger(p) || p < 0) return null;
        size = (totalRamBytes * p) / 100;
      } else {
        const b = memparse(val);
        if (b === null) return null;
        size = b;
      }
    } else if (key === 'nr_blocks' && val !== undefined) {
      const b = memparse(val);
      if (b === null) return null;
      size = b * PAGE_SIZE;
    } else if (key === 'mode' || key === 'uid' || key === 'gid' || key === 'nr_inodes') {
      continue;
    } else return null;
  }
  return size;
}

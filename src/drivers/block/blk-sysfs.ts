/**
 * /sys/block/<disk>/queue/scheduler (block/elevator.c: elv_iosched_show/store) for
 * the model's disks that have a request queue (null_blk, loop):
 *
 *   /sys/block/
 *     nullb0/queue/scheduler   "none [mq-deadline] kyber bfq \n"   (the current one in [])
 *     loop0/queue/scheduler    "[none] mq-deadline kyber bfq \n"
 *
 * Reading lists "none" first, then the elevators in registration order (mq-deadline,
 * kyber, bfq: block/Makefile order when built in), each followed by a space. Writing a
 * name switches (elevator_change -> elevator_switch: the old elevator's icqs are
 * destroyed), the same name again is a no-op, an unknown name is -EINVAL; the write
 * returns the bytes given. The file is 0644 root: others get -EACCES.
 * The kernel freezes the queue for the switch (waits for requests in flight); the model
 * waits the same way from top-level code, and returns -EBUSY where it cannot wait
 * (inside the simulation). Divergence: the kernel would block instead.
 */
import { EACCES, EBUSY, EINVAL } from '../../kernel/errno.js';
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import { S_IFREG, Inode } from '../../kernel/vfs/inode.js';
import { newDir, simpleDirOps } from '../../kernel/vfs/libfs.js';
import { pathWalk } from '../../kernel/vfs/namei.js';
import type { FileOperations } from '../../kernel/vfs/file.js';
import { ELEVATORS, elevatorSwitch, type ElevatorName, type RequestQueue } from './blk-ioc-queue.js';

const dirOps = simpleDirOps({ mkdir: false });

/** The /sys/block directory, made on first use. */
function sysBlockDir(k: Kernel): Inode {
  const w = pathWalk(k, k.init, '/sys');
  if (typeof w === 'number') throw new KwqError('blk_sysfs', `no /sys in this kernel (${w})`);
  const sys = w.inode;
  let d = sys.children!.get('block');
  if (d === undefined) {
    d = newDir(k, sys.sb, dirOps);
    sys.children!.set('block', d);
  }
  return d;
}

/** elv_iosched_show */
export function elvIoschedShow(q: RequestQueue): string {
  let s = q.elevator === 'none' ? '[none] ' : 'none ';
  for (const e of ELEVATORS) {
    if (e === 'none') continue;
    s += e === q.elevator ? `[${e}] ` : `${e} `;
  }
  return s + '\n';
}

/** elv_iosched_store: bytes consumed or -errno */
export function elvIoschedStore(k: Kernel, q: RequestQueue, text: string): number {
  const name = text.trim();
  if (!(ELEVATORS as readonly string[]).includes(name)) return -EINVAL;
  if (name === q.elevator) return text.length;
  // blk_mq_freeze_queue: wait until no request of this queue is in flight
  if (q.inflight > 0 && !k.waitFor(() => q.inflight === 0)) return -EBUSY;
  elevatorSwitch(k, q, name as ElevatorName);
  return text.length;
}

/** A read-only sysfs attribute: its text (show), made when read. */
export type SysfsShow = () => string;

/** read-only 0444 attribute files (the disk's size, ro, queue limits, the loop group) */
function roAttrs(k: Kernel, dir: Inode, attrs: Record<string, SysfsShow>): void {
  for (const [n, show] of Object.entries(attrs)) {
    dir.children!.set(n, new Inode(dir.sb, k.nextIno(), S_IFREG | 0o444, { show: () => show() }));
  }
}

/**
 * Add /sys/block/<name>/ for `q` (add_disk): queue/scheduler, plus the disk's own
 * read-only attributes (`attrs`: size, ro, ...) and the queue's (`queueAttrs`:
 * logical_block_size, ...), each a show function read at read time.
 */
export function blkSysfsAdd(k: Kernel, name: string, q: RequestQueue, attrs: Record<string, SysfsShow> = {}, queueAttrs: Record<string, SysfsShow> = {}): void {
  const dir = sysBlockDir(k);
  if (dir.children!.has(name)) throw new KwqError('blk_sysfs', `/sys/block/${name} exists already`);
  const disk = newDir(k, dir.sb, dirOps);
  const queue = newDir(k, dir.sb, dirOps);
  const fops: FileOperations = {
    show: () => elvIoschedShow(q),
    store: (kk, _file, task, text) => (task.cred.euid !== 0 ? -EACCES : elvIoschedStore(kk, q, text)),
  };
  queue.children!.set('scheduler', new Inode(dir.sb, k.nextIno(), S_IFREG | 0o644, fops));
  roAttrs(k, queue, queueAttrs);
  roAttrs(k, disk, attrs);
  disk.children!.set('queue', queue);
  dir.children!.set(name, disk);
}

/**
 * sysfs_create_group / sysfs_remove_group on /sys/block/<name>: a subdirectory of
 * read-only attributes (`attrs`), or its removal (null). A missing disk is a no-op.
 */
export function blkSysfsGroup(k: Kernel, name: string, group: string, attrs: Record<string, SysfsShow> | null): void {
  const disk = sysBlockDir(k).children!.get(name);
  if (disk === undefined) return;
  if (attrs === null) {
    disk.children!.delete(group);
    return;
  }
  const dir = newDir(k, disk.sb, dirOps);
  roAttrs(k, dir, attrs);
  disk.children!.set(group, dir);
}

/** Remove /sys/block/<name> (del_gendisk). */
export function blkSysfsDel(k: Kernel, name: string): void {
  sysBlockDir(k).children!.delete(name);
}

/**
 * Character devices: a driver registers a node under /dev with its file operations
 * (register_chrdev / misc_register, reduced). /dev/zero and /dev/null are built in.
 */
import { KwqError } from '../error.js';
import type { Kernel } from '../kernel.js';
import type { FileOperations } from './file.js';
import { Inode, S_IFCHR } from './inode.js';

export interface ChrdevSpec {
  /** node name under /dev, e.g. 'vhost-net' */
  name: string;
  major: number;
  minor: number;
  fops: FileOperations;
  /** the driver's device object, readable as inode.iPrivate in open() */
  data?: unknown;
}

export function registerChrdev(k: Kernel, spec: ChrdevSpec): Inode {
  const dev = k.devDir;
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(spec.name)) throw new KwqError('register_chrdev', `bad device name '${spec.name}'`);
  if (dev.children!.has(spec.name)) throw new KwqError('register_chrdev', `/dev/${spec.name} is already registered`);
  const ino = new Inode(dev.sb, k.nextIno(), S_IFCHR | 0o666, spec.fops);
  ino.rdev = `${spec.major}:${spec.minor}`;
  ino.iPrivate = spec.data ?? null;
  dev.children!.set(spec.name, ino);
  return ino;
}

export function unregisterChrdev(k: Kernel, name: string): void {
  k.devDir.children!.delete(name);
}

/** /dev/zero: reads fill with zeros, writes are discarded (drivers_char_mem.c). */
export const zeroFops: FileOperations = {
  read: (_k, _f, _t, len) => len,
  write: (_k, _f, _t, len) => len,
};

/** /dev/null */
export const nullFops: FileOperations = {
  read: () => 0,
  write: (_k, _f, _t, len) => len,
};

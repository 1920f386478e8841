/**
 * Path lookup (fs/namei.c, reduced): lexical normalisation ('.', '..', repeated
 * slashes; no symlinks in the model), then a walk from the namespace's root that
 * crosses mounts. Errors as the kernel's: -ENOENT (missing or empty path), -ENOTDIR
 * (a non-directory in the middle), -ENAMETOOLONG (a component over NAME_MAX or a path
 * over PATH_MAX).
 */
import { ENAMETOOLONG, ENOENT, ENOTDIR } from '../errno.js';
import { KwqError } from '../error.js';
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import { isDir, type Inode } from './inode.js';
import type { MntNamespace } from './mount.js';

export const PATH_MAX = 4096;
export const NAME_MAX = 255;

/** Components of the normalised absolute path, or -errno. */
export function splitPath(task: Task, path: string): string[] | number {
  if (typeof path !== 'string') throw new KwqError('path', `expected a string path, got ${typeof path}`);
  if (path.length === 0) return -ENOENT;
  if (path.length >= PATH_MAX) return -ENAMETOOLONG;
  const abs = path.startsWith('/') ? path : `${task.fs.pwd}/${path}`;
  const out: string[] = [];
  for (const c of abs.split('/')) {
    if (c === '' || c === '.') continue;
    if (c.length > NAME_MAX) return -ENAMETOOLONG;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}

export const joinPath = (parts: string[]): string => '/' + parts.join('/');

export interface Walked {
  inode: Inode;
  path: string;
}

/** Walk to `path`; the result, or -errno. */
export function pathWalk(k: Kernel, task: Task, path: string): Walked | number {
  const parts = splitPath(task, path);
  if (typeof parts === 'number') return parts;
  return walkParts(k, task, parts);
}

export function walkParts(k: Kernel, task: Task, parts: string[]): Walked | number {
  const ns = task.nsproxy.mnt as MntNamespace;
  let cur = ns.mountedAt('/')!.root;
  let curPath = '/';
  for (const comp of parts) {
    if (!isDir(cur.mode) || cur.iop === null) return -ENOTDIR;
    const child = cur.iop.lookup(k, cur, comp);
    if (child === null) return -ENOENT;
    curPath = curPath === '/' ? `/${comp}` : `${curPath}/${comp}`;
    const mounted = ns.mountedAt(curPath);
    cur = mounted !== null ? mounted.root : child;
  }
  return { inode: cur, path: curPath };
}

export interface ParentWalk {
  dir: Inode;
  name: string;
  path: string;
}

/** Walk to the parent of `path`; -ENOENT for '/' itself. */
export function pathParent(k: Kernel, task: Task, path: string): ParentWalk | number {
  const parts = splitPath(task, path);
  if (typeof parts === 'number') return parts;
  if (parts.length === 0) return -ENOENT;
  const name = parts.pop()!;
  const w = walkParts(k, task, parts);
  if (typeof w === 'number') return w;
  if (!isDir(w.inode.mode)) return -ENOTDIR;
  return { dir: w.inode, name, path: joinPath([...parts, name]) };
}

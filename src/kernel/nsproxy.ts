/**
 * Namespaces and struct nsproxy. Each namespace is an object with a kind and an id
 * (ids count up from 1 per kernel, like inode numbers of /proc/<pid>/ns/*). The mount
 * namespace also carries its mount table (vfs/mount.ts).
 */
export type NsKind = 'mnt' | 'uts' | 'ipc' | 'pid' | 'net' | 'cgroup';

export class Namespace {
  constructor(
    readonly kind: NsKind,
    readonly id: number,
  ) {}
}

export interface NsproxyFields {
  mnt: Namespace;
  uts: Namespace;
  ipc: Namespace;
  pid: Namespace;
  net: Namespace;
  cgroup: Namespace;
}

/** struct nsproxy: shared by tasks until one unshares (copy-on-unshare). */
export class Nsproxy implements NsproxyFields {
  mnt: Namespace;
  uts: Namespace;
  ipc: Namespace;
  pid: Namespace;
  net: Namespace;
  cgroup: Namespace;
  constructor(f: NsproxyFields) {
    this.mnt = f.mnt;
    this.uts = f.uts;
    this.ipc = f.ipc;
    this.pid = f.pid;
    this.net = f.net;
    this.cgroup = f.cgroup;
  }
  clone(): Nsproxy {
    return new Nsproxy(this);
  }
}

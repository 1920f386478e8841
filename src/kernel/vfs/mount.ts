/**
 * The mount namespace: an ordered list of mounts (mountpoint path -> superblock).
 * A later mount on the same path hides an earlier one, as mounting over does.
 * unshare(CLONE_NEWNS) copies the list; later mounts in one namespace are not seen
 * in the other (the model has private propagation only).
 */
import { Namespace } from '../nsproxy.js';
import type { SuperBlock } from './inode.js';

export interface Mount {
  mountpoint: string;
  sb: SuperBlock;
}

export class MntNamespace extends Namespace {
  readonly mounts: Mount[] = [];
  constructor(id: number) {
    super('mnt', id);
  }
  /** the superblock mounted at exactly `path`, if any (the newest) */
  mountedAt(path: string): SuperBlock | null {
    for (let i = this.mounts.length - 1; i >= 0; i--) if (this.mounts[i]!.mountpoint === path) return this.mounts[i]!.sb;
    return null;
  }
  copy(id: number): MntNamespace {
    const n = new MntNamespace(id);
    for (const m of this.mounts) n.mounts.push({ ...m });
    return n;
  }
}

/**
 * struct cgroup and struct cgroup_root. The model keeps one object per cgroup that
 * is also its css for every controller of its hierarchy (css_get/css_put count on
 * the cgroup). A cgroup's id is unique for the kernel's lifetime and never reused,
 * so drivers may key rbtrees on it (loop's worker_tree).
 *
 * Lifetime: mkdir -> online; rmdir -> offline (charges reparented, the directory
 * gone) but the object lives while css references remain; `released` when the last
 * reference is dropped after rmdir.
 *
 * v2: one hierarchy, controllers enabled per subtree (cgroup.subtree_control); a
 * cgroup has a controller's css iff its parent's subtree_control enables it (the root
 * has all); otherwise the controller's effective css is the nearest ancestor's.
 * v1: one hierarchy per controller group, every cgroup of it has those css's.
 */
import type { Task } from '../task.js';
import { MemCgroup } from '../memcontrol.js';
import { BlkCgroup } from '../blk-cgroup.js';
import { KwqError } from '../error.js';
import { CpuCgroup } from './cpu.js';
import type { Cpuset } from './cpuset.js';
import type { HugetlbCgroup } from './hugetlb.js';
import type { MiscCg } from './misc.js';

/**
 * The v2 controllers in ssid order (include/linux/cgroup_subsys.h as Debian's 6.1 and
 * 6.12 configs build it; perf_event, implicit on v2, is no controller one enables).
 */
export const DFL_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'] as const;
export type Controller = (typeof DFL_CONTROLLERS)[number];
/**
 * The controllers kwq accounts with (memcg, blkcg, cpu, pids): what systemd enables in the
 * v2 root's subtree_control at boot, and the v1 hierarchies. cpuset, hugetlb, rdma and misc
 * are bound to the v2 root too (CgroupRoot) and enabled by writing subtree_control.
 */
export const CONTROLLERS: readonly Controller[] = ['cpu', 'io', 'memory', 'pids'];
/** controllers that may be enabled in threaded subtrees (cgrp_dfl_threaded_ss_mask: cpuset, cpu, pids; perf_event is implicit); the rest are domain controllers */
export const THREADED_SS: ReadonlySet<Controller> = new Set<Controller>(['cpuset', 'cpu', 'pids']);

/**
 * The controller's bit in CgroupRoot.ssMask and Cgroup.subtreeSsMask (the kernel's
 * ss_mask bitmaps): hasCss runs on every charge and bio (ecss), and two Set lookups of
 * a string each time cost ~100 ns per loop request (issue 10). A switch on a constant
 * argument folds away where ecss is inlined.
 */
export function ssBit(ss: Controller): number {
  switch (ss) {
    case 'cpuset': return 1;
    case 'cpu': return 2;
    case 'io': return 4;
    case 'memory': return 8;
    case 'hugetlb': return 16;
    case 'pids': return 32;
    case 'rdma': return 64;
    case 'misc': return 128;
  }
}

/** per-cgroup cpu time (cpu.stat / cpuacct), local: reads sum the subtree */
export class CpuStat {
  userNs = 0;
  systemNs = 0;
}

/** the pids controller (kernel/cgroup/pids.c): hierarchical counter and limit */
export class PidsCgroup {
  /** tasks in this cgroup and its descendants (pids.current) */
  counter = 0;
  limit = Infinity;
  /** pids.events max: forks refused at this level */
  eventsMax = 0;
  watermark = 0;
}

/** struct cgroup_freezer_state, the part the model keeps (freezer.ts computes the rest) */
export class CgroupFreezer {
  /** cgroup.freeze as written */
  freeze = false;
  /** this cgroup's and its ancestors' freeze settings in force (CGRP_FREEZE iff > 0) */
  eFreeze = 0;
}

export class CgroupRoot {
  root!: Cgroup;
  /** the controllers bound to the hierarchy: the v2 one has every controller (kwq mounts no v1 hierarchy beside it) */
  readonly controllers: ReadonlySet<Controller>;
  /** `controllers` as ssBit bits */
  readonly ssMask: number;
  constructor(
    /** index in task.cgroups */
    readonly hierarchyId: number,
    readonly v2: boolean,
    controllers: ReadonlySet<Controller>,
    /** where it is mounted, e.g. /sys/fs/cgroup or /sys/fs/cgroup/memory */
    readonly mountPoint: string,
  ) {
    this.controllers = v2 ? new Set(DFL_CONTROLLERS) : controllers;
    let m = 0;
    for (const c of this.controllers) m |= ssBit(c);
    this.ssMask = m;
  }
}

export class Cgroup {
  // Field order is layout order (V8, 8 bytes a field after a 24-byte header): what a
  // request's charge path reads (the id, the ecss walk's parent and root, css_get's
  // refcount) fills the first cache line, the controllers' objects the second; with
  // 10,000 cgroups taking turns each line is a cache miss (issue 10)
  readonly id: number;
  readonly parent: Cgroup | null;
  readonly root: CgroupRoot;
  /** css references: 1 held by the directory until rmdir, plus css_get users */
  refcnt = 1;
  released = false;
  readonly blkcg: BlkCgroup;
  readonly memcg: MemCgroup;
  readonly cpu = new CpuStat();
  /** the cpu controller's task_group: weight, idle, bandwidth (cpu.ts) */
  readonly cpuTg = new CpuCgroup();
  /** cgroup.subtree_control as ssBit bits (subtree_ss_mask) */
  subtreeSsMask = 0;
  online = true;
  /** v2 cgroup.type is "threaded" */
  threaded = false;
  readonly name: string;
  readonly children = new Map<string, Cgroup>();
  /** tasks whose css_set has this cgroup in this hierarchy */
  readonly tasks = new Set<Task>();
  /** v2 cgroup.subtree_control */
  private readonly subtreeSs = new Set<Controller>();
  /** the v2 freezer (freezer.ts) */
  readonly freezer = new CgroupFreezer();
  readonly pids = new PidsCgroup();
  /** the css of the controllers kept per css (made at css_online, dropped at css_offline): cpuset.ts, hugetlb.ts, misc.ts */
  cpuset: Cpuset | null = null;
  hugetlb: HugetlbCgroup | null = null;
  misc: MiscCg | null = null;
  /** cgroup.pressure (psi->enabled); kept on the PSI group, which reads it at each fold (psi.ts) */
  get psiEnabled(): boolean {
    return this.cpuTg.psi.setting;
  }
  set psiEnabled(on: boolean) {
    this.cpuTg.psi.setting = on;
  }
  /** cgroup.max.descendants / cgroup.max.depth */
  maxDescendants = Infinity;
  maxDepth = Infinity;

  constructor(id: number, name: string, parent: Cgroup | null, root: CgroupRoot) {
    this.id = id;
    this.name = name;
    this.parent = parent;
    this.root = root;
    this.blkcg = new BlkCgroup(this);
    this.memcg = new MemCgroup(this);
  }

  /** path relative to the hierarchy root: '/', '/test.slice', ... */
  get path(): string {
    if (this.parent === null) return '/';
    const p = this.parent.path;
    return p === '/' ? `/${this.name}` : `${p}/${this.name}`;
  }

  get level(): number {
    return this.parent === null ? 0 : this.parent.level + 1;
  }

  get isRoot(): boolean {
    return this.parent === null;
  }

  /** cgroup.subtree_control: the controllers this cgroup enables for its children */
  get subtreeControl(): ReadonlySet<Controller> {
    return this.subtreeSs;
  }

  /** `ss` in cgroup.subtree_control (cgroupfs's store, and the boot's and the path helper's setup) */
  subtreeEnable(ss: Controller): void {
    this.subtreeSs.add(ss);
    this.subtreeSsMask |= ssBit(ss);
  }

  subtreeDisable(ss: Controller): void {
    this.subtreeSs.delete(ss);
    this.subtreeSsMask &= ~ssBit(ss);
  }

  /** true if this cgroup has its own css for `ss` */
  hasCss(ss: Controller): boolean {
    const bit = ssBit(ss);
    const root = this.root;
    if ((root.ssMask & bit) === 0) return false;
    if (!root.v2 || this.parent === null) return true;
    return (this.parent.subtreeSsMask & bit) !== 0;
  }

  /** cgroup_e_css: the effective css for `ss` (self or the nearest ancestor that has one) */
  ecss(ss: Controller): Cgroup {
    let c: Cgroup = this;
    while (!c.hasCss(ss)) {
      if (c.parent === null) throw new KwqError('cgroup_e_css', `controller ${ss} is not bound to hierarchy ${this.root.mountPoint}`);
      c = c.parent;
    }
    return c;
  }

  /** cgroup_is_mixable: only the root may hold processes beside children with controllers */
  get isMixable(): boolean {
    return this.parent === null;
  }

  /** cgroup_is_thread_root: a domain with threaded children, or with tasks and threaded controllers in subtree_control */
  get isThreadRoot(): boolean {
    if (this.threaded) return false;
    for (const c of this.children.values()) if (c.threaded) return true;
    // a domain which has tasks and explicit threaded controllers enabled is a thread root
    if (this.tasks.size > 0) for (const ss of this.subtreeControl) if (THREADED_SS.has(ss)) return true;
    return false;
  }

  /** cgroup_is_valid_domain: not threaded, and no ancestor is threaded or a non-mixable thread root */
  get isValidDomain(): boolean {
    if (this.threaded) return false;
    for (let a = this.parent; a !== null; a = a.parent) {
      if (!a.isMixable && a.isThreadRoot) return false;
      if (a.threaded) return false;
    }
    return true;
  }

  /** cgroup_can_be_thread_root: not threaded, no populated domain children, no domain controllers enabled */
  get canBeThreadRoot(): boolean {
    if (this.isMixable) return true;
    if (this.threaded) return false;
    for (const c of this.children.values()) if (!c.threaded && c.populated) return false;
    for (const ss of this.subtreeControl) if (!THREADED_SS.has(ss)) return false;
    return true;
  }

  /** cgroup.type as the kernel prints it (cgroup_type_show) */
  get typeName(): string {
    if (this.threaded) return 'threaded';
    if (!this.isValidDomain) return 'domain invalid';
    if (this.isThreadRoot) return 'domain threaded';
    return 'domain';
  }

  /** the threaded domain: the nearest non-threaded ancestor-or-self (cgroup->dom_cgrp) */
  get domCgrp(): Cgroup {
    let c: Cgroup = this;
    while (c.threaded && c.parent !== null) c = c.parent;
    return c;
  }

  /** cgroup_is_populated: a live task here or below */
  get populated(): boolean {
    if (this.tasks.size > 0) return true;
    for (const c of this.children.values()) if (c.populated) return true;
    return false;
  }

  /** pre-order walk of this subtree (online cgroups only) */
  *subtree(): IterableIterator<Cgroup> {
    yield this;
    for (const c of this.children.values()) yield* c.subtree();
  }

  toString(): string {
    return this.path;
  }
}

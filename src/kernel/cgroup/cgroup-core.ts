/**
 * Cgroup operations (kernel/cgroup/cgroup.c, pids.c): mkdir, rmdir (offline and
 * reparenting), migration, css references, the pids counter and fork's can_fork.
 */
import { EAGAIN, EBUSY, EEXIST, EINVAL, ENOENT, EOPNOTSUPP } from '../errno.js';
import { KwqError } from '../error.js';
import type { Kernel } from '../kernel.js';
import { memcgReparent, ObjCgroup } from '../memcontrol.js';
import type { Task } from '../task.js';
import { PF_NO_SETAFFINITY } from '../sched.js';
import { Cgroup, type CgroupRoot, type Controller } from './cgroup.js';
import { cpusetCanAttach, cpusetCssOffline, cpusetCssOnline } from './cpuset.js';
import { HugetlbCgroup } from './hugetlb.js';
import { MiscCg } from './misc.js';
import { psiMoveTask } from './psi.js';

/** css_get */
export function cssGet(cg: Cgroup): void {
  if (cg.released) throw new KwqError('css_get', `cgroup ${cg.path} (id ${cg.id}) is already released`);
  cg.refcnt++;
}

/** css_tryget_online: a reference only if the cgroup is still online. */
export function cssTrygetOnline(cg: Cgroup): boolean {
  if (!cg.online) return false;
  cg.refcnt++;
  return true;
}

/** css_put: the last reference of an offline cgroup releases it. */
export function cssPut(k: Kernel, cg: Cgroup): void {
  if (cg.refcnt <= 0) throw new KwqError('css_put', `cgroup ${cg.path} (id ${cg.id}): refcount underflow`);
  if (--cg.refcnt === 0) {
    cg.released = true;
    cg.cpuTg.psi.release(); // its PSI record back to the kernel's pool
    k.cgroupsById.delete(cg.id);
  }
}

export function newCgroup(k: Kernel, name: string, parent: Cgroup | null, root: CgroupRoot): Cgroup {
  const cg = new Cgroup(k.nextCgroupId++, name, parent, root);
  const oc = new ObjCgroup(k.objcgs.length, cg.memcg);
  k.objcgs.push(oc);
  cg.memcg.objcg = oc;
  k.cgroupsById.set(cg.id, cg);
  return cg;
}

const BAD_NAME = /[/\n]/;

/** cgroup_mkdir: the new cgroup, or -errno. */
export function cgroupMkdir(k: Kernel, parent: Cgroup, name: string): Cgroup | number {
  if (!parent.online) return -ENOENT;
  if (name === '' || BAD_NAME.test(name) || name === '.' || name === '..') return -EINVAL;
  if (parent.children.has(name)) return -EEXIST;
  // a name that clashes with an interface file
  if (k.cgroupfsHasFile(parent, name)) return -EEXIST;
  // cgroup.max.depth / cgroup.max.descendants of every ancestor
  for (let a: Cgroup | null = parent, d = 1; a !== null; a = a.parent, d++) {
    if (d > a.maxDepth) return -EAGAIN;
    // the walk only when a limit is set ("max" by default): counting /bench's children on
    // every mkdir made setting up 10,000 cgroups quadratic (14 s of bench/scale's loop point)
    if (a.maxDescendants === Infinity) continue;
    let desc = 0;
    for (const _ of a.subtree()) desc++;
    if (desc - 1 + 1 > a.maxDescendants) return -EAGAIN;
  }
  const cg = newCgroup(k, name, parent, parent.root);
  parent.children.set(name, cg);
  if (cg.root.v2) for (const ss of parent.subtreeControl) cssOnline(k, cg, ss);
  // a new cgroup inherits the effective freeze counter: an empty child of a freezing cgroup is frozen
  if (cg.root.v2) cg.freezer.eFreeze = parent.freezer.eFreeze;
  const tp = k.tp.cgroupMkdir;
  if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, path: cg.path, id: cg.id, root: cg.root.mountPoint });
  return cg;
}

/** cgroup_rmdir: 0 or -errno. Offline now; the object is released with its last css reference. */
export function cgroupRmdir(k: Kernel, cg: Cgroup): number {
  if (cg.parent === null) return -EBUSY;
  if (!cg.online) return -ENOENT;
  if (cg.populated) return -EBUSY;
  for (const c of cg.children.values()) if (c.online) return -EBUSY;
  const parent = cg.parent;
  // kill_css: every css of the cgroup goes offline (a cpuset partition gives its CPUs back)
  for (const ss of cg.root.controllers) if (cg.hasCss(ss)) cssOffline(k, cg, ss);
  cg.online = false;
  parent.children.delete(cg.name);
  // memcg offline: reparent every charge (the model reparents page cache too; see docs/divergences)
  memcgReparent(k, cg.memcg);
  // rstat keeps a dead child's io and cpu usage in its parent's totals
  for (const [dev, s] of cg.blkcg.stats) {
    const p = parent.blkcg.stat(dev);
    p.rbytes += s.rbytes;
    p.wbytes += s.wbytes;
    p.rios += s.rios;
    p.wios += s.wios;
    p.dbytes += s.dbytes;
    p.dios += s.dios;
  }
  cg.blkcg.clearStats();
  parent.cpu.userNs += cg.cpu.userNs;
  parent.cpu.systemNs += cg.cpu.systemNs;
  cg.cpu.userNs = 0;
  cg.cpu.systemNs = 0;
  k.deadCgroups.add(cg);
  const tp = k.tp.cgroupRmdir;
  if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, path: cg.path, id: cg.id });
  cssPut(k, cg);
  if (cg.released) k.deadCgroups.delete(cg);
  return 0;
}

// ---- css lifetime of the controllers that keep per-css state ----

/** css_create + online_css for `ss` in `cg` (mkdir under a parent that enables it, or the parent enabling it) */
export function cssOnline(k: Kernel, cg: Cgroup, ss: Controller): void {
  if (ss === 'cpuset') cpusetCssOnline(k, cg);
  else if (ss === 'hugetlb') cg.hugetlb = new HugetlbCgroup();
  else if (ss === 'misc') cg.misc = new MiscCg();
}

/** kill_css -> offline_css for `ss` in `cg` (rmdir, or the parent disabling it); a later enable makes a new css */
export function cssOffline(k: Kernel, cg: Cgroup, ss: Controller): void {
  if (ss === 'cpuset') cpusetCssOffline(k, cg);
  else if (ss === 'hugetlb') cg.hugetlb = null;
  else if (ss === 'misc') cg.misc = null;
}

// ---- pids --------------------------------------------------------------------------

function pidsCss(cg: Cgroup): Cgroup | null {
  return cg.root.controllers.has('pids') ? cg.ecss('pids') : null;
}

/** pids_charge: no limit check (migration, and re-charging after subtree_control changes) */
export function pidsCharge(cg: Cgroup, n: number): void {
  for (let c = pidsCss(cg); c !== null; c = c.parent) {
    c.pids.counter += n;
    if (c.pids.counter > c.pids.watermark) c.pids.watermark = c.pids.counter;
  }
}

export function pidsUncharge(cg: Cgroup, n: number): void {
  for (let c = pidsCss(cg); c !== null; c = c.parent) c.pids.counter -= n;
}

/** pids_try_charge (cgroup_can_fork): -EAGAIN if any level would go over pids.max. */
export function pidsTryCharge(cg: Cgroup): number {
  const css = pidsCss(cg);
  if (css === null) return 0;
  for (let c: Cgroup | null = css; c !== null; c = c.parent) {
    if (c.pids.counter + 1 > c.pids.limit) {
      c.pids.eventsMax++;
      return -EAGAIN;
    }
  }
  pidsCharge(cg, 1);
  return 0;
}

/** Recount the pids counters of `top`'s subtree from its tasks (after subtree_control changes). */
export function pidsRecount(top: Cgroup): void {
  for (const c of top.subtree()) c.pids.counter = 0;
  for (const c of top.subtree()) {
    const css = c.ecss('pids');
    if (css !== top && !isUnder(css, top)) continue;
    for (let a: Cgroup | null = css; a !== null && (a === top || isUnder(a, top)); a = a.parent) a.pids.counter += c.tasks.size;
  }
}

function isUnder(c: Cgroup, top: Cgroup): boolean {
  for (let a = c.parent; a !== null; a = a.parent) if (a === top) return true;
  return false;
}

// ---- migration -----------------------------------------------------------------------

/** Move one task to `dst` in dst's hierarchy (cgroup_migrate for one task; no checks). */
export function cgroupMoveTask(k: Kernel, task: Task, dst: Cgroup): void {
  const h = dst.root.hierarchyId;
  const src = task.cgroups[h]!;
  if (src === dst) return;
  src.tasks.delete(task);
  dst.tasks.add(task);
  task.cgroups[h] = dst;
  k.cgroupsChanged();
  if (dst.root.v2) psiMoveTask(k, task); // psi's cgroup_move_task: the thread's counts move with it now
  if (dst.root.controllers.has('pids') && src.ecss('pids') !== dst.ecss('pids')) {
    pidsUncharge(src, 1);
    pidsCharge(dst, 1);
  }
  const tp = k.tp.cgroupAttachTask;
  if (tp.enabled) {
    tp.emit({ name: tp.name, ts: tp.now, pid: task.pid, comm: task.comm, src: src.path, dst: dst.path, root: dst.root.mountPoint });
  }
}

/**
 * cgroup_migrate_vet_dst (v2): the destination's domain must be valid; a cgroup that is
 * or can become a thread root, or is threaded, takes tasks whatever its subtree_control;
 * any other with controllers in subtree_control takes none (no internal processes).
 * A threaded cgroup takes whole processes too (the oracle: cgroup-moves).
 */
export function vetDst(dst: Cgroup, _threadgroup: boolean): number {
  if (!dst.online) return -ENOENT;
  if (!dst.root.v2) return 0;
  if (!dst.domCgrp.isValidDomain) return -EOPNOTSUPP;
  if (dst.threaded || dst.canBeThreadRoot) return 0;
  if (dst.subtreeControl.size > 0) return -EBUSY;
  return 0;
}

/**
 * cgroup.procs / cgroup.threads write: move a process (all its threads, user workers
 * included) or one thread. 0 or -errno; nothing moves on error.
 */
export function cgroupAttach(k: Kernel, task: Task, dst: Cgroup, threadgroup: boolean): number {
  if (task.flags & PF_NO_SETAFFINITY) return -EINVAL;
  const h = dst.root.hierarchyId;
  const leader = threadgroup ? task.groupLeader : task;
  const src = leader.cgroups[h]!;
  if (dst.root.v2 && !threadgroup && src.domCgrp !== dst.domCgrp) return -EOPNOTSUPP;
  const v = vetDst(dst, threadgroup);
  if (v < 0) return v;
  // cpuset_can_attach, where the cpuset css changes: none into a cpuset with no effective CPU
  if (dst.root.v2 && src.ecss('cpuset') !== dst.ecss('cpuset')) {
    const r = cpusetCanAttach(k, dst);
    if (r < 0) return r;
  }
  if (threadgroup) for (const t of [...leader.signal.threads]) cgroupMoveTask(k, t, dst);
  else cgroupMoveTask(k, task, dst);
  return 0;
}

/** cgroup_attach_task_all(from, tsk): put `tsk` in `from`'s cgroup in every hierarchy. */
export function cgroupAttachTaskAll(k: Kernel, from: Task, tsk: Task): number {
  for (const cg of from.cgroups) {
    // before 0061270307f2 (cgroup_attach_v2_dfl, 5.16) the loop skipped cgrp_dfl_root
    if (cg.root.v2 && !k.has('cgroup_attach_v2_dfl')) continue;
    if (!cg.online) return -ENOENT;
    cgroupMoveTask(k, tsk, cg);
  }
  return 0;
}

/**
 * The cpuset controller on cgroup v2 (kernel/cgroup/cpuset.c): struct cpuset, its
 * interface files and the partition machinery that decides what they print.
 *
 *   cpuset.cpus / .mems              what was written (cpulist: bitmap_parselist)
 *   cpuset.cpus.effective / .mems.effective
 *                                    what the cgroup gets: written & parent's effective,
 *                                    the parent's when that is empty
 *   cpuset.cpus.partition            member | root | isolated, "<type> invalid (<why>)"
 *   cpuset.cpus.exclusive(.effective) 6.7+ (cpuset_cpus_exclusive)
 *   cpuset.cpus.isolated             the root's, 6.8+ (cpuset_cpus_isolated)
 *
 * Two engines, as the kernel had them: before 6.7 a partition root takes its
 * cpuset.cpus from the parent's effective CPUs into the parent's subparts_cpus
 * (v6.1 update_parent_subparts_cpumask); from 6.7 (e2ffe502ba45, 181c8e091aae) it
 * takes its effective_xcpus (cpuset.cpus.exclusive, else cpuset.cpus), partitions may be
 * remote (their parent is a member; CPUs come from the top cpuset) and isolated CPUs
 * are tracked globally (v6.12 update_parent_effective_cpumask). Each function below is
 * the kernel's of that name and release, reduced to what the model keeps.
 *
 * Not modelled: enforcement. kwq's sim scheduler runs every task on any CPU whatever
 * its cpuset says, and memory has one node (docs/divergences.md). No CPU hotplug, no
 * SCHED_DEADLINE bandwidth (cpuset_cpumask_can_shrink is always true), no isolcpus=
 * boot option (prstate_housekeeping_conflict is always false), no sched domains.
 * The machine: every CPU possible and active (nr_cpu_ids = Kernel.boot's ncpus), one
 * memory node, MAX_NUMNODES 1024 (Debian's NODES_SHIFT 10).
 */
import { EACCES, EINVAL, ENOSPC, EOVERFLOW, ERANGE } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { Cgroup } from './cgroup.js';
import { strstrip } from './kstrto.js';

/** MAX_NUMNODES (1 << CONFIG_NODES_SHIFT, Debian amd64: 10) */
const MAX_NUMNODES = 1024;
/** node_possible_map on the modelled machine: node 0 */
const NODES_POSSIBLE = 1n;

// ---- cpumask text: bitmap_parselist and %*pbl (lib/bitmap.c; 6.12: lib/bitmap-str.c) ----

const ISSPACE = /[ \t\n\v\f\r]/;

/** bitmap_getnum: 'N' is the last bit; decimal digits only (_parse_integer base 10) */
function bitmapGetnum(s: string, i: number, lastbit: number): [number, number] | number {
  if (s[i] === 'N') return [lastbit, i + 1];
  let j = i;
  let n = 0n;
  while (j < s.length && s[j]! >= '0' && s[j]! <= '9') {
    n = n * 10n + BigInt(s.charCodeAt(j) - 48);
    j++;
  }
  if (j === i) return -EINVAL;
  // KSTRTOX_OVERFLOW or n != (unsigned int)n
  if (n > 0xffffffffn) return -EOVERFLOW;
  return [Number(n), j];
}

const endOfStr = (c: string | undefined): boolean => c === undefined || c === '\n';
const endOfRegionStrict = (c: string | undefined): boolean => c !== undefined && (ISSPACE.test(c) || c === ',');
const endOfRegion = (c: string | undefined): boolean => endOfRegionStrict(c) || endOfStr(c);

/**
 * bitmap_parselist(buf, maskp, nmaskbits): "0-3,5", "0-7:2/4", "N", "all". The mask, or
 * -EINVAL (bad format), -ERANGE (a bit past nmaskbits), -EOVERFLOW (a number past u32).
 */
export function bitmapParselist(buf: string, nbits: number): bigint | number {
  let mask = 0n;
  const lastbit = nbits - 1;
  let i = 0;
  for (;;) {
    // bitmap_find_region: commas and white space may lead a region
    while (endOfRegionStrict(buf[i])) i++;
    if (endOfStr(buf[i])) return mask;
    let start: number;
    let end: number;
    let off: number;
    let group: number;
    let pattern = false;
    if (buf.slice(i, i + 3).toLowerCase() === 'all') {
      start = 0;
      end = lastbit;
      i += 3;
    } else {
      const a = bitmapGetnum(buf, i, lastbit);
      if (typeof a === 'number') return a;
      [start, i] = a;
      end = start;
      if (!endOfRegion(buf[i])) {
        if (buf[i] !== '-') return -EINVAL;
        const b = bitmapGetnum(buf, i + 1, lastbit);
        if (typeof b === 'number') return b;
        [end, i] = b;
      }
    }
    if (!endOfRegion(buf[i])) {
      if (buf[i] !== ':') return -EINVAL;
      const o = bitmapGetnum(buf, i + 1, lastbit);
      if (typeof o === 'number') return o;
      [off, i] = o;
      if (buf[i] !== '/') return -EINVAL;
      const g = bitmapGetnum(buf, i + 1, lastbit);
      if (typeof g === 'number') return g;
      [group, i] = g;
      pattern = true;
    } else {
      off = end + 1;
      group = end + 1;
    }
    // bitmap_check_region
    if (start > end || group === 0 || off > group) return -EINVAL;
    if (end >= nbits) return -ERANGE;
    for (let s = start; s <= end; s += group) {
      for (let b = s; b < s + Math.min(end - s + 1, off); b++) mask |= 1n << BigInt(b);
    }
    // a region without a pattern ends the string or is followed by a separator
    if (!pattern && endOfStr(buf[i])) return mask;
  }
}

/** "%*pbl": ranges "0-2,5", "" for an empty mask */
export function cpulistString(mask: bigint): string {
  const out: string[] = [];
  let b = 0;
  let m = mask;
  while (m !== 0n) {
    if ((m & 1n) === 0n) {
      m >>= 1n;
      b++;
      continue;
    }
    const start = b;
    while ((m & 1n) === 1n) {
      m >>= 1n;
      b++;
    }
    out.push(b - 1 === start ? String(start) : `${start}-${b - 1}`);
  }
  return out.join(',');
}

const intersects = (a: bigint, b: bigint): boolean => (a & b) !== 0n;
/** cpumask_subset(a, b) */
const subset = (a: bigint, b: bigint): boolean => (a & ~b) === 0n;

// ---- struct cpuset ----

export const PRS_MEMBER = 0;
export const PRS_ROOT = 1;
export const PRS_ISOLATED = 2;

/** enum prs_errcode */
const PERR_NONE = 0;
const PERR_INVCPUS = 1;
const PERR_INVPARENT = 2;
const PERR_NOTPART = 3;
const PERR_NOTEXCL = 4;
const PERR_NOCPUS = 5;
const PERR_CPUSEMPTY = 7;

/** perr_strings (v6.1); 6.7 reworded the two that name cpuset.cpus.exclusive */
const PERR_STRINGS_61: Record<number, string> = {
  [PERR_INVCPUS]: 'Invalid cpu list in cpuset.cpus',
  [PERR_INVPARENT]: 'Parent is an invalid partition root',
  [PERR_NOTPART]: 'Parent is not a partition root',
  [PERR_NOTEXCL]: 'Cpu list in cpuset.cpus not exclusive',
  [PERR_NOCPUS]: 'Parent unable to distribute cpu downstream',
  6: 'No cpu available due to hotplug',
  [PERR_CPUSEMPTY]: 'cpuset.cpus is empty',
};
const PERR_STRINGS_67: Record<number, string> = {
  ...PERR_STRINGS_61,
  [PERR_INVCPUS]: 'Invalid cpu list in cpuset.cpus.exclusive',
  [PERR_CPUSEMPTY]: 'cpuset.cpus and cpuset.cpus.exclusive are empty',
  8: 'partition config conflicts with housekeeping setup',
  9: 'Enable partition not permitted',
};

/** the cpuset globals of the 6.7+ engine (static in cpuset.c), kept on the top cpuset */
class CpusetGlobals {
  /** subpartitions_cpus: exclusive CPUs the top cpuset gave to partitions */
  subpartitionsCpus = 0n;
  /** isolated_cpus: CPUs of isolated partitions (cpuset.cpus.isolated) */
  isolatedCpus = 0n;
  /** remote_children */
  readonly remoteChildren = new Set<Cpuset>();
}

/** struct cpuset: the masks are bit sets (bit n = CPU or node n) */
export class Cpuset {
  cpusAllowed = 0n;
  memsAllowed = 0n;
  effectiveCpus = 0n;
  effectiveMems = 0n;
  /** 6.7+: cpuset.cpus.exclusive and the effective exclusive CPUs */
  exclusiveCpus = 0n;
  effectiveXcpus = 0n;
  /** before 6.7: the CPUs given to child partitions, and how many */
  subpartsCpus = 0n;
  nrSubpartsCpus = 0;
  /** before 6.7: effective_cpus is the parent's (cpus_allowed gave none) */
  useParentEcpus = false;
  childEcpusCount = 0;
  /** 6.7+: the number of child partitions */
  nrSubparts = 0;
  partitionRootState = PRS_MEMBER;
  prsErr = PERR_NONE;
  /** CS_CPU_EXCLUSIVE, CS_MEM_EXCLUSIVE, CS_SCHED_LOAD_BALANCE */
  cpuExclusive = false;
  memExclusive = false;
  schedLoadBalance = true;
  online = true;
  /** the top cpuset's globals (null elsewhere) */
  readonly globals: CpusetGlobals | null;

  constructor(readonly cg: Cgroup) {
    this.globals = cg.parent === null ? new CpusetGlobals() : null;
  }

  /** alloc_trial_cpuset: the fields a write may change */
  trial(): Trial {
    return {
      cpusAllowed: this.cpusAllowed, memsAllowed: this.memsAllowed, exclusiveCpus: this.exclusiveCpus,
      effectiveXcpus: this.effectiveXcpus, effectiveCpus: this.effectiveCpus, cpuExclusive: this.cpuExclusive,
      memExclusive: this.memExclusive,
    };
  }
}

type Trial = Pick<Cpuset, 'cpusAllowed' | 'memsAllowed' | 'exclusiveCpus' | 'effectiveXcpus' | 'effectiveCpus' | 'cpuExclusive' | 'memExclusive'>;

const isPartitionValid = (cs: Cpuset): boolean => cs.partitionRootState > 0;
const isPartitionInvalid = (cs: Cpuset): boolean => cs.partitionRootState < 0;

/** descendantPartitionState's answer when the parent is a partition root: update the parent's masks for cp */
const UPDATE_PARENT = 0x7fff_ffff;

/**
 * update_cpumasks_hier's check of a descendant partition cp (both engines): under a
 * partition root the parent's masks are updated for it (UPDATE_PARENT); under a parent
 * that is none, or an invalid one, a valid partition becomes invalid (its state
 * negated) and prs_err says why. Returns cp's new partition state or UPDATE_PARENT.
 */
function descendantPartitionState(cp: Cpuset, parent: Cpuset): number {
  if (parent.partitionRootState === PRS_ROOT || parent.partitionRootState === PRS_ISOLATED) return UPDATE_PARENT;
  cp.prsErr = isPartitionInvalid(parent) ? PERR_INVPARENT : PERR_NOTPART;
  return isPartitionValid(cp) ? -cp.partitionRootState : cp.partitionRootState;
}

function allCpus(k: Kernel): bigint {
  return (1n << BigInt(k.rt.ncpus)) - 1n;
}

/** the cgroup's own cpuset css; the top one (cpuset_init, cpuset_bind for v2) made on first use */
export function cpusetOf(k: Kernel, cg: Cgroup): Cpuset {
  if (cg.cpuset !== null) return cg.cpuset;
  if (cg.parent === null) {
    const top = new Cpuset(cg);
    // cpuset_bind (v2): cpus_allowed = cpu_possible_mask, mems_allowed = node_possible_map;
    // cpuset_init_smp: effective = the active CPUs and the memory nodes
    top.cpusAllowed = top.effectiveCpus = allCpus(k);
    top.memsAllowed = top.effectiveMems = NODES_POSSIBLE;
    top.effectiveXcpus = top.exclusiveCpus = allCpus(k);
    top.cpuExclusive = top.memExclusive = true;
    top.partitionRootState = PRS_ROOT;
    cg.cpuset = top;
    return top;
  }
  // a css the walk reaches before anything brought it online (cgroupCpusetOnline's fallback)
  return cpusetCssOnline(k, cg);
}

function parentCs(k: Kernel, cs: Cpuset): Cpuset {
  return cpusetOf(k, cs.cg.parent!);
}

/** cpuset_for_each_child: the online children with their own cpuset css */
function children(k: Kernel, cs: Cpuset): Cpuset[] {
  const out: Cpuset[] = [];
  for (const c of cs.cg.children.values()) if (c.online && c.hasCss('cpuset')) out.push(cpusetOf(k, c));
  return out;
}

/** cpuset_for_each_descendant_pre, `visit` returning true skips the subtree (css_rightmost_descendant) */
function descendantsPre(k: Kernel, cs: Cpuset, visit: (cp: Cpuset) => boolean | void): void {
  if (visit(cs) === true) return;
  for (const c of children(k, cs)) descendantsPre(k, c, visit);
}

function topCpuset(k: Kernel, cs: Cpuset): Cpuset {
  let c = cs.cg;
  while (c.parent !== null) c = c.parent;
  return cpusetOf(k, c);
}

function globalsOf(k: Kernel, cs: Cpuset): CpusetGlobals {
  return topCpuset(k, cs).globals!;
}

/** cgrp->nr_populated_csets: tasks in the cgroup itself */
function hasOwnTasks(cg: Cgroup): boolean {
  for (const t of cg.tasks) if (t.alive) return true;
  return false;
}

/** partition_is_populated(cs, excluded_child); `nrSub` is nr_subparts_cpus (6.1) or nr_subparts (6.7+) */
function partitionIsPopulated(k: Kernel, cs: Cpuset, excluded: Cpuset | null): boolean {
  if (hasOwnTasks(cs.cg)) return true;
  const nrSub = k.has('cpuset_cpus_exclusive') ? cs.nrSubparts : cs.nrSubpartsCpus;
  if (excluded === null && nrSub === 0) return cs.cg.populated;
  for (const child of children(k, cs)) {
    if (child === excluded || isPartitionValid(child)) continue;
    if (child.cg.populated) return true;
  }
  return false;
}

/** notify_partition_change: a valid partition has no error to show */
function notifyPartitionChange(cs: Cpuset, oldPrs: number): void {
  if (oldPrs === cs.partitionRootState) return;
  if (isPartitionValid(cs)) cs.prsErr = PERR_NONE;
}

/** user_xcpus (6.7+) */
const userXcpus = (cs: Trial): bigint => (cs.exclusiveCpus === 0n ? cs.cpusAllowed : cs.exclusiveCpus);
/** xcpus_empty (6.7+) */
const xcpusEmpty = (cs: Cpuset): boolean => cs.cpusAllowed === 0n && cs.exclusiveCpus === 0n;

/** cpusets_are_exclusive (6.7+) */
function cpusetsAreExclusive(a: Trial, b: Trial): boolean {
  return !intersects(userXcpus(a), userXcpus(b));
}

/**
 * validate_change (v2): a populated cpuset cannot lose all its CPUs or nodes (-ENOSPC);
 * exclusive siblings may not overlap (-EINVAL); from 6.7 exclusive_cpus may not
 * overlap each other, and cpus_allowed may not sit inside a sibling's exclusive_cpus.
 */
function validateChange(k: Kernel, cur: Cpuset, trial: Trial): number {
  if (cur.cg.parent === null) return 0;
  if (cur.cg.populated) {
    if (cur.cpusAllowed !== 0n && trial.cpusAllowed === 0n) return -ENOSPC;
    if (cur.memsAllowed !== 0n && trial.memsAllowed === 0n) return -ENOSPC;
  }
  const v67 = k.has('cpuset_cpus_exclusive');
  for (const c of children(k, parentCs(k, cur))) {
    if (c === cur) continue;
    if (!v67) {
      if ((trial.cpuExclusive || c.cpuExclusive) && intersects(trial.cpusAllowed, c.cpusAllowed)) return -EINVAL;
    } else {
      const txset = trial.exclusiveCpus !== 0n;
      const cxset = c.exclusiveCpus !== 0n;
      if (trial.cpuExclusive || c.cpuExclusive || (txset && cxset)) {
        if (!cpusetsAreExclusive(trial, c)) return -EINVAL;
      } else if (txset || cxset) {
        // cpus_allowed of one may not be a subset of the other's exclusive_cpus
        const xcpus = txset ? trial.exclusiveCpus : c.exclusiveCpus;
        const acpus = txset ? c.cpusAllowed : trial.cpusAllowed;
        if (acpus !== 0n && subset(acpus, xcpus)) return -EINVAL;
      }
    }
    if ((trial.memExclusive || c.memExclusive) && intersects(trial.memsAllowed, c.memsAllowed)) return -EINVAL;
  }
  return 0;
}

/** update_flag(CS_CPU_EXCLUSIVE, cs, on): validate_change with the flag changed */
function updateCpuExclusive(k: Kernel, cs: Cpuset, on: boolean): number {
  const t = cs.trial();
  t.cpuExclusive = on;
  const err = validateChange(k, cs, t);
  if (err < 0) return err;
  cs.cpuExclusive = on;
  return 0;
}

// ---- the engine before 6.7 (v6.1) ----

/** enum subparts_cmd (v6.1) / partition_cmd (v6.12) */
const Cmd = { Enable: 0, EnableI: 1, Disable: 2, Update: 3, Invalidate: 4 } as const;
type Cmd = (typeof Cmd)[keyof typeof Cmd];

/** compute_effective_cpumask (v6.1) */
function computeEffectiveCpumask61(cs: Cpuset, parent: Cpuset, all: bigint): bigint {
  if (parent.nrSubpartsCpus !== 0) return (parent.effectiveCpus | parent.subpartsCpus) & cs.cpusAllowed & all;
  return cs.cpusAllowed & parent.effectiveCpus;
}

function popcount(m: bigint): number {
  let n = 0;
  for (let x = m; x !== 0n; x >>= 1n) if ((x & 1n) === 1n) n++;
  return n;
}

/** update_parent_subparts_cpumask (v6.1): 0 or a PERR_* code */
function updateParentSubparts61(k: Kernel, cs: Cpuset, cmd: Cmd, newmask: bigint | null): number {
  const parent = parentCs(k, cs);
  const all = allCpus(k);
  if (!isPartitionValid(parent)) return isPartitionInvalid(parent) ? PERR_INVPARENT : PERR_NOTPART;
  if ((newmask !== null && newmask === 0n) || (newmask === null && cs.cpusAllowed === 0n)) return PERR_CPUSEMPTY;
  let adding = false;
  let deleting = false;
  let addmask = 0n;
  let delmask = 0n;
  const oldPrs = cs.partitionRootState;
  let newPrs = oldPrs;
  let partError = PERR_NONE;
  if (cmd === Cmd.Enable) {
    if (!intersects(cs.cpusAllowed, parent.cpusAllowed)) return PERR_INVCPUS;
    // a parent can be left with no CPU as long as no task is directly in it
    if (!intersects(cs.cpusAllowed, parent.effectiveCpus) && partitionIsPopulated(k, parent, cs)) return PERR_NOCPUS;
    addmask = cs.cpusAllowed;
    adding = true;
  } else if (cmd === Cmd.Disable) {
    delmask = cs.cpusAllowed & parent.subpartsCpus;
    deleting = oldPrs >= 0 && delmask !== 0n;
  } else if (cmd === Cmd.Invalidate) {
    if (oldPrs < 0) return 0;
    delmask = cs.cpusAllowed & parent.subpartsCpus;
    deleting = delmask !== 0n;
    if (oldPrs > 0) {
      newPrs = -oldPrs;
      partError = PERR_NOTEXCL;
    }
  } else if (newmask !== null) {
    delmask = cs.cpusAllowed & ~newmask & parent.subpartsCpus;
    deleting = delmask !== 0n;
    addmask = newmask & parent.cpusAllowed & ~parent.subpartsCpus;
    adding = addmask !== 0n;
    if (adding && subset(parent.effectiveCpus, addmask) && !intersects(delmask, all) && partitionIsPopulated(k, parent, cs)) {
      partError = PERR_NOCPUS;
      adding = false;
      delmask = cs.cpusAllowed & parent.subpartsCpus;
      deleting = delmask !== 0n;
    }
  } else {
    addmask = cs.cpusAllowed & parent.cpusAllowed & ~parent.subpartsCpus;
    adding = addmask !== 0n;
    if ((isPartitionValid(cs) && parent.nrSubpartsCpus === 0) ||
      (adding && subset(parent.effectiveCpus, addmask) && partitionIsPopulated(k, parent, cs))) {
      partError = PERR_NOCPUS;
      adding = false;
    }
    if (partError !== PERR_NONE && isPartitionValid(cs) && parent.nrSubpartsCpus !== 0) {
      delmask = cs.cpusAllowed & parent.subpartsCpus;
      deleting = delmask !== 0n;
    }
  }
  if (partError !== PERR_NONE) cs.prsErr = partError;
  if (cmd === Cmd.Update) {
    if (oldPrs > 0 && partError !== PERR_NONE) newPrs = -oldPrs;
    else if (oldPrs < 0 && partError === PERR_NONE) newPrs = -oldPrs;
  }
  if (!adding && !deleting && newPrs === oldPrs) return 0;
  // a transition between invalid and valid may change CS_CPU_EXCLUSIVE
  if (oldPrs !== newPrs) {
    if (oldPrs < 0 && !cs.cpuExclusive && updateCpuExclusive(k, cs, true) < 0) return PERR_NOTEXCL;
    if (newPrs < 0 && cs.cpuExclusive) updateCpuExclusive(k, cs, false);
  }
  if (adding) {
    parent.subpartsCpus |= addmask;
    parent.effectiveCpus &= ~addmask;
  }
  if (deleting) {
    parent.subpartsCpus &= ~delmask;
    parent.effectiveCpus |= delmask & all;
  }
  parent.nrSubpartsCpus = popcount(parent.subpartsCpus);
  if (oldPrs !== newPrs) cs.partitionRootState = newPrs;
  if (oldPrs !== newPrs) {
    if (oldPrs === PRS_ISOLATED) cs.schedLoadBalance = true;
    else if (newPrs === PRS_ISOLATED) cs.schedLoadBalance = false;
  }
  notifyPartitionChange(cs, oldPrs);
  return 0;
}

/** update_cpumasks_hier (v6.1) */
function updateCpumasksHier61(k: Kernel, cs: Cpuset, force: boolean): void {
  const all = allCpus(k);
  descendantsPre(k, cs, (cp) => {
    if (cp.cg.parent === null) return;
    const parent = parentCs(k, cp);
    let newCpus = computeEffectiveCpumask61(cp, parent, all);
    let skipToUpdate = false;
    if (newCpus === 0n) {
      if (isPartitionValid(cp) && cp.cpusAllowed === cp.subpartsCpus) {
        skipToUpdate = true;
      } else {
        newCpus = parent.effectiveCpus;
        if (!cp.useParentEcpus) {
          cp.useParentEcpus = true;
          parent.childEcpusCount++;
        }
      }
    } else if (cp.useParentEcpus) {
      cp.useParentEcpus = false;
      parent.childEcpusCount--;
    }
    if (!skipToUpdate && cp.partitionRootState === PRS_MEMBER && !force && newCpus === cp.effectiveCpus) return true;
    const oldPrs = cp.partitionRootState;
    let newPrs = oldPrs;
    if (cp !== cs && oldPrs !== PRS_MEMBER) {
      newPrs = descendantPartitionState(cp, parent);
      if (newPrs === UPDATE_PARENT) {
        updateParentSubparts61(k, cp, Cmd.Update, null);
        newPrs = cp.partitionRootState;
      }
    }
    if (cp.nrSubpartsCpus !== 0 && !isPartitionValid(cp)) {
      // put the CPUs given to child partitions back
      newCpus = (newCpus | cp.subpartsCpus) & all;
      cp.nrSubpartsCpus = 0;
      cp.subpartsCpus = 0n;
    }
    cp.effectiveCpus = newCpus;
    if (cp.nrSubpartsCpus !== 0) cp.effectiveCpus &= ~cp.subpartsCpus;
    cp.partitionRootState = newPrs;
    notifyPartitionChange(cp, oldPrs);
    return false;
  });
}

/** update_sibling_cpumasks (v6.1): siblings that use the parent's effective_cpus follow it */
function updateSiblingCpumasks61(k: Kernel, parent: Cpuset, cs: Cpuset): void {
  for (const sib of children(k, parent)) {
    if (sib === cs || !sib.useParentEcpus) continue;
    updateCpumasksHier61(k, sib, false);
  }
}

/** update_cpumask (v6.1), after the parse */
function updateCpumask61(k: Kernel, cs: Cpuset, trial: Trial): number {
  if (trial.cpusAllowed === cs.cpusAllowed) return 0;
  let retval = validateChange(k, cs, trial);
  let invalidate = false;
  const parent = parentCs(k, cs);
  if (retval === -EINVAL) {
    // the sibling exclusivity rule: the change goes through, the partitions in conflict become invalid
    invalidate = true;
    for (const cp of children(k, parent)) {
      if (isPartitionValid(cp) && intersects(trial.cpusAllowed, cp.cpusAllowed)) updateParentSubparts61(k, cp, Cmd.Invalidate, null);
    }
    retval = 0;
  }
  if (retval < 0) return retval;
  if (cs.partitionRootState !== PRS_MEMBER) {
    if (invalidate) updateParentSubparts61(k, cs, Cmd.Invalidate, null);
    else updateParentSubparts61(k, cs, Cmd.Update, trial.cpusAllowed);
  }
  cs.cpusAllowed = trial.cpusAllowed;
  if (cs.nrSubpartsCpus !== 0) {
    const eff = computeEffectiveCpumask61(cs, parent, allCpus(k));
    if (!isPartitionValid(cs) || (subset(eff, cs.subpartsCpus) && partitionIsPopulated(k, cs, null))) {
      cs.nrSubpartsCpus = 0;
      cs.subpartsCpus = 0n;
    } else {
      cs.subpartsCpus &= cs.cpusAllowed;
      cs.nrSubpartsCpus = popcount(cs.subpartsCpus);
    }
  }
  updateCpumasksHier61(k, cs, false);
  if (cs.partitionRootState !== PRS_MEMBER && parent.childEcpusCount !== 0) updateSiblingCpumasks61(k, parent, cs);
  return 0;
}

/** update_prstate (v6.1) */
function updatePrstate61(k: Kernel, cs: Cpuset, newPrsIn: number): number {
  let newPrs = newPrsIn;
  const oldPrs = cs.partitionRootState;
  const parent = parentCs(k, cs);
  if (oldPrs === newPrs) return 0;
  // a previously invalid partition root stays invalid unless it becomes a member
  if (newPrs !== PRS_MEMBER && oldPrs < 0) {
    cs.partitionRootState = -newPrs;
    return 0;
  }
  let err = PERR_NONE;
  if (oldPrs === PRS_MEMBER) {
    if (cs.cpusAllowed === 0n) err = PERR_CPUSEMPTY;
    else if (updateCpuExclusive(k, cs, true) < 0) err = PERR_NOTEXCL;
    else {
      err = updateParentSubparts61(k, cs, Cmd.Enable, null);
      if (err !== PERR_NONE) updateCpuExclusive(k, cs, false);
      else if (newPrs === PRS_ISOLATED) cs.schedLoadBalance = false;
    }
  } else if (newPrs !== PRS_MEMBER) {
    // a change of load balancing only
    cs.schedLoadBalance = newPrs !== PRS_ISOLATED;
  } else {
    // back to member is always allowed, even if it disables child partitions
    updateParentSubparts61(k, cs, Cmd.Disable, null);
    if (cs.nrSubpartsCpus !== 0) {
      cs.nrSubpartsCpus = 0;
      cs.subpartsCpus = 0n;
      cs.effectiveCpus = computeEffectiveCpumask61(cs, parent, allCpus(k));
    }
    updateCpuExclusive(k, cs, false);
    cs.schedLoadBalance = true;
  }
  if (err === PERR_NONE && (oldPrs === PRS_MEMBER || newPrs === PRS_MEMBER) && parent.childEcpusCount !== 0) {
    updateSiblingCpumasks61(k, parent, cs);
  }
  if (err !== PERR_NONE) newPrs = -newPrs;
  cs.partitionRootState = newPrs;
  // update_prstate(): prs_err is the error of this attempt (a valid state clears it below)
  if (err !== PERR_NONE) cs.prsErr = err;
  if (children(k, cs).length > 0) updateCpumasksHier61(k, cs, newPrs === PRS_MEMBER);
  notifyPartitionChange(cs, oldPrs);
  return 0;
}

// ---- the engine from 6.7 (v6.12) ----

/** compute_effective_exclusive_cpumask: user_xcpus & parent's effective_xcpus */
function computeEffectiveXcpus(k: Kernel, cs: Cpuset, trial: Trial = cs): bigint {
  return userXcpus(trial) & parentCs(k, cs).effectiveXcpus;
}

/** update_partition_exclusive: 0 or PERR_NOTEXCL */
function updatePartitionExclusive(k: Kernel, cs: Cpuset, newPrs: number): number {
  const exclusive = newPrs > PRS_MEMBER;
  if (exclusive && !cs.cpuExclusive) {
    if (updateCpuExclusive(k, cs, true) < 0) return PERR_NOTEXCL;
  } else if (!exclusive && cs.cpuExclusive) {
    updateCpuExclusive(k, cs, false);
  }
  return 0;
}

/** update_partition_sd_lb: a valid partition balances unless isolated; others follow the parent */
function updatePartitionSdLb(k: Kernel, cs: Cpuset): void {
  const newPrs = cs.partitionRootState;
  cs.schedLoadBalance = newPrs > 0 ? newPrs !== PRS_ISOLATED : parentCs(k, cs).schedLoadBalance;
}

/** tasks_nocpu_error: a populated partition (cs or parent) cannot be left without CPUs */
function tasksNocpuError(k: Kernel, parent: Cpuset, cs: Cpuset, xcpus: bigint): boolean {
  return (subset(parent.effectiveCpus, xcpus) && partitionIsPopulated(k, parent, cs)) ||
    (!intersects(xcpus, allCpus(k)) && partitionIsPopulated(k, cs, null));
}

/** reset_partition_data */
function resetPartitionData(k: Kernel, cs: Cpuset): void {
  const parent = parentCs(k, cs);
  cs.nrSubparts = 0;
  if (cs.exclusiveCpus === 0n) {
    cs.effectiveXcpus = 0n;
    cs.cpuExclusive = false;
  }
  cs.effectiveCpus = parent.effectiveCpus & cs.cpusAllowed;
  if (cs.effectiveCpus === 0n) cs.effectiveCpus = parent.effectiveCpus;
}

/** partition_xcpus_newstate */
function partitionXcpusNewstate(g: CpusetGlobals, newPrs: number, xcpus: bigint): void {
  if (newPrs === PRS_ISOLATED) g.isolatedCpus |= xcpus;
  else g.isolatedCpus &= ~xcpus;
}

/** partition_xcpus_add: `parent` null for a remote partition (the top cpuset gives) */
function partitionXcpusAdd(k: Kernel, g: CpusetGlobals, newPrs: number, parentIn: Cpuset | null, cs: Cpuset, xcpus: bigint): void {
  const parent = parentIn ?? topCpuset(k, cs);
  if (parent.cg.parent === null) g.subpartitionsCpus |= xcpus;
  if (newPrs !== parent.partitionRootState) partitionXcpusNewstate(g, newPrs, xcpus);
  parent.effectiveCpus &= ~xcpus;
}

/** partition_xcpus_del */
function partitionXcpusDel(k: Kernel, g: CpusetGlobals, oldPrs: number, parentIn: Cpuset | null, cs: Cpuset, xcpus: bigint): void {
  const parent = parentIn ?? topCpuset(k, cs);
  if (parent.cg.parent === null) g.subpartitionsCpus &= ~xcpus;
  if (oldPrs !== parent.partitionRootState) partitionXcpusNewstate(g, parent.partitionRootState, xcpus);
  parent.effectiveCpus |= xcpus & allCpus(k);
}

const isRemotePartition = (k: Kernel, cs: Cpuset): boolean => globalsOf(k, cs).remoteChildren.has(cs);

/** remote_partition_enable: 0 or a PERR_* code (the caller is root: capable(CAP_SYS_ADMIN)) */
function remotePartitionEnable(k: Kernel, cs: Cpuset, newPrs: number): number {
  const g = globalsOf(k, cs);
  const top = topCpuset(k, cs);
  const xcpus = computeEffectiveXcpus(k, cs);
  if (xcpus === 0n || intersects(xcpus, g.subpartitionsCpus) || subset(top.effectiveCpus, xcpus)) return PERR_INVCPUS;
  partitionXcpusAdd(k, g, newPrs, null, cs, xcpus);
  g.remoteChildren.add(cs);
  updateSiblingCpumasks67(k, top, null);
  return 0;
}

/** remote_partition_disable */
function remotePartitionDisable(k: Kernel, cs: Cpuset): void {
  const g = globalsOf(k, cs);
  const xcpus = computeEffectiveXcpus(k, cs);
  g.remoteChildren.delete(cs);
  partitionXcpusDel(k, g, cs.partitionRootState, null, cs, xcpus);
  cs.partitionRootState = -cs.partitionRootState;
  if (cs.prsErr === PERR_NONE) cs.prsErr = PERR_INVCPUS;
  resetPartitionData(k, cs);
  updateSiblingCpumasks67(k, topCpuset(k, cs), null);
}

/** remote_cpus_update */
function remoteCpusUpdate(k: Kernel, cs: Cpuset, newmask: bigint): void {
  const g = globalsOf(k, cs);
  const top = topCpuset(k, cs);
  const prs = cs.partitionRootState;
  if (newmask === 0n) return remotePartitionDisable(k, cs);
  const addmask = newmask & ~cs.effectiveXcpus;
  const delmask = cs.effectiveXcpus & ~newmask;
  if (addmask !== 0n && (intersects(addmask, g.subpartitionsCpus) || subset(top.effectiveCpus, addmask))) return remotePartitionDisable(k, cs);
  if (addmask !== 0n) partitionXcpusAdd(k, g, prs, null, cs, addmask);
  if (delmask !== 0n) partitionXcpusDel(k, g, prs, null, cs, delmask);
  updateSiblingCpumasks67(k, top, null);
}

/** remote_partition_check: remote partitions below lose the exclusive CPUs cs gives up */
function remotePartitionCheck(k: Kernel, cs: Cpuset, newmask: bigint): void {
  const g = globalsOf(k, cs);
  const delmask = cs.effectiveXcpus & ~newmask;
  if (delmask === 0n || !intersects(delmask, g.subpartitionsCpus)) return;
  for (const child of [...g.remoteChildren]) if (intersects(child.effectiveCpus, delmask)) remotePartitionDisable(k, child);
}

/** update_parent_effective_cpumask (v6.12): 0 or a PERR_* code */
function updateParentEffective67(k: Kernel, cs: Cpuset, cmd: Cmd, newmask: bigint | null): number {
  const parent = parentCs(k, cs);
  const g = globalsOf(k, cs);
  let adding = false;
  let deleting = false;
  let addmask = 0n;
  let delmask = 0n;
  const oldPrs = cs.partitionRootState;
  let newPrs = oldPrs;
  let partError = PERR_NONE;
  let subpartsDelta = 0;
  const xcpus = userXcpus(cs);
  const all = allCpus(k);
  if (cmd === Cmd.Invalidate) {
    if (oldPrs < 0) return 0;
    if (isPartitionValid(parent)) {
      addmask = xcpus & parent.effectiveXcpus;
      adding = addmask !== 0n;
    }
    if (oldPrs > 0) {
      newPrs = -oldPrs;
      subpartsDelta--;
    }
  } else {
    if (!isPartitionValid(parent)) return isPartitionInvalid(parent) ? PERR_INVPARENT : PERR_NOTPART;
    if (newmask === null && xcpusEmpty(cs)) return PERR_CPUSEMPTY;
    let nocpu = tasksNocpuError(k, parent, cs, xcpus);
    if (cmd === Cmd.Enable || cmd === Cmd.EnableI) {
      if (xcpus === 0n || !intersects(xcpus, parent.effectiveXcpus)) return PERR_INVCPUS;
      if (nocpu) return PERR_NOCPUS;
      delmask = xcpus;
      deleting = true;
      subpartsDelta++;
      newPrs = cmd === Cmd.Enable ? PRS_ROOT : PRS_ISOLATED;
    } else if (cmd === Cmd.Disable) {
      addmask = xcpus & parent.effectiveXcpus;
      adding = oldPrs >= 0 && addmask !== 0n;
      if (adding) subpartsDelta--;
      newPrs = PRS_MEMBER;
    } else if (newmask !== null) {
      if (newmask === 0n) {
        partError = PERR_CPUSEMPTY;
      } else {
        nocpu ||= tasksNocpuError(k, parent, cs, newmask);
        if (oldPrs < 0) {
          delmask = newmask & parent.effectiveXcpus;
          deleting = delmask !== 0n;
        } else {
          addmask = xcpus & ~newmask & parent.effectiveXcpus;
          adding = addmask !== 0n;
          delmask = newmask & ~xcpus & parent.effectiveXcpus;
          deleting = delmask !== 0n;
        }
        // invalid if the parent's effective_cpus could become empty while it has tasks
        if (nocpu && (!adding || !intersects(addmask, all))) {
          partError = PERR_NOCPUS;
          deleting = false;
          addmask = xcpus & parent.effectiveXcpus;
          adding = addmask !== 0n;
        }
      }
    } else {
      if (nocpu) {
        partError = PERR_NOCPUS;
        if (isPartitionValid(cs)) {
          addmask = xcpus & parent.effectiveXcpus;
          adding = addmask !== 0n;
        }
      } else if (isPartitionInvalid(cs) && subset(xcpus, parent.effectiveXcpus)) {
        // invalid to valid has to pass the exclusivity test
        let exclusive = true;
        for (const child of children(k, parent)) if (child !== cs && !cpusetsAreExclusive(cs, child)) exclusive = false;
        if (exclusive) {
          delmask = xcpus & parent.effectiveCpus;
          deleting = delmask !== 0n;
        } else partError = PERR_NOTEXCL;
      }
    }
  }
  if (partError !== PERR_NONE) cs.prsErr = partError;
  if (cmd === Cmd.Update) {
    if (oldPrs > 0 && partError !== PERR_NONE) {
      newPrs = -oldPrs;
      subpartsDelta--;
    } else if (oldPrs < 0 && partError === PERR_NONE) {
      newPrs = -oldPrs;
      subpartsDelta++;
    }
  }
  if (!adding && !deleting && newPrs === oldPrs) return 0;
  if (oldPrs !== newPrs && cmd !== Cmd.Update) {
    const err = updatePartitionExclusive(k, cs, newPrs);
    if (err !== PERR_NONE) return err;
  }
  if (oldPrs !== newPrs) {
    cs.partitionRootState = newPrs;
    if (newPrs <= 0) cs.nrSubparts = 0;
  }
  // adding to the parent's effective CPUs takes them from cs, and the other way round
  if (adding) partitionXcpusDel(k, g, oldPrs, parent, cs, addmask);
  if (deleting) partitionXcpusAdd(k, g, newPrs, parent, cs, delmask);
  if (isPartitionValid(parent)) parent.nrSubparts += subpartsDelta;
  if (oldPrs !== newPrs && cmd === Cmd.Update) updatePartitionExclusive(k, cs, newPrs);
  if (adding || deleting) updateSiblingCpumasks67(k, parent, cs);
  if (cmd === Cmd.Update && newmask === null) updatePartitionSdLb(k, cs);
  notifyPartitionChange(cs, oldPrs);
  return 0;
}

/** compute_partition_effective_cpumask: a partition's CPUs minus its child partitions' (invalidating those that no longer fit) */
function computePartitionEffective67(k: Kernel, cs: Cpuset): bigint {
  const populated = partitionIsPopulated(k, cs, null);
  let newEcpus = computeEffectiveXcpus(k, cs) & allCpus(k);
  for (const child of children(k, cs)) {
    if (!isPartitionValid(child)) continue;
    child.prsErr = PERR_NONE;
    if (!subset(child.effectiveXcpus, cs.effectiveXcpus)) child.prsErr = PERR_INVCPUS;
    else if (populated && subset(newEcpus, child.effectiveXcpus)) child.prsErr = PERR_NOCPUS;
    if (child.prsErr !== PERR_NONE) {
      const oldPrs = child.partitionRootState;
      if (child.partitionRootState > 0) child.partitionRootState = -child.partitionRootState;
      cs.nrSubparts--;
      child.nrSubparts = 0;
      notifyPartitionChange(child, oldPrs);
      continue;
    }
    newEcpus &= ~child.effectiveXcpus;
  }
  return newEcpus;
}

/** update_cpumasks_hier (v6.12); `checkAll` is HIER_CHECKALL */
function updateCpumasksHier67(k: Kernel, cs: Cpuset, checkAll: boolean): void {
  descendantsPre(k, cs, (cp) => {
    if (cp.cg.parent === null) return;
    const parent = parentCs(k, cp);
    const remote = isRemotePartition(k, cp);
    // a remote partition below takes its CPUs from the top cpuset, not from here
    if (remote && cp !== cs) return true;
    if (cp.exclusiveCpus !== 0n && cp !== cs) cp.effectiveXcpus = computeEffectiveXcpus(k, cp);
    const oldPrs = cp.partitionRootState;
    let newPrs = oldPrs;
    let newCpus = remote || (isPartitionValid(parent) && isPartitionValid(cp))
      ? computePartitionEffective67(k, cp)
      : cp.cpusAllowed & parent.effectiveCpus;
    let updateParent = false;
    let toUpdate = false;
    if (isPartitionValid(cp) && newCpus === 0n) {
      // a partition with no effective CPU is allowed while it has no task: let the parent decide
      updateParent = true;
      toUpdate = true;
    }
    if (!toUpdate) {
      if (!remote && newCpus === 0n) newCpus = parent.effectiveCpus;
      if (!remote && cp.partitionRootState === PRS_MEMBER && !checkAll && newCpus === cp.effectiveCpus &&
        parent.schedLoadBalance === cp.schedLoadBalance) return true;
    }
    if (!remote && cp !== cs && oldPrs !== PRS_MEMBER) {
      const prs = descendantPartitionState(cp, parent);
      if (prs === UPDATE_PARENT) updateParent = true;
      else newPrs = prs;
    }
    if (updateParent) {
      updateParentEffective67(k, cp, Cmd.Update, null);
      newPrs = cp.partitionRootState;
    }
    cp.effectiveCpus = newCpus;
    cp.partitionRootState = newPrs;
    if (newPrs > 0 && cp.exclusiveCpus === 0n) cp.effectiveXcpus = cp.cpusAllowed & parent.effectiveXcpus;
    else if (newPrs < 0) resetPartitionData(k, cp);
    notifyPartitionChange(cp, oldPrs);
    // v2: a cpuset that is not a valid partition follows its parent's load balancing
    if (!isPartitionValid(cp)) cp.schedLoadBalance = parent.schedLoadBalance;
    return false;
  });
}

/** update_sibling_cpumasks (v6.12): `cs` null for every child of `parent` */
function updateSiblingCpumasks67(k: Kernel, parent: Cpuset, cs: Cpuset | null): void {
  for (const sib of children(k, parent)) {
    if (sib === cs) continue;
    if (!isPartitionValid(sib) && (sib.cpusAllowed & parent.effectiveCpus) === sib.effectiveCpus) continue;
    updateCpumasksHier67(k, sib, false);
  }
}

/** update_cpumask (v6.12), after the parse */
function updateCpumask67(k: Kernel, cs: Cpuset, trial: Trial, empty: boolean): number {
  const parent = parentCs(k, cs);
  const oldPrs = cs.partitionRootState;
  if (empty) {
    if (trial.exclusiveCpus === 0n) trial.effectiveXcpus = 0n;
  } else if (trial.exclusiveCpus !== 0n || isPartitionValid(cs)) {
    trial.effectiveXcpus = computeEffectiveXcpus(k, cs, trial);
  }
  if (trial.cpusAllowed === cs.cpusAllowed) return 0;
  let invalidate = false;
  if (oldPrs !== PRS_MEMBER) {
    if (isPartitionValid(cs) && trial.effectiveXcpus === 0n) {
      invalidate = true;
      cs.prsErr = PERR_INVCPUS;
    } else if (tasksNocpuError(k, parent, cs, trial.effectiveXcpus)) {
      invalidate = true;
      cs.prsErr = PERR_NOCPUS;
    }
  }
  const checkAll = cs.effectiveXcpus !== trial.effectiveXcpus;
  let retval = validateChange(k, cs, trial);
  if (retval === -EINVAL) {
    invalidate = true;
    for (const cp of children(k, parent)) {
      if (isPartitionValid(cp) && intersects(userXcpus(trial), cp.effectiveXcpus)) updateParentEffective67(k, cp, Cmd.Invalidate, null);
    }
    retval = 0;
  }
  if (retval < 0) return retval;
  if (isPartitionValid(cs) || (isPartitionInvalid(cs) && !invalidate)) {
    let xcpus = trial.effectiveXcpus;
    if (xcpus === 0n && isPartitionInvalid(cs)) xcpus = trial.cpusAllowed;
    if (isRemotePartition(k, cs)) remoteCpusUpdate(k, cs, xcpus);
    else if (invalidate) updateParentEffective67(k, cs, Cmd.Invalidate, null);
    else updateParentEffective67(k, cs, Cmd.Update, xcpus);
  } else if (cs.exclusiveCpus !== 0n) {
    remotePartitionCheck(k, cs, trial.effectiveXcpus);
  }
  cs.cpusAllowed = trial.cpusAllowed;
  cs.effectiveXcpus = trial.effectiveXcpus;
  if (oldPrs > 0 && !isPartitionValid(cs)) resetPartitionData(k, cs);
  updateCpumasksHier67(k, cs, checkAll);
  if (cs.partitionRootState !== PRS_MEMBER) updatePartitionSdLb(k, cs);
  return 0;
}

/** update_exclusive_cpumask (v6.12), after the parse */
function updateExclusiveCpumask(k: Kernel, cs: Cpuset, trial: Trial, empty: boolean): number {
  const parent = parentCs(k, cs);
  const oldPrs = cs.partitionRootState;
  if (empty) trial.effectiveXcpus = 0n;
  if (trial.exclusiveCpus === cs.exclusiveCpus) return 0;
  if (!empty) trial.effectiveXcpus = computeEffectiveXcpus(k, cs, trial);
  const checkAll = cs.effectiveXcpus !== trial.effectiveXcpus;
  const retval = validateChange(k, cs, trial);
  if (retval !== 0) return retval;
  if (oldPrs !== PRS_MEMBER) {
    let invalidate = false;
    if (trial.effectiveXcpus === 0n) {
      invalidate = true;
      cs.prsErr = PERR_INVCPUS;
    } else if (tasksNocpuError(k, parent, cs, trial.effectiveXcpus)) {
      invalidate = true;
      cs.prsErr = PERR_NOCPUS;
    }
    if (isRemotePartition(k, cs)) {
      if (invalidate) remotePartitionDisable(k, cs);
      else remoteCpusUpdate(k, cs, trial.effectiveXcpus);
    } else if (invalidate) updateParentEffective67(k, cs, Cmd.Invalidate, null);
    else updateParentEffective67(k, cs, Cmd.Update, trial.effectiveXcpus);
  } else if (trial.exclusiveCpus !== 0n) {
    remotePartitionCheck(k, cs, trial.effectiveXcpus);
  }
  cs.exclusiveCpus = trial.exclusiveCpus;
  cs.effectiveXcpus = trial.effectiveXcpus;
  if (oldPrs > 0 && !isPartitionValid(cs)) resetPartitionData(k, cs);
  if (isPartitionValid(cs) || checkAll) updateCpumasksHier67(k, cs, checkAll);
  if (cs.partitionRootState !== PRS_MEMBER) updatePartitionSdLb(k, cs);
  return 0;
}

/** update_prstate (v6.12) */
function updatePrstate67(k: Kernel, cs: Cpuset, newPrsIn: number): number {
  let newPrs = newPrsIn;
  let oldPrs = cs.partitionRootState;
  const parent = parentCs(k, cs);
  const g = globalsOf(k, cs);
  let newXcpusState = false;
  if (oldPrs === newPrs) return 0;
  // a previously invalid partition root is treated as a member
  if (newPrs !== PRS_MEMBER && oldPrs < 0) oldPrs = PRS_MEMBER;
  if (newPrs > 0 && cs.exclusiveCpus === 0n) cs.effectiveXcpus = cs.cpusAllowed & parent.effectiveXcpus;
  let err = updatePartitionExclusive(k, cs, newPrs);
  if (err === PERR_NONE) {
    if (oldPrs === PRS_MEMBER) {
      if (xcpusEmpty(cs)) err = PERR_CPUSEMPTY;
      else if (isPartitionValid(parent)) err = updateParentEffective67(k, cs, newPrs === PRS_ROOT ? Cmd.Enable : Cmd.EnableI, null);
      else err = remotePartitionEnable(k, cs, newPrs);
    } else if (newPrs !== PRS_MEMBER) {
      // a change of load balancing only, no change in the masks
      newXcpusState = true;
    } else if (isRemotePartition(k, cs)) {
      remotePartitionDisable(k, cs);
    } else {
      updateParentEffective67(k, cs, Cmd.Disable, null);
    }
  }
  if (err !== PERR_NONE) {
    newPrs = -newPrs;
    updatePartitionExclusive(k, cs, newPrs);
  }
  cs.partitionRootState = newPrs;
  cs.prsErr = err;
  if (!isPartitionValid(cs)) resetPartitionData(k, cs);
  else if (newXcpusState) partitionXcpusNewstate(g, newPrs, cs.effectiveXcpus);
  updateCpumasksHier67(k, cs, newPrs === PRS_MEMBER);
  updatePartitionSdLb(k, cs);
  notifyPartitionChange(cs, oldPrs);
  return 0;
}

// ---- css lifetime ----

/** cpuset_css_alloc + cpuset_css_online (v2): effective masks from the parent, nothing configured */
export function cpusetCssOnline(k: Kernel, cg: Cgroup): Cpuset {
  const parent = cpusetOf(k, cg.parent!);
  const cs = new Cpuset(cg);
  cg.cpuset = cs;
  // 6.7+: a child of an isolated partition does not balance either
  if (k.has('cpuset_cpus_exclusive') && !parent.schedLoadBalance) cs.schedLoadBalance = false;
  cs.effectiveCpus = parent.effectiveCpus;
  cs.effectiveMems = parent.effectiveMems;
  if (!k.has('cpuset_cpus_exclusive')) {
    cs.useParentEcpus = true;
    parent.childEcpusCount++;
  }
  return cs;
}

/** cpuset_css_offline: a valid partition gives its CPUs back first */
export function cpusetCssOffline(k: Kernel, cg: Cgroup): void {
  const cs = cg.cpuset;
  if (cs === null || cg.parent === null) return;
  if (isPartitionValid(cs)) {
    if (k.has('cpuset_cpus_exclusive')) updatePrstate67(k, cs, PRS_MEMBER);
    else updatePrstate61(k, cs, PRS_MEMBER);
  }
  if (cs.useParentEcpus) {
    cs.useParentEcpus = false;
    parentCs(k, cs).childEcpusCount--;
  }
  cs.online = false;
  cg.cpuset = null;
}

/** cpuset_can_attach: a cpuset with no effective CPU takes no task (-ENOSPC), v2 included */
export function cpusetCanAttach(k: Kernel, dst: Cgroup): number {
  const cs = cpusetOf(k, dst.ecss('cpuset'));
  return cs.effectiveCpus === 0n ? -ENOSPC : 0;
}

// ---- the interface files ----

/** cpuset_common_seq_show */
export function cpusetShow(k: Kernel, cg: Cgroup, which: 'cpus' | 'mems' | 'cpus.effective' | 'mems.effective' | 'cpus.exclusive' | 'cpus.exclusive.effective' | 'cpus.isolated'): string {
  const cs = cpusetOf(k, cg);
  const m = {
    cpus: cs.cpusAllowed, mems: cs.memsAllowed, 'cpus.effective': cs.effectiveCpus, 'mems.effective': cs.effectiveMems,
    'cpus.exclusive': cs.exclusiveCpus, 'cpus.exclusive.effective': cs.effectiveXcpus,
    'cpus.isolated': cs.globals?.isolatedCpus ?? 0n,
  }[which];
  return cpulistString(m) + '\n';
}

/**
 * cpuset_write_resmask: strstrip, then update_cpumask / update_exclusive_cpumask /
 * update_nodemask. An empty list clears; cpus must fit nr_cpu_ids (cpulist_parse:
 * -ERANGE past it) and the top cpuset's possible CPUs (-EINVAL), mems the possible nodes.
 */
export function cpusetWriteResmask(k: Kernel, cg: Cgroup, which: 'cpus' | 'mems' | 'cpus.exclusive', text: string): number {
  const cs = cpusetOf(k, cg);
  const buf = strstrip(text);
  const trial = cs.trial();
  if (which === 'mems') {
    // update_nodemask: the top cpuset's mems track the memory nodes, read-only
    if (cg.parent === null) return -EACCES;
    if (buf === '') trial.memsAllowed = 0n;
    else {
      const m = bitmapParselist(buf, MAX_NUMNODES);
      if (typeof m === 'number') return m;
      if (!subset(m, topCpuset(k, cs).memsAllowed)) return -EINVAL;
      trial.memsAllowed = m;
    }
    if (trial.memsAllowed === cs.memsAllowed) return 0;
    const r = validateChange(k, cs, trial);
    if (r < 0) return r;
    cs.memsAllowed = trial.memsAllowed;
    // update_nodemasks_hier: written & parent's effective, the parent's when empty
    descendantsPre(k, cs, (cp) => {
      const parent = parentCs(k, cp);
      let m = cp.memsAllowed & parent.effectiveMems;
      if (m === 0n) m = parent.effectiveMems;
      if (m === cp.effectiveMems) return true;
      cp.effectiveMems = m;
      return false;
    });
    return 0;
  }
  if (which === 'cpus' && cg.parent === null) return -EACCES;
  let mask = 0n;
  if (buf !== '') {
    const m = bitmapParselist(buf, k.rt.ncpus);
    if (typeof m === 'number') return m;
    if (which === 'cpus' && !subset(m, topCpuset(k, cs).cpusAllowed)) return -EINVAL;
    mask = m;
  }
  if (which === 'cpus.exclusive') {
    trial.exclusiveCpus = mask;
    return updateExclusiveCpumask(k, cs, trial, buf === '');
  }
  trial.cpusAllowed = mask;
  return k.has('cpuset_cpus_exclusive') ? updateCpumask67(k, cs, trial, buf === '') : updateCpumask61(k, cs, trial);
}

/** sched_partition_show */
export function cpusetPartitionShow(k: Kernel, cg: Cgroup): string {
  const cs = cpusetOf(k, cg);
  const prs = cs.partitionRootState;
  if (prs === PRS_ROOT) return 'root\n';
  if (prs === PRS_ISOLATED) return 'isolated\n';
  if (prs === PRS_MEMBER) return 'member\n';
  const type = prs === -PRS_ROOT ? 'root' : 'isolated';
  const err = (k.has('cpuset_cpus_exclusive') ? PERR_STRINGS_67 : PERR_STRINGS_61)[cs.prsErr];
  return err !== undefined ? `${type} invalid (${err})\n` : `${type} invalid\n`;
}

/** sched_partition_write: "root", "member" or "isolated" after strstrip, else -EINVAL; a refused partition reads invalid, the write succeeds */
export function cpusetPartitionWrite(k: Kernel, cg: Cgroup, text: string): number {
  const buf = strstrip(text);
  const val = buf === 'root' ? PRS_ROOT : buf === 'member' ? PRS_MEMBER : buf === 'isolated' ? PRS_ISOLATED : null;
  if (val === null) return -EINVAL;
  const cs = cpusetOf(k, cg);
  return k.has('cpuset_cpus_exclusive') ? updatePrstate67(k, cs, val) : updatePrstate61(k, cs, val);
}

/**
 * cgroupfs: /sys/fs/cgroup (v2) or /sys/fs/cgroup/<controller> (v1). Directories are
 * cgroups; interface files print the kernel's text formats and parse writes the way
 * the kernel does (a rejected write returns -errno and changes nothing).
 */
import { ERANGE, EAGAIN, EBUSY, EINVAL, ENODEV, ENOENT, ENOTDIR, EOPNOTSUPP, ESRCH } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { Feature } from '../release.js';
import { blkcgStatTree } from '../blk-cgroup.js';
import {
  MEMCG_EVENT_NAMES, memcgShrinkToMax, NR_ANON, NR_FILE, NR_FILE_DIRTY, NR_FILE_WRITEBACK, NR_KERNEL, NR_SHMEM, NR_SWAP,
  PAGE_SIZE, tryToFreeMemCgroupPages, memcgReparent, pageCounterMemparse, pageCounterShow,
} from '../memcontrol.js';
import { kstrtoll, kstrtoull, memparse } from '../parse.js';
import type { Task } from '../task.js';
import type { File, FileOperations } from '../vfs/file.js';
import { Inode, S_IFDIR, S_IFREG, SuperBlock, type InodeOperations } from '../vfs/inode.js';
import { dirFileOps } from '../vfs/libfs.js';
import { DFL_CONTROLLERS, THREADED_SS, type Cgroup, type CgroupRoot, type Controller } from './cgroup.js';
import { cgroupAttach, cgroupMkdir, cgroupRmdir, cssOffline, cssOnline, pidsRecount } from './cgroup-core.js';
import { cpusetPartitionShow, cpusetPartitionWrite, cpusetShow, cpusetWriteResmask } from './cpuset.js';
import { HSTATES, HUGETLB_FILES, hugetlbShow, hugetlbWrite } from './hugetlb.js';
import { iocostShow, iocostWrite } from './iocost.js';
import { miscMaxWrite, miscShow } from './misc.js';
import { rdmaMaxWrite, rdmaShow } from './rdma.js';
import {
  cpuExtraStat, cpuIdleShow, cpuIdleWrite, cpuLocalStat, cpuMaxBurstShow, cpuMaxBurstWrite, cpuMaxShow, cpuMaxWrite,
  cpuWeightClamped, cpuWeightNiceShow, cpuWeightNiceWrite, cpuWeightShow, cpuWeightWrite,
} from './cpu.js';
import { cgroupFreezeWrite, cgroupFrozen, cgroupKillWrite } from './freezer.js';
import { cfsBandwidthChanged } from './cpu-bandwidth.js';
import { psiSetEnabled } from './psi.js';
import { kstrtoint, strstrip } from './kstrto.js';
import { memoryNumaStatShow, memoryStatShow } from './memory-stat.js';

const THREADED_CONTROLLERS = THREADED_SS;
/** PID_MAX_LIMIT */
const PID_MAX_LIMIT = 4 * 1024 * 1024;
/** what v1 prints for an unlimited memory.limit_in_bytes (PAGE_COUNTER_MAX * PAGE_SIZE) */
const V1_UNLIMITED = '9223372036854771712';

interface CftFile {
  /** show: text or -errno */
  show?(k: Kernel, cg: Cgroup, task: Task): string | number;
  /** store: 0 or -errno (the caller returns the byte count on success) */
  store?(k: Kernel, cg: Cgroup, task: Task, text: string): number;
  notOnRoot?: boolean;
  onlyOnRoot?: boolean;
  /** CFTYPE_NOT_ON_ROOT until this release feature (misc.current) */
  rootSince?: Feature;
  /** the controller whose css the cgroup must have */
  ss?: Controller;
  /** the release feature that brought the file */
  feature?: Feature;
  /** a PSI file (cpu/io/memory.pressure): hidden while cgroup.pressure is 0 */
  psi?: boolean;
}

const bytes = pageCounterShow;
const maxOr = (n: number): string => (n === Infinity ? 'max' : String(n));

function sumSubtree(cg: Cgroup, f: (c: Cgroup) => number): number {
  let s = 0;
  for (const c of cg.subtree()) s += f(c);
  return s;
}

function pidsOf(cg: Cgroup, threads: boolean): number[] {
  const out: number[] = [];
  for (const t of cg.tasks) {
    if (!t.alive) continue;
    if (threads) out.push(t.pid);
    else if (t.isGroupLeader) out.push(t.pid);
    else if (t.groupLeader.cgroups[cg.root.hierarchyId] !== cg && !out.includes(t.tgid)) out.push(t.tgid);
  }
  return out.sort((a, b) => a - b);
}

function procsWrite(threadgroup: boolean) {
  return (k: Kernel, cg: Cgroup, writer: Task, text: string): number => {
    const pid = kstrtoll(text.trim());
    if (pid === null || pid < 0) return -EINVAL;
    const t = pid === 0 ? writer : k.taskByPid(pid);
    if (t === null || !t.alive) return -ESRCH;
    return cgroupAttach(k, t, cg, threadgroup);
  };
}

function memoryStatV1(cg: Cgroup): string {
  const local = (i: number): number => cg.memcg.stat[i]! * PAGE_SIZE;
  const tot = (i: number): number => sumSubtree(cg, (c) => c.memcg.stat[i]!) * PAGE_SIZE;
  const lines = [
    `cache ${local(NR_FILE) + local(NR_SHMEM)}`, `rss ${local(NR_ANON)}`, `shmem ${local(NR_SHMEM)}`,
    `mapped_file 0`, `dirty ${local(NR_FILE_DIRTY)}`, `writeback ${local(NR_FILE_WRITEBACK)}`, `swap ${local(NR_SWAP)}`,
    `hierarchical_memory_limit ${cg.memcg.max === Infinity ? V1_UNLIMITED : cg.memcg.max * PAGE_SIZE}`,
    `total_cache ${tot(NR_FILE) + tot(NR_SHMEM)}`, `total_rss ${tot(NR_ANON)}`, `total_shmem ${tot(NR_SHMEM)}`,
    `total_dirty ${tot(NR_FILE_DIRTY)}`, `total_writeback ${tot(NR_FILE_WRITEBACK)}`, `total_swap ${tot(NR_SWAP)}`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * cpu.stat: cgroup_base_stat_cputime_show (usage, user, system; nice since
 * cpu_stat_nice_usec), then cpu_extra_stat_show for a cgroup with its own cpu css.
 */
function cpuStat(k: Kernel, cg: Cgroup): string {
  const user = Math.floor(sumSubtree(cg, (c) => c.cpu.userNs) / 1000);
  const sys = Math.floor(sumSubtree(cg, (c) => c.cpu.systemNs) / 1000);
  let s = `usage_usec ${user + sys}\nuser_usec ${user}\nsystem_usec ${sys}\n`;
  // the model runs no niced user time: nice_usec is 0
  if (k.has('cpu_stat_nice_usec')) s += 'nice_usec 0\n';
  // cgroup_extra_stat_show: cgroup_tryget_css of the cgroup's own cpu css, the root's included (the oracle: cpu-max)
  if (cg.hasCss('cpu')) s += cpuExtraStat(cg.cpuTg);
  return s;
}

/** after tg_set_cfs_bandwidth succeeded: the sim runtime applies the new bandwidth */
function bandwidthWrite(k: Kernel, cg: Cgroup, r: number): number {
  if (r === 0) cfsBandwidthChanged(k, cg);
  return r;
}

/**
 * The v2 subsystems of the guest kernels (Debian's 6.1 and 6.12 configs), in ssid order,
 * for cgroup.stat's per-subsystem lines: the controllers and perf_event, implicitly on
 * everywhere.
 */
const DFL_SUBSYS = ['cpuset', 'cpu', 'io', 'memory', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc'] as const;

function hasSubsysCss(c: Cgroup, ss: (typeof DFL_SUBSYS)[number]): boolean {
  return ss === 'perf_event' || c.hasCss(ss);
}

/** cgroup_stat_show (the nr_subsys lines since cgroup_stat_nr_subsys) */
function cgroupStatShow(k: Kernel, cg: Cgroup): string {
  let live = 0;
  for (const _ of cg.subtree()) live++;
  const dead = [...k.deadCgroups].filter((d) => {
    for (let a = d.parent; a !== null; a = a.parent) if (a === cg) return true;
    return false;
  });
  if (!k.has('cgroup_stat_nr_subsys')) return `nr_descendants ${live - 1}\nnr_dying_descendants ${dead.length}\n`;
  let s = `nr_descendants ${live - 1}\n`;
  for (const ss of DFL_SUBSYS) {
    let n = 0;
    if (hasSubsysCss(cg, ss)) for (const c of cg.subtree()) if (hasSubsysCss(c, ss)) n++;
    s += `nr_subsys_${ss} ${n}\n`;
  }
  s += `nr_dying_descendants ${dead.length}\n`;
  for (const ss of DFL_SUBSYS) s += `nr_dying_subsys_${ss} ${dead.filter((d) => hasSubsysCss(d, ss)).length}\n`;
  return s;
}

/**
 * psi_show (kernel/sched/psi.c): "some" and "full" lines, avg10/avg60/avg300 as
 * percentages with two decimals and total in µs, from the cgroup's PSI group
 * (psi.ts: cpu stall from run-queue wait and CFS throttling, the running averages);
 * kwq has no time spent in reclaim or waiting for I/O, so memory and io stay 0. The
 * root's is psi_system: no cpu "full". A cgroup with cgroup.pressure 0 has no such
 * files (cgroupFiles hides them: ENOENT).
 */
function psiShow(cg: Cgroup, res: 'cpu' | 'io' | 'memory'): string {
  const psi = cg.cpuTg.psi;
  const cpu = psi.showCpu(cg.parent === null);
  if (res === 'cpu') return cpu;
  return 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
}

/** cgroup_pressure_write: kstrtoint(strstrip(buf), 0), 0 or 1 (the root's cannot be turned off) */
function cgroupPressureWrite(cg: Cgroup, text: string): number {
  const r = kstrtoint(strstrip(text));
  if ('err' in r) return r.err;
  if (r.value !== 0 && r.value !== 1) return -ERANGE;
  if (cg.parent === null) return r.value === 1 ? 0 : -EINVAL;
  psiSetEnabled(cg, r.value === 1); // the stall so far goes in at the old setting
  return 0;
}

/**
 * io.weight (blk-iocost ioc_weight_write) without a "MAJ:MIN": sscanf "default %u" or
 * "%u" (the kernel's %u takes no sign), 1..10000 else -EINVAL. Per-device weights are not modelled.
 */
function ioWeightStore(_k: Kernel, cg: Cgroup, _t: Task, text: string): number {
  if (text.includes(':')) return -EINVAL;
  // the kernel's vsscanf: a literal must match where it stands; %u skips spaces, takes no sign, wraps to 32 bits
  const m = /^default\s*(\d+)/.exec(text) ?? /^\s*(\d+)/.exec(text);
  if (m === null) return -EINVAL;
  const v = BigInt(m[1]!) % 2n ** 32n;
  if (v < 1n || v > 10000n) return -EINVAL;
  cg.blkcg.dflWeight = Number(v);
  return 0;
}

function memLimitStore(field: 'max' | 'high' | 'low' | 'min' | 'swapMax' | 'swapHigh' | 'zswapMax') {
  return (k: Kernel, cg: Cgroup, task: Task, text: string): number => {
    const v = pageCounterMemparse(text);
    if (v === null) return -EINVAL;
    cg.memcg[field] = v;
    if (field === 'max') memcgShrinkToMax(k, cg.memcg, task);
    if (field === 'high' && cg.memcg.usage > v) tryToFreeMemCgroupPages(k, cg.memcg, cg.memcg.usage - v, task);
    return 0;
  };
}

function ioStat(k: Kernel, cg: Cgroup): string {
  let out = '';
  for (const dev of k.blockDevices.keys()) {
    const s = blkcgStatTree(cg, dev);
    if (s.rios + s.wios + s.dios === 0 && s.rbytes + s.wbytes + s.dbytes === 0) continue;
    out += `${dev} rbytes=${s.rbytes} wbytes=${s.wbytes} rios=${s.rios} wios=${s.wios} dbytes=${s.dbytes} dios=${s.dios}\n`;
  }
  return out;
}

function ioMaxShow(cg: Cgroup): string {
  let out = '';
  for (const [dev, l] of cg.blkcg.limits) {
    if (l.rbps === Infinity && l.wbps === Infinity && l.riops === Infinity && l.wiops === Infinity) continue;
    out += `${dev} rbps=${maxOr(l.rbps)} wbps=${maxOr(l.wbps)} riops=${maxOr(l.riops)} wiops=${maxOr(l.wiops)}\n`;
  }
  return out;
}

/** "MAJ:MIN" of a registered block device, -EINVAL if malformed, -ENODEV if absent. */
function parseDev(k: Kernel, tok: string | undefined): string | number {
  const m = /^(\d+):(\d+)$/.exec(tok ?? '');
  if (m === null) return -EINVAL;
  const dev = `${Number(m[1])}:${Number(m[2])}`;
  return k.blockDevices.has(dev) ? dev : -ENODEV;
}

function ioMaxStore(k: Kernel, cg: Cgroup, _t: Task, text: string): number {
  const toks = text.trim().split(/\s+/);
  const dev = parseDev(k, toks[0]);
  if (typeof dev === 'number') return dev;
  const cur = cg.blkcg.limits.get(dev) ?? { rbps: Infinity, wbps: Infinity, riops: Infinity, wiops: Infinity };
  const nw = { ...cur };
  for (const tok of toks.slice(1)) {
    const m = /^(rbps|wbps|riops|wiops)=(.*)$/.exec(tok);
    if (m === null) return -EINVAL;
    let v: number;
    if (m[2] === 'max') v = Infinity;
    else {
      const n = kstrtoull(m[2]!);
      // tg_set_limit accepts only values > 1 (0 and 1 are -EINVAL)
      if (n === null || n <= 1) return -EINVAL;
      v = n;
    }
    nw[m[1] as 'rbps'] = v;
  }
  cg.blkcg.limits.set(dev, nw);
  return 0;
}

function v1ThrottleDev(field: 'rbps' | 'wbps' | 'riops' | 'wiops'): CftFile {
  return {
    ss: 'io',
    show: (_k, cg) => {
      let out = '';
      for (const [dev, l] of cg.blkcg.limits) if (l[field] !== Infinity) out += `${dev} ${l[field]}\n`;
      return out;
    },
    store: (k, cg, _t, text) => {
      const toks = text.trim().split(/\s+/);
      if (toks.length !== 2) return -EINVAL;
      const dev = parseDev(k, toks[0]);
      if (typeof dev === 'number') return dev;
      const n = kstrtoull(toks[1]!);
      if (n === null) return -EINVAL;
      const cur = cg.blkcg.limits.get(dev) ?? { rbps: Infinity, wbps: Infinity, riops: Infinity, wiops: Infinity };
      cg.blkcg.limits.set(dev, { ...cur, [field]: n === 0 ? Infinity : n });
      return 0;
    },
  };
}

function v1IoService(k: Kernel, cg: Cgroup, ios: boolean): string {
  let out = '';
  let total = 0;
  for (const dev of k.blockDevices.keys()) {
    const s = blkcgStatTree(cg, dev);
    const r = ios ? s.rios : s.rbytes;
    const w = ios ? s.wios : s.wbytes;
    const d = ios ? s.dios : s.dbytes;
    if (r + w + d === 0) continue;
    out += `${dev} Read ${r}\n${dev} Write ${w}\n${dev} Sync 0\n${dev} Async ${r + w}\n${dev} Discard ${d}\n${dev} Total ${r + w + d}\n`;
    total += r + w + d;
  }
  return out + `Total ${total}\n`;
}

/**
 * cgroup_subtree_control_write: strstrip, space-separated "+name" / "-name" (an unknown
 * name or another prefix: -EINVAL, nothing changes); then in ssid order an enable not
 * available here is -ENOENT (perf_event, implicit on v2, never is) and a disable a child
 * still enables is -EBUSY; then cgroup_vet_subtree_control_enable. The children's csses
 * come online (enable) or go offline (disable: a later enable starts afresh).
 */
function subtreeControlStore(k: Kernel, cg: Cgroup, _t: Task, text: string): number {
  const enable = new Set<Controller | 'perf_event'>();
  const disable = new Set<Controller | 'perf_event'>();
  for (const tok of text.trim().split(' ').filter((s) => s !== '')) {
    const name = tok.slice(1) as Controller | 'perf_event';
    if (!(DFL_CONTROLLERS as readonly string[]).includes(name) && name !== 'perf_event') return -EINVAL;
    if (tok[0] === '+') {
      enable.add(name);
      disable.delete(name);
    } else if (tok[0] === '-') {
      disable.add(name);
      enable.delete(name);
    } else return -EINVAL;
  }
  const avail = controllersOf(cg);
  for (const ss of [...DFL_CONTROLLERS.slice(0, 4), 'perf_event', ...DFL_CONTROLLERS.slice(4)] as const) {
    if (enable.has(ss)) {
      if (ss !== 'perf_event' && cg.subtreeControl.has(ss)) enable.delete(ss);
      else if (ss === 'perf_event' || !avail.includes(ss)) return -ENOENT;
    } else if (disable.has(ss)) {
      if (ss === 'perf_event' || !cg.subtreeControl.has(ss)) disable.delete(ss);
      else for (const c of cg.children.values()) if (c.subtreeControl.has(ss)) return -EBUSY;
    }
  }
  const adding = [...enable] as Controller[];
  const vet = vetSubtreeControlEnable(cg, adding);
  if (vet < 0) return vet;
  for (const ss of adding) {
    cg.subtreeEnable(ss);
    for (const c of cg.children.values()) if (c.online) cssOnline(k, c, ss);
  }
  for (const ss of disable as Set<Controller>) {
    // the children's css for ss go offline: their charges and stats go to this cgroup
    if (ss === 'memory') for (const c of cg.children.values()) memcgReparent(k, c.memcg);
    for (const c of cg.children.values()) if (c.online) cssOffline(k, c, ss);
    cg.subtreeDisable(ss);
  }
  if (enable.has('pids') || disable.has('pids')) pidsRecount(cg);
  k.cgroupsChanged(); // effective css of the subtree's tasks (Kernel.cpuStatOf's caches)
  return 0;
}

/**
 * cgroup_vet_subtree_control_enable (kernel/cgroup/cgroup.c): the no-internal-process
 * rule, relaxed for threaded controllers, which "can handle internal competitions
 * and are always allowed inside a (prospective) thread subtree" (so +cpu or +pids on
 * a VM's cgroup that still holds QEMU is allowed; +memory is -EBUSY there).
 */
function vetSubtreeControlEnable(cg: Cgroup, adding: readonly Controller[]): number {
  if (adding.length === 0) return 0;
  // can cg host any resources at all? (cgroup_is_valid_domain(cgrp->dom_cgrp))
  if (!cg.domCgrp.isValidDomain) return -EOPNOTSUPP;
  // mixables (the root) don't care
  if (cg.isMixable) return 0;
  const domainEnable = adding.some((ss) => !THREADED_CONTROLLERS.has(ss));
  if (domainEnable) {
    // no domain controllers inside a thread subtree
    if (cg.isThreadRoot || cg.threaded) return -EOPNOTSUPP;
  } else if (cg.canBeThreadRoot || cg.threaded) {
    return 0;
  }
  // controllers can't be enabled for a cgroup with tasks: children would compete with them
  return cg.tasks.size > 0 ? -EBUSY : 0;
}

/** cgroup_print_ss_mask: the names separated by spaces, and a newline only if any was printed */
function printSsMask(list: readonly Controller[]): string {
  return list.length === 0 ? '' : list.join(' ') + '\n';
}

function controllersOf(cg: Cgroup): Controller[] {
  if (cg.parent === null) return DFL_CONTROLLERS.filter((c) => cg.root.controllers.has(c));
  const list = DFL_CONTROLLERS.filter((c) => cg.parent!.subtreeControl.has(c));
  return cg.threaded ? list.filter((c) => THREADED_CONTROLLERS.has(c)) : list;
}

/**
 * cgroup_type_write + cgroup_enable_threaded: only "threaded" may be written; a populated
 * cgroup or one with domain controllers in its subtree_control cannot switch, and the
 * parent's domain must be valid and able to become a thread root.
 */
function typeStore(_k: Kernel, cg: Cgroup, _t: Task, text: string): number {
  if (text.trim() !== 'threaded') return -EINVAL;
  if (cg.threaded) return 0;
  if (cg.populated) return -EOPNOTSUPP;
  for (const ss of cg.subtreeControl) if (!THREADED_CONTROLLERS.has(ss)) return -EOPNOTSUPP;
  const dom = cg.parent!.domCgrp;
  if (!dom.isValidDomain || !dom.canBeThreadRoot) return -EOPNOTSUPP;
  cg.threaded = true;
  return 0;
}

function limitStore(set: (cg: Cgroup, v: number) => void) {
  return (_k: Kernel, cg: Cgroup, _t: Task, text: string): number => {
    const s = text.trim();
    if (s === 'max') {
      set(cg, Infinity);
      return 0;
    }
    const v = kstrtoll(s);
    if (v === null || v < 0) return -EINVAL;
    set(cg, v);
    return 0;
  };
}

const V2_FILES: Record<string, CftFile> = {
  // cgroup_procs_start: a threaded cgroup's processes belong to its domain: reading is -EOPNOTSUPP
  'cgroup.procs': { show: (_k, cg) => (cg.threaded ? -EOPNOTSUPP : pidsOf(cg, false).map((p) => `${p}\n`).join('')), store: procsWrite(true) },
  'cgroup.threads': { show: (_k, cg) => pidsOf(cg, true).map((p) => `${p}\n`).join(''), store: procsWrite(false) },
  'cgroup.controllers': { show: (_k, cg) => printSsMask(controllersOf(cg)) },
  'cgroup.subtree_control': { show: (_k, cg) => printSsMask(DFL_CONTROLLERS.filter((c) => cg.subtreeControl.has(c))), store: subtreeControlStore },
  'cgroup.type': { notOnRoot: true, show: (_k, cg) => cg.typeName + '\n', store: typeStore },
  'cgroup.events': { notOnRoot: true, show: (_k, cg) => `populated ${cg.populated ? 1 : 0}\nfrozen ${cgroupFrozen(cg) ? 1 : 0}\n` },
  'cgroup.freeze': { notOnRoot: true, show: (_k, cg) => `${cg.freezer.freeze ? 1 : 0}\n`, store: (k, cg, _t, text) => cgroupFreezeWrite(k, cg, text) },
  'cgroup.kill': { notOnRoot: true, store: (k, cg, _t, text) => cgroupKillWrite(k, cg, text) },
  'cgroup.stat': { show: (k, cg) => cgroupStatShow(k, cg) },
  'cgroup.max.descendants': { show: (_k, cg) => maxOr(cg.maxDescendants) + '\n', store: limitStore((cg, v) => (cg.maxDescendants = v)) },
  'cgroup.max.depth': { show: (_k, cg) => maxOr(cg.maxDepth) + '\n', store: limitStore((cg, v) => (cg.maxDepth = v)) },
  'cpu.stat': { show: (k, cg) => cpuStat(k, cg) },
  // cgroup_local_stat_show: the cgroup's own cpu css prints, none prints nothing
  'cpu.stat.local': { feature: 'cpu_stat_local', show: (_k, cg) => (cg.hasCss('cpu') ? cpuLocalStat(cg.cpuTg) : '') },
  'cpu.max': { ss: 'cpu', notOnRoot: true, show: (_k, cg) => cpuMaxShow(cg.cpuTg), store: (k, cg, _t, text) => bandwidthWrite(k, cg, cpuMaxWrite(cg.cpuTg, text)) },
  'cpu.max.burst': { ss: 'cpu', notOnRoot: true, show: (_k, cg) => cpuMaxBurstShow(cg.cpuTg), store: (k, cg, _t, text) => bandwidthWrite(k, cg, cpuMaxBurstWrite(cg.cpuTg, text)) },
  'cpu.weight': { ss: 'cpu', notOnRoot: true, show: (k, cg) => cpuWeightShow(cg.cpuTg, cpuWeightClamped(k)), store: (_k, cg, _t, text) => cpuWeightWrite(cg.cpuTg, text) },
  'cpu.weight.nice': { ss: 'cpu', notOnRoot: true, show: (_k, cg) => cpuWeightNiceShow(cg.cpuTg), store: (_k, cg, _t, text) => cpuWeightNiceWrite(cg.cpuTg, text) },
  'cpu.idle': { ss: 'cpu', notOnRoot: true, show: (_k, cg) => cpuIdleShow(cg.cpuTg), store: (_k, cg, _t, text) => cpuIdleWrite(cg.cpuTg, text) },
  'memory.current': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.usage) + '\n' },
  'memory.peak': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.watermark) + '\n' },
  'memory.max': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.max) + '\n', store: memLimitStore('max') },
  'memory.high': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.high) + '\n', store: memLimitStore('high') },
  'memory.low': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.low) + '\n', store: memLimitStore('low') },
  'memory.min': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.min) + '\n', store: memLimitStore('min') },
  'memory.swap.current': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.swapUsage) + '\n' },
  'memory.swap.max': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.swapMax) + '\n', store: memLimitStore('swapMax') },
  // the PSI files (kernel/cgroup/cgroup.c cgroup_psi_files): on every cgroup, the root included
  'cgroup.pressure': { show: (_k, cg) => `${cg.psiEnabled ? 1 : 0}\n`, store: (_k, cg, _t, text) => cgroupPressureWrite(cg, text) },
  'cpu.pressure': { psi: true, show: (_k, cg) => psiShow(cg, 'cpu') },
  'io.pressure': { psi: true, show: (_k, cg) => psiShow(cg, 'io') },
  'memory.pressure': { psi: true, show: (_k, cg) => psiShow(cg, 'memory') },
  'memory.events': { ss: 'memory', notOnRoot: true, show: (_k, cg) => MEMCG_EVENT_NAMES.map((n, i) => `${n} ${cg.memcg.events[i]}\n`).join('') },
  'memory.events.local': { ss: 'memory', notOnRoot: true, show: (_k, cg) => MEMCG_EVENT_NAMES.map((n, i) => `${n} ${cg.memcg.eventsLocal[i]}\n`).join('') },
  'memory.stat': { ss: 'memory', show: (k, cg) => memoryStatShow(k, cg) },
  'memory.numa_stat': { ss: 'memory', show: (k, cg) => memoryNumaStatShow(k, cg) },
  'memory.swap.high': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.swapHigh) + '\n', store: memLimitStore('swapHigh') },
  'memory.swap.peak': { ss: 'memory', notOnRoot: true, feature: 'memcg_swap_peak', show: (_k, cg) => bytes(cg.memcg.swapWatermark) + '\n' },
  // swap_events_show: kwq's machine has no swap device in the oracle; swap.high/max events are not counted
  'memory.swap.events': { ss: 'memory', notOnRoot: true, show: () => 'high 0\nmax 0\nfail 0\n' },
  // kwq has no zswap: nothing is ever compressed into it
  'memory.zswap.current': { ss: 'memory', notOnRoot: true, show: () => '0\n' },
  'memory.zswap.max': { ss: 'memory', notOnRoot: true, show: (_k, cg) => bytes(cg.memcg.zswapMax) + '\n', store: memLimitStore('zswapMax') },
  'memory.zswap.writeback': {
    ss: 'memory', feature: 'memcg_zswap_writeback', show: (_k, cg) => `${cg.memcg.zswapWriteback}\n`,
    store: (_k, cg, _t, text) => {
      // zswap_writeback_write: kstrtoint(strstrip(buf), 0), then 0 or 1
      const r = kstrtoint(strstrip(text));
      if ('err' in r) return r.err;
      if (r.value !== 0 && r.value !== 1) return -EINVAL;
      cg.memcg.zswapWriteback = r.value;
      return 0;
    },
  },
  'memory.oom.group': {
    ss: 'memory', notOnRoot: true, show: (_k, cg) => `${cg.memcg.oomGroup ? 1 : 0}\n`,
    store: (_k, cg, _t, text) => {
      const v = kstrtoll(text.trim());
      if (v !== 0 && v !== 1) return -EINVAL;
      cg.memcg.oomGroup = v === 1;
      return 0;
    },
  },
  'memory.reclaim': {
    ss: 'memory',
    store: (k, cg, t, text) => {
      const b = memparse(text);
      if (b === null || text.trim() === '') return -EINVAL;
      const want = Math.ceil(b / PAGE_SIZE);
      const got = tryToFreeMemCgroupPages(k, cg.memcg, want, t);
      return got >= want ? 0 : -EAGAIN;
    },
  },
  'io.stat': { ss: 'io', show: (k, cg) => ioStat(k, cg) },
  'io.max': { ss: 'io', notOnRoot: true, show: (_k, cg) => ioMaxShow(cg), store: ioMaxStore },
  'io.weight': { ss: 'io', notOnRoot: true, show: (_k, cg) => `default ${cg.blkcg.dflWeight}\n`, store: ioWeightStore },
  'pids.max': {
    ss: 'pids', notOnRoot: true, show: (_k, cg) => maxOr(cg.pids.limit) + '\n',
    store: (_k, cg, _t, text) => {
      const s = text.trim();
      if (s === 'max') {
        cg.pids.limit = Infinity;
        return 0;
      }
      const v = kstrtoll(s);
      // kstrtoll: a well-formed number that does not fit in s64 is -ERANGE
      if (v === null) return /^[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(s) ? -ERANGE : -EINVAL;
      if (v < 0 || v > PID_MAX_LIMIT) return -EINVAL;
      cg.pids.limit = v;
      return 0;
    },
  },
  'pids.current': { ss: 'pids', notOnRoot: true, show: (_k, cg) => `${cg.pids.counter}\n` },
  'pids.peak': { ss: 'pids', notOnRoot: true, show: (_k, cg) => `${cg.pids.watermark}\n` },
  'pids.events': { ss: 'pids', notOnRoot: true, show: (_k, cg) => `max ${cg.pids.eventsMax}\n` },
  // forks refused by this cgroup's own pids.max (the model counts only that, in eventsMax)
  'pids.events.local': { ss: 'pids', notOnRoot: true, feature: 'pids_events_local', show: (_k, cg) => `max ${cg.pids.eventsMax}\n` },
  // cpuset (cpuset.c dfl_files; cpuset.cpus.subpartitions is CFTYPE_DEBUG: not without cgroup_debug)
  'cpuset.cpus': { ss: 'cpuset', notOnRoot: true, show: (k, cg) => cpusetShow(k, cg, 'cpus'), store: (k, cg, _t, text) => cpusetWriteResmask(k, cg, 'cpus', text) },
  'cpuset.mems': { ss: 'cpuset', notOnRoot: true, show: (k, cg) => cpusetShow(k, cg, 'mems'), store: (k, cg, _t, text) => cpusetWriteResmask(k, cg, 'mems', text) },
  'cpuset.cpus.effective': { ss: 'cpuset', show: (k, cg) => cpusetShow(k, cg, 'cpus.effective') },
  'cpuset.mems.effective': { ss: 'cpuset', show: (k, cg) => cpusetShow(k, cg, 'mems.effective') },
  'cpuset.cpus.partition': { ss: 'cpuset', notOnRoot: true, show: (k, cg) => cpusetPartitionShow(k, cg), store: (k, cg, _t, text) => cpusetPartitionWrite(k, cg, text) },
  'cpuset.cpus.exclusive': {
    ss: 'cpuset', notOnRoot: true, feature: 'cpuset_cpus_exclusive', show: (k, cg) => cpusetShow(k, cg, 'cpus.exclusive'),
    store: (k, cg, _t, text) => cpusetWriteResmask(k, cg, 'cpus.exclusive', text),
  },
  'cpuset.cpus.exclusive.effective': { ss: 'cpuset', notOnRoot: true, feature: 'cpuset_cpus_exclusive', show: (k, cg) => cpusetShow(k, cg, 'cpus.exclusive.effective') },
  'cpuset.cpus.isolated': { ss: 'cpuset', onlyOnRoot: true, feature: 'cpuset_cpus_isolated', show: (k, cg) => cpusetShow(k, cg, 'cpus.isolated') },
  // hugetlb.<size>.* (below), rdma, misc
  'rdma.max': { ss: 'rdma', notOnRoot: true, show: () => rdmaShow(), store: (_k, _cg, _t, text) => rdmaMaxWrite(text) },
  'rdma.current': { ss: 'rdma', notOnRoot: true, show: () => rdmaShow() },
  'misc.max': { ss: 'misc', notOnRoot: true, show: (_k, cg) => miscShow(cg, 'max'), store: (_k, cg, _t, text) => miscMaxWrite(cg, text) },
  'misc.current': { ss: 'misc', rootSince: 'misc_peak', show: (_k, cg) => miscShow(cg, 'current') },
  'misc.peak': { ss: 'misc', feature: 'misc_peak', show: (_k, cg) => miscShow(cg, 'peak') },
  'misc.capacity': { ss: 'misc', onlyOnRoot: true, show: (_k, cg) => miscShow(cg, 'capacity') },
  'misc.events': { ss: 'misc', notOnRoot: true, show: (_k, cg) => miscShow(cg, 'events') },
  'misc.events.local': { ss: 'misc', notOnRoot: true, feature: 'misc_events_local', show: (_k, cg) => miscShow(cg, 'events.local') },
  // blk-iocost's root files (ioc_files: io.weight is above)
  'io.cost.qos': { ss: 'io', onlyOnRoot: true, show: () => iocostShow(), store: (k, _cg, _t, text) => iocostWrite(k, text) },
  'io.cost.model': { ss: 'io', onlyOnRoot: true, show: () => iocostShow(), store: (k, _cg, _t, text) => iocostWrite(k, text) },
};

// hugetlb.<size>.<file> for each hstate (hugetlb_dfl_tmpl: every one CFTYPE_NOT_ON_ROOT)
HSTATES.forEach((h, idx) => {
  for (const f of HUGETLB_FILES) {
    V2_FILES[`hugetlb.${h.name}.${f}`] = {
      ss: 'hugetlb', notOnRoot: true, show: (_k, cg) => hugetlbShow(cg, idx, f),
      ...(f === 'max' || f === 'rsvd.max' ? { store: (_k: Kernel, cg: Cgroup, _t: Task, text: string) => hugetlbWrite(cg, idx, f, text) } : {}),
    };
  }
});

const V1_COMMON: Record<string, CftFile> = {
  'cgroup.procs': V2_FILES['cgroup.procs']!,
  tasks: { show: (_k, cg) => pidsOf(cg, true).map((p) => `${p}\n`).join(''), store: procsWrite(false) },
  'notify_on_release': { show: () => '0\n' },
};

/** kwq's v1 hierarchies: memory, cpu,cpuacct, blkio and pids (kernel.ts) */
const V1_FILES: Partial<Record<Controller, Record<string, CftFile>>> = {
  memory: {
    'memory.usage_in_bytes': { show: (_k, cg) => `${cg.memcg.usage * PAGE_SIZE}\n` },
    'memory.max_usage_in_bytes': { show: (_k, cg) => `${cg.memcg.watermark * PAGE_SIZE}\n` },
    'memory.limit_in_bytes': {
      show: (_k, cg) => (cg.memcg.max === Infinity ? V1_UNLIMITED : String(cg.memcg.max * PAGE_SIZE)) + '\n',
      store: (k, cg, t, text) => {
        if (cg.parent === null) return -EINVAL;
        const s = text.trim();
        const v = s === '-1' ? Infinity : pageCounterMemparse(s);
        if (v === null) return -EINVAL;
        cg.memcg.max = v;
        memcgShrinkToMax(k, cg.memcg, t);
        return 0;
      },
    },
    'memory.failcnt': { show: (_k, cg) => `${cg.memcg.failcnt}\n` },
    'memory.stat': { show: (_k, cg) => memoryStatV1(cg) },
    'memory.oom_control': { show: (_k, cg) => `oom_kill_disable 0\nunder_oom 0\noom_kill ${cg.memcg.events[4]}\n` },
    'memory.use_hierarchy': { show: () => '1\n' },
  },
  io: {
    'blkio.throttle.io_service_bytes': { show: (k, cg) => v1IoService(k, cg, false) },
    'blkio.throttle.io_serviced': { show: (k, cg) => v1IoService(k, cg, true) },
    'blkio.throttle.read_bps_device': v1ThrottleDev('rbps'),
    'blkio.throttle.write_bps_device': v1ThrottleDev('wbps'),
    'blkio.throttle.read_iops_device': v1ThrottleDev('riops'),
    'blkio.throttle.write_iops_device': v1ThrottleDev('wiops'),
  },
  cpu: {
    'cpuacct.usage': { show: (_k, cg) => `${sumSubtree(cg, (c) => c.cpu.userNs + c.cpu.systemNs)}\n` },
    'cpuacct.stat': {
      // USER_HZ = 100 ticks per second
      show: (_k, cg) => `user ${Math.floor(sumSubtree(cg, (c) => c.cpu.userNs) / 1e7)}\nsystem ${Math.floor(sumSubtree(cg, (c) => c.cpu.systemNs) / 1e7)}\n`,
    },
  },
  pids: {
    'pids.max': V2_FILES['pids.max']!,
    'pids.current': { notOnRoot: true, show: (_k, cg) => `${cg.pids.counter}\n` },
    'pids.events': V2_FILES['pids.events']!,
  },
};

/** The interface files a cgroup directory shows (at the release `k` models; without `k`, every release's). */
export function cgroupFiles(cg: Cgroup, k?: Kernel): Map<string, CftFile> {
  const out = new Map<string, CftFile>();
  if (cg.root.v2) {
    for (const [name, f] of Object.entries(V2_FILES)) {
      if (f.notOnRoot && cg.parent === null) continue;
      if (f.onlyOnRoot && cg.parent !== null) continue;
      if (f.rootSince !== undefined && cg.parent === null && (k === undefined || !k.has(f.rootSince))) continue;
      if (f.feature !== undefined && k !== undefined && !k.has(f.feature)) continue;
      if (f.ss && !cg.hasCss(f.ss)) continue;
      // cgroup_pressure_write(0) hides the cgroup's PSI files (cgroup_file_show(psi_files[i], false))
      if (f.psi && !cg.psiEnabled) continue;
      out.set(name, f);
    }
  } else {
    for (const [name, f] of Object.entries(V1_COMMON)) out.set(name, f);
    for (const ss of cg.root.controllers) {
      for (const [name, f] of Object.entries(V1_FILES[ss] ?? {})) if (!(f.notOnRoot && cg.parent === null)) out.set(name, f);
    }
  }
  return out;
}

interface CgFilePriv {
  cg: Cgroup;
  cft: CftFile;
}

const cgroupFileOps: FileOperations = {
  show(k: Kernel, file: File, task: Task): string | number {
    const { cg, cft } = file.inode.iPrivate as CgFilePriv;
    if (!cg.online) return -ENODEV;
    return cft.show ? cft.show(k, cg, task) : -EINVAL;
  },
  store(k: Kernel, file: File, task: Task, text: string): number {
    const { cg, cft } = file.inode.iPrivate as CgFilePriv;
    if (!cg.online) return -ENODEV;
    // cgroup_file_write: a file with no write method is -EINVAL (root opened it O_WRONLY past its 0444 mode)
    if (!cft.store) return -EINVAL;
    // a write of no bytes never reaches the file's handler (the oracle: memcg-limits)
    if (text.length === 0) return 0;
    const r = cft.store(k, cg, task, text);
    return r < 0 ? r : text.length;
  },
  read: (_k, _f, _t, len) => len,
};

/** Build the superblock for one hierarchy. */
export function cgroupfsFill(k: Kernel, root: CgroupRoot): SuperBlock {
  const sb = new SuperBlock(root.v2 ? 'cgroup2' : 'cgroup', k.nextSbId());
  const dirInodes = new Map<Cgroup, Inode>();
  const fileInodes = new Map<string, Inode>();
  const dirOf = (cg: Cgroup): Inode => {
    let d = dirInodes.get(cg);
    if (d === undefined) {
      d = new Inode(sb, k.nextIno(), S_IFDIR | 0o755, dirFileOps);
      d.iop = iop;
      d.iPrivate = cg;
      dirInodes.set(cg, d);
    }
    return d;
  };
  const iop: InodeOperations = {
    lookup(_k, dir, name) {
      const cg = dir.iPrivate as Cgroup;
      if (!cg.online) return null;
      const child = cg.children.get(name);
      if (child !== undefined) return dirOf(child);
      const cft = cgroupFiles(cg, k).get(name);
      if (cft === undefined) return null;
      const key = `${cg.id}/${name}`;
      let f = fileInodes.get(key);
      if (f === undefined || (f.iPrivate as CgFilePriv).cft !== cft) {
        f = new Inode(sb, k.nextIno(), S_IFREG | (cft.store ? 0o644 : 0o444), cgroupFileOps);
        f.iPrivate = { cg, cft } satisfies CgFilePriv;
        fileInodes.set(key, f);
      }
      return f;
    },
    list(_k, dir) {
      const cg = dir.iPrivate as Cgroup;
      return [...cgroupFiles(cg, k).keys(), ...cg.children.keys()].sort();
    },
    mkdir(kk, dir, name) {
      const r = cgroupMkdir(kk, dir.iPrivate as Cgroup, name);
      return typeof r === 'number' ? r : dirOf(r);
    },
    rmdir(kk, dir, name) {
      const cg = (dir.iPrivate as Cgroup).children.get(name);
      if (cg === undefined) return cgroupFiles(dir.iPrivate as Cgroup, kk).has(name) ? -ENOTDIR : -ENOENT;
      const r = cgroupRmdir(kk, cg);
      if (r === 0) {
        dirInodes.delete(cg);
        for (const key of [...fileInodes.keys()]) if (key.startsWith(`${cg.id}/`)) fileInodes.delete(key);
      }
      return r;
    },
  };
  sb.root = dirOf(root.root);
  return sb;
}

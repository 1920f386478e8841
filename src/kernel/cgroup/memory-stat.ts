/**
 * memory.stat and memory.numa_stat (mm/memcontrol.c memory_stat_format,
 * memory_numa_stat_show): every key of the release, in Linux's order (memory_stats[]
 * then memcg_vm_event_stat[]), as the oracle recorded them on 6.1.192 and 6.12.118
 * (cgroup-files, loop-charge).
 *
 * Values kwq tracks: anon, file (page cache AND shmem: NR_FILE_PAGES counts shmem
 * pages, the oracle's loop-charge shows file = 2 x 16 MiB with shmem 16 MiB), kernel,
 * shmem, file_dirty, file_writeback. Everything else reads 0: the guest has no swap
 * and no zswap (so swapcached, zswap*, swpin_zero read 0 on Linux too), and kwq does not
 * model the LRU lists, slab, kernel stacks, page tables, percpu, sockets, vmalloc, THP,
 * workingset, reclaim scans or fault counts (docs/divergences.md).
 *
 * memory.numa_stat prints the node items of memory_stats[] (idx < NR_VM_NODE_STAT_ITEMS:
 * not kernel, percpu, sock, vmalloc, zswap, zswapped, slab) as "key N0=bytes": the guest
 * and kwq have one node.
 */
import type { Kernel } from '../kernel.js';
import type { Feature } from '../release.js';
import { NR_ANON, NR_FILE, NR_FILE_DIRTY, NR_FILE_WRITEBACK, NR_KERNEL, NR_SHMEM, PAGE_SIZE } from '../memcontrol.js';
import type { Cgroup } from './cgroup.js';

interface StatKey {
  name: string;
  /** a node stat item: shown in memory.numa_stat */
  node: boolean;
  /** the release feature that brought it */
  feature?: Feature;
  /** the page counts (memcg.stat indices) summed, for a key kwq tracks */
  items?: readonly number[];
}

const K = (name: string, node: boolean, extra: Omit<StatKey, 'name' | 'node'> = {}): StatKey => ({ name, node, ...extra });
const WORKINGSET = ['refault_anon', 'refault_file', 'activate_anon', 'activate_file', 'restore_anon', 'restore_file', 'nodereclaim'];

const STAT_KEYS: readonly StatKey[] = [
  K('anon', true, { items: [NR_ANON] }),
  K('file', true, { items: [NR_FILE, NR_SHMEM] }),
  K('kernel', false, { items: [NR_KERNEL] }),
  K('kernel_stack', true), K('pagetables', true), K('sec_pagetables', true),
  K('percpu', false), K('sock', false), K('vmalloc', false),
  K('shmem', true, { items: [NR_SHMEM] }),
  K('zswap', false), K('zswapped', false),
  K('file_mapped', true),
  K('file_dirty', true, { items: [NR_FILE_DIRTY] }),
  K('file_writeback', true, { items: [NR_FILE_WRITEBACK] }),
  K('swapcached', true),
  K('anon_thp', true), K('file_thp', true), K('shmem_thp', true),
  K('inactive_anon', true), K('active_anon', true), K('inactive_file', true), K('active_file', true), K('unevictable', true),
  K('slab_reclaimable', true), K('slab_unreclaimable', true),
  // memory_stat_format prints "slab" (reclaimable + unreclaimable) right after slab_unreclaimable
  K('slab', false),
  ...WORKINGSET.map((w) => K(`workingset_${w}`, true)),
  ...['pgdemote_kswapd', 'pgdemote_direct', 'pgdemote_khugepaged', 'pgpromote_success'].map((n) => K(n, true, { feature: 'memcg_stat_numa_balancing' })),
  // the vm events (memcg_vm_event_stat[]), after the two sums pgscan and pgsteal
  K('pgscan', false), K('pgsteal', false),
  K('pgscan_kswapd', false), K('pgscan_direct', false), K('pgscan_khugepaged', false, { feature: 'memcg_stat_khugepaged' }),
  K('pgsteal_kswapd', false), K('pgsteal_direct', false), K('pgsteal_khugepaged', false, { feature: 'memcg_stat_khugepaged' }),
  K('pgfault', false), K('pgmajfault', false), K('pgrefill', false), K('pgactivate', false), K('pgdeactivate', false),
  K('pglazyfree', false), K('pglazyfreed', false),
  K('swpin_zero', false, { feature: 'memcg_stat_swpin_zero' }), K('swpout_zero', false, { feature: 'memcg_stat_swpin_zero' }),
  K('zswpin', false), K('zswpout', false), K('zswpwb', false, { feature: 'memcg_stat_zswpwb' }),
  K('thp_fault_alloc', false), K('thp_collapse_alloc', false),
  K('thp_swpout', false, { feature: 'memcg_stat_thp_swpout' }), K('thp_swpout_fallback', false, { feature: 'memcg_stat_thp_swpout' }),
  ...['numa_pages_migrated', 'numa_pte_updates', 'numa_hint_faults'].map((n) => K(n, false, { feature: 'memcg_stat_numa_balancing' })),
];

function keysOf(k: Kernel): StatKey[] {
  return STAT_KEYS.filter((s) => s.feature === undefined || k.has(s.feature));
}

/** a tracked key's value in bytes over the subtree (rstat: memory.stat is hierarchical), 0 for the rest */
function value(cg: Cgroup, key: StatKey): number {
  if (key.items === undefined) return 0;
  let pages = 0;
  for (const c of cg.subtree()) for (const i of key.items) pages += c.memcg.stat[i]!;
  return pages * PAGE_SIZE;
}

/** memory.stat (v2) */
export function memoryStatShow(k: Kernel, cg: Cgroup): string {
  let s = '';
  for (const key of keysOf(k)) s += `${key.name} ${value(cg, key)}\n`;
  return s;
}

/** memory.numa_stat: the node items, one node */
export function memoryNumaStatShow(k: Kernel, cg: Cgroup): string {
  let s = '';
  for (const key of keysOf(k)) if (key.node) s += `${key.name} N0=${value(cg, key)}\n`;
  return s;
}

/**
 * The hugetlb controller on cgroup v2 (mm/hugetlb_cgroup.c): for each huge page size
 * (hstate) a non-root cgroup has hugetlb.<size>.max, .rsvd.max, .current,
 * .rsvd.current, .events, .events.local and .numa_stat (the v2 templates:
 * __hugetlb_cgroup_file_dfl_init in v6.1, hugetlb_dfl_tmpl in v6.12; every one
 * CFTYPE_NOT_ON_ROOT).
 *
 * kwq allocates no huge pages (no hugetlbfs, no MAP_HUGETLB), so usage, reservations
 * and events stay 0; the limits are parsed and kept as the kernel keeps them.
 */
import { EINVAL } from '../errno.js';
import { memparseU64, PAGE_COUNTER_MAX, PAGE_SIZE } from '../memcontrol.js';
import type { Cgroup } from './cgroup.js';
import { strstrip } from './kstrto.js';

/**
 * The hstates of the modelled machine: x86-64 with 1 GB pages (X86_FEATURE_GBPAGES, as
 * the oracle's QEMU "-cpu max" guest has): the 2 MB default and the 1 GB gigantic size.
 * `name` is mem_fmt's, `pages` pages_per_huge_page.
 */
export const HSTATES = [
  { name: '2MB', pages: 512 },
  { name: '1GB', pages: 262144 },
] as const;

export type HugetlbFile = 'max' | 'rsvd.max' | 'current' | 'rsvd.current' | 'events' | 'events.local' | 'numa_stat';
export const HUGETLB_FILES: readonly HugetlbFile[] = ['max', 'rsvd.max', 'current', 'rsvd.current', 'events', 'events.local', 'numa_stat'];

/** round_down(PAGE_COUNTER_MAX, pages_per_huge_page): what a new cgroup's limit is and what "max" reads back from */
const limitOf = (pages: number): number => Math.floor(PAGE_COUNTER_MAX / pages) * pages;

/** struct hugetlb_cgroup: one page counter pair (faults, reservations) per hstate, in pages */
export class HugetlbCgroup {
  readonly max: number[] = HSTATES.map((h) => limitOf(h.pages));
  readonly rsvdMax: number[] = HSTATES.map((h) => limitOf(h.pages));
}

/** the cgroup's own hugetlb css (made when the parent enabled hugetlb; hugetlb_cgroup_css_alloc) */
export function hugetlbOf(cg: Cgroup): HugetlbCgroup {
  cg.hugetlb ??= new HugetlbCgroup();
  return cg.hugetlb;
}

/** hugetlb_cgroup_read_u64_max, __hugetlb_events_show, hugetlb_cgroup_read_numa_stat (v2: no legacy lines) */
export function hugetlbShow(cg: Cgroup, idx: number, file: HugetlbFile): string {
  const h = hugetlbOf(cg);
  switch (file) {
    case 'max':
    case 'rsvd.max': {
      const v = file === 'max' ? h.max[idx]! : h.rsvdMax[idx]!;
      return v === limitOf(HSTATES[idx]!.pages) ? 'max\n' : `${BigInt(v) * BigInt(PAGE_SIZE)}\n`;
    }
    case 'current':
    case 'rsvd.current':
      return '0\n';
    case 'events':
    case 'events.local':
      return 'max 0\n';
    case 'numa_stat':
      // the hierarchical total, then each memory node's (one node)
      return 'total=0 N0=0\n';
  }
}

/**
 * hugetlb_cgroup_write_dfl: strstrip, page_counter_memparse(buf, "max") (memparse with
 * nothing left over, -EINVAL otherwise; an empty string is 0), rounded down to whole huge
 * pages, then page_counter_set_max (never -EBUSY: nothing is charged).
 */
export function hugetlbWrite(cg: Cgroup, idx: number, file: 'max' | 'rsvd.max', text: string): number {
  // the root has no such file (CFTYPE_NOT_ON_ROOT); hugetlb_cgroup_write refuses it anyway
  if (cg.parent === null) return -EINVAL;
  const s = strstrip(text);
  let pages: number;
  if (s === 'max') pages = PAGE_COUNTER_MAX;
  else {
    const [bytes, rest] = memparseU64(s);
    if (rest !== '') return -EINVAL;
    const p = bytes / BigInt(PAGE_SIZE);
    pages = p >= BigInt(PAGE_COUNTER_MAX) ? PAGE_COUNTER_MAX : Number(p);
  }
  const per = HSTATES[idx]!.pages;
  pages = Math.floor(pages / per) * per;
  const h = hugetlbOf(cg);
  if (file === 'max') h.max[idx] = pages;
  else h.rsvdMax[idx] = pages;
  return 0;
}

/**
 * The misc controller (kernel/cgroup/misc.c): scalar resources a driver registers with
 * a capacity (misc_cg_set_capacity). The guest kernels are built with
 * CONFIG_KVM_AMD_SEV, so the resource names are "sev" and "sev_es"; the modelled
 * machine, like the oracle's QEMU TCG guest, has no SEV hardware, so every capacity is
 * 0 and every file that lists resources prints nothing (a line needs a capacity or a
 * non-zero count), and misc.max refuses every limit with -EINVAL.
 *
 *   misc.capacity  the root only (CFTYPE_ONLY_ON_ROOT)
 *   misc.max, misc.events   non-root
 *   misc.current   non-root; on the root too since 6.11 (misc_peak)
 *   misc.peak      every cgroup, 6.11 (misc_peak)
 *   misc.events.local  non-root, 6.11 (misc_events_local)
 */
import { EINVAL } from '../errno.js';
import { kstrtoull, strstrip, U64_MAX } from './kstrto.js';
import type { Cgroup } from './cgroup.js';

/** misc_res_name (enum misc_res_type under CONFIG_KVM_AMD_SEV) */
const MISC_RES_NAMES = ['sev', 'sev_es'] as const;
/** misc_res_capacity on the modelled machine */
const MISC_RES_CAPACITY: readonly bigint[] = [0n, 0n];

/** struct misc_cg: per resource max, usage, watermark, events */
export class MiscCg {
  readonly max: bigint[] = MISC_RES_NAMES.map(() => U64_MAX);
  readonly usage: bigint[] = MISC_RES_NAMES.map(() => 0n);
  readonly watermark: bigint[] = MISC_RES_NAMES.map(() => 0n);
  readonly events: bigint[] = MISC_RES_NAMES.map(() => 0n);
  readonly eventsLocal: bigint[] = MISC_RES_NAMES.map(() => 0n);
}

/** the cgroup's own misc css (misc_cg_alloc: every max is "max") */
export function miscOf(cg: Cgroup): MiscCg {
  cg.misc ??= new MiscCg();
  return cg.misc;
}

export type MiscFile = 'max' | 'current' | 'peak' | 'capacity' | 'events' | 'events.local';

/** misc_cg_max_show, misc_cg_current_show, misc_cg_peak_show, misc_cg_capacity_show, __misc_events_show */
export function miscShow(cg: Cgroup, file: MiscFile): string {
  const m = miscOf(cg);
  let out = '';
  MISC_RES_NAMES.forEach((name, i) => {
    const cap = MISC_RES_CAPACITY[i]!;
    switch (file) {
      case 'max':
        if (cap !== 0n) out += `${name} ${m.max[i] === U64_MAX ? 'max' : m.max[i]}\n`;
        break;
      case 'current':
        if (cap !== 0n || m.usage[i] !== 0n) out += `${name} ${m.usage[i]}\n`;
        break;
      case 'peak':
        if (cap !== 0n || m.watermark[i] !== 0n) out += `${name} ${m.watermark[i]}\n`;
        break;
      case 'capacity':
        if (cap !== 0n) out += `${name} ${cap}\n`;
        break;
      case 'events':
      case 'events.local': {
        const ev = file === 'events' ? m.events[i]! : m.eventsLocal[i]!;
        if (cap !== 0n || ev !== 0n) out += `${name}.max ${ev}\n`;
        break;
      }
    }
  });
  return out;
}

/**
 * misc_cg_max_write: strstrip, "<name> <value>" split at the first space (no space:
 * -EINVAL), an unknown name -EINVAL, "max" or kstrtou64(value, 0) (its -EINVAL/-ERANGE),
 * and a resource without capacity -EINVAL.
 */
export function miscMaxWrite(cg: Cgroup, text: string): number {
  const buf = strstrip(text);
  const sp = buf.indexOf(' ');
  if (sp < 0) return -EINVAL;
  const type = MISC_RES_NAMES.indexOf(buf.slice(0, sp) as (typeof MISC_RES_NAMES)[number]);
  if (type < 0) return -EINVAL;
  const rest = buf.slice(sp + 1);
  let max: bigint;
  if (rest === 'max') max = U64_MAX;
  else {
    const v = kstrtoull(rest);
    if (typeof v === 'number') return v;
    max = v;
  }
  if (MISC_RES_CAPACITY[type] === 0n) return -EINVAL;
  miscOf(cg).max[type] = max;
  return 0;
}

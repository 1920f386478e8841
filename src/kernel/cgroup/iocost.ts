/**
 * blk-iocost's root files (block/blk-iocost.c ioc_files, CFTYPE_ONLY_ON_ROOT):
 * io.cost.qos and io.cost.model print a line per device whose iocost is configured.
 * kwq models no iocost (io.weight is kept and not scheduled), so no device has one and
 * both read empty; a write is parsed as blkcg_conf_open_bdev does (v6.1) /
 * blkg_conf_open_bdev (v6.12) and refused:
 *
 *   sscanf "%u:%u%n" short      -EINVAL
 *   no white space after it     -EINVAL
 *   no such disk (or a partition)  -ENODEV
 *   a disk kwq has              -EOPNOTSUPP (what Linux says for a queue that is not
 *                               blk-mq; configuring iocost is not modelled, docs/divergences.md)
 */
import { EINVAL, ENODEV, EOPNOTSUPP } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { scanU64 } from './kstrto.js';

/** ioc_qos_show / ioc_cost_model_show: a line per device with iocost (none) */
export function iocostShow(): string {
  return '';
}

/** ioc_qos_write / ioc_cost_model_write up to the device */
export function iocostWrite(k: Kernel, text: string): number {
  const maj = scanU64(text);
  if (maj === null || maj[1][0] !== ':') return -EINVAL;
  const min = scanU64(maj[1].slice(1));
  if (min === null) return -EINVAL;
  const after = min[1];
  if (after === '' || !/^[ \t\n\v\f\r]/.test(after)) return -EINVAL;
  // %u stores an unsigned int; MKDEV(major, minor) is (major << 20 | minor) in a 32-bit dev_t
  const dev = (((maj[0] & 0xffffffffn) << 20n) | (min[0] & 0xffffffffn)) & 0xffffffffn;
  const major = Number(dev >> 20n);
  const minor = Number(dev & 0xfffffn);
  if (!k.blockDevices.has(`${major}:${minor}`)) return -ENODEV;
  return -EOPNOTSUPP;
}

/**
 * The rdma controller (kernel/cgroup/rdma.c): rdma.max and rdma.current list one line
 * per registered RDMA device ("<dev> hca_handle=N hca_object=N"); both are
 * CFTYPE_NOT_ON_ROOT. The modelled machine, like the oracle's guest, has no RDMA
 * device, so both read empty and every rdma.max write that parses ends at the device
 * lookup with -ENODEV.
 */
import { EINVAL, ENODEV } from '../errno.js';
import { strstrip } from './kstrto.js';

/** rdmacg_resource_names */
const RDMACG_RESOURCE_NAMES = ['hca_handle', 'hca_object'];

/** rdmacg_resource_read: a line per device (none) */
export function rdmaShow(): string {
  return '';
}

/**
 * simple_strtol(s, &end, 0) as match_number uses it: a sign, the base from the prefix,
 * digits; [value, characters used] (0 used: nothing converted).
 */
function simpleStrtol(s: string): [bigint, number] {
  let i = 0;
  const neg = s[0] === '-';
  if (neg) i++;
  let base = 10;
  if (s[i] === '0') {
    if ((s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
      base = 16;
      i += 2;
    } else base = 8;
  }
  const start = i;
  let v = 0n;
  for (; i < s.length; i++) {
    const d = parseInt(s[i]!, 16);
    if (Number.isNaN(d) || d >= base) break;
    v = (v * BigInt(base) + BigInt(d)) & ((1n << 64n) - 1n);
  }
  // a bare sign still moves end past it (simple_strtoull's end is after the prefix)
  const used = i === start && !neg ? 0 : i;
  v = BigInt.asIntN(64, v);
  return [neg ? -v : v, used];
}

/** parse_resource: "name=value"; the resource's index, or -EINVAL */
function parseResource(c: string): number {
  const eq = c.indexOf('=');
  if (eq < 0) return -EINVAL;
  const i = RDMACG_RESOURCE_NAMES.indexOf(c.slice(0, eq));
  if (i < 0) return -EINVAL;
  const value = c.slice(eq + 1);
  // match_int: simple_strtol, at least one character used, within int (what follows the digits is not looked at)
  const [v, used] = simpleStrtol(value);
  if (used > 0 && v >= -(2n ** 31n) && v < 2n ** 31n) return v < 0n ? -EINVAL : i;
  // otherwise the value must be a prefix of "max" (an empty one included)
  return 'max'.startsWith(value) ? i : -EINVAL;
}

/**
 * rdmacg_resource_set_max: strstrip, the device name up to the first space, then each
 * space-separated "name=value" (an empty token, from a double space, is -EINVAL), then
 * the device lookup.
 */
export function rdmaMaxWrite(text: string): number {
  const buf = strstrip(text);
  const sp = buf.indexOf(' ');
  if (sp >= 0) {
    for (const c of buf.slice(sp + 1).split(' ')) if (parseResource(c) < 0) return -EINVAL;
  }
  // rdmacg_get_device_locked: no device is registered
  return -ENODEV;
}

/**
 * The kernel's integer parsers as the cgroup files use them, exact to the errno and
 * to 64 bits (BigInt): lib/kstrtox.c and the %llu / %s conversions of lib/vsprintf.c
 * vsscanf.
 *
 *   kstrtoull(s, 0)   '+' allowed; base 0 (0x hex if a hex digit follows, 0 octal);
 *                     the whole string, one trailing '\n' allowed; no digit or junk
 *                     after: -EINVAL; more than 64 bits: -ERANGE (checked first)
 *   kstrtoll(s, 0)    '-' then kstrtoull of the rest (so "-+5" is -5); a result that
 *                     does not fit s64: -ERANGE
 *   kstrtoint(s, 0)   kstrtoll, then -ERANGE outside int
 *   sscanf "%llu"     skips white space, decimal only, no sign; simple_strntoull:
 *                     the value wraps modulo 2^64, no overflow error
 *
 * The cgroup core hands a write handler the buffer as written (cgroup_file_write);
 * cgroup.freeze / cgroup.kill strstrip() it first, write_u64 / write_s64 files do not.
 */
import { EINVAL, ERANGE } from '../errno.js';

export const U64_MAX = (1n << 64n) - 1n;
const S64_MAX = (1n << 63n) - 1n;
const INT_MAX = (1n << 31n) - 1n;
const INT_MIN = -(1n << 31n);

/** isspace() of the kernel's _ctype: space, \t \n \v \f \r */
const SPACE = /[ \t\n\v\f\r]/;

/** strstrip: leading and trailing white space off */
export function strstrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && SPACE.test(s[a]!)) a++;
  while (b > a && SPACE.test(s[b - 1]!)) b--;
  return s.slice(a, b);
}

function digitOf(c: string): number {
  const x = c.toLowerCase();
  if (x >= '0' && x <= '9') return x.charCodeAt(0) - 48;
  if (x >= 'a' && x <= 'f') return x.charCodeAt(0) - 87;
  return 99;
}

/** _kstrtoull(s, 0): value or -errno */
export function kstrtoull(text: string): bigint | number {
  let s = text;
  if (s[0] === '+') s = s.slice(1);
  // _parse_integer_fixup_radix(s, 0)
  let base = 10;
  if (s[0] === '0') {
    if ((s[1] === 'x' || s[1] === 'X') && s.length > 2 && digitOf(s[2]!) < 16) {
      base = 16;
      s = s.slice(2);
    } else base = 8;
  }
  // _parse_integer: digits of the base; overflow remembered, not fatal to the scan
  let v = 0n;
  let n = 0;
  let overflow = false;
  for (; n < s.length; n++) {
    const d = digitOf(s[n]!);
    if (d >= base) break;
    v = v * BigInt(base) + BigInt(d);
    if (v > U64_MAX) overflow = true;
  }
  if (overflow) return -ERANGE;
  if (n === 0) return -EINVAL;
  let rest = s.slice(n);
  if (rest[0] === '\n') rest = rest.slice(1);
  if (rest !== '') return -EINVAL;
  return v;
}

/** kstrtoll(s, 0): value or -errno */
export function kstrtoll(text: string): bigint | number {
  if (text[0] === '-') {
    const v = kstrtoull(text.slice(1));
    if (typeof v === 'number') return v;
    // (long long)-tmp > 0: the negation does not fit
    if (v > S64_MAX + 1n) return -ERANGE;
    return -v;
  }
  const v = kstrtoull(text);
  if (typeof v === 'number') return v;
  if (v > S64_MAX) return -ERANGE;
  return v;
}

/** kstrtoint(s, 0): { value } or { err: -errno } (a value may itself be negative) */
export function kstrtoint(text: string): { value: number } | { err: number } {
  const v = kstrtoll(text);
  if (typeof v === 'number') return { err: v };
  if (v > INT_MAX || v < INT_MIN) return { err: -ERANGE };
  return { value: Number(v) };
}

/**
 * vsscanf's "%Ns" (N = width, Infinity for none): white space skipped, then up to N
 * non-space characters. [token, rest] or null when the input ended first.
 */
export function scanString(s: string, width: number): [string, string] | null {
  let i = 0;
  while (i < s.length && SPACE.test(s[i]!)) i++;
  if (i >= s.length) return null;
  let j = i;
  while (j < s.length && j - i < width && !SPACE.test(s[j]!)) j++;
  return [s.slice(i, j), s.slice(j)];
}

/**
 * vsscanf's "%llu": white space skipped; it converts only if a decimal digit comes
 * next (no sign: '-' and '+' stop it); simple_strntoull wraps modulo 2^64.
 * [value, rest] or null when nothing converts.
 */
export function scanU64(s: string): [bigint, string] | null {
  let i = 0;
  while (i < s.length && SPACE.test(s[i]!)) i++;
  if (i >= s.length || !(s[i]! >= '0' && s[i]! <= '9')) return null;
  let v = 0n;
  for (; i < s.length && s[i]! >= '0' && s[i]! <= '9'; i++) v = (v * 10n + BigInt(s.charCodeAt(i) - 48)) & U64_MAX;
  return [v, s.slice(i)];
}

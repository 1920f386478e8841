/**
 * The kernel's number parsers, with its corner cases: simple_strtoull base 0
 * (0x hex, 0 octal), memparse's K/M/G/T/P/E suffixes, kstrto* (whole string, one
 * trailing newline allowed), page_counter_memparse ("max" or bytes).
 * Each returns null where the kernel returns -EINVAL.
 */
const SUFFIX: Record<string, number> = { k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 };

/** simple_strtoull(s, &end, 0): [value, rest]; no sign accepted. */
function strtoull0(s: string): [number, string] {
  let base = 10;
  let i = 0;
  if (s.startsWith('0x') || s.startsWith('0X')) {
    if (/^[0-9a-fA-F]/.test(s.slice(2))) {
      base = 16;
      i = 2;
    }
  } else if (s.startsWith('0') && s.length > 1) base = 8;
  let v = 0;
  const digits = '0123456789abcdef'.slice(0, base);
  for (; i < s.length; i++) {
    const d = digits.indexOf(s[i]!.toLowerCase());
    if (d < 0) break;
    v = v * base + d;
  }
  return [v, s.slice(i)];
}

/** memparse: "64M" -> 67108864; the rest must be empty (as page_counter_memparse demands). */
export function memparse(text: string): number | null {
  const s = text.trim();
  const [v, rest] = strtoull0(s);
  if (rest === s && s !== '') return null; // no digits at all
  if (rest === '') return v;
  const sh = SUFFIX[rest[0]!.toLowerCase()];
  if (sh === undefined || rest.length !== 1) return null;
  return v * 2 ** sh;
}

/** page_counter_memparse(buf, "max"): pages (rounded down), Infinity for "max", null -> -EINVAL. */
export function pageCounterMemparse(text: string, pageSize: number): number | null {
  const s = text.trim();
  if (s === 'max') return Infinity;
  const b = memparse(s);
  if (b === null) return null;
  return Math.floor(b / pageSize);
}

/** kstrtoll(s, 0): a whole signed integer (one trailing newline allowed), or null. */
export function kstrtoll(text: string): number | null {
  const s = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (!/^[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(s)) return null;
  const neg = s.startsWith('-');
  const body = s.replace(/^[+-]/, '');
  const [v] = strtoull0(body);
  if (!Number.isSafeInteger(v)) return null;
  return neg ? -v : v;
}

/** kstrtou64(s, 0) */
export function kstrtoull(text: string): number | null {
  const v = kstrtoll(text);
  if (v === null || v < 0 || text.trim().startsWith('-')) return null;
  return v;
}

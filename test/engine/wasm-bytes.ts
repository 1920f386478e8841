// Hand-assembled tiny Wasm modules for the guard and canary tests: each one breaks
// exactly one rule the module guard enforces (no binaryen needed).
const enc = (s: string): number[] => [s.length, ...Buffer.from(s)];
const section = (id: number, body: number[]): number[] => [id, body.length, ...body];
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** (import "env" "memory" (memory 1 max shared)) */
function memoryImport(max: number, shared = true): number[] {
  return [...enc('env'), ...enc('memory'), 0x02, shared ? 0x03 : 0x01, 0x01, ...leb(max)];
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

export type Flaw = 'none' | 'data' | 'mutable-global' | 'host-import' | 'unshared-memory' | 'start';

/**
 * A module with one flaw. 'data' writes `dataValue` (u32, little-endian) at
 * `dataOffset` on every instantiation, as an AssemblyScript static would.
 */
export function tinyModule(flaw: Flaw, maxPages = 32768, dataOffset = 72, dataValue = 0xdeadbeef): Uint8Array {
  const bytes: number[] = [...HEADER];
  const needsFunc = flaw === 'host-import' || flaw === 'start';
  if (needsFunc) bytes.push(...section(1, [0x01, 0x60, 0x00, 0x00])); // type 0: [] -> []
  const imports: number[][] = [memoryImport(maxPages, flaw !== 'unshared-memory')];
  if (flaw === 'host-import') imports.push([...enc('env'), ...enc('abort'), 0x00, 0x00]);
  bytes.push(...section(2, [imports.length, ...imports.flat()]));
  if (flaw === 'start') {
    bytes.push(...section(3, [0x01, 0x00])); // one function of type 0
  }
  if (flaw === 'mutable-global') bytes.push(...section(6, [0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b]));
  if (flaw === 'start') bytes.push(...section(8, [0x00]));
  if (flaw === 'start') bytes.push(...section(10, [0x01, 0x02, 0x00, 0x0b])); // empty body
  if (flaw === 'data') {
    const v = [dataValue & 0xff, (dataValue >>> 8) & 0xff, (dataValue >>> 16) & 0xff, dataValue >>> 24];
    bytes.push(...section(11, [0x01, 0x00, 0x41, ...sleb(dataOffset), 0x0b, 0x04, ...v]));
  }
  return new Uint8Array(bytes);
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

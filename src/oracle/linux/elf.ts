/**
 * Just enough ELF reading for the oracle runner: whether an executable is static
 * (no PT_INTERP program header), and the strings of a kernel module's .modinfo section
 * (`depends=...`, `name=...`), which stand in for modules.dep (Debian's kernel packages
 * do not ship one: depmod writes it when the package is installed).
 */
import { readFileSync } from 'node:fs';

const PT_INTERP = 3;

function checkElf64(buf: Buffer, path: string): void {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF file`);
}

/** True when the ELF executable at `path` has no program interpreter (statically linked). */
export function isStaticElf(path: string): boolean {
  const buf = readFileSync(path);
  checkElf64(buf, path);
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (buf.readUInt32LE(phoff + i * phentsize) === PT_INTERP) return false;
  }
  return true;
}

/** The NUL-separated `key=value` strings of an uncompressed module's .modinfo section. */
export function modinfo(buf: Buffer, path: string): Map<string, string[]> {
  checkElf64(buf, path);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return {
      name: buf.readUInt32LE(at),
      offset: Number(buf.readBigUInt64LE(at + 0x18)),
      size: Number(buf.readBigUInt64LE(at + 0x20)),
    };
  };
  const names = section(shstrndx);
  const nameOf = (off: number) => {
    const start = names.offset + off;
    return buf.toString('latin1', start, buf.indexOf(0, start));
  };
  const info = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameOf(s.name) !== '.modinfo') continue;
    for (const entry of buf.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) continue;
      const key = entry.slice(0, eq);
      info.set(key, [...(info.get(key) ?? []), entry.slice(eq + 1)]);
    }
    return info;
  }
  throw new Error(`${path}: no .modinfo section`);
}

/**
 * The module guard: proves that kwq.wasm can be instantiated once per thread over
 * ONE shared memory without clobbering it (shared/wasm-notes.md, DESIGN.md rules 1-3).
 * It checks, from the binary and WebAssembly.Module's reflection:
 *
 * - the only import is `env.memory`, a shared memory (no host functions at all);
 * - no data segments (data section / data count): instantiation writes nothing;
 * - no start section: instantiation runs no code;
 * - no mutable globals (defined or imported): no per-instance state that a
 *   reader could mistake for shared state, no runtime, no `~argumentsLength`;
 * - every export is a function and none is an AssemblyScript runtime entry
 *   (`__new`, `__pin`, `__collect`, ...).
 *
 * compileKwq() runs it on every module it compiles; test/engine/guard.test.ts runs
 * it on both builds.
 */
import { KwqError } from '../kernel/error.js';

export interface GuardReport {
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly imports: readonly string[];
  readonly exports: number;
  readonly globals: { readonly mutable: number; readonly immutable: number };
  readonly customSections: readonly string[];
}

const RUNTIME_EXPORTS = ['__new', '__pin', '__unpin', '__collect', '__rtti_base', '__alloc', '__free', '__renew', '__retain', '__release', '__setArgumentsLength'];

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  u8(): number {
    if (this.pos >= this.b.length) throw new Error('unexpected end of module');
    return this.b[this.pos++]!;
  }
  leb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const byte = this.u8();
      result += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) return result;
      mul *= 128;
    }
  }
  name(): string {
    const n = this.leb();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  skip(n: number): void {
    this.pos += n;
  }
  limits(): { shared: boolean; min: number; max: number | undefined } {
    const flags = this.u8();
    const min = this.leb();
    const max = flags & 1 ? this.leb() : undefined;
    return { shared: (flags & 2) !== 0, min, max };
  }
  valtype(): void {
    const t = this.u8();
    // (ref null? ht) carries a heap type; everything else is one byte
    if (t === 0x63 || t === 0x64) this.leb();
  }
  /** A constant expression, up to and including its `end`. */
  constExpr(): void {
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x0b: return;
        case 0x41: case 0x42: case 0x23: case 0xd2: this.leb(); break; // i32/i64.const, global.get, ref.func
        case 0x43: this.skip(4); break;
        case 0x44: this.skip(8); break;
        case 0xd0: this.leb(); break; // ref.null ht
        case 0xfd: this.leb(); this.skip(16); break; // v128.const
        default: throw new Error(`unexpected opcode 0x${op.toString(16)} in a constant expression`);
      }
    }
  }
}

/** Check a kwq module binary; never throws for a bad module, reports instead. */
export function checkKwqModule(bytes: Uint8Array): GuardReport {
  const problems: string[] = [];
  const imports: string[] = [];
  let mutable = 0;
  let immutable = 0;
  let exports = 0;
  const customSections: string[] = [];
  try {
    const module = new WebAssembly.Module(bytes);
    for (const imp of WebAssembly.Module.imports(module)) imports.push(`${imp.module}.${imp.name}:${imp.kind}`);
    for (const exp of WebAssembly.Module.exports(module)) {
      exports++;
      if (exp.kind !== 'function') problems.push(`export ${exp.name} is a ${exp.kind}, not a function`);
      if (RUNTIME_EXPORTS.includes(exp.name)) problems.push(`export ${exp.name} is an AssemblyScript runtime entry`);
    }
    const r = new Reader(bytes);
    r.skip(8); // magic + version
    while (r.pos < bytes.length) {
      const id = r.u8();
      const size = r.leb();
      const end = r.pos + size;
      if (id === 0) {
        customSections.push(r.name());
      } else if (id === 2) {
        const n = r.leb();
        for (let i = 0; i < n; i++) {
          const mod = r.name();
          const field = r.name();
          const kind = r.u8();
          if (kind === 0) { r.leb(); problems.push(`imports a host function ${mod}.${field}`); }
          else if (kind === 1) { r.valtype(); r.limits(); problems.push(`imports a table ${mod}.${field}`); }
          else if (kind === 2) {
            const lim = r.limits();
            if (mod !== 'env' || field !== 'memory') problems.push(`imports a memory named ${mod}.${field}, not env.memory`);
            if (!lim.shared) problems.push('the imported memory is not shared');
            if (lim.max === undefined) problems.push('the imported memory has no maximum');
          } else if (kind === 3) {
            r.valtype();
            if (r.u8() & 1) { mutable++; problems.push(`imports a mutable global ${mod}.${field}`); }
            else { immutable++; problems.push(`imports a global ${mod}.${field}`); }
          } else problems.push(`imports ${mod}.${field} of unknown kind ${kind}`);
        }
      } else if (id === 6) {
        const n = r.leb();
        for (let i = 0; i < n; i++) {
          r.valtype();
          if (r.u8() & 1) mutable++; else immutable++;
          r.constExpr();
        }
        if (mutable) problems.push(`${mutable} mutable global(s): module-level state would be per instance`);
      } else if (id === 8) {
        problems.push('has a start section: instantiation would run code');
      } else if (id === 11) {
        const n = r.leb();
        if (n > 0) problems.push(`${n} data segment(s): every instantiation would rewrite shared memory`);
      } else if (id === 12) {
        const n = r.leb();
        if (n > 0) problems.push(`data count section announces ${n} segment(s)`);
      }
      r.pos = end;
    }
    if (imports.length !== 1 || imports[0] !== 'env.memory:memory') {
      problems.push(`imports must be exactly [env.memory]; found [${imports.join(', ')}]`);
    }
  } catch (e) {
    problems.push(`not a valid module: ${(e as Error).message}`);
  }
  return { ok: problems.length === 0, problems, imports, exports, globals: { mutable, immutable }, customSections };
}

/** Throw a KwqError naming every problem (used on every module compileKwq loads). */
export function assertKwqModule(bytes: Uint8Array, where: string): void {
  const report = checkKwqModule(bytes);
  if (!report.ok) {
    throw new KwqError(where, `kwq.wasm fails the module guard: ${report.problems.join('; ')} (rebuild with \`npm run build:wasm\` and keep assembly/ free of module-level let, new, strings and host imports)`);
  }
}

/**
 * Compiling and instantiating kwq.wasm. The module is compiled once per thread
 * (cached) and instantiated over ONE shared WebAssembly.Memory; every instance sees
 * the same structures at the same host-assigned offsets (DESIGN.md, shared-memory
 * rules). Nothing outside src/wasm touches raw offsets.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { assertKwqModule } from './guard.js';

/**
 * Node 20 (V8 11.3): under the baseline compiler (Liftoff) a local live across
 * memory.atomic.wait32 can come back wrong (shared/wasm-notes.md). Compiling every
 * function with TurboFan avoids it. The flag must be set before the first
 * WebAssembly.Module is compiled in this isolate; NODE_OPTIONS refuses it.
 */
setFlagsFromString('--no-liftoff');

/** 64 KiB Wasm pages. */
export const WASM_PAGE = 65536;
/** Must match asconfig.json "maximumMemory" (the module's declared maximum). */
export const DECLARED_MAX_PAGES = 32768;
/** Must match asconfig.json "initialMemory". */
export const DECLARED_MIN_PAGES = 1;

/** The folder holding kwq.wasm: `build/` at the package root, found from src/ or dist/src/. */
export function buildDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build');
    if (existsSync(join(candidate, 'kwq.wasm'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('kwq: build/kwq.wasm not found; run `npm run build`');
}

export type WasmFlavour = 'release' | 'profile';

/**
 * The build used when a caller names none: `release`, or `profile` (names kept, so a
 * CPU profile shows `llist_del_all`, not `wasm-function[12]`) when the environment
 * says KWQ_WASM=profile. `kwq profile` sets it for the run it profiles.
 */
export function defaultFlavour(): WasmFlavour {
  const v = process.env['KWQ_WASM'];
  if (v === undefined || v === '' || v === 'release') return 'release';
  if (v === 'profile') return 'profile';
  throw new Error(`kwq: KWQ_WASM=${JSON.stringify(v)}; expected release or profile`);
}

export function wasmPath(flavour: WasmFlavour = defaultFlavour()): string {
  return join(buildDir(), flavour === 'release' ? 'kwq.wasm' : 'kwq.profile.wasm');
}

const compiled = new Map<WasmFlavour, WebAssembly.Module>();

/**
 * Compile kwq.wasm once per thread; WebAssembly.Module is cloneable to worker_threads.
 * The module guard (guard.ts) runs on the bytes first: a module that would clobber
 * shared memory on instantiation is refused with a KwqError.
 */
export function compileKwq(flavour: WasmFlavour = defaultFlavour()): WebAssembly.Module {
  let m = compiled.get(flavour);
  if (!m) {
    const bytes = readFileSync(wasmPath(flavour));
    assertKwqModule(bytes, `compileKwq(${flavour})`);
    m = new WebAssembly.Module(bytes);
    compiled.set(flavour, m);
  }
  return m;
}

/** A shared memory sized once: initial == maximum (DESIGN.md rule 5). */
export function createSharedMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.max(DECLARED_MIN_PAGES, Math.ceil(bytes / WASM_PAGE));
  if (pages > DECLARED_MAX_PAGES) {
    throw new RangeError(
      `kwq: a shared memory of ${bytes} bytes needs ${pages} pages, more than the module's maximum of ${DECLARED_MAX_PAGES}`,
    );
  }
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

/** Instantiate synchronously over `memory` (about 0.1 ms per thread). */
export function instantiateKwq(module: WebAssembly.Module, memory: WebAssembly.Memory): WebAssembly.Instance {
  return new WebAssembly.Instance(module, { env: { memory } });
}

/**
 * The WebAssembly JS API and Atomics.waitAsync, typed for this package: tsconfig
 * has lib ES2022 + node only (no DOM lib, no ES2024), and @types/node 20 declares
 * neither. Only what kwq uses, with the shapes of lib.dom.d.ts / lib.es2024.
 */
declare global {
  namespace WebAssembly {
    type ImportExportKind = 'function' | 'table' | 'memory' | 'global' | 'tag';
    interface ModuleImportDescriptor { module: string; name: string; kind: ImportExportKind }
    interface ModuleExportDescriptor { name: string; kind: ImportExportKind }
    type ExportValue = unknown;
    type Exports = Record<string, ExportValue>;
    type Imports = Record<string, Record<string, unknown>>;
    interface MemoryDescriptor { initial: number; maximum?: number; shared?: boolean }

    class Module {
      constructor(bytes: ArrayBufferView | ArrayBuffer);
      static imports(module: Module): ModuleImportDescriptor[];
      static exports(module: Module): ModuleExportDescriptor[];
      static customSections(module: Module, sectionName: string): ArrayBuffer[];
    }
    class Instance {
      constructor(module: Module, importObject?: Imports);
      readonly exports: Exports;
    }
    class Memory {
      constructor(descriptor: MemoryDescriptor);
      readonly buffer: ArrayBuffer | SharedArrayBuffer;
      grow(delta: number): number;
    }
    function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
    function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
  }

  interface Atomics {
    waitAsync(
      typedArray: Int32Array | BigInt64Array,
      index: number,
      value: number | bigint,
      timeout?: number,
    ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
  }
}

export {};

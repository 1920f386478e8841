// The module guard (src/wasm/guard.ts) on both builds, and on hand-made modules that
// each break one rule, so that the guard is shown able to fail.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkKwqModule, assertKwqModule } from '../../src/wasm/guard.js';
import { wasmPath } from '../../src/wasm/module.js';
import { tinyModule, type Flaw } from './wasm-bytes.js';

describe('module guard', () => {
  for (const flavour of ['release', 'profile'] as const) {
    it(`passes the ${flavour} build: only env.memory (shared) imported, no data, no mutable globals, no runtime`, () => {
      const report = checkKwqModule(readFileSync(wasmPath(flavour)));
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.imports).toEqual(['env.memory:memory']);
      expect(report.globals.mutable).toBe(0);
      expect(report.exports).toBeGreaterThan(40);
      if (flavour === 'profile') expect(report.customSections).toContain('name');
    });
  }

  it('the profile build keeps function names for CPU profiles', () => {
    const bytes = readFileSync(wasmPath('profile'));
    expect(bytes.includes(Buffer.from('llist_del_all'))).toBe(true);
    expect(bytes.includes(Buffer.from('vhost_worker_run'))).toBe(true);
  });

  it('accepts a minimal clean module', () => {
    expect(checkKwqModule(tinyModule('none')).problems).toEqual([]);
  });

  const flaws: [Flaw, RegExp][] = [
    ['data', /data segment/],
    ['mutable-global', /mutable global/],
    ['host-import', /host function env\.abort/],
    ['unshared-memory', /not shared/],
    ['start', /start section/],
  ];
  for (const [flaw, msg] of flaws) {
    it(`rejects a module with ${flaw}`, () => {
      const report = checkKwqModule(tinyModule(flaw));
      expect(report.ok).toBe(false);
      expect(report.problems.join('; ')).toMatch(msg);
      expect(() => assertKwqModule(tinyModule(flaw), 'test')).toThrow(/fails the module guard/);
    });
  }

  it('reports garbage as not a valid module instead of throwing', () => {
    const r = checkKwqModule(new Uint8Array([1, 2, 3]));
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatch(/not a valid module/);
  });
});

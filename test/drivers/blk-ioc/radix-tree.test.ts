/** The io_context's icq radix tree (lib/radix-tree.c semantics: insert/lookup/delete, grow and shrink). */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { RadixTree } from '../../../src/drivers/block/blk-ioc-radix-tree.js';

describe('RadixTree', () => {
  test('grows a level per 6 bits of index, shrinks back when the high keys go', () => {
    const t = new RadixTree<{ v: number }>();
    expect(t.height).toBe(0);
    expect(t.insert(5, { v: 5 })).toBe(0);
    expect(t.height).toBe(1);
    expect(t.insert(64, { v: 64 })).toBe(0);
    expect(t.height).toBe(2);
    expect(t.insert(4096 * 3, { v: 3 })).toBe(0);
    expect(t.height).toBe(3);
    expect(t.insert(5, { v: 0 })).toBe(-17); // -EEXIST
    expect(t.lookup(5)!.v).toBe(5);
    expect(t.lookup(4096 * 3)!.v).toBe(3);
    expect(t.lookup(6)).toBeUndefined();
    expect(t.lookup(1 << 30)).toBeUndefined();
    expect(t.delete(4096 * 3)!.v).toBe(3);
    expect(t.height).toBe(2);
    expect(t.delete(64)!.v).toBe(64);
    expect(t.height).toBe(1);
    expect(t.delete(64)).toBeUndefined();
    expect(t.delete(5)!.v).toBe(5);
    expect([t.height, t.size]).toEqual([0, 0]);
  });

  test('behaves as a map under random inserts and deletes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300_000 })), { maxLength: 200 }), (ops) => {
        const t = new RadixTree<{ k: number }>();
        const m = new Map<number, { k: number }>();
        for (const [ins, key] of ops) {
          if (ins) {
            const item = { k: key };
            expect(t.insert(key, item)).toBe(m.has(key) ? -17 : 0);
            if (!m.has(key)) m.set(key, item);
          } else {
            expect(t.delete(key)).toBe(m.get(key));
            m.delete(key);
          }
          expect(t.size).toBe(m.size);
        }
        for (const [key, item] of m) expect(t.lookup(key)).toBe(item);
        for (const key of m.keys()) t.delete(key);
        expect(t.height).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});

// Property tests (fast-check): the Wasm llist against an array model, and the arena's
// exactly-once allocation, in random sequences and under real-thread interleavings.
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/wasm/engine.js';

const NODES = 32;

type Op =
  | { op: 'add'; node: number }
  | { op: 'addArray'; nodes: number[] }
  | { op: 'delAll'; reverse: boolean }
  | { op: 'delFirst' }
  | { op: 'empty' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), node: fc.nat(NODES - 1) }),
  fc.record({ op: fc.constant('addArray' as const), nodes: fc.array(fc.nat(NODES - 1), { maxLength: 6 }) }),
  fc.record({ op: fc.constant('delAll' as const), reverse: fc.boolean() }),
  fc.record({ op: fc.constant('delFirst' as const) }),
  fc.record({ op: fc.constant('empty' as const) }),
);

describe('llist vs an array model', () => {
  const engine = Engine.create({ works: 1, workers: 0, arenas: [{ name: 'nodes', objSize: 8, capacity: NODES + 1 }] });
  const x = engine.exports;
  const arena = engine.arena('nodes');
  const head = arena.alloc();
  const nodes: number[] = [];
  for (let i = 0; i < NODES; i++) nodes.push(arena.alloc());
  const index = new Map(nodes.map((p, i) => [p, i]));
  const walk = (first: number): number[] => {
    const out: number[] = [];
    for (let p = first; p !== 0 && out.length <= NODES; p = engine.u32[p >> 2]!) out.push(index.get(p)!);
    return out;
  };

  it('add / add_array / del_all (+reverse) / del_first / empty behave like a stack of arrays', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      x.init_llist_head(head);
      let model: number[] = []; // newest first
      const onList = new Set<number>();
      for (const o of ops) {
        switch (o.op) {
          case 'add': {
            if (onList.has(o.node)) break; // a node is on at most one list once
            expect(x.llist_add(nodes[o.node]!, head)).toBe(model.length === 0 ? 1 : 0);
            model.unshift(o.node);
            onList.add(o.node);
            break;
          }
          case 'addArray': {
            const fresh = [...new Set(o.nodes)].filter((n) => !onList.has(n));
            const wasEmpty = model.length === 0 && fresh.length > 0;
            expect(x.llist_add_array(engine.stageInput(fresh.map((n) => nodes[n]!), 0, fresh.length), fresh.length, head)).toBe(wasEmpty ? 1 : 0);
            model = [...fresh].reverse().concat(model);
            for (const n of fresh) onList.add(n);
            break;
          }
          case 'delAll': {
            let chain = x.llist_del_all(head);
            if (o.reverse) chain = x.llist_reverse_order(chain);
            expect(walk(chain)).toEqual(o.reverse ? [...model].reverse() : model);
            model = [];
            onList.clear();
            break;
          }
          case 'delFirst': {
            const p = x.llist_del_first(head);
            if (model.length === 0) expect(p).toBe(0);
            else { expect(index.get(p)).toBe(model[0]); onList.delete(model.shift()!); }
            break;
          }
          case 'empty':
            expect(x.llist_empty(head)).toBe(model.length === 0 ? 1 : 0);
        }
      }
      expect(walk(x.llist_del_all(head))).toEqual(model);
    }), { numRuns: 300 });
  });
});

describe('arena: alloc/free exactly once', () => {
  it('random alloc / free / allocBatch / freeBatch sequences never hand out an object twice and lose none', () => {
    const CAP = 24;
    fc.assert(fc.property(
      fc.array(fc.oneof(
        fc.record({ op: fc.constant('alloc' as const) }),
        fc.record({ op: fc.constant('free' as const), pick: fc.nat() }),
        fc.record({ op: fc.constant('allocBatch' as const), n: fc.integer({ min: 0, max: 10 }) }),
        fc.record({ op: fc.constant('freeBatch' as const), n: fc.integer({ min: 0, max: 10 }) }),
      ), { maxLength: 80 }),
      (ops) => {
        const engine = Engine.create({ works: CAP, workers: 0, threadSlots: 1, slotBytes: 1024, syncWords: 0, counters: 0 });
        const a = engine.works;
        const held = new Set<number>();
        for (const o of ops) {
          if (o.op === 'alloc') {
            const p = a.tryAlloc();
            if (held.size === CAP) { expect(p).toBeLessThan(0); continue; }
            expect(a.contains(p)).toBe(true);
            expect(held.has(p)).toBe(false);
            held.add(p);
          } else if (o.op === 'free') {
            if (!held.size) continue;
            const p = [...held][o.pick % held.size]!;
            a.free(p);
            held.delete(p);
          } else if (o.op === 'allocBatch') {
            const out = new Uint32Array(o.n);
            if (held.size + o.n > CAP) { expect(() => a.allocBatch(out)).toThrow(/exhausted/); continue; }
            a.allocBatch(out);
            for (const p of out) { expect(held.has(p)).toBe(false); held.add(p); }
          } else {
            const some = [...held].slice(0, o.n);
            a.freeBatch(some);
            for (const p of some) held.delete(p);
          }
          expect(a.countFree()).toBe(CAP - held.size);
        }
      },
    ), { numRuns: 200 });
  });

  it('two threads churning one arena: no object ever has two owners, none is lost (ABA tag)', async () => {
    const CAP = 64;
    const engine = Engine.create({ works: CAP, workers: 0, arenas: [{ name: 'owners', objSize: 8, capacity: CAP / 2 }] });
    const table = engine.arena('owners').alloc(); // CAP u32 entries: the 32 objects of 8 bytes are contiguous
    engine.u32.fill(0, table >> 2, (table >> 2) + CAP);
    expect(engine.arena('owners').layout.base).toBe(table);
    const { header, base, objSize } = engine.works.layout;
    const url = new URL('./fixtures/arena-churn.js', import.meta.url);
    const t = engine.transferable();
    const runs = [1, 2].map((id) => new Promise<{ doubles: number; allocs: number }>((resolve, reject) => {
      const th = new Worker(url, { workerData: { engine: t, slot: id, id, seed: id * 7919, ops: 300_000, maxHeld: 40, header, base, objSize, table } });
      th.on('message', resolve);
      th.on('error', reject);
    }));
    engine.sync.store(0, 1);
    engine.sync.notify(0);
    const res = await Promise.all(runs);
    for (const r of res) {
      expect(r.doubles).toBe(0);
      expect(r.allocs).toBeGreaterThan(50_000);
    }
    expect(engine.works.countFree()).toBe(CAP);
    const seen = new Set<number>();
    for (let i = 0; i < CAP; i++) seen.add(engine.works.alloc());
    expect(seen.size).toBe(CAP);
  }, 30_000);
});

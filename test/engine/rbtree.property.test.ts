/**
 * Property tests: the Wasm red-black tree and the pure-TypeScript reference tree
 * (bench/ref/rbtree.ts) against a sorted-array model, with every red-black
 * invariant checked by reading memory after EVERY operation (rbValidate: root
 * black, no red-red, equal black height, in-order sorted, parent links right,
 * node count), plus first/next and last/prev walks against the model.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileKwq, createSharedMemory, instantiateKwq } from '../../src/wasm/module.js';
import { RbTree, rbValidate, type RbShape } from '../../src/wasm/rbtree.js';
import { RefRbTree } from '../../bench/ref/rbtree.js';

/** Keys that stress the u64 compare (both words, the sign bit), then ordinary ones. */
const POOL: readonly bigint[] = [
  ...new Set([
    0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
    0xffff_ffff_0000_0000n, 0x8000_0000n, 0x7fff_ffffn, 0x1_8000_0000n,
    ...Array.from({ length: 36 }, (_, i) => (BigInt(i + 2) * 0x0123_4567_89ab_cdefn) % 2n ** 64n),
  ]),
];
// Every key has two nodes (twins), so a second insert of a key can find the first.
const TWINS = 2;

/** What both implementations offer the model test; nodes are opaque numbers. */
interface TreeUnderTest {
  node(poolIdx: number, twin: number): number;
  setKey(node: number, key: bigint): void;
  findAdd(node: number): number;
  insertBatch(nodes: number[]): { inserted: number; results: number[] };
  find(key: bigint): number;
  findBatch(keys: bigint[]): number[];
  erase(node: number): void;
  eraseBatch(nodes: number[]): void;
  replace(victim: number, nw: number): void;
  first(): number;
  last(): number;
  next(n: number): number;
  prev(n: number): number;
  validate(): RbShape;
}

function wasmTree(): TreeUnderTest {
  const memory = createSharedMemory(1 << 20);
  const inst = instantiateKwq(compileKwq(), memory);
  // A small staging area (8 finds, 24 nodes per chunk) so batches cross chunks.
  const t = new RbTree(inst.exports, memory, { root: 64, keyOff: 16, scratch: 512, scratchBytes: 96 });
  const node = (p: number, twin: number) => 4096 + (p * TWINS + twin) * 24;
  for (let p = 0; p < POOL.length; p++) for (let w = 0; w < TWINS; w++) t.setKey(node(p, w), POOL[p]!);
  return {
    node,
    setKey: (n, k) => t.setKey(n, k),
    findAdd: (n) => t.findAdd(n),
    insertBatch: (nodes) => {
      const results = new Uint32Array(nodes.length);
      const inserted = t.insertBatch(Uint32Array.from(nodes), results);
      return { inserted, results: [...results] };
    },
    find: (k) => t.find(k),
    findBatch: (keys) => {
      const out = new Uint32Array(keys.length);
      const found = t.findBatch(BigUint64Array.from(keys), out);
      const lo = Uint32Array.from(keys, (k) => Number(k & 0xffff_ffffn));
      const hi = Uint32Array.from(keys, (k) => Number(k >> 32n));
      const out2 = new Uint32Array(keys.length);
      // The split-key entry point must agree with the u64 one.
      expect(t.findBatchSplit(lo, hi, out2)).toBe(found);
      expect([...out2]).toEqual([...out]);
      expect(found).toBe(out.filter((n) => n !== 0).length);
      return [...out];
    },
    erase: (n) => t.erase(n),
    eraseBatch: (nodes) => void t.eraseBatch(Uint32Array.from(nodes)),
    replace: (v, n) => t.replace(v, n),
    first: () => t.first(),
    last: () => t.last(),
    next: (n) => t.next(n),
    prev: (n) => t.prev(n),
    validate: () => t.validate(),
  };
}

function refTree(): TreeUnderTest {
  const t = new RefRbTree(POOL.length * TWINS + 1);
  const node = (p: number, twin: number) => t.node(1 + p * TWINS + twin);
  const setKey = (n: number, k: bigint) => t.setKey(n, Number(k & 0xffff_ffffn), Number(k >> 32n));
  for (let p = 0; p < POOL.length; p++) for (let w = 0; w < TWINS; w++) setKey(node(p, w), POOL[p]!);
  return {
    node,
    setKey,
    findAdd: (n) => t.findAdd(n),
    insertBatch: (nodes) => {
      const results = new Int32Array(nodes.length);
      const inserted = t.insertBatch(Int32Array.from(nodes), results);
      return { inserted, results: [...results] };
    },
    find: (k) => t.find(Number(k & 0xffff_ffffn), Number(k >> 32n)),
    findBatch: (keys) => {
      const out = new Int32Array(keys.length);
      t.findBatch(
        Uint32Array.from(keys, (k) => Number(k & 0xffff_ffffn)),
        Uint32Array.from(keys, (k) => Number(k >> 32n)),
        out,
      );
      return [...out];
    },
    erase: (n) => t.erase(n),
    eraseBatch: (nodes) => void t.eraseBatch(Int32Array.from(nodes)),
    replace: (v, n) => t.replaceNode(v, n),
    first: () => t.first(),
    last: () => t.last(),
    next: (n) => t.next(n),
    prev: (n) => t.prev(n),
    validate: () => rbValidate(t.reader(), POOL.length * TWINS, 'RefRbTree'),
  };
}

type Op =
  | { t: 'add'; keys: number[]; batch: boolean }
  | { t: 'del'; picks: number[]; batch: boolean }
  | { t: 'find'; keys: number[]; batch: boolean }
  | { t: 'replace'; pick: number };

const poolIdx = fc.integer({ min: 0, max: POOL.length - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('add' as const), keys: fc.array(poolIdx, { minLength: 1, maxLength: 30 }), batch: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('del' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), batch: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('find' as const), keys: fc.array(poolIdx, { minLength: 1, maxLength: 20 }), batch: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('replace' as const), pick: fc.nat() }) },
);

/** The model: pool index -> the node holding that key; sorted() gives ascending keys. */
class Model {
  readonly holder = new Map<number, number>();
  readonly twin = new Map<number, number>(); // pool index -> which twin is in the tree
  sortedIdx(): number[] {
    return [...this.holder.keys()].sort((a, b) => (POOL[a]! < POOL[b]! ? -1 : POOL[a]! > POOL[b]! ? 1 : 0));
  }
}

function checkAgainstModel(tree: TreeUnderTest, model: Model, step: string): void {
  const shape = tree.validate(); // throws on any broken invariant
  expect(shape.count, step).toBe(model.holder.size);
  const want = model.sortedIdx().map((p) => model.holder.get(p)!);
  const fwd: number[] = [];
  for (let n = tree.first(); n !== 0 && fwd.length <= want.length; n = tree.next(n)) fwd.push(n);
  expect(fwd, step).toEqual(want);
  const back: number[] = [];
  for (let n = tree.last(); n !== 0 && back.length <= want.length; n = tree.prev(n)) back.push(n);
  expect(back, step).toEqual([...want].reverse());
}

function runOps(tree: TreeUnderTest, ops: Op[]): void {
  const model = new Model();
  // Pool indices whose twin slot is free: insert uses the twin not in the tree.
  const spare = (p: number) => tree.node(p, model.twin.has(p) ? 1 - model.twin.get(p)! : 0);
  ops.forEach((op, i) => {
    const step = `op ${i}: ${JSON.stringify(op)}`;
    switch (op.t) {
      case 'add': {
        const nodes = op.keys.map(spare);
        // The model's answer for each insert, in order (earlier inserts of the batch count).
        const want: number[] = [];
        const pending = new Map(model.holder);
        op.keys.forEach((p, j) => {
          if (pending.has(p)) want.push(pending.get(p)!);
          else {
            want.push(0);
            pending.set(p, nodes[j]!);
          }
        });
        if (op.batch) {
          const { inserted, results } = tree.insertBatch(nodes);
          expect(results, step).toEqual(want);
          expect(inserted, step).toBe(want.filter((w) => w === 0).length);
        } else {
          nodes.forEach((n, j) => expect(tree.findAdd(n), step).toBe(want[j]));
        }
        for (const [p, n] of pending) {
          if (!model.holder.has(p)) {
            model.holder.set(p, n);
            model.twin.set(p, n === tree.node(p, 0) ? 0 : 1);
          }
        }
        break;
      }
      case 'del': {
        const present = model.sortedIdx();
        if (present.length === 0) break;
        const victims = [...new Set(op.picks.map((k) => present[k % present.length]!))];
        const nodes = victims.map((p) => model.holder.get(p)!);
        if (op.batch) tree.eraseBatch(nodes);
        else nodes.forEach((n) => tree.erase(n));
        for (const p of victims) {
          model.holder.delete(p);
          model.twin.delete(p);
        }
        break;
      }
      case 'find': {
        const keys = op.keys.map((p) => POOL[p]!);
        const want = op.keys.map((p) => model.holder.get(p) ?? 0);
        if (op.batch) expect(tree.findBatch(keys), step).toEqual(want);
        else keys.forEach((k, j) => expect(tree.find(k), step).toBe(want[j]));
        break;
      }
      case 'replace': {
        const present = model.sortedIdx();
        if (present.length === 0) break;
        const p = present[op.pick % present.length]!;
        const nw = spare(p);
        tree.replace(model.holder.get(p)!, nw);
        model.holder.set(p, nw);
        model.twin.set(p, 1 - model.twin.get(p)!);
        break;
      }
    }
    checkAgainstModel(tree, model, step);
  });
}

const impls: [string, () => TreeUnderTest][] = [
  ['wasm (build/kwq.wasm)', wasmTree],
  ['TS reference (bench/ref/rbtree.ts)', refTree],
];

describe.each(impls)('rbtree %s vs a sorted-array model', (_name, make) => {
  it('keeps every red-black invariant and the model\'s order after every operation', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
        runOps(make(), ops);
      }),
      { numRuns: 150 },
    );
  });

  it('survives filling every key then draining it, in random orders', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray([...POOL.keys()], { minLength: POOL.length }),
        fc.shuffledSubarray([...POOL.keys()], { minLength: POOL.length }),
        (ins, del) => {
          runOps(make(), [
            ...ins.map((p): Op => ({ t: 'add', keys: [p], batch: false })),
            { t: 'find', keys: [...POOL.keys()], batch: true },
            ...del.map((p): Op => ({ t: 'del', picks: [p], batch: p % 2 === 0 })),
          ]);
        },
      ),
      { numRuns: 40 },
    );
  });
});

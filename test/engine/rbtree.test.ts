/**
 * The Wasm red-black tree (assembly/rbtree.ts via src/wasm/rbtree.ts) on known
 * sequences, against build/kwq.wasm. Property tests: rbtree.property.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { compileKwq, createSharedMemory, instantiateKwq } from '../../src/wasm/module.js';
import { RbTree, rbTreeExports, rbValidate, RB_LEFT, RB_RIGHT, RB_PARENT_COLOR } from '../../src/wasm/rbtree.js';
import { KwqError } from '../../src/kernel/error.js';

const MEM_BYTES = 4 << 20;
const ROOT = 64;
const SCRATCH = 1024;
const NODES = 64 * 1024;
/** test struct: rb_node at +0, pad, u64 key at +16 */
const STRUCT = 24;

function setup(opts: { scratchBytes?: number; keyOff?: number; structBase?: number } = {}) {
  const memory = createSharedMemory(MEM_BYTES);
  const inst = instantiateKwq(compileKwq(), memory);
  const keyOff = opts.keyOff ?? 16;
  const tree = new RbTree(inst.exports, memory, {
    root: ROOT, keyOff, scratch: SCRATCH, scratchBytes: opts.scratchBytes ?? 16 * 1024,
  });
  const base = NODES + (opts.structBase ?? 0);
  const node = (i: number): number => base + i * STRUCT;
  const u32 = new Uint32Array(memory.buffer);
  return { tree, node, u32, memory, exports: inst.exports };
}

function inOrder(tree: RbTree): bigint[] {
  const keys: bigint[] = [];
  for (let n = tree.first(); n !== 0; n = tree.next(n)) keys.push(tree.key(n));
  return keys;
}

function reverseOrder(tree: RbTree): bigint[] {
  const keys: bigint[] = [];
  for (let n = tree.last(); n !== 0; n = tree.prev(n)) keys.push(tree.key(n));
  return keys;
}

describe('rbtree (wasm): known sequences', () => {
  it('exports every rbtree entry point from build/kwq.wasm', () => {
    const memory = createSharedMemory(MEM_BYTES);
    const inst = instantiateKwq(compileKwq(), memory);
    expect(() => rbTreeExports(inst.exports)).not.toThrow();
  });

  it('ascending inserts 1..7 give the kernel shape: 2B(1B, 4R(3B, 6B(5R, 7R)))', () => {
    const { tree, node, u32 } = setup();
    for (let i = 1; i <= 7; i++) {
      tree.setKey(node(i), BigInt(i));
      expect(tree.findAdd(node(i))).toBe(0);
      tree.validate();
    }
    const w = (a: number) => u32[a >>> 2]!;
    const colour = (n: number) => (w(n + RB_PARENT_COLOR) & 1 ? 'B' : 'R');
    const shape = (n: number): string => {
      if (n === 0) return '';
      const l = w(n + RB_LEFT);
      const r = w(n + RB_RIGHT);
      const kids = l || r ? `(${shape(l) || '-'}, ${shape(r) || '-'})` : '';
      return `${tree.key(n)}${colour(n)}${kids}`;
    };
    expect(shape(w(ROOT))).toBe('2B(1B, 4R(3B, 6B(5R, 7R)))');
    expect(tree.validate()).toEqual({ count: 7, blackHeight: 2, height: 4 });
  });

  it('first/next walk ascending and last/prev descending; both end in 0', () => {
    const { tree, node } = setup();
    const keys = [50n, 10n, 70n, 30n, 90n, 20n, 60n, 40n, 80n];
    keys.forEach((k, i) => {
      tree.setKey(node(i), k);
      tree.findAdd(node(i));
    });
    const sorted = [...keys].sort((a, b) => (a < b ? -1 : 1));
    expect(inOrder(tree)).toEqual(sorted);
    expect(reverseOrder(tree)).toEqual([...sorted].reverse());
    expect(tree.prev(tree.first())).toBe(0);
    expect(tree.next(tree.last())).toBe(0);
  });

  it('an empty tree has no first or last, and finds nothing', () => {
    const { tree } = setup();
    expect(tree.empty).toBe(true);
    expect(tree.first()).toBe(0);
    expect(tree.last()).toBe(0);
    expect(tree.find(1n)).toBe(0);
    expect(tree.validate().count).toBe(0);
  });

  it('find_add returns the node already holding the key and leaves the tree unchanged', () => {
    const { tree, node } = setup();
    tree.setKey(node(0), 0xdead_beef_0000_0001n);
    tree.setKey(node(1), 0xdead_beef_0000_0001n);
    expect(tree.findAdd(node(0))).toBe(0);
    expect(tree.findAdd(node(1))).toBe(node(0));
    expect(tree.validate().count).toBe(1);
    expect(tree.find(0xdead_beef_0000_0001n)).toBe(node(0));
  });

  it('orders keys as unsigned 64-bit: the high word first, 2^63 above 2^63-1', () => {
    const { tree, node } = setup();
    const keys = [2n ** 64n - 1n, 2n ** 63n, 2n ** 63n - 1n, 2n ** 32n, 2n ** 32n - 1n, 1n, 0n, 0x1_0000_0001n];
    keys.forEach((k, i) => {
      tree.setKey(node(i), k);
      expect(tree.findAdd(node(i))).toBe(0);
    });
    tree.validate();
    expect(inOrder(tree)).toEqual([...keys].sort((a, b) => (a < b ? -1 : 1)));
    keys.forEach((k, i) => expect(tree.find(k)).toBe(node(i)));
    expect(tree.find(2n ** 33n)).toBe(0);
  });

  it('erase of the root, a leaf and an inner node keeps every invariant', () => {
    const { tree, node } = setup();
    for (let i = 1; i <= 15; i++) {
      tree.setKey(node(i), BigInt(i * 10));
      tree.findAdd(node(i));
    }
    const left = new Set(Array.from({ length: 15 }, (_, i) => BigInt((i + 1) * 10)));
    const rootNode = () => tree.reader().rootNode();
    // Each victim is picked just before its erase (the root changes as we go).
    for (const pick of [rootNode, () => node(1), () => node(8), () => node(15), rootNode]) {
      const victim = pick();
      const k = tree.key(victim);
      tree.erase(victim);
      left.delete(k);
      expect(tree.find(k)).toBe(0);
      expect(tree.validate().count).toBe(left.size);
      expect(inOrder(tree)).toEqual([...left].sort((a, b) => (a < b ? -1 : 1)));
    }
  });

  it('erasing every node empties the tree, in any order', () => {
    const { tree, node } = setup();
    const order = [5, 3, 8, 1, 4, 7, 9, 2, 6, 0];
    for (let i = 0; i < 10; i++) {
      tree.setKey(node(i), BigInt(i));
      tree.findAdd(node(i));
    }
    for (const i of order) {
      tree.erase(node(i));
      tree.validate();
    }
    expect(tree.empty).toBe(true);
  });

  it('a key kept before the node (negative keyOff) works the same', () => {
    // struct { u64 key; rb_node node; }: the node sits 8 bytes after the key.
    const { tree, node } = setup({ keyOff: -8, structBase: 8 });
    for (let i = 0; i < 100; i++) {
      tree.setKey(node(i), BigInt((i * 7919) % 100));
      tree.findAdd(node(i));
    }
    expect(tree.validate().count).toBe(100);
    expect(inOrder(tree)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i)));
  });

  it('replace puts a node with the same key in the victim\'s place', () => {
    const { tree, node } = setup();
    for (let i = 0; i < 9; i++) {
      tree.setKey(node(i), BigInt(i));
      tree.findAdd(node(i));
    }
    tree.setKey(node(100), 4n);
    tree.replace(node(4), node(100));
    expect(tree.validate().count).toBe(9);
    expect(tree.find(4n)).toBe(node(100));
    expect(inOrder(tree)).toEqual(Array.from({ length: 9 }, (_, i) => BigInt(i)));
  });

  it('a caller-written search core with rb_link_node + rb_insert_color builds a valid tree', () => {
    // The kernel's pattern: walk to the empty child slot yourself, link, recolour.
    const { tree, node, u32, exports } = setup();
    const x = rbTreeExports(exports);
    const keys = [41n, 7n, 99n, 3n, 58n, 12n, 77n, 25n, 64n, 1n, 88n, 30n];
    keys.forEach((k, i) => {
      tree.setKey(node(i), k);
      let link = ROOT;
      let parent = 0;
      for (let n = u32[link >>> 2]!; n !== 0; n = u32[link >>> 2]!) {
        parent = n;
        link = n + (k < tree.key(n) ? RB_LEFT : RB_RIGHT);
      }
      x.rb_link_node(node(i), parent, link);
      x.rb_insert_color(node(i), ROOT);
      expect(tree.validate().count).toBe(i + 1);
    });
    expect(inOrder(tree)).toEqual([...keys].sort((a, b) => (a < b ? -1 : 1)));
  });

  it('eraseBatch clears each node, so rb_next of an erased node is 0', () => {
    const { tree, node, exports } = setup();
    for (let i = 0; i < 5; i++) {
      tree.setKey(node(i), BigInt(i));
      tree.findAdd(node(i));
    }
    tree.eraseBatch(Uint32Array.of(node(2)));
    const x = rbTreeExports(exports);
    expect(x.rb_empty_node(node(2))).toBe(1);
    expect(tree.next(node(2))).toBe(0);
    expect(tree.prev(node(2))).toBe(0);
    expect(inOrder(tree)).toEqual([0n, 1n, 3n, 4n]);
  });
});

describe('rbtree (wasm): batch entry points', () => {
  function keysFor(n: number, seed: number): BigUint64Array {
    // xorshift64*: the same keys every run.
    let s = BigInt(seed) | 1n;
    const out = new BigUint64Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s >> 12n;
      s ^= (s << 25n) & 0xffff_ffff_ffff_ffffn;
      s ^= s >> 27n;
      out[i] = (s * 0x2545f4914f6cdd1dn) & 0xffff_ffff_ffff_ffffn;
    }
    return out;
  }

  it('insertBatch reports duplicates in results and the same outcome at any chunk size', () => {
    const keys = keysFor(3000, 7);
    keys[10] = keys[5]!; // a duplicate inside the batch
    keys[2999] = keys[0]!;
    const outcomes: { inserted: number; results: Uint32Array; order: bigint[] }[] = [];
    for (const scratchBytes of [12, 100, 16 * 1024]) {
      const { tree, node } = setup({ scratchBytes });
      const nodes = Uint32Array.from({ length: keys.length }, (_, i) => node(i));
      tree.writeKeys(nodes, keys);
      const results = new Uint32Array(nodes.length);
      const inserted = tree.insertBatch(nodes, results);
      expect(tree.validate().count).toBe(inserted);
      outcomes.push({ inserted, results, order: inOrder(tree) });
      expect(results[10]).toBe(node(5));
      expect(results[2999]).toBe(node(0));
      expect(results[5]).toBe(0);
    }
    expect(outcomes[0]!.inserted).toBe(2998);
    for (const o of outcomes.slice(1)) {
      expect(o.inserted).toBe(outcomes[0]!.inserted);
      expect(o.results).toEqual(outcomes[0]!.results);
      expect(o.order).toEqual(outcomes[0]!.order);
    }
  });

  it('findBatch and findBatchSplit find every key present and 0 for the rest', () => {
    const { tree, node } = setup({ scratchBytes: 240 }); // 20 finds per chunk
    const keys = keysFor(1000, 11);
    const nodes = Uint32Array.from({ length: 500 }, (_, i) => node(i));
    tree.writeKeys(nodes, keys.subarray(0, 500));
    expect(tree.insertBatch(nodes)).toBe(500);
    const out = new Uint32Array(1000);
    expect(tree.findBatch(keys, out)).toBe(500);
    for (let i = 0; i < 1000; i++) expect(out[i]).toBe(i < 500 ? node(i) : 0);
    const lo = Uint32Array.from(keys, (k) => Number(k & 0xffff_ffffn));
    const hi = Uint32Array.from(keys, (k) => Number(k >> 32n));
    const out2 = new Uint32Array(1000);
    expect(tree.findBatchSplit(lo, hi, out2)).toBe(500);
    expect(out2).toEqual(out);
  });

  it('10k inserts then erasing half in random order keeps the invariants and the rest findable', () => {
    const { tree, node } = setup({ scratchBytes: 4096 });
    const n = 10_000;
    const keys = keysFor(n, 3);
    const nodes = Uint32Array.from({ length: n }, (_, i) => node(i));
    tree.writeKeys(nodes, keys);
    expect(tree.insertBatch(nodes)).toBe(n);
    const shape = tree.validate();
    expect(shape.count).toBe(n);
    expect(shape.height).toBeLessThanOrEqual(2 * Math.log2(n + 1));
    // Fisher-Yates with a fixed LCG.
    const perm = Array.from({ length: n }, (_, i) => i);
    let s = 12345;
    for (let i = n - 1; i > 0; i--) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const j = s % (i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const gone = Uint32Array.from(perm.slice(0, n / 2), (i) => node(i));
    expect(tree.eraseBatch(gone)).toBe(n / 2);
    expect(tree.validate().count).toBe(n / 2);
    const out = new Uint32Array(n);
    expect(tree.findBatch(keys, out)).toBe(n / 2);
    const goneSet = new Set(perm.slice(0, n / 2));
    for (let i = 0; i < n; i++) expect(out[i]).toBe(goneSet.has(i) ? 0 : node(i));
  });
});

describe('rbtree (wasm): misuse throws KwqError and changes nothing', () => {
  it('rejects a bad layout, naming the field', () => {
    const memory = createSharedMemory(MEM_BYTES);
    const inst = instantiateKwq(compileKwq(), memory);
    const ok = { root: ROOT, keyOff: 16, scratch: SCRATCH, scratchBytes: 1024 };
    expect(() => new RbTree(inst.exports, memory, { ...ok, root: 3 })).toThrow(/layout\.root/);
    expect(() => new RbTree(inst.exports, memory, { ...ok, keyOff: 6 })).toThrow(/layout\.keyOff/);
    expect(() => new RbTree(inst.exports, memory, { ...ok, scratch: 1028 })).toThrow(/layout\.scratch /);
    expect(() => new RbTree(inst.exports, memory, { ...ok, scratchBytes: MEM_BYTES })).toThrow(/layout\.scratchBytes/);
    expect(() => new RbTree(inst.exports, memory, { ...ok, root: SCRATCH + 8 })).toThrow(/inside the scratch/);
    expect(() => new RbTree({}, memory, ok)).toThrow(KwqError);
  });

  it('an insertBatch with one bad offset throws before inserting any node', () => {
    const { tree, node } = setup();
    tree.setKey(node(0), 1n);
    tree.setKey(node(1), 2n);
    expect(() => tree.insertBatch(Uint32Array.of(node(0), node(1), 6))).toThrow(/nodes\[2\] = 6/);
    expect(() => tree.insertBatch(Uint32Array.of(node(0), MEM_BYTES))).toThrow(KwqError);
    expect(tree.empty).toBe(true);
    expect(() => tree.findAdd(0)).toThrow(KwqError);
    expect(() => tree.eraseBatch(Uint32Array.of(node(0)), 2)).toThrow(/n = 2/);
  });

  it('a batch of several scratch chunks with a bad offset in the last chunk changes nothing', () => {
    // 64 scratch bytes: 16 nodes a chunk; the bad offset sits in the third chunk
    const { tree, node } = setup({ scratchBytes: 64 });
    const n = 40;
    const nodes = Uint32Array.from({ length: n }, (_, i) => node(i));
    for (let i = 0; i < n; i++) tree.setKey(node(i), BigInt(i + 1));
    const bad = nodes.slice();
    bad[37] = node(37) + 2;
    expect(() => tree.insertBatch(bad)).toThrow(/nodes\[37\]/);
    expect(tree.empty).toBe(true);
    expect(tree.insertBatch(nodes)).toBe(n);
    bad[37] = 0;
    expect(() => tree.eraseBatch(bad)).toThrow(/nodes\[37\] = 0/);
    expect(tree.validate().count).toBe(n);
    tree.eraseBatch(nodes);
    expect(tree.empty).toBe(true);
  });

  it('Wasm checks offsets at the edges of the memory exactly as nodeOk() does', () => {
    // keyOff -8: a node needs node - 8 >= 0 and node + 12 <= the memory's end
    const { tree } = setup({ keyOff: -8 });
    const last = MEM_BYTES - 12;
    tree.setKey(8, 5n);
    tree.setKey(last, 7n);
    expect(() => tree.insertBatch(Uint32Array.of(8, 4))).toThrow(/nodes\[1\] = 4/);
    expect(() => tree.insertBatch(Uint32Array.of(8, last + 4))).toThrow(/nodes\[1\]/);
    expect(() => tree.insertBatch(Uint32Array.of(8, 0xffff_fffc))).toThrow(/nodes\[1\]/);
    expect(tree.empty).toBe(true);
    expect(tree.insertBatch(Uint32Array.of(8, last))).toBe(2);
    expect(tree.validate().count).toBe(2);
    tree.eraseBatch(Uint32Array.of(last, 8));
    expect(tree.empty).toBe(true);
  });
});

describe('rbValidate catches each broken invariant', () => {
  function built() {
    const t = setup();
    for (let i = 1; i <= 15; i++) {
      t.tree.setKey(t.node(i), BigInt(i));
      t.tree.findAdd(t.node(i));
    }
    t.tree.validate();
    return t;
  }
  const w = (u32: Uint32Array, a: number) => u32[a >>> 2]!;
  const set = (u32: Uint32Array, a: number, v: number) => {
    u32[a >>> 2] = v;
  };

  it('a red root', () => {
    const { tree, u32 } = built();
    const root = w(u32, ROOT);
    set(u32, root, w(u32, root) & ~1);
    expect(() => tree.validate()).toThrow(/root .* black/);
  });

  it('a red node with a red child', () => {
    const { tree, u32 } = built();
    // Find a black node with a black-parented... simplest: paint a red node's parent red.
    let red = 0;
    for (let n = tree.first(); n; n = tree.next(n)) if ((w(u32, n) & 1) === 0 && (w(u32, n) & ~3) !== 0) red = n;
    expect(red).not.toBe(0);
    const parent = w(u32, red) & ~3;
    set(u32, parent, w(u32, parent) & ~1);
    expect(() => tree.validate()).toThrow(/red/);
  });

  it('unequal black heights', () => {
    const { tree, u32 } = built();
    const leaf = tree.first();
    set(u32, leaf, w(u32, leaf) ^ 1); // flip one leaf's colour
    expect(() => tree.validate()).toThrow(/black height|red/);
  });

  it('keys out of order', () => {
    const { tree, node } = built();
    tree.setKey(node(3), 100n);
    expect(() => tree.validate()).toThrow(/not strictly increasing/);
  });

  it('a wrong parent link', () => {
    const { tree, u32 } = built();
    const leaf = tree.last();
    set(u32, leaf, (w(u32, leaf) & 1) | (w(u32, ROOT) + 0)); // claims the root as parent
    expect(() => tree.validate()).toThrow(/says its parent is/);
  });

  it('a cycle', () => {
    const { tree, u32 } = built();
    const root = w(u32, ROOT);
    const leaf = tree.first();
    set(u32, leaf + RB_LEFT, root);
    expect(() => rbValidate(tree.reader(), 100)).toThrow(KwqError);
  });
});

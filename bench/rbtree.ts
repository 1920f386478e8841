/**
 * Question: what does the Wasm red-black tree (the loop driver's worker tree,
 * keyed by 64-bit cgroup ids) cost per insert, lookup and erase at 1k, 10k and
 * 100k keys, next to the same algorithm in pure TypeScript (bench/ref/rbtree.ts)
 * and next to js-sdsl's OrderedMap, the ordered map JavaScript users pick?
 * Floor (issue 2): Wasm >= 1.5x js-sdsl OrderedMap for each operation and size.
 *
 * Every implementation gets the same keys from a seeded PRNG, in the same orders.
 * Keys are random 53-bit values (a 21-bit high word, a 32-bit low word): 64-bit
 * keys for the trees, and exact doubles for OrderedMap<number, number>, so js-sdsl
 * compares plain numbers (BigInt keys would make it several times slower, which
 * would flatter the ratio). One tinybench iteration is a whole batch of N
 * operations (far above 1 us); ns/op = the median iteration time / N. The Wasm
 * figures go through the batch entry points of the typed handle (one
 * JS-to-Wasm call per staging chunk), as a driver would; the offset checks and
 * the staging copies are inside the timed region.
 *
 * Two protocols (issue 10), each beside the native C kernel rbtree (bench/native,
 * the same keys from the same seed, the same orders):
 *  - same keys: today's tinybench tasks above, one key set per size repeated every
 *    iteration (the branch predictor learns it: a C tree at 1k keys looks up in
 *    ~10 ns instead of ~40);
 *  - fresh keys: each cycle draws new keys (the PRNG stream continues), then inserts
 *    them, looks them up in a new shuffled order and erases them in another; only
 *    the three phases are timed (key generation and staging arrays are not); ns/op
 *    = the median cycle's phase time / N (at least 3 cycles).
 * Every figure of this section is a median (tinybench's p50 for the same-key tasks;
 * their mean is printed beside it): this machine is shared.
 * Floor (issue 10): fresh keys, kwq/C <= 1.25 for each operation and size.
 */
import { Bench, type Task } from 'tinybench';
import { OrderedMap } from 'js-sdsl';
import { compileKwq, createSharedMemory, instantiateKwq } from '../src/wasm/module.js';
import { RbTree } from '../src/wasm/rbtree.js';
import { RefRbTree } from './ref/rbtree.js';
import { hasNative, nativeRef } from './native/native.js';
import type { BenchScript, BenchSection, Figure, Ratio } from './types.js';
import { median } from './stats.js';

const SIZES = [1_000, 10_000, 100_000] as const;
const OPS = ['insert', 'lookup', 'erase'] as const;
type Op = (typeof OPS)[number];
const IMPLS = ['wasm', 'ts reference', 'js-sdsl OrderedMap'] as const;
type Impl = (typeof IMPLS)[number];
const FLOOR_VS_SDSL = 1.5;
const FLOOR_FRESH_VS_C = 1.25;
/** the seed of size index i; the C reference is given the same */
const seedOf = (si: number): number => 0x5eed + si;

/** The struct each Wasm node lives in: rb_node at +0, the u64 cgroup id at +16. */
const STRUCT_BYTES = 24;
const KEY_OFF = 16;
const SCRATCH_BYTES = 128 * 1024;

/** Seeded keys and orders for one size, shared by every implementation. */
interface KeySet {
  n: number;
  /** insertion order */
  lo: Uint32Array;
  hi: Uint32Array;
  u64: BigUint64Array;
  num: Float64Array;
  /** a shuffled order of indices for lookups, another for erases */
  lookupOrder: Uint32Array;
  eraseOrder: Uint32Array;
}

/** xorshift32 (Marsaglia): deterministic, fast, good enough for keys and shuffles. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function shuffled(n: number, next: () => number): Uint32Array {
  const a = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

function makeKeys(n: number, seed: number): KeySet {
  const next = rng(seed);
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  const num = new Float64Array(n);
  const seen = new Set<number>();
  for (let i = 0; i < n; ) {
    const h = next() & 0x1f_ffff;
    const l = next();
    const v = h * 2 ** 32 + l;
    if (seen.has(v)) continue; // keys are unique, as cgroup ids are
    seen.add(v);
    lo[i] = l;
    hi[i] = h;
    num[i] = v;
    i++;
  }
  const u64 = new BigUint64Array(n);
  const u32 = new Uint32Array(u64.buffer);
  for (let i = 0; i < n; i++) {
    u32[2 * i] = lo[i]!;
    u32[2 * i + 1] = hi[i]!;
  }
  return { n, lo, hi, u64, num, lookupOrder: shuffled(n, next), eraseOrder: shuffled(n, next) };
}

/** Gather `src` in `order` (built once, outside the timed region). */
function permute<T extends Uint32Array | Int32Array | Float64Array | BigUint64Array>(src: T, order: Uint32Array, out: T): T {
  for (let i = 0; i < order.length; i++) (out as unknown as number[])[i] = (src as unknown as number[])[order[i]!]!;
  return out;
}

type Hooks = { beforeAll?: () => void; beforeEach?: () => void };
interface Case {
  fn: () => void;
  hooks: Hooks;
}

function wasmCases(keys: KeySet, tree: RbTree, nodeBase: number): Record<Op, Case> {
  const n = keys.n;
  const nodes = Uint32Array.from({ length: n }, (_, i) => nodeBase + i * STRUCT_BYTES);
  tree.writeKeys(nodes, keys.u64);
  const lookupKeys = permute(keys.u64, keys.lookupOrder, new BigUint64Array(n));
  const eraseNodes = permute(nodes, keys.eraseOrder, new Uint32Array(n));
  const out = new Uint32Array(n);
  const fill = () => {
    tree.init();
    if (tree.insertBatch(nodes) !== n) throw new Error('rbtree bench (wasm): insert lost keys');
  };
  return {
    insert: { fn: fill, hooks: { beforeEach: () => tree.init() } },
    lookup: {
      fn: () => {
        if (tree.findBatch(lookupKeys, out) !== n) throw new Error('rbtree bench (wasm): lookup missed keys');
      },
      hooks: { beforeAll: fill },
    },
    erase: {
      fn: () => {
        tree.eraseBatch(eraseNodes);
        if (!tree.empty) throw new Error('rbtree bench (wasm): erase left nodes');
      },
      hooks: { beforeEach: fill },
    },
  };
}

function refCases(keys: KeySet): Record<Op, Case> {
  const n = keys.n;
  const tree = new RefRbTree(n);
  const nodes = Int32Array.from({ length: n }, (_, i) => tree.node(i + 1));
  for (let i = 0; i < n; i++) tree.setKey(nodes[i]!, keys.lo[i]!, keys.hi[i]!);
  const lookupLo = permute(keys.lo, keys.lookupOrder, new Uint32Array(n));
  const lookupHi = permute(keys.hi, keys.lookupOrder, new Uint32Array(n));
  const eraseNodes = permute(nodes, keys.eraseOrder, new Int32Array(n));
  const out = new Int32Array(n);
  const fill = () => {
    tree.init();
    if (tree.insertBatch(nodes) !== n) throw new Error('rbtree bench (ts reference): insert lost keys');
  };
  return {
    insert: { fn: fill, hooks: { beforeEach: () => tree.init() } },
    lookup: {
      fn: () => {
        if (tree.findBatch(lookupLo, lookupHi, out) !== n) throw new Error('rbtree bench (ts reference): lookup missed keys');
      },
      hooks: { beforeAll: fill },
    },
    erase: {
      fn: () => {
        tree.eraseBatch(eraseNodes);
        if (!tree.empty) throw new Error('rbtree bench (ts reference): erase left nodes');
      },
      hooks: { beforeEach: fill },
    },
  };
}

function sdslCases(keys: KeySet): Record<Op, Case> {
  const n = keys.n;
  const map = new OrderedMap<number, number>();
  const num = keys.num;
  const lookupKeys = permute(num, keys.lookupOrder, new Float64Array(n));
  const eraseKeys = permute(num, keys.eraseOrder, new Float64Array(n));
  const fill = () => {
    map.clear();
    for (let i = 0; i < n; i++) map.setElement(num[i]!, i);
    if (map.size() !== n) throw new Error('rbtree bench (js-sdsl): insert lost keys');
  };
  return {
    insert: { fn: fill, hooks: { beforeEach: () => map.clear() } },
    lookup: {
      fn: () => {
        let found = 0;
        for (let i = 0; i < n; i++) if (map.getElementByKey(lookupKeys[i]!) !== undefined) found++;
        if (found !== n) throw new Error('rbtree bench (js-sdsl): lookup missed keys');
      },
      hooks: { beforeAll: fill },
    },
    erase: {
      fn: () => {
        for (let i = 0; i < n; i++) map.eraseElementByKey(eraseKeys[i]!);
        if (map.size() !== 0) throw new Error('rbtree bench (js-sdsl): erase left keys');
      },
      hooks: { beforeEach: fill },
    },
  };
}

interface FreshResult {
  insert: number;
  lookup: number;
  erase: number;
  cycles: number;
}

/**
 * The fresh-keys protocol for one implementation: `cycle(keys)` is given a new key
 * set and returns the three phase times in ms; runs one untimed warm-up cycle, then
 * cycles until `ms` elapsed (at least 2).
 */
function freshLoop(n: number, seed: number, ms: number, cycle: (k: FreshKeys) => [number, number, number]): FreshResult {
  const next = rng(seed);
  const draw = (): FreshKeys => freshKeys(n, next);
  cycle(draw());
  const ins: number[] = [];
  const look: number[] = [];
  const er: number[] = [];
  const end = performance.now() + ms;
  while (ins.length < 3 || performance.now() < end) {
    const [a, b, c] = cycle(draw());
    ins.push(a);
    look.push(b);
    er.push(c);
  }
  // the median cycle of each phase, as the C reference: a preempted cycle moves the mean only
  const per = (t: number[]) => (median(t) * 1e6) / n;
  return { insert: per(ins), lookup: per(look), erase: per(er), cycles: ins.length };
}

/** A fresh key set (the C reference's make_keys: keys, then a lookup and an erase order). */
interface FreshKeys {
  lo: Uint32Array;
  hi: Uint32Array;
  u64: BigUint64Array;
  lookupOrder: Uint32Array;
  eraseOrder: Uint32Array;
}

function freshKeys(n: number, next: () => number): FreshKeys {
  const u64 = new BigUint64Array(n);
  const u32 = new Uint32Array(u64.buffer);
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    hi[i] = next() & 0x1f_ffff;
    lo[i] = next();
    u32[2 * i] = lo[i]!;
    u32[2 * i + 1] = hi[i]!;
  }
  return { lo, hi, u64, lookupOrder: shuffled(n, next), eraseOrder: shuffled(n, next) };
}

function freshWasm(n: number, seed: number, ms: number, tree: RbTree, nodeBase: number): FreshResult {
  const nodes = Uint32Array.from({ length: n }, (_, i) => nodeBase + i * STRUCT_BYTES);
  const out = new Uint32Array(n);
  const lookupKeys = new BigUint64Array(n);
  const eraseNodes = new Uint32Array(n);
  return freshLoop(n, seed, ms, (k) => {
    tree.writeKeys(nodes, k.u64);
    permute(k.u64, k.lookupOrder, lookupKeys);
    permute(nodes, k.eraseOrder, eraseNodes);
    tree.init();
    const t0 = performance.now();
    const ins = tree.insertBatch(nodes);
    const t1 = performance.now();
    const found = tree.findBatch(lookupKeys, out);
    const t2 = performance.now();
    tree.eraseBatch(eraseNodes);
    const t3 = performance.now();
    if (ins !== n || found !== n || !tree.empty) throw new Error(`rbtree bench (wasm, fresh keys): inserted ${ins}, found ${found} of ${n}, empty after erase ${tree.empty}`);
    return [t1 - t0, t2 - t1, t3 - t2];
  });
}

function freshRef(n: number, seed: number, ms: number): FreshResult {
  const tree = new RefRbTree(n);
  const nodes = Int32Array.from({ length: n }, (_, i) => tree.node(i + 1));
  const out = new Int32Array(n);
  const lookupLo = new Uint32Array(n);
  const lookupHi = new Uint32Array(n);
  const eraseNodes = new Int32Array(n);
  return freshLoop(n, seed, ms, (k) => {
    for (let i = 0; i < n; i++) tree.setKey(nodes[i]!, k.lo[i]!, k.hi[i]!);
    permute(k.lo, k.lookupOrder, lookupLo);
    permute(k.hi, k.lookupOrder, lookupHi);
    permute(nodes, k.eraseOrder, eraseNodes);
    tree.init();
    const t0 = performance.now();
    const ins = tree.insertBatch(nodes);
    const t1 = performance.now();
    const found = tree.findBatch(lookupLo, lookupHi, out);
    const t2 = performance.now();
    tree.eraseBatch(eraseNodes);
    const t3 = performance.now();
    if (ins !== n || found !== n || !tree.empty) throw new Error(`rbtree bench (ts reference, fresh keys): inserted ${ins}, found ${found} of ${n}`);
    return [t1 - t0, t2 - t1, t3 - t2];
  });
}

interface NativeRb { n: number; cycles: number; insert: number; lookup: number; erase: number; lost: number; missed: number; left: number; valid: boolean }

function sizeLabel(n: number): string {
  return n >= 1000 ? `${n / 1000}k` : String(n);
}

const rbtreeBench: BenchScript = async ({ quick }) => {
  // One shared memory for every size: a root and a node region per size, one staging area.
  const nodeBytes = SIZES.reduce((a, n) => a + n * STRUCT_BYTES, 0);
  const nodeStart = 4096 + SCRATCH_BYTES;
  const memory = createSharedMemory(nodeStart + nodeBytes);
  const inst = instantiateKwq(compileKwq(), memory);

  const bench = new Bench({
    name: 'rbtree',
    time: quick ? 25 : 400,
    iterations: quick ? 3 : 10,
    warmupTime: quick ? 10 : 100,
    warmupIterations: quick ? 1 : 3,
  });
  const meta = new Map<string, { n: number; op: Op; impl: Impl }>();
  const trees: { n: number; tree: RbTree; nodeBase: number; seed: number }[] = [];
  let nodeBase = nodeStart;
  SIZES.forEach((n, si) => {
    const keys = makeKeys(n, seedOf(si));
    const tree = new RbTree(inst.exports, memory, { root: 64 + 8 * si, keyOff: KEY_OFF, scratch: 4096, scratchBytes: SCRATCH_BYTES });
    const cases: Record<Impl, Record<Op, Case>> = {
      wasm: wasmCases(keys, tree, nodeBase),
      'ts reference': refCases(keys),
      'js-sdsl OrderedMap': sdslCases(keys),
    };
    trees.push({ n, tree, nodeBase, seed: seedOf(si) });
    nodeBase += n * STRUCT_BYTES;
    for (const op of OPS) {
      for (const impl of IMPLS) {
        const name = `rbtree ${op} ${sizeLabel(n)} (${impl})`;
        const c = cases[impl][op];
        meta.set(name, { n, op, impl });
        bench.add(name, c.fn, c.hooks);
      }
    }
  });

  await bench.run();

  const nsPerOp = new Map<string, number>();
  const figures: Figure[] = [];
  for (const task of bench.tasks as Task[]) {
    const m = meta.get(task.name)!;
    const r = task.result;
    if (r.state !== 'completed') {
      const err = r.state === 'errored' ? r.error : new Error(r.state);
      throw new Error(`rbtree bench: task "${task.name}" did not complete: ${err.message}`);
    }
    const ns = (r.latency.p50! * 1e6) / m.n;
    nsPerOp.set(task.name, ns);
    figures.push({
      name: task.name,
      value: ns,
      unit: 'ns/op',
      notes: { keys: m.n, samples: r.latency.samplesCount, 'mean ns/op': Number(((r.latency.mean * 1e6) / m.n).toFixed(2)), 'rme %': Number(r.latency.rme.toFixed(1)) },
    });
  }
  const ratios: Ratio[] = [];
  for (const n of SIZES) {
    for (const op of OPS) {
      const at = (impl: Impl) => nsPerOp.get(`rbtree ${op} ${sizeLabel(n)} (${impl})`)!;
      const vsSdsl = at('js-sdsl OrderedMap') / at('wasm');
      ratios.push({ name: `rbtree ${op} ${sizeLabel(n)}: wasm vs js-sdsl OrderedMap`, value: vsSdsl, floor: FLOOR_VS_SDSL, pass: vsSdsl >= FLOOR_VS_SDSL });
      ratios.push({ name: `rbtree ${op} ${sizeLabel(n)}: wasm vs ts reference`, value: at('ts reference') / at('wasm') });
    }
  }
  // the native C kernel rbtree on the same protocol, and the fresh-keys protocol for all
  const notes: string[] = [];
  const c = nativeRef();
  if (!hasNative(c)) notes.push(c.note);
  const cMs = quick ? 60 : 400;
  for (const t of trees) {
    const label = sizeLabel(t.n);
    const check = (r: NativeRb): string => (r.valid && !r.lost && !r.missed && !r.left ? 'ok' : `FAILED (valid ${r.valid}, lost ${r.lost}, missed ${r.missed}, left ${r.left})`);
    if (hasNative(c)) {
      const same = c.run<NativeRb>(['rbtree', t.n, t.seed, cMs, 'same']);
      for (const op of OPS) {
        figures.push({ name: `rbtree ${op} ${label} (native C kernel rbtree)`, value: same[op], unit: 'ns/op', notes: { keys: t.n, cycles: same.cycles, 'tree check': check(same) } });
        const w = nsPerOp.get(`rbtree ${op} ${label} (wasm)`)!;
        ratios.push({ name: `rbtree ${op} ${label}, same keys: kwq/C (ns, lower is better)`, value: w / same[op] });
      }
    }
    const fresh = {
      wasm: freshWasm(t.n, t.seed, cMs, t.tree, t.nodeBase),
      ts: freshRef(t.n, t.seed, cMs),
      c: hasNative(c) ? c.run<NativeRb>(['rbtree', t.n, t.seed, cMs, 'fresh']) : undefined,
    };
    for (const op of OPS) {
      figures.push({ name: `rbtree ${op} ${label}, fresh keys (wasm)`, value: fresh.wasm[op], unit: 'ns/op', notes: { keys: t.n, cycles: fresh.wasm.cycles } });
      figures.push({ name: `rbtree ${op} ${label}, fresh keys (ts reference)`, value: fresh.ts[op], unit: 'ns/op', notes: { keys: t.n, cycles: fresh.ts.cycles } });
      if (fresh.c) {
        figures.push({ name: `rbtree ${op} ${label}, fresh keys (native C kernel rbtree)`, value: fresh.c[op], unit: 'ns/op', notes: { keys: t.n, cycles: fresh.c.cycles, 'tree check': check(fresh.c) } });
        const k = fresh.wasm[op] / fresh.c[op];
        ratios.push({ name: `rbtree ${op} ${label}, fresh keys: kwq/C (ns, lower is better)`, value: k, floor: FLOOR_FRESH_VS_C, pass: k <= FLOOR_FRESH_VS_C });
      }
      ratios.push({ name: `rbtree ${op} ${label}, fresh keys: wasm vs ts reference`, value: fresh.ts[op] / fresh.wasm[op] });
    }
  }
  const section: BenchSection = {
    title: 'rbtree: insert, lookup and erase at 1k/10k/100k keys, Wasm vs TS reference vs js-sdsl OrderedMap vs the native C kernel rbtree; same keys and fresh keys per cycle',
    figures,
    ratios,
    notes,
  };
  return section;
};

export default rbtreeBench;

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
 * operations (far above 1 us); ns/op = the mean iteration time / N. The Wasm
 * figures go through the batch entry points of the typed handle (one
 * JS-to-Wasm call per staging chunk), as a driver would; the offset checks and
 * the staging copies are inside the timed region.
 */
import { Bench, type Task } from 'tinybench';
import { OrderedMap } from 'js-sdsl';
import { compileKwq, createSharedMemory, instantiateKwq } from '../src/wasm/module.js';
import { RbTree } from '../src/wasm/rbtree.js';
import { RefRbTree } from './ref/rbtree.js';
import type { BenchScript, BenchSection, Figure, Ratio } from './types.js';

const SIZES = [1_000, 10_000, 100_000] as const;
const OPS = ['insert', 'lookup', 'erase'] as const;
type Op = (typeof OPS)[number];
const IMPLS = ['wasm', 'ts reference', 'js-sdsl OrderedMap'] as const;
type Impl = (typeof IMPLS)[number];
const FLOOR_VS_SDSL = 1.5;

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
  let nodeBase = nodeStart;
  SIZES.forEach((n, si) => {
    const keys = makeKeys(n, 0x5eed + si);
    const tree = new RbTree(inst.exports, memory, { root: 64 + 8 * si, keyOff: KEY_OFF, scratch: 4096, scratchBytes: SCRATCH_BYTES });
    const cases: Record<Impl, Record<Op, Case>> = {
      wasm: wasmCases(keys, tree, nodeBase),
      'ts reference': refCases(keys),
      'js-sdsl OrderedMap': sdslCases(keys),
    };
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
    const ns = (r.latency.mean * 1e6) / m.n;
    nsPerOp.set(task.name, ns);
    figures.push({
      name: task.name,
      value: ns,
      unit: 'ns/op',
      notes: { keys: m.n, samples: r.latency.samplesCount, 'rme %': Number(r.latency.rme.toFixed(1)) },
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
  const section: BenchSection = {
    title: 'rbtree: insert, lookup and erase at 1k/10k/100k keys, Wasm vs TS reference vs js-sdsl OrderedMap',
    figures,
    ratios,
  };
  return section;
};

export default rbtreeBench;

/**
 * The typed handle over the Wasm red-black tree (assembly/rbtree.ts), and a
 * checker of the red-black invariants that reads any tree laid out the kernel's
 * way (the Wasm one, or bench/ref/rbtree.ts).
 *
 * The tree is not lock-free (include/linux/rbtree.h): callers of every method hold
 * the lock that protects the tree (loop's work lock). The handle adds no locking.
 *
 * Node layout (assembly/rbtree.ts has the picture): a 12-byte `rb_node`
 * {__rb_parent_color, rb_right, rb_left} embedded in a caller-allocated struct,
 * and the struct's u64 key at `node + keyOff`. Offsets are bytes in the shared
 * memory; 0 is NULL.
 *
 * Batches are staged in a host-assigned scratch area, so a batch costs one
 * JS-to-Wasm call per `scratchBytes`-sized chunk and allocates nothing per item:
 *
 *   scratch ──► ┌───────────────────────────┬────────────────────────┐
 *   insert/erase│ u32 node[cap4]            │                        │ cap4  = bytes / 4
 *   find        │ u64 key[cap12]            │ u32 out[cap12]         │ cap12 = bytes / 12
 *               └───────────────────────────┴────────────────────────┘
 */
import { KwqError } from '../kernel/error.js';

/**
 * The two things the handle needs from an instance and its memory. Structural, so
 * that this file type-checks without the DOM/WebAssembly lib (tsconfig has only
 * ES2022 + node); `instance.exports` and a `WebAssembly.Memory` both fit.
 */
export type WasmExportsLike = Record<string, unknown>;
export interface WasmMemoryLike {
  readonly buffer: ArrayBufferLike;
}

/** Colour bit values in `__rb_parent_color` (include/linux/rbtree_augmented.h). */
export const RB_RED = 0;
export const RB_BLACK = 1;
/** Byte offsets of the rb_node fields, and its size (assembly/rbtree.ts). */
export const RB_PARENT_COLOR = 0;
export const RB_RIGHT = 4;
export const RB_LEFT = 8;
export const RB_NODE_SIZE = 12;
export const RB_ROOT_SIZE = 4;

/** The rbtree entry points of kwq.wasm (u32 offsets in, u32 offsets out). */
export interface RbTreeExports {
  rb_root_init(root: number): void;
  rb_empty_root(root: number): number;
  rb_clear_node(node: number): void;
  rb_empty_node(node: number): number;
  rb_link_node(node: number, parent: number, linkPtr: number): void;
  rb_insert_color(node: number, root: number): void;
  rb_erase(node: number, root: number): void;
  rb_replace_node(victim: number, nw: number, root: number): void;
  rb_first(root: number): number;
  rb_last(root: number): number;
  rb_next(node: number): number;
  rb_prev(node: number): number;
  rb_find_u64(root: number, keyLo: number, keyHi: number, keyOff: number): number;
  rb_find_add_u64(root: number, node: number, keyOff: number): number;
  rb_insert_batch_u64(root: number, nodesPtr: number, n: number, keyOff: number): number;
  rb_find_batch_u64(root: number, keysPtr: number, n: number, outPtr: number, keyOff: number): number;
  rb_erase_batch(root: number, nodesPtr: number, n: number): number;
  rb_nodes_check(nodesPtr: number, n: number, lo: number, hi: number): number;
}

const EXPORT_NAMES: readonly (keyof RbTreeExports)[] = [
  'rb_root_init', 'rb_empty_root', 'rb_clear_node', 'rb_empty_node', 'rb_link_node',
  'rb_insert_color', 'rb_erase', 'rb_replace_node', 'rb_first', 'rb_last', 'rb_next',
  'rb_prev', 'rb_find_u64', 'rb_find_add_u64', 'rb_insert_batch_u64', 'rb_find_batch_u64',
  'rb_erase_batch', 'rb_nodes_check',
];

/** Pick the rbtree functions out of an instance's exports; throws KwqError if one is missing. */
export function rbTreeExports(exports: WasmExportsLike): RbTreeExports {
  for (const name of EXPORT_NAMES) {
    if (typeof exports[name] !== 'function') {
      throw new KwqError('RbTree', `the Wasm instance does not export ${name}(); is build/kwq.wasm out of date?`);
    }
  }
  return exports as unknown as RbTreeExports;
}

/** Where one tree and its staging area live in the shared memory (host-assigned). */
export interface RbTreeLayout {
  /** offset of the `rb_root` word (4-byte aligned, not 0) */
  root: number;
  /** signed byte offset from a node to the u64 key of its embedding struct (a multiple of 4) */
  keyOff: number;
  /** offset of the staging area for batches (8-byte aligned, not 0) */
  scratch: number;
  /** its size in bytes (at least 12: one find) */
  scratchBytes: number;
}

/** What the invariant checker needs to read a tree laid out the kernel's way. */
export interface RbReader {
  /** the root node (the word in `rb_root`), 0 when empty */
  rootNode(): number;
  parentColor(node: number): number;
  right(node: number): number;
  left(node: number): number;
  /** the key's high and low 32 bits, unsigned */
  keyHi(node: number): number;
  keyLo(node: number): number;
}

/** The shape of a tree that passed rbValidate(). */
export interface RbShape {
  count: number;
  /** black nodes on every root-to-leaf path (the same on all of them) */
  blackHeight: number;
  /** nodes on the longest root-to-leaf path */
  height: number;
}

/**
 * Check every red-black invariant by reading memory: the root is black with no
 * parent; no red node has a red child; every path has the same number of black
 * nodes; keys strictly increase in order; every child's parent word points back
 * at its parent; no offset has bit 1 set; at most `maxNodes` nodes (a cycle or a
 * runaway link fails here instead of looping). Throws KwqError naming the first
 * violation and the node where it was found; returns the tree's shape.
 */
export function rbValidate(r: RbReader, maxNodes: number, where = 'rbValidate'): RbShape {
  const root = r.rootNode();
  if (root === 0) return { count: 0, blackHeight: 0, height: 0 };
  const fail = (what: string): never => {
    throw new KwqError(where, what);
  };
  const hex = (n: number): string => '0x' + (n >>> 0).toString(16);
  const rootPc = r.parentColor(root) >>> 0;
  if (rootPc !== RB_BLACK) {
    fail(`root ${hex(root)} has parent/colour word ${hex(rootPc)}, want parent 0 and black`);
  }
  let count = 0;
  let height = 0;
  let havePrev = false;
  let prevHi = 0;
  let prevLo = 0;
  // Returns the black height below and including n (NIL leaves count 0).
  const walk = (n: number, parent: number, parentRed: boolean, depth: number): number => {
    if (n === 0) {
      if (depth > height) height = depth;
      return 0;
    }
    if (++count > maxNodes) fail(`more than ${maxNodes} nodes reachable from the root: a cycle or a stray link`);
    if ((n & 3) !== 0) fail(`node ${hex(n)} (child of ${hex(parent)}) is not 4-byte aligned`);
    const pc = r.parentColor(n) >>> 0;
    if ((pc & 2) !== 0) fail(`node ${hex(n)} has bit 1 set in its parent/colour word ${hex(pc)}`);
    if ((pc & ~3) >>> 0 !== parent >>> 0) {
      fail(`node ${hex(n)} says its parent is ${hex(pc & ~3)}, but it hangs below ${hex(parent)}`);
    }
    const red = (pc & 1) === RB_RED;
    if (red && parentRed) fail(`red node ${hex(n)} has a red parent ${hex(parent)}`);
    const lh = walk(r.left(n) >>> 0, n, red, depth + 1);
    const hi = r.keyHi(n) >>> 0;
    const lo = r.keyLo(n) >>> 0;
    if (havePrev && (hi < prevHi || (hi === prevHi && lo <= prevLo))) {
      fail(`in-order keys not strictly increasing at node ${hex(n)}: ${fmtKey(prevHi, prevLo)} then ${fmtKey(hi, lo)}`);
    }
    havePrev = true;
    prevHi = hi;
    prevLo = lo;
    const rh = walk(r.right(n) >>> 0, n, red, depth + 1);
    if (lh !== rh) fail(`node ${hex(n)}: black height ${lh} on the left, ${rh} on the right`);
    return lh + (red ? 0 : 1);
  };
  const blackHeight = walk(root >>> 0, 0, false, 0);
  return { count, blackHeight, height };
}

function fmtKey(hi: number, lo: number): string {
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

/**
 * One u64-keyed red-black tree in the shared memory. Nodes are byte offsets of
 * `rb_node`s the caller allocated; their keys are the u64s at `node + keyOff`.
 */
export class RbTree {
  readonly root: number;
  readonly keyOff: number;
  private readonly x: RbTreeExports;
  private readonly u32: Uint32Array;
  private readonly u64: BigUint64Array;
  private readonly scratch: number;
  private readonly cap4: number;
  private readonly cap12: number;
  private readonly memBytes: number;
  /** the smallest and largest node offsets nodeOk() accepts (multiples of 4 in between) */
  private readonly nodeLo: number;
  private readonly nodeHi: number;

  constructor(exports: WasmExportsLike, memory: WasmMemoryLike, layout: RbTreeLayout) {
    this.x = rbTreeExports(exports);
    // Memory is sized once (DESIGN.md rule 5): these views cover all of it for good.
    const buf = memory.buffer;
    this.memBytes = buf.byteLength;
    const { root, keyOff, scratch, scratchBytes } = layout;
    const bad = (what: string): never => {
      throw new KwqError('new RbTree', what);
    };
    if (!Number.isInteger(root) || root <= 0 || root % 4 !== 0 || root + RB_ROOT_SIZE > this.memBytes) {
      bad(`layout.root ${root} must be a non-zero multiple of 4 inside the ${this.memBytes}-byte memory`);
    }
    if (!Number.isInteger(keyOff) || keyOff % 4 !== 0 || Math.abs(keyOff) > 1 << 20) {
      bad(`layout.keyOff ${keyOff} must be a multiple of 4 (a signed byte offset from a node to its u64 key)`);
    }
    if (!Number.isInteger(scratch) || scratch <= 0 || scratch % 8 !== 0) {
      bad(`layout.scratch ${scratch} must be a non-zero multiple of 8`);
    }
    if (!Number.isInteger(scratchBytes) || scratchBytes < 12 || scratch + scratchBytes > this.memBytes) {
      bad(`layout.scratchBytes ${scratchBytes} must be >= 12 and end inside the ${this.memBytes}-byte memory`);
    }
    if (root + RB_ROOT_SIZE > scratch && root < scratch + scratchBytes) {
      bad(`layout.root ${root} lies inside the scratch area [${scratch}, ${scratch + scratchBytes})`);
    }
    this.root = root;
    this.keyOff = keyOff;
    this.scratch = scratch;
    this.cap4 = Math.floor(scratchBytes / 4);
    this.cap12 = Math.floor(scratchBytes / 12);
    this.u32 = new Uint32Array(buf);
    this.u64 = new BigUint64Array(buf, 0, Math.floor(this.memBytes / 8));
    // nodeOk() as a range: node > 0, node + keyOff >= 0, node + RB_NODE_SIZE <= memBytes,
    // node + keyOff + 8 <= memBytes (both bounds are multiples of 4)
    this.nodeLo = Math.max(4, -keyOff);
    this.nodeHi = Math.min(this.memBytes - RB_NODE_SIZE, this.memBytes - 8 - keyOff) & ~3;
    if (this.nodeHi < this.nodeLo) [this.nodeLo, this.nodeHi] = [4, 0]; // no node fits: every offset fails
  }

  /** RB_ROOT: empty the tree. Linked nodes are abandoned, not freed (they are the caller's). */
  init(): void {
    this.x.rb_root_init(this.root);
  }

  /** RB_EMPTY_ROOT */
  get empty(): boolean {
    return this.u32[this.root >>> 2] === 0;
  }

  /** Write the u64 key of the struct embedding `node` (before inserting it). */
  setKey(node: number, key: bigint): void {
    this.checkNode(node, 'RbTree.setKey');
    const a = (node + this.keyOff) >>> 2;
    this.u32[a] = Number(key & 0xffffffffn);
    this.u32[a + 1] = Number((key >> 32n) & 0xffffffffn);
  }

  /** The u64 key of the struct embedding `node`. */
  key(node: number): bigint {
    const a = (node + this.keyOff) >>> 2;
    return (BigInt(this.u32[a + 1]!) << 32n) | BigInt(this.u32[a]!);
  }

  /** Write keys[i] into nodes[i]'s struct for every i; no BigInt is created. */
  writeKeys(nodes: Uint32Array, keys: BigUint64Array): void {
    if (keys.length < nodes.length) {
      throw new KwqError('RbTree.writeKeys', `${nodes.length} nodes but only ${keys.length} keys`);
    }
    this.checkNodes(nodes, nodes.length, 'RbTree.writeKeys');
    const k32 = new Uint32Array(keys.buffer, keys.byteOffset, keys.length * 2);
    const u32 = this.u32;
    const off = this.keyOff;
    for (let i = 0; i < nodes.length; i++) {
      const a = (nodes[i]! + off) >>> 2;
      u32[a] = k32[2 * i]!;
      u32[a + 1] = k32[2 * i + 1]!;
    }
  }

  /** rb_find(): the node holding `key`, or 0. */
  find(key: bigint): number {
    return this.x.rb_find_u64(this.root, Number(key & 0xffffffffn), Number((key >> 32n) & 0xffffffffn), this.keyOff) >>> 0;
  }

  /** rb_find_add(): 0 after inserting `node`, or the node already holding its key (node stays out). */
  findAdd(node: number): number {
    this.checkNode(node, 'RbTree.findAdd');
    return this.x.rb_find_add_u64(this.root, node, this.keyOff) >>> 0;
  }

  /** rb_erase(): `node` must be in this tree. */
  erase(node: number): void {
    this.checkNode(node, 'RbTree.erase');
    this.x.rb_erase(node, this.root);
  }

  /** rb_replace_node(): `nw` takes `victim`'s place; it must sort where victim did. */
  replace(victim: number, nw: number): void {
    this.checkNode(victim, 'RbTree.replace');
    this.checkNode(nw, 'RbTree.replace');
    this.x.rb_replace_node(victim, nw, this.root);
  }

  first(): number {
    return this.x.rb_first(this.root) >>> 0;
  }
  last(): number {
    return this.x.rb_last(this.root) >>> 0;
  }
  next(node: number): number {
    return this.x.rb_next(node) >>> 0;
  }
  prev(node: number): number {
    return this.x.rb_prev(node) >>> 0;
  }

  /**
   * rb_find_add() for nodes[0..n) in order, one Wasm call per scratch-sized chunk.
   * results[i] (if given) gets 0 when nodes[i] was inserted, else the node that
   * already held its key. Returns how many were inserted. Every offset is checked
   * before anything changes (a bad one throws KwqError).
   */
  insertBatch(nodes: Uint32Array, results?: Uint32Array, n: number = nodes.length): number {
    this.checkCount(nodes, n, 'RbTree.insertBatch');
    if (results && results.length < n) {
      throw new KwqError('RbTree.insertBatch', `results has room for ${results.length} of ${n} nodes`);
    }
    const one = this.precheck(nodes, n, 'RbTree.insertBatch');
    const s4 = this.scratch >>> 2;
    let inserted = 0;
    for (let i = 0; i < n; i += this.cap4) {
      const m = Math.min(this.cap4, n - i);
      this.stage(nodes, i, m, one, 'RbTree.insertBatch');
      inserted += this.x.rb_insert_batch_u64(this.root, this.scratch, m, this.keyOff);
      if (results) results.set(this.u32.subarray(s4, s4 + m), i);
    }
    return inserted;
  }

  /** rb_find() for keys[0..n): out[i] = the node holding keys[i], or 0. Returns how many were found. */
  findBatch(keys: BigUint64Array, out: Uint32Array, n: number = keys.length): number {
    if (out.length < n || keys.length < n) {
      throw new KwqError('RbTree.findBatch', `n = ${n} but keys has ${keys.length} and out has ${out.length}`);
    }
    const s8 = this.scratch >>> 3;
    let found = 0;
    for (let i = 0; i < n; i += this.cap12) {
      const m = Math.min(this.cap12, n - i);
      const outPtr = this.scratch + m * 8;
      this.u64.set(i === 0 && m === keys.length ? keys : keys.subarray(i, i + m), s8);
      found += this.x.rb_find_batch_u64(this.root, this.scratch, m, outPtr, this.keyOff);
      out.set(this.u32.subarray(outPtr >>> 2, (outPtr >>> 2) + m), i);
    }
    return found;
  }

  /** findBatch() with each key split into its low and high 32 bits. */
  findBatchSplit(lo: Uint32Array, hi: Uint32Array, out: Uint32Array, n: number = lo.length): number {
    if (hi.length < n || lo.length < n || out.length < n) {
      throw new KwqError('RbTree.findBatchSplit', `n = ${n} but lo has ${lo.length}, hi ${hi.length}, out ${out.length}`);
    }
    const u32 = this.u32;
    const s4 = this.scratch >>> 2;
    let found = 0;
    for (let i = 0; i < n; i += this.cap12) {
      const m = Math.min(this.cap12, n - i);
      for (let j = 0; j < m; j++) {
        u32[s4 + 2 * j] = lo[i + j]!;
        u32[s4 + 2 * j + 1] = hi[i + j]!;
      }
      const outPtr = this.scratch + m * 8;
      found += this.x.rb_find_batch_u64(this.root, this.scratch, m, outPtr, this.keyOff);
      out.set(u32.subarray(outPtr >>> 2, (outPtr >>> 2) + m), i);
    }
    return found;
  }

  /**
   * rb_erase() then RB_CLEAR_NODE for nodes[0..n) in order. Each must be in this
   * tree, once (the kernel's contract: not checked beyond the offsets). Returns n.
   */
  eraseBatch(nodes: Uint32Array, n: number = nodes.length): number {
    this.checkCount(nodes, n, 'RbTree.eraseBatch');
    const one = this.precheck(nodes, n, 'RbTree.eraseBatch');
    for (let i = 0; i < n; i += this.cap4) {
      const m = Math.min(this.cap4, n - i);
      this.stage(nodes, i, m, one, 'RbTree.eraseBatch');
      this.x.rb_erase_batch(this.root, this.scratch, m);
    }
    return n;
  }

  /** A reader of this tree for rbValidate(). */
  reader(): RbReader {
    const u32 = this.u32;
    const root = this.root;
    const off = this.keyOff;
    return {
      rootNode: () => u32[root >>> 2]!,
      parentColor: (n) => u32[(n + RB_PARENT_COLOR) >>> 2]!,
      right: (n) => u32[(n + RB_RIGHT) >>> 2]!,
      left: (n) => u32[(n + RB_LEFT) >>> 2]!,
      keyLo: (n) => u32[(n + off) >>> 2]!,
      keyHi: (n) => u32[(n + off + 4) >>> 2]!,
    };
  }

  /** rbValidate() over this tree. */
  validate(maxNodes: number = this.memBytes / RB_NODE_SIZE): RbShape {
    return rbValidate(this.reader(), maxNodes, 'RbTree.validate');
  }

  private checkNode(node: number, where: string): void {
    if (!this.nodeOk(node)) {
      throw new KwqError(where, `node offset ${node} is not a non-zero multiple of 4 whose rb_node and key lie inside the ${this.memBytes}-byte memory`);
    }
  }

  private nodeOk(node: number): boolean {
    const k = node + this.keyOff;
    return node > 0 && (node & 3) === 0 && node + RB_NODE_SIZE <= this.memBytes && k >= 0 && k + 8 <= this.memBytes;
  }

  private checkCount(nodes: Uint32Array, n: number, where: string): void {
    if (!Number.isInteger(n) || n < 0 || n > nodes.length) {
      throw new KwqError(where, `n = ${n} but the array holds ${nodes.length} nodes`);
    }
  }

  /**
   * Copy nodes[i, i + m) into the scratch area. When the batch is one chunk (`one`),
   * Wasm checks the offsets there (rb_nodes_check) before the caller's batch call;
   * a batch of several chunks was checked whole by precheck(). Throws KwqError
   * naming the first bad offset, before any node of the batch changed.
   */
  private stage(nodes: Uint32Array, i: number, m: number, one: boolean, where: string): void {
    this.u32.set(i === 0 && m === nodes.length ? nodes : nodes.subarray(i, i + m), this.scratch >>> 2);
    if (one && this.x.rb_nodes_check(this.scratch, m, this.nodeLo, this.nodeHi) !== m) this.badNodes(nodes, m, where);
  }

  /** rb_nodes_check() found a bad offset in nodes[0, n): throw naming the first. */
  private badNodes(nodes: Uint32Array, n: number, where: string): never {
    this.checkNodes(nodes, n, where);
    throw new KwqError(where, `rb_nodes_check() rejected an offset in [${this.nodeLo}, ${this.nodeHi}] that nodeOk() accepts`);
  }

  /**
   * For a batch of more than one scratch chunk: check every offset before the first
   * chunk changes the tree (chunk by chunk in Wasm, staged twice). Returns whether
   * the batch is one chunk (then stage() checks it).
   */
  private precheck(nodes: Uint32Array, n: number, where: string): boolean {
    if (n <= this.cap4) return true;
    for (let i = 0; i < n; i += this.cap4) {
      const m = Math.min(this.cap4, n - i);
      this.u32.set(nodes.subarray(i, i + m), this.scratch >>> 2);
      if (this.x.rb_nodes_check(this.scratch, m, this.nodeLo, this.nodeHi) !== m) this.badNodes(nodes, n, where);
    }
    return false;
  }

  private checkNodes(nodes: Uint32Array, n: number, where: string): void {
    this.checkCount(nodes, n, where);
    if (n === 0) return;
    // One tight pass: nodeOk() holds for every node iff every low 2 bits are 0, the
    // smallest node meets its lower bounds and the largest its upper bounds. Calling
    // nodeOk() per node cost ~3 ns a node, 10 % of a batch erase (bench/rbtree.ts).
    let min = nodes[0]!;
    let max = min;
    let bits = min;
    for (let i = 1; i < n; i++) {
      const v = nodes[i]!;
      bits |= v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if ((bits & 3) === 0 && this.nodeOk(min) && this.nodeOk(max)) return;
    // a bad offset: find the first one for the message
    for (let i = 0; i < n; i++) {
      if (!this.nodeOk(nodes[i]!)) {
        throw new KwqError(where, `nodes[${i}] = ${nodes[i]} is not a non-zero multiple of 4 whose rb_node and key lie inside the ${this.memBytes}-byte memory`);
      }
    }
  }
}

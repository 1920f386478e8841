/**
 * The pure-TypeScript reference of kwq's red-black tree: the same algorithm as
 * assembly/rbtree.ts (the kernel's lib/rbtree.c, case for case) over an
 * Int32Array heap on a SharedArrayBuffer, so that the benchmark can quote the
 * Wasm tree as a ratio to it. Not part of the package API.
 *
 * "Pointers" are word indices into the heap; word 0 is the rb_root slot, so a
 * child-slot address (rb_link) is a word index too and 0 stays NULL. Node i
 * (1 <= i <= capacity) starts at word 8*i, so bits 0..2 of a pointer are free and
 * bit 0 of the parent word carries the colour, as in the kernel:
 *
 *   heap (Int32Array, 8 words per node)
 *   word 0        ┌────────────┐ rb_root.rb_node
 *   word 1..7     │ unused     │
 *   node = 8*i    ├────────────┤
 *     +0          │ parent|c   │ __rb_parent_color (c: 0 red, 1 black)
 *     +1          │ rb_right   │
 *     +2          │ rb_left    │
 *     +3          │ unused     │
 *     +4          │ key lo     │ u64 key, low word (read unsigned)
 *     +5          │ key hi     │ u64 key, high word
 *     +6..7       │ unused     │
 *                 └────────────┘
 *
 * Not thread-safe (neither is the kernel's rbtree without its lock).
 */
import type { RbReader } from '../../src/wasm/rbtree.js';

const PC = 0;
const RIGHT = 1;
const LEFT = 2;
const KLO = 4;
const KHI = 5;
const RED = 0;
const BLACK = 1;
/** words per node */
export const REF_NODE_WORDS = 8;

export class RefRbTree {
  readonly capacity: number;
  /** links and colours, signed words */
  private readonly h: Int32Array;
  /** the same words, unsigned, for the keys */
  private readonly k: Uint32Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > (2 ** 31 - 1) / REF_NODE_WORDS - 1) {
      throw new RangeError(`RefRbTree: capacity ${capacity} must be an integer in [1, 2^28)`);
    }
    this.capacity = capacity;
    const sab = new SharedArrayBuffer((capacity + 1) * REF_NODE_WORDS * 4);
    this.h = new Int32Array(sab);
    this.k = new Uint32Array(sab);
  }

  /** The pointer of node number i (1-based). */
  node(i: number): number {
    return i * REF_NODE_WORDS;
  }

  /** RB_ROOT */
  init(): void {
    this.h[0] = 0;
  }

  get empty(): boolean {
    return this.h[0] === 0;
  }

  setKey(node: number, lo: number, hi: number): void {
    this.k[node + KLO] = lo;
    this.k[node + KHI] = hi;
  }

  keyLo(node: number): number {
    return this.k[node + KLO]!;
  }

  keyHi(node: number): number {
    return this.k[node + KHI]!;
  }

  // ---- the kernel's primitives ----

  private changeChild(old: number, nw: number, parent: number): void {
    const h = this.h;
    if (parent) {
      if (h[parent + LEFT] === old) h[parent + LEFT] = nw;
      else h[parent + RIGHT] = nw;
    } else {
      h[0] = nw;
    }
  }

  private rotateSetParents(old: number, nw: number, color: number): void {
    const h = this.h;
    const pc = h[old + PC]!;
    h[nw + PC] = pc;
    h[old + PC] = nw | color;
    this.changeChild(old, nw, pc & ~7);
  }

  /** rb_link_node */
  linkNode(node: number, parent: number, link: number): void {
    const h = this.h;
    h[node + PC] = parent;
    h[node + RIGHT] = 0;
    h[node + LEFT] = 0;
    h[link] = node;
  }

  /** rb_insert_color (__rb_insert) */
  insertColor(node: number): void {
    const h = this.h;
    let parent = h[node + PC]!;
    let gparent: number, tmp: number;
    for (;;) {
      if (!parent) {
        h[node + PC] = BLACK;
        break;
      }
      if (h[parent + PC]! & 1) break;
      gparent = h[parent + PC]!;
      tmp = h[gparent + RIGHT]!;
      if (parent !== tmp) {
        if (tmp && !(h[tmp + PC]! & 1)) {
          h[tmp + PC] = gparent | BLACK;
          h[parent + PC] = gparent | BLACK;
          node = gparent;
          parent = h[node + PC]! & ~7;
          h[node + PC] = parent | RED;
          continue;
        }
        tmp = h[parent + RIGHT]!;
        if (node === tmp) {
          tmp = h[node + LEFT]!;
          h[parent + RIGHT] = tmp;
          h[node + LEFT] = parent;
          if (tmp) h[tmp + PC] = parent | BLACK;
          h[parent + PC] = node | RED;
          parent = node;
          tmp = h[node + RIGHT]!;
        }
        h[gparent + LEFT] = tmp;
        h[parent + RIGHT] = gparent;
        if (tmp) h[tmp + PC] = gparent | BLACK;
        this.rotateSetParents(gparent, parent, RED);
        break;
      } else {
        tmp = h[gparent + LEFT]!;
        if (tmp && !(h[tmp + PC]! & 1)) {
          h[tmp + PC] = gparent | BLACK;
          h[parent + PC] = gparent | BLACK;
          node = gparent;
          parent = h[node + PC]! & ~7;
          h[node + PC] = parent | RED;
          continue;
        }
        tmp = h[parent + LEFT]!;
        if (node === tmp) {
          tmp = h[node + RIGHT]!;
          h[parent + LEFT] = tmp;
          h[node + RIGHT] = parent;
          if (tmp) h[tmp + PC] = parent | BLACK;
          h[parent + PC] = node | RED;
          parent = node;
          tmp = h[node + LEFT]!;
        }
        h[gparent + RIGHT] = tmp;
        h[parent + LEFT] = gparent;
        if (tmp) h[tmp + PC] = gparent | BLACK;
        this.rotateSetParents(gparent, parent, RED);
        break;
      }
    }
  }

  /** ____rb_erase_color */
  private eraseColor(parent: number): void {
    const h = this.h;
    let node = 0;
    let sibling: number, tmp1: number, tmp2: number;
    for (;;) {
      sibling = h[parent + RIGHT]!;
      if (node !== sibling) {
        if (!(h[sibling + PC]! & 1)) {
          tmp1 = h[sibling + LEFT]!;
          h[parent + RIGHT] = tmp1;
          h[sibling + LEFT] = parent;
          h[tmp1 + PC] = parent | BLACK;
          this.rotateSetParents(parent, sibling, RED);
          sibling = tmp1;
        }
        tmp1 = h[sibling + RIGHT]!;
        if (!tmp1 || h[tmp1 + PC]! & 1) {
          tmp2 = h[sibling + LEFT]!;
          if (!tmp2 || h[tmp2 + PC]! & 1) {
            h[sibling + PC] = parent | RED;
            if (!(h[parent + PC]! & 1)) {
              h[parent + PC] = h[parent + PC]! | BLACK;
            } else {
              node = parent;
              parent = h[node + PC]! & ~7;
              if (parent) continue;
            }
            break;
          }
          tmp1 = h[tmp2 + RIGHT]!;
          h[sibling + LEFT] = tmp1;
          h[tmp2 + RIGHT] = sibling;
          h[parent + RIGHT] = tmp2;
          if (tmp1) h[tmp1 + PC] = sibling | BLACK;
          tmp1 = sibling;
          sibling = tmp2;
        }
        tmp2 = h[sibling + LEFT]!;
        h[parent + RIGHT] = tmp2;
        h[sibling + LEFT] = parent;
        h[tmp1 + PC] = sibling | BLACK;
        if (tmp2) h[tmp2 + PC] = (h[tmp2 + PC]! & 1) | parent;
        this.rotateSetParents(parent, sibling, BLACK);
        break;
      } else {
        sibling = h[parent + LEFT]!;
        if (!(h[sibling + PC]! & 1)) {
          tmp1 = h[sibling + RIGHT]!;
          h[parent + LEFT] = tmp1;
          h[sibling + RIGHT] = parent;
          h[tmp1 + PC] = parent | BLACK;
          this.rotateSetParents(parent, sibling, RED);
          sibling = tmp1;
        }
        tmp1 = h[sibling + LEFT]!;
        if (!tmp1 || h[tmp1 + PC]! & 1) {
          tmp2 = h[sibling + RIGHT]!;
          if (!tmp2 || h[tmp2 + PC]! & 1) {
            h[sibling + PC] = parent | RED;
            if (!(h[parent + PC]! & 1)) {
              h[parent + PC] = h[parent + PC]! | BLACK;
            } else {
              node = parent;
              parent = h[node + PC]! & ~7;
              if (parent) continue;
            }
            break;
          }
          tmp1 = h[tmp2 + LEFT]!;
          h[sibling + RIGHT] = tmp1;
          h[tmp2 + LEFT] = sibling;
          h[parent + LEFT] = tmp2;
          if (tmp1) h[tmp1 + PC] = sibling | BLACK;
          tmp1 = sibling;
          sibling = tmp2;
        }
        tmp2 = h[sibling + RIGHT]!;
        h[parent + LEFT] = tmp2;
        h[sibling + RIGHT] = parent;
        h[tmp1 + PC] = sibling | BLACK;
        if (tmp2) h[tmp2 + PC] = (h[tmp2 + PC]! & 1) | parent;
        this.rotateSetParents(parent, sibling, BLACK);
        break;
      }
    }
  }

  /** rb_erase (__rb_erase_augmented + ____rb_erase_color) */
  erase(node: number): void {
    const h = this.h;
    const child = h[node + RIGHT]!;
    let tmp = h[node + LEFT]!;
    let parent: number, rebalance: number, pc: number;
    if (!tmp) {
      pc = h[node + PC]!;
      parent = pc & ~7;
      this.changeChild(node, child, parent);
      if (child) {
        h[child + PC] = pc;
        rebalance = 0;
      } else {
        rebalance = pc & 1 ? parent : 0;
      }
    } else if (!child) {
      pc = h[node + PC]!;
      h[tmp + PC] = pc;
      parent = pc & ~7;
      this.changeChild(node, tmp, parent);
      rebalance = 0;
    } else {
      let successor = child;
      let child2: number;
      tmp = h[child + LEFT]!;
      if (!tmp) {
        parent = successor;
        child2 = h[successor + RIGHT]!;
      } else {
        do {
          parent = successor;
          successor = tmp;
          tmp = h[tmp + LEFT]!;
        } while (tmp);
        child2 = h[successor + RIGHT]!;
        h[parent + LEFT] = child2;
        h[successor + RIGHT] = child;
        h[child + PC] = (h[child + PC]! & 1) | successor;
      }
      tmp = h[node + LEFT]!;
      h[successor + LEFT] = tmp;
      h[tmp + PC] = (h[tmp + PC]! & 1) | successor;
      pc = h[node + PC]!;
      this.changeChild(node, successor, pc & ~7);
      if (child2) {
        h[child2 + PC] = parent | BLACK;
        rebalance = 0;
      } else {
        rebalance = h[successor + PC]! & 1 ? parent : 0;
      }
      h[successor + PC] = pc;
    }
    if (rebalance) this.eraseColor(rebalance);
  }

  /** rb_replace_node: nw takes victim's place; it must sort where victim did. */
  replaceNode(victim: number, nw: number): void {
    const h = this.h;
    const pc = h[victim + PC]!;
    const r = h[victim + RIGHT]!;
    const l = h[victim + LEFT]!;
    h[nw + PC] = pc;
    h[nw + RIGHT] = r;
    h[nw + LEFT] = l;
    if (l) h[l + PC] = (h[l + PC]! & 1) | nw;
    if (r) h[r + PC] = (h[r + PC]! & 1) | nw;
    this.changeChild(victim, nw, pc & ~7);
  }

  first(): number {
    const h = this.h;
    let n = h[0]!;
    if (!n) return 0;
    while (h[n + LEFT]) n = h[n + LEFT]!;
    return n;
  }

  last(): number {
    const h = this.h;
    let n = h[0]!;
    if (!n) return 0;
    while (h[n + RIGHT]) n = h[n + RIGHT]!;
    return n;
  }

  next(node: number): number {
    const h = this.h;
    let n = h[node + RIGHT]!;
    if (n) {
      while (h[n + LEFT]) n = h[n + LEFT]!;
      return n;
    }
    let parent = h[node + PC]! & ~7;
    while (parent && node === h[parent + RIGHT]) {
      node = parent;
      parent = h[node + PC]! & ~7;
    }
    return parent;
  }

  prev(node: number): number {
    const h = this.h;
    let n = h[node + LEFT]!;
    if (n) {
      while (h[n + RIGHT]) n = h[n + RIGHT]!;
      return n;
    }
    let parent = h[node + PC]! & ~7;
    while (parent && node === h[parent + LEFT]) {
      node = parent;
      parent = h[node + PC]! & ~7;
    }
    return parent;
  }

  // ---- the u64-keyed cores (the same walk as rb_find_u64 / rb_find_add_u64) ----

  find(lo: number, hi: number): number {
    const h = this.h;
    const k = this.k;
    let n = h[0]!;
    // Branchy on purpose: the Wasm walk picks the child with a `select`, but V8
    // does not turn a conditional expression here into one (measured: slower at
    // 1k, no faster at 10k/100k), so this is the faster walk in TypeScript.
    while (n) {
      const nh = k[n + KHI]!;
      if (hi < nh) n = h[n + LEFT]!;
      else if (hi > nh) n = h[n + RIGHT]!;
      else {
        const nl = k[n + KLO]!;
        if (lo < nl) n = h[n + LEFT]!;
        else if (lo > nl) n = h[n + RIGHT]!;
        else return n;
      }
    }
    return 0;
  }

  /** 0 after inserting node, or the node already holding its key. */
  findAdd(node: number): number {
    const h = this.h;
    const k = this.k;
    const hi = k[node + KHI]!;
    const lo = k[node + KLO]!;
    let link = 0;
    let parent = 0;
    let n = h[0]!;
    while (n) {
      parent = n;
      const nh = k[n + KHI]!;
      if (hi < nh || (hi === nh && lo < k[n + KLO]!)) link = n + LEFT;
      else if (hi > nh || lo > k[n + KLO]!) link = n + RIGHT;
      else return n;
      n = h[link]!;
    }
    this.linkNode(node, parent, link);
    this.insertColor(node);
    return 0;
  }

  // ---- batches (same contracts as the Wasm batch entry points) ----

  /** findAdd() for nodes[0..n); results[i] (if given) gets 0 or the node already holding the key. */
  insertBatch(nodes: Int32Array | Uint32Array, results?: Int32Array | Uint32Array, n: number = nodes.length): number {
    let inserted = 0;
    for (let i = 0; i < n; i++) {
      const found = this.findAdd(nodes[i]!);
      if (results) results[i] = found;
      if (found === 0) inserted++;
    }
    return inserted;
  }

  findBatch(lo: Uint32Array, hi: Uint32Array, out: Int32Array | Uint32Array, n: number = lo.length): number {
    let found = 0;
    for (let i = 0; i < n; i++) {
      const node = this.find(lo[i]!, hi[i]!);
      out[i] = node;
      if (node) found++;
    }
    return found;
  }

  eraseBatch(nodes: Int32Array | Uint32Array, n: number = nodes.length): number {
    const h = this.h;
    for (let i = 0; i < n; i++) {
      const node = nodes[i]!;
      this.erase(node);
      h[node + PC] = node; // RB_CLEAR_NODE
    }
    return n;
  }

  /** A reader for rbValidate() (src/wasm/rbtree.ts). */
  reader(): RbReader {
    const h = this.h;
    const k = this.k;
    return {
      rootNode: () => h[0]!,
      parentColor: (n) => h[n + PC]!,
      right: (n) => h[n + RIGHT]!,
      left: (n) => h[n + LEFT]!,
      keyLo: (n) => k[n + KLO]!,
      keyHi: (n) => k[n + KHI]!,
    };
  }
}

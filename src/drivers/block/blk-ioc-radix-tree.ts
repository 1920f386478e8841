/**
 * The radix tree an io_context keeps its io_cq objects in (ioc->icq_tree, keyed by
 * q->id; lib/radix-tree.c, reduced to what blk-ioc calls: insert, lookup, delete).
 *
 *   root ─► node (shift 6)                 a key's digits, 6 bits per level, most
 *           slots[0..63] ─► node (shift 0)  significant first; a node at shift s
 *                           slots[0..63] ─► item    covers 64 << s keys
 *
 * The tree grows a level when a key does not fit under the root and shrinks back
 * when the root keeps only slot 0; a node is freed when its last slot empties.
 * Queue ids come from an IDA (smallest free id first), so the tree stays shallow.
 * Not concurrent: callers hold ioc->lock in the kernel; the model has one thread.
 */
const RADIX_TREE_MAP_SHIFT = 6;
const RADIX_TREE_MAP_SIZE = 1 << RADIX_TREE_MAP_SHIFT;
const RADIX_TREE_MAP_MASK = RADIX_TREE_MAP_SIZE - 1;

class RadixTreeNode<T> {
  /** occupied slots */
  count = 0;
  readonly slots: (RadixTreeNode<T> | T | undefined)[] = new Array(RADIX_TREE_MAP_SIZE);
  constructor(
    /** bits below this node's digit */
    public shift: number,
  ) {}
}

export class RadixTree<T extends object> {
  private root: RadixTreeNode<T> | null = null;
  private items = 0;

  get size(): number {
    return this.items;
  }

  /** radix_tree_lookup */
  lookup(index: number): T | undefined {
    let node = this.root;
    if (node === null || index >= RADIX_TREE_MAP_SIZE * 2 ** node.shift) return undefined;
    for (;;) {
      const slot = node.slots[Math.floor(index / 2 ** node.shift) & RADIX_TREE_MAP_MASK];
      if (slot === undefined) return undefined;
      if (node.shift === 0) return slot as T;
      node = slot as RadixTreeNode<T>;
    }
  }

  /** radix_tree_insert: 0, or -17 (-EEXIST) if the index is taken. */
  insert(index: number, item: T): number {
    if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`radix tree index ${index}`);
    let root: RadixTreeNode<T> = this.root ?? new RadixTreeNode<T>(0);
    // radix_tree_extend: add levels on top until the index fits
    while (index >= RADIX_TREE_MAP_SIZE * 2 ** root.shift) {
      const top: RadixTreeNode<T> = new RadixTreeNode<T>(root.shift + RADIX_TREE_MAP_SHIFT);
      if (root.count > 0) {
        top.slots[0] = root;
        top.count = 1;
      }
      root = top;
    }
    this.root = root;
    let node = root;
    while (node.shift > 0) {
      const off = Math.floor(index / 2 ** node.shift) & RADIX_TREE_MAP_MASK;
      let child = node.slots[off] as RadixTreeNode<T> | undefined;
      if (child === undefined) {
        child = new RadixTreeNode<T>(node.shift - RADIX_TREE_MAP_SHIFT);
        node.slots[off] = child;
        node.count++;
      }
      node = child;
    }
    const off = index & RADIX_TREE_MAP_MASK;
    if (node.slots[off] !== undefined) return -17;
    node.slots[off] = item;
    node.count++;
    this.items++;
    return 0;
  }

  /** radix_tree_delete: the item removed, or undefined. */
  delete(index: number): T | undefined {
    const root = this.root;
    if (root === null || index < 0 || index >= RADIX_TREE_MAP_SIZE * 2 ** root.shift) return undefined;
    const path: [RadixTreeNode<T>, number][] = [];
    let node = root;
    for (;;) {
      const off = Math.floor(index / 2 ** node.shift) & RADIX_TREE_MAP_MASK;
      const slot = node.slots[off];
      if (slot === undefined) return undefined;
      path.push([node, off]);
      if (node.shift === 0) break;
      node = slot as RadixTreeNode<T>;
    }
    const item = node.slots[index & RADIX_TREE_MAP_MASK] as T;
    // delete_node: empty nodes are freed bottom up
    for (let i = path.length - 1; i >= 0; i--) {
      const [n, off] = path[i]!;
      n.slots[off] = undefined;
      n.count--;
      if (n.count > 0) break;
      if (i === 0) this.root = null;
    }
    this.items--;
    // radix_tree_shrink: drop top levels that only use slot 0
    while (this.root !== null && this.root.shift > 0 && this.root.count === 1 && this.root.slots[0] !== undefined) {
      this.root = this.root.slots[0] as RadixTreeNode<T>;
    }
    return item;
  }

  /** tree height (levels), for tests */
  get height(): number {
    return this.root === null ? 0 : this.root.shift / RADIX_TREE_MAP_SHIFT + 1;
  }
}

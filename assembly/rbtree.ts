// rbtree: red-black trees, kernel style (lib/rbtree.c, include/linux/rbtree.h,
// include/linux/rbtree_augmented.h), over the ONE shared memory.
//
// A node is embedded in a bigger struct that the caller allocates (from an arena;
// in tests the host assigns offsets). Links are u32 byte offsets into the shared
// memory, 0 is NULL. As in the kernel, the parent offset and the colour share one
// word: nodes are 4-byte aligned, so bit 0 of a parent offset is free.
//
//   struct rb_node (12 bytes, align 4)          struct rb_root (4 bytes, align 4)
//   +0  ┌──────────────────────────────┬─┐      +0  ┌──────────────────────┐
//       │ parent offset (bits 31..2)   │c│          │ rb_node: root offset │
//       └──────────────────────────────┴─┘          └──────────────────────┘
//       __rb_parent_color: c = bit 0, RB_RED 0 / RB_BLACK 1; bit 1 is 0
//   +4  ┌──────────────────────────────┐
//       │ rb_right: right child offset │
//   +8  ├──────────────────────────────┤
//       │ rb_left:  left child offset  │
//   +12 └──────────────────────────────┘
//
//   The embedding struct, e.g. a loop worker (offsets are the caller's choice):
//       node ──► ┌─────────────┐
//                │ rb_node     │ 12 bytes
//                │ ...         │
//   node+key_off │ u64 key     │ the cgroup id the tree is keyed by
//                └─────────────┘
//   key_off is a signed byte offset from the node to its u64 key, the
//   container_of() of the kernel's search cores turned around.
//
// Concurrency (the kernel's rule, include/linux/rbtree.h and lib/rbtree.c): the
// tree is NOT lock-free. Every function here reads and writes links with plain
// loads and stores and must run under the lock that protects the tree (for loop,
// the device's lo_work_lock; kwq's loop driver holds its work lock). The kernel's
// WRITE_ONCE()s exist for its lockless RCU lookups (latched trees); kwq has no
// lockless readers, so no function here pairs with anything and none reads a
// value that may be stale while the lock is held.
//
// As in the kernel, the search and insert cores are the caller's: rb_link_node()
// + rb_insert_color() after the caller's own walk. For the loop driver's key (a
// u64 cgroup id kept in memory) this file provides the walk too: rb_find_u64,
// rb_find_add_u64, and batch entry points so one JS-to-Wasm call covers N items.
//
// Divergence (kernel-reference.md section 6.4): loop keys its worker_tree by the
// blkcg css POINTER compared as a signed long, with an inverted comparison (a
// smaller pointer goes left only when cur->css >= cmd->css). kwq keys by the
// 64-bit cgroup id compared as unsigned, smaller keys to the left, so
// rb_first() is the smallest id. Only the tree's mirror image differs.

// No module-level `let`: every mutable word lives in the shared memory.

/** Colours, as in include/linux/rbtree_augmented.h. */
export const RB_RED: u32 = 0;
export const RB_BLACK: u32 = 1;

/** Byte offsets of the rb_node fields (the kernel's order). */
export const RB_PARENT_COLOR: u32 = 0;
export const RB_RIGHT: u32 = 4;
export const RB_LEFT: u32 = 8;
/** sizeof(struct rb_node) */
export const RB_NODE_SIZE: u32 = 12;
/** sizeof(struct rb_root) */
export const RB_ROOT_SIZE: u32 = 4;

// ---- field access ---------------------------------------------------------

// @ts-ignore: decorator
@inline function pc_of(n: u32): u32 { return load<u32>(n, RB_PARENT_COLOR); }
// @ts-ignore: decorator
@inline function set_pc(n: u32, pc: u32): void { store<u32>(n, pc, RB_PARENT_COLOR); }
// @ts-ignore: decorator
@inline function right_of(n: u32): u32 { return load<u32>(n, RB_RIGHT); }
// @ts-ignore: decorator
@inline function set_right(n: u32, v: u32): void { store<u32>(n, v, RB_RIGHT); }
// @ts-ignore: decorator
@inline function left_of(n: u32): u32 { return load<u32>(n, RB_LEFT); }
// @ts-ignore: decorator
@inline function set_left(n: u32, v: u32): void { store<u32>(n, v, RB_LEFT); }

/** __rb_parent(pc) */
// @ts-ignore: decorator
@inline function pc_parent(pc: u32): u32 { return pc & ~3; }
/** __rb_is_black(pc) */
// @ts-ignore: decorator
@inline function pc_is_black(pc: u32): bool { return (pc & 1) != 0; }

/** rb_parent(node) */
// @ts-ignore: decorator
@inline function parent_of(n: u32): u32 { return pc_of(n) & ~3; }
/** rb_is_red(node) */
// @ts-ignore: decorator
@inline function is_red(n: u32): bool { return (pc_of(n) & 1) == 0; }
/** rb_is_black(node) */
// @ts-ignore: decorator
@inline function is_black(n: u32): bool { return (pc_of(n) & 1) != 0; }
/** rb_red_parent(red): a red node's word is its parent offset, colour bit 0. */
// @ts-ignore: decorator
@inline function red_parent(red: u32): u32 { return pc_of(red); }
/** rb_set_black(node) */
// @ts-ignore: decorator
@inline function set_black(n: u32): void { set_pc(n, pc_of(n) | RB_BLACK); }
/** rb_set_parent(node, parent): keeps the colour. */
// @ts-ignore: decorator
@inline function set_parent(n: u32, p: u32): void { set_pc(n, (pc_of(n) & 1) | p); }
/** rb_set_parent_color(node, parent, color) */
// @ts-ignore: decorator
@inline function set_parent_color(n: u32, p: u32, color: u32): void { set_pc(n, p | color); }

/** __rb_change_child(): make `parent` (or the root) point at `nw` instead of `old`. */
// @ts-ignore: decorator
@inline function change_child(old: u32, nw: u32, parent: u32, root: u32): void {
  if (parent) {
    // Branch-free choice of the slot (the same store as the kernel's if/else): which
    // side `old` hangs on is a coin flip for random keys, a mispredicted branch here.
    store<u32>(parent + select<u32>(RB_LEFT, RB_RIGHT, left_of(parent) == old), nw);
  } else {
    store<u32>(root, nw);
  }
}

/**
 * __rb_rotate_set_parents(): `nw` takes `old`'s place (parent word and the link
 * into it); `old` becomes `nw`'s child with `color`.
 */
// @ts-ignore: decorator
@inline function rotate_set_parents(old: u32, nw: u32, root: u32, color: u32): void {
  const pc = pc_of(old);
  set_pc(nw, pc);
  set_parent_color(old, nw, color);
  change_child(old, nw, pc_parent(pc), root);
}

/** The u64 key of the struct embedding `node`. */
// @ts-ignore: decorator
@inline function key_of(node: u32, key_off: i32): u64 {
  return load<u64>(<usize>(<i32>node + key_off));
}

// ---- the kernel's API -----------------------------------------------------

/** RB_ROOT: an empty tree. Nodes still linked are abandoned, not freed: they are the caller's. */
export function rb_root_init(root: u32): void {
  store<u32>(root, 0);
}

/** RB_EMPTY_ROOT(root) */
export function rb_empty_root(root: u32): bool {
  return load<u32>(root) == 0;
}

/** RB_CLEAR_NODE(node): mark a node as in no tree (its parent word points at itself). */
export function rb_clear_node(node: u32): void {
  set_pc(node, node);
}

/** RB_EMPTY_NODE(node): true after rb_clear_node() and before the node is linked again. */
export function rb_empty_node(node: u32): bool {
  return pc_of(node) == node;
}

/**
 * rb_link_node(node, parent, rb_link): link a new red node below `parent` at the
 * child slot whose address is `link_ptr` (the root word when parent is 0). The
 * caller follows with rb_insert_color().
 */
export function rb_link_node(node: u32, parent: u32, link_ptr: u32): void {
  set_pc(node, parent); // red: colour bit 0
  set_right(node, 0);
  set_left(node, 0);
  store<u32>(link_ptr, node);
}

/**
 * __rb_insert(node, root): rebalance after rb_link_node(), the kernel's
 * __rb_insert() (no augmentation), case for case. Inlined into its callers as in
 * lib/rbtree.c, where it is `static __always_inline`: the batch insert then makes
 * no call per node.
 */
// @ts-ignore: decorator
@inline function __rb_insert(node: u32, root: u32): void {
  let parent = red_parent(node);
  let gparent: u32, tmp: u32;
  while (true) {
    // Loop invariant: node is red.
    if (!parent) {
      // node is the root: the first node, or Case 1 recursed up to it.
      set_parent_color(node, 0, RB_BLACK);
      break;
    }
    // A black parent: done. Otherwise fix two reds in a row.
    if (is_black(parent)) break;

    gparent = red_parent(parent);
    tmp = right_of(gparent);
    if (parent != tmp) { // parent == gparent->rb_left
      if (tmp && is_red(tmp)) {
        // Case 1: the uncle is red: colour flips, recurse at gparent.
        set_parent_color(tmp, gparent, RB_BLACK);
        set_parent_color(parent, gparent, RB_BLACK);
        node = gparent;
        parent = parent_of(node);
        set_parent_color(node, parent, RB_RED);
        continue;
      }
      tmp = right_of(parent);
      if (node == tmp) {
        // Case 2: uncle black, node is a right child: left rotate at parent.
        tmp = left_of(node);
        set_right(parent, tmp);
        set_left(node, parent);
        if (tmp) set_parent_color(tmp, parent, RB_BLACK);
        set_parent_color(parent, node, RB_RED);
        parent = node;
        tmp = right_of(node);
      }
      // Case 3: uncle black, node is a left child: right rotate at gparent.
      set_left(gparent, tmp); // == parent->rb_right
      set_right(parent, gparent);
      if (tmp) set_parent_color(tmp, gparent, RB_BLACK);
      rotate_set_parents(gparent, parent, root, RB_RED);
      break;
    } else {
      tmp = left_of(gparent);
      if (tmp && is_red(tmp)) {
        // Case 1: colour flips.
        set_parent_color(tmp, gparent, RB_BLACK);
        set_parent_color(parent, gparent, RB_BLACK);
        node = gparent;
        parent = parent_of(node);
        set_parent_color(node, parent, RB_RED);
        continue;
      }
      tmp = left_of(parent);
      if (node == tmp) {
        // Case 2: right rotate at parent.
        tmp = right_of(node);
        set_left(parent, tmp);
        set_right(node, parent);
        if (tmp) set_parent_color(tmp, parent, RB_BLACK);
        set_parent_color(parent, node, RB_RED);
        parent = node;
        tmp = left_of(node);
      }
      // Case 3: left rotate at gparent.
      set_right(gparent, tmp); // == parent->rb_left
      set_left(parent, gparent);
      if (tmp) set_parent_color(tmp, gparent, RB_BLACK);
      rotate_set_parents(gparent, parent, root, RB_RED);
      break;
    }
  }
}

/**
 * rb_insert_color(node, root): rebalance after rb_link_node() (lib/rbtree.c:
 * rb_insert_color() is __rb_insert() with the dummy augment callback).
 */
export function rb_insert_color(node: u32, root: u32): void {
  __rb_insert(node, root);
}

/**
 * ____rb_erase_color(parent, root): restore the black height after a black node
 * was removed below `parent`. `static __always_inline` in lib/rbtree.c, so inlined
 * here too: rb_erase() makes no call for its rebalancing, as the kernel's does not.
 */
// @ts-ignore: decorator
@inline function erase_color(parent: u32, root: u32): void {
  let node: u32 = 0;
  let sibling: u32, tmp1: u32, tmp2: u32;
  while (true) {
    // Loop invariants: node is black (or NULL on the first pass); node is not the
    // root (parent != 0); every path through parent and node has one black node
    // fewer than the other paths.
    sibling = right_of(parent);
    if (node != sibling) { // node == parent->rb_left
      if (is_red(sibling)) {
        // Case 1: left rotate at parent.
        tmp1 = left_of(sibling);
        set_right(parent, tmp1);
        set_left(sibling, parent);
        set_parent_color(tmp1, parent, RB_BLACK);
        rotate_set_parents(parent, sibling, root, RB_RED);
        sibling = tmp1;
      }
      tmp1 = right_of(sibling);
      if (!tmp1 || is_black(tmp1)) {
        tmp2 = left_of(sibling);
        if (!tmp2 || is_black(tmp2)) {
          // Case 2: sibling colour flip (parent may be either colour).
          set_parent_color(sibling, parent, RB_RED);
          if (is_red(parent)) {
            set_black(parent);
          } else {
            node = parent;
            parent = parent_of(node);
            if (parent) continue;
          }
          break;
        }
        // Case 3: right rotate at sibling.
        tmp1 = right_of(tmp2);
        set_left(sibling, tmp1);
        set_right(tmp2, sibling);
        set_right(parent, tmp2);
        if (tmp1) set_parent_color(tmp1, sibling, RB_BLACK);
        tmp1 = sibling;
        sibling = tmp2;
      }
      // Case 4: left rotate at parent + colour flips.
      tmp2 = left_of(sibling);
      set_right(parent, tmp2);
      set_left(sibling, parent);
      set_parent_color(tmp1, sibling, RB_BLACK);
      if (tmp2) set_parent(tmp2, parent);
      rotate_set_parents(parent, sibling, root, RB_BLACK);
      break;
    } else {
      sibling = left_of(parent);
      if (is_red(sibling)) {
        // Case 1: right rotate at parent.
        tmp1 = right_of(sibling);
        set_left(parent, tmp1);
        set_right(sibling, parent);
        set_parent_color(tmp1, parent, RB_BLACK);
        rotate_set_parents(parent, sibling, root, RB_RED);
        sibling = tmp1;
      }
      tmp1 = left_of(sibling);
      if (!tmp1 || is_black(tmp1)) {
        tmp2 = right_of(sibling);
        if (!tmp2 || is_black(tmp2)) {
          // Case 2: sibling colour flip.
          set_parent_color(sibling, parent, RB_RED);
          if (is_red(parent)) {
            set_black(parent);
          } else {
            node = parent;
            parent = parent_of(node);
            if (parent) continue;
          }
          break;
        }
        // Case 3: left rotate at sibling.
        tmp1 = left_of(tmp2);
        set_right(sibling, tmp1);
        set_left(tmp2, sibling);
        set_left(parent, tmp2);
        if (tmp1) set_parent_color(tmp1, sibling, RB_BLACK);
        tmp1 = sibling;
        sibling = tmp2;
      }
      // Case 4: right rotate at parent + colour flips.
      tmp2 = right_of(sibling);
      set_left(parent, tmp2);
      set_right(sibling, parent);
      set_parent_color(tmp1, sibling, RB_BLACK);
      if (tmp2) set_parent(tmp2, parent);
      rotate_set_parents(parent, sibling, root, RB_BLACK);
      break;
    }
  }
}

/**
 * __rb_erase(node, root): unlink `node` and rebalance. The node's own words are
 * left as they were (the kernel does not clear them either; rb_clear_node() does).
 * The body is __rb_erase_augmented() with the dummy callbacks (include/linux/
 * rbtree_augmented.h, `static __always_inline`), then ____rb_erase_color() when a
 * black node left a path short. Inlined into rb_erase() and into rb_erase_batch()'s
 * loop, so a batch erase makes no call per node.
 */
// @ts-ignore: decorator
@inline function __rb_erase(node: u32, root: u32): void {
  let child = right_of(node);
  let tmp = left_of(node);
  let parent: u32, rebalance: u32, pc: u32;

  if (!tmp) {
    // Case 1: at most one child (the right one). A lone child must be red and
    // node black: recolour here and skip erase_color.
    pc = pc_of(node);
    parent = pc_parent(pc);
    change_child(node, child, parent, root);
    if (child) {
      set_pc(child, pc);
      rebalance = 0;
    } else {
      rebalance = pc_is_black(pc) ? parent : 0;
    }
  } else if (!child) {
    // Still case 1, the child is node->rb_left.
    pc = pc_of(node);
    set_pc(tmp, pc);
    parent = pc_parent(pc);
    change_child(node, tmp, parent, root);
    rebalance = 0;
  } else {
    let successor = child;
    let child2: u32;
    tmp = left_of(child);
    if (!tmp) {
      // Case 2: the successor is node's right child.
      //
      //    (n)          (s)
      //    / \          / \
      //  (x) (s)  ->  (x) (c)
      //        \
      //        (c)
      parent = successor;
      child2 = right_of(successor);
    } else {
      // Case 3: the successor is the leftmost node under node's right child.
      //
      //    (n)          (s)
      //    / \          / \
      //  (x) (y)  ->  (x) (y)
      //      /            /
      //    (p)          (p)
      //    /            /
      //  (s)          (c)
      //    \
      //    (c)
      do {
        parent = successor;
        successor = tmp;
        tmp = left_of(tmp);
      } while (tmp);
      child2 = right_of(successor);
      set_left(parent, child2);
      set_right(successor, child);
      set_parent(child, successor);
    }

    tmp = left_of(node);
    set_left(successor, tmp);
    set_parent(tmp, successor);

    pc = pc_of(node);
    change_child(node, successor, pc_parent(pc), root);

    if (child2) {
      set_parent_color(child2, parent, RB_BLACK);
      rebalance = 0;
    } else {
      // Read the successor's colour before it takes node's word.
      rebalance = is_black(successor) ? parent : 0;
    }
    set_pc(successor, pc);
  }

  if (rebalance) erase_color(rebalance, root);
}

/** rb_erase(node, root): lib/rbtree.c's rb_erase(), __rb_erase() above. */
export function rb_erase(node: u32, root: u32): void {
  __rb_erase(node, root);
}

/**
 * rb_replace_node(victim, new, root): put `nw` in `victim`'s place without
 * rebalancing. The caller guarantees that `nw` sorts where `victim` did.
 */
export function rb_replace_node(victim: u32, nw: u32, root: u32): void {
  const parent = parent_of(victim);
  // *new = *victim: the links and the colour.
  set_pc(nw, pc_of(victim));
  const r = right_of(victim);
  const l = left_of(victim);
  set_right(nw, r);
  set_left(nw, l);
  if (l) set_parent(l, nw);
  if (r) set_parent(r, nw);
  change_child(victim, nw, parent, root);
}

/** rb_first(root): the leftmost (smallest) node, or 0. */
export function rb_first(root: u32): u32 {
  let n = load<u32>(root);
  if (!n) return 0;
  let l = left_of(n);
  while (l) { n = l; l = left_of(n); }
  return n;
}

/** rb_last(root): the rightmost (largest) node, or 0. */
export function rb_last(root: u32): u32 {
  let n = load<u32>(root);
  if (!n) return 0;
  let r = right_of(n);
  while (r) { n = r; r = right_of(n); }
  return n;
}

/** rb_next(node): the in-order successor, or 0 (also 0 for an RB_EMPTY_NODE). */
export function rb_next(node: u32): u32 {
  if (rb_empty_node(node)) return 0;
  let n = right_of(node);
  if (n) {
    // Down the right branch, then as far left as possible.
    let l = left_of(n);
    while (l) { n = l; l = left_of(n); }
    return n;
  }
  // Up while we are a right child; the first parent we reach from its left is next.
  let parent = parent_of(node);
  while (parent && node == right_of(parent)) {
    node = parent;
    parent = parent_of(node);
  }
  return parent;
}

/** rb_prev(node): the in-order predecessor, or 0 (also 0 for an RB_EMPTY_NODE). */
export function rb_prev(node: u32): u32 {
  if (rb_empty_node(node)) return 0;
  let n = left_of(node);
  if (n) {
    let r = right_of(n);
    while (r) { n = r; r = right_of(n); }
    return n;
  }
  let parent = parent_of(node);
  while (parent && node == left_of(parent)) {
    node = parent;
    parent = parent_of(node);
  }
  return parent;
}

// ---- u64-keyed search and insert cores (the caller-written part, for loop) --

/** rb_find() with the u64 at node+key_off as the key: the node holding `key`, or 0. */
// @ts-ignore: decorator
@inline function find_u64(root: u32, key: u64, key_off: i32): u32 {
  let n = load<u32>(root);
  while (n) {
    const k = key_of(n, key_off);
    if (key == k) return n;
    // Branch-free choice of the child: random keys make a branch here a coin flip.
    // Both children are loaded (the same cache line as the key) and one is picked:
    // the next node's address then waits on the compare only, not on a load whose
    // address waits on it (a lookup at 64 loop cgroups: 6.35 -> 4.90 ns, C 4.72; fresh keys at 1k-100k: 0.76-0.98x -> 0.58-0.63x C).
    const l = load<u32>(n + RB_LEFT);
    const r = load<u32>(n + RB_RIGHT);
    n = select<u32>(l, r, key < k);
  }
  return 0;
}

/** rb_find_add() with a u64 key: the node already holding node's key, or 0 after linking node. */
// @ts-ignore: decorator
@inline function find_add_u64(root: u32, node: u32, key_off: i32): u32 {
  const key = key_of(node, key_off);
  let link = root;         // address of the child slot to fill
  let parent: u32 = 0;
  let n = load<u32>(link);
  while (n) {
    parent = n;
    const k = key_of(n, key_off);
    if (key == k) return n;
    link = n + select<u32>(RB_LEFT, RB_RIGHT, key < k); // branch-free, as in find_u64
    n = load<u32>(link);
  }
  rb_link_node(node, parent, link);
  __rb_insert(node, root); // rb_insert_color()
  return 0;
}

/**
 * rb_find_u64(root, key_lo, key_hi, key_off): the node whose u64 key (at
 * node+key_off) equals key_hi:key_lo, or 0. The key is split because a u64
 * parameter would be a BigInt in JS.
 */
export function rb_find_u64(root: u32, key_lo: u32, key_hi: u32, key_off: i32): u32 {
  return find_u64(root, (<u64>key_hi << 32) | <u64>key_lo, key_off);
}

/**
 * rb_find_add_u64(root, node, key_off): insert `node` keyed by the u64 at
 * node+key_off, unless a node with that key is in the tree: then return that
 * node and leave `node` unlinked. Returns 0 when `node` was inserted.
 */
export function rb_find_add_u64(root: u32, node: u32, key_off: i32): u32 {
  return find_add_u64(root, node, key_off);
}

/**
 * rb_insert_batch_u64(root, nodes_ptr, n, key_off): rb_find_add_u64 for each of
 * the n u32 node offsets at nodes_ptr, in order. Each slot is overwritten with
 * its result: 0 when that node was inserted, else the node already holding its
 * key (the slot's node stays unlinked). Returns how many nodes were inserted.
 */
export function rb_insert_batch_u64(root: u32, nodes_ptr: u32, n: u32, key_off: i32): u32 {
  let inserted: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const slot = nodes_ptr + (i << 2);
    const found = find_add_u64(root, load<u32>(slot), key_off);
    store<u32>(slot, found);
    inserted += u32(found == 0);
  }
  return inserted;
}

/**
 * rb_find_batch_u64(root, keys_ptr, n, out_ptr, key_off): for each of the n
 * little-endian u64 keys at keys_ptr, store the node holding it (or 0) in the u32
 * at out_ptr + 4*i. Returns how many keys were found.
 */
export function rb_find_batch_u64(root: u32, keys_ptr: u32, n: u32, out_ptr: u32, key_off: i32): u32 {
  let found: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const node = find_u64(root, load<u64>(keys_ptr + (i << 3)), key_off);
    store<u32>(out_ptr + (i << 2), node);
    found += u32(node != 0);
  }
  return found;
}

/**
 * rb_nodes_check(nodes_ptr, n, lo, hi): the index of the first of the n u32 node
 * offsets at nodes_ptr that is not a multiple of 4 in [lo, hi], or n when all are.
 * kwq's own guard, not the kernel's: the host calls it before a batch changes the
 * tree, so that a bad offset fails before any node moves. One branch-free pass
 * (~0.3 ns a node; the same test in JS cost ~1.5 ns a node, 5-10 % of an erase).
 */
export function rb_nodes_check(nodes_ptr: u32, n: u32, lo: u32, hi: u32): u32 {
  let bad: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const v = load<u32>(nodes_ptr + (i << 2));
    bad |= (v & 3) | u32(v < lo) | u32(v > hi);
  }
  if (!bad) return n;
  for (let i: u32 = 0; i < n; i++) {
    const v = load<u32>(nodes_ptr + (i << 2));
    if ((v & 3) != 0 || v < lo || v > hi) return i;
  }
  return n;
}

/**
 * rb_erase_batch(root, nodes_ptr, n): rb_erase each of the n u32 node offsets at
 * nodes_ptr, in order, then rb_clear_node it so that a second erase of the same
 * node can be detected. Every node must be in this tree (as for rb_erase).
 * Returns n.
 */
export function rb_erase_batch(root: u32, nodes_ptr: u32, n: u32): u32 {
  for (let i: u32 = 0; i < n; i++) {
    const node = load<u32>(nodes_ptr + (i << 2));
    __rb_erase(node, root); // rb_erase()
    set_pc(node, node); // RB_CLEAR_NODE
  }
  return n;
}

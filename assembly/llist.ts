// Lock-less NULL-terminated singly linked list, after include/linux/llist.h and
// lib/llist.c (kernel-reference.md section 4). Pointers are u32 offsets into the
// one shared memory; 0 is NULL (offset 0..63 is never an object).
//
//   llist_head (4 bytes; give it its own 64-byte line when it is contended)
//   +0 first u32 ---> llist_node ---> llist_node ---> 0
//                     +0 next u32     +0 next u32
//
// A node is embedded in a bigger structure; kwq puts it at offset 0 of its
// containers (vhost_work), so container_of() is the identity.
//
// Concurrency (the kernel's table: "-" no lock needed, "L" lock needed):
//
//            |   add    | del_first |  del_all
//  add       |    -     |     -     |     -
//  del_first |          |     L     |     L
//  del_all   |          |           |     -
//
// Entries must not be walked before they are deleted from the list. Every Wasm
// atomic is sequentially consistent (the kernel's cmpxchg/xchg are fully ordered).

/** init_llist_head: an empty list. */
export function init_llist_head(head: usize): void {
  atomic.store<u32>(head, 0); // pairs with the cmpxchg in llist_add_batch / xchg in llist_del_all
}

/** init_llist_node: next == self marks "not on any list". */
export function init_llist_node(node: usize): void {
  store<u32>(node, <u32>node);
}

/** llist_on_list: false after init_llist_node until the node is added. May be stale. */
export function llist_on_list(node: usize): bool {
  return load<u32>(node) != <u32>node;
}

/** llist_empty: "not guaranteed to be accurate or up to date". May be stale. */
// @ts-ignore: decorator
@inline export function llist_empty(head: usize): bool {
  return atomic.load<u32>(head) == 0; // may be stale; pairs with llist_add_batch's cmpxchg
}

/**
 * llist_add_batch: push the chain first..last (already linked) at the head.
 * Returns true iff the list was empty before.
 */
// @ts-ignore: decorator
@inline export function llist_add_batch(first: usize, last: usize, head: usize): bool {
  let old = atomic.load<u32>(head); // a first guess; the cmpxchg below checks it
  while (true) {
    // plain store: the node is private until the cmpxchg publishes it
    store<u32>(last, old);
    // pairs with llist_del_all's xchg (the consumer sees last->next written)
    const seen = atomic.cmpxchg<u32>(head, old, <u32>first);
    if (seen == old) break;
    old = seen;
  }
  return old == 0;
}

/** llist_add: push one node at the head; true iff the list was empty. */
// @ts-ignore: decorator
@inline export function llist_add(node: usize, head: usize): bool {
  return llist_add_batch(node, node, head);
}

/** llist_del_all: detach the whole chain, newest first (0 if empty). */
// @ts-ignore: decorator
@inline export function llist_del_all(head: usize): usize {
  return <usize>atomic.xchg<u32>(head, 0); // pairs with llist_add_batch's cmpxchg
}

/**
 * llist_del_first: remove and return the newest entry, 0 if empty. Only one
 * del_first consumer at a time (the table above): a node cannot be removed and
 * re-added by someone else between our read of first->next and the cmpxchg.
 */
export function llist_del_first(head: usize): usize {
  let entry = atomic.load<u32>(head); // pairs with llist_add_batch's cmpxchg
  while (entry != 0) {
    const next = load<u32>(entry); // stable: published by the cmpxchg that added entry
    const seen = atomic.cmpxchg<u32>(head, entry, next); // pairs with llist_add_batch's cmpxchg
    if (seen == entry) break;
    entry = seen;
  }
  return <usize>entry;
}

/** llist_reverse_order: reverse a detached chain in place; returns the new head. */
// @ts-ignore: decorator
@inline export function llist_reverse_order(node: usize): usize {
  let prev: usize = 0;
  while (node != 0) {
    const next = <usize>load<u32>(node);
    store<u32>(node, <u32>prev);
    prev = node;
    node = next;
  }
  return prev;
}

/** llist_next: the node after `node` in a detached chain. */
export function llist_next(node: usize): usize {
  return <usize>load<u32>(node);
}

// ---- batch entry points for the host (one call per batch, never per item) ----

/**
 * Push `n` nodes whose offsets are u32s at `nodes`, in array order, ONE
 * llist_add per node (the kernel's behaviour, n cmpxchg). Returns how many of
 * the adds found the list empty (0 or 1 for a single adder).
 */
export function llist_add_each(nodes: usize, n: u32, head: usize): u32 {
  let empties: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    empties += u32(llist_add(<usize>load<u32>(nodes + (<usize>i << 2)), head));
  }
  return empties;
}

/**
 * Link the `n` nodes at `nodes` into one chain and push it with a single
 * llist_add_batch, ordered so that llist_del_all + llist_reverse_order yields
 * them in array order (nodes[0] first), exactly as n llist_add calls would.
 * Returns 1 iff the list was empty (0 when n == 0).
 */
export function llist_add_array(nodes: usize, n: u32, head: usize): bool {
  if (n == 0) return false;
  const last = <usize>load<u32>(nodes);
  let first = last;
  for (let i: u32 = 1; i < n; i++) {
    const node = <usize>load<u32>(nodes + (<usize>i << 2));
    store<u32>(node, <u32>first);
    first = node;
  }
  return llist_add_batch(first, last, head);
}

/**
 * Detach the whole list and write it to `out` (at most `cap` offsets), newest
 * first when `reverse` is 0, oldest first (FIFO) when it is 1. Returns the
 * number written; nodes beyond `cap` are put back with one llist_add_batch
 * (so a too-small buffer loses nothing, but they then sit ahead of newer adds).
 */
export function llist_del_all_to(head: usize, out: usize, cap: u32, reverse: u32): u32 {
  let node = llist_del_all(head);
  if (reverse) node = llist_reverse_order(node);
  let n: u32 = 0;
  while (node != 0 && n < cap) {
    store<u32>(out + (<usize>n << 2), <u32>node);
    n++;
    node = <usize>load<u32>(node);
  }
  if (node != 0) {
    // put the rest back (restore newest-first order for the list)
    const rest = reverse ? llist_reverse_order(node) : node;
    let last = rest;
    while (load<u32>(last) != 0) last = <usize>load<u32>(last);
    llist_add_batch(rest, last, head);
  }
  return n;
}

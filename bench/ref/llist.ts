/**
 * The pure-TypeScript reference of assembly/llist.ts and assembly/bitops.ts: the
 * same algorithms with JS Atomics on an Int32Array over a SharedArrayBuffer, so
 * that every Wasm figure sits beside this one, measured in the same run.
 *
 * Pointers are byte offsets, as in Wasm (0 is NULL); `m` is the Int32Array over
 * the whole memory, so a node's next word is m[node >> 2]. V8 on Node 20 calls a
 * builtin for every Atomics operation instead of inlining it (shared/wasm-notes.md):
 * that is the cost this reference shows.
 */

/** llist_add_batch: push first..last at the head; true iff the list was empty. */
export function llistAddBatch(m: Int32Array, first: number, last: number, head: number): boolean {
  const h = head >> 2;
  let old = Atomics.load(m, h); // a first guess; the compareExchange checks it
  for (;;) {
    m[last >> 2] = old; // private until published
    const seen = Atomics.compareExchange(m, h, old, first); // pairs with llistDelAll's exchange
    if (seen === old) return old === 0;
    old = seen;
  }
}

export function llistAdd(m: Int32Array, node: number, head: number): boolean {
  return llistAddBatch(m, node, node, head);
}

/** llist_del_all: the whole chain, newest first. */
export function llistDelAll(m: Int32Array, head: number): number {
  return Atomics.exchange(m, head >> 2, 0); // pairs with llistAddBatch's compareExchange
}

/** llist_del_first: single consumer. */
export function llistDelFirst(m: Int32Array, head: number): number {
  const h = head >> 2;
  let entry = Atomics.load(m, h); // pairs with llistAddBatch
  while (entry !== 0) {
    const seen = Atomics.compareExchange(m, h, entry, m[entry >> 2]!); // pairs with llistAddBatch
    if (seen === entry) break;
    entry = seen;
  }
  return entry;
}

export function llistReverseOrder(m: Int32Array, node: number): number {
  let prev = 0;
  while (node !== 0) {
    const next = m[node >> 2]!;
    m[node >> 2] = prev;
    prev = node;
    node = next;
  }
  return prev;
}

/** May be stale. */
export function llistEmpty(m: Int32Array, head: number): boolean {
  return Atomics.load(m, head >> 2) === 0; // may be stale
}

/** test_and_set_bit with the early read, as assembly/bitops.ts. */
export function testAndSetBit(m: Int32Array, nr: number, addr: number): boolean {
  const i = (addr >> 2) + (nr >>> 5);
  const mask = 1 << (nr & 31);
  if (Atomics.load(m, i) & mask) return true; // pairs with testAndClearBit
  return (Atomics.or(m, i, mask) & mask) !== 0; // pairs with testAndClearBit
}

export function testAndClearBit(m: Int32Array, nr: number, addr: number): boolean {
  const i = (addr >> 2) + (nr >>> 5);
  const mask = 1 << (nr & 31);
  return (Atomics.and(m, i, ~mask) & mask) !== 0; // pairs with testAndSetBit
}

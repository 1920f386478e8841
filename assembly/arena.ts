// Fixed-size object arena with a lock-free free list (a Treiber stack whose head
// carries an ABA tag). The host assigns the header and the objects' region
// (src/wasm/layout.ts) and calls arena_init once, before any thread starts.
//
//   arena header (128 bytes, 64-byte aligned)
//   +0   head   u64 = tag << 32 | ptr    <- the only contended word, own line
//   +8..63      padding
//   +64  base   u32  first object
//   +68  size   u32  object size in bytes (a multiple of 8, >= 8)
//   +72  count  u32  capacity in objects
//   +76  end    u32  base + size * count
//   +80  unused u32  the first object never handed out (bump pointer, base..end)
//   +84..127    padding
//
//   objects: base, base + size, ..., end - size
//   a FREE object's first u32 is the next free object (0 ends the list);
//   an allocated object belongs wholly to its owner. Objects at or above
//   `unused` were never allocated: nothing has written them.
//
// Why the bump pointer: the arena is sized for a large host (a million vhost works,
// tens of thousands of loop workers) but a boot uses a few. arena_init touches no
// object, so the pages of the objects never used are never written and the OS never
// backs them (the memory is reserved at boot, initial == maximum; only what is used
// costs RAM). Allocation pops the free list first and bumps `unused` only when the
// list is empty, so objects come out in the same order as from a list built
// base, base + size, ... at init (the layout before this change).
//
// Why the tag: pop reads head.ptr->next and then swaps head from {ptr} to {next}.
// If another thread pops ptr, pops next and pushes ptr back in between, an
// untagged swap would succeed and install `next`, which is in use (ABA). Every
// successful swap increments the tag, so that stale swap fails. A stale read of
// ptr->next is harmless (an aligned load inside the memory); only a successful
// cmpxchg commits it, and that proves nothing changed since the read.
//
// Concurrency: alloc and free from any number of threads, no lock. arena_init
// and arena_count_free only while no other thread uses the arena.

export const ARENA_HEAD: u32 = 0;
export const ARENA_BASE: u32 = 64;
export const ARENA_SIZE: u32 = 68;
export const ARENA_COUNT: u32 = 72;
export const ARENA_END: u32 = 76;
export const ARENA_UNUSED: u32 = 80;
export const ARENA_HEADER_SIZE: u32 = 128;

export function arena_header_size(): u32 {
  return ARENA_HEADER_SIZE;
}

/** An empty free list and every object unused: allocation starts at base. Touches no object. */
export function arena_init(arena: usize, base: u32, size: u32, count: u32): void {
  store<u32>(arena + ARENA_BASE, base);
  store<u32>(arena + ARENA_SIZE, size);
  store<u32>(arena + ARENA_COUNT, count);
  store<u32>(arena + ARENA_END, base + size * count);
  atomic.store<u32>(arena + ARENA_UNUSED, base); // pairs with arena_bump's cmpxchg (threads start after this)
  // pairs with every arena_alloc/arena_free cmpxchg (threads start after this)
  atomic.store<u64>(arena + ARENA_HEAD, 0);
}

/** Take the next never-used object; 0 when every object was handed out once. */
// @ts-ignore: decorator
@inline function arena_bump(arena: usize): u32 {
  const up = arena + ARENA_UNUSED;
  const size = load<u32>(arena + ARENA_SIZE); // written once at init
  const end = load<u32>(arena + ARENA_END);
  let u = atomic.load<u32>(up); // pairs with the cmpxchg below
  while (u < end) {
    const seen = atomic.cmpxchg<u32>(up, u, u + size); // pairs with other allocators' cmpxchg
    if (seen == u) return u;
    u = seen;
  }
  return 0;
}

/** Pop one object (the free list first, then a never-used one); 0 when the arena is exhausted. */
export function arena_alloc(arena: usize): u32 {
  const headp = arena + ARENA_HEAD;
  let old = atomic.load<u64>(headp); // pairs with the cmpxchg below and in arena_free*
  while (true) {
    const ptr = <u32>old;
    if (ptr == 0) return arena_bump(arena);
    // may be stale (ptr may have been popped and reused meanwhile); the tagged
    // cmpxchg rejects it in that case
    const next = load<u32>(ptr);
    const tag = <u32>(old >> 32) + 1;
    const seen = atomic.cmpxchg<u64>(headp, old, (<u64>tag << 32) | <u64>next); // pairs with arena_free's cmpxchg
    if (seen == old) return ptr;
    old = seen;
  }
}

/** Push the chain first..last (linked through their first u32) in one cmpxchg. */
// @ts-ignore: decorator
@inline function arena_push_chain(arena: usize, first: u32, last: u32): void {
  const headp = arena + ARENA_HEAD;
  let old = atomic.load<u64>(headp); // a first guess; the cmpxchg checks it
  while (true) {
    store<u32>(last, <u32>old); // private until the cmpxchg publishes it
    const tag = <u32>(old >> 32) + 1;
    const seen = atomic.cmpxchg<u64>(headp, old, (<u64>tag << 32) | <u64>first); // pairs with arena_alloc's cmpxchg
    if (seen == old) return;
    old = seen;
  }
}

/** Return one object. The caller guarantees it came from this arena and is not free. */
export function arena_free(arena: usize, ptr: u32): void {
  arena_push_chain(arena, ptr, ptr);
}

/**
 * Pop up to `n` objects into the u32 array at `out`; returns how many (fewer
 * than n only when the arena ran out). One cmpxchg per object: walking further
 * than head->next before the swap could follow a stale pointer.
 */
export function arena_alloc_batch(arena: usize, out: usize, n: u32): u32 {
  for (let i: u32 = 0; i < n; i++) {
    const p = arena_alloc(arena);
    if (p == 0) return i;
    store<u32>(out + (<usize>i << 2), p);
  }
  return n;
}

/** Return the `n` objects listed at `ptrs` with one cmpxchg. */
export function arena_free_batch(arena: usize, ptrs: usize, n: u32): void {
  if (n == 0) return;
  const first = load<u32>(ptrs);
  let prev = first;
  for (let i: u32 = 1; i < n; i++) {
    const p = load<u32>(ptrs + (<usize>i << 2));
    store<u32>(prev, p);
    prev = p;
  }
  arena_push_chain(arena, first, prev);
}

/**
 * Free objects counted by walking the list: only while no thread uses the arena
 * (tests and diagnostics). Stops after `count` steps so that a corrupted list
 * (a cycle) reports count + 1 instead of hanging.
 */
export function arena_count_free(arena: usize): u32 {
  const count = load<u32>(arena + ARENA_COUNT);
  let p = <u32>atomic.load<u64>(arena + ARENA_HEAD);
  // never-used objects are free too; pairs with arena_bump (no thread runs now)
  let n: u32 = (load<u32>(arena + ARENA_END) - atomic.load<u32>(arena + ARENA_UNUSED)) / load<u32>(arena + ARENA_SIZE);
  while (p != 0) {
    if (n > count) return n;
    n++;
    p = load<u32>(p);
  }
  return n;
}

/** Objects handed out at least once (the high-water mark). May be stale. */
export function arena_high_water(arena: usize): u32 {
  // may be stale; pairs with arena_bump's cmpxchg
  return (atomic.load<u32>(arena + ARENA_UNUSED) - load<u32>(arena + ARENA_BASE)) / load<u32>(arena + ARENA_SIZE);
}

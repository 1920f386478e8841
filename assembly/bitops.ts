// Atomic bit operations on bit numbers, as in Documentation/atomic_bitops.txt
// (kernel-reference.md section 5). Bit `nr` is bit nr % 32 of the u32 word at
// addr + (nr / 32) * 4. On a little-endian machine this addresses the same bit as
// the kernel's unsigned-long words, so VHOST_WORK_QUEUED (bit 1) is mask 0x2 here
// as there.
//
// Ordering: every Wasm atomic is sequentially consistent, which is at least as
// strong as the kernel asks (RMW with return value: fully ordered; without:
// unordered). test_bit is a racy read: its result may be stale.

// @ts-ignore: decorator
@inline function bit_word(nr: u32, addr: usize): usize {
  return addr + ((<usize>(nr >> 5)) << 2);
}

// @ts-ignore: decorator
@inline function bit_mask(nr: u32): u32 {
  return (<u32>1) << (nr & 31);
}

/** set_bit: atomic OR, no return value. */
// @ts-ignore: decorator
@inline export function set_bit(nr: u32, addr: usize): void {
  atomic.or<u32>(bit_word(nr, addr), bit_mask(nr)); // pairs with test_and_clear_bit / test_bit readers
}

/** clear_bit: atomic AND NOT, no return value. */
// @ts-ignore: decorator
@inline export function clear_bit(nr: u32, addr: usize): void {
  atomic.and<u32>(bit_word(nr, addr), ~bit_mask(nr)); // pairs with test_and_set_bit in vhost_worker_queue
}

/**
 * test_and_set_bit: returns the ORIGINAL value of the bit (false the first time).
 * Like the generic kernel version it first reads the word and returns early when
 * the bit is already set, so a deduplicated queue does not dirty the cache line
 * ("a failed conditional RMW is unordered").
 */
// @ts-ignore: decorator
@inline export function test_and_set_bit(nr: u32, addr: usize): bool {
  const w = bit_word(nr, addr);
  const m = bit_mask(nr);
  // pairs with clear_bit / test_and_clear_bit by the worker; a seq-cst load, so a
  // clear that happened-before this call is always seen
  if (atomic.load<u32>(w) & m) return true;
  return (atomic.or<u32>(w, m) & m) != 0; // pairs with the worker's test_and_clear_bit
}

/** test_and_clear_bit: returns the ORIGINAL value of the bit. */
// @ts-ignore: decorator
@inline export function test_and_clear_bit(nr: u32, addr: usize): bool {
  const m = bit_mask(nr);
  return (atomic.and<u32>(bit_word(nr, addr), ~m) & m) != 0; // pairs with test_and_set_bit in vhost_worker_queue
}

/** test_bit: a plain read. May be stale. */
// @ts-ignore: decorator
@inline export function test_bit(nr: u32, addr: usize): bool {
  return (atomic.load<u32>(bit_word(nr, addr)) & bit_mask(nr)) != 0; // may be stale; pairs with every RMW above
}

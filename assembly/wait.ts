// Wait/wake on u32 words (futex-style). memory.atomic.wait32 blocks the calling
// thread: never call futex_wait on Node's main thread (it stalls the event
// loop; the host uses Atomics.waitAsync there). A Wasm notify wakes JS
// Atomics.wait/waitAsync on the same word and the other way round.
//
// Node 20 (V8 11.3) under the baseline compiler (Liftoff) can lose a local that
// is live across memory.atomic.wait32 (shared/wasm-notes.md). src/wasm/module.ts
// sets --no-liftoff before compiling; kwq_selftest_wait_sum below is what the
// regression test (test/engine/liftoff.test.ts) runs to catch it coming back.

export const FUTEX_WAIT_OK: i32 = 0;
export const FUTEX_WAIT_NOT_EQUAL: i32 = 1;
export const FUTEX_WAIT_TIMED_OUT: i32 = 2;

/**
 * futex_wait: sleep while *addr == expected, at most timeout_us microseconds
 * (-1 = forever; u64 nanoseconds would be a BigInt in JS). Returns 0 woken,
 * 1 the word was not `expected`, 2 timed out.
 */
export function futex_wait(addr: usize, expected: u32, timeout_us: i32): i32 {
  const ns: i64 = timeout_us < 0 ? -1 : <i64>timeout_us * 1000;
  return <i32>memory.atomic.wait32(addr, <i32>expected, ns); // pairs with futex_wake's notify
}

/** futex_wake: wake up to `count` waiters on addr; returns how many woke. */
export function futex_wake(addr: usize, count: u32): u32 {
  return <u32>atomic.notify(addr, <i32>count); // pairs with futex_wait / Atomics.wait
}

/**
 * Liftoff regression probe: sums 1..n with a memory.atomic.wait32 (timeout 0,
 * returns at once) inside the loop, so `sum` and `i` are live across the wait.
 * Correct code returns n*(n+1)/2 (mod 2^32); the Node 20 Liftoff bug returned 0.
 */
export function kwq_selftest_wait_sum(word: usize, n: u32): u32 {
  let sum: u32 = 0;
  for (let i: u32 = 1; i <= n; i++) {
    sum += i;
    // expected != current value: returns "not-equal" immediately
    memory.atomic.wait32(word, <i32>(atomic.load<u32>(word) ^ 1), 0); // pairs with nothing: a probe
  }
  return sum;
}

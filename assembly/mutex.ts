// A futex-style mutex with three states (Drepper, "Futexes Are Tricky", mutex2):
//
//   mutex word (u32; own 64-byte line when contended)
//   +0 0 = unlocked, 1 = locked with no waiters, 2 = locked, maybe waiters
//
// Uncontended lock/unlock is one cmpxchg / one atomic sub; only a contended
// unlock issues a notify. mutex_lock may block: not on Node's main thread.

/** mutex_lock: returns holding the mutex; sleeps while it is contended. */
export function mutex_lock(m: usize): void {
  let c = atomic.cmpxchg<u32>(m, 0, 1); // pairs with mutex_unlock's sub/store
  if (c == 0) return;
  if (c != 2) c = atomic.xchg<u32>(m, 2); // announce a waiter; pairs with mutex_unlock
  while (c != 0) {
    memory.atomic.wait32(m, 2, -1); // pairs with mutex_unlock's notify
    c = atomic.xchg<u32>(m, 2);     // pairs with mutex_unlock's store
  }
}

/** mutex_trylock: true iff taken (never blocks; fine on the main thread). */
export function mutex_trylock(m: usize): bool {
  return atomic.cmpxchg<u32>(m, 0, 1) == 0; // pairs with mutex_unlock
}

/** mutex_unlock: the caller must hold the mutex. */
export function mutex_unlock(m: usize): void {
  if (atomic.sub<u32>(m, 1) != 1) {  // was 2: there may be waiters; pairs with mutex_lock's xchg
    atomic.store<u32>(m, 0);         // pairs with mutex_lock's xchg
    atomic.notify(m, 1);             // pairs with mutex_lock's wait32
  }
}

/** mutex_is_locked: may be stale. */
export function mutex_is_locked(m: usize): bool {
  return atomic.load<u32>(m) != 0; // may be stale
}

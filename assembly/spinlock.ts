// A test-and-test-and-set spinlock on one u32 word (0 unlocked, 1 locked), for
// very short critical sections between threads that never sleep holding it.
//
//   lock word (u32; give it its own 64-byte line when contended)
//   +0 0 = unlocked, 1 = locked
//
// Spinning reads the word (shared cache line, no traffic) and only tries the
// cmpxchg when it looks free. Wasm has no pause instruction; the read loop is it.

/** spin_lock: returns when the caller holds the lock. */
export function spin_lock(lock: usize): void {
  while (true) {
    // may be stale: only a hint; the cmpxchg decides
    if (atomic.load<u32>(lock) == 0 &&
        atomic.cmpxchg<u32>(lock, 0, 1) == 0) return; // pairs with spin_unlock's store
  }
}

/** spin_trylock: true iff the lock was taken. */
export function spin_trylock(lock: usize): bool {
  return atomic.load<u32>(lock) == 0 &&   // may be stale: a hint
    atomic.cmpxchg<u32>(lock, 0, 1) == 0; // pairs with spin_unlock's store
}

/** spin_unlock: release; the caller must hold the lock. */
export function spin_unlock(lock: usize): void {
  atomic.store<u32>(lock, 0); // pairs with spin_lock's cmpxchg (release)
}

/** spin_is_locked: may be stale. */
export function spin_is_locked(lock: usize): bool {
  return atomic.load<u32>(lock) != 0; // may be stale
}

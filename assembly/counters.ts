// Per-cgroup counter slots: u64 each, 8-byte aligned, at the offset the host
// wrote into the control block (CTRL_COUNTERS, CTRL_NCOUNTERS).
//
//   counters region
//   +0  slot 0 u64 | +8 slot 1 u64 | ... | +8*(n-1) slot n-1 u64
//
// Slots are added to with atomic adds from any thread (VHOST_FN_COUNT works,
// drivers). Reads are snapshots: each slot is read atomically, the set is not.
import { CTRL_COUNTERS, CTRL_NCOUNTERS } from './layout';

/** counter_add: atomically add `delta` to slot; returns 0, or -1 if slot is out of range. */
// @ts-ignore: decorator
@inline export function counter_add(slot: u32, delta: u64): i32 {
  if (slot >= load<u32>(CTRL_NCOUNTERS)) return -1; // control block: read-only after boot
  atomic.add<u64>(<usize>load<u32>(CTRL_COUNTERS) + (<usize>slot << 3), delta); // pairs with counters_snapshot's loads
  return 0;
}

/** counter_add for the host (delta is u32: a u64 would be a BigInt in JS). */
export function counter_add32(slot: u32, delta: u32): i32 {
  return counter_add(slot, <u64>delta);
}

/**
 * Copy slots first..first+n-1 into the f64 array at `out` (exact below 2^53;
 * f64 so that JS reads them without a BigInt per value). Returns n, or -1 when
 * the range is out of bounds (nothing written). May be stale.
 */
export function counters_snapshot(first: u32, n: u32, out: usize): i32 {
  const count = load<u32>(CTRL_NCOUNTERS);
  if (first > count || n > count - first) return -1;
  const base = <usize>load<u32>(CTRL_COUNTERS) + (<usize>first << 3);
  for (let i: u32 = 0; i < n; i++) {
    const v = atomic.load<u64>(base + (<usize>i << 3)); // may be stale; pairs with counter_add
    store<f64>(out + (<usize>i << 3), <f64>v);
  }
  return <i32>n;
}

/** Zero slots first..first+n-1 (quiescent use: boot, tests). Returns n or -1. */
export function counters_reset(first: u32, n: u32): i32 {
  const count = load<u32>(CTRL_NCOUNTERS);
  if (first > count || n > count - first) return -1;
  const base = <usize>load<u32>(CTRL_COUNTERS) + (<usize>first << 3);
  for (let i: u32 = 0; i < n; i++) atomic.store<u64>(base + (<usize>i << 3), 0); // pairs with counter_add
  return <i32>n;
}

// The fixed part of kwq's shared-memory layout, as Wasm sees it. The host
// (src/wasm/layout.ts) assigns every other offset and writes the ones the Wasm code
// needs into the control block at boot; this file mirrors src/wasm/layout.ts.
//
//   0        64                 128                                         total
//   +--------+------------------+-- 64-byte aligned regions, host-assigned --+
//   | NULL   | control block    | arenas (header line + objects), workers,   |
//   | never  | (read-only after | counters, per-thread scratch slots, ...    |
//   | valid  |  boot)           |                                            |
//   +--------+------------------+--------------------------------------------+
//
// Control block (one 64-byte line, written once by the host before any thread
// starts, read-only afterwards, so plain loads are enough):
//
//   +0  magic        u32  KWQ_MAGIC ('KWQ1')
//   +4  abi          u32  KWQ_ABI_VERSION
//   +8  canary       u32  random, written by the host after the memory is created;
//                         every instantiation checks it afterwards
//   +12 total        u32  bytes of memory the layout uses
//   +16 counters     u32  offset of the counter slots (u64 each), for VHOST_FN_COUNT
//   +20 ncounters    u32  number of counter slots
//   +24..63               reserved (zero)
//
// Offset 0..63 is never a valid object, so 0 is NULL for every u32 pointer.
// Module-level `const` are compile-time constants (no Wasm global survives -O3);
// module-level `let` would be a mutable global per instance and is forbidden by
// the module guard (src/wasm/guard.ts).

export const KWQ_NULL_END: u32 = 64;
export const KWQ_CACHELINE: u32 = 64;

export const CTRL: u32 = 64;
export const CTRL_MAGIC: u32 = CTRL + 0;
export const CTRL_ABI: u32 = CTRL + 4;
export const CTRL_CANARY: u32 = CTRL + 8;
export const CTRL_TOTAL: u32 = CTRL + 12;
export const CTRL_COUNTERS: u32 = CTRL + 16;
export const CTRL_NCOUNTERS: u32 = CTRL + 20;
export const CTRL_SIZE: u32 = 64;
/** First byte a host-assigned region may use. */
export const CTRL_END: u32 = CTRL + CTRL_SIZE;

/** 'KWQ1' little-endian. */
export const KWQ_MAGIC: u32 = 0x3151574b;
/** Bump when any layout constant or entry-point signature changes. */
export const KWQ_ABI_VERSION: u32 = 3; // 2: vhost_worker spin_floor at +80 (at +76 it overlapped wakeups, a u64 at +72); 3: vhost_worker_queue_nowake (the sim queue), so a stale build says "rebuild"

/** The ABI version this build was compiled with (the host compares it). */
export function kwq_abi_version(): u32 {
  return KWQ_ABI_VERSION;
}

/**
 * 1 iff the control block was written by a host of the same ABI (magic + version).
 * The canary itself is compared by the host, which knows the value it wrote.
 */
export function kwq_control_ok(): u32 {
  return u32(load<u32>(CTRL_MAGIC) == KWQ_MAGIC && load<u32>(CTRL_ABI) == KWQ_ABI_VERSION);
}

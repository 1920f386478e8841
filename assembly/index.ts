// The only file that exports from kwq.wasm (issue 2: "exports only from index.ts").
// Each structure lives in its own file; its public entry points are re-exported here.
export function kwq_abi_version(): u32 { return 1; }

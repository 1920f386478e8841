// The only file that exports from kwq.wasm (issue 2: "exports only from index.ts").
// Each structure lives in its own file; its public entry points are re-exported here.
export function kwq_abi_version(): u32 { return 1; }
export { rb_root_init, rb_empty_root, rb_clear_node, rb_empty_node, rb_link_node, rb_insert_color, rb_erase, rb_replace_node, rb_first, rb_last, rb_next, rb_prev, rb_find_u64, rb_find_add_u64, rb_insert_batch_u64, rb_find_batch_u64, rb_erase_batch } from './rbtree';

// The only file that exports from kwq.wasm (issue 2: "exports only from index.ts").
// Each structure lives in its own file; its public entry points are re-exported here.
// Every export takes and returns i32/u32/bool/f64 only (a u64 would be a BigInt in JS)
// and has no optional parameters (those add a mutable `~argumentsLength` global).
export { kwq_abi_version, kwq_control_ok } from './layout';
export { set_bit, clear_bit, test_and_set_bit, test_and_clear_bit, test_bit } from './bitops';
export {
  init_llist_head, init_llist_node, llist_on_list, llist_empty, llist_add_batch, llist_add,
  llist_del_all, llist_del_first, llist_reverse_order, llist_next,
  llist_add_each, llist_add_array, llist_del_all_to,
} from './llist';
export {
  arena_header_size, arena_init, arena_alloc, arena_free, arena_alloc_batch, arena_free_batch,
  arena_count_free, arena_high_water,
} from './arena';
export { spin_lock, spin_trylock, spin_unlock, spin_is_locked } from './spinlock';
export { mutex_lock, mutex_trylock, mutex_unlock, mutex_is_locked } from './mutex';
export { futex_wait, futex_wake, kwq_selftest_wait_sum } from './wait';
export { counter_add32, counters_snapshot, counters_reset } from './counters';
export {
  vhost_work_size, vhost_worker_size, vhost_work_init, vhost_work_init_batch, vhost_worker_init,
  vhost_worker_queue, vhost_worker_queue_nowake, vhost_worker_queue_each, vhost_work_queue_batch, vhost_worker_stop, vhost_worker_clear_stop,
  vhost_worker_has_work, vhost_worker_run, vhost_worker_loop, vhost_worker_stats,
  vhost_work_queue_batch_ordered, vhost_worker_queue_each_ordered, vhost_work_wait_idle, vhost_worker_spin, vhost_worker_set_spin_floor,
} from './vhost';
export { rb_root_init, rb_empty_root, rb_clear_node, rb_empty_node, rb_link_node, rb_insert_color, rb_erase, rb_replace_node, rb_first, rb_last, rb_next, rb_prev, rb_find_u64, rb_find_add_u64, rb_insert_batch_u64, rb_find_batch_u64, rb_erase_batch, rb_nodes_check } from './rbtree';
export { loop_wq_size, loop_work_init, loop_wq_init, __queue_work, loop_queue_work_on, loop_wq_pick, loop_wq_done, loop_wq_stop, loop_wq_idle } from './loop-wq';
export { loop_device_size, loop_worker_size, loop_cmd_size, loop_device_init, loop_set_fail_pct, loop_queue_work, loop_queue_work_batch, loop_process_one, loop_process_batch, loop_free_idle_workers, loop_find_worker, loop_find_worker_batch, loop_workers_snapshot } from './loop';
export { vhost_vq_size, vhost_vq_init, vhost_vq_set_base, vhost_vq_handle, vhost_vq_complete, vhost_vq_post, vhost_vq_kick, vhost_vq_reap } from './vhost_vq';
export {
  io_wq_size, io_wq_work_size, io_wq_init, io_wq_work_init, io_wq_work_init_batch, io_wq_hash_work, io_wq_enqueue, io_wq_enqueue_batch,
  io_acct_run_queue, io_get_next_work, io_wq_work_done, io_wq_worker_attach, io_wq_worker_idle, io_wq_worker_busy,
  io_wq_worker_timeout, io_wq_worker_exit, io_wq_inc_running, io_wq_dec_running, io_wq_create_failed,
  io_wq_cancel_pending, io_wq_exit_start, io_wq_max_workers, io_worker_handle_work, io_wq_worker_loop, io_wq_cas_bench,
} from './io-wq';

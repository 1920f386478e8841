/**
 * The entry points of kwq.wasm as the host calls them: u32 offsets and counts in,
 * i32/u32 (bool as 0/1) out. Mirrors assembly/index.ts (rbtree: ./rbtree.ts).
 */
export interface KwqExports {
  kwq_abi_version(): number;
  kwq_control_ok(): number;
  // bitops
  set_bit(nr: number, addr: number): void;
  clear_bit(nr: number, addr: number): void;
  test_and_set_bit(nr: number, addr: number): number;
  test_and_clear_bit(nr: number, addr: number): number;
  test_bit(nr: number, addr: number): number;
  // llist
  init_llist_head(head: number): void;
  init_llist_node(node: number): void;
  llist_on_list(node: number): number;
  llist_empty(head: number): number;
  llist_add_batch(first: number, last: number, head: number): number;
  llist_add(node: number, head: number): number;
  llist_del_all(head: number): number;
  llist_del_first(head: number): number;
  llist_reverse_order(node: number): number;
  llist_next(node: number): number;
  llist_add_each(nodes: number, n: number, head: number): number;
  llist_add_array(nodes: number, n: number, head: number): number;
  llist_del_all_to(head: number, out: number, cap: number, reverse: number): number;
  // arena
  arena_header_size(): number;
  arena_init(arena: number, base: number, size: number, count: number): void;
  arena_alloc(arena: number): number;
  arena_free(arena: number, ptr: number): void;
  arena_alloc_batch(arena: number, out: number, n: number): number;
  arena_free_batch(arena: number, ptrs: number, n: number): void;
  arena_count_free(arena: number): number;
  arena_high_water(arena: number): number;
  // locks, wait
  spin_lock(lock: number): void;
  spin_trylock(lock: number): number;
  spin_unlock(lock: number): void;
  spin_is_locked(lock: number): number;
  mutex_lock(m: number): void;
  mutex_trylock(m: number): number;
  mutex_unlock(m: number): void;
  mutex_is_locked(m: number): number;
  futex_wait(addr: number, expected: number, timeoutUs: number): number;
  futex_wake(addr: number, count: number): number;
  kwq_selftest_wait_sum(word: number, n: number): number;
  // counters
  counter_add32(slot: number, delta: number): number;
  counters_snapshot(first: number, n: number, out: number): number;
  counters_reset(first: number, n: number): number;
  // vhost
  vhost_work_size(): number;
  vhost_worker_size(): number;
  vhost_work_init(work: number, fn: number, arg: number, cost: number): void;
  vhost_work_init_batch(works: number, n: number, fn: number, arg: number, cost: number): void;
  vhost_worker_init(worker: number): void;
  vhost_worker_queue(worker: number, work: number): number;
  vhost_worker_queue_nowake(worker: number, work: number): number;
  vhost_worker_queue_each(worker: number, works: number, n: number): number;
  vhost_work_queue_batch(worker: number, works: number, n: number): number;
  vhost_worker_stop(worker: number): void;
  vhost_worker_clear_stop(worker: number): void;
  vhost_worker_has_work(worker: number): number;
  vhost_worker_run(worker: number, out: number, cap: number, maxBatches: number): number;
  vhost_worker_loop(worker: number, out: number, cap: number, spin: number): number;
  vhost_worker_stats(worker: number, out: number): void;
  /** ring producers: queue in order, stop before the first work still QUEUED; returns how many were queued */
  vhost_work_queue_batch_ordered(worker: number, works: number, n: number): number;
  vhost_worker_queue_each_ordered(worker: number, works: number, n: number): number;
  /** 1 idle within the spin, 3 idle after sleeping, 2 slept and still queued, 0 spin ran out (sleepUs 0) */
  vhost_work_wait_idle(work: number, spin: number, sleepUs: number): number;
  /** the worker loop's idle spin (for timing one check): 1 if work or stop was seen */
  vhost_worker_spin(worker: number, spin: number): number;
  vhost_worker_set_spin_floor(worker: number, floor: number): void;
}

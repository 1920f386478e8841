/**
 * struct io_cq: the state an I/O scheduler keeps per (io_context, request_queue)
 * pair (BFQ's bfq_io_cq). Linked three ways while alive:
 *
 *   ioc->icq_tree  radix tree keyed by q->id      (lookup, after ioc->icq_hint)
 *   ioc->icq_list  every icq of the io_context   (exit / release walk it)
 *   q->icq_list    every icq of the queue        (ioc_clear_queue walks it)
 *
 * ICQ_EXITED: the elevator's exit_icq ran (the last task using the io_context
 * exited, or the icq is being destroyed). ICQ_DESTROYED: unlinked from all three,
 * freed after an RCU grace period (kfree_rcu), so lockless lookups may still see it.
 * Flag values from include/linux/iocontext.h (torvalds @ 031616c4).
 */
import type { IoContext } from './blk-ioc.js';
import type { RequestQueue } from './blk-ioc-queue.js';

export const ICQ_EXITED = 1 << 2;
export const ICQ_DESTROYED = 1 << 3;

export class IoCq {
  flags = 0;
  constructor(
    readonly ioc: IoContext,
    readonly q: RequestQueue,
  ) {}
  get exited(): boolean {
    return (this.flags & ICQ_EXITED) !== 0;
  }
  get destroyed(): boolean {
    return (this.flags & ICQ_DESTROYED) !== 0;
  }
}

/**
 * A wait queue on an eventfd: vhost's poll table entry (vhost_poll_start's
 * vfs_poll + add_wait_queue on the eventfd's wqh; eventfd_write/eventfd_signal then
 * call the entry's wake function with EPOLLIN).
 *
 * ADAPTER: src/kernel/vfs/eventfd.ts (the kernel model's, not this driver's) has no
 * wait queue yet. Until it has one, this file gives an EventfdCtx a wait queue by
 * turning its `count` field into an accessor on that one object: every store that
 * raises the count (a write(2) by user space, or eventfd_signal from the kernel)
 * calls the waiters, which is when the kernel's eventfd wakes its wqh. A read(2) sets
 * the count to 0 and wakes nobody (as EPOLLOUT-only wake-ups do not reach vhost).
 * Nothing else in the kernel model changes: reads see the same numbers.
 */
import type { EventfdCtx } from '../../kernel/vfs/eventfd.js';

export type EventfdWaiter = () => void;

const queues = new WeakMap<EventfdCtx, Set<EventfdWaiter>>();

function queueOf(ctx: EventfdCtx): Set<EventfdWaiter> {
  let q = queues.get(ctx);
  if (q !== undefined) return q;
  const waiters = new Set<EventfdWaiter>();
  q = waiters;
  queues.set(ctx, q);
  let value = ctx.count;
  Object.defineProperty(ctx, 'count', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (v: number) => {
      const rose = v > value;
      value = v;
      // wake_up_locked_poll(&ctx->wqh, EPOLLIN): each waiter once, in add order
      if (rose) for (const w of waiters) w();
    },
  });
  return q;
}

/** add_wait_queue: `fn` runs on every count increase of `ctx`. */
export function eventfdPollAdd(ctx: EventfdCtx, fn: EventfdWaiter): void {
  queueOf(ctx).add(fn);
}

/** remove_wait_queue */
export function eventfdPollRemove(ctx: EventfdCtx, fn: EventfdWaiter): void {
  queues.get(ctx)?.delete(fn);
}

/** vfs_poll(file) & EPOLLIN: the counter is non-zero. */
export function eventfdReadable(ctx: EventfdCtx): boolean {
  return ctx.count > 0;
}

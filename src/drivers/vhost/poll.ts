/**
 * struct vhost_poll: a vq's kick handler as a vhost_work, woken by its kick eventfd
 * (drivers/vhost/vhost.c: vhost_poll_init/start/stop/wakeup/queue).
 *
 *   eventfd write / eventfd_signal --wake--> vhost_poll_wakeup --> vhost_poll_queue
 *     --> vhost_vq_work_queue(vq, &poll->work) --> the vq's worker (or nothing: false)
 */
import type { File } from '../../kernel/vfs/file.js';
import { eventfdCtxFileget, type EventfdCtx } from '../../kernel/vfs/eventfd.js';
import { eventfdPollAdd, eventfdPollRemove, eventfdReadable } from './eventfd-poll.js';
import type { VhostWork } from './vhost-engine.js';
import type { VhostVirtqueue } from './vq.js';
import { vhostVqWorkQueue } from './vq.js';

export class VhostPoll {
  /** the eventfd being polled (vq.kick), or null when stopped */
  private ctx: EventfdCtx | null = null;
  /** the wait-queue entry's wake function (bound once: no allocation per wake-up) */
  private readonly wake: () => void;
  /** wake-ups seen (a statistic) */
  wakeups = 0;

  constructor(
    readonly vq: VhostVirtqueue,
    readonly work: VhostWork,
  ) {
    this.wake = () => {
      this.wakeups++;
      vhostPollQueue(this);
    };
  }

  get started(): boolean {
    return this.ctx !== null;
  }

  /** vhost_poll_start: add to the eventfd's wait queue; queue at once if it is readable. */
  start(file: File): number {
    if (this.ctx !== null) return 0;
    const ctx = eventfdCtxFileget(file);
    if (ctx === null) return 0; // vhost_vring_ioctl only passes eventfds (eventfd_fget)
    this.ctx = ctx;
    eventfdPollAdd(ctx, this.wake);
    if (eventfdReadable(ctx)) vhostPollQueue(this); // mask = vfs_poll(); if (mask) vhost_poll_wakeup()
    return 0;
  }

  /** vhost_poll_stop: remove from the wait queue. */
  stop(): void {
    if (this.ctx === null) return;
    eventfdPollRemove(this.ctx, this.wake);
    this.ctx = null;
  }
}

/** vhost_poll_queue: queue the poll's work on its vq's worker. */
export function vhostPollQueue(poll: VhostPoll): boolean {
  return vhostVqWorkQueue(poll.vq, poll.work);
}

/**
 * The guest-visible state of one split virtqueue, reduced to what drives the
 * model: indices and the two notification-suppression flags (VIRTIO_RING_F_EVENT_IDX
 * semantics). It stands for guest memory that both sides read and write:
 *
 *   guest (vCPU / VirtioQueue)            host (vhost worker, handle_kick)
 *   availIdx++ per descriptor posted  ->  lastAvailIdx: descriptors taken
 *   kicks iff kickArmed (then clears)  <-  kickArmed: set by vhost_enable_notify
 *                                          (avail_event = last_avail_idx), cleared by
 *                                          vhost_disable_notify
 *   lastUsedIdx: completions reaped    <-  usedIdx: completions written (used->idx)
 *   irqArmed: set by virtqueue_enable_cb -> the host signals the call eventfd iff
 *             (used_event), cleared when     irqArmed (vhost_notify), then clears it
 *             an interrupt is sent
 *
 * Indices are plain counters (the model never wraps at 2^16: a descriptor is a
 * count, not a buffer; the guest keeps availIdx - lastUsedIdx <= num).
 */
/**
 * What the driver and the guest read and write of a vq's ring state: the Vring
 * below (sim runtime: plain fields) or SharedVring (vq-shared.ts, threads runtime:
 * the same fields over the vq's vhost_vq struct in shared memory).
 */
export interface VringState {
  num: number;
  availIdx: number;
  lastAvailIdx: number;
  pending: number;
  usedIdx: number;
  lastUsedIdx: number;
  kickArmed: boolean;
  irqArmed: boolean;
  kicks: number;
  signals: number;
  handleRuns: number;
  taken: number;
  readonly availPending: number;
  readonly usedPending: number;
  /** VHOST_SET_VRING_BASE: every index restarts at `base`, nothing pending */
  setBase(base: number): void;
  /** vhost_vq_reset: num 256, indices 0, both notifications armed */
  reset(): void;
}

export class Vring implements VringState {
  /** queue size (VHOST_SET_VRING_NUM) */
  num = 256;
  /** avail->idx: descriptors the guest made available */
  availIdx = 0;
  /** vq->last_avail_idx: descriptors the host took */
  lastAvailIdx = 0;
  /** taken, handed to the backend, not yet in the used ring */
  pending = 0;
  /** used->idx: completions the host wrote */
  usedIdx = 0;
  /** the guest's last_used_idx: completions it reaped */
  lastUsedIdx = 0;
  /** the host wants a kick for the next descriptor */
  kickArmed = true;
  /** the guest wants an interrupt for the next completion */
  irqArmed = true;
  // statistics
  kicks = 0;
  signals = 0;
  handleRuns = 0;
  taken = 0;

  /** descriptors made available and not yet taken by the host */
  get availPending(): number {
    return this.availIdx - this.lastAvailIdx;
  }

  /** completions written and not yet reaped by the guest */
  get usedPending(): number {
    return this.usedIdx - this.lastUsedIdx;
  }

  setBase(base: number): void {
    this.lastAvailIdx = this.availIdx = this.usedIdx = this.lastUsedIdx = base;
    this.pending = 0;
  }

  reset(): void {
    this.num = 256;
    this.setBase(0);
    this.kickArmed = true;
    this.irqArmed = true;
  }
}

/**
 * The descriptor loop the vhost drivers share, reduced to counts and costs:
 * vhost-net's handle_tx/handle_rx, vhost-scsi's vhost_scsi_handle_vq and vhost-vsock's
 * TX/RX kicks all have this shape (drivers/vhost/{net,scsi,vsock}.c):
 *
 *   handle_kick(vq):
 *     no backend -> return
 *     vhost_disable_notify                       (the guest stops kicking)
 *     loop: take the available descriptors, costs.descNs each
 *           none left: vhost_enable_notify; if more arrived, disable and go on
 *           costs.weight taken: vhost_poll_queue(&vq->poll) (re-queue) and stop
 *     completions: inline (net, vsock: vhost_add_used_and_signal_n) or queued as
 *     the vq's completion work (vhost-scsi's vs_completion_work)
 *
 *   completion (inline or the work): costs.usedNs per entry, then the entries and the
 *   interrupt (vhost_signal -> the call eventfd, if the guest armed used_event) are
 *   published at the virtual time they were written (a callback at k.now: the sim
 *   runs a whole batch in one body call, so effects that wake other threads are
 *   placed at the right time inside it).
 */
import type { VhostVirtqueue } from './vq.js';
import { vhostSignal, vhostVqWorkQueue } from './vq.js';
import { vhostPollQueue } from './poll.js';

export type CompletionMode = 'inline' | 'work';

export function vhostHandleVq(vq: VhostVirtqueue, completion: CompletionMode): void {
  if (vq.backend === null) return; // vhost_vq_get_backend: nothing to do without one
  const dev = vq.dev;
  const costs = dev.costs;
  const r = vq.ring;
  r.handleRuns++;
  r.kickArmed = false; // vhost_disable_notify
  let done = 0;
  for (;;) {
    const n = r.availIdx - r.lastAvailIdx;
    if (n === 0) {
      r.kickArmed = true; // vhost_enable_notify: avail_event = last_avail_idx
      if (r.availIdx !== r.lastAvailIdx) {
        r.kickArmed = false; // more arrived: vhost_disable_notify, continue
        continue;
      }
      break;
    }
    const take = Math.min(n, costs.weight - done);
    dev.ve.charge(take * costs.descNs);
    r.lastAvailIdx += take;
    r.taken += take;
    r.pending += take;
    done += take;
    if (done >= costs.weight) {
      if (vq.poll !== null) vhostPollQueue(vq.poll); // vhost_exceeds_weight: re-queue, let others run
      break;
    }
  }
  if (done === 0) return;
  if (completion === 'inline' || vq.aux === null) vhostComplete(vq);
  else vhostVqWorkQueue(vq, vq.aux);
}

/** Write the used entries for every pending command and signal, at the current virtual time. */
export function vhostComplete(vq: VhostVirtqueue): void {
  const r = vq.ring;
  const n = r.pending;
  if (n === 0) return;
  const dev = vq.dev;
  dev.ve.charge(n * dev.costs.usedNs);
  r.pending = 0;
  vq.completing += n;
  if (vq.pushUsed === null) vq.pushUsed = () => publishUsed(vq);
  dev.k.rt.callAt(dev.k.now, vq.pushUsed);
}

function publishUsed(vq: VhostVirtqueue): void {
  const n = vq.completing;
  if (n === 0) return;
  vq.completing = 0;
  vq.ring.usedIdx += n;
  vhostSignal(vq);
}

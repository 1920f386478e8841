// A virtqueue's shared state for the `threads` runtime, and the vhost work functions
// that run on it inside a worker thread: handle_kick (vhost_scsi_handle_vq /
// handle_tx / handle_rx reduced to descriptors and costs) and the completion work
// (vhost_scsi_complete_cmd_work / vhost_add_used_and_signal_n). The guest side
// (virtqueue_add + kick_prepare, virtqueue_get_buf + virtqueue_enable_cb) is here
// too, so that a guest can run in any thread. kernel-reference.md sections 1.8, 2.3;
// src/drivers/vhost/handle.ts is the sim runtime's JS version of the same loop.
//
//   vhost_vq (VHOST_VQ_SIZE = 2240 bytes, 64-byte aligned, an object of the
//   host's 'vhost_vq' arena)
//   line 0: written by the guest (one vCPU thread per vq)
//   +0   avail_idx      u32  avail->idx: descriptors made available
//   +4   last_used_idx  u32  the guest's reap position
//   +8   irq_armed      u32  used_event: 1 = the guest wants an interrupt
//                            (virtqueue_enable_cb); the host takes it 1 -> 0
//   +12  posted         u32  statistic: descriptors posted
//   line 1: written by the worker running the vq's works
//   +64  last_avail_idx u32  vq->last_avail_idx: descriptors taken
//   +68  used_idx       u32  used->idx: completions written
//   +72  kick_armed     u32  avail_event: 1 = the host wants a kick
//                            (vhost_enable_notify); the guest takes it 1 -> 0
//   +76  pending        u32  taken and handed to the backend, not yet used
//   +80  call_seq       u32  call eventfd signals (vhost_signal); futex word the
//                            host's main thread waits on (Atomics.waitAsync)
//   +84  handle_runs    u32  handle_kick runs
//   +88  taken          u32  descriptors taken (statistic)
//   +92  sink           u32  the cost loops' result (so they cannot be optimised out)
//   line 2: configuration (the host's main thread; the worker reads it)
//   +128 worker         u32  vq->worker: the vhost_worker its works go to, 0 = none
//   +132 poll_work      u32  the vq's handle_kick work (vhost_poll.work)
//   +136 aux_work       u32  the completion work; 0 = complete inline
//   +140 backend        u32  1 = a backend is set (vhost_vq_get_backend)
//   +144 desc_spin      u32  cost loop iterations per descriptor taken
//   +148 used_spin      u32  cost loop iterations per used entry written
//   +152 weight         u32  descriptors per handle_kick before it re-queues itself
//   +156 closed         u32  set at teardown: wakes the call waiter for good
//   +160..191                reserved
//   +192 avail ring     u32[VHOST_VQ_RING]  descriptor ids, slot = idx & (RING - 1)
//   +1216 used ring     u32[VHOST_VQ_RING]  completed ids, same slots
//
// Ownership: line 0 and the avail ring belong to the guest; line 1 and the used
// ring to the one worker thread running the vq's works (a vq's works all go to
// vq->worker, and a worker's works run one at a time); line 2 to the main thread.
// The two notification flags are the kernel's EVENT_IDX handshakes, each a Dekker
// pair over seq-cst words:
//   kick:  guest   avail_idx += n (seq-cst RMW); cmpxchg(kick_armed, 1 -> 0) won: kick
//          worker  store kick_armed = 1; re-load avail_idx; more: store 0, go on
//   irq:   worker  used_idx += n (seq-cst RMW); cmpxchg(irq_armed, 1 -> 0) won: signal
//          guest   store irq_armed = 1; re-load used_idx; more: reap again
// Either side's re-check sees the other's update, so no kick and no interrupt is lost.
//
// DIVERGENCE (ring size): the shared ring holds VHOST_VQ_RING (256) descriptors
// whatever VHOST_SET_VRING_NUM said; a guest keeps at most that many in flight.
// Completions are in order (used entry i is avail entry i), as vhost-scsi's are
// for one vq's commands when the backend completes in order.
import { vhost_worker_queue } from './vhost';

export const VHOST_VQ_AVAIL_IDX: u32 = 0;
export const VHOST_VQ_LAST_USED_IDX: u32 = 4;
export const VHOST_VQ_IRQ_ARMED: u32 = 8;
export const VHOST_VQ_POSTED: u32 = 12;
export const VHOST_VQ_LAST_AVAIL_IDX: u32 = 64;
export const VHOST_VQ_USED_IDX: u32 = 68;
export const VHOST_VQ_KICK_ARMED: u32 = 72;
export const VHOST_VQ_PENDING: u32 = 76;
export const VHOST_VQ_CALL_SEQ: u32 = 80;
export const VHOST_VQ_HANDLE_RUNS: u32 = 84;
export const VHOST_VQ_TAKEN: u32 = 88;
export const VHOST_VQ_SINK: u32 = 92;
export const VHOST_VQ_WORKER: u32 = 128;
export const VHOST_VQ_POLL_WORK: u32 = 132;
export const VHOST_VQ_AUX_WORK: u32 = 136;
export const VHOST_VQ_BACKEND: u32 = 140;
export const VHOST_VQ_DESC_SPIN: u32 = 144;
export const VHOST_VQ_USED_SPIN: u32 = 148;
export const VHOST_VQ_WEIGHT: u32 = 152;
export const VHOST_VQ_CLOSED: u32 = 156;
export const VHOST_VQ_RING: u32 = 256;
export const VHOST_VQ_AVAIL_RING: u32 = 192;
export const VHOST_VQ_USED_RING: u32 = VHOST_VQ_AVAIL_RING + VHOST_VQ_RING * 4;
export const VHOST_VQ_SIZE: u32 = VHOST_VQ_USED_RING + VHOST_VQ_RING * 4;

/** Built-in work functions of this file (assembly/vhost.ts dispatches them). */
export const VHOST_FN_VQ_HANDLE: u32 = 4;
export const VHOST_FN_VQ_COMPLETE: u32 = 5;

export function vhost_vq_size(): u32 { return VHOST_VQ_SIZE; }

/**
 * A reset vq (vhost_vq_reset): indices 0, both notifications armed, no worker, no
 * backend. The host sets the works, costs and weight after. Not while a worker
 * may run the vq's works.
 */
export function vhost_vq_init(vq: usize): void {
  memory.fill(vq, 0, VHOST_VQ_SIZE);
  atomic.store<u32>(vq + VHOST_VQ_IRQ_ARMED, 1); // pairs with the worker's cmpxchg in vhost_vq_signal
  atomic.store<u32>(vq + VHOST_VQ_KICK_ARMED, 1); // pairs with the guest's cmpxchg in vhost_vq_post
}

/** VHOST_SET_VRING_BASE: every index restarts at `base`, nothing pending. Not while a worker runs the vq's works. */
export function vhost_vq_set_base(vq: usize, base: u32): void {
  atomic.store<u32>(vq + VHOST_VQ_AVAIL_IDX, base); // pairs with the worker's loads (none run now)
  store<u32>(vq + VHOST_VQ_LAST_USED_IDX, base);
  store<u32>(vq + VHOST_VQ_LAST_AVAIL_IDX, base);
  store<u32>(vq + VHOST_VQ_PENDING, 0);
  atomic.store<u32>(vq + VHOST_VQ_USED_IDX, base); // pairs with the guest's loads
}

// @ts-ignore: decorator
@inline function cost_loop(vq: usize, n: u32): void {
  // the per-descriptor CPU time: an LCG the optimiser cannot drop (its result is stored)
  if (n == 0) return;
  let x = load<u32>(vq + VHOST_VQ_SINK);
  for (let i: u32 = 0; i < n; i++) x = x * 1664525 + 1013904223;
  store<u32>(vq + VHOST_VQ_SINK, x);
}

/** vhost_vq_work_queue: queue `work` on vq->worker; 0 when the vq has no worker. */
// @ts-ignore: decorator
@inline function vq_work_queue(vq: usize, work: usize): u32 {
  const worker = <usize>atomic.load<u32>(vq + VHOST_VQ_WORKER); // rcu_dereference(vq->worker); pairs with the host's attach store
  if (worker == 0 || work == 0) return 0;
  vhost_worker_queue(worker, work);
  return 1;
}

/**
 * vhost_signal: interrupt the guest iff it asked for one (used_event): the
 * cmpxchg takes irq_armed 1 -> 0, then call_seq++ and a notify for the host's
 * irqfd waiter. Returns 1 iff it signalled.
 */
// @ts-ignore: decorator
@inline function vhost_vq_signal(vq: usize): u32 {
  // pairs with the guest's store of irq_armed = 1 + re-load of used_idx (Dekker)
  if (atomic.cmpxchg<u32>(vq + VHOST_VQ_IRQ_ARMED, 1, 0) != 1) return 0;
  atomic.add<u32>(vq + VHOST_VQ_CALL_SEQ, 1); // pairs with the host's Atomics.waitAsync value check
  atomic.notify(vq + VHOST_VQ_CALL_SEQ, -1); // pairs with the host's Atomics.waitAsync
  return 1;
}

/**
 * The completion work (vhost_scsi_complete_cmd_work, vhost_add_used_and_signal_n):
 * write a used entry for every pending descriptor (used_spin each), publish
 * used_idx, then signal. Runs on the vq's worker only.
 */
export function vhost_vq_complete(vq: usize): void {
  const n = load<u32>(vq + VHOST_VQ_PENDING);
  if (n == 0) return;
  cost_loop(vq, n * load<u32>(vq + VHOST_VQ_USED_SPIN));
  const used = load<u32>(vq + VHOST_VQ_USED_IDX); // ours: only this worker writes it
  const mask = VHOST_VQ_RING - 1;
  for (let i: u32 = 0; i < n; i++) {
    const slot = <usize>((used + i) & mask) << 2;
    // in-order completion: used entry i is avail entry i
    store<u32>(vq + VHOST_VQ_USED_RING + slot, load<u32>(vq + VHOST_VQ_AVAIL_RING + slot));
  }
  store<u32>(vq + VHOST_VQ_PENDING, 0);
  // publish the entries, then the index (seq-cst: the entries are visible first); pairs with the guest's load in vhost_vq_reap
  atomic.add<u32>(vq + VHOST_VQ_USED_IDX, n);
  vhost_vq_signal(vq);
}

/**
 * handle_kick (vhost_scsi_handle_vq, handle_tx): no backend: nothing. Else disable
 * kicks, take the available descriptors (desc_spin each) until none are left
 * (enable kicks, re-check: the Dekker pair above) or `weight` were taken
 * (vhost_exceeds_weight: re-queue the poll work, let other works run); then
 * complete inline, or queue the completion work on the vq's worker.
 */
export function vhost_vq_handle(vq: usize): void {
  if (atomic.load<u32>(vq + VHOST_VQ_BACKEND) == 0) return; // vhost_vq_get_backend; pairs with the host's store
  store<u32>(vq + VHOST_VQ_HANDLE_RUNS, load<u32>(vq + VHOST_VQ_HANDLE_RUNS) + 1);
  atomic.store<u32>(vq + VHOST_VQ_KICK_ARMED, 0); // vhost_disable_notify; pairs with the guest's cmpxchg
  const weight = load<u32>(vq + VHOST_VQ_WEIGHT);
  const descSpin = load<u32>(vq + VHOST_VQ_DESC_SPIN);
  let last = load<u32>(vq + VHOST_VQ_LAST_AVAIL_IDX);
  let done: u32 = 0;
  while (true) {
    let n = atomic.load<u32>(vq + VHOST_VQ_AVAIL_IDX) - last; // pairs with the guest's atomic add in vhost_vq_post
    if (n == 0) {
      atomic.store<u32>(vq + VHOST_VQ_KICK_ARMED, 1); // vhost_enable_notify; pairs with the guest's cmpxchg
      // the re-check after publishing avail_event (Dekker); pairs with the guest's add
      if (atomic.load<u32>(vq + VHOST_VQ_AVAIL_IDX) != last) {
        atomic.store<u32>(vq + VHOST_VQ_KICK_ARMED, 0); // more arrived: vhost_disable_notify, go on
        continue;
      }
      break;
    }
    if (n > weight - done) n = weight - done;
    cost_loop(vq, n * descSpin);
    last += n;
    done += n;
    if (done >= weight) {
      vq_work_queue(vq, <usize>load<u32>(vq + VHOST_VQ_POLL_WORK)); // vhost_exceeds_weight: vhost_poll_queue
      break;
    }
  }
  store<u32>(vq + VHOST_VQ_LAST_AVAIL_IDX, last);
  if (done == 0) return;
  store<u32>(vq + VHOST_VQ_TAKEN, load<u32>(vq + VHOST_VQ_TAKEN) + done);
  store<u32>(vq + VHOST_VQ_PENDING, load<u32>(vq + VHOST_VQ_PENDING) + done);
  const aux = <usize>load<u32>(vq + VHOST_VQ_AUX_WORK);
  if (aux == 0) vhost_vq_complete(vq);
  else vq_work_queue(vq, aux);
}

// ---- the guest side (one vCPU thread per vq) ------------------------------------------

/**
 * virtqueue_add + virtqueue_kick_prepare: make descriptors ids[0..n) (u32s at
 * `ids`) available. Returns 1 if the host asked for a kick (the caller kicks:
 * vhost_vq_kick, or the kick eventfd), else 0. The caller keeps at most
 * VHOST_VQ_RING descriptors in flight.
 */
export function vhost_vq_post(vq: usize, ids: usize, n: u32): u32 {
  const avail = load<u32>(vq + VHOST_VQ_AVAIL_IDX); // ours: only the guest writes it
  const mask = VHOST_VQ_RING - 1;
  for (let i: u32 = 0; i < n; i++) {
    store<u32>(vq + VHOST_VQ_AVAIL_RING + (<usize>((avail + i) & mask) << 2), load<u32>(ids + (<usize>i << 2)));
  }
  store<u32>(vq + VHOST_VQ_POSTED, load<u32>(vq + VHOST_VQ_POSTED) + n);
  // entries first, then the index (seq-cst RMW); pairs with the worker's load in vhost_vq_handle
  atomic.add<u32>(vq + VHOST_VQ_AVAIL_IDX, n);
  // avail_event passed: one kick per vhost_enable_notify; pairs with the worker's stores (Dekker)
  return u32(atomic.cmpxchg<u32>(vq + VHOST_VQ_KICK_ARMED, 1, 0) == 1);
}

/**
 * The kick through KVM's ioeventfd, in the kicking thread's context:
 * vhost_poll_wakeup -> vhost_poll_queue -> vhost_vq_work_queue. 1 if the vq had
 * a worker (the work is queued, or already was), 0 if not.
 */
export function vhost_vq_kick(vq: usize): u32 {
  return vq_work_queue(vq, <usize>load<u32>(vq + VHOST_VQ_POLL_WORK));
}

/**
 * virtqueue_get_buf until empty, then virtqueue_enable_cb: copy the completed ids
 * to `out` (at most `cap`), re-arm the interrupt and re-check (the Dekker pair
 * above: more completions after arming are reaped too). Returns how many.
 */
export function vhost_vq_reap(vq: usize, out: usize, cap: u32): u32 {
  let last = load<u32>(vq + VHOST_VQ_LAST_USED_IDX); // ours: only the guest writes it
  const mask = VHOST_VQ_RING - 1;
  let got: u32 = 0;
  while (got < cap) {
    const used = atomic.load<u32>(vq + VHOST_VQ_USED_IDX); // pairs with the worker's atomic add in vhost_vq_complete
    let n = used - last;
    if (n == 0) {
      atomic.store<u32>(vq + VHOST_VQ_IRQ_ARMED, 1); // virtqueue_enable_cb; pairs with the worker's cmpxchg
      // the re-check after arming (Dekker); pairs with the worker's add
      if (atomic.load<u32>(vq + VHOST_VQ_USED_IDX) == last) break;
      continue;
    }
    if (n > cap - got) n = cap - got;
    for (let i: u32 = 0; i < n; i++) {
      store<u32>(out + (<usize>(got + i) << 2), load<u32>(vq + VHOST_VQ_USED_RING + (<usize>((last + i) & mask) << 2)));
    }
    last += n;
    got += n;
  }
  store<u32>(vq + VHOST_VQ_LAST_USED_IDX, last);
  return got;
}

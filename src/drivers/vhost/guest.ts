/**
 * The guest side of a vhost device, enough to drive traffic: a virtio driver's view
 * of one virtqueue (VirtioQueue) and a vCPU thread running an fio-like job on it
 * (FioJob). Guest memory is the vq's Vring (vring.ts), which both sides read.
 *
 *   FioJob (a QEMU vCPU thread)             VirtioQueue                 vhost
 *   submit: ioNs, post a descriptor  ---->  avail++; kick needed? ---->  kick eventfd
 *     (kick: kickNs: the vmexit and the       (kickArmed, EVENT_IDX)      (KVM ioeventfd)
 *      ioeventfd signal)                                                 -> handle_kick work
 *   interrupt: irqNs + completionNs   <----  reap used, re-arm      <----  call eventfd
 *     per completion; iodepth refills         (virtqueue_enable_cb)      (KVM irqfd)
 *
 * VirtioQueue.attach() makes the two eventfds in the VMM process and installs them
 * with VHOST_SET_VRING_KICK / VHOST_SET_VRING_CALL, as QEMU does.
 */
import { KwqError } from '../../kernel/error.js';
import { EBADF } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM } from '../../kernel/sched.js';
import type { Task } from '../../kernel/task.js';
import { eventfdCtxFileget, eventfdSignal, type EventfdCtx } from '../../kernel/vfs/eventfd.js';
import type { SimThread, ThreadBody } from '../../runtime/sim-thread.js';
import { VhostDev } from './dev.js';
import { eventfdPollAdd } from './eventfd-poll.js';
import { VHOST_SET_VRING_CALL, VHOST_SET_VRING_KICK } from './uapi.js';
import type { VringState } from './vring.js';
import type { Engine } from '../../wasm/engine.js';
import { VHOST_VQ, vqExports, type SharedVring, type VhostVqExports } from './vq-shared.js';

/** What the guest pays, in virtual ns of its vCPU (a model knob). */
export interface GuestCosts {
  /** one I/O submitted: fio, the guest block/SCSI stack, building the descriptor */
  ioNs: number;
  /** one kick: the vmexit, KVM's ioeventfd signal and the re-entry */
  kickNs: number;
  /** one interrupt taken: injection, the handler, the return */
  irqNs: number;
  /** one completion reaped (fio's completion path included) */
  completionNs: number;
  /** the longest the vCPU runs before the sim lets other threads see its posts */
  quantumNs: number;
}

export const DEFAULT_GUEST_COSTS: Readonly<GuestCosts> = Object.freeze({
  ioNs: 2300,
  kickNs: 2100,
  irqNs: 1700,
  completionNs: 350,
  quantumNs: 4000,
});

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;

/** The guest driver's view of one virtqueue of a vhost device. */
export class VirtioQueue {
  /** interrupts delivered (call eventfd signals) */
  interrupts = 0;
  /** kicks sent */
  kicks = 0;
  /** descriptors posted */
  posted = 0;
  /** completions reaped */
  completed = 0;
  /** the irqfd: who takes the interrupt (a FioJob sets it) */
  onInterrupt: (() => void) | null = null;

  /** threads runtime: the engine and the vq's shared ring (guest side in Wasm: vhost_vq_post / vhost_vq_reap) */
  private readonly shared: { engine: Engine; x: VhostVqExports; vq: number } | null;

  private constructor(
    readonly k: Kernel,
    readonly task: Task,
    readonly index: number,
    readonly kickFd: number,
    readonly callFd: number,
    private readonly ring: VringState,
    private readonly kickCtx: EventfdCtx,
    shared: SharedVring | null,
    engine: Engine,
  ) {
    this.shared = shared === null ? null : { engine, x: vqExports(engine), vq: shared.vq };
  }

  /**
   * Set up vq `index` of the vhost device open as `fd` in `task`: two eventfds and
   * VHOST_SET_VRING_KICK / VHOST_SET_VRING_CALL. The queue, or the first -errno (the
   * eventfds are closed again on failure).
   */
  static attach(k: Kernel, task: Task, fd: number, index: number): VirtioQueue | number {
    const file = k.fileOf(task, fd);
    if (file === null) return -EBADF;
    if (!(file.privateData instanceof VhostDev)) throw new KwqError('VirtioQueue.attach', `fd ${fd} of ${task} is not a vhost device`);
    const dev = file.privateData;
    const kfd = k.eventfd(task);
    if (kfd < 0) return kfd;
    const cfd = k.eventfd(task);
    if (cfd < 0) {
      k.close(task, kfd);
      return cfd;
    }
    let r = k.ioctl(task, fd, VHOST_SET_VRING_KICK, { index, fd: kfd });
    if (r === 0) r = k.ioctl(task, fd, VHOST_SET_VRING_CALL, { index, fd: cfd });
    if (r < 0) {
      k.close(task, kfd);
      k.close(task, cfd);
      return r;
    }
    const kickCtx = eventfdCtxFileget(k.fileOf(task, kfd)!)!;
    const callCtx = eventfdCtxFileget(k.fileOf(task, cfd)!)!;
    const vq = dev.vqs[index]!;
    const q = new VirtioQueue(k, task, index, kfd, cfd, vq.ring, kickCtx, vq.shared, dev.ve.engine);
    eventfdPollAdd(callCtx, () => {
      q.interrupts++;
      q.onInterrupt?.();
    });
    return q;
  }

  /**
   * virtqueue_add + kick_prepare: make n descriptors available; true if the host wants
   * a kick. Threads runtime: their ids are the next n sequence numbers (postIds).
   */
  post(n = 1): boolean {
    if (this.shared !== null) {
      let kick = false;
      for (let done = 0; done < n;) {
        const chunk = Math.min(n - done, this.shared.engine.scratch.inputCap);
        const at = (this.shared.engine.scratch.input >> 2);
        for (let i = 0; i < chunk; i++) this.shared.engine.u32[at + i] = this.posted + done + i;
        kick = this.postStaged(chunk) || kick;
        done += chunk;
      }
      return kick;
    }
    const r = this.ring;
    r.availIdx += n;
    this.posted += n;
    if (!r.kickArmed) return false;
    r.kickArmed = false; // the new avail idx passed avail_event: one kick per enable_notify
    return true;
  }

  /**
   * Threads runtime: make descriptors ids[from..from+n) available in the shared ring
   * (vhost_vq_post: entries, then avail_idx, then the kick_armed handshake); true if
   * the host wants a kick. The caller keeps at most VHOST_VQ.RING (256) in flight.
   */
  postIds(ids: ArrayLike<number>, from = 0, n: number = ids.length - from): boolean {
    const sh = this.sharedOrThrow('postIds');
    let kick = false;
    for (let done = 0; done < n;) {
      const chunk = Math.min(n - done, sh.engine.scratch.inputCap);
      sh.engine.stageInput(ids, from + done, chunk);
      kick = this.postStaged(chunk) || kick;
      done += chunk;
    }
    return kick;
  }

  private postStaged(n: number): boolean {
    const sh = this.shared!;
    if (this.inflight + n > VHOST_VQ.RING) {
      throw new KwqError('VirtioQueue.post', `${this.inflight + n} descriptors would be in flight on vq ${this.index}; the shared ring holds ${VHOST_VQ.RING}`);
    }
    this.posted += n;
    return sh.x.vhost_vq_post(sh.vq, sh.engine.scratch.input, n) === 1;
  }

  /**
   * Threads runtime: virtqueue_get_buf until empty + virtqueue_enable_cb (vhost_vq_reap):
   * the completed ids go to out[0..ret); at most out.length. Call again while it
   * returns out.length.
   */
  reapIds(out: Uint32Array): number {
    const sh = this.sharedOrThrow('reapIds');
    const e = sh.engine;
    const n = sh.x.vhost_vq_reap(sh.vq, e.scratch.out, Math.min(out.length, e.scratch.outCap));
    out.set(e.u32.subarray(e.scratch.out >> 2, (e.scratch.out >> 2) + n));
    this.completed += n;
    return n;
  }

  private sharedOrThrow(where: string): NonNullable<VirtioQueue['shared']> {
    if (this.shared === null) throw new KwqError(`VirtioQueue.${where}`, "descriptor ids need the shared ring of runtime 'threads'; in sim use post(n) / reap()");
    return this.shared;
  }

  /** virtqueue_notify through KVM's ioeventfd: the kernel signals the kick eventfd. */
  notify(): void {
    this.kicks++;
    this.ring.kicks++;
    eventfdSignal(this.k, this.kickCtx);
  }

  /** virtqueue_get_buf until empty, then virtqueue_enable_cb: the completions reaped. */
  reap(): number {
    if (this.shared !== null) {
      const e = this.shared.engine;
      let n = 0;
      for (;;) {
        const got = this.shared.x.vhost_vq_reap(this.shared.vq, e.scratch.out, e.scratch.outCap);
        n += got;
        if (got < e.scratch.outCap) break;
      }
      this.completed += n;
      return n;
    }
    const r = this.ring;
    const n = r.usedIdx - r.lastUsedIdx;
    r.lastUsedIdx = r.usedIdx;
    this.completed += n;
    r.irqArmed = true;
    return n;
  }

  /**
   * Descriptors the device has put on the used ring so far, reaped by the guest or not
   * (what the worker completed: a frozen guest reaps nothing while a kthread worker may
   * still complete). The threads runtime's shared ring reports what was reaped.
   */
  get deviceCompleted(): number {
    return this.shared !== null ? this.completed : this.ring.usedIdx;
  }

  /** Descriptors posted and not yet completed (in flight in the device). May include reaped-but-not-seen ones: none. */
  get inflight(): number {
    return this.posted - this.completed;
  }
}

export interface FioJobOptions {
  /** I/Os kept in flight (fio's iodepth) */
  iodepth: number;
  /** the vCPU thread's comm (default 'CPU n/KVM') */
  comm?: string;
  costs?: Partial<GuestCosts>;
}

/**
 * An fio job (libaio, --iodepth) on a guest vCPU, as a thread of the VMM process
 * with a sim body: it keeps `iodepth` I/Os in flight on its queue, kicking when the
 * device asks for it and reaping completions when interrupted.
 */
export class FioJob implements ThreadBody {
  /** I/Os completed */
  completed = 0;
  /** I/Os submitted */
  submitted = 0;
  private irqPending = false;
  private stopped = false;
  readonly costs: GuestCosts;
  private readonly kickFn: () => void;
  private readonly irqFn: () => void;

  private constructor(
    readonly k: Kernel,
    readonly task: Task,
    readonly queue: VirtioQueue,
    readonly iodepth: number,
    costs: GuestCosts,
  ) {
    this.costs = costs;
    this.kickFn = () => queue.notify();
    this.irqFn = () => {
      this.irqPending = true;
      k.wakeUpProcess(task);
    };
  }

  /** Start a job: a new thread of `vmm` (CLONE_THREAD) running it. The job, or -errno from clone. */
  static start(k: Kernel, vmm: Task, queue: VirtioQueue, opts: FioJobOptions): FioJob | number {
    if (!Number.isInteger(opts.iodepth) || opts.iodepth < 1) throw new KwqError('FioJob.start', `iodepth must be an integer >= 1, got ${String(opts.iodepth)}`);
    const costs = { ...DEFAULT_GUEST_COSTS, ...(opts.costs ?? {}) };
    for (const [key, v] of Object.entries(costs)) {
      if (!(key in DEFAULT_GUEST_COSTS)) throw new KwqError('FioJob.start: costs', `unknown cost '${key}'; known: ${Object.keys(DEFAULT_GUEST_COSTS).join(', ')}`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new KwqError('FioJob.start: costs', `cost '${key}' must be a finite number >= 0, got ${String(v)}`);
    }
    if (queue.onInterrupt !== null) throw new KwqError('FioJob.start', `queue ${queue.index} already has a job`);
    const t = k.clone(vmm, THREAD, { comm: opts.comm ?? `CPU ${queue.index}/KVM` });
    if (typeof t === 'number') return t;
    const job = new FioJob(k, t, queue, opts.iodepth, costs);
    t.thread = k.rt.createThread(k.wrapBody(t, job), t);
    queue.onInterrupt = job.irqFn;
    k.wakeUpProcess(t);
    return job;
  }

  run(th: SimThread, _budgetNs: number): boolean {
    const c = this.costs;
    const q = this.queue;
    for (;;) {
      if (this.irqPending) {
        this.irqPending = false;
        th.costNs += c.irqNs;
        const n = q.reap();
        th.costNs += n * c.completionNs;
        this.completed += n;
        continue;
      }
      if (this.stopped) return false;
      if (th.costNs >= c.quantumNs) return true;
      if (this.submitted - this.completed >= this.iodepth) return false; // wait for an interrupt
      th.costNs += c.ioNs;
      this.submitted++;
      if (q.post(1)) {
        th.costNs += c.kickNs;
        this.k.rt.callAt(this.k.now, this.kickFn); // the kick lands at this point of the slice
      }
    }
  }

  /** Stop submitting; the vCPU thread exits. */
  stop(): void {
    this.stopped = true;
    this.queue.onInterrupt = null;
    if (this.task.alive) this.k.exit(this.task);
  }
}

/**
 * An fio-like guest job for the `threads` runtime: FioJob's job (keep `iodepth`
 * descriptors in flight, kick when the device asks, reap when interrupted) on the
 * host event loop, with numbered descriptors so that every completion is checked.
 *
 *   ThreadsFioJob (main thread)           shared vhost_vq                 worker thread
 *   postIds(ids): avail ring, avail_idx -> kick_armed?  -> kick eventfd  -> handle_kick (Wasm)
 *                                                           -> vhost_poll_queue
 *   call eventfd (Atomics.waitAsync    <-  call_seq++ iff irq_armed  <-  completion (Wasm)
 *   on call_seq) -> onInterrupt:
 *   reapIds: used ring -> check each id, refill, kick if asked
 *
 * Checks: each id 0..count-1 must come back exactly once (`duplicates`, `unknown`,
 * and at the end `missing`), in posting order (`outOfOrder`: completions of one vq
 * are in order here). The job never blocks the main thread.
 */
import { KwqError } from '../../kernel/error.js';
import type { VirtioQueue } from './guest.js';
import { VHOST_VQ } from './vq-shared.js';

export interface ThreadsFioJobOptions {
  /** descriptors kept in flight (1..256: the shared ring's size) */
  iodepth: number;
  /** descriptors in all (ids 0..count-1) */
  count: number;
  /** give up after this many ms (default 30_000); the report then says timedOut */
  timeoutMs?: number;
}

export interface ThreadsFioJobReport {
  count: number;
  submitted: number;
  completed: number;
  /** ids completed twice or more */
  duplicates: number;
  /** ids never posted */
  unknown: number;
  /** ids not completed by the end */
  missing: number;
  /** completions out of posting order */
  outOfOrder: number;
  interrupts: number;
  kicks: number;
  /** wall ms from the first post to the last completion */
  ms: number;
  timedOut: boolean;
}

export class ThreadsFioJob {
  submitted = 0;
  completed = 0;
  duplicates = 0;
  unknown = 0;
  outOfOrder = 0;
  interrupts = 0;
  kicks = 0;
  readonly done: Promise<ThreadsFioJobReport>;
  private readonly seen: Uint8Array;
  private readonly buf = new Uint32Array(VHOST_VQ.RING);
  private readonly ids = new Uint32Array(VHOST_VQ.RING);
  private next = 0;
  private t0 = 0;
  private finish!: (r: ThreadsFioJobReport) => void;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly queue: VirtioQueue,
    readonly iodepth: number,
    readonly count: number,
  ) {
    this.seen = new Uint8Array(count);
    this.done = new Promise((res) => { this.finish = res; });
  }

  /** Start the job on `queue` (a VirtioQueue of a device in the threads runtime). */
  static start(queue: VirtioQueue, opts: ThreadsFioJobOptions): ThreadsFioJob {
    const where = 'ThreadsFioJob.start';
    if (!Number.isInteger(opts.iodepth) || opts.iodepth < 1 || opts.iodepth > VHOST_VQ.RING) {
      throw new KwqError(where, `iodepth must be an integer in 1..${VHOST_VQ.RING} (the shared ring), got ${String(opts.iodepth)}`);
    }
    if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 0x7fff_ffff) {
      throw new KwqError(where, `count must be an integer in 1..2^31-1, got ${String(opts.count)}`);
    }
    if (queue.onInterrupt !== null) throw new KwqError(where, `queue ${queue.index} already has a job`);
    const job = new ThreadsFioJob(queue, opts.iodepth, opts.count);
    queue.onInterrupt = () => job.interrupt();
    job.t0 = performance.now();
    const timeoutMs = opts.timeoutMs ?? 30_000;
    job.timer = setTimeout(() => job.end(true), timeoutMs);
    job.timer.unref();
    job.refill();
    return job;
  }

  /** The irq handler: reap everything, check it, refill, kick if the device asks. */
  private interrupt(): void {
    this.interrupts++;
    for (;;) {
      const n = this.queue.reapIds(this.buf);
      for (let i = 0; i < n; i++) this.check(this.buf[i]!);
      this.completed += n;
      if (n < this.buf.length) break;
    }
    if (this.completed === this.count) this.end(false);
    else this.refill();
  }

  private check(id: number): void {
    if (id >= this.count) {
      this.unknown++;
      return;
    }
    if (this.seen[id]!++ !== 0) {
      this.duplicates++;
      return;
    }
    if (id !== this.next) this.outOfOrder++;
    this.next = id + 1;
  }

  private refill(): void {
    const want = Math.min(this.iodepth - (this.submitted - this.completed), this.count - this.submitted);
    if (want <= 0) return;
    for (let i = 0; i < want; i++) this.ids[i] = this.submitted + i;
    this.submitted += want;
    if (this.queue.postIds(this.ids, 0, want)) {
      this.kicks++;
      this.queue.notify(); // the kick eventfd: vhost_poll_wakeup -> the worker thread
    }
  }

  private end(timedOut: boolean): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.queue.onInterrupt = null;
    let missing = 0;
    for (let i = 0; i < this.count; i++) if (this.seen[i] === 0) missing++;
    this.finish({
      count: this.count, submitted: this.submitted, completed: this.completed, duplicates: this.duplicates,
      unknown: this.unknown, missing, outOfOrder: this.outOfOrder, interrupts: this.interrupts, kicks: this.kicks,
      ms: performance.now() - this.t0, timedOut,
    });
  }
}

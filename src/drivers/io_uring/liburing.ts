/**
 * A liburing-style helper over the public syscalls (what a C program does with
 * io_uring_queue_init / io_uring_get_sqe / io_uring_prep_* / io_uring_submit /
 * io_uring_peek_cqe, over the mmap'ed rings): SQEs are written into the ring's shared
 * memory at the SQ tail, io_uring_enter consumes them, CQEs are read at the CQ head.
 *
 * ```ts
 * const ring = IoUring.queueInit(k, task, 64);           // throws on -errno (use k.io_uring_setup for the errno)
 * ring.prepWrite(fd, 4096, 0, 1n, IOSQE_ASYNC);          // user_data 1
 * ring.submitAndWait(1);                                 // io_uring_enter(fd, n, 1, GETEVENTS)
 * const cqe = ring.peekCqe();                            // { user_data, res, flags } or null; then ring.cqeSeen()
 * ```
 */
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { RING, SQE, CQE } from '../../wasm/io-wq.js';
import { ioUringCtx, type IoRingCtx } from './io_uring.js';
import {
  IORING_ENTER_GETEVENTS, IORING_OP_FSYNC, IORING_OP_NOP, IORING_OP_READ, IORING_OP_WRITE, type IoUringParams,
} from './uapi.js';

export interface IoUringCqe {
  user_data: bigint;
  res: number;
  flags: number;
}

export class IoUring {
  private readonly ctx: IoRingCtx;
  private sqeTail: number;

  private constructor(readonly k: Kernel, readonly task: Task, readonly fd: number, readonly params: IoUringParams) {
    this.ctx = ioUringCtx(k, task, fd);
    this.sqeTail = this.u32[(this.ctx.ring + RING.SQ_TAIL) >> 2]!;
  }

  /** io_uring_queue_init_params; throws a KwqError with the errno when setup fails. */
  static queueInit(k: Kernel, task: Task, entries: number, params: IoUringParams = {}): IoUring {
    const fd = k.io_uring_setup(task, entries, params);
    if (fd < 0) throw new KwqError('io_uring_queue_init', `io_uring_setup(${entries}) returned ${fd}`);
    return new IoUring(k, task, fd, params);
  }

  /** a ring set up already (io_uring_queue_mmap over an fd io_uring_setup returned) */
  static attach(k: Kernel, task: Task, fd: number, params: IoUringParams = {}): IoUring {
    return new IoUring(k, task, fd, params);
  }

  /** SQEs the SQ ring has room for (prepared ones not yet flushed count as used) */
  sqSpace(): number {
    const head = Atomics.load(this.u32, (this.ctx.ring + RING.SQ_HEAD) >> 2);
    return this.ctx.sqEntries - ((this.sqeTail - head) >>> 0);
  }

  private get u32(): Uint32Array {
    return this.ctx.s.ie.u32;
  }

  /** io_uring_get_sqe + prep: fill the next SQE; false when the SQ is full. */
  prep(opcode: number, fd: number, len: number, off: number, userData: bigint, flags = 0): boolean {
    const u = this.u32;
    const r = this.ctx.ring;
    const head = Atomics.load(u, (r + RING.SQ_HEAD) >> 2);
    if (((this.sqeTail - head) >>> 0) >= this.ctx.sqEntries) return false;
    const idx = this.sqeTail & (this.ctx.sqEntries - 1);
    const sqe = this.ctx.s.ie.sqe(r, idx);
    u.fill(0, sqe >> 2, (sqe + SQE.SIZE) >> 2);
    const u8 = new Uint8Array(u.buffer, sqe, 2);
    u8[SQE.OPCODE] = opcode;
    u8[SQE.FLAGS] = flags;
    this.ctx.s.ie.i32[(sqe + SQE.FD) >> 2] = fd;
    const o = off < 0 ? 2 ** 64 - 1 : off;
    u[(sqe + SQE.OFF) >> 2] = off < 0 ? 0xffff_ffff : o % 2 ** 32;
    u[(sqe + SQE.OFF + 4) >> 2] = off < 0 ? 0xffff_ffff : Math.floor(o / 2 ** 32);
    u[(sqe + SQE.LEN) >> 2] = len;
    u[(sqe + SQE.USER_DATA) >> 2] = Number(userData & 0xffff_ffffn);
    u[(sqe + SQE.USER_DATA + 4) >> 2] = Number((userData >> 32n) & 0xffff_ffffn);
    u[(r + RING.SQ_ARRAY + 4 * idx) >> 2] = idx;
    this.sqeTail = (this.sqeTail + 1) >>> 0;
    return true;
  }

  prepNop(userData: bigint, flags = 0): boolean { return this.prep(IORING_OP_NOP, -1, 0, 0, userData, flags); }
  prepWrite(fd: number, len: number, off: number, userData: bigint, flags = 0): boolean { return this.prep(IORING_OP_WRITE, fd, len, off, userData, flags); }
  prepRead(fd: number, len: number, off: number, userData: bigint, flags = 0): boolean { return this.prep(IORING_OP_READ, fd, len, off, userData, flags); }
  prepFsync(fd: number, userData: bigint, flags = 0): boolean { return this.prep(IORING_OP_FSYNC, fd, 0, 0, userData, flags); }

  /** io_uring_flush_sq: publish the prepared SQEs (the SQ tail); how many the kernel has yet to consume */
  flush(): number {
    const u = this.u32;
    const r = this.ctx.ring;
    const before = Atomics.load(u, (r + RING.SQ_TAIL) >> 2);
    Atomics.store(u, (r + RING.SQ_TAIL) >> 2, this.sqeTail); // smp_store_release(sq.ktail)
    return ((this.sqeTail - Atomics.load(u, (r + RING.SQ_HEAD) >> 2)) >>> 0) + 0 * before;
  }

  /** io_uring_submit: io_uring_enter(fd, pending, 0, 0) */
  submit(): number {
    const n = this.flush();
    return this.k.io_uring_enter(this.task, this.fd, n, 0, 0);
  }

  /** io_uring_submit_and_wait */
  submitAndWait(waitNr: number): number {
    const n = this.flush();
    return this.k.io_uring_enter(this.task, this.fd, n, waitNr, IORING_ENTER_GETEVENTS);
  }

  /**
   * io_uring_wait_cqe_nr in either runtime: resolve true once `n` CQEs are ready. In sim
   * (called from top-level code) the simulation runs until then, as submitAndWait; in
   * the threads runtime io_uring_enter cannot block the main thread (the kernel model
   * runs the workers' requests there), so this awaits the completions. False after
   * `timeoutMs` of wall time (threads) or when the simulation ran dry (sim).
   */
  waitCqes(n: number, timeoutMs = 10_000): Promise<boolean> {
    if (!Number.isInteger(n) || n < 0) throw new KwqError('IoUring.waitCqes', `n must be an integer >= 0, got ${String(n)}`);
    const ctx = this.ctx;
    const ready = (): boolean => {
      ctx.flushOverflow();
      return ctx.cqReady() >= n;
    };
    if (this.k.waitFor(ready)) return Promise.resolve(true);
    if (this.k.rt.kind === 'sim') return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        ctx.cqWaiters.delete(check);
        clearTimeout(timer);
        resolve(ok);
      };
      const check = (): void => { if (ready()) done(true); };
      const timer = setTimeout(() => done(ready()), timeoutMs);
      ctx.cqWaiters.add(check);
    });
  }

  /** io_uring_submit, then waitCqes(n): the SQEs submitted (or -errno), once `n` CQEs are ready (or the wait timed out). */
  async submitAndWaitAsync(n: number, timeoutMs = 10_000): Promise<number> {
    const r = this.submit();
    if (r < 0) return r;
    await this.waitCqes(n, timeoutMs);
    return r;
  }

  /** io_uring_peek_cqe: the CQE at the head, or null */
  peekCqe(): IoUringCqe | null {
    const u = this.u32;
    const r = this.ctx.ring;
    const head = Atomics.load(u, (r + RING.CQ_HEAD) >> 2);
    if (head === Atomics.load(u, (r + RING.CQ_TAIL) >> 2)) return null; // pairs with postCqe's store of cq_tail
    const c = this.ctx.s.ie.cqe(r, head & (this.ctx.cqEntries - 1));
    return {
      user_data: (BigInt(u[(c + CQE.USER_DATA + 4) >> 2]!) << 32n) | BigInt(u[(c + CQE.USER_DATA) >> 2]!),
      res: this.ctx.s.ie.i32[(c + CQE.RES) >> 2]!,
      flags: u[(c + CQE.FLAGS) >> 2]!,
    };
  }

  /** io_uring_cqe_seen */
  cqeSeen(): void {
    const u = this.u32;
    const r = this.ctx.ring;
    Atomics.add(u, (r + RING.CQ_HEAD) >> 2, 1);
  }

  /** every CQE ready now, consumed */
  reap(): IoUringCqe[] {
    const out: IoUringCqe[] = [];
    for (let c = this.peekCqe(); c !== null; c = this.peekCqe()) {
      out.push(c);
      this.cqeSeen();
    }
    return out;
  }

  /** io_uring_queue_exit */
  exit(): void {
    this.k.close(this.task, this.fd);
  }
}

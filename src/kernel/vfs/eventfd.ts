/**
 * eventfd (fs/eventfd.c), reduced: a 64-bit counter. write(8 bytes) adds 1 (the
 * model moves no bytes, so the value is 1), read(8 bytes) returns it and resets it
 * (-EAGAIN when zero: the model never blocks a caller), eventfdSignal() is the
 * kernel-side increment drivers use (vhost's call/err eventfds).
 */
import { EAGAIN, EINVAL } from '../errno.js';
import type { Kernel } from '../kernel.js';
import type { File, FileOperations } from './file.js';

export class EventfdCtx {
  count = 0;
  /** eventfd_signal calls, for inspection */
  signals = 0;
}

export const eventfdFops: FileOperations = {
  read(_k, file: File, _t, len) {
    if (len < 8) return -EINVAL;
    const ctx = file.privateData as EventfdCtx;
    if (ctx.count === 0) return -EAGAIN;
    ctx.count = 0;
    return 8;
  },
  write(_k, file: File, _t, len) {
    if (len < 8) return -EINVAL;
    (file.privateData as EventfdCtx).count++;
    return 8;
  },
};

/** eventfd_signal(ctx): add n to the counter. */
export function eventfdSignal(_k: Kernel, ctx: EventfdCtx, n = 1): void {
  ctx.count += n;
  ctx.signals++;
}

/** eventfd_ctx_fileget: the ctx of an eventfd file, or null if the file is not one. */
export function eventfdCtxFileget(file: File): EventfdCtx | null {
  return file.fop === eventfdFops ? (file.privateData as EventfdCtx) : null;
}

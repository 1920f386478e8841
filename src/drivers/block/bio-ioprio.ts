/**
 * bio->bi_ioprio (struct Bio's `ioprio`, src/kernel/vfs/blkdev.ts): 0 =
 * IOPRIO_PRIO_VALUE(NONE, 0), "nobody set one", which bio_set_ioprio fills in.
 *
 * Who sets it: the submitter's kiocb (ki_ioprio) for direct I/O (aio.ts:
 * IOCB_FLAG_IOPRIO's aio_reqprio) and loop's backing kiocb (loop-device.ts:
 * req_get_ioprio(rq) since 1fdb8188c3d5, NONE before). Where the kernel stores a value
 * that bio_set_ioprio (blk-mq.ts blkMqRqInit) would compute anyway from the same
 * current (ki_ioprio = get_current_ioprio(), a copied priority equal to the worker's,
 * and bio_set_ioprio's own write-back), the model stores nothing.
 * (It was a WeakMap beside the bio while struct Bio had no such field; a bio reused
 * by its owner (bioReinit) would have kept its old entry there.)
 */
import type { Bio } from '../../kernel/vfs/blkdev.js';

/** bio->bi_ioprio = ioprio */
export function bioSetIoprio(bio: Bio, ioprio: number): void {
  bio.ioprio = ioprio & 0xffff;
}

/** bio_prio(bio): IOPRIO_DEFAULT (class NONE, 0) when nobody set one */
export function bioIoprio(bio: Bio): number {
  return bio.ioprio;
}

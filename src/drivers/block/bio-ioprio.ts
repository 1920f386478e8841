/**
 * bio->bi_ioprio, kept beside the bio: the kernel model's struct Bio
 * (src/kernel/vfs/blkdev.ts, not this driver's file) has no ioprio field, so the
 * block drivers keep it in a side table keyed by the bio object.
 *
 *   Bio ──WeakMap──► bi_ioprio (u16)     absent = 0 = IOPRIO_PRIO_VALUE(NONE, 0):
 *                                        "nobody set one", bio_set_ioprio fills it in
 *
 * Who sets it: the submitter's kiocb (ki_ioprio) for direct I/O (aio.ts:
 * IOCB_FLAG_IOPRIO's aio_reqprio) and loop's backing kiocb (loop-device.ts:
 * req_get_ioprio(rq) since 1fdb8188c3d5, NONE before). Where the kernel stores a value
 * that bio_set_ioprio (blk-mq.ts blkMqRqInit) would compute anyway from the same
 * current (ki_ioprio = get_current_ioprio(), a copied priority equal to the worker's,
 * and bio_set_ioprio's own write-back), the model stores nothing: the same result
 * without a WeakMap write per bio.
 * TODO(kernel owner): a `ioprio` field in struct Bio would replace this table.
 */
import type { Bio } from '../../kernel/vfs/blkdev.js';
import { IOPRIO_DEFAULT } from './ioprio-uapi.js';

const biIoprio = new WeakMap<Bio, number>();
/**
 * false until the first bioSetIoprio in this process: until then every lookup is a
 * miss, and skipping it saves a WeakMap probe on each request (the common case: no
 * path set a priority, bio_set_ioprio computes it from current)
 */
let anySet = false;

/** bio->bi_ioprio = ioprio */
export function bioSetIoprio(bio: Bio, ioprio: number): void {
  if (ioprio === IOPRIO_DEFAULT) {
    if (anySet) biIoprio.delete(bio);
    return;
  }
  anySet = true;
  biIoprio.set(bio, ioprio & 0xffff);
}

/** bio_prio(bio): IOPRIO_DEFAULT (class NONE) when nobody set one */
export function bioIoprio(bio: Bio): number {
  if (!anySet) return IOPRIO_DEFAULT;
  return biIoprio.get(bio) ?? IOPRIO_DEFAULT;
}

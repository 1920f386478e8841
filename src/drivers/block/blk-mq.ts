/**
 * The part of blk-mq the loop model needs: a bio becomes one or more requests of at
 * most `maxBytes` (bio_split at the queue's max_hw_sectors), each carrying the bio's
 * blkcg; the bio completes (bio_endio) when its last request completes, with the
 * first error any of them reported (bio_chain's __bi_remaining and bi_status).
 *
 *   bio (offset, len, blkcg) ──split──► rq0 [offset, +max)  rq1 [+max, +2max) ... rqN
 *                 ▲                      │ blk_mq_end_request(rq, status)
 *                 └── bio_endio once ────┘ when remaining == 0
 *
 * A request keeps a reference to its bio and nothing else of it, as
 * `rq->bio` does; the driver puts its per-request data (loop_cmd) beside it.
 */
import { bioEndio, type Bio } from '../../kernel/vfs/blkdev.js';
import type { Kernel } from '../../kernel/kernel.js';
import { KwqError } from '../../kernel/error.js';

/** The split state a bio carries while its requests are in flight (bio->__bi_remaining). */
export class BioSplit {
  remaining = 0;
  status = 0;
}

/**
 * Split `bio` into requests of at most `maxBytes` and hand each to `queueRq(offset,
 * len)` in order. Flush bios carry no data: one request. Returns the number of requests.
 */
export function blkMqSubmitBio(bio: Bio, maxBytes: number, queueRq: (bio: Bio, offset: number, len: number) => void): number {
  if (!(maxBytes > 0)) throw new KwqError('blk_mq_submit_bio', `bad max request size ${maxBytes}`);
  const split = new BioSplit();
  bio.private = split;
  const n = bio.len === 0 ? 1 : Math.ceil(bio.len / maxBytes);
  // every part is counted before the first is queued: a part may complete synchronously
  split.remaining = n;
  if (bio.len === 0) {
    queueRq(bio, bio.offset, 0);
    return 1;
  }
  for (let off = 0; off < bio.len; off += maxBytes) queueRq(bio, bio.offset + off, Math.min(maxBytes, bio.len - off));
  return n;
}

/** blk_mq_end_request for one request of `bio`: the bio ends with its last request. */
export function blkMqEndRequest(k: Kernel, bio: Bio, status: number): void {
  const split = bio.private as BioSplit;
  if (split.remaining <= 0) throw new KwqError('blk_mq_end_request', 'a request of this bio completed twice');
  if (status < 0 && split.status === 0) split.status = status;
  if (--split.remaining === 0) bioEndio(k, bio, split.status);
}

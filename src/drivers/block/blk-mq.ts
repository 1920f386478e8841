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
 *
 * Request allocation (blkMqRqInit), for drivers with a request queue (null_blk, loop):
 *
 *   blk_mq_submit_bio(bio)            current = bio.task (the submitter)
 *     bio_set_ioprio                  class NONE -> get_current_ioprio()
 *     blk_mq_get_new_requests
 *       bfq_prepare_request           BFQ only: ioc_find_get_icq(current) -> rq->elv.icq
 *     rq->ioprio = bio->bi_ioprio
 *     trace block_rq_issue            who issued it, which io_context, which priority
 *   ...
 *   blkMqRqDone(rq)                   bfq_finish_request: put the io_context
 *
 * The model issues at once (no plugging, no merging, no dispatch queue), so the
 * request is traced as issued when it is allocated.
 *
 * Tags (BlkMqTags): a request needs one of the hardware queue's `queue_depth` tags
 * before the driver's queue_rq sees it. blk_mq_get_tag without BLK_MQ_REQ_NOWAIT
 * sleeps on the sbitmap_queue's wait list until blk_mq_put_tag frees one:
 *
 *   blkMqGetTag(tags, issue, bio, off, len)
 *     a tag free ─► issue(bio, off, len) now
 *     none free  ─► wait list (FIFO); from top-level sim code the submitter blocks
 *                   (k.waitFor) until a completion hands it a tag, elsewhere (a timer,
 *                   a kworker, the threads runtime's main thread) the request waits
 *                   on the list and is issued by the completion that frees the tag
 *   blkMqPutTag(tags)  the tag goes to the oldest waiter, whose request is issued then
 *
 * Divergence: a submitter inside the simulation (a timer's writeback, a kworker of a
 * stacked device) does not stall itself: its request waits, its context goes on.
 */
import { bioEndio, type Bio } from '../../kernel/vfs/blkdev.js';
import type { Kernel } from '../../kernel/kernel.js';
import { KwqError } from '../../kernel/error.js';
import type { BlockDevice } from '../../kernel/vfs/blkdev.js';
import { ioContextHolders, ioContextPrepare, ioContextRequestDone, type IoIssue } from './blk-ioc.js';
import type { RequestQueue } from './blk-ioc-queue.js';
import { bioIoprio } from './bio-ioprio.js';
import { IOPRIO_CLASS_BE, IOPRIO_CLASS_NONE, IOPRIO_NORM, IOPRIO_PRIO_CLASS, IOPRIO_PRIO_VALUE } from './ioprio-uapi.js';

/**
 * Split `bio` into requests of at most `maxBytes` and hand each to `queueRq(offset,
 * len)` in order. Flush bios carry no data: one request. Returns the number of requests.
 * The split state is the bio's own (bio->__bi_remaining and the first error): nothing
 * is allocated per bio.
 */
export function blkMqSubmitBio(bio: Bio, maxBytes: number, queueRq: (bio: Bio, offset: number, len: number) => void): number {
  if (!(maxBytes > 0)) throw new KwqError('blk_mq_submit_bio', `bad max request size ${maxBytes}`);
  const n = bio.len === 0 ? 1 : Math.ceil(bio.len / maxBytes);
  // every part is counted before the first is queued: a part may complete synchronously
  bio.remaining = n;
  bio.splitStatus = 0;
  if (bio.len === 0) {
    queueRq(bio, bio.offset, 0);
    return 1;
  }
  for (let off = 0; off < bio.len; off += maxBytes) queueRq(bio, bio.offset + off, Math.min(maxBytes, bio.len - off));
  return n;
}

/** blk_mq_end_request for one request of `bio`: the bio ends with its last request. */
export function blkMqEndRequest(k: Kernel, bio: Bio, status: number): void {
  if (bio.remaining <= 0) throw new KwqError('blk_mq_end_request', 'a request of this bio completed twice');
  if (status < 0 && bio.splitStatus === 0) bio.splitStatus = status;
  if (--bio.remaining === 0) bioEndio(k, bio, bio.splitStatus);
}

/** BLK_MQ_MAX_DEPTH: blk_mq_alloc_tag_set reduces a larger queue_depth to this */
export const BLK_MQ_MAX_DEPTH = 10240;

/**
 * A request that found no free tag (sbq_wait on the tags' wait list). Waiters are
 * kept on the tags' free list for reuse (the kernel's sbq_wait lives on the sleeping
 * submitter's stack: no allocation), each with its wait predicate made once.
 */
class TagWaiter {
  issued = false;
  /** the submitter no longer waits on `issued` (it could not block): blkMqPutTag frees it */
  detached = false;
  issue: ((bio: Bio, offset: number, len: number) => void) | null = null;
  bio: Bio | null = null;
  offset = 0;
  len = 0;
  readonly isIssued = (): boolean => this.issued;
}

/**
 * struct blk_mq_tags of a single hardware queue (nr_hw_queues 1, no reserved tags):
 * `depth` tags, how many are held, and the submitters waiting for one.
 */
export class BlkMqTags {
  /** tags held by requests in flight */
  nrInUse = 0;
  /** requests waiting for a tag, oldest first (from `waitHead` on) */
  private readonly waiters: TagWaiter[] = [];
  private waitHead = 0;
  /** waiters not in use */
  private readonly freeWaiters: TagWaiter[] = [];
  /** blkMqPutTag is handing tags to waiters (a request it issues may end at once) */
  private waking = false;
  /** requests that had to wait for a tag (measured) */
  nrWaited = 0;
  readonly depth: number;
  constructor(depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new KwqError('blk_mq_alloc_tag_set', `bad queue depth ${depth}`);
    this.depth = Math.min(depth, BLK_MQ_MAX_DEPTH);
  }
  /** requests on the wait list */
  get nrWaiting(): number {
    return this.waiters.length - this.waitHead;
  }
  /** @internal blkMqGetTag's slow path: a waiter for this request, on the list */
  wait(issue: (bio: Bio, offset: number, len: number) => void, bio: Bio, offset: number, len: number): TagWaiter {
    const w = this.freeWaiters.pop() ?? new TagWaiter();
    w.issued = false;
    w.detached = false;
    w.issue = issue;
    w.bio = bio;
    w.offset = offset;
    w.len = len;
    this.waiters.push(w);
    this.nrWaited++;
    return w;
  }
  /** @internal the waiter is done with (issued, and nobody tests it any more) */
  freeWaiter(w: TagWaiter): void {
    w.issue = null;
    w.bio = null;
    this.freeWaiters.push(w);
  }
  /** @internal the oldest waiter, taken off the list */
  next(): TagWaiter | null {
    if (this.waitHead === this.waiters.length) return null;
    const w = this.waiters[this.waitHead]!;
    this.waiters[this.waitHead++] = undefined as unknown as TagWaiter;
    if (this.waitHead === this.waiters.length) {
      this.waiters.length = 0;
      this.waitHead = 0;
    }
    return w;
  }
  /** @internal */
  beginWake(): boolean {
    if (this.waking) return false;
    this.waking = true;
    return true;
  }
  /** @internal */
  endWake(): void {
    this.waking = false;
  }
}

/**
 * blk_mq_get_tag for a request of `bio` ([offset, +len)), then the driver's queue_rq
 * (`issue`). Without a free tag the request waits (see the header); from top-level
 * code in sim the call returns once the request got its tag and was issued.
 */
export function blkMqGetTag(k: Kernel, tags: BlkMqTags, issue: (bio: Bio, offset: number, len: number) => void, bio: Bio, offset: number, len: number): void {
  if (tags.nrInUse < tags.depth && tags.nrWaiting === 0) {
    tags.nrInUse++;
    issue(bio, offset, len);
    return;
  }
  const w = tags.wait(issue, bio, offset, len);
  // io_schedule() in blk_mq_get_tag: the submitter sleeps until a tag is freed to it
  k.waitFor(w.isIssued);
  if (w.issued) tags.freeWaiter(w);
  else w.detached = true; // could not block: blkMqPutTag frees it once issued
}

/**
 * blk_mq_put_tag: the request's tag is free; the oldest waiters get the free tags and
 * their requests are issued, in FIFO order.
 */
export function blkMqPutTag(tags: BlkMqTags): void {
  if (tags.nrInUse <= 0) throw new KwqError('blk_mq_put_tag', 'a tag was freed that was not held');
  tags.nrInUse--;
  // a request issued here may end at once (and put its tag): the outer loop goes on
  if (tags.nrWaiting === 0 || !tags.beginWake()) return;
  try {
    while (tags.nrInUse < tags.depth) {
      const w = tags.next();
      if (w === null) break;
      tags.nrInUse++;
      w.issued = true;
      const issue = w.issue!;
      const bio = w.bio!;
      const offset = w.offset;
      const len = w.len;
      // a submitter still sleeping in blkMqGetTag frees its own waiter when it wakes
      if (w.detached) tags.freeWaiter(w);
      issue(bio, offset, len);
    }
  } finally {
    tags.endWake();
  }
}

/** the nice-derived priority of a nice-0 SCHED_NORMAL task (BE/4), for bios with no current task */
const NICE0_IOPRIO = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, IOPRIO_NORM);

/**
 * Allocate the request for `bio` on `q` (blk_mq_submit_bio up to the request): fills
 * the driver's reusable slot `rq` and returns it. `bio.task` is current. A bio with no
 * task (submitted from a timer: the model's writeback from the last close) or a dead
 * one has no current to look at: no io_context, and NONE becomes BE/4 (what a nice-0
 * task gets).
 */
export function blkMqRqInit(k: Kernel, q: RequestQueue, bdev: BlockDevice, bio: Bio, offset: number, len: number, rq: IoIssue): IoIssue {
  const task = bio.task;
  let prio = bioIoprio(bio);
  if (task !== null && task.alive) {
    // bio_set_ioprio + bfq_prepare_request. The kernel also writes the priority back
    // into bio->bi_ioprio; the model does not (a side-table write per bio): a split
    // bio's next request computes the same value from the same current.
    ioContextPrepare(k, task, q, prio, rq);
  } else {
    if (!rq.done) throw new KwqError('blk_mq_submit_bio', 'request slot reused before it completed');
    if (IOPRIO_PRIO_CLASS(prio) === IOPRIO_CLASS_NONE) prio = NICE0_IOPRIO;
    rq.pid = 0;
    rq.comm = '';
    rq.ioc = null;
    rq.icq = null;
    rq.ioprio = prio;
    rq.done = false;
  }
  q.inflight++;
  const tp = (q.tpIssue ??= k.trace.define('block_rq_issue'));
  if (tp.enabled) {
    const ioc = rq.ioc;
    tp.emit({
      name: tp.name, ts: tp.now, dev: bdev.dev, disk: bdev.name, op: bio.op, offset, len, ioprio: rq.ioprio, pid: rq.pid,
      comm: rq.comm, blkcg: bio.blkcg.path, elevator: q.elevator, ioc: ioc === null ? 0 : ioc.id,
      iocRefcount: ioc === null ? 0 : ioc.refcount, iocActiveRef: ioc === null ? 0 : ioc.activeRef,
      iocIoprio: ioc === null ? 0 : ioc.ioprio, iocTasks: ioc === null ? [] : ioContextHolders(k, ioc).map((t) => t.pid),
      icq: rq.icq !== null,
    });
  }
  return rq;
}

/** The request completed (blk_mq_free_request -> bfq_finish_request). */
export function blkMqRqDone(k: Kernel, q: RequestQueue, rq: IoIssue): void {
  if (rq.done) throw new KwqError('blk_mq_free_request', 'request completed twice');
  q.inflight--;
  if (rq.icq !== null) ioContextRequestDone(k, rq);
  else rq.done = true;
}

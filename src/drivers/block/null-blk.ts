/**
 * null_blk (drivers/block/null_blk): a block device with no storage that completes
 * every bio `completion_nsec` after it is dispatched (irqmode=2, the timer mode). kwq
 * uses it as a disk under loop devices, so that a loop worker's backing-file I/O is
 * real block I/O: counted in io.stat of the blkcg the worker is associated with, and
 * held back by that blkcg's io.max on this device (blk-throttle, blkThrottleBio).
 *
 *   submit_bio ──► io.stat + trace (kernel) ──► blk-throttle: dispatch at t0 >= now
 *                                             ──► complete at t0 + completion_nsec
 *
 * Params: `null_blk.nr_devices` (devices /dev/nullb0..), `null_blk.completion_nsec`,
 * `null_blk.gb` (capacity). Divergence: the kernel's default nr_devices is 1; kwq's
 * is 0, so that kernels that do not ask for a null_blk device do not grow one.
 * The device completes bios in dispatch order per blkcg level; it has no queue depth.
 *
 * Each device has a request queue (blkAllocQueue) with the default elevator of a
 * single-hw-queue device, mq-deadline (elevator_get_default), switchable through
 * /sys/block/nullbN/queue/scheduler. Every bio becomes one request allocated by
 * blkMqRqInit (bio_set_ioprio, BFQ's ioc_find_get_icq for bio.task, the block_rq_issue
 * tracepoint) and freed at completion. Request slots are pooled per device.
 */
import { registerModule } from '../../kernel/module.js';
import type { Kernel } from '../../kernel/kernel.js';
import { bioEndio, registerBlkdev, type Bio, type BlockDevice } from '../../kernel/vfs/blkdev.js';
import { blkThrottleBio } from '../../kernel/blk-cgroup.js';
import { EIO } from '../../kernel/errno.js';
import { IoIssue } from './blk-ioc.js';
import { blkAllocQueue, type RequestQueue } from './blk-ioc-queue.js';
import { blkMqRqDone, blkMqRqInit } from './blk-mq.js';
import { blkSysfsAdd } from './blk-sysfs.js';

/** null_blk registers a dynamic major; kwq fixes it so io.max lines are stable. */
export const NULLB_MAJOR = 251;

export class NullbDevice {
  /** bios completed */
  completed = 0;
  /** request slots not in flight (the tag set's preallocated requests) */
  readonly freeRqs: IoIssue[] = [];
  constructor(
    readonly bdev: BlockDevice,
    readonly completionNs: number,
    /** the disk's request queue */
    readonly q: RequestQueue,
  ) {}
}

function nullbSubmitBio(k: Kernel, bdev: BlockDevice, bio: Bio): void {
  const nb = bdev.data as NullbDevice;
  if (bio.offset + bio.len > bdev.sizeBytes) {
    bioEndio(k, bio, -EIO);
    return;
  }
  const rq = blkMqRqInit(k, nb.q, bdev, bio, bio.offset, bio.len, nb.freeRqs.pop() ?? new IoIssue());
  const at = blkThrottleBio(k, bio.blkcg, bdev.dev, bio.op, bio.len);
  k.rt.callAt(at + nb.completionNs, () => {
    nb.completed++;
    blkMqRqDone(k, nb.q, rq);
    nb.freeRqs.push(rq);
    bioEndio(k, bio, 0);
  });
}

registerModule({
  name: 'null_blk',
  params: {
    nr_devices: { type: 'uint', default: 0, max: 64, description: 'number of devices to register' },
    completion_nsec: { type: 'uint', default: 10_000, description: 'time from dispatch to completion, ns' },
    gb: { type: 'uint', default: 250, min: 1, max: 1 << 20, description: 'size in GiB' },
  },
  init(k, params) {
    k.trace.define('block_rq_issue');
    const n = params['nr_devices'] as number;
    for (let i = 0; i < n; i++) {
      const bdev = registerBlkdev(k, {
        name: `nullb${i}`, major: NULLB_MAJOR, minor: i, sizeBytes: (params['gb'] as number) * 2 ** 30,
        ops: { submitBio: nullbSubmitBio },
      });
      const q = blkAllocQueue(k, bdev.name, 'mq-deadline');
      bdev.data = new NullbDevice(bdev, params['completion_nsec'] as number, q);
      blkSysfsAdd(k, bdev.name, q);
    }
  },
});
